//! The application in-process tests drive: the real router and use cases, wired by the binary's
//! own [`haven::wiring`], over a test database, a local blob store in a temporary directory, a
//! fake clock, a mailer that keeps messages in memory and (unless asked otherwise) a cheap hasher.
//!
//! ```ignore
//! let app = TestApp::builder().policy(policy).build().await;           // SQLite
//! let app = TestApp::builder().db(postgres).production_hasher().build().await;
//! let app = TestApp::builder().db(db).s3_with_postgres().build().await;   // PostgreSQL + S3
//! ```

use std::sync::Arc;
use std::time::Duration;

use haven::wiring::{Adapters, Settings};
use haven_core::governance::GovernanceConfig;
use haven_core::identity::{Hasher, SecurityPolicy};
use haven_core::keyring::KeyRing;
use haven_core::packages::PackagesConfig;
use haven_core::transfer::scan::Scanner;
use haven_core::transfer::uploads::TransferConfig;
use haven_core::workspaces::drives::{Drive, Drives, DrivesConfig};
use haven_core::workspaces::sessions::SessionsConfig;
use haven_core::{Clock, Store};
use haven_crypto::SystemRng;
use haven_crypto::keys::Key256;
use haven_crypto::signing::SigningKey;
use haven_store::blobs::{BlobLocation, S3Options, SealedBlobStore};
use haven_store::drives::LocalDrives;
use haven_store::hasher::PooledHasher;
use haven_store::upstream::UpstreamFetcher;
use haven_web::{AppState, WebConfig};

use crate::FakeClock;
use crate::db::TestDb;
use crate::hasher::CheapHasher;
use crate::mail::MemoryMailer;

pub const PUBLIC_URL: &str = "https://haven.example";
/// The web sessions' origin of the in-process app: the same host, another port.
pub const SESSIONS_URL: &str = "https://haven.example:8444";

pub struct TestApp {
    pub state: AppState,
    /// The store behind the app, for tests that read what was written (the audit trail).
    pub store: Arc<dyn Store>,
    pub clock: Arc<FakeClock>,
    /// The sealed blob store behind the app, for tests that wire a use case of their own.
    pub blobs: Arc<dyn haven_core::blobs::BlobStore>,
    /// What the sealed store writes to (a directory or a bucket), for tests that tamper with
    /// stored ciphertext.
    pub backend: Arc<dyn object_store::ObjectStore>,
    /// Haven's signing key here (receipts, checkpoints).
    pub signer: Arc<SigningKey>,
    pub mail: Arc<MemoryMailer>,
    pub db: TestDb,
    /// N:, S: and outputs (directories in this app's temporary directory).
    pub drives: Arc<dyn Drives>,
    /// The local session backend (to point its sessions at a repository this test serves).
    pub local_sessions: Arc<haven_sandbox::local::LocalBackend>,
    _groups: Option<GroupsCleanup>,
    _blobs: tempfile::TempDir,
}

/// What varies between tests; every setting has the default a test gets without asking.
pub struct TestAppBuilder {
    db: Option<TestDb>,
    policy: SecurityPolicy,
    packages: PackagesConfig,
    governance: GovernanceConfig,
    transfer: TransferConfig,
    drives: DrivesConfig,
    max_body_bytes: usize,
    request_timeout: Duration,
    ca_pem: Option<String>,
    trusted_proxies: Vec<ipnet::IpNet>,
    production_hasher: bool,
    s3_with_postgres: bool,
    scanner: Option<Arc<dyn Scanner>>,
    sessions: SessionsConfig,
    egress: haven_core::egress::EgressConfig,
    slurm: Option<haven_sandbox::slurm::Slurm>,
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            db: None,
            policy: SecurityPolicy::default(),
            packages: PackagesConfig::default(),
            governance: GovernanceConfig::default(),
            transfer: TransferConfig::default(),
            drives: DrivesConfig::default(),
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            ca_pem: None,
            trusted_proxies: Vec::new(),
            production_hasher: false,
            s3_with_postgres: false,
            scanner: None,
            sessions: SessionsConfig::default(),
            egress: haven_core::egress::EgressConfig::default(),
            slurm: None,
        }
    }
}

impl TestAppBuilder {
    /// Batch jobs go to this Slurm cluster.
    pub fn slurm(mut self, slurm: haven_sandbox::slurm::Slurm) -> Self {
        self.slurm = Some(slurm);
        self
    }

    /// The database (default: a new SQLite database).
    pub fn db(mut self, db: TestDb) -> Self {
        self.db = Some(db);
        self
    }
    pub fn policy(mut self, policy: SecurityPolicy) -> Self {
        self.policy = policy;
        self
    }
    pub fn packages(mut self, packages: PackagesConfig) -> Self {
        self.packages = packages;
        self
    }
    pub fn transfer(mut self, transfer: TransferConfig) -> Self {
        self.transfer = transfer;
        self
    }
    pub fn egress(mut self, egress: haven_core::egress::EgressConfig) -> Self {
        self.egress = egress;
        self
    }

    pub fn drives(mut self, drives: DrivesConfig) -> Self {
        self.drives = drives;
        self
    }
    pub fn sessions(mut self, sessions: SessionsConfig) -> Self {
        self.sessions = sessions;
        self
    }

    pub fn governance(mut self, governance: GovernanceConfig) -> Self {
        self.governance = governance;
        self
    }

    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body_bytes = n;
        self
    }
    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t;
        self
    }
    pub fn ca_pem(mut self, pem: &str) -> Self {
        self.ca_pem = Some(pem.to_string());
        self
    }
    pub fn trusted_proxies(mut self, nets: Vec<ipnet::IpNet>) -> Self {
        self.trusted_proxies = nets;
        self
    }
    /// Hash with production argon2id parameters on the bounded pool `haven serve` uses.
    pub fn production_hasher(mut self) -> Self {
        self.production_hasher = true;
        self
    }

    /// A malware scanner for arrivals (none by default: arrivals stay pending).
    pub fn scanner(mut self, scanner: Arc<dyn Scanner>) -> Self {
        self.scanner = Some(scanner);
        self
    }

    /// Blobs in S3 (the `moto_server` scripts/test starts, HAVEN_TEST_S3_ENDPOINT) when the
    /// database is PostgreSQL, as a deployment of several nodes has them; local with SQLite.
    pub fn s3_with_postgres(mut self) -> Self {
        self.s3_with_postgres = true;
        self
    }

    pub async fn build(self) -> TestApp {
        let db = match self.db {
            Some(db) => db,
            None => crate::db::sqlite().await,
        };
        let store: Arc<dyn Store> = Arc::new(db.store.clone());
        let clock = Arc::new(FakeClock::new());
        let dyn_clock: Arc<dyn Clock> = clock.clone();
        let rng = Arc::new(SystemRng::new());
        let master = Key256::generate(rng.as_ref()).unwrap();
        let keys = Arc::new(KeyRing::new(master, store.clone(), dyn_clock.clone(), rng.clone()));
        let dir = tempfile::tempdir().unwrap();
        let location = match (self.s3_with_postgres && db.url.starts_with("postgres"), s3_endpoint()) {
            (true, Some(endpoint)) => BlobLocation::S3(s3_bucket(&endpoint).await),
            (true, None) if crate::strict() => {
                panic!("HAVEN_TEST_S3_ENDPOINT is not set, and CI=true forbids local blobs here")
            }
            _ => BlobLocation::Local(dir.path().into()),
        };
        let sealed = SealedBlobStore::open(&location, keys.clone(), dyn_clock.clone()).unwrap();
        let backend = sealed.backend();
        let blobs: Arc<dyn haven_core::blobs::BlobStore> = Arc::new(sealed);
        let mail = Arc::new(MemoryMailer::default());
        let drives: Arc<dyn Drives> =
            Arc::new(LocalDrives::new(dir.path().join("drives"), dyn_clock.as_ref()).unwrap());
        let signer =
            Arc::new(SigningKey::from_seed(SigningKey::generate_seed(rng.as_ref()).unwrap().as_ref()).unwrap());
        let hasher: Arc<dyn Hasher> =
            if self.production_hasher { Arc::new(PooledHasher::new(rng.clone(), 2)) } else { Arc::new(CheapHasher) };
        let c = &self.packages;
        let upstreams = [c.pypi.read_root(), c.cran.read_root(), c.conda.read_root()].map(str::to_string);
        let upstream = UpstreamFetcher::new(&upstreams, Duration::from_secs(10)).unwrap();
        // Sessions run for real when this machine can sandbox them (scripts/test sets
        // HAVEN_TEST_BWRAP and runs as root); otherwise launches say the host cannot.
        let root = haven_sandbox::runner::running_as_root();
        let tools = std::env::var("HAVEN_TEST_BWRAP")
            .ok()
            .filter(|b| root && !b.is_empty())
            .and_then(|b| haven_sandbox::runner::Tools::find(std::path::Path::new(&b)).ok());
        // A parent group of this app's own: tests run side by side, and their ids may repeat.
        let groups = tools.is_some().then(|| test_groups(dir.path())).flatten();
        let groups_cleanup = groups.clone().map(GroupsCleanup);
        let local_sessions = Arc::new(haven_sandbox::local::LocalBackend::new(haven_sandbox::local::LocalConfig {
            name: "local".into(),
            tools,
            drives_root: dir.path().join("drives"),
            run_root: dir.path().join("sessions"),
            repository: None,
            // Real control groups where the host has them, under a parent of the tests' own.
            groups,
            slurm: self.slurm.clone(),
        }));
        let sessions = local_sessions.clone();
        let adapters = Adapters {
            store: store.clone(),
            blobs: blobs.clone(),
            keys,
            clock: dyn_clock,
            rng,
            hasher,
            mailer: mail.clone(),
            upstream: Arc::new(upstream),
            signer: signer.clone(),
            scanner: self.scanner,
            drives: drives.clone(),
            sessions,
        };
        let settings = Settings {
            public_url: PUBLIC_URL.into(),
            policy: self.policy,
            packages: self.packages,
            governance: self.governance,
            transfer: self.transfer,
            drives: self.drives,
            sessions: self.sessions,
            jobs: haven_core::workspaces::jobs::JobsConfig::default(),
            egress: self.egress,
            web: WebConfig {
                public_url: PUBLIC_URL.into(),
                sessions_url: SESSIONS_URL.into(),
                max_body_bytes: self.max_body_bytes,
                request_timeout: self.request_timeout,
                ca_pem: self.ca_pem,
                trusted_proxies: Arc::new(self.trusted_proxies),
                forwarding_key: None,
            },
        };
        let state = adapters.state(settings).await.unwrap();
        TestApp {
            state,
            store,
            clock,
            blobs,
            backend,
            signer,
            mail,
            db,
            drives,
            local_sessions,
            _groups: groups_cleanup,
            _blobs: dir,
        }
    }
}

impl TestApp {
    /// How many sealed objects the blob store holds (local directory or S3 bucket), with any
    /// still being written (a local store's `staging/`): what a test compares with the objects the
    /// database records, to find a blob left behind.
    pub async fn blob_count(&self) -> usize {
        use futures::TryStreamExt;
        let mut n = 0;
        for under in ["objects", "staging"] {
            let listed: Vec<_> = self.backend.list(Some(&under.into())).try_collect().await.unwrap();
            n += listed.len();
        }
        n
    }

    /// Put object `from`'s stored (sealed) bytes in place of object `to`'s: what someone with
    /// the storage in hand could do, for tests that the swap is caught.
    pub async fn swap_blob(&self, to: &str, from: &str) {
        let path = |id: &str| object_store::path::Path::from(format!("objects/{}/{}", &id[..2], id));
        use object_store::ObjectStoreExt;
        let bytes = self.backend.get(&path(from)).await.unwrap().bytes().await.unwrap();
        self.backend.put(&path(to), bytes.into()).await.unwrap();
    }

    /// Where `drive`'s files are, to read what was placed there.
    pub fn drive_path(&self, drive: &Drive) -> std::path::PathBuf {
        self._blobs.path().join("drives").join(drive.relative_path())
    }

    /// How many sessions the local backend runs now.
    pub fn local_sessions_running(&self) -> usize {
        haven_core::workspaces::sessions::SessionBackend::running(self.local_sessions.as_ref()).len()
    }

    /// A session's run directory (its configuration, its repository socket) on the host.
    pub fn session_run_dir(&self, id: &str) -> std::path::PathBuf {
        self._blobs.path().join("sessions").join(id)
    }

    /// Serve the router over plain HTTP on a free loopback port, for real clients (tus clients,
    /// curl) to talk to; the server stops when the test's runtime does. Its URL, no slash.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let service =
            haven_web::router(self.state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, service).await });
        url
    }
}

/// The router served over HTTPS by [`TestApp::serve_https`], under a CA of its own.
pub struct Https {
    /// `https://127.0.0.1:PORT`, no slash.
    pub url: String,
    /// The CA certificate clients trust (PEM).
    pub ca_pem: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// Serve the router over HTTPS as `haven serve` does (its internal CA, its TLS settings), on
    /// a free loopback port, for clients that speak only HTTPS (`haven upload`).
    pub async fn serve_https(&self) -> Https {
        let dir = tempfile::tempdir().unwrap();
        let data = haven::datadir::DataDir::new(dir.path());
        let paths = haven::tls::Paths::new(&data).unwrap();
        let tls = haven::config::TlsConfig::default();
        let now = haven_core::Clock::now(&haven_core::clock::SystemClock);
        let (cert, key) = haven::tls::prepare(&paths, &tls, now).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let resolver = haven::tls::Resolver::new(haven::tls::load_certified_key(&cert, &key, &provider).unwrap());
        let config = haven::tls::server_config(resolver, provider).unwrap();
        let config = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let service =
            haven_web::router(self.state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
        let server = axum_server::from_tcp_rustls(listener, config).unwrap();
        tokio::spawn(async move { server.serve(service).await });
        Https { url, ca_pem: paths.ca_cert, _dir: dir }
    }
}

impl TestApp {
    /// Point this app's sessions at its package repository as `haven serve` does: through the
    /// gate (TLS with an internal CA of its own, the repository routes only) under the name
    /// `localhost`, port 8443 inside.
    pub fn serve_repository_to_sessions(&self) {
        let dir = tempfile::tempdir().unwrap();
        let data = haven::datadir::DataDir::new(dir.path());
        let paths = haven::tls::Paths::new(&data).unwrap();
        let now = haven_core::Clock::now(&haven_core::clock::SystemClock);
        let (cert, key) = haven::tls::prepare(&paths, &haven::config::TlsConfig::default(), now).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let resolver = haven::tls::Resolver::new(haven::tls::load_certified_key(&cert, &key, &provider).unwrap());
        let config = Arc::new(haven::tls::server_config(resolver, provider).unwrap());
        let gate = haven::gate::RepositoryGate::new(config, self.state.clone());
        self.local_sessions.set_repository(haven_sandbox::local::Repository {
            gate: Arc::new(gate),
            host: "localhost".into(),
            port: 8443,
            ca_pem: Some(std::fs::read_to_string(&paths.ca_cert).unwrap()),
        });
    }
}

/// The host's control groups for one test app's sessions (under `haven-test-<its directory's
/// name>`), where there are some.
fn test_groups(dir: &std::path::Path) -> Option<haven_sandbox::cgroup::Groups> {
    let name = format!("haven-test-{}", dir.file_name()?.to_string_lossy());
    let groups = haven_sandbox::cgroup::Groups::detect(std::path::Path::new("/sys/fs/cgroup"), &name).ok()?;
    groups.prepare().ok()?;
    Some(groups)
}

/// Removes a test app's parent groups once its sessions' groups are gone.
pub struct GroupsCleanup(haven_sandbox::cgroup::Groups);

impl Drop for GroupsCleanup {
    fn drop(&mut self) {
        // Here, not on a thread of its own: the test's process may end right after.
        for _ in 0..30 {
            if self.0.remove() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn s3_endpoint() -> Option<String> {
    std::env::var("HAVEN_TEST_S3_ENDPOINT").ok().filter(|e| !e.is_empty())
}

/// A new bucket of its own for one test (moto creates one on an unsigned PUT).
pub async fn s3_bucket(endpoint: &str) -> S3Options {
    // reqwest and object_store's S3 client speak TLS through rustls with ring, as Haven does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let raw: [u8; 8] = haven_crypto::rng::random_array(&SystemRng::new()).unwrap();
    let bucket = format!("haven-test-{}", hex::encode(raw));
    let created = reqwest::Client::new().put(format!("{endpoint}/{bucket}")).send().await.unwrap();
    assert!(created.status().is_success(), "create the bucket: {}", created.status());
    S3Options {
        bucket,
        prefix: "blobs".into(),
        region: "us-east-1".into(),
        endpoint: Some(endpoint.to_string()),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
        allow_http: true,
    }
}
