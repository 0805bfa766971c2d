//! Sign-ins per second with several nodes (issue 16), in one run, three ways on PostgreSQL: one
//! node reached directly, one node behind nginx, two nodes behind nginx (round robin). Each way
//! uses a new database and 50 accounts, each with an active event-based token (so every sign-in
//! is a fresh, valid password + PIN + passcode), signed in by 50 clients at once for
//! BENCH_SECONDS (default 15). Failed sign-ins are counted: a figure with failures does not count.
//! Run: `HAVEN_TEST_POSTGRES_URL=… HAVEN_TEST_NGINX=/usr/sbin/nginx cargo bench -p haven --bench cluster_signin`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark code

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use haven_crypto::otp::OtpKey;
use haven_testkit::balancer::{Balancer, free_port};
use haven_testkit::process::Haven;

mod support;
use support::USERS;

const BIN: &str = env!("CARGO_BIN_EXE_haven");

/// `USERS` onboarded accounts on the database `config` names, each with an active event-based
/// token; their OTP keys.
async fn setup(config_file: &Path, data: &Path, public_url: &str) -> Vec<OtpKey> {
    let overrides = haven::config::Overrides { data_dir: Some(data.into()), listen: None };
    let config = haven::config::load(Some(config_file), &[], &overrides).unwrap();
    let app = haven::app::open(config, haven::app::Mode::Existing).await.unwrap();
    let identity = app.identity(public_url).await.unwrap();
    let keys = support::accounts(&identity).await;
    app.store.close().await;
    keys
}

fn client(ca: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

/// 50 clients sign in at `url` until `seconds` have passed: (sign-ins, failures, seconds).
async fn load(url: &str, ca: &[u8], keys: Vec<OtpKey>, seconds: u64) -> (u64, u64, f64) {
    let started = Instant::now();
    let (done, failed) = support::sign_in_until(url, keys, || client(ca), started + Duration::from_secs(seconds)).await;
    (done, failed, started.elapsed().as_secs_f64())
}

async fn new_database(base: &str) -> String {
    use sqlx::{Connection, Executor};
    sqlx::any::install_default_drivers();
    let mut admin = sqlx::AnyConnection::connect(base).await.unwrap();
    let name = format!("haven_bench_signin_{}_{}", std::process::id(), free_port());
    admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.unwrap();
    let (head, _) = base.rsplit_once('/').unwrap();
    format!("{head}/{name}")
}

fn write_config(dir: &Path, node: &str, db: &str, public_url: &str, tls_of: Option<&Path>) -> PathBuf {
    let mut toml = format!(
        "public_url = \"{public_url}\"\n[database]\nurl = \"{db}\"\n[keys]\nmaster_key_file = \"{k}/master.key\"\n\
         audit_key_file = \"{k}/audit.key\"\n[http]\ntrusted_proxies = [\"127.0.0.1\"]\n[cluster]\nnode = \"{node}\"\n\
         [log]\nlevel = \"warn\"\n",
        k = dir.join("keys").display()
    );
    if let Some(tls) = tls_of {
        toml.push_str(&format!(
            "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            tls.join("server.pem").display(),
            tls.join("server.key").display()
        ));
    }
    let path = dir.join(format!("{node}.toml"));
    std::fs::write(&path, toml).unwrap();
    path
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let seconds: u64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(15);
    let pg = std::env::var("HAVEN_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("HAVEN_TEST_POSTGRES_URL"))
        .expect("HAVEN_BENCH_POSTGRES_URL or HAVEN_TEST_POSTGRES_URL: a PostgreSQL server to make databases on");
    let nginx = std::env::var("HAVEN_TEST_NGINX").unwrap_or_else(|_| "nginx".into());
    let mut rows = Vec::new();
    for (way, count, balanced) in
        [("one node, direct", 1, false), ("one node behind nginx", 1, true), ("two nodes behind nginx", 2, true)]
    {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("keys")).unwrap();
        let db = new_database(&pg).await;
        let (lb_port, first_port) = (free_port(), free_port());
        let public_url =
            if balanced { format!("https://127.0.0.1:{lb_port}") } else { format!("https://127.0.0.1:{first_port}") };
        let mut nodes = Vec::new();
        let mut addresses = Vec::new();
        for n in 0..count {
            let node = format!("n{n}");
            let data = dir.path().join(&node);
            let tls = (n > 0).then(|| dir.path().join("n0").join("tls"));
            let config = write_config(dir.path(), &node, &db, &public_url, tls.as_deref());
            let port = if n == 0 { first_port } else { free_port() };
            let listen = format!("127.0.0.1:{port}");
            let args = ["--config", config.to_str().unwrap()];
            nodes.push(Haven::start_on(Path::new(BIN), &data, &listen, &args, &[("RUST_LOG", "warn")]));
            addresses.push(listen);
        }
        let first = dir.path().join("n0");
        let keys = setup(&dir.path().join("n0.toml"), &first, &public_url).await;
        let tls = first.join("tls");
        let _balancer = balanced.then(|| {
            let (cert, key, ca) = (tls.join("server.pem"), tls.join("server.key"), tls.join("ca.pem"));
            Balancer::start(&nginx, &dir.path().join("nginx"), lb_port, &addresses, &cert, &key, &ca)
        });
        let ca = std::fs::read(tls.join("ca.pem")).unwrap();
        let (n, failed, elapsed) = load(&public_url, &ca, keys, seconds).await;
        rows.push(format!("| {way} | {:.1} | {n} | {failed} |", n as f64 / elapsed));
        for node in nodes {
            assert!(node.stop().success());
        }
    }
    println!("| way (PostgreSQL, {USERS} clients, {seconds} s) | sign-ins/s | sign-ins | failed |");
    println!("|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}
