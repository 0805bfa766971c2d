//! `/healthz`: the process answers. `/readyz`: the database and the blob store answer too.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::AppState;
use crate::paths;

pub fn routes() -> Router<AppState> {
    Router::new().route(paths::HEALTHZ, get(healthz)).route(paths::READYZ, get(readyz))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let (db, blobs) = state.service.ready().await;
    let ok = db.is_ok() && blobs.is_ok();
    if let Err(e) = &db {
        tracing::warn!(error = %e, "readiness: database unreachable");
    }
    if let Err(e) = &blobs {
        tracing::warn!(error = %e, "readiness: blob store unreachable");
    }
    let word = |r: bool| if r { "ok" } else { "unavailable" };
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        status,
        Json(json!({"status": word(ok), "checks": {"database": word(db.is_ok()), "blob_store": word(blobs.is_ok())}})),
    )
}
