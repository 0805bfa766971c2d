//! `/api/v1` handlers for governance: each parses its JSON, asks `haven_core::governance` (which
//! asks `can()` with the token's caller), and answers with the records as JSON. The same use
//! cases as the portal's pages, so the same rules, audit events and emails.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use haven_core::CoreError;
use haven_core::governance::assets::NewAsset;
use haven_core::governance::records::{
    Classification, Closure, ComplianceKind, MemberRole, RequestKind, RequestStatus,
};
use haven_core::governance::reports::Report;
use haven_core::governance::requests::{NewRequest, PAGE, RequestList};
use haven_core::governance::store::Paging;
use serde::Deserialize;
use serde_json::json;

use super::{Api, Body, Params};
use crate::{AppState, WebError};

type Answer = Result<Response, WebError>;

fn ok<T: serde::Serialize>(value: T) -> Answer {
    Ok(Json(value).into_response())
}

/// 201 with the new thing and where it can be read.
fn created<T: serde::Serialize>(location: String, value: T) -> Answer {
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(value)).into_response())
}

/// A stored enum named in a body or query: unknown names are a 422 that lists the known ones.
fn pick<T>(
    field: &'static str,
    value: &str,
    parse: fn(&str) -> Option<T>,
    names: fn() -> String,
) -> Result<T, WebError> {
    parse(value).ok_or_else(|| CoreError::invalid(field, format!("use one of {}", names())).into())
}

pub async fn me(State(state): State<AppState>, Api(who): Api) -> Answer {
    let roles: Vec<&str> = who.roles.iter().map(|r| r.as_str()).collect();
    let training = state.governance.training_view(&who, &who.user_id).await?;
    ok(json!({"user_id": who.user_id, "roles": roles, "scope": who.level.as_str(), "training": training}))
}

pub async fn my_assets(State(state): State<AppState>, Api(who): Api) -> Answer {
    ok(state.governance.my_assets(&who).await?)
}

pub async fn my_requests(State(state): State<AppState>, Api(who): Api, Params(p): Params<PagingQuery>) -> Answer {
    let list = state.governance.my_requests(&who, page(p.before, p.limit)?).await?;
    paged("/api/v1/me/requests", &[], p.limit, list)
}

pub async fn register(State(state): State<AppState>, Api(who): Api) -> Answer {
    ok(state.governance.register(&who).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAssetBody {
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

pub async fn create_asset(State(state): State<AppState>, Api(who): Api, Body(b): Body<NewAssetBody>) -> Answer {
    let classification = pick("classification", &b.classification, Classification::parse, Classification::names)?;
    let new = NewAsset {
        name: b.name,
        iao: b.iao,
        ig_ref: b.ig_ref,
        classification,
        description: b.description,
        starts: b.starts,
        ends: b.ends,
    };
    let asset = state.governance.create_asset(&who, new).await?;
    created(format!("/api/v1/assets/{}", asset.name), asset)
}

pub async fn asset(State(state): State<AppState>, Api(who): Api, Path(name): Path<String>) -> Answer {
    ok(state.governance.asset_view(&who, &name).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    closure: String,
    reason: String,
    /// The asset's name again: closing ends every membership and may destroy the data.
    confirm: String,
}

pub async fn close_asset(
    State(state): State<AppState>,
    Api(who): Api,
    Path(name): Path<String>,
    Body(b): Body<CloseBody>,
) -> Answer {
    let closure = pick("closure", &b.closure, Closure::parse, Closure::names)?;
    if b.confirm != name {
        // Ask can() first, so an outsider learns nothing from the confirmation check.
        state.governance.asset_view(&who, &name).await?;
        return Err(CoreError::invalid("confirm", format!("give the asset's name, {name}, to confirm")).into());
    }
    ok(state.governance.close_asset(&who, &name, closure, &b.reason).await?)
}

async fn set_iaa(state: AppState, who: haven_core::caller::Caller, name: String, user: String, on: bool) -> Answer {
    let changed = state.governance.set_iaa(&who, &name, &user, on).await?;
    ok(json!({"asset": name, "user_id": user, "iaa": on, "changed": changed}))
}

pub async fn add_iaa(
    State(state): State<AppState>,
    Api(who): Api,
    Path((name, user)): Path<(String, String)>,
) -> Answer {
    set_iaa(state, who, name, user, true).await
}

pub async fn remove_iaa(
    State(state): State<AppState>,
    Api(who): Api,
    Path((name, user)): Path<(String, String)>,
) -> Answer {
    set_iaa(state, who, name, user, false).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplianceBody {
    reference: String,
    expires: String,
}

pub async fn set_compliance(
    State(state): State<AppState>,
    Api(who): Api,
    Path((name, kind)): Path<(String, String)>,
    Body(b): Body<ComplianceBody>,
) -> Answer {
    let kind = pick("kind", &kind, ComplianceKind::parse, ComplianceKind::names)?;
    ok(state.governance.set_compliance(&who, &name, kind, &b.reference, &b.expires).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestFilter {
    status: Option<String>,
    asset: Option<String>,
    before: Option<i64>,
    limit: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagingQuery {
    before: Option<i64>,
    limit: Option<i64>,
}

fn page(before: Option<i64>, limit: Option<i64>) -> Result<Paging, WebError> {
    if before.is_some_and(|b| b < 1) {
        return Err(CoreError::invalid("before", "give an id from the Link header of the previous page").into());
    }
    Ok(Paging::Newest { before: before.unwrap_or(0), limit: limit.unwrap_or(PAGE) })
}

/// A page of requests as a JSON array, with a `Link` to the next (older) page while there is
/// one: `path` and the filters that made this page, so the link asks for the same list.
fn paged(path: &str, filters: &[(&str, Option<&str>)], limit: Option<i64>, list: RequestList) -> Answer {
    let mut response = Json(&list.requests).into_response();
    if let Some(next) = list.next {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in filters {
            if let Some(v) = value {
                query.append_pair(name, v);
            }
        }
        if let Some(l) = limit {
            query.append_pair("limit", &l.to_string());
        }
        query.append_pair("before", &next.to_string());
        let link = format!("<{path}?{}>; rel=\"next\"", query.finish());
        if let Ok(value) = header::HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
}

fn status_of(filter: &RequestFilter) -> Result<Option<RequestStatus>, WebError> {
    filter.status.as_deref().map(|s| pick("status", s, RequestStatus::parse, RequestStatus::names)).transpose()
}

pub async fn asset_requests(
    State(state): State<AppState>,
    Api(who): Api,
    Path(name): Path<String>,
    Params(f): Params<RequestFilter>,
) -> Answer {
    let status = status_of(&f)?;
    if f.asset.is_some() {
        return Err(CoreError::invalid("asset", "the asset is in the path already").into());
    }
    let list = state.governance.requests(&who, Some(&name), status, page(f.before, f.limit)?).await?;
    paged(&format!("/api/v1/assets/{name}/requests"), &[("status", f.status.as_deref())], f.limit, list)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    kind: String,
    user_id: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    organisation: String,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    ends: String,
    justification: String,
}

pub async fn submit_request(
    State(state): State<AppState>,
    Api(who): Api,
    Path(asset): Path<String>,
    Body(b): Body<RequestBody>,
) -> Answer {
    let kind = pick("kind", &b.kind, RequestKind::parse, RequestKind::names)?;
    let role = b.role.as_deref().map(|r| pick("role", r, MemberRole::parse, MemberRole::names)).transpose()?;
    let new = NewRequest {
        asset,
        kind: Some(kind),
        user_id: b.user_id,
        email: b.email,
        name: b.name,
        organisation: b.organisation,
        role,
        ends: b.ends,
        justification: b.justification,
    };
    let request = state.governance.submit_request(&who, new).await?;
    created(format!("/api/v1/requests/{}", request.id), request)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    #[serde(default)]
    confirm: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

pub async fn review(
    State(state): State<AppState>,
    Api(who): Api,
    Path(name): Path<String>,
    Body(b): Body<ReviewBody>,
) -> Answer {
    if b.confirm.len() + b.remove.len() > 10_000 {
        return Err(CoreError::invalid("members", "at most 10,000 members in one review").into());
    }
    ok(state.governance.review(&who, &name, &b.confirm, &b.remove).await?)
}

pub async fn requests(State(state): State<AppState>, Api(who): Api, Params(f): Params<RequestFilter>) -> Answer {
    let status = status_of(&f)?;
    let list = state.governance.requests(&who, f.asset.as_deref(), status, page(f.before, f.limit)?).await?;
    let filters = [("status", f.status.as_deref()), ("asset", f.asset.as_deref())];
    paged("/api/v1/requests", &filters, f.limit, list)
}

pub async fn request(State(state): State<AppState>, Api(who): Api, Path(id): Path<i64>) -> Answer {
    ok(state.governance.request(&who, id).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    decision: String,
    reason: String,
}

pub async fn decide(
    State(state): State<AppState>,
    Api(who): Api,
    Path(id): Path<i64>,
    Body(b): Body<DecisionBody>,
) -> Answer {
    let approve = match b.decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(CoreError::invalid("decision", "use approve or reject").into()),
    };
    // A new person's onboarding link goes to them by email, never to the decider's script.
    let decided = state.governance.decide(&who, id, approve, &b.reason).await?;
    ok(decided.request)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingBody {
    user_id: String,
    course: String,
    completed: String,
    #[serde(default)]
    expires: String,
}

pub async fn record_training(State(state): State<AppState>, Api(who): Api, Body(b): Body<TrainingBody>) -> Answer {
    let record = state.governance.record_training(&who, &b.user_id, &b.course, &b.completed, &b.expires).await?;
    created(format!("/api/v1/training/{}", record.user_id), record)
}

/// A training CSV as the body (`Content-Type: text/csv`): all rows or none, as `haven ig import`.
pub async fn import_training(
    State(state): State<AppState>,
    Api(who): Api,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Answer {
    // Ask first: only the desk's write tokens make Haven read and parse a file.
    state.governance.may_import_training(&who)?;
    let csv =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("text/csv"));
    if !csv {
        return Err(WebError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the training file as the body with \"Content-Type: text/csv\" (columns user_id,course,completed[,expires]).",
        ));
    }
    let body = axum::body::to_bytes(body, super::IMPORT_LIMIT)
        .await
        .map_err(|_| WebError::from_status(StatusCode::PAYLOAD_TOO_LARGE))?;
    let governance = state.governance.clone();
    // Parsing 100,000 rows is CPU work: off the async threads.
    let rows = tokio::task::spawn_blocking(move || governance.read_training_csv(body.as_ref()))
        .await
        .map_err(WebError::internal)??;
    ok(state.governance.import_training(&who, rows).await?)
}

pub async fn training(State(state): State<AppState>, Api(who): Api, Path(user): Path<String>) -> Answer {
    ok(state.governance.training_view(&who, &user).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessQuery {
    from: String,
    to: String,
    asset: Option<String>,
}

pub async fn access_report(State(state): State<AppState>, Api(who): Api, Params(q): Params<AccessQuery>) -> Answer {
    ok(state.governance.access_report(&who, &q.from, &q.to, q.asset.as_deref()).await?)
}

pub async fn report(State(state): State<AppState>, Api(who): Api, Path(name): Path<String>) -> Answer {
    let names = || Report::ALL.iter().map(|r| r.as_str()).chain(["access"]).collect::<Vec<_>>().join(", ");
    let report = pick("report", &name, Report::parse, names)?;
    ok(state.governance.report(&who, report).await?)
}
