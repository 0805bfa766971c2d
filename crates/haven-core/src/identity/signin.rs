//! Sign-in, used by every portal: user id and password, then a passcode that is the token PIN
//! followed by the OTP, or an 8-digit emergency code, or a recovery code.
//!
//! Every refusal looks the same (one message, one status) and costs about the same: the password
//! and one more secret are always checked with argon2id, against dummy hashes when there is
//! nothing real to check. The slow checks run before the transaction; the transaction then
//! re-reads and compares what it changes, so two sign-ins racing with one code cannot both win.

use time::Duration;
use zeroize::Zeroizing;

use super::Identity;
use super::otp_check::{self, Matched};
use super::records::{Account, AccountStatus, OtpTokenRecord, SessionKind, TokenState};
use super::sessions::NewSession;
use crate::audit::{NewAuditEvent, action, actor};
use crate::authz::{Action, Resource, require};
use crate::caller::Caller;
use crate::{CoreError, Tx, read, transact};

/// What the user typed at sign-in.
pub struct Credentials {
    pub user_id: String,
    pub password: Zeroizing<String>,
    pub passcode: Zeroizing<String>,
}

/// A successful sign-in.
pub struct SignInOk {
    pub session: NewSession,
    /// `token`, `emergency_code` or `recovery_code`.
    pub factor: &'static str,
    pub password_expired: bool,
}

enum Factor {
    Token { serial: String, matched: Matched },
    Emergency { code_hash: String },
    Recovery { hash: [u8; 32] },
}

impl Factor {
    fn name(&self) -> &'static str {
        match self {
            Factor::Token { .. } => "token",
            Factor::Emergency { .. } => "emergency_code",
            Factor::Recovery { .. } => "recovery_code",
        }
    }
}

/// The outcome of the slow checks, before anything is stored.
struct Verdict {
    password_ok: bool,
    factor: Option<Factor>,
    /// A token whose OTP matched but whose PIN did not.
    pin_failed: Option<String>,
}

enum Applied {
    Ok { factor: &'static str, account: Account },
    Failed { newly_locked: Option<Account> },
}

/// What a verified sign-in does to sessions.
enum Then {
    NewSession(Box<NewSession>),
    /// Step-up: mark the current session as freshly authenticated.
    Refresh([u8; 32]),
    /// The passcode alone proves the user (a password reset link's second factor).
    Proof,
}

fn address_key(source: &str) -> String {
    format!("signin-address:{}", crate::client::rate_key(source))
}

impl Identity {
    /// Sign in with user id, password and passcode. `replaces` is the session the browser had,
    /// ended by a successful sign-in (rotation).
    pub async fn sign_in(
        &self,
        who: &Caller,
        creds: Credentials,
        replaces: Option<[u8; 32]>,
    ) -> Result<SignInOk, CoreError> {
        let user_id = creds.user_id.trim().to_lowercase();
        self.check_address(&who.source).await?;
        let verdict = self.verify_factors(&user_id, Some(&creds.password), &creds.passcode).await?;
        let session = self.make_session(&user_id, SessionKind::Full, true, &who.source, &who.user_agent)?;
        let secret = session.secret.clone();
        let record = session.record.clone();
        let applied =
            self.apply_verdict(&user_id, verdict, Then::NewSession(Box::new(session)), &who.source, replaces).await?;
        match applied {
            Applied::Ok { factor, account } => {
                let (_, now_us) = self.now();
                Ok(SignInOk {
                    session: NewSession { secret, record },
                    factor,
                    password_expired: self.password_expired(&account, now_us),
                })
            }
            Applied::Failed { newly_locked } => {
                if let Some(a) = newly_locked {
                    let text = super::messages::account_locked(&a.id, self.policy.lockout_minutes, &self.public_url);
                    self.notify(&a.email, "Haven - your account was locked", text).await;
                }
                Err(CoreError::SignInFailed)
            }
        }
    }

    /// Step-up: prove password and passcode again inside a session (before credential changes).
    pub async fn confirm_identity(&self, who: &Caller, password: &str, passcode: &str) -> Result<(), CoreError> {
        let source = who.source.as_str();
        require(who, Action::ConfirmIdentity, Resource::Account(&who.user_id))?;
        let session_hash = who.session()?.hash;
        self.check_address(source).await?;
        let verdict = self.verify_factors(&who.user_id, Some(password), passcode).await?;
        match self.apply_verdict(&who.user_id, verdict, Then::Refresh(session_hash), source, None).await? {
            Applied::Ok { .. } => Ok(()),
            Applied::Failed { .. } => Err(CoreError::SignInFailed),
        }
    }

    /// Check and use up a passcode alone (token PIN and code, emergency or recovery code), for
    /// a reset link; failures count like sign-in failures.
    pub(crate) async fn consume_passcode(
        &self,
        user_id: &str,
        passcode: &str,
        source: &str,
    ) -> Result<bool, CoreError> {
        self.check_address(source).await?;
        let verdict = self.verify_factors(user_id, None, passcode).await?;
        Ok(matches!(self.apply_verdict(user_id, verdict, Then::Proof, source, None).await?, Applied::Ok { .. }))
    }

    async fn check_address(&self, source: &str) -> Result<(), CoreError> {
        let (now, now_us) = self.now();
        let since =
            now_us - Duration::minutes(i64::from(self.policy.address_window_minutes)).whole_microseconds() as i64;
        let key = address_key(source);
        let limit = i64::from(self.policy.address_max_failures);
        let failures = read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.count_attempts(&key, since).await?) })
        })
        .await?;
        if failures < limit {
            return Ok(());
        }
        let src = source.to_string();
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let event = NewAuditEvent::new(now, actor::ANONYMOUS, action::SIGNIN_RATE_LIMITED).source(&src);
                crate::audit::append_refusal(tx, event).await?;
                Ok::<_, CoreError>(())
            })
        })
        .await?;
        Err(CoreError::TooManyAttempts(format!(
            "Too many failed sign-ins from your network address. Wait {} minutes and try again, or contact the service desk.",
            self.policy.address_window_minutes
        )))
    }

    /// The slow part: argon2 checks of the password and of one more secret, nothing stored.
    async fn verify_factors(
        &self,
        user_id: &str,
        password: Option<&str>,
        passcode: &str,
    ) -> Result<Verdict, CoreError> {
        let id = user_id.to_string();
        let (account, tokens, emergency) = read(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let account = tx.account(&id).await?;
                let tokens = tx.tokens_of(&id).await?;
                let emergency = tx.emergency_code(&id).await?;
                Ok::<_, CoreError>((account, tokens, emergency))
            })
        })
        .await?;
        let password_ok = match password {
            Some(p) => self.verify_or_dummy(account.as_ref().map(|a| a.password_hash.as_str()), p).await,
            None => account.is_some(),
        };
        let (now, now_us) = self.now();
        let passcode = passcode.trim();

        if let Some(code) = haven_crypto::codes::normalise_recovery_code(passcode) {
            self.verify_or_dummy(None, passcode).await;
            let hash = haven_crypto::sha256(code.as_bytes());
            return Ok(Verdict { password_ok, factor: Some(Factor::Recovery { hash }), pin_failed: None });
        }
        if !passcode.is_empty() && passcode.len() <= 20 && passcode.bytes().all(|b| b.is_ascii_digit()) {
            for token in tokens.iter().filter(|t| t.state == TokenState::Active && t.pin_hash.is_some()) {
                let digits = usize::try_from(token.digits).unwrap_or(6);
                if passcode.len() <= digits {
                    continue;
                }
                let (pin, otp) = passcode.split_at(passcode.len() - digits);
                let key = self.otp_key(token)?;
                if let Some(matched) = otp_check::check(token, &key, otp, now.unix_timestamp()) {
                    let pin_ok = self.verify_or_dummy(token.pin_hash.as_deref(), pin).await;
                    return Ok(if pin_ok {
                        Verdict {
                            password_ok,
                            factor: Some(Factor::Token { serial: token.serial.clone(), matched }),
                            pin_failed: None,
                        }
                    } else {
                        Verdict { password_ok, factor: None, pin_failed: Some(token.serial.clone()) }
                    });
                }
            }
            if let Some(code) = emergency.filter(|e| e.expires_us > now_us && passcode.len() == 8) {
                let ok = self.verify_or_dummy(Some(&code.code_hash), passcode).await;
                let factor = ok.then_some(Factor::Emergency { code_hash: code.code_hash });
                return Ok(Verdict { password_ok, factor, pin_failed: None });
            }
        }
        self.verify_or_dummy(None, passcode).await;
        Ok(Verdict { password_ok, factor: None, pin_failed: None })
    }

    /// The quick part, in one transaction: counters, lockouts, single use of codes, the session,
    /// and the audit events.
    async fn apply_verdict(
        &self,
        user_id: &str,
        verdict: Verdict,
        then: Then,
        source: &str,
        replaces: Option<[u8; 32]>,
    ) -> Result<Applied, CoreError> {
        let (now, now_us) = self.now();
        let attempt =
            Attempt { id: user_id.to_string(), src: source.to_string(), verdict, then, replaces, now, now_us };
        let limits = Limits {
            lock_after: i64::from(self.policy.lockout_failures),
            lock_for: Duration::minutes(i64::from(self.policy.lockout_minutes)).whole_microseconds() as i64,
            token_max: i64::from(self.policy.token_max_failures),
        };
        transact(self.store.as_ref(), move |tx| Box::pin(record_attempt(tx, attempt, limits))).await
    }
}

/// A checked sign-in attempt, for [`record_attempt`].
struct Attempt {
    id: String,
    src: String,
    verdict: Verdict,
    then: Then,
    replaces: Option<[u8; 32]>,
    now: time::OffsetDateTime,
    now_us: i64,
}

/// The lockout policy, in the units the unit of work compares.
struct Limits {
    lock_after: i64,
    lock_for: i64,
    token_max: i64,
}

/// The unit of work of a sign-in: counters, lockouts, single use of codes, the session, and the
/// audit events, re-read and compared inside the transaction.
async fn record_attempt(tx: &mut dyn Tx, attempt: Attempt, limits: Limits) -> Result<Applied, CoreError> {
    let Attempt { id, src, verdict, then, replaces, now, now_us } = attempt;
    let Limits { lock_after, lock_for, token_max } = limits;
    let refuse = |reason: &'static str| {
        NewAuditEvent::new(now, actor::ANONYMOUS, action::SIGNIN_FAILED)
            .target(&id)
            .source(&src)
            .details(serde_json::json!({"reason": reason}))
    };
    let Some(mut account) = tx.account(&id).await? else {
        tx.record_attempt(&address_key(&src), now_us).await?;
        tx.append_audit(refuse("unknown_user")).await?;
        return Ok::<_, CoreError>(Applied::Failed { newly_locked: None });
    };
    let blocked = match account.status {
        AccountStatus::Disabled => Some("account_disabled"),
        AccountStatus::Locked => Some("account_locked_by_service_desk"),
        AccountStatus::Active if account.locked_until_us > now_us => Some("account_locked"),
        AccountStatus::Active if !account.has_password() && !matches!(then, Then::Proof) => {
            Some("account_not_onboarded")
        }
        AccountStatus::Active => None,
    };
    if let Some(reason) = blocked {
        tx.record_attempt(&address_key(&src), now_us).await?;
        tx.append_audit(refuse(reason)).await?;
        return Ok(Applied::Failed { newly_locked: None });
    }
    let factor = match (&verdict.password_ok, verdict.factor) {
        (true, Some(f)) => consume_factor(tx, &id, f, now_us).await?,
        _ => None,
    };
    let Some(factor) = factor else {
        let reason = if !verdict.password_ok { "wrong_password" } else { "wrong_passcode" };
        if verdict.password_ok {
            count_token_failures(tx, &id, verdict.pin_failed.as_deref(), token_max, now, &src).await?;
        }
        account.failed_signins += 1;
        let newly_locked = account.failed_signins >= lock_after;
        if newly_locked {
            account.locked_until_us = now_us + lock_for;
            account.failed_signins = 0;
        }
        tx.update_account(&account).await?;
        tx.record_attempt(&address_key(&src), now_us).await?;
        tx.append_audit(refuse(reason)).await?;
        if newly_locked {
            tx.append_audit(
                NewAuditEvent::new(now, actor::SYSTEM, action::ACCOUNT_LOCKED)
                    .target(&id)
                    .source(&src)
                    .details(serde_json::json!({"until_us": account.locked_until_us, "after_failures": lock_after})),
            )
            .await?;
        }
        return Ok(Applied::Failed { newly_locked: newly_locked.then_some(account) });
    };
    account.failed_signins = 0;
    account.locked_until_us = 0;
    account.last_signin_us = now_us;
    tx.update_account(&account).await?;
    let (name, serial) = factor;
    match then {
        Then::NewSession(session) => {
            Identity::insert_session(tx, &session.record, replaces).await?;
            tx.append_audit(
                NewAuditEvent::new(now, &id, action::SIGNIN_SUCCEEDED)
                    .target(&id)
                    .source(&src)
                    .details(serde_json::json!({"factor": name, "token": serial})),
            )
            .await?;
        }
        Then::Proof => {
            tx.append_audit(
                NewAuditEvent::new(now, &id, action::PASSWORD_RESET_FACTOR_PASSED)
                    .target(&id)
                    .source(&src)
                    .details(serde_json::json!({"factor": name, "token": serial})),
            )
            .await?;
        }
        Then::Refresh(hash) => {
            tx.set_session_mfa(&hash, now_us).await?;
            tx.append_audit(
                NewAuditEvent::new(now, &id, action::SIGNIN_RECONFIRMED)
                    .target(&id)
                    .source(&src)
                    .details(serde_json::json!({"factor": name, "token": serial})),
            )
            .await?;
        }
    }
    Ok(Applied::Ok { factor: name, account })
}

/// Use the second factor once: the TOTP step, HOTP counter, emergency code or recovery code is
/// re-checked against the database and consumed. None if someone else used it first.
async fn consume_factor(
    tx: &mut dyn Tx,
    user_id: &str,
    factor: Factor,
    now_us: i64,
) -> Result<Option<(&'static str, Option<String>)>, CoreError> {
    let name = factor.name();
    match factor {
        Factor::Token { serial, matched } => {
            let Some(mut token) = tx.token(&serial).await? else { return Ok(None) };
            let still_fresh = token.user_id.as_deref() == Some(user_id)
                && token.state == TokenState::Active
                && match token.kind {
                    super::records::OtpKind::Totp => matched.position > token.last_step,
                    super::records::OtpKind::Hotp => matched.position > token.counter,
                };
            if !still_fresh {
                return Ok(None);
            }
            matched.apply(&mut token);
            token.failures = 0;
            token.last_used_us = now_us;
            tx.put_token(&token).await?;
            Ok(Some((name, Some(serial))))
        }
        Factor::Emergency { code_hash } => {
            let current = tx.emergency_code(user_id).await?;
            if current.is_some_and(|c| c.code_hash == code_hash && c.expires_us > now_us) {
                tx.delete_emergency_code(user_id).await?;
                Ok(Some((name, None)))
            } else {
                Ok(None)
            }
        }
        Factor::Recovery { hash } => Ok(tx.take_recovery_code(user_id, &hash).await?.then_some((name, None))),
    }
}

/// Count a failed passcode against the token whose PIN was wrong, or against every active token
/// when no token matched; lock those that reach the limit.
async fn count_token_failures(
    tx: &mut dyn Tx,
    user_id: &str,
    pin_failed: Option<&str>,
    max: i64,
    now: time::OffsetDateTime,
    source: &str,
) -> Result<(), CoreError> {
    let tokens: Vec<OtpTokenRecord> = tx.tokens_of(user_id).await?;
    for mut token in tokens.into_iter().filter(|t| t.state == TokenState::Active) {
        if pin_failed.is_some_and(|s| s != token.serial) {
            continue;
        }
        token.failures += 1;
        if token.failures >= max {
            token.state = TokenState::Locked;
            tx.append_audit(
                NewAuditEvent::new(now, actor::SYSTEM, action::TOKEN_LOCKED)
                    .target(user_id)
                    .source(source)
                    .details(serde_json::json!({"serial": token.serial, "failures": token.failures})),
            )
            .await?;
        }
        tx.put_token(&token).await?;
    }
    Ok(())
}
