//! End to end: the real `haven` binary, as an operator runs it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::Path;
use std::process::Command;

use haven_testkit::process::Haven;
use sqlx::{Connection, Executor};

const BIN: &str = env!("CARGO_BIN_EXE_haven");

fn haven(args: &[&str]) -> std::process::Output {
    // Tests run in parallel: no fixed metrics port.
    Command::new(BIN)
        .args(args)
        .env_remove("HAVEN_CONFIG")
        .env("HAVEN_METRICS__LISTEN", "127.0.0.1:0")
        .output()
        .expect("run haven")
}

fn csrf_field(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("form has a CSRF token") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

async fn edit_audit_row(data_dir: &Path, action: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}/haven.db", data_dir.display());
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    conn.execute("DROP TRIGGER audit_events_no_update").await.unwrap();
    let row: (i64,) = sqlx::query_as("SELECT seq FROM audit_events WHERE action = $1")
        .bind(action)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET source = '10.0.0.66' WHERE seq = $1")
        .bind(row.0)
        .execute(&mut conn)
        .await
        .unwrap();
    row.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_bootstrap_then_verify_and_detect_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("haven-data");
    let h = Haven::start(Path::new(BIN), &data, &[], &[]);
    let client = h.client();

    // HTTPS with the internal CA: /healthz, /readyz, /ca.pem.
    let health = client.get(format!("{}/healthz", h.url)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), r#"{"status":"ok"}"#);
    let ready: serde_json::Value = client.get(format!("{}/readyz", h.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ok");
    let ca = client.get(format!("{}/ca.pem", h.url)).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(ca.as_ref(), h.ca_pem().as_slice());
    let metrics = client.get(h.metrics_url.clone().unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("haven_http_requests_total"), "{metrics}");

    // The data directory and key files are private.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("master.key")), 0o600);
    assert_eq!(mode(&data.join("tls/ca.key")), 0o600);
    // Everything else Haven creates is private too (umask 077).
    assert_eq!(mode(&data.join("haven.db")), 0o600);
    assert_eq!(mode(&data.join("blobs")), 0o700);

    // The one-time bootstrap link creates the first administrator, once.
    let link = h.bootstrap_link.clone().expect("a bootstrap link was printed");
    let token = link.split("token=").nth(1).unwrap().to_string();
    let form = client.get(&link).send().await.unwrap();
    assert_eq!(form.status(), 200);
    let csrf = csrf_field(&form.text().await.unwrap());
    let fields = |user: &str| {
        vec![
            ("csrf_token", csrf.clone()),
            ("token", token.clone()),
            ("user_id", user.to_string()),
            ("email", "desk@example.org".to_string()),
            ("password", "correct horse battery staple".to_string()),
            ("password_confirm", "correct horse battery staple".to_string()),
        ]
    };
    let created = client.post(format!("{}/bootstrap", h.url)).form(&fields("desk")).send().await.unwrap();
    assert_eq!(created.status(), 201);
    assert!(created.text().await.unwrap().contains("Administrator created"));
    let again = client.post(format!("{}/bootstrap", h.url)).form(&fields("desk2")).send().await.unwrap();
    assert_eq!(again.status(), 410);

    // SIGTERM stops it cleanly.
    let stopped = h.stop();
    assert!(stopped.success(), "{stopped:?}");

    let d = data.to_str().unwrap();
    let ok = haven(&["audit", "verify", "--data-dir", d]);
    let out = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{out}");
    assert!(out.contains("Audit trail intact"), "{out}");

    let export = haven(&["audit", "export", "--data-dir", d, "--since", "2000-01-01", "--format", "jsonl"]);
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&export.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let actions: Vec<&str> = lines.iter().map(|l| l["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "key.project_key_created", // the OTP seed key, made at first start
            "package.bootstrap_allowlist",
            "bootstrap.link_issued",
            "account.created",
            "session.enrolment_started",
            "bootstrap.link_refused"
        ]
    );
    assert_eq!(lines[3]["source"], "127.0.0.1");

    let edited = edit_audit_row(&data, "account.created").await;
    let bad = haven(&["audit", "verify", "--data-dir", d]);
    let out = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{out}");
    assert!(out.contains(&format!("BROKEN at event {edited}")), "{out}");
}

#[test]
fn a_busy_port_is_reported_and_nothing_is_created() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("never");
    let out = haven(&["serve", "--listen", &addr, "--data-dir", data.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already in use") && err.contains("--listen"), "{err}");
    assert!(!data.exists());
}

#[test]
fn a_second_server_on_the_same_data_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let first = Haven::start(Path::new(BIN), &data, &[], &[]);
    let out = haven(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another `haven serve` is running on the data directory"), "{err}");
    assert!(first.stop().success());
}

#[test]
fn configuration_errors_exit_2_naming_file_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("haven.toml");
    std::fs::write(&file, "[http]\nmax_body_byte = 10\n").unwrap();
    let out = haven(&["config", "check", "--config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("haven.toml") && err.contains("http.max_body_byte") && err.contains("max_body_bytes"),
        "{err}"
    );

    std::fs::write(&file, "[http]\nmax_body_bytes = 4096\n").unwrap();
    let out = Command::new(BIN)
        .args(["config", "check", "--config", file.to_str().unwrap()])
        .env("HAVEN_DATABASE__URL", "postgres://haven:s3cr3t-pw@db.example/haven")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("max_body_bytes = 4096") && printed.contains("postgres://haven:<redacted>@db.example/haven"),
        "{printed}"
    );
    assert!(!printed.contains("s3cr3t"));
}

#[tokio::test]
async fn a_database_from_a_newer_haven_is_refused_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let d = data.to_str().unwrap();
    let config =
        haven::config::load(None, &[], &haven::config::Overrides { data_dir: Some(data.clone()), listen: None })
            .unwrap();
    // Closed, not just dropped: a dropped pool may still write (a WAL checkpoint) after `before`.
    haven::app::open(config, haven::app::Mode::Create).await.unwrap().store.close().await;
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{d}/haven.db");
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    conn.execute("INSERT INTO haven_schema (version, description, applied_us) VALUES (99, 'from the future', 0)")
        .await
        .unwrap();
    conn.close().await.unwrap();
    let before = std::fs::read(data.join("haven.db")).unwrap();

    let out = haven(&["serve", "--listen", "127.0.0.1:0", "--data-dir", d]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("newer Haven"), "{err}");
    assert_eq!(std::fs::read(data.join("haven.db")).unwrap(), before);
}

#[test]
fn an_unusable_data_directory_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = haven(&["serve", "--listen", "127.0.0.1:0", "--data-dir", file.join("sub").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot create the data directory"), "{err}");

    let out = haven(&["audit", "verify", "--data-dir", tmp.path().join("none").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a Haven data directory"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_requests_in_flight_finish() {
    use futures::StreamExt;
    let tmp = tempfile::tempdir().unwrap();
    let h = Haven::start(Path::new(BIN), &tmp.path().join("d"), &[], &[]);
    let client = h.client();
    // With the CSRF cookie, the server reads the whole (slow) form body before it answers.
    client.get(format!("{}/", h.url)).send().await.unwrap();
    let body = futures::stream::iter(0..4).then(|i| async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        Ok::<_, std::io::Error>(format!("field{i}=x&"))
    });
    let request = client
        .post(format!("{}/bootstrap", h.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(reqwest::Body::wrap_stream(body))
        .send();
    let in_flight = tokio::spawn(request);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let pid = h.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());

    let response = in_flight.await.unwrap().expect("the request in flight was answered");
    assert_eq!(response.status(), 403, "answered after its whole body arrived (no CSRF token in it)");
    let status = h.stop();
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_of_your_own_is_served() {
    let tmp = tempfile::tempdir().unwrap();
    // "Your organisation's CA": made here with the same tooling, in a directory Haven does not own.
    let org = tmp.path().join("org");
    let paths = haven::tls::Paths::new(&haven::datadir::DataDir::new(&org)).unwrap();
    let now = haven_core::Clock::now(&haven_core::clock::SystemClock);
    haven::tls::prepare(&paths, &haven::config::TlsConfig::default(), now).unwrap();
    let cert = paths.server_cert.to_str().unwrap().to_string();
    let key = paths.server_key.to_str().unwrap().to_string();

    let h = Haven::start(
        Path::new(BIN),
        &tmp.path().join("d"),
        &[],
        &[("HAVEN_TLS__CERT_FILE", cert.as_str()), ("HAVEN_TLS__KEY_FILE", key.as_str())],
    );
    assert!(!h.data_dir.join("tls/ca.pem").exists(), "no internal CA is made");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&std::fs::read(&paths.ca_cert).unwrap()).unwrap()])
        .build()
        .unwrap();
    let health = client.get(format!("{}/healthz", h.url)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ca = client.get(format!("{}/ca.pem", h.url)).header("accept", "application/json").send().await.unwrap();
    assert_eq!(ca.status(), 404);
}

/// A TLS client over a plain socket, trusting only this Haven's CA (no new dependency: rustls's
/// blocking connection), to send requests a byte-level client controls.
fn tls_to(port: u16, ca_pem: &[u8]) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    use base64::Engine;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let text = String::from_utf8(ca_pem.to_vec()).unwrap();
    let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from(der)).unwrap();
    let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(12))).unwrap();
    rustls::StreamOwned::new(conn, sock)
}

/// Read until the server closes; how long that took, or None if it was still open after the
/// socket's read timeout.
fn closed_after(mut r: impl std::io::Read) -> Option<std::time::Duration> {
    let started = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => return None,
            Err(_) => return Some(started.elapsed()),
        }
    }
}

/// Slowloris: a connection that never finishes its TLS handshake or its request head is closed
/// after `http.header_read_timeout_secs`, and one address holds at most
/// `http.max_connections_per_address` connections (the next is closed before any TLS work).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_surplus_connections_are_closed() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let env = [("HAVEN_HTTP__HEADER_READ_TIMEOUT_SECS", "2"), ("HAVEN_HTTP__MAX_CONNECTIONS_PER_ADDRESS", "4")];
    let h = Haven::start(Path::new(BIN), &tmp.path().join("d"), &[], &env);
    let port: u16 = h.url.rsplit(':').next().unwrap().parse().unwrap();
    let ca = h.ca_pem();

    let checks = tokio::task::spawn_blocking(move || {
        // Silent after connecting: no TLS handshake.
        let silent = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        silent.set_read_timeout(Some(std::time::Duration::from_secs(12))).unwrap();
        let silent = closed_after(&silent);
        // A TLS handshake, then half a request head.
        let mut tls = tls_to(port, &ca);
        tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n").unwrap();
        tls.flush().unwrap();
        let half_head = closed_after(&mut tls);
        // A whole request, then idle on keep-alive.
        let mut idle = tls_to(port, &ca);
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        idle.flush().unwrap();
        let kept_alive = closed_after(&mut idle);
        (silent, half_head, kept_alive)
    })
    .await
    .unwrap();
    for (what, after) in [("silent", checks.0), ("half a request head", checks.1), ("idle keep-alive", checks.2)] {
        let after = after.unwrap_or_else(|| panic!("{what}: still open after 12 s"));
        assert!(after < std::time::Duration::from_secs(6), "{what}: closed only after {after:?}");
    }

    // Four connections from one address are held; a fifth is closed at once.
    let held: Vec<std::net::TcpStream> =
        (0..4).map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let surplus = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    surplus.set_read_timeout(Some(std::time::Duration::from_secs(1))).unwrap();
    let refused = tokio::task::spawn_blocking(move || closed_after(&surplus)).await.unwrap();
    assert!(refused.is_some(), "the fifth connection from one address is closed at once");
    drop(held);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let health = h.client().get(format!("{}/healthz", h.url)).send().await.unwrap();
    assert_eq!(health.status(), 200, "closed connections give their places back");
    h.stop();
}

/// `haven sandbox check` tries each kind of isolation with the host's real bubblewrap: exit 0
/// here (root, namespaces on), and exit 1 with what to install when bubblewrap is missing.
#[test]
fn sandbox_check_says_which_isolation_sessions_get() {
    let Some(bwrap) = haven_testkit::tool("HAVEN_TEST_BWRAP") else { return };
    if !haven_testkit::root("the sandbox check") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let out = haven(&["sandbox", "check", "--bwrap", &bwrap, "--data-dir", d]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for line in [
        "user namespace       yes",
        "network namespace    yes",
        "mount namespace      yes",
        "session identity     yes",
        "sandbox as a session yes",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    assert!(text.contains("Sessions will run in bubblewrap"), "{text}");

    let out = haven(&["sandbox", "check", "--bwrap", "/nonexistent/bwrap", "--data-dir", d]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("apt-get install bubblewrap"), "{text}");
    assert!(text.contains("Sessions cannot be isolated here"), "{text}");
}

/// Every node, and a restored Haven, needs the keys the database was made with: a key file that
/// is missing (a path not copied) or another key is refused before anything is written, and no
/// new key is made in its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_or_a_missing_key_is_refused_not_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    assert!(Haven::start(Path::new(BIN), &data, &[], &[]).stop().success());
    let (master, audit) = (data.join("master.key"), data.join("audit-signing.key"));
    let (master_bytes, audit_bytes) = (std::fs::read(&master).unwrap(), std::fs::read(&audit).unwrap());
    let put = |path: &Path, bytes: &[u8]| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, bytes).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    };

    std::fs::remove_file(&master).unwrap();
    let out = haven(&["users", "list", "--data-dir", d]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("does not exist, but this database was made with a master key"), "{err}");
    assert!(!master.exists(), "no new master key was made");

    put(&master, &[7u8; 32]);
    let out = haven(&["serve", "--listen", "127.0.0.1:0", "--data-dir", d]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is not the master key this database was made with"), "{err}");

    put(&master, &master_bytes);
    put(&audit, &[9u8; 32]);
    let out = haven(&["audit", "verify", "--data-dir", d]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is not the audit signing key this database was made with"), "{err}");

    put(&audit, &audit_bytes);
    let out = haven(&["audit", "verify", "--data-dir", d]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));

    // A database from before the keys' checks were recorded: checked against the project keys
    // and the newest checkpoint it holds, not taken on trust.
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}/haven.db", data.display());
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    conn.execute("DELETE FROM settings WHERE key LIKE 'keys.%'").await.unwrap();
    conn.close().await.unwrap();
    std::fs::remove_file(&master).unwrap();
    let out = haven(&["users", "list", "--data-dir", d]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("does not exist, but this database was made with a master key"), "{err}");
    assert!(!master.exists(), "no new master key was made");
    put(&master, &[7u8; 32]);
    let err = String::from_utf8_lossy(&haven(&["users", "list", "--data-dir", d]).stderr).to_string();
    assert!(err.contains("is not the master key this database was made with"), "{err}");
    put(&master, &master_bytes);
    put(&audit, &[9u8; 32]);
    let err = String::from_utf8_lossy(&haven(&["users", "list", "--data-dir", d]).stderr).to_string();
    assert!(err.contains("is not the audit signing key this database was made with"), "{err}");
    put(&audit, &audit_bytes);
    let out = haven(&["audit", "verify", "--data-dir", d]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

/// One node on SQLite killed and started again: its data directory's lock proves it alone, so
/// it takes its leases back at once (no takeover in the audit trail), and, with no administrator
/// yet, prints a bootstrap link again.
#[test]
fn a_single_node_killed_and_restarted_takes_its_work_back_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    Haven::start(Path::new(BIN), &data, &[], &[]).kill();
    let again = Haven::start(Path::new(BIN), &data, &[], &[]);
    assert!(again.bootstrap_link.is_some(), "the restarted node prints the bootstrap link");
    assert!(again.stop().success());
    let d = data.to_str().unwrap();
    let export = haven(&["audit", "export", "--data-dir", d, "--since", "2000-01-01", "--format", "jsonl"]);
    let trail = String::from_utf8_lossy(&export.stdout);
    assert!(!trail.contains("cluster.lease_taken_over"), "{trail}");
}
