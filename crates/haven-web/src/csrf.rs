//! Cross-site request forgery protection on every state-changing request.
//!
//! Three checks, all of which must pass for POST, PUT, PATCH and DELETE:
//! 1. Fetch metadata: a browser's `Sec-Fetch-Site` must be `same-origin` (or `none`, typed by the user);
//! 2. `Origin`, when sent, must be Haven's own origin;
//! 3. a synchroniser token: the `__Host-haven-csrf` cookie (random, Secure, HttpOnly,
//!    SameSite=Strict; the `__Host-` prefix stops a sibling host from planting it) must equal the
//!    `X-CSRF-Token` header or the `csrf_token` form field, compared in constant time.
//!
//! A refusal is a 403 with code `csrf_failed` and an audit event. The `/api/` surface authenticates
//! with bearer tokens, never cookies, so it carries no ambient authority and is exempt; so is a
//! request to the upload endpoint `/transfer/uploads` that carries a Bearer token, which its
//! handler then judges alone (a cross-site page cannot add that header without a CORS preflight, which Haven
//! never grants), and anything under a drop-off link, where the link in the URL is the only
//! authority and no cookie is read.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{AppState, WebError, paths};

pub const COOKIE: &str = "__Host-haven-csrf";
pub const FIELD: &str = "csrf_token";
pub const HEADER: &str = "x-csrf-token";

/// The token to embed in forms, put in the request's extensions for handlers.
#[derive(Clone, Debug)]
pub struct CsrfToken(pub String);

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    crate::source::token_cookie(headers, COOKIE)
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("multipart/form-data"))
}

fn unsafe_method(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

/// The host the client addressed: `Host` in HTTP/1.1, the `:authority` in HTTP/2.
fn host_of(request: &Request) -> String {
    request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default()
}

/// `public_url` is Haven's configured origin; `host` the one this request addressed (over HTTP/2
/// browsers send no Host header and the authority may not reach the router, so both count).
fn origin_ok(headers: &HeaderMap, host: &str, public_url: &str) -> Result<(), &'static str> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err("the request came from another site");
    }
    let same_site = headers.get("sec-fetch-site").is_some_and(|v| v == "same-origin");
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
        // Under `Referrer-Policy: no-referrer` browsers send `Origin: null` on form posts; the
        // fetch metadata then vouches for the origin (and the token is still checked).
        && !(origin == "null" && same_site)
        && origin != format!("https://{host}")
        && origin != public_url.trim_end_matches('/')
    {
        return Err("the request's Origin is not this site");
    }
    Ok(())
}

fn form_field(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body).find(|(k, _)| k == FIELD).map(|(_, v)| v.into_owned())
}

async fn refuse(state: &AppState, request_path: &str, source: String, why: &'static str) -> Response {
    let visitor = haven_core::caller::Caller::anonymous(&source, "");
    if let Err(e) = state.service.csrf_refused(&visitor, request_path, why).await {
        tracing::error!(error = %e, "could not audit a CSRF refusal");
    }
    WebError::new(
        StatusCode::FORBIDDEN,
        "csrf_failed",
        format!("This form could not be accepted: {why}. Reload the page and submit it again from Haven itself."),
    )
    .into_response()
}

pub async fn protect(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let cookie = cookie_value(request.headers());
    let path = request.uri().path();
    // Only the upload endpoint (and receipts under it), and only with a Bearer token: a
    // browser adds Basic or Negotiate credentials by itself, never a Bearer one.
    let bearer_upload = path.starts_with(paths::TRANSFER_UPLOADS_BARE)
        && request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"));
    let exempt = path.starts_with(paths::API_PREFIX) || path.starts_with(paths::TRANSFER_DROP) || bearer_upload;
    if exempt || !unsafe_method(request.method()) {
        let (token, fresh) = match cookie {
            Some(t) => (t, false),
            None => match haven_crypto::token::new_token(state.rng.as_ref()) {
                Ok(t) => (t.secret.to_string(), true),
                Err(e) => return WebError::internal(e).into_response(),
            },
        };
        request.extensions_mut().insert(CsrfToken(token.clone()));
        let mut response = next.run(request).await;
        if fresh
            && let Ok(v) =
                HeaderValue::from_str(&format!("{COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict"))
        {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
        return response;
    }

    let source = crate::source::address(request.extensions());
    let path = request.uri().path().to_string();
    if let Err(why) = origin_ok(request.headers(), &host_of(&request), &state.config.public_url) {
        return refuse(&state, &path, source, why).await;
    }

    let Some(expected) = cookie else {
        return refuse(&state, &path, source, "the security cookie is missing (are cookies enabled?)").await;
    };
    let presented = request.headers().get(HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
    let presented = match presented {
        Some(p) => p,
        None if is_multipart(request.headers()) => {
            // A multipart body cannot be read here without buffering an upload, so multipart forms
            // carry the token in their action's query string (never logged; no Referer is sent).
            match request.uri().query().and_then(|q| form_field(q.as_bytes())) {
                Some(field) => field,
                None => return refuse(&state, &path, source, "the security token is missing").await,
            }
        }
        None => {
            let is_form = request
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
            if !is_form {
                return refuse(&state, &path, source, "the security token is missing").await;
            }
            // Forms are small; the body limit bounds what is buffered here.
            let (parts, body) = request.into_parts();
            let bytes = match axum::body::to_bytes(body, state.config.max_body_bytes).await {
                Ok(b) => b,
                Err(_) => {
                    return WebError::from_status(StatusCode::PAYLOAD_TOO_LARGE).into_response();
                }
            };
            let Some(field) = form_field(&bytes) else {
                return refuse(&state, &path, source, "the security token is missing").await;
            };
            request = Request::from_parts(parts, Body::from(bytes));
            field
        }
    };
    if !haven_crypto::ct_eq(presented.as_bytes(), expected.as_bytes()) {
        return refuse(&state, &path, source, "the security token does not match").await;
    }
    request.extensions_mut().insert(CsrfToken(expected));
    next.run(request).await
}

/// A request on the web sessions' origin: one that changes something must come from that origin
/// (the application, JupyterLab, cannot send Haven's token; it checks its own XSRF token). A
/// read does not count as use of the sign-in ([`crate::session::Quiet`]): an open JupyterLab
/// polls, and an unattended screen must still be signed out.
pub async fn protect_web_sessions(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let cookie = cookie_value(request.headers()).unwrap_or_default();
    if unsafe_method(request.method()) {
        let source = crate::source::address(request.extensions());
        let path = request.uri().path().to_string();
        if let Err(why) = origin_ok(request.headers(), &host_of(&request), &state.config.sessions_url) {
            return refuse(&state, &path, source, why).await;
        }
    } else if !request.headers().contains_key(header::UPGRADE) {
        request.extensions_mut().insert(crate::session::Quiet);
    }
    request.extensions_mut().insert(CsrfToken(cookie));
    let mut response = next.run(request).await;
    // Sign-in and Haven's other pages are on Haven's own origin: a redirect to one goes there.
    if let Some(location) = response.headers().get(header::LOCATION).and_then(|l| l.to_str().ok())
        && location.starts_with('/')
        && !location.starts_with("//")
        && !paths::is_app_session_web_path(location)
        && let Ok(v) = HeaderValue::from_str(&format!("{}{location}", state.config.public_url))
    {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_decode() {
        assert_eq!(form_field(b"a=1&csrf_token=abc%2Dd+e&b=2").as_deref(), Some("abc-d e"));
        assert_eq!(form_field(b"a=1"), None);
    }

    #[test]
    fn cross_site_requests_are_refused() {
        let host = "haven.example:8443";
        let mut h = HeaderMap::new();
        let public = "https://haven.example:8443";
        assert!(origin_ok(&h, host, public).is_ok());
        h.insert(header::ORIGIN, HeaderValue::from_static("https://haven.example:8443"));
        assert!(origin_ok(&h, host, public).is_ok());
        assert!(origin_ok(&h, "", public).is_ok(), "HTTP/2 without a Host header: the configured origin");
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(origin_ok(&h, host, public).is_err());
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        h.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(origin_ok(&h, host, public).is_err());
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(origin_ok(&h, host, public).is_ok(), "no-referrer form posts from the same origin");
        h.remove("sec-fetch-site");
        assert!(origin_ok(&h, host, public).is_err(), "an opaque origin with nothing to vouch for it");
    }
}
