//! The Egress portal's pages: one's requests and what waits for one (`/egress`), a request with
//! its groups, files and their checks side by side (`/egress/requests/{id}`), a table shown with
//! its failing cells highlighted, the IAO's page of who may request outputs, and the forms of
//! every change (each one a POST to `/egress/requests/{id}/{what}`, decided in haven-core).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use haven_core::CoreError;
use haven_core::caller::Caller;
use haven_core::egress::checks::{Finding, Kind, Verdict};
use haven_core::egress::outputs::{Lists, RequestView, Viewer};
use haven_core::egress::request::{Comment, Decision, Event, Pinned};
use haven_core::egress::store::Permission;
use serde::Deserialize;

use crate::page::{Chrome, Notice, done_message, form_failure, limit_fields, render, see, when};
use crate::session::Page;
use crate::{AppState, WebError, paths};

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "egress/home.html")]
struct HomePage {
    title: &'static str,
    c: Chrome,
    lists: Lists,
    form_asset: String,
    form_title: String,
}

/// `/egress`: the caller's requests, what waits for them, and a form for a new request.
pub(super) async fn home(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let lists = state.egress.lists(&who).await?;
    let c = Chrome::new(&csrf, Some(&who), "egress").notice(done_message(q.done.as_deref()));
    render(&HomePage { title: "Egress", c, lists, form_asset: String::new(), form_title: String::new() })
}

#[derive(Deserialize, Default)]
pub struct NewForm {
    #[serde(default)]
    asset: String,
    #[serde(default)]
    title: String,
}

pub(super) async fn create(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Form(form): Form<NewForm>,
) -> Result<Response, WebError> {
    limit_fields("the form", &[(&form.asset, 200), (&form.title, 2000)])?;
    match state.egress.create(&who, &form.asset, &form.title).await {
        Ok(id) => Ok(see(&paths::egress_request(&id))),
        Err(e) => {
            let failure = form_failure(e)?;
            let lists = state.egress.lists(&who).await?;
            let c = Chrome::new(&csrf, Some(&who), "egress").failed(failure);
            render(&HomePage { title: "Egress", c, lists, form_asset: form.asset, form_title: form.title })
        }
    }
}

/// A file as the request page shows it.
pub(super) struct FileRow {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
    pub source: String,
    pub kind: &'static str,
    pub checked: &'static str,
    pub verdict: &'static str,
    pub ruleset: String,
    pub findings: Vec<Finding>,
    pub more: u64,
    pub overridden: Option<String>,
    /// The file's page, for its reviewers (its contents are shown to them only).
    pub href: Option<String>,
}

pub(super) struct GroupRow {
    pub name: String,
    pub description: String,
    pub controls: String,
    pub files: Vec<FileRow>,
    pub comments: Vec<CommentRow>,
}

pub(super) struct CommentRow {
    pub author: String,
    pub at: String,
    pub text: String,
    pub private: bool,
}

fn comment_row(c: &Comment) -> CommentRow {
    CommentRow { author: c.author.clone(), at: when(c.at_us), text: c.text.clone(), private: c.checkers_only }
}

pub(super) struct EventRow {
    pub turn: u32,
    pub at: String,
    pub actor: String,
    pub what: String,
}

fn file_row(v: &RequestView, f: &Pinned) -> FileRow {
    let r = f.report.as_ref();
    let turn = v.request.turn;
    let overridden = v
        .request
        .overrides
        .iter()
        .rev()
        .find(|o| o.turn == turn && o.file == f.name)
        .map(|o| format!("{} by {}: {}", o.verdict.as_str(), o.by, o.reason));
    FileRow {
        name: f.name.clone(),
        bytes: f.bytes,
        sha256: f.sha256.clone(),
        source: f.source.clone(),
        kind: r.map_or("", |r| r.kind.as_str()),
        checked: f.verdict().as_str(),
        verdict: v.request.verdict_of(f).as_str(),
        ruleset: r.map(|r| r.ruleset.to_string()).unwrap_or_default(),
        findings: r.map(|r| r.findings.iter().take(50).cloned().collect()).unwrap_or_default(),
        more: r.map_or(0, |r| (r.findings.len().saturating_sub(50)) as u64 + r.more_findings),
        overridden,
        href: matches!(v.viewer, Viewer::Checker | Viewer::Iao).then(|| paths::egress_file(&v.request.id, &f.name)),
    }
}

#[derive(Template)]
#[template(path = "egress/request.html")]
struct RequestPage {
    title: &'static str,
    c: Chrome,
    v: RequestView,
    state: String,
    viewer: &'static str,
    groups: Vec<GroupRow>,
    general: Vec<CommentRow>,
    history: Vec<EventRow>,
    votes: Vec<(String, &'static str, String)>,
    link: Option<(String, String)>,
    link_minutes: u32,
}

/// A request's page.
pub(super) async fn request(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(id): Path<String>,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    show(&state, &csrf, &who, &id, done_message(q.done.as_deref()), None, None).await
}

async fn show(
    state: &AppState,
    csrf: &str,
    who: &Caller,
    id: &str,
    notice: Option<String>,
    failure: Option<(String, Option<&'static str>)>,
    link: Option<(String, String)>,
) -> Result<Response, WebError> {
    let v = state.egress.view(who, id).await?;
    let groups = v
        .request
        .groups
        .iter()
        .filter(|g| v.request.files.iter().any(|f| f.group == g.name))
        .map(|g| GroupRow {
            name: g.name.clone(),
            description: g.description.clone(),
            controls: g.controls.clone(),
            files: v.request.files.iter().filter(|f| f.group == g.name).map(|f| file_row(&v, f)).collect(),
            comments: v.request.comments.iter().filter(|c| c.group == g.name).map(comment_row).collect(),
        })
        .collect();
    let general = v.request.comments.iter().filter(|c| c.group.is_empty()).map(comment_row).collect();
    let history = v
        .request
        .history
        .iter()
        .rev()
        .map(|e: &Event| EventRow { turn: e.turn, at: when(e.at_us), actor: e.actor.clone(), what: e.what.clone() })
        .collect();
    let votes = v.request.current_votes().map(|x| (x.checker.clone(), x.decision.as_str(), x.reason.clone())).collect();
    let mut c = Chrome::new(csrf, Some(who), "egress").notice(notice);
    if let Some(f) = failure {
        c = c.failed(f);
    }
    let viewer = match v.viewer {
        Viewer::Author => "author",
        Viewer::Checker => "output checker",
        Viewer::Iao => "IAO",
        Viewer::Reader => "reader",
    };
    render(&RequestPage {
        title: "Output request",
        c,
        state: v.state.replace('_', " "),
        viewer,
        groups,
        general,
        history,
        votes,
        link,
        link_minutes: state.egress.config().link_minutes,
        v,
    })
}

/// Every change's form, in one shape: which fields a change reads is its own business.
#[derive(Deserialize, Default)]
pub struct ChangeForm {
    #[serde(default)]
    path: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    controls: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    verdict: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    private: Option<String>,
}

/// `POST /egress/requests/{id}/{what}`.
pub(super) async fn change(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path((id, what)): Path<(String, String)>,
    Form(f): Form<ChangeForm>,
) -> Result<Response, WebError> {
    limit_fields(
        "the form",
        &[
            (&f.path, 4096),
            (&f.group, 1000),
            (&f.name, 1000),
            (&f.description, 20_000),
            (&f.controls, 20_000),
            (&f.reason, 20_000),
            (&f.comment, 20_000),
        ],
    )?;
    let e = state.egress.clone();
    let (caller, rid) = (who.clone(), id.clone());
    // Run to the end even if the browser goes away: adding a file copies it before recording it.
    let outcome: Result<Option<(String, String)>, CoreError> = tokio::spawn(async move {
        let (who, id) = (&caller, rid.as_str());
        match what.as_str() {
            "add" => e.add_file(who, id, &f.path, &f.group).await.map(|_| None),
            "remove" => e.remove_file(who, id, &f.name).await.map(|_| None),
            "describe" => e.describe(who, id, &f.group, &f.description, &f.controls).await.map(|_| None),
            "submit" => e.submit(who, id).await.map(|_| None),
            "withdraw" => e.withdraw(who, id).await.map(|_| None),
            "vote" => {
                let decision = match f.decision.as_str() {
                    "approve" => Decision::Approve,
                    "reject" => Decision::Reject,
                    _ => return Err(CoreError::invalid("decision", "choose approve or reject")),
                };
                e.vote(who, id, decision, &f.reason).await.map(|_| None)
            }
            "iao-approve" => e.iao_approve(who, id).await.map(|_| None),
            "return" => e.return_for_changes(who, id, &f.reason).await.map(|_| None),
            "override" => {
                let verdict = match f.verdict.as_str() {
                    "pass" => Verdict::Pass,
                    "review" => Verdict::Review,
                    "fail" => Verdict::Fail,
                    _ => return Err(CoreError::invalid("verdict", "choose pass, review or fail")),
                };
                e.override_verdict(who, id, &f.name, verdict, &f.reason).await.map(|_| None)
            }
            "comment" => e.comment(who, id, &f.group, &f.comment, f.private.is_some()).await.map(|_| None),
            "release" => e.release(who, id).await.map(|_| None),
            "revoke" => e.revoke(who, id, &f.reason).await.map(|_| None),
            "link" => e.download_link(who, id).await.map(|(path, expires)| Some((path, when(expires)))),
            _ => Err(CoreError::NotFound),
        }
    })
    .await
    .map_err(WebError::internal)?;
    match outcome {
        Ok(None) => Ok(see(&Notice::EgressSaved.on(&paths::egress_request(&id)))),
        // A link is shown once, on this answer's page (never in a redirect or an email).
        Ok(Some(link)) => show(&state, &csrf, &who, &id, None, None, Some(link)).await,
        Err(e @ (CoreError::Forbidden | CoreError::NotFound)) => Err(e.into()),
        Err(e) => {
            let failure = form_failure(e)?;
            show(&state, &csrf, &who, &id, None, Some(failure), None).await
        }
    }
}

/// One cell of a table shown for review.
pub(super) struct Cell {
    pub text: String,
    /// `fail` or `review` when a finding points here.
    pub mark: &'static str,
    pub why: String,
}

#[derive(Template)]
#[template(path = "egress/file.html")]
struct FilePage {
    title: &'static str,
    c: Chrome,
    request: String,
    f: FileRow,
    table: Vec<Vec<Cell>>,
    text: Option<String>,
    cut: bool,
}

/// The most of a file a page shows.
const SHOWN_BYTES: usize = 512 * 1024;
const SHOWN_ROWS: usize = 2000;

/// A pinned file beside its checks: a table with its failing cells highlighted, text as text;
/// images and documents are described (a person looks at them in a session).
pub(super) async fn file(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let v = state.egress.view(&who, &id).await?;
    let (mut data, pinned) = state.egress.file(&who, &id, &name).await?;
    let row = file_row(&v, &pinned);
    let mut head = Vec::new();
    let mut cut = false;
    while let Some(chunk) = futures::StreamExt::next(&mut data).await {
        let chunk = chunk.map_err(WebError::internal)?;
        head.extend_from_slice(&chunk);
        if head.len() >= SHOWN_BYTES {
            head.truncate(SHOWN_BYTES);
            cut = true;
            break;
        }
    }
    let kind = pinned.report.as_ref().map(|r| r.kind);
    let (table, text) = match kind {
        Some(Kind::Table) => {
            let tsv = name.to_ascii_lowercase().ends_with(".tsv");
            let findings = pinned.report.as_ref().map(|r| r.findings.as_slice()).unwrap_or_default();
            let (t, more) = cells(&head, if tsv { b'\t' } else { b',' }, findings);
            cut |= more;
            (t, None)
        }
        Some(Kind::Text) => (Vec::new(), Some(String::from_utf8_lossy(&head).into_owned())),
        _ => (Vec::new(), None),
    };
    render(&FilePage {
        title: "File in an output request",
        c: Chrome::new(&csrf, Some(&who), "egress"),
        request: id,
        f: row,
        table,
        text,
        cut,
    })
}

/// The rows of a table, each cell marked where a finding points (row = line, 1 the header;
/// column by its header's name). Whether rows were left out.
fn cells(data: &[u8], delimiter: u8, findings: &[Finding]) -> (Vec<Vec<Cell>>, bool) {
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(data);
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    let mut header: Vec<String> = Vec::new();
    for (i, record) in reader.byte_records().enumerate() {
        if rows.len() >= SHOWN_ROWS {
            return (rows, true);
        }
        let Ok(record) = record else { break };
        let line = i as u64 + 1;
        let texts: Vec<String> = record.iter().map(|c| String::from_utf8_lossy(c).into_owned()).collect();
        if i == 0 {
            header = texts.clone();
        }
        let row = texts
            .into_iter()
            .enumerate()
            .map(|(j, text)| {
                let column = header.get(j).map(String::as_str);
                let hits: Vec<&Finding> =
                    findings.iter().filter(|f| f.row == Some(line) && f.column.as_deref() == column).collect();
                let worst = hits.iter().map(|f| f.verdict).max();
                let mark = match worst {
                    Some(Verdict::Fail) => "fail",
                    Some(Verdict::Review) => "review",
                    _ => "",
                };
                let why = hits.iter().map(|f| format!("{}: {}", f.rule, f.detail)).collect::<Vec<_>>().join("; ");
                // An identifier found in a cell is shown masked, as the finding has it.
                let text = if hits.iter().any(|f| is_identifier(&f.rule)) { "•••".to_string() } else { text };
                Cell { text, mark, why }
            })
            .collect();
        rows.push(row);
    }
    (rows, false)
}

fn is_identifier(rule: &str) -> bool {
    matches!(rule, "nhs-number" | "uk-postcode" | "email-address" | "phone-number" | "date-of-birth")
}

#[derive(Template)]
#[template(path = "egress/permissions.html")]
struct PermissionsPage {
    title: &'static str,
    c: Chrome,
    asset: String,
    allowed: Vec<Permission>,
}

/// The IAO's page: who may request outputs from the asset.
pub(super) async fn permissions(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(asset): Path<String>,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let allowed = state.egress.permissions(&who, &asset).await?;
    let c = Chrome::new(&csrf, Some(&who), "egress").notice(done_message(q.done.as_deref()));
    render(&PermissionsPage { title: "Who may request outputs", c, asset, allowed })
}

#[derive(Deserialize)]
pub struct PermissionForm {
    user: String,
    allow: String,
}

pub(super) async fn set_permission(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Path(asset): Path<String>,
    Form(f): Form<PermissionForm>,
) -> Result<Response, WebError> {
    limit_fields("the form", &[(&f.user, 200)])?;
    match state.egress.set_permission(&who, &asset, f.user.trim(), f.allow == "yes").await {
        Ok(_) => Ok(see(&Notice::PermissionChanged.on(&paths::egress_permissions(&asset)))),
        Err(e @ (CoreError::Forbidden | CoreError::NotFound)) => Err(e.into()),
        Err(e) => {
            let failure = form_failure(e)?;
            let allowed = state.egress.permissions(&who, &asset).await?;
            let c = Chrome::new(&csrf, Some(&who), "egress").failed(failure);
            render(&PermissionsPage { title: "Who may request outputs", c, asset, allowed })
        }
    }
}
