//! What users paste into the software request form to see, package by package, what Haven
//! would say: a pip `requirements.txt`, an R `DESCRIPTION` (Depends, Imports, LinkingTo) or a
//! conda `environment.yml` (its `dependencies`, with a nested `pip:` list). Only the parts that
//! name packages are read; options, URLs and editable installs are reported, not followed.

use std::str::FromStr;

use crate::policy::Ecosystem;

pub const MAX_MANIFEST_BYTES: usize = 256 * 1024;
pub const MAX_ENTRIES: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub ecosystem: Ecosystem,
    pub name: String,
    /// Version specifier in the ecosystem's syntax; empty for any.
    pub spec: String,
}

/// What a manifest asks for, and the lines that could not be used (with why).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub wanted: Vec<Wanted>,
    pub skipped: Vec<String>,
}

fn push(out: &mut Parsed, w: Wanted) {
    if out.wanted.len() < MAX_ENTRIES && !out.wanted.contains(&w) {
        out.wanted.push(w);
    }
}

pub fn requirements_txt(text: &str) -> Parsed {
    let mut out = Parsed::default();
    let joined = text.replace("\\\r\n", " ").replace("\\\n", " ");
    for raw in joined.lines().take(10 * MAX_ENTRIES) {
        let line = raw.split(" #").next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('-') {
            out.skipped.push(format!("{line}: options are not followed"));
            continue;
        }
        let line = line.split(" --hash").next().unwrap_or(line).trim();
        match pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(line) {
            Ok(req) => match req.version_or_url {
                Some(pep508_rs::VersionOrUrl::Url(_)) => {
                    out.skipped.push(format!("{line}: URLs are not installed through Haven"))
                }
                v => {
                    let spec = match v {
                        Some(pep508_rs::VersionOrUrl::VersionSpecifier(s)) => s.to_string(),
                        _ => String::new(),
                    };
                    push(&mut out, Wanted { ecosystem: Ecosystem::Pypi, name: req.name.to_string(), spec });
                }
            },
            Err(e) => out.skipped.push(format!("{line}: {e}")),
        }
    }
    out
}

pub fn description(text: &str) -> Parsed {
    let mut out = Parsed::default();
    let records = match crate::cran::parse_packages(text.as_bytes()) {
        Ok(r) => r,
        Err(e) => {
            out.skipped.push(format!("the DESCRIPTION could not be read: {e}"));
            return out;
        }
    };
    for record in records.iter().take(1) {
        for field in ["Depends", "Imports", "LinkingTo"] {
            let Some(value) = record.field(field) else { continue };
            match crate::cran::parse_deps(value) {
                Ok(deps) => {
                    for d in deps.into_iter().filter(|d| d.name != "R" && !crate::cran::is_base_package(&d.name)) {
                        let spec = d.constraint.map(|(op, v)| format!("{op} {v}")).unwrap_or_default();
                        push(&mut out, Wanted { ecosystem: Ecosystem::Cran, name: d.name, spec });
                    }
                }
                Err(e) => out.skipped.push(format!("{field}: {e}")),
            }
        }
    }
    out
}

/// The `dependencies:` list of an environment.yml (the subset `conda env export` writes).
pub fn environment_yml(text: &str) -> Parsed {
    let mut out = Parsed::default();
    let mut in_deps = false;
    let mut pip_indent: Option<usize> = None;
    for raw in text.lines().take(10 * MAX_ENTRIES) {
        let line = raw.split(" #").next().unwrap_or("");
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if indent == 0 {
            in_deps = line.trim_end() == "dependencies:";
            pip_indent = None;
            continue;
        }
        if !in_deps {
            continue;
        }
        let Some(item) = line.trim_start().strip_prefix("- ") else { continue };
        let item = item.trim().trim_matches(['"', '\'']);
        if let Some(pi) = pip_indent {
            if indent > pi {
                let parsed = requirements_txt(item);
                out.skipped.extend(parsed.skipped);
                for w in parsed.wanted {
                    push(&mut out, w);
                }
                continue;
            }
            pip_indent = None;
        }
        if item == "pip:" {
            pip_indent = Some(indent);
            continue;
        }
        // `channel::name`, then `name`, `name=1.2`, `name 1.2.*`, `name>=1.2`, `name=1.2=build`.
        let spec = item.rsplit("::").next().unwrap_or(item);
        let end =
            spec.find(|c: char| c.is_whitespace() || matches!(c, '=' | '<' | '>' | '!' | '~')).unwrap_or(spec.len());
        let (name, version) = spec.split_at(end);
        match Ecosystem::Conda.canonical_name(name) {
            Ok(name) => push(&mut out, Wanted { ecosystem: Ecosystem::Conda, name, spec: version.trim().to_string() }),
            Err(e) => out.skipped.push(format!("{item}: {e}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_description_and_environment() {
        let r = requirements_txt(
            "# pinned\nrequests==2.31.0 --hash=sha256:abc\nNumPy>=1.26 ; python_version >= '3.10'\n-r other.txt\nx @ https://e.org/x.whl\n\npandas \\\n  >=2\n",
        );
        let got: Vec<String> = r.wanted.iter().map(|w| format!("{} {}", w.name, w.spec)).collect();
        assert_eq!(got, ["requests ==2.31.0", "numpy >=1.26", "pandas >=2"]);
        assert_eq!(r.skipped.len(), 2, "{:?}", r.skipped);

        let d = description(
            "Package: mine\nVersion: 0.1\nDepends: R (>= 4.1), methods, dplyr (>= 1.1.0)\nImports:\n    rlang,\n    cli (>= 3.0)\nSuggests: testthat\n",
        );
        let got: Vec<String> = d.wanted.iter().map(|w| format!("{} {}", w.name, w.spec)).collect();
        assert_eq!(got, ["dplyr >= 1.1.0", "rlang ", "cli >= 3.0"]);

        let e = environment_yml(
            "name: x\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.12\n  - conda-forge::numpy>=1.26\n  - r-base 4.3.*\n  - pip\n  - pip:\n    - requests==2.31.0\n  - scipy\nprefix: /x\n",
        );
        let got: Vec<String> =
            e.wanted.iter().map(|w| format!("{} {} {}", w.ecosystem.as_str(), w.name, w.spec)).collect();
        assert_eq!(
            got,
            [
                "conda python =3.12",
                "conda numpy >=1.26",
                "conda r-base 4.3.*",
                "conda pip ",
                "pypi requests ==2.31.0",
                "conda scipy "
            ]
        );
    }
}
