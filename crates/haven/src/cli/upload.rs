//! `haven upload`: send files into Haven with the tus protocol, as a member (a read-write
//! personal API token in `HAVEN_TOKEN`) or as a provider holding only a drop-off link.
//!
//! Each file is sent in one PATCH (or requests of `--request-mib`), streamed from disk, with a
//! progress bar. A connection that breaks is resumed from the offset Haven acknowledged; an
//! interrupted run resumes when run again with the same file, because the upload's id is kept in
//! a state file (keyed by a hash of the endpoint, path, size and modification time: no link
//! secret or token is written to disk). The SHA-256 of what was read is compared with the one
//! Haven computed of what it stored, and the signed receipt is saved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use futures::StreamExt;
use haven_crypto::Sha256;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use zeroize::Zeroizing;

#[derive(Args, Debug)]
pub struct Upload {
    /// The files to send.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The asset to send into, as its IAO, an IAA or a data manager (with --url and HAVEN_TOKEN).
    #[arg(long, conflicts_with = "link", required_unless_present = "link")]
    asset: Option<String>,
    /// Haven's address, with --asset (such as https://haven.example.ac.uk).
    #[arg(long, env = "HAVEN_URL")]
    url: Option<String>,
    /// A drop-off link you were sent (https://…/transfer/drop/…). The link is a secret: other
    /// users of a shared machine can see a command line, so prefer HAVEN_LINK.
    #[arg(long, env = "HAVEN_LINK", hide_env_values = true)]
    link: Option<String>,
    /// A file holding the link's password, if it has one.
    #[arg(long, requires = "link")]
    password_file: Option<PathBuf>,
    /// Trust this CA certificate (PEM) for Haven's HTTPS, instead of the system's.
    #[arg(long)]
    cacert: Option<PathBuf>,
    /// Where to save the receipts (one JSON file per upload).
    #[arg(long, default_value = ".")]
    receipts: PathBuf,
    /// Send at most this many MiB per request (0: the rest of the file in one).
    #[arg(long, default_value_t = 0)]
    request_mib: u64,
}

/// Where files go and the headers that open the door.
struct Target {
    endpoint: String,
    headers: HeaderMap,
    asset: Option<String>,
}

const TUS: (&str, &str) = ("tus-resumable", "1.0.0");
const RETRIES: u32 = 8;
const READ: usize = 1 << 20;

impl Upload {
    pub async fn run(self) -> Result<i32> {
        let target = match self.target() {
            Ok(t) => t,
            Err(m) => {
                eprintln!("haven: {m}");
                return Ok(2);
            }
        };
        let client = self.client()?;
        let mut state = State::load();
        let mut failed = 0;
        for file in &self.files {
            match self.send(&client, &target, file, &mut state).await {
                Ok(()) => {}
                Err(e) => {
                    eprintln!("haven: {}: {e:#}", file.display());
                    failed += 1;
                }
            }
        }
        if failed > 0 {
            eprintln!("haven: {failed} of {} file(s) not sent; run the same command again to resume", self.files.len());
            return Ok(1);
        }
        Ok(0)
    }

    fn target(&self) -> Result<Target, String> {
        let mut headers = HeaderMap::new();
        headers.insert(TUS.0, HeaderValue::from_static(TUS.1));
        if let Some(link) = &self.link {
            let link = link.trim().trim_end_matches('/');
            if !link.starts_with("https://") || !link.contains("/transfer/drop/") {
                return Err("--link takes the whole link you were sent: https://HOST/transfer/drop/…".into());
            }
            if let Some(file) = &self.password_file {
                let text =
                    Zeroizing::new(std::fs::read_to_string(file).map_err(|e| format!("read {}: {e}", file.display()))?);
                let mut value = HeaderValue::from_str(text.trim_end_matches(['\r', '\n']))
                    .map_err(|_| "the password file holds characters a header cannot carry".to_string())?;
                value.set_sensitive(true);
                headers.insert("haven-link-password", value);
            }
            return Ok(Target { endpoint: format!("{link}/uploads/"), headers, asset: None });
        }
        let url = self.url.as_deref().ok_or("give Haven's address with --url (or HAVEN_URL)")?;
        let url = url.trim_end_matches('/');
        if !url.starts_with("https://") {
            return Err("--url must start with https://".into());
        }
        let token = Zeroizing::new(std::env::var("HAVEN_TOKEN").map_err(|_| {
            format!("set HAVEN_TOKEN to a read-write personal API token (make one at {url}/security/api-tokens)")
        })?);
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.as_str()))
            .map_err(|_| "HAVEN_TOKEN holds characters a header cannot carry".to_string())?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
        Ok(Target { endpoint: format!("{url}/transfer/uploads/"), headers, asset: self.asset.clone() })
    }

    fn client(&self) -> Result<Client> {
        // HTTP/1.1: an upload is one long body per request, which HTTP/2's flow control only
        // slows (measured on loopback: 5 % faster and 13 % less client CPU without it).
        let mut builder = Client::builder()
            .http1_only()
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(120))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = &self.cacert {
            let pem = std::fs::read(ca).with_context(|| format!("read {}", ca.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .with_context(|| format!("{} is not a PEM certificate", ca.display()))?;
            builder = builder.tls_certs_only([cert]);
        }
        builder.build().context("make the HTTPS client")
    }

    async fn send(&self, client: &Client, target: &Target, path: &Path, state: &mut State) -> Result<()> {
        let meta = std::fs::metadata(path).with_context(|| format!("read {}", path.display()))?;
        if !meta.is_file() {
            bail!("not a file");
        }
        let size = meta.len();
        let key = state_key(&target.endpoint, path, &meta)?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let bar = bar(size, &name);

        // Resume an upload this machine started, if Haven still has it.
        let mut upload = None;
        if let Some(id) = state.get(&key) {
            let url = format!("{}{id}", target.endpoint);
            let head = client.head(&url).headers(target.headers.clone()).send().await.map_err(quiet)?;
            match (head.status(), offset_of(&head), length_of(&head)) {
                (StatusCode::OK, Some(offset), Some(length)) if length == size && offset <= size => {
                    say(&bar, format!("{name}: resuming at byte {offset}"));
                    upload = Some((url, offset));
                }
                _ => state.forget(&key),
            }
        }
        let (url, mut offset) = match upload {
            Some(u) => u,
            None => {
                let url = self.create(client, target, &name, size).await?;
                state.put(&key, url.rsplit('/').next().unwrap_or_default());
                (url, 0)
            }
        };

        let mut attempt = 0;
        // The SHA-256 of the bytes before `offset`, when it is known without reading them again.
        let mut carried: Option<Sha256> = None;
        let stored = loop {
            let hash = match carried.take() {
                Some(h) => h,
                None => {
                    let mut h = Sha256::new();
                    hash_prefix(path, offset, &mut h).await?;
                    h
                }
            };
            bar.set_position(offset);
            match self.patch(client, target, &url, path, offset, size, hash, &bar).await {
                Ok(Patched::Done { sha256, local }) => break (sha256, local),
                Ok(Patched::At(n, hash)) => {
                    offset = n;
                    carried = hash;
                    attempt = 0;
                }
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::Retry(e)) if attempt < RETRIES => {
                    attempt += 1;
                    let wait = Duration::from_secs(1 << attempt.min(5));
                    say(&bar, format!("{name}: {e:#}; resuming in {}s", wait.as_secs()));
                    tokio::time::sleep(wait).await;
                    match client.head(&url).headers(target.headers.clone()).send().await {
                        Ok(r) if r.status() == StatusCode::OK => offset = offset_of(&r).unwrap_or(offset),
                        Ok(r) => return Err(refusal(r).await),
                        Err(_) => {}
                    }
                }
                Err(Failure::Retry(e)) => return Err(e.context("gave up after repeated failures")),
            }
        };
        let (theirs, ours) = stored;
        bar.finish_and_clear();
        state.forget(&key);
        if !theirs.eq_ignore_ascii_case(&ours) {
            bail!(
                "Haven stored SHA-256 {theirs}, but the file read here has {ours}: it changed while it was sent; send it again"
            );
        }
        let receipt = self.save_receipt(client, target, &url).await;
        say!("{name}: {size} bytes sent; SHA-256 {ours} matches what Haven stored.");
        match receipt {
            Ok(path) => say!("  receipt: {}", path.display()),
            Err(e) => say!("  (the receipt could not be saved: {e:#})"),
        }
        Ok(())
    }

    async fn create(&self, client: &Client, target: &Target, name: &str, size: u64) -> Result<String> {
        let mut metadata = format!("filename {}", STANDARD.encode(name));
        if let Some(asset) = &target.asset {
            metadata.push_str(&format!(",asset {}", STANDARD.encode(asset)));
        }
        let r = client
            .post(&target.endpoint)
            .headers(target.headers.clone())
            .header("upload-length", size)
            .header("upload-metadata", metadata)
            .send()
            .await
            .map_err(quiet)?;
        if r.status() != StatusCode::CREATED {
            return Err(refusal(r).await);
        }
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| anyhow!("Haven gave no Location"))?;
        let base = reqwest::Url::parse(&target.endpoint)?;
        let url = base.join(location)?;
        // The token or link password goes with every request to it: it must be Haven itself.
        if url.origin() != base.origin() || !url.as_str().starts_with(target.endpoint.as_str()) {
            bail!(
                "Haven answered with an upload address elsewhere ({}); nothing was sent",
                url.origin().ascii_serialization()
            );
        }
        Ok(url.to_string())
    }

    #[allow(clippy::too_many_arguments)]
    async fn patch(
        &self,
        client: &Client,
        target: &Target,
        url: &str,
        path: &Path,
        offset: u64,
        size: u64,
        hash: Sha256,
        bar: &ProgressBar,
    ) -> Result<Patched, Failure> {
        let mut file = tokio::fs::File::open(path).await.map_err(|e| Failure::Final(e.into()))?;
        file.seek(std::io::SeekFrom::Start(offset)).await.map_err(|e| Failure::Final(e.into()))?;
        let most = if self.request_mib == 0 { size - offset } else { (self.request_mib << 20).min(size - offset) };
        let hashed = std::sync::Arc::new(std::sync::Mutex::new(hash));
        let tally = hashed.clone();
        let progress = bar.clone();
        let body = tokio_util::io::ReaderStream::with_capacity(file.take(most), READ).inspect(move |chunk| {
            if let Ok(bytes) = chunk {
                tally.lock().unwrap_or_else(std::sync::PoisonError::into_inner).update(bytes);
                progress.inc(bytes.len() as u64);
            }
        });
        let sent = client
            .patch(url)
            .headers(target.headers.clone())
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset)
            .header(reqwest::header::CONTENT_LENGTH, most)
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await;
        let r = match sent {
            Ok(r) => r,
            Err(e) => return Err(Failure::Retry(quiet(e).context("the connection broke"))),
        };
        match r.status() {
            StatusCode::NO_CONTENT => {}
            StatusCode::CONFLICT => {
                return offset_of(&r).map(|n| Patched::At(n, None)).ok_or(Failure::Retry(anyhow!("offset conflict")));
            }
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                return Err(Failure::Retry(refusal(r).await));
            }
            _ => return Err(Failure::Final(refusal(r).await)),
        }
        let now = offset_of(&r).ok_or_else(|| Failure::Final(anyhow!("Haven gave no Upload-Offset")))?;
        let ours =
            std::mem::replace(&mut *hashed.lock().unwrap_or_else(std::sync::PoisonError::into_inner), Sha256::new());
        if now < size {
            // Every byte read was stored: the hash carries on from there without reading again.
            return Ok(Patched::At(now, (now == offset + most).then_some(ours)));
        }
        let theirs = header(&r, "haven-upload-sha256").unwrap_or_default();
        Ok(Patched::Done { sha256: theirs, local: hex::encode(ours.finish()) })
    }

    async fn save_receipt(&self, client: &Client, target: &Target, url: &str) -> Result<PathBuf> {
        let r = client.get(format!("{url}/receipt")).headers(target.headers.clone()).send().await.map_err(quiet)?;
        if r.status() != StatusCode::OK {
            return Err(refusal(r).await);
        }
        let text = r.text().await.map_err(quiet)?;
        let id = url.rsplit('/').next().unwrap_or("upload");
        std::fs::create_dir_all(&self.receipts).with_context(|| format!("make {}", self.receipts.display()))?;
        let path = self.receipts.join(format!("haven-receipt-{id}.json"));
        std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
        Ok(path)
    }
}

enum Patched {
    /// The offset Haven acknowledged, more to send; the hash up to it, if this request covered
    /// exactly that.
    At(u64, Option<Sha256>),
    /// Every byte stored: Haven's SHA-256 of them, and ours of what was read.
    Done { sha256: String, local: String },
}

enum Failure {
    Retry(anyhow::Error),
    Final(anyhow::Error),
}

fn header(r: &Response, name: &str) -> Option<String> {
    r.headers().get(HeaderName::from_bytes(name.as_bytes()).ok()?).and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn offset_of(r: &Response) -> Option<u64> {
    header(r, "upload-offset")?.parse().ok()
}

fn length_of(r: &Response) -> Option<u64> {
    header(r, "upload-length")?.parse().ok()
}

/// A client error without its URL, which holds a drop-off link's secret.
fn quiet(e: reqwest::Error) -> anyhow::Error {
    anyhow!("{}", e.without_url())
}

/// Haven's refusal as an error: its status and the message it wrote for people.
async fn refusal(r: Response) -> anyhow::Error {
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    anyhow!("Haven answered {status}: {}", text.trim())
}

/// Hash the first `n` bytes of the file (what Haven has already) into `hash`.
async fn hash_prefix(path: &Path, n: u64, hash: &mut Sha256) -> Result<()> {
    let file = tokio::fs::File::open(path).await?;
    let mut stream = tokio_util::io::ReaderStream::with_capacity(file.take(n), READ);
    while let Some(chunk) = stream.next().await {
        hash.update(&chunk?);
    }
    Ok(())
}

/// A line for the person, above the bar (also when there is no terminal and so no bar).
fn say(bar: &ProgressBar, line: String) {
    bar.suspend(|| eprintln!("{line}"));
}

fn bar(size: u64, name: &str) -> ProgressBar {
    let bar = ProgressBar::new(size);
    let style = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}, {eta} left")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(name.to_string());
    bar
}

/// What identifies one file's upload to one endpoint, without writing either down.
fn state_key(endpoint: &str, path: &Path, meta: &std::fs::Metadata) -> Result<String> {
    let full = std::fs::canonicalize(path)?;
    let modified = meta.modified().ok().and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok()).unwrap_or_default();
    let text = format!("{endpoint}\n{}\n{}\n{}", full.display(), meta.len(), modified.as_nanos());
    Ok(hex::encode(haven_crypto::sha256(text.as_bytes())))
}

/// Upload ids of unfinished uploads, by [`state_key`], in the user's state directory.
struct State {
    path: Option<PathBuf>,
    ids: BTreeMap<String, String>,
}

impl State {
    fn load() -> State {
        let dir = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")));
        let path = dir.map(|d| d.join("haven/uploads.json"));
        let ids = path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        State { path, ids }
    }

    fn get(&self, key: &str) -> Option<String> {
        self.ids.get(key).cloned()
    }

    fn put(&mut self, key: &str, id: &str) {
        self.ids.insert(key.to_string(), id.to_string());
        self.save();
    }

    fn forget(&mut self, key: &str) {
        if self.ids.remove(key).is_some() {
            self.save();
        }
    }

    /// Written whole to a temporary file and renamed: a crash leaves the old state or the new.
    fn save(&self) {
        let Some(path) = &self.path else { return };
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, serde_json::to_vec(&self.ids).unwrap_or_default())?;
            std::fs::rename(tmp, path)
        };
        if let Err(e) = write() {
            eprintln!("haven: could not record the upload for resuming ({e}); it still goes on");
        }
    }
}
