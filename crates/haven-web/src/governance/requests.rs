//! Access requests: the IAO's and IAAs' New request form and My requests; the service desk's
//! Pending decisions and the page where one is approved or rejected.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use haven_core::caller::Caller;
use haven_core::governance::messages::what;
use haven_core::governance::records::{AccessRequest, MemberRole, RequestKind, RequestStatus};
use haven_core::governance::requests::{MAX_PAGE, NewRequest, PAGE};
use haven_core::governance::store::Paging;
use serde::Deserialize;

use super::assets::{TrainingRow, training_rows};
use super::{Refused, last_day, refused};
use crate::page::{Chrome, Notice, done_message, limit_fields, render, render_status, see, when};
use crate::paths;
use crate::session::{Page, step_up};
use crate::{AppState, WebError};

#[derive(Deserialize, Default)]
pub struct RequestForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    organisation: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    ends: String,
    #[serde(default)]
    justification: String,
}

#[derive(Template)]
#[template(path = "governance/request_new.html")]
struct NewPage {
    title: &'static str,
    c: Chrome,
    asset: String,
    asset_ends: String,
    f: RequestForm,
}

async fn new_page(state: &AppState, csrf: &str, who: &Caller, name: &str, f: RequestForm) -> Result<NewPage, WebError> {
    // The form is only for those who may ask: the IAO and IAAs.
    let (asset, _) = state.governance.require_on(who, haven_core::authz::Action::RequestAccess, name).await?;
    Ok(NewPage {
        title: "New access request",
        c: Chrome::new(csrf, Some(who), "mine"),
        asset_ends: last_day(asset.ends_us),
        asset: asset.name,
        f,
    })
}

pub async fn new_show(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(name): Path<String>,
    Query(prefill): Query<RequestForm>,
) -> Result<Response, WebError> {
    // Only what a link from the members table carries; nothing else is echoed.
    let f = RequestForm {
        kind: RequestKind::parse(&prefill.kind).map(|k| k.as_str().to_string()).unwrap_or_else(|| "add".into()),
        user_id: prefill.user_id.chars().filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c)).take(32).collect(),
        ..RequestForm::default()
    };
    render(&new_page(&state, &csrf, &who, &name, f).await?)
}

pub async fn new_submit(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(name): Path<String>,
    Form(f): Form<RequestForm>,
) -> Result<Response, WebError> {
    limit_fields(
        "A field",
        &[
            (&f.user_id, 64),
            (&f.email, 320),
            (&f.name, 400),
            (&f.organisation, 400),
            (&f.ends, 32),
            (&f.justification, 8000),
        ],
    )?;
    let new = NewRequest {
        asset: name.clone(),
        kind: RequestKind::parse(&f.kind),
        user_id: f.user_id.clone(),
        email: f.email.clone(),
        name: f.name.clone(),
        organisation: f.organisation.clone(),
        role: MemberRole::parse(&f.role),
        ends: f.ends.clone(),
        justification: f.justification.clone(),
    };
    match state.governance.submit_request(&who, new).await {
        Ok(_) => Ok(see(&Notice::AccessRequested.on(paths::GOV_REQUESTS))),
        Err(e) => match refused(e)? {
            Refused::StepUp => Ok(step_up(&paths::gov_asset_request(&name))),
            Refused::Form(failure) => {
                let mut page = new_page(&state, &csrf, &who, &name, f).await?;
                page.c = page.c.failed(failure);
                render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
            }
        },
    }
}

pub struct Row {
    id: i64,
    asset: String,
    what: String,
    requested_by: String,
    requested: String,
    status: &'static str,
    decided_by: String,
    reason: String,
}

fn row(r: &AccessRequest) -> Row {
    Row {
        id: r.id,
        asset: r.asset.clone(),
        what: what(r),
        requested_by: r.requested_by.clone(),
        requested: when(r.requested_us),
        status: match r.status {
            RequestStatus::AwaitingTraining => "awaiting training",
            other => other.as_str(),
        },
        decided_by: r.decided_by.clone(),
        reason: r.reason.clone(),
    }
}

#[derive(Template)]
#[template(path = "governance/requests.html")]
struct ListPage {
    title: &'static str,
    c: Chrome,
    heading: &'static str,
    intro: &'static str,
    rows: Vec<Row>,
    decide: bool,
    /// The link to the next (older) page, when there is one.
    older: Option<String>,
    /// Said under the table when it does not show everything.
    more: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

#[derive(Deserialize)]
pub struct MineQuery {
    done: Option<String>,
    /// The next page: requests older than this id.
    before: Option<i64>,
}

pub async fn mine(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Query(q): Query<MineQuery>,
) -> Result<Response, WebError> {
    let page = Paging::Newest { before: q.before.unwrap_or(0).max(0), limit: PAGE };
    let list = state.governance.my_requests(&who, page).await?;
    let rows: Vec<Row> = list.requests.iter().map(row).collect();
    render(&ListPage {
        title: "My access requests",
        c: Chrome::new(&csrf, Some(&who), "requests").notice(done_message(q.done.as_deref())),
        heading: "My access requests",
        intro: "Requests you made as an Information Asset Owner or Administrator, newest first. To make one, open the asset from My assets.",
        rows,
        decide: false,
        older: list.next.map(|n| format!("{}?before={n}", paths::GOV_REQUESTS)),
        more: None,
    })
}

pub async fn pending(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let mut rows: Vec<Row> = Vec::new();
    let mut more = None;
    for status in [RequestStatus::Pending, RequestStatus::AwaitingTraining] {
        let oldest = Paging::Oldest { after: 0, limit: MAX_PAGE };
        let list = state.governance.requests(&who, None, Some(status), oldest).await?;
        if list.next.is_some() {
            more = Some(
                "More requests wait than one page holds; the oldest are shown. Decide these first, or list them all with haven requests list or the API.",
            );
        }
        rows.extend(list.requests.iter().map(row));
    }
    render(&ListPage {
        title: "Pending decisions",
        c: Chrome::new(&csrf, Some(&who), "decisions").notice(done_message(q.done.as_deref())),
        heading: "Pending decisions",
        intro: "Requests waiting for the service desk, oldest first. A request awaiting training moves to pending by itself when the person's training record arrives. Nobody decides a request they made or one about themselves.",
        rows,
        decide: true,
        older: None,
        more,
    })
}

#[derive(Template)]
#[template(path = "governance/decision.html")]
struct DecisionPage {
    title: &'static str,
    c: Chrome,
    r: Row,
    justification: String,
    new_person: Option<(String, String, String)>,
    ends: String,
    training: Vec<TrainingRow>,
    missing: String,
    open: bool,
}

async fn decision_page(state: &AppState, csrf: &str, who: &Caller, id: i64) -> Result<DecisionPage, WebError> {
    let request = state.governance.request(who, id).await?;
    let (training, missing) = if request.new_person() {
        (Vec::new(), String::new())
    } else {
        let view = state.governance.training_view(who, &request.subject).await?;
        (training_rows(&view, state.governance.now_us()), view.missing.join(", "))
    };
    Ok(DecisionPage {
        title: "Decide an access request",
        c: Chrome::new(csrf, Some(who), "decisions"),
        justification: request.justification.clone(),
        new_person: request
            .new_person()
            .then(|| (request.new_name.clone(), request.new_email.clone(), request.new_organisation.clone())),
        ends: last_day(request.ends_us),
        training,
        missing,
        open: request.open(),
        r: row(&request),
    })
}

pub async fn one(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    render(&decision_page(&state, &csrf, &who, id).await?)
}

#[derive(Deserialize)]
pub struct DecideForm {
    decision: String,
    #[serde(default)]
    reason: String,
}

pub async fn decide(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(id): Path<i64>,
    Form(form): Form<DecideForm>,
) -> Result<Response, WebError> {
    limit_fields("The reason", &[(&form.reason, 8000)])?;
    let outcome = match form.decision.as_str() {
        "approve" => state.governance.decide(&who, id, true, &form.reason).await,
        "reject" => state.governance.decide(&who, id, false, &form.reason).await,
        _ => Err(haven_core::CoreError::invalid("decision", "approve or reject")),
    };
    match outcome {
        // The onboarding link went to the new person by email; the page never shows it.
        Ok(_) => Ok(see(&Notice::AccessDecided.on(paths::GOV_DECISIONS))),
        Err(e) => match refused(e)? {
            Refused::StepUp => Ok(step_up(&paths::gov_decision(id))),
            Refused::Form(failure) => {
                let mut page = decision_page(&state, &csrf, &who, id).await?;
                page.c = page.c.failed(failure);
                render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
            }
        },
    }
}
