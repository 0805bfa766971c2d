//! The package repository's part of the storage port.

use async_trait::async_trait;
use haven_packages::osv::Advisory;
use haven_packages::policy::{Ecosystem, RuleKind};

use super::records::{CachedFile, NewRule, RequestRecord, RequestStatus, RuleRecord};
use crate::StoreError;
use crate::blobs::ObjectMeta;
use crate::tokens::PersonalToken;

#[async_trait]
pub trait PackagesTx: Send {
    /// Rules of one ecosystem, for one canonical name or (None) all, oldest first.
    async fn package_rules(&mut self, ecosystem: Ecosystem, name: Option<&str>) -> Result<Vec<RuleRecord>, StoreError>;
    /// Insert a rule, replacing one of the same kind, name and specifier. Returns its id.
    async fn put_package_rule(&mut self, rule: &NewRule) -> Result<i64, StoreError>;
    /// Delete rules of this kind and name (and specifier, when given). Returns how many.
    async fn delete_package_rules(
        &mut self,
        ecosystem: Ecosystem,
        kind: RuleKind,
        name: &str,
        spec: Option<&str>,
    ) -> Result<u64, StoreError>;

    async fn cached_package_file(
        &mut self,
        ecosystem: Ecosystem,
        path: &str,
    ) -> Result<Option<(CachedFile, ObjectMeta)>, StoreError>;
    /// Record a cached file (its object already inserted). False when another request cached
    /// the same path first.
    async fn insert_cached_package_file(&mut self, file: &CachedFile) -> Result<bool, StoreError>;

    /// When Haven first saw `key` (an upstream artifact) and the upload time it learnt for it.
    async fn package_upload_time(&mut self, ecosystem: Ecosystem, key: &str) -> Result<Option<i64>, StoreError>;
    async fn put_package_upload_time(&mut self, ecosystem: Ecosystem, key: &str, at_us: i64) -> Result<(), StoreError>;

    /// Advisories naming these OSV packages (`(ecosystem, name)`), or all of `ecosystems` when
    /// `names` is None.
    async fn package_advisories(
        &mut self,
        ecosystems: &[Ecosystem],
        names: Option<&[String]>,
    ) -> Result<Vec<Advisory>, StoreError>;
    /// Replace everything stored under this advisory's id (a withdrawn one is only deleted).
    async fn put_package_advisory(&mut self, advisory: &Advisory, imported_us: i64) -> Result<(), StoreError>;
    /// Every cached file's path, per ecosystem (for re-evaluation after an import).
    async fn cached_package_paths(&mut self) -> Result<Vec<(Ecosystem, String)>, StoreError>;

    async fn insert_package_request(&mut self, request: &RequestRecord) -> Result<i64, StoreError>;
    async fn package_request(&mut self, id: i64) -> Result<Option<RequestRecord>, StoreError>;
    /// Newest first; by requester and/or status when given.
    async fn package_requests(
        &mut self,
        requester: Option<&str>,
        status: Option<RequestStatus>,
        limit: i64,
    ) -> Result<Vec<RequestRecord>, StoreError>;
    /// Record a decision on a pending request; false when it was no longer pending.
    async fn decide_package_request(&mut self, request: &RequestRecord) -> Result<bool, StoreError>;

    async fn insert_personal_token(&mut self, token: &PersonalToken) -> Result<(), StoreError>;
    async fn personal_token(&mut self, hash: &[u8; 32]) -> Result<Option<PersonalToken>, StoreError>;
    async fn personal_tokens(&mut self, user_id: &str) -> Result<Vec<PersonalToken>, StoreError>;
    async fn touch_personal_token(&mut self, hash: &[u8; 32], at_us: i64) -> Result<(), StoreError>;
    async fn delete_personal_token(&mut self, hash: &[u8; 32]) -> Result<bool, StoreError>;
}
