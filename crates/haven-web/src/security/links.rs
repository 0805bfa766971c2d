//! Pages behind single-use links: onboarding a new account, finishing a password reset, and
//! starting one with a recovery code ("Forgot your password?").

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::{Extension, Form};
use haven_core::CoreError;
use haven_core::identity::records::LinkPurpose;
use haven_core::identity::recovery::ResetProof;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::account::QuestionsForm;
use crate::csrf::CsrfToken;
use crate::page::{Chrome, Notice, form_error, form_failure, render, render_status, see};
use crate::paths;
use crate::session::Visitor;
use crate::session::set_cookie;
use crate::{AppState, WebError};

#[derive(Deserialize)]
pub struct LinkQuery {
    token: Option<String>,
}

fn link_token(token: Option<String>) -> Result<String, WebError> {
    let token = token.unwrap_or_default();
    if haven_crypto::token::looks_like_token(&token) { Ok(token) } else { Err(CoreError::LinkInvalid.into()) }
}

#[derive(Template)]
#[template(path = "security/onboard.html")]
struct OnboardPage {
    title: &'static str,
    c: Chrome,
    token: String,
    user_id: String,
    questions: Vec<String>,
    min_chars: usize,
}

pub async fn onboard_show(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Visitor(visitor): Visitor,
    Query(q): Query<LinkQuery>,
) -> Result<Response, WebError> {
    let token = link_token(q.token)?;
    let info = state.identity.inspect_link(&visitor, &token, LinkPurpose::Onboarding).await?;
    render(&OnboardPage {
        title: "Welcome to Haven",
        c: Chrome::new(&csrf.0, None, "onboard"),
        token,
        user_id: info.user_id,
        questions: state.identity.policy.security_questions.clone(),
        min_chars: state.identity.policy.password_min_chars,
    })
}

#[derive(Deserialize)]
pub struct OnboardForm {
    token: String,
    password: Zeroizing<String>,
    password_confirm: Zeroizing<String>,
    #[serde(flatten)]
    questions: QuestionsForm,
}

pub async fn onboard_submit(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Visitor(visitor): Visitor,
    Form(form): Form<OnboardForm>,
) -> Result<Response, WebError> {
    let token = link_token(Some(form.token))?;
    crate::page::limit_fields("The password", &[(&form.password, 1024), (&form.password_confirm, 1024)])?;
    let chosen = form.questions.chosen()?;
    match state.identity.onboard(&visitor, &token, &form.password, &form.password_confirm, &chosen).await {
        Ok(session) => {
            let mut response = see(paths::TOKENS);
            response.headers_mut().insert(header::SET_COOKIE, set_cookie(&session.secret)?);
            Ok(response)
        }
        Err(e @ CoreError::Invalid { .. }) => {
            let info = state.identity.inspect_link(&visitor, &token, LinkPurpose::Onboarding).await?;
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &OnboardPage {
                    title: "Welcome to Haven",
                    c: Chrome::new(&csrf.0, None, "onboard").failed(form_failure(e)?),
                    token,
                    user_id: info.user_id,
                    questions: state.identity.policy.security_questions.clone(),
                    min_chars: state.identity.policy.password_min_chars,
                },
            )
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "security/reset.html")]
struct ResetPage {
    title: &'static str,
    c: Chrome,
    token: String,
    user_id: String,
    needs_proof: bool,
    questions: Vec<String>,
    min_chars: usize,
}

async fn reset_page(
    state: &AppState,
    csrf: &str,
    visitor: &haven_core::caller::Caller,
    token: String,
    error: Option<String>,
) -> Result<ResetPage, WebError> {
    let info = state.identity.inspect_link(visitor, &token, LinkPurpose::PasswordReset).await?;
    Ok(ResetPage {
        title: "Choose a new password",
        c: Chrome::new(csrf, None, "reset").error(error),
        token,
        user_id: info.user_id,
        needs_proof: !info.from_recovery,
        questions: info.questions,
        min_chars: state.identity.policy.password_min_chars,
    })
}

pub async fn reset_show(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Visitor(visitor): Visitor,
    Query(q): Query<LinkQuery>,
) -> Result<Response, WebError> {
    let token = link_token(q.token)?;
    render(&reset_page(&state, &csrf.0, &visitor, token, None).await?)
}

#[derive(Deserialize)]
pub struct ResetForm {
    token: String,
    proof: Option<String>,
    passcode: Option<Zeroizing<String>>,
    answer0: Option<Zeroizing<String>>,
    answer1: Option<Zeroizing<String>>,
    answer2: Option<Zeroizing<String>>,
    password: Zeroizing<String>,
    password_confirm: Zeroizing<String>,
}

pub async fn reset_submit(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Visitor(visitor): Visitor,
    Form(form): Form<ResetForm>,
) -> Result<Response, WebError> {
    let token = link_token(Some(form.token))?;
    let optional = [&form.passcode, &form.answer0, &form.answer1, &form.answer2];
    let mut fields: Vec<(&str, usize)> =
        optional.iter().filter_map(|f| f.as_deref().map(|v| (v.as_str(), 400))).collect();
    fields.extend([(form.password.as_str(), 1024), (form.password_confirm.as_str(), 1024)]);
    crate::page::limit_fields("A field", &fields)?;
    let proof = match form.proof.as_deref() {
        Some("passcode") => form.passcode.map(ResetProof::Passcode),
        Some("answers") => Some(ResetProof::Answers(vec![
            form.answer0.unwrap_or_default(),
            form.answer1.unwrap_or_default(),
            form.answer2.unwrap_or_default(),
        ])),
        _ => None,
    };
    match state.identity.reset_password(&visitor, &token, proof, &form.password, &form.password_confirm).await {
        Ok(_) => Ok(see(&Notice::PasswordReset.on(paths::SIGNIN))),
        // The link is gone, or proofs are refused for now: a page with the reason, no form.
        Err(e @ (CoreError::LinkInvalid | CoreError::TooManyAttempts(_))) => Err(e.into()),
        Err(e) => {
            let message = form_error(e)?;
            render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &reset_page(&state, &csrf.0, &visitor, token, Some(message)).await?,
            )
        }
    }
}

#[derive(Template)]
#[template(path = "security/forgot.html")]
struct ForgotPage {
    title: &'static str,
    c: Chrome,
}

pub async fn forgot_show(Extension(csrf): Extension<CsrfToken>) -> Result<Response, WebError> {
    render(&ForgotPage { title: "Forgot your password?", c: Chrome::new(&csrf.0, None, "forgot") })
}

#[derive(Deserialize)]
pub struct ForgotForm {
    user_id: String,
    recovery_code: Zeroizing<String>,
}

pub async fn forgot_submit(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Visitor(visitor): Visitor,
    Form(form): Form<ForgotForm>,
) -> Result<Response, WebError> {
    crate::page::limit_fields("A field", &[(&form.user_id, 64), (&form.recovery_code, 100)])?;
    match state.identity.start_recovery(&visitor, &form.user_id, &form.recovery_code).await {
        Ok(link) => Ok(see(&paths::reset_with(link.as_str()))),
        Err(e) => render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ForgotPage {
                title: "Forgot your password?",
                c: Chrome::new(&csrf.0, None, "forgot").failed(form_failure(e)?),
            },
        ),
    }
}
