//! Core metadata (the wheel's `METADATA`, served as `<file>.metadata` by PEP 658): the fields a
//! reviewer needs (name, version, licence, Python requirement) and the dependencies
//! (`Requires-Dist`, PEP 508) that apply to the Python versions and platforms Haven serves.

use std::str::FromStr;

use pep508_rs::{ExtraName, MarkerEnvironment, MarkerEnvironmentBuilder, Requirement, VersionOrUrl};

use crate::FormatError;
use crate::error::malformed;

pub const MAX_METADATA_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreMetadata {
    pub name: String,
    pub version: String,
    pub license: Option<String>,
    pub requires_python: Option<String>,
    pub requires_dist: Vec<String>,
}

/// One requirement that applies: a normalised name and its specifier (None: any version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub name: String,
    pub spec: Option<String>,
    pub extras: Vec<String>,
}

/// Parse the header part of `METADATA` (RFC 822 style; the body after the first blank line is
/// the description and is ignored).
pub fn parse_metadata(bytes: &[u8]) -> Result<CoreMetadata, FormatError> {
    if bytes.len() > MAX_METADATA_BYTES {
        return Err(FormatError::TooLarge { what: "a core metadata file", limit: MAX_METADATA_BYTES });
    }
    let text = String::from_utf8_lossy(bytes);
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = fields.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            return Err(malformed(
                "a core metadata file",
                format!("the line {:?} is not `Field: value`", line.chars().take(80).collect::<String>()),
            ));
        };
        fields.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let one = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
    let name = one("name").ok_or_else(|| malformed("a core metadata file", "no Name"))?;
    let version = one("version").ok_or_else(|| malformed("a core metadata file", "no Version"))?;
    let license = one("license-expression").or_else(|| one("license")).filter(|l| !l.is_empty()).map(|l| {
        // Old packages put the whole licence text here; a reviewer needs its first line.
        l.lines().next().unwrap_or_default().chars().take(120).collect()
    });
    Ok(CoreMetadata {
        name,
        version,
        license,
        requires_python: one("requires-python"),
        requires_dist: fields.iter().filter(|(k, _)| k == "requires-dist").map(|(_, v)| v.clone()).collect(),
    })
}

/// A Python version and platform Haven's users install for (`3.12`, `linux`).
#[derive(Debug, Clone)]
pub struct Target {
    pub python_version: String,
    pub sys_platform: String,
}

impl Target {
    fn environment(&self) -> Result<MarkerEnvironment, FormatError> {
        let (platform_system, os_name) = match self.sys_platform.as_str() {
            "win32" => ("Windows", "nt"),
            "darwin" => ("Darwin", "posix"),
            _ => ("Linux", "posix"),
        };
        let full = format!("{}.0", self.python_version);
        MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
            implementation_name: "cpython",
            implementation_version: &full,
            os_name,
            platform_machine: "x86_64",
            platform_python_implementation: "CPython",
            platform_release: "",
            platform_system,
            platform_version: "",
            python_full_version: &full,
            python_version: &self.python_version,
            sys_platform: &self.sys_platform,
        })
        .map_err(|e| malformed("a target Python version", e.to_string()))
    }
}

/// The requirements of `meta` that apply to any of `targets` with `extras` requested.
/// Requirements that cannot be read are errors (a reviewer must see them, not miss them).
pub fn dependencies(
    meta: &CoreMetadata,
    extras: &[String],
    targets: &[Target],
) -> Result<Vec<Dependency>, FormatError> {
    let envs = targets.iter().map(Target::environment).collect::<Result<Vec<_>, _>>()?;
    let extras: Vec<ExtraName> = extras.iter().filter_map(|e| ExtraName::from_str(e).ok()).collect();
    let mut out: Vec<Dependency> = Vec::new();
    for line in &meta.requires_dist {
        let req = Requirement::<pep508_rs::VerbatimUrl>::from_str(line)
            .map_err(|e| malformed("a Requires-Dist line", format!("{line:?}: {e}")))?;
        if !envs.iter().any(|env| req.marker.evaluate(env, &extras)) {
            continue;
        }
        let spec = match &req.version_or_url {
            None => None,
            Some(VersionOrUrl::VersionSpecifier(s)) => Some(s.to_string()).filter(|s| !s.is_empty()),
            Some(VersionOrUrl::Url(u)) => {
                return Err(malformed(
                    "a Requires-Dist line",
                    format!("{line:?} names a URL ({u}); Haven installs from the index only"),
                ));
            }
        };
        let name = req.name.to_string();
        let extras: Vec<String> = req.extras.iter().map(ToString::to_string).collect();
        match out.iter_mut().find(|d| d.name == name) {
            Some(d) => {
                // Two lines for one name (different markers): keep both constraints.
                d.spec = match (d.spec.take(), spec) {
                    (Some(a), Some(b)) if a != b => Some(format!("{a}, {b}")),
                    (a, b) => a.or(b),
                };
                for e in extras {
                    if !d.extras.contains(&e) {
                        d.extras.push(e);
                    }
                }
            }
            None => out.push(Dependency { name, spec, extras }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_by_marker_and_extra() {
        let meta = parse_metadata(
            b"Metadata-Version: 2.1\nName: Demo\nVersion: 1.0\nLicense: MIT License\n  continued\nRequires-Python: >=3.9\n\
Requires-Dist: Beta_Pkg (>=1.2)\nRequires-Dist: colorama; sys_platform == \"win32\"\n\
Requires-Dist: tomli>=1; python_version < \"3.11\"\nRequires-Dist: pytest; extra == \"test\"\n\
Requires-Dist: typing-extensions\n\nRequires-Dist: not-a-header-this-is-the-description\n",
        )
        .unwrap();
        assert_eq!(meta.license.as_deref(), Some("MIT License continued"));
        assert_eq!(meta.requires_python.as_deref(), Some(">=3.9"));
        let linux = |v: &str| Target { python_version: v.into(), sys_platform: "linux".into() };
        let names = |deps: Vec<Dependency>| {
            deps.into_iter().map(|d| format!("{} {}", d.name, d.spec.unwrap_or_default())).collect::<Vec<_>>()
        };
        assert_eq!(
            names(dependencies(&meta, &[], &[linux("3.12")]).unwrap()),
            ["beta-pkg >=1.2", "typing-extensions "]
        );
        assert_eq!(
            names(dependencies(&meta, &["test".into()], &[linux("3.10"), linux("3.12")]).unwrap()),
            ["beta-pkg >=1.2", "tomli >=1", "pytest ", "typing-extensions "]
        );
        let url = CoreMetadata { requires_dist: vec!["x @ https://example.org/x.whl".into()], ..meta.clone() };
        assert!(dependencies(&url, &[], &[linux("3.12")]).is_err());
        assert!(parse_metadata(b"no colon here\n").is_err());
        assert!(parse_metadata(b"Name: x\n").is_err());
    }
}
