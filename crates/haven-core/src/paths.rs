//! Every URL of Haven's web pages, spelled once: the web layer's routers, redirects, handlers and
//! templates (as `crate::paths::…`, re-exported there) and the links in the emails core sends all
//! use these. A path with a parameter has its route pattern (`…_ROUTE`) beside a function that
//! fills it in.

// The public pages.
pub const HOME: &str = "/";
pub const UPDATES: &str = "/updates";
pub const UPDATES_ATOM: &str = "/updates.atom";
pub const BOOTSTRAP: &str = "/bootstrap";
pub const CA_PEM: &str = "/ca.pem";
pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
pub const METRICS: &str = "/metrics";
pub const STYLESHEET: &str = "/static/haven.css";
/// Machine clients (JSON errors, no CSRF form token).
pub const API_PREFIX: &str = "/api/";
/// The JSON API's OpenAPI document.
pub const API_DOCS: &str = "/api/v1/openapi.json";

// The Security & Tokens portal.
pub const SECURITY: &str = "/security";
pub const SECURITY_SLASH: &str = "/security/";
pub const SIGNIN: &str = "/security/signin";
pub const SIGNOUT: &str = "/security/signout";
pub const CONFIRM: &str = "/security/confirm";
pub const TOKENS: &str = "/security/tokens";
pub const API_TOKENS: &str = "/security/api-tokens";
pub const API_TOKENS_REVOKE: &str = "/security/api-tokens/revoke";
pub const TOKENS_RECEIVE: &str = "/security/tokens/receive";
pub const TOKEN_PIN_ROUTE: &str = "/security/tokens/{serial}/pin";
pub const TOKEN_PUSH_ROUTE: &str = "/security/tokens/{serial}/push";
pub const TOKEN_ACTIVATE_ROUTE: &str = "/security/tokens/{serial}/activate";
pub const TOKEN_RESYNC_ROUTE: &str = "/security/tokens/{serial}/resync";
pub const TOKEN_STATE_ROUTE: &str = "/security/tokens/{serial}/state";
pub const ICE: &str = "/security/ice";
pub const ICE_PASSWORD: &str = "/security/ice/password";
pub const ICE_ANSWERS: &str = "/security/ice/answers";
pub const EMERGENCY: &str = "/security/emergency";
pub const EMERGENCY_REQUEST: &str = "/security/emergency/request";
pub const PASSWORD: &str = "/security/password";
pub const RECOVERY: &str = "/security/recovery";
pub const SESSIONS: &str = "/security/sessions";
pub const QUESTIONS: &str = "/security/questions";
pub const ONBOARD: &str = "/security/onboard";
pub const RESET: &str = "/security/reset";
pub const FORGOT: &str = "/security/forgot";
pub const DESK: &str = "/security/desk";
pub const DESK_USERS: &str = "/security/desk/users";
pub const DESK_USER_ROUTE: &str = "/security/desk/users/{id}";
pub const DESK_USER_ACTION_ROUTE: &str = "/security/desk/users/{id}/action";
pub const DESK_ICE: &str = "/security/desk/ice";
pub const DESK_TOKENS: &str = "/security/desk/tokens";
pub const DESK_TOKENS_ASSIGN: &str = "/security/desk/tokens/assign";

// The package repository, for package clients.
pub const PYPI_SIMPLE: &str = "/pypi/simple/";
pub const PYPI_SIMPLE_BARE: &str = "/pypi/simple";
pub const PYPI_PROJECT_ROUTE: &str = "/pypi/simple/{project}/";
pub const PYPI_PROJECT_BARE_ROUTE: &str = "/pypi/simple/{project}";
pub const PYPI_FILE_ROUTE: &str = "/pypi/files/{project}/{file}";
pub const CRAN: &str = "/cran";
pub const CRAN_CONTRIB_ROUTE: &str = "/cran/src/contrib/{file}";
pub const CRAN_ARCHIVE_RDS: &str = "/cran/src/contrib/Meta/archive.rds";
pub const CRAN_ARCHIVE_ROUTE: &str = "/cran/src/contrib/Archive/{pkg}/";
pub const CRAN_ARCHIVE_FILE_ROUTE: &str = "/cran/src/contrib/Archive/{pkg}/{file}";
pub const CONDA: &str = "/conda";
pub const CONDA_FILE_ROUTE: &str = "/conda/{channel}/{subdir}/{file}";

// The package portal.
pub const PACKAGES: &str = "/packages";
pub const PACKAGES_SLASH: &str = "/packages/";
pub const REPO_TOKENS: &str = "/packages/tokens";
pub const REPO_TOKENS_REVOKE: &str = "/packages/tokens/revoke";
pub const REQUESTS: &str = "/packages/requests";
pub const REQUESTS_NEW: &str = "/packages/requests/new";
pub const REQUESTS_CHECK: &str = "/packages/requests/check";
pub const REVIEW: &str = "/packages/review";
pub const REVIEW_ONE_ROUTE: &str = "/packages/review/{id}";
pub const POLICY: &str = "/packages/policy";
pub const POLICY_RULES: &str = "/packages/policy/rules";
pub const POLICY_RULES_REMOVE: &str = "/packages/policy/rules/remove";

// The Governance portal (the emails of `governance::messages` link here too).
pub const GOVERNANCE: &str = "/governance";
pub const GOVERNANCE_SLASH: &str = "/governance/";
pub const GOV_ASSET_ROUTE: &str = "/governance/assets/{name}";
pub const GOV_ASSET_REQUEST_ROUTE: &str = "/governance/assets/{name}/request";
pub const GOV_ASSET_REVIEW_ROUTE: &str = "/governance/assets/{name}/review";
pub const GOV_ASSET_IAA_ROUTE: &str = "/governance/assets/{name}/iaa";
pub const GOV_ASSET_COMPLIANCE_ROUTE: &str = "/governance/assets/{name}/compliance";
pub const GOV_ASSET_CLOSE_ROUTE: &str = "/governance/assets/{name}/close";
pub const GOV_REQUESTS: &str = "/governance/requests";
pub const GOV_DECISIONS: &str = "/governance/decisions";
pub const GOV_DECISION_ROUTE: &str = "/governance/decisions/{id}";
pub const GOV_REGISTER: &str = "/governance/register";
pub const GOV_IG: &str = "/governance/ig";
pub const GOV_IG_IMPORT: &str = "/governance/ig/import";
pub const GOV_AUS: &str = "/governance/aus";
pub const GOV_REPORTS: &str = "/governance/reports";

// The File Transfer portal: the tus endpoint for members (a session or a write API token).
pub const TRANSFER: &str = "/transfer";
pub const TRANSFER_PREFIX: &str = "/transfer/";
pub const TRANSFER_UPLOADS: &str = "/transfer/uploads/";
pub const TRANSFER_UPLOADS_BARE: &str = "/transfer/uploads";
pub const TRANSFER_UPLOAD_ROUTE: &str = "/transfer/uploads/{id}";
// Drop-off links: the secret is a path segment (never logged: see `loggable_path`).
pub const TRANSFER_DROP: &str = "/transfer/drop/";
pub const TRANSFER_DROP_ROUTE: &str = "/transfer/drop/{token}";
pub const TRANSFER_DROP_UPLOADS_ROUTE: &str = "/transfer/drop/{token}/uploads/";
pub const TRANSFER_DROP_UPLOADS_BARE_ROUTE: &str = "/transfer/drop/{token}/uploads";
pub const TRANSFER_DROP_UPLOAD_ROUTE: &str = "/transfer/drop/{token}/uploads/{id}";
pub const TRANSFER_RECEIPT_ROUTE: &str = "/transfer/uploads/{id}/receipt";
pub const TRANSFER_DROP_RECEIPT_ROUTE: &str = "/transfer/drop/{token}/uploads/{id}/receipt";

pub const TRANSFER_ASSET_ROUTE: &str = "/transfer/assets/{name}";
pub const TRANSFER_LINKS_ROUTE: &str = "/transfer/assets/{name}/links";
pub const TRANSFER_LINK_REVOKE_ROUTE: &str = "/transfer/assets/{name}/links/revoke";
pub const TRANSFER_DECIDE_ROUTE: &str = "/transfer/assets/{name}/arrivals/decide";
pub const TRANSFER_SCRIPT: &str = "/static/transfer.js";
pub const TUS_SCRIPT: &str = "/static/tus.min.js";

/// The Applications & Data portal: the catalogue to launch from, one's sessions, a terminal.
pub const APPS: &str = "/apps";
pub const APPS_LAUNCH: &str = "/apps/launch";
pub const APP_SESSION_ROUTE: &str = "/apps/sessions/{id}";
pub const APP_SESSION_TERMINAL_ROUTE: &str = "/apps/sessions/{id}/terminal";
pub const APP_SESSION_STOP_ROUTE: &str = "/apps/sessions/{id}/stop";
pub const APP_SESSION_WEB_ROUTE: &str = "/apps/sessions/{id}/lab";
pub const APP_SESSION_READY_ROUTE: &str = "/apps/sessions/{id}/ready";
pub const APP_SESSION_DESKTOP_ROUTE: &str = "/apps/sessions/{id}/desktop";
pub const APP_SESSION_WEB_ROOT_ROUTE: &str = "/apps/sessions/{id}/lab/";
pub const APP_SESSION_WEB_REST_ROUTE: &str = "/apps/sessions/{id}/lab/{*rest}";
pub const APPS_CATALOGUE: &str = "/apps/catalogue";
pub const APPS_DRIVES_ROUTE: &str = "/apps/drives/{name}";
pub const APPS_DRIVES_COPY_ROUTE: &str = "/apps/drives/{name}/copy";
pub const APPS_JOBS: &str = "/apps/jobs";
pub const APP_JOB_ROUTE: &str = "/apps/jobs/{id}";
pub const APP_JOB_CANCEL_ROUTE: &str = "/apps/jobs/{id}/cancel";
pub const XTERM_SCRIPT: &str = "/static/xterm/xterm.js";
pub const XTERM_FIT_SCRIPT: &str = "/static/xterm/addon-fit.js";
pub const XTERM_STYLESHEET: &str = "/static/xterm/xterm.css";
pub const TERMINAL_SCRIPT: &str = "/static/terminal.js";
pub const JOB_SCRIPT: &str = "/static/job.js";
pub const WEB_SESSION_SCRIPT: &str = "/static/web-session.js";
pub const DESKTOP_SCRIPT: &str = "/static/desktop.js";
pub const NOVNC_SCRIPT: &str = "/static/novnc/rfb.js";

/// The Egress portal: output requests, their review and release.
pub const EGRESS: &str = "/egress";
pub const EGRESS_NEW: &str = "/egress/requests";
pub const EGRESS_REQUEST_ROUTE: &str = "/egress/requests/{id}";
/// A request's changes: `…/{id}/{what}` (add, remove, describe, submit, withdraw, vote,
/// iao-approve, return, override, comment, release, revoke, link).
pub const EGRESS_ACTION_ROUTE: &str = "/egress/requests/{id}/{what}";
pub const EGRESS_FILE_ROUTE: &str = "/egress/requests/{id}/files/{name}";
pub const EGRESS_PERMISSIONS_ROUTE: &str = "/egress/assets/{name}/permissions";
/// A single-use download link of a released request (its secret in the path, never logged).
pub const EGRESS_DOWNLOAD_ROUTE: &str = "/egress/download/{token}";
pub const EGRESS_DOWNLOAD: &str = "/egress/download/";
/// Output requests in the JSON API.
pub const API_EGRESS_REQUESTS: &str = "/api/v1/egress/requests";
pub const API_EGRESS_REQUEST_ROUTE: &str = "/api/v1/egress/requests/{id}";

pub fn egress_request(id: &str) -> String {
    format!("{EGRESS}/requests/{id}")
}

pub fn egress_action(id: &str, what: &str) -> String {
    format!("{EGRESS}/requests/{id}/{what}")
}

/// A pinned file of a request (its name percent-encoded).
pub fn egress_file(id: &str, name: &str) -> String {
    let name: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
    format!("{EGRESS}/requests/{id}/files/{}", name.replace('+', "%20"))
}

pub fn egress_permissions(asset: &str) -> String {
    format!("{EGRESS}/assets/{asset}/permissions")
}

pub fn egress_download(token: &str) -> String {
    format!("{EGRESS_DOWNLOAD}{token}")
}

/// An asset's drives page: `drive` (home, shared, outputs) at `path` (`""` for the top).
pub fn apps_drives(name: &str, drive: &str, path: &str) -> String {
    let mut url = format!("{APPS}/drives/{name}?drive={drive}");
    if !path.is_empty() {
        url.push_str("&path=");
        url.extend(form_urlencoded::byte_serialize(path.as_bytes()));
    }
    url
}

/// Where a file is copied from one of an asset's drives to another.
pub fn apps_drives_copy(name: &str) -> String {
    format!("{APPS}/drives/{name}/copy")
}

/// A session's page (its terminal), its owner's alone.
pub fn app_session(id: &str) -> String {
    format!("{APPS}/sessions/{id}")
}

/// Where a web session's application is reverse-proxied (its base URL, with the slash).
pub fn app_session_web(id: &str) -> String {
    format!("{APPS}/sessions/{id}/lab/")
}

/// Whether `path` is under a web session's address (`/apps/sessions/<id>/lab`), what the web
/// sessions' origin serves.
pub fn is_app_session_web_path(path: &str) -> bool {
    path.strip_prefix("/apps/sessions/").and_then(|rest| rest.split_once('/')).is_some_and(|(id, rest)| {
        !id.is_empty() && (rest == "lab" || rest.starts_with("lab/") || rest.starts_with("lab?"))
    })
}

/// Whether a web session's application answers yet (its page asks, on Haven's own origin).
pub fn app_session_ready(id: &str) -> String {
    format!("{APPS}/sessions/{id}/ready")
}

pub fn app_session_stop(id: &str) -> String {
    format!("{APPS}/sessions/{id}/stop")
}

/// A batch job's page: its state, and its log for its owner.
pub fn app_job(id: &str) -> String {
    format!("{APPS}/jobs/{id}")
}

pub fn app_job_cancel(id: &str) -> String {
    format!("{APPS}/jobs/{id}/cancel")
}

/// An asset's page in the File Transfer portal: its arrivals and drop-off links.
pub fn transfer_asset(name: &str) -> String {
    format!("{TRANSFER}/assets/{name}")
}

pub fn transfer_links(name: &str) -> String {
    format!("{TRANSFER}/assets/{name}/links")
}

pub fn transfer_link_revoke(name: &str) -> String {
    format!("{TRANSFER}/assets/{name}/links/revoke")
}

pub fn transfer_decide(name: &str) -> String {
    format!("{TRANSFER}/assets/{name}/arrivals/decide")
}

pub fn transfer_upload(id: &str) -> String {
    format!("{TRANSFER_UPLOADS}{id}")
}

/// A drop-off link's page (what its issuer sends the provider).
pub fn transfer_drop(secret: &str) -> String {
    format!("{TRANSFER_DROP}{secret}")
}

/// A drop-off link's tus endpoint.
pub fn transfer_drop_uploads(secret: &str) -> String {
    format!("{TRANSFER_DROP}{secret}/uploads/")
}

pub fn transfer_drop_upload(secret: &str, id: &str) -> String {
    format!("{TRANSFER_DROP}{secret}/uploads/{id}")
}

/// A request path as logs may show it: a drop-off link's secret is replaced by `[link]`.
pub fn loggable_path(path: &str) -> String {
    for secret in [TRANSFER_DROP, EGRESS_DOWNLOAD] {
        if let Some(rest) = path.strip_prefix(secret) {
            let after = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
            return format!("{secret}[link]{after}");
        }
    }
    path.to_string()
}

pub fn gov_asset(name: &str) -> String {
    format!("{GOVERNANCE}/assets/{name}")
}

pub fn gov_asset_request(name: &str) -> String {
    format!("{GOVERNANCE}/assets/{name}/request")
}

pub fn gov_asset_review(name: &str) -> String {
    format!("{GOVERNANCE}/assets/{name}/review")
}

pub fn gov_asset_iaa(name: &str) -> String {
    format!("{GOVERNANCE}/assets/{name}/iaa")
}

pub fn gov_asset_compliance(name: &str) -> String {
    format!("{GOVERNANCE}/assets/{name}/compliance")
}

pub fn gov_asset_close(name: &str) -> String {
    format!("{GOVERNANCE}/assets/{name}/close")
}

pub fn gov_decision(id: i64) -> String {
    format!("{GOV_DECISIONS}/{id}")
}

pub fn pypi_project(name: &str) -> String {
    format!("{PYPI_SIMPLE}{name}/")
}

/// Sign in, then go back to `next` (already URL-encoded).
pub fn signin_then(next_encoded: &str) -> String {
    format!("{SIGNIN}?next={next_encoded}")
}

/// Confirm both factors, then go back to `next` (already URL-encoded).
pub fn confirm_then(next_encoded: &str) -> String {
    format!("{CONFIRM}?next={next_encoded}")
}

/// The one-time link that creates the first administrator.
pub fn bootstrap_with(token: &str) -> String {
    format!("{BOOTSTRAP}?token={token}")
}

/// A password reset link's page.
pub fn reset_with(token: &str) -> String {
    format!("{RESET}?token={token}")
}

pub fn token_pin(serial: &str) -> String {
    format!("{TOKENS}/{serial}/pin")
}

pub fn token_push(serial: &str) -> String {
    format!("{TOKENS}/{serial}/push")
}

pub fn token_activate(serial: &str) -> String {
    format!("{TOKENS}/{serial}/activate")
}

pub fn token_resync(serial: &str) -> String {
    format!("{TOKENS}/{serial}/resync")
}

pub fn token_state(serial: &str) -> String {
    format!("{TOKENS}/{serial}/state")
}

pub fn desk_user(id: &str) -> String {
    format!("{DESK_USERS}/{id}")
}

pub fn desk_user_action(id: &str) -> String {
    format!("{DESK_USERS}/{id}/action")
}

pub fn review_one(id: i64) -> String {
    format!("{REVIEW}/{id}")
}

/// `path` with a notice to show after a successful POST (`?done=…`, see `page::Notice`).
pub fn with_notice(path: &str, code: &str) -> String {
    format!("{path}?done={code}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filled_in_paths_match_their_routes() {
        let fill = |route: &str, value: &str| route.replace("{serial}", value).replace("{id}", value);
        assert_eq!(token_pin("S1"), fill(TOKEN_PIN_ROUTE, "S1"));
        assert_eq!(token_push("S1"), fill(TOKEN_PUSH_ROUTE, "S1"));
        assert_eq!(token_activate("S1"), fill(TOKEN_ACTIVATE_ROUTE, "S1"));
        assert_eq!(token_resync("S1"), fill(TOKEN_RESYNC_ROUTE, "S1"));
        assert_eq!(token_state("S1"), fill(TOKEN_STATE_ROUTE, "S1"));
        assert_eq!(desk_user("bob"), fill(DESK_USER_ROUTE, "bob"));
        assert_eq!(desk_user_action("bob"), fill(DESK_USER_ACTION_ROUTE, "bob"));
        assert_eq!(review_one(7), fill(REVIEW_ONE_ROUTE, "7"));
        let asset = |route: &str| route.replace("{name}", "a-1");
        assert_eq!(gov_asset("a-1"), asset(GOV_ASSET_ROUTE));
        assert_eq!(gov_asset_request("a-1"), asset(GOV_ASSET_REQUEST_ROUTE));
        assert_eq!(gov_asset_review("a-1"), asset(GOV_ASSET_REVIEW_ROUTE));
        assert_eq!(gov_asset_iaa("a-1"), asset(GOV_ASSET_IAA_ROUTE));
        assert_eq!(gov_asset_compliance("a-1"), asset(GOV_ASSET_COMPLIANCE_ROUTE));
        assert_eq!(gov_asset_close("a-1"), asset(GOV_ASSET_CLOSE_ROUTE));
        assert_eq!(gov_decision(7), fill(GOV_DECISION_ROUTE, "7"));
        assert_eq!(pypi_project("numpy"), PYPI_PROJECT_ROUTE.replace("{project}", "numpy"));
    }

    #[test]
    fn transfer_paths_fill_their_routes_and_logs_never_show_a_link() {
        assert_eq!(transfer_upload("ab"), TRANSFER_UPLOAD_ROUTE.replace("{id}", "ab"));
        assert_eq!(transfer_drop("s3cr3t"), TRANSFER_DROP_ROUTE.replace("{token}", "s3cr3t"));
        assert_eq!(transfer_drop_uploads("s3cr3t"), TRANSFER_DROP_UPLOADS_ROUTE.replace("{token}", "s3cr3t"));
        let one = TRANSFER_DROP_UPLOAD_ROUTE.replace("{token}", "s3cr3t").replace("{id}", "ab");
        assert_eq!(transfer_drop_upload("s3cr3t", "ab"), one);
        assert_eq!(loggable_path(&one), "/transfer/drop/[link]/uploads/ab");
        assert_eq!(loggable_path("/transfer/drop/s3cr3t"), "/transfer/drop/[link]");
        assert_eq!(loggable_path("/transfer/uploads/ab"), "/transfer/uploads/ab");
        assert_eq!(loggable_path("/egress/download/5ecret"), "/egress/download/[link]");
    }
}
