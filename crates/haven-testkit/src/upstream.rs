//! A package upstream written by the test: a directory tree served as `file://` upstreams (PyPI
//! pages in PEP 691 JSON with core metadata; CRAN and conda trees are written by the tests that
//! need them under [`Upstream::root`]), and the [`PackagesConfig`] that points Haven at it.

use std::path::Path;

use haven_core::packages::PackagesConfig;
use haven_crypto::sha256;

pub const DAY: i64 = 86_400;
/// The fake clock's "now" ([`crate::FakeClock::new`]): 2026-01-01T00:00:00Z.
pub const NOW: i64 = 1_767_225_600;

/// RFC 3339 of a Unix time.
pub fn iso(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// An upstream directory tree: PyPI pages (PEP 691 JSON), a CRAN repository, a conda channel.
pub struct Upstream {
    dir: tempfile::TempDir,
}

/// One wheel of a PyPI project page.
pub struct WheelSpec<'a> {
    pub project: &'a str,
    pub filename: &'a str,
    pub bytes: &'a [u8],
    pub age_days: i64,
    pub yanked: Option<&'a str>,
    /// Declare this SHA-256 instead of the file's own.
    pub declared: Option<String>,
    /// `Requires-Dist` lines of its core metadata.
    pub requires: &'a [&'a str],
}

/// A wheel uploaded `age_days` before [`NOW`], with no dependencies.
pub fn wheel<'a>(project: &'a str, filename: &'a str, bytes: &'a [u8], age_days: i64) -> WheelSpec<'a> {
    WheelSpec { project, filename, bytes, age_days, yanked: None, declared: None, requires: &[] }
}

impl Upstream {
    pub fn new() -> Upstream {
        Upstream { dir: tempfile::tempdir().unwrap() }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Haven's package settings with every ecosystem's upstream here (conda channel `haven-test`).
    pub fn config(&self, anonymous: bool) -> PackagesConfig {
        let mut c = PackagesConfig { anonymous_read: anonymous, ..Default::default() };
        c.pypi.upstream = format!("file://{}/pypi/", self.root().display());
        c.cran.upstream = format!("file://{}/cran/", self.root().display());
        c.conda.upstream = format!("file://{}/conda/", self.root().display());
        c.conda.channels = vec!["haven-test".into()];
        c
    }

    /// Write a project page with these files (and the files, and their metadata).
    pub fn pypi(&self, project: &str, files: &[WheelSpec<'_>]) {
        let dir = self.root().join("pypi").join(project);
        std::fs::create_dir_all(&dir).unwrap();
        let mut entries = Vec::new();
        for f in files {
            assert_eq!(f.project, project);
            std::fs::write(dir.join(f.filename), f.bytes).unwrap();
            let version = haven_packages::pypi::filename_version(f.filename).unwrap();
            let mut metadata = format!("Metadata-Version: 2.1\nName: {project}\nVersion: {version}\nLicense: MIT\n");
            for r in f.requires {
                metadata.push_str(&format!("Requires-Dist: {r}\n"));
            }
            std::fs::write(dir.join(format!("{}.metadata", f.filename)), &metadata).unwrap();
            let mut e = serde_json::json!({
                "filename": f.filename,
                "url": f.filename,
                "hashes": {"sha256": f.declared.clone().unwrap_or_else(|| hex::encode(sha256(f.bytes)))},
                "requires-python": ">=3.8",
                "core-metadata": {"sha256": hex::encode(sha256(metadata.as_bytes()))},
                "size": f.bytes.len(),
                "upload-time": iso(NOW - f.age_days * DAY),
            });
            if let Some(y) = f.yanked {
                e["yanked"] = y.into();
            }
            entries.push(e);
        }
        let page = serde_json::json!({"meta": {"api-version": "1.1"}, "name": project, "files": entries});
        std::fs::write(dir.join("index.json"), page.to_string()).unwrap();
    }
}

impl Default for Upstream {
    fn default() -> Self {
        Self::new()
    }
}
