//! tus 1.0 over HTTP: creation (with upload, or with the length deferred), HEAD, PATCH,
//! termination, OPTIONS, and `X-HTTP-Method-Override` for clients behind proxies that pass only
//! GET and POST. The headers are read by `haven_core::transfer::tus`; the bytes go to
//! `Transfer`, which seals them part by part and acknowledges an offset only once it is durable.
//!
//! A member sends with their session (the browser page, which also sends `X-CSRF-Token`) or
//! with a read-write personal API token (`Authorization: Bearer`, for `haven upload` and any tus
//! client); a request that carries an `Authorization` header is judged by it alone. A provider
//! sends through a drop-off link: the same endpoint under `/transfer/drop/<secret>/uploads/`,
//! with the link's password, if it has one, in `Haven-Link-Password`; no cookie is read there.
//! Refusals are plain text, as tus clients show them, with `Tus-Resumable` and the status the
//! protocol gives.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use haven_core::CoreError;
use haven_core::blobs::{BlobError, ByteStream};
use haven_core::caller::Caller;
use haven_core::identity::api_tokens::ApiAuth;
use haven_core::transfer::links::{LinkAuth, Password};
use haven_core::transfer::store::UploadRecord;
use haven_core::transfer::tus::{self, Length};
use haven_core::transfer::uploads::{Append, NewUpload, TransferError};

use crate::error::OwnBody;
use crate::{AppState, WebError, paths};

const ALLOW_COLLECTION: &str = "OPTIONS, POST";
const ALLOW_RESOURCE: &str = "OPTIONS, HEAD, PATCH, DELETE";
/// The SHA-256 of a complete upload's bytes, as Haven computed them: for an end-to-end check.
const SHA256_HEADER: &str = "haven-upload-sha256";

/// How the sender gets in: as a member, or through the drop-off link whose secret is in the URL.
enum Door {
    Member,
    Link(String),
}

impl Door {
    fn upload_url(&self, id: &str) -> String {
        match self {
            Door::Member => paths::transfer_upload(id),
            Door::Link(secret) => paths::transfer_drop_upload(secret, id),
        }
    }
}

/// `/transfer/uploads/`: OPTIONS (what the server offers) and POST (a new upload).
pub async fn collection(State(state): State<AppState>, request: Request) -> Response {
    serve_collection(&state, Door::Member, request).await
}

/// `/transfer/uploads/{id}`: HEAD (where it stands), PATCH (more bytes), DELETE (end it).
pub async fn resource(State(state): State<AppState>, Path(id): Path<String>, request: Request) -> Response {
    serve_resource(&state, Door::Member, &id, request).await
}

/// `/transfer/drop/{token}/uploads/`: as [`collection`], through a drop-off link.
pub async fn drop_collection(State(state): State<AppState>, Path(token): Path<String>, request: Request) -> Response {
    serve_collection(&state, Door::Link(token), request).await
}

/// `/transfer/drop/{token}/uploads/{id}`: as [`resource`], through a drop-off link.
pub async fn drop_resource(
    State(state): State<AppState>,
    Path((token, id)): Path<(String, String)>,
    request: Request,
) -> Response {
    serve_resource(&state, Door::Link(token), &id, request).await
}

/// `…/uploads/{id}/receipt`: the signed receipt of a complete upload, for whoever sent it.
pub async fn receipt(State(state): State<AppState>, Path(id): Path<String>, request: Request) -> Response {
    serve_receipt(&state, Door::Member, &id, request).await
}

pub async fn drop_receipt(
    State(state): State<AppState>,
    Path((token, id)): Path<(String, String)>,
    request: Request,
) -> Response {
    serve_receipt(&state, Door::Link(token), &id, request).await
}

async fn serve_receipt(state: &AppState, door: Door, id: &str, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    if parts.method != axum::http::Method::GET {
        return not_allowed("GET");
    }
    let answer = async {
        let who = sender(state, &door, &parts).await?;
        let receipt = state.transfer.receipt(&who, id).await.map_err(failure)?;
        let mut r = axum::Json(receipt).into_response();
        let name = format!("attachment; filename=\"haven-receipt-{id}.json\"");
        insert(r.headers_mut(), header::CONTENT_DISPOSITION, &name);
        r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok::<_, Response>(r)
    };
    answer.await.unwrap_or_else(|refused| refused)
}

async fn serve_collection(state: &AppState, door: Door, request: Request) -> Response {
    // Parts, not the request, are held across awaits: a body is not `Sync`.
    let (parts, body) = request.into_parts();
    match method_of(&parts).as_str() {
        "OPTIONS" => options(state),
        "POST" => create(state, &door, parts, body).await.unwrap_or_else(|refused| refused),
        _ => not_allowed(ALLOW_COLLECTION),
    }
}

async fn serve_resource(state: &AppState, door: Door, id: &str, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let method = method_of(&parts);
    // Ids are 32 hex digits: anything else is not an upload, and costs no database read.
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return if method == "OPTIONS" { options(state) } else { not_found() };
    }
    let answer = match method.as_str() {
        "OPTIONS" => Ok(options(state)),
        "HEAD" => head(state, &door, id, &parts).await,
        "PATCH" => patch(state, &door, id, &parts, body).await,
        "DELETE" => terminate(state, &door, id, &parts).await,
        _ => Ok(not_allowed(ALLOW_RESOURCE)),
    };
    answer.unwrap_or_else(|refused| refused)
}

/// The method the request means (a POST may name another in `X-HTTP-Method-Override`).
fn method_of(parts: &Parts) -> String {
    let over = text(&parts.headers, "x-http-method-override");
    tus::effective_method(parts.method.as_str(), over).to_ascii_uppercase()
}

fn text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn options(state: &AppState) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    protocol_headers(h);
    h.insert("tus-version", HeaderValue::from_static(tus::VERSION));
    h.insert("tus-extension", HeaderValue::from_static(tus::EXTENSIONS));
    h.insert("tus-checksum-algorithm", HeaderValue::from_static(tus::CHECKSUM_ALGORITHMS));
    h.insert("tus-max-size", HeaderValue::from(state.transfer.config().max_upload_bytes));
    r
}

async fn create(state: &AppState, door: &Door, parts: Parts, body: Body) -> Result<Response, Response> {
    let h = &parts.headers;
    tus::check_version(text(h, "tus-resumable")).map_err(refusal)?;
    let length = tus::creation_length(text(h, "upload-length"), text(h, "upload-defer-length")).map_err(refusal)?;
    if let Length::Known(n) = length
        && n > state.transfer.config().max_upload_bytes
    {
        return Err(failure(TransferError::TooLarge { max: state.transfer.config().max_upload_bytes }));
    }
    let metadata = match text(h, "upload-metadata") {
        Some(m) => tus::parse_metadata(m).map_err(refusal)?,
        None => Vec::new(),
    };
    // A link names its asset; a member names it in the metadata.
    let named = metadata.iter().find(|(k, _)| k == "asset").map(|(_, v)| String::from_utf8_lossy(v).into_owned());
    let Some(asset) = named.or_else(|| matches!(door, Door::Link(_)).then(String::new)) else {
        return Err(plain(
            StatusCode::BAD_REQUEST,
            "Say which asset the file is for: Upload-Metadata needs the key `asset`, with the asset's name in base64.",
        ));
    };
    // creation-with-upload: the first bytes may come in the creation request itself.
    let with_body = is_offset_stream(h);
    if !with_body && has_body(h) {
        return Err(wrong_type());
    }
    let checksum = checksum_of(h).map_err(refusal)?;
    let who = sender(state, door, &parts).await?;
    let new = NewUpload { asset: asset.clone(), length, metadata };
    let mut upload = match state.transfer.create(&who, new).await {
        Ok(u) => u,
        Err(TransferError::Core(CoreError::NotFound)) => {
            return Err(plain(StatusCode::NOT_FOUND, &format!("There is no asset named {asset:?}: check its name.")));
        }
        Err(e) => return Err(failure(e)),
    };
    let location = door.upload_url(&upload.id);
    if with_body {
        let body = idle_limited(body, idle(state));
        let first = Append { offset: 0, length: None, checksum, body };
        match append(state, &who, &upload.id, first).await {
            Ok(u) => upload = u,
            Err(e) => {
                // The upload exists: the client may resume it (HEAD) or end it (DELETE).
                let mut r = failure(e);
                insert(r.headers_mut(), header::LOCATION, &location);
                return Err(r);
            }
        }
    }
    let mut r = StatusCode::CREATED.into_response();
    insert(r.headers_mut(), header::LOCATION, &location);
    position(r.headers_mut(), &upload);
    Ok(r)
}

async fn head(state: &AppState, door: &Door, id: &str, parts: &Parts) -> Result<Response, Response> {
    tus::check_version(text(&parts.headers, "tus-resumable")).map_err(refusal)?;
    let who = sender(state, door, parts).await?;
    let upload = state.transfer.get(&who, id).await.map_err(failure)?;
    let mut r = StatusCode::OK.into_response();
    let h = r.headers_mut();
    position(h, &upload);
    if upload.length >= 0 {
        h.insert("upload-length", HeaderValue::from(upload.length));
    } else {
        h.insert("upload-defer-length", HeaderValue::from_static("1"));
    }
    if !upload.metadata.is_empty() {
        insert(h, HeaderName::from_static("upload-metadata"), &upload.metadata);
    }
    Ok(r)
}

async fn patch(state: &AppState, door: &Door, id: &str, parts: &Parts, body: Body) -> Result<Response, Response> {
    let h = &parts.headers;
    tus::check_version(text(h, "tus-resumable")).map_err(refusal)?;
    if !is_offset_stream(h) {
        return Err(wrong_type());
    }
    let Some(offset) = text(h, "upload-offset") else {
        return Err(plain(
            StatusCode::BAD_REQUEST,
            "Send Upload-Offset: the offset the bytes start at (HEAD tells it).",
        ));
    };
    let offset = tus::parse_size("Upload-Offset", offset).map_err(refusal)?;
    let length = text(h, "upload-length").map(|l| tus::parse_size("Upload-Length", l)).transpose().map_err(refusal)?;
    let checksum = checksum_of(h).map_err(refusal)?;
    let who = sender(state, door, parts).await?;
    let body = idle_limited(body, idle(state));
    let upload = append(state, &who, id, Append { offset, length, checksum, body }).await.map_err(failure)?;
    let mut r = StatusCode::NO_CONTENT.into_response();
    position(r.headers_mut(), &upload);
    Ok(r)
}

async fn terminate(state: &AppState, door: &Door, id: &str, parts: &Parts) -> Result<Response, Response> {
    tus::check_version(text(&parts.headers, "tus-resumable")).map_err(refusal)?;
    let who = sender(state, door, parts).await?;
    state.transfer.terminate(&who, id).await.map_err(failure)?;
    let mut r = StatusCode::NO_CONTENT.into_response();
    protocol_headers(r.headers_mut());
    Ok(r)
}

/// Store a request's bytes in a task of its own: a client that goes away drops this request's
/// future, and with it anything it awaits; the task still finishes the part it was writing and
/// records it (or deletes it), so no blob is left unrecorded half-way.
async fn append(state: &AppState, who: &Caller, id: &str, bytes: Append) -> Result<UploadRecord, TransferError> {
    let (transfer, who, id) = (state.transfer.clone(), who.clone(), id.to_string());
    match tokio::spawn(async move { transfer.append(&who, &id, bytes).await }).await {
        Ok(outcome) => outcome,
        Err(e) => Err(TransferError::Blob(BlobError::Backend(format!("the upload's task ended: {e}")))),
    }
}

fn idle(state: &AppState) -> Duration {
    Duration::from_secs(state.transfer.config().idle_timeout_secs)
}

/// The request's body as a stream that ends in an error when no bytes come for `idle`: a
/// client that stalls holds no connection and no task for ever, and what arrived is kept.
fn idle_limited(body: Body, idle: Duration) -> ByteStream {
    let data = body.into_data_stream();
    futures::stream::unfold(Some(data), move |state| async move {
        let mut data = state?;
        match tokio::time::timeout(idle, data.next()).await {
            Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some(data))),
            Ok(Some(Err(e))) => Some((Err(std::io::Error::other(e)), None)),
            Ok(None) => None,
            Err(_) => {
                let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "no bytes arrived for too long");
                Some((Err(e), None))
            }
        }
    })
    .boxed()
}

/// Who is sending: the provider holding the link; or a member, by the bearer token when the
/// request carries `Authorization`, else by the session.
async fn sender(state: &AppState, door: &Door, parts: &Parts) -> Result<Caller, Response> {
    let source = crate::source::address(&parts.extensions);
    let agent = crate::source::user_agent(&parts.headers);
    if let Door::Link(secret) = door {
        // Creating an upload needs the link's password; an upload made through the link is
        // reached by its own unguessable id in the URL (see `Password`).
        let password = match parts.uri.path().trim_end_matches('/').ends_with("/uploads") {
            true => {
                Password::Check(text(&parts.headers, LINK_PASSWORD).map(|p| zeroize::Zeroizing::new(p.to_string())))
            }
            false => Password::UploadId,
        };
        return match state.transfer.open_link(secret, password, &source, &agent).await.map_err(core_failure)? {
            LinkAuth::Ok(caller) => Ok(caller),
            LinkAuth::Refused => Err(plain(
                StatusCode::NOT_FOUND,
                "This drop-off link is not known. Check that you copied the whole link.",
            )),
            LinkAuth::Gone => Err(failure(TransferError::LinkGone)),
            LinkAuth::PasswordNeeded => Err(plain(
                StatusCode::UNAUTHORIZED,
                "This drop-off link needs its password: send it in the Haven-Link-Password header (the page and `haven upload --link` ask for it).",
            )),
            LinkAuth::WrongPassword => Err(plain(
                StatusCode::UNAUTHORIZED,
                "The link's password is wrong. Check it with whoever sent you the link.",
            )),
            LinkAuth::RateLimited => {
                let mut r = plain(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many refused attempts from your address. Try again in 15 minutes.",
                );
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("900"));
                Err(r)
            }
        };
    }
    let caller = if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let secret = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_string());
        let Some(secret) = secret else { return Err(unauthenticated(state)) };
        match state.identity.authenticate_api(&secret, &source, &agent).await.map_err(core_failure)? {
            ApiAuth::Ok(caller) => caller,
            ApiAuth::Refused => {
                let message = format!(
                    "This API token is not valid: wrong, expired or revoked, or its account is not active. Make a new one at {}{}.",
                    state.config.public_url,
                    paths::API_TOKENS
                );
                let mut r = plain(StatusCode::UNAUTHORIZED, &message);
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(CHALLENGE));
                return Err(r);
            }
            ApiAuth::RateLimited => {
                let mut r = plain(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many invalid API tokens from your address. Check the token, and try again in 15 minutes.",
                );
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("900"));
                return Err(r);
            }
        }
    } else {
        let Some(secret) = crate::session::cookie_secret(&parts.headers) else {
            return Err(unauthenticated(state));
        };
        match state.identity.authenticate(&secret, &source, &agent).await.map_err(core_failure)? {
            Some(caller) => caller,
            None => return Err(unauthenticated(state)),
        }
    };
    if state.governance.needs_aus(&caller.user_id).await.map_err(core_failure)? {
        let message = format!(
            "There is a new Acceptable Use Statement. Sign in at {}{} and accept it, then send again.",
            state.config.public_url,
            paths::GOV_AUS
        );
        return Err(plain(StatusCode::FORBIDDEN, &message));
    }
    state.governance.gate_roles(caller).await.map_err(core_failure)
}

const CHALLENGE: &str = "Bearer realm=\"Haven transfer\"";
/// The header a drop-off link's password comes in.
const LINK_PASSWORD: &str = "haven-link-password";

fn unauthenticated(state: &AppState) -> Response {
    let message = format!(
        "Sign in to Haven, or send a read-write personal API token as \"Authorization: Bearer <token>\" (make one at {}{}).",
        state.config.public_url,
        paths::API_TOKENS
    );
    let mut r = plain(StatusCode::UNAUTHORIZED, &message);
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(CHALLENGE));
    r
}

fn checksum_of(h: &HeaderMap) -> Result<Option<tus::Checksum>, tus::TusError> {
    text(h, "upload-checksum").map(tus::parse_checksum).transpose()
}

fn is_offset_stream(h: &HeaderMap) -> bool {
    text(h, header::CONTENT_TYPE.as_str())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| ct.trim().eq_ignore_ascii_case(tus::OFFSET_OCTET_STREAM))
}

/// Whether a request says it has a body: a non-zero length, or chunked transfer encoding.
fn has_body(h: &HeaderMap) -> bool {
    let length = text(h, header::CONTENT_LENGTH.as_str()).and_then(|l| l.trim().parse::<u64>().ok());
    length.is_some_and(|l| l > 0) || h.contains_key(header::TRANSFER_ENCODING)
}

fn wrong_type() -> Response {
    plain(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "An upload's bytes are sent as Content-Type: application/offset+octet-stream.",
    )
}

/// Where an upload stands: its offset, and while unfinished when it expires; once complete, the
/// SHA-256 of what Haven stored.
fn position(h: &mut HeaderMap, upload: &UploadRecord) {
    protocol_headers(h);
    h.insert("upload-offset", HeaderValue::from(upload.offset));
    if upload.completed_us == 0 {
        let expires = tus::http_date(haven_core::from_micros(upload.expires_us));
        insert(h, HeaderName::from_static("upload-expires"), &expires);
    } else {
        insert(h, HeaderName::from_static(SHA256_HEADER), &upload.sha256);
    }
}

fn protocol_headers(h: &mut HeaderMap) {
    h.insert("tus-resumable", HeaderValue::from_static(tus::VERSION));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn insert(h: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

/// A refusal as tus clients show it: plain text, with the protocol's headers.
fn plain(status: StatusCode, message: &str) -> Response {
    let mut r = (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{message}\n")).into_response();
    protocol_headers(r.headers_mut());
    r.extensions_mut().insert(OwnBody);
    r
}

fn not_found() -> Response {
    plain(
        StatusCode::NOT_FOUND,
        "There is no such upload: it was never made, was ended, or is not yours. Start the upload again.",
    )
}

fn not_allowed(allow: &'static str) -> Response {
    let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, &format!("This address answers {allow}."));
    r.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

fn refusal(e: tus::TusError) -> Response {
    failure(TransferError::Protocol(e))
}

fn failure(e: TransferError) -> Response {
    let status = |code: u16| StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    match e {
        TransferError::Protocol(t) => {
            let mut r = plain(status(t.status), &t.message);
            if t.status == 412 {
                r.headers_mut().insert("tus-version", HeaderValue::from_static(tus::VERSION));
            }
            r
        }
        TransferError::OffsetMismatch { current } => {
            let mut r = plain(StatusCode::CONFLICT, &e.to_string());
            r.headers_mut().insert("upload-offset", HeaderValue::from(current));
            r
        }
        TransferError::ChecksumMismatch => plain(status(tus::CHECKSUM_MISMATCH), &e.to_string()),
        TransferError::TooLarge { .. } => plain(StatusCode::PAYLOAD_TOO_LARGE, &format!("{e}: send a smaller file.")),
        TransferError::Expired => plain(StatusCode::GONE, &e.to_string()),
        TransferError::Blob(detail) => {
            tracing::error!(error = %detail, "an upload's bytes could not be stored");
            plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "Haven could not store the data just now; what was acknowledged is kept. Resume in a minute; if it keeps failing, tell the service desk.",
            )
        }
        TransferError::Limit { status: code, message } => {
            let mut r = plain(status(code), &message);
            if code == 429 {
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            }
            r
        }
        TransferError::LinkGone => plain(StatusCode::GONE, &e.to_string()),
        TransferError::Core(c) => core_failure(c),
    }
}

fn core_failure(e: CoreError) -> Response {
    match e {
        CoreError::NotFound => not_found(),
        CoreError::Forbidden => plain(
            StatusCode::FORBIDDEN,
            "You may not send data into this asset: its IAO, IAAs and data managers may, signed in or with a read-write API token.",
        ),
        CoreError::Invalid { .. } => plain(StatusCode::BAD_REQUEST, &e.to_string()),
        CoreError::Conflict(m) => plain(StatusCode::CONFLICT, &m),
        other => {
            let web = WebError::from(other);
            plain(web.status, &web.message)
        }
    }
}
