//! The Applications & Data portal over HTTP: `/apps` (the catalogue to launch from, on one of
//! the caller's assets, and their sessions), a terminal session's page, and its WebSocket
//! ([`terminal`]), which only the session's owner can open; batch jobs ([`jobs`]).

mod desktop;
mod jobs;
pub mod reach;
mod terminal;
mod web;

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use haven_core::authz::Action;
use haven_core::workspaces::browse::Which;
use haven_core::workspaces::catalogue::{App, NewApp};
use haven_core::workspaces::sessions::SessionRecord;
use serde::Deserialize;

use crate::page::{Chrome, Notice, done_message, form_failure, limit_fields, render, see, when};
use crate::session::{Page, serving};
use crate::{AppState, WebError, paths};

pub const XTERM_JS: &[u8] = include_bytes!("../../static/xterm/xterm.js");
pub const XTERM_FIT_JS: &[u8] = include_bytes!("../../static/xterm/addon-fit.js");
pub const XTERM_CSS: &[u8] = include_bytes!("../../static/xterm/xterm.css");
pub const TERMINAL_JS: &[u8] = include_bytes!("../../static/terminal.js");
pub const JOB_JS: &[u8] = include_bytes!("../../static/job.js");
pub const WEB_SESSION_JS: &[u8] = include_bytes!("../../static/web-session.js");
pub const DESKTOP_JS: &[u8] = include_bytes!("../../static/desktop.js");
pub const NOVNC_JS: &[u8] = include_bytes!("../../static/novnc/rfb.js");

/// A web session's address on Haven's own origin: sent on to the web sessions' origin, where
/// it is served (nothing of it is served here).
async fn to_sessions_origin(State(state): State<AppState>, uri: axum::http::Uri) -> Response {
    let target = format!("{}{}", state.config.sessions_url, uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    see(&target)
}

/// The web sessions' origin: each session's application, its owner's alone.
pub fn web_routes() -> Router<AppState> {
    let signed = Router::new()
        .route(paths::APP_SESSION_WEB_ROUTE, axum::routing::any(web::proxy))
        .route(paths::APP_SESSION_WEB_ROOT_ROUTE, axum::routing::any(web::proxy))
        .route(paths::APP_SESSION_WEB_REST_ROUTE, axum::routing::any(web::proxy));
    serving(Action::UseOwnSessions, signed)
}

pub fn routes() -> Router<AppState> {
    let signed = Router::new()
        .route(paths::APPS, get(home))
        .route(paths::APPS_LAUNCH, post(launch))
        .route(paths::APPS_DRIVES_ROUTE, get(drives))
        .route(paths::APPS_DRIVES_COPY_ROUTE, post(copy_within))
        .route(paths::APPS_CATALOGUE, get(catalogue).post(add_to_catalogue))
        .route(paths::APP_SESSION_ROUTE, get(session))
        .route(paths::APP_SESSION_TERMINAL_ROUTE, get(terminal::connect))
        .route(paths::APP_SESSION_STOP_ROUTE, post(stop))
        .route(paths::APP_SESSION_READY_ROUTE, get(web::ready))
        .route(paths::APP_SESSION_DESKTOP_ROUTE, get(desktop::connect))
        .route(paths::APPS_JOBS, get(jobs::list).post(jobs::submit))
        .route(paths::APP_JOB_ROUTE, get(jobs::job))
        .route(paths::APP_JOB_CANCEL_ROUTE, post(jobs::cancel));
    serving(Action::UseOwnSessions, signed)
        .route(paths::APP_SESSION_WEB_ROUTE, get(to_sessions_origin))
        .route(paths::APP_SESSION_WEB_ROOT_ROUTE, get(to_sessions_origin))
        .route(paths::APP_SESSION_WEB_REST_ROUTE, get(to_sessions_origin))
        .route(paths::XTERM_SCRIPT, get(|| async { asset(XTERM_JS, "text/javascript; charset=utf-8") }))
        .route(paths::XTERM_FIT_SCRIPT, get(|| async { asset(XTERM_FIT_JS, "text/javascript; charset=utf-8") }))
        .route(paths::XTERM_STYLESHEET, get(|| async { asset(XTERM_CSS, "text/css; charset=utf-8") }))
        .route(paths::TERMINAL_SCRIPT, get(|| async { asset(TERMINAL_JS, "text/javascript; charset=utf-8") }))
        .route(paths::JOB_SCRIPT, get(|| async { asset(JOB_JS, "text/javascript; charset=utf-8") }))
        .route(paths::WEB_SESSION_SCRIPT, get(|| async { asset(WEB_SESSION_JS, "text/javascript; charset=utf-8") }))
        .route(paths::DESKTOP_SCRIPT, get(|| async { asset(DESKTOP_JS, "text/javascript; charset=utf-8") }))
        .route(paths::NOVNC_SCRIPT, get(|| async { asset(NOVNC_JS, "text/javascript; charset=utf-8") }))
}

/// Whether a WebSocket comes from Haven's own pages (a browser always sends `Origin`): a page
/// elsewhere must not drive a session with the user's cookie.
fn from_havens_pages(headers: &axum::http::HeaderMap, public_url: &str) -> bool {
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    let ours = origin.is_none_or(|o| o.trim_end_matches('/') == public_url);
    if !ours {
        tracing::warn!(origin, "a session's WebSocket from another site was refused");
    }
    ours
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
    // Run to its end even if the browser goes away meanwhile: a launch dropped between its record
    // and its sandbox would leave a session recorded as running, with a live token, until the sweep.
    let (sessions, caller, asset, name, version) =
        (state.sessions.clone(), who.clone(), form.asset.clone(), name.to_string(), version.to_string());
    let launched = tokio::spawn(async move { sessions.launch(&caller, &asset, &name, &version).await })
        .await
        .map_err(WebError::internal)?;
    match launched {
        // A web application's page opens it once it answers (when reached from here).
        Ok(s) if s.kind == haven_core::workspaces::catalogue::AppKind::Web => {
            Ok(see(&format!("{}?open=1", paths::app_session(&s.id))))
        }
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

#[derive(Template)]
#[template(path = "apps/desktop.html")]
struct DesktopPage {
    title: &'static str,
    c: Chrome,
    s: SessionRow,
    last: Option<String>,
}

#[derive(Template)]
#[template(path = "apps/web.html")]
struct WebPage {
    title: &'static str,
    c: Chrome,
    s: SessionRow,
    /// The application's address (its base URL).
    lab: String,
    /// Open it as soon as it answers (the page was reached from Launch).
    open: bool,
    /// Where the page asks whether it answers yet (on Haven's own origin).
    ready: String,
    last: Option<String>,
}

/// A session's page: the terminal, its owner's only (anyone else gets 404, audited).
#[derive(Deserialize)]
pub struct Open {
    #[serde(default)]
    open: Option<String>,
}

async fn session(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(id): Path<String>,
    Query(q): Query<Open>,
) -> Result<Response, WebError> {
    let s = state.sessions.get(&who, &id).await?;
    if s.owner != who.user_id {
        // The desk may list and stop it, never look into it.
        state.sessions.own_running(&who, &id).await?;
    }
    let last = state.sessions.last_output(&who, &id).await?.map(|b| plain_text(&b, 40)).filter(|t| !t.is_empty());
    if s.kind == haven_core::workspaces::catalogue::AppKind::Desktop {
        return render(&DesktopPage { title: "Desktop", c: Chrome::new(&csrf, Some(&who), "apps"), s: row(&s), last });
    }
    if s.kind == haven_core::workspaces::catalogue::AppKind::Web {
        return render(&WebPage {
            title: "Session",
            c: Chrome::new(&csrf, Some(&who), "apps"),
            lab: format!("{}{}", state.config.sessions_url, paths::app_session_web(&s.id)),
            ready: paths::app_session_ready(&s.id),
            open: q.open.is_some(),
            s: row(&s),
            last,
        });
    }
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

struct EntryRow {
    name: String,
    /// Its path in the drive, for folders' links.
    path: String,
    is_dir: bool,
    size: String,
    changed: String,
}

#[derive(Template)]
#[template(path = "apps/drives.html")]
struct DrivesPage {
    title: &'static str,
    c: Chrome,
    asset: String,
    drives: Vec<(&'static str, &'static str)>,
    which: &'static str,
    which_label: &'static str,
    about: &'static str,
    path: String,
    crumbs: Vec<(String, String)>,
    entries: Vec<EntryRow>,
    /// The other drives a file here may be copied to.
    targets: Vec<(&'static str, &'static str)>,
}

#[derive(Deserialize)]
pub struct DriveQuery {
    #[serde(default)]
    drive: String,
    #[serde(default)]
    path: String,
    done: Option<String>,
    copied: Option<String>,
}

const DRIVES: [(&str, &str); 3] = [("home", "N: (your home here)"), ("shared", "S: (shared)"), ("outputs", "outputs")];

#[derive(Deserialize)]
pub struct CopyForm {
    #[serde(default)]
    drive: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    to: String,
}

/// Copy a file from one of the asset's drives to another (a result from N: to outputs, say),
/// then show where it went.
async fn copy_within(
    State(state): State<AppState>,
    Page { who, .. }: Page,
    Path(asset): Path<String>,
    Form(form): Form<CopyForm>,
) -> Result<Response, WebError> {
    limit_fields("the form", &[(&asset, 200), (&form.path, 4096), (&form.drive, 20), (&form.to, 20)])?;
    let parse = |d: &str, field: &'static str| {
        Which::parse(d)
            .ok_or_else(|| WebError::from(haven_core::CoreError::invalid(field, "choose home, shared or outputs")))
    };
    let (from, to) = (parse(&form.drive, "drive")?, parse(&form.to, "to")?);
    // Run to its end even if the browser goes away: the copy is placed before it is recorded.
    let (sessions, caller, name, path) = (state.sessions.clone(), who.clone(), asset.clone(), form.path.clone());
    let copied = tokio::spawn(async move { sessions.copy_within(&caller, &name, from, &path, to).await })
        .await
        .map_err(WebError::internal)??;
    let back = format!(
        "{}&done=file_copied&copied={}",
        paths::apps_drives(&asset, to.as_str(), ""),
        form_urlencoded::byte_serialize(copied.as_bytes()).collect::<String>()
    );
    Ok(see(&back))
}

/// An asset's drives, folder by folder: names, sizes and times, nothing to download.
async fn drives(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(asset): Path<String>,
    Query(q): Query<DriveQuery>,
) -> Result<Response, WebError> {
    limit_fields("the address", &[(&asset, 200), (&q.path, 4096)])?;
    let which = Which::parse(if q.drive.is_empty() { "shared" } else { &q.drive })
        .ok_or_else(|| WebError::from(haven_core::CoreError::invalid("drive", "choose home, shared or outputs")))?;
    let path = q.path.trim_matches('/').to_string();
    let entries = state.sessions.browse(&who, &asset, which, &path).await?;
    let mut crumbs = Vec::new();
    let mut upto = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        upto = if upto.is_empty() { part.to_string() } else { format!("{upto}/{part}") };
        crumbs.push((part.to_string(), upto.clone()));
    }
    let rows = entries
        .into_iter()
        .map(|e| EntryRow {
            path: if path.is_empty() { e.name.clone() } else { format!("{path}/{}", e.name) },
            name: e.name,
            is_dir: e.is_dir,
            size: human_size(e.size),
            changed: when(e.modified_us),
        })
        .collect();
    let (which_label, about) = match which {
        Which::Home => (DRIVES[0].1, "Your own files for this asset's work, and your package libraries (.haven)."),
        Which::Shared => (DRIVES[1].1, "The asset's data and what members keep for each other."),
        Which::Outputs => (DRIVES[2].1, "Results waiting to leave through an output request."),
    };
    let notice = q.copied.as_deref().filter(|_| q.done.as_deref() == Some("file_copied")).map(|name| {
        format!("The file was copied here as {name}. What is in outputs leaves Haven only through an output request.")
    });
    render(&DrivesPage {
        title: "Drives",
        c: Chrome::new(&csrf, Some(&who), "apps").notice(notice),
        targets: DRIVES.iter().copied().filter(|(key, _)| *key != which.as_str()).collect(),
        asset,
        drives: DRIVES.to_vec(),
        which: which.as_str(),
        which_label,
        about,
        path,
        crumbs,
        entries: rows,
    })
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} bytes") } else { format!("{size:.1} {}", UNITS[unit]) }
}

struct CatalogueRow {
    name: String,
    version: String,
    kind: &'static str,
    defaults: String,
    command: String,
}

#[derive(Template)]
#[template(path = "apps/catalogue.html")]
struct CataloguePage {
    title: &'static str,
    c: Chrome,
    rows: Vec<CatalogueRow>,
    manage: bool,
    form: CatalogueForm,
}

#[derive(Deserialize, Default)]
pub struct CatalogueForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    command: String,
    #[serde(default)]
    default_for: String,
    #[serde(default)]
    description: String,
}

/// The catalogue, for everyone signed in; the service desk adds versions here too.
async fn catalogue(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let c = Chrome::new(&csrf, Some(&who), "catalogue").notice(done_message(q.done.as_deref()));
    show_catalogue(&state, &who, c, CatalogueForm::default()).await
}

async fn show_catalogue(
    state: &AppState,
    who: &haven_core::caller::Caller,
    c: Chrome,
    form: CatalogueForm,
) -> Result<Response, WebError> {
    let listing = state.catalogue.list(who).await?;
    let rows = listing
        .apps
        .iter()
        .map(|a| CatalogueRow {
            name: a.name.clone(),
            version: a.version.clone(),
            kind: a.kind.as_str(),
            defaults: listing
                .defaults
                .iter()
                .filter(|d| d.name == a.name && d.version == a.version)
                .map(|d| format!(".{}", d.extension))
                .collect::<Vec<_>>()
                .join(" "),
            command: a.command.join(" "),
        })
        .collect();
    let manage = haven_core::authz::can(who, Action::ManageCatalogue, haven_core::authz::Resource::Service);
    render(&CataloguePage { title: "Catalogue", c, rows, manage, form })
}

async fn add_to_catalogue(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Form(form): Form<CatalogueForm>,
) -> Result<Response, WebError> {
    limit_fields(
        "the form",
        &[
            (&form.name, 100),
            (&form.version, 100),
            (&form.command, 5000),
            (&form.default_for, 500),
            (&form.description, 2000),
        ],
    )?;
    let new = NewApp {
        name: form.name.clone(),
        version: form.version.clone(),
        kind: form.kind.clone(),
        command: form.command.split_whitespace().map(str::to_string).collect(),
        description: form.description.clone(),
        default_for: form.default_for.split_whitespace().map(str::to_string).collect(),
    };
    match state.catalogue.add(&who, new).await {
        Ok(_) => Ok(see(&Notice::AppAdded.on(paths::APPS_CATALOGUE))),
        Err(e @ haven_core::CoreError::Forbidden) => Err(e.into()),
        Err(e) => {
            let c = Chrome::new(&csrf, Some(&who), "catalogue").failed(form_failure(e)?);
            show_catalogue(&state, &who, c, form).await
        }
    }
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
