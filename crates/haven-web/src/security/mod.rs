//! The Security & Tokens portal (`/security`): sign-in and sign-out, My Tokens, ICE logon and
//! emergency codes, password, recovery codes, sessions, security questions, onboarding and reset
//! links, and the service desk's pages. Handlers parse, ask `haven_core::identity`, and render.

mod account;
mod api_tokens;
mod desk;
mod ice;
mod links;
mod signin;
mod tokens;

use axum::Router;
use axum::response::Redirect;
use axum::routing::{get, post};
use haven_core::authz::Action;

use crate::AppState;
use crate::paths;
use crate::session::serving;

pub fn routes() -> Router<AppState> {
    let tokens = Router::new()
        .route(paths::TOKENS, get(tokens::list).post(tokens::create))
        .route(paths::TOKENS_RECEIVE, get(tokens::receive_show).post(tokens::receive))
        .route(paths::TOKEN_PIN_ROUTE, get(tokens::pin_show).post(tokens::pin_submit))
        .route(paths::TOKEN_PUSH_ROUTE, get(tokens::push_show).post(tokens::push_submit))
        .route(paths::TOKEN_ACTIVATE_ROUTE, get(tokens::activate_show).post(tokens::activate))
        .route(paths::TOKEN_RESYNC_ROUTE, get(tokens::resync_show).post(tokens::resync_submit))
        .route(paths::TOKEN_STATE_ROUTE, post(tokens::set_state));
    let emergency = Router::new()
        .route(paths::EMERGENCY, get(ice::emergency))
        .route(paths::EMERGENCY_REQUEST, get(ice::request_show).post(ice::request_submit));
    let credentials = Router::new()
        .route(paths::RECOVERY, get(account::recovery_show).post(account::recovery_submit))
        .route(paths::SESSIONS, get(account::sessions_show).post(account::sessions_end_others))
        .route(paths::API_TOKENS, get(api_tokens::list).post(api_tokens::create))
        .route(paths::API_TOKENS_REVOKE, post(api_tokens::revoke));
    Router::new()
        .route(paths::SECURITY, get(signin::portal))
        .route(paths::SECURITY_SLASH, get(|| async { Redirect::permanent(paths::SECURITY) }))
        .route(paths::SIGNIN, get(signin::show).post(signin::submit))
        .route(paths::SIGNOUT, post(signin::sign_out))
        .route(paths::ICE, get(ice::start).post(ice::user_id))
        .route(paths::ICE_PASSWORD, post(ice::password))
        .route(paths::ICE_ANSWERS, post(ice::answers))
        .route(paths::ONBOARD, get(links::onboard_show).post(links::onboard_submit))
        .route(paths::RESET, get(links::reset_show).post(links::reset_submit))
        .route(paths::FORGOT, get(links::forgot_show).post(links::forgot_submit))
        .merge(serving(
            Action::ConfirmIdentity,
            Router::new().route(paths::CONFIRM, get(signin::confirm_show).post(signin::confirm_submit)),
        ))
        .merge(serving(Action::ManageOwnTokens, tokens))
        .merge(serving(Action::RequestEmergencyCode, emergency))
        .merge(serving(
            Action::ChangeOwnPassword,
            Router::new().route(paths::PASSWORD, get(account::password_show).post(account::password_submit)),
        ))
        .merge(serving(Action::ManageOwnCredentials, credentials))
        .merge(serving(
            Action::SetSecurityAnswers,
            Router::new().route(paths::QUESTIONS, get(account::questions_show).post(account::questions_submit)),
        ))
        .merge(serving(Action::ManageAccounts, desk::routes()))
}
