//! Identity: accounts and passwords, OTP tokens with PINs, sign-in, sessions, ICE emergency
//! access, recovery codes and the service desk's tools. One [`Identity`] value holds what these
//! use cases need; each submodule adds the methods of one capability.

pub mod api_tokens;
pub mod desk;
pub mod ice;
pub mod messages;
pub mod otp_check;
pub mod passwords;
pub mod policy;
pub mod ports;
pub mod pskc;
pub mod records;
pub mod recovery;
pub mod sessions;
pub mod signin;
pub mod store;
pub mod tokens;

use std::sync::Arc;

use haven_crypto::keys::{Key256, open_secret, seal_secret};
use haven_crypto::otp::{Algorithm, OtpKey};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::caller::Caller;
use crate::keyring::KeyRing;
use crate::{Clock, CoreError, Rng, Store, to_micros};
pub use policy::SecurityPolicy;
pub use ports::{Hasher, Mail, MailError, Mailer};
use records::OtpTokenRecord;

/// The key that seals OTP seeds in the database, kept as a service key in the key ring.
const SEED_KEY_NAME: &str = "@otp-seeds";

pub struct Identity {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Rng>,
    pub hasher: Arc<dyn Hasher>,
    pub mailer: Arc<dyn Mailer>,
    pub policy: SecurityPolicy,
    /// Where people reach Haven (links in emails), without a trailing slash.
    pub public_url: String,
    seed_key: Key256,
    /// A hash of nothing anyone knows, verified in place of a missing one so that every refusal
    /// costs the same time.
    dummy_hash: String,
    /// API token checks, kept while no credential changed.
    api_tokens: crate::tokens::TokenMemo,
}

pub struct IdentityDeps {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Rng>,
    pub hasher: Arc<dyn Hasher>,
    pub mailer: Arc<dyn Mailer>,
    pub policy: SecurityPolicy,
    pub public_url: String,
}

impl Identity {
    pub async fn new(deps: IdentityDeps, keyring: &KeyRing) -> Result<Self, CoreError> {
        deps.policy.validate().map_err(|m| CoreError::invalid("security", m))?;
        let (_, seed_key) = keyring.project_key(SEED_KEY_NAME).await?;
        let nobody = haven_crypto::codes::recovery_code(deps.rng.as_ref())?;
        let dummy_hash = deps.hasher.hash(nobody).await?;
        Ok(Identity {
            api_tokens: crate::tokens::token_memo(deps.store.as_ref()),
            store: deps.store,
            clock: deps.clock,
            rng: deps.rng,
            hasher: deps.hasher,
            mailer: deps.mailer,
            policy: deps.policy,
            public_url: deps.public_url,
            seed_key,
            dummy_hash,
        })
    }

    pub(crate) fn now(&self) -> (OffsetDateTime, i64) {
        let now = self.clock.now();
        (now, to_micros(now))
    }

    /// Secrets checked inside a session (a token's first code, HOTP resynchronisation, the
    /// current password) are limited like sign-in: at most `lockout_failures` tries per user and
    /// kind within `lockout_minutes`, then refused unchecked until the window passes. The try is
    /// counted *before* the secret is checked, in one unit with the count, so concurrent
    /// requests cannot all slip under the limit.
    pub(crate) async fn check_allowed(&self, kind: &'static str, user_id: &str) -> Result<(), CoreError> {
        let (_, now_us) = self.now();
        let since =
            now_us - time::Duration::minutes(i64::from(self.policy.lockout_minutes)).whole_microseconds() as i64;
        let key = format!("check:{kind}:{user_id}");
        let limit = i64::from(self.policy.lockout_failures);
        let allowed = crate::transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                if tx.count_attempts(&key, since).await? >= limit {
                    return Ok::<_, CoreError>(false);
                }
                tx.record_attempt(&key, now_us).await?;
                Ok(true)
            })
        })
        .await?;
        if allowed {
            return Ok(());
        }
        Err(CoreError::TooManyAttempts(format!(
            "Too many wrong tries: wait {} minutes and try again, or contact the service desk.",
            self.policy.lockout_minutes
        )))
    }

    /// Audit a wrong secret of `kind` (its try was counted by [`Identity::check_allowed`]).
    pub(crate) async fn check_failed(
        &self,
        who: &Caller,
        action: &'static str,
        details: serde_json::Value,
    ) -> Result<(), CoreError> {
        self.audit_simple(&who.user_id, action, &who.user_id, &who.source, details).await
    }

    /// `StepUpRequired` unless the session proved both factors within `fresh_mfa_minutes`.
    pub fn check_fresh(&self, who: &Caller) -> Result<(), CoreError> {
        let (_, now_us) = self.now();
        let window = Duration::minutes(i64::from(self.policy.fresh_mfa_minutes));
        if who.fresh(now_us, window) { Ok(()) } else { Err(CoreError::StepUpRequired) }
    }

    /// Verify against `phc`, or against the dummy hash when there is none (same cost either way).
    pub(crate) async fn verify_or_dummy(&self, phc: Option<&str>, secret: &str) -> bool {
        let secret = Zeroizing::new(secret.to_string());
        match phc {
            Some(phc) if !phc.is_empty() => self.hasher.verify(phc.to_string(), secret).await,
            _ => {
                let _ = self.hasher.verify(self.dummy_hash.clone(), secret).await;
                false
            }
        }
    }

    pub(crate) fn seal_seed(&self, serial: &str, seed: &[u8]) -> Result<Vec<u8>, CoreError> {
        Ok(seal_secret(&self.seed_key, seed, seed_context(serial).as_bytes(), self.rng.as_ref())?)
    }

    pub(crate) fn otp_key(&self, token: &OtpTokenRecord) -> Result<OtpKey, CoreError> {
        let seed = open_secret(&self.seed_key, &token.seed_sealed, seed_context(&token.serial).as_bytes())?;
        let algorithm = Algorithm::parse(&token.algorithm)
            .ok_or_else(|| CoreError::Store(crate::StoreError::Corrupt("token algorithm".into())))?;
        Ok(OtpKey::new(&seed, algorithm, u32::try_from(token.digits).unwrap_or(6))?)
    }

    /// Send an email; a failure is logged and reported, never fatal to the change that caused it.
    pub(crate) async fn notify(&self, to: &str, subject: &str, text: String) -> bool {
        let mail = Mail { to: to.to_string(), subject: subject.to_string(), text };
        match self.mailer.send(mail).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "an email was not sent");
                false
            }
        }
    }

    pub(crate) fn link_url(&self, path: &str, secret: &str) -> String {
        format!("{}{path}?token={secret}", self.public_url)
    }
}

fn seed_context(serial: &str) -> String {
    format!("haven/otp-seed/{serial}")
}
