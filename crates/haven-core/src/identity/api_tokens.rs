//! Personal API tokens for `/api/v1`: a user makes one in the portal after a fresh two-factor
//! sign-in, read-only or read-write, and a script sends it as `Authorization: Bearer …`. The
//! token acts with its owner's current roles and standing, in governance only (see `can()`),
//! and stops at once when the owner's account stops being active or the token is revoked.
//!
//! A read-write token may do what a fresh step-up allows in the portal (decide a request,
//! close an asset), so it lives at most [`API_WRITE_DAYS`]; a read-only one [`API_READ_DAYS`].

use haven_crypto::token::{hash_token, looks_like_token, new_token};
use serde_json::json;
use zeroize::Zeroizing;

use super::Identity;
use super::records::AccountStatus;
use crate::audit::{NewAuditEvent, action};
use crate::authz::{Action, Resource, require};
use crate::caller::Caller;
use crate::tokens::{FailureRule, PersonalToken, Refusal, TokenScope, record_failure, validate_label};
use crate::{CoreError, read, transact};

/// What every API token starts with, so that people and secret scanners can tell one apart.
pub const API_TOKEN_PREFIX: &str = "haven_api_";
/// The longest life of a read-only token, and the default.
pub const API_READ_DAYS: i64 = 180;
/// The longest life of a read-write token, and the default.
pub const API_WRITE_DAYS: i64 = 30;
const MAX_API_TOKENS: usize = 10;
const DAY_US: i64 = 86_400 * 1_000_000;
const FAILURES: FailureRule = FailureRule {
    key: "api-address",
    refused: action::API_TOKEN_REFUSED,
    rate_limited: action::API_TOKEN_RATE_LIMITED,
    max_failures: 30,
    window_us: 15 * 60 * 1_000_000,
};

/// What [`Identity::authenticate_api`] found.
#[derive(Debug)]
pub enum ApiAuth {
    /// The token's owner, as an API caller (roles not yet gated by training).
    Ok(Caller),
    /// Wrong, expired or revoked token, or an account that is not active (the client is not
    /// told which; the audit trail is).
    Refused,
    /// Too many refused tokens from this address lately.
    RateLimited,
}

impl Identity {
    /// Make an API token for the caller; the secret is returned once. `days`: its life (the
    /// scope's longest when None). Needs a fresh two-factor sign-in. Audited.
    pub async fn create_api_token(
        &self,
        who: &Caller,
        label: &str,
        write: bool,
        days: Option<i64>,
    ) -> Result<(Zeroizing<String>, PersonalToken), CoreError> {
        require(who, Action::ManageOwnCredentials, Resource::Account(&who.user_id))?;
        self.check_fresh(who)?;
        let label = validate_label(label).map_err(|m| CoreError::invalid("label", m))?;
        let (scope, longest) =
            if write { (TokenScope::ApiWrite, API_WRITE_DAYS) } else { (TokenScope::ApiRead, API_READ_DAYS) };
        let days = days.unwrap_or(longest);
        if !(1..=longest).contains(&days) {
            return Err(CoreError::invalid("days", format!("a {} token lasts 1 to {longest} days", scope.as_str())));
        }
        let token = new_token(self.rng.as_ref())?;
        let (now, now_us) = self.now();
        let record = PersonalToken {
            hash: token.hash,
            user_id: who.user_id.clone(),
            label,
            scope,
            created_us: now_us,
            last_used_us: 0,
            expires_us: now_us + days * DAY_US,
        };
        let event = NewAuditEvent::new(now, &who.user_id, action::API_TOKEN_CREATED)
            .target(&who.user_id)
            .source(&who.source)
            .details(json!({"token": record.handle(), "label": record.label, "scope": scope.as_str(), "days": days}));
        let stored = record.clone();
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let mine = tx.personal_tokens(&stored.user_id).await?;
                if mine.iter().filter(|t| t.scope.is_api()).count() >= MAX_API_TOKENS {
                    return Err(CoreError::Conflict(format!(
                        "You have {MAX_API_TOKENS} API tokens already; revoke one you no longer use first."
                    )));
                }
                tx.insert_personal_token(&stored).await?;
                tx.append_audit(event).await?;
                Ok(())
            })
        })
        .await?;
        Ok((Zeroizing::new(format!("{API_TOKEN_PREFIX}{}", token.secret.as_str())), record))
    }

    /// The caller's API tokens, oldest first.
    pub async fn api_tokens(&self, who: &Caller) -> Result<Vec<PersonalToken>, CoreError> {
        require(who, Action::ManageOwnCredentials, Resource::Account(&who.user_id))?;
        let user = who.user_id.clone();
        read(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let tokens = tx.personal_tokens(&user).await?;
                Ok::<_, CoreError>(tokens.into_iter().filter(|t| t.scope.is_api()).collect())
            })
        })
        .await
    }

    /// Revoke one of the caller's API tokens by its handle. Audited.
    pub async fn revoke_api_token(&self, who: &Caller, handle: &str) -> Result<(), CoreError> {
        let Some(token) = self.api_tokens(who).await?.into_iter().find(|t| t.handle() == handle) else {
            return Err(CoreError::NotFound);
        };
        let event = NewAuditEvent::new(self.now().0, &who.user_id, action::API_TOKEN_REVOKED)
            .target(&who.user_id)
            .source(&who.source)
            .details(json!({"token": handle, "label": token.label, "scope": token.scope.as_str()}));
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.delete_personal_token(&token.hash).await?;
                tx.append_audit(event).await?;
                Ok::<_, CoreError>(())
            })
        })
        .await
    }

    /// Check a bearer token from `source`. Anything wrong is refused without telling the client
    /// which; the audit event says. Refusals are counted per address and rate limited.
    pub async fn authenticate_api(&self, secret: &str, source: &str, user_agent: &str) -> Result<ApiAuth, CoreError> {
        let bare = secret.strip_prefix(API_TOKEN_PREFIX).filter(|s| looks_like_token(s));
        let hash = bare.map(hash_token);
        let now_us = self.now().1;
        let found = crate::tokens::find(self.store.as_ref(), &self.api_tokens, hash).await?;
        let refusal = match &found {
            None if hash.is_none() => Some("not_an_api_token"),
            None => Some("unknown_token"),
            Some((t, _)) if !t.scope.is_api() => Some("not_an_api_token"),
            Some((_, None)) => Some("account_gone"),
            Some((t, _)) if t.expires_us <= now_us => Some("expired"),
            Some((_, Some(a))) if a.status != AccountStatus::Active => Some("account_not_active"),
            Some(_) => None,
        };
        // Whose token was presented, as the refusal's audit target: a leaked token matters.
        let owner = found.as_ref().map(|(t, _)| t.user_id.clone()).unwrap_or_default();
        let Some((token, Some(account))) = found.filter(|_| refusal.is_none()) else {
            return self.refuse_api(refusal.unwrap_or("unknown_token"), owner, source).await;
        };
        crate::tokens::touch(self.store.as_ref(), &self.api_tokens, &token, now_us).await;
        let write = token.scope == TokenScope::ApiWrite;
        Ok(ApiAuth::Ok(Caller::api(&token.user_id, account.roles, write, source, user_agent)))
    }

    async fn refuse_api(&self, reason: &'static str, owner: String, source: &str) -> Result<ApiAuth, CoreError> {
        let now = self.now().0;
        let src = source.to_string();
        let details = json!({"reason": reason});
        let refusal =
            transact(self.store.as_ref(), move |tx| Box::pin(record_failure(tx, &FAILURES, owner, src, details, now)))
                .await?;
        Ok(match refusal {
            Refusal::Refused => ApiAuth::Refused,
            Refusal::RateLimited => ApiAuth::RateLimited,
        })
    }
}
