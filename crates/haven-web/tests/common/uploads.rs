//! What the transfer tests share: an asset with its IAO and an outsider, each with API tokens;
//! tus requests through the router; drop-off links; the bytes stored for an upload.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support

use axum::body::Body;
use axum::http::{HeaderMap, Request, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::StreamExt;
use haven_core::accounts::Role;
use haven_core::caller::Caller;
use haven_core::transfer::links::NewLink;
use haven_core::transfer::uploads::TransferConfig;
use haven_testkit::callers::signed_in;
use haven_testkit::db::TestDb;
use tower::ServiceExt;

use super::TestApp as App;

pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
    }
}

pub fn config() -> TransferConfig {
    TransferConfig {
        max_upload_bytes: 8 << 20,
        part_bytes: 64 << 10,
        expiry_hours: 24,
        max_parts: 1000,
        idle_timeout_secs: 1,
        ..TransferConfig::default()
    }
}

pub use haven_testkit::transfer::{World, world_from};

pub async fn world(db: TestDb) -> World {
    world_from(App::builder().db(db).transfer(config()).s3_with_postgres()).await
}

pub async fn send(
    app: &App,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Body,
) -> Answer {
    let mut r = Request::builder().method(method).uri(path).header(header::HOST, "haven.example");
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let response = haven_web::router(app.state.clone()).oneshot(r.body(body).unwrap()).await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    Answer { status, headers, text: String::from_utf8_lossy(&bytes).into_owned() }
}

pub const V: (&str, &str) = ("tus-resumable", "1.0.0");
pub const OCTETS: (&str, &str) = ("content-type", "application/offset+octet-stream");

pub fn metadata(asset: &str, name: &str) -> String {
    format!("asset {},filename {}", STANDARD.encode(asset), STANDARD.encode(name))
}

pub async fn create(app: &App, token: &str, length: usize, name: &str) -> Answer {
    let meta = metadata("heart", name);
    let length = length.to_string();
    send(
        app,
        "POST",
        "/transfer/uploads/",
        Some(token),
        &[V, ("upload-length", &length), ("upload-metadata", &meta)],
        Body::empty(),
    )
    .await
}

pub async fn patch(app: &App, token: &str, at: &str, offset: usize, bytes: &[u8], extra: &[(&str, &str)]) -> Answer {
    let offset = offset.to_string();
    let mut headers = vec![V, OCTETS, ("upload-offset", offset.as_str())];
    headers.extend_from_slice(extra);
    send(app, "PATCH", at, Some(token), &headers, Body::from(bytes.to_vec())).await
}

pub async fn head(app: &App, token: &str, at: &str) -> Answer {
    send(app, "HEAD", at, Some(token), &[V], Body::empty()).await
}

pub fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(haven_crypto::sha256(data))
}

pub fn sha1_b64(data: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, data);
    STANDARD.encode(digest.as_ref())
}

pub async fn stored_bytes(app: &App, id: &str) -> Vec<u8> {
    let id = id.to_string();
    let parts = haven_core::read(app.store.as_ref(), move |tx| {
        Box::pin(async move { Ok::<_, haven_core::CoreError>(tx.upload_parts(&id).await?) })
    })
    .await
    .unwrap();
    let mut out = Vec::new();
    for meta in parts {
        let mut s = app.blobs.get(&meta).await.unwrap();
        while let Some(chunk) = s.next().await {
            out.extend_from_slice(&chunk.unwrap());
        }
    }
    out
}

/// Run a client to the end (off the runtime's threads, which serve it meanwhile); its stdout.
pub async fn run(name: &str, mut command: std::process::Command) -> String {
    let out = tokio::task::spawn_blocking(move || command.output()).await.unwrap().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{name} failed:\n{stdout}\n{stderr}");
    format!("{stdout}{stderr}")
}

pub fn client_script(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients").join(name)
}

pub fn owen_now(app: &App) -> Caller {
    signed_in("owen", &[Role::Staff], app.state.governance.now_us())
}

pub async fn link(app: &App, new: NewLink) -> String {
    let (secret, _) = app.state.transfer.create_link(&owen_now(app), new).await.unwrap();
    format!("/transfer/drop/{}/uploads/", secret.as_str())
}

pub async fn drop_create(app: &App, endpoint: &str, length: &str, extra: &[(&str, &str)]) -> Answer {
    let meta = format!("filename {}", STANDARD.encode("results.csv"));
    let mut headers = vec![V, ("upload-length", length), ("upload-metadata", meta.as_str())];
    headers.extend_from_slice(extra);
    send(app, "POST", endpoint, None, &headers, Body::empty()).await
}

pub async fn drop_patch(app: &App, at: &str, offset: usize, bytes: &[u8], extra: &[(&str, &str)]) -> Answer {
    let offset = offset.to_string();
    let mut headers = vec![V, OCTETS, ("upload-offset", offset.as_str())];
    headers.extend_from_slice(extra);
    send(app, "PATCH", at, None, &headers, Body::from(bytes.to_vec())).await
}

pub async fn audit_actions(app: &App) -> Vec<String> {
    use futures::TryStreamExt;
    app.store.audit_events(1, i64::MIN).map_ok(|e| e.action).try_collect().await.unwrap()
}

pub fn base64_of(text: &str) -> String {
    STANDARD.encode(text)
}

/// A PATCH whose body is `body` (a stream the test controls), sent in a task of its own: its
/// status when it ends. `token`: a member's; None through a drop-off link (in `path`).
pub fn spawn_patch(
    app: &App,
    path: &str,
    token: Option<&str>,
    body: impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static,
) -> tokio::task::JoinHandle<u16> {
    let mut r = Request::builder()
        .method("PATCH")
        .uri(path)
        .header(header::HOST, "haven.example")
        .header("tus-resumable", "1.0.0")
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", "0");
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let request = r.body(Body::from_stream(body)).unwrap();
    let state = app.state.clone();
    tokio::spawn(async move { haven_web::router(state).oneshot(request).await.unwrap().status().as_u16() })
}

/// Five bytes, then five more once `release` is sent: a body that is still streaming.
pub fn held_body() -> (
    futures::channel::oneshot::Sender<()>,
    impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static,
) {
    let (release, held) = futures::channel::oneshot::channel::<()>();
    let body =
        futures::stream::iter(vec![Ok(bytes::Bytes::from_static(b"12345"))]).chain(futures::stream::once(async move {
            let _ = held.await;
            Ok(bytes::Bytes::from_static(b"67890"))
        }));
    (release, body)
}
