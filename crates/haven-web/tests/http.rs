//! The web baseline through the real router, in process (no socket): headers, CSRF, limits,
//! errors, pages and feed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use futures::TryStreamExt;
use haven_core::{Clock, Store};
use haven_testkit::FakeClock;
use tower::ServiceExt;

mod common;

use common::TestApp as App;

async fn app() -> App {
    app_with_timeout(Duration::from_secs(5)).await
}

async fn app_with_timeout(request_timeout: Duration) -> App {
    App::builder()
        .max_body_bytes(4096)
        .request_timeout(request_timeout)
        .ca_pem("-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n")
        .build()
        .await
}

async fn send(app: &App, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = haven_web::router(app.state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).header(header::HOST, "haven.example").body(Body::empty()).unwrap()
}

/// The audit actions since the app started (the key made at start-up left out).
async fn actions(app: &App) -> Vec<String> {
    let all: Vec<String> = app.db.store.audit_events(1, i64::MIN).map_ok(|e| e.action).try_collect().await.unwrap();
    all.into_iter().filter(|a| a != "key.project_key_created").collect()
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = app().await;
    for path in ["/", "/healthz", "/no-such-page"] {
        let (_, h, _) = send(&app, get(path)).await;
        let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'")
                && csp.contains("script-src 'self'")
                && !csp.contains("unsafe-inline"),
            "{path}"
        );
        assert!(h.get("strict-transport-security").unwrap().to_str().unwrap().starts_with("max-age="));
        assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
        assert_eq!(h.get("referrer-policy").unwrap(), "no-referrer");
    }
}

#[tokio::test]
async fn errors_are_pages_or_json_with_stable_codes() {
    let app = app().await;
    let (status, h, body) = send(&app, get("/no-such-page")).await;
    assert_eq!(status, 404);
    assert!(h.get(header::CONTENT_TYPE).unwrap().to_str().unwrap().starts_with("text/html"));
    assert!(body.contains("<code>not_found</code>") && body.contains("home page"), "{body}");

    let req = Request::get("/no-such-page").header(header::ACCEPT, "application/json").body(Body::empty()).unwrap();
    let (status, _, body) = send(&app, req).await;
    assert_eq!(status, 404);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"]["code"], "not_found");

    let req = Request::delete("/healthz").header(header::ACCEPT, "application/json").body(Body::empty()).unwrap();
    let (status, h, body) = send(&app, req).await;
    // A DELETE without a CSRF token is refused before routing; either way the error is ours.
    assert!(status == 403 || status == 405, "{status}");
    assert!(h.get("x-haven-error").is_some(), "{body}");
}

#[tokio::test]
async fn state_changing_requests_need_the_csrf_token_and_refusals_are_audited() {
    let app = app().await;
    // Fetch a page to get the cookie.
    let (_, h, _) = send(&app, get("/")).await;
    let cookie = h.get(header::SET_COOKIE).unwrap().to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("__Host-haven-csrf=")
            && cookie.contains("Secure")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    let token = pair.split('=').nth(1).unwrap().to_string();

    let post = |extra: &[(&str, &str)], body: &str| {
        let mut b = Request::post("/bootstrap")
            .header(header::HOST, "haven.example")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json");
        for (k, v) in extra {
            b = b.header(*k, *v);
        }
        b.body(Body::from(body.to_string())).unwrap()
    };
    // (extra headers, form body, what the refusal must mention)
    type Case<'a> = (Vec<(&'a str, &'a str)>, String, &'a str);
    let cases: Vec<Case> = vec![
        (vec![], format!("csrf_token={token}"), "cookie"),
        (vec![("cookie", pair.as_str())], "user_id=x".into(), "missing"),
        (vec![("cookie", pair.as_str())], "csrf_token=wrong".into(), "does not match"),
        (vec![("cookie", pair.as_str()), ("origin", "https://evil.example")], format!("csrf_token={token}"), "Origin"),
        (
            vec![("cookie", pair.as_str()), ("sec-fetch-site", "cross-site")],
            format!("csrf_token={token}"),
            "another site",
        ),
    ];
    for (headers, body, why) in &cases {
        let (status, _, text) = send(&app, post(headers, body)).await;
        assert_eq!(status, 403, "{why}: {text}");
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["error"]["code"], "csrf_failed");
        assert!(json["error"]["message"].as_str().unwrap().contains(why), "{why}: {text}");
    }
    // Anonymous refusals from one source are aggregated: the first is written, repeats within a
    // minute are counted, and the next event carries the count; another source has its own first.
    assert_eq!(actions(&app).await, vec!["http.csrf_refused"]);
    for _ in 0..50 {
        assert_eq!(send(&app, post(&[], "x=1")).await.0, 403);
    }
    let mut other = post(&[], "x=1");
    other.extensions_mut().insert(axum::extract::ConnectInfo(std::net::SocketAddr::from(([192, 0, 2, 9], 5000))));
    assert_eq!(send(&app, other).await.0, 403);
    assert_eq!(actions(&app).await, vec!["http.csrf_refused"; 2], "one per source");
    app.clock.advance(time::Duration::seconds(61));
    assert_eq!(send(&app, post(&[], "x=1")).await.0, 403);
    let events: Vec<_> = app.db.store.audit_events(1, i64::MIN).try_collect().await.unwrap();
    let last = events.iter().rev().find(|e| e.action == "http.csrf_refused").unwrap();
    assert!(last.details.contains("\"repeats_since_last\":54"), "{}", last.details);

    // With the token the request reaches the handler (which then refuses the unknown link).
    let (status, _, text) = send(&app, post(&[("cookie", pair.as_str()), ("sec-fetch-site", "same-origin")], &format!("csrf_token={token}&token=x&user_id=desk&email=a@b.org&password=correct+horse+battery&password_confirm=correct+horse+battery"))).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("link_invalid"), "{text}");
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let app = app().await;
    let (_, h, _) = send(&app, get("/")).await;
    let pair = h.get(header::SET_COOKIE).unwrap().to_str().unwrap().split(';').next().unwrap().to_string();
    let token = pair.split('=').nth(1).unwrap().to_string();
    let body = format!("csrf_token={token}&pad={}", "x".repeat(10_000));
    let req = Request::post("/bootstrap")
        .header(header::HOST, "haven.example")
        .header("cookie", pair)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let (status, h, text) = send(&app, req).await;
    assert_eq!(status, 413, "{text}");
    assert_eq!(h.get("x-haven-error").unwrap(), "too_large");
}

#[tokio::test]
async fn service_updates_render_safely_on_the_page_and_in_the_feed() {
    let app = app().await;
    let clock = FakeClock::new();
    haven_core::updates::publish(
        app.store.as_ref(),
        clock.now(),
        &haven_core::caller::Caller::console_as("desk", vec![haven_core::accounts::Role::Admin]),
        "R 4.4 & <new> packages",
        "Now **available**. <script>alert(1)</script> [docs](javascript:alert(1))",
    )
    .await
    .unwrap();
    let (status, _, home) = send(&app, get("/")).await;
    assert_eq!(status, 200);
    assert!(home.contains("R 4.4 &#38; &#60;new&#62; packages") && !home.contains("<new>"), "{home}");
    assert!(home.contains("<strong>available</strong>"));
    assert!(!home.contains("<script>") && !home.contains("javascript:"), "{home}");

    let (status, h, feed) = send(&app, get("/updates.atom")).await;
    assert_eq!(status, 200);
    assert!(h.get(header::CONTENT_TYPE).unwrap().to_str().unwrap().starts_with("application/atom+xml"));
    assert!(feed.starts_with("<?xml") && feed.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\">"));
    assert!(feed.contains("<title>R 4.4 &#38; &#60;new&#62; packages</title>"), "{feed}");
    assert!(feed.contains("&#60;strong&#62;available&#60;/strong&#62;"), "{feed}");
    assert!(feed.contains("<id>https://haven.example/updates#update-1</id>"));
    assert!(!feed.contains("<script") && !feed.contains("<strong>"), "content is escaped HTML: {feed}");

    let (_, _, page) = send(&app, get("/updates")).await;
    assert!(page.contains("R 4.4 &#38; &#60;new&#62; packages"));
}

#[tokio::test]
async fn readiness_reports_an_unreachable_database() {
    let app = app().await;
    let (status, _, body) = send(&app, get("/readyz")).await;
    assert_eq!((status, body.contains("\"database\":\"ok\"")), (StatusCode::OK, true));
    app.db.store.close().await;
    let (status, _, body) = send(&app, get("/readyz")).await;
    assert_eq!(status, 503);
    assert!(body.contains("\"database\":\"unavailable\"") && body.contains("\"blob_store\":\"ok\""), "{body}");
    let (status, _, _) = send(&app, get("/healthz")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_ca_certificate_is_published() {
    let app = app().await;
    let (status, h, body) = send(&app, get("/ca.pem")).await;
    assert_eq!(status, 200);
    assert_eq!(h.get(header::CONTENT_TYPE).unwrap(), "application/x-pem-file");
    assert!(body.starts_with("-----BEGIN CERTIFICATE-----"));
}

#[tokio::test]
async fn slow_requests_time_out_with_408() {
    use futures::StreamExt;
    let app = app_with_timeout(Duration::from_millis(200)).await;
    let (_, h, _) = send(&app, get("/")).await;
    let pair = h.get(header::SET_COOKIE).unwrap().to_str().unwrap().split(';').next().unwrap().to_string();
    // A form body that stalls: the CSRF check waits for it until the timeout answers.
    let stalled = futures::stream::once(async { Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"csrf_token=")) })
        .chain(futures::stream::once(async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(bytes::Bytes::from_static(b"x"))
        }));
    let req = Request::post("/bootstrap")
        .header(header::HOST, "haven.example")
        .header("cookie", pair)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .body(Body::from_stream(stalled))
        .unwrap();
    let started = std::time::Instant::now();
    let (status, h, body) = send(&app, req).await;
    assert_eq!(status, 408, "{body}");
    assert_eq!(h.get("x-haven-error").unwrap(), "timeout");
    assert!(started.elapsed() < Duration::from_secs(4));
}

/// Portal roots answer with and without the trailing slash.
#[tokio::test]
async fn portal_roots_answer_with_and_without_a_slash() {
    let app = app().await;
    for (path, status, to) in [
        ("/security/", StatusCode::PERMANENT_REDIRECT, "/security"),
        ("/packages", StatusCode::SEE_OTHER, "/packages/requests"),
        ("/packages/", StatusCode::SEE_OTHER, "/packages/requests"),
    ] {
        let (got, h, _) = send(&app, get(path)).await;
        assert_eq!(got, status, "{path}");
        assert_eq!(h.get(header::LOCATION).unwrap(), to, "{path}");
    }
    assert_eq!(send(&app, get("/security")).await.0, StatusCode::OK);
}

/// Behind a trusted proxy the audit trail (and every rate limit) sees the client named in
/// X-Forwarded-For; from anyone else that header is ignored.
#[tokio::test]
async fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    let app = App::builder().trusted_proxies(vec!["10.0.0.0/8".parse().unwrap()]).build().await;
    let refused = |peer: [u8; 4], forwarded: &str| {
        let mut r = Request::post("/bootstrap")
            .header(header::HOST, "haven.example")
            .header("x-forwarded-for", forwarded)
            .body(Body::from("x=1"))
            .unwrap();
        r.extensions_mut().insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((peer, 443))));
        r
    };
    assert_eq!(send(&app, refused([10, 0, 0, 7], "203.0.113.1, 198.51.100.7")).await.0, 403);
    assert_eq!(send(&app, refused([192, 0, 2, 44], "198.51.100.8")).await.0, 403);
    let sources: Vec<String> = app.db.store.audit_events(1, i64::MIN).map_ok(|e| e.source).try_collect().await.unwrap();
    assert!(sources.contains(&"198.51.100.7".to_string()), "{sources:?}");
    assert!(sources.contains(&"192.0.2.44".to_string()), "a client's own header is ignored: {sources:?}");
    assert!(!sources.iter().any(|s| s == "198.51.100.8" || s == "203.0.113.1" || s == "10.0.0.7"), "{sources:?}");
}
