//! `PACKAGES` (R-admin, "Setting up a package repository"): records of `Field: value` lines,
//! continuation lines starting with whitespace, records separated by blank lines. Upstream files
//! are bounded, every record needs a valid `Package` and `Version`, and `MD5sum`, when present,
//! must be 32 hex digits (R does not check it; Haven does, at download).

use crate::FormatError;
use crate::error::malformed;

pub const MAX_PACKAGES_BYTES: usize = 64 * 1024 * 1024;
pub const MAX_RECORDS: usize = 100_000;
const MAX_FIELDS: usize = 64;
const MAX_VALUE: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CranRecord {
    pub package: String,
    pub version: String,
    /// Every field in file order (Package and Version included), values unfolded.
    pub fields: Vec<(String, String)>,
}

impl CranRecord {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// `MD5sum`, lower-case hex, if the index gives one.
    pub fn md5sum(&self) -> Option<&str> {
        self.field("MD5sum")
    }

    /// The tarball name: `File`, or `<package>_<version>.tar.gz`.
    pub fn file_name(&self) -> String {
        self.field("File").map_or_else(|| format!("{}_{}.tar.gz", self.package, self.version), str::to_string)
    }
}

/// A CRAN package name: letters, digits and `.`, starting with a letter, not ending with `.`, at
/// least two characters.
pub fn valid_package_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b.len() <= 100
        && b[0].is_ascii_alphabetic()
        && b.last().is_some_and(|c| *c != b'.')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'.')
}

/// An R package version: at least two non-negative integers separated by `.` or `-`.
pub fn valid_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split(['.', '-']).collect();
    v.len() <= 50 && parts.len() >= 2 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// R's `package_version` as comparable parts: the integers split on `.` and `-`.
pub fn version_parts(v: &str) -> Option<Vec<u64>> {
    valid_version(v).then(|| v.split(['.', '-']).filter_map(|p| p.parse().ok()).collect())
}

/// Parse an upstream `PACKAGES` file.
pub fn parse_packages(bytes: &[u8]) -> Result<Vec<CranRecord>, FormatError> {
    if bytes.len() > MAX_PACKAGES_BYTES {
        return Err(FormatError::TooLarge { what: "the upstream PACKAGES file", limit: MAX_PACKAGES_BYTES });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| malformed("the upstream PACKAGES file", "not UTF-8"))?;
    let mut records = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    let finish =
        |fields: &mut Vec<(String, String)>, records: &mut Vec<CranRecord>, line: usize| -> Result<(), FormatError> {
            if fields.is_empty() {
                return Ok(());
            }
            let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
            let package = get("Package").ok_or_else(|| {
                malformed("the upstream PACKAGES file", format!("the record ending at line {line} has no Package"))
            })?;
            let version = get("Version")
                .ok_or_else(|| malformed("the upstream PACKAGES file", format!("{package} has no Version")))?;
            if !valid_package_name(&package) {
                return Err(malformed("the upstream PACKAGES file", format!("{package:?} is not a package name")));
            }
            if !valid_version(&version) {
                return Err(malformed("the upstream PACKAGES file", format!("{package} has the version {version:?}")));
            }
            if let Some(md5) = get("MD5sum")
                && !(md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return Err(malformed("the upstream PACKAGES file", format!("{package} has a malformed MD5sum")));
            }
            if let Some(file) = get("File")
                && (file.contains('/') || file.contains("..") || !file.ends_with(".tar.gz"))
            {
                return Err(malformed("the upstream PACKAGES file", format!("{package} names the file {file:?}")));
            }
            if records.len() >= MAX_RECORDS {
                return Err(FormatError::TooLarge { what: "the upstream PACKAGES records", limit: MAX_RECORDS });
            }
            records.push(CranRecord { package, version, fields: std::mem::take(fields) });
            Ok(())
        };
    for (n, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.chars().any(|c| c.is_control() && c != '\t') {
            return Err(malformed("the upstream PACKAGES file", format!("line {} has control characters", n + 1)));
        }
        if line.trim().is_empty() {
            finish(&mut fields, &mut records, n + 1)?;
        } else if line.starts_with([' ', '\t']) {
            let (_, value) = fields
                .last_mut()
                .ok_or_else(|| malformed("the upstream PACKAGES file", format!("line {} continues nothing", n + 1)))?;
            if !value.is_empty() {
                value.push(' ');
            }
            value.push_str(line.trim());
            if value.len() > MAX_VALUE {
                return Err(malformed(
                    "the upstream PACKAGES file",
                    format!("a field is longer than {MAX_VALUE} bytes at line {}", n + 1),
                ));
            }
        } else {
            let (key, value) = line.split_once(':').ok_or_else(|| {
                malformed("the upstream PACKAGES file", format!("line {} is not `Field: value`", n + 1))
            })?;
            if key.is_empty()
                || !key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'.' | b'@'))
            {
                return Err(malformed(
                    "the upstream PACKAGES file",
                    format!("line {} has the field name {key:?}", n + 1),
                ));
            }
            if fields.iter().any(|(k, _)| k == key) || fields.len() >= MAX_FIELDS {
                return Err(malformed(
                    "the upstream PACKAGES file",
                    format!("line {} repeats {key} or has too many fields", n + 1),
                ));
            }
            fields.push((key.to_string(), value.trim().to_string()));
        }
    }
    finish(&mut fields, &mut records, text.lines().count())?;
    Ok(records)
}

/// One entry of `Depends`, `Imports` or `LinkingTo`: a name and an optional constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CranDep {
    pub name: String,
    /// `(operator, version)`, e.g. `(">=", "1.2.3")`.
    pub constraint: Option<(String, String)>,
}

/// Parse `pkg (>= 1.2), other, R (>= 4.1)`.
pub fn parse_deps(field: &str) -> Result<Vec<CranDep>, FormatError> {
    let mut out = Vec::new();
    for item in field.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, constraint) = match item.split_once('(') {
            None => (item.trim(), None),
            Some((name, rest)) => {
                let inner = rest
                    .strip_suffix(')')
                    .ok_or_else(|| malformed("a dependency", format!("{item:?} has an unclosed constraint")))?;
                let inner = inner.trim();
                let op_len = inner.find(|c: char| !matches!(c, '<' | '>' | '=' | '!')).unwrap_or(inner.len());
                let (op, version) = inner.split_at(op_len);
                let version = version.trim();
                if !matches!(op, ">=" | "<=" | ">" | "<" | "==" | "!=") || !valid_version(version) {
                    return Err(malformed("a dependency", format!("{item:?} has the constraint {inner:?}")));
                }
                (name.trim(), Some((op.to_string(), version.to_string())))
            }
        };
        if name != "R" && !valid_package_name(name) {
            return Err(malformed("a dependency", format!("{name:?} is not a package name")));
        }
        out.push(CranDep { name: name.to_string(), constraint });
    }
    Ok(out)
}

/// The `PACKAGES` text for `records` (fields in their order, long values on one line).
pub fn render_packages(records: &[CranRecord]) -> String {
    let mut out = String::new();
    for r in records {
        for (k, v) in &r.fields {
            out.push_str(k);
            out.push_str(": ");
            out.push_str(v);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// Packages that come with R and are never downloaded.
pub fn is_base_package(name: &str) -> bool {
    const BASE: [&str; 14] = [
        "base",
        "compiler",
        "datasets",
        "graphics",
        "grDevices",
        "grid",
        "methods",
        "parallel",
        "splines",
        "stats",
        "stats4",
        "tcltk",
        "tools",
        "utils",
    ];
    BASE.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Package: alpha\nVersion: 1.2.0\nDepends: R (>= 4.1), beta (>= 0.5-1)\nImports: gamma,\n  delta (>= 2.0)\nLicense: MIT + file LICENSE\nMD5sum: 0123456789abcdef0123456789abcdef\nNeedsCompilation: no\n\nPackage: beta\nVersion: 0.5-1\nLicense: GPL-2\n";

    #[test]
    fn packages_parse_render_and_parse_again() {
        let r = parse_packages(SAMPLE.as_bytes()).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].package, "alpha");
        assert_eq!(r[0].field("Imports"), Some("gamma, delta (>= 2.0)"));
        assert_eq!(r[0].md5sum(), Some("0123456789abcdef0123456789abcdef"));
        assert_eq!(r[1].file_name(), "beta_0.5-1.tar.gz");
        let deps = parse_deps(r[0].field("Depends").unwrap()).unwrap();
        assert_eq!(deps[0], CranDep { name: "R".into(), constraint: Some((">=".into(), "4.1".into())) });
        assert_eq!(deps[1].constraint, Some((">=".into(), "0.5-1".into())));
        assert_eq!(parse_packages(render_packages(&r).as_bytes()).unwrap(), r);
    }

    #[test]
    fn malformed_indexes_are_refused_with_the_line_or_package() {
        for (text, needle) in [
            ("Version: 1.0\n", "no Package"),
            ("Package: ../evil\nVersion: 1.0\n", "not a package name"),
            ("Package: alpha\nVersion: one\n", "version"),
            ("Package: alpha\nVersion: 1.0\nMD5sum: xyz\n", "MD5sum"),
            ("Package: alpha\nVersion: 1.0\nFile: ../../etc/passwd\n", "names the file"),
            ("  continuation\n", "continues nothing"),
            ("Package alpha\n", "not `Field: value`"),
            ("Package: alpha\nPackage: beta\nVersion: 1.0\n", "repeats"),
            ("Package: alpha\nVersion: 1.0\nNote: a\0b\n", "control characters"),
        ] {
            let e = parse_packages(text.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
        assert!(parse_deps("alpha (>= 1.0").is_err());
        assert!(parse_deps("alpha (~ 1.0)").is_err());
        assert!(parse_deps("al/pha").is_err());
    }

    #[test]
    fn a_continuation_of_an_empty_field_reads_back_the_same() {
        // Found by the cran_packages fuzz target: the writer and reader disagreed.
        let r = parse_packages(b"Package: alpha\nVersion: 1.0\nZ:\n\tEEE\n").unwrap();
        assert_eq!(r[0].field("Z"), Some("EEE"));
        assert_eq!(parse_packages(render_packages(&r).as_bytes()).unwrap(), r);
    }

    #[test]
    fn names_and_versions() {
        assert!(valid_package_name("data.table") && valid_package_name("R6"));
        assert!(
            !valid_package_name("x")
                && !valid_package_name("1abc")
                && !valid_package_name("abc.")
                && !valid_package_name("a_b")
        );
        assert!(valid_version("1.0") && valid_version("0.5-1") && valid_version("2024.01.02"));
        assert!(!valid_version("1") && !valid_version("1..0") && !valid_version("1.0a"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,600}") {
            let _ = parse_packages(s.as_bytes());
            let _ = parse_deps(&s);
        }
    }
}
