//! The governance part of the storage port. [`crate::Tx`] includes it, so a decision, the
//! membership it provisions and their audit events commit together.

use async_trait::async_trait;

use super::records::{
    AccessRequest, AccessRow, Asset, AssetAdmin, ComplianceItem, Membership, RequestStatus, StorageArea, TrainingRecord,
};
use crate::StoreError;

/// Name and organisation of a person, and when the lifecycle job disabled them for having no
/// access (0: it did not).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub organisation: String,
    pub auto_disabled_us: i64,
}

/// Which page of a list: its order, where it starts (an id it does not include; 0 for the
/// start), and how many at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// Newest first, with ids below `before`.
    Newest { before: i64, limit: i64 },
    /// Oldest first, with ids above `after`.
    Oldest { after: i64, limit: i64 },
}

impl Paging {
    pub fn limit(self) -> i64 {
        match self {
            Paging::Newest { limit, .. } | Paging::Oldest { limit, .. } => limit,
        }
    }

    /// The same page, one longer (to tell whether another page follows).
    pub fn plus_one(self) -> Paging {
        match self {
            Paging::Newest { before, limit } => Paging::Newest { before, limit: limit + 1 },
            Paging::Oldest { after, limit } => Paging::Oldest { after, limit: limit + 1 },
        }
    }
}

#[async_trait]
pub trait GovernanceTx: Send {
    // assets
    async fn insert_asset(&mut self, asset: &Asset) -> Result<(), StoreError>;
    async fn asset(&mut self, name: &str) -> Result<Option<Asset>, StoreError>;
    /// Every asset, by name.
    async fn assets(&mut self) -> Result<Vec<Asset>, StoreError>;
    /// Save the mutable fields (description, ends, status, review due, closure).
    async fn update_asset(&mut self, asset: &Asset) -> Result<(), StoreError>;
    /// Assets `user_id` owns, administers or is a current member of, by name.
    async fn assets_of(&mut self, user_id: &str) -> Result<Vec<Asset>, StoreError>;
    async fn insert_storage_area(&mut self, area: &StorageArea) -> Result<(), StoreError>;
    async fn storage_areas(&mut self, asset: &str) -> Result<Vec<StorageArea>, StoreError>;
    async fn asset_admins(&mut self, asset: &str) -> Result<Vec<AssetAdmin>, StoreError>;
    async fn add_asset_admin(&mut self, admin: &AssetAdmin) -> Result<(), StoreError>;
    /// Whether there was such an IAA.
    async fn remove_asset_admin(&mut self, asset: &str, user_id: &str) -> Result<bool, StoreError>;
    /// Destroy every version of a project's key; how many there were.
    async fn delete_project_keys(&mut self, project: &str) -> Result<u64, StoreError>;

    // memberships
    /// Insert a membership period; its id.
    async fn insert_membership(&mut self, membership: &Membership) -> Result<i64, StoreError>;
    async fn current_membership(&mut self, asset: &str, user_id: &str) -> Result<Option<Membership>, StoreError>;
    /// The asset's memberships, current only or with their history, by user then start.
    async fn memberships(&mut self, asset: &str, current_only: bool) -> Result<Vec<Membership>, StoreError>;
    /// The user's current memberships, by asset.
    async fn memberships_of(&mut self, user_id: &str) -> Result<Vec<Membership>, StoreError>;
    /// Current memberships whose end date is at or before `at_us`.
    async fn memberships_due_to_end(&mut self, at_us: i64) -> Result<Vec<Membership>, StoreError>;
    /// End a current membership; whether it was current.
    async fn end_membership(&mut self, id: i64, at_us: i64, reason: &str) -> Result<bool, StoreError>;
    /// Save the review fields (confirmed, flagged, suspended).
    async fn update_membership_review(&mut self, membership: &Membership) -> Result<(), StoreError>;
    /// Active accounts with no staff role, no current membership and no IAA post on an active
    /// asset: the ones the lifecycle job disables.
    async fn accounts_without_access(&mut self) -> Result<Vec<String>, StoreError>;

    // compliance
    /// Insert or replace the asset's item of this kind.
    async fn put_compliance_item(&mut self, item: &ComplianceItem) -> Result<(), StoreError>;
    async fn compliance_items(&mut self, asset: &str) -> Result<Vec<ComplianceItem>, StoreError>;
    /// Items of active assets expiring at or before `at_us`, soonest first.
    async fn compliance_expiring(&mut self, at_us: i64) -> Result<Vec<ComplianceItem>, StoreError>;

    // training and the Acceptable Use Statement
    async fn insert_training(&mut self, record: &TrainingRecord) -> Result<i64, StoreError>;
    /// The user's training records, newest completion first.
    async fn training_of(&mut self, user_id: &str) -> Result<Vec<TrainingRecord>, StoreError>;
    /// Records expiring in `(from_us, to_us]` with fewer than `reminders` reminders sent.
    async fn training_expiring(
        &mut self,
        from_us: i64,
        to_us: i64,
        reminders: i64,
    ) -> Result<Vec<TrainingRecord>, StoreError>;
    async fn set_training_reminders(&mut self, id: i64, reminders: i64) -> Result<(), StoreError>;
    async fn accept_aus(&mut self, user_id: &str, version: i64, at_us: i64) -> Result<(), StoreError>;
    /// The newest version the user accepted (0: none).
    async fn aus_version(&mut self, user_id: &str) -> Result<i64, StoreError>;

    // people
    async fn profile(&mut self, user_id: &str) -> Result<Option<Profile>, StoreError>;
    async fn put_profile(&mut self, user_id: &str, profile: &Profile) -> Result<(), StoreError>;

    // access requests
    async fn insert_request(&mut self, request: &AccessRequest) -> Result<i64, StoreError>;
    async fn request(&mut self, id: i64) -> Result<Option<AccessRequest>, StoreError>;
    /// One page of requests, filtered by asset, status and requester when given.
    async fn requests(
        &mut self,
        asset: Option<&str>,
        status: Option<RequestStatus>,
        requested_by: Option<&str>,
        page: Paging,
    ) -> Result<Vec<AccessRequest>, StoreError>;
    /// The open (pending or awaiting training) requests about `subject`.
    async fn open_requests_about(&mut self, subject: &str) -> Result<Vec<AccessRequest>, StoreError>;
    /// Save the status and decision fields of a request that is still open (pending or awaiting
    /// training); whether it was. Guarded in the statement, so of two concurrent decisions on
    /// PostgreSQL the second finds it decided.
    async fn update_request(&mut self, request: &AccessRequest) -> Result<bool, StoreError>;

    // reports
    /// Membership periods overlapping `[from_us, to_us)`, of one asset or all, with the request
    /// and decision behind each, by asset, user, start: each handed to `each` as it is read, so
    /// that no report holds them all; how many there were. An error from `each` stops the read.
    async fn each_access_row(
        &mut self,
        from_us: i64,
        to_us: i64,
        asset: Option<&str>,
        each: &mut (dyn FnMut(AccessRow) -> Result<(), StoreError> + Send),
    ) -> Result<u64, StoreError>;
}
