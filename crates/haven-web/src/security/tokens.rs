//! My Tokens: the list (product, serial, state, created, last used) with a menu per token
//! (Reset PIN, PUSH → Email or on screen, resynchronise, disable, enable, delete), Create, and the
//! page that shows a token's QR code once and takes its first code.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use haven_core::CoreError;
use haven_core::caller::{Caller, Level};
use haven_core::identity::records::{OtpKind, OtpTokenRecord, TokenState};
use haven_core::identity::tokens::{Enrolment, Product};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::page::{Chrome, Notice, done_message, form_error, form_failure, render, render_status, see, when};
use crate::paths;
use crate::session::{Page, step_up};
use crate::{AppState, WebError};

pub struct TokenRow {
    pub serial: String,
    pub product: &'static str,
    pub state: &'static str,
    pub pending: bool,
    pub active: bool,
    pub disabled: bool,
    pub hotp: bool,
    pub hardware: bool,
    pub created: String,
    pub last_used: String,
}

fn rows(tokens: &[OtpTokenRecord]) -> Vec<TokenRow> {
    tokens
        .iter()
        .map(|t| TokenRow {
            serial: t.serial.clone(),
            product: t.product_label(),
            state: if t.state == TokenState::Pending && t.pin_hash.is_none() {
                "New: set its PIN"
            } else {
                t.state.label()
            },
            pending: t.state == TokenState::Pending,
            active: t.state == TokenState::Active,
            disabled: t.state == TokenState::Disabled,
            hotp: t.kind == OtpKind::Hotp,
            hardware: t.product == "hardware",
            created: when(t.created_us),
            last_used: if t.last_used_us == 0 { "never".into() } else { when(t.last_used_us) },
        })
        .collect()
}

#[derive(Template)]
#[template(path = "security/tokens.html")]
struct TokensPage {
    title: &'static str,
    c: Chrome,
    rows: Vec<TokenRow>,
    needs_token: bool,
    /// A token waits for its PIN, PUSH or first code.
    has_pending: bool,
    /// Onboarding is done (a token is active): the next step is a full sign-in.
    ready_to_sign_in: bool,
    ice: bool,
}

#[derive(Template)]
#[template(path = "security/token_pin.html")]
struct PinPage {
    title: &'static str,
    c: Chrome,
    serial: String,
    min_digits: usize,
}

#[derive(Template)]
#[template(path = "security/token_push.html")]
struct PushPage {
    title: &'static str,
    c: Chrome,
    serial: String,
}

#[derive(Template)]
#[template(path = "security/token_resync.html")]
struct ResyncPage {
    title: &'static str,
    c: Chrome,
    serial: String,
}

#[derive(Template)]
#[template(path = "security/token_receive.html")]
struct ReceivePage {
    title: &'static str,
    c: Chrome,
    token: String,
}

#[derive(Template)]
#[template(path = "security/token_enrol.html")]
struct EnrolPage {
    title: &'static str,
    c: Chrome,
    serial: String,
    product: &'static str,
    /// The QR code (SVG made here from the URI); empty after a failed activation.
    qr_svg: String,
    uri: String,
    /// The secret key in groups of four, for apps that take it typed in.
    key_groups: String,
    /// A hardware token: the code comes from the device, there is no QR code.
    hardware: bool,
}

/// The `secret=` of an otpauth URI in groups of four characters, as authenticator apps show and
/// take it ("JBSW Y3DP EHPK 3PXP").
fn key_in_groups(uri: &str) -> String {
    let secret = uri.split(['?', '&']).find_map(|p| p.strip_prefix("secret=")).unwrap_or_default();
    secret.as_bytes().chunks(4).filter_map(|c| std::str::from_utf8(c).ok()).collect::<Vec<_>>().join(" ")
}

fn qr_svg(uri: &str) -> Result<String, WebError> {
    let code =
        qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M).map_err(WebError::internal)?;
    Ok(code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(240, 240).quiet_zone(true).build().replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"QR code of the token, for the authenticator app\" ",
        1,
    ))
}

fn enrol_page(csrf: &str, who: &Caller, e: &Enrolment) -> Result<EnrolPage, WebError> {
    Ok(EnrolPage {
        title: "Add the token to your app",
        c: Chrome::new(csrf, Some(who), "tokens"),
        serial: e.serial.clone(),
        product: e.product_label,
        qr_svg: qr_svg(&e.uri)?,
        uri: e.uri.to_string(),
        key_groups: key_in_groups(&e.uri),
        hardware: false,
    })
}

async fn tokens_page(
    state: &AppState,
    csrf: &str,
    who: &Caller,
    notice: Option<String>,
    error: Option<String>,
) -> Result<TokensPage, WebError> {
    let tokens = state.identity.my_tokens(who).await?;
    Ok(TokensPage {
        title: "My Tokens",
        c: Chrome::new(csrf, Some(who), "tokens").notice(notice).error(error),
        has_pending: tokens.iter().any(|t| t.state == haven_core::identity::records::TokenState::Pending),
        rows: rows(&tokens),
        needs_token: who.needs_token(),
        // Set up in a limited session (onboarding, ICE): a full sign-in comes next.
        ready_to_sign_in: !who.needs_token() && who.level == Level::Enrol,
        ice: who.level == Level::Ice,
    })
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    render(&tokens_page(&state, &csrf, &who, done_message(q.done.as_deref()), None).await?)
}

/// Re-show My Tokens with an error, or the error page for what a form cannot fix.
async fn token_error(
    state: &AppState,
    csrf: &str,
    who: &Caller,
    e: CoreError,
    back: &str,
) -> Result<Response, WebError> {
    if matches!(e, CoreError::StepUpRequired) {
        return Ok(step_up(back));
    }
    let status = match &e {
        CoreError::Forbidden => return Err(e.into()),
        CoreError::NotFound => return Err(e.into()),
        CoreError::Conflict(_) => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let message = form_error(e)?;
    render_status(status, &tokens_page(state, csrf, who, None, Some(message)).await?)
}

#[derive(Deserialize)]
pub struct CreateForm {
    product: String,
}

pub async fn create(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Form(form): Form<CreateForm>,
) -> Result<Response, WebError> {
    let Some(product) = Product::parse(&form.product) else {
        let e = CoreError::invalid("product", "choose a product from the list");
        return token_error(&state, &csrf, &who, e, paths::TOKENS).await;
    };
    match state.identity.create_token(&who, product).await {
        Ok(_) => Ok(see(&Notice::TokenCreated.on(paths::TOKENS))),
        Err(e) => token_error(&state, &csrf, &who, e, paths::TOKENS).await,
    }
}

pub async fn pin_show(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(serial): Path<String>,
) -> Result<Response, WebError> {
    render(&PinPage {
        title: "Reset PIN",
        c: Chrome::new(&csrf, Some(&who), "tokens"),
        serial,
        min_digits: state.identity.policy.pin_min_digits,
    })
}

#[derive(Deserialize)]
pub struct PinForm {
    pin: Zeroizing<String>,
    pin_confirm: Zeroizing<String>,
}

pub async fn pin_submit(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(serial): Path<String>,
    Form(form): Form<PinForm>,
) -> Result<Response, WebError> {
    crate::page::limit_fields("A PIN", &[(&form.pin, 64), (&form.pin_confirm, 64)])?;
    match state.identity.reset_pin(&who, &serial, &form.pin, &form.pin_confirm).await {
        Ok(()) => Ok(see(&Notice::PinSet.on(paths::TOKENS))),
        Err(CoreError::StepUpRequired) => Ok(step_up(&paths::token_pin(&serial))),
        Err(e @ CoreError::Invalid { .. }) => {
            let page = PinPage {
                title: "Reset PIN",
                c: Chrome::new(&csrf, Some(&who), "tokens").failed(form_failure(e)?),
                serial,
                min_digits: state.identity.policy.pin_min_digits,
            };
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => token_error(&state, &csrf, &who, e, paths::TOKENS).await,
    }
}

pub async fn push_show(Page { who, csrf }: Page, Path(serial): Path<String>) -> Result<Response, WebError> {
    render(&PushPage { title: "PUSH the token", c: Chrome::new(&csrf, Some(&who), "tokens"), serial })
}

#[derive(Deserialize)]
pub struct PushForm {
    method: String,
}

pub async fn push_submit(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(serial): Path<String>,
    Form(form): Form<PushForm>,
) -> Result<Response, WebError> {
    let outcome = match form.method.as_str() {
        "email" => state.identity.deliver_by_email(&who, &serial).await.map(|()| None),
        "screen" => state.identity.deliver_on_screen(&who, &serial).await.map(Some),
        _ => Err(CoreError::invalid("method", "choose Email or On screen")),
    };
    match outcome {
        Ok(None) => Ok(see(&Notice::TokenEmailed.on(paths::TOKENS))),
        Ok(Some(enrolment)) => render(&enrol_page(&csrf, &who, &enrolment)?),
        Err(e) => token_error(&state, &csrf, &who, e, &paths::token_push(&serial)).await,
    }
}

#[derive(Deserialize)]
pub struct LinkQuery {
    token: Option<String>,
}

/// The emailed link lands here; showing the token is a POST, so that a link scanner fetching the
/// URL does not use it up.
pub async fn receive_show(Page { who, csrf }: Page, Query(q): Query<LinkQuery>) -> Result<Response, WebError> {
    let token = q.token.unwrap_or_default();
    if !haven_crypto::token::looks_like_token(&token) {
        return Err(CoreError::LinkInvalid.into());
    }
    render(&ReceivePage { title: "Receive your token", c: Chrome::new(&csrf, Some(&who), "tokens"), token })
}

#[derive(Deserialize)]
pub struct ReceiveForm {
    token: String,
}

pub async fn receive(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Form(form): Form<ReceiveForm>,
) -> Result<Response, WebError> {
    if !haven_crypto::token::looks_like_token(&form.token) {
        return Err(CoreError::LinkInvalid.into());
    }
    let enrolment = state.identity.open_delivery_link(&who, &form.token).await?;
    render(&enrol_page(&csrf, &who, &enrolment)?)
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

pub async fn activate(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(serial): Path<String>,
    Form(form): Form<CodeForm>,
) -> Result<Response, WebError> {
    let code: String = form.code.chars().filter(|c| !c.is_whitespace()).take(16).collect();
    match state.identity.activate_token(&who, &serial, &code).await {
        Ok(()) => Ok(see(&Notice::TokenActivated.on(paths::TOKENS))),
        Err(e @ CoreError::Invalid { .. }) => {
            let page = EnrolPage {
                title: "Add the token to your app",
                c: Chrome::new(&csrf, Some(&who), "tokens").failed(form_failure(e)?),
                serial,
                product: "",
                qr_svg: String::new(),
                uri: String::new(),
                key_groups: String::new(),
                hardware: false,
            };
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => token_error(&state, &csrf, &who, e, paths::TOKENS).await,
    }
}

/// Activate a hardware token (assigned by the service desk): type a code from the device.
pub async fn activate_show(Page { who, csrf }: Page, Path(serial): Path<String>) -> Result<Response, WebError> {
    render(&EnrolPage {
        title: "Activate your token",
        c: Chrome::new(&csrf, Some(&who), "tokens"),
        serial,
        product: "Hardware",
        qr_svg: String::new(),
        uri: String::new(),
        key_groups: String::new(),
        hardware: true,
    })
}

pub async fn resync_show(Page { who, csrf }: Page, Path(serial): Path<String>) -> Result<Response, WebError> {
    render(&ResyncPage { title: "Resynchronise", c: Chrome::new(&csrf, Some(&who), "tokens"), serial })
}

#[derive(Deserialize)]
pub struct ResyncForm {
    first: String,
    second: String,
}

pub async fn resync_submit(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(serial): Path<String>,
    Form(form): Form<ResyncForm>,
) -> Result<Response, WebError> {
    match state.identity.resync_token(&who, &serial, &form.first, &form.second).await {
        Ok(()) => Ok(see(&Notice::TokenResynced.on(paths::TOKENS))),
        Err(e) => token_error(&state, &csrf, &who, e, paths::TOKENS).await,
    }
}

#[derive(Deserialize)]
pub struct StateForm {
    action: String,
}

pub async fn set_state(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(serial): Path<String>,
    Form(form): Form<StateForm>,
) -> Result<Response, WebError> {
    let id = &state.identity;
    let (outcome, done) = match form.action.as_str() {
        "disable" => (id.set_token_enabled(&who, &serial, false).await, Notice::TokenDisabled),
        "enable" => (id.set_token_enabled(&who, &serial, true).await, Notice::TokenEnabled),
        "delete" => (id.delete_token(&who, &serial).await, Notice::TokenDeleted),
        _ => (Err(CoreError::invalid("action", "choose disable, enable or delete")), Notice::TokenDeleted),
    };
    match outcome {
        Ok(()) => Ok(see(&done.on(paths::TOKENS))),
        Err(e) => token_error(&state, &csrf, &who, e, paths::TOKENS).await,
    }
}
