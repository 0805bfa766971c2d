//! The Applications & Data portal over HTTP: `/apps` (the catalogue to launch from, on one of
//! the caller's assets, and their sessions), a terminal session's page, and its WebSocket
//! ([`terminal`]), which only the session's owner can open.

mod terminal;

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use haven_core::authz::Action;
use haven_core::workspaces::catalogue::App;
use haven_core::workspaces::sessions::SessionRecord;
use serde::Deserialize;

use crate::page::{Chrome, Notice, done_message, form_failure, limit_fields, render, see, when};
use crate::session::{Page, serving};
use crate::{AppState, WebError, paths};

pub const XTERM_JS: &[u8] = include_bytes!("../../static/xterm/xterm.js");
pub const XTERM_FIT_JS: &[u8] = include_bytes!("../../static/xterm/addon-fit.js");
pub const XTERM_CSS: &[u8] = include_bytes!("../../static/xterm/xterm.css");
pub const TERMINAL_JS: &[u8] = include_bytes!("../../static/terminal.js");

pub fn routes() -> Router<AppState> {
    let signed = Router::new()
        .route(paths::APPS, get(home))
        .route(paths::APPS_LAUNCH, post(launch))
        .route(paths::APP_SESSION_ROUTE, get(session))
        .route(paths::APP_SESSION_TERMINAL_ROUTE, get(terminal::connect))
        .route(paths::APP_SESSION_STOP_ROUTE, post(stop));
    serving(Action::UseOwnSessions, signed)
        .route(paths::XTERM_SCRIPT, get(|| async { asset(XTERM_JS, "text/javascript; charset=utf-8") }))
        .route(paths::XTERM_FIT_SCRIPT, get(|| async { asset(XTERM_FIT_JS, "text/javascript; charset=utf-8") }))
        .route(paths::XTERM_STYLESHEET, get(|| async { asset(XTERM_CSS, "text/css; charset=utf-8") }))
        .route(paths::TERMINAL_SCRIPT, get(|| async { asset(TERMINAL_JS, "text/javascript; charset=utf-8") }))
}

fn asset(body: &'static [u8], kind: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    r
}

struct SessionRow {
    id: String,
    app: String,
    asset: String,
    started: String,
    running: bool,
    ended: String,
}

fn row(s: &SessionRecord) -> SessionRow {
    SessionRow {
        id: s.id.clone(),
        app: format!("{} {}", s.app_name, s.app_version),
        asset: s.asset.clone(),
        started: when(s.started_us),
        running: s.running(),
        ended: if s.running() { String::new() } else { format!("{} ({})", when(s.ended_us), s.end_reason) },
    }
}

#[derive(Template)]
#[template(path = "apps/home.html")]
struct HomePage {
    title: &'static str,
    c: Chrome,
    apps: Vec<App>,
    assets: Vec<String>,
    blocked: Vec<(String, String)>,
    sessions: Vec<SessionRow>,
    idle_minutes: u32,
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// `/apps`: launch an application on one of the caller's assets; their sessions.
async fn home(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    show_home(&state, &csrf, &who, done_message(q.done.as_deref()), None).await
}

async fn show_home(
    state: &AppState,
    csrf: &str,
    who: &haven_core::caller::Caller,
    notice: Option<String>,
    error: Option<(String, Option<&'static str>)>,
) -> Result<Response, WebError> {
    let listing = state.catalogue.list(who).await?;
    let mut assets = Vec::new();
    let mut blocked = Vec::new();
    for a in state.governance.my_assets(who).await? {
        match a.blocked {
            None => assets.push(a.asset.name),
            Some(why) => blocked.push((a.asset.name, why)),
        }
    }
    let sessions = state.sessions.list(who, false).await?.iter().map(row).collect();
    let mut c = Chrome::new(csrf, Some(who), "apps").notice(notice);
    if let Some(e) = error {
        c = c.failed(e);
    }
    render(&HomePage {
        title: "Applications",
        c,
        apps: listing.apps,
        assets,
        blocked,
        sessions,
        idle_minutes: state.sessions.config().idle_minutes,
    })
}

#[derive(Deserialize)]
pub struct LaunchForm {
    #[serde(default)]
    asset: String,
    /// `name@version`.
    #[serde(default)]
    app: String,
}

/// Launch a session, then open it.
async fn launch(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Form(form): Form<LaunchForm>,
) -> Result<Response, WebError> {
    limit_fields("the form", &[(&form.asset, 200), (&form.app, 200)])?;
    let (name, version) = form.app.split_once('@').unwrap_or((form.app.as_str(), ""));
    match state.sessions.launch(&who, &form.asset, name, version).await {
        Ok(s) => Ok(see(&paths::app_session(&s.id))),
        Err(e @ (haven_core::CoreError::Forbidden | haven_core::CoreError::NotFound)) => Err(e.into()),
        Err(e) => show_home(&state, &csrf, &who, None, Some(form_failure(e)?)).await,
    }
}

#[derive(Template)]
#[template(path = "apps/terminal.html")]
struct TerminalPage {
    title: &'static str,
    c: Chrome,
    s: SessionRow,
    /// What an ended session showed last (why a program stopped at once).
    last: Option<String>,
    /// For the `<style>` elements xterm.js makes (`terminal.js` puts it on them).
    nonce: String,
}

/// A session's page: the terminal, its owner's only (anyone else gets 404, audited).
async fn session(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let s = state.sessions.get(&who, &id).await?;
    if s.owner != who.user_id {
        // The desk may list and stop it, never look into it.
        state.sessions.own_running(&who, &id).await?;
    }
    let last = state.sessions.last_output(&who, &id).await?.map(|b| plain_text(&b, 40)).filter(|t| !t.is_empty());
    let raw: [u8; 16] = haven_crypto::rng::random_array(state.rng.as_ref()).map_err(WebError::internal)?;
    let nonce = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, raw);
    let mut page = render(&TerminalPage {
        title: "Terminal",
        c: Chrome::new(&csrf, Some(&who), "apps"),
        s: row(&s),
        last,
        nonce: nonce.clone(),
    })?;
    let policy = HeaderValue::from_str(&crate::headers::csp_with_style_nonce(&nonce)).map_err(WebError::internal)?;
    page.headers_mut().insert(header::CONTENT_SECURITY_POLICY, policy);
    Ok(page)
}

/// A terminal's output as plain text: escape sequences (colours, cursor moves) and carriage
/// returns taken out, its last `lines` lines.
fn plain_text(bytes: &[u8], lines: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                // CSI: parameters, then one final byte from '@' to '~'.
                Some('[') => {
                    for f in chars.by_ref() {
                        if ('@'..='~').contains(&f) {
                            break;
                        }
                    }
                }
                // OSC: up to BEL or ESC \.
                Some(']') => {
                    while let Some(f) = chars.next() {
                        if f == '\u{7}' || (f == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\r' => {}
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    let kept: Vec<&str> = out.trim_end().lines().collect();
    kept[kept.len().saturating_sub(lines)..].join("\n")
}

/// Stop a session: its owner, or the service desk.
async fn stop(
    State(state): State<AppState>,
    Page { who, .. }: Page,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    state.sessions.stop(&who, &id).await?;
    Ok(see(&Notice::SessionStopped.on(paths::APPS)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_terminal_s_last_output_reads_as_plain_text() {
        let shown = b"\x1b[?2004hbash-5.2$ \x1b[31mred\x1b[0m\r\n\x1b]0;title\x07prlimit: failed\r\n";
        assert_eq!(super::plain_text(shown, 40), "bash-5.2$ red\nprlimit: failed");
        assert_eq!(super::plain_text(b"1\n2\n3\n", 2), "2\n3");
    }
}
