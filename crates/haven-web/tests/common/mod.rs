//! The application the in-process web tests drive: the real router and use cases over a test
//! database, a local blob store, a fake clock and a mailer that keeps messages in memory.
#![allow(clippy::unwrap_used, dead_code)] // test support; each test file uses part of it

pub mod browser;

use std::sync::Arc;
use std::time::Duration;

use haven_core::identity::{Identity, IdentityDeps, SecurityPolicy};
use haven_core::keyring::KeyRing;
use haven_core::packages::{Packages, PackagesConfig, PackagesDeps};
use haven_core::service::Service;
use haven_core::{Clock, Store};
use haven_crypto::SystemRng;
use haven_crypto::keys::Key256;
use haven_store::blobs::{BlobLocation, SealedBlobStore, open_backend};
use haven_store::upstream::UpstreamFetcher;
use haven_testkit::FakeClock;
use haven_testkit::db::TestDb;
use haven_testkit::mail::MemoryMailer;
use haven_web::metrics::Metrics;
use haven_web::{AppState, WebConfig};

pub const PUBLIC_URL: &str = "https://haven.example";

pub struct TestApp {
    pub state: AppState,
    /// The store behind the app, for tests that read what was written (the audit trail).
    pub store: Arc<dyn Store>,
    pub clock: Arc<FakeClock>,
    pub mail: Arc<MemoryMailer>,
    pub db: TestDb,
    _blobs: tempfile::TempDir,
}

/// What varies between test files.
pub struct Options {
    pub policy: SecurityPolicy,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub ca_pem: Option<String>,
    pub packages: PackagesConfig,
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            policy: SecurityPolicy::default(),
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            ca_pem: None,
            packages: PackagesConfig::default(),
            trusted_proxies: Vec::new(),
        }
    }
}

pub async fn test_app(db: TestDb, options: Options) -> TestApp {
    let store: Arc<dyn Store> = Arc::new(db.store.clone());
    let clock = Arc::new(FakeClock::new());
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let rng = Arc::new(SystemRng::new());
    let keys =
        Arc::new(KeyRing::new(Key256::generate(rng.as_ref()).unwrap(), store.clone(), dyn_clock.clone(), rng.clone()));
    let dir = tempfile::tempdir().unwrap();
    let blobs = Arc::new(SealedBlobStore::new(
        open_backend(&BlobLocation::Local(dir.path().into())).unwrap(),
        keys.clone(),
        dyn_clock.clone(),
    ));
    let mail = Arc::new(MemoryMailer::default());
    let fresh_mfa_minutes = options.policy.fresh_mfa_minutes;
    let deps = IdentityDeps {
        store: store.clone(),
        clock: dyn_clock.clone(),
        rng: rng.clone(),
        hasher: Arc::new(haven_web::hashing::PooledHasher::new(rng.clone(), 2)),
        mailer: mail.clone(),
        policy: options.policy,
        public_url: PUBLIC_URL.into(),
    };
    let identity = Identity::new(deps, &keys).await.unwrap();
    let c = &options.packages;
    let upstreams = [c.pypi.read_root(), c.cran.read_root(), c.conda.read_root()].map(str::to_string);
    let packages = Packages::new(PackagesDeps {
        store: store.clone(),
        blobs: blobs.clone(),
        clock: dyn_clock.clone(),
        rng: rng.clone(),
        upstream: Arc::new(UpstreamFetcher::new(&upstreams, Duration::from_secs(10)).unwrap()),
        config: options.packages.clone(),
        public_url: PUBLIC_URL.into(),
        fresh_mfa_minutes,
    });
    let service = Arc::new(Service::new(store.clone(), blobs, dyn_clock.clone(), identity.hasher.clone()));
    let state = AppState {
        packages: Arc::new(packages),
        identity: Arc::new(identity),
        service,
        clock: dyn_clock,
        rng,
        metrics: Arc::new(Metrics::new()),
        config: Arc::new(WebConfig {
            public_url: PUBLIC_URL.into(),
            max_body_bytes: options.max_body_bytes,
            request_timeout: options.request_timeout,
            ca_pem: options.ca_pem,
            trusted_proxies: Arc::new(options.trusted_proxies.clone()),
        }),
    };
    TestApp { state, store, clock, mail, db, _blobs: dir }
}
