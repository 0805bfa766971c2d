//! The Egress portal over HTTP: output requests (pages), a request's single-use download, and
//! (in `crate::api`) the JSON reads. Every decision is haven-core's; these parse and render.

mod download;
mod pages;

use axum::Router;
use axum::routing::{get, post};
use haven_core::authz::Action;

use crate::session::serving;
use crate::{AppState, paths};

pub fn routes() -> Router<AppState> {
    let pages = Router::new()
        .route(paths::EGRESS, get(pages::home))
        .route(paths::EGRESS_NEW, post(pages::create))
        .route(paths::EGRESS_REQUEST_ROUTE, get(pages::request))
        .route(paths::EGRESS_ACTION_ROUTE, post(pages::change))
        .route(paths::EGRESS_FILE_ROUTE, get(pages::file))
        .route(paths::EGRESS_PERMISSIONS_ROUTE, get(pages::permissions).post(pages::set_permission));
    let download = Router::new().route(paths::EGRESS_DOWNLOAD_ROUTE, get(download::download));
    serving(Action::FollowOwnOutputs, pages).merge(serving(Action::DownloadOutputs, download))
}
