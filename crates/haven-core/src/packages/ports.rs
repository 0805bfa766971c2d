//! What the package repository needs from the world: an upstream to fetch index files and
//! artifacts from (https or a local directory), with limits the adapter enforces.

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use thiserror::Error;

use crate::blobs::ByteStream;

pub struct Fetched {
    pub body: ByteStream,
    /// Content-Length (or file size), when known.
    pub length: Option<u64>,
    /// Last-Modified (or file modification time), microseconds since the epoch.
    pub modified_us: Option<i64>,
    /// The media type the upstream declared (`index.json` ⇒ JSON for directories).
    pub content_type: Option<String>,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum UpstreamError {
    #[error("the upstream has no {0}")]
    NotFound(String),
    #[error("the upstream's answer is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the upstream did not answer in time ({0})")]
    Timeout(String),
    /// Not fetched on purpose: a redirect to a private address, a scheme we do not follow…
    #[error("refused to fetch: {0}")]
    Refused(String),
    #[error("the upstream failed: {0}")]
    Failed(String),
}

#[async_trait]
pub trait Upstream: Send + Sync {
    /// GET `url`, preferring `accept`. The body stream fails with an error once more than
    /// `limit` bytes arrive or when it stalls past the adapter's timeout.
    async fn get(&self, url: &str, accept: &str, limit: u64) -> Result<Fetched, UpstreamError>;
    /// When `url` was last modified upstream (HEAD, or a file's mtime); None when not said.
    async fn modified(&self, url: &str) -> Result<Option<i64>, UpstreamError>;
}

/// Fetch a whole (small) file into memory, for index files, refusing more than `limit` bytes.
pub async fn fetch_all(
    up: &dyn Upstream,
    url: &str,
    accept: &str,
    limit: u64,
) -> Result<(Bytes, Fetched), UpstreamError> {
    let mut fetched = up.get(url, accept, limit).await?;
    if fetched.length.is_some_and(|n| n > limit) {
        return Err(UpstreamError::TooLarge { limit });
    }
    let mut body = std::mem::replace(&mut fetched.body, futures::stream::empty().boxed());
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| io_error(&e))?;
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(UpstreamError::TooLarge { limit });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok((buf.freeze(), fetched))
}

/// The adapter reports limit and stall errors through the byte stream as `io::Error`s whose
/// inner error is an [`UpstreamError`]; recover it.
pub fn io_error(e: &std::io::Error) -> UpstreamError {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<UpstreamError>())
        .cloned()
        .unwrap_or_else(|| UpstreamError::Failed(e.to_string()))
}
