//! `GET /ca.pem`: the internal certificate authority's certificate, so that people and clients can
//! trust Haven's certificate (check its fingerprint against the one `haven serve` printed).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::paths;
use crate::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new().route(paths::CA_PEM, get(ca_pem))
}

async fn ca_pem(State(state): State<AppState>) -> Result<Response, WebError> {
    match &state.config.ca_pem {
        Some(pem) => Ok((
            [
                (header::CONTENT_TYPE, "application/x-pem-file"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"haven-ca.pem\""),
            ],
            pem.clone(),
        )
            .into_response()),
        None => Err(WebError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "This Haven uses a certificate from your organisation's own CA; ask the service desk for it.",
        )),
    }
}
