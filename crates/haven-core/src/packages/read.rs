//! What package clients ask for: the indexes of each ecosystem. Each entry point checks that
//! the caller may read the repository (`can()`, or `packages.anonymous_read`) before it serves;
//! the files are served by `pypi`, `cran` and `conda` with the same check.

use haven_packages::policy::{Ecosystem, RuleKind};
use std::sync::Arc;

use super::conda::ServedRepodata;
use super::cran::ServedIndex;
use super::pypi::ServedPage;
use super::{PackageError, Packages};
use crate::CoreError;
use crate::authz::{Action, Resource, can};
use crate::caller::Caller;

impl Packages {
    /// `Forbidden` unless the caller may read the repository (anyone, when anonymous reading is
    /// configured).
    pub fn may_read(&self, who: &Caller) -> Result<(), PackageError> {
        if self.config.anonymous_read || can(who, Action::ReadPackages, Resource::Service) {
            Ok(())
        } else {
            Err(CoreError::Forbidden.into())
        }
    }

    /// The PyPI projects someone allowed by name (Haven does not list all of PyPI; clients never
    /// need it), sorted.
    pub async fn pypi_index(&self, who: &Caller) -> Result<Vec<String>, PackageError> {
        self.may_read(who)?;
        let rules = self.stored_rules(Ecosystem::Pypi).await?;
        let mut names: Vec<String> =
            rules.iter().filter(|r| r.kind == RuleKind::Allow).map(|r| r.name.clone()).collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The PyPI page for `requested` (any spelling; the caller redirects to the normalised one).
    pub async fn pypi_project(&self, who: &Caller, requested: &str) -> Result<Arc<ServedPage>, PackageError> {
        self.may_read(who)?;
        self.pypi_served(requested).await
    }

    /// CRAN's `PACKAGES` as the policy allows it.
    pub async fn cran_index(&self, who: &Caller) -> Result<ServedIndex, PackageError> {
        self.may_read(who)?;
        self.cran_served().await
    }

    /// Versions in CRAN's `Archive/<pkg>/` the policy allows.
    pub async fn cran_archive(&self, who: &Caller, pkg: &str) -> Result<ServedIndex, PackageError> {
        self.may_read(who)?;
        self.cran_archive_served(pkg).await
    }

    /// A conda channel's `repodata.json` for one subdir, as the policy allows it.
    pub async fn conda_repodata(
        &self,
        who: &Caller,
        channel: &str,
        subdir: &str,
    ) -> Result<ServedRepodata, PackageError> {
        self.may_read(who)?;
        self.conda_served(channel, subdir).await
    }
}
