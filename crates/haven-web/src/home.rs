//! The landing page, the service updates, and their Atom feed.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use haven_core::from_micros;
use time::format_description::well_known::Rfc3339;

use crate::paths;
use crate::{AppState, WebError, markdown};

/// The portals, as the service names them. Each becomes a card once its router is mounted.
pub struct Portal {
    pub name: &'static str,
    pub path: &'static str,
    pub blurb: &'static str,
}

pub const PORTALS: &[Portal] = &[
    Portal {
        name: "Security & Tokens",
        path: paths::SECURITY,
        blurb: "Password and token management, including In Case of Emergency (ICE) logon, emergency codes and recovery codes.",
    },
    Portal {
        name: "Governance",
        path: paths::GOVERNANCE,
        blurb: "Your information assets and IG training; access requests for Information Asset Owners and Administrators; the register and reports for the service desk.",
    },
];

pub const STYLESHEET: &str = include_str!("../static/haven.css");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::HOME, get(home))
        .route(paths::UPDATES, get(updates_page))
        .route(paths::UPDATES_ATOM, get(atom))
        .route(paths::STYLESHEET, get(stylesheet))
}

pub struct UpdateView {
    pub id: i64,
    pub title: String,
    pub date: String,
    pub iso: String,
    pub html: String,
    pub summary: String,
}

fn views(list: Vec<haven_core::updates::ServiceUpdate>) -> Vec<UpdateView> {
    list.into_iter()
        .map(|u| {
            let at = from_micros(u.published_us);
            UpdateView {
                id: u.id,
                date: format!("{} {} {}", at.day(), at.month(), at.year()),
                iso: at.format(&Rfc3339).unwrap_or_default(),
                html: markdown::render(&u.body),
                summary: markdown::summary(&u.body, 280),
                title: u.title,
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    title: &'a str,
    portals: &'a [Portal],
    updates: Vec<UpdateView>,
}

async fn home(State(state): State<AppState>) -> Result<Html<String>, WebError> {
    let updates = views(state.service.updates(5).await?);
    let page = HomePage { title: "Data Safe Haven", portals: PORTALS, updates };
    Ok(Html(page.render().map_err(WebError::internal)?))
}

#[derive(Template)]
#[template(path = "updates.html")]
struct UpdatesPage<'a> {
    title: &'a str,
    updates: Vec<UpdateView>,
}

async fn updates_page(State(state): State<AppState>) -> Result<Html<String>, WebError> {
    let updates = views(state.service.updates(200).await?);
    let page = UpdatesPage { title: "Service updates", updates };
    Ok(Html(page.render().map_err(WebError::internal)?))
}

#[derive(Template)]
#[template(path = "updates.atom", escape = "xml")]
struct AtomFeed<'a> {
    base: &'a str,
    updated: String,
    updates: Vec<UpdateView>,
}

async fn atom(State(state): State<AppState>) -> Result<Response, WebError> {
    let updates = views(state.service.updates(50).await?);
    let updated = updates.first().map(|u| u.iso.clone()).unwrap_or_else(|| "1970-01-01T00:00:00Z".into());
    let feed = AtomFeed { base: &state.config.public_url, updated, updates };
    let body = feed.render().map_err(WebError::internal)?;
    Ok(([(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")], body).into_response())
}

async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], STYLESHEET)
        .into_response()
}
