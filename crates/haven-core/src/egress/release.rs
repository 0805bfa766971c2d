//! A release: what an approved request lets out, exactly. Its author asks for a download link
//! (single use, short-lived, bound to them, its secret kept only as a SHA-256); using it gives a
//! zip of the pinned bytes with a manifest signed by Haven's signing key: every file's name,
//! size and SHA-256, its checks and their rule set, the verdicts, overrides and votes, who
//! released it and when, and who downloaded it. Every link and download is audited.
//! `haven egress verify-manifest` checks such a zip offline ([`verify`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::format_description::well_known::Rfc3339;

use super::checks::Verdict;
use super::outputs::Egress;
use super::request::{Common, Group, Override, Request, Vote};
use super::store::DownloadRecord;
use crate::audit::{NewAuditEvent, action};
use crate::authz::{Action, Resource, require};
use crate::blobs::{ByteStream, ObjectMeta};
use crate::caller::Caller;
use crate::{CoreError, from_micros, read, to_micros, transact};

/// What a release manifest calls its format.
pub const MANIFEST_FORMAT: &str = "haven-egress-manifest/1";
/// The names inside a release zip.
pub const MANIFEST_FILE: &str = "manifest.json";
pub const SIGNATURE_FILE: &str = "manifest.sig";
pub const FILES_DIR: &str = "files/";

/// One released file, as the manifest states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Its name in the zip, under `files/`.
    pub name: String,
    pub group: String,
    pub bytes: u64,
    pub sha256: String,
    /// Where in the outputs area it was copied from.
    pub source: String,
    /// The automated checks' verdict and rule set.
    pub checked: Verdict,
    pub ruleset: String,
    pub findings: u64,
    /// The verdict it left with (a checker's override, if any, else the automated one).
    pub verdict: Verdict,
    pub overrides: Vec<Override>,
}

/// A person's decision, as the manifest states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestDecision {
    pub by: String,
    pub what: String,
    pub reason: String,
    /// RFC 3339, UTC.
    pub at: String,
}

/// What left, why, and who let it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    /// The Haven it left (its public URL).
    pub service: String,
    pub request: String,
    pub asset: String,
    pub title: String,
    pub author: String,
    pub identifiable: bool,
    /// The review turn that approved it.
    pub turn: u32,
    pub groups: Vec<Group>,
    pub files: Vec<ManifestFile>,
    /// This turn's votes, the IAO's approval, the release.
    pub decisions: Vec<ManifestDecision>,
    pub downloaded_by: String,
    pub downloaded_at: String,
}

/// The signature file beside the manifest: Ed25519 over `manifest.json`'s bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    /// Base64.
    pub signature: String,
    /// Hex of Haven's public signing key (`audit-signing.pub` in the data directory).
    pub public_key: String,
}

/// A used download link: what to put in the zip.
pub struct Download {
    pub request: String,
    pub asset: String,
    /// `manifest.json`, byte for byte as signed.
    pub manifest: String,
    pub signature: Signature,
    /// Each file's name and size in the zip, its pinned SHA-256 and its sealed copy.
    pub files: Vec<(ManifestFile, ObjectMeta)>,
}

fn rfc3339(us: i64) -> String {
    from_micros(us).format(&Rfc3339).unwrap_or_default()
}

fn hash_of(secret: &str) -> Vec<u8> {
    let mut h = haven_crypto::Sha256::new();
    h.update(secret.as_bytes());
    h.finish().to_vec()
}

/// The manifest of `c` (released), downloaded by `by` at `at_us`.
fn manifest_of(c: &Common, service: &str, by: &str, at_us: i64) -> Manifest {
    let files = c
        .files
        .iter()
        .map(|f| ManifestFile {
            name: f.name.clone(),
            group: f.group.clone(),
            bytes: f.bytes,
            sha256: f.sha256.clone(),
            source: f.source.clone(),
            checked: f.verdict(),
            ruleset: f.report.as_ref().map(|r| r.ruleset.to_string()).unwrap_or_default(),
            findings: f.report.as_ref().map_or(0, |r| r.findings.len() as u64 + r.more_findings),
            verdict: c.verdict_of(f),
            overrides: c.overrides.iter().filter(|o| o.turn == c.turn && o.file == f.name).cloned().collect(),
        })
        .collect();
    let vote = |v: &Vote| ManifestDecision {
        by: v.checker.clone(),
        what: format!("voted to {}", v.decision.as_str()),
        reason: v.reason.clone(),
        at: rfc3339(v.at_us),
    };
    let mut decisions: Vec<ManifestDecision> = c.current_votes().map(vote).collect();
    for e in c.history.iter().filter(|e| e.turn == c.turn) {
        if e.what == "approved for the IAO" || e.what == "released" || e.what == "approved" {
            decisions.push(ManifestDecision {
                by: e.actor.clone(),
                what: e.what.clone(),
                reason: String::new(),
                at: rfc3339(e.at_us),
            });
        }
    }
    decisions.sort_by(|a, b| a.at.cmp(&b.at));
    let groups = c.groups.iter().filter(|g| c.files.iter().any(|f| f.group == g.name)).cloned().collect();
    Manifest {
        format: MANIFEST_FORMAT.into(),
        service: service.into(),
        request: c.id.clone(),
        asset: c.asset.clone(),
        title: c.title.clone(),
        author: c.author.clone(),
        identifiable: c.identifiable,
        turn: c.turn,
        groups,
        files,
        decisions,
        downloaded_by: by.into(),
        downloaded_at: rfc3339(at_us),
    }
}

impl Egress {
    /// A single-use link to download released request `id`, for its author; the path to put
    /// after Haven's URL. It lives `egress.link_minutes`. Audited (never its secret).
    pub async fn download_link(&self, who: &Caller, id: &str) -> Result<(String, i64), CoreError> {
        require(who, Action::DownloadOutputs, Resource::Account(&who.user_id))?;
        let view = self.view(who, id).await?;
        if !view.can.download {
            return Err(match view.state {
                "released" => CoreError::Refused("only the request's author downloads what was released".into()),
                "revoked" => CoreError::Conflict("downloads of this request were stopped (revoked)".into()),
                other => CoreError::Conflict(format!(
                    "this request is {}: it can be downloaded once it is released",
                    other.replace('_', " ")
                )),
            });
        }
        if let Err(why) = self.governance.still_reaches(&who.user_id, &view.request.asset).await? {
            return Err(CoreError::Refused(format!("you cannot reach this asset's data now ({why})")));
        }
        let mut raw = [0u8; 32];
        self.rng.fill(&mut raw).map_err(CoreError::from)?;
        let secret = hex::encode(raw);
        let now = self.clock.now();
        let expires_us = to_micros(now + time::Duration::minutes(i64::from(self.config.link_minutes)));
        let record = DownloadRecord {
            token_hash: hash_of(&secret),
            request: id.to_string(),
            made_for: who.user_id.clone(),
            created_us: to_micros(now),
            expires_us,
            used_us: 0,
        };
        let event = NewAuditEvent::new(now, who.audit_name(), action::EGRESS_LINK_ISSUED)
            .target(id)
            .project(&view.request.asset)
            .source(&who.source)
            .details(json!({ "expires": rfc3339(expires_us) }));
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.insert_egress_download(&record).await?;
                tx.append_audit(event).await?;
                Ok::<_, CoreError>(())
            })
        })
        .await?;
        Ok((crate::paths::egress_download(&secret), expires_us))
    }

    /// Use a download link: only by the person it was made for, once, before it expires, while
    /// the request is still released. The download is audited in the same transaction that
    /// uses up the link; a refused link is audited too.
    pub async fn take_download(&self, who: &Caller, secret: &str) -> Result<Download, CoreError> {
        require(who, Action::DownloadOutputs, Resource::Account(&who.user_id))?;
        let now = self.clock.now();
        let (hash, me, service) = (hash_of(secret), who.user_id.clone(), self.governance.public_url().to_string());
        // Every pinned copy is read and hashed before the link is used up or a byte leaves: a
        // copy that changed stops the download here, with the link still unused.
        let (h, m) = (hash.clone(), me.clone());
        let peeked = read(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let usable = tx
                    .egress_download(&h)
                    .await?
                    .filter(|l| l.used_us == 0 && l.expires_us > to_micros(now) && l.made_for == m);
                let Some(link) = usable else { return Ok::<_, CoreError>(None) };
                Ok(tx.egress_request(&link.request).await?)
            })
        })
        .await?;
        if let Some(record) = peeked
            && let Ok(Request::Released(r)) = serde_json::from_str::<Request>(&record.doc)
            && let Err(e) = self.verify_pinned(r.common()).await
        {
            self.integrity_failed(&record.id, &record.asset, &e.to_string()).await;
            return Err(e);
        }
        let event = NewAuditEvent::new(now, who.audit_name(), action::EGRESS_DOWNLOADED).source(&who.source);
        let taken = transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let Some(link) = tx.take_egress_download(&hash, to_micros(now)).await? else {
                    return Err(CoreError::LinkInvalid);
                };
                if link.made_for != me {
                    return Err(CoreError::LinkInvalid);
                }
                let record = tx.egress_request(&link.request).await?.ok_or(CoreError::NotFound)?;
                let request: Request = serde_json::from_str(&record.doc)
                    .map_err(|e| CoreError::Store(crate::StoreError::Corrupt(e.to_string())))?;
                let Request::Released(_) = &request else {
                    return Err(CoreError::Conflict("downloads of this request were stopped (revoked)".into()));
                };
                let c = request.common();
                let manifest = manifest_of(c, &service, &me, to_micros(now));
                let files: Vec<(String, u64)> = c.files.iter().map(|f| (f.name.clone(), f.bytes)).collect();
                tx.append_audit(event.target(&c.id).project(&c.asset).details(json!({
                    "files": files, "sha256": c.files.iter().map(|f| &f.sha256).collect::<Vec<_>>(),
                })))
                .await?;
                Ok((c.clone(), manifest))
            })
        })
        .await;
        let (c, manifest) = match taken {
            Ok(t) => t,
            Err(e) => {
                let refusal = NewAuditEvent::new(now, who.audit_name(), action::EGRESS_LINK_REFUSED)
                    .source(&who.source)
                    .details(json!({ "why": e.to_string() }));
                let _ = self.audit(refusal).await;
                return Err(e);
            }
        };
        let text = serde_json::to_string_pretty(&manifest).map_err(|e| CoreError::Conflict(e.to_string()))?;
        let signature = Signature {
            signature: STANDARD.encode(self.signer.sign(text.as_bytes())),
            public_key: hex::encode(self.signer.public_key()),
        };
        let mut files = Vec::with_capacity(c.files.len());
        for (f, m) in c.files.iter().zip(manifest.files.iter()) {
            files.push((m.clone(), self.object_of(&c.asset, f).await?));
        }
        Ok(Download { request: c.id.clone(), asset: c.asset.clone(), manifest: text, signature, files })
    }

    /// A sealed copy's bytes, verified segment by segment as they are read.
    pub async fn open_pinned(&self, meta: &ObjectMeta) -> Result<ByteStream, CoreError> {
        self.blobs.get(meta).await.map_err(|e| CoreError::Unavailable(e.to_string()))
    }

    /// Record that a download stopped because a file's bytes were not those pinned.
    pub async fn integrity_failed(&self, request: &str, asset: &str, why: &str) {
        let event = NewAuditEvent::new(self.clock.now(), crate::audit::actor::HAVEN, action::EGRESS_INTEGRITY_FAILED)
            .target(request)
            .project(asset)
            .details(json!({ "why": why }));
        let _ = self.audit(event).await;
        tracing::error!(request, why, "a released file's bytes were not those pinned; the download was stopped");
    }
}

/// Check a release's manifest and signature: the manifest if `signature` is Ed25519 by
/// `public_key` (hex) over `manifest`'s bytes; the caller then checks each file's SHA-256
/// against it.
pub fn verify(manifest: &[u8], signature: &[u8], public_key: &str) -> Result<Manifest, String> {
    let sig: Signature = serde_json::from_slice(signature)
        .map_err(|e| format!("{SIGNATURE_FILE} is not a signature Haven writes: {e}"))?;
    if !sig.public_key.eq_ignore_ascii_case(public_key.trim()) {
        return Err(format!(
            "the manifest was signed by key {} , not the one given ({}): it did not come from this Haven",
            sig.public_key,
            public_key.trim()
        ));
    }
    let key = hex::decode(public_key.trim()).map_err(|_| "the public key is not hex".to_string())?;
    let raw = STANDARD.decode(&sig.signature).map_err(|_| "the signature is not base64".to_string())?;
    if !haven_crypto::signing::verify(&key, manifest, &raw) {
        return Err("the signature does not match the manifest: the manifest was altered".into());
    }
    let m: Manifest =
        serde_json::from_slice(manifest).map_err(|e| format!("{MANIFEST_FILE} is not a manifest Haven writes: {e}"))?;
    if m.format != MANIFEST_FORMAT {
        return Err(format!("{MANIFEST_FILE} is in format {:?}; this Haven reads {MANIFEST_FORMAT}", m.format));
    }
    Ok(m)
}
