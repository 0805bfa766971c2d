//! Repository tokens: what package clients (pip, uv, R, conda) send as the password of HTTP
//! Basic authentication, with the Haven user id as the user name. A user makes them in the
//! portal; each is shown once and stored as its SHA-256.

use haven_crypto::ct_eq;
use haven_crypto::token::{hash_token, looks_like_token, new_token};
use serde_json::json;
use zeroize::Zeroizing;

use super::{PackageError, Packages};
use crate::CoreError;
use crate::accounts::Role;
use crate::audit::{NewAuditEvent, action};
use crate::authz::{Action, Resource, can, require};
use crate::caller::{Caller, Level};
use crate::identity::records::AccountStatus;
use crate::tokens::{FailureRule, PersonalToken, Refusal, TokenScope, record_failure, validate_label};

/// How long a repository token lasts.
pub const TOKEN_DAYS: i64 = 365;
const MAX_TOKENS: usize = 20;
/// Refused credentials from one address within `FAILURE_WINDOW_US` before it is turned away
/// (a misconfigured pip makes one or two per run; guessing a 256-bit token is hopeless anyway).
pub const MAX_FAILURES: i64 = 30;
const FAILURE_WINDOW_US: i64 = 15 * 60 * 1_000_000;
const FAILURES: FailureRule = FailureRule {
    key: "repo-address",
    refused: action::REPO_TOKEN_REFUSED,
    rate_limited: action::REPO_TOKEN_RATE_LIMITED,
    max_failures: MAX_FAILURES,
    window_us: FAILURE_WINDOW_US,
};

impl Packages {
    /// A user manages their own tokens, after a recent step-up (a token is a credential); the
    /// console makes them for anyone (`haven packages token`).
    pub fn may_manage_tokens(&self, who: &Caller, user_id: &str) -> Result<(), PackageError> {
        if who.level == Level::Console && can(who, Action::ManageAccounts, Resource::Service) {
            return Ok(());
        }
        require(who, Action::ManageOwnCredentials, Resource::Account(user_id))?;
        let window = time::Duration::minutes(i64::from(self.fresh_mfa_minutes));
        if who.fresh(self.now_us(), window) { Ok(()) } else { Err(CoreError::StepUpRequired.into()) }
    }

    /// Make a token for `user_id` (by the user, or the console); the secret is returned once.
    /// Audited.
    pub async fn create_repo_token(
        &self,
        who: &Caller,
        user_id: &str,
        label: &str,
    ) -> Result<(Zeroizing<String>, PersonalToken), PackageError> {
        self.may_manage_tokens(who, user_id)?;
        let (actor, source) = (who.user_id.as_str(), who.source.as_str());
        let label = validate_label(label).map_err(PackageError::BadRequest)?;
        let token = new_token(self.rng.as_ref()).map_err(CoreError::from)?;
        let now = self.now_us();
        let record = PersonalToken {
            hash: token.hash,
            user_id: user_id.into(),
            label,
            scope: TokenScope::Repository,
            created_us: now,
            last_used_us: 0,
            expires_us: now + TOKEN_DAYS * 86_400 * 1_000_000,
        };
        let event = NewAuditEvent::new(self.clock.now(), actor, action::REPO_TOKEN_CREATED)
            .target(user_id)
            .source(source)
            .details(json!({"token": record.handle(), "label": record.label}));
        let stored = record.clone();
        crate::store::transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                if tx.account(&stored.user_id).await?.is_none() {
                    return Err(CoreError::NotFound);
                }
                let tokens = tx.personal_tokens(&stored.user_id).await?;
                if tokens.iter().filter(|t| t.scope == TokenScope::Repository).count() >= MAX_TOKENS {
                    return Err(CoreError::Conflict(format!(
                        "You have {MAX_TOKENS} repository tokens already; revoke one you no longer use first."
                    )));
                }
                tx.insert_personal_token(&stored).await?;
                tx.append_audit(event).await?;
                Ok(())
            })
        })
        .await?;
        Ok((token.secret, record))
    }

    /// The caller's own repository tokens.
    pub async fn repo_tokens(&self, who: &Caller) -> Result<Vec<PersonalToken>, PackageError> {
        self.may_manage_tokens(who, &who.user_id)?;
        let user = who.user_id.clone();
        Ok(crate::store::read(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let tokens = tx.personal_tokens(&user).await?;
                Ok::<_, CoreError>(tokens.into_iter().filter(|t| t.scope == TokenScope::Repository).collect())
            })
        })
        .await?)
    }

    /// Revoke one of the caller's tokens by its handle. Audited.
    pub async fn revoke_repo_token(&self, who: &Caller, handle: &str) -> Result<(), PackageError> {
        let tokens = self.repo_tokens(who).await?;
        let (user_id, source) = (who.user_id.as_str(), who.source.as_str());
        let Some(token) = tokens.into_iter().find(|t| t.handle() == handle) else {
            return Err(PackageError::NotFound("You have no repository token with that id.".into()));
        };
        let event = NewAuditEvent::new(self.clock.now(), user_id, action::REPO_TOKEN_REVOKED)
            .target(user_id)
            .source(source)
            .details(json!({"token": handle, "label": token.label}));
        crate::store::transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.delete_personal_token(&token.hash).await?;
                tx.append_audit(event).await?;
                Ok::<_, CoreError>(())
            })
        })
        .await?;
        Ok(())
    }

    /// Check HTTP Basic credentials from `source`. Anything wrong (unknown token, another
    /// user's token, expired, account not active) is refused without saying which to the
    /// client; the audit event says which. Refusals are counted per address: past
    /// `MAX_FAILURES` within `FAILURE_WINDOW_US` the address gets `RateLimited` (audited once,
    /// when it crosses) until the window has passed, so a looping client cannot flood the trail.
    pub async fn authenticate(&self, user_id: &str, secret: &str, source: &str) -> Result<Auth, PackageError> {
        let hash = looks_like_token(secret).then(|| hash_token(secret));
        let user = user_id.to_string();
        let now = self.now_us();
        let found = crate::tokens::find(self.store.as_ref(), &self.tokens, hash).await?;
        let refusal = match &found {
            None if hash.is_none() => Some("not_a_token"),
            None => Some("unknown_token"),
            Some((_, None)) => Some("account_gone"),
            Some((token, _)) if !ct_eq(token.user_id.as_bytes(), user.as_bytes()) => Some("another_users_token"),
            Some((token, _)) if token.scope != TokenScope::Repository => Some("not_a_repository_token"),
            Some((token, _)) if token.expires_us <= now => Some("expired"),
            // A lockout after failed sign-ins (which anyone can cause) stops new sign-ins only,
            // not credentials already issued; locked and disabled accounts' tokens stop at once.
            Some((_, Some(a))) if a.status != AccountStatus::Active => Some("account_not_active"),
            Some(_) => None,
        };
        if let Some(reason) = refusal {
            // Whose token was presented matters for the investigation: a leaked token.
            let owner = found.as_ref().map(|(t, _)| t.user_id.as_str()).filter(|o| *o != user);
            return self.refuse_credentials(&user, owner, reason, source).await;
        }
        let Some((token, Some(account))) = found else { return Ok(Auth::Refused) };
        crate::tokens::touch(self.store.as_ref(), &self.tokens, &token, now).await;
        Ok(Auth::Ok { user_id: token.user_id, roles: account.roles })
    }

    /// Count and audit one refused credential from `source` (see `authenticate`).
    async fn refuse_credentials(
        &self,
        user: &str,
        owner: Option<&str>,
        reason: &'static str,
        source: &str,
    ) -> Result<Auth, PackageError> {
        let now = self.clock.now();
        // The claimed user id is the client's text: kept short, as the audit target.
        let claimed: String = user.chars().filter(|c| !c.is_control()).take(64).collect();
        let src = source.to_string();
        let mut details = json!({"reason": reason});
        if let Some(owner) = owner {
            details["token_owner"] = json!(owner);
        }
        let refusal = crate::store::transact(self.store.as_ref(), move |tx| {
            Box::pin(record_failure(tx, &FAILURES, claimed, src, details, now))
        })
        .await?;
        Ok(match refusal {
            Refusal::Refused => Auth::Refused,
            Refusal::RateLimited => Auth::RateLimited,
        })
    }
}

/// What `authenticate` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    Ok {
        user_id: String,
        roles: Vec<Role>,
    },
    /// Wrong credentials (the client is not told why).
    Refused,
    /// Too many refused credentials from this address lately.
    RateLimited,
}
