//! The Security & Tokens portal (`/security`): sign-in and sign-out, My Tokens, ICE logon and
//! emergency codes, password, recovery codes, sessions, security questions, onboarding and reset
//! links, and the service desk's pages. Handlers parse, ask `haven_core::identity`, and render.

mod account;
mod desk;
mod ice;
mod links;
mod signin;
mod tokens;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use haven_core::authz::{Action, Resource, can};
use haven_core::caller::{Caller, Level};

use crate::session::serving;
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    let tokens = Router::new()
        .route("/security/tokens", get(tokens::list).post(tokens::create))
        .route("/security/tokens/receive", get(tokens::receive_show).post(tokens::receive))
        .route("/security/tokens/{serial}/pin", get(tokens::pin_show).post(tokens::pin_submit))
        .route("/security/tokens/{serial}/push", get(tokens::push_show).post(tokens::push_submit))
        .route("/security/tokens/{serial}/activate", get(tokens::activate_show).post(tokens::activate))
        .route("/security/tokens/{serial}/resync", get(tokens::resync_show).post(tokens::resync_submit))
        .route("/security/tokens/{serial}/state", post(tokens::set_state));
    let emergency = Router::new()
        .route("/security/emergency", get(ice::emergency))
        .route("/security/emergency/request", get(ice::request_show).post(ice::request_submit));
    let credentials = Router::new()
        .route("/security/recovery", get(account::recovery_show).post(account::recovery_submit))
        .route("/security/sessions", get(account::sessions_show).post(account::sessions_end_others));
    Router::new()
        .route("/security", get(signin::portal))
        .route("/security/", get(|| async { Redirect::permanent("/security") }))
        .route("/security/signin", get(signin::show).post(signin::submit))
        .route("/security/signout", post(signin::sign_out))
        .route("/security/ice", get(ice::start).post(ice::user_id))
        .route("/security/ice/password", post(ice::password))
        .route("/security/ice/answers", post(ice::answers))
        .route("/security/onboard", get(links::onboard_show).post(links::onboard_submit))
        .route("/security/reset", get(links::reset_show).post(links::reset_submit))
        .route("/security/forgot", get(links::forgot_show).post(links::forgot_submit))
        .merge(serving(
            Action::ConfirmIdentity,
            Router::new().route("/security/confirm", get(signin::confirm_show).post(signin::confirm_submit)),
        ))
        .merge(serving(Action::ManageOwnTokens, tokens))
        .merge(serving(Action::RequestEmergencyCode, emergency))
        .merge(serving(
            Action::ChangeOwnPassword,
            Router::new().route("/security/password", get(account::password_show).post(account::password_submit)),
        ))
        .merge(serving(Action::ManageOwnCredentials, credentials))
        .merge(serving(
            Action::SetSecurityAnswers,
            Router::new().route("/security/questions", get(account::questions_show).post(account::questions_submit)),
        ))
        .merge(serving(Action::ManageAccounts, desk::routes()))
}

/// What every portal page shows around its content.
pub struct Chrome {
    pub csrf: String,
    pub user: Option<String>,
    pub kind: &'static str,
    /// An enrolment session whose token is active: what is left is a full sign-in.
    pub set_up: bool,
    pub admin: bool,
    /// The package portal's Review and Policy tabs.
    pub reviewer: bool,
    pub tab: &'static str,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// The id of the input the error is about: it gets `aria-invalid`, is described by the error
    /// and takes the focus (see [`Chrome::invalid`]).
    pub error_field: Option<&'static str>,
}

impl Chrome {
    pub fn new(csrf: &str, who: Option<&Caller>, tab: &'static str) -> Self {
        Chrome {
            csrf: csrf.to_string(),
            user: who.map(|w| w.user_id.clone()),
            kind: who.map_or("", |w| w.level.as_str()),
            set_up: who.is_some_and(|w| w.level == Level::Enrol && !w.needs_token()),
            admin: who.is_some_and(|w| can(w, Action::ManageAccounts, Resource::Service)),
            reviewer: who.is_some_and(|w| can(w, Action::ManagePackages, Resource::Service)),
            tab,
            notice: None,
            error: None,
            error_field: None,
        }
    }
    pub fn notice(mut self, n: Option<String>) -> Self {
        self.notice = n;
        self
    }
    pub fn error(mut self, e: Option<String>) -> Self {
        self.error = e;
        self
    }
    /// An input error: its message, and the field it is about.
    pub fn failed(mut self, (message, field): (String, Option<&'static str>)) -> Self {
        self.error = Some(message);
        self.error_field = field;
        self
    }
    /// Attributes for the input `id`: when the error is about it, it is marked invalid, described
    /// by the error message and focused, so a screen reader announces what to correct where.
    pub fn invalid(&self, id: &str) -> &'static str {
        if self.error.is_some() && self.error_field == Some(id) {
            " aria-invalid=\"true\" aria-describedby=\"form-error\" autofocus"
        } else {
            ""
        }
    }
    /// As [`Chrome::invalid`], for an input that also has a hint of its own (`hint` is its id).
    pub fn invalid_with_hint(&self, id: &str, hint: &str) -> String {
        if self.error.is_some() && self.error_field == Some(id) {
            format!(" aria-invalid=\"true\" aria-describedby=\"form-error {hint}\" autofocus")
        } else {
            format!(" aria-describedby=\"{hint}\"")
        }
    }
}

/// The input a core field name is about, on the portal's forms.
fn input_id(field: &'static str) -> Option<&'static str> {
    match field {
        "current_password" => Some("current"),
        "questions" => Some("question0"),
        "answers" => Some("answer0"),
        "proof" => Some("passcode"),
        "pskc" => Some("file"),
        // Refusals that must not say which part was wrong.
        "ice" | "security" => None,
        other => Some(other),
    }
}

/// An input error's message and the input it is about (see [`form_error`]).
pub fn form_failure(e: haven_core::CoreError) -> Result<(String, Option<&'static str>), WebError> {
    let field = match &e {
        haven_core::CoreError::Invalid { field, .. } => input_id(field),
        _ => None,
    };
    Ok((form_error(e)?, field))
}

pub fn render(page: &impl askama::Template) -> Result<Response, WebError> {
    Ok(Html(page.render().map_err(WebError::internal)?).into_response())
}

pub fn render_status(status: StatusCode, page: &impl askama::Template) -> Result<Response, WebError> {
    Ok((status, Html(page.render().map_err(WebError::internal)?)).into_response())
}

/// 303 to a page of this portal.
pub fn see(path: &str) -> Response {
    Redirect::to(path).into_response()
}

/// Refuse a form whose fields are far longer than any real value (422, nothing done): each pair
/// is a value and its limit in bytes; `what` names the field for the person.
pub fn limit_fields(what: &str, fields: &[(&str, usize)]) -> Result<(), WebError> {
    if fields.iter().any(|(value, max)| value.len() > *max) {
        return Err(WebError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            format!("{what} is far too long."),
        ));
    }
    Ok(())
}

/// A message for `?done=CODE` after a successful POST (never echoes user input).
pub fn done_message(code: Option<&str>) -> Option<String> {
    let m = match code? {
        "signed_in" => "You are signed in.",
        "created" => "Token created. Next: Reset PIN from its menu (▾), then PUSH it to your app.",
        "pin" => "The PIN was set. Next: PUSH the token to your app from its menu (▾).",
        "emailed" => {
            "The token was sent by email. Open the link in the email while signed in here, scan the QR code and type the first code."
        }
        "activated" => "The token is active. At sign-in, type its PIN followed by the code the app shows.",
        "resynced" => "The token was resynchronised.",
        "disabled" => "The token was disabled.",
        "enabled" => "The token was enabled.",
        "deleted" => "The token was deleted.",
        "password" => "Your password was changed and your other sessions were signed out.",
        "questions" => "Your security questions were saved.",
        "ended" => "Your other sessions were signed out.",
        "confirmed" => "Thank you: you can now change your credentials for the next few minutes.",
        "reset" => "Your password was changed. Sign in with it and your passcode.",
        "signed_out" => "You are signed out.",
        "ready" => {
            "Your token is ready. Sign in with your user id, your password, and in Passcode your PIN followed by the code your app shows now."
        }
        _ => return None,
    };
    Some(m.to_string())
}

/// The user-facing message of an input error, or the error itself for the error page.
pub fn form_error(e: haven_core::CoreError) -> Result<String, WebError> {
    use haven_core::CoreError as E;
    match e {
        E::Invalid { message, .. } => Ok(capitalise(&message)),
        E::Conflict(m) | E::TooManyAttempts(m) | E::Unavailable(m) => Ok(m),
        E::LinkInvalid | E::SignInFailed => Ok(e.to_string()),
        other => Err(other.into()),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Format microseconds as `24 Nov 2026 14:05 UTC` (empty for 0).
pub fn when(us: i64) -> String {
    if us == 0 {
        return String::new();
    }
    let t = haven_core::from_micros(us);
    let month = &t.month().to_string()[..3];
    format!("{} {month} {} {:02}:{:02} UTC", t.day(), t.year(), t.hour(), t.minute())
}
