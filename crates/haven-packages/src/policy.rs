//! The package policy, evaluated for one file: deny rules first, then the mode (allowlist: an
//! allow rule must match; denylist: anything not denied; off), then the cooldown (minimum age since
//! upstream upload, waived per rule) and the size limit. Every refusal names the rule that refused,
//! so a 403 can say exactly why. Version rules use each ecosystem's own ordering: PEP 440 for PyPI
//! (`pep440_rs`), R's `package_version` for CRAN; conda rules are by name for now.

use std::str::FromStr;

use crate::FormatError;
use crate::cran::version_parts as r_version;
use crate::error::malformed;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ecosystem {
    Pypi,
    Cran,
    Conda,
}

impl Ecosystem {
    pub fn as_str(self) -> &'static str {
        match self {
            Ecosystem::Pypi => "pypi",
            Ecosystem::Cran => "cran",
            Ecosystem::Conda => "conda",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "pypi" => Some(Ecosystem::Pypi),
            "cran" => Some(Ecosystem::Cran),
            "conda" => Some(Ecosystem::Conda),
            _ => None,
        }
    }

    /// The form names are compared in: PEP 503 for PyPI, exact for CRAN (case matters there),
    /// lower case for conda.
    pub fn canonical_name(self, name: &str) -> Result<String, FormatError> {
        match self {
            Ecosystem::Pypi => crate::pypi::normalize(name),
            Ecosystem::Cran if crate::cran::valid_package_name(name) => Ok(name.to_string()),
            Ecosystem::Conda
                if !name.is_empty()
                    && name.len() <= 200
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')) =>
            {
                Ok(name.to_ascii_lowercase())
            }
            _ => Err(FormatError::BadName(name.chars().take(100).collect())),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Allowlist,
    Denylist,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Versions {
    Any,
    Pep440(pep440_rs::VersionSpecifiers),
    R(Vec<(String, Vec<u64>)>),
    Conda(String),
}

/// One rule: allow or deny a name, optionally only some versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub kind: RuleKind,
    pub name: String,
    /// The version specifier as written (for messages).
    pub spec: Option<String>,
    versions: Versions,
    /// An allow rule may waive the cooldown (an urgent fix, say).
    pub skip_cooldown: bool,
}

impl Rule {
    pub fn new(
        ecosystem: Ecosystem,
        kind: RuleKind,
        name: &str,
        spec: Option<&str>,
        skip_cooldown: bool,
    ) -> Result<Rule, FormatError> {
        let name = ecosystem.canonical_name(name)?;
        let spec = spec.map(str::trim).filter(|s| !s.is_empty());
        let versions = match (ecosystem, spec) {
            (_, None) => Versions::Any,
            (Ecosystem::Pypi, Some(s)) => Versions::Pep440(
                pep440_rs::VersionSpecifiers::from_str(s)
                    .map_err(|e| malformed("a version specifier", format!("{s:?}: {e}")))?,
            ),
            (Ecosystem::Cran, Some(s)) => {
                let mut parts = Vec::new();
                for clause in s.split(',').map(str::trim) {
                    let op_len = clause.find(|c: char| !matches!(c, '<' | '>' | '=' | '!')).unwrap_or(clause.len());
                    let (op, v) = clause.split_at(op_len);
                    let version = r_version(v.trim()).filter(|_| matches!(op, ">=" | "<=" | ">" | "<" | "==" | "!="));
                    let version = version.ok_or_else(|| {
                        malformed(
                            "a version specifier",
                            format!("{clause:?}: use >=, <=, >, <, == or != and an R version such as 1.2-3"),
                        )
                    })?;
                    parts.push((op.to_string(), version));
                }
                Versions::R(parts)
            }
            (Ecosystem::Conda, Some(s)) if crate::conda::version::valid_spec(s) => Versions::Conda(s.to_string()),
            (Ecosystem::Conda, Some(s)) => {
                return Err(malformed(
                    "a version specifier",
                    format!(
                        "{s:?}: use >=, >, <=, <, ==, != or =1.2 and versions such as 1.2.3, or 1.2.*, separated by commas"
                    ),
                ));
            }
        };
        Ok(Rule { kind, name, spec: spec.map(str::to_string), versions, skip_cooldown })
    }

    fn matches(&self, name: &str, version: &str) -> bool {
        if self.name != name {
            return false;
        }
        match &self.versions {
            Versions::Any => true,
            Versions::Pep440(spec) => pep440_rs::Version::from_str(version).is_ok_and(|v| spec.contains(&v)),
            // A version that cannot be compared matches a deny rule and no allow rule (fail closed).
            Versions::Conda(spec) => {
                crate::conda::version::matches(spec, version).unwrap_or(self.kind == RuleKind::Deny)
            }
            Versions::R(clauses) => r_version(version).is_some_and(|v| {
                clauses.iter().all(|(op, want)| match op.as_str() {
                    ">=" => v >= *want,
                    "<=" => v <= *want,
                    ">" => v > *want,
                    "<" => v < *want,
                    "==" => v == *want,
                    _ => v != *want,
                })
            }),
        }
    }

    fn describe(&self) -> String {
        let kind = if self.kind == RuleKind::Allow { "allow" } else { "deny" };
        match &self.spec {
            Some(s) => format!("{kind} {} {s}", self.name),
            None => format!("{kind} {}", self.name),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub ecosystem: Ecosystem,
    pub mode: Mode,
    /// Minimum days since upstream upload; 0 turns the cooldown off.
    pub min_age_days: u32,
    pub max_file_bytes: Option<u64>,
    pub rules: Vec<Rule>,
    /// Known vulnerable or malicious versions (from an OSV import) of the names in question.
    pub advisories: Vec<crate::osv::Advisory>,
    /// Vulnerabilities this severe or worse are refused; malicious versions always are.
    pub min_severity: crate::osv::Severity,
    /// Licences allowed (empty: any). Checked where the index states a licence (CRAN, conda)
    /// and in software-request closures.
    pub licenses: Vec<String>,
}

/// One file as the policy sees it.
pub struct Candidate<'a> {
    pub name: &'a str,
    pub version: &'a str,
    /// When the upstream says it was uploaded (µs since the epoch), if it says.
    pub uploaded_us: Option<i64>,
    pub size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// The one-line reason, naming the rule.
    Refused(String),
}

pub const DAY_US: i64 = 86_400 * 1_000_000;

/// The alternatives a licence field offers (`MIT | GPL-2`, `MIT OR Apache-2.0`), without CRAN's
/// `+ file LICENSE` pointer.
fn license_alternatives(license: &str) -> Vec<String> {
    license
        .replace(" OR ", "|")
        .split('|')
        .map(|alt| {
            let alt = alt.trim();
            let alt = alt.strip_suffix("+ file LICENSE").or_else(|| alt.strip_suffix("+ file LICENCE")).unwrap_or(alt);
            alt.trim().to_ascii_lowercase()
        })
        .filter(|a| !a.is_empty() && a != "file license" && a != "file licence")
        .collect()
}

impl Policy {
    /// Why `license` is refused by the licence allowlist, if it is. A licence the index does not
    /// state is not refused here (the reviewer sees it in the closure).
    pub fn license_refusal(&self, name: &str, version: &str, license: Option<&str>) -> Option<String> {
        let license = license?.trim();
        if self.licenses.is_empty() || license.is_empty() {
            return None;
        }
        let allowed: Vec<String> = self.licenses.iter().map(|l| l.trim().to_ascii_lowercase()).collect();
        let ok = license_alternatives(license).iter().any(|alt| allowed.contains(alt));
        (!ok).then(|| format!("{name} {version} has the licence {license:?}, which is not on the licence allowlist"))
    }

    pub fn decide(&self, c: &Candidate<'_>, now_us: i64) -> Decision {
        let Ok(name) = self.ecosystem.canonical_name(c.name) else {
            return Decision::Refused(format!("{:?} is not a valid {} name", c.name, self.ecosystem.as_str()));
        };
        if let Some(rule) = self.rules.iter().find(|r| r.kind == RuleKind::Deny && r.matches(&name, c.version)) {
            return Decision::Refused(format!("{name} {} is refused by the rule `{}`", c.version, rule.describe()));
        }
        let hits: Vec<&crate::osv::Advisory> =
            self.advisories.iter().filter(|a| a.affecting(self.ecosystem, &name, c.version).is_some()).collect();
        if let Some(a) = hits.iter().find(|a| a.malicious) {
            return Decision::Refused(format!(
                "{name} {} is known to be malicious ({}: {})",
                c.version, a.id, a.summary
            ));
        }
        if let Some(a) = hits.iter().filter(|a| a.severity.at_least(self.min_severity)).max_by_key(|a| a.severity) {
            return Decision::Refused(format!(
                "{name} {} has a known {} vulnerability ({}: {}); the threshold is {}",
                c.version,
                a.severity.as_str(),
                a.id,
                a.summary,
                self.min_severity.as_str()
            ));
        }
        let allow = self.rules.iter().find(|r| r.kind == RuleKind::Allow && r.matches(&name, c.version));
        if self.mode == Mode::Allowlist && allow.is_none() {
            return Decision::Refused(format!("{name} {} is not on the allowlist", c.version));
        }
        if let (Some(max), Some(size)) = (self.max_file_bytes, c.size)
            && size > max
        {
            return Decision::Refused(format!(
                "{name} {}: the file has {size} bytes, more than the limit of {max}",
                c.version
            ));
        }
        // Any matching allow rule may waive the cooldown (a narrower rule beside a broad one).
        let waived =
            self.rules.iter().any(|r| r.kind == RuleKind::Allow && r.skip_cooldown && r.matches(&name, c.version));
        if self.mode != Mode::Off && self.min_age_days > 0 && !waived {
            let days = i64::from(self.min_age_days);
            match c.uploaded_us {
                None => {
                    return Decision::Refused(format!(
                        "{name} {}: the upstream gives no upload time, so the {days}-day cooldown cannot be checked",
                        c.version
                    ));
                }
                Some(at) if now_us - at < days * DAY_US => {
                    let age = (now_us - at).max(0) / DAY_US;
                    return Decision::Refused(format!(
                        "{name} {} was uploaded {age} day(s) ago; the cooldown is {days} days",
                        c.version
                    ));
                }
                Some(_) => {}
            }
        }
        Decision::Allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000 * 1_000_000;

    fn pypi(mode: Mode, rules: Vec<Rule>) -> Policy {
        Policy {
            ecosystem: Ecosystem::Pypi,
            mode,
            min_age_days: 7,
            max_file_bytes: Some(1000),
            rules,
            advisories: vec![],
            min_severity: crate::osv::Severity::Medium,
            licenses: vec![],
        }
    }

    fn cand<'a>(name: &'a str, version: &'a str, age_days: i64) -> Candidate<'a> {
        Candidate { name, version, uploaded_us: Some(NOW - age_days * DAY_US), size: Some(10) }
    }

    #[test]
    fn allowlist_with_versions_deny_first_cooldown_and_size() {
        let p = pypi(
            Mode::Allowlist,
            vec![
                Rule::new(Ecosystem::Pypi, RuleKind::Allow, "Requests", Some(">=2.31,<3"), false).unwrap(),
                Rule::new(Ecosystem::Pypi, RuleKind::Deny, "requests", Some("==2.32.0"), false).unwrap(),
                Rule::new(Ecosystem::Pypi, RuleKind::Allow, "urgent_fix", None, true).unwrap(),
            ],
        );
        assert_eq!(p.decide(&cand("requests", "2.31.0", 30), NOW), Decision::Allowed);
        assert!(
            matches!(p.decide(&cand("requests", "2.30.0", 30), NOW), Decision::Refused(r) if r.contains("not on the allowlist"))
        );
        assert!(
            matches!(p.decide(&cand("requests", "2.32.0", 30), NOW), Decision::Refused(r) if r.contains("`deny requests ==2.32.0`"))
        );
        assert!(
            matches!(p.decide(&cand("requests", "2.31.0", 2), NOW), Decision::Refused(r) if r.contains("2 day(s) ago; the cooldown is 7 days"))
        );
        assert_eq!(p.decide(&cand("Urgent.Fix", "1.0", 0), NOW), Decision::Allowed, "waived, and names normalise");
        let unknown_time = Candidate { uploaded_us: None, ..cand("requests", "2.31.0", 0) };
        assert!(matches!(p.decide(&unknown_time, NOW), Decision::Refused(r) if r.contains("no upload time")));
        let big = Candidate { size: Some(5000), ..cand("requests", "2.31.0", 30) };
        assert!(matches!(p.decide(&big, NOW), Decision::Refused(r) if r.contains("limit of 1000")));
        assert!(matches!(p.decide(&cand("../x", "1", 30), NOW), Decision::Refused(_)));
    }

    #[test]
    fn advisories_refuse_by_severity_and_always_for_malware() {
        let osv = |id: &str, severity: &str, fixed: &str| {
            crate::osv::parse_record(
                format!(
                    r#"{{"id": "{id}", "summary": "s", "database_specific": {{"severity": "{severity}"}},
                    "affected": [{{"package": {{"ecosystem": "PyPI", "name": "lib"}},
                    "ranges": [{{"type": "ECOSYSTEM", "events": [{{"introduced": "0"}}, {{"fixed": "{fixed}"}}]}}]}}]}}"#
                )
                .as_bytes(),
            )
            .unwrap()
        };
        let mut p = pypi(Mode::Denylist, vec![]);
        p.advisories =
            vec![osv("GHSA-low", "LOW", "2.0"), osv("GHSA-high", "HIGH", "1.5"), osv("MAL-2025-1", "LOW", "1.1")];
        assert!(
            matches!(p.decide(&cand("lib", "1.0", 30), NOW), Decision::Refused(r) if r.contains("malicious (MAL-2025-1"))
        );
        assert!(
            matches!(p.decide(&cand("lib", "1.4", 30), NOW), Decision::Refused(r) if r.contains("high vulnerability (GHSA-high"))
        );
        assert_eq!(p.decide(&cand("lib", "1.9", 30), NOW), Decision::Allowed, "low is under the threshold");
        p.min_severity = crate::osv::Severity::Low;
        assert!(matches!(p.decide(&cand("lib", "1.9", 30), NOW), Decision::Refused(_)));
        assert_eq!(p.decide(&cand("other", "1.0", 30), NOW), Decision::Allowed);
    }

    #[test]
    fn licence_allowlist() {
        let mut p = pypi(Mode::Denylist, vec![]);
        assert_eq!(p.license_refusal("x", "1", Some("GPL-3")), None, "no allowlist: any licence");
        p.licenses = vec!["MIT".into(), "GPL (>= 2)".into(), "Apache-2.0".into()];
        assert_eq!(p.license_refusal("x", "1", Some("MIT + file LICENSE")), None);
        assert_eq!(p.license_refusal("x", "1", Some("gpl (>= 2)")), None);
        assert_eq!(p.license_refusal("x", "1", Some("GPL-3 | Apache-2.0")), None);
        assert_eq!(p.license_refusal("x", "1", Some("BSD-3-Clause OR MIT")), None);
        assert_eq!(p.license_refusal("x", "1", None), None, "unstated: left to the reviewer");
        assert!(
            p.license_refusal("x", "1", Some("AGPL-3"))
                .unwrap()
                .contains("\"AGPL-3\", which is not on the licence allowlist")
        );
        assert!(p.license_refusal("x", "1", Some("file LICENSE")).is_some());
    }

    #[test]
    fn denylist_and_off() {
        let deny = vec![Rule::new(Ecosystem::Pypi, RuleKind::Deny, "evil", None, false).unwrap()];
        let p = pypi(Mode::Denylist, deny.clone());
        assert_eq!(p.decide(&cand("numpy", "2.0", 30), NOW), Decision::Allowed);
        assert!(matches!(p.decide(&cand("evil", "1.0", 30), NOW), Decision::Refused(_)));
        let off = pypi(Mode::Off, deny);
        assert_eq!(off.decide(&cand("numpy", "2.0", 0), NOW), Decision::Allowed, "off: no cooldown");
        assert!(matches!(off.decide(&cand("evil", "1.0", 30), NOW), Decision::Refused(_)), "deny rules still apply");
    }

    #[test]
    fn cran_versions_order_like_r() {
        let rule = Rule::new(Ecosystem::Cran, RuleKind::Allow, "rlang", Some(">= 1.1.3, < 1.10"), false).unwrap();
        let p = Policy {
            ecosystem: Ecosystem::Cran,
            mode: Mode::Allowlist,
            min_age_days: 0,
            max_file_bytes: None,
            rules: vec![rule],
            advisories: vec![],
            min_severity: crate::osv::Severity::Medium,
            licenses: vec![],
        };
        assert_eq!(p.decide(&cand("rlang", "1.1.4", 0), NOW), Decision::Allowed);
        assert_eq!(p.decide(&cand("rlang", "1.9-2", 0), NOW), Decision::Allowed, "1.9-2 < 1.10 numerically");
        assert!(matches!(p.decide(&cand("rlang", "1.10.0", 0), NOW), Decision::Refused(_)));
        assert!(
            matches!(p.decide(&cand("Rlang", "1.1.4", 0), NOW), Decision::Refused(_)),
            "CRAN names are case-sensitive"
        );
        assert!(Rule::new(Ecosystem::Cran, RuleKind::Allow, "rlang", Some("~> 1"), false).is_err());
        assert!(Rule::new(Ecosystem::Pypi, RuleKind::Allow, "x", Some("not a spec"), false).is_err());
        assert!(Rule::new(Ecosystem::Conda, RuleKind::Allow, "numpy", Some("~> 1"), false).is_err());
        let numpy = Rule::new(Ecosystem::Conda, RuleKind::Allow, "numpy", Some(">=1.26,<2"), false).unwrap();
        let conda = Policy { ecosystem: Ecosystem::Conda, rules: vec![numpy], ..p.clone() };
        assert_eq!(conda.decide(&cand("numpy", "1.26.4", 0), NOW), Decision::Allowed);
        assert!(matches!(conda.decide(&cand("numpy", "2.0.0", 0), NOW), Decision::Refused(_)));
        let deny = Rule::new(Ecosystem::Conda, RuleKind::Deny, "numpy", Some("<1.26"), false).unwrap();
        assert!(deny.matches("numpy", "weird!version"), "a deny rule fails closed");
        assert!(Rule::new(Ecosystem::Conda, RuleKind::Allow, "NumPy", None, false).unwrap().name == "numpy");
    }
}
