//! A release's download: a zip (stored, not compressed) of the pinned bytes under `files/`, with
//! `manifest.json` and its signature `manifest.sig`. Streamed: a task reads each sealed copy
//! (verified segment by segment), hashes it and writes it into the zip, whose bytes flow through
//! a bounded pipe into the response. A file whose bytes are not those pinned stops the download
//! with an error (the zip is left without its end, so no reader takes it as whole) and is
//! audited. A client that goes away closes the pipe, which stops the task.

use async_zip::base::write::ZipFileWriter;
use async_zip::{Compression, ZipEntryBuilder};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::{AsyncWriteExt, StreamExt};
use haven_core::egress::Egress;
use haven_core::egress::release::{Download, FILES_DIR, MANIFEST_FILE, SIGNATURE_FILE};
use tokio::io::DuplexStream;

use crate::session::Signed;
use crate::{AppState, WebError};

/// Bytes buffered between the zip writer and the response.
const PIPE: usize = 256 * 1024;

/// Why a zip stopped before its end.
enum Stop {
    /// The client went away (or the pipe broke): nothing to report.
    Gone(String),
    /// A file's bytes were not those pinned, or its sealed copy failed to open: audited.
    Integrity(String),
}

/// Write the release's zip into `out`: the manifest, its signature, then each file as its
/// sealed copy is read and hashed. An error (a client gone, a file not the one pinned) stops it
/// before the zip's end is written.
async fn write_zip(egress: &Egress, d: Download, out: DuplexStream) -> Result<(), Stop> {
    let gone = |e: async_zip::error::ZipError| Stop::Gone(e.to_string());
    let mut zip = ZipFileWriter::with_tokio(out);
    let signature = serde_json::to_vec_pretty(&d.signature).map_err(|e| Stop::Gone(e.to_string()))?;
    for (name, bytes) in [(MANIFEST_FILE, d.manifest.as_bytes()), (SIGNATURE_FILE, signature.as_slice())] {
        let entry = ZipEntryBuilder::new(name.to_string().into(), Compression::Stored);
        zip.write_entry_whole(entry, bytes).await.map_err(gone)?;
    }
    for (f, meta) in d.files {
        let entry = ZipEntryBuilder::new(format!("{FILES_DIR}{}", f.name).into(), Compression::Stored);
        let mut w = zip.write_entry_stream(entry).await.map_err(gone)?;
        let mut data = egress.open_pinned(&meta).await.map_err(|e| Stop::Integrity(format!("{}: {e}", f.name)))?;
        let mut hash = haven_crypto::Sha256::new();
        let mut n = 0u64;
        while let Some(chunk) = data.next().await {
            let chunk = chunk.map_err(|e| Stop::Integrity(format!("{}: {e}", f.name)))?;
            n += chunk.len() as u64;
            hash.update(&chunk);
            w.write_all(&chunk).await.map_err(|e| Stop::Gone(e.to_string()))?;
        }
        if n != f.bytes || hex::encode(hash.finish()) != f.sha256 {
            return Err(Stop::Integrity(format!("{}: its bytes are not those pinned", f.name)));
        }
        w.close().await.map_err(gone)?;
    }
    zip.close().await.map_err(gone)?;
    Ok(())
}

/// `GET /egress/download/{token}`: the author, signed in fully, uses the link once.
pub(super) async fn download(
    State(state): State<AppState>,
    Signed(who): Signed,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let d: Download = state.egress.take_download(&who, &token).await?;
    let name = format!("attachment; filename=\"haven-release-{}.zip\"", d.request);
    let (writer, reader) = tokio::io::duplex(PIPE);
    let (failed, failure) = tokio::sync::oneshot::channel::<std::io::Error>();
    let egress = state.egress.clone();
    tokio::spawn(async move {
        let (request, asset) = (d.request.clone(), d.asset.clone());
        // A file that is not the one pinned is audited, and its download must not look whole.
        match write_zip(&egress, d, writer).await {
            Ok(()) => {}
            Err(Stop::Gone(why)) => {
                let _ = failed.send(std::io::Error::other(why));
            }
            Err(Stop::Integrity(why)) => {
                egress.integrity_failed(&request, &asset, &why).await;
                let _ = failed.send(std::io::Error::other(why));
            }
        }
    });
    let tail = futures::stream::once(failure).filter_map(|r| async move { r.ok().map(Err) });
    let stream = tokio_util::io::ReaderStream::with_capacity(reader, 64 * 1024).chain(tail);
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    if let Ok(v) = HeaderValue::from_str(&name) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
