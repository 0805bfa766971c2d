//! Wiring: open the data directory, keys, database and blob store named by the configuration.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use haven_core::clock::SystemClock;
use haven_core::governance::Governance;
use haven_core::identity::Identity;
use haven_core::keyring::KeyRing;
use haven_core::packages::Packages;
use haven_core::transfer::scan::Scanner;
use haven_core::transfer::uploads::Transfer;
use haven_core::{Clock, Rng};
use haven_crypto::SystemRng;
use haven_crypto::signing::SigningKey;
use haven_sandbox::local::{LocalBackend, LocalConfig, Repository};
use haven_sandbox::runner::Tools;
use haven_store::SqlStore;
use haven_store::blobs::{BlobLocation, S3Options, SealedBlobStore};
use haven_store::clamd::{Clamd, ClamdAddress};
use haven_store::drives::LocalDrives;
use haven_store::hasher::PooledHasher;
use haven_store::mail::{LettreMailer, MailSettings, SmtpSettings, SmtpTls};
use haven_store::upstream::UpstreamFetcher;
use zeroize::Zeroizing;

use crate::config::{self, Config, MailTransport};
use crate::wiring::Adapters;
use crate::{datadir, keys};

pub struct App {
    pub config: Config,
    pub store: Arc<SqlStore>,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Rng>,
    pub blobs: Arc<SealedBlobStore>,
    pub audit_key: Arc<SigningKey>,
    pub keys: Arc<KeyRing>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `haven serve`: create whatever is missing.
    Create,
    /// Admin commands: the data directory must already exist.
    Existing,
}

pub async fn open(config: Config, mode: Mode) -> Result<App> {
    crate::install_crypto_provider();
    let data = config.data();
    let dir = data.root();
    let audit_path = config.keys.audit_key_file.clone().unwrap_or_else(|| data.audit_key());
    if mode == Mode::Existing && !audit_path.exists() {
        bail!(
            "{} is not a Haven data directory (no {}); start Haven with `haven serve --data-dir {}` first, or pass the right --data-dir",
            dir.display(),
            audit_path.display(),
            dir.display()
        );
    }
    datadir::ensure_dir(dir)?;
    let rng: Arc<dyn Rng> = Arc::new(SystemRng::new());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);

    let store = Arc::new(haven_store::connect(&config.database_url()).await.context("open the database")?);
    let master_path = config.keys.master_key_file.clone().unwrap_or_else(|| data.master_key());
    let master = keys::master(store.as_ref(), &master_path, rng.as_ref()).await?;
    let audit_key = Arc::new(keys::audit(store.as_ref(), &audit_path, rng.as_ref()).await?);
    let public_hex = hex::encode(audit_key.public_key());
    let public_path = data.audit_public_key();
    if std::fs::read_to_string(&public_path).map(|s| s.trim() != public_hex).unwrap_or(true) {
        std::fs::write(&public_path, format!("{public_hex}\n"))
            .with_context(|| format!("write {}", public_path.display()))?;
    }

    let location = match config.blobs.url.as_deref() {
        None => BlobLocation::Local(datadir::ensure_private_dir(&data.blobs())?),
        Some(url) if url.starts_with("file://") => {
            let path = std::path::PathBuf::from(url.trim_start_matches("file://"));
            datadir::ensure_dir(&path)?;
            BlobLocation::Local(path)
        }
        Some(url) => {
            let rest = url.trim_start_matches("s3://");
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let s3 = &config.blobs.s3;
            BlobLocation::S3(S3Options {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
                region: s3.region.clone(),
                endpoint: s3.endpoint.clone(),
                access_key_id: s3.access_key_id.as_ref().map(|s| s.expose().to_string()),
                secret_access_key: s3.secret_access_key.as_ref().map(|s| s.expose().to_string()),
                allow_http: s3.allow_http,
            })
        }
    };
    let keys = Arc::new(KeyRing::new(master, store.clone(), clock.clone(), rng.clone()));
    let blobs = Arc::new(SealedBlobStore::open(&location, keys.clone(), clock.clone())?);
    Ok(App { config, store, clock, rng, blobs, audit_key, keys })
}

impl App {
    /// Every port's adapter as the configuration names them: argon2 on a bounded pool, mail as
    /// configured, the package upstreams over HTTPS.
    pub fn adapters(&self) -> Result<Adapters> {
        let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
        let concurrency =
            if self.config.http.hash_concurrency == 0 { cores } else { self.config.http.hash_concurrency };
        let c = &self.config.packages;
        let upstreams = [c.pypi.read_root(), c.cran.read_root(), c.conda.read_root()].map(str::to_string);
        let upstream = UpstreamFetcher::new(&upstreams, std::time::Duration::from_secs(c.upstream_timeout_secs))
            .map_err(|e| anyhow::anyhow!("packages: {e}"))?;
        Ok(Adapters {
            store: self.store.clone(),
            blobs: self.blobs.clone(),
            keys: self.keys.clone(),
            clock: self.clock.clone(),
            rng: self.rng.clone(),
            hasher: Arc::new(PooledHasher::new(self.rng.clone(), concurrency)),
            mailer: Arc::new(self.mailer()?),
            upstream: Arc::new(upstream),
            signer: self.audit_key.clone(),
            scanner: self.scanner()?,
            drives: Arc::new(LocalDrives::new(self.config.drives_dir(), self.clock.as_ref())?),
            sessions: Arc::new(self.local_sessions(None)),
        })
    }

    /// The local session backend, reaching the package repository as `repository` says (None
    /// outside `haven serve`, where no session is launched).
    pub fn local_sessions(&self, repository: Option<Repository>) -> LocalBackend {
        let data = self.config.data();
        LocalBackend::new(LocalConfig {
            name: self.config.sessions_backend(),
            tools: Tools::find(std::path::Path::new("bwrap")).ok(),
            drives_root: self.config.drives_dir(),
            run_root: data.sessions(),
            repository,
            // Sessions are launched by `haven serve` only, which makes their groups.
            groups: None,
            slurm: self.config.slurm.cluster(),
        })
    }

    /// The clamd the `transfer` section names, if any.
    pub fn scanner(&self) -> Result<Option<Arc<dyn Scanner>>> {
        let t = &self.config.transfer;
        if t.clamd.is_empty() {
            return Ok(None);
        }
        let address = ClamdAddress::parse(&t.clamd).map_err(|e| anyhow::anyhow!("transfer.clamd: {e}"))?;
        let timeout = std::time::Duration::from_secs(t.scan_timeout_secs);
        Ok(Some(Arc::new(Clamd::new(address, t.scan_max_bytes, timeout))))
    }

    /// The mailer the `mail` section of the configuration names.
    pub fn mailer(&self) -> Result<LettreMailer> {
        let m = &self.config.mail;
        let settings = match m.transport {
            MailTransport::Outbox => MailSettings::Outbox {
                from: m.from.clone(),
                dir: datadir::ensure_private_dir(&self.config.data().outbox())?,
            },
            MailTransport::Smtp => {
                let s = &m.smtp;
                let ca_pem = match &s.ca_file {
                    Some(ca) => {
                        Some(std::fs::read(ca).with_context(|| format!("read mail.smtp.ca_file {}", ca.display()))?)
                    }
                    None => None,
                };
                let credentials = match (&s.username, &s.password) {
                    (Some(user), Some(password)) => Some((user.clone(), Zeroizing::new(password.expose().to_string()))),
                    _ => None,
                };
                let tls = match s.tls {
                    config::SmtpTls::Starttls => SmtpTls::Starttls,
                    config::SmtpTls::Tls => SmtpTls::Tls,
                    config::SmtpTls::None => SmtpTls::None,
                };
                let smtp = SmtpSettings {
                    host: s.host.clone(),
                    port: s.port,
                    tls,
                    credentials,
                    ca_pem,
                    timeout: std::time::Duration::from_secs(s.timeout_secs),
                };
                MailSettings::Smtp { from: m.from.clone(), smtp }
            }
        };
        LettreMailer::new(settings).map_err(|e| anyhow::anyhow!("mail: {e}"))
    }

    /// The package repository, fetching from the configured upstreams.
    pub fn packages(&self, public_url: &str) -> Result<Arc<Packages>> {
        let fresh = self.config.security.fresh_mfa_minutes;
        Ok(Arc::new(self.adapters()?.packages(self.config.packages.clone(), public_url, fresh)))
    }

    /// The identity use cases.
    pub async fn identity(&self, public_url: &str) -> Result<Arc<Identity>> {
        Ok(Arc::new(self.adapters()?.identity(self.config.security.clone(), public_url).await?))
    }

    /// The governance use cases.
    pub async fn governance(&self, public_url: &str) -> Result<Arc<Governance>> {
        let adapters = self.adapters()?;
        let identity = Arc::new(adapters.identity(self.config.security.clone(), public_url).await?);
        Ok(Arc::new(adapters.governance(identity, self.config.governance.clone())?))
    }

    /// Sessions and batch jobs, from the console: list, stop, submit (a stop or a queued job
    /// reaches the serving Haven through the record, which its workers act on).
    pub async fn sessions(&self, public_url: &str) -> Result<haven_core::workspaces::sessions::Sessions> {
        let governance = self.governance(public_url).await?;
        let catalogue = Arc::new(self.catalogue());
        Ok(self.adapters()?.sessions(
            governance,
            catalogue,
            self.config.sessions.clone(),
            self.config.jobs.clone(),
            self.config.drives.clone(),
        ))
    }

    /// The application catalogue.
    pub fn catalogue(&self) -> haven_core::workspaces::catalogue::Catalogue {
        haven_core::workspaces::catalogue::Catalogue::new(self.store.clone(), self.clock.clone())
    }

    /// The File Transfer use cases.
    /// Egress, from the console: list and show output requests.
    pub async fn egress(&self, public_url: &str) -> Result<haven_core::egress::Egress> {
        let governance = self.governance(public_url).await?;
        Ok(self.adapters()?.egress(governance, self.config.egress.clone()))
    }

    pub async fn transfer(&self, public_url: &str) -> Result<Arc<Transfer>> {
        let governance = self.governance(public_url).await?;
        Ok(Arc::new(self.adapters()?.transfer(governance, self.config.transfer.clone(), self.config.drives.clone())))
    }
}
