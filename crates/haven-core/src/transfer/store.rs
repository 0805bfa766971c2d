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
    /// Who sends it: a user id, or `link:<id>` for a provider with a drop-off link.
    pub uploader: String,
    /// The drop-off link it came through (empty for a member's upload).
    pub link_id: String,
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
    /// Once complete, the upload is an arrival: scanned, then accepted or rejected.
    pub arrival: Arrival,
}

/// What became of a complete upload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Arrival {
    /// Empty until complete; then `pending`, `clean`, `infected` or `review` ([`super::scan`]).
    pub scan_status: String,
    /// The signature found, or why the file needs a person's review.
    pub scan_detail: String,
    /// The scanner's engine and signature versions at the verdict.
    pub scan_engine: String,
    pub scan_attempts: i64,
    /// When the next scan is due (while pending).
    pub scan_next_us: i64,
    pub scanned_us: i64,
    /// Empty until decided; then `accepted` or `rejected`.
    pub decision: String,
    pub decided_by: String,
    pub decided_us: i64,
}

/// A drop-off link: a write-only capability into one asset's arrivals area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropLinkRecord {
    /// A public handle (16 hex digits): what lists, the audit trail and revocation name.
    pub id: String,
    /// SHA-256 of the secret in the link's URL.
    pub token_hash: Vec<u8>,
    pub asset: String,
    pub created_by: String,
    pub label: String,
    pub created_us: i64,
    pub expires_us: i64,
    /// argon2id PHC string; empty when the link has no password.
    pub password_hash: String,
    /// Limits (0: none) and what has been used of them.
    pub max_bytes: i64,
    pub max_files: i64,
    pub bytes_reserved: i64,
    pub files_started: i64,
    pub revoked_us: i64,
}

/// A scan's outcome, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanUpdate {
    pub status: String,
    pub detail: String,
    pub engine: String,
    pub attempts: i64,
    pub next_us: i64,
    pub scanned_us: i64,
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
    /// Delete the parts and objects of an upload but keep its record (a rejected arrival stays
    /// on the record, shredded): the objects whose blobs are now to be deleted.
    async fn shred_upload(&mut self, id: &str) -> Result<Vec<ObjectMeta>, StoreError>;

    /// Complete uploads of an asset (its arrivals), newest first, at most `limit`.
    async fn arrivals(&mut self, asset: &str, limit: i64) -> Result<Vec<UploadRecord>, StoreError>;
    /// Bytes an asset holds or has been promised: the lengths of its uploads not rejected.
    async fn asset_upload_bytes(&mut self, asset: &str) -> Result<i64, StoreError>;
    /// Unfinished uploads whose time ran out before `now_us`, oldest first, at most `limit`.
    async fn expired_uploads(&mut self, now_us: i64, limit: i64) -> Result<Vec<UploadRecord>, StoreError>;
    /// Arrivals whose scan is pending and due by `now_us`, oldest first, at most `limit`.
    async fn due_scans(&mut self, now_us: i64, limit: i64) -> Result<Vec<UploadRecord>, StoreError>;
    /// Record a scan's outcome, only while the arrival's scan is still pending; whether it was.
    async fn set_scan(&mut self, id: &str, scan: &ScanUpdate) -> Result<bool, StoreError>;
    /// Record a decision on an undecided arrival; whether it was undecided.
    async fn decide_arrival(&mut self, id: &str, decision: &str, by: &str, at_us: i64) -> Result<bool, StoreError>;

    async fn insert_drop_link(&mut self, link: &DropLinkRecord) -> Result<(), StoreError>;
    async fn drop_link(&mut self, id: &str) -> Result<Option<DropLinkRecord>, StoreError>;
    async fn drop_link_by_hash(&mut self, hash: &[u8]) -> Result<Option<DropLinkRecord>, StoreError>;
    /// An asset's links, newest first.
    async fn drop_links_of(&mut self, asset: &str) -> Result<Vec<DropLinkRecord>, StoreError>;
    /// Count one more file of `bytes` against a link's limits, only if they allow it and it is
    /// still usable at `now_us`; whether it did.
    async fn reserve_on_drop_link(&mut self, id: &str, bytes: i64, now_us: i64) -> Result<bool, StoreError>;
    /// Revoke a link at `at_us` (once); whether it was live.
    async fn revoke_drop_link(&mut self, id: &str, at_us: i64) -> Result<bool, StoreError>;
    /// Unfinished, unexpired uploads through a link.
    async fn open_drop_link_uploads(&mut self, id: &str, now_us: i64) -> Result<i64, StoreError>;
    /// Uploads started through a link since `since_us`, whatever became of them.
    async fn drop_link_uploads_since(&mut self, id: &str, since_us: i64) -> Result<i64, StoreError>;
}
