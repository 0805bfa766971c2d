//! The curated package repository: PyPI, CRAN and conda proxied from their upstreams under a
//! policy, with verified, cached downloads. Index formats and the policy decision itself live in
//! the pure `haven-packages` crate; this module holds the use cases and the ports they need.

pub mod bootstrap;
mod cache;
pub mod closure;
pub mod conda;
pub mod config;
pub mod cran;
pub mod fetch;
pub mod osv;
pub mod ports;
pub mod pypi;
pub mod read;
pub mod records;
pub mod requests;
pub mod rules;
pub mod store;
pub mod tokens;

use std::sync::Arc;

use haven_packages::osv::{Advisory, osv_identity};
use haven_packages::policy::{Ecosystem, Policy, Rule, RuleKind};
use thiserror::Error;

use crate::blobs::{BlobError, BlobStore};
use crate::changes::{Memo, Topic};
use crate::{Clock, CoreError, Rng, Store, StoreError, Tx, to_micros};
pub use config::PackagesConfig;
use config::PolicyMode;
pub use ports::{Fetched, Upstream, UpstreamError};
use records::RuleRecord;

/// The blob-store "project" whose key seals cached package files.
pub const CACHE_PROJECT: &str = "@packages";

#[derive(Debug, Error)]
pub enum PackageError {
    #[error("{0}")]
    NotFound(String),
    /// The policy refuses it: 403 with this one-line reason.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("the upstream could not be used: {0}")]
    Upstream(#[from] UpstreamError),
    /// The upstream's index could not be used (malformed, oversized).
    #[error("{0}")]
    BadUpstream(String),
    /// The upstream's file does not match what its index declared (hash, size): refused
    /// (403, like a policy refusal, so clients show the reason instead of retrying).
    #[error("{0}")]
    Integrity(String),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
}

impl From<StoreError> for PackageError {
    fn from(e: StoreError) -> Self {
        PackageError::Core(CoreError::Store(e))
    }
}

pub struct PackagesDeps {
    pub store: Arc<dyn Store>,
    pub blobs: Arc<dyn BlobStore>,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Rng>,
    pub upstream: Arc<dyn Upstream>,
    pub config: PackagesConfig,
    /// Where people reach Haven, without a trailing slash (the software-request page in refusals).
    pub public_url: String,
    /// How recent a step-up must be to manage repository tokens (the security policy's).
    pub fresh_mfa_minutes: u32,
}

type Cached<T> = cache::Cache<T>;

pub struct Packages {
    pub store: Arc<dyn Store>,
    pub blobs: Arc<dyn BlobStore>,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Rng>,
    pub upstream: Arc<dyn Upstream>,
    pub config: PackagesConfig,
    pub public_url: String,
    fresh_mfa_minutes: u32,
    pypi_pages: Cached<pypi::UpstreamPage>,
    cran_indexes: Cached<cran::UpstreamIndex>,
    cran_archives: Cached<Option<Vec<String>>>,
    conda_repodata: Cached<conda::UpstreamRepodata>,
    /// One upstream read at a time per channel/subdir: concurrent misses for a
    /// conda-forge-sized subdir would each parse and hold it (in denylist or off mode, all of
    /// it); the ones that waited find the first one's result in the cache.
    conda_reads: std::sync::Mutex<std::collections::HashMap<String, Arc<futures::lock::Mutex<()>>>>,
    /// Repository token checks and policies, kept while no credential or rule changed
    /// ([`crate::changes`]): what every index request would otherwise ask the database.
    tokens: crate::tokens::TokenMemo,
    policies: Memo<(Ecosystem, Option<String>), Policy>,
    rules: Memo<Ecosystem, Vec<RuleRecord>>,
}

impl Packages {
    pub fn new(deps: PackagesDeps) -> Self {
        let changes = deps.store.changes();
        Packages {
            tokens: crate::tokens::token_memo(deps.store.as_ref()),
            policies: Memo::new(Topic::Packages, changes.clone()),
            rules: Memo::new(Topic::Packages, changes),
            store: deps.store,
            blobs: deps.blobs,
            clock: deps.clock,
            rng: deps.rng,
            upstream: deps.upstream,
            config: deps.config,
            public_url: deps.public_url,
            fresh_mfa_minutes: deps.fresh_mfa_minutes,
            pypi_pages: Cached::default(),
            cran_indexes: Cached::default(),
            cran_archives: Cached::default(),
            // A conda-forge subdir parsed whole (denylist or off mode) is several hundred MiB.
            conda_repodata: Cached::with_limit(1024 * 1024 * 1024),
            conda_reads: std::sync::Mutex::default(),
        }
    }

    pub fn now_us(&self) -> i64 {
        to_micros(self.clock.now())
    }

    /// Where a user asks for what the policy refused.
    pub fn request_page(&self, ecosystem: Ecosystem, name: &str) -> String {
        format!("{}{}?ecosystem={}&name={}", self.public_url, crate::paths::REQUESTS_NEW, ecosystem.as_str(), name)
    }

    /// A refusal as users see it: the rule's reason and where to ask.
    pub fn refusal(&self, ecosystem: Ecosystem, name: &str, reason: &str) -> PackageError {
        PackageError::Refused(format!(
            "Haven's package policy refuses this: {reason}. To ask for it, use the software request form: {}",
            self.request_page(ecosystem, name)
        ))
    }

    /// The policy of one ecosystem with the rules stored for `name` (or for every name).
    pub async fn policy(&self, ecosystem: Ecosystem, name: Option<&str>) -> Result<Arc<Policy>, PackageError> {
        let key = (ecosystem, name.map(str::to_string));
        self.policies.get_or_load(&key, self.read_policy(ecosystem, name)).await
    }

    async fn read_policy(&self, ecosystem: Ecosystem, name: Option<&str>) -> Result<Policy, PackageError> {
        let only = name.map(str::to_string);
        let mode = self.config.ecosystem(ecosystem).mode;
        let (records, advisories): (Vec<RuleRecord>, Vec<Advisory>) =
            crate::store::read(self.store.as_ref(), move |tx| Box::pin(policy_rows(tx, ecosystem, only, mode))).await?;
        let c = self.config.ecosystem(ecosystem);
        let mut rules = Vec::with_capacity(records.len());
        for r in records {
            let spec = (!r.spec.is_empty()).then_some(r.spec.as_str());
            match Rule::new(ecosystem, r.kind, &r.name, spec, r.skip_cooldown) {
                Ok(rule) => rules.push(rule),
                // A stored rule that no longer parses is skipped, loudly; deny rules failing
                // closed would block everything, allow rules failing open would be worse.
                Err(e) => tracing::error!(rule = r.id, error = %e, "a stored package rule is malformed; it is ignored"),
            }
        }
        Ok(Policy {
            ecosystem,
            mode: c.mode.mode(),
            min_age_days: c.min_age_days,
            max_file_bytes: Some(c.max_file_bytes()),
            rules,
            advisories,
            min_severity: self.config.osv_min_severity,
            licenses: c.licenses.clone(),
        })
    }

    fn cached<T>(&self, map: &Cached<T>, key: &str) -> Option<Arc<T>> {
        let ttl_us = i64::try_from(self.config.index_ttl_secs).unwrap_or(i64::MAX).saturating_mul(1_000_000);
        map.get(key, self.now_us(), ttl_us)
    }

    /// Keep `value` (about `bytes` large) for `index_ttl_secs`, within the cache's bounds.
    fn remember<T>(&self, map: &Cached<T>, key: &str, bytes: usize, value: Arc<T>) {
        map.put(key, self.now_us(), bytes, value);
    }
}

/// The rules stored for `only` (or every name) and the advisories that can matter to them: for
/// one name, for the allowed names (an allowlist), or for every name.
async fn policy_rows(
    tx: &mut dyn Tx,
    ecosystem: Ecosystem,
    only: Option<String>,
    mode: PolicyMode,
) -> Result<(Vec<RuleRecord>, Vec<Advisory>), CoreError> {
    let records = tx.package_rules(ecosystem, only.as_deref()).await?;
    // The advisories that can matter: for one name, or for the allowed names (an
    // allowlist), or for every name.
    let names: Option<Vec<String>> = match &only {
        Some(n) => Some(vec![n.clone()]),
        None if mode == PolicyMode::Allowlist => {
            Some(records.iter().filter(|r| r.kind == RuleKind::Allow).map(|r| r.name.clone()).collect())
        }
        None => None,
    };
    let advisories = match names {
        Some(names) => {
            let mut out = Vec::new();
            for n in names {
                let (e, osv_name) = osv_identity(ecosystem, &n);
                out.extend(tx.package_advisories(&[e], Some(std::slice::from_ref(&osv_name))).await?);
            }
            out
        }
        None if ecosystem == Ecosystem::Conda => {
            tx.package_advisories(&[Ecosystem::Pypi, Ecosystem::Cran], None).await?
        }
        None => tx.package_advisories(&[ecosystem], None).await?,
    };
    Ok::<_, CoreError>((records, advisories))
}
