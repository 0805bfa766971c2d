//! Reports for the service desk and auditors: who had access to which asset between two dates,
//! shown on the page and downloadable as CSV or as a self-contained HTML file.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use haven_core::governance::reports::{self as core_reports, Format, Report, Table};
use haven_core::governance::rules::show_date;
use serde::Deserialize;

use super::{Refused, refused};
use crate::page::{Chrome, render, render_status};
use crate::session::Page;
use crate::{AppState, WebError};

/// Rows shown on the page; the downloads carry them all.
const SHOWN: usize = 2000;

#[derive(Deserialize, Default)]
pub struct AccessQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    asset: String,
    #[serde(default)]
    format: String,
    /// One of the other reports (`training`, `reviews`, `compliance`, `register`, `usage`, `satre`).
    #[serde(default)]
    report: String,
}

pub struct Row {
    asset: String,
    user_id: String,
    role: &'static str,
    from: String,
    until: String,
    end_reason: String,
    request: String,
    requested_by: String,
    decided_by: String,
}

#[derive(Template)]
#[template(path = "governance/reports.html")]
struct ReportsPage {
    title: &'static str,
    c: Chrome,
    q: AccessQuery,
    ran: bool,
    total: usize,
    rows: Vec<Row>,
    download: String,
    /// The other report asked for, shown below the access report's form.
    table: Option<Table>,
}

/// The page again with what was wrong with the query (422), or the step-up it needs.
fn refused_page(mut page: ReportsPage, q: AccessQuery, e: haven_core::CoreError) -> Result<Response, WebError> {
    match refused(e)? {
        Refused::StepUp => Err(haven_core::CoreError::StepUpRequired.into()),
        Refused::Form(failure) => {
            page.c = page.c.failed(failure);
            page.q = q;
            render_status(axum::http::StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

pub async fn access(
    State(state): State<AppState>,
    Page { who, csrf }: Page,
    Query(mut q): Query<AccessQuery>,
) -> Result<Response, WebError> {
    for field in [&mut q.from, &mut q.to, &mut q.asset, &mut q.format, &mut q.report] {
        *field = field.trim().chars().take(64).collect();
    }
    let mut page = ReportsPage {
        title: "Reports",
        c: Chrome::new(&csrf, Some(&who), "reports"),
        ran: false,
        total: 0,
        rows: Vec::new(),
        download: String::new(),
        table: None,
        q: AccessQuery::default(),
    };
    if let Some(report) = Report::parse(&q.report) {
        let table = state.governance.report(&who, report).await?;
        let name = format!("{}-report", report.as_str());
        match q.format.as_str() {
            "csv" => return Ok(download(table.csv()?, "text/csv; charset=utf-8", &format!("{name}.csv"))),
            "html" => return Ok(download(table.html(), "text/html; charset=utf-8", &format!("{name}.html"))),
            _ => {}
        }
        page.table = Some(table);
        page.q = q;
        return render(&page);
    }
    if q.from.is_empty() && q.to.is_empty() {
        page.q = q;
        return render(&page);
    }
    let asset = (!q.asset.is_empty()).then_some(q.asset.as_str());
    // A download is written once, row by row; the page shows the first rows.
    if let Some(format) = Format::parse(&q.format) {
        let written = match core_reports::AccessQuery::new(&q.from, &q.to, asset) {
            Ok(query) => state.governance.write_access_report(&who, query, format, Vec::new()).await,
            Err(e) => Err(e),
        };
        match written {
            Ok((body, _)) => {
                let (kind, ext) = match format {
                    Format::Csv => ("text/csv; charset=utf-8", "csv"),
                    Format::Html => ("text/html; charset=utf-8", "html"),
                };
                return Ok(download(body, kind, &format!("access-{}-{}.{ext}", q.from, q.to)));
            }
            Err(e) => return refused_page(page, q, e),
        }
    }
    let rows = match state.governance.access_report(&who, &q.from, &q.to, asset).await {
        Ok(rows) => rows,
        Err(e) => return refused_page(page, q, e),
    };
    page.download = form_urlencoded::Serializer::new(String::new())
        .append_pair("from", &q.from)
        .append_pair("to", &q.to)
        .append_pair("asset", &q.asset)
        .append_pair("format", "csv")
        .finish();
    page.ran = true;
    page.total = rows.len();
    page.rows = rows
        .iter()
        .take(SHOWN)
        .map(|r| Row {
            asset: r.asset.clone(),
            user_id: r.user_id.clone(),
            role: r.role.as_str(),
            from: show_date(r.starts_us),
            until: if r.ended_us == 0 { "current".into() } else { show_date(r.ended_us) },
            end_reason: r.end_reason.clone(),
            request: if r.request_id == 0 { "imported".into() } else { format!("#{}", r.request_id) },
            requested_by: r.requested_by.clone(),
            decided_by: r.decided_by.clone(),
        })
        .collect();
    page.q = q;
    render(&page)
}

/// A report file: the browser saves it rather than showing it (the HTML one is a document of
/// its own, to file with an assessment).
fn download(body: impl Into<axum::body::Body>, content_type: &'static str, file: &str) -> Response {
    let disposition = format!(
        "attachment; filename=\"{}\"",
        file.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '.', "_")
    );
    ([(header::CONTENT_TYPE, content_type.to_string()), (header::CONTENT_DISPOSITION, disposition)], body.into())
        .into_response()
}
