//! File Transfer through the `haven` binary: `haven upload` as a member and through a drop-off
//! link (over HTTPS, on SQLite with local blobs and on PostgreSQL with S3), resuming after the
//! client itself was killed; and against a real `haven serve`, the console's `haven transfer`
//! commands and uploads that carry on after the server is killed with SIGKILL and restarted
//! (HAVEN_TEST_KILL_ROUNDS rounds; `bench/transfer/kill_rounds.sh` runs many).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use haven_core::accounts::Role;
use haven_core::transfer::arrivals::Receipt;
use haven_core::transfer::links::NewLink;
use haven_testkit::app::TestApp;
use haven_testkit::callers::signed_in;
use haven_testkit::db::TestDb;
use haven_testkit::process::Haven;
use haven_testkit::transfer::world_from;

const BIN: &str = env!("CARGO_BIN_EXE_haven");

haven_testkit::contract!(haven_upload_sends_resumes_and_checks_sha256);

/// Data that differs from byte to byte and file to file.
fn bytes(n: usize, seed: u32) -> Vec<u8> {
    (0..n as u32).map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// `haven upload ARGS`, with its resume state under `state`, nothing of this machine's.
fn upload(args: &[&str], state: &Path, token: Option<&str>) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("upload")
        .args(args)
        .env("XDG_STATE_HOME", state)
        .env_remove("HAVEN_CONFIG")
        .env_remove("HAVEN_URL")
        .env_remove("HAVEN_LINK");
    match token {
        Some(t) => cmd.env("HAVEN_TOKEN", t),
        None => cmd.env_remove("HAVEN_TOKEN"),
    };
    cmd
}

async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
}

async fn haven_upload_sends_resumes_and_checks_sha256(db: TestDb) {
    let w = world_from(TestApp::builder().db(db).s3_with_postgres()).await;
    let app = &w.app;
    let https = app.serve_https().await;
    let ca = https.ca_pem.to_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let (state, receipts) = (dir.path().join("state"), dir.path().join("receipts"));
    let file = dir.path().join("cohort 2026.csv");
    let content = bytes(3 * 1024 * 1024 + 5, 1);
    std::fs::write(&file, &content).unwrap();
    let f = file.to_str().unwrap();
    let key = hex::encode(app.signer.public_key());

    // A member, with a read-write token in HAVEN_TOKEN.
    let r = receipts.to_str().unwrap();
    let args = ["--asset", "heart", "--url", &https.url, "--cacert", &ca, "--receipts", r, f];
    let out = run(upload(&args, &state, Some(&w.owen))).await;
    assert!(out.status.success(), "{}", text(&out));
    let sha = hex::encode(haven_crypto::sha256(&content));
    assert!(text(&out).contains(&format!("SHA-256 {sha} matches what Haven stored")), "{}", text(&out));
    let saved = std::fs::read_dir(&receipts).unwrap().next().unwrap().unwrap().path();
    let receipt: Receipt = serde_json::from_slice(&std::fs::read(saved).unwrap()).unwrap();
    let manifest = receipt.verify(&key).unwrap();
    assert_eq!((manifest.file.as_str(), manifest.sha256.as_str()), ("cohort 2026.csv", sha.as_str()));

    // Without a token, or with one that reads only: refused, saying what to do.
    let out = run(upload(&args, &state, None)).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("HAVEN_TOKEN"), "{}", text(&out));
    let out = run(upload(&args, &state, Some(&w.owen_read))).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("403") && text(&out).contains("read-write API token"), "{}", text(&out));

    // A provider with only a drop-off link and its password.
    let owen = signed_in("owen", &[Role::Staff], app.state.governance.now_us());
    let password = "tangerine lighthouse 42";
    let new = NewLink { asset: "heart".into(), password: Some(password.to_string().into()), ..NewLink::default() };
    let (secret, _) = app.state.transfer.create_link(&owen, new).await.unwrap();
    let link = format!("{}/transfer/drop/{}", https.url, secret.as_str());
    let pw = dir.path().join("pw");
    std::fs::write(&pw, format!("{password}\n")).unwrap();
    let p = pw.to_str().unwrap();
    let out =
        run(upload(&["--link", &link, "--password-file", p, "--cacert", &ca, "--receipts", r, f], &state, None)).await;
    assert!(out.status.success() && text(&out).contains("matches what Haven stored"), "{}", text(&out));
    // The link from HAVEN_LINK (off the command line), with a wrong password.
    std::fs::write(&pw, "wrong password").unwrap();
    let mut from_env = upload(&["--password-file", p, "--cacert", &ca, f], &state, None);
    from_env.env("HAVEN_LINK", &link);
    let out = run(from_env).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("password is wrong"), "{}", text(&out));

    // The client killed mid-file, then run again: it resumes where Haven's offset says.
    let big = dir.path().join("big.bin");
    let big_content = bytes(48 << 20, 2);
    std::fs::write(&big, &big_content).unwrap();
    let b = big.to_str().unwrap();
    let args = ["--asset", "heart", "--url", &https.url, "--cacert", &ca, "--request-mib", "1", "--receipts", r, b];
    let mut child = upload(&args, &state, Some(&w.owen)).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    loop {
        let sent = app.state.transfer.arrivals(&haven_core::caller::Caller::console(), "heart").await.unwrap().len();
        assert_eq!(sent, 2, "the big file must not finish before it is killed");
        if let Some(offset) = first_unfinished_offset(app).await
            && offset >= 2 << 20
        {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let out = run(upload(&args, &state, Some(&w.owen))).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("resuming at byte"), "{}", text(&out));
    let sha = hex::encode(haven_crypto::sha256(&big_content));
    assert!(text(&out).contains(&format!("SHA-256 {sha} matches")), "{}", text(&out));
}

/// The offset of an upload still arriving, if there is one.
async fn first_unfinished_offset(app: &TestApp) -> Option<i64> {
    haven_core::read(app.store.as_ref(), |tx| {
        Box::pin(async move { Ok::<_, haven_core::CoreError>(tx.expired_uploads(i64::MAX, 10).await?) })
    })
    .await
    .unwrap()
    .first()
    .map(|u| u.offset)
}

/// The server's environment: its database and blobs (`stores`), and clamd when scripts/test
/// started one. Console commands run with the same.
fn serve_env(stores: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut env = stores.to_vec();
    if let Some(c) = haven_testkit::tool("HAVEN_TEST_CLAMD") {
        env.push(("HAVEN_TRANSFER__CLAMD", c));
    }
    env
}

#[test]
fn the_console_manages_links_and_arrivals_and_uploads_survive_a_killed_server_on_sqlite() {
    killed_server(&[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_manages_links_and_arrivals_and_uploads_survive_a_killed_server_on_postgres_and_s3() {
    let (Some(db), Some(endpoint)) =
        (haven_testkit::db::postgres().await, haven_testkit::tool("HAVEN_TEST_S3_ENDPOINT"))
    else {
        return;
    };
    let s3 = haven_testkit::app::s3_bucket(&endpoint).await;
    let stores = vec![
        ("HAVEN_DATABASE__URL", db.url.clone()),
        ("HAVEN_BLOBS__URL", format!("s3://{}/blobs", s3.bucket)),
        ("HAVEN_BLOBS__S3__ENDPOINT", endpoint),
        ("HAVEN_BLOBS__S3__ACCESS_KEY_ID", "testing".to_string()),
        ("HAVEN_BLOBS__S3__SECRET_ACCESS_KEY", "testing".to_string()),
        ("HAVEN_BLOBS__S3__ALLOW_HTTP", "true".to_string()),
    ];
    tokio::task::spawn_blocking(move || killed_server(&stores)).await.unwrap();
}

fn killed_server(stores: &[(&'static str, String)]) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let owned = serve_env(stores);
    let env: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = Haven::start(Path::new(BIN), &data, &[], &env);
    let listen = server.url.trim_start_matches("https://").replace("localhost", "127.0.0.1");
    let d = data.as_path();
    let scanned = env.iter().any(|(k, _)| *k == "HAVEN_TRANSFER__CLAMD");
    // A console command, configured as the server is.
    let haven = |args: &[&str], data: &Path| -> Output {
        let mut cmd = Command::new(BIN);
        cmd.args(args).arg("--data-dir").arg(data).env_remove("HAVEN_CONFIG");
        for (k, v) in &env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let ok = |args: &[&str], data: &Path| -> String {
        let out = haven(args, data);
        assert!(out.status.success(), "haven {args:?}: {}", text(&out));
        text(&out)
    };
    ok(&["users", "add", "owen", "--email", "owen@example.org"], d);
    ok(&["users", "role", "owen", "staff"], d);
    ok(&["ig", "record", "owen", "data-security-awareness", "2026-11-01"], d);
    ok(&["assets", "create", "heart", "--iao", "owen", "--ig-ref", "IG/00001", "--classification", "identifiable"], d);

    // Only the IAO (or an IAA) issues links; the printed link is what a provider needs.
    let refused = haven(&["transfer", "link", "create", "--asset", "heart", "--as", "nobody"], d);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let made = ok(&["transfer", "link", "create", "--asset", "heart", "--as", "owen", "--label", "NHS extract"], d);
    let link = made.lines().next().unwrap().trim().to_string();
    assert!(link.starts_with(&format!("{}/transfer/drop/", server.url)), "{made}");
    let id = made.split("Link ").nth(1).unwrap().split(' ').next().unwrap().to_string();
    assert!(ok(&["transfer", "link", "list", "--asset", "heart", "--as", "owen"], d).contains("NHS extract"));

    // Uploads through the link while the server is killed (SIGKILL) and restarted.
    let rounds: usize = std::env::var("HAVEN_TEST_KILL_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(2);
    let file = dir.path().join("extract.bin");
    let content = bytes(128 << 20, 3);
    std::fs::write(&file, &content).unwrap();
    let sha = hex::encode(haven_crypto::sha256(&content));
    let ca = data.join("tls/ca.pem");
    let state = dir.path().join("state");
    let mut interrupted = 0;
    for round in 0..rounds {
        let args = [
            "--link",
            &link,
            "--cacert",
            ca.to_str().unwrap(),
            "--request-mib",
            "2",
            "--receipts",
            dir.path().to_str().unwrap(),
            file.to_str().unwrap(),
        ];
        let child = upload(&args, &state, None).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        // Once the upload exists (the client records it), kill the server a little later.
        let started = Instant::now();
        while !state.join("haven/uploads.json").exists()
            || std::fs::read(state.join("haven/uploads.json")).unwrap_or_default().len() < 10
        {
            assert!(started.elapsed() < Duration::from_secs(60), "round {round}: the upload never started");
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(10 + (round as u64 * 37) % 200));
        server.kill();
        server = Haven::start_on(Path::new(BIN), &data, &listen, &[], &env);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "round {round}: {}", text(&out));
        assert!(
            text(&out).contains(&format!("SHA-256 {sha} matches what Haven stored")),
            "round {round}: {}",
            text(&out)
        );
        if text(&out).contains("resuming") {
            interrupted += 1;
        }
    }
    eprintln!("{rounds} round(s), {interrupted} resumed after the server was killed");
    assert!(rounds == 0 || interrupted > 0, "no round was cut by the kill: the file is too small for this machine?");

    // A small file too, then the arrivals at the console: scanned, accepted, rejected.
    let small = dir.path().join("small.csv");
    std::fs::write(&small, bytes(100_000, 4)).unwrap();
    let small_sha = hex::encode(haven_crypto::sha256(&bytes(100_000, 4)));
    let args = [
        "--link",
        &link,
        "--cacert",
        ca.to_str().unwrap(),
        "--receipts",
        dir.path().to_str().unwrap(),
        small.to_str().unwrap(),
    ];
    let out = upload(&args, &state, None).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let started = Instant::now();
    let listed = loop {
        if scanned {
            ok(&["transfer", "scan"], d);
        }
        let listed = ok(&["transfer", "arrivals", "--asset", "heart"], d);
        if !scanned || !listed.contains("pending") || started.elapsed() > Duration::from_secs(60) {
            break listed;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(listed.matches(&sha).count(), rounds, "{listed}");
    let id_of = |sha: &str| listed.lines().find(|l| l.contains(sha)).map(|l| l.split(' ').next().unwrap().to_string());
    if scanned {
        // Over the scanner's limit (clamd here stops at 4 MiB): a person's review.
        assert!(listed.lines().filter(|l| l.contains(&sha)).all(|l| l.contains("review")), "{listed}");
        let small_id = id_of(&small_sha).unwrap();
        assert!(
            ok(&["transfer", "accept", &small_id, "--as", "owen"], d)
                .contains("accepted into heart's shared drive, as S:/")
        );
        if let Some(big) = id_of(&sha) {
            assert!(ok(&["transfer", "reject", &big, "--as", "owen"], d).contains("crypto-shredded"));
        }
        let listed = ok(&["transfer", "arrivals", "--asset", "heart"], d);
        assert!(listed.contains("clean / accepted"), "{listed}");
        assert!(rounds == 0 || listed.contains("rejected (shredded)"), "{listed}");
    }

    // Revoked: the provider is told, and nothing is sent.
    assert!(ok(&["transfer", "link", "revoke", &id, "--as", "owen"], d).contains("revoked"));
    let args = ["--link", &link, "--cacert", ca.to_str().unwrap(), file.to_str().unwrap()];
    let out = upload(&args, &state, None).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("expired or was revoked"), "{}", text(&out));
    assert!(server.stop().success());
}
