//! The identity part of the storage port. [`crate::Tx`] includes it, so a unit of work that
//! changes a token also appends its audit event in the same transaction.

use async_trait::async_trait;

use super::records::{
    Account, EmergencyCode, LinkPurpose, LinkRecord, OtpTokenRecord, SecurityAnswer, SessionKind, SessionRecord,
};
use crate::StoreError;

#[async_trait]
pub trait IdentityTx: Send {
    // accounts
    async fn account(&mut self, id: &str) -> Result<Option<Account>, StoreError>;
    /// Accounts whose id or email contains `query` (all when empty), by id.
    async fn find_accounts(&mut self, query: &str, limit: i64) -> Result<Vec<Account>, StoreError>;
    /// Every account's email, lowercased, with its id (one statement, for duplicate checks).
    async fn account_emails(&mut self) -> Result<Vec<(String, String)>, StoreError>;
    /// Active accounts holding `role`, by id.
    async fn accounts_with_role(&mut self, role: &str) -> Result<Vec<Account>, StoreError>;
    /// Save the mutable fields (email, status, password, counters, ICE switch, last sign-in).
    async fn update_account(&mut self, account: &Account) -> Result<(), StoreError>;
    /// The newest `limit` earlier password hashes, newest first.
    async fn password_history(&mut self, user_id: &str, limit: i64) -> Result<Vec<String>, StoreError>;
    /// Remember a replaced password hash, keeping the newest `keep`.
    async fn push_password_history(
        &mut self,
        user_id: &str,
        hash: &str,
        at_us: i64,
        keep: i64,
    ) -> Result<(), StoreError>;

    // OTP tokens
    async fn tokens_of(&mut self, user_id: &str) -> Result<Vec<OtpTokenRecord>, StoreError>;
    async fn token(&mut self, serial: &str) -> Result<Option<OtpTokenRecord>, StoreError>;
    /// Insert or replace the token with this serial.
    async fn put_token(&mut self, token: &OtpTokenRecord) -> Result<(), StoreError>;
    async fn delete_token(&mut self, serial: &str) -> Result<bool, StoreError>;
    async fn unassigned_tokens(&mut self, limit: i64) -> Result<Vec<OtpTokenRecord>, StoreError>;

    // sessions
    async fn insert_session(&mut self, session: &SessionRecord) -> Result<(), StoreError>;
    async fn session(&mut self, hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError>;
    async fn sessions_of(&mut self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError>;
    async fn touch_session(&mut self, hash: &[u8; 32], at_us: i64) -> Result<(), StoreError>;
    async fn set_session_mfa(&mut self, hash: &[u8; 32], at_us: i64) -> Result<(), StoreError>;
    async fn delete_session(&mut self, hash: &[u8; 32]) -> Result<bool, StoreError>;
    /// End every session of `user_id` but `keep`; how many ended.
    async fn delete_sessions_of(&mut self, user_id: &str, keep: Option<&[u8; 32]>) -> Result<u64, StoreError>;
    /// End every session of one kind, of `user_id` or (None) of everyone; how many ended.
    async fn delete_sessions_of_kind(&mut self, user_id: Option<&str>, kind: SessionKind) -> Result<u64, StoreError>;

    // single-use links
    /// Store a link, replacing the user's earlier links of the same purpose and subject.
    async fn replace_link(&mut self, link: &LinkRecord) -> Result<(), StoreError>;
    /// The link if it exists, has this purpose and has not expired (not consumed).
    async fn link(
        &mut self,
        hash: &[u8; 32],
        purpose: LinkPurpose,
        now_us: i64,
    ) -> Result<Option<LinkRecord>, StoreError>;
    /// Consume the link: delete it and return it if it was valid.
    async fn take_link(
        &mut self,
        hash: &[u8; 32],
        purpose: LinkPurpose,
        now_us: i64,
    ) -> Result<Option<LinkRecord>, StoreError>;

    // ICE and recovery
    async fn security_answers(&mut self, user_id: &str) -> Result<Vec<SecurityAnswer>, StoreError>;
    async fn set_security_answers(&mut self, user_id: &str, answers: &[SecurityAnswer]) -> Result<(), StoreError>;
    async fn emergency_code(&mut self, user_id: &str) -> Result<Option<EmergencyCode>, StoreError>;
    /// Store the user's one emergency code, replacing any earlier one.
    async fn put_emergency_code(&mut self, code: &EmergencyCode) -> Result<(), StoreError>;
    async fn delete_emergency_code(&mut self, user_id: &str) -> Result<bool, StoreError>;
    async fn replace_recovery_codes(&mut self, user_id: &str, hashes: &[[u8; 32]]) -> Result<(), StoreError>;
    async fn count_recovery_codes(&mut self, user_id: &str) -> Result<i64, StoreError>;
    /// Consume a recovery code: whether it was there.
    async fn take_recovery_code(&mut self, user_id: &str, hash: &[u8; 32]) -> Result<bool, StoreError>;

    /// Audit events with the user as actor or target, newest first.
    async fn audit_about(&mut self, user_id: &str, limit: i64) -> Result<Vec<crate::audit::AuditEvent>, StoreError>;

    // attempt windows and settings
    async fn record_attempt(&mut self, key: &str, at_us: i64) -> Result<(), StoreError>;
    async fn count_attempts(&mut self, key: &str, since_us: i64) -> Result<i64, StoreError>;
    async fn clear_attempts(&mut self, key: &str) -> Result<(), StoreError>;
    /// Forget attempts older than `before_us` (housekeeping).
    async fn prune_attempts(&mut self, before_us: i64) -> Result<u64, StoreError>;
    async fn setting(&mut self, key: &str) -> Result<Option<String>, StoreError>;
    async fn set_setting(&mut self, key: &str, value: &str) -> Result<(), StoreError>;
    /// Grant (`on`) or withdraw a role. Returns whether anything changed.
    async fn set_role(&mut self, user_id: &str, role: crate::accounts::Role, on: bool) -> Result<bool, StoreError>;
}
