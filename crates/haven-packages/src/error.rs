use thiserror::Error;

/// Why an upstream index or a client's request was refused. The message names what was wrong.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("{what} is larger than {limit} bytes")]
    TooLarge { what: &'static str, limit: usize },
    #[error("{what} is malformed: {why}")]
    Malformed { what: &'static str, why: String },
    #[error("the name {0:?} is not a valid package name")]
    BadName(String),
    #[error("none of the formats in the Accept header can be served ({0})")]
    NotAcceptable(String),
}

pub(crate) fn malformed(what: &'static str, why: impl Into<String>) -> FormatError {
    FormatError::Malformed { what, why: why.into() }
}
