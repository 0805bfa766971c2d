//! The Security & Tokens portal through the real router, in process, with a fake clock: the
//! service's two flows (soft token creation, ICE logon and emergency code), sign-in with PIN+OTP,
//! replay, wrong PINs, emergency codes, lockouts and their expiry, authorisation between users,
//! and bad input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use futures::TryStreamExt;
use haven_core::identity::desk::By;
use haven_core::identity::{Identity, IdentityDeps};
use haven_core::keyring::KeyRing;
use haven_core::{Clock, Store};
use haven_crypto::SystemRng;
use haven_crypto::keys::Key256;
use haven_crypto::otp::{Algorithm, OtpKey, from_base32, totp_step};
use haven_store::blobs::{BlobLocation, SealedBlobStore, open_backend};
use haven_testkit::FakeClock;
use haven_testkit::db::TestDb;
use haven_testkit::mail::MemoryMailer;
use haven_web::metrics::Metrics;
use haven_web::{AppState, WebConfig};
use tower::ServiceExt;

struct App {
    state: AppState,
    clock: Arc<FakeClock>,
    mail: Arc<MemoryMailer>,
    db: TestDb,
    _dir: tempfile::TempDir,
}

async fn app() -> App {
    app_on(haven_testkit::db::sqlite().await).await
}

async fn app_on(db: TestDb) -> App {
    let store: Arc<dyn Store> = Arc::new(db.store.clone());
    let clock = Arc::new(FakeClock::new());
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let rng = Arc::new(SystemRng::new());
    let keys =
        Arc::new(KeyRing::new(Key256::generate(rng.as_ref()).unwrap(), store.clone(), dyn_clock.clone(), rng.clone()));
    let dir = tempfile::tempdir().unwrap();
    let blobs = Arc::new(SealedBlobStore::new(
        open_backend(&BlobLocation::Local(dir.path().into())).unwrap(),
        keys.clone(),
        dyn_clock.clone(),
    ));
    let mail = Arc::new(MemoryMailer::default());
    let identity = Identity::new(
        IdentityDeps {
            store: store.clone(),
            clock: dyn_clock.clone(),
            rng: rng.clone(),
            hasher: Arc::new(haven_web::hashing::PooledHasher::new(rng.clone(), 2)),
            mailer: mail.clone(),
            policy: Default::default(),
            public_url: "https://haven.example".into(),
        },
        &keys,
    )
    .await
    .unwrap();
    let state = AppState {
        identity: Arc::new(identity),
        store,
        blobs,
        clock: dyn_clock,
        rng,
        metrics: Arc::new(Metrics::new()),
        config: Arc::new(WebConfig {
            public_url: "https://haven.example".into(),
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            ca_pem: None,
        }),
    };
    App { state, clock, mail, db, _dir: dir }
}

/// A browser: keeps cookies, sends forms with the CSRF token as a same-origin browser would.
struct Browser<'a> {
    app: &'a App,
    cookies: HashMap<String, String>,
}

struct Page {
    status: StatusCode,
    location: String,
    body: String,
}

impl<'a> Browser<'a> {
    async fn new(app: &'a App) -> Browser<'a> {
        let mut b = Browser { app, cookies: HashMap::new() };
        b.get("/").await;
        assert!(b.cookies.contains_key("__Host-haven-csrf"));
        b
    }

    async fn send(&mut self, request: Request<Body>) -> Page {
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

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn get(&mut self, path: &str) -> Page {
        let r = Request::get(path).header(header::HOST, "haven.example").header(header::COOKIE, self.cookie_header());
        self.send(r.body(Body::empty()).unwrap()).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
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

    fn signed_in(&self) -> bool {
        self.cookies.contains_key("__Host-haven-session")
    }
}

const PASSWORD: &str = "cobalt lantern meadow quarrel";
const ANSWERS: [&str; 3] = ["Elm Road", "St Mary's", "Kyoto"];

fn questions(app: &App) -> Vec<String> {
    app.state.identity.policy.security_questions.clone()
}

fn link_token(url: &str) -> String {
    url.split("token=").nth(1).unwrap().to_string()
}

fn serial_in(body: &str) -> String {
    let at = body.find("HVN").expect("a serial on the page");
    body[at..at + 11].to_string()
}

fn code_at(secret_b32: &str, unix: i64) -> String {
    let seed = from_base32(secret_b32).unwrap();
    OtpKey::new(&seed, Algorithm::Sha1, 6).unwrap().code(totp_step(unix, 30) as u64)
}

fn secret_of(uri: &str) -> String {
    uri.split("secret=").nth(1).unwrap().split('&').next().unwrap().to_string()
}

fn now(app: &App) -> i64 {
    app.clock.now().unix_timestamp()
}

async fn actions(app: &App) -> Vec<String> {
    app.db.store.audit_events(1, i64::MIN).map_ok(|e| e.action).try_collect().await.unwrap()
}

/// Onboard `id` through its link and enrol a TOTP token with PIN 4917; returns the browser
/// (signed in for enrolment), the serial and the token's secret.
async fn onboard<'a>(app: &'a App, id: &str) -> (Browser<'a>, String, String) {
    let link =
        app.state.identity.add_account(By::Console, id, &format!("{id}@example.org"), false, "test").await.unwrap();
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
    let wrong = b.post(&format!("/security/tokens/{serial}/activate"), &[("code", "000000")]).await;
    assert_eq!(wrong.status, 422);
    let code = code_at(&secret, now(app));
    let ok = b.post(&format!("/security/tokens/{serial}/activate"), &[("code", &code)]).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    (b, serial, secret)
}

async fn sign_in(b: &mut Browser<'_>, id: &str, password: &str, passcode: &str) -> Page {
    b.post(
        "/security/signin",
        &[("user_id", id), ("password", password), ("passcode", passcode), ("next", "/security")],
    )
    .await
}

#[tokio::test]
async fn soft_token_flow_then_sign_in_with_pin_and_otp_once_per_step() {
    soft_token_flow(app().await).await;
}

/// The same flow on PostgreSQL (the identity SQL on the second dialect).
#[tokio::test]
async fn soft_token_flow_on_postgres() {
    let Some(db) = haven_testkit::db::postgres().await else {
        assert!(!haven_testkit::strict(), "HAVEN_TEST_POSTGRES_URL is required under CI=true");
        return;
    };
    let app = app_on(db).await;
    soft_token_flow(app).await;
}

async fn soft_token_flow(app: App) {
    let (mut b, serial, secret) = onboard(&app, "alice").await;
    let page = b.get("/security/tokens").await;
    assert!(page.body.contains("Active") && page.body.contains("MobileID/Time-Based"), "{}", page.body);
    b.post("/security/signout", &[]).await;
    assert!(!b.signed_in());

    // The code used for activation is spent: the same step is refused (replay).
    let same = code_at(&secret, now(&app));
    let replay = sign_in(&mut b, "alice", PASSWORD, &format!("4917{same}")).await;
    assert_eq!(replay.status, 401);
    assert!(replay.body.contains("user id, password or passcode is not right"));

    app.clock.advance(time::Duration::seconds(30));
    let code = code_at(&secret, now(&app));
    let wrong_pin = sign_in(&mut b, "alice", PASSWORD, &format!("1111{code}")).await;
    assert_eq!(wrong_pin.status, 401);
    let unknown = sign_in(&mut b, "nobody", PASSWORD, &format!("4917{code}")).await;
    let bad_password = sign_in(&mut b, "alice", "wrong password here", &format!("4917{code}")).await;
    assert_eq!((unknown.status, bad_password.status), (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED));
    let message = |p: &Page| p.body.split("role=\"alert\"").nth(1).unwrap().split("</div>").next().unwrap().to_string();
    assert_eq!(message(&unknown), message(&bad_password), "the same message whatever failed");
    assert_eq!(message(&unknown), message(&wrong_pin));

    let ok = sign_in(&mut b, "alice", PASSWORD, &format!("4917{code}")).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert!(b.signed_in());
    let home = b.get("/security").await;
    assert!(home.body.contains("1 active of 1"), "{}", home.body);
    b.post("/security/signout", &[]).await;
    assert_eq!(sign_in(&mut b, "alice", PASSWORD, &format!("4917{code}")).await.status, 401, "replayed");

    // A code from one step ahead is accepted (and the drift learned); from two steps, not.
    app.clock.advance(time::Duration::seconds(30));
    let ahead2 = code_at(&secret, now(&app) + 60);
    assert_eq!(sign_in(&mut b, "alice", PASSWORD, &format!("4917{ahead2}")).await.status, 401);
    let ahead1 = code_at(&secret, now(&app) + 30);
    assert_eq!(sign_in(&mut b, "alice", PASSWORD, &format!("4917{ahead1}")).await.status, 303);

    let acts = actions(&app).await;
    for a in [
        "account.created",
        "account.onboarded",
        "token.created",
        "token.pin_reset",
        "token.delivered_on_screen",
        "token.activation_failed",
        "token.activated",
        "signin.failed",
        "signin.succeeded",
        "session.signed_out",
    ] {
        assert!(acts.iter().any(|x| x == a), "{a} missing from {acts:?}");
    }
    let _ = serial;
}

#[tokio::test]
async fn emergency_codes_work_once_and_expire() {
    let app = app().await;
    let (mut b, _, secret) = onboard(&app, "carol").await;
    b.post("/security/signout", &[]).await;
    app.clock.advance(time::Duration::seconds(30));
    assert_eq!(sign_in(&mut b, "carol", PASSWORD, &format!("4917{}", code_at(&secret, now(&app)))).await.status, 303);
    assert_eq!(b.get("/security/emergency/request").await.status, 200);
    let issued = b.post("/security/emergency/request", &[]).await;
    let code_at_ = issued.body.find("id=\"emergency-code\">").unwrap() + "id=\"emergency-code\">".len();
    let code = issued.body[code_at_..code_at_ + 8].to_string();
    assert!(code.bytes().all(|c| c.is_ascii_digit()), "{code}");
    assert!(app.mail.last_to("carol@example.org").unwrap().subject.contains("emergency code"));
    assert!(!app.mail.sent().iter().any(|m| m.text.contains(&code)), "the code is never emailed");
    b.post("/security/signout", &[]).await;
    assert_eq!(sign_in(&mut b, "carol", PASSWORD, &code).await.status, 303, "the code stands in for the token");
    b.post("/security/signout", &[]).await;
    assert_eq!(sign_in(&mut b, "carol", PASSWORD, &code).await.status, 401, "and works once");

    // A new one expires after 24 hours.
    app.clock.advance(time::Duration::seconds(30));
    assert_eq!(sign_in(&mut b, "carol", PASSWORD, &format!("4917{}", code_at(&secret, now(&app)))).await.status, 303);
    let issued = b.post("/security/emergency/request", &[]).await;
    let at = issued.body.find("id=\"emergency-code\">").unwrap() + "id=\"emergency-code\">".len();
    let code = issued.body[at..at + 8].to_string();
    b.post("/security/signout", &[]).await;
    app.clock.advance(time::Duration::hours(24) + time::Duration::seconds(1));
    assert_eq!(sign_in(&mut b, "carol", PASSWORD, &code).await.status, 401, "expired");
    let acts = actions(&app).await;
    assert!(acts.iter().filter(|a| *a == "emergency_code.issued").count() == 2);
}

#[tokio::test]
async fn ice_logon_flow_gives_an_emergency_code_and_is_rate_limited() {
    let app = app().await;
    let (mut b, _, _) = onboard(&app, "dave").await;
    b.post("/security/signout", &[]).await;

    let start = b.get("/security/ice").await;
    assert!(start.body.contains("User ID"));
    let step2 = b.post("/security/ice", &[("user_id", "dave")]).await;
    assert!(step2.body.contains("Static Password"));
    let no_auth =
        b.post("/security/ice/password", &[("user_id", "dave"), ("authenticator", ""), ("password", PASSWORD)]).await;
    assert_eq!(no_auth.status, 422);
    let step3 = b
        .post(
            "/security/ice/password",
            &[("user_id", "dave"), ("authenticator", "static_password"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(step3.status, 200, "{}", step3.body);
    assert!(step3.body.contains(&questions(&app)[0]));
    let flow_at = step3.body.find("name=\"flow\" value=\"").unwrap() + "name=\"flow\" value=\"".len();
    let flow = step3.body[flow_at..flow_at + 43].to_string();
    let wrong = b
        .post(
            "/security/ice/answers",
            &[("flow", &flow), ("answer0", "elm road"), ("answer1", ANSWERS[1]), ("answer2", ANSWERS[2])],
        )
        .await;
    assert_eq!(wrong.status, 401, "answers are case-sensitive");
    let ok = b
        .post(
            "/security/ice/answers",
            &[("flow", &flow), ("answer0", ANSWERS[0]), ("answer1", ANSWERS[1]), ("answer2", ANSWERS[2])],
        )
        .await;
    assert_eq!(ok.status, 303);
    assert!(b.signed_in());
    assert!(app.mail.last_to("dave@example.org").unwrap().subject.contains("ICE"));
    // An ICE session reaches tokens and emergency codes only.
    assert_eq!(b.get("/security/password").await.location, "/security");
    assert_eq!(b.get("/security/desk").await.location, "/security");
    let issued = b.post("/security/emergency/request", &[]).await;
    assert!(issued.body.contains("id=\"emergency-code\""));
    b.post("/security/signout", &[]).await;

    // Five attempts an hour per account (three used above), counted for unknown ids too.
    let mut last = StatusCode::OK;
    for _ in 0..4 {
        last = b
            .post(
                "/security/ice/password",
                &[("user_id", "dave"), ("authenticator", "static_password"), ("password", "wrong wrong wrong")],
            )
            .await
            .status;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance(time::Duration::minutes(61));
    let again = b
        .post(
            "/security/ice/password",
            &[("user_id", "dave"), ("authenticator", "static_password"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(again.status, 200);

    // The service desk turns ICE off for the account.
    app.state.identity.set_account_ice(By::Console, "dave", false, "test").await.unwrap();
    let off = b
        .post(
            "/security/ice/password",
            &[("user_id", "dave"), ("authenticator", "static_password"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(off.status, 403);
    assert!(off.body.contains("turned off for your account"));
    let acts = actions(&app).await;
    for a in [
        "ice.password_passed",
        "ice.answers_failed",
        "ice.logon",
        "ice.password_failed",
        "ice.refused",
        "ice.switched_for_user",
    ] {
        assert!(acts.iter().any(|x| x == a), "{a} missing");
    }
}

#[tokio::test]
async fn lockout_after_ten_failures_ends_after_thirty_minutes() {
    let app = app().await;
    let (mut b, _, secret) = onboard(&app, "erin").await;
    b.post("/security/signout", &[]).await;
    for _ in 0..10 {
        assert_eq!(sign_in(&mut b, "erin", "not the password", "4917000000").await.status, 401);
    }
    assert!(app.mail.last_to("erin@example.org").unwrap().subject.contains("locked"));
    app.clock.advance(time::Duration::seconds(30));
    let code = code_at(&secret, now(&app));
    assert_eq!(
        sign_in(&mut b, "erin", PASSWORD, &format!("4917{code}")).await.status,
        401,
        "locked, right credentials refused"
    );
    app.clock.advance(time::Duration::minutes(30));
    let code = code_at(&secret, now(&app));
    assert_eq!(sign_in(&mut b, "erin", PASSWORD, &format!("4917{code}")).await.status, 303, "the lock expired");
    assert!(actions(&app).await.iter().any(|a| a == "account.locked"));
}

#[tokio::test]
async fn no_token_operation_works_on_another_users_token() {
    let app = app().await;
    let (_alice, serial, _) = onboard(&app, "alice").await;
    let (mut bob, _, _) = onboard(&app, "bob").await;
    for (path, fields) in [
        (format!("/security/tokens/{serial}/pin"), vec![("pin", "5821"), ("pin_confirm", "5821")]),
        (format!("/security/tokens/{serial}/push"), vec![("method", "screen")]),
        (format!("/security/tokens/{serial}/push"), vec![("method", "email")]),
        (format!("/security/tokens/{serial}/activate"), vec![("code", "123456")]),
        (format!("/security/tokens/{serial}/resync"), vec![("first", "123456"), ("second", "654321")]),
        (format!("/security/tokens/{serial}/state"), vec![("action", "disable")]),
        (format!("/security/tokens/{serial}/state"), vec![("action", "enable")]),
        (format!("/security/tokens/{serial}/state"), vec![("action", "delete")]),
    ] {
        let page = bob.post(&path, &fields).await;
        assert_eq!(page.status, 403, "{path} {fields:?}: {}", page.body);
    }
    let acts = actions(&app).await;
    assert_eq!(acts.iter().filter(|a| *a == "token.access_refused").count(), 8);
    let view = app.state.identity.account_view(By::Console, "alice").await.unwrap();
    assert_eq!(view.tokens[0].state, haven_core::identity::records::TokenState::Active, "unchanged");
}

#[tokio::test]
async fn bad_input_is_refused_without_side_effects() {
    let app = app().await;
    let (mut b, _, _) = onboard(&app, "frank").await;
    // Missing CSRF token.
    let r = Request::post("/security/tokens")
        .header(header::HOST, "haven.example")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, b.cookie_header())
        .body(Body::from("product=mobileid_totp"))
        .unwrap();
    assert_eq!(b.send(r).await.status, 403);
    // Oversized passcode, unknown product.
    assert_eq!(sign_in(&mut b, "frank", PASSWORD, &"9".repeat(100)).await.status, 422);
    assert_eq!(b.post("/security/tokens", &[("product", "sms")]).await.status, 422);
    let tokens = app.state.identity.account_view(By::Console, "frank").await.unwrap().tokens;
    assert_eq!(tokens.len(), 1, "nothing created");
    // An unknown or reused link.
    assert_eq!(b.get("/security/onboard?token=../../etc/passwd").await.status, 400);
    assert_eq!(b.get(&format!("/security/reset?token={}", "A".repeat(43))).await.status, 400);
}

#[tokio::test]
async fn token_delivery_by_email_carries_a_single_use_link_never_the_seed() {
    let app = app().await;
    let (mut b, _, _) = onboard(&app, "gina").await;
    assert_eq!(b.post("/security/tokens", &[("product", "mobileid_totp")]).await.status, 303);
    let page = b.get("/security/tokens").await;
    let second = page.body.rmatch_indices("HVN").next().map(|(i, _)| page.body[i..i + 11].to_string()).unwrap();
    let pushed = b.post(&format!("/security/tokens/{second}/push"), &[("method", "email")]).await;
    assert_eq!(pushed.status, 303, "{}", pushed.body);
    let mail = app.mail.last_to("gina@example.org").unwrap();
    assert_eq!(mail.subject, "Haven - Your Token (MobileID)");
    assert!(!mail.text.contains("otpauth") && !mail.text.contains("secret="), "never the seed");
    let link = mail.text.lines().find(|l| l.contains("/security/tokens/receive?token=")).unwrap().trim().to_string();
    let token = link_token(&link);
    // Another user cannot open it.
    let (mut other, _, _) = onboard(&app, "hank").await;
    assert_eq!(other.post("/security/tokens/receive", &[("token", &token)]).await.status, 400);
    // The owner can, once.
    assert_eq!(b.get(&format!("/security/tokens/receive?token={token}")).await.status, 200);
    let shown = b.post("/security/tokens/receive", &[("token", &token)]).await;
    assert!(shown.body.contains("otpauth://totp/"), "{}", shown.body);
    assert_eq!(b.post("/security/tokens/receive", &[("token", &token)]).await.status, 400, "used");
}
