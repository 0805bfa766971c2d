//! The service desk's pages: find and add users, act on an account, switch ICE, import PSKC seed
//! files and assign hardware tokens. Every handler goes through `can()` inside the use case.

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use haven_core::CoreError;
use haven_core::identity::records::AccountStatus;
use serde::Deserialize;

use crate::page::{Chrome, Notice, form_error, render, render_status, see, when};
use crate::paths;
use crate::session::{Page, Signed, step_up};
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::DESK, get(search))
        .route(paths::DESK_USERS, post(add_user))
        .route(paths::DESK_USER_ROUTE, get(user))
        .route(paths::DESK_USER_ACTION_ROUTE, post(user_action))
        .route(paths::DESK_ICE, post(global_ice))
        .route(paths::DESK_TOKENS, get(tokens).post(import))
        .route(paths::DESK_TOKENS_ASSIGN, post(assign))
}

pub struct UserRow {
    pub id: String,
    pub email: String,
    pub status: String,
    pub roles: String,
}

#[derive(Template)]
#[template(path = "security/desk.html")]
struct DeskPage {
    title: &'static str,
    c: Chrome,
    q: String,
    rows: Vec<UserRow>,
    ice_on: bool,
    link: Option<String>,
}

#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    done: Option<String>,
}

fn status_label(a: &haven_core::identity::records::Account, now_us: i64) -> String {
    match a.status {
        AccountStatus::Active if !a.has_password() => "waiting for onboarding".into(),
        AccountStatus::Active if a.locked_until_us > now_us => format!("locked until {}", when(a.locked_until_us)),
        s => s.as_str().into(),
    }
}

async fn desk_page(
    state: &AppState,
    csrf: &str,
    who: &haven_core::caller::Caller,
    q: &str,
) -> Result<DeskPage, WebError> {
    let now_us = haven_core::to_micros(state.clock.now());
    let rows = state
        .identity
        .find_accounts(who, q)
        .await?
        .into_iter()
        .map(|a| UserRow {
            status: status_label(&a, now_us),
            roles: a.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "),
            id: a.id,
            email: a.email,
        })
        .collect();
    Ok(DeskPage {
        title: "Service desk",
        c: Chrome::new(csrf, Some(who), "desk"),
        q: q.to_string(),
        rows,
        ice_on: state.identity.ice_globally_enabled().await?,
        link: None,
    })
}

pub async fn search(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Query(q): Query<SearchQuery>,
) -> Result<Response, WebError> {
    let query: String = q.q.unwrap_or_default().chars().take(100).collect();
    let mut page = desk_page(&state, &csrf, &who, &query).await?;
    page.c.notice = q.done.map(|d| Notice::parse(&d).map_or("Done.", Notice::message).to_string());
    render(&page)
}

#[derive(Deserialize)]
pub struct AddForm {
    user_id: String,
    email: String,
    role: Option<String>,
}

pub async fn add_user(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Form(form): Form<AddForm>,
) -> Result<Response, WebError> {
    let admin = form.role.as_deref() == Some("admin");
    match state.identity.add_account(&who, &form.user_id, &form.email, admin).await {
        Ok(link) => {
            let mut page = desk_page(&state, &csrf, &who, "").await?;
            page.c.notice = Some(format!(
                "Account {} created. The onboarding link was emailed to {}; you can also pass it on yourself:",
                form.user_id.trim().to_lowercase(),
                form.email.trim()
            ));
            page.link = Some(link);
            render_status(StatusCode::CREATED, &page)
        }
        Err(CoreError::StepUpRequired) => Ok(step_up(paths::DESK)),
        Err(e @ (CoreError::Invalid { .. } | CoreError::Conflict(_))) => {
            let mut page = desk_page(&state, &csrf, &who, "").await?;
            page.c.error = Some(form_error(e)?);
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(e.into()),
    }
}

pub struct TokenView {
    pub serial: String,
    pub product: &'static str,
    pub state: &'static str,
    pub failures: i64,
    pub created: String,
    pub last_used: String,
}

pub struct EventView {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub source: String,
    pub details: String,
}

#[derive(Template)]
#[template(path = "security/desk_user.html")]
struct UserPage {
    title: &'static str,
    c: Chrome,
    id: String,
    email: String,
    status: String,
    roles: String,
    failed: i64,
    ice_enabled: bool,
    onboarded: bool,
    has_questions: bool,
    recovery_left: i64,
    emergency: Option<String>,
    sessions: usize,
    last_signin: String,
    tokens: Vec<TokenView>,
    personal: Vec<PersonalTokenView>,
    events: Vec<EventView>,
    link: Option<String>,
}

/// A repository or API token as the desk sees it: what it is for, never its secret.
struct PersonalTokenView {
    label: String,
    scope: &'static str,
    handle: String,
    created: String,
    expires: String,
    last_used: String,
}

async fn user_page(
    state: &AppState,
    csrf: &str,
    who: &haven_core::caller::Caller,
    id: &str,
) -> Result<UserPage, WebError> {
    let view = state.identity.account_view(who, id).await?;
    let events = state.identity.account_audit(who, id, 100).await?;
    let now_us = haven_core::to_micros(state.clock.now());
    let a = &view.account;
    Ok(UserPage {
        title: "Account",
        c: Chrome::new(csrf, Some(who), "desk"),
        id: a.id.clone(),
        email: a.email.clone(),
        status: status_label(a, now_us),
        roles: a.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "),
        failed: a.failed_signins,
        ice_enabled: a.ice_enabled,
        onboarded: view.onboarded,
        has_questions: view.has_security_questions,
        recovery_left: view.recovery_codes_left,
        emergency: view.emergency_code_expires_us.map(when),
        sessions: view.sessions.len(),
        last_signin: if a.last_signin_us == 0 { "never".into() } else { when(a.last_signin_us) },
        tokens: view
            .tokens
            .iter()
            .map(|t| TokenView {
                serial: t.serial.clone(),
                product: t.product_label(),
                state: t.state.label(),
                failures: t.failures,
                created: when(t.created_us),
                last_used: if t.last_used_us == 0 { "never".into() } else { when(t.last_used_us) },
            })
            .collect(),
        personal: view
            .personal_tokens
            .iter()
            .map(|t| PersonalTokenView {
                label: t.label.clone(),
                scope: t.scope.as_str(),
                handle: t.handle(),
                created: when(t.created_us),
                expires: when(t.expires_us),
                last_used: if t.last_used_us == 0 { "never".into() } else { when(t.last_used_us) },
            })
            .collect(),
        events: events
            .into_iter()
            .map(|e| EventView {
                at: when(e.at_us),
                actor: e.actor,
                action: e.action,
                source: e.source,
                details: e.details,
            })
            .collect(),
        link: None,
    })
}

pub async fn user(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    render(&user_page(&state, &csrf, &who, &id).await?)
}

/// What the desk is told after starting a reset. The link itself is never shown here: it goes to
/// the user's email only.
fn reset_notice(emailed: bool) -> String {
    if emailed {
        "A password reset link was emailed to the user (it is not shown here). It works once; they must still prove a second factor or answer their security questions.".into()
    } else {
        "The password reset link could not be emailed (see the server log). Check the mail settings and try again; for safety the link is never shown here.".into()
    }
}

#[derive(Deserialize)]
pub struct ActionForm {
    action: String,
}

pub async fn user_action(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, WebError> {
    let by = &who;
    let desk = &state.identity;
    let outcome: Result<(String, Option<String>), CoreError> = match form.action.as_str() {
        "lock" => desk
            .set_account_status(by, &id, AccountStatus::Locked)
            .await
            .map(|()| ("Account locked; its sessions were ended.".into(), None)),
        "unlock" => {
            desk.set_account_status(by, &id, AccountStatus::Active).await.map(|()| ("Account unlocked.".into(), None))
        }
        "disable" => desk
            .set_account_status(by, &id, AccountStatus::Disabled)
            .await
            .map(|()| ("Account disabled; its sessions were ended.".into(), None)),
        "reset_password" => desk.start_password_reset(by, &id).await.map(|emailed| (reset_notice(emailed), None)),
        "onboarding_link" => desk
            .new_onboarding_link(by, &id)
            .await
            .map(|l| ("A new onboarding link was emailed. The link:".into(), Some(l))),
        "revoke_tokens" => desk.revoke_tokens(by, &id).await.map(|n| (format!("{n} token(s) revoked."), None)),
        "revoke_personal_tokens" => desk
            .revoke_personal_tokens(by, &id)
            .await
            .map(|n| (format!("{n} repository or API token(s) revoked."), None)),
        "reset_counters" => desk
            .reset_fail_counters(by, &id)
            .await
            .map(|()| ("Fail counters reset; locked tokens unlocked.".into(), None)),
        "ice_on" => {
            desk.set_account_ice(by, &id, true).await.map(|()| ("ICE logon turned on for this account.".into(), None))
        }
        "ice_off" => {
            desk.set_account_ice(by, &id, false).await.map(|()| ("ICE logon turned off for this account.".into(), None))
        }
        _ => Err(CoreError::invalid("action", "unknown action")),
    };
    match outcome {
        Ok((notice, link)) => {
            let mut page = user_page(&state, &csrf, &who, &id).await?;
            page.c.notice = Some(notice);
            page.link = link;
            render(&page)
        }
        Err(CoreError::StepUpRequired) => Ok(step_up(&paths::desk_user(&id))),
        Err(e @ (CoreError::Invalid { .. } | CoreError::Conflict(_))) => {
            let mut page = user_page(&state, &csrf, &who, &id).await?;
            page.c.error = Some(form_error(e)?);
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct IceForm {
    enabled: String,
}

pub async fn global_ice(
    State(state): State<AppState>,
    Signed(who): Signed,
    Form(form): Form<IceForm>,
) -> Result<Response, WebError> {
    let on = form.enabled == "true";
    match state.identity.set_global_ice(&who, on).await {
        Err(CoreError::StepUpRequired) => return Ok(step_up(paths::DESK)),
        other => other?,
    }
    Ok(see(&if on { Notice::IceOn } else { Notice::IceOff }.on(paths::DESK)))
}

#[derive(Template)]
#[template(path = "security/desk_tokens.html")]
struct TokensPage {
    title: &'static str,
    c: Chrome,
    unassigned: Vec<String>,
}

async fn tokens_page(state: &AppState, csrf: &str, who: &haven_core::caller::Caller) -> Result<TokensPage, WebError> {
    let unassigned = state.identity.unassigned_tokens(who).await?.into_iter().map(|t| t.serial).collect();
    Ok(TokensPage { title: "Hardware tokens", c: Chrome::new(csrf, Some(who), "desk"), unassigned })
}

pub async fn tokens(State(state): State<AppState>, Page { who, csrf }: Page) -> Result<Response, WebError> {
    render(&tokens_page(&state, &csrf, &who).await?)
}

/// Upload a PSKC file (multipart: `file`, optional `key` in hex). All tokens or none.
pub async fn import(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    mut multipart: Multipart,
) -> Result<Response, WebError> {
    let mut file: Option<String> = None;
    let mut key_hex = zeroize::Zeroizing::new(String::new());
    while let Some(field) = multipart.next_field().await.map_err(|e| {
        WebError::new(StatusCode::BAD_REQUEST, "bad_request", format!("The upload could not be read: {e}"))
    })? {
        match field.name() {
            Some("file") => {
                let bytes = field.bytes().await.map_err(|e| {
                    WebError::new(StatusCode::BAD_REQUEST, "bad_request", format!("The file could not be read: {e}"))
                })?;
                file = Some(String::from_utf8(bytes.to_vec()).map_err(|_| {
                    WebError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", "The PSKC file is not UTF-8 text.")
                })?);
            }
            Some("key") => key_hex = zeroize::Zeroizing::new(field.text().await.unwrap_or_default().trim().to_string()),
            _ => {}
        }
    }
    let outcome = async {
        let xml = file.ok_or_else(|| CoreError::invalid("file", "choose a PSKC file"))?;
        let key = if key_hex.is_empty() {
            None
        } else {
            Some(zeroize::Zeroizing::new(hex::decode(key_hex.as_str()).map_err(|_| {
                CoreError::invalid("key", "the pre-shared key is hexadecimal (32, 48 or 64 hex digits)")
            })?))
        };
        let keys = haven_core::identity::pskc::parse(&xml, key.as_ref().map(|k| k.as_slice()))?;
        state.identity.import_tokens(&who, keys).await
    }
    .await;
    let mut page = tokens_page(&state, &csrf, &who).await?;
    match outcome {
        Ok(serials) => {
            page.c.notice = Some(format!(
                "{} token(s) imported: {}. Assign each to its user below.",
                serials.len(),
                serials.join(", ")
            ));
            render(&page)
        }
        Err(CoreError::StepUpRequired) => Ok(step_up(paths::DESK_TOKENS)),
        Err(e @ (CoreError::Invalid { .. } | CoreError::Conflict(_))) => {
            let message = form_error(e)?;
            state.identity.pskc_refused(&who, &message).await?;
            page.c.error = Some(message);
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct AssignForm {
    serial: String,
    user_id: String,
}

pub async fn assign(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Form(form): Form<AssignForm>,
) -> Result<Response, WebError> {
    let outcome = state.identity.assign_token(&who, &form.serial, form.user_id.trim()).await;
    let mut page = tokens_page(&state, &csrf, &who).await?;
    match outcome {
        Ok(()) => {
            page.c.notice = Some(format!(
                "Token {} assigned to {}. They set its PIN and confirm a code in My Tokens.",
                form.serial.trim(),
                form.user_id.trim()
            ));
            render(&page)
        }
        Err(CoreError::StepUpRequired) => Ok(step_up(paths::DESK_TOKENS)),
        Err(e @ (CoreError::Invalid { .. } | CoreError::Conflict(_) | CoreError::NotFound)) => {
            page.c.error = Some(match e {
                CoreError::NotFound => "No such user or token.".to_string(),
                other => form_error(other)?,
            });
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(e.into()),
    }
}
