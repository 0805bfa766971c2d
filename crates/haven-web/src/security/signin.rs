//! Sign-in, sign-out, step-up confirmation, and the portal's front page.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use haven_core::CoreError;
use haven_core::authz::{Action, Resource, can};
use haven_core::caller::Caller;
use haven_core::identity::signin::Credentials;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::csrf::CsrfToken;
use crate::page::{Chrome, Notice, done_message, form_error, render, render_status, see};
use crate::paths;
use crate::session::{Page, Viewer, Visitor, clear_cookie, cookie_secret, safe_next, set_cookie};
use crate::{AppState, WebError};

#[derive(Template)]
#[template(path = "security/signin.html")]
struct SignInPage {
    title: &'static str,
    c: Chrome,
    user_id: String,
    next: String,
    ice_enabled: bool,
}

#[derive(Template)]
#[template(path = "security/home.html")]
struct HomePage {
    title: &'static str,
    c: Chrome,
    who: Caller,
    tokens: usize,
    active_tokens: usize,
    recovery_left: i64,
    has_questions: bool,
    /// The assets the person cannot reach now, each with why and what to do.
    blocked: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "security/confirm.html")]
struct ConfirmPage {
    title: &'static str,
    c: Chrome,
    next: String,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    done: Option<String>,
}

/// `/security`: the sign-in form, or what the signed-in user can do next.
pub async fn portal(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Viewer(who): Viewer,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    let Some(who) = who else { return show(State(state), Extension(csrf), Query(q)).await };
    let tokens = state.identity.my_tokens(&who).await?;
    let active = tokens.iter().filter(|t| t.state == haven_core::identity::records::TokenState::Active).count();
    let recovery_left = state.identity.recovery_codes_left(&who).await?;
    let has_questions = state.identity.has_security_answers(&who).await?;
    let blocked = if can(&who, Action::UseOwnGovernance, Resource::Account(&who.user_id)) {
        let mine = state.governance.my_assets(&who).await?;
        mine.into_iter().filter_map(|m| Some((m.asset.name, m.blocked?))).collect()
    } else {
        Vec::new()
    };
    render(&HomePage {
        blocked,
        title: "Security & Tokens",
        c: Chrome::new(&csrf.0, Some(&who), "home").notice(done_message(q.done.as_deref())),
        tokens: tokens.len(),
        active_tokens: active,
        recovery_left,
        has_questions,
        who,
    })
}

pub async fn show(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    let next = safe_next(q.next.as_deref());
    // A token delivery link opened where nobody is signed in (often another device): say why
    // it asks for a sign-in, and what to do if this is not where the token was set up.
    let notice = if next.starts_with(paths::TOKENS_RECEIVE) {
        Some(
            "This link shows your new token, to whoever is signed in as you. Open it in the browser where you are \
             signed in to Haven (where you asked for the email). If you are not set up yet, you cannot sign in here: \
             go back to that browser, or PUSH the token again from My Tokens and choose On screen."
                .to_string(),
        )
    } else {
        done_message(q.done.as_deref())
    };
    render(&SignInPage {
        title: "Sign in",
        c: Chrome::new(&csrf.0, None, "signin").notice(notice),
        user_id: String::new(),
        next,
        ice_enabled: state.identity.ice_globally_enabled().await?,
    })
}

#[derive(Deserialize)]
pub struct SignInForm {
    user_id: String,
    password: Zeroizing<String>,
    passcode: Zeroizing<String>,
    next: Option<String>,
}

pub async fn submit(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    Visitor(visitor): Visitor,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, WebError> {
    let next = safe_next(form.next.as_deref());
    let user_id: String = form.user_id.trim().chars().take(64).collect();
    crate::page::limit_fields("The password or passcode", &[(&form.password, 1024), (&form.passcode, 64)])?;
    let replaces = cookie_secret(&headers).map(|s| haven_crypto::token::hash_token(&s));
    let creds = Credentials { user_id: user_id.clone(), password: form.password, passcode: form.passcode };
    match state.identity.sign_in(&visitor, creds, replaces).await {
        Ok(ok) => {
            let to = if ok.password_expired {
                paths::PASSWORD.to_string()
            } else if state.governance.needs_aus(&user_id).await? {
                // First sign-in, or a new version: the Acceptable Use Statement comes first.
                let encoded: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
                format!("{}?next={encoded}", paths::GOV_AUS)
            } else {
                next
            };
            let mut response = see(&to);
            response.headers_mut().insert(header::SET_COOKIE, set_cookie(&ok.session.secret)?);
            Ok(response)
        }
        Err(e @ (CoreError::SignInFailed | CoreError::TooManyAttempts(_))) => {
            let status = if matches!(e, CoreError::SignInFailed) {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::TOO_MANY_REQUESTS
            };
            render_status(
                status,
                &SignInPage {
                    title: "Sign in",
                    c: Chrome::new(&csrf.0, None, "signin").error(Some(e.to_string())),
                    user_id,
                    next,
                    ice_enabled: state.identity.ice_globally_enabled().await?,
                },
            )
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct SignOutForm {
    /// `signin`: the user signs out to sign in again at once (after setting up a token).
    then: Option<String>,
}

pub async fn sign_out(
    State(state): State<AppState>,
    Viewer(who): Viewer,
    Form(form): Form<SignOutForm>,
) -> Result<Response, WebError> {
    if let Some(who) = who {
        state.identity.sign_out(&who).await?;
    }
    let to = match form.then.as_deref() {
        Some("signin") => Notice::ReadyToSignIn,
        _ => Notice::SignedOut,
    };
    let mut response = see(&to.on(paths::SIGNIN));
    response.headers_mut().insert(header::SET_COOKIE, clear_cookie());
    Ok(response)
}

pub async fn confirm_show(Page { who, csrf }: Page, Query(q): Query<NextQuery>) -> Result<Response, WebError> {
    render(&ConfirmPage {
        title: "Confirm it is you",
        c: Chrome::new(&csrf, Some(&who), "confirm"),
        next: safe_next(q.next.as_deref()),
    })
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    password: Zeroizing<String>,
    passcode: Zeroizing<String>,
    next: Option<String>,
}

pub async fn confirm_submit(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, WebError> {
    let next = safe_next(form.next.as_deref());
    match state.identity.confirm_identity(&who, &form.password, &form.passcode).await {
        Ok(()) => Ok(see(&next)),
        Err(e) => {
            let message = form_error(e)?;
            render_status(
                StatusCode::UNAUTHORIZED,
                &ConfirmPage {
                    title: "Confirm it is you",
                    c: Chrome::new(&csrf, Some(&who), "confirm").error(Some(message)),
                    next,
                },
            )
            .map(IntoResponse::into_response)
        }
    }
}
