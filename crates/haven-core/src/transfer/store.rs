//! The transfer part of the storage port. [`crate::Tx`] includes it, so an upload's part, its
//! object and the new offset commit together.

use async_trait::async_trait;

use crate::StoreError;
use crate::blobs::ObjectMeta;

/// An upload as stored (see [`super::uploads`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    /// 32 hex digits, random: the last segment of its URL.
    pub id: String,
    pub asset: String,
    /// Who sends it (a user id).
    pub uploader: String,
    /// The name it is kept under (sanitised) and the name the client gave.
    pub name: String,
    pub original_name: String,
    /// `Upload-Metadata` as a HEAD answer echoes it.
    pub metadata: String,
    /// The total length in bytes; -1 while the client has deferred it.
    pub length: i64,
    /// Bytes stored so far (durable, acknowledged).
    pub offset: i64,
    /// How many parts hold them.
    pub parts: i64,
    pub created_us: i64,
    pub expires_us: i64,
    /// When the last byte arrived (0 until then).
    pub completed_us: i64,
    /// SHA-256 of the whole plaintext, hex, once complete.
    pub sha256: String,
}

#[async_trait]
pub trait TransferTx: Send {
    async fn insert_upload(&mut self, upload: &UploadRecord) -> Result<(), StoreError>;
    async fn upload(&mut self, id: &str) -> Result<Option<UploadRecord>, StoreError>;
    /// Record a part that starts at `upload.offset`, and move the upload on to `new`: only if
    /// its offset is still the one the part started at (false: another request moved it first,
    /// and nothing was written).
    async fn add_upload_part(
        &mut self,
        upload: &UploadRecord,
        object: &ObjectMeta,
        new: &UploadRecord,
    ) -> Result<bool, StoreError>;
    /// Save `after`'s length and completion over `before`, only if the upload is still as
    /// `before` left it (offset and length); whether it was.
    async fn update_upload(&mut self, before: &UploadRecord, after: &UploadRecord) -> Result<bool, StoreError>;
    /// The objects holding an upload's bytes, in order.
    async fn upload_parts(&mut self, id: &str) -> Result<Vec<ObjectMeta>, StoreError>;
    /// Delete an upload, its parts and their objects (crypto-shredding its bytes): the objects
    /// whose blobs are now to be deleted.
    async fn delete_upload(&mut self, id: &str) -> Result<Vec<ObjectMeta>, StoreError>;
}
