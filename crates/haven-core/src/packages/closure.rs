//! The dependency closure of a request: every package the requested one needs, recursively, at
//! the version a client would install, with what a reviewer must see to decide once for all of
//! them (licence, age, size, and what the policy finds apart from the allowlist).
//!
//! PyPI: `Requires-Dist` from the core metadata of the highest version matching every
//! constraint met so far, markers evaluated for the configured Python versions and platforms.
//! CRAN: `Depends`, `Imports`, `LinkingTo` of the current version (R installs the newest; base
//! packages and R itself are not packages to approve). conda: `depends` of the newest matching
//! build in the channel's platforms and `noarch`. Resolution is greedy (no backtracking): a
//! conflict is shown to the reviewer, not solved.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::str::FromStr;

use haven_packages::conda::{self, PackageRecord};
use haven_packages::policy::{Candidate, Decision, Ecosystem, Mode, Policy};
use haven_packages::pypi::metadata::{Target, dependencies, parse_metadata};
use haven_packages::pypi::{self, FileEntry};
use haven_packages::{cran, osv, pep440_rs};

use super::ports::fetch_all;
use super::pypi::upload_time_us;
use super::records::ClosureItem;
use super::{PackageError, Packages};

/// A closure larger than this is cut off (and says so).
const MAX_CLOSURE: usize = 300;

struct Pending {
    name: String,
    spec: String,
    extras: Vec<String>,
    needed_by: Option<String>,
}

pub(super) fn pep440_matches(spec: &str, version: &str) -> bool {
    let Ok(v) = pep440_rs::Version::from_str(version) else { return false };
    spec.trim().is_empty() || pep440_rs::VersionSpecifiers::from_str(spec).is_ok_and(|s| s.contains(&v))
}

impl Packages {
    /// What the policy says about one version with the allowlist set aside.
    fn findings(
        &self,
        policy: &Policy,
        name: &str,
        version: &str,
        uploaded_us: Option<i64>,
        size: Option<u64>,
    ) -> Vec<String> {
        let mut p = policy.clone();
        p.mode = if p.mode == Mode::Off { Mode::Off } else { Mode::Denylist };
        match p.decide(&Candidate { name, version, uploaded_us, size }, self.now_us()) {
            Decision::Allowed => Vec::new(),
            Decision::Refused(why) => vec![why],
        }
    }

    fn allowed_now(
        &self,
        policy: &Policy,
        name: &str,
        version: &str,
        uploaded_us: Option<i64>,
        size: Option<u64>,
    ) -> bool {
        policy.decide(&Candidate { name, version, uploaded_us, size }, self.now_us()) == Decision::Allowed
    }

    /// The closure of `name` `spec` (extras only for PyPI: `name[extra]`).
    pub async fn closure(
        &self,
        ecosystem: Ecosystem,
        name: &str,
        spec: &str,
    ) -> Result<Vec<ClosureItem>, PackageError> {
        match ecosystem {
            Ecosystem::Pypi => self.pypi_closure(name, spec).await,
            Ecosystem::Cran => self.cran_closure(name, spec).await,
            Ecosystem::Conda => self.conda_closure(name, spec).await,
        }
    }

    async fn pypi_closure(&self, name: &str, spec: &str) -> Result<Vec<ClosureItem>, PackageError> {
        let targets: Vec<Target> = self
            .config
            .python_versions
            .iter()
            .flat_map(|v| {
                self.config
                    .python_platforms
                    .iter()
                    .map(|p| Target { python_version: v.clone(), sys_platform: p.clone() })
            })
            .collect();
        let (base, extras) = match name.split_once('[') {
            Some((b, rest)) => (b, rest.trim_end_matches(']').split(',').map(|e| e.trim().to_string()).collect()),
            None => (name, Vec::new()),
        };
        let first = pypi::normalize(base).map_err(|e| PackageError::BadRequest(e.to_string()))?;
        let mut queue = VecDeque::from([Pending { name: first, spec: spec.into(), extras, needed_by: None }]);
        let mut items: Vec<ClosureItem> = Vec::new();
        let mut constraints: HashMap<String, Vec<String>> = HashMap::new();
        while let Some(p) = queue.pop_front() {
            constraints.entry(p.name.clone()).or_default().push(p.spec.clone());
            if let Some(done) = items.iter_mut().find(|i| i.name == p.name) {
                if !done.version.is_empty() && !pep440_matches(&p.spec, &done.version) {
                    let who = p.needed_by.as_deref().unwrap_or("the request");
                    done.problem = Some(format!("{who} needs {} {}, but {} was chosen", p.name, p.spec, done.version));
                }
                continue;
            }
            if items.len() >= MAX_CLOSURE {
                return Err(PackageError::BadRequest(format!(
                    "The closure has more than {MAX_CLOSURE} packages; ask the service desk."
                )));
            }
            let mut item = ClosureItem::new(&p.name, p.needed_by.clone());
            let page = match self.pypi_upstream(&p.name).await {
                Ok(page) => page,
                Err(e) => {
                    item.problem = Some(e.to_string());
                    items.push(item);
                    continue;
                }
            };
            let wanted = &constraints[&p.name];
            let best: Option<(pep440_rs::Version, &FileEntry)> = page
                .page
                .files
                .iter()
                .filter(|f| f.yanked.is_none())
                .filter_map(|f| {
                    let v = pypi::filename_version(&f.filename)?;
                    let parsed = pep440_rs::Version::from_str(v).ok()?;
                    (!parsed.any_prerelease() && wanted.iter().all(|s| pep440_matches(s, v))).then_some((parsed, f))
                })
                // Highest version; among its files one with core metadata first.
                .max_by(|(a, fa), (b, fb)| {
                    a.cmp(b)
                        .then(matches!(fa.core_metadata, Some(Some(_))).cmp(&matches!(fb.core_metadata, Some(Some(_)))))
                });
            let Some((version, file)) = best else {
                item.problem = Some(format!("no version upstream matches {}", wanted.join(", ")));
                items.push(item);
                continue;
            };
            item.version = version.to_string();
            item.uploaded_us = file.upload_time.as_deref().and_then(upload_time_us);
            item.size = file.size;
            let policy = self.policy(Ecosystem::Pypi, Some(&p.name)).await?;
            item.findings = self.findings(&policy, &p.name, &item.version, item.uploaded_us, item.size);
            item.allowed = self.allowed_now(&policy, &p.name, &item.version, item.uploaded_us, item.size);
            match self.pypi_core_metadata(file).await {
                Ok(bytes) => match parse_metadata(&bytes) {
                    Ok(meta) => {
                        item.license = meta.license.clone();
                        match dependencies(&meta, &p.extras, &targets) {
                            Ok(deps) => {
                                for d in deps {
                                    queue.push_back(Pending {
                                        name: d.name,
                                        spec: d.spec.unwrap_or_default(),
                                        extras: d.extras,
                                        needed_by: Some(p.name.clone()),
                                    });
                                }
                            }
                            Err(e) => item.problem = Some(e.to_string()),
                        }
                    }
                    Err(e) => item.problem = Some(e.to_string()),
                },
                Err(why) => item.problem = Some(why),
            }
            license_finding(&policy, &mut item);
            items.push(item);
        }
        Ok(items)
    }

    /// The verified core metadata of `file`, from the upstream.
    async fn pypi_core_metadata(&self, file: &FileEntry) -> Result<Vec<u8>, String> {
        let Some(Some(hash)) = &file.core_metadata else {
            return Err("the upstream gives no core metadata for it, so its dependencies are not known".into());
        };
        let limit = pypi::metadata::MAX_METADATA_BYTES as u64;
        let (bytes, _) = fetch_all(self.upstream.as_ref(), &format!("{}.metadata", file.url), "*/*", limit)
            .await
            .map_err(|e| e.to_string())?;
        if hex::encode(haven_crypto::sha256(&bytes)) != *hash {
            return Err("its core metadata does not match the hash the upstream gives".into());
        }
        Ok(bytes.to_vec())
    }

    async fn cran_closure(&self, name: &str, spec: &str) -> Result<Vec<ClosureItem>, PackageError> {
        if !cran::valid_package_name(name) {
            return Err(PackageError::BadRequest(format!("{name:?} is not a CRAN package name")));
        }
        let index = self.cran_upstream().await?;
        let policy = self.policy(Ecosystem::Cran, None).await?;
        let mut queue = VecDeque::from([(name.to_string(), None::<String>)]);
        let mut items: Vec<ClosureItem> = Vec::new();
        while let Some((pkg, needed_by)) = queue.pop_front() {
            if items.iter().any(|i| i.name == pkg) {
                continue;
            }
            let mut item = ClosureItem::new(&pkg, needed_by.clone());
            let current = index.records.iter().find(|r| r.package == pkg);
            // The requested package may be an archived version (`== 1.0`, from Archive/).
            let archived = needed_by.is_none()
                && !spec.trim().is_empty()
                && current.is_none_or(|r| !cran_spec_matches(spec, &r.version));
            if archived {
                let served = self.cran_archive_served(&pkg).await;
                let versions: Vec<String> = match &served {
                    Ok(s) => s
                        .records
                        .iter()
                        .map(|r| r.version.clone())
                        .chain(s.refused.iter().filter_map(|(f, _)| cran::tarball_version(&pkg, f).map(str::to_string)))
                        .collect(),
                    Err(_) => Vec::new(),
                };
                match versions
                    .into_iter()
                    .filter(|v| cran_spec_matches(spec, v))
                    .max_by(|a, b| osv::compare(Ecosystem::Cran, a, b).unwrap_or(std::cmp::Ordering::Equal))
                {
                    Some(v) => {
                        item.version = v;
                        item.problem =
                            Some("an archived version: its dependencies are listed as the current version's".into());
                    }
                    None => item.problem = Some(format!("no version matches {spec}, current or archived")),
                }
            } else if let Some(r) = current {
                item.version = r.version.clone();
            } else {
                item.problem = Some("not in the upstream's PACKAGES".into());
            }
            if let Some(r) = current {
                item.license = r.field("License").map(str::to_string);
                for field in ["Depends", "Imports", "LinkingTo"] {
                    let Some(value) = r.field(field) else { continue };
                    match cran::parse_deps(value) {
                        Ok(deps) => {
                            for d in deps.into_iter().filter(|d| d.name != "R" && !cran::is_base_package(&d.name)) {
                                queue.push_back((d.name, Some(pkg.clone())));
                            }
                        }
                        Err(e) => item.problem = Some(e.to_string()),
                    }
                }
            }
            if !item.version.is_empty() {
                item.findings = self.findings(&policy, &pkg, &item.version, Some(0), None);
                item.allowed = self.allowed_now(&policy, &pkg, &item.version, Some(0), None);
                license_finding(&policy, &mut item);
            }
            items.push(item);
            if items.len() > MAX_CLOSURE {
                return Err(PackageError::BadRequest(format!(
                    "The closure has more than {MAX_CLOSURE} packages; ask the service desk."
                )));
            }
        }
        Ok(items)
    }

    async fn conda_closure(&self, name: &str, spec: &str) -> Result<Vec<ClosureItem>, PackageError> {
        let channel = self.config.conda_channels().first().cloned().unwrap_or_default();
        let first = Ecosystem::Conda.canonical_name(name).map_err(|e| PackageError::BadRequest(e.to_string()))?;
        let subdirs: Vec<String> =
            std::iter::once("noarch".to_string()).chain(self.config.conda_platforms.iter().cloned()).collect();
        let records: Vec<PackageRecord> =
            self.conda_records_with_dependencies(&channel, &subdirs, BTreeSet::from([first.clone()])).await?;
        let policy = self.policy(Ecosystem::Conda, None).await?;
        let mut queue = VecDeque::from([(first, spec.to_string(), None::<String>)]);
        let mut items: Vec<ClosureItem> = Vec::new();
        while let Some((pkg, want, needed_by)) = queue.pop_front() {
            if pkg.starts_with("__") || items.iter().any(|i| i.name == pkg) {
                continue; // virtual packages (__glibc…) come with the system
            }
            let mut item = ClosureItem::new(&pkg, needed_by.clone());
            let best = records
                .iter()
                .filter(|r| r.name == pkg && conda::version::matches(&want, &r.version).unwrap_or(false))
                .max_by(|a, b| {
                    osv::compare(Ecosystem::Conda, &a.version, &b.version)
                        .unwrap_or(std::cmp::Ordering::Equal)
                        .then(a.timestamp_ms.cmp(&b.timestamp_ms))
                });
            match best {
                Some(r) => {
                    item.version = r.version.clone();
                    item.license = r.license.clone();
                    item.size = r.size;
                    item.uploaded_us =
                        r.timestamp_ms.and_then(|t| i64::try_from(t).ok()).map(|t| t.saturating_mul(1000));
                    item.findings = self.findings(&policy, &pkg, &item.version, item.uploaded_us, item.size);
                    item.allowed = self.allowed_now(&policy, &pkg, &item.version, item.uploaded_us, item.size);
                    for d in &r.depends {
                        let dep = conda::dependency_name(d).to_string();
                        let rest = d.trim()[dep.len()..].trim().to_string();
                        queue.push_back((dep, rest, Some(pkg.clone())));
                    }
                    license_finding(&policy, &mut item);
                }
                None => {
                    item.problem = Some(format!(
                        "no build in {channel} matches {}",
                        if want.is_empty() { "any version" } else { &want }
                    ))
                }
            }
            items.push(item);
            if items.len() > MAX_CLOSURE {
                return Err(PackageError::BadRequest(format!(
                    "The closure has more than {MAX_CLOSURE} packages; ask the service desk."
                )));
            }
        }
        Ok(items)
    }
}

/// A licence outside the licence allowlist is a finding, and nothing is allowed while it stands.
fn license_finding(policy: &Policy, item: &mut ClosureItem) {
    if let Some(why) = policy.license_refusal(&item.name, &item.version, item.license.as_deref()) {
        item.findings.push(why);
        item.allowed = false;
    }
}

/// `>= 1.0, < 2` style (as Haven's CRAN rules) or a bare version.
fn cran_spec_matches(spec: &str, version: &str) -> bool {
    let spec = spec.trim();
    if spec.is_empty() {
        return true;
    }
    if cran::valid_version(spec) {
        return spec == version;
    }
    match haven_packages::policy::Rule::new(
        Ecosystem::Cran,
        haven_packages::policy::RuleKind::Allow,
        "x.x",
        Some(spec),
        false,
    ) {
        Ok(rule) => {
            let p = Policy {
                ecosystem: Ecosystem::Cran,
                mode: Mode::Allowlist,
                min_age_days: 0,
                max_file_bytes: None,
                rules: vec![rule],
                advisories: Vec::new(),
                min_severity: osv::Severity::Critical,
                licenses: Vec::new(),
            };
            p.decide(&Candidate { name: "x.x", version, uploaded_us: Some(0), size: None }, 0) == Decision::Allowed
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_constraints() {
        assert!(cran_spec_matches(">= 1.0, < 2.0", "1.9-1"));
        assert!(cran_spec_matches("== 1.0", "1.0"));
        assert!(cran_spec_matches("1.0", "1.0") && !cran_spec_matches("1.0", "1.1"));
        assert!(pep440_matches(">=1,<2", "1.5") && !pep440_matches(">=2", "1.5") && pep440_matches("", "3"));
    }
}
