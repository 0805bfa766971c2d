//! Software requests (`/packages/requests`) for every signed-in user, with the dry run of a
//! pasted requirements.txt, DESCRIPTION or environment.yml; the reviewers' queue and decision
//! page (`/packages/review`) for package reviewers and the service desk.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use haven_core::CoreError;
use haven_core::caller::Caller;
use haven_core::packages::PackageError;
use haven_core::packages::records::{ClosureItem, RequestRecord};
use haven_core::packages::requests::Manifest;
use haven_packages::policy::Ecosystem;
use serde::Deserialize;

use super::web_error;
use crate::page::{Chrome, limit_fields, render, render_status, see, when};
use crate::paths;
use crate::session::Page;
use crate::{AppState, WebError};

/// A message for the form, or the error page for anything else.
fn form_message(e: PackageError) -> Result<String, WebError> {
    match e {
        PackageError::BadRequest(m) | PackageError::Core(CoreError::Conflict(m)) => Ok(m),
        other => Err(web_error(other)),
    }
}

pub struct Row {
    id: i64,
    ecosystem: &'static str,
    name: String,
    spec: String,
    requester: String,
    created: String,
    status: &'static str,
    decided_by: String,
    note: String,
}

fn row(r: &RequestRecord) -> Row {
    Row {
        id: r.id,
        ecosystem: r.ecosystem.as_str(),
        name: r.name.clone(),
        spec: r.spec.clone(),
        requester: r.requester.clone(),
        created: when(r.created_us),
        status: r.status.as_str(),
        decided_by: r.decided_by.clone(),
        note: r.note.clone(),
    }
}

#[derive(Template)]
#[template(path = "packages/requests.html")]
struct MinePage {
    title: &'static str,
    c: Chrome,
    rows: Vec<Row>,
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<i64>,
}

pub async fn mine(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let rows = state.packages.requests(&who, Some(&who.user_id), false).await.map_err(web_error)?;
    let notice = q.done.map(|id| format!("Request #{id} was sent. You will get an email when a reviewer decides."));
    render(&MinePage {
        title: "Software requests",
        c: Chrome::new(&csrf, Some(&who), "requests").notice(notice),
        rows: rows.iter().map(row).collect(),
    })
}

pub struct VerdictRow {
    ecosystem: &'static str,
    name: String,
    spec: String,
    spec_q: String,
    offered: String,
    reason: String,
    missing: bool,
}

#[derive(Template)]
#[template(path = "packages/request_new.html")]
struct NewPage {
    title: &'static str,
    c: Chrome,
    ecosystem: String,
    name: String,
    spec: String,
    justification: String,
    pasted: String,
    checked: bool,
    verdicts: Vec<VerdictRow>,
    skipped: Vec<String>,
}

impl NewPage {
    fn new(csrf: &str, who: &Caller) -> NewPage {
        NewPage {
            title: "New software request",
            c: Chrome::new(csrf, Some(who), "new"),
            ecosystem: "pypi".into(),
            name: String::new(),
            spec: String::new(),
            justification: String::new(),
            pasted: String::new(),
            checked: false,
            verdicts: Vec::new(),
            skipped: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
pub struct Prefill {
    ecosystem: Option<String>,
    name: Option<String>,
    spec: Option<String>,
}

pub async fn new_show(Page { who, csrf }: Page, Query(q): Query<Prefill>) -> Result<Response, WebError> {
    let mut page = NewPage::new(&csrf, &who);
    if let Some(e) = q.ecosystem.as_deref().and_then(Ecosystem::parse) {
        page.ecosystem = e.as_str().into();
    }
    page.name = q.name.unwrap_or_default().chars().take(200).collect();
    page.spec = q.spec.unwrap_or_default().chars().take(200).collect();
    render(&page)
}

#[derive(Deserialize)]
pub struct NewForm {
    ecosystem: String,
    name: String,
    #[serde(default)]
    spec: String,
    justification: String,
}

pub async fn new_submit(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Form(form): Form<NewForm>,
) -> Result<Response, WebError> {
    limit_fields("A field", &[(&form.name, 400), (&form.spec, 400), (&form.justification, 8000)])?;
    let outcome = match Ecosystem::parse(&form.ecosystem) {
        None => Err(PackageError::BadRequest("Choose PyPI, CRAN or conda.".into())),
        Some(e) => {
            state
                .packages
                .submit_request(&who, state.identity.mailer.as_ref(), e, &form.name, &form.spec, &form.justification)
                .await
        }
    };
    match outcome {
        Ok(r) => Ok(see(&paths::with_notice(paths::REQUESTS, &r.id.to_string()))),
        Err(e) => {
            let mut page = NewPage::new(&csrf, &who);
            page.c = page.c.error(Some(form_message(e)?));
            page.ecosystem = form.ecosystem;
            page.name = form.name;
            page.spec = form.spec;
            page.justification = form.justification;
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

#[derive(Deserialize)]
pub struct CheckForm {
    kind: String,
    text: String,
}

pub async fn check(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Form(form): Form<CheckForm>,
) -> Result<Response, WebError> {
    let kind = match form.kind.as_str() {
        "requirements" => Manifest::Requirements,
        "description" => Manifest::Description,
        "environment" => Manifest::Environment,
        _ => return Err(WebError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", "Choose the kind of file.")),
    };
    let mut page = NewPage::new(&csrf, &who);
    match state.packages.dry_run(&who, kind, &form.text).await {
        Ok((verdicts, skipped)) => {
            page.checked = true;
            page.skipped = skipped;
            page.verdicts = verdicts
                .into_iter()
                .map(|v| VerdictRow {
                    ecosystem: v.wanted.ecosystem.as_str(),
                    spec_q: form_urlencoded::byte_serialize(v.wanted.spec.as_bytes()).collect(),
                    name: v.wanted.name,
                    spec: v.wanted.spec,
                    missing: v.offered.is_empty(),
                    offered: v.offered.join(", "),
                    reason: v.reason.unwrap_or_default(),
                })
                .collect();
        }
        Err(e) => page.c = page.c.error(Some(form_message(e)?)),
    }
    page.pasted = form.text.chars().take(256 * 1024).collect();
    render(&page)
}

#[derive(Template)]
#[template(path = "packages/review.html")]
struct QueuePage {
    title: &'static str,
    c: Chrome,
    rows: Vec<Row>,
}

pub async fn queue(State(state): State<AppState>, Page { who, csrf }: Page) -> Result<Response, WebError> {
    let rows = state.packages.requests(&who, None, true).await.map_err(web_error)?;
    render(&QueuePage {
        title: "Review software requests",
        c: Chrome::new(&csrf, Some(&who), "review"),
        rows: rows.iter().map(row).collect(),
    })
}

pub struct ItemRow {
    name: String,
    version: String,
    needed_by: String,
    license: String,
    age: String,
    size: String,
    findings: String,
    now: &'static str,
}

fn item_row(i: &ClosureItem, now_us: i64) -> ItemRow {
    let mut findings = i.findings.join("; ");
    if let Some(p) = &i.problem {
        findings = if findings.is_empty() { p.clone() } else { format!("{findings}; {p}") };
    }
    ItemRow {
        name: i.name.clone(),
        version: i.version.clone(),
        needed_by: i.needed_by.clone().unwrap_or_else(|| "(requested)".into()),
        license: i.license.clone().unwrap_or_else(|| "not stated".into()),
        age: i
            .uploaded_us
            .map(|t| format!("{} days", (now_us - t).max(0) / 86_400_000_000))
            .unwrap_or_else(|| "unknown".into()),
        size: i.size.map(|s| format!("{:.1} MiB", s as f64 / 1_048_576.0)).unwrap_or_default(),
        findings,
        now: if i.allowed { "allowed" } else { "to approve" },
    }
}

#[derive(Template)]
#[template(path = "packages/review_one.html")]
struct DecidePage {
    title: &'static str,
    c: Chrome,
    r: Row,
    justification: String,
    items: Vec<ItemRow>,
    pending: bool,
}

async fn decide_page(state: &AppState, csrf: &str, who: &Caller, id: i64) -> Result<DecidePage, WebError> {
    let request = state.packages.request(who, id).await.map_err(web_error)?;
    let items = state.packages.preview(who, &request).await.map_err(web_error)?;
    let now = state.packages.now_us();
    Ok(DecidePage {
        title: "Review a software request",
        c: Chrome::new(csrf, Some(who), "review"),
        justification: request.justification.clone(),
        pending: request.status == haven_core::packages::records::RequestStatus::Pending,
        r: row(&request),
        items: items.iter().map(|i| item_row(i, now)).collect(),
    })
}

pub async fn one(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    render(&decide_page(&state, &csrf, &who, id).await?)
}

#[derive(Deserialize)]
pub struct DecideForm {
    decision: String,
    #[serde(default)]
    note: String,
}

pub async fn decide(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(id): Path<i64>,
    Form(form): Form<DecideForm>,
) -> Result<Response, WebError> {
    limit_fields("The note", &[(&form.note, 8000)])?;
    let approve = match form.decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(WebError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", "Approve or reject.")),
    };
    let outcome = state.packages.decide_request(&who, state.identity.mailer.as_ref(), id, approve, &form.note).await;
    match outcome {
        Ok(r) => Ok(see(&paths::review_one(r.id))),
        Err(e) => {
            let message = form_message(e)?;
            let mut page = decide_page(&state, &csrf, &who, id).await?;
            page.c = page.c.error(Some(message));
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}
