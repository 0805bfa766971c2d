//! Repository tokens: what package clients (pip, uv, R, conda) send as the password of HTTP
//! Basic authentication, with the Haven user id as the user name. A user makes them in the
//! portal; each is shown once and stored as its SHA-256.

use haven_crypto::ct_eq;
use haven_crypto::token::{hash_token, looks_like_token, new_token};
use serde_json::json;
use zeroize::Zeroizing;

use super::records::RepoToken;
use super::{PackageError, Packages};
use crate::CoreError;
use crate::accounts::Role;
use crate::audit::NewAuditEvent;
use crate::identity::records::AccountStatus;

/// How long a repository token lasts.
pub const TOKEN_DAYS: i64 = 365;
const MAX_TOKENS: usize = 20;
/// A token's last use is written at most this often (a pip install makes dozens of requests).
const TOUCH_EVERY_US: i64 = 3600 * 1_000_000;

impl Packages {
    /// Make a token for `user_id` (by `actor`: the user, or `console`); the secret is returned
    /// once. Audited.
    pub async fn create_repo_token(
        &self,
        actor: &str,
        user_id: &str,
        label: &str,
        source: &str,
    ) -> Result<(Zeroizing<String>, RepoToken), PackageError> {
        let label = label.trim();
        if label.is_empty() || label.chars().count() > 64 || label.chars().any(char::is_control) {
            return Err(PackageError::BadRequest(
                "Give the token a name of 1 to 64 characters (where you use it, such as \"laptop pip\").".into(),
            ));
        }
        let token = new_token(self.rng.as_ref()).map_err(CoreError::from)?;
        let now = self.now_us();
        let record = RepoToken {
            hash: token.hash,
            user_id: user_id.into(),
            label: label.into(),
            created_us: now,
            last_used_us: 0,
            expires_us: now + TOKEN_DAYS * 86_400 * 1_000_000,
        };
        let event = NewAuditEvent::new(self.clock.now(), actor, "repo_token.created")
            .target(user_id)
            .source(source)
            .details(json!({"token": record.handle(), "label": record.label}));
        let stored = record.clone();
        crate::store::transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                if tx.account(&stored.user_id).await?.is_none() {
                    return Err(CoreError::NotFound);
                }
                if tx.repo_tokens(&stored.user_id).await?.len() >= MAX_TOKENS {
                    return Err(CoreError::Conflict(format!(
                        "You have {MAX_TOKENS} repository tokens already; revoke one you no longer use first."
                    )));
                }
                tx.insert_repo_token(&stored).await?;
                tx.append_audit(event).await?;
                Ok(())
            })
        })
        .await?;
        Ok((token.secret, record))
    }

    pub async fn repo_tokens(&self, user_id: &str) -> Result<Vec<RepoToken>, PackageError> {
        let user = user_id.to_string();
        Ok(crate::store::read(self.store.as_ref(), move |tx| {
            Box::pin(async move { tx.repo_tokens(&user).await.map_err(CoreError::from) })
        })
        .await?)
    }

    /// Revoke one of `user_id`'s tokens by its handle. Audited.
    pub async fn revoke_repo_token(&self, user_id: &str, handle: &str, source: &str) -> Result<(), PackageError> {
        let tokens = self.repo_tokens(user_id).await?;
        let Some(token) = tokens.into_iter().find(|t| t.handle() == handle) else {
            return Err(PackageError::NotFound("You have no repository token with that id.".into()));
        };
        let event = NewAuditEvent::new(self.clock.now(), user_id, "repo_token.revoked")
            .target(user_id)
            .source(source)
            .details(json!({"token": handle, "label": token.label}));
        crate::store::transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.delete_repo_token(&token.hash).await?;
                tx.append_audit(event).await?;
                Ok::<_, CoreError>(())
            })
        })
        .await?;
        Ok(())
    }

    /// Check HTTP Basic credentials. Returns the account's id and roles, or None for anything
    /// wrong (unknown token, another user's token, expired, account not active) without saying
    /// which.
    pub async fn authenticate(&self, user_id: &str, secret: &str) -> Result<Option<(String, Vec<Role>)>, PackageError> {
        if !looks_like_token(secret) {
            return Ok(None);
        }
        let hash = hash_token(secret);
        let user = user_id.to_string();
        let now = self.now_us();
        let found = crate::store::read(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let Some(token) = tx.repo_token(&hash).await? else { return Ok(None) };
                let account = tx.account(&token.user_id).await?;
                Ok::<_, CoreError>(Some((token, account)))
            })
        })
        .await?;
        let Some((token, Some(account))) = found else { return Ok(None) };
        let active = account.status == AccountStatus::Active && account.locked_until_us <= now;
        if !ct_eq(token.user_id.as_bytes(), user.as_bytes()) || !active || token.expires_us <= now {
            return Ok(None);
        }
        if now - token.last_used_us > TOUCH_EVERY_US {
            let touched = crate::store::transact(self.store.as_ref(), move |tx| {
                Box::pin(async move { tx.touch_repo_token(&hash, now).await.map_err(CoreError::from) })
            })
            .await;
            if let Err(e) = touched {
                tracing::warn!(error = %e, "could not record a repository token's use");
            }
        }
        Ok(Some((token.user_id, account.roles)))
    }
}
