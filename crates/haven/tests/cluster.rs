//! Several nodes: two real `haven serve` processes on one PostgreSQL database and one S3 bucket
//! (moto), with the same key files, behind nginx. A person signs in through the balancer and
//! stays signed in whichever node answers; wrong passwords spread over both nodes lock the
//! account; an upload broken off on one node is finished on the other; the node holding the
//! background lease is killed and the other takes over the checkpoints; the trail both wrote
//! verifies as one chain.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use haven_testkit::balancer::{Balancer, free_port};
use haven_testkit::process::Haven;
use haven_testkit::web::{Browser, PASSWORD, onboarding_link, tus_create};
use sqlx::Connection;

const BIN: &str = env!("CARGO_BIN_EXE_haven");
const LEASE_SECS: u64 = 6;

struct Cluster {
    dir: PathBuf,
}

impl Cluster {
    fn config(&self, node: &str) -> PathBuf {
        self.dir.join(format!("{node}.toml"))
    }
    fn data(&self, node: &str) -> PathBuf {
        self.dir.join(format!("{node}-data"))
    }
    /// Start `node` on 127.0.0.1:`port` (it prints the balancer's URL, its public one).
    fn start(&self, node: &str, port: u16) -> Haven {
        let config = self.config(node);
        let listen = format!("127.0.0.1:{port}");
        Haven::start_on(Path::new(BIN), &self.data(node), &listen, &["--config", config.to_str().unwrap()], &[])
    }
    /// A console command on `node`'s configuration.
    fn haven(&self, node: &str, args: &[&str]) -> Output {
        let out = Command::new(BIN)
            .args(args)
            .arg("--config")
            .arg(self.config(node))
            .arg("--data-dir")
            .arg(self.data(node))
            .env_remove("HAVEN_CONFIG")
            .env("HAVEN_METRICS__LISTEN", "127.0.0.1:0")
            .output()
            .unwrap();
        assert!(out.status.success() || args[0] == "audit", "haven {args:?}: {}", text(&out));
        out
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn oathtool(args: &[&str]) -> Vec<String> {
    let out = Command::new("oathtool").args(args).output().expect("run oathtool");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

/// Add `user` on the console and take their onboarding link in `browser`.
async fn onboard(browser: &Browser, cluster: &Cluster, user: &str, public_url: &str) {
    let added = cluster.haven("a", &["users", "add", user, "--email", &format!("{user}@example.org")]);
    let link = onboarding_link(&text(&added));
    assert!(link.starts_with(public_url), "links name the balancer: {link}");
    browser.onboard(&link).await;
}

/// A browser through the balancer, from 127.0.0.2 (so the address Haven records is the
/// client's, not nginx's 127.0.0.1).
fn browser_for(url: &str, ca_pem: &[u8]) -> Browser {
    Browser::new(url, ca_pem, Some("127.0.0.2".parse().unwrap()))
}

/// A log host on this host (syslog over TCP, octet counting): each message.
fn log_host() -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut got = String::new();
            let _ = conn.read_to_string(&mut got);
            if let Some((_, message)) = got.split_once(' ')
                && send.send(message.to_string()).is_err()
            {
                return;
            }
        }
    });
    (address, receive)
}

/// A security webhook on this host: each POSTed body, answered 200.
fn webhook() -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().unwrap().port());
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut got = Vec::new();
            let mut buf = [0u8; 8192];
            while !String::from_utf8_lossy(&got).contains("\"haven\"") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            if send.send(String::from_utf8_lossy(&got).into_owned()).is_err() {
                return;
            }
        }
    });
    (url, receive)
}

async fn checkpoints(db_url: &str) -> (i64, i64) {
    let mut conn = sqlx::AnyConnection::connect(db_url).await.unwrap();
    let row: (i64, i64) = sqlx::query_as("SELECT COALESCE(MAX(seq), 0), COUNT(*) FROM audit_checkpoints")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    row
}

async fn audit_rows(db_url: &str, action: &str) -> Vec<(i64, String, String)> {
    let mut conn = sqlx::AnyConnection::connect(db_url).await.unwrap();
    sqlx::query_as("SELECT seq, source, details FROM audit_events WHERE action = $1 ORDER BY seq")
        .bind(action)
        .fetch_all(&mut conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_behind_nginx_share_everything_a_user_sees() {
    let Some(db_url) = haven_testkit::db::empty_postgres().await else {
        assert!(!haven_testkit::strict(), "HAVEN_TEST_POSTGRES_URL is required under CI=true");
        return;
    };
    let (Some(s3), Some(nginx)) =
        (haven_testkit::tool("HAVEN_TEST_S3_ENDPOINT"), haven_testkit::tool("HAVEN_TEST_NGINX"))
    else {
        return;
    };
    let oathtool_found = Command::new("oathtool").arg("--version").output().is_ok_and(|o| o.status.success());
    if !oathtool_found {
        assert!(!haven_testkit::strict(), "oathtool is required under CI=true");
        return;
    }
    sqlx::any::install_default_drivers();
    let tmp = tempfile::tempdir().unwrap();
    let bucket = haven_testkit::app::s3_bucket(&s3).await;
    let cluster = Cluster { dir: tmp.path().to_path_buf() };
    let keys = tmp.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let port = free_port();
    let public_url = format!("https://127.0.0.1:{port}");
    let (hook_url, alerts) = webhook();
    let (log_host, logged) = log_host();
    for node in ["a", "b"] {
        let toml = format!(
            r#"public_url = "{public_url}"
[database]
url = "{db_url}"
[blobs]
url = "s3://{bucket}/blobs"
[blobs.s3]
region = "us-east-1"
endpoint = "{s3}"
access_key_id = "testing"
secret_access_key = "testing"
allow_http = true
[keys]
master_key_file = "{keys}/master.key"
audit_key_file = "{keys}/audit-signing.key"
[http]
trusted_proxies = ["127.0.0.1"]
[cluster]
node = "{node}"
lease_secs = {LEASE_SECS}
[audit]
checkpoint_interval_secs = 1
syslog = "{log_host}"
[alerts]
webhook_url = "{hook_url}"
"#,
            bucket = bucket.bucket,
            keys = keys.display(),
        );
        // One certificate for every node (a deployment's own, in production): node a's, made
        // by its internal CA, which nginx trusts for both.
        let toml = match node {
            "a" => toml,
            _ => format!(
                "{toml}[tls]\ncert_file = \"{tls}/server.pem\"\nkey_file = \"{tls}/server.key\"\n",
                tls = cluster.data("a").join("tls").display()
            ),
        };
        std::fs::write(cluster.config(node), toml).unwrap();
    }

    // Node a makes the keys and the schema; node b starts on them.
    let (port_a, port_b) = (free_port(), free_port());
    let a = cluster.start("a", port_a);
    let b = cluster.start("b", port_b);
    assert_eq!(a.url, public_url);
    assert_eq!(std::fs::metadata(keys.join("master.key")).unwrap().len(), 32, "node a made the key file");
    let (node_a, node_b) = (format!("127.0.0.1:{port_a}"), format!("127.0.0.1:{port_b}"));
    let lb = Balancer::start(
        &nginx,
        &tmp.path().join("nginx"),
        port,
        &[node_a.clone(), node_b.clone()],
        &a.data_dir.join("tls/server.pem"),
        &a.data_dir.join("tls/server.key"),
        &a.data_dir.join("tls/ca.pem"),
    );
    let browser = browser_for(&lb.url(), &a.ca_pem());

    // --- Sign in through the balancer: onboarding, a token, then password + PIN + code. ---
    onboard(&browser, &cluster, "alice", &public_url).await;
    assert_eq!(browser.post("/security/tokens", "/security/tokens", &[("product", "mobileid_totp")]).await.status, 303);
    let list = browser.get("/security/tokens").await.body;
    let at = list.find("HVN").unwrap();
    let serial = list[at..at + 11].to_string();
    let pin_page = format!("/security/tokens/{serial}/pin");
    assert_eq!(browser.post(&pin_page, &pin_page, &[("pin", "4917"), ("pin_confirm", "4917")]).await.status, 303);
    let push = format!("/security/tokens/{serial}/push");
    let page = browser.post(&push, &push, &[("method", "screen")]).await.body;
    let uri_at = page.find("otpauth://").unwrap();
    let uri = page[uri_at..uri_at + page[uri_at..].find('<').unwrap()].replace("&amp;", "&");
    let secret = uri.split("secret=").nth(1).unwrap().split('&').next().unwrap().to_string();
    haven_testkit::web::room_in_totp_window().await;
    let now = oathtool(&["--totp", "-b", &secret]);
    let activate = format!("/security/tokens/{serial}/activate");
    let activated = browser.post("/security/tokens", &activate, &[("code", &now[0])]).await;
    assert_eq!(activated.status, 303, "{}", activated.body);
    assert_eq!(browser.post("/security", "/security/signout", &[]).await.status, 303);
    let window = oathtool(&["--totp", "-w", "1", "-b", &secret]);
    let signed = browser
        .post(
            "/security/signin",
            "/security/signin",
            &[("user_id", "alice"), ("password", PASSWORD), ("passcode", &format!("4917{}", window[1]))],
        )
        .await;
    assert_eq!(signed.status, 303, "{}", signed.body);

    // Requests alternate between the nodes, and the session holds on both.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..8 {
        let page = browser.get("/security/tokens").await;
        assert_eq!(page.status, 200, "signed in on {}: {}", page.node, page.body);
        assert!(page.body.contains(&serial), "{}", page.body);
        seen.insert(page.node);
    }
    assert_eq!(seen, [node_a.clone(), node_b.clone()].into_iter().collect(), "both nodes answered");
    // Haven recorded the client's address (nginx's X-Forwarded-For), not nginx's.
    let signins = audit_rows(&db_url, "signin.succeeded").await;
    assert!(!signins.is_empty() && signins.iter().all(|(_, source, _)| source == "127.0.0.2"), "{signins:?}");

    // --- A terminal session runs on node a; its page, its WebSocket and its stop reach it
    // through node b. (Where sessions can run here: bubblewrap, root.) ---
    if haven_testkit::tool("HAVEN_TEST_BWRAP").is_some() && haven_testkit::root("sessions") {
        let nodes = Nodes { ports: (port_a, port_b), pid_b: b.child.id() };
        session_through_the_other_node(&cluster, &browser, &db_url, nodes, &a.ca_pem()).await;
    }

    // --- Ten wrong passwords, answered by both nodes, lock the account for both. ---
    assert_eq!(browser.post("/security", "/security/signout", &[]).await.status, 303);
    let mut failed_on = std::collections::BTreeSet::new();
    for i in 0..10 {
        // Each attempt is two requests (the form, then the post): one more now and then shifts
        // the round robin so that the posts reach both nodes.
        if i % 2 == 1 {
            browser.get("/healthz").await;
        }
        let wrong = browser
            .post(
                "/security/signin",
                "/security/signin",
                &[("user_id", "alice"), ("password", &format!("not the password {i}")), ("passcode", "4917000000")],
            )
            .await;
        assert_eq!(wrong.status, 401, "{}", wrong.body);
        failed_on.insert(wrong.node);
    }
    assert_eq!(failed_on.len(), 2, "the failures were spread over both nodes: {failed_on:?}");
    let code = oathtool(&["--totp", "-b", &secret]);
    for _ in 0..2 {
        let refused = browser
            .post(
                "/security/signin",
                "/security/signin",
                &[("user_id", "alice"), ("password", PASSWORD), ("passcode", &format!("4917{}", code[0]))],
            )
            .await;
        assert_ne!(refused.status, 303, "a locked account does not sign in on {}", refused.node);
    }
    let shown = text(&cluster.haven("b", &["users", "show", "alice"]));
    assert!(shown.to_lowercase().contains("locked"), "{shown}");
    // The lockout reaches the security webhook (forwarded by the lease holder every 10 s).
    let alert = alerts.recv_timeout(Duration::from_secs(30)).expect("a security alert for the lockout");
    assert!(alert.contains(r#""action":"account.locked""#) && alert.contains("alice"), "{alert}");

    // --- An upload broken off on one node is finished on the other. ---
    onboard(&browser_for(&lb.url(), &a.ca_pem()), &cluster, "iona", &public_url).await;
    cluster.haven("a", &["users", "role", "iona", "staff"]);
    let today = haven_core::Clock::now(&haven_core::clock::SystemClock).date();
    let today = format!("{:04}-{:02}-{:02}", today.year(), u8::from(today.month()), today.day());
    cluster.haven("b", &["ig", "record", "iona", "data-security-awareness", &today]);
    cluster.haven(
        "a",
        &["assets", "create", "cohort", "--iao", "iona", "--ig-ref", "IG/00001", "--classification", "pseudonymised"],
    );
    let made = cluster.haven("b", &["transfer", "link", "create", "--asset", "cohort", "--as", "iona"]);
    let drop_link = text(&made)
        .split_whitespace()
        .find(|w| w.contains("/transfer/drop/"))
        .unwrap_or_else(|| panic!("a link in {}", text(&made)))
        .to_string();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let sha = hex::encode(haven_crypto::sha256(&data));
    let tus = browser_for(&lb.url(), &a.ca_pem()).client;
    let at = tus_create(&tus, &drop_link, "cohort.csv", data.len()).await;
    // The first PATCH sends 1 MB and then the client goes away mid-body.
    let first_half = data[..1_000_000].to_vec();
    let body = futures::stream::iter(vec![
        Ok::<_, std::io::Error>(bytes::Bytes::from(first_half)),
        Err(std::io::Error::other("the client went away")),
    ]);
    let broken = tus
        .patch(&at)
        .header("tus-resumable", "1.0.0")
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", "0")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await;
    assert!(broken.is_err() || !broken.unwrap().status().is_success());
    // Ask until a node says how far it got, then send the rest to the other node.
    let (mut offset, mut kept_on) = (0u64, String::new());
    for _ in 0..50 {
        let head = tus.head(&at).header("tus-resumable", "1.0.0").send().await.unwrap();
        assert_eq!(head.status(), 200);
        offset = head.headers()["upload-offset"].to_str().unwrap().parse().unwrap();
        kept_on = head.headers()["x-haven-upstream"].to_str().unwrap().to_string();
        if offset > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(offset > 0 && offset <= 1_000_000, "the part that arrived was kept: {offset}");
    let mut finished_on = String::new();
    for _ in 0..2 {
        // Round robin: one of two consecutive requests goes to the other node.
        let rest = tus
            .patch(&at)
            .header("tus-resumable", "1.0.0")
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset.to_string())
            .body(data[offset as usize..].to_vec())
            .send()
            .await
            .unwrap();
        let node = rest.headers()["x-haven-upstream"].to_str().unwrap().to_string();
        if rest.status() == 204 {
            finished_on = node;
            break;
        }
        // The same node again: ask where it is and try once more.
        let head = tus.head(&at).header("tus-resumable", "1.0.0").send().await.unwrap();
        offset = head.headers()["upload-offset"].to_str().unwrap().parse().unwrap();
    }
    assert!(!finished_on.is_empty(), "the rest of the upload was taken");
    assert_ne!(kept_on, finished_on, "one node told the offset, the other took the rest");
    let arrivals = text(&cluster.haven("a", &["transfer", "arrivals", "--asset", "cohort"]));
    assert!(arrivals.contains(&sha), "the stored file's SHA-256 is the sent file's: {arrivals}");
    eprintln!("upload: broken off, {offset} bytes kept (asked of {kept_on}), finished on {finished_on}");

    // --- A repository token and the package policy, changed on the command line (a third
    // process), are honoured within seconds by both nodes, which keep them in memory. ---
    let made = text(&cluster.haven("a", &["packages", "token", "iona", "--label", "pip"]));
    let secret = made.lines().last().unwrap().trim().to_string();
    let basic = {
        use base64::Engine as _;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("iona:{secret}")))
    };
    let pip = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&a.ca_pem()).unwrap()])
        .build()
        .unwrap();
    // Each node directly (their certificate names localhost), as JSON: (status, project names).
    let index = |port: u16| {
        let (pip, basic) = (pip.clone(), basic.clone());
        async move {
            let r = pip
                .get(format!("https://localhost:{port}/pypi/simple/"))
                .header("accept", "application/vnd.pypi.simple.v1+json")
                .header("authorization", basic)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let page: serde_json::Value = r.json().await.unwrap_or_default();
            let names: Vec<String> = page["projects"]
                .as_array()
                .map(|p| p.iter().map(|p| p["name"].as_str().unwrap_or_default().to_string()).collect())
                .unwrap_or_default();
            (status, names)
        }
    };
    let within = |what: &'static str| {
        let deadline = Instant::now() + Duration::from_secs(5);
        move || assert!(Instant::now() < deadline, "not within 5 s: {what}")
    };
    let numpy = |names: &[String]| names.iter().any(|n| n == "numpy");
    for port in [port_a, port_b] {
        for _ in 0..3 {
            let (status, names) = index(port).await;
            assert_eq!(status, 200, "the token works on both nodes, from memory after the first");
            assert!(!numpy(&names), "{names:?}");
        }
    }
    cluster.haven("b", &["packages", "allow", "pypi", "numpy", "--reason", "reviewed"]);
    for port in [port_a, port_b] {
        let late = within("a rule added on the command line is honoured");
        while !numpy(&index(port).await.1) {
            late();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    cluster.haven("a", &["users", "lock", "iona"]);
    for port in [port_a, port_b] {
        let late = within("a locked account's token is refused");
        while index(port).await.0 != 401 {
            late();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    cluster.haven("a", &["users", "unlock", "iona"]);

    // --- A second process given node b's name is refused: it would end b's sessions. ---
    let twin = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port()), "--config"])
        .arg(cluster.config("b"))
        .arg("--data-dir")
        .arg(tmp.path().join("twin-data"))
        .env_remove("HAVEN_CONFIG")
        .env("HAVEN_METRICS__LISTEN", "127.0.0.1:0")
        .env("HAVEN_HTTP__SESSIONS_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(twin.status.code(), Some(1), "{}", text(&twin));
    assert!(text(&twin).contains("another haven serve runs as node \"b\""), "{}", text(&twin));

    // --- The node holding the background lease dies; the other takes over. ---
    let holder_row = {
        let mut conn = sqlx::AnyConnection::connect(&db_url).await.unwrap();
        let row: (String,) =
            sqlx::query_as("SELECT holder FROM leases WHERE name = 'background'").fetch_one(&mut conn).await.unwrap();
        row.0
    };
    assert!(holder_row.starts_with("a@"), "node a, started first, does the background work: {holder_row}");
    let (before_seq, _) = checkpoints(&db_url).await;
    assert!(before_seq > 0, "node a writes checkpoints");
    let killed_at = Instant::now();
    a.kill();
    // Something to checkpoint after the kill, written by node b.
    cluster.haven("b", &["users", "add", "bo", "--email", "bo@example.org"]);
    let mut taken = Vec::new();
    while killed_at.elapsed() < Duration::from_secs(LEASE_SECS * 4) {
        taken = audit_rows(&db_url, "cluster.lease_taken_over").await;
        if !taken.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let took = killed_at.elapsed();
    assert_eq!(taken.len(), 1, "node b took the lease over within {LEASE_SECS} s and a third: {taken:?}");
    assert!(taken[0].2.contains("\"from\":\"a@"), "{:?}", taken[0]);
    assert!(taken[0].2.contains("\"holder\":\"b@"), "{:?}", taken[0]);
    let last = {
        let mut conn = sqlx::AnyConnection::connect(&db_url).await.unwrap();
        let row: (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM audit_events").fetch_one(&mut conn).await.unwrap();
        row.0
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while checkpoints(&db_url).await.0 < last && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(checkpoints(&db_url).await.0 >= last, "node b's checkpoints cover what happened after the kill");
    // ...and reach the log host, off the nodes: node b's name, a signature that verifies.
    let public =
        hex::decode(std::fs::read_to_string(cluster.data("b").join("audit-signing.pub")).unwrap().trim()).unwrap();
    let copied = loop {
        let message = logged.recv_timeout(Duration::from_secs(20)).expect("checkpoints copied to the log host");
        let json: serde_json::Value = serde_json::from_str(&message[message.find('{').unwrap()..]).unwrap();
        if message.contains(" b haven - audit.checkpoint - ") && json["seq"].as_i64().unwrap() >= last {
            break json;
        }
    };
    let signature = hex::decode(copied["signature"].as_str().unwrap()).unwrap();
    let hash: [u8; 32] = hex::decode(copied["hash"].as_str().unwrap()).unwrap().try_into().unwrap();
    let message = haven_crypto::audit_chain::checkpoint_message(
        copied["seq"].as_i64().unwrap(),
        &hash,
        copied["at_us"].as_i64().unwrap(),
    );
    assert!(haven_crypto::signing::verify(&public, &message, &signature), "{copied}");
    eprintln!("lease: taken over {:.1} s after node a was killed", took.as_secs_f64());
    let alert = alerts.recv_timeout(Duration::from_secs(30)).expect("a security alert for the takeover");
    assert!(alert.contains(r#""action":"cluster.lease_taken_over""#), "{alert}");

    // The balancer keeps answering with one node.
    for _ in 0..4 {
        // (nginx names each node it tried: a's refusal, then b.)
        let page = browser.get("/healthz").await;
        assert!(page.status == 200 && page.node.ends_with(&node_b), "{} {}", page.status, page.node);
    }

    // The trail both nodes wrote verifies as one chain, with b's checkpoints.
    let stopped = b.stop();
    assert!(stopped.success(), "{stopped:?}");
    let verified = cluster.haven("b", &["audit", "verify"]);
    assert_eq!(verified.status.code(), Some(0), "{}", text(&verified));
    assert!(text(&verified).contains("Audit trail intact"), "{}", text(&verified));
    drop(lb);
}

/// alice (signed in, in `browser`) starts a terminal on node a, then types into it, reads its
/// output and stops it through node b, which forwards each request to a. Then: node b refuses
/// to loop a request, to trust another certificate than the one node a recorded, and says when
/// node a cannot be reached.
async fn session_through_the_other_node(
    cluster: &Cluster,
    browser: &Browser,
    db_url: &str,
    Nodes { ports: (port_a, port_b), pid_b }: Nodes,
    ca_pem: &[u8],
) {
    let public_url = browser.url.as_str();
    let today = haven_core::Clock::now(&haven_core::clock::SystemClock);
    let day = |t: time::OffsetDateTime| format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day());
    cluster.haven("a", &["users", "add", "owen", "--email", "owen@example.org"]);
    cluster.haven("a", &["users", "role", "owen", "staff"]);
    for user in ["owen", "alice"] {
        cluster.haven("a", &["ig", "record", user, "data-security-awareness", &day(today)]);
    }
    let asset =
        ["assets", "create", "heart", "--iao", "owen", "--ig-ref", "IG/00002", "--classification", "identifiable"];
    cluster.haven("a", &asset);
    let members = cluster.dir.join("members.csv");
    let ends = day(today + time::Duration::days(180));
    std::fs::write(&members, format!("asset,user_id,role,ends\nheart,alice,researcher,{ends}\n")).unwrap();
    cluster.haven("b", &["assets", "import-members", members.to_str().unwrap()]);
    cluster.haven("b", &["apps", "add", "shell", "1", "--kind", "terminal", "--command", "/usr/bin/bash --norc"]);

    let accepted = browser.post("/governance/aus", "/governance/aus", &[("next", "/apps")]).await;
    assert_eq!(accepted.status, 303, "alice accepts the Acceptable Use Statement: {}", accepted.body);

    // Started on node a directly (the same cookies: they are the host's, whatever the port).
    let on = |port: u16| format!("https://127.0.0.1:{port}");
    let csrf_from = |page: &str| haven_testkit::web::field(page, "csrf_token");
    // A terminal launched on node a: its page's path.
    let launch_on_a = || async {
        let apps = browser.client.get(format!("{}/apps", on(port_a))).send().await.unwrap().text().await.unwrap();
        let launched = browser
            .client
            .post(format!("{}/apps/launch", on(port_a)))
            .header("origin", public_url)
            .form(&[("csrf_token", csrf_from(&apps).as_str()), ("asset", "heart"), ("app", "shell@1")])
            .send()
            .await
            .unwrap();
        assert_eq!(launched.status(), 303);
        launched.headers()["location"].to_str().unwrap().to_string()
    };
    let page_path = launch_on_a().await;
    let id = page_path.rsplit('/').next().unwrap().to_string();
    let backend: (String,) = {
        let mut conn = sqlx::AnyConnection::connect(db_url).await.unwrap();
        sqlx::query_as("SELECT backend FROM app_sessions WHERE id = $1").bind(&id).fetch_one(&mut conn).await.unwrap()
    };
    assert_eq!(backend.0, "local@a", "the session runs on node a");

    // Its page, through node b: answered by a (b forwards; the page is the same either way).
    let page = browser.client.get(format!("{}{page_path}", on(port_b))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();

    // Its terminal through the balancer (nginx passes the WebSocket on to either node), then
    // through node b directly: a WebSocket that node b joins to node a's. (A terminal has one
    // window at a time: the second closes the first.)
    let balancer_port: u16 = public_url.rsplit(':').next().unwrap().parse().unwrap();
    let mut socket = open_terminal(browser, balancer_port, &id, ca_pem).await;
    type_into(&mut socket, "balancer").await;
    let mut socket = open_terminal(browser, port_b, &id, ca_pem).await;
    type_into(&mut socket, "node-b").await;

    // Stopped through node b (a form post, its CSRF token from the page b forwarded).
    let stopped = browser
        .client
        .post(format!("{}{page_path}/stop", on(port_b)))
        .header("origin", public_url)
        .form(&[("csrf_token", csrf_from(&page).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(stopped.status(), 303, "{}", stopped.text().await.unwrap());
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        use futures::StreamExt;
        while let Some(Ok(m)) = socket.next().await {
            if matches!(m, tokio_tungstenite::tungstenite::Message::Close(_)) {
                break;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the terminal closed when the session stopped");
    let listed = text(&cluster.haven("a", &["sessions", "list"]));
    assert!(listed.contains("stopped by alice"), "{listed}");
    // Node a, which stopped it, recorded the client's address (127.0.0.2, which reached node b
    // directly): node b vouched for it in a signed header. (Node b's own address, 127.0.0.1,
    // with no X-Forwarded-For, would have been recorded otherwise.)
    let stops = audit_rows(db_url, "app_session.stopped").await;
    assert!(stops.iter().any(|(_, source, _)| source == "127.0.0.2"), "{stops:?}");
    // A client that forges the header is not believed: its own address is recorded.
    let now = haven_core::Clock::now(&haven_core::clock::SystemClock).unix_timestamp();
    let nobody = "0123456789abcdef0123456789abcdef";
    let forged = browser
        .client
        .get(format!("{}/apps/sessions/{nobody}", on(port_a)))
        .header("x-haven-forwarded", format!("198.51.100.7;{now};{}", "00".repeat(32)))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 404);
    let refused = audit_rows(db_url, "app_session.refused").await;
    let last = refused.last().unwrap();
    assert_eq!(last.1, "127.0.0.2", "{refused:?}");

    // Another, left running on node a. A request that says it was forwarded already is not
    // forwarded again (two nodes never pass one back and forth).
    let left = launch_on_a().await;

    // Many clients at once through node b, most of them gone mid-request (their futures dropped
    // at any point, WebSockets included): node b is left holding no connection to anyone.
    // Node b's TCP connections to node a (its forwards), by the inodes of its sockets.
    let sockets = || {
        let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid_b}/fd"))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter_map(|l| l.to_string_lossy().strip_prefix("socket:[")?.strip_suffix(']').map(str::to_string))
            .collect();
        let to_a = format!(":{port_a:04X}");
        ["/proc/net/tcp", "/proc/net/tcp6"]
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(f).unwrap_or_default().lines().skip(1).map(str::to_string).collect::<Vec<_>>()
            })
            .filter(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                fields.len() > 9 && fields[2].ends_with(&to_a) && inodes.contains(fields[9])
            })
            .count()
    };
    let before = sockets();
    // Each its own client, as browsers are: on one HTTP/2 connection, many streams reset at
    // once are refused as an attack (rapid reset), which is right, and not what this tests.
    let client = || {
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(ca_pem).unwrap()])
            .cookie_provider(browser.jar.clone())
            .build()
            .unwrap()
    };
    let page_url = format!("{}{left}", on(port_b));
    let left_id = left.rsplit('/').next().unwrap().to_string();
    let mut tasks = Vec::new();
    for i in 0..60u64 {
        let (client, url) = (client(), page_url.clone());
        tasks.push(tokio::spawn(async move {
            let request = async move { client.get(url).send().await?.bytes().await };
            // Every third finishes; the others give up after 0–9 ms.
            if i % 3 == 0 {
                assert!(request.await.is_ok());
            } else {
                let _ = tokio::time::timeout(Duration::from_millis(i % 10), request).await;
            }
        }));
    }
    for i in 0..10u64 {
        let (browser, ca) =
            (Browser { client: client(), url: browser.url.clone(), jar: browser.jar.clone() }, ca_pem.to_vec());
        let id = left_id.clone();
        tasks.push(tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_millis(5 * i), open_terminal(&browser, port_b, &id, &ca)).await;
        }));
    }
    let mut during = 0;
    while tasks.iter().any(|t| !t.is_finished()) {
        during = during.max(sockets());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while sockets() > before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        sockets() <= before,
        "node b holds {} connections to node a, {before} before the clients came and went",
        sockets()
    );
    eprintln!("forwarding under churn: {before} connections from b to a before, {during} during, {} after", sockets());
    assert!(during > before, "the clients' requests were forwarded ({during} connections during, {before} before)");
    assert_eq!(browser.client.get(&page_url).send().await.unwrap().status(), 200, "and still answers");
    let looped =
        browser.client.get(format!("{}{left}", on(port_b))).header("x-haven-forwarded", "1").send().await.unwrap();
    assert_eq!(looped.status(), 502);
    assert!(looped.text().await.unwrap().contains("runs on Haven node a, which could not be reached"));
    let set_node_a = |column: &'static str, value: String| async move {
        let mut conn = sqlx::AnyConnection::connect(db_url).await.unwrap();
        let sql = match column {
            "url" => "UPDATE cluster_nodes SET url = $1 WHERE name = 'a'",
            _ => "UPDATE cluster_nodes SET cert_sha256 = $1 WHERE name = 'a'",
        };
        sqlx::query(sql).bind(value).execute(&mut conn).await.unwrap();
    };
    let through_b = || async { browser.client.get(format!("{}{left}", on(port_b))).send().await.unwrap() };
    let recorded = through_b().await;
    assert_eq!(recorded.status(), 200);
    // A certificate other than the one recorded: refused (TLS), nothing sent.
    let pin: (String,) = {
        let mut conn = sqlx::AnyConnection::connect(db_url).await.unwrap();
        sqlx::query_as("SELECT cert_sha256 FROM cluster_nodes WHERE name = 'a'").fetch_one(&mut conn).await.unwrap()
    };
    set_node_a("cert_sha256", "00".repeat(32)).await;
    let wrong = through_b().await;
    assert_eq!(wrong.status(), 502);
    let body = wrong.text().await.unwrap();
    assert!(body.contains("runs on Haven node a, which could not be reached"), "{body}");
    assert!(!body.contains("127.0.0.1"), "internal addresses stay in the log: {body}");
    set_node_a("cert_sha256", pin.0).await;
    // Node a not answering at its address.
    set_node_a("url", format!("https://127.0.0.1:{}", free_port())).await;
    let gone = through_b().await;
    assert_eq!(gone.status(), 502);
    assert!(gone.text().await.unwrap().contains("Try again in a minute"));
    set_node_a("url", on(port_a)).await;
    assert_eq!(through_b().await.status(), 200, "answered again once the address is right");
}

/// The two nodes' ports, and node b's process (whose sockets are counted).
struct Nodes {
    ports: (u16, u16),
    pid_b: u32,
}

type Terminal = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// The terminal of session `id` through 127.0.0.1:`port`, as `browser`'s page opens it.
async fn open_terminal(browser: &Browser, port: u16, id: &str, ca_pem: &[u8]) -> Terminal {
    let url = format!("wss://127.0.0.1:{port}/apps/sessions/{id}/terminal");
    let mut request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url).unwrap();
    request.headers_mut().insert("origin", browser.url.parse().unwrap());
    request.headers_mut().insert("cookie", browser.cookies_for(&format!("https://127.0.0.1:{port}")).parse().unwrap());
    let mut roots = rustls::RootCertStore::empty();
    for cert in <rustls::pki_types::CertificateDer as rustls::pki_types::pem::PemObject>::pem_slice_iter(ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let tls =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls))
        .connect(rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    let (socket, answer) = tokio_tungstenite::client_async(request, stream).await.unwrap();
    assert_eq!(answer.status(), 101);
    socket
}

/// Type a command into the terminal and wait for what it prints.
async fn type_into(socket: &mut Terminal, word: &str) {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let line = format!("echo {word}-$((6*7))\n");
    socket.send(Message::Binary(line.into_bytes().into())).await.unwrap();
    let (expected, mut seen) = (format!("{word}-42"), String::new());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.contains(&expected) {
        assert!(Instant::now() < deadline, "the terminal's output came back: {seen:?}");
        match tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
            Ok(Some(Ok(Message::Binary(bytes)))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(Some(Ok(_))) => {}
            other => panic!("the terminal closed: {other:?} after {seen:?}"),
        }
    }
}
