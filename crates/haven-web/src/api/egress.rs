//! `/api/v1/egress` handlers: one's output requests, read with an API token. Changes and
//! downloads need a browser signed in with both factors (nothing leaves through a token).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use super::Api;
use crate::{AppState, WebError};

pub async fn requests(State(state): State<AppState>, Api(who): Api) -> Result<Response, WebError> {
    Ok(Json(state.egress.lists(&who).await?).into_response())
}

pub async fn request(
    State(state): State<AppState>,
    Api(who): Api,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    Ok(Json(state.egress.view(&who, &id).await?).into_response())
}
