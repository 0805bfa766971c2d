//! Test support (dev-only): a fake clock, test databases on SQLite and PostgreSQL, the in-process
//! application ([`app::TestApp`]) with a cheap hasher, a package upstream on disk
//! ([`upstream::Upstream`]), and a running `haven` process with an HTTPS client that trusts its CA.

// Test support: a setup that fails must fail the test at once and say why, so panicking is
// the right behaviour here (this crate is never part of the binary).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

pub mod app;
pub mod balancer;
pub mod callers;
pub mod db;
pub mod hasher;
pub mod mail;
pub mod process;
pub mod transfer;
pub mod upstream;
pub mod web;

use std::sync::Mutex;

use haven_core::Clock;
use time::{Duration, OffsetDateTime};

/// A clock that moves only when told to.
pub struct FakeClock(Mutex<OffsetDateTime>);

impl FakeClock {
    pub fn at(t: OffsetDateTime) -> Self {
        FakeClock(Mutex::new(t))
    }
    /// 2026-01-01T00:00:00Z
    pub fn new() -> Self {
        Self::at(time::macros::datetime!(2026-01-01 0:00 UTC))
    }
    pub fn advance(&self, by: Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> OffsetDateTime {
        self.0.lock().map(|t| *t).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// Whether this run must not skip anything for a missing tool (CI sets `CI=true`).
pub fn strict() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether the test runs as root (the sandbox needs it to give sessions identities of their own):
/// false means skip, which under CI=true is a failure.
pub fn root(why: &str) -> bool {
    let root = is_root();
    if !root {
        assert!(!strict(), "{why} needs root under CI=true");
        eprintln!("skipped: {why} needs root");
    }
    root
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0")))
}

/// A tool scripts/test provides through the environment variable `var` (a path, a URL): None
/// when it is not set, so that the test can say it was skipped; under CI=true that is a failure.
pub fn tool(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if strict() => panic!("{var} is required under CI=true (scripts/test sets it)"),
        _ => {
            eprintln!("skipped: {var} is not set (scripts/test sets it)");
            None
        }
    }
}

/// Haven's own program (`target/<profile>/haven`, built beside the running test when the
/// workspace's tests are built), for tests of other crates that start it (the Slurm bridge).
/// None means skip, which under CI=true is a failure.
pub fn haven_program() -> Option<std::path::PathBuf> {
    let test = std::env::current_exe().ok()?;
    // target/<profile>/deps/<test binary>
    let program = test.parent()?.parent()?.join("haven");
    if program.is_file() {
        return Some(program);
    }
    assert!(!strict(), "{} is required under CI=true (build the workspace's tests)", program.display());
    eprintln!("skipped: {} is not built", program.display());
    None
}

/// Store contract tests: `contract!(a, b)` makes `sqlite::a`, `postgres::a`, … from
/// `async fn a(db: TestDb)`, so every test of the SQL runs on both databases. Without
/// `HAVEN_TEST_POSTGRES_URL` the PostgreSQL ones say they were skipped (`scripts/test` always sets
/// it under `CI=true`).
#[macro_export]
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::db::sqlite().await).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                match $crate::db::postgres().await {
                    Some(db) => super::$name(db).await,
                    None => {
                        assert!(!$crate::strict(), "HAVEN_TEST_POSTGRES_URL is required under CI=true");
                        eprintln!("skipped: HAVEN_TEST_POSTGRES_URL is not set");
                    }
                }
            })*
        }
    };
}
