//! The `[packages]` section of the configuration: one upstream and policy per ecosystem.

use haven_packages::osv::Severity;
use haven_packages::policy::{Ecosystem, Mode};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyMode {
    /// Only what a rule allows (the default).
    Allowlist,
    /// Everything except what a rule denies.
    Denylist,
    /// No rules but deny rules; no cooldown. For trusted internal mirrors only.
    Off,
}

impl PolicyMode {
    pub fn mode(self) -> Mode {
        match self {
            PolicyMode::Allowlist => Mode::Allowlist,
            PolicyMode::Denylist => Mode::Denylist,
            PolicyMode::Off => Mode::Off,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyMode::Allowlist => "allowlist",
            PolicyMode::Denylist => "denylist",
            PolicyMode::Off => "off",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcosystemConfig {
    /// `https://…` or `file:///…`: PyPI's simple index root, a CRAN repository root, or a conda
    /// channel host under which `<channel>/` lives.
    pub upstream: String,
    #[serde(default = "default_mode")]
    pub mode: PolicyMode,
    /// Days a version must have been public upstream before Haven offers it (0: no cooldown).
    #[serde(default = "default_min_age")]
    pub min_age_days: u32,
    /// Largest file Haven fetches or serves, in MiB.
    #[serde(default = "default_max_file_mib")]
    pub max_file_mib: u64,
    /// Licences allowed (empty: any), as the index writes them (`MIT`, `GPL (>= 2)`,
    /// `BSD-3-Clause`); an alternative (`GPL-2 | MIT`) that is listed is enough.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<String>,
    /// conda only: the channels served under `/conda/<channel>/` (default `conda-forge`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// For a `file:///` upstream: the directory reads are confined to, when files lie beside
    /// rather than under the index (bandersnatch: `upstream = "file:///m/web/simple/"`,
    /// `mirror_root = "file:///m/web/"`, pages linking `../../packages/…`). Default: the upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_root: Option<String>,
}

fn default_mode() -> PolicyMode {
    PolicyMode::Allowlist
}
fn default_min_age() -> u32 {
    7
}
fn default_max_file_mib() -> u64 {
    1024
}

impl EcosystemConfig {
    fn with_upstream(upstream: &str) -> Self {
        EcosystemConfig {
            upstream: upstream.into(),
            mode: default_mode(),
            min_age_days: default_min_age(),
            max_file_mib: default_max_file_mib(),
            licenses: Vec::new(),
            channels: Vec::new(),
            mirror_root: None,
        }
    }
    /// Where a `file:///` upstream may be read: the mirror root, else the upstream itself.
    pub fn read_root(&self) -> &str {
        self.mirror_root.as_deref().unwrap_or(&self.upstream)
    }
    pub fn max_file_bytes(&self) -> u64 {
        self.max_file_mib.saturating_mul(1024 * 1024)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PackagesConfig {
    /// Serve the repository without credentials: only on a listener that trusted machines alone
    /// can reach.
    pub anonymous_read: bool,
    /// How long an upstream index page is reused before it is fetched again (seconds).
    pub index_ttl_secs: u64,
    /// Seconds an upstream may take to answer; a body must keep arriving at least this often.
    pub upstream_timeout_secs: u64,
    /// Versions with a known vulnerability this severe or worse are refused (`low`, `medium`,
    /// `high`, `critical`); records without a severity count as medium. Malicious versions are
    /// always refused.
    pub osv_min_severity: Severity,
    /// Python versions a request's dependencies are worked out for (environment markers).
    pub python_versions: Vec<String>,
    /// `sys_platform` values the same is done for (`linux`, `win32`, `darwin`).
    pub python_platforms: Vec<String>,
    /// conda platforms (besides `noarch`) a request's dependencies are looked up in.
    pub conda_platforms: Vec<String>,
    pub pypi: EcosystemConfig,
    pub cran: EcosystemConfig,
    pub conda: EcosystemConfig,
}

impl Default for PackagesConfig {
    fn default() -> Self {
        PackagesConfig {
            anonymous_read: false,
            index_ttl_secs: 300,
            upstream_timeout_secs: 30,
            osv_min_severity: Severity::Medium,
            python_versions: ["3.10", "3.11", "3.12", "3.13"].map(String::from).to_vec(),
            python_platforms: vec!["linux".into()],
            conda_platforms: vec!["linux-64".into()],
            pypi: EcosystemConfig::with_upstream("https://pypi.org/simple/"),
            cran: EcosystemConfig::with_upstream("https://cloud.r-project.org/"),
            conda: EcosystemConfig::with_upstream("https://conda.anaconda.org/"),
        }
    }
}

impl PackagesConfig {
    pub fn ecosystem(&self, e: Ecosystem) -> &EcosystemConfig {
        match e {
            Ecosystem::Pypi => &self.pypi,
            Ecosystem::Cran => &self.cran,
            Ecosystem::Conda => &self.conda,
        }
    }

    /// The conda channels served.
    pub fn conda_channels(&self) -> Vec<String> {
        if self.conda.channels.is_empty() { vec!["conda-forge".into()] } else { self.conda.channels.clone() }
    }

    /// Upstream base URL with exactly one trailing slash.
    pub fn base(&self, e: Ecosystem) -> String {
        format!("{}/", self.ecosystem(e).upstream.trim_end_matches('/'))
    }

    pub fn validate(&self) -> Result<(), String> {
        for e in [Ecosystem::Pypi, Ecosystem::Cran, Ecosystem::Conda] {
            let c = self.ecosystem(e);
            let ok = c.upstream.starts_with("https://")
                || c.upstream.starts_with("file:///")
                || c.upstream.starts_with("http://127.0.0.1")
                || c.upstream.starts_with("http://localhost");
            if !ok {
                return Err(format!(
                    "packages.{}.upstream must be an https:// URL or a file:/// directory (plain http only to localhost), not {:?}",
                    e.as_str(),
                    c.upstream
                ));
            }
            if e != Ecosystem::Conda && !c.channels.is_empty() {
                return Err(format!("packages.{}.channels: only conda has channels", e.as_str()));
            }
            if c.max_file_mib == 0 {
                return Err(format!("packages.{}.max_file_mib must be at least 1", e.as_str()));
            }
            if let Some(root) = &c.mirror_root {
                let inside = root.starts_with("file:///")
                    && c.upstream.starts_with("file:///")
                    && c.upstream.starts_with(root.trim_end_matches('/'));
                if !inside {
                    return Err(format!(
                        "packages.{}.mirror_root must be a file:/// directory that contains the file:/// upstream, not {root:?}",
                        e.as_str()
                    ));
                }
            }
        }
        if self.upstream_timeout_secs == 0 || self.upstream_timeout_secs > 600 {
            return Err("packages.upstream_timeout_secs must be between 1 and 600".into());
        }
        for v in &self.python_versions {
            let ok = v.split('.').count() == 2
                && v.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            if !ok {
                return Err(format!("packages.python_versions: {v:?} is not a Python version such as 3.12"));
            }
        }
        if self.python_versions.is_empty() || self.python_platforms.is_empty() {
            return Err("packages.python_versions and packages.python_platforms need at least one entry".into());
        }
        for p in &self.conda_platforms {
            if !haven_packages::conda::valid_subdir(p) || p == "noarch" {
                return Err(format!("packages.conda_platforms: {p:?} is not a conda platform such as linux-64"));
            }
        }
        for ch in &self.conda_channels() {
            let ok = !ch.is_empty()
                && ch.len() <= 64
                && ch.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !ch.starts_with('-');
            if !ok {
                return Err(format!(
                    "packages.conda.channels: {ch:?} is not a channel name (letters, digits, - and _)"
                ));
            }
        }
        Ok(())
    }
}
