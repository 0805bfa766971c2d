//! `/cran/src/contrib/`: `PACKAGES` and `PACKAGES.gz` (R falls back to them when `PACKAGES.rds`
//! is a real 404), current tarballs, `Archive/<pkg>/` and `Meta/archive.rds`.

use std::io::Write as _;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use haven_packages::cran::render_packages;
use haven_packages::pypi::render::escape;

use super::{Reader, index_response, package_error, send_download, text};
use crate::AppState;

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data)?;
    encoder.finish()
}

pub async fn contrib(State(state): State<AppState>, Path(file): Path<String>, reader: Reader) -> Response {
    match file.as_str() {
        "PACKAGES" | "PACKAGES.gz" => {
            let served = match state.packages.cran_index(&reader.0).await {
                Ok(s) => s,
                Err(e) => return package_error(e),
            };
            let body = render_packages(&served.records);
            if file == "PACKAGES" {
                return index_response("text/plain; charset=utf-8", body);
            }
            match gzip(body.as_bytes()) {
                Ok(gz) => index_response("application/gzip", gz),
                Err(e) => {
                    tracing::error!(error = %e, "gzip failed");
                    text(StatusCode::INTERNAL_SERVER_ERROR, "PACKAGES.gz could not be made; use PACKAGES.")
                }
            }
        }
        // Not served: R then asks for PACKAGES.gz (a real 404 matters, R-admin says).
        "PACKAGES.rds" => text(StatusCode::NOT_FOUND, "Not served here; use PACKAGES.gz or PACKAGES."),
        _ => match state.packages.cran_file(&file, &reader.0).await {
            Ok(d) => send_download(d, "application/gzip"),
            Err(e) => package_error(e),
        },
    }
}

/// `Meta/archive.rds`, gzipped as `saveRDS()` writes it.
pub async fn archive_rds(State(state): State<AppState>, reader: Reader) -> Response {
    match state.packages.cran_archive_list(&reader.0).await {
        Ok(list) => match gzip(&haven_packages::cran::rds::archive_rds(&list)) {
            Ok(gz) => index_response("application/octet-stream", gz),
            Err(e) => {
                tracing::error!(error = %e, "gzip failed");
                text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "archive.rds could not be made; install archived versions by URL.",
                )
            }
        },
        Err(e) => package_error(e),
    }
}

pub async fn archive(State(state): State<AppState>, Path(pkg): Path<String>, reader: Reader) -> Response {
    match state.packages.cran_archive(&reader.0, &pkg).await {
        Ok(served) => {
            let mut html = format!(
                "<!DOCTYPE html>\n<html><head><title>Archive of {0}</title></head><body>\n<h1>Archive of {0}</h1>\n",
                escape(&pkg)
            );
            for r in &served.records {
                let f = escape(&format!("{}_{}.tar.gz", r.package, r.version));
                html.push_str(&format!("<a href=\"{f}\">{f}</a><br>\n"));
            }
            html.push_str("</body></html>\n");
            index_response("text/html; charset=utf-8", html)
        }
        Err(e) => package_error(e),
    }
}

pub async fn archive_file(
    State(state): State<AppState>,
    Path((pkg, file)): Path<(String, String)>,
    reader: Reader,
) -> Response {
    match state.packages.cran_archive_file(&pkg, &file, &reader.0).await {
        Ok(d) => send_download(d, "application/gzip"),
        Err(e) => package_error(e),
    }
}
