//! Personal tokens: bearer secrets a user makes for programs that act for them. A repository
//! token lets package clients read the curated repository; an API token lets a script call
//! `/api/v1`, reading only or also changing. Each is shown once, stored as its SHA-256, expires,
//! and is revoked by its owner. Refused credentials are counted per address and audited, so a
//! looping client cannot flood the audit trail.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::json;
use time::OffsetDateTime;

use crate::accounts::Role;
use crate::audit::{NewAuditEvent, actor};
use crate::changes::{Memo, Topic};
use crate::identity::records::AccountStatus;
use crate::{CoreError, Store, Tx, to_micros};

/// A token's last use is written at most this often (a pip install makes dozens of requests).
const TOUCH_EVERY_US: i64 = 3600 * 1_000_000;

/// What a personal token may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScope {
    /// Package clients: read the repository.
    Repository,
    /// `/api/v1`: read what the owner may read.
    ApiRead,
    /// `/api/v1`: also change what the owner may change.
    ApiWrite,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Repository => "repository",
            TokenScope::ApiRead => "api:read",
            TokenScope::ApiWrite => "api:write",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "repository" => Some(TokenScope::Repository),
            "api:read" => Some(TokenScope::ApiRead),
            "api:write" => Some(TokenScope::ApiWrite),
            _ => None,
        }
    }

    pub fn is_api(self) -> bool {
        matches!(self, TokenScope::ApiRead | TokenScope::ApiWrite)
    }
}

/// A personal token as stored: its SHA-256, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalToken {
    pub hash: [u8; 32],
    pub user_id: String,
    pub label: String,
    pub scope: TokenScope,
    pub created_us: i64,
    pub last_used_us: i64,
    pub expires_us: i64,
}

impl PersonalToken {
    /// A short public handle for lists and revocation (not enough to use the token).
    pub fn handle(&self) -> String {
        hex::encode(&self.hash[..6])
    }
}

/// A token as a check found it, with its owner's account (None when it is gone), kept in
/// memory while no credential changed (`crate::changes`; a token's last use does not count).
pub(crate) struct Checked {
    token: PersonalToken,
    owner: Option<Owner>,
    /// The newest last use this node recorded (the cached token's is as it was read).
    touched_us: AtomicI64,
}

/// What a token check needs of the token's owner (nothing else of the account is kept).
#[derive(Debug, Clone)]
pub(crate) struct Owner {
    pub status: AccountStatus,
    pub roles: Vec<Role>,
}

pub(crate) type TokenMemo = Memo<[u8; 32], Checked>;

pub(crate) fn token_memo(store: &dyn Store) -> TokenMemo {
    Memo::new(Topic::Credentials, store.changes())
}

/// The stored token with this hash, if any, and its owner (None when the account is gone).
pub(crate) async fn find(
    store: &dyn Store,
    memo: &TokenMemo,
    hash: Option<[u8; 32]>,
) -> Result<Option<(PersonalToken, Option<Owner>)>, CoreError> {
    let Some(hash) = hash else { return Ok(None) };
    let checked = match memo.get(&hash) {
        Some(c) => c,
        None => {
            let stamp = memo.stamp();
            let found = crate::store::read(store, move |tx| {
                Box::pin(async move {
                    let Some(token) = tx.personal_token(&hash).await? else { return Ok(None) };
                    let owner = tx.account(&token.user_id).await?.map(|a| Owner { status: a.status, roles: a.roles });
                    Ok::<_, CoreError>(Some((token, owner)))
                })
            })
            .await?;
            // Unknown tokens are not kept: they are refused, counted and audited each time.
            let Some((token, owner)) = found else { return Ok(None) };
            let checked = Arc::new(Checked { touched_us: AtomicI64::new(token.last_used_us), token, owner });
            memo.put(hash, stamp, checked.clone());
            checked
        }
    };
    let mut token = checked.token.clone();
    token.last_used_us = token.last_used_us.max(checked.touched_us.load(Ordering::Relaxed));
    Ok(Some((token, checked.owner.clone())))
}

/// Record a token's use, at most once per `TOUCH_EVERY_US`; a failure is logged, never fatal.
pub(crate) async fn touch(store: &dyn Store, memo: &TokenMemo, token: &PersonalToken, now_us: i64) {
    if now_us - token.last_used_us <= TOUCH_EVERY_US {
        return;
    }
    let hash = token.hash;
    let touched = crate::store::transact(store, move |tx| {
        Box::pin(async move { tx.touch_personal_token(&hash, now_us).await.map_err(CoreError::from) })
    })
    .await;
    match touched {
        Ok(()) => {
            if let Some(checked) = memo.get(&hash) {
                checked.touched_us.fetch_max(now_us, Ordering::Relaxed);
            }
        }
        Err(e) => tracing::warn!(error = %e, scope = token.scope.as_str(), "could not record a personal token's use"),
    }
}

/// Revoke every API token of `user_id` (inside the caller's unit): what a password change or
/// reset and "sign out my other sessions" do, so that a clean-up after a compromise also ends
/// what a thief may have made. How many there were.
pub(crate) async fn revoke_api_tokens(tx: &mut dyn Tx, user_id: &str) -> Result<u64, crate::StoreError> {
    Ok(revoke_tokens(tx, user_id, TokenScope::is_api).await?.len() as u64)
}

/// Revoke `user_id`'s personal tokens whose scope `which` picks (inside the caller's unit):
/// the ones revoked.
pub(crate) async fn revoke_tokens(
    tx: &mut dyn Tx,
    user_id: &str,
    which: fn(TokenScope) -> bool,
) -> Result<Vec<PersonalToken>, crate::StoreError> {
    let mut revoked = Vec::new();
    for token in tx.personal_tokens(user_id).await?.into_iter().filter(|t| which(t.scope)) {
        if tx.delete_personal_token(&token.hash).await? {
            revoked.push(token);
        }
    }
    Ok(revoked)
}

/// A token's name: 1 to 64 printable characters.
pub fn validate_label(label: &str) -> Result<String, String> {
    let label = label.trim();
    if label.is_empty() || label.chars().count() > 64 || label.chars().any(char::is_control) {
        return Err("Give the token a name of 1 to 64 characters (where you use it, such as \"laptop pip\").".into());
    }
    Ok(label.to_string())
}

/// How one refused credential was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Refused; the address may try again.
    Refused,
    /// The address has had too many refusals lately.
    RateLimited,
}

/// The counting and auditing of refused credentials of one kind (repository or API).
pub(crate) struct FailureRule {
    /// The prefix of the per-address counter's key.
    pub key: &'static str,
    pub refused: &'static str,
    pub rate_limited: &'static str,
    pub max_failures: i64,
    pub window_us: i64,
}

/// Whether `src` has had more refusals under `rule` lately than it allows: asked before a costly
/// check (a password hash), so that a rate-limited address costs nothing and learns nothing.
pub(crate) async fn over_limit(
    store: &dyn crate::Store,
    rule: &FailureRule,
    src: &str,
    now: OffsetDateTime,
) -> Result<bool, CoreError> {
    let key = format!("{}:{}", rule.key, crate::client::rate_key(src));
    let since = to_micros(now) - rule.window_us;
    let max = rule.max_failures;
    crate::read(store, move |tx| {
        Box::pin(async move { Ok::<_, CoreError>(tx.count_attempts(&key, since).await? >= max) })
    })
    .await
}

/// One refused credential from `src`: counted per address, rate limited past the rule's limit
/// (audited once, when it crosses), audited otherwise.
pub(crate) async fn record_failure(
    tx: &mut dyn Tx,
    rule: &FailureRule,
    claimed: String,
    src: String,
    details: serde_json::Value,
    now: OffsetDateTime,
) -> Result<Refusal, CoreError> {
    let now_us = to_micros(now);
    let key = format!("{}:{}", rule.key, crate::client::rate_key(&src));
    let failures = tx.count_attempts(&key, now_us - rule.window_us).await?;
    if failures > rule.max_failures {
        return Ok(Refusal::RateLimited);
    }
    tx.record_attempt(&key, now_us).await?;
    let (action, refusal) = if failures == rule.max_failures {
        (rule.rate_limited, Refusal::RateLimited)
    } else {
        (rule.refused, Refusal::Refused)
    };
    let event = NewAuditEvent::new(now, actor::ANONYMOUS, action).target(&claimed).source(&src).details({
        let mut d = details;
        d["failures"] = json!(failures + 1);
        d
    });
    tx.append_audit(event).await?;
    Ok(refusal)
}
