//! "Repository tokens" (`/packages/tokens`): a user makes and revokes the tokens package
//! clients sign in with. A new token is shown once, on the page the POST returns, with the lines
//! to paste into pip, uv, R and conda.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use haven_core::CoreError;
use haven_core::caller::Caller;
use haven_core::packages::PackageError;
use serde::Deserialize;

use super::web_error;
use crate::page::{Chrome, Notice, render, render_status, see, when};
use crate::paths;
use crate::session::{Page, Signed, step_up};
use crate::{AppState, WebError};

pub struct Row {
    handle: String,
    label: String,
    created: String,
    last_used: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "packages/tokens.html")]
struct TokensPage {
    title: &'static str,
    c: Chrome,
    rows: Vec<Row>,
    user: String,
    /// Shown once, right after it was made.
    secret: Option<String>,
    host: String,
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// Ask core before anything else whether the caller may manage their tokens now: a token is a
/// credential, so a sign-in that is not recent enough is sent to confirm both factors first.
fn allowed(state: &AppState, who: &Caller) -> Result<Option<Response>, WebError> {
    match state.packages.may_manage_tokens(who, &who.user_id) {
        Ok(()) => Ok(None),
        Err(PackageError::Core(CoreError::StepUpRequired)) => Ok(Some(step_up(paths::REPO_TOKENS))),
        Err(e) => Err(web_error(e)),
    }
}

async fn page(state: &AppState, csrf: &str, who: &Caller, secret: Option<String>) -> Result<TokensPage, WebError> {
    let tokens = state.packages.repo_tokens(who).await.map_err(web_error)?;
    let base = &state.config.public_url;
    let host = base.split("://").nth(1).unwrap_or(base).to_string();
    Ok(TokensPage {
        title: "Repository tokens",
        c: Chrome::new(csrf, Some(who), "repository"),
        rows: tokens
            .iter()
            .map(|t| Row {
                handle: t.handle(),
                label: t.label.clone(),
                created: when(t.created_us),
                last_used: if t.last_used_us == 0 { "never".into() } else { when(t.last_used_us) },
                expires: when(t.expires_us),
            })
            .collect(),
        user: who.user_id.clone(),
        secret,
        host,
    })
}

pub async fn list(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    if let Some(r) = allowed(&state, &who)? {
        return Ok(r);
    }
    let mut p = page(&state, &csrf, &who, None).await?;
    if q.done.as_deref().and_then(Notice::parse) == Some(Notice::RepoTokenRevoked) {
        p.c = p.c.notice(Some(Notice::RepoTokenRevoked.message().into()));
    }
    render(&p)
}

#[derive(Deserialize)]
pub struct CreateForm {
    label: String,
}

pub async fn create(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Form(form): Form<CreateForm>,
) -> Result<Response, WebError> {
    if let Some(r) = allowed(&state, &who)? {
        return Ok(r);
    }
    crate::page::limit_fields("The token name", &[(&form.label, 256)])?;
    match state.packages.create_repo_token(&who, &who.user_id, &form.label).await {
        Ok((secret, _)) => {
            let mut p = page(&state, &csrf, &who, Some(secret.to_string())).await?;
            p.c = p.c.notice(Some("Token made. Copy it now: Haven shows it only this once.".into()));
            render(&p)
        }
        Err(PackageError::BadRequest(m)) | Err(PackageError::Core(CoreError::Conflict(m))) => {
            let mut p = page(&state, &csrf, &who, None).await?;
            p.c = p.c.error(Some(m));
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &p)
        }
        Err(e) => Err(web_error(e)),
    }
}

#[derive(Deserialize)]
pub struct RevokeForm {
    token: String,
}

pub async fn revoke(
    State(state): State<AppState>,
    Signed(who): Signed,
    Form(form): Form<RevokeForm>,
) -> Result<Response, WebError> {
    if let Some(r) = allowed(&state, &who)? {
        return Ok(r);
    }
    crate::page::limit_fields("The token id", &[(&form.token, 64)])?;
    state.packages.revoke_repo_token(&who, &form.token).await.map_err(web_error)?;
    Ok(see(&Notice::RepoTokenRevoked.on(paths::REPO_TOKENS)))
}
