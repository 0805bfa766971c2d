//! The egress part of the storage port: output requests (their state machine as a JSON document,
//! saved only over the version it was read at), who may make them, and release downloads.

use async_trait::async_trait;

use crate::StoreError;

/// An output request as stored: the columns lists need, and the whole request as JSON
/// ([`super::request::Request`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// 32 hex digits, random.
    pub id: String,
    pub asset: String,
    pub author: String,
    /// [`super::request::Request::state_name`].
    pub state: String,
    pub title: String,
    pub created_us: i64,
    pub updated_us: i64,
    /// One more with every change.
    pub version: i64,
    pub doc: String,
}

/// A member allowed to request outputs from an asset, by its IAO.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Permission {
    pub asset: String,
    pub user_id: String,
    pub granted_by: String,
    pub granted_us: i64,
}

/// A single-use download link of a released request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadRecord {
    /// SHA-256 of the secret in the link.
    pub token_hash: Vec<u8>,
    pub request: String,
    /// The only person who may use it (the request's author).
    pub made_for: String,
    pub created_us: i64,
    pub expires_us: i64,
    /// 0 until used.
    pub used_us: i64,
}

#[async_trait]
pub trait EgressTx: Send {
    async fn insert_egress_request(&mut self, r: &RequestRecord) -> Result<(), StoreError>;
    async fn egress_request(&mut self, id: &str) -> Result<Option<RequestRecord>, StoreError>;
    /// Save `r` (whose `version` is one more than `expected`) only if the stored request is
    /// still at `expected`; whether it was.
    async fn update_egress_request(&mut self, r: &RequestRecord, expected: i64) -> Result<bool, StoreError>;
    /// Requests by `author`, newest change first, at most `limit`.
    async fn egress_requests_by(&mut self, author: &str, limit: i64) -> Result<Vec<RequestRecord>, StoreError>;
    /// Requests in any of `states`, oldest change first (the queue), at most `limit`.
    async fn egress_requests_in(&mut self, states: &[&str], limit: i64) -> Result<Vec<RequestRecord>, StoreError>;
    /// An asset's requests, newest change first, at most `limit`.
    async fn egress_requests_of(&mut self, asset: &str, limit: i64) -> Result<Vec<RequestRecord>, StoreError>;

    /// Allow (`Some`) or stop allowing (`None`) a member to request outputs; whether it changed.
    async fn set_egress_permission(
        &mut self,
        asset: &str,
        user_id: &str,
        grant: Option<(&str, i64)>,
    ) -> Result<bool, StoreError>;
    async fn egress_permission(&mut self, asset: &str, user_id: &str) -> Result<bool, StoreError>;
    async fn egress_permissions(&mut self, asset: &str) -> Result<Vec<Permission>, StoreError>;

    async fn insert_egress_download(&mut self, d: &DownloadRecord) -> Result<(), StoreError>;
    /// The link whose secret hashes to `hash`, as it stands (used or not).
    async fn egress_download(&mut self, hash: &[u8]) -> Result<Option<DownloadRecord>, StoreError>;
    /// Use the link whose secret hashes to `hash`, if it is unused and unexpired at `now_us`:
    /// marked used and returned (a second use finds nothing).
    async fn take_egress_download(&mut self, hash: &[u8], now_us: i64) -> Result<Option<DownloadRecord>, StoreError>;
}
