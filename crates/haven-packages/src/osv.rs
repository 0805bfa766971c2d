//! OSV advisories (ossf/osv-schema), imported offline: which versions of a PyPI or CRAN package
//! are known to be vulnerable or malicious, and how severe. conda has no OSV ecosystem: a conda
//! name is looked up as CRAN's (`r-foo` → `foo`) or PyPI's (anything else).
//!
//! Affected versions are those listed in `versions` or inside a range: `introduced` opens one,
//! `fixed` closes it exclusively, `last_affected` inclusively (ECOSYSTEM ordering: PEP 440 for
//! PyPI, R's `package_version` for CRAN). Withdrawn records affect nothing.

use std::cmp::Ordering;
use std::str::FromStr;

use serde::Deserialize;
use serde_json::Value;

use crate::FormatError;
use crate::error::malformed;
use crate::policy::Ecosystem;

pub const MAX_RECORD_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    #[serde(alias = "moderate")]
    Medium,
    /// No severity in the record: treated as medium (refused at the default threshold).
    Unknown,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::Unknown => "unknown",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
    pub fn parse(s: &str) -> Option<Severity> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Some(Severity::Low),
            "medium" | "moderate" => Some(Severity::Medium),
            "unknown" => Some(Severity::Unknown),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
    /// Whether this meets `threshold` (unknown counts as medium).
    pub fn at_least(self, threshold: Severity) -> bool {
        let rank = |s: Severity| match s {
            Severity::Low => 0,
            Severity::Medium | Severity::Unknown => 1,
            Severity::High => 2,
            Severity::Critical => 3,
        };
        rank(self) >= rank(threshold)
    }
    fn from_cvss(score: f64) -> Severity {
        match score {
            s if s >= 9.0 => Severity::Critical,
            s if s >= 7.0 => Severity::High,
            s if s >= 4.0 => Severity::Medium,
            _ => Severity::Low,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

/// What one advisory says about one package.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Affected {
    pub ecosystem: String,
    /// Canonical name.
    pub name: String,
    pub versions: Vec<String>,
    /// ECOSYSTEM (or SEMVER) ranges, each a list of events.
    pub ranges: Vec<Vec<Event>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advisory {
    pub id: String,
    pub summary: String,
    pub severity: Severity,
    pub malicious: bool,
    pub withdrawn: bool,
    pub affected: Vec<Affected>,
}

#[derive(Deserialize)]
struct RawRecord {
    id: String,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default)]
    severity: Vec<RawSeverity>,
    #[serde(default)]
    affected: Vec<RawAffected>,
    #[serde(default)]
    database_specific: Option<Value>,
}

#[derive(Deserialize)]
struct RawSeverity {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Deserialize)]
struct RawAffected {
    package: Option<RawPackage>,
    #[serde(default)]
    ranges: Vec<RawRange>,
    #[serde(default)]
    versions: Vec<String>,
    #[serde(default)]
    severity: Vec<RawSeverity>,
}

#[derive(Deserialize)]
struct RawPackage {
    ecosystem: String,
    name: String,
}

#[derive(Deserialize)]
struct RawRange {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    events: Vec<Value>,
}

fn severity_of(record: &RawRecord, affected: &[RawSeverity]) -> Severity {
    let textual = record
        .database_specific
        .as_ref()
        .and_then(|d| d.get("severity"))
        .and_then(Value::as_str)
        .and_then(Severity::parse);
    if let Some(s) = textual {
        return s;
    }
    record
        .severity
        .iter()
        .chain(affected)
        .filter(|s| s.kind == "CVSS_V3")
        .filter_map(|s| cvss::v3::Vector::from_str(&s.score).ok())
        .map(|v| Severity::from_cvss(v.score().value()))
        .max()
        .unwrap_or(Severity::Unknown)
}

fn event(v: &Value) -> Result<Option<Event>, FormatError> {
    let Value::Object(m) = v else { return Err(malformed("an OSV range event", "not an object")) };
    let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
    Ok(if let Some(x) = text("introduced") {
        Some(Event::Introduced(x))
    } else if let Some(x) = text("fixed") {
        Some(Event::Fixed(x))
    } else if let Some(x) = text("last_affected") {
        Some(Event::LastAffected(x))
    } else {
        text("limit").map(Event::Limit)
    })
}

/// Parse one OSV record. Packages of ecosystems Haven does not serve are left out.
pub fn parse_record(bytes: &[u8]) -> Result<Advisory, FormatError> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(FormatError::TooLarge { what: "an OSV record", limit: MAX_RECORD_BYTES });
    }
    let raw: RawRecord = serde_json::from_slice(bytes).map_err(|e| malformed("an OSV record", e.to_string()))?;
    if raw.id.is_empty() || raw.id.len() > 100 || raw.id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(malformed("an OSV record", "the id is missing or malformed"));
    }
    let mut severity = Severity::Low;
    let mut affected = Vec::new();
    for a in &raw.affected {
        let Some(p) = &a.package else { continue };
        let ecosystem = match p.ecosystem.as_str() {
            "PyPI" => Ecosystem::Pypi,
            "CRAN" => Ecosystem::Cran,
            _ => continue,
        };
        let Ok(name) = ecosystem.canonical_name(&p.name) else { continue };
        let mut ranges = Vec::new();
        for r in a.ranges.iter().filter(|r| r.kind == "ECOSYSTEM" || r.kind == "SEMVER") {
            let events: Vec<Event> =
                r.events.iter().map(event).collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect();
            ranges.push(events);
        }
        severity = severity.max(severity_of(&raw, &a.severity));
        affected.push(Affected { ecosystem: ecosystem.as_str().into(), name, versions: a.versions.clone(), ranges });
    }
    if affected.is_empty() {
        severity = severity_of(&raw, &[]);
    }
    let summary = raw.summary.or(raw.details).unwrap_or_default().chars().take(300).collect::<String>();
    Ok(Advisory {
        malicious: raw.id.starts_with("MAL-"),
        id: raw.id,
        summary: summary.replace(['\n', '\r'], " "),
        severity,
        withdrawn: raw.withdrawn.is_some(),
        affected,
    })
}

/// Compare two versions in an ecosystem's order; None when either cannot be read.
pub fn compare(ecosystem: Ecosystem, a: &str, b: &str) -> Option<Ordering> {
    match ecosystem {
        Ecosystem::Cran => {
            let parse = |v: &str| -> Option<Vec<u64>> {
                crate::cran::valid_version(v).then(|| v.split(['.', '-']).filter_map(|p| p.parse().ok()).collect())
            };
            Some(parse(a)?.cmp(&parse(b)?))
        }
        Ecosystem::Pypi | Ecosystem::Conda => {
            let a = pep440_rs::Version::from_str(a).ok()?;
            let b = pep440_rs::Version::from_str(b).ok()?;
            Some(a.cmp(&b))
        }
    }
}

impl Affected {
    /// Whether `version` is affected (`ecosystem` gives the ordering).
    pub fn affects(&self, ecosystem: Ecosystem, version: &str) -> bool {
        if self.versions.iter().any(|v| v == version) {
            return true;
        }
        self.ranges.iter().any(|events| {
            let mut inside = false;
            for e in events {
                match e {
                    Event::Introduced(v) => {
                        if v == "0" || compare(ecosystem, version, v).is_some_and(|o| o != Ordering::Less) {
                            inside = true;
                        }
                    }
                    Event::Fixed(v) | Event::Limit(v) => {
                        if compare(ecosystem, version, v).is_some_and(|o| o != Ordering::Less) {
                            inside = false;
                        }
                    }
                    Event::LastAffected(v) => {
                        if compare(ecosystem, version, v).is_some_and(|o| o == Ordering::Greater) {
                            inside = false;
                        }
                    }
                }
            }
            inside
        })
    }
}

impl Advisory {
    /// The first affected entry naming this package and version (`ecosystem`/`name` as Haven
    /// serves them).
    pub fn affecting(&self, ecosystem: Ecosystem, name: &str, version: &str) -> Option<&Affected> {
        let (osv_ecosystem, osv_name) = osv_identity(ecosystem, name);
        let order = if ecosystem == Ecosystem::Conda { osv_ecosystem } else { ecosystem };
        if self.withdrawn {
            return None;
        }
        self.affected
            .iter()
            .find(|a| a.ecosystem == osv_ecosystem.as_str() && a.name == osv_name && a.affects(order, version))
    }
}

/// The OSV ecosystem and name a package of `ecosystem` is known by.
pub fn osv_identity(ecosystem: Ecosystem, name: &str) -> (Ecosystem, String) {
    match ecosystem {
        Ecosystem::Conda => match name.strip_prefix("r-") {
            Some(r) => (Ecosystem::Cran, r.to_string()),
            None => (Ecosystem::Pypi, crate::pypi::normalize(name).unwrap_or_else(|_| name.to_string())),
        },
        other => (other, name.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_versions_severity_and_malware() {
        let record = br#"{"id": "GHSA-xxxx", "summary": "Bad thing", "database_specific": {"severity": "MODERATE"},
          "affected": [{"package": {"ecosystem": "PyPI", "name": "Requests_Lib"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.0"}, {"fixed": "2.3.1"}, {"introduced": "3.0"}, {"last_affected": "3.2"}]}],
            "versions": ["1.9"]},
           {"package": {"ecosystem": "npm", "name": "left-pad"}, "versions": ["1.0.0"]}]}"#;
        let a = parse_record(record).unwrap();
        assert_eq!(a.severity, Severity::Medium);
        assert!(!a.malicious && !a.withdrawn);
        assert_eq!(a.affected.len(), 1, "npm is not served");
        let r = &a.affected[0];
        assert_eq!(r.name, "requests-lib");
        for (v, want) in [
            ("1.9", true),
            ("1.8", false),
            ("2.0", true),
            ("2.3.0", true),
            ("2.3.1", false),
            ("2.9", false),
            ("3.0", true),
            ("3.2", true),
            ("3.2.1", false),
        ] {
            assert_eq!(r.affects(Ecosystem::Pypi, v), want, "{v}");
        }

        let mal = br#"{"id": "MAL-2024-1", "summary": "Malicious code in evil (PyPI)",
          "affected": [{"package": {"ecosystem": "PyPI", "name": "evil"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]}"#;
        let m = parse_record(mal).unwrap();
        assert!(m.malicious);
        assert!(m.affected[0].affects(Ecosystem::Pypi, "99.0"));
        assert_eq!(m.severity, Severity::Unknown);

        let cvss = br#"{"id": "RSEC-2024-1", "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
          "affected": [{"package": {"ecosystem": "CRAN", "name": "readxl"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.4.10"}]}]}]}"#;
        let c = parse_record(cvss).unwrap();
        assert_eq!(c.severity, Severity::Critical);
        assert!(c.affected[0].affects(Ecosystem::Cran, "1.4.9"));
        assert!(!c.affected[0].affects(Ecosystem::Cran, "1.4.10"), "fixed is exclusive");
        assert!(c.affected[0].affects(Ecosystem::Cran, "1.4-2"));

        assert!(parse_record(br#"{"id": "X-1", "withdrawn": "2024-01-01T00:00:00Z"}"#).unwrap().withdrawn);
        assert!(parse_record(b"{").is_err());
        assert!(parse_record(br#"{"id": ""}"#).is_err());
        assert!(Severity::Unknown.at_least(Severity::Medium) && !Severity::Unknown.at_least(Severity::High));
        assert_eq!(osv_identity(Ecosystem::Conda, "r-readxl"), (Ecosystem::Cran, "readxl".into()));
        assert_eq!(osv_identity(Ecosystem::Conda, "Requests_Lib"), (Ecosystem::Pypi, "requests-lib".into()));
    }
}
