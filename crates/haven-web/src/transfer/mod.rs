//! The File Transfer portal over HTTP: the tus 1.0 endpoint at `/transfer/uploads/` for members,
//! and at `/transfer/drop/<secret>/uploads/` for providers holding a drop-off link.
//!
//! These routes sit outside the portals' request timeout and body limit (see `router`): an
//! upload's body is streamed into the sealed store for as long as bytes keep coming, with an idle
//! timeout per read instead ([`uploads`]).

mod pages;
mod uploads;

use axum::Router;
use axum::routing::{any, get, post};
use haven_core::authz::Action;

use crate::session::serving;
use crate::{AppState, paths};

/// The portal's pages, with the other portals' layers (CSRF, timeout, body limit). Each asset's
/// page asks `can()` with the caller's standing in that asset; the portal as a whole serves
/// anyone with governance pages of their own.
pub fn pages() -> Router<AppState> {
    let signed = Router::new()
        .route(paths::TRANSFER, get(pages::home))
        .route(paths::TRANSFER_ASSET_ROUTE, get(pages::asset))
        .route(paths::TRANSFER_LINKS_ROUTE, post(pages::create_link))
        .route(paths::TRANSFER_LINK_REVOKE_ROUTE, post(pages::revoke_link))
        .route(paths::TRANSFER_DECIDE_ROUTE, post(pages::decide));
    serving(Action::UseOwnGovernance, signed)
        .route(paths::TRANSFER_DROP_ROUTE, get(pages::drop))
        .route(paths::TUS_SCRIPT, get(pages::tus_js))
        .route(paths::TRANSFER_SCRIPT, get(pages::transfer_js))
}

/// The tus endpoints: outside the request timeout and body limit.
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
