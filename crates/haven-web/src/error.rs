//! Errors as people and programs see them: a stable code, a message a person can act on, nothing
//! internal. Handlers return [`WebError`]; [`normalize`] renders every error response (also those
//! made by the framework: 404, 405, 408, 413, 415…) as an HTML page or, for the API and clients
//! that ask for JSON, as `{"error": {"code", "message"}}`.

use askama::Template;
use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use haven_core::CoreError;

use crate::paths;

/// Marks an error response whose body a handler wrote for its clients (plain text for package
/// clients, say): [`normalize`] leaves it as it is.
#[derive(Debug, Clone, Copy)]
pub struct OwnBody;

#[derive(Debug, Clone)]
pub struct WebError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl WebError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        WebError { status, code, message: message.into() }
    }

    /// An unexpected failure: the detail goes to the log, the person gets a generic message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::from_status(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn from_status(status: StatusCode) -> Self {
        let (code, message) = match status.as_u16() {
            400 => ("bad_request", "The request was malformed. Go back, check what you entered and try again."),
            401 => ("unauthenticated", "Sign in to continue."),
            403 => {
                ("forbidden", "You are not allowed to do this. If you think you should be, contact the service desk.")
            }
            404 => {
                ("not_found", "There is nothing at this address. Check the link, or start again from the home page.")
            }
            405 => ("method_not_allowed", "This address does not accept that kind of request."),
            408 => (
                "timeout",
                "The request took too long and was stopped. Try again; if it keeps happening, tell the service desk.",
            ),
            413 => ("too_large", "The request is larger than this server accepts. Send less data at once."),
            415 => ("unsupported_media_type", "The request's content type is not accepted here."),
            422 => ("invalid_input", "Some of what was sent could not be read. Check the form and try again."),
            429 => ("rate_limited", "Too many requests. Wait a minute, then try again."),
            503 => (
                "unavailable",
                "Haven cannot reach its storage right now. Try again shortly; the service desk has been alerted.",
            ),
            _ if status.is_server_error() => (
                "internal",
                "Something went wrong on our side. It has been logged; try again, and tell the service desk if it persists.",
            ),
            _ => ("error", "The request could not be completed."),
        };
        WebError::new(status, code, message)
    }
}

impl From<CoreError> for WebError {
    fn from(e: CoreError) -> Self {
        let status = match &e {
            CoreError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            CoreError::LinkInvalid => StatusCode::BAD_REQUEST,
            CoreError::Conflict(_) => StatusCode::CONFLICT,
            CoreError::Forbidden | CoreError::Refused(_) => StatusCode::FORBIDDEN,
            CoreError::NotFound => StatusCode::NOT_FOUND,
            CoreError::SignInFailed => StatusCode::UNAUTHORIZED,
            CoreError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            CoreError::StepUpRequired => StatusCode::FORBIDDEN,
            CoreError::Unavailable(_) => StatusCode::FORBIDDEN,
            CoreError::Store(haven_core::StoreError::Duplicate(_)) => StatusCode::CONFLICT,
            CoreError::Store(_) => {
                tracing::error!(error = %e, "storage error");
                return WebError::from_status(StatusCode::SERVICE_UNAVAILABLE);
            }
            CoreError::Crypto(_) => return WebError::internal(&e),
        };
        WebError::new(status, e.code(), e.to_string())
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    code: &'a str,
    message: &'a str,
    status: u16,
}

fn wants_json(request: &Request) -> bool {
    if request.uri().path().starts_with(paths::API_PREFIX) {
        return true;
    }
    let accept = request.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    accept.contains("application/json") && !accept.contains("text/html")
}

/// Render every error response uniformly.
pub async fn normalize(request: Request, next: Next) -> Response {
    let json = wants_json(&request);
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // A handler that chose its own error body (readiness JSON, say) keeps it; framework errors
    // arrive bare or as plain text and are rendered here.
    let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if response.extensions().get::<OwnBody>().is_some() {
        return response;
    }
    if response.extensions().get::<WebError>().is_none()
        && !content_type.is_empty()
        && !content_type.starts_with("text/plain")
    {
        return response;
    }
    let error = response.extensions().get::<WebError>().cloned().unwrap_or_else(|| WebError::from_status(status));
    let keep: Vec<_> = [
        header::ALLOW,
        header::RETRY_AFTER,
        header::SET_COOKIE,
        header::VARY,
        header::WWW_AUTHENTICATE,
        header::LOCATION,
    ]
    .into_iter()
    .flat_map(|name| {
        response.headers().get_all(&name).iter().map(move |v| (name.clone(), v.clone())).collect::<Vec<_>>()
    })
    .collect();
    let mut rendered = if json {
        (status, Json(serde_json::json!({"error": {"code": error.code, "message": error.message}}))).into_response()
    } else {
        let page = ErrorPage {
            title: status.canonical_reason().unwrap_or("Error"),
            code: error.code,
            message: &error.message,
            status: status.as_u16(),
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, error.message.clone()).into_response(),
        }
    };
    for (name, value) in keep {
        rendered.headers_mut().append(name, value);
    }
    rendered.headers_mut().insert("x-haven-error", HeaderValue::from_static(error.code));
    rendered
}

pub async fn not_found() -> WebError {
    WebError::from_status(StatusCode::NOT_FOUND)
}
