//! How Haven's use cases and web state are put together from their adapters: one copy, used by
//! `haven serve` and the command line (with the adapters the configuration names, see
//! [`crate::app`]) and by the test harness (`haven_testkit::app`, with a fake clock, an
//! in-memory mailer and a cheap hasher).

use std::sync::Arc;

use haven_core::blobs::BlobStore;
use haven_core::egress::{Egress, EgressConfig, EgressDeps};
use haven_core::governance::{Governance, GovernanceConfig};
use haven_core::identity::{Hasher, Identity, IdentityDeps, Mailer, SecurityPolicy};
use haven_core::keyring::KeyRing;
use haven_core::packages::{Packages, PackagesConfig, PackagesDeps, Upstream};
use haven_core::service::Service;
use haven_core::transfer::scan::Scanner;
use haven_core::transfer::uploads::{Transfer, TransferConfig, TransferDeps};
use haven_core::workspaces::catalogue::Catalogue;
use haven_core::workspaces::drives::{Drives, DrivesConfig};
use haven_core::workspaces::jobs::JobsConfig;
use haven_core::workspaces::sessions::{SessionBackend, Sessions, SessionsConfig, SessionsDeps};
use haven_core::{Clock, CoreError, Rng, Store};
use haven_crypto::signing::SigningKey;
use haven_web::metrics::Metrics;
use haven_web::{AppParts, AppState, WebConfig};

/// Every port's adapter.
#[derive(Clone)]
pub struct Adapters {
    pub store: Arc<dyn Store>,
    pub blobs: Arc<dyn BlobStore>,
    pub keys: Arc<KeyRing>,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Rng>,
    pub hasher: Arc<dyn Hasher>,
    pub mailer: Arc<dyn Mailer>,
    pub upstream: Arc<dyn Upstream>,
    /// Haven's signing key (audit checkpoints, transfer receipts).
    pub signer: Arc<SigningKey>,
    /// The malware scanner for arrivals, if one is configured.
    pub scanner: Option<Arc<dyn Scanner>>,
    /// N:, S: and outputs.
    pub drives: Arc<dyn Drives>,
    /// Where sessions run.
    pub sessions: Arc<dyn SessionBackend>,
}

/// What the configuration says of the use cases and the web layer.
pub struct Settings {
    /// Where people reach Haven, without a trailing slash (links in pages and emails).
    pub public_url: String,
    pub policy: SecurityPolicy,
    pub packages: PackagesConfig,
    pub governance: GovernanceConfig,
    pub transfer: TransferConfig,
    pub drives: DrivesConfig,
    pub sessions: SessionsConfig,
    pub jobs: JobsConfig,
    pub egress: EgressConfig,
    pub web: WebConfig,
}

impl Adapters {
    /// The identity use cases.
    pub async fn identity(&self, policy: SecurityPolicy, public_url: &str) -> Result<Identity, CoreError> {
        let deps = IdentityDeps {
            store: self.store.clone(),
            clock: self.clock.clone(),
            rng: self.rng.clone(),
            hasher: self.hasher.clone(),
            mailer: self.mailer.clone(),
            policy,
            public_url: public_url.trim_end_matches('/').to_string(),
        };
        Identity::new(deps, &self.keys).await
    }

    /// The package repository; managing repository tokens needs a step-up within
    /// `fresh_mfa_minutes` (the security policy's).
    pub fn packages(&self, config: PackagesConfig, public_url: &str, fresh_mfa_minutes: u32) -> Packages {
        Packages::new(PackagesDeps {
            store: self.store.clone(),
            blobs: self.blobs.clone(),
            clock: self.clock.clone(),
            rng: self.rng.clone(),
            upstream: self.upstream.clone(),
            config,
            public_url: public_url.trim_end_matches('/').to_string(),
            fresh_mfa_minutes,
        })
    }

    /// Governance over the identity use cases.
    pub fn governance(&self, identity: Arc<Identity>, config: GovernanceConfig) -> Result<Governance, CoreError> {
        Governance::new(identity, self.keys.clone(), self.drives.clone(), config)
    }

    /// File Transfer over governance: uploads, arrivals and drop-off links.
    pub fn transfer(&self, governance: Arc<Governance>, config: TransferConfig, quotas: DrivesConfig) -> Transfer {
        Transfer::new(TransferDeps {
            governance,
            store: self.store.clone(),
            blobs: self.blobs.clone(),
            clock: self.clock.clone(),
            rng: self.rng.clone(),
            hasher: self.hasher.clone(),
            scanner: self.scanner.clone(),
            signer: self.signer.clone(),
            drives: self.drives.clone(),
            quotas,
            config,
        })
    }

    /// Sessions over governance, the catalogue and the drives.
    pub fn sessions(
        &self,
        governance: Arc<Governance>,
        catalogue: Arc<Catalogue>,
        config: SessionsConfig,
        jobs: JobsConfig,
        quotas: DrivesConfig,
    ) -> Sessions {
        Sessions::new(SessionsDeps {
            store: self.store.clone(),
            clock: self.clock.clone(),
            rng: self.rng.clone(),
            governance,
            catalogue,
            drives: self.drives.clone(),
            backend: self.sessions.clone(),
            config,
            jobs,
            quotas,
        })
    }

    /// Egress over governance: output requests, their checks, review and release.
    pub fn egress(&self, governance: Arc<Governance>, config: EgressConfig) -> Egress {
        Egress::new(EgressDeps {
            governance,
            store: self.store.clone(),
            blobs: self.blobs.clone(),
            drives: self.drives.clone(),
            clock: self.clock.clone(),
            rng: self.rng.clone(),
            signer: self.signer.clone(),
            config,
        })
    }

    /// What lies outside the portals: updates, bootstrap, readiness, refusals at the door.
    pub fn service(&self) -> Service {
        Service::new(self.store.clone(), self.blobs.clone(), self.clock.clone(), self.hasher.clone())
    }

    /// The web application's state: every use case, wired.
    pub async fn state(&self, settings: Settings) -> Result<AppState, CoreError> {
        let fresh = settings.policy.fresh_mfa_minutes;
        let identity = Arc::new(self.identity(settings.policy, &settings.public_url).await?);
        let governance = Arc::new(self.governance(identity.clone(), settings.governance)?);
        let transfer = Arc::new(self.transfer(governance.clone(), settings.transfer, settings.drives.clone()));
        let egress = Arc::new(self.egress(governance.clone(), settings.egress));
        let catalogue = Arc::new(Catalogue::new(self.store.clone(), self.clock.clone()));
        let sessions = Arc::new(self.sessions(
            governance.clone(),
            catalogue.clone(),
            settings.sessions,
            settings.jobs,
            settings.drives,
        ));
        Ok(AppState::from(AppParts {
            clock: self.clock.clone(),
            rng: self.rng.clone(),
            metrics: Arc::new(Metrics::new()),
            config: Arc::new(settings.web),
            identity,
            governance,
            transfer,
            egress,
            catalogue,
            sessions,
            packages: Arc::new(self.packages(settings.packages, &settings.public_url, fresh)),
            service: Arc::new(self.service()),
        }))
    }
}
