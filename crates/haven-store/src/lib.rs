//! The adapters of haven-core's ports: the [`haven_core::Store`] port over SQLite or PostgreSQL
//! (chosen at run time by the database URL), the [`haven_core::blobs::BlobStore`] port over
//! object_store, the package upstreams over HTTPS ([`upstream`]), argon2id on a bounded pool
//! ([`hasher`]), and email over SMTP or to an outbox directory ([`mail`]).

pub mod blobs;
pub mod clamd;
mod direct;
pub mod drives;
pub mod hasher;
pub mod mail;
mod sql;
pub mod upstream;

pub use sql::migrate::{KNOWN_VERSION, schema_version};
pub use sql::reads::SqlStore;
pub use sql::{Dialect, connect, snapshot_objects};
