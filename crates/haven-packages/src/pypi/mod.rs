//! PyPI's simple repository API (PEP 503, 592, 629, 658, 691, 700, 714, 792): project names, the
//! project page model, the upstream JSON parser and the client-facing renderers.

pub mod html;
pub mod metadata;
pub mod names;
pub mod negotiate;
pub mod render;
pub mod simple;

pub use html::parse_project_html;
pub use names::{normalize, validate_name};
pub use negotiate::{Format, negotiate};
pub use simple::{FileEntry, ProjectPage, ProjectStatus, filename_version, parse_project_json, valid_filename};

/// The API version Haven's pages declare (meta `api-version` / `pypi:repository-version`).
pub const API_VERSION: &str = "1.4";
