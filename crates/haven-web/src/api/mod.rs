//! The JSON API (`/api/v1`): the governance portal's operations for scripts and integrations,
//! described by the OpenAPI document at `/api/v1/openapi.json`. A caller sends a personal API
//! token (`Authorization: Bearer haven_api_…`, made at `/security/api-tokens`); there are no
//! cookies here, so no CSRF token either. Errors are `{"error": {"code", "message"}}` (rendered
//! by `error::normalize` for everything under `/api/`).

mod egress;
mod governance;
pub mod openapi;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use haven_core::caller::Caller;
use haven_core::identity::api_tokens::ApiAuth;
use serde::de::DeserializeOwned;

use crate::{AppState, WebError, paths};

/// The largest training CSV the import takes (as the page).
pub(crate) const IMPORT_LIMIT: usize = 33 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    use governance as g;
    Router::new()
        .route(openapi::OPENAPI, get(openapi::document))
        .route("/api/v1/me", get(g::me))
        .route("/api/v1/me/assets", get(g::my_assets))
        .route("/api/v1/me/requests", get(g::my_requests))
        .route("/api/v1/assets", get(g::register).post(g::create_asset))
        .route("/api/v1/assets/{name}", get(g::asset))
        .route("/api/v1/assets/{name}/close", post(g::close_asset))
        .route("/api/v1/assets/{name}/iaas/{user}", put(g::add_iaa).delete(g::remove_iaa))
        .route("/api/v1/assets/{name}/compliance/{kind}", put(g::set_compliance))
        .route("/api/v1/assets/{name}/requests", get(g::asset_requests).post(g::submit_request))
        .route("/api/v1/assets/{name}/review", post(g::review))
        .route("/api/v1/requests", get(g::requests))
        .route("/api/v1/requests/{id}", get(g::request))
        .route("/api/v1/requests/{id}/decision", post(g::decide))
        .route(paths::API_EGRESS_REQUESTS, get(egress::requests))
        .route(paths::API_EGRESS_REQUEST_ROUTE, get(egress::request))
        .route("/api/v1/training", post(g::record_training))
        .route("/api/v1/training/import", post(g::import_training).layer(DefaultBodyLimit::max(IMPORT_LIMIT)))
        .route("/api/v1/training/{user}", get(g::training))
        .route("/api/v1/reports/access", get(g::access_report))
        .route("/api/v1/reports/{report}", get(g::report))
}

/// The owner of the presented API token, with the roles their current training allows.
pub struct Api(pub Caller);

fn refusal(status: StatusCode, code: &'static str, message: String) -> Response {
    let mut r = WebError::new(status, code, message).into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"Haven API\", error=\"invalid_token\""),
        );
    }
    r
}

impl FromRequestParts<AppState> for Api {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let source = crate::source::address(&parts.extensions);
        let agent = crate::source::user_agent(&parts.headers);
        // The scheme is case-insensitive (RFC 7235).
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let Some(secret) = bearer else {
            return Err(refusal(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                format!(
                    "Send a personal API token as \"Authorization: Bearer <token>\". Make one at {}{}.",
                    state.config.public_url,
                    paths::API_TOKENS
                ),
            ));
        };
        let fail = |e: haven_core::CoreError| WebError::from(e).into_response();
        match state.identity.authenticate_api(secret, &source, &agent).await.map_err(fail)? {
            ApiAuth::Ok(caller) => {
                if state.governance.needs_aus(&caller.user_id).await.map_err(fail)? {
                    return Err(refusal(
                        StatusCode::FORBIDDEN,
                        "aus_required",
                        format!(
                            "There is a new Acceptable Use Statement. Sign in at {}{} and accept it; then this token works again.",
                            state.config.public_url,
                            paths::GOV_AUS
                        ),
                    ));
                }
                Ok(Api(state.governance.gate_roles(caller).await.map_err(fail)?))
            }
            ApiAuth::Refused => Err(refusal(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                format!(
                    "This API token is not valid: wrong, expired or revoked, or its account is not active. Make a new one at {}{}.",
                    state.config.public_url,
                    paths::API_TOKENS
                ),
            )),
            ApiAuth::RateLimited => {
                let mut r = refusal(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "Too many invalid API tokens from your address. Check the token your script sends, and try again in 15 minutes.".into(),
                );
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("900"));
                Err(r)
            }
        }
    }
}

/// A JSON body whose faults are told plainly: which field, what was wrong (axum's own
/// rejection says only "unprocessable").
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = WebError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(e) => Err(json_rejection(e)),
        }
    }
}

/// Query parameters whose faults are told plainly, as for [`Body`].
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Params(v)),
            Err(e) => {
                let detail: String = e.body_text().chars().take(400).collect();
                Err(WebError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_input",
                    format!("{detail}. See the operation's parameters in /api/v1/openapi.json."),
                ))
            }
        }
    }
}

fn json_rejection(e: JsonRejection) -> WebError {
    let (status, code) = match &e {
        JsonRejection::MissingJsonContentType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        JsonRejection::JsonSyntaxError(_) => (StatusCode::BAD_REQUEST, "bad_request"),
        _ => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
    };
    let detail: String = e.body_text().chars().take(400).collect();
    let hint = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => " Send the body as JSON with \"Content-Type: application/json\".",
        _ => " See the request's schema in /api/v1/openapi.json.",
    };
    WebError::new(status, code, format!("{detail}.{hint}"))
}
