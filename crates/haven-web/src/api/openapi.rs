//! The OpenAPI 3.1 document of `/api/v1`, built from one table of operations ([`OPERATIONS`])
//! and the schemas of what they take and give. The route matrix test checks that every
//! `/api/v1` route of the router is in the table and the other way round, and the API test
//! checks real answers against the schemas. Written out rather than derived with a macro crate:
//! a few dozen lines of table keep the build lean and the document readable.

use axum::Json;
use axum::extract::State;
use haven_core::governance::records::{
    Area, AssetStatus, Classification, Closure, ComplianceKind, MemberRole, RequestKind, RequestStatus,
};
use haven_core::governance::requests::{MAX_PAGE, PAGE};
use serde_json::{Map, Value, json};

use crate::AppState;

pub const OPENAPI: &str = crate::paths::API_DOCS;

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Nothing,
    /// Any API token (read or read-write).
    Read,
    /// A read-write API token.
    Write,
}

/// One operation: its route (as the router spells it), what it takes and what it answers.
#[derive(Debug)]
pub struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub id: &'static str,
    pub summary: &'static str,
    pub needs: Needs,
    /// Query parameters: (name, required, description).
    pub query: &'static [(&'static str, bool, &'static str)],
    /// A list served a page at a time, newest first: `before` and `limit` in the query, and a
    /// `Link: <…>; rel="next"` header while older entries remain.
    pub paged: bool,
    /// The JSON body's schema (`text/csv` for the training import).
    pub body: Option<&'static str>,
    /// The success status and its schema (`[Name]` for an array of `Name`).
    pub answer: (u16, &'static str),
}

const fn op(
    method: &'static str,
    path: &'static str,
    id: &'static str,
    needs: Needs,
    summary: &'static str,
    body: Option<&'static str>,
    answer: (u16, &'static str),
) -> Op {
    Op { method, path, id, summary, needs, query: &[], paged: false, body, answer }
}

const STATUS_ASSET: &[(&str, bool, &str)] = &[
    ("status", false, "Only requests in this status: pending, awaiting_training, approved or rejected."),
    ("asset", false, "Only requests about this asset."),
];

pub const OPERATIONS: &[Op] = &[
    op("get", OPENAPI, "openapi", Needs::Nothing, "This document.", None, (200, "")),
    op("get", "/api/v1/me", "me", Needs::Read, "The token's owner: roles, scope and training.", None, (200, "Me")),
    op(
        "get",
        "/api/v1/me/assets",
        "myAssets",
        Needs::Read,
        "The assets you belong to or run, and whether you can reach each.",
        None,
        (200, "[MyAsset]"),
    ),
    Op {
        paged: true,
        ..op(
            "get",
            "/api/v1/me/requests",
            "myRequests",
            Needs::Read,
            "The access requests you made, newest first.",
            None,
            (200, "[AccessRequest]"),
        )
    },
    op(
        "get",
        "/api/v1/assets",
        "register",
        Needs::Read,
        "The asset register (service desk, auditors).",
        None,
        (200, "[Asset]"),
    ),
    op(
        "post",
        "/api/v1/assets",
        "createAsset",
        Needs::Write,
        "Register an asset (service desk).",
        Some("NewAsset"),
        (201, "Asset"),
    ),
    op(
        "get",
        "/api/v1/assets/{name}",
        "asset",
        Needs::Read,
        "An asset with its IAAs, members, compliance record, storage areas and open requests.",
        None,
        (200, "AssetView"),
    ),
    op(
        "post",
        "/api/v1/assets/{name}/close",
        "closeAsset",
        Needs::Write,
        "Close an asset: end every membership, then archive its data or destroy its project key (IAO, service desk).",
        Some("Close"),
        (200, "Closed"),
    ),
    op(
        "put",
        "/api/v1/assets/{name}/iaas/{user}",
        "addIaa",
        Needs::Write,
        "Nominate an Information Asset Administrator (IAO, service desk).",
        None,
        (200, "IaaChange"),
    ),
    op(
        "delete",
        "/api/v1/assets/{name}/iaas/{user}",
        "removeIaa",
        Needs::Write,
        "Remove an Information Asset Administrator (IAO, service desk).",
        None,
        (200, "IaaChange"),
    ),
    op(
        "put",
        "/api/v1/assets/{name}/compliance/{kind}",
        "setCompliance",
        Needs::Write,
        "Record or renew a compliance item: agreement, ethics, dpia or funding (IAO, service desk).",
        Some("Compliance"),
        (200, "ComplianceItem"),
    ),
    Op {
        query: &[("status", false, "Only requests in this status: pending, awaiting_training, approved or rejected.")],
        paged: true,
        ..op(
            "get",
            "/api/v1/assets/{name}/requests",
            "assetRequests",
            Needs::Read,
            "The asset's access requests, newest first (IAO, IAAs, service desk, auditors).",
            None,
            (200, "[AccessRequest]"),
        )
    },
    op(
        "post",
        "/api/v1/assets/{name}/requests",
        "submitRequest",
        Needs::Write,
        "Ask for a person to be added, changed, extended or ended (IAO, IAAs).",
        Some("NewRequest"),
        (201, "AccessRequest"),
    ),
    op(
        "post",
        "/api/v1/assets/{name}/review",
        "review",
        Needs::Write,
        "The access review: confirm or remove members (IAO).",
        Some("Review"),
        (200, "Reviewed"),
    ),
    Op {
        query: STATUS_ASSET,
        paged: true,
        ..op(
            "get",
            "/api/v1/requests",
            "requests",
            Needs::Read,
            "Access requests, newest first: all for the service desk and auditors, those of an asset you run (with asset), else those you made.",
            None,
            (200, "[AccessRequest]"),
        )
    },
    op("get", "/api/v1/requests/{id}", "request", Needs::Read, "One access request.", None, (200, "AccessRequest")),
    op(
        "post",
        "/api/v1/requests/{id}/decision",
        "decide",
        Needs::Write,
        "Approve or reject a request (service desk; never your own or one about you). A new person's onboarding link goes to them by email.",
        Some("Decision"),
        (200, "AccessRequest"),
    ),
    op(
        "post",
        "/api/v1/training",
        "recordTraining",
        Needs::Write,
        "Record one training completion (service desk).",
        Some("Training"),
        (201, "TrainingRecord"),
    ),
    op(
        "post",
        "/api/v1/training/import",
        "importTraining",
        Needs::Write,
        "Import a training CSV (user_id,course,completed[,expires]): every row or none; a bad row is named by its line.",
        Some("text/csv"),
        (200, "Imported"),
    ),
    op(
        "get",
        crate::paths::API_EGRESS_REQUESTS,
        "egressRequests",
        Needs::Read,
        "Your output requests, and (signed in as an output checker in the browser) what waits for you; the assets you may request outputs from.",
        None,
        (200, "EgressLists"),
    ),
    op(
        "get",
        crate::paths::API_EGRESS_REQUEST_ROUTE,
        "egressRequest",
        Needs::Read,
        "One of your output requests as you may see it: groups, pinned files with their SHA-256 and check reports, comments, history (votes blind until a turn has them all).",
        None,
        (200, "EgressRequest"),
    ),
    op(
        "get",
        "/api/v1/training/{user}",
        "training",
        Needs::Read,
        "A person's training and Acceptable Use Statement status (your own, or anyone's for the service desk and auditors).",
        None,
        (200, "TrainingView"),
    ),
    Op {
        query: &[
            ("from", true, "The first day, YYYY-MM-DD."),
            ("to", true, "The last day, YYYY-MM-DD (included)."),
            ("asset", false, "Only this asset."),
        ],
        ..op(
            "get",
            "/api/v1/reports/access",
            "accessReport",
            Needs::Read,
            "Who had access to which asset between two dates, with the request and decision behind each membership (service desk, auditors).",
            None,
            (200, "[AccessRow]"),
        )
    },
    op(
        "get",
        "/api/v1/reports/{report}",
        "report",
        Needs::Read,
        "A report as a table: training, reviews, compliance, register, usage or satre (service desk, auditors).",
        None,
        (200, "Table"),
    ),
];

fn names<T: Copy>(all: &[T], as_str: fn(T) -> &'static str) -> Value {
    json!({"type": "string", "enum": all.iter().map(|v| as_str(*v)).collect::<Vec<_>>()})
}

fn s() -> Value {
    json!({"type": "string"})
}
fn int(description: &str) -> Value {
    json!({"type": "integer", "format": "int64", "description": description})
}
fn time() -> Value {
    int("Microseconds since 1970-01-01T00:00:00Z; 0 for none.")
}
fn boolean() -> Value {
    json!({"type": "boolean"})
}
fn array(items: Value) -> Value {
    json!({"type": "array", "items": items})
}
fn refer(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}
fn date(description: &str) -> Value {
    json!({"type": "string", "format": "date", "description": description})
}

/// An object schema: every property listed, these required, nothing else allowed.
fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties, "additionalProperties": false})
}

/// An object whose every property is always present (the records Haven answers with).
fn record(properties: Value) -> Value {
    let required: Vec<String> = properties.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    json!({"type": "object", "required": required, "properties": properties, "additionalProperties": false})
}

fn schemas() -> Value {
    let classification = names(Classification::ALL, Classification::as_str);
    let role = names(MemberRole::ALL, MemberRole::as_str);
    let request_kind = names(RequestKind::ALL, RequestKind::as_str);
    let request_status = names(RequestStatus::ALL, RequestStatus::as_str);
    let mut closure = names(Closure::ALL, Closure::as_str);
    let asset = record(json!({
        "name": s(), "ig_ref": s(), "classification": classification, "description": s(),
        "starts_us": time(), "ends_us": time(), "status": names(AssetStatus::ALL, AssetStatus::as_str),
        "iao": s(), "created_us": time(), "review_due_us": time(), "closed_us": time(),
        "closure": {"oneOf": [closure.clone(), {"type": "null"}]},
    }));
    if let Some(m) = closure.as_object_mut() {
        m.insert("description".into(), json!("archive: keep the data, sealed; shred: destroy the project key."));
    }
    json!({
        "Error": object(&["error"], json!({"error": object(&["code", "message"], json!({"code": s(), "message": s()}))})),
        "EgressSummary": record(json!({"id": s(), "asset": s(), "author": s(), "title": s(), "state": s(), "updated_us": time()})),
        "EgressLists": record(json!({
            "mine": array(refer("EgressSummary")), "to_review": array(refer("EgressSummary")),
            "to_release": array(refer("EgressSummary")), "as_iao": array(refer("EgressSummary")), "assets": array(s()),
        })),
        "EgressRequest": {
            "type": "object",
            "required": ["state", "version", "created_us", "updated_us", "viewer", "request", "can"],
            "description": "A request as the caller may see it: `request` holds its id, asset, title, author, groups, files (name, group, bytes, sha256, source, report), votes, overrides, comments and history; `can` what the caller may do now (in the browser).",
        },
        "Me": record(json!({"user_id": s(), "roles": array(s()), "scope": s(), "training": refer("TrainingView")})),
        "Asset": asset,
        "MyAsset": record(json!({
            "asset": refer("Asset"), "iao": boolean(), "iaa": boolean(),
            "blocked": {"oneOf": [s(), {"type": "null"}], "description": "Why you cannot reach the data now, and what to do; null when you can."},
        })),
        "AssetView": record(json!({
            "asset": refer("Asset"), "admins": array(refer("AssetAdmin")), "members": array(refer("Membership")),
            "compliance": array(refer("ComplianceItem")), "areas": array(refer("StorageArea")),
            "open_requests": array(refer("AccessRequest")),
        })),
        "AssetAdmin": record(json!({"asset": s(), "user_id": s(), "added_us": time()})),
        "StorageArea": record(json!({"asset": s(), "area": names(Area::ALL, Area::as_str), "prefix": s(), "created_us": time()})),
        "Membership": record(json!({
            "id": int("The membership period's id."), "asset": s(), "user_id": s(), "role": role, "starts_us": time(),
            "ends_us": time(), "ended_us": time(), "end_reason": s(), "request_id": int("The approved request behind it (0: made at the console)."),
            "confirmed_us": time(), "flagged_us": time(), "suspended": boolean(),
        })),
        "ComplianceItem": record(json!({
            "asset": s(), "kind": names(ComplianceKind::ALL, ComplianceKind::as_str), "reference": s(),
            "expires_us": time(), "updated_us": time(), "updated_by": s(), "flagged_us": time(),
        })),
        "TrainingRecord": record(json!({
            "id": int("The record's id."), "user_id": s(), "course": s(), "completed_us": time(), "expires_us": time(),
            "recorded_by": s(), "recorded_us": time(), "reminders": int("Reminder emails sent so far."),
        })),
        "TrainingView": record(json!({
            "records": array(refer("TrainingRecord")), "missing": array(s()),
            "aus_version": int("The Acceptable Use Statement version accepted (0: none)."), "aus_current": boolean(),
        })),
        "AccessRequest": record(json!({
            "id": int("The request's number."), "asset": s(), "kind": request_kind, "subject": s(), "new_email": s(),
            "new_name": s(), "new_organisation": s(), "role": role, "ends_us": time(), "justification": s(),
            "requested_by": s(), "requested_us": time(), "status": request_status, "decided_by": s(),
            "decided_us": time(), "reason": s(),
        })),
        "AccessRow": record(json!({
            "asset": s(), "user_id": s(), "role": role, "starts_us": time(), "ended_us": time(), "end_reason": s(),
            "request_id": int("The approved request behind the membership (0: made at the console)."),
            "requested_by": s(), "decided_by": s(), "decided_us": time(),
        })),
        "Table": record(json!({"title": s(), "intro": s(), "header": array(s()), "rows": array(array(s()))})),
        "Closed": record(json!({
            "memberships_ended": int("Memberships ended."), "requests_rejected": int("Open requests rejected."),
            "keys_destroyed": int("Project keys destroyed (1 for shred)."),
            "drives_erased": boolean(),
        })),
        "IaaChange": record(json!({
            "asset": s(), "user_id": s(), "iaa": boolean(), "changed": boolean(),
        })),
        "Imported": record(json!({
            "records": int("Training records written."), "users": int("People they are about."),
            "already_recorded": int("Rows identical to a record the person already had, left alone."),
            "requests_ready": int("Requests that waited for this training and now wait for a decision."),
        })),
        "Reviewed": record(json!({
            "confirmed": int("Members confirmed."), "removed": int("Members removed."), "complete": boolean(),
            "next_due_us": time(),
        })),
        "NewAsset": object(&["name", "iao", "ig_ref", "classification"], json!({
            "name": {"type": "string", "description": "Lowercase letters, digits and dashes."},
            "iao": {"type": "string", "description": "The Information Asset Owner's user id (staff role)."},
            "ig_ref": {"type": "string", "description": "The IG case reference, in the configured format (such as IG/00999)."},
            "classification": classification, "description": s(),
            "starts": date("The first day; today when left out."), "ends": date("The last day; none when left out."),
        })),
        "Close": object(&["closure", "reason", "confirm"], json!({
            "closure": closure, "reason": s(),
            "confirm": {"type": "string", "description": "The asset's name again."},
        })),
        "Compliance": object(&["reference", "expires"], json!({"reference": s(), "expires": date("The last day it is valid.")})),
        "NewRequest": object(&["kind", "user_id", "justification"], json!({
            "kind": request_kind,
            "user_id": {"type": "string", "description": "An existing user id, or the id to give a new person."},
            "email": {"type": "string", "description": "A new person's email (leave out for an existing user)."},
            "name": s(), "organisation": s(), "role": role,
            "ends": date("The last day of access (add, extend)."), "justification": s(),
        })),
        "Review": object(&[], json!({"confirm": array(s()), "remove": array(s())})),
        "Decision": object(&["decision", "reason"], json!({"decision": {"type": "string", "enum": ["approve", "reject"]}, "reason": s()})),
        "Training": object(&["user_id", "course", "completed"], json!({
            "user_id": s(), "course": s(), "completed": date("The day the course was completed."),
            "expires": date("The last day it counts; the configured validity when left out."),
        })),
    })
}

fn operation(op: &Op) -> Value {
    let mut parameters: Vec<Value> = op
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": s()}))
        .collect();
    parameters.extend(
        op.query
            .iter()
            .map(|(name, required, d)| json!({"name": name, "in": "query", "required": required, "description": d, "schema": s()})),
    );
    let error = json!({"description": "What was wrong and what to do.", "content": {"application/json": {"schema": refer("Error")}}});
    if op.paged {
        parameters.push(json!({"name": "before", "in": "query", "required": false,
            "description": "Only entries with a lower id: the next page, as the Link header gives it.",
            "schema": {"type": "integer", "minimum": 1}}));
        parameters.push(json!({"name": "limit", "in": "query", "required": false,
            "description": format!("At most this many ({PAGE} when left out)."),
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}}));
    }
    let (status, schema) = op.answer;
    let mut answer = if schema.is_empty() {
        json!({"description": "OK", "content": {"application/json": {}}})
    } else if let Some(item) = schema.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        json!({"description": "OK", "content": {"application/json": {"schema": array(refer(item))}}})
    } else {
        json!({"description": "OK", "content": {"application/json": {"schema": refer(schema)}}})
    };
    if op.paged {
        answer["headers"] = json!({"Link": {
            "description": "<URL of the next (older) page>; rel=\"next\", while there is one.",
            "schema": s(),
        }});
    }
    let mut responses = Map::new();
    responses.insert(status.to_string(), answer);
    let mut o = json!({"operationId": op.id, "summary": op.summary, "parameters": parameters});
    match op.needs {
        Needs::Nothing => {
            o["security"] = json!([]);
        }
        Needs::Read | Needs::Write => {
            for code in ["401", "403", "404", "422", "429"] {
                responses.insert(code.into(), error.clone());
            }
            o["x-haven-scope"] = json!(if op.needs == Needs::Write { "api:write" } else { "api:read" });
        }
    }
    match op.body {
        Some("text/csv") => {
            o["requestBody"] = json!({"required": true, "content": {"text/csv": {"schema": s()}}});
        }
        Some(name) => {
            o["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": refer(name)}}});
        }
        None => {}
    }
    o["responses"] = Value::Object(responses);
    o
}

/// The whole document.
pub fn document_value(public_url: &str) -> Value {
    let mut paths = Map::new();
    for op in OPERATIONS {
        let entry = paths.entry(op.path.to_string()).or_insert_with(|| json!({}));
        entry[op.method] = operation(op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Haven API",
            "version": "1",
            "description": "Governance of Haven's information assets: assets, members, access requests and decisions, IG training, access reviews and reports. Send a personal API token (made in the Security portal, under API tokens) as \"Authorization: Bearer haven_api_…\". A read token reads what you may read; a read-write token also changes what you may change. Times are microseconds since the Unix epoch (UTC); dates in bodies are YYYY-MM-DD.",
        },
        "servers": [{"url": public_url}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "A personal API token."}},
            "schemas": schemas(),
        },
        "paths": paths,
    })
}

pub async fn document(State(state): State<AppState>) -> Json<Value> {
    Json(document_value(&state.config.public_url))
}
