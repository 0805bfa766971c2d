//! The blob store port. Blobs are sealed (haven_crypto::object) before they leave the process; the
//! store behind this port only ever holds ciphertext. An object's metadata, including its key
//! wrapped by its project key, is recorded by the caller's unit of work together with its audit
//! event; deleting that row crypto-shreds the object even if the blob itself survives in a backup.

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use thiserror::Error;

use crate::audit::{NewAuditEvent, action, actor};
use crate::{Clock, CoreError, Store, read, to_micros, transact};

pub type ByteStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
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
    /// Every stored object, and every blob still being written (or left half-written): its id
    /// and when it was last written.
    async fn list(&self) -> Result<BoxStream<'static, Result<StoredBlob, BlobError>>, BlobError>;
    /// Remove what a write of blob `id` left half-done, and nothing else (a store that keeps
    /// no such thing has nothing to do).
    async fn delete_partial(&self, _id: &str) -> Result<(), BlobError> {
        Ok(())
    }
}

/// An object as the backend lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub id: String,
    pub modified_us: i64,
    /// Not an object yet: a write under way, or one that stopped (see [`BlobStore::delete_partial`]).
    pub partial: bool,
}

pub fn is_object_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn unavailable(e: BlobError) -> CoreError {
    CoreError::Unavailable(e.to_string())
}

/// How long an unrecorded object is left alone: a part or a cached file is recorded within
/// seconds of its last byte, so one this old never will be.
pub const UNRECORDED_GRACE: time::Duration = time::Duration::hours(24);

/// Delete the objects that no record names and that were last written over
/// [`UNRECORDED_GRACE`] ago (`before_us` in tests): what a crash, a kill or a shutdown left
/// between writing a blob and recording it, or a blob whose delete failed after its record went;
/// and the half-written blobs as old (only the half-written file: should its write have just
/// finished, the object it became is not touched). Their keys were never kept (or are gone), so
/// nobody could read them; this gives the space back. Audited when anything went. How many went.
pub async fn sweep_unrecorded(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    clock: &dyn Clock,
    before_us: Option<i64>,
) -> Result<usize, CoreError> {
    let before_us = before_us.unwrap_or_else(|| to_micros(clock.now() - UNRECORDED_GRACE));
    let mut old = blobs
        .list()
        .await
        .map_err(unavailable)?
        .try_filter(move |blob| std::future::ready(blob.modified_us < before_us))
        .try_chunks(256);
    let mut swept: Vec<String> = Vec::new();
    while let Some(batch) = old.next().await {
        let (partial, whole): (Vec<StoredBlob>, Vec<StoredBlob>) =
            batch.map_err(|e| unavailable(e.1))?.into_iter().partition(|b| b.partial);
        for blob in partial {
            blobs.delete_partial(&blob.id).await.map_err(unavailable)?;
            swept.push(blob.id);
        }
        let ids: Vec<String> = whole.into_iter().map(|b| b.id).collect();
        let unrecorded = read(store, move |tx| {
            Box::pin(async move {
                let mut out = Vec::new();
                for id in ids {
                    if !tx.object_recorded(&id).await? {
                        out.push(id);
                    }
                }
                Ok::<_, CoreError>(out)
            })
        })
        .await?;
        for id in unrecorded {
            blobs.delete(&ObjectMeta { id: id.clone(), ..ObjectMeta::default() }).await.map_err(unavailable)?;
            swept.push(id);
        }
    }
    if !swept.is_empty() {
        let event = NewAuditEvent::new(clock.now(), actor::SYSTEM, action::BLOBS_SWEPT)
            .details(json!({"objects": swept.len(), "ids": swept.iter().take(100).collect::<Vec<_>>()}));
        transact(store, move |tx| Box::pin(async move { tx.append_audit(event).await.map_err(CoreError::from) }))
            .await?;
    }
    Ok(swept.len())
}
