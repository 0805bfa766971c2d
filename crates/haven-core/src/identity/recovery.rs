//! Getting back in: recovery codes (ten single-use codes of 120 bits, shown once, stored as
//! SHA-256), a forgotten password reset with a recovery code, the service desk's reset link
//! (which still needs a second factor or the security questions), and the onboarding link of a
//! new account. Email alone never resets anything.

use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::Identity;
use super::passwords::PasswordSetBy;
use super::records::{LinkPurpose, LinkRecord, SessionKind};
use super::sessions::NewSession;
use crate::audit::{NewAuditEvent, action, actor};
use crate::authz::{Action, Resource, require};
use crate::caller::Caller;
use crate::identity::records::{SecurityAnswer, SessionRecord};
use crate::{CoreError, Tx, read, to_micros, transact};

pub const RECOVERY_CODES: usize = 10;
/// How long a reset started with a recovery code stays open.
const RECOVERY_RESET_MINUTES: i64 = 15;
/// Wrong proofs (passcodes or answers) one reset link takes before it is cancelled.
const RESET_LINK_PROOF_ATTEMPTS: i64 = 3;

/// Wrong proofs on one reset link, counted since the link was made.
fn reset_link_key(link_hash: &[u8; 32]) -> String {
    format!("reset-link:{}", hex::encode(&link_hash[..16]))
}

/// How someone following a reset link proves it is them.
pub enum ResetProof {
    /// Token PIN and code, an emergency code, or a recovery code.
    Passcode(Zeroizing<String>),
    /// The answers to their security questions (the ICE way).
    Answers(Vec<Zeroizing<String>>),
}

/// What a reset or onboarding link leads to.
pub struct LinkInfo {
    pub user_id: String,
    pub purpose: LinkPurpose,
    pub questions: Vec<String>,
    /// A reset opened with a recovery code needs no further proof.
    pub from_recovery: bool,
}

impl Identity {
    /// Make ten new recovery codes (the old ones stop working); needs a recent MFA sign-in.
    pub async fn regenerate_recovery_codes(&self, who: &Caller) -> Result<Vec<Zeroizing<String>>, CoreError> {
        let source = who.source.as_str();
        require(who, Action::ManageOwnCredentials, Resource::Account(&who.user_id))?;
        self.check_fresh(who)?;
        let mut codes = Vec::with_capacity(RECOVERY_CODES);
        let mut hashes = Vec::with_capacity(RECOVERY_CODES);
        for _ in 0..RECOVERY_CODES {
            let code = haven_crypto::codes::recovery_code(self.rng.as_ref())?;
            let plain = haven_crypto::codes::normalise_recovery_code(&code).ok_or(CoreError::NotFound)?;
            hashes.push(haven_crypto::sha256(plain.as_bytes()));
            codes.push(code);
        }
        let (now, _) = self.now();
        let (user, src, keep) = (who.user_id.clone(), source.to_string(), who.session()?.hash);
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.replace_recovery_codes(&user, &hashes).await?;
                // New codes are what a person makes after losing the old ones: as with a password
                // change, whatever else a thief may have made stops too.
                let ended = tx.delete_sessions_of(&user, Some(&keep)).await?;
                let revoked = crate::tokens::revoke_api_tokens(tx, &user).await?;
                tx.append_audit(
                    NewAuditEvent::new(now, &user, action::RECOVERY_CODES_GENERATED).target(&user).source(&src).details(
                        serde_json::json!({"count": RECOVERY_CODES, "other_sessions_ended": ended, "api_tokens_revoked": revoked}),
                    ),
                )
                .await?;
                Ok::<_, CoreError>(())
            })
        })
        .await?;
        let text = super::messages::recovery_codes_generated(&who.user_id, &self.public_url);
        self.notify(who.email(), "Haven - new recovery codes", text).await;
        Ok(codes)
    }

    pub async fn recovery_codes_left(&self, who: &Caller) -> Result<i64, CoreError> {
        let id = who.user_id.clone();
        read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.count_recovery_codes(&id).await?) })
        })
        .await
    }

    /// Forgotten password: a user id and a recovery code (used up) open a short reset link.
    pub async fn start_recovery(
        &self,
        who: &Caller,
        user_id: &str,
        code: &str,
    ) -> Result<Zeroizing<String>, CoreError> {
        let source = who.source.as_str();
        let user_id = user_id.trim().to_lowercase();
        let (now, now_us) = self.now();
        let hash = haven_crypto::codes::normalise_recovery_code(code).map(|c| haven_crypto::sha256(c.as_bytes()));
        let link = haven_crypto::token::new_token(self.rng.as_ref())?;
        let record = LinkRecord {
            hash: link.hash,
            purpose: LinkPurpose::PasswordReset,
            user_id: user_id.clone(),
            subject: "recovery_code".into(),
            created_us: now_us,
            expires_us: now_us + Duration::minutes(RECOVERY_RESET_MINUTES).whole_microseconds() as i64,
        };
        let (id, src) = (user_id.clone(), source.to_string());
        let ok = transact(self.store.as_ref(), move |tx| Box::pin(use_recovery_code(tx, id, src, hash, record, now)))
            .await?;
        if ok {
            Ok(link.secret)
        } else {
            Err(CoreError::invalid("recovery_code", "the user id or recovery code is not right (each code works once)"))
        }
    }

    /// What a reset or onboarding link is for (without using it up). An unknown, used or expired
    /// link is refused and audited.
    pub async fn inspect_link(&self, who: &Caller, secret: &str, purpose: LinkPurpose) -> Result<LinkInfo, CoreError> {
        let hash = haven_crypto::token::hash_token(secret);
        let (_, now_us) = self.now();
        let link = read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.link(&hash, purpose, now_us).await?) })
        })
        .await?;
        let Some(link) = link else {
            return Err(self.link_refused(who, purpose).await);
        };
        let questions = self.answers_of(&link.user_id).await?.into_iter().map(|a| a.question).collect();
        Ok(LinkInfo { from_recovery: link.subject == "recovery_code", user_id: link.user_id, purpose, questions })
    }

    /// Audit a refused link and return the error to show.
    pub async fn link_refused(&self, who: &Caller, purpose: LinkPurpose) -> CoreError {
        let source = who.source.as_str();
        let details = serde_json::json!({"purpose": purpose.as_str(), "reason": "unknown_used_or_expired"});
        match self.audit_refusal(action::LINK_REFUSED, "", source, details).await {
            Ok(()) => CoreError::LinkInvalid,
            Err(e) => e,
        }
    }

    /// Finish a password reset: the link, a proof (unless the link came from a recovery code),
    /// and the new password. Ends every session of the user.
    pub async fn reset_password(
        &self,
        who: &Caller,
        secret: &str,
        proof: Option<ResetProof>,
        new: &str,
        confirm: &str,
    ) -> Result<String, CoreError> {
        let source = who.source.as_str();
        let hash = haven_crypto::token::hash_token(secret);
        let (_, now_us) = self.now();
        let link = read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.link(&hash, LinkPurpose::PasswordReset, now_us).await?) })
        })
        .await?;
        let Some(link) = link else {
            return Err(self.link_refused(who, LinkPurpose::PasswordReset).await);
        };
        let account = self.load_account(&link.user_id).await?;
        if !haven_crypto::ct_eq(new.as_bytes(), confirm.as_bytes()) {
            return Err(CoreError::invalid("password", "the two new passwords differ; type the same password twice"));
        }
        self.check_new_password(new, &account)?;
        let needs_proof = link.subject != "recovery_code";
        let by_answers = matches!(proof, Some(ResetProof::Answers(_)));
        if needs_proof {
            self.reset_proof_allowed(&account.id, &link, by_answers, source).await?;
        }
        let proven = match (needs_proof, proof) {
            (false, _) => true,
            (true, Some(ResetProof::Answers(answers))) => self.answers_match(&account.id, &answers).await?,
            (true, Some(ResetProof::Passcode(code))) => self.check_second_factor(&account.id, &code, source).await?,
            (true, None) => false,
        };
        if !proven {
            let cancelled = self.reset_proof_failed(&account.id, &link, by_answers, source).await?;
            if cancelled {
                let text =
                    super::messages::reset_link_cancelled(&account.id, RESET_LINK_PROOF_ATTEMPTS, &self.public_url);
                self.notify(&account.email, "Haven - password reset link cancelled", text).await;
                return Err(CoreError::TooManyAttempts(
                    "That did not prove it is you, and this reset link has now been cancelled after too many tries. \
                     Ask the service desk for a new link."
                        .into(),
                ));
            }
            return Err(CoreError::invalid(
                "proof",
                "that did not prove it is you: check your passcode (PIN then code) or your answers (case-sensitive)",
            ));
        }
        self.refuse_reuse(&account, new).await?;
        let new_hash = self.hasher.hash(Zeroizing::new(new.to_string())).await?;
        self.store_password(&account.id, new_hash, PasswordSetBy::ResetLink { link: link.hash }, source).await?;
        let text = super::messages::password_changed(&account.id, &self.public_url);
        self.notify(&account.email, "Haven - your password was changed", text).await;
        Ok(account.id)
    }

    /// Before a reset proof is checked: refuse (and audit) when the link has had its wrong tries,
    /// or when security answers have been guessed at too often this hour; otherwise count this
    /// try, in the same unit as the check, so that concurrent requests cannot all slip under the
    /// limits. Answers have a budget of their own per user (shared with the ICE logon's answers
    /// step, not with its password step, which anyone can exhaust).
    async fn reset_proof_allowed(
        &self,
        user_id: &str,
        link: &LinkRecord,
        by_answers: bool,
        source: &str,
    ) -> Result<(), CoreError> {
        let now = self.now().0;
        let answers_limit = i64::from(self.policy.ice_attempts_per_hour);
        let (id, src, link) = (user_id.to_string(), source.to_string(), link.clone());
        let refused = transact(self.store.as_ref(), move |tx| {
            Box::pin(count_reset_proof(tx, id, src, link, by_answers, answers_limit, now))
        })
        .await?;
        match refused {
            None => Ok(()),
            Some("link_attempts_used") => Err(CoreError::TooManyAttempts(
                "This reset link has been cancelled after too many wrong tries. Ask the service desk for a new link."
                    .into(),
            )),
            Some(_) => Err(CoreError::TooManyAttempts(format!(
                "Too many wrong answers to the security questions: at most {answers_limit} an hour. \
                 Wait an hour, prove it is you with your token passcode instead, or contact the service desk."
            ))),
        }
    }

    /// A wrong reset proof (its try was counted by `reset_proof_allowed`): at the link's limit
    /// the link is cancelled. Audited; returns whether the link was cancelled.
    async fn reset_proof_failed(
        &self,
        user_id: &str,
        link: &LinkRecord,
        by_answers: bool,
        source: &str,
    ) -> Result<bool, CoreError> {
        let now = self.now().0;
        let (id, src, link_hash, since) = (user_id.to_string(), source.to_string(), link.hash, link.created_us);
        transact(self.store.as_ref(), move |tx| {
            Box::pin(record_reset_proof_failure(tx, id, src, link_hash, since, by_answers, now))
        })
        .await
    }

    /// Check a passcode as the second factor for a reset, using it up if it is right.
    async fn check_second_factor(&self, user_id: &str, passcode: &str, source: &str) -> Result<bool, CoreError> {
        // Reuse the sign-in checks with the current password, which the reset does not know:
        // verify the passcode alone through a step that consumes it.
        self.consume_passcode(user_id, passcode, source).await
    }

    /// Onboarding: the link from `haven users add`, a first password and three security
    /// questions. Opens an enrolment session in which the user sets up a token.
    pub async fn onboard(
        &self,
        who: &Caller,
        secret: &str,
        password: &str,
        confirm: &str,
        chosen: &[(String, Zeroizing<String>)],
    ) -> Result<NewSession, CoreError> {
        let source = who.source.as_str();
        let user_agent = who.user_agent.as_str();
        let info = self.inspect_link(who, secret, LinkPurpose::Onboarding).await?;
        let account = self.load_account(&info.user_id).await?;
        if !haven_crypto::ct_eq(password.as_bytes(), confirm.as_bytes()) {
            return Err(CoreError::invalid("password", "the two passwords differ; type the same password twice"));
        }
        self.check_new_password(password, &account)?;
        let answers = self.hash_answers(chosen).await?;
        let password_hash = self.hasher.hash(Zeroizing::new(password.to_string())).await?;
        let session = self.make_session(&account.id, SessionKind::Enrol, false, source, user_agent)?;
        let now = self.now().0;
        let hash = haven_crypto::token::hash_token(secret);
        let onboarding = Onboarding { link: hash, password_hash, answers, session: session.record.clone() };
        let (id, src) = (account.id.clone(), source.to_string());
        transact(self.store.as_ref(), move |tx| Box::pin(complete_onboarding(tx, id, src, onboarding, now))).await?;
        Ok(session)
    }
}

/// What onboarding stores, checked and hashed.
struct Onboarding {
    link: [u8; 32],
    password_hash: String,
    answers: Vec<SecurityAnswer>,
    session: SessionRecord,
}

/// Onboarding, in one unit: the link used up, the password and answers set, the enrolment
/// session started.
async fn complete_onboarding(
    tx: &mut dyn Tx,
    id: String,
    src: String,
    onboarding: Onboarding,
    now: OffsetDateTime,
) -> Result<(), CoreError> {
    let now_us = to_micros(now);
    let Onboarding { link: hash, password_hash, answers, session: record } = onboarding;
    if tx.take_link(&hash, LinkPurpose::Onboarding, now_us).await?.is_none() {
        return Err(CoreError::LinkInvalid);
    }
    let mut account = tx.account(&id).await?.ok_or(CoreError::NotFound)?;
    account.password_hash = password_hash;
    account.password_changed_us = now_us;
    tx.update_account(&account).await?;
    tx.set_security_answers(&id, &answers).await?;
    tx.insert_session(&record).await?;
    tx.append_audit(
        NewAuditEvent::new(now, &id, action::ACCOUNT_ONBOARDED)
            .target(&id)
            .source(&src)
            .details(serde_json::json!({"questions": answers.len()})),
    )
    .await?;
    Ok::<_, CoreError>(())
}

/// A wrong reset proof: cancel the link at its limit (whether it was) and audit.
async fn record_reset_proof_failure(
    tx: &mut dyn Tx,
    id: String,
    src: String,
    link_hash: [u8; 32],
    since: i64,
    by_answers: bool,
    now: OffsetDateTime,
) -> Result<bool, CoreError> {
    let now_us = to_micros(now);
    let failures = tx.count_attempts(&reset_link_key(&link_hash), since).await?;
    let cancelled = failures >= RESET_LINK_PROOF_ATTEMPTS
        && tx.take_link(&link_hash, LinkPurpose::PasswordReset, now_us).await?.is_some();
    tx.append_audit(
        NewAuditEvent::new(now, actor::ANONYMOUS, action::PASSWORD_RESET_REFUSED).target(&id).source(&src).details(
            serde_json::json!({
                "reason": "proof_failed",
                "proof": if by_answers { "answers" } else { "passcode" },
                "failures_on_link": failures,
                "link_cancelled": cancelled,
            }),
        ),
    )
    .await?;
    Ok::<_, CoreError>(cancelled)
}

/// Count a reset proof's try, or refuse it (the reason, audited) when its budgets are spent.
async fn count_reset_proof(
    tx: &mut dyn Tx,
    id: String,
    src: String,
    link: LinkRecord,
    by_answers: bool,
    answers_limit: i64,
    now: OffsetDateTime,
) -> Result<Option<&'static str>, CoreError> {
    let now_us = to_micros(now);
    let (link_hash, since) = (link.hash, link.created_us);
    let hour_ago = now_us - Duration::hours(1).whole_microseconds() as i64;
    let (link_key, answers_key) = (reset_link_key(&link_hash), super::ice::answers_key(&id));
    let on_link = tx.count_attempts(&link_key, since).await?;
    let on_answers = if by_answers { tx.count_attempts(&answers_key, hour_ago).await? } else { 0 };
    let reason = if on_link >= RESET_LINK_PROOF_ATTEMPTS {
        Some("link_attempts_used")
    } else if on_answers >= answers_limit {
        Some("too_many_answer_attempts")
    } else {
        None
    };
    match reason {
        Some(reason) => {
            tx.append_audit(
                NewAuditEvent::new(now, actor::ANONYMOUS, action::PASSWORD_RESET_REFUSED)
                    .target(&id)
                    .source(&src)
                    .details(serde_json::json!({"reason": reason})),
            )
            .await?;
        }
        None => {
            tx.record_attempt(&link_key, now_us).await?;
            if by_answers {
                tx.record_attempt(&answers_key, now_us).await?;
            }
        }
    }
    Ok::<_, CoreError>(reason)
}

/// Use up a recovery code and issue the reset link, or count the failure (both audited).
async fn use_recovery_code(
    tx: &mut dyn Tx,
    id: String,
    src: String,
    hash: Option<[u8; 32]>,
    record: LinkRecord,
    now: OffsetDateTime,
) -> Result<bool, CoreError> {
    let now_us = to_micros(now);
    let key = format!("recovery:{id}");
    if tx.count_attempts(&key, now_us - Duration::hours(1).whole_microseconds() as i64).await? >= 10 {
        return Ok::<_, CoreError>(false);
    }
    let used = match (&hash, tx.account(&id).await?) {
        (Some(h), Some(_)) => tx.take_recovery_code(&id, h).await?,
        _ => false,
    };
    if used {
        tx.replace_link(&record).await?;
        tx.append_audit(NewAuditEvent::new(now, &id, action::RECOVERY_CODE_USED).target(&id).source(&src)).await?;
    } else {
        tx.record_attempt(&key, now_us).await?;
        tx.append_audit(
            NewAuditEvent::new(now, actor::ANONYMOUS, action::RECOVERY_CODE_REFUSED).target(&id).source(&src),
        )
        .await?;
    }
    Ok(used)
}
