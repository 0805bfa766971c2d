//! "API tokens" (`/security/api-tokens`): a user makes and revokes the personal tokens scripts
//! send to `/api/v1`. Making one needs a fresh two-factor sign-in; the secret is shown once, on
//! the page the POST returns, with a first call to try.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use haven_core::CoreError;
use haven_core::caller::Caller;
use haven_core::identity::api_tokens::{API_READ_DAYS, API_WRITE_DAYS};
use serde::Deserialize;

use crate::page::{Chrome, Notice, form_failure, render, render_status, see, when};
use crate::paths;
use crate::session::{Page, Signed, step_up};
use crate::{AppState, WebError};

pub struct Row {
    handle: String,
    label: String,
    scope: &'static str,
    created: String,
    last_used: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "security/api_tokens.html")]
struct TokensPage {
    title: &'static str,
    c: Chrome,
    rows: Vec<Row>,
    /// Shown once, right after it was made.
    secret: Option<String>,
    base: String,
    read_days: i64,
    write_days: i64,
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

async fn page(state: &AppState, csrf: &str, who: &Caller, secret: Option<String>) -> Result<TokensPage, WebError> {
    let tokens = state.identity.api_tokens(who).await?;
    Ok(TokensPage {
        title: "API tokens",
        c: Chrome::new(csrf, Some(who), "api"),
        rows: tokens
            .iter()
            .map(|t| Row {
                handle: t.handle(),
                label: t.label.clone(),
                scope: if t.scope == haven_core::tokens::TokenScope::ApiWrite { "read and write" } else { "read" },
                created: when(t.created_us),
                last_used: if t.last_used_us == 0 { "never".into() } else { when(t.last_used_us) },
                expires: when(t.expires_us),
            })
            .collect(),
        secret,
        base: state.config.public_url.clone(),
        read_days: API_READ_DAYS,
        write_days: API_WRITE_DAYS,
    })
}

pub async fn list(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let mut p = page(&state, &csrf, &who, None).await?;
    if q.done.as_deref().and_then(Notice::parse) == Some(Notice::RepoTokenRevoked) {
        p.c = p.c.notice(Some(Notice::RepoTokenRevoked.message().into()));
    }
    render(&p)
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    label: String,
    #[serde(default)]
    access: String,
    #[serde(default)]
    days: String,
}

pub async fn create(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Form(form): Form<CreateForm>,
) -> Result<Response, WebError> {
    crate::page::limit_fields("A field", &[(&form.label, 256), (&form.access, 16), (&form.days, 8)])?;
    let write = form.access == "write";
    let outcome = match form.days.trim() {
        "" => state.identity.create_api_token(&who, &form.label, write, None).await,
        d => match d.parse::<i64>() {
            Ok(days) => state.identity.create_api_token(&who, &form.label, write, Some(days)).await,
            Err(_) => Err(CoreError::invalid("days", "give a whole number of days")),
        },
    };
    match outcome {
        Ok((secret, _)) => {
            let mut p = page(&state, &csrf, &who, Some(secret.to_string())).await?;
            p.c = p.c.notice(Some("Token made. Copy it now: Haven shows it only this once.".into()));
            render(&p)
        }
        Err(CoreError::StepUpRequired) => Ok(step_up(paths::API_TOKENS)),
        Err(e) => {
            let failure = form_failure(e)?;
            let mut p = page(&state, &csrf, &who, None).await?;
            p.c = p.c.failed(failure);
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &p)
        }
    }
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    token: String,
}

pub async fn revoke(
    State(state): State<AppState>,
    Signed(who): Signed,
    Form(form): Form<RevokeForm>,
) -> Result<Response, WebError> {
    crate::page::limit_fields("The token id", &[(&form.token, 64)])?;
    state.identity.revoke_api_token(&who, &form.token).await?;
    Ok(see(&Notice::RepoTokenRevoked.on(paths::API_TOKENS)))
}
