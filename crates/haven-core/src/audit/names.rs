//! The names the audit trail records, in one place: who acted when no signed-in user did
//! ([`actor`]), and what was done ([`action`]). Stored as text; never rename one, as verifiers
//! and reports match on them.

/// Actors that are not a user id.
pub mod actor {
    /// Haven itself: scheduled work, the package cache, the bootstrap of the allowlist.
    pub const SYSTEM: &str = "system";
    /// The package repository's own work (caching, integrity checks, bootstrap rules).
    pub const HAVEN: &str = "haven";
    /// Nobody signed in (the source address tells more).
    pub const ANONYMOUS: &str = "anonymous";
    /// The operator at the server's console (`haven …` commands).
    pub const CONSOLE: &str = "console";
}

/// What was done.
pub mod action {
    pub const ACCESS_REQUEST_APPROVED: &str = "access_request.approved";
    pub const ACCESS_REQUEST_READY: &str = "access_request.training_arrived";
    pub const ACCESS_REQUEST_REFUSED: &str = "access_request.refused";
    pub const ACCESS_REQUEST_REJECTED: &str = "access_request.rejected";
    pub const ACCESS_REQUEST_SUBMITTED: &str = "access_request.submitted";
    pub const ACCESS_REVIEW_RECORDED: &str = "access_review.recorded";
    pub const ACCOUNT_CREATED: &str = "account.created";
    pub const APP_ADDED: &str = "app.added";
    pub const APP_DEFAULT_SET: &str = "app.default_set";
    /// An application session (terminal, web app, desktop) started, stopped, or
    /// a request to reach one was refused (not its owner, no such session).
    pub const APP_SESSION_STARTED: &str = "app_session.started";
    pub const APP_SESSION_STOPPED: &str = "app_session.stopped";
    pub const APP_SESSION_REFUSED: &str = "app_session.refused";
    /// A web session's download, export or upload refused at Haven's door (data leaves only by
    /// egress, and comes in only by File Transfer).
    pub const APP_SESSION_TRANSFER_REFUSED: &str = "app_session.transfer_refused";
    /// A batch job submitted, started, ended (with how), cancelled, its log read, or a request
    /// for one refused (not its owner, no such job).
    pub const JOB_SUBMITTED: &str = "job.submitted";
    pub const JOB_STARTED: &str = "job.started";
    pub const JOB_ENDED: &str = "job.ended";
    pub const JOB_CANCELLED: &str = "job.cancelled";
    pub const JOB_LOG_READ: &str = "job.log_read";
    pub const JOB_REFUSED: &str = "job.refused";
    pub const ARRIVAL_ACCEPTED: &str = "arrival.accepted";
    /// Egress: output requests and their releases.
    pub const EGRESS_PERMISSION_GRANTED: &str = "egress.permission_granted";
    pub const EGRESS_PERMISSION_WITHDRAWN: &str = "egress.permission_withdrawn";
    pub const EGRESS_CREATED: &str = "egress.created";
    pub const EGRESS_FILE_ADDED: &str = "egress.file_added";
    pub const EGRESS_FILE_REMOVED: &str = "egress.file_removed";
    pub const EGRESS_DESCRIBED: &str = "egress.group_described";
    pub const EGRESS_SUBMITTED: &str = "egress.submitted";
    pub const EGRESS_WITHDRAWN: &str = "egress.withdrawn";
    pub const EGRESS_VOTED: &str = "egress.voted";
    pub const EGRESS_IAO_APPROVED: &str = "egress.iao_approved";
    pub const EGRESS_RETURNED: &str = "egress.returned";
    pub const EGRESS_OVERRIDDEN: &str = "egress.verdict_overridden";
    pub const EGRESS_COMMENTED: &str = "egress.commented";
    pub const EGRESS_RELEASED: &str = "egress.released";
    pub const EGRESS_REVOKED: &str = "egress.revoked";
    pub const EGRESS_LINK_ISSUED: &str = "egress.link_issued";
    pub const EGRESS_DOWNLOADED: &str = "egress.downloaded";
    pub const EGRESS_LINK_REFUSED: &str = "egress.link_refused";
    pub const EGRESS_INTEGRITY_FAILED: &str = "egress.integrity_failed";
    /// A reviewer opened a pinned file's contents.
    pub const EGRESS_FILE_READ: &str = "egress.file_read";
    pub const EGRESS_REFUSED: &str = "egress.refused";
    /// A file copied from one of an asset's drives to another, from the browser.
    pub const DRIVE_COPIED: &str = "drive.copied";
    pub const ARRIVAL_INFECTED: &str = "arrival.infected";
    pub const ARRIVAL_REJECTED: &str = "arrival.rejected";
    pub const ARRIVAL_SCANNED: &str = "arrival.scanned";
    pub const BLOBS_SWEPT: &str = "blobs.swept";
    pub const ACCOUNT_DISABLED: &str = "account.disabled";
    pub const ACCOUNT_ENABLED: &str = "account.enabled";
    pub const ACCOUNT_FAIL_COUNTERS_RESET: &str = "account.fail_counters_reset";
    pub const ACCOUNT_LOCKED: &str = "account.locked";
    pub const ACCOUNT_LOCKED_BY_SERVICE_DESK: &str = "account.locked_by_service_desk";
    pub const ACCOUNT_ONBOARDED: &str = "account.onboarded";
    pub const ACCOUNT_ONBOARDING_LINK_ISSUED: &str = "account.onboarding_link_issued";
    pub const ACCOUNT_ROLE_GRANTED: &str = "account.role_granted";
    pub const ACCOUNT_ROLE_WITHDRAWN: &str = "account.role_withdrawn";
    pub const ACCOUNT_UNLOCKED: &str = "account.unlocked";
    pub const API_TOKEN_CREATED: &str = "api_token.created";
    pub const API_TOKEN_RATE_LIMITED: &str = "api_token.rate_limited";
    pub const API_TOKEN_REFUSED: &str = "api_token.refused";
    pub const API_TOKEN_REVOKED: &str = "api_token.revoked";
    pub const ASSET_CLOSED: &str = "asset.closed";
    pub const ASSET_DRIVES_ERASED: &str = "asset.drives_erased";
    pub const ASSET_CREATED: &str = "asset.created";
    pub const ASSET_IAA_ADDED: &str = "asset.iaa_added";
    pub const ASSET_IAA_REMOVED: &str = "asset.iaa_removed";
    pub const AUS_ACCEPTED: &str = "aus.accepted";
    pub const BOOTSTRAP_LINK_ISSUED: &str = "bootstrap.link_issued";
    pub const BOOTSTRAP_LINK_REFUSED: &str = "bootstrap.link_refused";
    pub const COMPLIANCE_EXPIRING: &str = "compliance.expiring";
    pub const COMPLIANCE_RECORDED: &str = "compliance.recorded";
    pub const DROP_LINK_CREATED: &str = "drop_link.created";
    pub const DROP_LINK_RATE_LIMITED: &str = "drop_link.rate_limited";
    pub const DROP_LINK_REFUSED: &str = "drop_link.refused";
    pub const DROP_LINK_REVOKED: &str = "drop_link.revoked";
    pub const EMERGENCY_CODE_ISSUED: &str = "emergency_code.issued";
    pub const HTTP_CSRF_REFUSED: &str = "http.csrf_refused";
    pub const ICE_ANSWERS_FAILED: &str = "ice.answers_failed";
    pub const ICE_LOGON: &str = "ice.logon";
    pub const ICE_PASSWORD_FAILED: &str = "ice.password_failed";
    pub const ICE_PASSWORD_PASSED: &str = "ice.password_passed";
    pub const ICE_QUESTIONS_SET: &str = "ice.questions_set";
    pub const ICE_REFUSED: &str = "ice.refused";
    pub const ICE_STARTED: &str = "ice.started";
    pub const ICE_SWITCHED_FOR_EVERYONE: &str = "ice.switched_for_everyone";
    pub const ICE_SWITCHED_FOR_USER: &str = "ice.switched_for_user";
    /// A backup of the embedded database, blobs (and keys) was made from the console; a
    /// backup was restored (recorded in the restored trail).
    /// `haven audit verify` found the trail broken (recorded so that it is alerted).
    pub const AUDIT_VERIFY_FAILED: &str = "audit.verify_failed";
    pub const BACKUP_CREATED: &str = "backup.created";
    pub const BACKUP_RESTORED: &str = "backup.restored";
    pub const KEY_PROJECT_KEY_CREATED: &str = "key.project_key_created";
    /// A node took over a lease (the deployment's background work) whose holder's time ran
    /// out: that node died or lost the database while it held it.
    pub const LEASE_TAKEN_OVER: &str = "cluster.lease_taken_over";
    pub const LINK_REFUSED: &str = "link.refused";
    pub const MEMBERSHIP_ENDED: &str = "membership.ended";
    pub const MEMBERSHIP_REVIEW_MISSED: &str = "membership.review_missed";
    pub const MEMBERSHIP_STARTED: &str = "membership.started";
    pub const PACKAGE_BOOTSTRAP_ALLOWLIST: &str = "package.bootstrap_allowlist";
    pub const PACKAGE_CACHED: &str = "package.cached";
    pub const PACKAGE_DOWNLOAD: &str = "package.download";
    pub const PACKAGE_INTEGRITY_FAILED: &str = "package.integrity_failed";
    pub const PACKAGE_OSV_IMPORTED: &str = "package.osv_imported";
    pub const PACKAGE_REQUEST_APPROVED: &str = "package.request_approved";
    pub const PACKAGE_REQUEST_REJECTED: &str = "package.request_rejected";
    pub const PACKAGE_REQUEST_SUBMITTED: &str = "package.request_submitted";
    pub const PACKAGE_RULE_ADDED: &str = "package.rule_added";
    pub const PACKAGE_RULE_REMOVED: &str = "package.rule_removed";
    pub const PACKAGE_RULE_REPORTED: &str = "package.rule_reported";
    pub const PASSWORD_CHANGED: &str = "password.changed";
    pub const PASSWORD_CURRENT_CHECK_FAILED: &str = "password.current_check_failed";
    pub const PASSWORD_RESET: &str = "password.reset";
    pub const PASSWORD_RESET_FACTOR_PASSED: &str = "password.reset_factor_passed";
    pub const PASSWORD_RESET_LINK_USED: &str = "password.reset_link_used";
    pub const PASSWORD_RESET_REFUSED: &str = "password.reset_refused";
    pub const PASSWORD_RESET_STARTED: &str = "password.reset_started";
    pub const RECOVERY_CODE_REFUSED: &str = "recovery_code.refused";
    pub const RECOVERY_CODE_USED: &str = "recovery_code.used";
    pub const RECOVERY_CODES_GENERATED: &str = "recovery_codes.generated";
    pub const PERSONAL_TOKENS_REVOKED_BY_SERVICE_DESK: &str = "personal_tokens.revoked_by_service_desk";
    pub const REPO_TOKEN_CREATED: &str = "repo_token.created";
    pub const REPO_TOKEN_RATE_LIMITED: &str = "repo_token.rate_limited";
    pub const REPO_TOKEN_REFUSED: &str = "repo_token.refused";
    pub const REPO_TOKEN_REVOKED: &str = "repo_token.revoked";
    pub const SERVICE_UPDATE_PUBLISHED: &str = "service_update.published";
    pub const SESSION_ENDED: &str = "session.ended";
    pub const SESSION_ENROLMENT_STARTED: &str = "session.enrolment_started";
    pub const SESSION_OTHERS_ENDED: &str = "session.others_ended";
    pub const SESSION_SIGNED_OUT: &str = "session.signed_out";
    pub const SIGNIN_FAILED: &str = "signin.failed";
    pub const SIGNIN_RATE_LIMITED: &str = "signin.rate_limited";
    pub const SIGNIN_RECONFIRMED: &str = "signin.reconfirmed";
    pub const SIGNIN_SUCCEEDED: &str = "signin.succeeded";
    pub const TOKEN_ACCESS_REFUSED: &str = "token.access_refused";
    pub const TOKEN_ACTIVATED: &str = "token.activated";
    pub const TOKEN_ACTIVATION_FAILED: &str = "token.activation_failed";
    pub const TOKEN_ASSIGNED: &str = "token.assigned";
    pub const TOKEN_CREATED: &str = "token.created";
    pub const TOKEN_DELETED: &str = "token.deleted";
    pub const TOKEN_DELIVERED_ON_SCREEN: &str = "token.delivered_on_screen";
    pub const TOKEN_DELIVERY_EMAILED: &str = "token.delivery_emailed";
    pub const TOKEN_DELIVERY_LINK_OPENED: &str = "token.delivery_link_opened";
    pub const TOKEN_DELIVERY_LINK_REFUSED: &str = "token.delivery_link_refused";
    pub const TOKEN_DISABLED: &str = "token.disabled";
    pub const TOKEN_ENABLED: &str = "token.enabled";
    pub const TOKEN_IMPORT_REFUSED: &str = "token.import_refused";
    pub const TOKEN_IMPORTED: &str = "token.imported";
    pub const TOKEN_LOCKED: &str = "token.locked";
    pub const TOKEN_PIN_RESET: &str = "token.pin_reset";
    pub const TOKEN_RESYNC_FAILED: &str = "token.resync_failed";
    pub const TOKEN_RESYNCHRONISED: &str = "token.resynchronised";
    pub const TOKEN_REVOKED_BY_SERVICE_DESK: &str = "token.revoked_by_service_desk";
    pub const TRAINING_IMPORTED: &str = "training.imported";
    pub const TRAINING_RECORDED: &str = "training.recorded";
    pub const TRAINING_REMINDER_SENT: &str = "training.reminder_sent";
    pub const UPLOAD_COMPLETED: &str = "upload.completed";
    pub const UPLOAD_EXPIRED: &str = "upload.expired";
    pub const UPLOAD_STARTED: &str = "upload.started";
    pub const UPLOAD_TERMINATED: &str = "upload.terminated";
}
