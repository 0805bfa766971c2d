//! CRAN: `PACKAGES` filtered by the policy, current tarballs, and archived versions.
//!
//! CRAN's index has no upload time. Haven takes it from the record's `Date/Publication` when the
//! upstream writes one, else from the tarball's Last-Modified (or file time), asked once per
//! file and remembered.

use crate::caller::Caller;
use std::sync::Arc;

use haven_packages::cran::rds::ArchivedFile;
use haven_packages::cran::{self, CranRecord};
use haven_packages::policy::{Candidate, Decision, Ecosystem, Mode, Policy, RuleKind};
use time::PrimitiveDateTime;
use time::macros::format_description;

use super::fetch::{Download, Expected, FileRequest};
use super::ports::fetch_all;
use super::{PackageError, Packages, UpstreamError};
use crate::CoreError;

/// Upload times looked up from the upstream per index build, at most (the rest wait for the
/// next build: a denylist over all of CRAN must not send thousands of requests at once).
const TIME_LOOKUPS_PER_BUILD: usize = 64;
/// Packages `Meta/archive.rds` lists at most (each needs its upstream archive listing).
const ARCHIVE_LIST_MAX: usize = 1000;

pub struct UpstreamIndex {
    pub records: Vec<CranRecord>,
}

pub struct ServedIndex {
    pub records: Vec<CranRecord>,
    pub refused: Vec<(String, String)>,
}

fn publication_us(record: &CranRecord) -> Option<i64> {
    let field = record.field("Date/Publication")?;
    let text = field.trim().trim_end_matches("UTC").trim();
    let at =
        PrimitiveDateTime::parse(text, format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")).ok()?;
    i64::try_from(at.assume_utc().unix_timestamp_nanos() / 1000).ok()
}

fn cooldown_applies(policy: &Policy) -> bool {
    policy.mode != Mode::Off && policy.min_age_days > 0
}

impl Packages {
    pub(super) async fn cran_upstream(&self) -> Result<Arc<UpstreamIndex>, PackageError> {
        const KEY: &str = "src/contrib/PACKAGES";
        if let Some(index) = self.cached(&self.cran_indexes, KEY) {
            return Ok(index);
        }
        let url = format!("{}{KEY}", self.config.base(Ecosystem::Cran));
        let limit = cran::packages::MAX_PACKAGES_BYTES as u64;
        let (bytes, _) = fetch_all(self.upstream.as_ref(), &url, "text/plain, */*", limit).await?;
        let records = cran::parse_packages(&bytes)
            .map_err(|e| PackageError::BadUpstream(format!("The upstream's PACKAGES was refused: {e}")))?;
        let index = Arc::new(UpstreamIndex { records });
        self.remember(&self.cran_indexes, KEY, bytes.len(), index.clone());
        Ok(index)
    }

    /// The upload time of `path` (under the repository root), remembered once learnt.
    async fn cran_upload_time(&self, path: &str, lookups: &mut usize) -> Result<Option<i64>, PackageError> {
        let key = path.to_string();
        let known = crate::store::read(self.store.as_ref(), move |tx| {
            Box::pin(async move { tx.package_upload_time(Ecosystem::Cran, &key).await.map_err(CoreError::from) })
        })
        .await?;
        if known.is_some() || *lookups >= TIME_LOOKUPS_PER_BUILD {
            return Ok(known);
        }
        *lookups += 1;
        let url = format!("{}{path}", self.config.base(Ecosystem::Cran));
        // One missing or failing tarball must not take the whole index down: its upload time is
        // unknown, so the cooldown refuses that file alone (and the next index build asks again).
        let at = match self.upstream.modified(&url).await {
            Ok(Some(at)) => at,
            Ok(None) => return Ok(None),
            Err(e) => {
                tracing::warn!(path = %path, error = %e, "no upload time for a CRAN file; it is not offered");
                return Ok(None);
            }
        };
        let key = path.to_string();
        crate::store::transact(self.store.as_ref(), move |tx| {
            Box::pin(
                async move { tx.put_package_upload_time(Ecosystem::Cran, &key, at).await.map_err(CoreError::from) },
            )
        })
        .await?;
        Ok(Some(at))
    }

    /// Decide one version: rules first (no upstream request for what they refuse), then the
    /// cooldown with the upload time.
    async fn cran_decide(
        &self,
        policy: &Policy,
        name: &str,
        version: &str,
        path: &str,
        published: Option<i64>,
        lookups: &mut usize,
    ) -> Result<Decision, PackageError> {
        let now = self.now_us();
        let rules_only = Candidate { name, version, uploaded_us: Some(0), size: None };
        let first = policy.decide(&rules_only, now);
        if first != Decision::Allowed || !cooldown_applies(policy) {
            return Ok(first);
        }
        let uploaded_us = match published {
            Some(t) => Some(t),
            None => self.cran_upload_time(path, lookups).await?,
        };
        Ok(policy.decide(&Candidate { name, version, uploaded_us, size: None }, now))
    }

    pub(crate) async fn cran_served(&self) -> Result<ServedIndex, PackageError> {
        let policy = self.policy(Ecosystem::Cran, None).await?;
        let upstream = self.cran_upstream().await?;
        let mut lookups = 0;
        let mut served = ServedIndex { records: Vec::new(), refused: Vec::new() };
        for r in &upstream.records {
            let path = format!("src/contrib/{}", r.file_name());
            match self.cran_decide(&policy, &r.package, &r.version, &path, publication_us(r), &mut lookups).await? {
                Decision::Allowed => match policy.license_refusal(&r.package, &r.version, r.field("License")) {
                    None => served.records.push(r.clone()),
                    Some(why) => served.refused.push((r.file_name(), why)),
                },
                Decision::Refused(why) => served.refused.push((r.file_name(), why)),
            }
        }
        Ok(served)
    }

    /// `src/contrib/<file>`: a current tarball, verified against its `MD5sum`.
    pub async fn cran_file(&self, file: &str, who: &Caller) -> Result<Download, PackageError> {
        self.may_read(who)?;
        let served = self.cran_served().await?;
        let Some(record) = served.records.iter().find(|r| r.file_name() == file) else {
            let pkg = file.split('_').next().unwrap_or(file);
            return match served.refused.iter().find(|(f, _)| f == file) {
                Some((_, why)) => Err(self.refusal(Ecosystem::Cran, pkg, why)),
                None => Err(PackageError::NotFound(format!(
                    "The repository has no current file {file}; older versions are under Archive/{pkg}/."
                ))),
            };
        };
        let Some(md5) = record.md5sum() else {
            return Err(PackageError::BadUpstream(format!(
                "{file}: the upstream's PACKAGES gives no MD5sum, so Haven cannot verify it."
            )));
        };
        self.download(FileRequest {
            ecosystem: Ecosystem::Cran,
            path: format!("src/contrib/{file}"),
            upstream_url: format!("{}src/contrib/{file}", self.config.base(Ecosystem::Cran)),
            expected: Expected::Md5(md5.to_ascii_lowercase()),
            size: None,
            who: who.audit_name().into(),
            source: who.source.clone(),
            audited: true,
        })
        .await
    }

    /// Versions in `Archive/<pkg>/` the policy allows, and why the others are not offered.
    pub(crate) async fn cran_archive_served(&self, pkg: &str) -> Result<ServedIndex, PackageError> {
        if !cran::valid_package_name(pkg) {
            return Err(PackageError::NotFound(format!("{pkg:?} is not a CRAN package name.")));
        }
        let Some(versions) = self.cran_archive_upstream(pkg).await?.as_ref().clone() else {
            return Err(PackageError::NotFound(format!("The repository has no archived versions of {pkg}.")));
        };
        let policy = self.policy(Ecosystem::Cran, Some(pkg)).await?;
        let mut lookups = 0;
        let mut served = ServedIndex { records: Vec::new(), refused: Vec::new() };
        for version in versions {
            let file = format!("{pkg}_{version}.tar.gz");
            let path = format!("src/contrib/Archive/{pkg}/{file}");
            match self.cran_decide(&policy, pkg, &version, &path, None, &mut lookups).await? {
                Decision::Allowed => served.records.push(CranRecord {
                    package: pkg.into(),
                    version: version.clone(),
                    fields: vec![("Package".into(), pkg.into()), ("Version".into(), version)],
                }),
                Decision::Refused(why) => served.refused.push((file, why)),
            }
        }
        Ok(served)
    }

    /// The versions in the upstream's `Archive/<pkg>/` (None: it has none), remembered for
    /// `index_ttl_secs`.
    async fn cran_archive_upstream(&self, pkg: &str) -> Result<Arc<Option<Vec<String>>>, PackageError> {
        if let Some(known) = self.cached(&self.cran_archives, pkg) {
            return Ok(known);
        }
        let url = format!("{}src/contrib/Archive/{pkg}/", self.config.base(Ecosystem::Cran));
        let limit = cran::archive::MAX_LISTING_BYTES as u64;
        let versions =
            match fetch_all(self.upstream.as_ref(), &url, "text/html", limit).await {
                Ok((bytes, _)) => Some(cran::archive_versions(&bytes, pkg).map_err(|e| {
                    PackageError::BadUpstream(format!("The upstream's archive listing was refused: {e}"))
                })?),
                Err(UpstreamError::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            };
        let versions = Arc::new(versions);
        let size = versions.as_ref().as_ref().map_or(0, |v| v.iter().map(|s| s.len() + 32).sum());
        self.remember(&self.cran_archives, pkg, size, versions.clone());
        Ok(versions)
    }

    /// `Meta/archive.rds` (for `remotes::install_version` and renv): the archived versions the
    /// policy allows of each package with an allow rule, oldest first, with their upload times
    /// where known. A denylist cannot list the archive of all of CRAN, so packages without an
    /// allow rule are left out (their archived versions install by URL). A package whose
    /// upstream listing fails is left out too, and logged: one bad listing must not hide the rest.
    pub async fn cran_archive_list(&self, who: &Caller) -> Result<Vec<(String, Vec<ArchivedFile>)>, PackageError> {
        self.may_read(who)?;
        let mut names: Vec<String> = self
            .stored_rules(Ecosystem::Cran)
            .await?
            .iter()
            .filter(|r| r.kind == RuleKind::Allow)
            .map(|r| r.name.clone())
            .collect();
        names.sort();
        names.dedup();
        let mut list = Vec::new();
        for pkg in names.into_iter().take(ARCHIVE_LIST_MAX) {
            let served = match self.cran_archive_served(&pkg).await {
                Ok(served) => served,
                Err(PackageError::NotFound(_)) => continue,
                Err(e) => {
                    tracing::warn!(package = %pkg, error = %e, "left out of Meta/archive.rds");
                    continue;
                }
            };
            let mut versions: Vec<(Vec<u64>, String)> = served
                .records
                .into_iter()
                .filter_map(|r| cran::version_parts(&r.version).map(|parts| (parts, r.version)))
                .collect();
            versions.sort();
            let paths: Vec<String> = versions.into_iter().map(|(_, v)| format!("{pkg}/{pkg}_{v}.tar.gz")).collect();
            let keys: Vec<String> = paths.iter().map(|p| format!("src/contrib/Archive/{p}")).collect();
            let times = crate::store::read(self.store.as_ref(), move |tx| {
                Box::pin(async move {
                    let mut times = Vec::with_capacity(keys.len());
                    for key in &keys {
                        times.push(tx.package_upload_time(Ecosystem::Cran, key).await?);
                    }
                    Ok::<_, CoreError>(times)
                })
            })
            .await?;
            let files: Vec<ArchivedFile> = paths
                .into_iter()
                .zip(times)
                .map(|(path, at)| ArchivedFile { path, size: None, mtime_secs: at.map(|us| us.div_euclid(1_000_000)) })
                .collect();
            if !files.is_empty() {
                list.push((pkg, files));
            }
        }
        Ok(list)
    }

    /// `src/contrib/Archive/<pkg>/<file>`. CRAN declares no hash for archived tarballs: the first
    /// fetch is kept (and audited as unverified); later requests get that same copy.
    pub async fn cran_archive_file(&self, pkg: &str, file: &str, who: &Caller) -> Result<Download, PackageError> {
        self.may_read(who)?;
        if cran::tarball_version(pkg, file).is_none() {
            return Err(PackageError::NotFound(format!("{file:?} is not a tarball of {pkg}.")));
        }
        let served = self.cran_archive_served(pkg).await?;
        if !served.records.iter().any(|r| format!("{}_{}.tar.gz", r.package, r.version) == file) {
            return match served.refused.iter().find(|(f, _)| f == file) {
                Some((_, why)) => Err(self.refusal(Ecosystem::Cran, pkg, why)),
                None => Err(PackageError::NotFound(format!("The archive of {pkg} has no {file}."))),
            };
        }
        let path = format!("src/contrib/Archive/{pkg}/{file}");
        self.download(FileRequest {
            ecosystem: Ecosystem::Cran,
            upstream_url: format!("{}{path}", self.config.base(Ecosystem::Cran)),
            path,
            expected: Expected::FirstFetch,
            size: None,
            who: who.audit_name().into(),
            source: who.source.clone(),
            audited: true,
        })
        .await
    }
}
