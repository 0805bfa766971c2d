//! Sign-in under load: 50 clients signing in at once (password + PIN + event-based OTP, so every
//! sign-in is fresh) against the real `haven serve`, while `/healthz` is polled every 10 ms.
//! Reports sign-ins per second and the p50/p99 latency of `/healthz` with and without the load.
//! Run: `cargo bench -p haven --bench signin_load` (BENCH_SECONDS, BENCH_HASH_CONCURRENCY).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark code

use std::path::Path;
use std::time::{Duration, Instant};

use haven_crypto::otp::OtpKey;
use haven_testkit::process::Haven;

mod support;
use support::{PASSWORD, USERS, csrf};

const BIN: &str = env!("CARGO_BIN_EXE_haven");

/// Make `USERS` onboarded accounts, each with an active event-based token, in the data
/// directory a server runs on (made after its start: the lifecycle run at start disables
/// accounts with no membership, which these are); their OTP keys.
async fn setup(data: &Path) -> Vec<OtpKey> {
    let config =
        haven::config::load(None, &[], &haven::config::Overrides { data_dir: Some(data.into()), listen: None })
            .unwrap();
    let app = haven::app::open(config, haven::app::Mode::Existing).await.unwrap();
    let identity = app.identity("https://localhost").await.unwrap();
    let keys = support::accounts(&identity).await;
    app.store.close().await;
    keys
}

async fn poll_healthz(client: reqwest::Client, url: String, until: Instant) -> Vec<Duration> {
    let mut out = Vec::new();
    while Instant::now() < until {
        let t = Instant::now();
        let r = client.get(&url).send().await.unwrap();
        assert!(r.status().is_success());
        out.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    out
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 * p).ceil() as usize).saturating_sub(1).min(v.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let concurrency = std::env::var("BENCH_HASH_CONCURRENCY").unwrap_or_else(|_| "0".into());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("haven-data");
    let server = Haven::start(
        Path::new(BIN),
        &data,
        &[],
        &[("HAVEN_HTTP__HASH_CONCURRENCY", &concurrency), ("RUST_LOG", "warn")],
    );
    let setup_start = Instant::now();
    let keys = setup(&data).await;
    eprintln!("setup: {USERS} users with tokens in {:.1} s", setup_start.elapsed().as_secs_f64());
    let client = server.client();
    let health = format!("{}/healthz", server.url);

    let mut idle = poll_healthz(client.clone(), health.clone(), Instant::now() + Duration::from_secs(3)).await;

    // Refusals look alike in time too: median of 8 sequential attempts of each kind, quiet server
    // (few enough to stay under the lockout and address limits: 5 x 8 = 40 < 50 per address).
    let attempt = |user: &'static str, password: &'static str, passcode: String| {
        let (c, url) = (server.client(), server.url.clone());
        async move {
            let mut times = Vec::new();
            for _ in 0..8 {
                let page = c.get(format!("{url}/security/signin")).send().await.unwrap().text().await.unwrap();
                let form = [
                    ("csrf_token", csrf(&page)),
                    ("user_id", user.into()),
                    ("password", password.into()),
                    ("passcode", passcode.clone()),
                ];
                let t = Instant::now();
                let r =
                    c.post(format!("{url}/security/signin")).header("origin", &url).form(&form).send().await.unwrap();
                assert_eq!(r.status().as_u16(), 401);
                times.push(t.elapsed());
            }
            percentile(&mut times, 0.5)
        }
    };
    // Warm up first: a fresh process pays page faults on its first 19 MiB argon2 blocks.
    attempt("warmup", PASSWORD, "4917123456".to_string()).await;
    let valid_code_wrong_pin = format!("1111{}", keys[47].code(1));
    for (what, user, password, passcode) in [
        ("unknown user", "nobody", PASSWORD, "4917123456".to_string()),
        ("wrong password", "load49", "not the password at all", "4917123456".to_string()),
        ("wrong passcode", "load48", PASSWORD, "4917123456".to_string()),
        ("wrong PIN, valid code", "load47", PASSWORD, valid_code_wrong_pin),
    ] {
        println!(
            "refusal timing, {what}: median {:.1} ms",
            attempt(user, password, passcode).await.as_secs_f64() * 1e3
        );
    }

    let until = Instant::now() + Duration::from_secs(seconds);
    let poller = tokio::spawn(poll_healthz(client.clone(), health.clone(), until));
    let started = Instant::now();
    let (done, failed) = support::sign_in_until(&server.url, keys, || server.client(), until).await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut loaded = poller.await.unwrap();
    println!(
        "sign-ins: {done} in {elapsed:.1} s = {:.1}/s ({failed} failed), {USERS} concurrent clients, hash_concurrency={concurrency}",
        done as f64 / elapsed,
    );
    println!(
        "/healthz idle: p50 {:.2} ms, p99 {:.2} ms ({} polls)",
        percentile(&mut idle, 0.5).as_secs_f64() * 1e3,
        percentile(&mut idle, 0.99).as_secs_f64() * 1e3,
        idle.len()
    );
    println!(
        "/healthz under sign-in load: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} polls)",
        percentile(&mut loaded, 0.5).as_secs_f64() * 1e3,
        percentile(&mut loaded, 0.99).as_secs_f64() * 1e3,
        loaded.iter().max().unwrap().as_secs_f64() * 1e3,
        loaded.len()
    );
    assert!(server.stop().success());
}
