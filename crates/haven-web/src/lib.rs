//! Haven's web layer: one router per portal on a shared baseline (security headers, CSRF, body
//! limits, timeouts, uniform errors). Handlers are thin: they parse, ask haven-core, render.

pub mod api;
mod apps;
pub use apps::reach;
mod bootstrap;
mod ca;
mod csrf;
mod egress;
pub mod error;
mod governance;
mod headers;
mod health;
mod home;
mod markdown;
pub mod metrics;
pub mod packages;
pub mod page;
mod peer;
pub mod pinned;
pub use haven_core::paths;
pub mod security;
pub mod session;
pub mod source;
mod transfer;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use haven_core::{Clock, Rng};
use tower_http::timeout::TimeoutLayer;

pub use error::WebError;

/// What the web layer needs from the rest of Haven, shared by every request. One `Arc`: axum
/// clones the state for each layer and handler a request passes, and with a field each that was
/// a dozen atomic counts bounced between the cores, per clone and per drop (a tenth of the
/// package index's CPU time in a profile under load: docs/benchmarks.md).
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl From<AppParts> for AppState {
    fn from(parts: AppParts) -> Self {
        AppState(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;
    fn deref(&self) -> &AppParts {
        &self.0
    }
}

pub struct AppParts {
    /// Time for what pages show (lockouts' ends), and randomness for CSRF tokens; everything
    /// else goes through the use cases below.
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Rng>,
    pub metrics: Arc<metrics::Metrics>,
    pub config: Arc<WebConfig>,
    pub identity: Arc<haven_core::identity::Identity>,
    pub governance: Arc<haven_core::governance::Governance>,
    pub transfer: Arc<haven_core::transfer::uploads::Transfer>,
    pub egress: Arc<haven_core::egress::Egress>,
    pub catalogue: Arc<haven_core::workspaces::catalogue::Catalogue>,
    pub sessions: Arc<haven_core::workspaces::sessions::Sessions>,
    pub packages: Arc<haven_core::packages::Packages>,
    pub service: Arc<haven_core::service::Service>,
}

#[derive(Debug, Clone)]
pub struct WebConfig {
    /// The URL people reach Haven at, without a trailing slash (links in pages, feeds, emails).
    pub public_url: String,
    /// The origin web sessions are served from (the same host, another port), without a slash.
    pub sessions_url: String,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// The internal CA's certificate (PEM), published at `/ca.pem`; None with certificates of your own.
    pub ca_pem: Option<String>,
    /// Proxies whose `X-Forwarded-For` names the client (`http.trusted_proxies`).
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    /// With several nodes: the key with which nodes vouch for the requests they forward to one
    /// another (for a session another node runs), and so for the client's address.
    pub forwarding_key: Option<Arc<zeroize::Zeroizing<[u8; 32]>>>,
}

/// The public HTTPS application.
pub fn router(state: AppState) -> Router {
    let timeout = state.config.request_timeout;
    let max_body = state.config.max_body_bytes;
    let portals = Router::new()
        .merge(home::routes())
        .merge(bootstrap::routes())
        .merge(security::routes())
        .merge(packages::routes())
        .merge(governance::routes())
        .merge(api::routes())
        .merge(transfer::pages())
        .merge(egress::routes())
        .merge(apps::routes())
        .merge(ca::routes())
        .merge(health::routes())
        .fallback(error::not_found)
        .layer(from_fn_with_state(state.clone(), csrf::protect))
        .layer(DefaultBodyLimit::max(max_body))
        // Outermost last: the timeout's 408 is rendered by `normalize` like every other error.
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, timeout));
    // Uploads stream for as long as their bytes keep coming (an idle timeout per read instead of
    // the request timeout), and read their bodies themselves, never whole (no body limit).
    let uploads = transfer::routes().layer(from_fn_with_state(state.clone(), csrf::protect));
    portals
        .merge(uploads)
        // Before any check of this node's: the node that runs a session makes them all.
        .layer(from_fn_with_state((state.clone(), peer::Listener::Main), peer::to_owning_node))
        .layer(from_fn(error::normalize))
        .layer(from_fn(headers::security_headers))
        .layer(from_fn_with_state(state.metrics.clone(), metrics::observe))
        .layer(from_fn_with_state(state.clone(), source::client_address))
        .with_state(state)
}

/// Web sessions (JupyterLab), on an origin of their own (`http.sessions_listen`): what runs in a
/// session serves pages there, where Haven's own pages are not, so its scripts cannot read them
/// or act on them as the user (another origin: no reading without CORS, which Haven never grants;
/// no writing, which Haven's CSRF check refuses). Nothing else is served on it.
pub fn sessions_router(state: AppState) -> Router {
    let timeout = state.config.request_timeout;
    apps::web_routes()
        .fallback(error::not_found)
        .layer(from_fn_with_state(state.clone(), csrf::protect_web_sessions))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(from_fn_with_state((state.clone(), peer::Listener::Sessions), peer::to_owning_node))
        .layer(from_fn(error::normalize))
        .layer(from_fn(headers::security_headers))
        .layer(from_fn_with_state(state.metrics.clone(), metrics::observe))
        .layer(from_fn_with_state(state.clone(), source::client_address))
        .with_state(state)
}

/// The package repository alone, as sessions reach it through their socket (`haven::gate`):
/// no portal, no sign-in, no API; package clients with the session's token. The gate puts the
/// session's own address ([`source::ClientAddress`]) on each request.
pub fn repository_router(state: AppState) -> Router {
    let timeout = state.config.request_timeout;
    packages::repository_routes()
        .fallback(error::not_found)
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(from_fn(error::normalize))
        .layer(from_fn(headers::security_headers))
        .layer(from_fn_with_state(state.metrics.clone(), metrics::observe))
        .with_state(state)
}

/// The admin listener: Prometheus metrics.
pub fn admin_router(state: AppState) -> Router {
    Router::new()
        .merge(metrics::routes())
        .fallback(error::not_found)
        .layer(from_fn(headers::security_headers))
        .with_state(state)
}
