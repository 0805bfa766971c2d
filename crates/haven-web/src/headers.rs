//! Security headers on every response. The CSP allows scripts, styles and images only from Haven
//! itself (no inline script, no CDN), and no framing.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// [`CSP`] with `style-src` also allowing `<style>` elements that carry `nonce`: what xterm.js
/// needs for its colours and cell sizes (it writes them into a `<style>` element). Inline
/// `style` attributes stay refused.
pub fn csp_with_style_nonce(nonce: &str) -> String {
    CSP.replace("style-src 'self'", &format!("style-src 'self' 'nonce-{nonce}'"))
}

const HEADERS: &[(&str, &str)] = &[
    ("strict-transport-security", "max-age=63072000; includeSubDomains"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=()"),
];

pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    for (name, value) in HEADERS {
        h.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    // A page may set a policy of its own (the terminal's adds a nonce for the styles xterm.js
    // makes); every other response gets the strict one.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
