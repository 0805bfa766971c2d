//! ICE (In Case of Emergency) logon, as the service describes it: user id → "Static Password" →
//! password → security questions → an ICE session in which the user may create a soft token or
//! request an emergency code (8 digits, single use, at most 24 hours, one per user).
//!
//! Hardening beyond the service: at most a few attempts per account per hour (counted whether or
//! not the account exists), the same refusal whatever failed, an email at every use, an audit
//! event at every step, and a switch for the service desk per user and for everyone.

use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::Identity;
use super::records::{Account, AccountStatus, EmergencyCode, LinkPurpose, LinkRecord, SecurityAnswer, SessionKind};
use super::sessions::NewSession;
use crate::audit::{NewAuditEvent, action, actor};
use crate::authz::{Action, Resource, require};
use crate::caller::{Caller, Level};
use crate::identity::records::SessionRecord;
use crate::{CoreError, Tx, read, to_micros, transact};

/// The global switch in the settings table (the service desk's), on top of `security.ice_enabled`.
pub const ICE_SETTING: &str = "ice_enabled";
/// How long the step from password to questions may take.
const QUESTIONS_MINUTES: i64 = 10;
const EMERGENCY_DIGITS: u32 = 8;

const ICE_REFUSED: &str = "The ICE logon could not continue: the user id, password or answers are not right. \
     Answers are case-sensitive. Try again, or contact the service desk.";

/// ICE attempts (any step), per user and hour.
fn attempts_key(user_id: &str) -> String {
    format!("ice:{user_id}")
}

/// Tries at the security answers, at the ICE logon or on a reset link, per user and hour. Only
/// answers count here: the ICE password step, which anyone can try, cannot use this budget up.
pub(super) fn answers_key(user_id: &str) -> String {
    format!("answers:{user_id}")
}

impl Identity {
    /// Whether ICE is on for everyone (configuration and the service desk's switch).
    pub async fn ice_globally_enabled(&self) -> Result<bool, CoreError> {
        if !self.policy.ice_enabled {
            return Ok(false);
        }
        let value =
            read(self.store.as_ref(), |tx| Box::pin(async move { Ok::<_, CoreError>(tx.setting(ICE_SETTING).await?) }))
                .await?;
        Ok(value.as_deref() != Some("false"))
    }

    /// Whether ICE is on for everyone and for this account; when it is not, the logon in progress
    /// (its flow link) is cancelled and the refusal audited.
    async fn ice_switched_on(&self, account: &Account, flow: Option<[u8; 32]>, source: &str) -> Result<(), CoreError> {
        let (globally, for_user) = (self.ice_globally_enabled().await?, account.ice_enabled);
        if globally && for_user {
            return Ok(());
        }
        let (now, now_us) = self.now();
        let (id, src) = (account.id.clone(), source.to_string());
        let reason = if globally { "ice_off_for_user" } else { "ice_off" };
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                if let Some(flow) = flow {
                    tx.take_link(&flow, LinkPurpose::IceQuestions, now_us).await?;
                }
                tx.append_audit(
                    NewAuditEvent::new(now, actor::ANONYMOUS, action::ICE_REFUSED)
                        .target(&id)
                        .source(&src)
                        .details(serde_json::json!({"reason": reason})),
                )
                .await?;
                Ok::<_, CoreError>(())
            })
        })
        .await?;
        Err(CoreError::Unavailable(if globally {
            "ICE logon is turned off for your account. Contact the service desk.".into()
        } else {
            "ICE logon is turned off for this service at the moment. Contact the service desk.".into()
        }))
    }

    async fn ice_attempt_allowed(&self, user_id: &str, source: &str) -> Result<(), CoreError> {
        let (now, now_us) = self.now();
        let since = now_us - Duration::hours(1).whole_microseconds() as i64;
        let key = attempts_key(user_id);
        let limit = i64::from(self.policy.ice_attempts_per_hour);
        let n = read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.count_attempts(&key, since).await?) })
        })
        .await?;
        if n < limit {
            return Ok(());
        }
        let (id, src) = (user_id.to_string(), source.to_string());
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.append_audit(
                    NewAuditEvent::new(now, actor::ANONYMOUS, action::ICE_REFUSED)
                        .target(&id)
                        .source(&src)
                        .details(serde_json::json!({"reason": "too_many_attempts"})),
                )
                .await?;
                Ok::<_, CoreError>(())
            })
        })
        .await?;
        Err(CoreError::TooManyAttempts(format!(
            "Too many ICE attempts for this user id: at most {limit} an hour. Wait an hour, or contact the service desk."
        )))
    }

    /// ICE step: user id → Continue. Nothing is looked up (the page must not tell whether the
    /// account exists); the step is recorded.
    pub async fn ice_start(&self, who: &Caller, user_id: &str) -> Result<(), CoreError> {
        let source = who.source.as_str();
        let id: String = user_id.trim().to_lowercase().chars().take(64).collect();
        // Anyone can start as many as they like: aggregated per source like other anonymous noise.
        self.audit_refusal(action::ICE_STARTED, &id, source, serde_json::json!({"step": "user_id"})).await
    }

    /// ICE step: "Static Password". On success returns the secret that carries the logon to the
    /// questions (kept in the form, stored hashed, 10 minutes, single use).
    pub async fn ice_password(
        &self,
        who: &Caller,
        user_id: &str,
        password: &str,
    ) -> Result<Zeroizing<String>, CoreError> {
        let source = who.source.as_str();
        let user_id = user_id.trim().to_lowercase();
        if !self.ice_globally_enabled().await? {
            return Err(CoreError::Unavailable(
                "ICE logon is turned off for this service at the moment. Contact the service desk.".into(),
            ));
        }
        self.ice_attempt_allowed(&user_id, source).await?;
        // An account without security questions cannot finish ICE: treat it as not usable here,
        // not at the (empty) questions page.
        let account = crate::read(self.store.as_ref(), {
            let id = user_id.clone();
            move |tx| {
                Box::pin(async move {
                    let account = tx.account(&id).await?;
                    let answered = !tx.security_answers(&id).await?.is_empty();
                    Ok::<_, CoreError>(account.filter(|_| answered))
                })
            }
        })
        .await?;
        let password_ok = self.verify_or_dummy(account.as_ref().map(|a| a.password_hash.as_str()), password).await;
        let (now, now_us) = self.now();
        let flow = haven_crypto::token::new_token(self.rng.as_ref())?;
        let usable = account
            .as_ref()
            .is_some_and(|a| password_ok && a.status == AccountStatus::Active && a.locked_until_us <= now_us);
        let ice_off_for_user = usable && account.as_ref().is_some_and(|a| !a.ice_enabled);
        let (id, src) = (user_id.clone(), source.to_string());
        let link = LinkRecord {
            hash: flow.hash,
            purpose: LinkPurpose::IceQuestions,
            user_id: user_id.clone(),
            subject: String::new(),
            created_us: now_us,
            expires_us: now_us + Duration::minutes(QUESTIONS_MINUTES).whole_microseconds() as i64,
        };
        let exists = account.is_some();
        let passed = transact(self.store.as_ref(), move |tx| {
            Box::pin(record_ice_password(
                tx,
                id,
                src,
                link,
                PasswordStep { usable, ice_off_for_user, exists, password_ok },
                now,
            ))
        })
        .await?;
        if ice_off_for_user {
            return Err(CoreError::Unavailable(
                "ICE logon is turned off for your account. Contact the service desk.".into(),
            ));
        }
        if passed { Ok(flow.secret) } else { Err(CoreError::invalid("ice", ICE_REFUSED)) }
    }

    /// The questions of the logon in progress (shown after the password step).
    pub async fn ice_questions(&self, flow: &str) -> Result<Vec<String>, CoreError> {
        let link = self.ice_flow(flow).await?;
        let answers = self.answers_of(&link.user_id).await?;
        Ok(answers.into_iter().map(|a| a.question).collect())
    }

    async fn ice_flow(&self, flow: &str) -> Result<LinkRecord, CoreError> {
        let hash = haven_crypto::token::hash_token(flow);
        let (_, now_us) = self.now();
        read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.link(&hash, LinkPurpose::IceQuestions, now_us).await?) })
        })
        .await?
        .ok_or(CoreError::LinkInvalid)
    }

    pub(crate) async fn answers_of(&self, user_id: &str) -> Result<Vec<SecurityAnswer>, CoreError> {
        let id = user_id.to_string();
        read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.security_answers(&id).await?) })
        })
        .await
    }

    /// Check answers (case-sensitive) against the stored hashes, each with argon2.
    pub(crate) async fn answers_match(&self, user_id: &str, answers: &[Zeroizing<String>]) -> Result<bool, CoreError> {
        let stored = self.answers_of(user_id).await?;
        let mut all = stored.len() >= 3 && stored.len() == answers.len();
        for (i, given) in answers.iter().enumerate() {
            let ok = self.verify_or_dummy(stored.get(i).map(|a| a.answer_hash.as_str()), given).await;
            all &= ok;
        }
        Ok(all)
    }

    /// ICE step: security questions. On success, an ICE session (and an email to the user).
    pub async fn ice_answers(
        &self,
        who: &Caller,
        flow: &str,
        answers: &[Zeroizing<String>],
    ) -> Result<NewSession, CoreError> {
        let source = who.source.as_str();
        let user_agent = who.user_agent.as_str();
        let link = self.ice_flow(flow).await?;
        let account = self.load_account(&link.user_id).await?;
        // The switches are checked at every step: turning ICE off stops a logon already past
        // the password.
        self.ice_switched_on(&account, Some(link.hash), source).await?;
        self.ice_attempt_allowed(&link.user_id, source).await?;
        let ok = self.answers_match(&link.user_id, answers).await?;
        let session = self.make_session(&link.user_id, SessionKind::Ice, false, source, user_agent)?;
        let now = self.now().0;
        let (id, src, hash) = (link.user_id.clone(), source.to_string(), link.hash);
        let record = session.record.clone();
        let passed =
            transact(self.store.as_ref(), move |tx| Box::pin(record_ice_answers(tx, id, src, hash, record, ok, now)))
                .await?;
        if !passed {
            return Err(CoreError::invalid("ice", ICE_REFUSED));
        }
        let text = super::messages::ice_used(&account.id, source, &self.public_url);
        self.notify(&account.email, "Haven - ICE logon used on your account", text).await;
        Ok(session)
    }

    /// Emergency → Request → Submit: a new 8-digit code, shown once, replacing any earlier one.
    pub async fn request_emergency_code(&self, who: &Caller) -> Result<(Zeroizing<String>, i64), CoreError> {
        let source = who.source.as_str();
        require(who, Action::RequestEmergencyCode, Resource::Account(&who.user_id))?;
        if who.level == Level::Full {
            self.check_fresh(who)?;
        }
        if who.level == Level::Ice {
            let account = self.load_account(&who.user_id).await?;
            self.ice_switched_on(&account, None, source).await?;
        }
        let code = haven_crypto::codes::numeric(self.rng.as_ref(), EMERGENCY_DIGITS)?;
        let code_hash = self.hasher.hash(code.clone()).await?;
        let (now, now_us) = self.now();
        let hours = self.policy.emergency_code_hours;
        let expires_us = now_us + Duration::hours(i64::from(hours)).whole_microseconds() as i64;
        let record = EmergencyCode { user_id: who.user_id.clone(), code_hash, created_us: now_us, expires_us };
        let (user, src, kind) = (who.user_id.clone(), source.to_string(), who.level.as_str());
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let replaced = tx.emergency_code(&user).await?.is_some();
                tx.put_emergency_code(&record).await?;
                tx.append_audit(
                    NewAuditEvent::new(now, &user, action::EMERGENCY_CODE_ISSUED).target(&user).source(&src).details(
                        serde_json::json!({"valid_hours": hours, "replaced_earlier": replaced, "session": kind}),
                    ),
                )
                .await?;
                Ok::<_, CoreError>(())
            })
        })
        .await?;
        let text = super::messages::emergency_code_issued(&who.user_id, hours, &self.public_url);
        self.notify(who.email(), "Haven - an emergency code was issued", text).await;
        Ok((code, expires_us))
    }

    /// When the user's current emergency code expires, if there is one.
    pub async fn emergency_code_expiry(&self, who: &Caller) -> Result<Option<i64>, CoreError> {
        let (_, now_us) = self.now();
        let user = who.user_id.clone();
        let code = read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.emergency_code(&user).await?) })
        })
        .await?;
        Ok(code.filter(|c| c.expires_us > now_us).map(|c| c.expires_us))
    }

    /// Whether the caller has set security questions (the portal's home says what is missing).
    pub async fn has_security_answers(&self, who: &Caller) -> Result<bool, CoreError> {
        let user = who.user_id.clone();
        read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(!tx.security_answers(&user).await?.is_empty()) })
        })
        .await
    }

    /// Whether the caller may set security questions now: while onboarding, or fully signed in
    /// with both factors proven recently (`StepUpRequired` otherwise).
    pub fn may_set_security_answers(&self, who: &Caller) -> Result<(), CoreError> {
        require(who, Action::SetSecurityAnswers, Resource::Account(&who.user_id))?;
        if who.level == Level::Full { self.check_fresh(who) } else { Ok(()) }
    }

    /// Set the three security questions and their answers (onboarding, or later when signed in).
    pub async fn set_security_answers(
        &self,
        who: &Caller,
        chosen: &[(String, Zeroizing<String>)],
    ) -> Result<(), CoreError> {
        let source = who.source.as_str();
        self.may_set_security_answers(who)?;
        let answers = self.hash_answers(chosen).await?;
        let (now, _) = self.now();
        let (user, src, keep) = (who.user_id.clone(), source.to_string(), who.session()?.hash);
        let end_others = who.level == Level::Full;
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.set_security_answers(&user, &answers).await?;
                let ended = if end_others { tx.delete_sessions_of(&user, Some(&keep)).await? } else { 0 };
                tx.append_audit(
                    NewAuditEvent::new(now, &user, action::ICE_QUESTIONS_SET)
                        .target(&user)
                        .source(&src)
                        .details(serde_json::json!({"other_sessions_ended": ended})),
                )
                .await?;
                Ok::<_, CoreError>(())
            })
        })
        .await
    }

    /// Validate three distinct questions from the configured list with non-trivial answers, and hash the answers.
    pub(crate) async fn hash_answers(
        &self,
        chosen: &[(String, Zeroizing<String>)],
    ) -> Result<Vec<SecurityAnswer>, CoreError> {
        if chosen.len() != 3 {
            return Err(CoreError::invalid("questions", "choose three questions"));
        }
        let mut seen = Vec::new();
        let mut out = Vec::new();
        for (i, (question, answer)) in chosen.iter().enumerate() {
            if !self.policy.security_questions.contains(question) {
                return Err(CoreError::invalid("questions", "choose each question from the list"));
            }
            if seen.contains(question) {
                return Err(CoreError::invalid("questions", "choose three different questions"));
            }
            seen.push(question.clone());
            let len = answer.trim().chars().count();
            if !(3..=100).contains(&len) {
                return Err(CoreError::invalid("answers", "each answer has 3 to 100 characters"));
            }
            let answer_hash = self.hasher.hash(answer.clone()).await?;
            out.push(SecurityAnswer { position: i as i64, question: question.clone(), answer_hash });
        }
        Ok(out)
    }
}

/// The ICE answers step: count the try; if the answers were right, use up the flow and start
/// the ICE session. Audited; whether it passed.
async fn record_ice_answers(
    tx: &mut dyn Tx,
    id: String,
    src: String,
    hash: [u8; 32],
    record: SessionRecord,
    ok: bool,
    now: OffsetDateTime,
) -> Result<bool, CoreError> {
    let now_us = to_micros(now);
    tx.record_attempt(&attempts_key(&id), now_us).await?;
    tx.record_attempt(&answers_key(&id), now_us).await?;
    if !ok {
        tx.append_audit(NewAuditEvent::new(now, actor::ANONYMOUS, action::ICE_ANSWERS_FAILED).target(&id).source(&src))
            .await?;
        return Ok::<_, CoreError>(false);
    }
    if tx.take_link(&hash, LinkPurpose::IceQuestions, now_us).await?.is_none() {
        return Err(CoreError::LinkInvalid);
    }
    tx.insert_session(&record).await?;
    tx.append_audit(
        NewAuditEvent::new(now, &id, action::ICE_LOGON)
            .target(&id)
            .source(&src)
            .details(serde_json::json!({"step": "security_questions"})),
    )
    .await?;
    Ok(true)
}

/// What the slow checks of the ICE password step found, before its unit of work.
struct PasswordStep {
    /// The password was right and the account is active and not locked.
    usable: bool,
    ice_off_for_user: bool,
    exists: bool,
    password_ok: bool,
}

/// The ICE password step: count the try; start the questions flow if the password was right
/// and ICE is on for the account. Audited; whether it passed.
async fn record_ice_password(
    tx: &mut dyn Tx,
    id: String,
    src: String,
    link: LinkRecord,
    step: PasswordStep,
    now: OffsetDateTime,
) -> Result<bool, CoreError> {
    let now_us = to_micros(now);
    let PasswordStep { usable, ice_off_for_user, exists, password_ok } = step;
    tx.record_attempt(&attempts_key(&id), now_us).await?;
    let (action, reason) = match (usable, ice_off_for_user) {
        (true, false) => (action::ICE_PASSWORD_PASSED, ""),
        (true, true) => (action::ICE_REFUSED, "ice_off_for_user"),
        _ => {
            (action::ICE_PASSWORD_FAILED, if exists { "wrong_password_or_account_not_active" } else { "unknown_user" })
        }
    };
    if usable && !ice_off_for_user {
        tx.replace_link(&link).await?;
    } else if exists
        && !password_ok
        && let Some(mut a) = tx.account(&id).await?
    {
        a.failed_signins += 1;
        tx.update_account(&a).await?;
    }
    tx.append_audit(
        NewAuditEvent::new(now, actor::ANONYMOUS, action)
            .target(&id)
            .source(&src)
            .details(serde_json::json!({"step": "static_password", "reason": reason})),
    )
    .await?;
    Ok::<_, CoreError>(usable && !ice_off_for_user)
}
