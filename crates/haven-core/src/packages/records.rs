//! Package-repository state as stored: policy rules, cached files, repository tokens.

use haven_packages::policy::{Ecosystem, RuleKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRecord {
    pub id: i64,
    pub ecosystem: Ecosystem,
    pub kind: RuleKind,
    /// Canonical name.
    pub name: String,
    /// Version specifier; empty for every version.
    pub spec: String,
    /// Allowed before the cooldown ends (an urgent fix, say).
    pub skip_cooldown: bool,
    pub reason: String,
    pub added_by: String,
    pub added_us: i64,
}

pub struct NewRule {
    pub ecosystem: Ecosystem,
    pub kind: RuleKind,
    pub name: String,
    pub spec: String,
    pub skip_cooldown: bool,
    pub reason: String,
    pub added_by: String,
    pub added_us: i64,
}

/// A verified upstream file kept in the blob store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedFile {
    pub ecosystem: Ecosystem,
    /// Where Haven serves it, relative to the ecosystem's root (`requests/requests-2.0.whl`,
    /// `src/contrib/rlang_1.1.4.tar.gz`, `conda-forge/noarch/x-1-0.conda`).
    pub path: String,
    pub object_id: String,
    pub sha256: String,
    pub size: i64,
    pub fetched_us: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    Pending,
    Approved,
    Rejected,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Rejected => "rejected",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(RequestStatus::Pending),
            "approved" => Some(RequestStatus::Approved),
            "rejected" => Some(RequestStatus::Rejected),
            _ => None,
        }
    }
}

/// A software request: someone asks for a package (version specifier optional) and says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub id: i64,
    pub requester: String,
    pub ecosystem: Ecosystem,
    pub name: String,
    pub spec: String,
    pub justification: String,
    pub status: RequestStatus,
    pub created_us: i64,
    pub decided_by: String,
    pub decided_us: i64,
    pub note: String,
    /// JSON list of the [`ClosureItem`]s approved with it.
    pub closure: String,
}

/// One package of a request's dependency closure, as the reviewer sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClosureItem {
    pub name: String,
    /// Empty when no version could be chosen (see `problem`).
    pub version: String,
    /// Who needs it (None: the requested package itself).
    pub needed_by: Option<String>,
    pub license: Option<String>,
    pub uploaded_us: Option<i64>,
    pub size: Option<u64>,
    /// What the policy finds apart from the allowlist: deny rules, known vulnerabilities or
    /// malware, the cooldown, the size limit.
    pub findings: Vec<String>,
    /// Already allowed for this version (nothing to approve).
    pub allowed: bool,
    pub problem: Option<String>,
}

impl ClosureItem {
    /// An entry not yet resolved.
    pub fn new(name: &str, needed_by: Option<String>) -> ClosureItem {
        ClosureItem {
            name: name.into(),
            version: String::new(),
            needed_by,
            license: None,
            uploaded_us: None,
            size: None,
            findings: Vec::new(),
            allowed: false,
            problem: None,
        }
    }
}

impl RequestRecord {
    /// The closure recorded with the decision (empty while pending or when rejected).
    pub fn closure_items(&self) -> Vec<ClosureItem> {
        serde_json::from_str(&self.closure).unwrap_or_default()
    }
}
