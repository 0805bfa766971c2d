//! The Governance portal (`/governance`): My assets, an asset's page with its members, IAAs and
//! compliance record, New request, My requests, the access review; for the service desk and
//! auditors the register, IG records, pending decisions and reports; the Acceptable Use
//! Statement for everyone. Handlers parse, ask `haven_core::governance`, and render.

mod assets;
mod people;
mod reports;
mod requests;
mod review;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::Redirect;
use axum::routing::{get, post};
use haven_core::CoreError;
use haven_core::authz::Action;

use crate::AppState;
use crate::WebError;
use crate::page::form_failure;
use crate::paths;
use crate::session::serving;

/// The largest training CSV the page takes (the parser refuses more than 32 MiB of rows).
const IMPORT_LIMIT: usize = 33 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    let own = Router::new()
        .route(paths::GOVERNANCE, get(assets::mine))
        .route(paths::GOVERNANCE_SLASH, get(|| async { Redirect::permanent(paths::GOVERNANCE) }))
        .route(paths::GOV_AUS, get(people::aus_show).post(people::aus_accept))
        .route(paths::GOV_REQUESTS, get(requests::mine))
        // Each asset's pages ask `can()` with the caller's standing in that asset.
        .route(paths::GOV_ASSET_ROUTE, get(assets::one))
        .route(paths::GOV_ASSET_REQUEST_ROUTE, get(requests::new_show).post(requests::new_submit))
        .route(paths::GOV_ASSET_REVIEW_ROUTE, get(review::show).post(review::submit))
        .route(paths::GOV_ASSET_IAA_ROUTE, post(assets::iaa))
        .route(paths::GOV_ASSET_COMPLIANCE_ROUTE, post(assets::compliance))
        .route(paths::GOV_ASSET_CLOSE_ROUTE, post(assets::close));
    let desk = Router::new()
        .route(paths::GOV_REGISTER, get(assets::register).post(assets::create))
        .route(paths::GOV_IG, get(people::ig).post(people::record))
        .route(paths::GOV_IG_IMPORT, post(people::import).layer(DefaultBodyLimit::max(IMPORT_LIMIT)))
        .route(paths::GOV_DECISIONS, get(requests::pending))
        .route(paths::GOV_DECISION_ROUTE, get(requests::one).post(requests::decide))
        .route(paths::GOV_REPORTS, get(reports::access));
    // Asset pages serve people who are not staff too (IAOs, IAAs), so the portal as a whole
    // serves `UseOwnGovernance`; the desk's pages `ViewGovernance` (and core asks again).
    serving(Action::UseOwnGovernance, own).merge(serving(Action::ViewGovernance, desk))
}

/// What a refused form submission does.
enum Refused {
    /// Show the form again with this message, about this input.
    Form((String, Option<&'static str>)),
    /// Both factors again first, then back to the page.
    StepUp,
}

/// Sort a use case's error: an input error or conflict goes back to the form; anything else
/// (forbidden, not found, storage) is the error page.
fn refused(e: CoreError) -> Result<Refused, WebError> {
    match e {
        CoreError::StepUpRequired => Ok(Refused::StepUp),
        other => Ok(Refused::Form(form_failure(other)?)),
    }
}

/// `YYYY-MM-DD` of a day (empty for 0), and of the last day of a period that ends at `us`.
fn day(us: i64) -> String {
    if us == 0 { String::new() } else { haven_core::governance::rules::show_date(us) }
}

fn last_day(us: i64) -> String {
    if us == 0 { String::new() } else { haven_core::governance::rules::show_end_date(us) }
}
