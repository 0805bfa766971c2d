//! My assets, one asset's page (members, IAAs, compliance record, storage areas, open
//! requests, closing), and the service desk's asset register with its form for a new asset.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use haven_core::authz::{Action, Resource, can};
use haven_core::caller::Caller;
use haven_core::governance::assets::{AssetView, NewAsset};
use haven_core::governance::people::TrainingView;
use haven_core::governance::records::{Asset, Classification, Closure, ComplianceKind};
use serde::Deserialize;

use super::{Refused, day, last_day, refused};
use crate::page::{Chrome, Notice, done_message, limit_fields, render, render_status, see};
use crate::paths;
use crate::session::{Page, step_up};
use crate::{AppState, WebError};

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub struct MyRow {
    name: String,
    standing: &'static str,
    status: &'static str,
    /// Why the data cannot be reached, and what to do; empty when it can.
    blocked: String,
    /// The asset's page is open to its IAO and IAAs (and the desk).
    linked: bool,
}

pub struct TrainingRow {
    pub course: String,
    pub completed: String,
    pub expires: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "governance/mine.html")]
struct MinePage {
    title: &'static str,
    c: Chrome,
    rows: Vec<MyRow>,
    training: Vec<TrainingRow>,
    missing: String,
    aus_current: bool,
}

pub fn training_rows(view: &TrainingView, now_us: i64) -> Vec<TrainingRow> {
    view.records
        .iter()
        .map(|r| TrainingRow {
            course: r.course.clone(),
            completed: day(r.completed_us),
            expires: last_day(r.expires_us),
            current: r.expires_us > now_us,
        })
        .collect()
}

pub async fn mine(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let governance = &state.governance;
    let assets = governance.my_assets(&who).await?;
    let training = governance.training_view(&who, &who.user_id).await?;
    let desk = can(&who, Action::ViewGovernance, Resource::Service);
    let rows = assets
        .into_iter()
        .map(|m| MyRow {
            standing: if m.iao {
                "Information Asset Owner"
            } else if m.iaa {
                "Information Asset Administrator"
            } else {
                "member"
            },
            status: m.asset.status.as_str(),
            blocked: m.blocked.unwrap_or_default(),
            linked: m.iao || m.iaa || desk,
            name: m.asset.name,
        })
        .collect();
    render(&MinePage {
        title: "My assets",
        c: Chrome::new(&csrf, Some(&who), "mine").notice(done_message(q.done.as_deref())),
        rows,
        training: training_rows(&training, governance.now_us()),
        missing: training.missing.join(", "),
        aus_current: training.aus_current,
    })
}

pub struct MemberRow {
    user_id: String,
    role: &'static str,
    starts: String,
    ends: String,
    confirmed: String,
    review: &'static str,
}

pub struct ComplianceRow {
    label: &'static str,
    kind: &'static str,
    reference: String,
    expires: String,
    state: &'static str,
}

pub struct OpenRow {
    id: i64,
    what: String,
    requested_by: String,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "governance/asset.html")]
struct AssetPage {
    title: &'static str,
    c: Chrome,
    a: Asset,
    starts: String,
    ends: String,
    review_due: String,
    closed: String,
    admins: Vec<String>,
    members: Vec<MemberRow>,
    compliance: Vec<ComplianceRow>,
    areas: Vec<(&'static str, String)>,
    open: Vec<OpenRow>,
    can_request: bool,
    can_review: bool,
    can_manage: bool,
    active: bool,
}

async fn asset_page(state: &AppState, csrf: &str, who: &Caller, name: &str) -> Result<AssetPage, WebError> {
    let AssetView { asset, admins, members, compliance, areas, open_requests, standing } =
        state.governance.asset_view(who, name).await?;
    let now_us = state.governance.now_us();
    let warn_us = i64::from(state.governance.config().compliance_warning_days) * 86_400_000_000;
    let resource = Resource::Asset { asset: &asset.name, standing };
    let compliance = ComplianceKind::ALL
        .iter()
        .map(|kind| {
            let item = compliance.iter().find(|i| i.kind == *kind);
            ComplianceRow {
                label: kind.label(),
                kind: kind.as_str(),
                reference: item.map(|i| i.reference.clone()).unwrap_or_default(),
                expires: item.map(|i| last_day(i.expires_us)).unwrap_or_default(),
                state: match item {
                    None => "not recorded",
                    Some(i) if i.expires_us <= now_us => "expired: access suspended",
                    Some(i) if i.expires_us - now_us <= warn_us => "expires soon",
                    Some(_) => "current",
                },
            }
        })
        .collect();
    Ok(AssetPage {
        title: "Information asset",
        c: Chrome::new(csrf, Some(who), "mine"),
        starts: day(asset.starts_us),
        ends: last_day(asset.ends_us),
        review_due: day(asset.review_due_us),
        closed: day(asset.closed_us),
        admins: admins.into_iter().map(|a| a.user_id).collect(),
        members: members
            .into_iter()
            .map(|m| MemberRow {
                role: m.role.as_str(),
                starts: day(m.starts_us),
                ends: last_day(m.ends_us),
                confirmed: day(m.confirmed_us),
                review: if m.suspended {
                    "suspended: not confirmed at the last review"
                } else if m.flagged_us != 0 {
                    "overdue"
                } else {
                    ""
                },
                user_id: m.user_id,
            })
            .collect(),
        compliance,
        areas: areas.into_iter().map(|a| (a.area.as_str(), a.prefix)).collect(),
        open: open_requests
            .iter()
            .map(|r| OpenRow {
                id: r.id,
                what: haven_core::governance::messages::what(r),
                requested_by: r.requested_by.clone(),
                status: r.status.as_str(),
            })
            .collect(),
        can_request: can(who, Action::RequestAccess, resource),
        can_review: can(who, Action::ReviewMembers, resource),
        can_manage: can(who, Action::ManageAsset, resource),
        active: asset.status == haven_core::governance::records::AssetStatus::Active,
        a: asset,
    })
}

pub async fn one(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(name): Path<String>,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let mut page = asset_page(&state, &csrf, &who, &name).await?;
    page.c.notice = done_message(q.done.as_deref());
    render(&page)
}

/// Show the asset's page again with a form's refusal, or send the browser to step up.
async fn refuse(
    state: &AppState,
    csrf: &str,
    who: &Caller,
    name: &str,
    e: haven_core::CoreError,
) -> Result<Response, WebError> {
    match refused(e)? {
        Refused::StepUp => Ok(step_up(&paths::gov_asset(name))),
        Refused::Form(failure) => {
            let mut page = asset_page(state, csrf, who, name).await?;
            page.c = page.c.failed(failure);
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

// The asset forms take missing fields as empty, so that core (which asks `can()` with the
// caller's standing in the asset) answers first: 403 for an outsider, a field error for the IAO.
#[derive(Deserialize)]
pub struct IaaForm {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    action: String,
}

pub async fn iaa(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(name): Path<String>,
    Form(form): Form<IaaForm>,
) -> Result<Response, WebError> {
    limit_fields("The user id", &[(&form.user_id, 64)])?;
    let on = form.action != "remove";
    match state.governance.set_iaa(&who, &name, &form.user_id, on).await {
        Ok(_) => Ok(see(&Notice::AdminsChanged.on(&paths::gov_asset(&name)))),
        Err(e) => refuse(&state, &csrf, &who, &name, e).await,
    }
}

#[derive(Deserialize)]
pub struct ComplianceForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    expires: String,
}

pub async fn compliance(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(name): Path<String>,
    Form(form): Form<ComplianceForm>,
) -> Result<Response, WebError> {
    limit_fields("A field", &[(&form.reference, 400), (&form.expires, 32)])?;
    state.governance.require_on(&who, Action::ManageAsset, &name).await?;
    let outcome = match ComplianceKind::parse(&form.kind) {
        None => Err(haven_core::CoreError::invalid("kind", format!("choose one of {}", ComplianceKind::names()))),
        Some(kind) => state.governance.set_compliance(&who, &name, kind, &form.reference, &form.expires).await,
    };
    match outcome {
        Ok(_) => Ok(see(&Notice::ComplianceRecorded.on(&paths::gov_asset(&name)))),
        Err(e) => refuse(&state, &csrf, &who, &name, e).await,
    }
}

#[derive(Deserialize)]
pub struct CloseForm {
    #[serde(default)]
    closure: String,
    #[serde(default)]
    reason: String,
    /// The name typed again: closing cannot be undone.
    #[serde(default)]
    confirm: String,
}

pub async fn close(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(name): Path<String>,
    Form(form): Form<CloseForm>,
) -> Result<Response, WebError> {
    limit_fields("A field", &[(&form.reason, 8000), (&form.confirm, 200)])?;
    state.governance.require_on(&who, Action::ManageAsset, &name).await?;
    let outcome = match Closure::parse(&form.closure) {
        None => Err(haven_core::CoreError::invalid("closure", "choose archive or shred")),
        Some(_) if form.confirm.trim() != name => Err(haven_core::CoreError::invalid(
            "confirm",
            "type the asset's name to confirm: closing ends every membership and cannot be undone",
        )),
        Some(closure) => state.governance.close_asset(&who, &name, closure, &form.reason).await.map(|_| ()),
    };
    match outcome {
        Ok(()) => Ok(see(&Notice::AssetClosed.on(&paths::gov_asset(&name)))),
        Err(e) => refuse(&state, &csrf, &who, &name, e).await,
    }
}

pub struct RegisterRow {
    name: String,
    ig_ref: String,
    classification: &'static str,
    iao: String,
    status: &'static str,
    starts: String,
    ends: String,
    review_due: String,
}

#[derive(Template)]
#[template(path = "governance/register.html")]
struct RegisterPage {
    title: &'static str,
    c: Chrome,
    rows: Vec<RegisterRow>,
    can_create: bool,
    ig_ref_format: String,
    f: CreateForm,
}

async fn register_page(state: &AppState, csrf: &str, who: &Caller, f: CreateForm) -> Result<RegisterPage, WebError> {
    let assets = state.governance.register(who).await?;
    Ok(RegisterPage {
        title: "Asset register",
        c: Chrome::new(csrf, Some(who), "register"),
        rows: assets
            .into_iter()
            .map(|a| RegisterRow {
                ig_ref: a.ig_ref,
                classification: a.classification.as_str(),
                iao: a.iao,
                status: a.status.as_str(),
                starts: day(a.starts_us),
                ends: last_day(a.ends_us),
                review_due: day(a.review_due_us),
                name: a.name,
            })
            .collect(),
        can_create: can(who, Action::CreateAsset, Resource::Service),
        ig_ref_format: state.governance.config().ig_ref_format.clone(),
        f,
    })
}

pub async fn register(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let mut page = register_page(&state, &csrf, &who, CreateForm::default()).await?;
    page.c.notice = done_message(q.done.as_deref());
    render(&page)
}

#[derive(Deserialize, Default)]
pub struct CreateForm {
    name: String,
    iao: String,
    ig_ref: String,
    classification: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    starts: String,
    #[serde(default)]
    ends: String,
}

pub async fn create(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Form(f): Form<CreateForm>,
) -> Result<Response, WebError> {
    limit_fields(
        "A field",
        &[(&f.name, 200), (&f.iao, 64), (&f.ig_ref, 200), (&f.description, 8000), (&f.starts, 32), (&f.ends, 32)],
    )?;
    let outcome = match Classification::parse(&f.classification) {
        None => {
            Err(haven_core::CoreError::invalid("classification", format!("choose one of {}", Classification::names())))
        }
        Some(classification) => {
            let new = NewAsset {
                name: f.name.clone(),
                iao: f.iao.clone(),
                ig_ref: f.ig_ref.clone(),
                classification,
                description: f.description.clone(),
                starts: f.starts.clone(),
                ends: f.ends.clone(),
            };
            state.governance.create_asset(&who, new).await
        }
    };
    match outcome {
        Ok(asset) => Ok(see(&Notice::AssetCreated.on(&paths::gov_asset(&asset.name)))),
        Err(e) => match refused(e)? {
            Refused::StepUp => Ok(step_up(paths::GOV_REGISTER)),
            Refused::Form(failure) => {
                let mut page = register_page(&state, &csrf, &who, f).await?;
                page.c = page.c.failed(failure);
                render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
            }
        },
    }
}
