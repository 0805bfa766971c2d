//! The package repository's upstream port: https (reqwest) and local `file:///` directories laid
//! out as the ecosystem's own repository.
//!
//! An upstream's pages name the URLs Haven fetches next, so those URLs are hostile input:
//! `file:` URLs are read only inside a configured `file:///` root; http(s) requests never reach
//! a private, loopback or link-local address unless the operator configured that host as an
//! upstream (names are checked when resolved, redirects when followed, and a redirect may not
//! leave https).

use std::net::{IpAddr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use haven_core::blobs::ByteStream;
use haven_core::packages::ports::{Fetched, Upstream, UpstreamError};
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use time::PrimitiveDateTime;
use time::macros::format_description;

/// Addresses a package upstream may be at, unless configured by name.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || o[0] >= 240
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (18..20).contains(&o[1])))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            // 6to4 carries an IPv4 address in its second and third segments.
            if s[0] == 0x2002 {
                let [a, b] = s[1].to_be_bytes();
                let [c, d] = s[2].to_be_bytes();
                return is_public(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // IPv4-compatible (deprecated) addresses, ::a.b.c.d
                || s[..6].iter().all(|x| *x == 0)
                // SIIT, ::ffff:0:a.b.c.d
                || (s[..4].iter().all(|x| *x == 0) && s[4] == 0xffff && s[5] == 0)
                // site-local (deprecated) fec0::/10, and Teredo 2001::/32 (tunnels to any IPv4)
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] == 0x2001 && s[1] == 0)
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x64 && s[1] == 0xff9b))
        }
    }
}

/// Resolves names, dropping non-public addresses for every host but the configured ones.
struct GuardedResolver {
    trusted_hosts: Arc<Vec<String>>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let trusted = self.trusted_hosts.contains(&host);
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = addrs.into_iter().filter(|a| trusted || is_public(a.ip())).collect();
            if allowed.is_empty() {
                return Err(
                    format!("{host} resolves only to private addresses, which Haven does not fetch from").into()
                );
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

pub struct UpstreamFetcher {
    client: reqwest::Client,
    /// Configured `file:///` roots (canonical).
    file_roots: Vec<PathBuf>,
    trusted_hosts: Arc<Vec<String>>,
    timeout: Duration,
}

/// `url` without user name and password, for errors clients and logs see.
fn shown(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.to_string()
}

/// An error with its causes (reqwest puts the reason for a refused redirect or connection there).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

fn failed(e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Failed(e.to_string())
}

fn as_io(e: UpstreamError) -> std::io::Error {
    std::io::Error::other(e)
}

/// Fail the stream once more than `limit` bytes have passed.
fn limited(body: ByteStream, limit: u64) -> ByteStream {
    let mut seen: u64 = 0;
    body.and_then(move |chunk| {
        seen += chunk.len() as u64;
        let over = seen > limit;
        async move { if over { Err(as_io(UpstreamError::TooLarge { limit })) } else { Ok(chunk) } }
    })
    .boxed()
}

fn http_date_us(value: &str) -> Option<i64> {
    let format =
        format_description!("[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT");
    let at = PrimitiveDateTime::parse(value.trim(), format).ok()?.assume_utc();
    i64::try_from(at.unix_timestamp_nanos() / 1000).ok()
}

fn mtime_us(meta: &std::fs::Metadata) -> Option<i64> {
    let t = meta.modified().ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_micros()).ok()
}

impl UpstreamFetcher {
    /// `upstreams`: the configured upstream URLs (their hosts may be private; their `file:///`
    /// directories are the only ones read). `timeout`: for an answer, and between body chunks.
    pub fn new(upstreams: &[String], timeout: Duration) -> Result<Self, String> {
        let mut file_roots = Vec::new();
        let mut trusted = Vec::new();
        for u in upstreams {
            let url = Url::parse(u).map_err(|e| format!("{u:?} is not a URL: {e}"))?;
            match url.scheme() {
                "file" => {
                    let path = url.to_file_path().map_err(|_| format!("{u:?} is not a local directory"))?;
                    // A root that does not exist yet is kept as written (nothing inside can match).
                    file_roots.push(std::fs::canonicalize(&path).unwrap_or(path));
                }
                _ => {
                    if let Some(h) = url.host_str() {
                        trusted.push(h.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase());
                    }
                }
            }
        }
        let trusted_hosts = Arc::new(trusted);
        let redirect_hosts = trusted_hosts.clone();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                return attempt.error("more than 5 redirects");
            }
            let url = attempt.url();
            let from_https = attempt.previous().last().is_some_and(|u| u.scheme() == "https");
            if from_https && url.scheme() != "https" {
                return attempt.error("a redirect from https to another scheme");
            }
            let host = url.host_str().unwrap_or("").trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
            if let Ok(ip) = host.parse::<IpAddr>()
                && !is_public(ip)
                && !redirect_hosts.contains(&host)
            {
                return attempt.error("a redirect to a private address");
            }
            attempt.follow()
        });
        // reqwest (built without a provider) needs the process's one; the binary installs ring,
        // and this makes sure of it for every other caller.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .user_agent(concat!("Haven/", env!("CARGO_PKG_VERSION"), " (package repository)"))
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .redirect(policy)
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { trusted_hosts: trusted_hosts.clone() }))
            .build()
            .map_err(|e| format!("the HTTP client could not be built: {e}"))?;
        Ok(UpstreamFetcher { client, file_roots, trusted_hosts, timeout })
    }

    /// A `file:` URL as a path inside a configured root, or a refusal.
    fn local_path(&self, url: &Url) -> Result<PathBuf, UpstreamError> {
        let path = url.to_file_path().map_err(|_| UpstreamError::Refused(format!("{url} is not a local path")))?;
        if path.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(UpstreamError::Refused(format!("{url} climbs out of its directory")));
        }
        let real = match std::fs::canonicalize(&path) {
            Ok(p) => p,
            Err(_) if self.file_roots.iter().any(|root| path.starts_with(root)) => {
                return Err(UpstreamError::NotFound(url.to_string()));
            }
            Err(_) => path,
        };
        if !self.file_roots.iter().any(|root| real.starts_with(root)) {
            return Err(UpstreamError::Refused(format!("{url} is outside the configured upstream directories")));
        }
        Ok(real)
    }

    async fn get_file(&self, url: &Url, accept: &str, limit: u64) -> Result<Fetched, UpstreamError> {
        let mut path = self.local_path(url)?;
        let mut content_type = None;
        let meta = tokio::fs::metadata(&path).await.map_err(failed)?;
        if meta.is_dir() {
            let json = path.join("index.json");
            let html = path.join("index.html");
            if accept.contains("json") && tokio::fs::metadata(&json).await.is_ok() {
                path = json;
                content_type = Some("application/vnd.pypi.simple.v1+json".to_string());
            } else if tokio::fs::metadata(&html).await.is_ok() {
                path = html;
                content_type = Some("text/html".to_string());
            } else {
                return listing(&path, limit).await;
            }
        } else if path.extension().is_some_and(|e| e == "json") {
            content_type = Some("application/json".to_string());
        }
        let meta = tokio::fs::metadata(&path).await.map_err(failed)?;
        if meta.len() > limit {
            return Err(UpstreamError::TooLarge { limit });
        }
        let file = tokio::fs::File::open(&path).await.map_err(failed)?;
        let body = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024).boxed();
        Ok(Fetched { body: limited(body, limit), length: Some(meta.len()), modified_us: mtime_us(&meta), content_type })
    }

    /// Before any connection: the scheme, and an address written as an IP literal (names are
    /// checked as they resolve, in [`GuardedResolver`]; redirects in the redirect policy).
    fn check_http(&self, url: &Url) -> Result<(), UpstreamError> {
        let host = url.host_str().unwrap_or("").to_ascii_lowercase();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let trusted = self.trusted_hosts.iter().any(|h| h == bare);
        if !trusted
            && let Ok(ip) = bare.parse::<IpAddr>()
            && !is_public(ip)
        {
            return Err(UpstreamError::Refused(format!(
                "{}: a private address, which Haven does not fetch from",
                shown(url)
            )));
        }
        match url.scheme() {
            "https" => Ok(()),
            "http" if trusted => Ok(()),
            s => Err(UpstreamError::Refused(format!("{}: the scheme {s} is not fetched", shown(url)))),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder, url: &Url) -> Result<reqwest::Response, UpstreamError> {
        let url = shown(url);
        let response = tokio::time::timeout(self.timeout, request.send())
            .await
            .map_err(|_| UpstreamError::Timeout(url.clone()))?
            .map_err(|e| {
                // reqwest's messages name the URL again; without the credentials, as `url`.
                let e = e.without_url();
                if e.is_timeout() {
                    UpstreamError::Timeout(url.clone())
                } else if e.is_redirect() {
                    UpstreamError::Refused(format!("{url}: {}", with_causes(&e)))
                } else {
                    UpstreamError::Failed(format!("{url}: {}", with_causes(&e)))
                }
            })?;
        match response.status().as_u16() {
            200..=299 => Ok(response),
            404 | 410 => Err(UpstreamError::NotFound(url)),
            code => Err(UpstreamError::Failed(format!("{url} answered {code}"))),
        }
    }
}

/// A directory without an index page, listed as links (like a web server's listing).
async fn listing(dir: &Path, limit: u64) -> Result<Fetched, UpstreamError> {
    let mut entries = tokio::fs::read_dir(dir).await.map_err(failed)?;
    let mut names = Vec::new();
    while let Some(e) = entries.next_entry().await.map_err(failed)? {
        if let Some(n) = e.file_name().to_str() {
            names.push(n.to_string());
        }
    }
    names.sort();
    let mut html = String::from("<html><body>\n");
    for n in names {
        let escaped = n.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;");
        html.push_str(&format!("<a href=\"{escaped}\">{escaped}</a>\n"));
        if html.len() as u64 > limit {
            return Err(UpstreamError::TooLarge { limit });
        }
    }
    html.push_str("</body></html>\n");
    let length = html.len() as u64;
    let body = futures::stream::once(async move { Ok(bytes::Bytes::from(html)) }).boxed();
    Ok(Fetched { body, length: Some(length), modified_us: None, content_type: Some("text/html".into()) })
}

#[async_trait]
impl Upstream for UpstreamFetcher {
    async fn get(&self, url: &str, accept: &str, limit: u64) -> Result<Fetched, UpstreamError> {
        let url = Url::parse(url).map_err(|e| UpstreamError::Refused(format!("{url:?} is not a URL: {e}")))?;
        if url.scheme() == "file" {
            return self.get_file(&url, accept, limit).await;
        }
        self.check_http(&url)?;
        let response = self.send(self.client.get(url.clone()).header("accept", accept), &url).await?;
        let length = response.content_length();
        if length.is_some_and(|n| n > limit) {
            return Err(UpstreamError::TooLarge { limit });
        }
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let content_type = header("content-type");
        let modified_us = header("last-modified").as_deref().and_then(http_date_us);
        let body = response.bytes_stream().map_err(|e| {
            if e.is_timeout() {
                as_io(UpstreamError::Timeout("the body stalled".into()))
            } else {
                std::io::Error::other(e)
            }
        });
        Ok(Fetched { body: limited(body.boxed(), limit), length, modified_us, content_type })
    }

    async fn modified(&self, url: &str) -> Result<Option<i64>, UpstreamError> {
        let url = Url::parse(url).map_err(|e| UpstreamError::Refused(format!("{url:?} is not a URL: {e}")))?;
        if url.scheme() == "file" {
            let path = self.local_path(&url)?;
            let meta = tokio::fs::metadata(&path).await.map_err(failed)?;
            return Ok(mtime_us(&meta));
        }
        self.check_http(&url)?;
        let response = self.send(self.client.head(url.clone()), &url).await?;
        Ok(response.headers().get("last-modified").and_then(|v| v.to_str().ok()).and_then(http_date_us))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "::ffff:0:127.0.0.1",
            "fec0::1",
            "2001:0:4136:e378::1",
            "2002:c0a8:0101::1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["151.101.0.223", "8.8.8.8", "2a04:4e42::223"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn http_dates() {
        assert_eq!(http_date_us("Wed, 21 Oct 2015 07:28:00 GMT"), Some(1_445_412_480_000_000));
        assert_eq!(http_date_us("yesterday"), None);
    }

    /// A one-shot HTTP server answering every request with a redirect to `to`.
    async fn redirecting_server(to: &'static str) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                let answer =
                    format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        port
    }

    #[tokio::test]
    async fn redirects_never_reach_private_addresses() {
        for (to, want_refused) in [("http://169.254.169.254/latest/meta-data", true), ("http://10.1.2.3/x", true)] {
            let port = redirecting_server(to).await;
            let base = format!("http://127.0.0.1:{port}/");
            let up = UpstreamFetcher::new(std::slice::from_ref(&base), Duration::from_secs(5)).unwrap();
            let got = up.get(&format!("{base}simple/x/"), "*/*", 1000).await;
            assert!(
                matches!(got, Err(UpstreamError::Refused(ref m)) if m.contains("private")) == want_refused,
                "{to}: {:?}",
                got.err()
            );
        }
        // A name that resolves to loopback is not followed either (only the configured host may be private).
        let port = redirecting_server("http://localhost/x").await;
        let base = format!("http://127.0.0.1:{port}/");
        let up = UpstreamFetcher::new(std::slice::from_ref(&base), Duration::from_secs(5)).unwrap();
        let got = up.get(&format!("{base}a"), "*/*", 1000).await;
        assert!(matches!(got, Err(UpstreamError::Failed(ref m)) if m.contains("private")), "{:?}", got.err());
    }

    /// An upstream page may name IP literals: private, loopback and link-local ones are refused
    /// before any connection is made (a listener on loopback sees nothing).
    #[tokio::test]
    async fn private_ip_literals_are_never_connected_to() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = accepted.clone();
        tokio::spawn(async move {
            while listener.accept().await.is_ok() {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let base = format!("file://{}/", dir.path().display());
        let up = UpstreamFetcher::new(std::slice::from_ref(&base), Duration::from_secs(5)).unwrap();
        for url in [
            format!("https://127.0.0.1:{port}/x.whl"),
            format!("https://127.1:{port}/x.whl"),
            format!("https://2130706433:{port}/x.whl"),
            format!("https://[::ffff:127.0.0.1]:{port}/x.whl"),
            format!("https://[::1]:{port}/x.whl"),
            format!("https://[::127.0.0.1]:{port}/x.whl"),
            format!("https://[2002:7f00:1::]:{port}/x.whl"),
            "https://10.1.2.3/x.whl".into(),
            "https://169.254.169.254/latest/meta-data".into(),
            "https://[fe80::1]/x".into(),
        ] {
            let got = up.get(&url, "*/*", 1000).await;
            assert!(
                matches!(got, Err(UpstreamError::Refused(ref m)) if m.contains("private")),
                "{url}: {:?}",
                got.err()
            );
            assert!(matches!(up.modified(&url).await, Err(UpstreamError::Refused(_))), "{url}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0, "no connection reached the listener");
    }

    #[tokio::test]
    async fn file_urls_stay_inside_their_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(root.join("simple/a")).unwrap();
        std::fs::write(root.join("simple/a/index.html"), "<a href='x'>x</a>").unwrap();
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("link")).unwrap();
        let base = format!("file://{}/", root.display());
        let up = UpstreamFetcher::new(std::slice::from_ref(&base), Duration::from_secs(5)).unwrap();
        let ok = up.get(&format!("{base}simple/a/"), "text/html", 1000).await.unwrap();
        assert_eq!(ok.content_type.as_deref(), Some("text/html"));
        for bad in [
            format!("file://{}/secret", dir.path().display()),
            format!("{base}link"),
            format!("{base}simple/../../secret"),
            "file:///etc/passwd".to_string(),
        ] {
            assert!(matches!(up.get(&bad, "*/*", 1000).await, Err(UpstreamError::Refused(_))), "{bad}");
        }
        assert!(matches!(up.get(&format!("{base}nothing"), "*/*", 1000).await, Err(UpstreamError::NotFound(_))));
        assert!(matches!(up.get(&format!("{base}simple/a/"), "*/*", 5).await, Err(UpstreamError::TooLarge { .. })));
        assert!(matches!(up.get("http://10.0.0.1/x", "*/*", 5).await, Err(UpstreamError::Refused(_))));
        assert!(matches!(up.get("ftp://example.org/x", "*/*", 5).await, Err(UpstreamError::Refused(_))));
    }
}
