//! The ICE logon steps as the service describes them, and the Emergency tab.

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::{Extension, Form};
use haven_core::CoreError;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::csrf::CsrfToken;
use crate::page::{Chrome, form_error, render, render_status, see, when};
use crate::paths;
use crate::session::Visitor;
use crate::session::{Page, set_cookie};
use crate::{AppState, WebError};

#[derive(Template)]
#[template(path = "security/ice_user.html")]
struct UserIdPage {
    title: &'static str,
    c: Chrome,
}

#[derive(Template)]
#[template(path = "security/ice_password.html")]
struct PasswordPage {
    title: &'static str,
    c: Chrome,
    user_id: String,
}

#[derive(Template)]
#[template(path = "security/ice_questions.html")]
struct QuestionsPage {
    title: &'static str,
    c: Chrome,
    flow: String,
    questions: Vec<String>,
}

#[derive(Template)]
#[template(path = "security/emergency.html")]
struct EmergencyPage {
    title: &'static str,
    c: Chrome,
    /// Shown once, right after Submit.
    code: Option<String>,
    expires: Option<String>,
}

#[derive(Template)]
#[template(path = "security/emergency_request.html")]
struct RequestPage {
    title: &'static str,
    c: Chrome,
    hours: u32,
}

pub async fn start(State(state): State<AppState>, Extension(csrf): Extension<CsrfToken>) -> Result<Response, WebError> {
    let mut c = Chrome::new(&csrf.0, None, "ice");
    if !state.identity.ice_globally_enabled().await? {
        c.error = Some("ICE logon is turned off for this service at the moment. Contact the service desk.".into());
    }
    render(&UserIdPage { title: "ICE logon", c })
}

#[derive(Deserialize)]
pub struct UserIdForm {
    user_id: String,
}

/// Step: User ID → Continue. Nothing is looked up yet, so this step says nothing about accounts.
pub async fn user_id(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Visitor(visitor): Visitor,
    Form(form): Form<UserIdForm>,
) -> Result<Response, WebError> {
    crate::page::limit_fields("The user id", &[(&form.user_id, 64)])?;
    let user_id = form.user_id.trim().to_lowercase();
    state.identity.ice_start(&visitor, &user_id).await?;
    if user_id.is_empty() {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &UserIdPage {
                title: "ICE logon",
                c: Chrome::new(&csrf.0, None, "ice").error(Some("Enter your user id.".into())),
            },
        );
    }
    render(&PasswordPage { title: "ICE logon", c: Chrome::new(&csrf.0, None, "ice"), user_id })
}

#[derive(Deserialize)]
pub struct PasswordForm {
    user_id: String,
    authenticator: String,
    password: Zeroizing<String>,
}

/// Step: Authenticator "Static Password" → password → Continue.
pub async fn password(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Visitor(visitor): Visitor,
    Form(form): Form<PasswordForm>,
) -> Result<Response, WebError> {
    crate::page::limit_fields("A field", &[(&form.user_id, 64), (&form.password, 1024)])?;
    let again = |message: String, status: StatusCode| {
        render_status(
            status,
            &PasswordPage {
                title: "ICE logon",
                c: Chrome::new(&csrf.0, None, "ice").error(Some(message)),
                user_id: form.user_id.clone(),
            },
        )
    };
    if form.authenticator != "static_password" {
        return again("Select Static Password from the Authenticator list.".into(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    match state.identity.ice_password(&visitor, &form.user_id, &form.password).await {
        Ok(flow) => {
            let questions = state.identity.ice_questions(&flow).await?;
            render(&QuestionsPage {
                title: "ICE logon",
                c: Chrome::new(&csrf.0, None, "ice"),
                flow: flow.to_string(),
                questions,
            })
        }
        Err(e @ CoreError::TooManyAttempts(_)) => again(e.to_string(), StatusCode::TOO_MANY_REQUESTS),
        Err(e @ CoreError::Unavailable(_)) => again(e.to_string(), StatusCode::FORBIDDEN),
        Err(e) => again(form_error(e)?, StatusCode::UNAUTHORIZED),
    }
}

#[derive(Deserialize)]
pub struct AnswersForm {
    flow: String,
    answer0: Zeroizing<String>,
    answer1: Zeroizing<String>,
    answer2: Zeroizing<String>,
}

/// Step: answer the security questions → Continue → an ICE session.
pub async fn answers(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Visitor(visitor): Visitor,
    Form(form): Form<AnswersForm>,
) -> Result<Response, WebError> {
    if !haven_crypto::token::looks_like_token(&form.flow) {
        return Err(CoreError::LinkInvalid.into());
    }
    crate::page::limit_fields("An answer", &[(&form.answer0, 400), (&form.answer1, 400), (&form.answer2, 400)])?;
    let answers = [form.answer0, form.answer1, form.answer2];
    match state.identity.ice_answers(&visitor, &form.flow, &answers).await {
        Ok(session) => {
            let mut response = see(paths::SECURITY);
            response.headers_mut().insert(header::SET_COOKIE, set_cookie(&session.secret)?);
            Ok(response)
        }
        Err(CoreError::LinkInvalid) => Err(WebError::new(
            StatusCode::BAD_REQUEST,
            "link_invalid",
            "This ICE logon has expired (10 minutes) or was finished. Start again from \"Use ICE logon procedure\".",
        )),
        // ICE was turned off while the logon was under way: the logon is over.
        Err(e @ CoreError::Unavailable(_)) => Err(e.into()),
        Err(e) => {
            let status = if matches!(e, CoreError::TooManyAttempts(_)) {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::UNAUTHORIZED
            };
            let message = form_error(e)?;
            let questions = state.identity.ice_questions(&form.flow).await.unwrap_or_default();
            render_status(
                status,
                &QuestionsPage {
                    title: "ICE logon",
                    c: Chrome::new(&csrf.0, None, "ice").error(Some(message)),
                    flow: form.flow,
                    questions,
                },
            )
        }
    }
}

pub async fn emergency(State(state): State<AppState>, Page { who, csrf }: Page) -> Result<Response, WebError> {
    let expires = state.identity.emergency_code_expiry(&who).await?.map(when);
    render(&EmergencyPage { title: "Emergency", c: Chrome::new(&csrf, Some(&who), "emergency"), code: None, expires })
}

pub async fn request_show(State(state): State<AppState>, Page { who, csrf }: Page) -> Result<Response, WebError> {
    render(&RequestPage {
        title: "Request an emergency code",
        c: Chrome::new(&csrf, Some(&who), "emergency"),
        hours: state.identity.policy.emergency_code_hours,
    })
}

pub async fn request_submit(State(state): State<AppState>, Page { who, csrf }: Page) -> Result<Response, WebError> {
    let (code, expires) = match state.identity.request_emergency_code(&who).await {
        Ok(issued) => issued,
        Err(CoreError::StepUpRequired) => return Ok(crate::session::step_up(paths::EMERGENCY_REQUEST)),
        Err(e) => return Err(e.into()),
    };
    render(&EmergencyPage {
        title: "Emergency",
        c: Chrome::new(&csrf, Some(&who), "emergency"),
        code: Some(code.to_string()),
        expires: Some(when(expires)),
    })
}
