//! Server-side sessions: a random cookie secret, stored as its SHA-256, with an idle and an
//! absolute timeout. ICE and enrolment sessions are short and can do little (see `authz`).

use time::Duration;
use zeroize::Zeroizing;

use super::Identity;
use super::records::{AccountStatus, SessionKind, SessionRecord, TokenState};
use crate::audit::{NewAuditEvent, action};
use crate::authz::{Action, Resource, require};
use crate::caller::{Caller, Session};
use crate::{CoreError, Tx, read, transact};

/// A session just made: the secret for the cookie and the record to store.
pub struct NewSession {
    pub secret: Zeroizing<String>,
    pub record: SessionRecord,
}

/// The longest an ICE or enrolment session lives, whatever the policy says of full ones.
const LIMITED_SESSION_MINUTES: i64 = 30;
/// `last_seen` is written at most this often, so that reading pages does not queue writes.
const TOUCH_EVERY_SECONDS: i64 = 60;

fn minutes_us(m: i64) -> i64 {
    Duration::minutes(m).whole_microseconds() as i64
}

impl Identity {
    pub(crate) fn make_session(
        &self,
        user_id: &str,
        kind: SessionKind,
        mfa: bool,
        source: &str,
        user_agent: &str,
    ) -> Result<NewSession, CoreError> {
        let (_, now_us) = self.now();
        let token = haven_crypto::token::new_token(self.rng.as_ref())?;
        let record = SessionRecord {
            hash: token.hash,
            user_id: user_id.to_string(),
            kind,
            created_us: now_us,
            last_seen_us: now_us,
            mfa_at_us: if mfa { now_us } else { 0 },
            source: source.chars().take(64).collect(),
            user_agent: user_agent.chars().take(200).collect(),
        };
        Ok(NewSession { secret: token.secret, record })
    }

    fn session_limits(&self, kind: SessionKind) -> (i64, i64) {
        let idle = minutes_us(i64::from(self.policy.session_idle_minutes));
        let absolute = minutes_us(i64::from(self.policy.session_absolute_hours) * 60);
        match kind {
            SessionKind::Full => (idle, absolute),
            SessionKind::Ice | SessionKind::Enrol => {
                let cap = minutes_us(LIMITED_SESSION_MINUTES);
                (idle.min(cap), absolute.min(cap))
            }
        }
    }

    /// Whether `who`'s sign-in still stands: not signed out or ended, within its absolute
    /// lifetime, the account active, and not idle, counting as use the person's own input on a
    /// long-lived connection (a terminal's keystrokes, `quiet_us` ago) as well as their requests;
    /// output a program prints to an unattended screen is not the person's use. What such a
    /// connection asks from time to time.
    pub async fn still_signed_in(&self, who: &Caller, quiet_us: i64) -> Result<bool, CoreError> {
        let Some(hash) = who.session.as_ref().map(|s| s.hash) else { return Ok(false) };
        let (_, now_us) = self.now();
        let found = read(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let Some(session) = tx.session(&hash).await? else { return Ok::<_, CoreError>(None) };
                let account = tx.account(&session.user_id).await?;
                Ok(account.map(|a| (session, a)))
            })
        })
        .await?;
        let Some((session, account)) = found else { return Ok(false) };
        let (idle, absolute) = self.session_limits(session.kind);
        let idle_out = now_us - session.last_seen_us > idle && quiet_us > idle;
        Ok(session.user_id == who.user_id
            && now_us - session.created_us <= absolute
            && !idle_out
            && account.status == AccountStatus::Active)
    }

    /// The caller behind a session cookie, coming from `source` with `user_agent`, or None
    /// (unknown, expired, or the account can no longer sign in). Expired sessions are deleted.
    pub async fn authenticate(
        &self,
        secret: &str,
        source: &str,
        user_agent: &str,
    ) -> Result<Option<Caller>, CoreError> {
        self.authenticate_renewing(secret, source, user_agent, true).await
    }

    /// As [`Identity::authenticate`]; when `renew` is false the request does not count as use
    /// (the idle clock goes on): a page's own polling, not a person.
    pub async fn authenticate_renewing(
        &self,
        secret: &str,
        source: &str,
        user_agent: &str,
        renew: bool,
    ) -> Result<Option<Caller>, CoreError> {
        if !haven_crypto::token::looks_like_token(secret) {
            return Ok(None);
        }
        let hash = haven_crypto::token::hash_token(secret);
        let (_, now_us) = self.now();
        let found = read(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let Some(session) = tx.session(&hash).await? else { return Ok::<_, CoreError>(None) };
                let account = tx.account(&session.user_id).await?;
                let active_token = tx.tokens_of(&session.user_id).await?.iter().any(|t| t.state == TokenState::Active);
                Ok(account.map(|a| (session, a, active_token)))
            })
        })
        .await?;
        let Some((session, account, has_token)) = found else { return Ok(None) };
        let (idle, absolute) = self.session_limits(session.kind);
        let expired = now_us - session.last_seen_us > idle || now_us - session.created_us > absolute;
        // A lockout after failed sign-ins stops new sign-ins only: failures anyone can cause must
        // not end the user's live sessions (the user or the service desk end those).
        let usable = account.status == AccountStatus::Active;
        // An ICE session lasts only while ICE is on, for everyone (configuration or the desk's
        // switch) and for the account.
        let ice_off = session.kind == SessionKind::Ice && !(account.ice_enabled && self.ice_globally_enabled().await?);
        if expired || !usable || ice_off {
            let reason = if expired {
                "expired"
            } else if !usable {
                "account_not_active"
            } else {
                "ice_turned_off"
            };
            self.end_session_record(&session, reason).await?;
            return Ok(None);
        }
        if renew && now_us - session.last_seen_us > TOUCH_EVERY_SECONDS * 1_000_000 {
            transact(self.store.as_ref(), move |tx| {
                Box::pin(async move { Ok::<_, CoreError>(tx.touch_session(&hash, now_us).await?) })
            })
            .await?;
        }
        Ok(Some(Caller {
            level: session.kind.level(),
            session: Some(Session {
                hash: session.hash,
                email: account.email.clone(),
                mfa_at_us: session.mfa_at_us,
                created_us: session.created_us,
                password_expired: self.password_expired(&account, now_us),
                needs_token: !has_token,
            }),
            user_id: account.id,
            roles: account.roles,
            source: source.to_string(),
            user_agent: user_agent.to_string(),
        }))
    }

    async fn end_session_record(&self, session: &SessionRecord, reason: &'static str) -> Result<(), CoreError> {
        let (now, _) = self.now();
        let (hash, user) = (session.hash, session.user_id.clone());
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                if tx.delete_session(&hash).await? {
                    tx.append_audit(
                        NewAuditEvent::new(now, &user, action::SESSION_ENDED)
                            .target(&user)
                            .details(serde_json::json!({"reason": reason})),
                    )
                    .await?;
                }
                Ok::<_, CoreError>(())
            })
        })
        .await
    }

    /// Sign out: the session is deleted server-side.
    pub async fn sign_out(&self, who: &Caller) -> Result<(), CoreError> {
        let source = who.source.as_str();
        let (now, _) = self.now();
        let (hash, user, src) = (who.session()?.hash, who.user_id.clone(), source.to_string());
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.delete_session(&hash).await?;
                tx.append_audit(NewAuditEvent::new(now, &user, action::SESSION_SIGNED_OUT).target(&user).source(&src))
                    .await?;
                Ok::<_, CoreError>(())
            })
        })
        .await
    }

    /// The user's sessions, newest first.
    pub async fn my_sessions(&self, who: &Caller) -> Result<Vec<SessionRecord>, CoreError> {
        require(who, Action::ManageOwnCredentials, Resource::Account(&who.user_id))?;
        let user = who.user_id.clone();
        read(self.store.as_ref(), move |tx| Box::pin(async move { Ok::<_, CoreError>(tx.sessions_of(&user).await?) }))
            .await
    }

    /// End every session of the user but this one; how many ended.
    pub async fn end_other_sessions(&self, who: &Caller) -> Result<u64, CoreError> {
        let source = who.source.as_str();
        require(who, Action::ManageOwnCredentials, Resource::Account(&who.user_id))?;
        let (now, _) = self.now();
        let (hash, user, src) = (who.session()?.hash, who.user_id.clone(), source.to_string());
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let n = tx.delete_sessions_of(&user, Some(&hash)).await?;
                let revoked = crate::tokens::revoke_api_tokens(tx, &user).await?;
                tx.append_audit(
                    NewAuditEvent::new(now, &user, action::SESSION_OTHERS_ENDED)
                        .target(&user)
                        .source(&src)
                        .details(serde_json::json!({"ended": n, "api_tokens_revoked": revoked})),
                )
                .await?;
                Ok::<_, CoreError>(n)
            })
        })
        .await
    }

    /// An enrolment session for an account that was just made with a password but has no token
    /// (the bootstrap administrator): it can only set security questions and enrol a token.
    pub async fn start_enrolment(
        &self,
        user_id: &str,
        source: &str,
        user_agent: &str,
    ) -> Result<NewSession, CoreError> {
        let session = self.make_session(user_id, SessionKind::Enrol, false, source, user_agent)?;
        let (now, _) = self.now();
        let (id, src, record) = (user_id.to_string(), source.to_string(), session.record.clone());
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let has_token = tx.tokens_of(&id).await?.iter().any(|t| t.state == TokenState::Active);
                if has_token {
                    return Err(CoreError::Conflict("this account has a token already; sign in instead".into()));
                }
                tx.insert_session(&record).await?;
                tx.append_audit(
                    NewAuditEvent::new(now, &id, action::SESSION_ENROLMENT_STARTED).target(&id).source(&src),
                )
                .await?;
                Ok::<_, CoreError>(())
            })
        })
        .await?;
        Ok(session)
    }

    /// Store a new session in `tx`, ending `replaces` (rotation at sign-in).
    pub(crate) async fn insert_session(
        tx: &mut dyn Tx,
        session: &SessionRecord,
        replaces: Option<[u8; 32]>,
    ) -> Result<(), CoreError> {
        if let Some(old) = replaces {
            tx.delete_session(&old).await?;
        }
        tx.insert_session(session).await?;
        Ok(())
    }
}
