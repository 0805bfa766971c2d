//! The blob store port. Blobs are sealed (haven_crypto::object) before they leave the process; the
//! store behind this port only ever holds ciphertext. An object's metadata, including its key
//! wrapped by its project key, is recorded by the caller's unit of work together with its audit
//! event; deleting that row crypto-shreds the object even if the blob itself survives in a backup.

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use thiserror::Error;

pub type ByteStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// 32 lower-case hex digits.
    pub id: String,
    pub project: String,
    pub key_version: i64,
    pub wrapped_key: Vec<u8>,
    /// Plaintext size in bytes.
    pub size: i64,
    /// SHA-256 of the plaintext, hex; empty when the caller hashed it (see [`Put::unhashed`]).
    pub sha256: String,
    pub created_us: i64,
}

/// How [`BlobStore::put`] takes its data.
#[derive(Debug, Clone, Copy)]
pub struct Put {
    /// The most bytes the object may have.
    pub limit: Option<u64>,
    /// Whether the store computes the plaintext's SHA-256 for [`ObjectMeta::sha256`].
    pub hash: bool,
}

impl Put {
    pub fn limited(limit: u64) -> Self {
        Put { limit: Some(limit), hash: true }
    }

    pub fn unlimited() -> Self {
        Put { limit: None, hash: true }
    }

    /// No SHA-256 of this object's own: for an upload's part, whose bytes the caller already
    /// hashes as part of the whole file (hashing is the costliest step after TLS).
    pub fn unhashed(self) -> Self {
        Put { hash: false, ..self }
    }
}

#[derive(Debug, Error)]
pub enum BlobError {
    #[error("the blob store failed: {0}")]
    Backend(String),
    #[error("the object failed its integrity check: it was altered or truncated")]
    Integrity,
    #[error("reading the data to store failed: {0}")]
    Input(String),
    #[error("the object is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("no such object")]
    NotFound,
    #[error(transparent)]
    Core(#[from] crate::CoreError),
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Seal and store `data` under `project`'s key. Nothing is visible under the returned id until
    /// the whole stream was stored; on error nothing is left behind.
    async fn put(&self, project: &str, data: ByteStream, how: Put) -> Result<ObjectMeta, BlobError>;
    /// The plaintext, verified segment by segment; a stream error of kind `InvalidData` means the
    /// object failed its integrity check, and nothing read so far may be trusted.
    async fn get(&self, meta: &ObjectMeta) -> Result<ByteStream, BlobError>;
    async fn delete(&self, meta: &ObjectMeta) -> Result<(), BlobError>;
    /// The backend answers.
    async fn ping(&self) -> Result<(), BlobError>;
}

pub fn is_object_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
