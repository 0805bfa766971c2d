//! The project page (PEP 691 JSON model) and the parser for an upstream's JSON page. Upstream
//! input is hostile until checked: bounded in size and count, file names that could not be path
//! tricks, SHA-256 present and well-formed (Haven verifies every download against it, so a file
//! without one is dropped), URLs resolved against the page and limited to http(s) and file.

use serde::Deserialize;
use serde_json::Value;

use super::names::normalize;
use crate::FormatError;
use crate::error::malformed;

/// Largest upstream project page accepted (PyPI's largest pages are a few MiB).
pub const MAX_PAGE_BYTES: usize = 32 * 1024 * 1024;
pub const MAX_FILES: usize = 100_000;
const MAX_FILENAME: usize = 255;
const MAX_TEXT: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectStatus {
    Active,
    Archived,
    /// PEP 792: the index must not offer any file (malware, typically).
    Quarantined,
    Deprecated,
}

impl ProjectStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectStatus::Active => "active",
            ProjectStatus::Archived => "archived",
            ProjectStatus::Quarantined => "quarantined",
            ProjectStatus::Deprecated => "deprecated",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub filename: String,
    /// Where the upstream serves it (absolute).
    pub url: String,
    /// Lower-case hex.
    pub sha256: String,
    pub requires_python: Option<String>,
    /// PEP 658/714: the core metadata file exists; `Some(hash)` when its SHA-256 is given.
    pub core_metadata: Option<Option<String>>,
    /// PEP 592: `Some(reason)` (possibly empty) when yanked.
    pub yanked: Option<String>,
    pub size: Option<u64>,
    /// PEP 700, `yyyy-mm-ddThh:mm:ss[.ffffff]Z`.
    pub upload_time: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPage {
    /// Normalised.
    pub name: String,
    pub status: ProjectStatus,
    pub status_reason: Option<String>,
    pub files: Vec<FileEntry>,
    pub versions: Vec<String>,
    /// Files the upstream listed that Haven cannot verify (no SHA-256) and so left out.
    pub dropped_unverifiable: usize,
}

#[derive(Deserialize)]
struct RawPage {
    meta: RawMeta,
    name: String,
    files: Vec<RawFile>,
    #[serde(default)]
    versions: Vec<String>,
    #[serde(rename = "project-status", default)]
    project_status: Option<RawStatus>,
}

#[derive(Deserialize)]
struct RawMeta {
    #[serde(rename = "api-version")]
    api_version: String,
}

#[derive(Deserialize)]
struct RawStatus {
    status: String,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
struct RawFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: serde_json::Map<String, Value>,
    #[serde(rename = "requires-python", default)]
    requires_python: Option<String>,
    #[serde(rename = "core-metadata", default)]
    core_metadata: Option<Value>,
    #[serde(rename = "dist-info-metadata", default)]
    dist_info_metadata: Option<Value>,
    #[serde(default)]
    yanked: Option<Value>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(rename = "upload-time", default)]
    upload_time: Option<String>,
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A distribution file name that cannot name anything but itself.
pub fn valid_filename(name: &str) -> bool {
    const EXTS: [&str; 5] = [".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz"];
    !name.is_empty()
        && name.len() <= MAX_FILENAME
        && !name.starts_with('.')
        && !name.contains("..")
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+' | b'!'))
        && EXTS.iter().any(|e| name.ends_with(e))
}

/// `yyyy-mm-ddThh:mm:ss[.f{1,6}]Z`.
pub fn valid_upload_time(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let base = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    let tail = &b[19.min(b.len())..];
    base && match tail {
        [b'Z'] => true,
        [b'.', rest @ .., b'Z'] => (1..=6).contains(&rest.len()) && rest.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

fn text(value: Option<String>, what: &'static str) -> Result<Option<String>, FormatError> {
    match value {
        Some(v) if v.len() > MAX_TEXT || v.chars().any(char::is_control) => {
            Err(malformed(what, "too long or has control characters"))
        }
        other => Ok(other),
    }
}

fn resolve(base: &url::Url, href: &str) -> Result<String, FormatError> {
    let url = base.join(href).map_err(|e| malformed("a file URL", e.to_string()))?;
    if !matches!(url.scheme(), "https" | "http" | "file") || url.cannot_be_a_base() {
        return Err(malformed("a file URL", format!("scheme {} is not allowed", url.scheme())));
    }
    Ok(url.to_string())
}

/// Parse an upstream PEP 691 project page fetched from `page_url` for the project `requested`.
pub fn parse_project_json(bytes: &[u8], page_url: &str, requested: &str) -> Result<ProjectPage, FormatError> {
    if bytes.len() > MAX_PAGE_BYTES {
        return Err(FormatError::TooLarge { what: "the upstream project page", limit: MAX_PAGE_BYTES });
    }
    let raw: RawPage =
        serde_json::from_slice(bytes).map_err(|e| malformed("the upstream project page", e.to_string()))?;
    let major = raw.meta.api_version.split('.').next().unwrap_or_default();
    if major != "1" {
        return Err(malformed("the upstream project page", format!("API version {} is not 1.x", raw.meta.api_version)));
    }
    let name = normalize(&raw.name)?;
    if name != normalize(requested)? {
        return Err(malformed("the upstream project page", format!("it describes {name}, not {requested}")));
    }
    if raw.files.len() > MAX_FILES {
        return Err(FormatError::TooLarge { what: "the upstream file list", limit: MAX_FILES });
    }
    let base = url::Url::parse(page_url).map_err(|e| malformed("the page URL", e.to_string()))?;
    let (status, status_reason) = match raw.project_status {
        None => (ProjectStatus::Active, None),
        Some(s) => {
            let status = match s.status.as_str() {
                "active" => ProjectStatus::Active,
                "archived" => ProjectStatus::Archived,
                "quarantined" => ProjectStatus::Quarantined,
                "deprecated" => ProjectStatus::Deprecated,
                other => return Err(malformed("the project status", format!("{other:?} is unknown"))),
            };
            (status, text(s.reason, "the project status reason")?)
        }
    };
    let mut files = Vec::with_capacity(raw.files.len());
    let mut dropped = 0;
    let mut seen = std::collections::HashSet::new();
    for f in raw.files {
        if !valid_filename(&f.filename) {
            return Err(malformed(
                "a file name",
                format!("{:?} is not a distribution file name", f.filename.chars().take(80).collect::<String>()),
            ));
        }
        if !seen.insert(f.filename.clone()) {
            return Err(malformed("the file list", format!("{} appears twice", f.filename)));
        }
        let Some(sha256) = f.hashes.get("sha256").and_then(Value::as_str).map(str::to_ascii_lowercase) else {
            dropped += 1;
            continue;
        };
        if !is_sha256_hex(&sha256) {
            return Err(malformed("a SHA-256 hash", format!("the hash of {} is not 64 hex digits", f.filename)));
        }
        let core_metadata = match f.core_metadata.or(f.dist_info_metadata) {
            None | Some(Value::Bool(false)) => None,
            Some(Value::Bool(true)) => Some(None),
            Some(Value::Object(h)) => match h.get("sha256").and_then(Value::as_str) {
                Some(s) if is_sha256_hex(s) => Some(Some(s.to_ascii_lowercase())),
                Some(_) => return Err(malformed("a core-metadata hash", "not 64 hex digits")),
                None => Some(None),
            },
            Some(_) => return Err(malformed("core-metadata", "must be a boolean or a hash object")),
        };
        let yanked = match f.yanked {
            None | Some(Value::Bool(false)) => None,
            Some(Value::Bool(true)) => Some(String::new()),
            Some(Value::String(reason)) => text(Some(reason), "a yank reason")?,
            Some(_) => return Err(malformed("yanked", "must be a boolean or a reason")),
        };
        if let Some(t) = &f.upload_time
            && !valid_upload_time(t)
        {
            return Err(malformed("an upload time", format!("{t:?} is not yyyy-mm-ddThh:mm:ss[.ffffff]Z")));
        }
        files.push(FileEntry {
            url: resolve(&base, &f.url)?,
            filename: f.filename,
            sha256,
            requires_python: text(f.requires_python, "requires-python")?,
            core_metadata,
            yanked,
            size: f.size,
            upload_time: f.upload_time,
        });
    }
    let versions = raw.versions.into_iter().take(MAX_FILES).filter(|v| v.len() <= 100).collect();
    Ok(ProjectPage { name, status, status_reason, files, versions, dropped_unverifiable: dropped })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "4d0e0a1b1b2a2c3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4";

    fn page(files: &str) -> String {
        format!(
            r#"{{"meta":{{"api-version":"1.1","_last-serial":1}},"name":"Beta_Pkg","files":[{files}],"versions":["1.0"],"x-unknown":1}}"#
        )
    }

    fn file(name: &str, extra: &str) -> String {
        format!(
            r#"{{"filename":"{name}","url":"../../packages/{name}","hashes":{{"sha256":"{SHA}"}},"size":10{extra}}}"#
        )
    }

    #[test]
    fn a_page_parses_with_its_pep_fields() {
        let body = page(&[
            file("beta_pkg-1.0-py3-none-any.whl", r#","requires-python":">=3.8","core-metadata":{"sha256":"4D0E0A1B1B2A2C3C4D5E6F708192A3B4C5D6E7F8091A2B3C4D5E6F708192A3B4"},"upload-time":"2026-11-01T10:00:00.123456Z""#),
            file("beta_pkg-1.0.tar.gz", r#","yanked":"broken build","dist-info-metadata":true"#),
            r#"{"filename":"beta_pkg-0.9.zip","url":"https://files.example/x.zip","hashes":{"md5":"abc"}}"#.to_string(),
        ]
        .join(","));
        let p = parse_project_json(body.as_bytes(), "https://pypi.example/simple/beta-pkg/", "beta-pkg").unwrap();
        assert_eq!(p.name, "beta-pkg");
        assert_eq!(p.files.len(), 2);
        assert_eq!(p.dropped_unverifiable, 1, "no sha256: cannot be verified, left out");
        let w = &p.files[0];
        assert_eq!(w.url, "https://pypi.example/packages/beta_pkg-1.0-py3-none-any.whl");
        assert_eq!(w.requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(w.core_metadata, Some(Some(SHA.to_string())));
        assert_eq!(w.upload_time.as_deref(), Some("2026-11-01T10:00:00.123456Z"));
        assert_eq!(p.files[1].yanked.as_deref(), Some("broken build"));
        assert_eq!(p.files[1].core_metadata, Some(None));
    }

    #[test]
    fn hostile_pages_are_refused_with_a_reason() {
        let cases = [
            (page(&file("../evil.whl", "")), "file name"),
            (page(&file("x%2F..%2Fy.whl", "")), "file name"),
            (page(&file("beta_pkg-1.0.exe", "")), "file name"),
            (page(&[file("a-1.whl", ""), file("a-1.whl", "")].join(",")), "twice"),
            (page(&file("a-1.whl", "").replace(SHA, "zz")), "64 hex"),
            (page(&file("a-1.whl", r#","upload-time":"yesterday""#)), "upload time"),
            (page(&file("a-1.whl", "")).replace("../../packages/a-1.whl", "javascript:alert(1)"), "scheme"),
            (page("").replace("1.1", "2.0"), "API version"),
            (page("").replace("Beta_Pkg", "other"), "describes"),
            ("not json".to_string(), "malformed"),
        ];
        for (body, needle) in cases {
            let e = parse_project_json(body.as_bytes(), "https://pypi.example/simple/beta-pkg/", "beta-pkg")
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
        let huge = vec![b' '; MAX_PAGE_BYTES + 1];
        assert!(matches!(parse_project_json(&huge, "https://x/", "a"), Err(FormatError::TooLarge { .. })));
    }

    #[test]
    fn upload_times_and_filenames() {
        assert!(valid_upload_time("2026-11-01T10:00:00Z"));
        assert!(valid_upload_time("2026-11-01T10:00:00.1Z"));
        assert!(!valid_upload_time("2026-11-01T10:00:00.1234567Z"));
        assert!(!valid_upload_time("2026-11-01 10:00:00Z"));
        assert!(valid_filename("numpy-2.1.0+local-cp312-cp312-manylinux_2_17_x86_64.whl"));
        assert!(!valid_filename(".whl"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2000)) {
            let _ = parse_project_json(&bytes, "https://pypi.example/simple/a/", "a");
        }
    }
}

/// The version in a distribution file name: the second `-` field of a wheel (PEP 427), the
/// part after the last `-` of an sdist (PEP 625).
pub fn filename_version(filename: &str) -> Option<&str> {
    if let Some(stem) = filename.strip_suffix(".whl") {
        let parts: Vec<&str> = stem.split('-').collect();
        return (5..=6).contains(&parts.len()).then(|| parts[1]).filter(|v| !v.is_empty());
    }
    let stem = [".tar.gz", ".zip", ".tar.bz2", ".tgz"].iter().find_map(|e| filename.strip_suffix(e))?;
    stem.rsplit_once('-').map(|(_, v)| v).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod filename_tests {
    use super::filename_version;

    #[test]
    fn versions_from_file_names() {
        assert_eq!(filename_version("requests-2.31.0-py3-none-any.whl"), Some("2.31.0"));
        assert_eq!(filename_version("pkg_a-1.0-1-cp311-cp311-manylinux_2_17_x86_64.whl"), Some("1.0"));
        assert_eq!(filename_version("zope.interface-6.0.tar.gz"), Some("6.0"));
        assert_eq!(filename_version("my-pkg-1.0rc1.zip"), Some("1.0rc1"));
        assert_eq!(filename_version("bad-.whl"), None);
        assert_eq!(filename_version("noversion.tar.gz"), None);
        assert_eq!(filename_version("x.exe"), None);
    }
}
