use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("the operating system's random source failed")]
    Random,
    #[error("authentication failed: the data was altered, truncated or sealed under another key")]
    Authentication,
    #[error("malformed {what}: {why}")]
    Format { what: &'static str, why: String },
    #[error("password hashing failed: {0}")]
    Password(String),
    #[error("invalid key: {0}")]
    Key(&'static str),
}
