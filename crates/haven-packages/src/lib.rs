//! The curated package repository's vocabulary: each ecosystem's index formats, parsed from an
//! upstream (hostile until proven otherwise: sizes bounded, names and paths checked, nothing
//! trusted that a later step relies on) and rendered for the real clients (pip, uv, R, conda).
//! Pure functions over bytes and values, with the policy evaluator (`policy`: what a rule set
//! says of one version); fetching, caching and storing the rules live in haven-core and haven-store.

pub mod conda;
pub mod cran;
pub mod error;
pub mod manifests;
pub mod osv;
pub mod policy;
pub mod pypi;

pub use error::FormatError;

/// Re-exported: PEP 440 versions as the policy reads them.
pub use pep440_rs;
