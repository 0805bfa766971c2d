//! `/conda/<channel>/<subdir>/`: `repodata.json` and `repodata.json.zst` from one filtered
//! model (so they never disagree), and artifacts. Variants Haven does not make (`.bz2`,
//! `current_repodata.json`, shards) are real 404s, so clients fall back to `repodata.json`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{Reader, index_response, package_error, send_download, text};
use crate::AppState;

pub async fn file(
    State(state): State<AppState>,
    Path((channel, subdir, file)): Path<(String, String, String)>,
    reader: Reader,
) -> Response {
    match file.as_str() {
        "repodata.json" | "repodata.json.zst" => {
            let served = match state.packages.conda_repodata(&reader.0, &channel, &subdir).await {
                Ok(s) => s,
                Err(e) => return package_error(e),
            };
            let json = served.repodata.to_json();
            if file == "repodata.json" {
                return index_response("application/json", json);
            }
            match zstd::bulk::compress(json.as_bytes(), 3) {
                Ok(z) => index_response("application/zstd", z),
                Err(e) => {
                    tracing::error!(error = %e, "zstd failed");
                    text(StatusCode::INTERNAL_SERVER_ERROR, "repodata.json.zst could not be made; use repodata.json.")
                }
            }
        }
        f if f.ends_with(".conda") || f.ends_with(".tar.bz2") => {
            match state.packages.conda_file(&channel, &subdir, f, &reader.0).await {
                Ok(d) => send_download(d, "application/octet-stream"),
                Err(e) => package_error(e),
            }
        }
        _ => text(StatusCode::NOT_FOUND, "Haven serves repodata.json, repodata.json.zst and the artifacts they list."),
    }
}
