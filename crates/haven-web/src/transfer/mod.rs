//! The File Transfer portal over HTTP: the tus 1.0 endpoint at `/transfer/uploads/` for members,
//! and at `/transfer/drop/<secret>/uploads/` for providers holding a drop-off link.
//!
//! These routes sit outside the portals' request timeout and body limit (see `router`): an
//! upload's body is streamed into the sealed store for as long as bytes keep coming, with an idle
//! timeout per read instead ([`uploads`]).

mod uploads;

use axum::Router;
use axum::routing::any;

use crate::{AppState, paths};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::TRANSFER_UPLOADS, any(uploads::collection))
        .route(paths::TRANSFER_UPLOADS_BARE, any(uploads::collection))
        .route(paths::TRANSFER_UPLOAD_ROUTE, any(uploads::resource))
        .route(paths::TRANSFER_DROP_UPLOADS_ROUTE, any(uploads::drop_collection))
        .route(paths::TRANSFER_DROP_UPLOADS_BARE_ROUTE, any(uploads::drop_collection))
        .route(paths::TRANSFER_DROP_UPLOAD_ROUTE, any(uploads::drop_resource))
        .route(paths::TRANSFER_RECEIPT_ROUTE, any(uploads::receipt))
        .route(paths::TRANSFER_DROP_RECEIPT_ROUTE, any(uploads::drop_receipt))
}
