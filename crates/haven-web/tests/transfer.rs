//! The tus 1.0 endpoint through the real router, on SQLite with local blobs and on PostgreSQL
//! with S3: creation (with an upload, with the length deferred), HEAD, PATCH (checksums, chunked
//! bodies, the method override), termination and expiry; every refusal with its status and a
//! message that says what to do, nothing stored by a refused request; who may send, with a token
//! or a session (which needs the CSRF header); a body that stalls.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures::StreamExt;
use haven_core::caller::Caller;
use haven_core::transfer::links::NewLink;
use haven_testkit::callers::signed_in;
use haven_testkit::db::TestDb;

mod common;

use common::TestApp as App;
use common::uploads::*;

haven_testkit::contract!(
    the_tus_protocol_stores_what_it_acknowledges,
    refusals_say_why_and_change_nothing,
    real_tus_clients_upload_and_resume,
    drop_off_links_are_write_only_limited_and_end,
    a_link_revoked_mid_stream_keeps_nothing_and_its_password_cannot_be_guessed,
    the_portal_pages_list_decide_and_make_links,
    many_clients_that_disconnect_leave_every_upload_resumable
);

async fn the_tus_protocol_stores_what_it_acknowledges(db: TestDb) {
    let w = world(db).await;
    let app = &w.app;

    // OPTIONS: what is offered, with no credentials needed.
    let offered = send(app, "OPTIONS", "/transfer/uploads/", None, &[], Body::empty()).await;
    assert_eq!(offered.status, 204);
    assert_eq!(offered.header("tus-version"), "1.0.0");
    assert_eq!(
        offered.header("tus-extension"),
        "creation,creation-with-upload,creation-defer-length,expiration,checksum,termination"
    );
    assert_eq!(offered.header("tus-max-size"), (8 << 20).to_string());
    assert_eq!(offered.header("tus-checksum-algorithm"), "sha1,sha256");

    // Creation: 201, a Location, offset 0, when it expires.
    let file = data(10_000);
    let made = create(app, &w.owen, file.len(), "cohort 2026.csv").await;
    assert_eq!(made.status, 201, "{}", made.text);
    let at = made.header("location").to_string();
    assert!(at.starts_with("/transfer/uploads/") && at.len() == "/transfer/uploads/".len() + 32, "{at}");
    assert_eq!((made.header("upload-offset"), made.header("tus-resumable")), ("0", "1.0.0"));
    assert!(made.header("upload-expires").ends_with(" GMT"), "{:?}", made.headers);

    // HEAD: offset, length, the metadata echoed, never cached.
    let h = head(app, &w.owen, &at).await;
    assert_eq!((h.status, h.header("upload-offset"), h.header("upload-length")), (200, "0", "10000"));
    assert_eq!(h.header("upload-metadata"), metadata("heart", "cohort 2026.csv"));
    assert_eq!(h.header("cache-control"), "no-store");

    // PATCH with a sha1 checksum (as tuspy sends): 204 and the new offset.
    let sum = format!("sha1 {}", sha1_b64(&file[..3000]));
    let p = patch(app, &w.owen, &at, 0, &file[..3000], &[("upload-checksum", &sum)]).await;
    assert_eq!((p.status, p.header("upload-offset")), (204, "3000"), "{}", p.text);
    assert!(!p.header("upload-expires").is_empty());

    // A chunked body with no Content-Length, as the tus Java client sends (a stream).
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        file[3000..7000].chunks(777).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let streamed = send(
        app,
        "PATCH",
        &at,
        Some(&w.owen),
        &[V, OCTETS, ("upload-offset", "3000")],
        Body::from_stream(futures::stream::iter(chunks)),
    )
    .await;
    assert_eq!((streamed.status, streamed.header("upload-offset")), (204, "7000"), "{}", streamed.text);

    // The rest through POST + X-HTTP-Method-Override, with a sha256 checksum.
    let sum = format!("sha256 {}", STANDARD.encode(haven_crypto::sha256(&file[7000..])));
    let last = send(
        app,
        "POST",
        &at,
        Some(&w.owen),
        &[V, OCTETS, ("upload-offset", "7000"), ("x-http-method-override", "PATCH"), ("upload-checksum", &sum)],
        Body::from(file[7000..].to_vec()),
    )
    .await;
    assert_eq!((last.status, last.header("upload-offset")), (204, "10000"), "{}", last.text);
    assert_eq!(last.header("haven-upload-sha256"), sha256_hex(&file), "the end-to-end check");
    assert_eq!(head(app, &w.owen, &at).await.header("haven-upload-sha256"), sha256_hex(&file));
    let id = at.rsplit('/').next().unwrap();
    assert_eq!(stored_bytes(app, id).await, file, "the bytes stored are the bytes sent");
    // Arrived: the sender can no longer end it (its keepers decide), nor reach it with a token
    // that only reads.
    let late = send(app, "DELETE", &at, Some(&w.owen), &[V], Body::empty()).await;
    assert_eq!(late.status, 409, "{}", late.text);
    assert!(late.text.contains("can no longer be ended"), "{}", late.text);
    assert_eq!(stored_bytes(app, id).await, file, "still there");
    assert_eq!(head(app, &w.owen_read, &at).await.status, 403);

    // creation-with-upload: the bytes come in the POST.
    let meta = metadata("heart", "small.txt");
    let with = send(
        app,
        "POST",
        "/transfer/uploads",
        Some(&w.owen),
        &[V, OCTETS, ("upload-length", "5"), ("upload-metadata", &meta)],
        Body::from("hello"),
    )
    .await;
    assert_eq!((with.status, with.header("upload-offset")), (201, "5"), "{}", with.text);
    assert_eq!(with.header("haven-upload-sha256"), sha256_hex(b"hello"));

    // creation-defer-length: the length comes with a later PATCH.
    let deferred = send(
        app,
        "POST",
        "/transfer/uploads/",
        Some(&w.owen),
        &[V, ("upload-defer-length", "1"), ("upload-metadata", &meta)],
        Body::empty(),
    )
    .await;
    assert_eq!(deferred.status, 201, "{}", deferred.text);
    let later = deferred.header("location").to_string();
    assert_eq!(head(app, &w.owen, &later).await.header("upload-defer-length"), "1");
    assert_eq!(patch(app, &w.owen, &later, 0, b"abc", &[]).await.header("upload-offset"), "3");
    let done = patch(app, &w.owen, &later, 3, b"de", &[("upload-length", "5")]).await;
    assert_eq!((done.status, done.header("upload-offset")), (204, "5"), "{}", done.text);
    assert_eq!(head(app, &w.owen, &later).await.header("upload-length"), "5");

    // Termination: 204, then the upload is gone and its bytes with it.
    let doomed = create(app, &w.owen, 100, "wrong.csv").await.header("location").to_string();
    assert_eq!(patch(app, &w.owen, &doomed, 0, &file[..50], &[]).await.status, 204);
    let ended = send(app, "DELETE", &doomed, Some(&w.owen), &[V], Body::empty()).await;
    assert_eq!(ended.status, 204);
    assert_eq!(head(app, &w.owen, &doomed).await.status, 404);
    assert_eq!(patch(app, &w.owen, &doomed, 50, &file[..50], &[]).await.status, 404);

    // Expiry: an unfinished upload answers 410 once its time is up.
    let stale = create(app, &w.owen, 100, "late.csv").await.header("location").to_string();
    app.clock.advance(time::Duration::hours(25));
    assert_eq!(head(app, &w.owen, &stale).await.status, 410);
    let late = patch(app, &w.owen, &stale, 0, b"x", &[]).await;
    assert_eq!(late.status, 410, "{}", late.text);
    assert!(late.text.contains("expired"), "{}", late.text);
}

async fn refusals_say_why_and_change_nothing(db: TestDb) {
    let w = world(db).await;
    let app = &w.app;
    let file = data(2000);
    let at = create(app, &w.owen, file.len(), "a.csv").await.header("location").to_string();
    assert_eq!(patch(app, &w.owen, &at, 0, &file[..500], &[]).await.status, 204);
    let offset_is = |n: &'static str| {
        let at = at.clone();
        let token = w.owen.clone();
        async move {
            let h = head(app, &token, &at).await;
            assert_eq!(h.header("upload-offset"), n, "nothing changed");
        }
    };

    // The wrong protocol version: 412 with the version spoken.
    let old = send(
        app,
        "PATCH",
        &at,
        Some(&w.owen),
        &[("tus-resumable", "0.2.2"), OCTETS, ("upload-offset", "500")],
        Body::from("x"),
    )
    .await;
    assert_eq!((old.status, old.header("tus-version")), (412, "1.0.0"));
    assert!(old.text.contains("use 1.0.0"), "{}", old.text);
    // The wrong content type: 415.
    let typed = send(
        app,
        "PATCH",
        &at,
        Some(&w.owen),
        &[V, ("content-type", "text/plain"), ("upload-offset", "500")],
        Body::from("x"),
    )
    .await;
    assert_eq!(typed.status, 415);
    assert!(typed.text.contains("application/offset+octet-stream"), "{}", typed.text);
    // No offset, or a bad one: 400. The wrong offset: 409, with where to resume.
    let none = send(app, "PATCH", &at, Some(&w.owen), &[V, OCTETS], Body::from("x")).await;
    assert_eq!(none.status, 400);
    assert!(none.text.contains("Upload-Offset"), "{}", none.text);
    let negative = send(app, "PATCH", &at, Some(&w.owen), &[V, OCTETS, ("upload-offset", "-1")], Body::from("x")).await;
    assert_eq!(negative.status, 400);
    let wrong = patch(app, &w.owen, &at, 400, &file[400..600], &[]).await;
    assert_eq!((wrong.status, wrong.header("upload-offset")), (409, "500"), "{}", wrong.text);
    assert!(wrong.text.contains("resume from there"), "{}", wrong.text);
    // A checksum that does not match: 460, nothing kept. An algorithm not offered: 400.
    let sum = format!("sha1 {}", sha1_b64(b"something else"));
    let bad = patch(app, &w.owen, &at, 500, &file[500..900], &[("upload-checksum", &sum)]).await;
    assert_eq!(bad.status, 460, "{}", bad.text);
    let md5 =
        patch(app, &w.owen, &at, 500, &file[500..900], &[("upload-checksum", "md5 1B2M2Y8AsgTpgAmY7PhCfg==")]).await;
    assert_eq!(md5.status, 400);
    assert!(md5.text.contains("sha1,sha256"), "{}", md5.text);
    offset_is("500").await;
    // More than the declared length: 413; the declared bytes are kept.
    let over = patch(app, &w.owen, &at, 500, &[7u8; 1600], &[]).await;
    assert_eq!(over.status, 413, "{}", over.text);
    offset_is("2000").await;
    // Too large to start: 413, nothing made.
    let huge = create(app, &w.owen, (8 << 20) + 1, "huge.bin").await;
    assert_eq!(huge.status, 413);
    // Creation faults: no asset named, unknown asset, bad metadata, both lengths.
    let anon =
        send(app, "POST", "/transfer/uploads/", Some(&w.owen), &[V, ("upload-length", "5")], Body::empty()).await;
    assert_eq!(anon.status, 400);
    assert!(anon.text.contains("asset"), "{}", anon.text);
    let meta = metadata("nowhere", "x");
    let unknown = send(
        app,
        "POST",
        "/transfer/uploads/",
        Some(&w.owen),
        &[V, ("upload-length", "5"), ("upload-metadata", &meta)],
        Body::empty(),
    )
    .await;
    assert!(matches!(unknown.status, 403 | 404), "{} {}", unknown.status, unknown.text);
    let garbled = send(
        app,
        "POST",
        "/transfer/uploads/",
        Some(&w.owen),
        &[V, ("upload-length", "5"), ("upload-metadata", "asset !!!")],
        Body::empty(),
    )
    .await;
    assert_eq!(garbled.status, 400);
    let meta = metadata("heart", "x");
    let both = send(
        app,
        "POST",
        "/transfer/uploads/",
        Some(&w.owen),
        &[V, ("upload-length", "5"), ("upload-defer-length", "1"), ("upload-metadata", &meta)],
        Body::empty(),
    )
    .await;
    assert_eq!(both.status, 400);
    // Unknown and malformed ids: 404; a method tus does not use: 405 with Allow.
    assert_eq!(head(app, &w.owen, "/transfer/uploads/00000000000000000000000000000000").await.status, 404);
    assert_eq!(head(app, &w.owen, "/transfer/uploads/..%2F..%2Fetc").await.status, 404);
    let get = send(app, "GET", &at, Some(&w.owen), &[V], Body::empty()).await;
    assert_eq!((get.status, get.header("allow")), (405, "OPTIONS, HEAD, PATCH, DELETE"));

    // Who may send: no credentials 401; a read-only token, or someone with no standing in the
    // asset, 403; someone else's upload is not found, for HEAD, PATCH and DELETE alike.
    let nobody = send(app, "HEAD", &at, None, &[V], Body::empty()).await;
    assert_eq!(nobody.status, 401);
    assert!(nobody.headers.contains_key("www-authenticate"));
    let reader = create(app, &w.owen_read, 5, "x").await;
    assert_eq!(reader.status, 403, "{}", reader.text);
    let stranger = create(app, &w.rita, 5, "x").await;
    assert_eq!(stranger.status, 403, "{}", stranger.text);
    assert_eq!(head(app, &w.rita, &at).await.status, 404);
    assert_eq!(send(app, "DELETE", &at, Some(&w.rita), &[V], Body::empty()).await.status, 404);
    let forged =
        send(app, "HEAD", &at, Some("haven_api_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), &[V], Body::empty())
            .await;
    assert_eq!(forged.status, 401);
    assert_eq!(head(app, &w.owen, &at).await.status, 200, "still there");

    // A session sends too (the browser page), but only with the CSRF header, which a cross-site
    // form cannot send; and only into an asset where it has standing (ian is heart's IAA).
    let b = common::browser::person(app, "ian", &[]).await;
    let console = Caller::console();
    app.state
        .governance
        .record_training(&console, "ian", haven_testkit::transfer::COURSE, "2025-12-01", "")
        .await
        .unwrap();
    let csrf = b.cookies["__Host-haven-csrf"].clone();
    let cookie = b.cookie_header();
    let meta = metadata("heart", "x");
    let session = |extra: Vec<(&'static str, String)>| {
        let (cookie, meta) = (cookie.clone(), meta.clone());
        async move {
            let mut headers: Vec<(&str, &str)> =
                vec![V, ("cookie", cookie.as_str()), ("upload-length", "5"), ("upload-metadata", meta.as_str())];
            headers.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
            send(app, "POST", "/transfer/uploads/", None, &headers, Body::empty()).await
        }
    };
    let not_yet = session(vec![("x-csrf-token", csrf.clone())]).await;
    assert_eq!(not_yet.status, 403, "not an IAA yet: {}", not_yet.text);
    assert!(not_yet.text.contains("IAO, IAAs and data managers"), "{}", not_yet.text);
    app.state.governance.set_iaa(&console, "heart", "ian", true).await.unwrap();
    let forged = session(vec![]).await;
    assert_eq!(forged.status, 403, "no CSRF header: {}", forged.text);
    let made = session(vec![("x-csrf-token", csrf.clone())]).await;
    assert_eq!(made.status, 201, "{}", made.text);

    // Two requests sending to one upload at once: the second is refused, the first goes on.
    let busy = create(app, &w.owen, 10, "busy.csv").await.header("location").to_string();
    let (release, first) = held_body();
    let sending = spawn_patch(app, &busy, Some(&w.owen), first);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let second = patch(app, &w.owen, &busy, 0, b"abcde", &[]).await;
    assert_eq!(second.status, 409, "{}", second.text);
    assert!(second.text.contains("another request is sending"), "{}", second.text);
    release.send(()).unwrap();
    assert_eq!(sending.await.unwrap(), 204);
    assert_eq!(head(app, &w.owen, &busy).await.header("upload-offset"), "10");

    // A body that stalls is cut off after the idle timeout; what arrived is kept.
    let slow = create(app, &w.owen, 100, "slow.csv").await.header("location").to_string();
    let stalls = futures::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from_static(b"12345"))])
        .chain(futures::stream::pending());
    let started = std::time::Instant::now();
    let cut =
        send(app, "PATCH", &slow, Some(&w.owen), &[V, OCTETS, ("upload-offset", "0")], Body::from_stream(stalls)).await;
    assert!(cut.status == 400, "{} {}", cut.status, cut.text);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(head(app, &w.owen, &slow).await.header("upload-offset"), "5");
}

/// Where an upload URL says the upload is, and that it holds `content` whole.
async fn holds(app: &App, token: &str, url: &str, content: &[u8]) {
    let path = &url[url.find("/transfer/").unwrap()..];
    let h = head(app, token, path).await;
    assert_eq!(h.header("upload-offset"), content.len().to_string(), "{url}");
    assert_eq!(h.header("haven-upload-sha256"), sha256_hex(content), "{url}");
    assert_eq!(stored_bytes(app, path.rsplit('/').next().unwrap()).await, content, "{url}");
}

/// tuspy, curl and tus-js-client over a real socket: a broken connection resumed, SHA-1
/// checksums per chunk, a chunked body with no length, one whole-file PATCH.
async fn real_tus_clients_upload_and_resume(db: TestDb) {
    let w = world(db).await;
    let app = &w.app;
    let base = app.serve().await;
    let endpoint = format!("{base}/transfer/uploads/");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cohort.csv");
    let content = data(3 * 1024 * 1024 + 17);
    std::fs::write(&file, &content).unwrap();

    if let Some(python) = haven_testkit::tool("HAVEN_TEST_PYTHON") {
        let mut tuspy = std::process::Command::new(python);
        tuspy.arg(client_script("tuspy_resume.py")).arg(&endpoint).arg(&w.owen).arg(&file);
        let said = run("tuspy", tuspy).await;
        let line = said.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("{said}"));
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["resumed_from"].as_u64().unwrap() > 0, "{v}");
        holds(app, &w.owen, v["url"].as_str().unwrap(), &content).await;
    }

    // curl reading from stdin sends chunked transfer encoding, with no Content-Length.
    let made = create(app, &w.owen, content.len(), "curl.csv").await;
    let at = made.header("location").to_string();
    let mut curl = std::process::Command::new("curl");
    curl.args(["-sS", "-v", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PATCH", "-T", "-"])
        .args(["-H", "Tus-Resumable: 1.0.0", "-H", "Content-Type: application/offset+octet-stream"])
        .args(["-H", "Upload-Offset: 0", "-H", &format!("Authorization: Bearer {}", w.owen)])
        .arg(format!("{base}{at}"))
        .stdin(std::fs::File::open(&file).unwrap());
    let said = run("curl", curl).await;
    assert!(said.contains("> Transfer-Encoding: chunked") && said.starts_with("204"), "{said}");
    holds(app, &w.owen, &at, &content).await;

    if let Some(node_path) = haven_testkit::tool("HAVEN_TEST_NODE_PATH") {
        let mut node = std::process::Command::new("node");
        node.arg(client_script("tus_js.mjs")).arg(&endpoint).arg(&w.owen).arg(&file).env("NODE_PATH", node_path);
        let said = run("tus-js-client", node).await;
        let line = said.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("{said}"));
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for upload in ["whole", "chunked"] {
            assert_eq!(v[upload]["progressed"].as_u64(), Some(content.len() as u64), "{v}");
            holds(app, &w.owen, v[upload]["url"].as_str().unwrap(), &content).await;
        }
    }
}

async fn drop_off_links_are_write_only_limited_and_end(db: TestDb) {
    let w = world(db).await;
    let app = &w.app;
    let asset = || "heart".to_string();

    // Only the IAO or an IAA issues links; a bad limit or life is refused.
    let rita = signed_in("rita", &[], app.state.governance.now_us());
    let refused = app.state.transfer.create_link(&rita, NewLink { asset: asset(), ..NewLink::default() }).await;
    assert!(matches!(refused, Err(haven_core::CoreError::Forbidden)), "{refused:?}");
    for bad in [
        NewLink { asset: asset(), days: Some(0), ..NewLink::default() },
        NewLink { asset: asset(), days: Some(91), ..NewLink::default() },
        NewLink { asset: asset(), max_files: Some(0), ..NewLink::default() },
        NewLink { asset: asset(), password: Some("short".to_string().into()), ..NewLink::default() },
    ] {
        let e = app.state.transfer.create_link(&owen_now(app), bad).await.unwrap_err();
        assert!(matches!(e, haven_core::CoreError::Invalid { .. }), "{e:?}");
    }

    // A link with a password and limits: two files, 3000 bytes.
    let password = "violet harbour ledger";
    let limited = NewLink {
        asset: asset(),
        label: "Registry extract from NHS Digital".into(),
        password: Some(password.to_string().into()),
        max_bytes: Some(3000),
        max_files: Some(2),
        ..NewLink::default()
    };
    let endpoint = link(app, limited).await;
    let needs = drop_create(app, &endpoint, "1000", &[]).await;
    assert_eq!(needs.status, 401, "{}", needs.text);
    assert!(needs.text.contains("Haven-Link-Password"), "{}", needs.text);
    let wrong = drop_create(app, &endpoint, "1000", &[("haven-link-password", "guess")]).await;
    assert_eq!(wrong.status, 401);
    let pw = ("haven-link-password", password);
    let made = drop_create(app, &endpoint, "1000", &[pw]).await;
    assert_eq!(made.status, 201, "{}", made.text);
    let at = made.header("location").to_string();
    assert!(at.starts_with(&endpoint), "{at} is under the link");
    let file = data(1000);
    let sent = drop_patch(app, &at, 0, &file, &[pw]).await;
    assert_eq!((sent.status, sent.header("haven-upload-sha256")), (204, sha256_hex(&file).as_str()), "{}", sent.text);
    let id = at.rsplit('/').next().unwrap().to_string();
    assert_eq!(stored_bytes(app, &id).await, file);

    // Write-only: nothing to list or read, and the upload is not reachable as a member's.
    assert_eq!(send(app, "GET", &endpoint, None, &[V, pw], Body::empty()).await.status, 405);
    assert_eq!(send(app, "GET", &at, None, &[V, pw], Body::empty()).await.status, 405);
    assert_eq!(head(app, &w.owen, &format!("/transfer/uploads/{id}")).await.status, 404, "not owen's upload");
    let other = link(app, NewLink { asset: asset(), ..NewLink::default() }).await;
    let via_other = send(app, "HEAD", &format!("{other}{id}"), None, &[V], Body::empty()).await;
    assert_eq!(via_other.status, 404, "another link does not reach it");

    // The limits: bytes (2000 more would pass 3000), then files.
    let over = drop_create(app, &endpoint, "2001", &[pw]).await;
    assert_eq!(over.status, 413, "{}", over.text);
    assert!(over.text.contains("drop-off link"), "{}", over.text);
    assert_eq!(drop_create(app, &endpoint, "2000", &[pw]).await.status, 201);
    let third = drop_create(app, &endpoint, "1", &[pw]).await;
    assert_eq!(third.status, 413, "{}", third.text);
    let deferred = send(app, "POST", &endpoint, None, &[V, ("upload-defer-length", "1"), pw], Body::empty()).await;
    assert_eq!(deferred.status, 400, "a byte limit needs the length: {}", deferred.text);

    // Uploads in progress per link: at most 4 (the default).
    for _ in 0..4 {
        assert_eq!(drop_create(app, &other, "10", &[]).await.status, 201);
    }
    let busy = drop_create(app, &other, "10", &[]).await;
    assert_eq!((busy.status, busy.header("retry-after")), (429, "60"), "{}", busy.text);

    // Revoked: everything through it ends at once, uploads in progress included.
    let open = drop_create(app, &endpoint, "0", &[pw]).await;
    assert_eq!(open.status, 413, "files used up");
    let links = app.state.transfer.links(&owen_now(app), "heart").await.unwrap();
    assert_eq!(links.len(), 2);
    let limited_link = links.iter().find(|l| l.max_files == 2).unwrap();
    assert_eq!((limited_link.files_started, limited_link.bytes_reserved), (2, 3000));
    let other_link = links.iter().find(|l| l.max_files == 0).unwrap().id.clone();
    app.state.transfer.revoke_link(&owen_now(app), &other_link).await.unwrap();
    let gone = drop_create(app, &other, "10", &[]).await;
    assert_eq!(gone.status, 410, "{}", gone.text);
    assert!(gone.text.contains("expired or was revoked"), "{}", gone.text);

    // Expiry: a week later the link is gone too.
    let weekly = link(app, NewLink { asset: asset(), ..NewLink::default() }).await;
    let started = drop_create(app, &weekly, "10", &[]).await.header("location").to_string();
    app.clock.advance(time::Duration::days(7) + time::Duration::seconds(1));
    assert_eq!(drop_patch(app, &started, 0, b"0123456789", &[]).await.status, 410);
    assert_eq!(drop_create(app, &weekly, "10", &[]).await.status, 410);

    // An unknown link says so; many refusals from one address are rate limited.
    let unknown =
        drop_create(app, "/transfer/drop/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/uploads/", "1", &[]).await;
    assert_eq!(unknown.status, 404);
    let mut last = 0;
    for _ in 0..40 {
        last = drop_create(app, "/transfer/drop/nonsense/uploads/", "1", &[]).await.status;
    }
    assert_eq!(last, 429);

    let trail = audit_actions(app).await;
    for expected in ["drop_link.created", "drop_link.revoked", "drop_link.refused", "drop_link.rate_limited"] {
        assert!(trail.iter().any(|a| a == expected), "{expected} in {trail:?}");
    }
}

/// The asset's page as its IAA sees it (a browser session): the uploader, the arrivals with their
/// verdicts, a link made and shown once, revoked; a rejection from the page; the provider's page.
async fn the_portal_pages_list_decide_and_make_links(db: TestDb) {
    let w = world(db).await;
    let app = &w.app;
    // ian, heart's IAA, in a browser (owen's account has tokens only here).
    let mut owen = common::browser::person(app, "ian", &[]).await;
    let console = Caller::console();
    app.state
        .governance
        .record_training(&console, "ian", haven_testkit::transfer::COURSE, "2025-12-01", "")
        .await
        .unwrap();
    app.state.governance.set_iaa(&console, "heart", "ian", true).await.unwrap();
    let made = create(app, &w.owen, 5, "cohort.csv").await;
    patch(app, &w.owen, made.header("location"), 0, b"12345", &[]).await;

    let home = owen.get("/transfer").await;
    assert!(home.status == 200 && home.body.contains("/transfer/assets/heart"), "{}", home.body);
    let page = owen.get("/transfer/assets/heart").await;
    assert_eq!(page.status, 200, "{}", page.body);
    for shown in ["id=\"uploader\"", "cohort.csv", "scan pending", "Make the link", "/static/tus.min.js"] {
        assert!(page.body.contains(shown), "{shown} in {}", page.body);
    }
    let made =
        owen.post("/transfer/assets/heart/links", &[("label", "Registry"), ("days", "3"), ("max_files", "2")]).await;
    assert_eq!(made.status, 200, "{}", made.body);
    let at = made.body.find("/transfer/drop/").unwrap();
    let link: String =
        made.body[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || "/_-".contains(*c)).collect();
    assert!(made.body.contains("Copy it now"), "shown once, saying so");
    let again = owen.get("/transfer/assets/heart").await;
    assert!(!again.body.contains(&link) && again.body.contains("Registry"), "never shown again, but listed");
    let bad = owen.post("/transfer/assets/heart/links", &[("days", "lots")]).await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("whole number"), "{}", bad.body);

    // The provider's page: the uploader, no account needed; unknown and revoked links say so.
    let mut provider = common::browser::Browser::new(app).await;
    let drop = provider.get(&link).await;
    assert!(drop.status == 200 && drop.body.contains("id=\"uploader\"") && !drop.body.contains("link-password"));
    let unknown = provider.get("/transfer/drop/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await;
    assert!(unknown.status == 404 && unknown.body.contains("not known"), "{}", unknown.body);
    let id = app.state.transfer.links(&owen_now(app), "heart").await.unwrap()[0].id.clone();
    let revoked = owen.post("/transfer/assets/heart/links/revoke", &[("id", &id)]).await;
    assert_eq!(revoked.location, "/transfer/assets/heart?done=link_revoked");
    let gone = provider.get(&link).await;
    assert!(gone.status == 410 && gone.body.contains("expired or was revoked"), "{}", gone.body);

    // Deciding from the page: not before the scan; rejecting destroys it.
    let arrival = app.state.transfer.arrivals(&owen_now(app), "heart").await.unwrap()[0].id.clone();
    let early = owen.post("/transfer/assets/heart/arrivals/decide", &[("id", &arrival), ("decision", "accept")]).await;
    assert_eq!(early.status, 422);
    assert!(early.body.contains("not been scanned yet"), "{}", early.body);
    let rejected =
        owen.post("/transfer/assets/heart/arrivals/decide", &[("id", &arrival), ("decision", "reject")]).await;
    assert_eq!(rejected.location, "/transfer/assets/heart?done=rejected");
    let after = owen.get(&rejected.location).await;
    assert!(after.body.contains("crypto-shredded"), "{}", after.body);
    let stranger = owen.post("/transfer/assets/heart/arrivals/decide", &[("id", "0123"), ("decision", "reject")]).await;
    assert_eq!(stranger.status, 422, "not a file of this asset");
    let scripts = owen.get("/static/transfer.js").await;
    assert!(scripts.status == 200 && scripts.body.contains("findPreviousUploads"));
}

/// A request that is streaming when its link is revoked keeps nothing; a link's password cannot
/// be guessed past the limits (per address, then per link), not even by then sending the right one.
async fn a_link_revoked_mid_stream_keeps_nothing_and_its_password_cannot_be_guessed(db: TestDb) {
    let w = world(db).await;
    let app = &w.app;
    let endpoint = link(app, NewLink { asset: "heart".into(), ..NewLink::default() }).await;
    let at = drop_create(app, &endpoint, "10", &[]).await.header("location").to_string();
    let (release, slow) = held_body();
    let sending = spawn_patch(app, &at, None, slow);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let id = app.state.transfer.links(&owen_now(app), "heart").await.unwrap()[0].id.clone();
    app.state.transfer.revoke_link(&owen_now(app), &id).await.unwrap();
    release.send(()).unwrap();
    assert_eq!(sending.await.unwrap(), 410);
    let upload_id = at.rsplit('/').next().unwrap();
    assert!(stored_bytes(app, upload_id).await.is_empty(), "nothing of it was kept");

    // Guessing a link's password: after 30 wrong ones from an address, even the right one is
    // refused there, and the hash is not computed.
    let password = "violet harbour ledger";
    let guarded = NewLink { asset: "heart".into(), password: Some(password.to_string().into()), ..NewLink::default() };
    let endpoint = link(app, guarded).await;
    for _ in 0..30 {
        assert_eq!(drop_create(app, &endpoint, "1", &[("haven-link-password", "guess")]).await.status, 401);
    }
    let right = drop_create(app, &endpoint, "1", &[("haven-link-password", password)]).await;
    assert_eq!(right.status, 429, "{}", right.text);
}

/// Twenty clients over real sockets, each cut off part-way through a PATCH body at once: every
/// upload is left at an offset whose bytes are stored (no half-recorded part, no upload held
/// busy), and each then resumes from there to the exact file.
async fn many_clients_that_disconnect_leave_every_upload_resumable(db: TestDb) {
    use tokio::io::AsyncWriteExt;
    let w = world(db).await;
    let app = &w.app;
    let base = app.serve().await;
    let addr = base.trim_start_matches("http://").to_string();
    let file = data(300_000);
    let mut uploads = Vec::new();
    for i in 0..20 {
        uploads.push(create(app, &w.owen, file.len(), &format!("part-{i}.bin")).await.header("location").to_string());
    }
    let mut cut = Vec::new();
    for (i, at) in uploads.iter().enumerate() {
        let (addr, at, token, body) = (addr.clone(), at.clone(), w.owen.clone(), file.clone());
        cut.push(tokio::spawn(async move {
            let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
            let head = format!(
                "PATCH {at} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n\
                 Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            socket.write_all(head.as_bytes()).await.unwrap();
            // Each goes away at its own point: some before a part fills, some after several.
            let upto = 1 + (i * 14_983) % (body.len() - 1);
            for chunk in body[..upto].chunks(8192) {
                socket.write_all(chunk).await.unwrap();
            }
            drop(socket);
        }));
    }
    for c in cut {
        c.await.unwrap();
    }
    // Each server-side task finishes the part it was writing and records it (or deletes it); a
    // client resuming meanwhile is told to wait (409), as a real one would be, and tries again.
    for at in &uploads {
        let mut tries = 0;
        let rest = loop {
            // The offset and its parts read together (a task may still be committing).
            let id = at.rsplit('/').next().unwrap().to_string();
            let (offset, parts) = haven_core::read(app.store.as_ref(), move |tx| {
                Box::pin(async move {
                    let offset = tx.upload(&id).await?.map(|u| u.offset).unwrap_or(-1);
                    Ok::<_, haven_core::CoreError>((offset, tx.upload_parts(&id).await?))
                })
            })
            .await
            .unwrap();
            let offset = usize::try_from(offset).unwrap();
            let mut stored = Vec::new();
            for meta in parts {
                let mut s = app.blobs.get(&meta).await.unwrap();
                while let Some(chunk) = s.next().await {
                    stored.extend_from_slice(&chunk.unwrap());
                }
            }
            assert_eq!(stored, file[..offset], "{at}: the stored bytes are the acknowledged ones");
            let rest = patch(app, &w.owen, at, offset, &file[offset..], &[]).await;
            tries += 1;
            if rest.status != 409 || tries == 50 {
                break rest;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        assert_eq!(rest.status, 204, "{at}: {}", rest.text);
        assert_eq!(rest.header("haven-upload-sha256"), sha256_hex(&file));
    }
    // And no blob of a cut-off part is left behind (a writer removes its own as it stops).
    let mut recorded = 0;
    for at in &uploads {
        let id = at.rsplit('/').next().unwrap().to_string();
        let parts = haven_core::read(app.store.as_ref(), move |tx| Box::pin(async move { tx.upload_parts(&id).await }))
            .await
            .unwrap();
        recorded += parts.len();
    }
    let mut held = 0;
    for _ in 0..100 {
        held = app.blob_count().await;
        if held == recorded {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(held, recorded, "stored blobs against recorded parts");
}
