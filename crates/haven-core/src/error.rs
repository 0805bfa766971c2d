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
    #[error("This link is not valid: it has expired, was already used, or was mistyped. Ask for a new one.")]
    LinkInvalid,
    #[error("{0}")]
    Conflict(String),
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error("not found")]
    NotFound,
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
            CoreError::Forbidden => "forbidden",
            CoreError::NotFound => "not_found",
        }
    }
}
