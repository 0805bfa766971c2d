//! CRAN-style repositories: the `PACKAGES` index (Debian control format), package names,
//! versions and dependency fields, the index Haven serves (`PACKAGES`, `PACKAGES.gz`), and the
//! archive of older versions (and its `Meta/archive.rds`).

pub mod archive;
pub mod packages;
pub mod rds;

pub use archive::{archive_versions, tarball_version};
pub use packages::{
    CranDep, CranRecord, is_base_package, parse_deps, parse_packages, render_packages, valid_package_name,
    valid_version, version_parts,
};
