//! `repodata.json`: `info`, `packages` (`.tar.bz2`), `packages.conda` (`.conda`), `removed`. Every
//! record keeps all its fields (clients need `depends`, `constrains`, `timestamp`…), but the ones
//! Haven relies on are checked: the artifact name is `name-version-build.ext` and matches the
//! record, `sha256` is present (downloads are verified against it; records without one are left
//! out), sizes and timestamps are numbers, `depends` is a list of strings.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::FormatError;
use crate::error::malformed;

/// Largest upstream repodata accepted (conda-forge's biggest subdir is a few hundred MiB).
pub const MAX_REPODATA_BYTES: usize = 768 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct PackageRecord {
    pub name: String,
    pub version: String,
    pub build: String,
    pub sha256: String,
    pub size: Option<u64>,
    /// Milliseconds since the epoch (older builders wrote seconds; normalised here).
    pub timestamp_ms: Option<u64>,
    pub depends: Vec<String>,
    pub license: Option<String>,
    /// The whole record as the upstream gave it, for faithful rendering.
    pub raw: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Repodata {
    pub subdir: String,
    /// `.tar.bz2` artifacts by file name.
    pub packages: BTreeMap<String, PackageRecord>,
    /// `.conda` artifacts by file name.
    pub packages_conda: BTreeMap<String, PackageRecord>,
    pub removed: Vec<String>,
    /// Records the upstream listed without a SHA-256 (not verifiable: left out).
    pub dropped_unverifiable: usize,
}

/// `noarch`, `linux-64`, `osx-arm64`, `win-64`…
pub fn valid_subdir(s: &str) -> bool {
    (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `name-version-build.conda` or `.tar.bz2`, nothing that could be a path.
pub fn valid_artifact_name(file: &str) -> bool {
    let stem = file.strip_suffix(".conda").or_else(|| file.strip_suffix(".tar.bz2"));
    stem.is_some_and(|s| {
        s.len() <= 250
            && s.splitn(3, '-').count() == 3
            && !s.starts_with(['.', '-'])
            && !s.contains("..")
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+' | b'!'))
    })
}

/// The name and version in an artifact name (`name-version-build.conda`), if it is one.
pub fn artifact_name_version(file: &str) -> Option<(&str, &str)> {
    if !valid_artifact_name(file) {
        return None;
    }
    let mut parts = file.rsplitn(3, '-').skip(1);
    let version = parts.next()?;
    Some((parts.next()?, version))
}

/// The package name a dependency spec (match spec) names: `python >=3.8`, `numpy 1.21.*`.
pub fn dependency_name(spec: &str) -> &str {
    let s = spec.trim();
    let end = s.find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '=' | '!' | '~' | '[')).unwrap_or(s.len());
    &s[..end]
}

fn record(file: &str, raw: Map<String, Value>, subdir: &str) -> Result<Option<PackageRecord>, FormatError> {
    let what = "a repodata record";
    let text = |k: &str| raw.get(k).and_then(Value::as_str).map(str::to_string);
    let (Some(name), Some(version), Some(build)) = (text("name"), text("version"), text("build")) else {
        return Err(malformed(what, format!("{file} lacks name, version or build")));
    };
    if !valid_artifact_name(file) || !file.starts_with(&format!("{name}-{version}-{build}.")) {
        return Err(malformed(what, format!("{file:?} is not {name}-{version}-{build}.conda or .tar.bz2")));
    }
    if let Some(s) = text("subdir")
        && s != subdir
    {
        return Err(malformed(what, format!("{file} says subdir {s}, but it is listed in {subdir}")));
    }
    let Some(sha256) = text("sha256").map(|s| s.to_ascii_lowercase()) else { return Ok(None) };
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed(what, format!("{file} has a malformed sha256")));
    }
    let number = |k: &str| match raw.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| malformed(what, format!("{file}: {k} is not a whole number"))),
    };
    let size = number("size")?;
    // Timestamps before 2001-09 in milliseconds would be tiny; builders that wrote seconds give < 1e11.
    let timestamp_ms = number("timestamp")?.map(|t| if t < 100_000_000_000 { t * 1000 } else { t });
    let depends = match raw.get("depends") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|d| {
                d.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| malformed(what, format!("{file}: depends holds a non-string")))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(malformed(what, format!("{file}: depends is not a list"))),
    };
    Ok(Some(PackageRecord { name, version, build, sha256, size, timestamp_ms, depends, license: text("license"), raw }))
}

/// Parse an upstream `<subdir>/repodata.json` held in memory.
pub fn parse_repodata(bytes: &[u8], subdir: &str) -> Result<Repodata, FormatError> {
    if bytes.len() > MAX_REPODATA_BYTES {
        return Err(FormatError::TooLarge { what: "the upstream repodata", limit: MAX_REPODATA_BYTES });
    }
    read_repodata(bytes, subdir, &mut |_| true)
}

/// Parse `repodata.json` as it streams from `reader`, one record at a time, keeping the records
/// `keep` wants: memory grows with what is kept, not with the file (conda-forge's biggest
/// subdirs are hundreds of MiB). Every record is still checked, kept or not. The caller bounds
/// the size of what `reader` yields.
pub fn read_repodata(
    reader: impl std::io::Read,
    subdir: &str,
    keep: &mut dyn FnMut(&PackageRecord) -> bool,
) -> Result<Repodata, FormatError> {
    if !valid_subdir(subdir) {
        return Err(malformed("a subdir", format!("{subdir:?} is not a conda platform")));
    }
    let mut out = Repodata { subdir: subdir.to_string(), ..Default::default() };
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(64 * 1024, reader));
    let root = Root { out: &mut out, keep };
    serde::de::DeserializeSeed::deserialize(root, &mut de)
        .and_then(|()| de.end())
        .map_err(|e| malformed("the upstream repodata", e.to_string()))?;
    Ok(out)
}

/// The top-level object: `packages`, `packages.conda` and `removed` are read; the rest skipped.
struct Root<'a> {
    out: &'a mut Repodata,
    keep: &'a mut dyn FnMut(&PackageRecord) -> bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for Root<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Root<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a repodata object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "packages" | "packages.conda" => {
                    let conda = key == "packages.conda";
                    map.next_value_seed(Section { out: &mut *self.out, keep: &mut *self.keep, conda })?;
                }
                "removed" => {
                    let removed: Vec<Value> = map.next_value()?;
                    self.out.removed = removed
                        .into_iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .filter(|f| valid_artifact_name(f))
                        .collect();
                }
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// `packages` or `packages.conda`: artifact name → record.
struct Section<'a> {
    out: &'a mut Repodata,
    keep: &'a mut dyn FnMut(&PackageRecord) -> bool,
    conda: bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for Section<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Section<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object of package records")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        use serde::de::Error as _;
        let key = if self.conda { "packages.conda" } else { "packages" };
        while let Some(file) = map.next_key::<String>()? {
            let Value::Object(raw) = map.next_value::<Value>()? else {
                return Err(A::Error::custom(format!("{file} is not an object")));
            };
            if file.ends_with(".conda") != self.conda {
                return Err(A::Error::custom(format!("{file} is listed under {key}")));
            }
            match record(&file, raw, &self.out.subdir).map_err(A::Error::custom)? {
                Some(r) if !(self.keep)(&r) => {}
                Some(r) if self.conda => {
                    self.out.packages_conda.insert(file, r);
                }
                Some(r) => {
                    self.out.packages.insert(file, r);
                }
                None => self.out.dropped_unverifiable += 1,
            }
        }
        Ok(())
    }
}

impl Repodata {
    /// The repodata Haven serves: the records kept, every field as the upstream gave it.
    pub fn to_json(&self) -> String {
        let map = |m: &BTreeMap<String, PackageRecord>| -> Map<String, Value> {
            m.iter().map(|(k, r)| (k.clone(), Value::Object(r.raw.clone()))).collect()
        };
        serde_json::json!({
            "info": {"subdir": self.subdir},
            "repodata_version": 1,
            "packages": map(&self.packages),
            "packages.conda": map(&self.packages_conda),
            "removed": self.removed,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> String {
        let sha = "ef".repeat(32);
        format!(
            r#"{{"info":{{"subdir":"linux-64"}},"repodata_version":1,
            "packages":{{"pkga-1.0-h123_0.tar.bz2":{{"name":"pkga","version":"1.0","build":"h123_0","build_number":0,"depends":["pkgb >=1,<2","python >=3.8"],"sha256":"{sha}","md5":"x","size":100,"timestamp":1700000000,"license":"MIT","subdir":"linux-64","track_features":""}}}},
            "packages.conda":{{"pkgb-1.5-0.conda":{{"name":"pkgb","version":"1.5","build":"0","depends":[],"sha256":"{sha}","size":5,"timestamp":1700000000123}},
                                 "nohash-1.0-0.conda":{{"name":"nohash","version":"1.0","build":"0"}}}},
            "removed":["old-0.1-0.tar.bz2","../evil"]}}"#
        )
    }

    #[test]
    fn repodata_parses_keeps_unknown_fields_and_filters() {
        let mut r = parse_repodata(sample().as_bytes(), "linux-64").unwrap();
        assert_eq!(r.packages.len(), 1);
        assert_eq!(r.packages_conda.len(), 1);
        assert_eq!(r.dropped_unverifiable, 1);
        let a = &r.packages["pkga-1.0-h123_0.tar.bz2"];
        assert_eq!(a.timestamp_ms, Some(1_700_000_000_000), "seconds normalised to ms");
        assert_eq!(a.depends.iter().map(|d| dependency_name(d)).collect::<Vec<_>>(), ["pkgb", "python"]);
        assert_eq!(r.packages_conda["pkgb-1.5-0.conda"].timestamp_ms, Some(1_700_000_000_123));
        assert_eq!(r.removed, ["old-0.1-0.tar.bz2"]);
        r.packages_conda.clear();
        let out: Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(out["packages"]["pkga-1.0-h123_0.tar.bz2"]["track_features"], "", "unknown fields kept");
        assert!(out["packages.conda"].as_object().unwrap().is_empty());
        let empty = parse_repodata(b"{}", "noarch").unwrap();
        assert!(empty.packages.is_empty() && empty.packages_conda.is_empty());
    }

    #[test]
    fn streaming_keeps_only_what_is_asked_and_still_checks_the_rest() {
        let mut seen = Vec::new();
        let r = read_repodata(sample().as_bytes(), "linux-64", &mut |rec| {
            seen.push(rec.name.clone());
            rec.name == "pkgb"
        })
        .unwrap();
        assert_eq!(seen, ["pkga", "pkgb"]);
        assert!(r.packages.is_empty());
        assert_eq!(r.packages_conda.keys().collect::<Vec<_>>(), ["pkgb-1.5-0.conda"]);
        let bad = sample().replace("\"size\":100", "\"size\":-1");
        assert!(read_repodata(bad.as_bytes(), "linux-64", &mut |rec| rec.name == "pkgb").is_err());
        let trailing = format!("{} x", sample());
        assert!(read_repodata(trailing.as_bytes(), "linux-64", &mut |_| true).is_err());
    }

    #[test]
    fn hostile_repodata_is_refused() {
        let s = sample();
        for (text, needle) in [
            (s.replace("pkga-1.0-h123_0.tar.bz2", "../pkga-1.0-h123_0.tar.bz2"), "is not pkga"),
            (s.replace("pkga-1.0-h123_0.tar.bz2", "pkga-1.0-h123_0.conda"), "listed under"),
            (s.replace("\"size\":100", "\"size\":-1"), "whole number"),
            (s.replace("\"subdir\":\"linux-64\",\"track", "\"subdir\":\"win-64\",\"track"), "says subdir"),
            (s.replace(&"ef".repeat(32), "abc"), "malformed sha256"),
            (s.replace("[\"pkgb >=1,<2\",\"python >=3.8\"]", "[1]"), "non-string"),
            ("[]".to_string(), "malformed"),
        ] {
            let e = parse_repodata(text.as_bytes(), "linux-64").unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
        assert!(parse_repodata(b"{}", "../x").is_err());
    }

    #[test]
    fn names_and_specs() {
        assert!(valid_artifact_name("python-3.12.1-hab00c5b_0_cpython.conda"));
        assert!(!valid_artifact_name("python-3.12.1.conda") && !valid_artifact_name("a-b-c.zip"));
        assert_eq!(artifact_name_version("libgcc-ng-12.1-h1_0.tar.bz2"), Some(("libgcc-ng", "12.1")));
        assert_eq!(artifact_name_version("a-b.zip"), None);
        assert_eq!(dependency_name("numpy 1.21.*"), "numpy");
        assert_eq!(dependency_name("libgcc-ng>=12"), "libgcc-ng");
        assert_eq!(dependency_name("__glibc >=2.17"), "__glibc");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(s in "\\PC{0,600}") {
            let _ = parse_repodata(s.as_bytes(), "noarch");
        }
    }
}
