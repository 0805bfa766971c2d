//! The page kit every portal uses: the chrome around a page (user, tabs, notices, errors), the
//! render helpers, form errors and their fields, and how times are shown.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use haven_core::authz::{Action, Resource, can};
use haven_core::caller::{Caller, Level};

use crate::WebError;

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
    /// The governance portal's register, IG records, decisions and reports (desk and auditors).
    pub governance: bool,
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
            governance: who.is_some_and(|w| can(w, Action::ViewGovernance, Resource::Service)),
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

/// What a page says after a successful POST sent the browser to it (`?done=CODE`): the code is
/// looked up here, so the page never echoes what the query carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    SignedIn,
    TokenCreated,
    PinSet,
    TokenEmailed,
    TokenActivated,
    TokenResynced,
    TokenDisabled,
    TokenEnabled,
    TokenDeleted,
    PasswordChanged,
    QuestionsSaved,
    SessionsEnded,
    Confirmed,
    PasswordReset,
    SignedOut,
    ReadyToSignIn,
    IceOn,
    IceOff,
    RepoTokenRevoked,
    PolicyChanged,
    AusAccepted,
    AccessRequested,
    AccessDecided,
    AdminsChanged,
    ComplianceRecorded,
    AssetClosed,
    AssetCreated,
    TrainingRecorded,
    ReviewSaved,
    LinkRevoked,
    SessionStopped,
    AppAdded,
    JobSubmitted,
    JobCancelled,
    ArrivalAccepted,
    ArrivalRejected,
    EgressSaved,
    PermissionChanged,
}

impl Notice {
    const ALL: [Notice; 38] = [
        Notice::SignedIn,
        Notice::TokenCreated,
        Notice::PinSet,
        Notice::TokenEmailed,
        Notice::TokenActivated,
        Notice::TokenResynced,
        Notice::TokenDisabled,
        Notice::TokenEnabled,
        Notice::TokenDeleted,
        Notice::PasswordChanged,
        Notice::QuestionsSaved,
        Notice::SessionsEnded,
        Notice::Confirmed,
        Notice::PasswordReset,
        Notice::SignedOut,
        Notice::ReadyToSignIn,
        Notice::IceOn,
        Notice::IceOff,
        Notice::RepoTokenRevoked,
        Notice::PolicyChanged,
        Notice::AusAccepted,
        Notice::AccessRequested,
        Notice::AccessDecided,
        Notice::AdminsChanged,
        Notice::ComplianceRecorded,
        Notice::AssetClosed,
        Notice::AssetCreated,
        Notice::TrainingRecorded,
        Notice::ReviewSaved,
        Notice::LinkRevoked,
        Notice::SessionStopped,
        Notice::AppAdded,
        Notice::JobSubmitted,
        Notice::JobCancelled,
        Notice::ArrivalAccepted,
        Notice::ArrivalRejected,
        Notice::EgressSaved,
        Notice::PermissionChanged,
    ];

    /// The code in the URL.
    pub fn code(self) -> &'static str {
        match self {
            Notice::SignedIn => "signed_in",
            Notice::TokenCreated => "created",
            Notice::PinSet => "pin",
            Notice::TokenEmailed => "emailed",
            Notice::TokenActivated => "activated",
            Notice::TokenResynced => "resynced",
            Notice::TokenDisabled => "disabled",
            Notice::TokenEnabled => "enabled",
            Notice::TokenDeleted => "deleted",
            Notice::PasswordChanged => "password",
            Notice::QuestionsSaved => "questions",
            Notice::SessionsEnded => "ended",
            Notice::Confirmed => "confirmed",
            Notice::PasswordReset => "reset",
            Notice::SignedOut => "signed_out",
            Notice::ReadyToSignIn => "ready",
            Notice::IceOn => "ice_on",
            Notice::IceOff => "ice_off",
            Notice::RepoTokenRevoked => "revoked",
            Notice::PolicyChanged => "1",
            Notice::AusAccepted => "aus",
            Notice::AccessRequested => "requested",
            Notice::AccessDecided => "decided",
            Notice::AdminsChanged => "admins",
            Notice::ComplianceRecorded => "compliance",
            Notice::AssetClosed => "closed",
            Notice::AssetCreated => "asset",
            Notice::TrainingRecorded => "training",
            Notice::ReviewSaved => "review",
            Notice::LinkRevoked => "link_revoked",
            Notice::SessionStopped => "session_stopped",
            Notice::AppAdded => "app_added",
            Notice::JobSubmitted => "job_submitted",
            Notice::JobCancelled => "job_cancelled",
            Notice::ArrivalAccepted => "accepted",
            Notice::ArrivalRejected => "rejected",
            Notice::EgressSaved => "saved",
            Notice::PermissionChanged => "permission",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Notice::SignedIn => "You are signed in.",
            Notice::TokenCreated => "Token created. Next: Reset PIN from its menu (▾), then PUSH it to your app.",
            Notice::PinSet => "The PIN was set. Next: PUSH the token to your app from its menu (▾).",
            Notice::TokenEmailed => {
                "The token was sent by email. Open the link in the email while signed in here, scan the QR code and type the first code."
            }
            Notice::TokenActivated => {
                "The token is active. At sign-in, type its PIN followed by the code the app shows."
            }
            Notice::TokenResynced => "The token was resynchronised.",
            Notice::TokenDisabled => "The token was disabled.",
            Notice::TokenEnabled => "The token was enabled.",
            Notice::TokenDeleted => "The token was deleted.",
            Notice::PasswordChanged => "Your password was changed and your other sessions were signed out.",
            Notice::QuestionsSaved => "Your security questions were saved.",
            Notice::SessionsEnded => "Your other sessions were signed out.",
            Notice::Confirmed => "Thank you: you can now change your credentials for the next few minutes.",
            Notice::PasswordReset => "Your password was changed. Sign in with it and your passcode.",
            Notice::SignedOut => "You are signed out.",
            Notice::ReadyToSignIn => {
                "Your token is ready. Sign in with your user id, your password, and in Passcode your PIN followed by the code your app shows now."
            }
            Notice::IceOn => "ICE logon is now on for everyone.",
            Notice::IceOff => "ICE logon is now off for everyone.",
            Notice::RepoTokenRevoked => "The token was revoked; clients using it can no longer sign in.",
            Notice::PolicyChanged => "The policy was changed; it applies from the next request.",
            Notice::AusAccepted => "Thank you: you have accepted the Acceptable Use Statement.",
            Notice::AccessRequested => {
                "The request was sent to the service desk. You will get an email when they decide; it is listed under My requests."
            }
            Notice::AccessDecided => "The decision was recorded and the requester was emailed.",
            Notice::AdminsChanged => "The asset's administrators were changed.",
            Notice::ComplianceRecorded => "The compliance item was recorded.",
            Notice::AssetClosed => "The asset was closed; the closure record is in the audit trail.",
            Notice::AssetCreated => "The asset was registered, with its project key and storage areas.",
            Notice::TrainingRecorded => "The training record was saved.",
            Notice::ReviewSaved => "The review was saved.",
            Notice::LinkRevoked => "The link was revoked: it works no more, uploads in progress through it included.",
            Notice::AppAdded => "The version is in the catalogue: members can launch it from Applications now.",
            Notice::JobSubmitted => {
                "Your job was submitted. Haven starts it within seconds; this page follows it, and shows its log \
                 as it prints."
            }
            Notice::JobCancelled => "The job was cancelled; what it wrote to N:, S: and outputs is kept.",
            Notice::SessionStopped => {
                "The session was stopped: its programs have ended and its scratch space is gone. What it saved \
                 in N:, S: and outputs is kept."
            }
            Notice::ArrivalAccepted => "The file was accepted: it is now in the asset's shared drive (S:).",
            Notice::ArrivalRejected => "The file was rejected: its data was crypto-shredded; the record stays.",
            Notice::EgressSaved => "Done: the request's history records it, and whoever acts next was told by email.",
            Notice::PermissionChanged => "Saved: the member was told by email, and the audit trail records it.",
        }
    }

    pub fn parse(code: &str) -> Option<Notice> {
        Notice::ALL.into_iter().find(|n| n.code() == code)
    }

    /// `path` with this notice to show.
    pub fn on(self, path: &str) -> String {
        crate::paths::with_notice(path, self.code())
    }
}

/// The message for `?done=CODE`, if the code is one of ours.
pub fn done_message(code: Option<&str>) -> Option<String> {
    Notice::parse(code?).map(|n| n.message().to_string())
}

/// The user-facing message of an input error, or the error itself for the error page.
pub fn form_error(e: haven_core::CoreError) -> Result<String, WebError> {
    use haven_core::CoreError as E;
    match e {
        E::Invalid { message, .. } => Ok(capitalise(&message)),
        E::Conflict(m) | E::Refused(m) | E::TooManyAttempts(m) | E::Unavailable(m) => Ok(m),
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
