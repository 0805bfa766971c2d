//! The Security & Tokens portal through the real router, in process, with a fake clock: the
//! service's two flows (soft token creation, ICE logon and emergency code), sign-in with PIN+OTP,
//! replay, wrong PINs, emergency codes, lockouts and their expiry, authorisation between users,
//! and bad input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use futures::TryStreamExt;
use haven_core::Store;
use haven_testkit::db::TestDb;

mod common;

use common::TestApp as App;
use common::browser::*;

async fn app() -> App {
    app_on(haven_testkit::db::sqlite().await).await
}

async fn app_on(db: TestDb) -> App {
    app_with(db, Default::default()).await
}

async fn app_with(db: TestDb, policy: haven_core::identity::SecurityPolicy) -> App {
    App::builder().db(db).policy(policy).build().await
}

async fn actions(app: &App) -> Vec<String> {
    app.db.store.audit_events(1, i64::MIN).map_ok(|e| e.action).try_collect().await.unwrap()
}

/// The one flow on production argon2id parameters and the bounded hashing pool `haven serve`
/// uses; every other in-process test hashes cheaply (`haven_testkit::hasher`).
#[tokio::test]
async fn soft_token_flow_then_sign_in_with_pin_and_otp_once_per_step() {
    soft_token_flow(App::builder().production_hasher().build().await).await;
}

async fn soft_token_flow(app: App) {
    let (mut b, serial, secret) = onboard(&app, "alice").await;
    let page = b.get("/security/tokens").await;
    assert!(page.body.contains("Active") && page.body.contains("MobileID/Time-Based"), "{}", page.body);
    let out = b.post("/security/signout", &[("then", "signin")]).await;
    assert_eq!(out.location, "/security/signin?done=ready");
    assert!(b.get(&out.location).await.body.contains("Your token is ready"));
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
    app.state.identity.set_account_ice(&haven_core::caller::Caller::console(), "dave", false).await.unwrap();
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
    let mut live = Browser::new(&app).await;
    full_sign_in(&app, &mut live, "erin", &secret).await;
    for _ in 0..10 {
        assert_eq!(sign_in(&mut b, "erin", "not the password", "4917000000").await.status, 401);
    }
    // Anyone can cause a lockout: it stops new sign-ins, not the user's live session.
    assert_eq!(live.get("/security/tokens").await.status, 200, "the live session survives the lockout");
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
        // An unknown serial answers exactly the same: serials cannot be enumerated.
        let unknown = bob.post(&path.replace(&serial, "HVN99999999"), &fields).await;
        assert_eq!((unknown.status, unknown.body), (page.status, page.body.clone()), "{path}");
    }
    let acts = actions(&app).await;
    assert_eq!(acts.iter().filter(|a| *a == "token.access_refused").count(), 16);
    let view = app.state.identity.account_view(&haven_core::caller::Caller::console(), "alice").await.unwrap();
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
    let tokens = app.state.identity.account_view(&haven_core::caller::Caller::console(), "frank").await.unwrap().tokens;
    assert_eq!(tokens.len(), 1, "nothing created");
    // An unknown, malformed or expired link: refused and audited.
    assert_eq!(b.get("/security/onboard?token=../../etc/passwd").await.status, 400);
    assert_eq!(b.get(&format!("/security/reset?token={}", "A".repeat(43))).await.status, 400);
    let link = app
        .state
        .identity
        .add_account(&haven_core::caller::Caller::console(), "late", "late@example.org", false)
        .await
        .unwrap();
    app.clock.advance(time::Duration::hours(73));
    let expired = b.get(&format!("/security/onboard?token={}", link_token(&link))).await;
    assert_eq!(expired.status, 400);
    assert!(expired.body.contains("expired, was already used"), "{}", expired.body);
    // The reused onboarding link (in `onboard`), the unknown reset link and the expired one: the
    // first two came within a minute from one source, so the second is counted into the third.
    let events: Vec<_> = app.db.store.audit_events(1, i64::MIN).try_collect().await.unwrap();
    let refused: Vec<_> = events.iter().filter(|e| e.action == "link.refused").collect();
    assert_eq!(refused.len(), 2);
    assert!(refused[1].details.contains("\"repeats_since_last\":1"), "{}", refused[1].details);
}

#[tokio::test]
async fn token_delivery_by_email_carries_a_single_use_link_never_the_seed() {
    let app = app().await;
    let (mut b, _, _) = onboard(&app, "gina").await;
    assert_eq!(b.post("/security/tokens", &[("product", "mobileid_totp")]).await.status, 303);
    let tokens = app.state.identity.account_view(&haven_core::caller::Caller::console(), "gina").await.unwrap().tokens;
    let second =
        tokens.iter().find(|t| t.state == haven_core::identity::records::TokenState::Pending).unwrap().serial.clone();
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

#[tokio::test]
async fn password_change_needs_a_fresh_sign_in_follows_the_policy_and_ends_other_sessions() {
    let app = app().await;
    let (mut b, _, secret) = onboard(&app, "ivy").await;
    b.post("/security/signout", &[]).await;
    full_sign_in(&app, &mut b, "ivy", &secret).await;
    let mut other = Browser::new(&app).await;
    full_sign_in(&app, &mut other, "ivy", &secret).await;

    // Eleven minutes later the change asks to confirm it is you first.
    app.clock.advance(time::Duration::minutes(11));
    let page = b.get("/security/password").await;
    assert!(page.location.starts_with("/security/confirm?next="), "{}", page.location);
    app.clock.advance(time::Duration::seconds(30));
    let code = code_at(&secret, now(&app));
    let confirmed = b
        .post(
            "/security/confirm",
            &[("password", PASSWORD), ("passcode", &format!("4917{code}")), ("next", "/security/password")],
        )
        .await;
    assert_eq!(confirmed.location, "/security/password");
    assert_eq!(b.get("/security/password").await.status, 200);

    for (new, why) in [
        ("short", "at least 12"),
        ("password1234", "common or breached"),
        ("ivyivyivyivyivy", "user id"),
        ("aaaaaaaaaaaaaaaa", "too easy to guess"),
        (PASSWORD, "reuse"),
    ] {
        let page =
            b.post("/security/password", &[("current", PASSWORD), ("password", new), ("password_confirm", new)]).await;
        assert_eq!(page.status, 422, "{new}");
        assert!(page.body.contains(why), "{new}: {}", page.body);
    }
    let wrong_current = b
        .post(
            "/security/password",
            &[
                ("current", "not it at all"),
                ("password", "violet harbour juniper cloud"),
                ("password_confirm", "violet harbour juniper cloud"),
            ],
        )
        .await;
    assert!(wrong_current.body.contains("current password is not right"));
    let ok = b
        .post(
            "/security/password",
            &[
                ("current", PASSWORD),
                ("password", "violet harbour juniper cloud"),
                ("password_confirm", "violet harbour juniper cloud"),
            ],
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert!(app.mail.last_to("ivy@example.org").unwrap().subject.contains("password was changed"));
    assert_eq!(other.get("/security/tokens").await.status, 303, "the other session ended");
    assert_eq!(b.get("/security/tokens").await.status, 200, "this one lives on");
}

#[tokio::test]
async fn recovery_codes_sign_in_once_and_reset_a_forgotten_password() {
    let app = app().await;
    let (mut b, _, secret) = onboard(&app, "jade").await;
    b.post("/security/signout", &[]).await;
    full_sign_in(&app, &mut b, "jade", &secret).await;
    let made = b.post("/security/api-tokens", &[("label", "script"), ("access", "read")]).await;
    assert!(made.body.contains("haven_api_"), "{}", made.body);
    let page = b.post("/security/recovery", &[]).await;
    let left = app.state.identity.account_view(&haven_core::caller::Caller::console(), "jade").await.unwrap();
    assert!(left.personal_tokens.is_empty(), "new recovery codes end API tokens, as a password change does");
    let codes: Vec<String> =
        page.body.match_indices("<li><code>").map(|(i, _)| page.body[i + 10..i + 39].to_string()).collect();
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| c.len() == 29 && c.matches('-').count() == 5), "{codes:?}");
    b.post("/security/signout", &[]).await;
    assert_eq!(
        sign_in(&mut b, "jade", PASSWORD, &codes[0].to_uppercase()).await.status,
        303,
        "a recovery code as passcode"
    );
    b.post("/security/signout", &[]).await;
    assert_eq!(sign_in(&mut b, "jade", PASSWORD, &codes[0]).await.status, 401, "once");

    // Forgot password: user id + a recovery code, then a new password.
    let wrong = b.post("/security/forgot", &[("user_id", "jade"), ("recovery_code", &codes[0])]).await;
    assert_eq!(wrong.status, 422);
    let started = b.post("/security/forgot", &[("user_id", "jade"), ("recovery_code", &codes[1])]).await;
    assert!(started.location.starts_with("/security/reset?token="), "{}", started.location);
    let token = link_token(&started.location);
    let form = b.get(&started.location).await;
    assert!(!form.body.contains("show it is you"), "the recovery code was the proof");
    let done = b
        .post(
            "/security/reset",
            &[
                ("token", &token),
                ("password", "violet harbour juniper cloud"),
                ("password_confirm", "violet harbour juniper cloud"),
            ],
        )
        .await;
    assert_eq!(done.location, "/security/signin?done=reset", "{}", done.body);
    assert_eq!(sign_in(&mut b, "jade", "violet harbour juniper cloud", &codes[2]).await.status, 303);
    let acts = actions(&app).await;
    for a in ["recovery_codes.generated", "recovery_code.used", "recovery_code.refused", "password.reset"] {
        assert!(acts.iter().any(|x| x == a), "{a}");
    }
}

#[tokio::test]
async fn a_service_desk_reset_still_needs_a_second_factor_or_the_answers() {
    let app = app().await;
    let (mut b, _, secret) = onboard(&app, "kim").await;
    b.post("/security/signout", &[]).await;
    assert!(app.state.identity.start_password_reset(&haven_core::caller::Caller::console(), "kim").await.unwrap());
    let mail = app.mail.last_to("kim@example.org").unwrap().text;
    let token = link_token(mail.split_whitespace().find(|w| w.contains("/security/reset?token=")).unwrap());
    let form = b.get(&format!("/security/reset?token={token}")).await;
    assert!(form.body.contains("show it is you"));
    let new = "violet harbour juniper cloud";
    let no_proof = b
        .post(
            "/security/reset",
            &[
                ("token", &token),
                ("proof", "passcode"),
                ("passcode", "4917000000"),
                ("password", new),
                ("password_confirm", new),
            ],
        )
        .await;
    assert_eq!(no_proof.status, 422);
    let bad_answers = b
        .post(
            "/security/reset",
            &[
                ("token", &token),
                ("proof", "answers"),
                ("answer0", "elm road"),
                ("answer1", ANSWERS[1]),
                ("answer2", ANSWERS[2]),
                ("password", new),
                ("password_confirm", new),
            ],
        )
        .await;
    assert_eq!(bad_answers.status, 422);
    app.clock.advance(time::Duration::seconds(30));
    let code = code_at(&secret, now(&app));
    let ok = b
        .post(
            "/security/reset",
            &[
                ("token", &token),
                ("proof", "passcode"),
                ("passcode", &format!("4917{code}")),
                ("password", new),
                ("password_confirm", new),
            ],
        )
        .await;
    assert_eq!(ok.location, "/security/signin?done=reset", "{}", ok.body);
    assert_eq!(b.get(&format!("/security/reset?token={token}")).await.status, 400, "single use");
}

#[tokio::test]
async fn sessions_time_out_and_passwords_expire() {
    let app = app().await;
    let (mut b, _, secret) = onboard(&app, "lee").await;
    b.post("/security/signout", &[]).await;
    full_sign_in(&app, &mut b, "lee", &secret).await;
    app.clock.advance(time::Duration::minutes(29));
    assert_eq!(b.get("/security/tokens").await.status, 200);
    app.clock.advance(time::Duration::minutes(31));
    assert_eq!(b.get("/security/tokens").await.status, 303, "idle for 31 minutes");
    // Absolute: active every 20 minutes, still out after 12 hours.
    full_sign_in(&app, &mut b, "lee", &secret).await;
    for _ in 0..36 {
        app.clock.advance(time::Duration::minutes(20));
        b.get("/security/tokens").await;
    }
    app.clock.advance(time::Duration::minutes(1));
    assert_eq!(b.get("/security/tokens").await.status, 303, "12 hours after sign-in");
    // 91 days on, the password has expired: sign-in leads to the password page only.
    app.clock.advance(time::Duration::days(91));
    let code = code_at(&secret, now(&app));
    let page = sign_in(&mut b, "lee", PASSWORD, &format!("4917{code}")).await;
    assert_eq!(page.location, "/security/password");
    assert_eq!(b.get("/security/tokens").await.location, "/security/password");
}

#[tokio::test]
async fn failures_lock_a_token_and_addresses_are_rate_limited() {
    let policy =
        haven_core::identity::SecurityPolicy { address_max_failures: 12, lockout_failures: 50, ..Default::default() };
    let app = app_with(haven_testkit::db::sqlite().await, policy).await;
    let (mut b, _, secret) = onboard(&app, "max").await;
    b.post("/security/signout", &[]).await;
    app.clock.advance(time::Duration::seconds(30));
    // Ten wrong PINs with the right code lock the token.
    for _ in 0..10 {
        let code = code_at(&secret, now(&app));
        assert_eq!(sign_in(&mut b, "max", PASSWORD, &format!("1111{code}")).await.status, 401);
    }
    let view = app.state.identity.account_view(&haven_core::caller::Caller::console(), "max").await.unwrap();
    assert_eq!(view.tokens[0].state, haven_core::identity::records::TokenState::Locked);
    app.clock.advance(time::Duration::seconds(30));
    let code = code_at(&secret, now(&app));
    assert_eq!(sign_in(&mut b, "max", PASSWORD, &format!("4917{code}")).await.status, 401, "a locked token");
    app.state.identity.reset_fail_counters(&haven_core::caller::Caller::console(), "max").await.unwrap();
    assert_eq!(sign_in(&mut b, "max", PASSWORD, &format!("4917{code}")).await.status, 303, "reset by the service desk");
    b.post("/security/signout", &[]).await;
    // Two more failures reach the address limit of 12: the next attempt is refused outright.
    for _ in 0..2 {
        sign_in(&mut b, "max", "nope nope nope", "4917000000").await;
    }
    let limited = sign_in(&mut b, "max", PASSWORD, "4917000000").await;
    assert_eq!(limited.status, 429);
    assert!(limited.body.contains("network address"));
    let acts = actions(&app).await;
    assert!(acts.iter().any(|a| a == "token.locked") && acts.iter().any(|a| a == "signin.rate_limited"));
}

#[tokio::test]
async fn the_service_desk_pages_are_for_administrators_only() {
    let app = app().await;
    let (mut b, _, secret) = onboard(&app, "nina").await;
    b.post("/security/signout", &[]).await;
    full_sign_in(&app, &mut b, "nina", &secret).await;
    assert_eq!(b.get("/security/desk").await.status, 403);
    assert_eq!(b.post("/security/desk/users", &[("user_id", "eve"), ("email", "eve@example.org")]).await.status, 403);
    // Existing and unknown user ids answer alike (no enumeration through the desk).
    for id in ["nina", "nobody-here"] {
        assert_eq!(b.post(&format!("/security/desk/users/{id}/action"), &[("action", "unlock")]).await.status, 403);
        assert_eq!(b.get(&format!("/security/desk/users/{id}")).await.status, 403, "{id}");
    }
    assert!(
        app.state.identity.account_view(&haven_core::caller::Caller::console(), "eve").await.is_err(),
        "nothing created"
    );

    // An administrator can.
    let link = app
        .state
        .identity
        .add_account(&haven_core::caller::Caller::console(), "olga", "olga@example.org", true)
        .await
        .unwrap();
    let _ = link;
    let view = app.state.identity.find_accounts(&haven_core::caller::Caller::console(), "olg").await.unwrap();
    assert_eq!(view.len(), 1);
}

#[tokio::test]
async fn an_administrator_runs_the_service_desk_from_the_web() {
    let app = app().await;
    // An administrator onboards like anyone, then signs in fully.
    let link = app
        .state
        .identity
        .add_account(&haven_core::caller::Caller::console(), "desk", "desk@example.org", true)
        .await
        .unwrap();
    assert!(app.mail.last_to("desk@example.org").unwrap().text.contains(&link), "emailed too");
    let mut admin = Browser::new(&app).await;
    let token = link_token(&link);
    let q = questions(&app);
    let fields = [
        ("token", token.as_str()),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
        ("question0", q[0].as_str()),
        ("answer0", ANSWERS[0]),
        ("question1", q[1].as_str()),
        ("answer1", ANSWERS[1]),
        ("question2", q[2].as_str()),
        ("answer2", ANSWERS[2]),
    ];
    assert_eq!(admin.post("/security/onboard", &fields).await.status, 303);
    // Until a token is active, even an administrator reaches only token enrolment.
    assert_eq!(admin.get("/security/desk").await.location, "/security/tokens");
    admin.post("/security/tokens", &[("product", "mobileid_totp")]).await;
    let serial = serial_in(&admin.get("/security/tokens").await.body);
    admin.post(&format!("/security/tokens/{serial}/pin"), &[("pin", "4917"), ("pin_confirm", "4917")]).await;
    let shown = admin.post(&format!("/security/tokens/{serial}/push"), &[("method", "screen")]).await;
    let uri_at = shown.body.find("otpauth://").unwrap();
    let secret = secret_of(&shown.body[uri_at..uri_at + 200]);
    admin.post(&format!("/security/tokens/{serial}/activate"), &[("code", &code_at(&secret, now(&app)))]).await;
    admin.post("/security/signout", &[]).await;
    full_sign_in(&app, &mut admin, "desk", &secret).await;

    // Add a user from the web: the onboarding link is shown and emailed.
    let added = admin
        .post("/security/desk/users", &[("user_id", "pat"), ("email", "pat@example.org"), ("role", "researcher")])
        .await;
    assert_eq!(added.status, 201, "{}", added.body);
    assert!(added.body.contains("/security/onboard?token="));
    assert!(app.mail.last_to("pat@example.org").is_some());
    let dup = admin.post("/security/desk/users", &[("user_id", "pat"), ("email", "pat@example.org")]).await;
    assert_eq!(dup.status, 422);
    assert!(dup.body.contains("taken"));
    let same_email = admin.post("/security/desk/users", &[("user_id", "pat2"), ("email", "PAT@example.org")]).await;
    assert_eq!(same_email.status, 422, "{}", same_email.body);
    assert!(same_email.body.contains("is the email of the account pat already"), "{}", same_email.body);
    let found = admin.get("/security/desk?q=pat").await;
    assert!(found.body.contains("/security/desk/users/pat") && found.body.contains("waiting for onboarding"));

    // Act on the account; each action shows its outcome and is audited.
    for (action, says) in [
        ("lock", "Account locked"),
        ("unlock", "Account unlocked"),
        ("reset_counters", "Fail counters reset"),
        ("ice_off", "ICE logon turned off"),
        ("ice_on", "ICE logon turned on"),
        ("onboarding_link", "new onboarding link"),
        ("revoke_tokens", "0 token(s) revoked"),
        ("revoke_personal_tokens", "0 repository or API token(s) revoked"),
        ("disable", "Account disabled"),
    ] {
        let page = admin.post("/security/desk/users/pat/action", &[("action", action)]).await;
        assert_eq!(page.status, 200, "{action}: {}", page.body);
        assert!(page.body.contains(says), "{action}: {}", page.body);
    }
    let user_page = admin.get("/security/desk/users/pat").await;
    assert!(
        user_page.body.contains("account.disabled") && user_page.body.contains("account.locked_by_service_desk"),
        "the account's audit events"
    );
    let own = admin.post("/security/desk/users/desk/action", &[("action", "disable")]).await;
    assert_eq!(own.status, 422, "not one's own account");

    // ICE for everyone, off then on.
    assert_eq!(admin.post("/security/desk/ice", &[("enabled", "false")]).await.location, "/security/desk?done=ice_off");
    assert!(!app.state.identity.ice_globally_enabled().await.unwrap());
    let mut anyone = Browser::new(&app).await;
    assert!(anyone.get("/security/ice").await.body.contains("turned off"));
    admin.post("/security/desk/ice", &[("enabled", "true")]).await;
    assert!(app.state.identity.ice_globally_enabled().await.unwrap());

    // Eleven minutes on, desk changes need a fresh second factor first; nothing changes before.
    app.clock.advance(time::Duration::minutes(11));
    let stale = [
        ("/security/desk/users/pat/action", vec![("action", "unlock")]),
        ("/security/desk/users/pat/action", vec![("action", "reset_password")]),
        ("/security/desk/users/pat/action", vec![("action", "revoke_tokens")]),
        ("/security/desk/ice", vec![("enabled", "false")]),
        ("/security/desk/users", vec![("user_id", "quin"), ("email", "quin@example.org"), ("role", "admin")]),
        ("/security/desk/tokens/assign", vec![("serial", "HW0001"), ("user_id", "pat")]),
    ];
    let before = actions(&app).await.len();
    for (path, fields) in &stale {
        let page = admin.post(path, fields).await;
        assert_eq!(page.status, 303, "{path}: {}", page.body);
        assert!(page.location.starts_with("/security/confirm?next="), "{path}: {}", page.location);
    }
    assert_eq!(actions(&app).await.len(), before, "no change was made or audited");
    assert!(app.state.identity.ice_globally_enabled().await.unwrap());
    assert!(app.state.identity.account_view(&haven_core::caller::Caller::console(), "quin").await.is_err());
    app.clock.advance(time::Duration::seconds(30));
    let code = code_at(&secret, now(&app));
    let confirmed = admin
        .post(
            "/security/confirm",
            &[("password", PASSWORD), ("passcode", &format!("4917{code}")), ("next", "/security/desk/users/pat")],
        )
        .await;
    assert_eq!(confirmed.location, "/security/desk/users/pat");
    let unlocked = admin.post("/security/desk/users/pat/action", &[("action", "unlock")]).await;
    assert_eq!(unlocked.status, 200);
    assert!(unlocked.body.contains("Account unlocked"));
    let acts = actions(&app).await;
    for a in [
        "account.created",
        "account.locked_by_service_desk",
        "account.unlocked",
        "account.fail_counters_reset",
        "ice.switched_for_user",
        "account.onboarding_link_issued",
        "token.revoked_by_service_desk",
        "account.disabled",
        "ice.switched_for_everyone",
    ] {
        assert!(acts.iter().any(|x| x == a), "{a}");
    }
}

#[tokio::test]
async fn a_hardware_token_from_pskc_is_assigned_given_a_pin_and_activated_by_its_owner() {
    let app = app().await;
    let (mut b, _, _) = onboard(&app, "quinn").await;
    let pskc = r#"<?xml version="1.0"?>
<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc">
  <KeyPackage>
    <DeviceInfo><Manufacturer>Test</Manufacturer><SerialNo>HW123456</SerialNo></DeviceInfo>
    <Key Id="1" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:hotp">
      <AlgorithmParameters><ResponseFormat Length="6" Encoding="DECIMAL"/></AlgorithmParameters>
      <Data><Secret><PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue></Secret><Counter><PlainValue>0</PlainValue></Counter></Data>
    </Key>
  </KeyPackage>
</KeyContainer>"#;
    let keys = haven_core::identity::pskc::parse(pskc, None).unwrap();
    let id = &app.state.identity;
    assert_eq!(id.import_tokens(&haven_core::caller::Caller::console(), keys).await.unwrap(), ["HW123456"]);
    id.assign_token(&haven_core::caller::Caller::console(), "HW123456", "quinn").await.unwrap();
    let list = b.get("/security/tokens").await;
    assert!(
        list.body.contains("/security/tokens/HW123456/activate")
            && !list.body.contains("/security/tokens/HW123456/push")
    );
    let push = b.post("/security/tokens/HW123456/push", &[("method", "screen")]).await;
    assert_eq!(push.status, 409, "a hardware seed is never shown");
    let no_pin = b.post("/security/tokens/HW123456/activate", &[("code", "755224")]).await;
    assert_eq!(no_pin.status, 422, "its PIN comes first");
    assert_eq!(b.post("/security/tokens/HW123456/pin", &[("pin", "5820"), ("pin_confirm", "5820")]).await.status, 303);
    assert_eq!(b.get("/security/tokens/HW123456/activate").await.status, 200);
    // RFC 4226 Appendix D: counter 0 is 755224, counter 1 is 287082.
    assert_eq!(
        b.post("/security/tokens/HW123456/activate", &[("code", "755224")]).await.location,
        "/security/tokens?done=activated"
    );
    b.post("/security/signout", &[]).await;
    assert_eq!(sign_in(&mut b, "quinn", PASSWORD, "5820755224").await.status, 401, "counter 0 is spent");
    assert_eq!(sign_in(&mut b, "quinn", PASSWORD, "5820287082").await.status, 303);
}

/// After sign-in and step-up, `next` leads only to a path of one of Haven's portals: tabs,
/// newlines, backslashes and other sites all go to the portal's home (a newline used to give a 500,
/// and `/\t/evil.example` came back in `Location`, which browsers read as another site).
#[tokio::test]
async fn sign_in_and_step_up_return_only_to_haven_paths() {
    let app = app().await;
    let (mut b, _, secret) = onboard(&app, "olga").await;
    b.post("/security/signout", &[]).await;
    // Accepted already: sign-in goes straight to `next` (the AUS comes first otherwise).
    let olga = haven_testkit::callers::signed_in("olga", &[haven_core::accounts::Role::Researcher], 0);
    app.state.governance.accept_aus(&olga).await.unwrap();
    for (next, expected) in [
        ("/\t/evil.example", "/security"),
        ("/security\n/x", "/security"),
        ("/\\evil.example", "/security"),
        ("//evil.example", "/security"),
        ("/security/tokens", "/security/tokens"),
    ] {
        app.clock.advance(time::Duration::seconds(30));
        let code = code_at(&secret, now(&app));
        let page = b
            .post(
                "/security/signin",
                &[("user_id", "olga"), ("password", PASSWORD), ("passcode", &format!("4917{code}")), ("next", next)],
            )
            .await;
        assert_eq!((page.status, page.location.as_str()), (StatusCode::SEE_OTHER, expected), "{next:?}");
        b.post("/security/signout", &[]).await;
    }
    let page = b.get("/security/signin?next=%2F%0A%2Fevil.example").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("evil.example"), "the form does not carry a hostile next");

    full_sign_in(&app, &mut b, "olga", &secret).await;
    app.clock.advance(time::Duration::seconds(30));
    let code = code_at(&secret, now(&app));
    let confirmed = b
        .post(
            "/security/confirm",
            &[("password", PASSWORD), ("passcode", &format!("4917{code}")), ("next", "/\t/evil.example")],
        )
        .await;
    assert_eq!((confirmed.status, confirmed.location.as_str()), (StatusCode::SEE_OTHER, "/security"));
}

async fn post(b: &mut Browser<'_>, fields: Vec<(String, String)>) -> Page {
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    b.post("/security/reset", &refs).await
}

/// Security answers on a reset link cannot be guessed at will: three wrong proofs cancel the link
/// (audited, the user emailed), and wrong answers share the ICE logon's hourly budget across links.
/// The service desk never sees the link: it goes to the user's email only.
#[tokio::test]
async fn reset_link_answers_are_limited_and_the_link_goes_to_the_user_only() {
    let app = app().await;
    let (mut b, _, _) = onboard(&app, "ruth").await;
    b.post("/security/signout", &[]).await;
    let new = "violet harbour juniper cloud";
    let reset_token = |app: &App| {
        let mail = app.mail.last_to("ruth@example.org").unwrap().text;
        link_token(mail.split_whitespace().find(|w| w.contains("/security/reset?token=")).unwrap())
    };
    let answers = |token: &str, first: &str| -> Vec<(String, String)> {
        [
            ("token", token),
            ("proof", "answers"),
            ("answer0", first),
            ("answer1", ANSWERS[1]),
            ("answer2", ANSWERS[2]),
            ("password", new),
            ("password_confirm", new),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };

    assert!(app.state.identity.start_password_reset(&haven_core::caller::Caller::console(), "ruth").await.unwrap());
    let first = reset_token(&app);
    for i in 0..2 {
        assert_eq!(post(&mut b, answers(&first, &format!("guess {i}"))).await.status, 422);
    }
    let third = post(&mut b, answers(&first, "guess 2")).await;
    assert_eq!(third.status, 429, "{}", third.body);
    assert!(third.body.contains("cancelled"), "{}", third.body);
    let mail = app.mail.last_to("ruth@example.org").unwrap();
    assert!(mail.subject.contains("cancelled") && !mail.text.contains("token="), "{}", mail.text);
    // Even the right answers no longer work on that link.
    assert_eq!(post(&mut b, answers(&first, ANSWERS[0])).await.status, 400);

    // A new link: two more wrong answers use up the hour's budget of five (shared with ICE), after
    // which even the right answers are refused until the hour has passed.
    assert!(app.state.identity.start_password_reset(&haven_core::caller::Caller::console(), "ruth").await.unwrap());
    let second = reset_token(&app);
    assert_ne!(second, first);
    for i in 3..5 {
        assert_eq!(post(&mut b, answers(&second, &format!("guess {i}"))).await.status, 422);
    }
    let limited = post(&mut b, answers(&second, ANSWERS[0])).await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.body.contains("at most 5 an hour"), "{}", limited.body);
    app.clock.advance(time::Duration::minutes(61));
    let ok = post(&mut b, answers(&second, ANSWERS[0])).await;
    assert_eq!(ok.location, "/security/signin?done=reset", "{}", ok.body);

    let acts: Vec<(String, String)> =
        app.db.store.audit_events(1, i64::MIN).map_ok(|e| (e.action, e.details)).try_collect().await.unwrap();
    let refused: Vec<&String> = acts.iter().filter(|(a, _)| a == "password.reset_refused").map(|(_, d)| d).collect();
    assert!(refused.iter().any(|d| d.contains("\"link_cancelled\":true")), "{refused:?}");
    assert!(refused.iter().any(|d| d.contains("too_many_answer_attempts")), "{refused:?}");
    assert!(acts.iter().any(|(a, _)| a == "link.refused"), "the cancelled link, tried again");
}

/// Start an ICE logon as `id` up to the questions; the flow secret.
async fn ice_to_questions(b: &mut Browser<'_>, id: &str) -> String {
    let step = b
        .post(
            "/security/ice/password",
            &[("user_id", id), ("authenticator", "static_password"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(step.status, 200, "{}", step.body);
    let at = step.body.find("name=\"flow\" value=\"").unwrap() + "name=\"flow\" value=\"".len();
    step.body[at..at + 43].to_string()
}

async fn ice_answer(b: &mut Browser<'_>, flow: &str) -> Page {
    b.post(
        "/security/ice/answers",
        &[("flow", flow), ("answer0", ANSWERS[0]), ("answer1", ANSWERS[1]), ("answer2", ANSWERS[2])],
    )
    .await
}

/// The ICE switches hold at every step: turning ICE off (for the user or for everyone) stops a
/// logon already past the password, ends ICE sessions, and stops emergency codes from them.
#[tokio::test]
async fn turning_ice_off_stops_logons_in_progress_and_ends_ice_sessions() {
    let app = app().await;
    let (mut b, _, _) = onboard(&app, "ines").await;
    b.post("/security/signout", &[]).await;

    // Off for the user between the password and the questions.
    let flow = ice_to_questions(&mut b, "ines").await;
    app.state.identity.set_account_ice(&haven_core::caller::Caller::console(), "ines", false).await.unwrap();
    let refused = ice_answer(&mut b, &flow).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(!b.signed_in());
    app.state.identity.set_account_ice(&haven_core::caller::Caller::console(), "ines", true).await.unwrap();
    assert_eq!(ice_answer(&mut b, &flow).await.status, 400, "the cancelled logon does not resume");

    // An ICE session ends when ICE is turned off for the user, and when it is turned off for everyone.
    for everyone in [false, true] {
        let flow = ice_to_questions(&mut b, "ines").await;
        assert_eq!(ice_answer(&mut b, &flow).await.status, 303);
        assert_eq!(b.get("/security/emergency").await.status, 200);
        if everyone {
            app.state.identity.set_global_ice(&haven_core::caller::Caller::console(), false).await.unwrap();
        } else {
            app.state.identity.set_account_ice(&haven_core::caller::Caller::console(), "ines", false).await.unwrap();
        }
        assert_eq!(b.get("/security/emergency").await.status, 303, "the ICE session ended");
        let no_code = b.post("/security/emergency/request", &[]).await;
        assert!(!no_code.body.contains("id=\"emergency-code\""), "no code from an ended session");
        if everyone {
            app.state.identity.set_global_ice(&haven_core::caller::Caller::console(), true).await.unwrap();
        } else {
            app.state.identity.set_account_ice(&haven_core::caller::Caller::console(), "ines", true).await.unwrap();
        }
        app.clock.advance(time::Duration::minutes(61));
        b.cookies.remove("__Host-haven-session");
    }
    let acts: Vec<(String, String)> =
        app.db.store.audit_events(1, i64::MIN).map_ok(|e| (e.action, e.details)).try_collect().await.unwrap();
    assert!(acts.iter().any(|(a, d)| a == "ice.refused" && d.contains("ice_off_for_user")), "{acts:?}");
    assert!(acts.iter().any(|(a, d)| a == "ice.switched_for_user" && d.contains("\"ice_sessions_ended\":1")));
    assert!(acts.iter().any(|(a, d)| a == "ice.switched_for_everyone" && d.contains("\"ice_sessions_ended\":1")));
}

/// Secrets checked inside a session are limited like sign-in: ten wrong activation codes, then
/// even the right one is refused until the lockout window has passed; the current password too.
#[tokio::test]
async fn activation_codes_and_the_current_password_cannot_be_guessed_at_will() {
    let app = app().await;
    let (mut b, first_serial, first_secret) = onboard(&app, "tess").await; // one wrong activation code inside
    assert_eq!(b.post("/security/tokens", &[("product", "mobileid_totp")]).await.status, 303);
    let tokens = b.get("/security/tokens").await.body;
    let second = other_serial_in(&tokens, &first_serial);
    b.post(&format!("/security/tokens/{second}/pin"), &[("pin", "4917"), ("pin_confirm", "4917")]).await;
    let shown = b.post(&format!("/security/tokens/{second}/push"), &[("method", "screen")]).await;
    let at = shown.body.find("otpauth://").unwrap_or_else(|| panic!("{} {}", shown.status, shown.body));
    let secret = secret_of(&shown.body[at..at + 300]);
    for _ in 0..9 {
        let wrong = b.post(&format!("/security/tokens/{second}/activate"), &[("code", "000000")]).await;
        assert_eq!(wrong.status, 422);
    }
    app.clock.advance(time::Duration::seconds(30));
    let right = code_at(&secret, now(&app));
    let refused = b.post(&format!("/security/tokens/{second}/activate"), &[("code", &right)]).await;
    assert_ne!(refused.status, 303, "the right code after ten wrong ones is refused");
    assert!(refused.body.contains("Too many wrong tries"), "{}", refused.body);
    app.clock.advance(time::Duration::minutes(31));
    let right = code_at(&secret, now(&app));
    assert_eq!(b.post("/security/signout", &[]).await.status, 303);
    full_sign_in(&app, &mut b, "tess", &first_secret).await;
    let ok = b.post(&format!("/security/tokens/{second}/activate"), &[("code", &right)]).await;
    assert_eq!(ok.status, 303, "the window passed: {}", ok.body);

    // The current password, on the password page.
    let new = "violet harbour juniper cloud";
    for _ in 0..10 {
        let page = b
            .post("/security/password", &[("current", "not it at all"), ("password", new), ("password_confirm", new)])
            .await;
        assert_eq!(page.status, 422, "{}", page.body);
    }
    let page =
        b.post("/security/password", &[("current", PASSWORD), ("password", new), ("password_confirm", new)]).await;
    assert!(page.body.contains("Too many wrong tries"), "{}", page.body);
    let acts = actions(&app).await;
    assert_eq!(acts.iter().filter(|a| *a == "password.current_check_failed").count(), 10);
    // Tries are counted before the code is checked (the onboarding's right code too): of the
    // ten wrong ones, the last was refused unchecked, so nine were checked and audited.
    assert_eq!(acts.iter().filter(|a| *a == "token.activation_failed").count(), 9);
}

/// What a new user sees says what to do next: a used link says how to get a new one, a token link
/// opened where nobody is signed in says why, a fresh emergency code says to sign out first and
/// warns that another request would replace it, no recovery codes prompts to make some, and the
/// security answers are hidden as at the ICE logon.
#[tokio::test]
async fn pages_say_what_to_do_next() {
    let app = app().await;
    let link = app
        .state
        .identity
        .add_account(&haven_core::caller::Caller::console(), "uma", "uma@example.org", false)
        .await
        .unwrap();
    let mut b = Browser::new(&app).await;
    let form = b.get(&format!("/security/onboard?token={}", link_token(&link))).await;
    assert_eq!(form.body.matches("type=\"password\" required minlength=\"3\"").count(), 3, "answers hidden");
    drop(b);
    let (mut b, serial, secret) = onboard(&app, "vera").await;

    let used = b.get(&format!("/security/onboard?token={}", "B".repeat(43))).await;
    assert_eq!(used.status, 400);
    assert!(used.body.contains("PUSH the token again") && used.body.contains("href=\"/security\""), "{}", used.body);

    // A delivery link (for a second, pending token) opened in another browser.
    b.post("/security/tokens", &[("product", "mobileid_totp")]).await;
    let list = b.get("/security/tokens").await.body;
    let pending = other_serial_in(&list, &serial);
    b.post(&format!("/security/tokens/{pending}/pin"), &[("pin", "4917"), ("pin_confirm", "4917")]).await;
    let pushed = b.post(&format!("/security/tokens/{pending}/push"), &[("method", "email")]).await;
    assert_eq!(pushed.status, 303, "{}", pushed.body);
    // A form error names its field: the input is marked invalid, described by the message, focused.
    let differ = b.post(&format!("/security/tokens/{pending}/pin"), &[("pin", "4917"), ("pin_confirm", "4918")]).await;
    assert_eq!(differ.status, 422);
    assert!(differ.body.contains("id=\"form-error\""), "{}", differ.body);
    let marked = |body: &str, id: &str| {
        body.split('<')
            .find(|tag| tag.contains(&format!("id=\"{id}\"")) && tag.starts_with("input"))
            .is_some_and(|tag| tag.contains("aria-invalid=\"true\" aria-describedby=\"form-error\" autofocus"))
    };
    assert!(marked(&differ.body, "pin") || marked(&differ.body, "pin_confirm"), "{}", differ.body);
    let mail = app.mail.last_to("vera@example.org").unwrap().text;
    let delivery = mail.split_whitespace().find(|w| w.contains("/security/tokens/receive")).unwrap();
    let path = &delivery[delivery.find("/security").unwrap()..];
    let mut elsewhere = Browser::new(&app).await;
    let to = elsewhere.get(path).await.location;
    assert!(to.starts_with("/security/signin?next="), "{to}");
    assert!(elsewhere.get(&to).await.body.contains("This link shows your new token"));

    // Signed in fully: no recovery codes yet, and a fresh emergency code.
    b.post("/security/signout", &[]).await;
    full_sign_in(&app, &mut b, "vera", &secret).await;
    assert!(b.get("/security").await.body.contains("None yet: make a set now"));
    let issued = b.post("/security/emergency/request", &[]).await;
    assert!(issued.body.contains("id=\"emergency-code\""), "{}", issued.body);
    assert!(issued.body.contains("Sign out now") && issued.body.contains("would cancel this one"), "{}", issued.body);
    let later = b.get("/security/emergency").await;
    assert!(later.body.contains("requesting a new one cancels it"), "{}", later.body);
}

/// HOTP resynchronisation is limited like sign-in: ten wrong pairs, then even two right
/// consecutive codes are refused until the lockout window has passed.
#[tokio::test]
async fn hotp_resynchronisation_cannot_be_guessed_at_will() {
    use haven_crypto::otp::{Algorithm, OtpKey, from_base32};
    let app = app().await;
    let (mut b, first_serial, _) = onboard(&app, "hugo").await;
    b.post("/security/tokens", &[("product", "event_hotp")]).await;
    let list = b.get("/security/tokens").await.body;
    let hotp = other_serial_in(&list, &first_serial);
    b.post(&format!("/security/tokens/{hotp}/pin"), &[("pin", "4917"), ("pin_confirm", "4917")]).await;
    let shown = b.post(&format!("/security/tokens/{hotp}/push"), &[("method", "screen")]).await;
    let at = shown.body.find("otpauth://hotp/").unwrap_or_else(|| panic!("{}", shown.body));
    let secret = secret_of(&shown.body[at..at + 300]);
    let key = OtpKey::new(&from_base32(&secret).unwrap(), Algorithm::Sha1, 6).unwrap();
    let ok = b.post(&format!("/security/tokens/{hotp}/activate"), &[("code", &key.code(0))]).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    for _ in 0..10 {
        let wrong =
            b.post(&format!("/security/tokens/{hotp}/resync"), &[("first", "000000"), ("second", "000001")]).await;
        assert_eq!(wrong.status, 422, "{}", wrong.body);
    }
    let right = b
        .post(&format!("/security/tokens/{hotp}/resync"), &[("first", &key.code(50)), ("second", &key.code(51))])
        .await;
    assert!(right.body.contains("Too many wrong tries"), "{}", right.body);
    assert_eq!(actions(&app).await.iter().filter(|a| *a == "token.resync_failed").count(), 10);
}
