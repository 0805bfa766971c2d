//! The sealed blob store over S3, against a real S3-compatible server (`moto_server`, started by
//! scripts/test; HAVEN_TEST_S3_ENDPOINT names it). Skipped without it, except under CI=true.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use haven_core::blobs::{BlobStore, Put};
use haven_core::keyring::KeyRing;
use haven_core::{Clock, Store};
use haven_crypto::SystemRng;
use haven_crypto::keys::Key256;
use haven_store::blobs::{BlobLocation, S3Options, SealedBlobStore};
use haven_testkit::FakeClock;

fn endpoint() -> Option<String> {
    match std::env::var("HAVEN_TEST_S3_ENDPOINT") {
        Ok(e) if !e.is_empty() => Some(e),
        _ if haven_testkit::strict() => {
            panic!("HAVEN_TEST_S3_ENDPOINT is not set, and CI=true forbids skipping the S3 test")
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_objects_round_trip_through_s3_multipart() {
    let Some(endpoint) = endpoint() else {
        eprintln!("skipped: HAVEN_TEST_S3_ENDPOINT is not set");
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bucket = format!("haven-test-{}", std::process::id());
    // moto creates a bucket on an unsigned PUT.
    let created = reqwest::Client::new().put(format!("{endpoint}/{bucket}")).send().await.unwrap();
    assert!(created.status().is_success(), "create bucket: {}", created.status());

    let db = haven_testkit::db::sqlite().await;
    let store: Arc<dyn Store> = Arc::new(db.store.clone());
    let clock: Arc<dyn Clock> = Arc::new(FakeClock::new());
    let rng = Arc::new(SystemRng::new());
    let keys = Arc::new(KeyRing::new(Key256::generate(rng.as_ref()).unwrap(), store, clock.clone(), rng));
    let location = BlobLocation::S3(S3Options {
        bucket: bucket.clone(),
        prefix: "haven/blobs".into(),
        region: "us-east-1".into(),
        endpoint: Some(endpoint.clone()),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
        allow_http: true,
    });
    let blobs = SealedBlobStore::open(&location, keys, clock).unwrap();
    blobs.ping().await.unwrap();

    // 11 MiB: three multipart parts of 5 MiB.
    let data: Vec<u8> = (0..11 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
        data.chunks(100_003).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
    let meta = blobs.put("proj", futures::stream::iter(chunks).boxed(), Put::unlimited()).await.unwrap();
    assert_eq!(meta.size as usize, data.len());

    // What S3 holds is ciphertext.
    let raw =
        reqwest::get(format!("{endpoint}/{bucket}/haven/blobs/objects/{}/{}", &meta.id[..2], meta.id)).await.unwrap();
    assert_eq!(raw.status(), 200);
    let stored = raw.bytes().await.unwrap();
    assert!(stored.starts_with(b"HVNOBJ1\0"));
    assert!(!stored.windows(64).any(|w| w == &data[4096..4160]));

    let back: Vec<bytes::Bytes> = blobs.get(&meta).await.unwrap().try_collect().await.unwrap();
    assert_eq!(back.concat(), data);

    blobs.delete(&meta).await.unwrap();
    assert!(matches!(blobs.get(&meta).await, Err(haven_core::blobs::BlobError::NotFound)));
}
