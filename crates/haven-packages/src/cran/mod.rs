//! CRAN-style repositories: the `PACKAGES` index (Debian control format), package names,
//! versions and dependency fields, and the index Haven serves (`PACKAGES`, `PACKAGES.gz`).

pub mod packages;

pub use packages::{
    CranDep, CranRecord, parse_deps, parse_packages, render_packages, valid_package_name, valid_version,
};
