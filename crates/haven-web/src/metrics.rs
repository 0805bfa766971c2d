//! Prometheus metrics, served on the admin listener only.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::paths;
use crate::{AppState, WebError};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub status: u16,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Histogram,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("haven");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register("http_requests", "HTTP requests answered, by method and status", requests.clone());
        registry.register("http_request_duration_seconds", "Time to answer HTTP requests", latency.clone());
        Metrics { registry, requests, latency }
    }

    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The method as a label: the standard ones by name, anything invented as "other", so that a
/// client cannot grow the metrics without bound.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Count and time every request, and write the access log. The log carries the path only
/// (query strings can hold one-time tokens), with a drop-off link's secret left out.
pub async fn observe(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let path = crate::paths::loggable_path(request.uri().path());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    tracing::info!(target: "haven::access", %method, %path, status, ms = elapsed.as_secs_f64() * 1000.0, "request");
    metrics.requests.get_or_create(&RequestLabels { method: method.to_string(), status }).inc();
    metrics.latency.observe(elapsed.as_secs_f64());
    response
}

pub fn routes() -> Router<AppState> {
    Router::new().route(paths::METRICS, get(serve))
}

async fn serve(State(state): State<AppState>) -> Result<Response, WebError> {
    let body = state.metrics.encode().map_err(WebError::internal)?;
    Ok(([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn invented_methods_fold_into_one_label() {
        let metrics = Arc::new(Metrics::new());
        let app: Router = Router::new()
            .route("/", axum::routing::any(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(metrics.clone(), observe));
        for i in 0..200 {
            let method = axum::http::Method::from_bytes(format!("X{i}").as_bytes()).unwrap();
            let request =
                axum::http::Request::builder().method(method).uri("/").body(axum::body::Body::empty()).unwrap();
            app.clone().oneshot(request).await.unwrap();
        }
        let request = axum::http::Request::get("/").body(axum::body::Body::empty()).unwrap();
        app.oneshot(request).await.unwrap();
        let text = metrics.encode().unwrap();
        let series: Vec<&str> = text.lines().filter(|l| l.starts_with("haven_http_requests_total")).collect();
        assert_eq!(series.len(), 2, "{text}");
        assert!(text.contains("method=\"other\",status=\"200\"} 200"), "{text}");
    }
}
