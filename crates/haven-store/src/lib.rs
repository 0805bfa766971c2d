//! The adapters of haven-core's ports: the [`haven_core::Store`] port over SQLite or PostgreSQL
//! (chosen at run time by the database URL), the [`haven_core::blobs::BlobStore`] port over
//! object_store, the package upstreams over HTTPS ([`upstream`]), and argon2id on a bounded pool
//! ([`hasher`]).

pub mod blobs;
mod db;
pub mod hasher;
mod identity;
mod migrate;
mod packages;
mod sql_store;
mod tx;
pub mod upstream;
mod writer;

pub use db::{Dialect, connect};
pub use migrate::{KNOWN_VERSION, schema_version};
pub use sql_store::SqlStore;
