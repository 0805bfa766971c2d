//! conda channels: `<subdir>/repodata.json` (CEP 36), its records and artifact names (CEP 35),
//! read from an upstream and written for clients (`noarch/` always present).

pub mod repodata;
pub mod version;

pub use repodata::{
    PackageRecord, Repodata, artifact_name_version, dependency_name, parse_repodata, read_repodata,
    valid_artifact_name, valid_subdir,
};
