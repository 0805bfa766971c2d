//! `/pypi/simple/` (PEP 503 HTML and PEP 691 JSON by `Accept`) and `/pypi/files/`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use haven_packages::pypi::{self, FileEntry, Format, negotiate, render};

use super::{Reader, index_response, package_error, send_download, text};
use crate::AppState;
use crate::paths;

fn format_of(headers: &HeaderMap) -> Result<Format, Box<Response>> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    negotiate(accept).map_err(|e| {
        let mut r = text(
            StatusCode::NOT_ACCEPTABLE,
            &format!("{e}. Ask for application/vnd.pypi.simple.v1+json or text/html."),
        );
        r.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept"));
        Box::new(r)
    })
}

/// The page in `format`, rendered only in that one.
fn page(format: Format, json: impl FnOnce() -> String, html: impl FnOnce() -> String) -> Response {
    let body = if format == Format::Json { json() } else { html() };
    with_vary(index_response(format.content_type(), body))
}

fn with_vary(mut r: Response) -> Response {
    r.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept"));
    r
}

pub async fn index_redirect(_: Reader) -> Response {
    Redirect::permanent(paths::PYPI_SIMPLE).into_response()
}

/// The projects someone allowed by name (Haven does not list all of PyPI; clients never need it).
pub async fn index(State(state): State<AppState>, reader: Reader, headers: HeaderMap) -> Response {
    let format = match format_of(&headers) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let names = match state.packages.pypi_index(&reader.0).await {
        Ok(n) => n,
        Err(e) => return package_error(e),
    };
    page(format, || render::index_json(&names), || render::index_html(&names))
}

pub async fn project_redirect(Path(project): Path<String>, _: Reader) -> Response {
    match pypi::normalize(&project) {
        Ok(name) => Redirect::permanent(&paths::pypi_project(&name)).into_response(),
        Err(e) => text(StatusCode::NOT_FOUND, &e.to_string()),
    }
}

pub async fn project(
    State(state): State<AppState>,
    Path(project): Path<String>,
    reader: Reader,
    headers: HeaderMap,
) -> Response {
    let format = match format_of(&headers) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    if let Ok(name) = pypi::normalize(&project)
        && name != project
    {
        return Redirect::permanent(&paths::pypi_project(&name)).into_response();
    }
    match state.packages.pypi_project(&reader.0, &project).await {
        Ok(served) => {
            // Rendered once per served page (which core keeps while the policy and the upstream
            // page stay the same), not per request.
            let rendering = if format == Format::Json { "json" } else { "html" };
            let body = served.rendered.get_or(rendering, || {
                let url = |f: &FileEntry| format!("../../files/{}/{}", served.page.name, f.filename);
                let text = match format {
                    Format::Json => render::project_json(&served.page, &url),
                    _ => render::project_html(&served.page, &url),
                };
                text.into()
            });
            with_vary(index_response(format.content_type(), body))
        }
        Err(e) => package_error(e),
    }
}

pub async fn file(
    State(state): State<AppState>,
    Path((project, file)): Path<(String, String)>,
    reader: Reader,
) -> Response {
    let outcome = match file.strip_suffix(".metadata") {
        Some(dist) => state.packages.pypi_metadata(&project, dist, &reader.0).await,
        None => state.packages.pypi_file(&project, &file, &reader.0).await,
    };
    match outcome {
        Ok(d) if file.ends_with(".metadata") => send_download(d, "text/plain; charset=utf-8"),
        Ok(d) => send_download(d, "application/octet-stream"),
        Err(e) => package_error(e),
    }
}
