//! Malware scanning of arrivals: the [`Scanner`] port (clamd in `haven-store`) and the verdicts
//! an arrival can carry. Scanning fails closed: only the scanner's own word that it scanned the
//! whole file and found nothing makes an arrival `clean`; a scanner that is down or answers
//! anything else leaves it `pending`, to be tried again.

use async_trait::async_trait;

use crate::blobs::ByteStream;

/// Complete, waiting for a scan (or for the scanner to come back).
pub const PENDING: &str = "pending";
/// Scanned whole, nothing found.
pub const CLEAN: &str = "clean";
/// A signature matched: quarantined, never accepted.
pub const INFECTED: &str = "infected";
/// Not scanned whole (over the scanner's limit, or the scanner would not say): a person decides.
pub const REVIEW: &str = "review";
/// Its stored bytes failed their integrity check: never accepted; ask for it again.
pub const DAMAGED: &str = "damaged";

/// What a scanner said about one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// The signature's name.
    Infected(String),
    /// The scanner stopped at one of its limits: why.
    NotScanned(String),
}

#[derive(Debug, thiserror::Error)]
#[error("the scanner is unavailable: {0}")]
pub struct ScanError(pub String);

#[async_trait]
pub trait Scanner: Send + Sync {
    /// The engine's and its signatures' versions, recorded with each verdict.
    async fn version(&self) -> Result<String, ScanError>;
    /// Scan the plaintext of one file, streamed.
    async fn scan(&self, bytes: ByteStream) -> Result<Verdict, ScanError>;
    /// The most bytes the scanner scans whole; larger files need a person's review.
    fn max_bytes(&self) -> u64;
}

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use haven_crypto::Sha256;
use serde_json::json;

use super::store::{ScanUpdate, UploadRecord};
use super::uploads::Transfer;
use crate::audit::{NewAuditEvent, action, actor};
use crate::{CoreError, read, to_micros, transact};

/// Arrivals taken per round: each is scanned whole before the next.
const ROUND: i64 = 20;

/// The integrity of a stream as it passed: its SHA-256, its length, and the first read error.
#[derive(Default)]
struct Passed {
    hash: Option<Sha256>,
    bytes: i64,
    /// A stored object that failed its integrity check (or could not be read).
    broken: Option<(bool, String)>,
}

/// What one scan found, to record.
enum Outcome {
    Verdict {
        status: &'static str,
        detail: String,
        engine: String,
    },
    /// Not scanned this time: why, to retry later.
    Retry(String),
}

impl Transfer {
    /// Scan the arrivals that are due, one at a time (clamd is the slowest stage of an
    /// arrival): how many got a verdict. Run by `haven serve` every few seconds; safe to run on
    /// several nodes at once (a verdict is recorded only while the arrival is still pending).
    pub async fn scan_due(&self) -> Result<usize, CoreError> {
        // Without a scanner nothing is tried (and nothing pushed back): arrivals wait, pending.
        if self.scanner.is_none() {
            return Ok(0);
        }
        let now_us = to_micros(self.clock.now());
        let due = read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.due_scans(now_us, ROUND).await?) })
        })
        .await?;
        let mut decided = 0;
        for arrival in due {
            let outcome = self.scan_one(&arrival).await?;
            if self.record(&arrival, outcome).await? {
                decided += 1;
            }
        }
        Ok(decided)
    }

    async fn scan_one(&self, a: &UploadRecord) -> Result<Outcome, CoreError> {
        let Some(scanner) = self.scanner.clone() else {
            return Ok(Outcome::Retry("no scanner is configured (transfer.clamd)".into()));
        };
        let engine = match scanner.version().await {
            Ok(v) => v,
            Err(e) => return Ok(Outcome::Retry(e.0)),
        };
        let passed = Arc::new(Mutex::new(Passed { hash: Some(Sha256::new()), ..Passed::default() }));
        let mut stream = self.plaintext(a, passed.clone()).await?;
        let too_large = u64::try_from(a.offset).unwrap_or(u64::MAX) > scanner.max_bytes();
        // Too large for the scanner: still read whole, so that damage in storage is found.
        let said = if too_large {
            while let Some(item) = stream.next().await {
                if item.is_err() {
                    break;
                }
            }
            None
        } else {
            Some(scanner.scan(stream).await)
        };
        let passed = std::mem::take(&mut *passed.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let whole = passed.bytes == a.offset;
        if let Some((true, why)) = passed.broken {
            let detail = format!("the stored data failed its integrity check ({why}): do not use it; ask for it again");
            return Ok(Outcome::Verdict { status: DAMAGED, detail, engine });
        }
        if let (true, Some(hash)) = (whole, passed.hash)
            && hex::encode(hash.finish()) != a.sha256
        {
            let detail =
                "the stored data does not match the SHA-256 recorded on arrival: do not use it; ask for it again";
            return Ok(Outcome::Verdict { status: DAMAGED, detail: detail.into(), engine });
        }
        let Some(said) = said else {
            if let Some((_, why)) = passed.broken {
                return Ok(Outcome::Retry(format!("the arrival could not be read: {why}")));
            }
            let detail = format!(
                "not scanned: {} bytes is more than the scanner scans whole ({} bytes); a person must review it",
                a.offset,
                scanner.max_bytes()
            );
            return Ok(Outcome::Verdict { status: REVIEW, detail, engine });
        };
        Ok(match said {
            Ok(Verdict::Clean) if whole => Outcome::Verdict {
                status: CLEAN,
                detail: "scanned whole; archives inside are scanned as the scanner unpacks them, within its limits"
                    .into(),
                engine,
            },
            Ok(Verdict::Clean) => Outcome::Retry("the scanner said clean before it had read the whole file".into()),
            Ok(Verdict::Infected(signature)) => Outcome::Verdict { status: INFECTED, detail: signature, engine },
            Ok(Verdict::NotScanned(why)) => Outcome::Verdict {
                status: REVIEW,
                detail: format!("not scanned whole: {why}; a person must review it"),
                engine,
            },
            Err(e) => match passed.broken {
                Some((_, why)) => Outcome::Retry(format!("the arrival could not be read: {why}")),
                None => Outcome::Retry(e.0),
            },
        })
    }

    /// The arrival's plaintext, part after part, noting as it passes what [`Passed`] holds.
    async fn plaintext(
        &self,
        a: &UploadRecord,
        passed: Arc<Mutex<Passed>>,
    ) -> Result<crate::blobs::ByteStream, CoreError> {
        let stream = self.plaintext_of(&a.id).await?.inspect(move |item| {
            let mut p = passed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match item {
                Ok(bytes) => {
                    p.bytes += bytes.len() as i64;
                    if let Some(h) = p.hash.as_mut() {
                        h.update(bytes);
                    }
                }
                Err(e) if p.broken.is_none() => {
                    p.broken = Some((e.kind() == std::io::ErrorKind::InvalidData, e.to_string()));
                }
                Err(_) => {}
            }
        });
        Ok(stream.boxed())
    }

    /// Record a scan's outcome (a retry, with its back-off), audit a verdict and tell those who
    /// must act. Whether a verdict was recorded.
    async fn record(&self, a: &UploadRecord, outcome: Outcome) -> Result<bool, CoreError> {
        let now = self.clock.now();
        let now_us = to_micros(now);
        let attempts = a.arrival.scan_attempts + 1;
        let (update, event) = match &outcome {
            Outcome::Retry(why) => {
                tracing::warn!(upload = %a.id, attempts, reason = %why, "an arrival could not be scanned; it stays pending");
                let wait_s = 60i64.saturating_mul(1 << attempts.clamp(0, 6)).min(3600);
                let update = ScanUpdate {
                    status: PENDING.into(),
                    detail: format!("scan pending: {why}"),
                    engine: String::new(),
                    attempts,
                    next_us: now_us + wait_s * 1_000_000,
                    scanned_us: 0,
                };
                (update, None)
            }
            Outcome::Verdict { status, detail, engine } => {
                let name = if *status == INFECTED { action::ARRIVAL_INFECTED } else { action::ARRIVAL_SCANNED };
                let event =
                    NewAuditEvent::new(now, actor::SYSTEM, name).target(&a.uploader).project(&a.asset).details(json!({
                        "upload": a.id, "name": a.name, "sha256": a.sha256, "size": a.offset,
                        "verdict": status, "detail": detail, "engine": engine, "link": a.link_id,
                    }));
                let update = ScanUpdate {
                    status: (*status).into(),
                    detail: detail.clone(),
                    engine: engine.clone(),
                    attempts,
                    next_us: 0,
                    scanned_us: now_us,
                };
                (update, Some(event))
            }
        };
        let id = a.id.clone();
        let verdict = event.is_some();
        let recorded = transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                if !tx.set_scan(&id, &update).await? {
                    return Ok::<_, CoreError>(false);
                }
                if let Some(event) = event {
                    tx.append_audit(event).await?;
                }
                Ok(true)
            })
        })
        .await?;
        if recorded && let Outcome::Verdict { status, detail, .. } = &outcome {
            self.tell(a, status, detail).await;
        }
        Ok(recorded && verdict)
    }

    /// Email those who must act on a verdict: the asset's keepers, and the service desk too for
    /// an infected or damaged file.
    async fn tell(&self, a: &UploadRecord, status: &str, detail: &str) {
        let page = format!("{}{}", self.governance.public_url(), crate::paths::transfer_asset(&a.asset));
        let from = if a.link_id.is_empty() { a.uploader.clone() } else { format!("drop-off link {}", a.link_id) };
        let about = format!("File: {}\nSize: {} bytes\nSHA-256: {}\nSent by: {from}\n", a.name, a.offset, a.sha256);
        let (subject, text, desk) = match status {
            CLEAN => (
                format!("Haven - a file arrived in {} and is ready to accept", a.asset),
                format!(
                    "A file sent into the asset {} was scanned and nothing was found. You are receiving this because you look after the asset's data: accept it into the asset's shared area, or reject it, at\n\n{page}\n\n{about}",
                    a.asset
                ),
                false,
            ),
            REVIEW => (
                format!("Haven - a file arrived in {} and needs your review", a.asset),
                format!(
                    "A file sent into the asset {} could not be scanned whole ({detail}). You are receiving this because you look after the asset's data: check it by other means before you accept it, or reject it, at\n\n{page}\n\n{about}",
                    a.asset
                ),
                false,
            ),
            INFECTED => (
                format!("Haven - a file sent into {} is infected and quarantined", a.asset),
                format!(
                    "The malware scanner found {detail} in a file sent into the asset {}. The file is quarantined: it cannot be accepted. You are receiving this because you look after the asset's data or run the service desk. Reject it (which destroys it) and tell the sender, at\n\n{page}\n\n{about}",
                    a.asset
                ),
                true,
            ),
            _ => (
                format!("Haven - a file sent into {} is damaged", a.asset),
                format!(
                    "A file sent into the asset {} failed its integrity check in storage ({detail}). It cannot be accepted. You are receiving this because you look after the asset's data or run the service desk. Reject it and ask the sender for it again, at\n\n{page}\n\n{about}",
                    a.asset
                ),
                true,
            ),
        };
        self.governance.notify_keepers(&a.asset, &subject, text.clone()).await;
        if desk {
            self.governance.notify_desk(&subject, text).await;
        }
    }
}
