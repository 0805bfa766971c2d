//! A browser for the in-process web tests (cookies, same-origin forms with the CSRF token) and
//! the steps that make a signed-in user: onboarding through the link, enrolling a TOTP token
//! with PIN 4917, signing in with PIN and code.
#![allow(clippy::unwrap_used, dead_code)] // test support; each test file uses part of it

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use haven_core::Clock;
use haven_crypto::otp::{Algorithm, OtpKey, from_base32, totp_step};
use tower::ServiceExt;

use super::TestApp as App;

/// A browser: keeps cookies, sends forms with the CSRF token as a same-origin browser would.
pub struct Browser<'a> {
    app: &'a App,
    pub cookies: HashMap<String, String>,
}

pub struct Page {
    pub status: StatusCode,
    pub location: String,
    pub body: String,
}

impl<'a> Browser<'a> {
    pub async fn new(app: &'a App) -> Browser<'a> {
        let mut b = Browser { app, cookies: HashMap::new() };
        b.get("/").await;
        assert!(b.cookies.contains_key("__Host-haven-csrf"));
        b
    }

    pub async fn send(&mut self, request: Request<Body>) -> Page {
        let response = haven_web::router(self.app.state.clone()).oneshot(request).await.unwrap();
        for v in response.headers().get_all(header::SET_COOKIE) {
            let text = v.to_str().unwrap();
            let (pair, attrs) = text.split_once(';').unwrap_or((text, ""));
            let (k, val) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), val.to_string());
            }
        }
        let status = response.status();
        let location =
            response.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        Page { status, location, body: String::from_utf8_lossy(&body).into_owned() }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let r = Request::get(path).header(header::HOST, "haven.example").header(header::COOKIE, self.cookie_header());
        self.send(r.body(Body::empty()).unwrap()).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.cookies.get("__Host-haven-csrf").cloned().unwrap_or_default();
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("csrf_token", &csrf);
        for (k, v) in fields {
            form.append_pair(k, v);
        }
        let r = Request::post(path)
            .header(header::HOST, "haven.example")
            .header("sec-fetch-site", "same-origin")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, self.cookie_header());
        self.send(r.body(Body::from(form.finish())).unwrap()).await
    }

    pub fn signed_in(&self) -> bool {
        self.cookies.contains_key("__Host-haven-session")
    }
}

pub const PASSWORD: &str = "cobalt lantern meadow quarrel";
pub const ANSWERS: [&str; 3] = ["Elm Road", "St Mary's", "Kyoto"];

pub fn questions(app: &App) -> Vec<String> {
    app.state.identity.policy.security_questions.clone()
}

pub fn link_token(url: &str) -> String {
    url.split("token=").nth(1).unwrap().to_string()
}

/// The token serials on a page, in order, each once. A serial is `HVN` and eight characters of its
/// alphabet standing alone: random strings on the page (the CSRF token) may contain "HVN" too.
pub fn serials_in(body: &str) -> Vec<String> {
    let alone = |c: Option<char>| c.is_none_or(|c| !c.is_ascii_alphanumeric() && c != '-' && c != '_');
    let mut found: Vec<String> = Vec::new();
    for (at, _) in body.match_indices("HVN") {
        let Some(candidate) = body.get(at..at + 11) else { continue };
        let tail_ok = candidate[3..].bytes().all(|b| b"ABCDEFGHJKMNPQRSTVWXYZ23456789".contains(&b));
        if tail_ok
            && alone(body[..at].chars().next_back())
            && alone(body[at + 11..].chars().next())
            && !found.iter().any(|s| s == candidate)
        {
            found.push(candidate.to_string());
        }
    }
    found
}

pub fn serial_in(body: &str) -> String {
    serials_in(body).into_iter().next().expect("a serial on the page")
}

/// The first serial on the page other than `known`.
pub fn other_serial_in(body: &str, known: &str) -> String {
    serials_in(body).into_iter().find(|s| s != known).expect("another serial on the page")
}

pub fn code_at(secret_b32: &str, unix: i64) -> String {
    let seed = from_base32(secret_b32).unwrap();
    OtpKey::new(&seed, Algorithm::Sha1, 6).unwrap().code(totp_step(unix, 30) as u64)
}

pub fn secret_of(uri: &str) -> String {
    uri.split("secret=").nth(1).unwrap().split('&').next().unwrap().to_string()
}

pub fn now(app: &App) -> i64 {
    app.clock.now().unix_timestamp()
}

/// Onboard `id` through its link and enrol a TOTP token with PIN 4917; returns the browser
/// (signed in for enrolment), the serial and the token's secret.
pub async fn onboard<'a>(app: &'a App, id: &str) -> (Browser<'a>, String, String) {
    let link = app
        .state
        .identity
        .add_account(&haven_core::caller::Caller::console(), id, &format!("{id}@example.org"), false)
        .await
        .unwrap();
    let mail = app.mail.last_to(&format!("{id}@example.org")).unwrap();
    assert!(mail.text.contains(&link), "the onboarding email carries the link");
    let token = link_token(&link);
    let mut b = Browser::new(app).await;
    let page = b.get(&format!("/security/onboard?token={token}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let q = questions(app);
    let page = b
        .post(
            "/security/onboard",
            &[
                ("token", &token),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
                ("question0", &q[0]),
                ("answer0", ANSWERS[0]),
                ("question1", &q[1]),
                ("answer1", ANSWERS[1]),
                ("question2", &q[2]),
                ("answer2", ANSWERS[2]),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(b.signed_in());
    // The link works once.
    assert_eq!(b.get(&format!("/security/onboard?token={token}")).await.status, 400);
    // Before a token exists, the portal sends the user to My Tokens.
    assert_eq!(b.get("/security/password").await.location, "/security/tokens");

    assert_eq!(b.post("/security/tokens", &[("product", "mobileid_totp")]).await.status, 303);
    let serial = serial_in(&b.get("/security/tokens").await.body);
    let trivial = b.post(&format!("/security/tokens/{serial}/pin"), &[("pin", "1234"), ("pin_confirm", "1234")]).await;
    assert_eq!(trivial.status, 422);
    assert!(trivial.body.contains("too easy"), "{}", trivial.body);
    let letters = b.post(&format!("/security/tokens/{serial}/pin"), &[("pin", "49a7"), ("pin_confirm", "49a7")]).await;
    assert_eq!(letters.status, 422);
    assert!(letters.body.contains("digits only"));
    let differ = b.post(&format!("/security/tokens/{serial}/pin"), &[("pin", "4917"), ("pin_confirm", "4918")]).await;
    assert_eq!(differ.status, 422);
    assert_eq!(
        b.post(&format!("/security/tokens/{serial}/pin"), &[("pin", "4917"), ("pin_confirm", "4917")]).await.status,
        303
    );
    let shown = b.post(&format!("/security/tokens/{serial}/push"), &[("method", "screen")]).await;
    assert_eq!(shown.status, 200);
    assert!(shown.body.contains("<svg"), "a QR code");
    let uri_at = shown.body.find("otpauth://totp/").unwrap();
    let uri = &shown.body[uri_at..shown.body[uri_at..].find('<').unwrap() + uri_at];
    assert!(uri.contains("issuer=Haven") && uri.contains("digits=6") && uri.contains("period=30"), "{uri}");
    let secret = secret_of(uri);
    assert_eq!(secret.len(), 32, "160-bit seed, no padding");
    // For typing it in: the key in groups of four.
    let groups = secret.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(" ");
    assert!(shown.body.contains(&groups), "the key in groups of four");
    let wrong = b.post(&format!("/security/tokens/{serial}/activate"), &[("code", "000000")]).await;
    assert_eq!(wrong.status, 422);
    let code = code_at(&secret, now(app));
    let ok = b.post(&format!("/security/tokens/{serial}/activate"), &[("code", &code)]).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    // Set up: the page says what comes next and offers the button for it.
    let next = b.get("/security/tokens").await;
    assert!(next.body.contains("Sign in with my token") && next.body.contains("Create another token"), "{}", next.body);
    assert!(next.body.contains("(set up:") && !next.body.contains("(setting up)"), "the header says it too");
    (b, serial, secret)
}

pub async fn sign_in(b: &mut Browser<'_>, id: &str, password: &str, passcode: &str) -> Page {
    b.post(
        "/security/signin",
        &[("user_id", id), ("password", password), ("passcode", passcode), ("next", "/security")],
    )
    .await
}

/// Sign in fully as `id` with its TOTP secret (advancing the clock a step so the code is fresh).
pub async fn full_sign_in(app: &App, b: &mut Browser<'_>, id: &str, secret: &str) {
    app.clock.advance(time::Duration::seconds(30));
    let code = code_at(secret, now(app));
    let page = sign_in(b, id, PASSWORD, &format!("4917{code}")).await;
    assert_eq!(page.status, 303, "{}", page.body);
}

/// Onboard `id` with `roles`, sign in fully and accept the Acceptable Use Statement, which the
/// first sign-in asks for; the browser, signed in.
pub async fn person<'a>(app: &'a App, id: &str, roles: &[haven_core::accounts::Role]) -> Browser<'a> {
    let (mut b, _, secret) = onboard(app, id).await;
    for role in roles {
        app.state.identity.set_role(&haven_core::caller::Caller::console(), id, *role, true).await.unwrap();
    }
    app.clock.advance(time::Duration::seconds(30));
    let code = code_at(&secret, now(app));
    let page = sign_in(&mut b, id, PASSWORD, &format!("4917{code}")).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location, "/governance/aus?next=%2Fsecurity", "the AUS comes first");
    let aus = b.get(&page.location).await;
    assert!(aus.body.contains("Acceptable Use Statement") && aus.body.contains("I accept"), "{}", aus.body);
    let accepted = b.post("/governance/aus", &[("next", "/security")]).await;
    assert_eq!(accepted.location, "/security?done=aus");
    // Accepted once: the next sign-in goes straight on.
    full_sign_in(app, &mut b, id, &secret).await;
    b
}
