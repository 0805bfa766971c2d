//! Arrivals: complete uploads, waiting in an asset's arrivals area for a decision. Its IAO, IAAs
//! and data managers see them with their scan verdicts and accept each into the asset's shared
//! drive (S:, where its plaintext is written, checked against the SHA-256 taken as it arrived) or
//! reject it; a rejected arrival is crypto-shredded (its objects' keys destroyed, its blobs
//! deleted) and stays on the record as rejected. An accepted one keeps its sealed original.
//! Whoever sent a file can have a receipt for it: a manifest of what Haven received, signed with
//! Haven's signing key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::format_description::well_known::Rfc3339;

use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;

use super::scan;
use super::store::UploadRecord;
use super::uploads::{Transfer, TransferError};
use crate::audit::{NewAuditEvent, action};
use crate::authz::Action;
use crate::blobs::ByteStream;
use crate::caller::Caller;
use crate::governance::records::AssetStatus;
use crate::workspaces::drives::{Drive, DriveError};
use crate::{CoreError, from_micros, read, to_micros, transact};

/// An arrival once decided, and where an accepted one was placed.
#[derive(Debug, Clone)]
pub struct Decided {
    pub upload: UploadRecord,
    /// Its name in the asset's S: (the name it arrived with, numbered if that was taken).
    pub placed_as: Option<String>,
}

/// The most arrivals a list shows (newest first).
pub const LIST_LIMIT: i64 = 1000;
/// What a receipt's manifest calls itself.
pub const RECEIPT_FORMAT: &str = "haven-transfer-receipt/1";

/// What Haven received, as the sender's receipt states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub service: String,
    pub upload: String,
    pub file: String,
    pub original_name: String,
    pub size: i64,
    pub sha256: String,
    /// When the last byte was stored (RFC 3339, UTC).
    pub received: String,
    /// A user id, or `link:<id>` for a drop-off link.
    pub sender: String,
}

/// A manifest and its Ed25519 signature over the manifest's JSON exactly as it stands here.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Receipt {
    /// The manifest as JSON text: what the signature covers, byte for byte.
    pub manifest: String,
    /// Base64 of the Ed25519 signature.
    pub signature: String,
    /// Hex of Haven's public signing key (also printed by `haven serve` and in the audit
    /// checkpoints).
    pub public_key: String,
}

impl Receipt {
    /// The manifest, if the signature is Haven's (`public_key`, hex) and it covers it.
    pub fn verify(&self, public_key: &str) -> Result<Manifest, String> {
        if !self.public_key.eq_ignore_ascii_case(public_key) {
            return Err("the receipt was signed by another key than the one given".into());
        }
        let key = hex::decode(public_key).map_err(|_| "the public key is not hex".to_string())?;
        let signature = STANDARD.decode(&self.signature).map_err(|_| "the signature is not base64".to_string())?;
        if !haven_crypto::signing::verify(&key, self.manifest.as_bytes(), &signature) {
            return Err("the signature does not match the manifest: the receipt was altered".into());
        }
        serde_json::from_str(&self.manifest).map_err(|e| format!("the manifest is not one Haven writes: {e}"))
    }
}

impl Transfer {
    /// An asset's arrivals, newest first, for its IAO, IAAs and data managers (and the console).
    pub async fn arrivals(&self, who: &Caller, asset: &str) -> Result<Vec<UploadRecord>, CoreError> {
        let (asset, _) = self.governance.require_on(who, Action::ViewArrivals, asset).await?;
        read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.arrivals(&asset.name, LIST_LIMIT).await?) })
        })
        .await
    }

    /// Accept an arrival into the asset's shared drive (S:), or reject it (crypto-shredding it). A
    /// clean file may be accepted; one the scanner could not read whole only with a note of what
    /// was checked instead; an infected, damaged or unscanned one never. Audited.
    pub async fn decide(&self, who: &Caller, id: &str, accept: bool, note: &str) -> Result<Decided, CoreError> {
        let upload = self.upload_by_id(id).await?.ok_or(CoreError::NotFound)?;
        self.governance.require_on(who, Action::DecideArrival, &upload.asset).await?;
        let note = note.trim().chars().take(2000).collect::<String>();
        if upload.completed_us == 0 {
            return Err(CoreError::Conflict("this file is still arriving; decide once it is complete".into()));
        }
        if !upload.arrival.decision.is_empty() {
            return Err(CoreError::Conflict("this file was decided already".into()));
        }
        if accept {
            match upload.arrival.scan_status.as_str() {
                scan::CLEAN => {}
                scan::REVIEW if !note.is_empty() => {}
                scan::REVIEW => {
                    return Err(CoreError::invalid(
                        "note",
                        "this file was not scanned whole: say what you checked instead before you accept it",
                    ));
                }
                scan::PENDING => {
                    return Err(CoreError::Conflict(
                        "this file has not been scanned yet; it can be accepted once it is".into(),
                    ));
                }
                other => {
                    return Err(CoreError::Conflict(format!(
                        "this file is {other}: it cannot be accepted; reject it and ask for it again"
                    )));
                }
            }
        }
        // Written into S: first, whole or not at all, while the asset is open; taken out again if
        // the decision is not recorded. (Callers run this to the end even when their request
        // goes away: the web layer spawns it.)
        let drive = Drive::Shared(upload.asset.clone());
        let placed = if accept {
            self.require_open(&upload.asset).await?;
            Some(self.place_in_shared(&upload, &drive).await?)
        } else {
            None
        };
        let now = self.clock.now();
        let (decision, name) =
            if accept { ("accepted", action::ARRIVAL_ACCEPTED) } else { ("rejected", action::ARRIVAL_REJECTED) };
        let event = NewAuditEvent::new(now, who.audit_name(), name)
            .target(&upload.uploader)
            .project(&upload.asset)
            .source(&who.source)
            .details(json!({
                "upload": upload.id, "name": upload.name, "sha256": upload.sha256, "size": upload.offset,
                "verdict": upload.arrival.scan_status, "note": note, "shredded": !accept,
                "placed_as": placed.as_deref().map(|n| format!("S:/{n}")),
            }));
        let (id, by, at_us) = (upload.id.clone(), who.audit_name().to_string(), to_micros(now));
        let asset = upload.asset.clone();
        let decided = transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                if accept && !tx.asset(&asset).await?.is_some_and(|a| a.status == AssetStatus::Active) {
                    return Err(closed_to_accepting(&asset));
                }
                if !tx.decide_arrival(&id, decision, &by, at_us).await? {
                    return Err(CoreError::Conflict("this file was decided already".into()));
                }
                let doomed = if accept { Vec::new() } else { tx.shred_upload(&id).await? };
                tx.append_audit(event).await?;
                Ok(doomed)
            })
        })
        .await;
        let doomed = match decided {
            Ok(doomed) => doomed,
            Err(e) => {
                if let Some(placed) = &placed
                    && let Err(why) = self.drives.remove(&drive, placed).await
                {
                    tracing::error!(asset = %upload.asset, file = %placed, error = %why,
                        "an arrival whose acceptance was not recorded could not be taken out of S:");
                }
                return Err(e);
            }
        };
        for meta in doomed {
            let _ = self.blobs.delete(&meta).await;
        }
        let upload = self.upload_by_id(&upload.id).await?.ok_or(CoreError::NotFound)?;
        Ok(Decided { upload, placed_as: placed })
    }

    async fn require_open(&self, asset: &str) -> Result<(), CoreError> {
        let name = asset.to_string();
        let open = read(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                Ok::<_, CoreError>(tx.asset(&name).await?.is_some_and(|a| a.status == AssetStatus::Active))
            })
        })
        .await?;
        if open { Ok(()) } else { Err(closed_to_accepting(asset)) }
    }

    /// An upload's plaintext: its parts opened one after another.
    pub(super) async fn plaintext_of(&self, id: &str) -> Result<ByteStream, CoreError> {
        let id = id.to_string();
        let parts = read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.upload_parts(&id).await?) })
        })
        .await?;
        let blobs = self.blobs.clone();
        let opened = futures::stream::iter(parts).then(move |meta| {
            let blobs = blobs.clone();
            async move {
                match blobs.get(&meta).await {
                    Ok(s) => s,
                    Err(e) => futures::stream::once(async move { Err(std::io::Error::other(e.to_string())) }).boxed(),
                }
            }
        });
        Ok(opened.flatten().boxed())
    }

    /// Write an arrival's plaintext into its asset's S: under its (safe) name, checked against the
    /// SHA-256 taken as it arrived. The name it got there.
    async fn place_in_shared(&self, upload: &UploadRecord, drive: &Drive) -> Result<String, CoreError> {
        let size = u64::try_from(upload.offset).unwrap_or(0);
        let data = checked(self.plaintext_of(&upload.id).await?, upload.sha256.clone());
        let quota = self.quotas.quota(drive);
        self.drives.place(drive, &upload.name, size, quota, data).await.map_err(|e| match e {
            DriveError::Full { .. } => CoreError::Conflict(format!(
                "{e}. Make room in it, or ask the service desk to raise drives.shared_quota_gib; the file waits here"
            )),
            DriveError::BadName(why) => CoreError::invalid("name", why),
            DriveError::NotFound => CoreError::NotFound,
            DriveError::Input(why) => CoreError::Unavailable(format!(
                "the stored file could not be read back whole ({why}); nothing was placed"
            )),
            DriveError::Io(why) => CoreError::Unavailable(format!("S: could not be written: {why}")),
        })
    }

    /// The signed receipt for a complete upload, for whoever sent it.
    pub async fn receipt(&self, who: &Caller, id: &str) -> Result<Receipt, TransferError> {
        self.sending_link(who).await?;
        let upload = self.upload_by_id(id).await?.filter(|u| u.uploader == who.user_id).ok_or(CoreError::NotFound)?;
        if upload.completed_us == 0 {
            return Err(CoreError::Conflict("the file has not all arrived yet: finish the upload first".into()).into());
        }
        let manifest = Manifest {
            format: RECEIPT_FORMAT.into(),
            service: self.governance.public_url().to_string(),
            upload: upload.id.clone(),
            file: upload.name.clone(),
            original_name: upload.original_name.clone(),
            size: upload.offset,
            sha256: upload.sha256.clone(),
            received: from_micros(upload.completed_us).format(&Rfc3339).unwrap_or_default(),
            sender: upload.uploader.clone(),
        };
        let text = serde_json::to_string(&manifest).map_err(|e| CoreError::Conflict(e.to_string()))?;
        Ok(Receipt {
            signature: STANDARD.encode(self.signer.sign(text.as_bytes())),
            public_key: hex::encode(self.signer.public_key()),
            manifest: text,
        })
    }

    pub(super) async fn upload_by_id(&self, id: &str) -> Result<Option<UploadRecord>, CoreError> {
        let id = id.to_string();
        read(self.store.as_ref(), move |tx| Box::pin(async move { Ok::<_, CoreError>(tx.upload(&id).await?) })).await
    }
}

fn closed_to_accepting(asset: &str) -> CoreError {
    CoreError::Conflict(format!("{asset} is closed: its arrivals can no longer be accepted"))
}

/// `data`, ending in an error if its SHA-256 is not `expected` (hex), so that a writer keeps none
/// of it.
fn checked(data: ByteStream, expected: String) -> ByteStream {
    let hash = Arc::new(Mutex::new(Some(haven_crypto::Sha256::new())));
    let seen = hash.clone();
    let body = data.inspect(move |item| {
        if let (Ok(bytes), Some(h)) = (item, seen.lock().unwrap_or_else(PoisonError::into_inner).as_mut()) {
            h.update(bytes);
        }
    });
    let end = futures::stream::once(async move {
        let got = hash.lock().unwrap_or_else(PoisonError::into_inner).take().map(|h| hex::encode(h.finish()));
        if got.as_deref() == Some(expected.as_str()) {
            Ok(bytes::Bytes::new())
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "its SHA-256 is not the one recorded as it arrived",
            ))
        }
    });
    body.chain(end).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    #[tokio::test]
    async fn placed_bytes_must_have_the_recorded_sha256() {
        let data = || futures::stream::iter([Ok(bytes::Bytes::from_static(b"data"))]).boxed();
        let right = hex::encode(haven_crypto::sha256(b"data"));
        let whole: Vec<bytes::Bytes> = checked(data(), right).try_collect().await.unwrap();
        assert_eq!(whole.concat(), b"data");
        let wrong = checked(data(), hex::encode(haven_crypto::sha256(b"other"))).try_collect::<Vec<_>>().await;
        assert_eq!(wrong.unwrap_err().kind(), std::io::ErrorKind::InvalidData);
    }
}
