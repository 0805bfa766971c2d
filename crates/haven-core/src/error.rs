use thiserror::Error;

/// What a storage adapter can report. Adapters map their driver errors into these.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("the database is unreachable or failed: {0}")]
    Database(String),
    #[error("a record with this {0} already exists")]
    Duplicate(&'static str),
    #[error(
        "the database was written by a newer Haven (schema version {found}; this Haven knows up to {known}); upgrade Haven or restore a backup"
    )]
    NewerSchema { found: i64, known: i64 },
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
}

/// Errors of the use cases. Each has a stable code that the web layer shows and maps to a status.
#[derive(Debug, Error)]
pub enum CoreError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] haven_crypto::CryptoError),
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error(
        "This link is not valid: it has expired, was already used, or was mistyped. For a new one: a token link, \
         PUSH the token again from My Tokens (Actions ▾ → PUSH); a password reset or a new account, ask the service \
         desk to send a new link."
    )]
    LinkInvalid,
    #[error("{0}")]
    Conflict(String),
    #[error("you are not allowed to do this")]
    Forbidden,
    /// Not allowed, with why and what to do (a page shows it in its form; the API answers 403).
    #[error("{0}")]
    Refused(String),
    #[error("not found")]
    NotFound,
    /// The one message for every failed sign-in, whatever failed (no user enumeration).
    #[error(
        "The user id, password or passcode is not right. Check them and try again. After 10 failures in a row an account is locked for a while; the service desk can unlock it."
    )]
    SignInFailed,
    #[error("{0}")]
    TooManyAttempts(String),
    /// The action needs a sign-in with both factors in the last few minutes.
    #[error("For your security, confirm it is you: sign in again with your password and passcode.")]
    StepUpRequired,
    #[error("{0}")]
    Unavailable(String),
}

impl CoreError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        CoreError::Invalid { field, message: message.into() }
    }

    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::Store(StoreError::Duplicate(_)) => "conflict",
            CoreError::Store(_) => "storage_unavailable",
            CoreError::Crypto(_) => "internal",
            CoreError::Invalid { .. } => "invalid_input",
            CoreError::LinkInvalid => "link_invalid",
            CoreError::Conflict(_) => "conflict",
            CoreError::Forbidden | CoreError::Refused(_) => "forbidden",
            CoreError::NotFound => "not_found",
            CoreError::SignInFailed => "sign_in_failed",
            CoreError::TooManyAttempts(_) => "too_many_attempts",
            CoreError::StepUpRequired => "step_up_required",
            CoreError::Unavailable(_) => "unavailable",
        }
    }
}
