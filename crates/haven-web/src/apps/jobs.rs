//! Batch jobs in the browser: `/apps/jobs` (submit a script to run with a version of the
//! catalogue on an asset's data; one's jobs), a job's page (its state and, for its owner, its
//! log), and cancelling one.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use haven_core::caller::Caller;
use haven_core::workspaces::catalogue::App;
use haven_core::workspaces::jobs::{JobRecord, JobState, SCRIPT_BYTES};
use serde::Deserialize;

use super::Done;
use crate::page::{Chrome, Notice, done_message, form_failure, limit_fields, render, see, when};
use crate::session::Page;
use crate::{AppState, WebError, paths};

/// How much of a log the page shows (the console prints all of it).
const SHOWN_LOG_BYTES: u64 = 256 * 1024;

pub(super) struct JobRow {
    pub id: String,
    pub app: String,
    pub asset: String,
    pub script: String,
    pub submitted: String,
    pub state: &'static str,
    pub finished: bool,
    pub ended: String,
    pub exit_code: Option<i32>,
}

pub(super) fn job_row(j: &JobRecord) -> JobRow {
    JobRow {
        id: j.id.clone(),
        app: format!("{} {}", j.app_name, j.app_version),
        asset: j.asset.clone(),
        script: j.script_name.clone(),
        submitted: when(j.submitted_us),
        state: j.state.as_str(),
        finished: j.state.finished(),
        ended: if j.state.finished() { format!("{} ({})", when(j.ended_us), j.end_reason) } else { String::new() },
        exit_code: j.exit_code,
    }
}

#[derive(Template)]
#[template(path = "apps/jobs.html")]
struct JobsPage {
    title: &'static str,
    c: Chrome,
    apps: Vec<App>,
    assets: Vec<String>,
    jobs: Vec<JobRow>,
    script_kib: usize,
    max_hours: u32,
    form: JobForm,
}

#[derive(Deserialize, Default)]
pub struct JobForm {
    #[serde(default)]
    asset: String,
    /// `name@version`.
    #[serde(default)]
    app: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    script: String,
}

pub(super) async fn list(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    show(&state, &csrf, &who, done_message(q.done.as_deref()), None, JobForm::default()).await
}

async fn show(
    state: &AppState,
    csrf: &str,
    who: &Caller,
    notice: Option<String>,
    error: Option<(String, Option<&'static str>)>,
    form: JobForm,
) -> Result<Response, WebError> {
    let apps = state.catalogue.list(who).await?.apps;
    let assets = state
        .governance
        .my_assets(who)
        .await?
        .into_iter()
        .filter(|a| a.blocked.is_none())
        .map(|a| a.asset.name)
        .collect();
    let jobs = state.sessions.jobs(who, false).await?.iter().map(job_row).collect();
    let mut c = Chrome::new(csrf, Some(who), "jobs").notice(notice);
    if let Some(e) = error {
        c = c.failed(e);
    }
    render(&JobsPage {
        title: "Batch jobs",
        c,
        apps,
        assets,
        jobs,
        script_kib: SCRIPT_BYTES / 1024,
        max_hours: state.sessions.jobs_config().max_hours,
        form,
    })
}

/// Queue a job, then show it.
pub(super) async fn submit(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Form(form): Form<JobForm>,
) -> Result<Response, WebError> {
    limit_fields("the form", &[(&form.asset, 200), (&form.app, 200), (&form.name, 255)])?;
    // Browsers send a textarea's line ends as CRLF; a shell or R script wants LF.
    let script = form.script.replace("\r\n", "\n").into_bytes();
    let name = if form.name.trim().is_empty() { "script" } else { form.name.trim() };
    // Run to its end even if the browser goes away meanwhile: the script is written before the
    // record, and a submit dropped between them would leave the script behind.
    let (sessions, caller, asset, app, name) =
        (state.sessions.clone(), who.clone(), form.asset.clone(), form.app.clone(), name.to_string());
    let submitted = tokio::spawn(async move { sessions.submit_job(&caller, &asset, &app, &name, script).await })
        .await
        .map_err(WebError::internal)?;
    match submitted {
        Ok(j) => Ok(see(&Notice::JobSubmitted.on(&paths::app_job(&j.id)))),
        Err(e @ (haven_core::CoreError::Forbidden | haven_core::CoreError::NotFound)) => Err(e.into()),
        Err(e) => {
            let failure = form_failure(e)?;
            show(&state, &csrf, &who, None, Some(failure), form).await
        }
    }
}

#[derive(Template)]
#[template(path = "apps/job.html")]
struct JobPage {
    title: &'static str,
    c: Chrome,
    j: JobRow,
    /// Its owner sees the log (the end of it, `cut` when longer); the desk sees only the state.
    owner: bool,
    log: Option<String>,
    cut: bool,
    /// Reload while it is queued or running.
    live: bool,
}

/// A job's page: anyone else's is 404 (audited); the desk sees its state, never its log.
pub(super) async fn job(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(id): Path<String>,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let j = state.sessions.job(&who, &id).await?;
    let owner = j.owner == who.user_id;
    let (mut log, mut cut) = (None, false);
    if owner && j.state != JobState::Queued {
        match state.sessions.job_log(&who, &id, SHOWN_LOG_BYTES).await {
            Ok(l) => {
                cut = l.size > l.text.len() as u64;
                log = Some(String::from_utf8_lossy(&l.text).into_owned());
            }
            // Access ended: the page says so instead of the log.
            Err(haven_core::CoreError::Conflict(why)) => log = Some(why),
            Err(e) => return Err(e.into()),
        }
    }
    render(&JobPage {
        title: "Batch job",
        c: Chrome::new(&csrf, Some(&who), "jobs").notice(done_message(q.done.as_deref())),
        live: !j.state.finished(),
        j: job_row(&j),
        owner,
        log,
        cut,
    })
}

pub(super) async fn cancel(
    State(state): State<AppState>,
    Page { who, .. }: Page,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let j = state.sessions.cancel_job(&who, &id).await?;
    Ok(see(&Notice::JobCancelled.on(&paths::app_job(&j.id))))
}
