//! The package repository through the real router, in process, with a fake clock and `file://`
//! upstreams written by the test: content negotiation, the policy (allowlist, deny rules with
//! versions, cooldown and its waiver, size), verified and cached downloads, hostile upstreams
//! and paths, CRAN and conda indexes, and repository tokens.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::StreamExt;
use haven_core::caller::Caller;
use haven_core::identity::records::AccountStatus;
use haven_crypto::sha256;
use haven_packages::policy::{Ecosystem, RuleKind};
use haven_testkit::db::TestDb;
use haven_testkit::upstream::{DAY, NOW, Upstream, WheelSpec, iso, wheel};
use tower::ServiceExt;

mod common;

use common::TestApp as App;
use common::browser::{full_sign_in, onboard};

async fn app(db: TestDb, up: &Upstream, anonymous: bool) -> App {
    App::builder().db(db).packages(up.config(anonymous)).build().await
}

struct Got {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Got {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

async fn get_with(app: &App, path: &str, headers: &[(&str, &str)]) -> Got {
    let mut r = Request::get(path);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let response = haven_web::router(app.state.clone()).oneshot(r.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024).await.unwrap().to_vec();
    Got { status, headers, body }
}

async fn get(app: &App, path: &str) -> Got {
    get_with(app, path, &[("accept", "application/vnd.pypi.simple.v1+json")]).await
}

async fn allow(app: &App, eco: Ecosystem, name: &str, spec: Option<&str>, skip_cooldown: bool) {
    app.state
        .packages
        .add_rule(&Caller::console(), eco, RuleKind::Allow, name, spec, skip_cooldown, "test")
        .await
        .unwrap();
}

async fn deny(app: &App, eco: Ecosystem, name: &str, spec: Option<&str>) {
    app.state.packages.add_rule(&Caller::console(), eco, RuleKind::Deny, name, spec, false, "known bad").await.unwrap();
}

/// `id` signed in fully, both factors proven just now (by the app's clock).
fn full(app: &App, id: &str, roles: Vec<haven_core::accounts::Role>) -> Caller {
    haven_testkit::callers::signed_in(id, &roles, haven_core::to_micros(haven_core::Clock::now(app.clock.as_ref())))
}

fn filenames(page: &serde_json::Value) -> Vec<String> {
    page["files"].as_array().unwrap().iter().map(|f| f["filename"].as_str().unwrap().to_string()).collect()
}

async fn audit_actions(app: &App) -> Vec<(String, String)> {
    app.store.audit_events(0, 0).map(|e| e.unwrap()).map(|e| (e.action, e.details.to_string())).collect().await
}

#[tokio::test]
async fn pypi_pages_follow_the_policy_and_the_accept_header() {
    let up = Upstream::new();
    up.pypi(
        "demo-pkg",
        &[
            WheelSpec { yanked: Some("bad build"), ..wheel("demo-pkg", "demo_pkg-1.0-py3-none-any.whl", b"one", 40) },
            wheel("demo-pkg", "demo_pkg-1.1-py3-none-any.whl", b"one.one", 30),
            wheel("demo-pkg", "demo_pkg-2.0-py3-none-any.whl", b"two", 2),
            wheel("demo-pkg", "demo_pkg-3.0-py3-none-any.whl", b"three", 0),
        ],
    );
    let app = app(haven_testkit::db::sqlite().await, &up, true).await;

    // Nobody asked for it: 403 with the reason and where to ask.
    let r = get(&app, "/pypi/simple/demo-pkg/").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("demo-pkg is not on the allowlist"), "{}", r.text());
    assert!(r.text().contains("https://haven.example/packages/requests/new?ecosystem=pypi&name=demo-pkg"));
    assert!(r.headers["content-type"].to_str().unwrap().starts_with("text/plain"));

    allow(&app, Ecosystem::Pypi, "Demo.Pkg", None, false).await;
    let r = get(&app, "/pypi/simple/demo-pkg/").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers["content-type"], "application/vnd.pypi.simple.v1+json");
    assert_eq!(r.headers["vary"], "Accept");
    let page = r.json();
    // 2.0 and 3.0 are inside the 7-day cooldown.
    assert_eq!(filenames(&page), ["demo_pkg-1.0-py3-none-any.whl", "demo_pkg-1.1-py3-none-any.whl"]);
    assert_eq!(page["versions"], serde_json::json!(["1.0", "1.1"]));
    let first = &page["files"][0];
    assert_eq!(first["yanked"], "bad build");
    assert_eq!(first["size"], 3);
    assert_eq!(first["upload-time"], iso(NOW - 40 * DAY));
    assert_eq!(first["url"], "../../files/demo-pkg/demo_pkg-1.0-py3-none-any.whl");
    assert!(first["core-metadata"]["sha256"].is_string());

    // The same files as PEP 503 HTML for pip's HTML-only ancestors; 406 when nothing fits.
    let html = get_with(&app, "/pypi/simple/demo-pkg/", &[("accept", "text/html")]).await;
    assert_eq!(html.headers["content-type"], "text/html");
    let text = html.text();
    assert!(text.contains(&format!("#sha256={}", hex::encode(sha256(b"one.one")))), "{text}");
    assert!(text.contains("data-yanked=\"bad build\"") && text.contains("data-core-metadata=\"sha256="));
    assert!(!text.contains("demo_pkg-2.0"));
    let r = get_with(&app, "/pypi/simple/demo-pkg/", &[("accept", "application/xml")]).await;
    assert_eq!(r.status, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(r.headers["vary"], "Accept");

    // Other spellings redirect to the normalised name.
    let r = get(&app, "/pypi/simple/Demo_Pkg/").await;
    assert_eq!(r.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(r.headers["location"], "/pypi/simple/demo-pkg/");
    let r = get(&app, "/pypi/simple/demo-pkg").await;
    assert_eq!(r.headers["location"], "/pypi/simple/demo-pkg/");

    // The refused file itself: 403 naming the cooldown.
    let r = get(&app, "/pypi/files/demo-pkg/demo_pkg-2.0-py3-none-any.whl").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("uploaded 2 day(s) ago; the cooldown is 7 days"), "{}", r.text());

    // 2.0's cooldown ends five days from now: a second before, it is still refused; a second
    // after, it is served (a page filtered a moment ago is not served past a cooldown's end).
    app.clock.advance(time::Duration::days(5) - time::Duration::seconds(1));
    assert_eq!(filenames(&get(&app, "/pypi/simple/demo-pkg/").await.json()).len(), 2);
    app.clock.advance(time::Duration::seconds(2));
    assert_eq!(filenames(&get(&app, "/pypi/simple/demo-pkg/").await.json()).len(), 3);
    // Six days later 2.0 has aged, 3.0 (six days old) not yet; a waiver lets 3.x through.
    app.clock.advance(time::Duration::days(1) - time::Duration::seconds(1));
    assert_eq!(filenames(&get(&app, "/pypi/simple/demo-pkg/").await.json()).len(), 3);
    allow(&app, Ecosystem::Pypi, "demo-pkg", Some(">=3"), true).await;
    assert_eq!(filenames(&get(&app, "/pypi/simple/demo-pkg/").await.json()).len(), 4);

    // A deny rule on one version wins over the allow rules, and is named in the refusal.
    deny(&app, Ecosystem::Pypi, "demo-pkg", Some("==1.1")).await;
    let names = filenames(&get(&app, "/pypi/simple/demo-pkg/").await.json());
    assert!(!names.contains(&"demo_pkg-1.1-py3-none-any.whl".to_string()), "{names:?}");
    let r = get(&app, "/pypi/files/demo-pkg/demo_pkg-1.1-py3-none-any.whl").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("`deny demo-pkg ==1.1`"), "{}", r.text());

    // The index lists the allowed names only.
    let r = get(&app, "/pypi/simple/").await;
    assert_eq!(r.json()["projects"], serde_json::json!([{"name": "demo-pkg"}]));
}

/// A filtered page is kept and served again (not decided per request) while the policy, the
/// upstream page and the time allow: a new rule, and a minute passing, each give a page decided
/// anew.
#[tokio::test]
async fn a_filtered_page_is_reused_until_the_policy_or_the_time_changes() {
    let up = Upstream::new();
    up.pypi(
        "kept",
        &[
            wheel("kept", "kept-1.0-py3-none-any.whl", b"one", 40),
            wheel("kept", "kept-2.0-py3-none-any.whl", b"two", 30),
        ],
    );
    let app = app(haven_testkit::db::sqlite().await, &up, true).await;
    allow(&app, Ecosystem::Pypi, "kept", None, false).await;
    let reader = Caller::anonymous("192.0.2.9", "pip");
    let served = || app.state.packages.pypi_project(&reader, "kept");
    // The policy is kept in memory once this node trusts its change counters (a moment).
    let mut reused = false;
    for _ in 0..100 {
        let (first, second) = (served().await.unwrap(), served().await.unwrap());
        if std::sync::Arc::ptr_eq(&first, &second) {
            reused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(reused, "the same filtered page is served again");
    let before = served().await.unwrap();
    assert_eq!(before.page.files.len(), 2);

    deny(&app, Ecosystem::Pypi, "kept", Some("==2.0")).await;
    let denied = served().await.unwrap();
    assert_eq!(
        denied.page.files.iter().map(|f| f.filename.as_str()).collect::<Vec<_>>(),
        ["kept-1.0-py3-none-any.whl"]
    );
    let r = get(&app, "/pypi/files/kept/kept-2.0-py3-none-any.whl").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a denied file is not downloaded from a kept page");

    // A minute later the page is decided anew even though nothing else changed.
    let again = served().await.unwrap();
    app.clock.advance(time::Duration::seconds(61));
    assert!(!std::sync::Arc::ptr_eq(&again, &served().await.unwrap()), "decided anew after a minute");
}

#[tokio::test]
async fn downloads_are_verified_cached_and_audited() {
    let db = haven_testkit::db::sqlite().await;
    let up = Upstream::new();
    let big: Vec<u8> = (0..6 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    up.pypi(
        "good",
        &[
            wheel("good", "good-1.0-py3-none-any.whl", b"good bytes", 30),
            wheel("good", "good-2.0-py3-none-any.whl", &big, 30),
        ],
    );
    up.pypi(
        "bad",
        &[
            WheelSpec {
                declared: Some(hex::encode(sha256(b"other"))),
                ..wheel("bad", "bad-1.0-py3-none-any.whl", b"tampered", 30)
            },
            WheelSpec {
                declared: Some(hex::encode(sha256(b"other"))),
                ..wheel("bad", "bad-2.0-py3-none-any.whl", &big, 30)
            },
        ],
    );
    let app = app(db, &up, true).await;
    allow(&app, Ecosystem::Pypi, "good", None, false).await;
    allow(&app, Ecosystem::Pypi, "bad", None, false).await;

    let r = get(&app, "/pypi/files/good/good-1.0-py3-none-any.whl").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, b"good bytes");
    assert_eq!(r.headers["content-length"], "10");
    let r = get(&app, "/pypi/files/good/good-1.0-py3-none-any.whl.metadata").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().starts_with("Metadata-Version"));
    // Larger than the verify-first limit: streamed while cached.
    let r = get(&app, "/pypi/files/good/good-2.0-py3-none-any.whl").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body == big);

    // Served from the cache once the upstream is gone (and the page is still cached).
    std::fs::remove_file(up.root().join("pypi/good/good-1.0-py3-none-any.whl")).unwrap();
    let r = get(&app, "/pypi/files/good/good-1.0-py3-none-any.whl").await;
    assert_eq!((r.status, r.body.as_slice()), (StatusCode::OK, &b"good bytes"[..]));
    for _ in 0..50 {
        if audit_actions(&app).await.iter().filter(|(a, _)| a == "package.cached").count() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // A small file that does not match its index: 403 with the reason, before any byte.
    let r = get(&app, "/pypi/files/bad/bad-1.0-py3-none-any.whl").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("does not match its index"), "{}", r.text());
    // A large one: the answer started, but its last part never comes; the body fails.
    let response = haven_web::router(app.state.clone())
        .oneshot(Request::get("/pypi/files/bad/bad-2.0-py3-none-any.whl").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024).await.is_err());

    let events = audit_actions(&app).await;
    let count = |action: &str| events.iter().filter(|(a, _)| a == action).count();
    assert_eq!(count("package.cached"), 3, "{events:?}");
    assert_eq!(count("package.integrity_failed"), 2, "{events:?}");
    assert!(events.iter().any(|(a, d)| a == "package.download" && d.contains("\"cached\":true")));
    // Nothing of the refused files was kept: asking again fetches (and refuses) again.
    let r = get(&app, "/pypi/files/bad/bad-1.0-py3-none-any.whl").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        count("package.integrity_failed") + 1,
        audit_actions(&app).await.iter().filter(|(a, _)| a == "package.integrity_failed").count()
    );
}

#[tokio::test]
async fn hostile_upstreams_and_paths_are_refused() {
    let up = Upstream::new();
    std::fs::create_dir_all(up.root().join("pypi/broken")).unwrap();
    std::fs::write(up.root().join("pypi/broken/index.json"), "{\"meta\": {\"api-version\": \"1.0\"}, \"name\": ")
        .unwrap();
    std::fs::create_dir_all(up.root().join("pypi/escape")).unwrap();
    let page = serde_json::json!({"meta": {"api-version": "1.0"}, "name": "escape", "files": [
        {"filename": "escape-1.0-py3-none-any.whl", "url": "file:///etc/passwd", "hashes": {"sha256": "aa".repeat(32)},
         "upload-time": iso(NOW - 30 * DAY), "size": 10},
        {"filename": "escape-2.0-py3-none-any.whl", "url": "http://169.254.169.254/latest/meta-data", "hashes": {"sha256": "aa".repeat(32)},
         "upload-time": iso(NOW - 30 * DAY), "size": 10},
        {"filename": "escape-3.0-py3-none-any.whl", "url": "https://127.0.0.1:1/x.whl", "hashes": {"sha256": "aa".repeat(32)},
         "upload-time": iso(NOW - 30 * DAY), "size": 10},
        {"filename": "escape-4.0-py3-none-any.whl", "url": "https://[::1]:8443/x.whl", "hashes": {"sha256": "aa".repeat(32)},
         "upload-time": iso(NOW - 30 * DAY), "size": 10}]});
    std::fs::write(up.root().join("pypi/escape/index.json"), page.to_string()).unwrap();
    let huge = vec![b'x'; 3 * 1024 * 1024];
    up.pypi("huge", &[wheel("huge", "huge-1.0-py3-none-any.whl", &huge, 30)]);
    let mut config = up.config(true);
    config.pypi.max_file_mib = 2;
    let app = App::builder().packages(config).build().await;
    for name in ["broken", "escape", "huge"] {
        allow(&app, Ecosystem::Pypi, name, None, false).await;
    }

    let r = get(&app, "/pypi/simple/broken/").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert!(r.text().contains("The upstream's page for broken was refused"), "{}", r.text());
    // Refused targets (a path outside the root, a private address, loopback literals) all get
    // one generic answer: nothing tells a refused port from a closed one or a bad certificate.
    for file in [
        "escape-1.0-py3-none-any.whl",
        "escape-2.0-py3-none-any.whl",
        "escape-3.0-py3-none-any.whl",
        "escape-4.0-py3-none-any.whl",
    ] {
        let r = get(&app, &format!("/pypi/files/escape/{file}")).await;
        assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{file}: {}", r.text());
        assert_eq!(r.text().trim_end(), haven_web::packages::UPSTREAM_FAILED, "{file}");
    }
    let r = get(&app, "/pypi/files/huge/huge-1.0-py3-none-any.whl").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("more than the limit of 2097152"), "{}", r.text());

    for path in [
        "/pypi/files/escape/..%2F..%2Fetc%2Fpasswd",
        "/pypi/files/escape/%2e%2e",
        "/pypi/simple/..%2Fescape/",
        "/pypi/simple/%2Fetc%2Fpasswd/",
        "/cran/src/contrib/..%2FPACKAGES",
        "/cran/src/contrib/Archive/..%2F..%2Fetc/x.tar.gz",
        "/conda/haven-test/..%2Fnoarch/repodata.json",
        "/conda/..%2Fetc/noarch/repodata.json",
        "/conda/haven-test/noarch/..%2F..%2Fx-1-0.conda",
    ] {
        let r = get(&app, path).await;
        assert!(matches!(r.status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN), "{path}: {} {}", r.status, r.text());
    }
    let cached: Vec<_> = audit_actions(&app).await.into_iter().filter(|(a, _)| a == "package.cached").collect();
    assert!(cached.is_empty(), "{cached:?}");
}

#[tokio::test]
async fn cran_serves_packages_tarballs_and_the_archive() {
    let up = Upstream::new();
    let contrib = up.root().join("cran/src/contrib");
    std::fs::create_dir_all(contrib.join("Archive/pkgB")).unwrap();
    let a = b"pkgA source";
    let b = b"pkgB source";
    std::fs::write(contrib.join("pkgA_1.0.tar.gz"), a).unwrap();
    std::fs::write(contrib.join("pkgB_2.0.tar.gz"), b).unwrap();
    std::fs::write(contrib.join("pkgC_1.0.tar.gz"), b"new").unwrap();
    std::fs::write(contrib.join("Archive/pkgB/pkgB_1.0.tar.gz"), b"old pkgB").unwrap();
    let md5 = |d: &[u8]| {
        use md5::Digest as _;
        hex::encode(md5::Md5::digest(d))
    };
    let packages = format!(
        "Package: pkgA\nVersion: 1.0\nImports: pkgB (>= 1.0)\nMD5sum: {}\n\nPackage: pkgB\nVersion: 2.0\nMD5sum: {}\n\nPackage: pkgC\nVersion: 1.0\nMD5sum: {}\nDate/Publication: 2025-12-30 10:00:00 UTC\n\nPackage: pkgD\nVersion: 1.0\nMD5sum: 00000000000000000000000000000000\n",
        md5(a),
        md5(&b"not pkgB"[..]),
        md5(b"new")
    );
    std::fs::write(contrib.join("PACKAGES"), packages).unwrap();
    // File times say when each was published (the cooldown reads them).
    for f in ["pkgA_1.0.tar.gz", "pkgB_2.0.tar.gz", "Archive/pkgB/pkgB_1.0.tar.gz"] {
        let file = std::fs::File::options().write(true).open(contrib.join(f)).unwrap();
        file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs((NOW - 30 * DAY) as u64)).unwrap();
    }
    let app = app(haven_testkit::db::sqlite().await, &up, true).await;
    for p in ["pkgA", "pkgB", "pkgC", "pkgD"] {
        allow(&app, Ecosystem::Cran, p, None, false).await;
    }

    // pkgD is listed but its tarball is missing upstream: left out, the rest is served.
    let r = get(&app, "/cran/src/contrib/PACKAGES").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(!r.text().contains("pkgD"), "{}", r.text());
    let text = r.text();
    assert!(text.contains("Package: pkgA") && text.contains("Package: pkgB"), "{text}");
    assert!(!text.contains("pkgC"), "pkgC was published two days ago: {text}");
    let gz = get(&app, "/cran/src/contrib/PACKAGES.gz").await;
    let mut unzipped = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gz.body.as_slice()), &mut unzipped).unwrap();
    assert_eq!(unzipped, text);
    assert_eq!(get(&app, "/cran/src/contrib/PACKAGES.rds").await.status, StatusCode::NOT_FOUND);

    let r = get(&app, "/cran/src/contrib/pkgA_1.0.tar.gz").await;
    assert_eq!((r.status, r.body.as_slice()), (StatusCode::OK, &a[..]));
    // R does not check MD5sum; Haven does.
    let r = get(&app, "/cran/src/contrib/pkgB_2.0.tar.gz").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("MD5"), "{}", r.text());
    let r = get(&app, "/cran/src/contrib/pkgC_1.0.tar.gz").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("cooldown"), "{}", r.text());

    let r = get(&app, "/cran/src/contrib/Archive/pkgB/").await;
    assert!(r.text().contains("<a href=\"pkgB_1.0.tar.gz\">"), "{}", r.text());
    let r = get(&app, "/cran/src/contrib/Archive/pkgB/pkgB_1.0.tar.gz").await;
    assert_eq!((r.status, r.body.as_slice()), (StatusCode::OK, &b"old pkgB"[..]));
    assert_eq!(get(&app, "/cran/src/contrib/Archive/pkgB/pkgB_0.9.tar.gz").await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&app, "/cran/src/contrib/Archive/pkgA/").await.status, StatusCode::NOT_FOUND);
    // Meta/archive.rds (remotes::install_version) lists the allowed archived versions with their
    // upload times; R reads it in the end-to-end test.
    let archive_rds = || async {
        let r = get(&app, "/cran/src/contrib/Meta/archive.rds").await;
        assert_eq!(r.status, StatusCode::OK);
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(r.body.as_slice()), &mut raw).unwrap();
        assert_eq!(&raw[..2], b"X\n");
        raw
    };
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    let raw = archive_rds().await;
    assert!(contains(&raw, b"pkgB/pkgB_1.0.tar.gz") && !contains(&raw, b"pkgA"));
    assert!(contains(&raw, &((NOW - 30 * DAY) as f64).to_bits().to_be_bytes()), "the upload time");
    // A version rule applies to the archive too.
    deny(&app, Ecosystem::Cran, "pkgB", Some("< 2.0")).await;
    let r = get(&app, "/cran/src/contrib/Archive/pkgB/pkgB_1.0.tar.gz").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("`deny pkgB < 2.0`"), "{}", r.text());
    assert!(!contains(&archive_rds().await, b"pkgB_1.0"));
}

#[tokio::test]
async fn conda_repodata_is_filtered_and_noarch_always_answers() {
    let up = Upstream::new();
    let linux = up.root().join("conda/haven-test/linux-64");
    std::fs::create_dir_all(&linux).unwrap();
    let art = b"conda artifact";
    let ts = (NOW - 30 * DAY) * 1000;
    let record = |name: &str, sha: String| {
        serde_json::json!({"name": name, "version": "1.0", "build": "0", "build_number": 0, "depends": [],
            "sha256": sha, "size": art.len(), "timestamp": ts, "subdir": "linux-64"})
    };
    let repodata = serde_json::json!({"info": {"subdir": "linux-64"}, "packages": {
        "good-1.0-0.tar.bz2": record("good", hex::encode(sha256(art))),
        "other-1.0-0.tar.bz2": record("other", hex::encode(sha256(art))),
    }, "packages.conda": {}});
    std::fs::write(linux.join("repodata.json"), repodata.to_string()).unwrap();
    std::fs::write(linux.join("good-1.0-0.tar.bz2"), art).unwrap();
    let app = app(haven_testkit::db::sqlite().await, &up, true).await;
    allow(&app, Ecosystem::Conda, "good", None, false).await;

    let r = get(&app, "/conda/haven-test/linux-64/repodata.json").await;
    assert_eq!(r.status, StatusCode::OK);
    let json = r.json();
    assert!(json["packages"]["good-1.0-0.tar.bz2"].is_object());
    assert!(json["packages"].get("other-1.0-0.tar.bz2").is_none());
    let z = get(&app, "/conda/haven-test/linux-64/repodata.json.zst").await;
    assert_eq!(zstd::decode_all(z.body.as_slice()).unwrap(), r.body);
    // The upstream has no noarch: an empty one, never a 404.
    let r = get(&app, "/conda/haven-test/noarch/repodata.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["packages"], serde_json::json!({}));
    assert_eq!(get(&app, "/conda/haven-test/osx-arm64/repodata.json").await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&app, "/conda/haven-test/linux-64/current_repodata.json").await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&app, "/conda/conda-forge/noarch/repodata.json").await.status, StatusCode::NOT_FOUND);

    let r = get(&app, "/conda/haven-test/linux-64/good-1.0-0.tar.bz2").await;
    assert_eq!((r.status, r.body.as_slice()), (StatusCode::OK, &art[..]));
    let r = get(&app, "/conda/haven-test/linux-64/other-1.0-0.tar.bz2").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("other 1.0 is not on the allowlist"), "{}", r.text());
    assert!(r.text().contains("name=other"), "{}", r.text());
}

#[tokio::test]
async fn the_repository_needs_a_repository_token() {
    let up = Upstream::new();
    up.pypi("good", &[wheel("good", "good-1.0-py3-none-any.whl", b"good", 30)]);
    let app = app(haven_testkit::db::sqlite().await, &up, false).await;
    allow(&app, Ecosystem::Pypi, "good", None, false).await;
    for id in ["dora", "eve"] {
        app.state.identity.add_account(&Caller::console(), id, &format!("{id}@example.org"), false).await.unwrap();
    }
    let (secret, token) =
        app.state.packages.create_repo_token(&full(&app, "dora", vec![]), "dora", "laptop").await.unwrap();
    let basic = |user: &str, secret: &str| {
        use base64::Engine as _;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}")))
    };
    let get_as = |auth: Option<String>| {
        let app = &app;
        async move {
            let mut h = vec![("accept", "application/vnd.pypi.simple.v1+json".to_string())];
            if let Some(a) = auth {
                h.push(("authorization", a));
            }
            let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
            get_with(app, "/pypi/simple/good/", &h).await
        }
    };

    let r = get_as(None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers["www-authenticate"], "Basic realm=\"Haven packages\"");
    assert!(r.text().contains("repository token"), "{}", r.text());
    assert_eq!(get_as(Some(basic("dora", &secret))).await.status, StatusCode::OK);
    assert_eq!(get_as(Some(basic("eve", &secret))).await.status, StatusCode::UNAUTHORIZED, "another user's id");
    assert_eq!(get_as(Some(basic("dora", "x".repeat(43).as_str()))).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(get_as(Some("Bearer abc".into())).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(get_as(Some("Basic !!!".into())).await.status, StatusCode::UNAUTHORIZED);

    // A locked account's tokens stop working, and work again once it is unlocked.
    app.state.identity.set_account_status(&Caller::console(), "dora", AccountStatus::Locked).await.unwrap();
    assert_eq!(get_as(Some(basic("dora", &secret))).await.status, StatusCode::UNAUTHORIZED);
    app.state.identity.set_account_status(&Caller::console(), "dora", AccountStatus::Active).await.unwrap();
    assert_eq!(get_as(Some(basic("dora", &secret))).await.status, StatusCode::OK);

    // Downloads are audited as the token's owner; a revoked token is refused.
    let file =
        get_with(&app, "/pypi/files/good/good-1.0-py3-none-any.whl", &[("authorization", &basic("dora", &secret))])
            .await;
    assert_eq!(file.status, StatusCode::OK);
    let events: Vec<_> = app.store.audit_events(0, 0).map(|e| e.unwrap()).collect().await;
    assert!(events.iter().any(|e| e.action == "package.download" && e.actor == "dora"));
    assert!(events.iter().any(|e| e.action == "repo_token.created" && e.actor == "dora"));
    app.state.packages.revoke_repo_token(&full(&app, "dora", vec![]), &token.handle()).await.unwrap();
    assert_eq!(get_as(Some(basic("dora", &secret))).await.status, StatusCode::UNAUTHORIZED);

    // A year later a token has expired.
    let (secret, _) =
        app.state.packages.create_repo_token(&full(&app, "dora", vec![]), "dora", "desktop").await.unwrap();
    app.clock.advance(time::Duration::days(366));
    assert_eq!(get_as(Some(basic("dora", &secret))).await.status, StatusCode::UNAUTHORIZED);

    // Each refused credential is audited with the reason the client is not told.
    let events: Vec<_> = app.store.audit_events(0, 0).map(|e| e.unwrap()).collect().await;
    let reasons: Vec<String> = events
        .iter()
        .filter(|e| e.action == "repo_token.refused")
        .map(|e| serde_json::from_str::<serde_json::Value>(&e.details).unwrap()["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        reasons,
        ["another_users_token", "unknown_token", "account_not_active", "unknown_token", "expired"],
        "no header and a non-Basic header are not credentials; a malformed Basic header is not either"
    );
    assert!(events.iter().any(|e| e.action == "repo_token.refused" && e.target == "eve"));
    assert!(
        events.iter().any(|e| e.action == "repo_token.refused"
            && e.target == "eve"
            && e.details.contains("\"token_owner\":\"dora\"")),
        "another user's token: the audit names whose token it was"
    );

    // A client that keeps sending wrong credentials is turned away with 429 after MAX_FAILURES
    // in the window; that is audited once, and the trail does not grow any more.
    let mut statuses = vec![];
    for _ in 0..40 {
        statuses.push(get_as(Some(basic("mallory", &"y".repeat(43)))).await.status);
    }
    let refused = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    // Only the expired token's refusal is in the window (the others are a year old).
    assert_eq!(refused, 29, "{statuses:?}");
    assert!(statuses[refused..].iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS));
    let r = get_as(Some(basic("mallory", "z"))).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers["retry-after"], "900");
    assert!(r.text().contains("Too many wrong repository credentials"), "{}", r.text());
    let events: Vec<_> = app.store.audit_events(0, 0).map(|e| e.unwrap()).collect().await;
    assert_eq!(events.iter().filter(|e| e.action == "repo_token.refused").count(), reasons.len() + 29);
    assert_eq!(events.iter().filter(|e| e.action == "repo_token.rate_limited").count(), 1);
    // Right credentials still work from there (they are never guessed), and the window passes.
    let (secret, _) = app.state.packages.create_repo_token(&full(&app, "dora", vec![]), "dora", "again").await.unwrap();
    assert_eq!(get_as(Some(basic("dora", &secret))).await.status, StatusCode::OK);
    app.clock.advance(time::Duration::minutes(16));
    assert_eq!(get_as(Some(basic("mallory", "z"))).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn osv_advisories_refuse_versions_and_report_what_was_served() {
    let db = haven_testkit::db::sqlite().await;
    let up = Upstream::new();
    up.pypi(
        "lib",
        &[
            wheel("lib", "lib-1.0-py3-none-any.whl", b"lib one", 60),
            wheel("lib", "lib-1.1-py3-none-any.whl", b"lib one.one", 50),
            wheel("lib", "lib-2.0-py3-none-any.whl", b"lib two", 40),
        ],
    );
    let app = app(db, &up, true).await;
    allow(&app, Ecosystem::Pypi, "lib", None, false).await;
    assert_eq!(get(&app, "/pypi/files/lib/lib-1.0-py3-none-any.whl").await.status, StatusCode::OK);
    assert_eq!(get(&app, "/pypi/files/lib/lib-2.0-py3-none-any.whl").await.status, StatusCode::OK);

    let record = |id: &str, severity: &str, events: &str| {
        format!(
            r#"{{"id": "{id}", "summary": "{id} summary", "database_specific": {{"severity": "{severity}"}},
            "affected": [{{"package": {{"ecosystem": "PyPI", "name": "Lib"}}, "ranges": [{{"type": "ECOSYSTEM", "events": {events}}}]}}]}}"#
        )
        .into_bytes()
    };
    let files = vec![
        ("GHSA-1.json".to_string(), record("GHSA-1", "HIGH", r#"[{"introduced": "0"}, {"fixed": "1.1"}]"#)),
        ("GHSA-2.json".to_string(), record("GHSA-2", "LOW", r#"[{"introduced": "2.0"}]"#)),
        (
            "npm.json".to_string(),
            br#"{"id": "GHSA-3", "affected": [{"package": {"ecosystem": "npm", "name": "x"}, "versions": ["1"]}]}"#
                .to_vec(),
        ),
        ("bad.json".to_string(), b"{not json".to_vec()),
    ];
    let report = app.state.packages.import_osv(&Caller::console(), files).await.unwrap();
    assert_eq!((report.imported, report.ignored, report.malformed.len()), (2, 1, 1), "{report:?}");
    assert_eq!(report.newly_refused, ["pypi lib/lib-1.0-py3-none-any.whl: high vulnerability GHSA-1"]);

    let page = get(&app, "/pypi/simple/lib/").await.json();
    assert_eq!(
        filenames(&page),
        ["lib-1.1-py3-none-any.whl", "lib-2.0-py3-none-any.whl"],
        "low is under the threshold"
    );
    let r = get(&app, "/pypi/files/lib/lib-1.0-py3-none-any.whl").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "even though it is cached");
    assert!(r.text().contains("high vulnerability (GHSA-1: GHSA-1 summary)"), "{}", r.text());

    // Malicious versions are refused whatever the threshold; a withdrawn record lifts it.
    let mal = br#"{"id": "MAL-2026-7", "summary": "Malicious code in lib (PyPI)",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "lib"}, "versions": ["1.1"]}]}"#
        .to_vec();
    app.state.packages.import_osv(&Caller::console(), vec![("mal.json".into(), mal)]).await.unwrap();
    let r = get(&app, "/pypi/files/lib/lib-1.1-py3-none-any.whl").await;
    assert!(r.text().contains("known to be malicious (MAL-2026-7"), "{}", r.text());
    let withdrawn = br#"{"id": "MAL-2026-7", "withdrawn": "2026-01-01T00:00:00Z", "affected": []}"#.to_vec();
    let report = app.state.packages.import_osv(&Caller::console(), vec![("w.json".into(), withdrawn)]).await.unwrap();
    assert_eq!(report.withdrawn, 1);
    assert_eq!(get(&app, "/pypi/files/lib/lib-1.1-py3-none-any.whl").await.status, StatusCode::OK);
    assert_eq!(audit_actions(&app).await.iter().filter(|(a, _)| a == "package.osv_imported").count(), 3);
}

#[tokio::test]
async fn the_portal_pages_make_tokens_file_requests_and_let_reviewers_decide() {
    let up = Upstream::new();
    up.pypi("app", &[WheelSpec { requires: &["tiny"], ..wheel("app", "app-1.0-py3-none-any.whl", b"app", 30) }]);
    up.pypi("tiny", &[wheel("tiny", "tiny-1.0-py3-none-any.whl", b"tiny", 30)]);
    let app = app(haven_testkit::db::sqlite().await, &up, false).await;

    let (mut rita, _, secret) = onboard(&app, "rita").await;
    full_sign_in(&app, &mut rita, "rita", &secret).await;

    // A repository token, shown once with the lines to paste, then usable by pip.
    let page = rita.get("/packages/tokens").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let made = rita.post("/packages/tokens", &[("label", "laptop pip")]).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let at = made.body.find("<code class=\"token\">").unwrap() + "<code class=\"token\">".len();
    let token = made.body[at..at + 43].to_string();
    assert!(made.body.contains(&format!("https://rita:{token}@haven.example/pypi/simple/")));
    assert!(!rita.get("/packages/tokens").await.body.contains(&token), "shown once");
    let auth = {
        use base64::Engine as _;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("rita:{token}")))
    };
    allow(&app, Ecosystem::Pypi, "tiny", None, false).await;
    assert_eq!(get_with(&app, "/pypi/simple/tiny/", &[("authorization", &auth)]).await.status, StatusCode::OK);
    assert_eq!(rita.post("/packages/tokens", &[("label", "")]).await.status, StatusCode::UNPROCESSABLE_ENTITY);

    // The form, prefilled from a refusal's link; the dry run; the request itself.
    let form = rita.get("/packages/requests/new?ecosystem=pypi&name=app").await;
    assert!(form.body.contains("value=\"app\""), "{}", form.body);
    let checked = rita.post("/packages/requests/check", &[("kind", "requirements"), ("text", "app\ntiny\n")]).await;
    assert_eq!(checked.status, StatusCode::OK);
    assert!(
        checked.body.contains("app is not on the allowlist") && checked.body.contains("Request it"),
        "{}",
        checked.body
    );
    let bad = rita
        .post("/packages/requests/new", &[("ecosystem", "pypi"), ("name", "app"), ("justification", "short")])
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("10 to 2000 characters"), "{}", bad.body);
    let sent = rita
        .post(
            "/packages/requests/new",
            &[("ecosystem", "pypi"), ("name", "app"), ("spec", ""), ("justification", "Needed for the cohort study.")],
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let mine = rita.get(&sent.location).await;
    assert!(mine.body.contains("Request #1 was sent") && mine.body.contains("pending"), "{}", mine.body);
    assert_eq!(rita.get("/packages/review").await.status, StatusCode::FORBIDDEN, "researchers do not review");

    // A package reviewer sees the closure and approves it in one decision.
    let (mut rev, _, rev_secret) = onboard(&app, "rev").await;
    app.state
        .identity
        .set_role(&Caller::console(), "rev", haven_core::accounts::Role::PackageReviewer, true)
        .await
        .unwrap();
    full_sign_in(&app, &mut rev, "rev", &rev_secret).await;
    let queue = rev.get("/packages/review").await;
    assert!(queue.body.contains("href=\"/packages/review/1\""), "{}", queue.body);
    let one = rev.get("/packages/review/1").await;
    assert!(
        one.body.contains("Needed for the cohort study.") && one.body.contains("<td>tiny</td><td>1.0</td><td>app</td>"),
        "{}",
        one.body
    );
    let decided = rev.post("/packages/review/1", &[("decision", "approve"), ("note", "")]).await;
    assert_eq!(decided.status, StatusCode::SEE_OTHER, "{}", decided.body);
    assert!(rev.get("/packages/review/1").await.body.contains("approved by rev"));
    assert_eq!(get_with(&app, "/pypi/simple/app/", &[("authorization", &auth)]).await.status, StatusCode::OK);
    assert!(app.mail.last_to("rita@example.org").unwrap().subject.contains("#1 approved"));

    // Revoking the token ends its use.
    let handle = app.state.packages.repo_tokens(&full(&app, "rita", vec![])).await.unwrap()[0].handle();
    assert_eq!(rita.post("/packages/tokens/revoke", &[("token", &handle)]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        get_with(&app, "/pypi/simple/tiny/", &[("authorization", &auth)]).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_licence_allowlist_filters_what_the_index_states() {
    let up = Upstream::new();
    let contrib = up.root().join("cran/src/contrib");
    std::fs::create_dir_all(&contrib).unwrap();
    std::fs::write(
        contrib.join("PACKAGES"),
        "Package: free\nVersion: 1.0\nLicense: MIT + file LICENSE\nDate/Publication: 2025-01-01 00:00:00 UTC\n\n\
         Package: closed\nVersion: 1.0\nLicense: file LICENSE\nDate/Publication: 2025-01-01 00:00:00 UTC\n\n\
         Package: either\nVersion: 1.0\nLicense: AGPL-3 | MIT\nDate/Publication: 2025-01-01 00:00:00 UTC\n",
    )
    .unwrap();
    let mut config = up.config(true);
    config.cran.mode = haven_core::packages::config::PolicyMode::Denylist;
    config.cran.licenses = vec!["MIT".into()];
    let app = App::builder().packages(config).build().await;
    let text = get(&app, "/cran/src/contrib/PACKAGES").await.text();
    assert!(text.contains("Package: free") && text.contains("Package: either"), "{text}");
    assert!(!text.contains("Package: closed"), "{text}");
    let r = get(&app, "/cran/src/contrib/closed_1.0.tar.gz").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("licence \"file LICENSE\", which is not on the licence allowlist"), "{}", r.text());
}

#[tokio::test]
async fn reviewers_manage_the_policy_on_the_web() {
    let up = Upstream::new();
    up.pypi(
        "tool",
        &[wheel("tool", "tool-1.0-py3-none-any.whl", b"t1", 30), wheel("tool", "tool-2.0-py3-none-any.whl", b"t2", 1)],
    );
    let app = app(haven_testkit::db::sqlite().await, &up, true).await;
    let (mut rev, _, secret) = onboard(&app, "rev").await;
    app.state
        .identity
        .set_role(&Caller::console(), "rev", haven_core::accounts::Role::PackageReviewer, true)
        .await
        .unwrap();
    full_sign_in(&app, &mut rev, "rev", &secret).await;
    // A second reviewer, who is told of allow rules added outside a request.
    app.state.identity.add_account(&Caller::console(), "rue", "rue@example.org", false).await.unwrap();
    app.state
        .identity
        .set_role(&Caller::console(), "rue", haven_core::accounts::Role::PackageReviewer, true)
        .await
        .unwrap();

    let added = rev
        .post(
            "/packages/policy/rules",
            &[("kind", "allow"), ("ecosystem", "pypi"), ("name", "Tool"), ("spec", ""), ("reason", "needed")],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let report = app.mail.last_to("rue@example.org").unwrap();
    assert!(report.subject.contains("allowed outside a request"), "{}", report.subject);
    assert!(report.text.contains("rev allowed pypi package tool") && report.text.contains("needed"), "{}", report.text);
    assert!(
        !app.mail.last_to("rev@example.org").is_some_and(|m| m.subject.contains("outside a request")),
        "not the reviewer who added it"
    );
    assert!(
        audit_actions(&app).await.iter().any(|(a, d)| a == "package.rule_reported" && d.contains("\"reported_to\":1"))
    );
    rev.post(
        "/packages/policy/rules",
        &[
            ("kind", "allow"),
            ("ecosystem", "pypi"),
            ("name", "tool"),
            ("spec", ">=2"),
            ("skip_cooldown", "1"),
            ("reason", "fix"),
        ],
    )
    .await;
    let bad = rev
        .post(
            "/packages/policy/rules",
            &[("kind", "allow"), ("ecosystem", "pypi"), ("name", "tool"), ("spec", "not a spec"), ("reason", "x")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("version specifier"), "{}", bad.body);

    let page = rev.get("/packages/policy?ecosystem=pypi&name=tool").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<td>tool-2.0-py3-none-any.whl</td><td>yes</td>"), "{}", page.body);
    assert!(page.body.contains("<td>allow</td><td>tool</td><td>&#62;=2 (no cooldown)</td>"), "{}", page.body);

    // Removing the waiver leaves the rule for every version; 2.0 waits for its cooldown again.
    let removed = rev
        .post(
            "/packages/policy/rules/remove",
            &[("kind", "allow"), ("ecosystem", "pypi"), ("name", "tool"), ("spec", ">=2")],
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    let rules = app.state.packages.rules(&Caller::console(), Ecosystem::Pypi).await.unwrap();
    assert_eq!(rules.iter().map(|r| r.spec.as_str()).collect::<Vec<_>>(), [""]);
    assert_eq!(filenames(&get(&app, "/pypi/simple/tool/").await.json()), ["tool-1.0-py3-none-any.whl"]);
    assert!(audit_actions(&app).await.iter().any(|(a, d)| a == "package.rule_removed" && d.contains(">=2")));

    // Researchers cannot.
    let (mut rita, _, rita_secret) = onboard(&app, "rita").await;
    full_sign_in(&app, &mut rita, "rita", &rita_secret).await;
    assert_eq!(rita.get("/packages/policy").await.status, StatusCode::FORBIDDEN);
    let denied = rita
        .post("/packages/policy/rules", &[("kind", "deny"), ("ecosystem", "pypi"), ("name", "tool"), ("reason", "x")])
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn malformed_cran_and_conda_indexes_are_refused() {
    let up = Upstream::new();
    let contrib = up.root().join("cran/src/contrib");
    std::fs::create_dir_all(&contrib).unwrap();
    std::fs::write(contrib.join("PACKAGES"), "Package: ../evil\nVersion: 1.0\n").unwrap();
    let noarch = up.root().join("conda/haven-test/noarch");
    std::fs::create_dir_all(&noarch).unwrap();
    std::fs::write(
        noarch.join("repodata.json"),
        r#"{"packages": {"../x-1-0.tar.bz2": {"name": "x", "version": "1", "build": "0"}}}"#,
    )
    .unwrap();
    let linux = up.root().join("conda/haven-test/linux-64");
    std::fs::create_dir_all(&linux).unwrap();
    std::fs::write(linux.join("repodata.json"), "{ not json").unwrap();
    let app = app(haven_testkit::db::sqlite().await, &up, true).await;
    for path in [
        "/cran/src/contrib/PACKAGES",
        "/conda/haven-test/noarch/repodata.json",
        "/conda/haven-test/linux-64/repodata.json",
    ] {
        let r = get(&app, path).await;
        assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{path}: {}", r.text());
        assert!(r.text().contains("was refused"), "{path}: {}", r.text());
    }
}

/// A PyPI mirror laid out as bandersnatch lays it out (`web/simple/<name>/index.html` linking
/// `../../packages/…`) is served once `mirror_root` names the directory holding both; reads stay
/// confined to it.
#[tokio::test]
async fn a_bandersnatch_mirror_serves_files_beside_its_index() {
    let up = Upstream::new();
    let web = up.root().join("mirror/web");
    std::fs::create_dir_all(web.join("simple/band")).unwrap();
    std::fs::create_dir_all(web.join("packages/ab/cd")).unwrap();
    let bytes = b"band wheel bytes";
    std::fs::write(web.join("packages/ab/cd/band-1.0-py3-none-any.whl"), bytes).unwrap();
    std::fs::write(up.root().join("mirror/secret-2.0-py3-none-any.whl"), b"secret").unwrap();
    let page = format!(
        "<!DOCTYPE html><html><body>\n<a href=\"../../packages/ab/cd/band-1.0-py3-none-any.whl#sha256={}\">band-1.0-py3-none-any.whl</a>\n<a href=\"../../../secret-2.0-py3-none-any.whl#sha256={}\">band-2.0-py3-none-any.whl</a>\n</body></html>\n",
        hex::encode(sha256(bytes)),
        hex::encode(sha256(b"secret"))
    );
    std::fs::write(web.join("simple/band/index.html"), page).unwrap();
    let mut config = up.config(true);
    config.pypi.upstream = format!("file://{}/simple/", web.display());

    let file = "/pypi/files/band/band-1.0-py3-none-any.whl";
    let without = App::builder().packages(config.clone()).build().await;
    allow(&without, Ecosystem::Pypi, "band", None, true).await;
    assert_eq!(get(&without, file).await.status, StatusCode::BAD_GATEWAY, "outside the upstream directory");

    config.pypi.mirror_root = Some(format!("file://{}/", web.display()));
    config.validate().unwrap();
    let app = App::builder().packages(config).build().await;
    allow(&app, Ecosystem::Pypi, "band", None, true).await;
    let index = get(&app, "/pypi/simple/band/").await;
    assert_eq!(index.status, StatusCode::OK, "{}", index.text());
    let r = get(&app, file).await;
    assert_eq!((r.status, r.body.as_slice()), (StatusCode::OK, &bytes[..]));
    // A link climbing out of the mirror root is still refused.
    assert_eq!(get(&app, "/pypi/files/band/band-2.0-py3-none-any.whl").await.status, StatusCode::BAD_GATEWAY);
}
