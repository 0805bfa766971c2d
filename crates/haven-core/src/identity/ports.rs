//! What identity needs from outside: slow hashing off the async threads, and email.

use async_trait::async_trait;
use zeroize::Zeroizing;

use crate::CoreError;

/// argon2id hashing, run where it cannot stall request handling (a bounded blocking pool).
#[async_trait]
pub trait Hasher: Send + Sync {
    async fn hash(&self, secret: Zeroizing<String>) -> Result<String, CoreError>;
    /// Whether `secret` matches `phc`; a malformed hash never matches.
    async fn verify(&self, phc: String, secret: Zeroizing<String>) -> bool;
}

/// A plain-text email. Haven's emails never carry a secret: links are single use and short-lived,
/// and each message says why it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: Mail) -> Result<(), MailError>;
}

#[derive(Debug, thiserror::Error)]
#[error("the email could not be sent: {0}")]
pub struct MailError(pub String);
