//! The route matrix: every route of the application, read from the router itself, asked with GET
//! and POST by each kind of caller (anonymous, a researcher, a member of another asset, the
//! asset's IAA, its IAO, the service desk), against the status the table below expects. A route
//! added without a row, or a row whose route is gone, fails the test: so does any 5xx.
//!
//! POSTs carry a valid CSRF token and an empty form: what is checked is who gets past the door
//! (303 to sign-in, 403, or the handler's own 4xx for the missing fields), not what the form does.
//!
//! `/api/v1` routes are asked with each caller's own read-write API token instead of the
//! session (anonymous sends none), and with an empty JSON object as the body; the methods each
//! serves (from the `Allow` header of a 405) must be those of the OpenAPI document. A second
//! matrix sends every API write a valid body, so that `can()` itself answers: with each caller's
//! read-only token (always refused), then with their read-write token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::BTreeMap;

use haven_core::accounts::Role;
use haven_core::caller::Caller;
use haven_core::governance::assets::NewAsset;
use haven_core::governance::records::{Classification, MemberRole, RequestKind};
use haven_core::governance::requests::NewRequest;
use haven_testkit::callers::signed_in;
use haven_testkit::db::TestDb;
use haven_testkit::upstream::Upstream;

mod common;

use common::TestApp as App;
use common::browser::{Browser, person};

haven_testkit::contract!(every_route_answers_each_caller_as_the_table_says, api_writes_reach_the_authorisation_check);

/// The callers, in the table's column order.
const CALLERS: [&str; 6] = ["anonymous", "researcher", "other member", "IAA", "IAO", "desk"];

/// The route patterns the router holds, read from its `Debug` form (axum lists them as
/// `RouteId(n): "/path"`): the router is the one source of truth.
fn router_paths(app: &App) -> Vec<String> {
    let debug = format!("{:?}", haven_web::router(app.state.clone()));
    let mut paths: Vec<String> = debug
        .split("RouteId(")
        .skip(1)
        .filter_map(|chunk| {
            let (_, rest) = chunk.split_once("): \"")?;
            Some(rest.split('"').next()?.to_string())
        })
        .collect();
    paths.sort();
    paths.dedup();
    assert!(paths.len() > 50, "the router's Debug form changed? found {paths:?}");
    paths
}

/// A concrete URL for a pattern: the parameters filled with values that exist where that
/// matters (the asset the IAA and IAO hold, a real user).
fn concrete(pattern: &str) -> String {
    let id = if pattern.starts_with("/security/desk/users/") { "rex" } else { "999" };
    pattern
        .replace("{name}", "heart")
        .replace("{id}", id)
        .replace("{serial}", "HVN00000000")
        .replace("{project}", "demo")
        .replace("{file}", "demo-1.0.tar.gz")
        .replace("{pkg}", "demo")
        .replace("{channel}", "conda-forge")
        .replace("{subdir}", "noarch")
        .replace("{user}", "rex")
        .replace("{kind}", "ethics")
        .replace("{report}", "training")
        .replace("{token}", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
}

/// A request to the API as the caller holding `token` (none: anonymous).
async fn api(app: &App, method: &str, url: &str, token: Option<&str>) -> axum::response::Response {
    let body = if method == "GET" { None } else { Some(("application/json", "{}".to_string())) };
    api_with(app, method, url, token, body).await
}

/// As [`api`], with a body of the given content type.
async fn api_with(
    app: &App,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<(&str, String)>,
) -> axum::response::Response {
    use tower::ServiceExt;
    let mut r = axum::http::Request::builder().method(method).uri(url).header("host", "haven.example");
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    let body = match body {
        None => axum::body::Body::empty(),
        Some((kind, text)) => {
            r = r.header("content-type", kind);
            axum::body::Body::from(text)
        }
    };
    haven_web::router(app.state.clone()).oneshot(r.body(body).unwrap()).await.unwrap()
}

/// The methods an API route serves, from the `Allow` header of a method it does not (PATCH).
async fn allowed_methods(app: &App, url: &str) -> Vec<String> {
    let r = api(app, "PATCH", url, None).await;
    assert_eq!(r.status(), 405, "{url}: PATCH served?");
    let allow = r.headers().get("allow").map(|v| v.to_str().unwrap().to_lowercase()).unwrap_or_default();
    let mut methods: Vec<String> =
        allow.split(',').map(|m| m.trim().to_string()).filter(|m| !m.is_empty() && m != "head").collect();
    methods.sort();
    methods
}

/// Two assets: heart (IAO owen, IAA ian) and lung (IAO otto, member olly). The people with a
/// browser have their accounts already.
async fn world(app: &App) {
    let console = Caller::console();
    let gov = &app.state.governance;
    let id = &app.state.identity;
    id.add_account(&console, "otto", "otto@example.org", false).await.unwrap();
    id.set_role(&console, "otto", Role::Staff, true).await.unwrap();
    for user in ["owen", "otto", "ian", "olly"] {
        gov.record_training(&console, user, "data-security-awareness", "2025-12-01", "").await.unwrap();
    }
    for (name, iao) in [("heart", "owen"), ("lung", "otto")] {
        let new = NewAsset {
            name: name.into(),
            iao: iao.into(),
            ig_ref: format!("IG/0000{}", name.len()),
            classification: Classification::Identifiable,
            description: String::new(),
            starts: String::new(),
            ends: String::new(),
        };
        gov.create_asset(&console, new).await.unwrap();
    }
    gov.set_iaa(&console, "heart", "ian", true).await.unwrap();
    let otto = signed_in("otto", &[Role::Staff], 0);
    let asked = NewRequest {
        asset: "lung".into(),
        kind: Some(RequestKind::Add),
        user_id: "olly".into(),
        role: Some(MemberRole::Researcher),
        ends: "2026-12-31".into(),
        justification: "analysis".into(),
        ..NewRequest::default()
    };
    let request = gov.submit_request(&otto, asked).await.unwrap();
    gov.decide(&console, request.id, true, "fine").await.unwrap();
}

/// Expected statuses: for each route, GET and POST, one per caller in [`CALLERS`] order.
/// `303` for anonymous is the redirect to sign-in; `405` a method the route does not serve.
#[rustfmt::skip]
const TABLE: &[(&str, [u16; 6], [u16; 6])] = &[
    // route, then GET and POST as: anonymous, researcher, other member, IAA, IAO, desk
    ("/",                                       [200, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/bootstrap",                              [410, 410, 410, 410, 410, 410], [422, 422, 422, 422, 422, 422]),
    ("/ca.pem",                                 [404, 404, 404, 404, 404, 404], [405, 405, 405, 405, 405, 405]),
    ("/conda/{channel}/{subdir}/{file}",        [401, 404, 404, 404, 404, 404], [405, 405, 405, 405, 405, 405]),
    ("/cran/src/contrib/Archive/{pkg}/",        [401, 404, 404, 404, 404, 404], [405, 405, 405, 405, 405, 405]),
    ("/cran/src/contrib/Archive/{pkg}/{file}",  [401, 404, 404, 404, 404, 404], [405, 405, 405, 405, 405, 405]),
    ("/cran/src/contrib/Meta/archive.rds",      [401, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/cran/src/contrib/{file}",                [401, 404, 404, 404, 404, 404], [405, 405, 405, 405, 405, 405]),
    ("/governance",                             [303, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/governance/",                            [308, 308, 308, 308, 308, 308], [405, 405, 405, 405, 405, 405]),
    ("/governance/assets/{name}",               [303, 403, 403, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/governance/assets/{name}/close",         [405, 405, 405, 405, 405, 405], [303, 403, 403, 403, 422, 422]),
    ("/governance/assets/{name}/compliance",    [405, 405, 405, 405, 405, 405], [303, 403, 403, 403, 422, 422]),
    ("/governance/assets/{name}/iaa",           [405, 405, 405, 405, 405, 405], [303, 403, 403, 403, 422, 422]),
    ("/governance/assets/{name}/request",       [303, 403, 403, 200, 200, 403], [303, 403, 403, 422, 422, 403]),
    ("/governance/assets/{name}/review",        [303, 403, 403, 403, 200, 403], [303, 403, 403, 403, 303, 403]),
    ("/governance/aus",                         [303, 200, 200, 200, 200, 200], [303, 303, 303, 303, 303, 303]),
    ("/governance/decisions",                   [303, 403, 403, 403, 403, 200], [405, 405, 405, 405, 405, 405]),
    ("/governance/decisions/{id}",              [303, 403, 403, 403, 403, 404], [303, 403, 403, 403, 403, 422]),
    ("/governance/ig",                          [303, 403, 403, 403, 403, 200], [303, 403, 403, 403, 403, 422]),
    ("/governance/ig/import",                   [405, 405, 405, 405, 405, 405], [303, 403, 403, 403, 403, 400]),
    ("/governance/register",                    [303, 403, 403, 403, 403, 200], [303, 403, 403, 403, 403, 422]),
    ("/governance/reports",                     [303, 403, 403, 403, 403, 200], [405, 405, 405, 405, 405, 405]),
    ("/governance/requests",                    [303, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/healthz",                                [200, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/packages",                               [303, 303, 303, 303, 303, 303], [405, 405, 405, 405, 405, 405]),
    ("/packages/",                              [303, 303, 303, 303, 303, 303], [405, 405, 405, 405, 405, 405]),
    ("/packages/policy",                        [303, 403, 403, 403, 403, 200], [405, 405, 405, 405, 405, 405]),
    ("/packages/policy/rules",                  [405, 405, 405, 405, 405, 405], [303, 422, 422, 422, 422, 422]),
    ("/packages/policy/rules/remove",           [405, 405, 405, 405, 405, 405], [303, 422, 422, 422, 422, 422]),
    ("/packages/requests",                      [303, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/packages/requests/check",                [405, 405, 405, 405, 405, 405], [303, 422, 422, 422, 422, 422]),
    ("/packages/requests/new",                  [303, 200, 200, 200, 200, 200], [303, 422, 422, 422, 422, 422]),
    ("/packages/review",                        [303, 403, 403, 403, 403, 200], [405, 405, 405, 405, 405, 405]),
    ("/packages/review/{id}",                   [303, 403, 403, 403, 403, 404], [303, 422, 422, 422, 422, 422]),
    ("/packages/tokens",                        [303, 200, 200, 200, 200, 200], [303, 422, 422, 422, 422, 422]),
    ("/packages/tokens/revoke",                 [405, 405, 405, 405, 405, 405], [303, 422, 422, 422, 422, 422]),
    ("/pypi/files/{project}/{file}",            [401, 403, 403, 403, 403, 403], [405, 405, 405, 405, 405, 405]),
    ("/pypi/simple",                            [401, 308, 308, 308, 308, 308], [405, 405, 405, 405, 405, 405]),
    ("/pypi/simple/",                           [401, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/pypi/simple/{project}",                  [401, 308, 308, 308, 308, 308], [405, 405, 405, 405, 405, 405]),
    ("/pypi/simple/{project}/",                 [401, 403, 403, 403, 403, 403], [405, 405, 405, 405, 405, 405]),
    ("/readyz",                                 [200, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/security",                               [200, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/security/",                              [308, 308, 308, 308, 308, 308], [405, 405, 405, 405, 405, 405]),
    ("/security/api-tokens",                    [303, 200, 200, 200, 200, 200], [303, 422, 422, 422, 422, 422]),
    ("/security/api-tokens/revoke",             [405, 405, 405, 405, 405, 405], [303, 404, 404, 404, 404, 404]),
    ("/security/confirm",                       [303, 200, 200, 200, 200, 200], [303, 422, 422, 422, 422, 422]),
    ("/security/desk",                          [303, 403, 403, 403, 403, 200], [405, 405, 405, 405, 405, 405]),
    ("/security/desk/ice",                      [405, 405, 405, 405, 405, 405], [303, 403, 403, 403, 403, 422]),
    ("/security/desk/tokens",                   [303, 403, 403, 403, 403, 200], [303, 403, 403, 403, 403, 400]),
    ("/security/desk/tokens/assign",            [405, 405, 405, 405, 405, 405], [303, 403, 403, 403, 403, 422]),
    ("/security/desk/users",                    [405, 405, 405, 405, 405, 405], [303, 403, 403, 403, 403, 422]),
    ("/security/desk/users/{id}",               [303, 403, 403, 403, 403, 200], [405, 405, 405, 405, 405, 405]),
    ("/security/desk/users/{id}/action",        [405, 405, 405, 405, 405, 405], [303, 403, 403, 403, 403, 422]),
    ("/security/emergency",                     [303, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/security/emergency/request",             [303, 200, 200, 200, 200, 200], [303, 200, 200, 200, 200, 200]),
    ("/security/forgot",                        [200, 200, 200, 200, 200, 200], [422, 422, 422, 422, 422, 422]),
    ("/security/ice",                           [200, 200, 200, 200, 200, 200], [422, 422, 422, 422, 422, 422]),
    ("/security/ice/answers",                   [405, 405, 405, 405, 405, 405], [422, 422, 422, 422, 422, 422]),
    ("/security/ice/password",                  [405, 405, 405, 405, 405, 405], [422, 422, 422, 422, 422, 422]),
    ("/security/onboard",                       [400, 400, 400, 400, 400, 400], [422, 422, 422, 422, 422, 422]),
    ("/security/password",                      [303, 200, 200, 200, 200, 200], [303, 422, 422, 422, 422, 422]),
    ("/security/questions",                     [303, 200, 200, 200, 200, 200], [303, 422, 422, 422, 422, 422]),
    ("/security/recovery",                      [303, 200, 200, 200, 200, 200], [303, 200, 200, 200, 200, 200]),
    ("/security/reset",                         [400, 400, 400, 400, 400, 400], [422, 422, 422, 422, 422, 422]),
    ("/security/sessions",                      [303, 200, 200, 200, 200, 200], [303, 303, 303, 303, 303, 303]),
    ("/security/signin",                        [200, 200, 200, 200, 200, 200], [422, 422, 422, 422, 422, 422]),
    ("/security/signout",                       [405, 405, 405, 405, 405, 405], [303, 303, 303, 303, 303, 303]),
    ("/security/tokens",                        [303, 200, 200, 200, 200, 200], [303, 422, 422, 422, 422, 422]),
    ("/security/tokens/receive",                [303, 400, 400, 400, 400, 400], [303, 422, 422, 422, 422, 422]),
    ("/security/tokens/{serial}/activate",      [303, 200, 200, 200, 200, 200], [303, 422, 422, 422, 422, 422]),
    ("/security/tokens/{serial}/pin",           [303, 200, 200, 200, 200, 200], [303, 422, 422, 422, 422, 422]),
    ("/security/tokens/{serial}/push",          [303, 200, 200, 200, 200, 200], [303, 422, 422, 422, 422, 422]),
    ("/security/tokens/{serial}/resync",        [303, 200, 200, 200, 200, 200], [303, 422, 422, 422, 422, 422]),
    ("/security/tokens/{serial}/state",         [405, 405, 405, 405, 405, 405], [303, 422, 422, 422, 422, 422]),
    ("/static/transfer.js",                     [200, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/static/tus.min.js",                      [200, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/static/haven.css",                       [200, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    // Applications: a session that is not the caller's (here: none) is 404 to everyone; an
    // empty launch form shows the page with what to fix. tests/sessions.rs runs real ones.
    ("/apps",                                   [303, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    // The catalogue: everyone reads it, the desk adds (an empty form: the page, with what to fix).
    ("/apps/catalogue",                         [303, 200, 200, 200, 200, 200], [303, 403, 403, 403, 403, 200]),
    // An asset's drives answer those who can reach its data now; here nobody can (409 says why).
    ("/apps/drives/{name}",                     [303, 409, 409, 409, 409, 409], [405, 405, 405, 405, 405, 405]),
    // A copy between an asset's drives: an empty form names no drive (422, what to fix).
    ("/apps/drives/{name}/copy",                [405, 405, 405, 405, 405, 405], [303, 422, 422, 422, 422, 422]),
    // Batch jobs: a job that is not the caller's (here: none) is 404 to everyone; an empty
    // submit form shows the page with what to fix. tests/sessions.rs runs real ones.
    ("/egress",                                 [303, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/egress/assets/{name}/permissions",       [303, 403, 403, 200, 200, 200], [303, 422, 422, 422, 422, 422]),
    ("/egress/download/{token}",                [303, 400, 400, 400, 400, 400], [405, 405, 405, 405, 405, 405]),
    ("/egress/requests",                        [405, 405, 405, 405, 405, 405], [303, 200, 200, 200, 200, 200]),
    ("/egress/requests/{id}",                   [303, 404, 404, 404, 404, 404], [405, 405, 405, 405, 405, 405]),
    ("/egress/requests/{id}/files/{name}",      [303, 404, 404, 404, 404, 404], [405, 405, 405, 405, 405, 405]),
    ("/egress/requests/{id}/{what}",            [405, 405, 405, 405, 405, 405], [303, 404, 404, 404, 404, 404]),
    ("/apps/jobs",                              [303, 200, 200, 200, 200, 200], [303, 200, 200, 200, 200, 200]),
    ("/apps/jobs/{id}",                         [303, 404, 404, 404, 404, 404], [405, 405, 405, 405, 405, 405]),
    ("/apps/jobs/{id}/cancel",                  [405, 405, 405, 405, 405, 405], [303, 404, 404, 404, 404, 404]),
    ("/apps/launch",                            [405, 405, 405, 405, 405, 405], [303, 200, 200, 200, 200, 200]),
    ("/apps/sessions/{id}",                     [303, 404, 404, 404, 404, 404], [405, 405, 405, 405, 405, 405]),
    // A web session (JupyterLab) is served on the web sessions' own origin: here its address
    // sends the browser there (tests/sessions.rs asks who gets in); whether it answers yet is
    // asked here, by its owner.
    ("/apps/sessions/{id}/lab",                 [303, 303, 303, 303, 303, 303], [405, 405, 405, 405, 405, 405]),
    ("/apps/sessions/{id}/lab/",                [303, 303, 303, 303, 303, 303], [405, 405, 405, 405, 405, 405]),
    ("/apps/sessions/{id}/lab/{*rest}",         [303, 303, 303, 303, 303, 303], [405, 405, 405, 405, 405, 405]),
    ("/apps/sessions/{id}/desktop",             [303, 404, 404, 404, 404, 404], [405, 405, 405, 405, 405, 405]),
    ("/apps/sessions/{id}/ready",               [303, 404, 404, 404, 404, 404], [405, 405, 405, 405, 405, 405]),
    ("/apps/sessions/{id}/stop",                [405, 405, 405, 405, 405, 405], [303, 404, 404, 404, 404, 404]),
    ("/apps/sessions/{id}/terminal",            [303, 404, 404, 404, 404, 404], [405, 405, 405, 405, 405, 405]),
    ("/static/job.js",                          [200, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/static/web-session.js",                  [200, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/static/desktop.js",                      [200, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/static/novnc/rfb.js",                    [200, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/static/terminal.js",                     [200, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/static/xterm/addon-fit.js",              [200, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/static/xterm/xterm.css",                 [200, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/static/xterm/xterm.js",                  [200, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    // tus: the protocol's version is checked before anyone (412), and ids are 32 hex digits;
    // tests/transfer.rs asks who may send, with tokens and sessions.
    ("/transfer",                               [303, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/transfer/assets/{name}",                 [303, 403, 403, 200, 200, 403], [405, 405, 405, 405, 405, 405]),
    ("/transfer/assets/{name}/arrivals/decide", [405, 405, 405, 405, 405, 405], [303, 403, 403, 422, 422, 403]),
    // An empty form makes a link with the defaults (shown once: 200).
    ("/transfer/assets/{name}/links",           [405, 405, 405, 405, 405, 405], [303, 403, 403, 200, 200, 403]),
    ("/transfer/assets/{name}/links/revoke",    [405, 405, 405, 405, 405, 405], [303, 403, 403, 422, 422, 403]),
    ("/transfer/drop/{token}",                  [404, 404, 404, 404, 404, 404], [405, 405, 405, 405, 405, 405]),
    ("/transfer/drop/{token}/uploads",          [405, 405, 405, 405, 405, 405], [412, 412, 412, 412, 412, 412]),
    ("/transfer/drop/{token}/uploads/",         [405, 405, 405, 405, 405, 405], [412, 412, 412, 412, 412, 412]),
    ("/transfer/drop/{token}/uploads/{id}",     [404, 404, 404, 404, 404, 404], [404, 404, 404, 404, 404, 404]),
    ("/transfer/drop/{token}/uploads/{id}/receipt", [404, 404, 404, 404, 404, 404], [405, 405, 405, 405, 405, 405]),
    ("/transfer/uploads",                       [405, 405, 405, 405, 405, 405], [412, 412, 412, 412, 412, 412]),
    ("/transfer/uploads/",                      [405, 405, 405, 405, 405, 405], [412, 412, 412, 412, 412, 412]),
    ("/transfer/uploads/{id}",                  [404, 404, 404, 404, 404, 404], [404, 404, 404, 404, 404, 404]),
    ("/transfer/uploads/{id}/receipt",          [401, 404, 404, 404, 404, 404], [405, 405, 405, 405, 405, 405]),
    ("/updates",                                [200, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/updates.atom",                           [200, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    // The API, with each caller's read-write token; 422 is the empty body's missing fields.
    ("/api/v1/assets",                          [401, 403, 403, 403, 403, 200], [401, 422, 422, 422, 422, 422]),
    ("/api/v1/assets/{name}",                   [401, 403, 403, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/api/v1/assets/{name}/close",             [405, 405, 405, 405, 405, 405], [401, 422, 422, 422, 422, 422]),
    ("/api/v1/assets/{name}/compliance/{kind}", [405, 405, 405, 405, 405, 405], [405, 405, 405, 405, 405, 405]),
    ("/api/v1/assets/{name}/iaas/{user}",       [405, 405, 405, 405, 405, 405], [405, 405, 405, 405, 405, 405]),
    ("/api/v1/assets/{name}/requests",          [401, 403, 403, 200, 200, 200], [401, 422, 422, 422, 422, 422]),
    ("/api/v1/assets/{name}/review",            [405, 405, 405, 405, 405, 405], [401, 403, 403, 403, 200, 403]),
    ("/api/v1/me",                              [401, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/api/v1/me/assets",                       [401, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/api/v1/me/requests",                     [401, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/api/v1/egress/requests",                 [401, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/api/v1/egress/requests/{id}",            [401, 404, 404, 404, 404, 404], [405, 405, 405, 405, 405, 405]),
    ("/api/v1/openapi.json",                    [200, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/api/v1/reports/access",                  [401, 422, 422, 422, 422, 422], [405, 405, 405, 405, 405, 405]),
    ("/api/v1/reports/{report}",                [401, 403, 403, 403, 403, 200], [405, 405, 405, 405, 405, 405]),
    ("/api/v1/requests",                        [401, 200, 200, 200, 200, 200], [405, 405, 405, 405, 405, 405]),
    ("/api/v1/requests/{id}",                   [401, 403, 403, 403, 403, 404], [405, 405, 405, 405, 405, 405]),
    ("/api/v1/requests/{id}/decision",          [405, 405, 405, 405, 405, 405], [401, 422, 422, 422, 422, 422]),
    ("/api/v1/training",                        [405, 405, 405, 405, 405, 405], [401, 422, 422, 422, 422, 422]),
    ("/api/v1/training/import",                 [405, 405, 405, 405, 405, 405], [401, 403, 403, 403, 403, 415]),
    ("/api/v1/training/{user}",                 [401, 200, 403, 403, 403, 200], [405, 405, 405, 405, 405, 405]),
    ("/{*__private__axum_fallback}",            [404, 404, 404, 404, 404, 404], [404, 404, 404, 404, 404, 404]),
];

async fn every_route_answers_each_caller_as_the_table_says(db: TestDb) {
    let up = Upstream::new();
    let app = App::builder().db(db).packages(up.config(false)).build().await;
    let mut browsers: Vec<Browser<'_>> = vec![Browser::new(&app).await];
    for (user, roles) in
        [("rex", vec![]), ("olly", vec![]), ("ian", vec![]), ("owen", vec![Role::Staff]), ("dora", vec![Role::Admin])]
    {
        browsers.push(person(&app, user, &roles).await);
    }
    world(&app).await;
    // Each signed-in caller's own read-write API token, made after a fresh sign-in.
    let mut tokens: Vec<Option<String>> = vec![None];
    for (user, roles) in
        [("rex", vec![]), ("olly", vec![]), ("ian", vec![]), ("owen", vec![Role::Staff]), ("dora", vec![Role::Admin])]
    {
        let fresh = signed_in(user, &roles, app.state.governance.now_us());
        let (secret, _) = app.state.identity.create_api_token(&fresh, "matrix", true, None).await.unwrap();
        tokens.push(Some(secret.to_string()));
    }
    let started = std::time::Instant::now();
    let mut seen: BTreeMap<String, ([u16; 6], [u16; 6])> = BTreeMap::new();
    let mut paths = router_paths(&app);
    // Signing out ends the session the other rows need: last.
    paths.sort_by_key(|p| p == haven_web::paths::SIGNOUT);
    for pattern in &paths {
        let url = concrete(pattern);
        let mut get = [0u16; 6];
        let mut post = [0u16; 6];
        for (i, b) in browsers.iter_mut().enumerate() {
            if pattern.starts_with("/api/") {
                get[i] = api(&app, "GET", &url, tokens[i].as_deref()).await.status().as_u16();
                post[i] = api(&app, "POST", &url, tokens[i].as_deref()).await.status().as_u16();
            } else {
                get[i] = b.get(&url).await.status.as_u16();
                post[i] = b.post(&url, &[]).await.status.as_u16();
            }
        }
        seen.insert(pattern.clone(), (get, post));
    }
    let elapsed = started.elapsed();
    let requests = paths.len() * 2 * CALLERS.len();
    eprintln!("route matrix: {} routes, {requests} requests in {elapsed:?}", paths.len());

    let mut problems = Vec::new();
    let table: BTreeMap<&str, ([u16; 6], [u16; 6])> = TABLE.iter().map(|(p, g, q)| (*p, (*g, *q))).collect();
    for (pattern, (get, post)) in &seen {
        if get.iter().chain(post).any(|s| *s >= 500) {
            problems.push(format!("{pattern}: a 5xx: GET {get:?} POST {post:?}"));
        }
        match table.get(pattern.as_str()) {
            None => problems.push(format!("no row for {pattern}: add    (\"{pattern}\", {get:?}, {post:?}),")),
            Some((g, p)) if g != get || p != post => problems.push(format!(
                "{pattern}: expected GET {g:?} POST {p:?}, got GET {get:?} POST {post:?} (callers: {CALLERS:?})"
            )),
            Some(_) => {}
        }
    }
    for pattern in table.keys() {
        if !seen.contains_key(*pattern) {
            problems.push(format!("a row for {pattern}, which the router no longer has"));
        }
    }
    // Every API route and method is in the OpenAPI document, and nothing else is.
    let mut documented: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for op in haven_web::api::openapi::OPERATIONS {
        documented.entry(op.path).or_default().push(op.method.to_string());
    }
    for methods in documented.values_mut() {
        methods.sort();
    }
    for pattern in paths.iter().filter(|p| p.starts_with("/api/")) {
        let served = allowed_methods(&app, &concrete(pattern)).await;
        match documented.remove(pattern.as_str()) {
            None => problems.push(format!("{pattern} is served but not in the OpenAPI document")),
            Some(doc) if doc != served => {
                problems.push(format!("{pattern}: serves {served:?}, the OpenAPI document says {doc:?}"))
            }
            Some(_) => {}
        }
    }
    for pattern in documented.keys() {
        problems.push(format!("{pattern} is in the OpenAPI document but not served"));
    }
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}

/// method, route, URL, (content type, body), expected statuses.
type ApiWrite = (&'static str, &'static str, &'static str, (&'static str, String), [u16; 6]);

/// Every API write with a valid body, in the order they are tried (each caller's successful
/// write changes what the next one finds, so the order is part of the table): method, route,
/// URL, body (content type and text), and the status for each caller's read-write token.
#[rustfmt::skip]
fn api_writes() -> Vec<ApiWrite> {
    let json = |v: serde_json::Value| ("application/json", v.to_string());
    vec![
        // anonymous, researcher, other member, IAA, IAO, desk
        ("put", "/api/v1/assets/{name}/iaas/{user}", "/api/v1/assets/heart/iaas/olly", json(serde_json::json!({})),
            [401, 403, 403, 403, 200, 200]),
        ("delete", "/api/v1/assets/{name}/iaas/{user}", "/api/v1/assets/heart/iaas/olly", json(serde_json::json!({})),
            [401, 403, 403, 403, 200, 200]),
        ("put", "/api/v1/assets/{name}/compliance/{kind}", "/api/v1/assets/heart/compliance/ethics",
            json(serde_json::json!({"reference": "REC 1", "expires": "2027-06-30"})),
            [401, 403, 403, 403, 200, 200]),
        ("post", "/api/v1/assets/{name}/requests", "/api/v1/assets/heart/requests",
            json(serde_json::json!({"kind": "add", "user_id": "olly", "role": "researcher", "ends": "2026-12-31", "justification": "matrix"})),
            [401, 403, 403, 201, 409, 403]),
        ("post", "/api/v1/requests/{id}/decision", "/api/v1/requests/2/decision",
            json(serde_json::json!({"decision": "approve", "reason": "matrix"})),
            [401, 403, 403, 403, 403, 200]),
        ("post", "/api/v1/training", "/api/v1/training",
            json(serde_json::json!({"user_id": "olly", "course": "data-security-awareness", "completed": "2025-12-02"})),
            [401, 403, 403, 403, 403, 201]),
        ("post", "/api/v1/training/import", "/api/v1/training/import",
            ("text/csv", "user_id,course,completed\nolly,data-security-awareness,2025-12-03\n".to_string()),
            [401, 403, 403, 403, 403, 200]),
        ("post", "/api/v1/assets/{name}/review", "/api/v1/assets/heart/review",
            json(serde_json::json!({"confirm": [], "remove": []})),
            [401, 403, 403, 403, 200, 403]),
        ("post", "/api/v1/assets", "/api/v1/assets",
            json(serde_json::json!({"name": "kidney", "iao": "owen", "ig_ref": "IG/00099", "classification": "anonymised"})),
            [401, 403, 403, 403, 403, 201]),
        ("post", "/api/v1/assets/{name}/close", "/api/v1/assets/heart/close",
            json(serde_json::json!({"closure": "archive", "reason": "matrix", "confirm": "heart"})),
            [401, 403, 403, 403, 200, 409]),
    ]
}

async fn api_writes_reach_the_authorisation_check(db: TestDb) {
    let app = App::builder().db(db).build().await;
    let people =
        [("rex", vec![]), ("olly", vec![]), ("ian", vec![]), ("owen", vec![Role::Staff]), ("dora", vec![Role::Admin])];
    for (user, roles) in &people {
        person(&app, user, roles).await;
    }
    world(&app).await;
    let (mut read, mut write): (Vec<Option<String>>, Vec<Option<String>>) = (vec![None], vec![None]);
    for (user, roles) in &people {
        let fresh = signed_in(user, roles, app.state.governance.now_us());
        for (tokens, rw) in [(&mut read, false), (&mut write, true)] {
            let (secret, _) = app.state.identity.create_api_token(&fresh, "matrix", rw, None).await.unwrap();
            tokens.push(Some(secret.to_string()));
        }
    }
    let writes = api_writes();
    let mut problems = Vec::new();
    // Every write the OpenAPI document lists has a row, once.
    for op in haven_web::api::openapi::OPERATIONS.iter().filter(|o| o.needs == haven_web::api::openapi::Needs::Write) {
        let rows = writes.iter().filter(|w| w.0 == op.method && w.1 == op.path).count();
        if rows != 1 {
            problems.push(format!("{} {}: {rows} row(s) in api_writes, want 1", op.method, op.path));
        }
    }
    // A read-only token changes nothing, whoever holds it.
    for (method, _, url, body, _) in &writes {
        let mut got = [0u16; 6];
        for (i, token) in read.iter().enumerate() {
            let body = Some((body.0, body.1.clone()));
            got[i] = api_with(&app, &method.to_uppercase(), url, token.as_deref(), body).await.status().as_u16();
        }
        if got != [401, 403, 403, 403, 403, 403] {
            problems.push(format!("{method} {url} with read-only tokens: {got:?}"));
        }
    }
    // With read-write tokens, can() decides.
    for (method, _, url, body, want) in &writes {
        let mut got = [0u16; 6];
        for (i, token) in write.iter().enumerate() {
            let body = Some((body.0, body.1.clone()));
            got[i] = api_with(&app, &method.to_uppercase(), url, token.as_deref(), body).await.status().as_u16();
        }
        if &got != want {
            problems.push(format!("{method} {url}: expected {want:?}, got {got:?} (callers: {CALLERS:?})"));
        }
    }
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}
