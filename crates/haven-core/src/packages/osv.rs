//! Importing OSV advisories (an offline copy: OSV.dev's ecosystem dumps, or OpenSSF's
//! malicious-packages repository) and re-evaluating what Haven already served against them.

use haven_packages::osv::{self, Advisory};
use haven_packages::policy::Ecosystem;
use haven_packages::{conda, cran, pypi};
use serde_json::json;

use super::{PackageError, Packages};
use crate::CoreError;
use crate::audit::{NewAuditEvent, action};
use crate::authz::{Action, Resource, require};
use crate::caller::Caller;

#[derive(Debug, Default)]
pub struct ImportReport {
    /// Advisories stored (about packages of PyPI or CRAN).
    pub imported: usize,
    pub withdrawn: usize,
    /// Records about other ecosystems only.
    pub ignored: usize,
    /// Files that could not be read: name and why.
    pub malformed: Vec<(String, String)>,
    /// Cached files the new advisories now refuse: `ecosystem path: reason`.
    pub newly_refused: Vec<String>,
}

/// `(name, version)` of a cached file's path.
fn name_version(ecosystem: Ecosystem, path: &str) -> Option<(String, String)> {
    let file = path.rsplit('/').next()?;
    match ecosystem {
        Ecosystem::Pypi => {
            let project = path.split('/').next()?;
            let file = file.strip_suffix(".metadata").unwrap_or(file);
            Some((project.to_string(), pypi::filename_version(file)?.to_string()))
        }
        Ecosystem::Cran => {
            let (pkg, _) = file.split_once('_')?;
            Some((pkg.to_string(), cran::tarball_version(pkg, file)?.to_string()))
        }
        Ecosystem::Conda => {
            let (name, version) = conda::artifact_name_version(file)?;
            Some((name.to_string(), version.to_string()))
        }
    }
}

impl Packages {
    /// Store every record in `files` (name, bytes), all in one transaction, then report which
    /// files already served the new advisories refuse. Audited as `package.osv_imported`.
    pub async fn import_osv(&self, who: &Caller, files: Vec<(String, Vec<u8>)>) -> Result<ImportReport, PackageError> {
        require(who, Action::ManagePackages, Resource::Service)?;
        let actor = who.user_id.as_str();
        let mut report = ImportReport::default();
        let mut advisories: Vec<Advisory> = Vec::new();
        for (name, bytes) in files {
            match osv::parse_record(&bytes) {
                Ok(a) if a.withdrawn => {
                    report.withdrawn += 1;
                    advisories.push(a);
                }
                Ok(a) if a.affected.is_empty() => report.ignored += 1,
                Ok(a) => {
                    report.imported += 1;
                    advisories.push(a);
                }
                Err(e) => report.malformed.push((name, e.to_string())),
            }
        }
        let now = self.now_us();
        let stored = advisories.clone();
        let paths = crate::store::transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                for a in &stored {
                    tx.put_package_advisory(a, now).await?;
                }
                Ok::<_, CoreError>(tx.cached_package_paths().await?)
            })
        })
        .await?;
        let threshold = self.config.osv_min_severity;
        for (ecosystem, path) in paths {
            let Some((name, version)) = name_version(ecosystem, &path) else { continue };
            let hit = advisories.iter().find(|a| {
                !a.withdrawn
                    && (a.malicious || a.severity.at_least(threshold))
                    && a.affecting(ecosystem, &name, &version).is_some()
            });
            if let Some(a) = hit {
                let what = if a.malicious {
                    "malicious".to_string()
                } else {
                    format!("{} vulnerability", a.severity.as_str())
                };
                report.newly_refused.push(format!("{} {path}: {what} {}", ecosystem.as_str(), a.id));
            }
        }
        let event = NewAuditEvent::new(self.clock.now(), actor, action::PACKAGE_OSV_IMPORTED).details(json!({
            "imported": report.imported,
            "withdrawn": report.withdrawn,
            "ignored": report.ignored,
            "malformed": report.malformed.len(),
            "newly_refused": report.newly_refused,
        }));
        crate::store::transact(self.store.as_ref(), move |tx| {
            Box::pin(async move { tx.append_audit(event).await.map(|_| ()).map_err(CoreError::from) })
        })
        .await?;
        // Parsed indexes carry no policy, so nothing to forget: the next request applies it.
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions_of_cached_paths() {
        let nv = |e, p| name_version(e, p).map(|(n, v)| format!("{n} {v}"));
        assert_eq!(
            nv(Ecosystem::Pypi, "requests/requests-2.31.0-py3-none-any.whl").as_deref(),
            Some("requests 2.31.0")
        );
        assert_eq!(nv(Ecosystem::Pypi, "a/a-1.0-py3-none-any.whl.metadata").as_deref(), Some("a 1.0"));
        assert_eq!(nv(Ecosystem::Cran, "src/contrib/Archive/rlang/rlang_1.1.3.tar.gz").as_deref(), Some("rlang 1.1.3"));
        assert_eq!(nv(Ecosystem::Conda, "conda-forge/noarch/r-foo-1.2-h0_1.conda").as_deref(), Some("r-foo 1.2"));
        assert_eq!(nv(Ecosystem::Conda, "conda-forge/noarch/x.txt"), None);
    }
}
