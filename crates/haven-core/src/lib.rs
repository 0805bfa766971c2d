//! Haven's domain: the rules, state machines and use cases, and the ports (traits) through which
//! they reach storage, blobs, time and randomness. No I/O happens here.

pub mod accounts;
pub mod alerts;
pub mod audit;
pub mod authz;
pub mod blobs;
pub mod caller;
pub mod changes;
pub mod client;
pub mod clock;
pub mod cluster;
pub mod egress;
pub mod error;
pub mod governance;
pub mod identity;
pub mod keyring;
pub mod packages;
pub mod paths;
pub mod service;
pub mod store;
pub mod tokens;
pub mod transfer;
pub mod updates;
pub mod workspaces;

pub use clock::Clock;
pub use error::{CoreError, StoreError};
pub use haven_crypto::Rng;
pub use store::{Store, Tx, read, transact};

/// Time as stored: microseconds since the Unix epoch, UTC.
pub fn to_micros(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000) as i64
}

pub fn from_micros(us: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}
