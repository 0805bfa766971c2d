//! People: the service desk's IG records (look a person up, record a completion, import a
//! training system's CSV), and the Acceptable Use Statement everyone accepts.

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use haven_core::CoreError;
use haven_core::caller::Caller;
use serde::Deserialize;

use super::assets::{TrainingRow, training_rows};
use super::{Refused, refused};
use crate::page::{Chrome, Notice, done_message, limit_fields, render, render_status, see};
use crate::paths;
use crate::session::{Page, safe_next, step_up};
use crate::{AppState, WebError, markdown};

#[derive(Template)]
#[template(path = "governance/ig.html")]
struct IgPage {
    title: &'static str,
    c: Chrome,
    user: String,
    found: bool,
    training: Vec<TrainingRow>,
    missing: String,
    aus: String,
    courses: Vec<String>,
    validity_months: u32,
}

async fn ig_page(state: &AppState, csrf: &str, who: &Caller, user: &str) -> Result<IgPage, WebError> {
    let config = state.governance.config();
    let mut courses: Vec<String> = [
        &config.courses.researcher,
        &config.courses.iao,
        &config.courses.output_checker,
        &config.courses.reviewer,
        &config.courses.service_desk,
        &config.courses.auditor,
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect();
    courses.sort();
    courses.dedup();
    let mut page = IgPage {
        title: "IG records",
        c: Chrome::new(csrf, Some(who), "ig"),
        user: user.to_string(),
        found: false,
        training: Vec::new(),
        missing: String::new(),
        aus: String::new(),
        courses,
        validity_months: config.training_validity_months,
    };
    if !user.is_empty() {
        let view = state.governance.training_view(who, user).await?;
        page.found = true;
        page.training = training_rows(&view, state.governance.now_us());
        page.missing = view.missing.join(", ");
        page.aus = if view.aus_current {
            format!("accepted (version {})", view.aus_version)
        } else if view.aus_version == 0 {
            "not accepted yet".into()
        } else {
            format!("an older version ({}) only: asked again at the next sign-in", view.aus_version)
        };
    }
    Ok(page)
}

#[derive(Deserialize)]
pub struct Lookup {
    user: Option<String>,
    done: Option<String>,
}

/// A user id from a query, as typed (core validates what it stores; this only bounds it).
fn user_of(q: Option<String>) -> String {
    q.unwrap_or_default().trim().to_lowercase().chars().take(64).collect()
}

pub async fn ig(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Query(q): Query<Lookup>,
) -> Result<Response, WebError> {
    let mut page = ig_page(&state, &csrf, &who, &user_of(q.user)).await?;
    page.c.notice = done_message(q.done.as_deref());
    render(&page)
}

#[derive(Deserialize)]
pub struct RecordForm {
    user_id: String,
    course: String,
    completed: String,
    #[serde(default)]
    expires: String,
}

pub async fn record(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Form(f): Form<RecordForm>,
) -> Result<Response, WebError> {
    limit_fields("A field", &[(&f.user_id, 64), (&f.course, 128), (&f.completed, 32), (&f.expires, 32)])?;
    match state.governance.record_training(&who, &f.user_id, &f.course, &f.completed, &f.expires).await {
        Ok(r) => {
            let to = format!("{}?user={}&done={}", paths::GOV_IG, r.user_id, Notice::TrainingRecorded.code());
            Ok(see(&to))
        }
        Err(e) => match refused(e)? {
            Refused::StepUp => Ok(step_up(paths::GOV_IG)),
            Refused::Form(failure) => {
                let mut page = ig_page(&state, &csrf, &who, "").await?;
                page.c = page.c.failed(failure);
                render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
            }
        },
    }
}

/// Import a training CSV (multipart field `file`): all rows or none.
pub async fn import(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    mut multipart: Multipart,
) -> Result<Response, WebError> {
    let unreadable = |e: axum::extract::multipart::MultipartError| {
        WebError::new(e.status(), "bad_request", format!("The upload could not be read: {}", e.body_text()))
    };
    let mut file = None;
    while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
        if field.name() == Some("file") {
            file = Some(field.bytes().await.map_err(unreadable)?);
        }
    }
    let outcome = match file {
        None => Err(CoreError::invalid("file", "choose a CSV file")),
        Some(bytes) => {
            let governance = state.governance.clone();
            // Parsing 100,000 rows is CPU work: off the async threads.
            let parsed = tokio::task::spawn_blocking(move || governance.read_training_csv(bytes.as_ref()))
                .await
                .map_err(WebError::internal)?;
            match parsed {
                Ok(rows) => state.governance.import_training(&who, rows).await,
                Err(e) => Err(e),
            }
        }
    };
    let mut page = ig_page(&state, &csrf, &who, "").await?;
    match outcome {
        Ok(done) => {
            page.c.notice = Some(format!(
                "Imported {} record(s) for {} person(s); {} row(s) were recorded already and left alone. {} request(s) that were awaiting training now wait for a decision.",
                done.records, done.users, done.already_recorded, done.requests_ready
            ));
            render(&page)
        }
        Err(e) => match refused(e)? {
            Refused::StepUp => Ok(step_up(paths::GOV_IG)),
            Refused::Form(failure) => {
                page.c = page.c.failed(failure);
                render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
            }
        },
    }
}

/// Haven's own statement, when `governance.aus_text` gives none.
const DEFAULT_AUS: &str = include_str!("aus.md");

#[derive(Template)]
#[template(path = "governance/aus.html")]
struct AusPage {
    title: &'static str,
    c: Chrome,
    html: String,
    version: i64,
    accepted: bool,
    next: String,
}

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

pub async fn aus_show(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Query(q): Query<Next>,
) -> Result<Response, WebError> {
    let config = state.governance.config();
    let text = if config.aus_text.trim().is_empty() { DEFAULT_AUS } else { config.aus_text.as_str() };
    render(&AusPage {
        title: "Acceptable Use Statement",
        c: Chrome::new(&csrf, Some(&who), "aus"),
        html: markdown::render(text),
        version: config.aus_version,
        accepted: !state.governance.needs_aus(&who.user_id).await?,
        next: safe_next(q.next.as_deref().or(Some(paths::GOVERNANCE))),
    })
}

#[derive(Deserialize)]
pub struct AcceptForm {
    next: Option<String>,
}

pub async fn aus_accept(
    State(state): State<AppState>,
    Page { who, .. }: Page,
    Form(f): Form<AcceptForm>,
) -> Result<Response, WebError> {
    state.governance.accept_aus(&who).await?;
    let next = safe_next(f.next.as_deref().or(Some(paths::GOVERNANCE)));
    let sep = if next.contains('?') { '&' } else { '?' };
    Ok(see(&format!("{next}{sep}done={}", Notice::AusAccepted.code())))
}
