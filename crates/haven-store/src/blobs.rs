//! The sealed blob store: [`BlobStore`] over any object_store backend (a local directory by
//! default, S3-compatible storage by configuration). Data is sealed segment by segment on its way
//! in and opened segment by segment on its way out, so memory stays flat whatever the size: one
//! segment plus the upload's part buffer. A local store's blobs are written past the page cache
//! ([`crate::direct`]); everything else goes through object_store.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use haven_core::blobs::{BlobError, BlobStore, ByteStream, ObjectMeta, Put, StoredBlob, is_object_id};
use haven_core::keyring::KeyRing;
use haven_core::{Clock, to_micros};
use haven_crypto::object::{DEFAULT_SEGMENT, Opener, Sealer};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};

use crate::direct::DirectFile;

/// Upload part size (to S3): its minimum, and the bound on what one upload holds in memory per part.
const PART: usize = 5 * 1024 * 1024;
const CONCURRENT_PARTS: usize = 2;

/// Where blobs live, from `blobs.url` in the configuration.
pub enum BlobLocation {
    /// A local directory (created 0700 by the caller).
    Local(std::path::PathBuf),
    S3(S3Options),
}

pub struct S3Options {
    pub bucket: String,
    pub prefix: String,
    pub region: String,
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub allow_http: bool,
}

fn open_backend(location: &BlobLocation) -> Result<Arc<dyn ObjectStore>, BlobError> {
    let backend = |e: object_store::Error| BlobError::Backend(e.to_string());
    match location {
        BlobLocation::Local(dir) => {
            Ok(Arc::new(LocalFileSystem::new_with_prefix(dir).map_err(backend)?.with_fsync(true)))
        }
        BlobLocation::S3(o) => {
            let mut b = object_store::aws::AmazonS3Builder::new()
                .with_bucket_name(&o.bucket)
                .with_region(&o.region)
                .with_allow_http(o.allow_http);
            if let Some(e) = &o.endpoint {
                b = b.with_endpoint(e);
            }
            if let Some(k) = &o.access_key_id {
                b = b.with_access_key_id(k);
            }
            if let Some(s) = &o.secret_access_key {
                b = b.with_secret_access_key(s);
            }
            let s3 = b.build().map_err(backend)?;
            if o.prefix.is_empty() {
                Ok(Arc::new(s3))
            } else {
                Ok(Arc::new(object_store::prefix::PrefixStore::new(s3, o.prefix.as_str())))
            }
        }
    }
}

pub struct SealedBlobStore {
    backend: Arc<dyn ObjectStore>,
    /// The directory of a local store, written through [`DirectFile`].
    local: Option<std::path::PathBuf>,
    keys: Arc<KeyRing>,
    clock: Arc<dyn Clock>,
    segment: usize,
}

/// Where a blob's sealed bytes go as they are made.
enum Sink {
    Local(DirectFile),
    Remote { writer: WriteMultipart, sealed: Vec<u8>, segment: usize },
}

impl Sink {
    fn buf(&mut self) -> &mut Vec<u8> {
        match self {
            Sink::Local(f) => f.buf(),
            Sink::Remote { sealed, .. } => sealed,
        }
    }

    /// Sends on what is ready, waiting while the writes behind are busy.
    async fn ship_full(&mut self) -> Result<(), BlobError> {
        match self {
            Sink::Local(f) => f.ship_full().await.map_err(io_err),
            Sink::Remote { writer, sealed, segment } => {
                if sealed.len() >= *segment {
                    // Hand the buffer over (no copy), and give the sealer the next one whole
                    // (grown segment by segment, it would be reallocated and copied).
                    let full = std::mem::replace(sealed, Vec::with_capacity(*segment * 2));
                    writer.put(Bytes::from(full));
                    writer.wait_for_capacity(CONCURRENT_PARTS).await.map_err(backend_err)?;
                }
                Ok(())
            }
        }
    }

    async fn finish(self) -> Result<(), BlobError> {
        match self {
            Sink::Local(f) => f.finish().await.map_err(io_err),
            Sink::Remote { mut writer, sealed, .. } => {
                writer.put(Bytes::from(sealed));
                writer.finish().await.map_err(backend_err).map(|_| ())
            }
        }
    }

    async fn abort(self) {
        match self {
            Sink::Local(f) => f.abort().await,
            Sink::Remote { writer, .. } => {
                let _ = writer.abort().await;
            }
        }
    }
}

fn io_err(e: std::io::Error) -> BlobError {
    BlobError::Backend(e.to_string())
}

fn path_of(id: &str) -> Path {
    Path::from(format!("objects/{}/{}", &id[..2], id))
}

fn backend_err(e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::NotFound,
        other => BlobError::Backend(other.to_string()),
    }
}

fn crypto_err(_: haven_crypto::CryptoError) -> BlobError {
    BlobError::Integrity
}

impl SealedBlobStore {
    pub fn open(location: &BlobLocation, keys: Arc<KeyRing>, clock: Arc<dyn Clock>) -> Result<Self, BlobError> {
        let local = match location {
            BlobLocation::Local(dir) => Some(dir.clone()),
            BlobLocation::S3(_) => None,
        };
        Ok(SealedBlobStore { backend: open_backend(location)?, local, keys, clock, segment: DEFAULT_SEGMENT })
    }

    /// The object_store underneath (for tests that look at what is stored).
    pub fn backend(&self) -> Arc<dyn ObjectStore> {
        self.backend.clone()
    }

    async fn sink(&self, id: &str) -> Result<Sink, BlobError> {
        Ok(match &self.local {
            Some(dir) => Sink::Local(DirectFile::create(dir, id, path_of(id).as_ref()).await.map_err(io_err)?),
            None => {
                let upload = self.backend.put_multipart(&path_of(id)).await.map_err(backend_err)?;
                Sink::Remote {
                    writer: WriteMultipart::new_with_chunk_size(upload, PART),
                    sealed: Vec::with_capacity(self.segment * 2),
                    segment: self.segment,
                }
            }
        })
    }

    async fn upload(
        &self,
        id: &str,
        mut sealer: Sealer,
        header: &[u8],
        mut data: ByteStream,
        how: Put,
    ) -> Result<(i64, Option<[u8; 32]>), BlobError> {
        let mut sink = self.sink(id).await?;
        let mut digest = how.hash.then(haven_crypto::Sha256::new);
        let mut size: u64 = 0;
        sink.buf().extend_from_slice(header);
        let outcome: Result<(), BlobError> = async {
            while let Some(chunk) = data.next().await {
                let chunk = chunk.map_err(|e| BlobError::Input(e.to_string()))?;
                size += chunk.len() as u64;
                if let Some(limit) = how.limit
                    && size > limit
                {
                    return Err(BlobError::TooLarge { limit });
                }
                if let Some(d) = digest.as_mut() {
                    d.update(&chunk);
                }
                // A segment at a time, so the sink's buffer never grows far past a write.
                for piece in chunk.chunks(self.segment) {
                    sealer.update(piece, sink.buf()).map_err(crypto_err)?;
                    sink.ship_full().await?;
                }
            }
            sealer.finish(sink.buf()).map_err(crypto_err)
        }
        .await;
        match outcome {
            Ok(()) => {
                sink.finish().await?;
                let size = i64::try_from(size).map_err(|_| BlobError::TooLarge { limit: i64::MAX as u64 })?;
                Ok((size, digest.map(|d| d.finish())))
            }
            Err(e) => {
                sink.abort().await;
                Err(e)
            }
        }
    }
}

#[async_trait]
impl BlobStore for SealedBlobStore {
    async fn put(&self, project: &str, data: ByteStream, how: Put) -> Result<ObjectMeta, BlobError> {
        let (key_version, project_key) = self.keys.project_key(project).await?;
        let raw_id: [u8; 16] =
            haven_crypto::rng::random_array(self.keys.rng()).map_err(|e| BlobError::Backend(e.to_string()))?;
        let id = hex::encode(raw_id);
        let (object_key, wrapped_key) = self.keys.new_object_key(&project_key, &id)?;
        let (sealer, header) = Sealer::new(&object_key, &raw_id, self.segment).map_err(crypto_err)?;
        let (size, sha256) = self.upload(&id, sealer, &header, data, how).await?;
        Ok(ObjectMeta {
            id,
            project: project.to_string(),
            key_version,
            wrapped_key,
            size,
            sha256: sha256.map(hex::encode).unwrap_or_default(),
            created_us: to_micros(self.clock.now()),
        })
    }

    async fn get(&self, meta: &ObjectMeta) -> Result<ByteStream, BlobError> {
        if !is_object_id(&meta.id) {
            return Err(BlobError::NotFound);
        }
        let raw_id: [u8; 16] = hex::decode(&meta.id).ok().and_then(|v| v.try_into().ok()).ok_or(BlobError::NotFound)?;
        let project_key = self.keys.project_key_version(&meta.project, meta.key_version).await?;
        let object_key = self.keys.open_object_key(&project_key, &meta.id, &meta.wrapped_key)?;
        let opener = Opener::new(&object_key, &raw_id).map_err(crypto_err)?;
        let sealed = self.backend.get(&path_of(&meta.id)).await.map_err(backend_err)?.into_stream();
        let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidData, "the object failed its integrity check");
        let stream = futures::stream::try_unfold((sealed, Some(opener)), move |(mut sealed, mut opener)| async move {
            loop {
                let Some(o) = opener.as_mut() else {
                    return Ok(None);
                };
                let mut plain = Vec::new();
                match sealed.next().await {
                    Some(chunk) => {
                        let chunk = chunk.map_err(std::io::Error::other)?;
                        o.update(&chunk, &mut plain).map_err(|_| invalid())?;
                    }
                    None => {
                        let last = opener.take().ok_or_else(invalid)?;
                        last.finish(&mut plain).map_err(|_| invalid())?;
                    }
                }
                if !plain.is_empty() || opener.is_none() {
                    return Ok(Some((Bytes::from(plain), (sealed, opener))));
                }
            }
        });
        Ok(stream.try_filter(|b| futures::future::ready(!b.is_empty())).boxed())
    }

    async fn delete(&self, meta: &ObjectMeta) -> Result<(), BlobError> {
        if !is_object_id(&meta.id) {
            return Err(BlobError::NotFound);
        }
        match self.backend.delete(&path_of(&meta.id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend_err(e)),
        }
    }

    async fn list(&self) -> Result<futures::stream::BoxStream<'static, Result<StoredBlob, BlobError>>, BlobError> {
        let mut listed = self.backend.list(Some(&Path::from("objects")));
        if self.local.is_some() {
            // Blobs still being written, or left half-written: by their age, the sweep tells.
            listed = listed.chain(self.backend.list(Some(&Path::from("staging")))).boxed();
        }
        // Only names that are object ids: a backend's own files are not objects, and are left to it.
        let objects = listed.map_err(backend_err).try_filter_map(|o| async move {
            let id = o.location.filename().unwrap_or_default().to_string();
            let modified_us = o.last_modified.timestamp_micros();
            let partial = o.location.prefix_matches(&Path::from("staging"));
            Ok(is_object_id(&id).then_some(StoredBlob { id, modified_us, partial }))
        });
        Ok(objects.boxed())
    }

    async fn delete_partial(&self, id: &str) -> Result<(), BlobError> {
        let Some(dir) = &self.local else { return Ok(()) };
        if !is_object_id(id) {
            return Err(BlobError::NotFound);
        }
        match tokio::fs::remove_file(dir.join("staging").join(id)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(e)),
            _ => Ok(()),
        }
    }

    async fn ping(&self) -> Result<(), BlobError> {
        match self.backend.head(&Path::from("haven-ready")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend_err(e)),
        }
    }
}
