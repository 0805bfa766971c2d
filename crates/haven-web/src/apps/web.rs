//! A web session through Haven (JupyterLab), on the web sessions' own origin
//! ([`crate::sessions_router`]): every request under `/apps/sessions/<id>/lab/` is its owner's
//! alone (anyone else gets 404, audited, as for a terminal), and goes to the application's Unix
//! socket, WebSockets included, with the session's path as its base URL (as Open OnDemand's
//! `/node/` proxy does, so nothing is rewritten). Whatever answers there is the session's, not
//! Haven's (a process in the sandbox can replace JupyterLab): hence the origin of its own, and a
//! response whose headers Haven chooses (an allowlist), never a service worker.
//!
//! What Haven refuses at this door, whatever the application would do: its download and export
//! endpoints (`files/`, `nbconvert/`, `view/`): files leave only through an output request; its
//! uploads (a contents write in base64 or in chunks, which is how JupyterLab uploads and takes
//! dropped files): data comes in only through File Transfer. Each refusal is a 403 with why, and
//! an audit event. Messages from the browser are at most [`MAX_MESSAGE`] (code, not datasets).
//!
//! What the browser sends is held to Haven's own rules: Haven's cookies never reach the
//! application (only Jupyter's `_xsrf` and `username-…` cookies pass, both ways), a state-changing
//! request or a WebSocket must come from Haven's own origin (the CSRF layer checks the first;
//! Jupyter's XSRF token is checked by Jupyter, which runs without a token of its own so that its
//! check stays on), and the application's peer credentials on the socket must be the session's.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use haven_core::caller::Caller;
use haven_core::workspaces::sessions::{Sessions, WebEndpoint};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite;

use super::reach::{AppStream, CONNECT_WITHIN, Unreachable};
use crate::session::Page;
use crate::{AppState, WebError};

/// The largest message the browser may send over a web session's WebSocket (a cell's code):
/// 1 MiB. Over it, the socket closes with 1009 and why.
pub const MAX_MESSAGE: usize = 1024 * 1024;
/// The largest request body the browser may send (a notebook saved with its outputs): 16 MiB.
pub const MAX_BODY: usize = 16 * 1024 * 1024;
/// How often an open WebSocket's right to stay open is asked again.
const RECHECK_EVERY: Duration = Duration::from_secs(30);

/// The request headers an application is given (Haven's cookies, its CSRF header and any
/// credentials stay out); the cookies it may see are filtered below. `Host` is always Haven's
/// public one (over HTTP/2 a browser sends none), which is also the only `Origin` let through.
const FORWARDED: [HeaderName; 11] = [
    header::ACCEPT,
    header::ACCEPT_ENCODING,
    header::ACCEPT_LANGUAGE,
    header::CACHE_CONTROL,
    header::CONTENT_TYPE,
    header::IF_MODIFIED_SINCE,
    header::IF_NONE_MATCH,
    header::ORIGIN,
    header::REFERER,
    header::USER_AGENT,
    header::PRAGMA,
];

/// The application's response headers that reach the browser (its cookies apart, below): no
/// `Content-Disposition` (no file handed over as a download), no `Service-Worker-Allowed`, no
/// `Clear-Site-Data`, no CORS; Haven sets the security headers itself.
const KEPT: [HeaderName; 10] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_ENCODING,
    header::CONTENT_LANGUAGE,
    header::CACHE_CONTROL,
    header::ETAG,
    header::LAST_MODIFIED,
    header::EXPIRES,
    header::LOCATION,
    header::VARY,
];
/// At most this many cookies of the application's, each at most this long: they are the host's,
/// sent with Haven's own requests too.
const MAX_COOKIES: usize = 4;
const MAX_COOKIE_BYTES: usize = 512;
/// The largest message the application may send the browser (a plot in a cell's output).
const MAX_APP_MESSAGE: usize = 16 * 1024 * 1024;
/// How long a relayed message may wait for the other side to take it.
const SEND_WITHIN: Duration = Duration::from_secs(30);

/// What a web session's pages may do: its own scripts (JupyterLab compiles its settings'
/// validators at run time: `unsafe-eval`), inline styles, images and fonts as data, its own
/// WebSockets; nothing from elsewhere, and no framing.
const POLICY: &str = "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src blob:; \
     object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'";

/// Cookies the application set for itself: Jupyter's XSRF token and its user's name.
fn applications_cookie(name: &str) -> bool {
    name == "_xsrf" || name.starts_with("username-")
}

fn refused(status: StatusCode, code: &'static str, message: &str) -> WebError {
    WebError::new(status, code, message.to_string())
}

/// Why Haven refuses `rel` (the path under the session's base URL) for `method`, if it does:
/// a download or an export. Uploads are judged on their body ([`is_upload`]).
fn refused_path(rel: &str) -> Option<&'static str> {
    // Reading contents (to show them) is allowed: viewing and downloading are one API in
    // Jupyter, so what is on the screen is the residual risk (docs/applications.md). The first
    // segment is judged decoded and in any case (`%66iles`, `Files`): stricter than the
    // application, which routes on the raw path.
    let first = percent_decoded(rel.split('/').next().unwrap_or_default()).to_ascii_lowercase();
    match first.as_str() {
        "files" | "view" => Some("download"),
        "nbconvert" => Some("export"),
        _ => None,
    }
}

/// A path with `//`, `.` or `..` segments, or an encoded separator or dot, which could mean
/// something other than it seems to the application behind.
fn ambiguous(rel: &str) -> bool {
    let lower = rel.to_ascii_lowercase();
    rel.contains("//")
        || rel.split('/').any(|seg| seg == "." || seg == "..")
        || ["%2f", "%5c", "%2e", "%00", "\\"].iter().any(|bad| lower.contains(bad))
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a contents write may carry a file from the user's computer: JupyterLab uploads (and
/// takes dropped files) as base64, in chunks when large; saving what was edited in the page is
/// text or JSON (or no content: a new folder, a rename). A body Haven cannot read as a JSON
/// object counts as one (Python's parser takes what serde's refuses, `NaN` say: what Haven
/// cannot judge, it does not pass on).
fn is_upload(body: &[u8]) -> bool {
    if body.is_empty() {
        return false;
    }
    let Ok(serde_json::Value::Object(model)) = serde_json::from_slice::<serde_json::Value>(body) else { return true };
    let format_ok = match model.get("format") {
        None | Some(serde_json::Value::Null) => true,
        Some(serde_json::Value::String(f)) => f == "text" || f == "json",
        Some(_) => false,
    };
    !format_ok || model.contains_key("chunk")
}

/// Every request under a web session's path.
pub async fn proxy(
    State(state): State<AppState>,
    Page { who, .. }: Page,
    Path(params): Path<HashMap<String, String>>,
    request: Request,
) -> Result<Response, WebError> {
    let id = params.get("id").cloned().unwrap_or_default();
    let (mut parts, body) = request.into_parts();
    // The path under the session's base URL, as the application will see it.
    let base = haven_core::paths::app_session_web(&id);
    let Some(rel) = parts.uri.path().strip_prefix(base.as_str()).map(str::to_string) else {
        return Err(refused(StatusCode::NOT_FOUND, "not_found", "There is nothing at this address."));
    };
    let websocket = parts.headers.get(header::UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let used = websocket || !matches!(parts.method, Method::GET | Method::HEAD);
    // Someone else's session, or none: 404 (audited), before anything else is said.
    let (session, endpoint) = state.sessions.web(&who, &id, used).await?;
    if session.kind != haven_core::workspaces::catalogue::AppKind::Web {
        return Err(refused(StatusCode::NOT_FOUND, "not_found", "There is nothing at this address."));
    }
    if ambiguous(&rel) {
        return Err(refused(StatusCode::BAD_REQUEST, "ambiguous_path", "This address is not one a session serves."));
    }
    // A service worker would outlive the page and the sign-in: none is let in.
    if parts.headers.get("service-worker").is_some() {
        state.sessions.transfer_refused(&who, &id, "service worker", parts.uri.path()).await?;
        return Err(refused(
            StatusCode::FORBIDDEN,
            "worker_refused",
            "A session's page may not install a service worker.",
        ));
    }
    if let Some(what) = refused_path(&rel) {
        state.sessions.transfer_refused(&who, &id, what, parts.uri.path()).await?;
        return Err(refused(
            StatusCode::FORBIDDEN,
            "download_refused",
            "Files leave Haven only through an output request: downloading and exporting from a session are off.",
        ));
    }
    if websocket {
        let origin = parts.headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()).unwrap_or_default();
        if origin.trim_end_matches('/') != state.config.sessions_url {
            tracing::warn!(origin, "a web session's WebSocket from another site was refused");
            return Err(refused(
                StatusCode::FORBIDDEN,
                "origin_refused",
                "A session opens only from Haven's own pages.",
            ));
        }
        let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &state)
            .await
            .map_err(|_| refused(StatusCode::BAD_REQUEST, "bad_upgrade", "This WebSocket request is malformed."))?;
        let origin = state.config.sessions_url.clone();
        return websocket_bridge(state.sessions.clone(), who, id, endpoint, &parts, upgrade, &origin).await;
    }
    let body = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "Over 16 MiB: a session takes code and notebooks, not data (data comes in through File Transfer).",
        )
    })?;
    if matches!(parts.method, Method::PUT | Method::POST | Method::PATCH)
        && rel.starts_with("api/contents")
        && is_upload(&body)
    {
        state.sessions.transfer_refused(&who, &id, "upload", parts.uri.path()).await?;
        return Err(refused(
            StatusCode::FORBIDDEN,
            "upload_refused",
            "Data comes into Haven only through File Transfer: uploading into a session is off.",
        ));
    }
    let stream = connect(&endpoint).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| unavailable(&e.to_string()))?;
    tokio::spawn(connection);
    let mut forwarded = hyper::Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    if let Some(h) = forwarded.headers_mut() {
        copy_request_headers(&parts.headers, h, &state.config.sessions_url);
        if !body.is_empty() || !matches!(parts.method, Method::GET | Method::HEAD) {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
    }
    let forwarded = forwarded.body(Body::from(body)).map_err(WebError::internal)?;
    let answer = sender.send_request(forwarded).await.map_err(|e| unavailable(&e.to_string()))?;
    let (mut head, incoming) = answer.into_parts();
    filter_response_headers(&mut head.headers, &base, !rel.starts_with("static/"));
    let mut response = Response::from_parts(head, Body::new(incoming));
    response.extensions_mut().insert(crate::error::OwnBody);
    Ok(response)
}

/// Whether the caller's web session's application answers yet: `{"ready": …}`, for its page on
/// Haven's own origin (which cannot ask the sessions' origin itself).
pub async fn ready(
    State(state): State<AppState>,
    Page { who, .. }: Page,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let (session, endpoint) = state.sessions.web(&who, &id, false).await?;
    if session.kind != haven_core::workspaces::catalogue::AppKind::Web {
        return Ok(axum::Json(serde_json::json!({ "ready": true })).into_response());
    }
    let answers = async {
        let stream = connect(&endpoint).await.ok()?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.ok()?;
        tokio::spawn(connection);
        let status = format!("{}api/status", haven_core::paths::app_session_web(&id));
        let mut ask = hyper::Request::get(status).body(Body::empty()).ok()?;
        copy_request_headers(&HeaderMap::new(), ask.headers_mut(), &state.config.sessions_url);
        Some(sender.send_request(ask).await.ok()?.status().is_success())
    };
    let ready = tokio::time::timeout(CONNECT_WITHIN, answers).await.ok().flatten().unwrap_or(false);
    Ok(axum::Json(serde_json::json!({ "ready": ready })).into_response())
}

/// The application is not listening (yet): 503, and the page says to wait.
fn unavailable(why: &str) -> WebError {
    tracing::debug!(why, "a web session's application did not answer");
    refused(
        StatusCode::SERVICE_UNAVAILABLE,
        "starting",
        "The application is not answering yet: it may still be starting. Try again in a few seconds.",
    )
}

/// A connection to the application ([`super::reach`]), or why not as the page says it.
pub(super) async fn connect(endpoint: &WebEndpoint) -> Result<AppStream, WebError> {
    super::reach::connect(endpoint).await.map_err(|e| match e {
        Unreachable::NotYet(why) => unavailable(&why),
        Unreachable::WrongPeer => refused(
            StatusCode::BAD_GATEWAY,
            "wrong_peer",
            "The session's application could not be reached safely. Stop the session and start a new one.",
        ),
    })
}

fn copy_request_headers(from: &HeaderMap, to: &mut HeaderMap, public_url: &str) {
    let host = public_url.split_once("://").map_or(public_url, |(_, rest)| rest).trim_end_matches('/');
    if let Ok(h) = HeaderValue::from_str(host) {
        to.insert(header::HOST, h);
    }
    for name in FORWARDED
        .iter()
        .chain([HeaderName::from_static("x-xsrftoken"), HeaderName::from_static("x-requested-with")].iter())
    {
        for v in from.get_all(name) {
            to.append(name.clone(), v.clone());
        }
    }
    let cookies: Vec<String> = from
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| c.split_once('=').is_some_and(|(name, _)| applications_cookie(name)))
        .map(str::to_string)
        .collect();
    if let Ok(v) = HeaderValue::from_str(&cookies.join("; "))
        && !cookies.is_empty()
    {
        to.insert(header::COOKIE, v);
    }
}

/// Keeps the headers in [`KEPT`], and the application's own cookies, few and small, kept to the
/// session's path; adds Haven's policy for the page, and `no-store` on what is not a static file
/// (the contents API returns files' bytes; they are not left in the browser's cache).
fn filter_response_headers(headers: &mut HeaderMap, base: &str, no_store: bool) {
    let mut kept = HeaderMap::new();
    for name in KEPT {
        for v in headers.get_all(&name) {
            kept.append(name.clone(), v.clone());
        }
    }
    let cookies = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|c| c.len() <= MAX_COOKIE_BYTES)
        .filter_map(|c| {
            let (pair, _) = c.split_once(';').unwrap_or((c, ""));
            let (name, _) = pair.split_once('=')?;
            applications_cookie(name.trim()).then(|| format!("{}; Path={base}; Secure; SameSite=Strict", pair.trim()))
        })
        .take(MAX_COOKIES);
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            kept.append(header::SET_COOKIE, v);
        }
    }
    if no_store {
        kept.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    kept.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    *headers = kept;
}

// Why a web session's socket closed (a close frame's reason holds at most 123 bytes).
const TOO_BIG: &str = "Over 1 MiB: send code, not data (data comes in through File Transfer).";
const REVOKED: &str = "Closed: you signed out, or may no longer use this session. Sign in to reopen it.";

/// Opens the same WebSocket to the application (its subprotocol, its XSRF cookie), then
/// relays messages both ways until either side closes.
async fn websocket_bridge(
    sessions: std::sync::Arc<Sessions>,
    who: Caller,
    id: String,
    endpoint: WebEndpoint,
    parts: &axum::http::request::Parts,
    upgrade: WebSocketUpgrade,
    public_url: &str,
) -> Result<Response, WebError> {
    let stream = connect(&endpoint).await?;
    let uri = format!("ws://localhost{}", parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let mut request = tungstenite::client::IntoClientRequest::into_client_request(uri.as_str())
        .map_err(|e| refused(StatusCode::BAD_REQUEST, "bad_upgrade", &e.to_string()))?;
    copy_request_headers(&parts.headers, request.headers_mut(), public_url);
    if let Some(p) = parts.headers.get(header::SEC_WEBSOCKET_PROTOCOL) {
        request.headers_mut().insert(header::SEC_WEBSOCKET_PROTOCOL, p.clone());
    }
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_APP_MESSAGE))
        .max_frame_size(Some(MAX_APP_MESSAGE));
    let (app, answer) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .map_err(|e| unavailable(&e.to_string()))?;
    let mut upgrade = upgrade.max_message_size(MAX_MESSAGE * 4).max_frame_size(MAX_MESSAGE * 4);
    if let Some(chosen) = answer.headers().get(header::SEC_WEBSOCKET_PROTOCOL).and_then(|p| p.to_str().ok()) {
        upgrade = upgrade.protocols([chosen.to_string()]);
    }
    Ok(upgrade.on_upgrade(move |browser| relay(browser, app, sessions, who, id)))
}

type AppSocket = tokio_tungstenite::WebSocketStream<AppStream>;

async fn relay(browser: WebSocket, app: AppSocket, sessions: std::sync::Arc<Sessions>, who: Caller, id: String) {
    let (mut to_browser, mut from_browser) = browser.split();
    let (mut to_app, mut from_app) = app.split();
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK_EVERY, RECHECK_EVERY);
    let mut last_use = tokio::time::Instant::now();
    let closing = loop {
        tokio::select! {
            _ = ticks.tick() => {
                let quiet_us = i64::try_from(last_use.elapsed().as_micros()).unwrap_or(i64::MAX);
                if !sessions.still_attached(&who, &id, quiet_us).await.unwrap_or(false) {
                    break Some((1008, REVOKED));
                }
            }
            msg = from_app.next() => {
                let out = match msg {
                    Some(Ok(tungstenite::Message::Text(t))) => Message::Text(t.as_str().into()),
                    Some(Ok(tungstenite::Message::Binary(b))) => Message::Binary(b),
                    Some(Ok(tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) | tungstenite::Message::Frame(_))) => continue,
                    Some(Ok(tungstenite::Message::Close(_))) | Some(Err(_)) | None => break Some((1000, "The application closed the connection.")),
                };
                if !matches!(tokio::time::timeout(SEND_WITHIN, to_browser.send(out)).await, Ok(Ok(()))) {
                    break None;
                }
            }
            msg = from_browser.next() => {
                let size = match &msg {
                    Some(Ok(Message::Binary(b))) => b.len(),
                    Some(Ok(Message::Text(t))) => t.len(),
                    _ => 0,
                };
                if size > MAX_MESSAGE {
                    break Some((1009, TOO_BIG));
                }
                let out = match msg {
                    Some(Ok(Message::Text(t))) => tungstenite::Message::Text(t.as_str().into()),
                    Some(Ok(Message::Binary(b))) => tungstenite::Message::Binary(b),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Err(e)) if e.to_string().contains("too long") => break Some((1009, TOO_BIG)),
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break None,
                };
                last_use = tokio::time::Instant::now();
                sessions.touched(&id);
                if !matches!(tokio::time::timeout(SEND_WITHIN, to_app.send(out)).await, Ok(Ok(()))) {
                    break Some((1000, "The application closed the connection."));
                }
            }
        }
    };
    let _ = tokio::time::timeout(SEND_WITHIN, to_app.close()).await;
    let (code, reason) = closing.unwrap_or((1000, ""));
    let close = Message::Close(Some(CloseFrame { code, reason: reason.into() }));
    let _ = tokio::time::timeout(SEND_WITHIN, to_browser.send(close)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downloads_and_exports_are_refused_by_path() {
        assert_eq!(refused_path("files/S/cohort.csv"), Some("download"));
        assert_eq!(refused_path("files"), Some("download"));
        assert_eq!(refused_path("nbconvert/html/N/a.ipynb"), Some("export"));
        assert_eq!(refused_path("nbconvert/html"), Some("export"));
        assert_eq!(refused_path("view/N/a.html"), Some("download"));
        assert_eq!(refused_path("api/contents/N/a.ipynb"), None);
        assert_eq!(refused_path("lab"), None);
        assert_eq!(refused_path("filesystem"), None);
        assert_eq!(refused_path("%66iles/S/x.csv"), Some("download"));
        assert_eq!(refused_path("Files/S/x.csv"), Some("download"));
        assert!(ambiguous("api/../files/x") && ambiguous("//files") && ambiguous("api/contents/%2e%2e/x"));
        assert!(!ambiguous("api/contents/N/My%20analysis.ipynb"));
    }

    #[test]
    fn uploads_are_told_from_saves() {
        assert!(is_upload(br#"{"type":"file","format":"base64","content":"AAAA"}"#));
        assert!(is_upload(br#"{"type":"file","format":"text","chunk":2,"content":"a"}"#));
        assert!(!is_upload(br#"{"type":"notebook","format":"json","content":{}}"#));
        assert!(!is_upload(br#"{"type":"file","format":"text","content":"print(1)"}"#));
        assert!(is_upload(b"not json"), "what Haven cannot read, it does not pass on");
        assert!(is_upload(br#"{"type":"file","format":"base64","content":"AA","x":NaN}"#));
        assert!(is_upload(br#"{"format":"hex"}"#));
        assert!(!is_upload(br#"{"type":"directory"}"#) && !is_upload(br#"{"path":"N/b.ipynb"}"#) && !is_upload(b""));
    }

    #[test]
    fn only_the_applications_cookies_pass() {
        let mut from = HeaderMap::new();
        from.insert(header::COOKIE, HeaderValue::from_static("__Host-haven-session=secret; _xsrf=abc; username-x=y"));
        from.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        from.insert("x-csrf-token", HeaderValue::from_static("t"));
        let mut to = HeaderMap::new();
        from.insert(header::HOST, HeaderValue::from_static("elsewhere.example"));
        copy_request_headers(&from, &mut to, "https://haven.example:8443");
        assert_eq!(to.get(header::COOKIE).unwrap(), "_xsrf=abc; username-x=y");
        assert_eq!(to.get(header::HOST).unwrap(), "haven.example:8443");
        assert!(to.get(header::AUTHORIZATION).is_none() && to.get("x-csrf-token").is_none());
        let mut back = HeaderMap::new();
        back.append(header::SET_COOKIE, HeaderValue::from_static("__Host-haven-session=evil; Path=/"));
        back.append(header::SET_COOKIE, HeaderValue::from_static("_xsrf=new; Path=/"));
        back.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=x.csv"));
        back.insert("service-worker-allowed", HeaderValue::from_static("/"));
        back.insert("clear-site-data", HeaderValue::from_static("\"cookies\""));
        back.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"));
        filter_response_headers(&mut back, "/apps/sessions/x/lab/", true);
        let set: Vec<_> = back.get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(set, vec!["_xsrf=new; Path=/apps/sessions/x/lab/; Secure; SameSite=Strict"]);
        assert_eq!(back.get(header::CONTENT_SECURITY_POLICY).unwrap(), POLICY);
        assert_eq!(back.get(header::CACHE_CONTROL).unwrap(), "no-store");
        assert_eq!(back.get(header::CONTENT_TYPE).unwrap(), "text/csv");
        for gone in ["content-disposition", "service-worker-allowed", "clear-site-data"] {
            assert!(back.get(gone).is_none(), "{gone}");
        }
    }
}
