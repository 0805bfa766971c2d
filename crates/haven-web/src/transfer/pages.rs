//! The File Transfer portal's pages: its home (the assets one can send into), an asset's page
//! (send files, the arrivals with their verdicts and decisions, drop-off links), and the page
//! behind a drop-off link for a provider. The uploader itself is `static/transfer.js` over the
//! vendored tus-js-client (`static/tus.min.js`), both served from the binary.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use haven_core::authz::{Action, Resource, can};
use haven_core::caller::Caller;
use haven_core::governance::rules::show_date;
use haven_core::transfer::links::{LinkAuth, NewLink, Password};
use haven_core::transfer::scan;
use haven_core::transfer::store::{DropLinkRecord, UploadRecord};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::page::{Chrome, Notice, done_message, form_failure, limit_fields, render, render_status, see};
use crate::paths;
use crate::session::{Page, Visitor};
use crate::{AppState, WebError};

pub const TUS_JS: &[u8] = include_bytes!("../../static/tus.min.js");
pub const TRANSFER_JS: &str = include_str!("../../static/transfer.js");

pub async fn tus_js() -> Response {
    script(TUS_JS)
}

pub async fn transfer_js() -> Response {
    script(TRANSFER_JS.as_bytes())
}

fn script(body: &'static [u8]) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    r
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

struct AssetRow {
    name: String,
    role: &'static str,
}

#[derive(Template)]
#[template(path = "transfer/home.html")]
struct HomePage {
    title: &'static str,
    c: Chrome,
    rows: Vec<AssetRow>,
}

/// `/transfer`: the assets whose pages the caller may open here.
pub async fn home(State(state): State<AppState>, Page { who, csrf }: Page) -> Result<Response, WebError> {
    let mine = state.governance.my_assets(&who).await?;
    let mut rows = Vec::new();
    for a in mine {
        // Data managers are members too: the asset's page asks core for the caller's standing.
        let role = if a.iao {
            "IAO"
        } else if a.iaa {
            "IAA"
        } else {
            "member"
        };
        if a.iao || a.iaa || a.blocked.is_none() {
            rows.push(AssetRow { name: a.asset.name, role });
        }
    }
    render(&HomePage { title: "File Transfer", c: Chrome::new(&csrf, Some(&who), "transfer"), rows })
}

struct ArrivalRow {
    id: String,
    name: String,
    size: String,
    sha256: String,
    arrived: String,
    from: String,
    verdict: &'static str,
    detail: String,
    decision: String,
    /// Accepting is offered for clean files and, with a note, for those a person must review.
    acceptable: bool,
    needs_note: bool,
}

struct LinkRow {
    id: String,
    label: String,
    by: String,
    expires: String,
    state: &'static str,
    files: String,
    bytes: String,
}

#[derive(Template)]
#[template(path = "transfer/asset.html")]
struct AssetPage {
    title: &'static str,
    c: Chrome,
    asset: String,
    send: bool,
    decide: bool,
    issue: bool,
    endpoint: &'static str,
    arrivals: Vec<ArrivalRow>,
    links: Vec<LinkRow>,
    /// A link just made: shown once.
    made: Option<String>,
}

fn verdict_text(status: &str) -> &'static str {
    match status {
        scan::CLEAN => "clean",
        scan::INFECTED => "infected: quarantined",
        scan::REVIEW => "needs review: not scanned whole",
        scan::DAMAGED => "damaged in storage",
        _ => "scan pending",
    }
}

/// Bytes as people read them.
pub fn size(n: i64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} bytes") } else { format!("{v:.1} {}", UNITS[unit]) }
}

fn arrival_row(u: UploadRecord) -> ArrivalRow {
    let status = u.arrival.scan_status.as_str();
    let decision = match u.arrival.decision.as_str() {
        "" => String::new(),
        "rejected" => format!("rejected by {} (crypto-shredded)", u.arrival.decided_by),
        d => format!("{d} by {}", u.arrival.decided_by),
    };
    ArrivalRow {
        acceptable: u.arrival.decision.is_empty() && matches!(status, scan::CLEAN | scan::REVIEW),
        needs_note: status == scan::REVIEW,
        verdict: verdict_text(status),
        detail: u.arrival.scan_detail.clone(),
        from: if u.link_id.is_empty() { u.uploader.clone() } else { format!("drop-off link {}", u.link_id) },
        arrived: show_date(u.completed_us),
        size: size(u.offset),
        sha256: u.sha256,
        name: u.name,
        id: u.id,
        decision,
    }
}

fn link_row(l: DropLinkRecord, now_us: i64) -> LinkRow {
    let used = |n: i64, max: i64, f: fn(i64) -> String| {
        if max == 0 { format!("{} (no limit)", f(n)) } else { format!("{} of {}", f(n), f(max)) }
    };
    LinkRow {
        state: if l.revoked_us != 0 {
            "revoked"
        } else if l.expires_us <= now_us {
            "expired"
        } else {
            "live"
        },
        files: used(l.files_started, l.max_files, |n| n.to_string()),
        bytes: used(l.bytes_reserved, l.max_bytes, size),
        expires: show_date(l.expires_us),
        by: l.created_by,
        label: l.label,
        id: l.id,
    }
}

async fn asset_page(state: &AppState, csrf: &str, who: &Caller, name: &str) -> Result<AssetPage, WebError> {
    let (asset, standing) = state.governance.require_on(who, Action::ViewArrivals, name).await?;
    let resource = Resource::Asset { asset: &asset.name, standing };
    let (send, decide, issue) = (
        can(who, Action::SendData, resource),
        can(who, Action::DecideArrival, resource),
        can(who, Action::IssueDropLink, resource),
    );
    let arrivals = state.transfer.arrivals(who, &asset.name).await?.into_iter().map(arrival_row).collect();
    let now_us = state.governance.now_us();
    let links = match issue {
        true => state.transfer.links(who, &asset.name).await?.into_iter().map(|l| link_row(l, now_us)).collect(),
        false => Vec::new(),
    };
    Ok(AssetPage {
        title: "File Transfer",
        c: Chrome::new(csrf, Some(who), "transfer"),
        asset: asset.name,
        send,
        decide,
        issue,
        endpoint: paths::TRANSFER_UPLOADS,
        arrivals,
        links,
        made: None,
    })
}

/// `/transfer/assets/{name}`: send files, the arrivals, the links.
pub async fn asset(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(name): Path<String>,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let mut page = asset_page(&state, &csrf, &who, &name).await?;
    page.c.notice = done_message(q.done.as_deref());
    render(&page)
}

async fn refuse(
    state: &AppState,
    csrf: &str,
    who: &Caller,
    name: &str,
    e: haven_core::CoreError,
) -> Result<Response, WebError> {
    let failure = form_failure(e)?;
    let mut page = asset_page(state, csrf, who, name).await?;
    page.c = page.c.failed(failure);
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

// Missing fields read as empty, so that core answers first (403 for an outsider).
#[derive(Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    label: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    max_files: String,
    #[serde(default)]
    max_mib: String,
    #[serde(default)]
    password: Zeroizing<String>,
}

fn optional_number(text: &str, field: &'static str) -> Result<Option<u64>, haven_core::CoreError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse::<u64>()
        .map(Some)
        .map_err(|_| haven_core::CoreError::invalid(field, "give a whole number, or leave it empty"))
}

/// Make a link; the page shows it once.
pub async fn create_link(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(name): Path<String>,
    Form(form): Form<LinkForm>,
) -> Result<Response, WebError> {
    limit_fields(
        "A link",
        &[(&form.label, 200), (&form.days, 10), (&form.max_files, 20), (&form.max_mib, 20), (&form.password, 200)],
    )?;
    let parsed = (|| {
        let days = optional_number(&form.days, "days")?.map(|d| i64::try_from(d).unwrap_or(i64::MAX));
        let max_files = optional_number(&form.max_files, "max_files")?;
        let max_bytes = optional_number(&form.max_mib, "max_mib")?.map(|m| m.saturating_mul(1 << 20));
        Ok::<_, haven_core::CoreError>((days, max_files, max_bytes))
    })();
    let (days, max_files, max_bytes) = match parsed {
        Ok(p) => p,
        Err(e) => return refuse(&state, &csrf, &who, &name, e).await,
    };
    let password = (!form.password.is_empty()).then(|| form.password.clone());
    let new = NewLink { asset: name.clone(), label: form.label.clone(), days, password, max_bytes, max_files };
    match state.transfer.create_link(&who, new).await {
        Ok((secret, _)) => {
            let mut page = asset_page(&state, &csrf, &who, &name).await?;
            page.made = Some(format!("{}{}", state.config.public_url, paths::transfer_drop(&secret)));
            render(&page)
        }
        Err(e) => refuse(&state, &csrf, &who, &name, e).await,
    }
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    id: String,
}

pub async fn revoke_link(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(name): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Result<Response, WebError> {
    // A link of another asset is not this page's to revoke.
    let ours = state.transfer.links(&who, &name).await;
    let result = match ours {
        Ok(links) if links.iter().any(|l| l.id == form.id) => {
            state.transfer.revoke_link(&who, &form.id).await.map(|_| ())
        }
        Ok(_) => Err(haven_core::CoreError::invalid("id", "choose a link of this asset")),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(see(&Notice::LinkRevoked.on(&paths::transfer_asset(&name)))),
        Err(e) => refuse(&state, &csrf, &who, &name, e).await,
    }
}

#[derive(Deserialize)]
pub struct DecideForm {
    #[serde(default)]
    id: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    note: String,
}

pub async fn decide(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(name): Path<String>,
    Form(form): Form<DecideForm>,
) -> Result<Response, WebError> {
    limit_fields("A decision", &[(&form.id, 64), (&form.note, 2000)])?;
    let accept = match form.decision.as_str() {
        "accept" => true,
        "reject" => false,
        _ => {
            let e = haven_core::CoreError::invalid("decision", "choose Accept or Reject");
            return refuse(&state, &csrf, &who, &name, e).await;
        }
    };
    // The arrival must be this asset's (core checks the caller's standing in its own asset).
    let ours = state.transfer.arrivals(&who, &name).await.map(|a| a.iter().any(|u| u.id == form.id));
    let result = match ours {
        Ok(true) => {
            // Accepting copies the file into S:, which may outlast this request (its timeout, a
            // closed tab): the decision runs to its end on its own.
            let (transfer, caller, id, note) =
                (state.transfer.clone(), who.clone(), form.id.clone(), form.note.clone());
            match tokio::spawn(async move { transfer.decide(&caller, &id, accept, &note).await }).await {
                Ok(outcome) => outcome.map(|_| ()),
                Err(e) => Err(haven_core::CoreError::Unavailable(format!("the decision stopped: {e}"))),
            }
        }
        Ok(false) => Err(haven_core::CoreError::invalid("id", "choose a file of this asset")),
        Err(e) => Err(e),
    };
    let notice = if accept { Notice::ArrivalAccepted } else { Notice::ArrivalRejected };
    match result {
        Ok(()) => Ok(see(&notice.on(&paths::transfer_asset(&name)))),
        Err(e) => refuse(&state, &csrf, &who, &name, e).await,
    }
}

#[derive(Template)]
#[template(path = "transfer/drop.html")]
struct DropPage {
    title: &'static str,
    endpoint: String,
    password: bool,
    /// Why the link cannot be used, if it cannot.
    problem: Option<&'static str>,
}

/// `/transfer/drop/{token}`: the page a provider opens from the link they were sent.
pub async fn drop(
    State(state): State<AppState>,
    Visitor(visitor): Visitor,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let found = state.transfer.open_link(&token, Password::Check(None), &visitor.source, &visitor.user_agent).await?;
    let (status, password, problem) = match found {
        LinkAuth::Ok(_) => (StatusCode::OK, false, None),
        LinkAuth::PasswordNeeded | LinkAuth::WrongPassword => (StatusCode::OK, true, None),
        LinkAuth::Gone => (
            StatusCode::GONE,
            false,
            Some("This link has expired or was revoked. Ask whoever sent it to you for a new one."),
        ),
        LinkAuth::Refused => (
            StatusCode::NOT_FOUND,
            false,
            Some("This link is not known. Check that you copied the whole link from the message you were sent."),
        ),
        LinkAuth::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            false,
            Some("Too many refused attempts from your address. Try again in 15 minutes."),
        ),
    };
    let page = DropPage { title: "Send files", endpoint: paths::transfer_drop_uploads(&token), password, problem };
    render_status(status, &page)
}
