//! The default allowlist a new Haven starts with: what installers and builds need before any
//! user package can install (pip itself, the build backends, R's installers). Without these the
//! first `pip install` of an sdist fails in a way users cannot explain. Written once, audited,
//! and removable like any rule.

use haven_packages::policy::{Ecosystem, Rule, RuleKind};
use serde_json::json;

use super::records::NewRule;
use super::{PackageError, Packages};
use crate::CoreError;
use crate::audit::{NewAuditEvent, action, actor};

const DONE: &str = "packages.bootstrap_allowlist";

pub const PYPI: &[&str] = &[
    "pip",
    "setuptools",
    "wheel",
    "packaging",
    "pyproject-hooks",
    "build",
    "flit-core",
    "hatchling",
    "hatch-vcs",
    "pathspec",
    "pluggy",
    "trove-classifiers",
    "poetry-core",
    "pdm-backend",
    "setuptools-scm",
    "scikit-build-core",
    "meson-python",
    "meson",
    "cython",
    "maturin",
    "tomli",
    "typing-extensions",
];
pub const CRAN: &[&str] = &["remotes", "renv"];
pub const CONDA: &[&str] = &["pip", "setuptools", "wheel"];

impl Packages {
    /// Add the bootstrap allowlist unless it was added before (even if its rules were removed
    /// since). Returns how many rules were added.
    pub async fn bootstrap_allowlist(&self) -> Result<usize, PackageError> {
        let now = self.now_us();
        let mut rules = Vec::new();
        for (ecosystem, names) in [(Ecosystem::Pypi, PYPI), (Ecosystem::Cran, CRAN), (Ecosystem::Conda, CONDA)] {
            for name in names {
                let rule = Rule::new(ecosystem, RuleKind::Allow, name, None, false)
                    .map_err(|e| PackageError::BadRequest(e.to_string()))?;
                rules.push(NewRule {
                    ecosystem,
                    kind: RuleKind::Allow,
                    name: rule.name,
                    spec: String::new(),
                    skip_cooldown: false,
                    reason: "bootstrap allowlist: installers and build backends".into(),
                    added_by: actor::HAVEN.into(),
                    added_us: now,
                });
            }
        }
        let event = NewAuditEvent::new(self.clock.now(), actor::HAVEN, action::PACKAGE_BOOTSTRAP_ALLOWLIST)
            .details(json!({"pypi": PYPI, "cran": CRAN, "conda": CONDA}));
        let added = crate::store::transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                if tx.setting(DONE).await?.is_some() {
                    return Ok::<_, CoreError>(0);
                }
                for r in &rules {
                    tx.put_package_rule(r).await?;
                }
                tx.set_setting(DONE, "1").await?;
                tx.append_audit(event).await?;
                Ok(rules.len())
            })
        })
        .await?;
        Ok(added)
    }
}
