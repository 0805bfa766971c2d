//! Drop-off links: what an IAO or IAA gives an external data provider, who has no account, so
//! that they can send files into one asset. A link is a capability in a URL
//! (`/transfer/drop/<secret>`): 256 random bits, of which Haven keeps only the SHA-256. It is
//! write-only (its holder can start, resume and end their own uploads, never list or read
//! anything), expires (7 days unless its issuer says otherwise), may need a password, may limit
//! the bytes and files it takes, and can be revoked. Every use is audited: uploads through a link
//! are recorded as `link:<id>`, and refusals (an unknown or ended link, a wrong password) are
//! counted per address and rate limited like refused API tokens.

use haven_crypto::token::{hash_token, looks_like_token, new_token};
use serde_json::json;
use time::Duration;
use zeroize::Zeroizing;

use super::store::DropLinkRecord;
use super::uploads::{Transfer, TransferError};
use crate::audit::{NewAuditEvent, action};
use crate::authz::{Action, Resource, require};
use crate::caller::{Caller, Level};
use crate::governance::records::AssetStatus;
use crate::tokens::{FailureRule, Refusal, over_limit, record_failure};
use crate::{CoreError, read, to_micros, transact};

const FAILURES: FailureRule = FailureRule {
    key: "drop-link-address",
    refused: action::DROP_LINK_REFUSED,
    rate_limited: action::DROP_LINK_RATE_LIMITED,
    max_failures: 30,
    window_us: 15 * 60 * 1_000_000,
};
/// Wrong passwords for one link, from anywhere: at most 50 a day.
const LINK_PASSWORDS: FailureRule = FailureRule {
    key: "drop-link-password",
    refused: action::DROP_LINK_REFUSED,
    rate_limited: action::DROP_LINK_RATE_LIMITED,
    max_failures: 50,
    window_us: 24 * 3600 * 1_000_000,
};

/// How a request through a link proves it may use it, besides the link itself.
#[derive(Debug)]
pub enum Password {
    /// The password the provider sent, if any: checked when the link has one.
    Check(Option<Zeroizing<String>>),
    /// A request about an upload made through the link (its id is in the URL).
    UploadId,
}

/// The shortest password a link may have.
const MIN_PASSWORD_CHARS: usize = 10;

/// A link to make: its asset, a label its issuer recognises, how long it lasts, and its limits.
#[derive(Debug, Default)]
pub struct NewLink {
    pub asset: String,
    pub label: String,
    /// Days it lasts (the configured default when None).
    pub days: Option<i64>,
    pub password: Option<Zeroizing<String>>,
    pub max_bytes: Option<u64>,
    pub max_files: Option<u64>,
}

/// What opening a link found.
#[derive(Debug)]
pub enum LinkAuth {
    /// The provider, as the caller the upload use cases take.
    Ok(Caller),
    /// Unknown (or not a link at all): the client is not told more; the audit trail is.
    Refused,
    /// Expired or revoked: the provider should ask for a new one.
    Gone,
    /// The link has a password and none was sent.
    PasswordNeeded,
    /// The password sent is wrong.
    WrongPassword,
    /// Too many refusals from this address lately.
    RateLimited,
}

impl Transfer {
    /// Make a drop-off link into `new.asset` for its IAO or an IAA; the secret is returned
    /// once (the link is `<public URL>/transfer/drop/<secret>`). Audited.
    pub async fn create_link(
        &self,
        who: &Caller,
        new: NewLink,
    ) -> Result<(Zeroizing<String>, DropLinkRecord), CoreError> {
        let (asset, _) = self.governance.require_on(who, Action::IssueDropLink, &new.asset).await?;
        let days = new.days.unwrap_or(self.config.link_days);
        if !(1..=self.config.max_link_days).contains(&days) {
            let most = self.config.max_link_days;
            return Err(CoreError::invalid("expires", format!("a link lasts 1 to {most} days")));
        }
        let label = new.label.trim().to_string();
        if label.chars().count() > 100 || label.chars().any(char::is_control) {
            return Err(CoreError::invalid("label", "say whom the link is for in at most 100 characters"));
        }
        let limit = |n: Option<u64>, field: &'static str| match n {
            None => Ok(0),
            Some(0) => Err(CoreError::invalid(field, "a limit is at least 1; leave it out for none")),
            Some(n) => i64::try_from(n).map_err(|_| CoreError::invalid(field, "that limit is too large")),
        };
        let (max_bytes, max_files) = (limit(new.max_bytes, "max_bytes")?, limit(new.max_files, "max_files")?);
        let password_hash = match new.password {
            None => String::new(),
            Some(p) if p.chars().count() < MIN_PASSWORD_CHARS => {
                return Err(CoreError::invalid(
                    "password",
                    format!("a link's password has at least {MIN_PASSWORD_CHARS} characters"),
                ));
            }
            Some(p) => self.hasher.hash(p).await?,
        };
        let token = new_token(self.rng.as_ref())?;
        let raw: [u8; 8] = haven_crypto::rng::random_array(self.rng.as_ref())?;
        let now = self.clock.now();
        let link = DropLinkRecord {
            id: hex::encode(raw),
            token_hash: token.hash.to_vec(),
            asset: asset.name.clone(),
            created_by: who.user_id.clone(),
            label,
            created_us: to_micros(now),
            expires_us: to_micros(now + Duration::days(days)),
            password_hash,
            max_bytes,
            max_files,
            bytes_reserved: 0,
            files_started: 0,
            revoked_us: 0,
        };
        let event = NewAuditEvent::new(now, &who.user_id, action::DROP_LINK_CREATED)
            .target(&link.id)
            .project(&link.asset)
            .source(&who.source)
            .details(json!({
                "link": link.id, "label": link.label, "days": days, "password": !link.password_hash.is_empty(),
                "max_bytes": max_bytes, "max_files": max_files,
            }));
        let stored = link.clone();
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.insert_drop_link(&stored).await?;
                tx.append_audit(event).await?;
                Ok::<_, CoreError>(())
            })
        })
        .await?;
        Ok((Zeroizing::new(token.secret.to_string()), link))
    }

    /// An asset's links, newest first, for its IAO and IAAs.
    pub async fn links(&self, who: &Caller, asset: &str) -> Result<Vec<DropLinkRecord>, CoreError> {
        let (asset, _) = self.governance.require_on(who, Action::IssueDropLink, asset).await?;
        read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.drop_links_of(&asset.name).await?) })
        })
        .await
    }

    /// Revoke a link by its id: it stops at once, uploads in progress through it included.
    /// Audited.
    pub async fn revoke_link(&self, who: &Caller, id: &str) -> Result<DropLinkRecord, CoreError> {
        let link = self.link_by_id(id).await?.ok_or(CoreError::NotFound)?;
        self.governance.require_on(who, Action::IssueDropLink, &link.asset).await?;
        let now = self.clock.now();
        let event = NewAuditEvent::new(now, &who.user_id, action::DROP_LINK_REVOKED)
            .target(&link.id)
            .project(&link.asset)
            .source(&who.source)
            .details(json!({"link": link.id, "label": link.label}));
        let id = link.id.clone();
        let revoked = transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                if !tx.revoke_drop_link(&id, to_micros(now)).await? {
                    return Ok::<_, CoreError>(false);
                }
                tx.append_audit(event).await?;
                Ok(true)
            })
        })
        .await?;
        if !revoked {
            return Err(CoreError::Conflict("that link was revoked already".into()));
        }
        Ok(link)
    }

    /// Open the link whose URL carries `secret`, with the password the provider sent (if any).
    /// `Password::Check` asks for the link's password (creating an upload, the page); an upload
    /// already made through the link is reached by its unguessable id under the link, which only
    /// a caller who gave the password learnt (`Password::UploadId`), so the costly hash is not
    /// recomputed for every request of an upload.
    pub async fn open_link(
        &self,
        secret: &str,
        password: Password,
        source: &str,
        user_agent: &str,
    ) -> Result<LinkAuth, CoreError> {
        let found = match looks_like_token(secret) {
            true => self.link_by_hash(&hash_token(secret)).await?,
            false => None,
        };
        let Some(link) = found else { return self.refuse(String::new(), "unknown_link", source).await };
        let now_us = to_micros(self.clock.now());
        if link.revoked_us != 0 || link.expires_us <= now_us {
            let why = if link.revoked_us != 0 { "revoked" } else { "expired" };
            return match self.refuse(link.id.clone(), why, source).await? {
                LinkAuth::RateLimited => Ok(LinkAuth::RateLimited),
                _ => Ok(LinkAuth::Gone),
            };
        }
        if let (false, Password::Check(given)) = (link.password_hash.is_empty(), password) {
            let Some(password) = given.filter(|p| !p.is_empty()) else { return Ok(LinkAuth::PasswordNeeded) };
            // Counted before the hash: a rate-limited address can no longer guess, nor spend
            // the hasher that sign-in shares. Each link takes a limited number of wrong
            // passwords in all, from any address.
            let now = self.clock.now();
            if over_limit(self.store.as_ref(), &FAILURES, source, now).await?
                || over_limit(self.store.as_ref(), &LINK_PASSWORDS, &link.id, now).await?
            {
                return Ok(LinkAuth::RateLimited);
            }
            if !self.hasher.verify(link.password_hash.clone(), password).await {
                // Counted against the link too (the address's refusal below is the audited one).
                let key = format!("{}:{}", LINK_PASSWORDS.key, link.id);
                let at = to_micros(now);
                transact(self.store.as_ref(), move |tx| {
                    Box::pin(async move { Ok::<_, CoreError>(tx.record_attempt(&key, at).await?) })
                })
                .await?;
                return match self.refuse(link.id.clone(), "wrong_password", source).await? {
                    LinkAuth::RateLimited => Ok(LinkAuth::RateLimited),
                    _ => Ok(LinkAuth::WrongPassword),
                };
            }
        }
        Ok(LinkAuth::Ok(Caller::drop_link(&link.id, source, user_agent)))
    }

    /// The link a provider sends through, checked usable again (it may have been revoked or
    /// have expired since it was opened); None for anyone else.
    pub(super) async fn sending_link(&self, who: &Caller) -> Result<Option<DropLinkRecord>, TransferError> {
        if who.level != Level::DropLink {
            return Ok(None);
        }
        let id = who.user_id.strip_prefix("link:").unwrap_or_default();
        let link = self.link_by_id(id).await?.ok_or(CoreError::NotFound)?;
        let usable = link.revoked_us == 0 && link.expires_us > to_micros(self.clock.now());
        if !usable {
            return Err(TransferError::LinkGone);
        }
        require(who, Action::SendData, Resource::DropLink { link: &link.id, usable })?;
        let asset = link.asset.clone();
        let open = read(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                Ok::<_, CoreError>(tx.asset(&asset).await?.is_some_and(|a| a.status == AssetStatus::Active))
            })
        })
        .await?;
        if !open {
            return Err(super::uploads::asset_closed());
        }
        Ok(Some(link))
    }

    async fn link_by_id(&self, id: &str) -> Result<Option<DropLinkRecord>, CoreError> {
        let id = id.to_string();
        read(self.store.as_ref(), move |tx| Box::pin(async move { Ok::<_, CoreError>(tx.drop_link(&id).await?) })).await
    }

    async fn link_by_hash(&self, hash: &[u8; 32]) -> Result<Option<DropLinkRecord>, CoreError> {
        let hash = hash.to_vec();
        read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.drop_link_by_hash(&hash).await?) })
        })
        .await
    }

    /// Count and audit a refused use of a link (`link` empty when unknown).
    async fn refuse(&self, link: String, reason: &'static str, source: &str) -> Result<LinkAuth, CoreError> {
        let (now, src) = (self.clock.now(), source.to_string());
        let details = json!({"reason": reason, "link": link});
        let refusal =
            transact(self.store.as_ref(), move |tx| Box::pin(record_failure(tx, &FAILURES, link, src, details, now)))
                .await?;
        Ok(match refusal {
            Refusal::Refused => LinkAuth::Refused,
            Refusal::RateLimited => LinkAuth::RateLimited,
        })
    }
}
