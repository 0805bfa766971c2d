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

/// A token for package clients (HTTP Basic: user id and token); stored as its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoToken {
    pub hash: [u8; 32],
    pub user_id: String,
    pub label: String,
    pub created_us: i64,
    pub last_used_us: i64,
    pub expires_us: i64,
}

impl RepoToken {
    /// A short public handle for lists and revocation (not enough to use the token).
    pub fn handle(&self) -> String {
        hex::encode(&self.hash[..6])
    }
}
