//! Resumable uploads into an asset's arrivals area: the resources the tus protocol speaks of.
//!
//! An upload is written as an ordered list of **parts**, each a complete sealed object under the
//! asset's project key (its own object key, its own nonces). A part ends where a request's body
//! ends, or at [`TransferConfig::part_bytes`]. Appending to one sealed object across requests
//! would need the sealer's state to survive a crash, and a crash between writing a segment and
//! recording it could seal the same segment number twice with different bytes; separate parts
//! cannot. A part is recorded, with the upload's new offset, only once its blob is durable, so
//! every acknowledged offset is on disk; a request whose client goes away keeps what arrived.
//!
//! The SHA-256 of the whole file is computed as the bytes stream in. Between requests its state
//! stays in memory; a node that does not hold it (after a restart, or another node) rebuilds it
//! by reading the stored parts back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::{BoxFuture, Either};
use futures::{SinkExt, StreamExt};
use haven_crypto::{Sha256, WireDigest};
use serde_json::json;
use time::Duration;

use super::names;
use super::scan::{self, Scanner};
use super::store::{Arrival, UploadRecord};
use super::tus::{Algorithm, Checksum, Length, TusError};
use crate::audit::{NewAuditEvent, action};
use crate::authz::Action;
use crate::blobs::{BlobError, BlobStore, ByteStream, ObjectMeta, Put};
use crate::caller::Caller;
use crate::governance::Governance;
use crate::governance::records::AssetStatus;
use crate::identity::Hasher;
use crate::workspaces::drives::{Drives, DrivesConfig};
use crate::{Clock, CoreError, Rng, Store, read, to_micros, transact};
use haven_crypto::signing::SigningKey;

/// Limits of the transfer portal: the `[transfer]` section of the configuration.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransferConfig {
    /// The largest file accepted (`Tus-Max-Size`), in bytes.
    pub max_upload_bytes: u64,
    /// The longest part; a request's body longer than this is stored as several.
    pub part_bytes: u64,
    /// How long an unfinished upload may be resumed (hours).
    pub expiry_hours: i64,
    /// The most parts one upload may have (a client sending a byte per request is refused
    /// before it fills the database).
    pub max_parts: i64,
    /// How long an upload's body may pause before the request is ended (what arrived is kept).
    pub idle_timeout_secs: u64,
    /// The most bytes one asset's arrivals may hold (rejected ones do not count).
    pub asset_quota_bytes: u64,
    /// Uploads one drop-off link may have in progress at once.
    pub max_open_per_link: i64,
    /// Uploads one drop-off link may start in an hour: each arrival emails its keepers, so a
    /// link without a file limit must not be a way to flood them (or the arrivals list).
    pub link_uploads_per_hour: i64,
    /// How long a drop-off link lasts unless its issuer says otherwise (days), and the longest.
    pub link_days: i64,
    pub max_link_days: i64,
    /// The malware scanner: `unix:/run/clamav/clamd.ctl` or `tcp:127.0.0.1:3310`. Empty: none,
    /// and every arrival stays "scan pending" (never clean).
    pub clamd: String,
    /// The most bytes clamd scans whole: set its StreamMaxLength, MaxFileSize and MaxScanSize
    /// at least this high (and AlertExceedsMax yes). Larger arrivals need a person's review.
    pub scan_max_bytes: u64,
    /// The longest wait for clamd on any one read or write (seconds).
    pub scan_timeout_secs: u64,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            max_upload_bytes: 100 << 30,
            part_bytes: 64 << 20,
            expiry_hours: 7 * 24,
            max_parts: 20_000,
            idle_timeout_secs: 60,
            asset_quota_bytes: 1 << 40,
            max_open_per_link: 4,
            link_uploads_per_hour: 100,
            link_days: 7,
            max_link_days: 90,
            clamd: String::new(),
            scan_max_bytes: 100 << 20,
            scan_timeout_secs: 120,
        }
    }
}

impl TransferConfig {
    /// Whether the values make sense: the key and what is allowed when they do not.
    pub fn validate(&self) -> Result<(), String> {
        let bad = |key: &str, what: &str| Err(format!("key `transfer.{key}`: {what}"));
        if !(1..=(1u64 << 50)).contains(&self.max_upload_bytes) {
            return bad("max_upload_bytes", "must be 1 byte to 1 PiB");
        }
        if !((1 << 20)..=(1u64 << 32)).contains(&self.part_bytes) {
            return bad("part_bytes", "must be 1 MiB to 4 GiB");
        }
        if !(1..=24 * 90).contains(&self.expiry_hours) {
            return bad("expiry_hours", "must be 1 to 2160 hours (90 days)");
        }
        if !(1..=1_000_000).contains(&self.max_parts) {
            return bad("max_parts", "must be 1 to 1000000");
        }
        if !(5..=3600).contains(&self.idle_timeout_secs) {
            return bad("idle_timeout_secs", "must be 5 to 3600 seconds");
        }
        if self.asset_quota_bytes < self.max_upload_bytes.min(1 << 30) {
            return bad("asset_quota_bytes", "must be at least 1 GiB (or max_upload_bytes, if smaller)");
        }
        if !(1..=100).contains(&self.max_open_per_link) {
            return bad("max_open_per_link", "must be 1 to 100");
        }
        if !(1..=100_000).contains(&self.link_uploads_per_hour) {
            return bad("link_uploads_per_hour", "must be 1 to 100000");
        }
        if !(1..=365).contains(&self.max_link_days) || !(1..=self.max_link_days).contains(&self.link_days) {
            return bad("link_days", "must be 1 day to max_link_days, which is at most 365");
        }
        // clamd cannot scan a stream of 2 GiB or more (it clamps its limits below 2^31).
        if !(1..(1u64 << 31)).contains(&self.scan_max_bytes) {
            return bad("scan_max_bytes", "must be 1 byte to 2 GiB - 1 (clamd scans no more)");
        }
        if !(5..=3600).contains(&self.scan_timeout_secs) {
            return bad("scan_timeout_secs", "must be 5 to 3600 seconds");
        }
        Ok(())
    }
}

/// Why an upload request was refused (the web layer turns each into its tus status).
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Protocol(#[from] TusError),
    #[error("the upload is at byte {current}: resume from there")]
    OffsetMismatch { current: i64 },
    #[error("the body does not match its Upload-Checksum; nothing of it was kept: send it again")]
    ChecksumMismatch,
    #[error("the upload would be larger than {max} bytes")]
    TooLarge { max: u64 },
    #[error("this upload has expired; start it again")]
    Expired,
    #[error("storing the data failed: {0}")]
    Blob(BlobError),
    /// A limit of the asset or of a drop-off link: the status to answer with, and what to do.
    #[error("{message}")]
    Limit { status: u16, message: String },
    /// The drop-off link is no longer usable (expired, revoked): 410.
    #[error("this drop-off link has expired or was revoked; ask whoever sent it for a new one")]
    LinkGone,
}

impl From<crate::StoreError> for TransferError {
    fn from(e: crate::StoreError) -> Self {
        TransferError::Core(e.into())
    }
}

impl From<BlobError> for TransferError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::Core(c) => TransferError::Core(c),
            other => TransferError::Blob(other),
        }
    }
}

/// What to make: the asset it goes to, its length, and the client's `Upload-Metadata`.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub asset: String,
    pub length: Length,
    pub metadata: Vec<(String, Vec<u8>)>,
}

/// One request's bytes for an upload: the offset the client believes in, the length when it
/// tells it late (`Upload-Length` on a deferred upload), the body's checksum if it sent one.
pub struct Append {
    pub offset: u64,
    pub length: Option<u64>,
    pub checksum: Option<Checksum>,
    pub body: ByteStream,
}

/// The uploads in progress: their running SHA-256, by upload id, with the offset it covers.
type Running = Mutex<HashMap<String, (i64, Sha256)>>;
/// The uploads a request is sending to right now, on this node.
type Busy = Arc<Mutex<std::collections::HashSet<String>>>;

/// One request's hold on an upload: released when the request ends, however it ends.
pub struct Sending {
    busy: Busy,
    id: String,
}

impl Drop for Sending {
    fn drop(&mut self) {
        self.busy.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.id);
    }
}
const LOST_RACE: &str = "another request moved the upload on first";
const MAX_RUNNING: usize = 10_000;

pub struct Transfer {
    pub(super) governance: Arc<Governance>,
    pub(super) store: Arc<dyn Store>,
    pub(super) blobs: Arc<dyn BlobStore>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) rng: Arc<dyn Rng>,
    pub(super) hasher: Arc<dyn Hasher>,
    pub(super) scanner: Option<Arc<dyn Scanner>>,
    pub(super) signer: Arc<SigningKey>,
    pub(super) drives: Arc<dyn Drives>,
    pub(super) quotas: DrivesConfig,
    pub(super) config: TransferConfig,
    running: Running,
    busy: Busy,
}

/// What [`Transfer`] works with.
pub struct TransferDeps {
    pub governance: Arc<Governance>,
    pub store: Arc<dyn Store>,
    pub blobs: Arc<dyn BlobStore>,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Rng>,
    /// Hashes drop-off links' passwords (argon2id).
    pub hasher: Arc<dyn Hasher>,
    /// Scans arrivals (clamd); without one, arrivals stay pending.
    pub scanner: Option<Arc<dyn Scanner>>,
    /// Signs senders' receipts (Haven's signing key, as for audit checkpoints).
    pub signer: Arc<SigningKey>,
    /// Where accepted arrivals go (the asset's S:), and how much it may hold.
    pub drives: Arc<dyn Drives>,
    pub quotas: DrivesConfig,
    pub config: TransferConfig,
}

/// How a part's body ended.
#[derive(Debug, Clone, Copy)]
enum Fed {
    /// The part is full; more may follow.
    Full,
    /// The request's body ended.
    End,
    /// The client went away mid-body (what arrived is kept unless a checksum was sent).
    Broken,
    /// The blob store stopped taking bytes (its error says why), or recording the part before
    /// failed (that error says why).
    Refused,
}

/// A part whose bytes were all fed to the blob store: its blob being made durable, and the
/// upload's hash after it.
struct Part<'a> {
    stored: BoxFuture<'a, Result<ObjectMeta, BlobError>>,
    hash: Sha256,
    how: Fed,
}

/// Body chunks in flight between receiving and sealing.
const CHANNEL: usize = 4;

/// Feed one part's bytes to the blob store: from `pending` and then `body`, at most `size`,
/// updating the running hash and the body's checksum as they pass. How it ended, and how many
/// bytes it fed.
async fn feed(
    body: &mut ByteStream,
    pending: &mut Option<Bytes>,
    size: u64,
    hash: &mut Sha256,
    check: &mut Option<WireDigest>,
    mut sender: futures::channel::mpsc::Sender<Result<Bytes, std::io::Error>>,
    stop: &AtomicBool,
) -> (Fed, u64) {
    let mut sent: u64 = 0;
    loop {
        if stop.load(Ordering::Relaxed) {
            return (Fed::Refused, sent);
        }
        let mut chunk = match pending.take() {
            Some(b) => b,
            None => match body.next().await {
                None => return (Fed::End, sent),
                Some(Err(_)) => return (Fed::Broken, sent),
                Some(Ok(b)) => b,
            },
        };
        let left = size - sent;
        if chunk.len() as u64 > left {
            *pending = Some(chunk.split_off(left as usize));
        }
        sent += chunk.len() as u64;
        hash.update(&chunk);
        if let Some(c) = check.as_mut() {
            c.update(&chunk);
        }
        if sender.send(Ok(chunk)).await.is_err() {
            return (Fed::Refused, sent);
        }
        if sent == size {
            return (Fed::Full, sent);
        }
    }
}

impl Transfer {
    pub fn new(deps: TransferDeps) -> Self {
        // No zero-byte parts, and every size fits the database's signed 64-bit integers.
        let mut config = deps.config;
        config.part_bytes = config.part_bytes.max(1);
        config.max_upload_bytes = config.max_upload_bytes.min(i64::MAX as u64);
        config.asset_quota_bytes = config.asset_quota_bytes.min(i64::MAX as u64);
        config.idle_timeout_secs = config.idle_timeout_secs.max(1);
        Transfer {
            governance: deps.governance,
            store: deps.store,
            blobs: deps.blobs,
            clock: deps.clock,
            rng: deps.rng,
            hasher: deps.hasher,
            scanner: deps.scanner,
            signer: deps.signer,
            drives: deps.drives,
            quotas: deps.quotas,
            config,
            running: Mutex::default(),
            busy: Busy::default(),
        }
    }

    pub fn config(&self) -> &TransferConfig {
        &self.config
    }

    /// Whether a malware scanner is configured (without one, arrivals stay pending).
    pub fn scans(&self) -> bool {
        self.scanner.is_some()
    }

    /// Start an upload: into `new.asset` for its IAO, IAAs and data managers, or into a
    /// drop-off link's asset for a provider holding the link (`new.asset` is then ignored),
    /// within the asset's quota and the link's limits. Audited.
    pub async fn create(&self, who: &Caller, new: NewUpload) -> Result<UploadRecord, TransferError> {
        let link = self.sending_link(who).await?;
        let asset = match &link {
            Some(l) => l.asset.clone(),
            None => self.governance.require_on(who, Action::SendData, &new.asset).await?.0.name,
        };
        let length = match new.length {
            Length::Known(n) if n > self.config.max_upload_bytes => {
                return Err(TransferError::TooLarge { max: self.config.max_upload_bytes });
            }
            Length::Known(n) => {
                i64::try_from(n).map_err(|_| TransferError::TooLarge { max: self.config.max_upload_bytes })?
            }
            Length::Deferred if link.as_ref().is_some_and(|l| l.max_bytes > 0) => {
                return Err(TusError {
                    status: 400,
                    message: "this drop-off link limits the bytes it takes: send Upload-Length".into(),
                }
                .into());
            }
            Length::Deferred => -1,
        };
        let original = new
            .metadata
            .iter()
            .find(|(k, _)| k == "filename" || k == "name")
            .map(|(_, v)| String::from_utf8_lossy(v).chars().take(1024).collect::<String>())
            .unwrap_or_default();
        let raw: [u8; 16] = haven_crypto::rng::random_array(self.rng.as_ref()).map_err(CoreError::from)?;
        let now = self.clock.now();
        let now_us = to_micros(now);
        let mut upload = UploadRecord {
            id: hex::encode(raw),
            asset,
            uploader: who.user_id.clone(),
            link_id: link.as_ref().map(|l| l.id.clone()).unwrap_or_default(),
            name: names::sanitise(&original),
            original_name: original,
            metadata: super::tus::write_metadata(&new.metadata),
            length,
            offset: 0,
            parts: 0,
            created_us: now_us,
            expires_us: to_micros(now + Duration::hours(self.config.expiry_hours)),
            completed_us: 0,
            sha256: String::new(),
            arrival: Arrival::default(),
        };
        if length == 0 {
            upload.completed_us = now_us;
            upload.sha256 = hex::encode(Sha256::new().finish());
            upload.arrival.scan_status = scan::PENDING.into();
            upload.arrival.scan_next_us = now_us;
        }
        let started = NewAuditEvent::new(now, who.audit_name(), action::UPLOAD_STARTED)
            .target(&upload.uploader)
            .project(&upload.asset)
            .source(&who.source)
            .details(json!({"upload": upload.id, "name": upload.name, "length": length, "link": upload.link_id}));
        let completed = (length == 0).then(|| completed_event(&upload, who));
        let stored = upload.clone();
        let (quota, open_most) = (self.config.asset_quota_bytes as i64, self.config.max_open_per_link);
        let hourly = self.config.link_uploads_per_hour;
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let held = tx.asset_upload_bytes(&stored.asset).await?;
                if held.saturating_add(stored.length.max(0)) > quota {
                    return Err(quota_reached(&stored.asset, !stored.link_id.is_empty()));
                }
                if !stored.link_id.is_empty() {
                    if tx.open_drop_link_uploads(&stored.link_id, now_us).await? >= open_most {
                        return Err(limit(429, format!(
                            "{open_most} uploads through this link are in progress: finish one first"
                        )));
                    }
                    if tx.drop_link_uploads_since(&stored.link_id, now_us - 3_600_000_000).await? >= hourly {
                        return Err(limit(429, format!(
                            "this link has started {hourly} uploads in the last hour, the most it may: wait a while, \
                             or put many small files into one archive (a zip is scanned inside)"
                        )));
                    }
                    if !tx.reserve_on_drop_link(&stored.link_id, stored.length.max(0), now_us).await? {
                        return Err(limit(413, "this drop-off link has taken all the files or bytes it allows: ask whoever sent it for another".into()));
                    }
                }
                tx.insert_upload(&stored).await?;
                tx.append_audit(started).await?;
                if let Some(event) = completed {
                    tx.append_audit(event).await?;
                }
                Ok::<_, TransferError>(())
            })
        })
        .await?;
        Ok(upload)
    }

    /// An upload of the caller's (HEAD). Anyone else's is not found, as is one that was ended.
    pub async fn get(&self, who: &Caller, id: &str) -> Result<UploadRecord, TransferError> {
        let upload = self.record_of(who, id).await?;
        if upload.completed_us == 0 && upload.expires_us <= to_micros(self.clock.now()) {
            return Err(TransferError::Expired);
        }
        Ok(upload)
    }

    /// Store one request's bytes at the end of the upload (PATCH), part by part; each part is
    /// acknowledged (the upload's offset moved) only once it is durable. With a checksum, the
    /// whole body is kept or none of it.
    pub async fn append(&self, who: &Caller, id: &str, mut append: Append) -> Result<UploadRecord, TransferError> {
        let mut upload = self.get(who, id).await?;
        if i64::try_from(append.offset).ok() != Some(upload.offset) {
            return Err(TransferError::OffsetMismatch { current: upload.offset });
        }
        // Sending stops with the sender's standing (checked in `get`): a membership that ended, or
        // a revoked or expired link, ends its uploads.
        let _busy = self.busy(&upload.id)?;
        match (upload.length, append.length) {
            (-1, Some(n)) => upload = self.set_length(who, upload, n).await?,
            (known, Some(n)) if i64::try_from(n).ok() != Some(known) => {
                return Err(TusError { status: 400, message: format!("Upload-Length is {known} already") }.into());
            }
            _ => {}
        }
        if upload.completed_us != 0 {
            return Ok(upload);
        }
        let limit = if upload.length >= 0 { upload.length } else { self.config.max_upload_bytes as i64 };
        let mut hash = self.running_hash(&upload).await?;
        // The hash of what is recorded: what the cache keeps whatever becomes of this request,
        // so that a broken or refused request does not force the next to read everything back.
        let mut committed = hash.clone();
        let mut check = append.checksum.as_ref().map(|c| match c.algorithm {
            Algorithm::Sha1 => WireDigest::sha1(),
            Algorithm::Sha256 => WireDigest::sha256(),
        });
        let checked = check.is_some();
        let mut staged: Vec<ObjectMeta> = Vec::new();
        let mut pending: Option<Bytes> = None;
        let mut at = upload.clone();
        // Parts are pipelined two deep: while one part's blob is made durable and recorded, the
        // next part's bytes stream in (receiving never waits for an fsync). Parts are recorded
        // in order, each with the upload's hash after it.
        let mut previous: Option<Part<'_>> = None;
        let (mut fed, mut started): (u64, i64) = (0, 0);
        // Recording a part failed: the part after it can never be recorded.
        let mut chain_broken = false;
        let streamed: Result<Fed, TransferError> = async {
            loop {
                let first = match pending.take() {
                    Some(b) => Some(Ok(b)),
                    None => append.body.next().await,
                };
                let first = match first {
                    None => return Ok(Fed::End),
                    Some(Err(_)) => return Ok(Fed::Broken),
                    Some(Ok(b)) if b.is_empty() => continue,
                    Some(Ok(b)) => b,
                };
                if upload.parts + started >= self.config.max_parts {
                    return Err(TusError {
                        status: 400,
                        message: "too many requests for one upload: send bigger ones".into(),
                    }
                    .into());
                }
                pending = Some(first);
                let room = u64::try_from(limit - upload.offset).unwrap_or(0).saturating_sub(fed);
                if room == 0 {
                    return Err(TransferError::TooLarge { max: u64::try_from(limit).unwrap_or(0) });
                }
                // A part stops at its size or at the upload's end, whichever comes first; bytes
                // past the end stay pending, and the next part finds no room for them.
                let size = self.config.part_bytes.min(room);
                let (sender, receiver) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL);
                let mut put = self.blobs.put(&upload.asset, receiver.boxed(), Put::limited(size).unhashed());
                started += 1;
                let stop = AtomicBool::new(false);
                let feeding = feed(&mut append.body, &mut pending, size, &mut hash, &mut check, sender, &stop);
                let settling = async {
                    let settled =
                        self.settle(who, previous.take(), &mut at, &mut staged, &mut committed, checked).await;
                    if settled.is_err() {
                        stop.store(true, Ordering::Relaxed);
                    }
                    settled
                };
                let ((how, sent), settled) = {
                    let both = std::pin::pin!(futures::future::join(feeding, settling));
                    match futures::future::select(both, &mut put).await {
                        Either::Left((done, _)) => done,
                        Either::Right((stored, both)) => {
                            let done = both.await;
                            put = Box::pin(std::future::ready(stored));
                            done
                        }
                    }
                };
                fed += sent;
                previous = Some(Part { stored: put, hash: hash.clone(), how });
                if let Err(e) = settled {
                    chain_broken = true;
                    return Err(e);
                }
                if !matches!(how, Fed::Full) {
                    return Ok(how);
                }
            }
        }
        .await;
        // The last part fed is recorded, even when what came after it was refused (bytes past
        // the upload's length, too many parts), unless recording the one before it failed.
        let last = previous.take();
        let mut outcome = if chain_broken {
            if let Some(part) = last {
                self.discard(part).await;
            }
            streamed.map(|_| ())
        } else {
            let settled = self.settle(who, last, &mut at, &mut staged, &mut committed, checked).await;
            match (streamed, settled) {
                (_, Err(e)) | (Err(e), Ok(())) => Err(e),
                (Ok(Fed::Broken), Ok(())) => Err(CoreError::invalid("body", "the request's body broke off").into()),
                (Ok(_), Ok(())) => Ok(()),
            }
        };
        if let (Ok(()), Some(digest)) = (&outcome, check) {
            let wanted = append.checksum.as_ref().map(|c| c.digest.as_slice()).unwrap_or_default();
            outcome = if digest.matches(wanted) {
                let parts = std::mem::take(&mut staged);
                self.commit(who, &at, parts, &hash).await.map(|u| {
                    at = u;
                    committed = hash.clone();
                })
            } else {
                Err(TransferError::ChecksumMismatch)
            };
        }
        // Staged parts not recorded are deleted; the cache keeps the hash of what was recorded.
        for meta in staged {
            let _ = self.blobs.delete(&meta).await;
        }
        self.remember(&at, committed);
        outcome.map(|()| at)
    }

    /// Wait for a fed part's blob to be durable, then record it after `at` (or, for a request
    /// with a checksum, stage it until the whole body is checked).
    async fn settle(
        &self,
        who: &Caller,
        part: Option<Part<'_>>,
        at: &mut UploadRecord,
        staged: &mut Vec<ObjectMeta>,
        committed: &mut Sha256,
        checked: bool,
    ) -> Result<(), TransferError> {
        let Some(part) = part else {
            return Ok(());
        };
        let meta = match part.stored.await {
            Ok(meta) => meta,
            Err(BlobError::TooLarge { .. }) => {
                return Err(TransferError::TooLarge { max: self.config.max_upload_bytes });
            }
            Err(e) => return Err(e.into()),
        };
        if matches!(part.how, Fed::Refused) {
            let _ = self.blobs.delete(&meta).await;
            return Err(TransferError::Blob(BlobError::Backend("the blob store stopped taking bytes".into())));
        }
        if checked {
            staged.push(meta);
        } else {
            *at = self.commit(who, at, vec![meta], &part.hash).await?;
            *committed = part.hash;
            // Now, not only at the end: a request dropped mid-body never gets there.
            self.remember(at, committed.clone());
        }
        Ok(())
    }

    /// A fed part that will not be recorded: its blob, once written, is deleted.
    async fn discard(&self, part: Part<'_>) {
        if let Ok(meta) = part.stored.await {
            let _ = self.blobs.delete(&meta).await;
        }
    }

    /// The caller's upload as stored, expired or not. A provider reaches only what they sent
    /// through the link they hold, and only while it is usable.
    async fn record_of(&self, who: &Caller, id: &str) -> Result<UploadRecord, TransferError> {
        let link = self.sending_link(who).await?;
        let id = id.to_string();
        let found =
            read(self.store.as_ref(), move |tx| Box::pin(async move { Ok::<_, CoreError>(tx.upload(&id).await?) }))
                .await?;
        let upload = found.filter(|u| u.uploader == who.user_id).ok_or(CoreError::NotFound)?;
        // A member reaches their uploads only while they may still send into the asset (not with
        // a read-only token, nor a session kept to another task).
        if link.is_none() {
            self.governance.require_on(who, Action::SendData, &upload.asset).await?;
        }
        Ok(upload)
    }

    /// Fix a deferred upload's length (at most once); complete it if every byte is in.
    async fn set_length(&self, who: &Caller, upload: UploadRecord, n: u64) -> Result<UploadRecord, TransferError> {
        let offset = u64::try_from(upload.offset).unwrap_or(0);
        if n < offset || n > self.config.max_upload_bytes {
            let message = format!("Upload-Length {n} is below the bytes sent ({offset}) or over the limit");
            return Err(TusError { status: 400, message }.into());
        }
        let mut after = upload.clone();
        after.length = i64::try_from(n).map_err(|_| TransferError::TooLarge { max: self.config.max_upload_bytes })?;
        if after.offset == after.length {
            after.completed_us = to_micros(self.clock.now());
            after.sha256 = hex::encode(self.running_hash(&upload).await?.finish());
            after.arrival.scan_status = scan::PENDING.into();
            after.arrival.scan_next_us = after.completed_us;
        }
        let completed = (after.completed_us != 0).then(|| completed_event(&after, who));
        let (before, stored) = (upload.clone(), after.clone());
        let quota = self.config.asset_quota_bytes as i64;
        let moved = transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                // Until now the upload counted its offset; from now its whole length.
                let more = stored.length - before.offset;
                if tx.asset_upload_bytes(&before.asset).await?.saturating_add(more) > quota {
                    return Err(quota_reached(&before.asset, !before.link_id.is_empty()));
                }
                if !tx.update_upload(&before, &stored).await? {
                    return Ok::<_, TransferError>(false);
                }
                if let Some(event) = completed {
                    tx.append_audit(event).await?;
                }
                Ok(true)
            })
        })
        .await?;
        if !moved {
            return Err(TransferError::OffsetMismatch { current: upload.offset });
        }
        if after.completed_us != 0 {
            self.forget(&after.id);
        }
        Ok(after)
    }

    /// End an upload (tus termination): its parts are crypto-shredded and their blobs deleted.
    pub async fn terminate(&self, who: &Caller, id: &str) -> Result<(), TransferError> {
        // An expired upload can be ended too: its record is read without the expiry check.
        let u = self.record_of(who, id).await?;
        // A file that has arrived is its keepers' to decide (and the sender holds a receipt).
        if u.completed_us != 0 {
            return Err(CoreError::Conflict(
                "this file has arrived: it can no longer be ended; ask the asset's data managers to reject it".into(),
            )
            .into());
        }
        let id = id.to_string();
        let event = NewAuditEvent::new(self.clock.now(), who.audit_name(), action::UPLOAD_TERMINATED)
            .target(&u.uploader)
            .project(&u.asset)
            .source(&who.source)
            .details(json!({"upload": u.id, "name": u.name, "offset": u.offset}));
        let doomed = id.clone();
        let gone = transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let gone = tx.delete_upload(&doomed).await?;
                tx.append_audit(event).await?;
                Ok::<_, CoreError>(gone)
            })
        })
        .await?;
        for meta in gone {
            let _ = self.blobs.delete(&meta).await;
        }
        self.forget(id.as_str());
        Ok(())
    }

    /// Crypto-shred unfinished uploads whose time ran out: their parts' keys and blobs go, and
    /// the trail keeps what they were. Run hourly by `haven serve`; how many were ended.
    pub async fn sweep_expired(&self) -> Result<usize, CoreError> {
        let now = self.clock.now();
        let now_us = to_micros(now);
        let expired = read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.expired_uploads(now_us, 500).await?) })
        })
        .await?;
        let mut ended = 0;
        for u in expired {
            let event = NewAuditEvent::new(now, crate::audit::actor::SYSTEM, action::UPLOAD_EXPIRED)
                .target(&u.uploader)
                .project(&u.asset)
                .details(
                    json!({"upload": u.id, "name": u.name, "offset": u.offset, "length": u.length, "link": u.link_id}),
                );
            let id = u.id.clone();
            let gone = transact(self.store.as_ref(), move |tx| {
                Box::pin(async move {
                    // Still unfinished and expired now, inside this unit: a late PATCH cannot slip in.
                    match tx.upload(&id).await? {
                        Some(u) if u.completed_us == 0 && u.expires_us <= now_us => {}
                        _ => return Ok::<_, CoreError>(None),
                    }
                    let gone = tx.delete_upload(&id).await?;
                    tx.append_audit(event).await?;
                    Ok(Some(gone))
                })
            })
            .await?;
            if let Some(gone) = gone {
                for meta in gone {
                    let _ = self.blobs.delete(&meta).await;
                }
                self.forget(&u.id);
                ended += 1;
            }
        }
        Ok(ended)
    }

    /// Record `parts` after `at` in one unit, moving the offset on; completes the upload when
    /// its last byte is in. Another request having moved the offset first refuses them all.
    async fn commit(
        &self,
        who: &Caller,
        at: &UploadRecord,
        parts: Vec<ObjectMeta>,
        hash: &Sha256,
    ) -> Result<UploadRecord, TransferError> {
        let mut steps = Vec::with_capacity(parts.len());
        let mut next = at.clone();
        for meta in parts {
            let before = next.clone();
            next.offset += meta.size;
            next.parts += 1;
            steps.push((before, meta, next.clone()));
        }
        let now = self.clock.now();
        if next.length >= 0 && next.offset == next.length {
            next.completed_us = to_micros(now);
            next.sha256 = hex::encode(hash.clone().finish());
            next.arrival.scan_status = scan::PENDING.into();
            next.arrival.scan_next_us = next.completed_us;
            if let Some(last) = steps.last_mut() {
                last.2 = next.clone();
            }
        }
        let completed = (next.completed_us != 0).then(|| completed_event(&next, who));
        let metas: Vec<ObjectMeta> = steps.iter().map(|(_, m, _)| m.clone()).collect();
        let (now_us, quota, added) = (to_micros(now), self.config.asset_quota_bytes as i64, next.offset - at.offset);
        let moved = transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                // What was checked when the request began may have changed while it streamed: a
                // link revoked or expired, the upload expired, the asset's quota taken.
                let first = steps.first().map(|(before, _, _)| before.clone());
                if let Some(u) = &first {
                    if u.expires_us <= now_us {
                        return Err(TransferError::Expired);
                    }
                    if !tx.asset(&u.asset).await?.is_some_and(|a| a.status == AssetStatus::Active) {
                        return Err(asset_closed());
                    }
                    if !u.link_id.is_empty() {
                        let link = tx.drop_link(&u.link_id).await?;
                        if !link.is_some_and(|l| l.revoked_us == 0 && l.expires_us > now_us) {
                            return Err(TransferError::LinkGone);
                        }
                    }
                    // A deferred length reserved nothing at creation: its bytes count as they come.
                    if u.length < 0 && tx.asset_upload_bytes(&u.asset).await?.saturating_add(added) > quota {
                        return Err(quota_reached(&u.asset, !u.link_id.is_empty()));
                    }
                }
                for (before, meta, after) in &steps {
                    if !tx.add_upload_part(before, meta, after).await? {
                        // Rolls back the parts recorded before this one.
                        return Err(TransferError::Core(CoreError::Conflict(LOST_RACE.into())));
                    }
                }
                if let Some(event) = completed {
                    tx.append_audit(event).await?;
                }
                Ok(())
            })
        })
        .await;
        let refused = match moved {
            Ok(()) => return Ok(next),
            Err(TransferError::Core(CoreError::Conflict(m))) if m == LOST_RACE => {
                let current = self.get(who, &at.id).await.map(|u| u.offset).unwrap_or(at.offset);
                TransferError::OffsetMismatch { current }
            }
            Err(e @ (TransferError::Expired | TransferError::LinkGone | TransferError::Limit { .. })) => e,
            // The commit's outcome is not known (the database may have kept it): the blobs
            // stay, rather than risk deleting what a recorded part points at.
            Err(e) => return Err(e),
        };
        // Refused inside the unit, so nothing of it was kept: its blobs go.
        for meta in &metas {
            let _ = self.blobs.delete(meta).await;
        }
        Err(refused)
    }

    /// The SHA-256 state after the upload's stored bytes: kept from the last request on this
    /// node, or rebuilt by reading the parts back.
    async fn running_hash(&self, upload: &UploadRecord) -> Result<Sha256, TransferError> {
        if let Some((offset, hash)) = self.lock().get(&upload.id)
            && *offset == upload.offset
        {
            return Ok(hash.clone());
        }
        let id = upload.id.clone();
        let parts = read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.upload_parts(&id).await?) })
        })
        .await?;
        let mut hash = Sha256::new();
        for meta in parts {
            let mut bytes = self.blobs.get(&meta).await?;
            while let Some(chunk) = bytes.next().await {
                let chunk = chunk.map_err(|e| BlobError::Backend(e.to_string()))?;
                hash.update(&chunk);
            }
        }
        Ok(hash)
    }

    /// Hold `id` for this request: a second request to the same upload at once is refused (on
    /// this node; across nodes, the offset check still lets only one commit).
    fn busy(&self, id: &str) -> Result<Sending, TransferError> {
        let mut busy = self.busy.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !busy.insert(id.to_string()) {
            return Err(limit(409, "another request is sending to this upload: wait for it, or end it".into()));
        }
        Ok(Sending { busy: self.busy.clone(), id: id.to_string() })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, Sha256)>> {
        self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn remember(&self, upload: &UploadRecord, hash: Sha256) {
        let mut running = self.lock();
        if upload.completed_us != 0 {
            running.remove(&upload.id);
            return;
        }
        // Full: one entry goes (its upload rebuilds its hash from the parts), not everyone's.
        if running.len() >= MAX_RUNNING
            && let Some(victim) = running.keys().find(|k| **k != upload.id).cloned()
        {
            running.remove(&victim);
        }
        running.insert(upload.id.clone(), (upload.offset, hash));
    }

    fn forget(&self, id: &str) {
        self.lock().remove(id);
    }
}

/// The upload's asset was closed: it takes no more data, from anyone.
pub(super) fn asset_closed() -> TransferError {
    limit(410, "the asset this upload goes to has been closed: it takes no more data".into())
}

fn limit(status: u16, message: String) -> TransferError {
    TransferError::Limit { status, message }
}

/// The asset's quota is taken: what to do, without telling a provider about the asset.
fn quota_reached(asset: &str, through_link: bool) -> TransferError {
    if through_link {
        return limit(413, "this drop-off link cannot take more data now: ask whoever sent it".into());
    }
    limit(
        413,
        format!("the asset {asset} has no room left in its quota: ask its IAO to accept or reject arrivals first"),
    )
}

fn completed_event(u: &UploadRecord, who: &Caller) -> NewAuditEvent {
    NewAuditEvent::new(crate::from_micros(u.completed_us), who.audit_name(), action::UPLOAD_COMPLETED)
        .target(&u.uploader)
        .project(&u.asset)
        .source(&who.source)
        .details(json!({
            "upload": u.id, "name": u.name, "original_name": u.original_name, "size": u.offset,
            "sha256": u.sha256, "parts": u.parts, "link": u.link_id,
        }))
}
