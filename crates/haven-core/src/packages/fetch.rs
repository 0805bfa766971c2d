//! Downloads: served from the cache when Haven has verified the file before; otherwise fetched
//! from the upstream and streamed to the client while it is sealed into the blob store. The
//! last chunk is held back until the whole file matched the upstream's declared hash (and size)
//! and is cached: a client never receives the end of a file that failed, so a corrupted file
//! cannot install even with clients that check nothing (R).

use std::io;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use haven_packages::policy::Ecosystem;
use md5::Digest as _;
use serde_json::json;

use super::ports::io_error;
use super::records::CachedFile;
use super::{CACHE_PROJECT, PackageError, Packages};
use crate::audit::{NewAuditEvent, action, actor};
use crate::blobs::{BlobStore, ByteStream, Put};
use crate::{Clock, CoreError, Store, to_micros};

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_never_shown() {
        assert_eq!(
            super::shown_url("https://u:p@mirror.example/simple/x/a.whl"),
            "https://mirror.example/simple/x/a.whl"
        );
        assert_eq!(super::shown_url("https://mirror.example/a@b.whl"), "https://mirror.example/a@b.whl");
        assert_eq!(super::shown_url("file:///srv/x"), "file:///srv/x");
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// Lower-case hex SHA-256 (PyPI, conda).
    Sha256(String),
    /// Lower-case hex MD5 (CRAN's `MD5sum`).
    Md5(String),
    /// The upstream declares no hash (CRAN's archive): the first fetch is kept and served since.
    FirstFetch,
}

/// One file to serve, as the index that lists it describes it.
pub struct FileRequest {
    pub ecosystem: Ecosystem,
    /// The cache key: the path under the ecosystem's root.
    pub path: String,
    pub upstream_url: String,
    pub expected: Expected,
    pub size: Option<u64>,
    /// Who asked (a user id, or `anonymous`) and from where, for the audit trail.
    pub who: String,
    pub source: String,
    /// Whether serving it is a `package.download` audit event: artifacts are; PEP 658 core
    /// metadata is index information like the project page (pip asks for it once per package
    /// while resolving), so it is not. Integrity failures are audited either way.
    pub audited: bool,
}

pub struct Download {
    pub body: ByteStream,
    pub length: Option<u64>,
    /// Fetches, verifies and caches while `body` streams: the caller spawns it. None when the
    /// file came from the cache.
    pub driver: Option<BoxFuture<'static, ()>>,
}

/// A URL as logs and the audit trail may show it: without credentials an operator put in an
/// upstream URL (`https://user:secret@mirror/…`).
pub fn shown_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

/// Files up to this size are verified completely before the answer starts.
const VERIFY_FIRST_BYTES: u64 = 4 * 1024 * 1024;

fn hex_of(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

impl Packages {
    pub async fn download(&self, req: FileRequest) -> Result<Download, PackageError> {
        let (eco, path) = (req.ecosystem, req.path.clone());
        let cached = crate::store::read(self.store.as_ref(), move |tx| {
            Box::pin(async move { tx.cached_package_file(eco, &path).await.map_err(CoreError::from) })
        })
        .await?;
        if let Some((file, meta)) = cached {
            // A cached file is still the one the index describes (an upstream may replace a
            // file; then the index's hash changes and the cached copy is not served).
            let same = match &req.expected {
                Expected::Sha256(h) => *h == file.sha256,
                Expected::Md5(_) | Expected::FirstFetch => {
                    req.size.is_none_or(|s| i64::try_from(s).ok() == Some(file.size))
                }
            };
            if same {
                // Both before the answer; the audit commit and opening the blob overlap.
                let (body, ()) = futures::try_join!(
                    async { self.blobs.get(&meta).await.map_err(PackageError::from) },
                    self.audit_download(&req, true)
                )?;
                return Ok(Download { body, length: u64::try_from(file.size).ok(), driver: None });
            }
        }
        let limit = self.config.ecosystem(req.ecosystem).max_file_bytes();
        if req.size.is_some_and(|s| s > limit) {
            return Err(self.refusal(req.ecosystem, &req.path, &format!("the file is larger than {limit} bytes")));
        }
        let fetched = self.upstream.get(&req.upstream_url, "*/*", limit).await?;
        if let (Some(declared), Some(got)) = (req.size, fetched.length)
            && declared != got
        {
            self.audit_integrity(&req, &format!("the upstream sends {got} bytes, its index says {declared}")).await;
            return Err(PackageError::Integrity(format!(
                "Haven refused {}: the upstream's file does not match its index (size); it was not served. The service desk has been told.",
                req.path
            )));
        }
        self.audit_download(&req, false).await?;
        let length = req.size.or(fetched.length);
        let (client_tx, client_rx) = futures::channel::mpsc::channel::<Result<Bytes, io::Error>>(2);
        let driver = cache_while_streaming(
            self.store.clone(),
            self.blobs.clone(),
            self.clock.clone(),
            req,
            fetched.body,
            limit,
            client_tx,
        );
        if length.is_some_and(|n| n <= VERIFY_FIRST_BYTES) {
            // Small (most wheels, metadata, R sources): verify before answering, so a refusal is
            // a clear 502 rather than a broken download.
            let (_, chunks) = futures::future::join(driver, client_rx.collect::<Vec<_>>()).await;
            let mut verified = Vec::with_capacity(chunks.len());
            for chunk in chunks {
                match chunk {
                    Ok(c) => verified.push(Ok(c)),
                    Err(e) => return Err(PackageError::Integrity(e.to_string())),
                }
            }
            return Ok(Download { body: futures::stream::iter(verified).boxed(), length, driver: None });
        }
        Ok(Download { body: client_rx.boxed(), length, driver: Some(Box::pin(driver)) })
    }

    async fn audit_download(&self, req: &FileRequest, cached: bool) -> Result<(), PackageError> {
        if !req.audited {
            return Ok(());
        }
        let event = NewAuditEvent::new(self.clock.now(), &req.who, action::PACKAGE_DOWNLOAD)
            .target(&format!("{}:{}", req.ecosystem.as_str(), req.path))
            .source(&req.source)
            .details(json!({
                "ecosystem": req.ecosystem.as_str(),
                "path": req.path,
                "cached": cached,
                "verified": req.expected != Expected::FirstFetch,
            }));
        crate::store::transact(self.store.as_ref(), move |tx| {
            Box::pin(async move { tx.append_audit(event).await.map(|_| ()).map_err(CoreError::from) })
        })
        .await?;
        Ok(())
    }

    async fn audit_integrity(&self, req: &FileRequest, why: &str) {
        audit_integrity(self.store.as_ref(), self.clock.as_ref(), req, why).await;
    }
}

async fn audit_integrity(store: &dyn Store, clock: &dyn Clock, req: &FileRequest, why: &str) {
    tracing::warn!(path = %req.path, url = %shown_url(&req.upstream_url), why, "upstream file refused");
    let event = NewAuditEvent::new(clock.now(), actor::HAVEN, action::PACKAGE_INTEGRITY_FAILED)
        .target(&format!("{}:{}", req.ecosystem.as_str(), req.path))
        .source(&req.source)
        .details(json!({"url": shown_url(&req.upstream_url), "why": why, "requested_by": req.who}));
    let stored = crate::store::transact(store, move |tx| {
        Box::pin(async move { tx.append_audit(event).await.map(|_| ()).map_err(CoreError::from) })
    })
    .await;
    if let Err(e) = stored {
        tracing::error!(error = %e, "could not audit an upstream integrity failure");
    }
}

/// The work behind a cache miss (see the module comment).
#[allow(clippy::too_many_arguments)]
async fn cache_while_streaming(
    store: std::sync::Arc<dyn Store>,
    blobs: std::sync::Arc<dyn BlobStore>,
    clock: std::sync::Arc<dyn Clock>,
    req: FileRequest,
    mut upstream: ByteStream,
    limit: u64,
    mut client: futures::channel::mpsc::Sender<Result<Bytes, io::Error>>,
) {
    let (mut to_blob, blob_rx) = futures::channel::mpsc::channel::<Result<Bytes, io::Error>>(2);
    let put = blobs.put(CACHE_PROJECT, blob_rx.boxed(), Put::limited(limit));
    let pump = async {
        let mut sha = haven_crypto::Sha256::new();
        let mut md5 = md5::Md5::new();
        let mut size: u64 = 0;
        let mut held: Option<Bytes> = None;
        let mut client_open = true;
        let mut failure: Option<String> = None;
        while let Some(chunk) = upstream.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    failure = Some(io_error(&e).to_string());
                    break;
                }
            };
            size += chunk.len() as u64;
            if size > limit || req.size.is_some_and(|s| size > s) {
                failure = Some(format!("the upstream sent more than the {} bytes expected", req.size.unwrap_or(limit)));
                break;
            }
            sha.update(&chunk);
            if matches!(req.expected, Expected::Md5(_)) {
                md5.update(&chunk);
            }
            if to_blob.send(Ok(chunk.clone())).await.is_err() {
                failure = Some("the blob store stopped accepting the file".into());
                break;
            }
            if let Some(previous) = held.replace(chunk)
                && client_open
                && client.send(Ok(previous)).await.is_err()
            {
                // The client went away; the file is still cached for the next one.
                client_open = false;
            }
        }
        let sha = hex_of(&sha.finish());
        if failure.is_none() {
            failure = match &req.expected {
                Expected::Sha256(want) if *want != sha => Some(format!("SHA-256 {sha}, the index says {want}")),
                Expected::Md5(want) => {
                    let got = hex_of(&md5.finalize());
                    (*want != got).then(|| format!("MD5 {got}, the index says {want}"))
                }
                _ => None,
            };
        }
        if failure.is_none() && req.size.is_some_and(|s| s != size) {
            failure = Some(format!("{size} bytes, the index says {}", req.size.unwrap_or_default()));
        }
        if failure.is_some() {
            // Make the blob store abandon the upload.
            let _ = to_blob.send(Err(io::Error::other("refused"))).await;
        }
        drop(to_blob);
        (failure, held, sha, size)
    };
    let ((failure, held, sha, size), put) = futures::future::join(pump, put).await;
    let outcome = match (failure, put) {
        (Some(why), put) => {
            if let Ok(meta) = put {
                let _ = blobs.delete(&meta).await;
            }
            Err(why)
        }
        (None, Err(e)) => Err(format!("the file could not be cached: {e}")),
        (None, Ok(meta)) => {
            let file = CachedFile {
                ecosystem: req.ecosystem,
                path: req.path.clone(),
                object_id: meta.id.clone(),
                sha256: sha.clone(),
                size: i64::try_from(size).unwrap_or(i64::MAX),
                fetched_us: to_micros(clock.now()),
            };
            let event = NewAuditEvent::new(clock.now(), actor::HAVEN, action::PACKAGE_CACHED)
                .target(&format!("{}:{}", req.ecosystem.as_str(), req.path))
                .details(json!({"sha256": sha, "size": size, "url": shown_url(&req.upstream_url)}));
            let object = meta.clone();
            let stored = crate::store::transact(store.as_ref(), move |tx| {
                Box::pin(async move {
                    tx.insert_object(&object).await?;
                    let fresh = tx.insert_cached_package_file(&file).await?;
                    if fresh {
                        tx.append_audit(event).await?;
                    } else {
                        tx.delete_object(&object.id).await?;
                    }
                    Ok::<_, CoreError>(fresh)
                })
            })
            .await;
            match stored {
                Ok(true) => Ok(()),
                Ok(false) => {
                    let _ = blobs.delete(&meta).await;
                    Ok(())
                }
                Err(e) => {
                    let _ = blobs.delete(&meta).await;
                    // Verified but not cached: the client may still have it.
                    tracing::error!(error = %e, path = %req.path, "a verified package file could not be recorded");
                    Ok(())
                }
            }
        }
    };
    match outcome {
        Ok(()) => {
            if let Some(last) = held {
                let _ = client.send(Ok(last)).await;
            }
        }
        Err(why) => {
            audit_integrity(store.as_ref(), clock.as_ref(), &req, &why).await;
            let message = format!(
                "Haven refused {}: the upstream's file does not match its index ({why}). Nothing was installed from it; the service desk has been told.",
                req.path
            );
            let _ = client.send(Err(io::Error::other(message))).await;
        }
    }
}
