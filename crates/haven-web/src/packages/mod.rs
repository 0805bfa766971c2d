//! The package repository's HTTP face: `/pypi`, `/cran`, `/conda` for package clients (HTTP
//! Basic with a repository token, or anonymous when configured), and the portal page where users
//! make their repository tokens. Handlers parse, ask `haven_core::packages`, and render.

mod conda;
mod cran;
mod policy;
mod pypi;
mod requests;
mod tokens;

use axum::Router;
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use haven_core::caller::Caller;
use haven_core::packages::fetch::Download;
use haven_core::packages::tokens::Auth;
use haven_core::packages::{PackageError, UpstreamError};
use zeroize::Zeroizing;

use crate::error::OwnBody;
use crate::paths;
use crate::session::cookie_secret;
use crate::{AppState, WebError};

/// What package clients use: the indexes and files, nothing of the portal.
pub fn repository_routes() -> Router<AppState> {
    Router::new()
        .route(paths::PYPI_SIMPLE_BARE, get(pypi::index_redirect))
        .route(paths::PYPI_SIMPLE, get(pypi::index))
        .route(paths::PYPI_PROJECT_BARE_ROUTE, get(pypi::project_redirect))
        .route(paths::PYPI_PROJECT_ROUTE, get(pypi::project))
        .route(paths::PYPI_FILE_ROUTE, get(pypi::file))
        .route(paths::CRAN_CONTRIB_ROUTE, get(cran::contrib))
        .route(paths::CRAN_ARCHIVE_RDS, get(cran::archive_rds))
        .route(paths::CRAN_ARCHIVE_ROUTE, get(cran::archive))
        .route(paths::CRAN_ARCHIVE_FILE_ROUTE, get(cran::archive_file))
        .route(paths::CONDA_FILE_ROUTE, get(conda::file))
}

pub fn routes() -> Router<AppState> {
    repository_routes()
        // The portal's home is the user's software requests.
        .route(paths::PACKAGES, get(|| async { axum::response::Redirect::to(paths::REQUESTS) }))
        .route(paths::PACKAGES_SLASH, get(|| async { axum::response::Redirect::to(paths::REQUESTS) }))
        .route(paths::REPO_TOKENS, get(tokens::list).post(tokens::create))
        .route(paths::REPO_TOKENS_REVOKE, post(tokens::revoke))
        .route(paths::REQUESTS, get(requests::mine))
        .route(paths::REQUESTS_NEW, get(requests::new_show).post(requests::new_submit))
        .route(paths::REQUESTS_CHECK, post(requests::check))
        .route(paths::REVIEW, get(requests::queue))
        .route(paths::REVIEW_ONE_ROUTE, get(requests::one).post(requests::decide))
        .route(paths::POLICY, get(policy::show))
        .route(paths::POLICY_RULES, post(policy::add))
        .route(paths::POLICY_RULES_REMOVE, post(policy::remove))
}

/// A package-repository error on a portal page (not for package clients: see [`package_error`]).
pub(crate) fn web_error(e: PackageError) -> WebError {
    match e {
        PackageError::Core(c) => c.into(),
        PackageError::BadRequest(m) => WebError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", m),
        PackageError::NotFound(m) => WebError::new(StatusCode::NOT_FOUND, "not_found", m),
        other => WebError::new(StatusCode::BAD_GATEWAY, "upstream", other.to_string()),
    }
}

/// Who reads the repository: a user by HTTP Basic (user id + repository token) or by a portal
/// session, or anyone when `packages.anonymous_read` is on; core's `may_read` decides.
pub struct Reader(pub Caller);

fn basic(parts: &Parts) -> Option<(String, Zeroizing<String>)> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") || encoded.len() > 512 {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = Zeroizing::new(String::from_utf8(decoded).ok()?);
    let (user, secret) = text.split_once(':')?;
    Some((user.to_string(), Zeroizing::new(secret.to_string())))
}

fn unauthorized() -> Response {
    let mut r = text(
        StatusCode::UNAUTHORIZED,
        &format!(
            "The package repository needs your Haven user id and a repository token (HTTP Basic). Make a token at {}.",
            paths::REPO_TOKENS
        ),
    );
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"Haven packages\""));
    r
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let source = crate::source::address(&parts.extensions);
        let agent = crate::source::user_agent(&parts.headers);
        let caller = if state.packages.config.anonymous_read {
            Some(Caller::anonymous(&source, &agent))
        } else if let Some((user, secret)) = basic(parts) {
            match state.packages.authenticate(&user, &secret, &source).await.map_err(package_error)? {
                Auth::Ok { user_id, roles } => Some(Caller::repository(&user_id, roles, &source)),
                Auth::Refused => None,
                Auth::RateLimited => {
                    let mut r = text(
                        StatusCode::TOO_MANY_REQUESTS,
                        &format!(
                            "Too many wrong repository credentials from your address. Check the user id and token your client sends (make a new token at {} if unsure), and try again in 15 minutes.",
                            paths::REPO_TOKENS
                        ),
                    );
                    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("900"));
                    return Err(r);
                }
            }
        } else if let Some(secret) = cookie_secret(&parts.headers) {
            state
                .identity
                .authenticate(&secret, &source, &agent)
                .await
                .map_err(|e| WebError::from(e).into_response())?
        } else {
            None
        };
        match caller {
            Some(caller) if state.packages.may_read(&caller).is_ok() => Ok(Reader(caller)),
            _ => Err(unauthorized()),
        }
    }
}

/// A plain-text answer for package clients (pip, R and conda print it), kept as is by the
/// error renderer.
fn text(status: StatusCode, message: &str) -> Response {
    let mut r = (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{message}\n")).into_response();
    r.extensions_mut().insert(OwnBody);
    r
}

/// The one-line reason, in the status line too: pip shows the reason phrase of a failed
/// download ("403 Client Error: <reason> for url"), not the body.
fn with_reason(mut r: Response, message: &str) -> Response {
    let line: String =
        message.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { ' ' }).take(400).collect();
    if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(line.into_bytes()) {
        r.extensions_mut().insert(reason);
    }
    r
}

/// What a client is told when an upstream could not be used. One text for every cause, so that
/// a hostile index cannot use Haven to tell refused ports, non-TLS ports and bad certificates
/// apart; the cause goes to the log.
pub const UPSTREAM_FAILED: &str = "Haven could not fetch this from its upstream repository. Try again later; \
     if it keeps failing, tell the service desk (Haven's log has the details).";

pub fn package_error(e: PackageError) -> Response {
    let status = match &e {
        PackageError::NotFound(_) | PackageError::Upstream(UpstreamError::NotFound(_)) => StatusCode::NOT_FOUND,
        PackageError::Refused(m) | PackageError::Integrity(m) => return with_reason(text(StatusCode::FORBIDDEN, m), m),
        PackageError::BadRequest(_) => StatusCode::BAD_REQUEST,
        PackageError::Upstream(_) => {
            tracing::warn!(error = %e, "package upstream problem");
            return text(StatusCode::BAD_GATEWAY, UPSTREAM_FAILED);
        }
        PackageError::BadUpstream(_) => StatusCode::BAD_GATEWAY,
        PackageError::Core(_) | PackageError::Blob(_) => {
            tracing::error!(error = %e, "package repository failure");
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "Haven's package repository cannot answer right now. Try again shortly; the service desk has been alerted.",
            );
        }
    };
    if status.is_server_error() {
        tracing::warn!(error = %e, "package upstream problem");
    }
    let message = match &e {
        PackageError::Upstream(UpstreamError::NotFound(_)) => "Not found upstream.".to_string(),
        other => other.to_string(),
    };
    text(status, &message)
}

/// Stream a download; the fetch-verify-cache work of a cache miss runs on its own task, so it
/// finishes (and caches) even if the client goes away.
pub fn send_download(d: Download, content_type: &'static str) -> Response {
    if let Some(driver) = d.driver {
        tokio::spawn(driver);
    }
    let mut r = Response::new(Body::from_stream(d.body));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable"));
    if let Some(n) = d.length {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    r
}

/// An index answer: revalidated by clients, never shared by caches (it depends on credentials).
pub fn index_response(content_type: &str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    let h = r.headers_mut();
    if let Ok(ct) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, ct);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=60"));
    r
}
