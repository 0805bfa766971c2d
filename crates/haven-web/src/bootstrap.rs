//! The one-time bootstrap page that creates the first service-desk administrator.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Form, Router};
use haven_core::CoreError;
use haven_core::service::NewAdmin;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::csrf::CsrfToken;
use crate::paths;
use crate::session::Visitor;
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new().route(paths::BOOTSTRAP, get(show).post(create))
}

#[derive(Template)]
#[template(path = "bootstrap.html")]
struct BootstrapForm<'a> {
    title: &'a str,
    csrf: &'a str,
    token: &'a str,
    user_id: &'a str,
    email: &'a str,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "bootstrap_done.html")]
struct BootstrapDone<'a> {
    title: &'a str,
    user_id: &'a str,
}

#[derive(Deserialize)]
struct LinkQuery {
    token: Option<String>,
}

async fn already_done(state: &AppState) -> Result<Option<WebError>, WebError> {
    if !state.service.needs_bootstrap().await? {
        return Ok(Some(WebError::new(
            StatusCode::GONE,
            "already_bootstrapped",
            "Haven already has an administrator, so bootstrap links no longer work. Sign in instead, or ask the service desk.",
        )));
    }
    Ok(None)
}

async fn show(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Query(q): Query<LinkQuery>,
) -> Result<Response, WebError> {
    if let Some(gone) = already_done(&state).await? {
        return Err(gone);
    }
    let token = q.token.unwrap_or_default();
    if !haven_crypto::token::looks_like_token(&token) {
        return Err(CoreError::LinkInvalid.into());
    }
    let page = BootstrapForm {
        title: "Create the first administrator",
        csrf: &csrf.0,
        token: &token,
        user_id: "",
        email: "",
        error: None,
    };
    Ok(Html(page.render().map_err(WebError::internal)?).into_response())
}

#[derive(Deserialize)]
struct CreateAdmin {
    token: String,
    user_id: String,
    email: String,
    password: Zeroizing<String>,
    password_confirm: Zeroizing<String>,
}

async fn create(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Visitor(visitor): Visitor,
    Form(form): Form<CreateAdmin>,
) -> Result<Response, WebError> {
    if let Some(gone) = already_done(&state).await? {
        state.service.bootstrap_refused(&visitor, gone.code).await?;
        return Err(gone);
    }
    let user_id = form.user_id.trim().to_lowercase();
    let email = form.email.trim().to_string();
    let again = |error: String| -> Result<Response, WebError> {
        let page = BootstrapForm {
            title: "Create the first administrator",
            csrf: &csrf.0,
            token: &form.token,
            user_id: &user_id,
            email: &email,
            error: Some(error),
        };
        Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render().map_err(WebError::internal)?)).into_response())
    };
    let admin = NewAdmin {
        user_id: form.user_id.clone(),
        email: form.email.clone(),
        password: form.password.clone(),
        confirm: form.password_confirm.clone(),
    };
    match state.service.bootstrap_admin(&visitor, &form.token, admin).await {
        Ok(user) => {
            tracing::info!(user = %user.id, "first administrator created");
            // Straight into enrolment: the administrator sets security questions and a token
            // before anything else.
            let session = state.identity.start_enrolment(&user.id, &visitor.source, "").await?;
            let page = BootstrapDone { title: "Administrator created", user_id: &user.id };
            let mut response = (StatusCode::CREATED, Html(page.render().map_err(WebError::internal)?)).into_response();
            response.headers_mut().insert(axum::http::header::SET_COOKIE, crate::session::set_cookie(&session.secret)?);
            Ok(response)
        }
        Err(e @ CoreError::Invalid { .. }) => again(e.to_string()),
        Err(CoreError::Store(haven_core::StoreError::Duplicate(_))) => again("user_id: that user id is taken".into()),
        Err(e) => Err(e.into()),
    }
}
