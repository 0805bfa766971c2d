//! Identity use cases, called directly (no HTTP): sign-in, lockout, step-up, single-use codes,
//! limited sessions and the service desk. On SQLite with the fake clock; one behaviour per test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use haven_core::CoreError;
use haven_core::caller::{Caller, Level};
use haven_core::identity::records::AccountStatus;
use haven_core::identity::signin::Credentials;
use haven_core::identity::tokens::Product;
use haven_crypto::otp::{Algorithm, OtpKey, from_base32, totp_step};
use haven_testkit::app::TestApp;
use time::Duration;
use zeroize::Zeroizing;

const PASSWORD: &str = "cobalt lantern meadow quarrel";
const PIN: &str = "4917";

fn visitor() -> Caller {
    Caller::anonymous("192.0.2.10", "test")
}

fn now(app: &TestApp) -> i64 {
    haven_core::Clock::now(app.clock.as_ref()).unix_timestamp()
}

/// The TOTP code of `key` at the app's clock.
fn code(app: &TestApp, key: &OtpKey) -> String {
    key.code(totp_step(now(app), 30) as u64)
}

/// `id` added by the service desk and onboarded through its link (password, questions): the
/// caller of its enrolment session.
async fn enrolled(app: &TestApp, id: &str, admin: bool) -> Caller {
    let identity = &app.state.identity;
    let link = identity.add_account(&Caller::console(), id, &format!("{id}@example.org"), admin).await.unwrap();
    let token = link.split("token=").nth(1).unwrap();
    let q = identity.policy.security_questions.clone();
    let answers: Vec<(String, Zeroizing<String>)> =
        (0..3).map(|k| (q[k].clone(), Zeroizing::new(format!("answer number {k}")))).collect();
    let session = identity.onboard(&visitor(), token, PASSWORD, PASSWORD, &answers).await.unwrap();
    let enrol = identity.authenticate(&session.secret, "192.0.2.10", "test").await.unwrap().unwrap();
    assert_eq!(enrol.level, Level::Enrol);
    enrol
}

/// `id` onboarded with an active TOTP token whose PIN is [`PIN`]; its key.
async fn onboarded(app: &TestApp, id: &str, admin: bool) -> OtpKey {
    let identity = &app.state.identity;
    let enrol = enrolled(app, id, admin).await;
    let t = identity.create_token(&enrol, Product::MobileIdTotp).await.unwrap();
    identity.reset_pin(&enrol, &t.serial, PIN, PIN).await.unwrap();
    let shown = identity.deliver_on_screen(&enrol, &t.serial).await.unwrap();
    let secret = shown.uri.split("secret=").nth(1).unwrap().split('&').next().unwrap().to_string();
    let key = OtpKey::new(&from_base32(&secret).unwrap(), Algorithm::Sha1, 6).unwrap();
    identity.activate_token(&enrol, &t.serial, &code(app, &key)).await.unwrap();
    // The next sign-in uses the next time step (a code works once).
    app.clock.advance(Duration::seconds(30));
    key
}

fn creds(id: &str, password: &str, passcode: &str) -> Credentials {
    Credentials {
        user_id: id.into(),
        password: Zeroizing::new(password.into()),
        passcode: Zeroizing::new(passcode.into()),
    }
}

/// Sign `id` in fully; the caller of the new session, and the session's secret (the cookie).
async fn signed_in(app: &TestApp, id: &str, key: &OtpKey) -> (Caller, String) {
    let identity = &app.state.identity;
    let passcode = format!("{PIN}{}", code(app, key));
    let ok = identity.sign_in(&visitor(), creds(id, PASSWORD, &passcode), None).await.unwrap();
    let secret = ok.session.secret.to_string();
    (caller(app, &secret).await, secret)
}

/// The caller behind a session now (a request made with its cookie).
async fn caller(app: &TestApp, secret: &str) -> Caller {
    app.state.identity.authenticate(secret, "192.0.2.10", "test").await.unwrap().unwrap()
}

#[tokio::test]
async fn every_sign_in_refusal_looks_the_same() {
    let app = TestApp::builder().build().await;
    let key = onboarded(&app, "alice", false).await;
    let identity = &app.state.identity;
    let right = format!("{PIN}{}", code(&app, &key));
    for (id, password, passcode) in [
        ("alice", "not the password at all", right.as_str()),
        ("alice", PASSWORD, "4917000000"),
        ("nobody", PASSWORD, right.as_str()),
    ] {
        let refused = identity.sign_in(&visitor(), creds(id, password, passcode), None).await;
        assert!(
            matches!(refused, Err(CoreError::SignInFailed)),
            "{id} {password}: {refused:?}",
            refused = refused.err()
        );
    }
    let (who, _) = signed_in(&app, "alice", &key).await;
    assert_eq!((who.user_id.as_str(), who.level), ("alice", Level::Full));
}

#[tokio::test]
async fn failures_lock_the_account_until_the_window_passes() {
    let app = TestApp::builder().build().await;
    let key = onboarded(&app, "bob", false).await;
    let identity = &app.state.identity;
    for _ in 0..identity.policy.lockout_failures {
        let _ = identity.sign_in(&visitor(), creds("bob", "wrong wrong wrong", "000000"), None).await;
    }
    let passcode = format!("{PIN}{}", code(&app, &key));
    assert!(identity.sign_in(&visitor(), creds("bob", PASSWORD, &passcode), None).await.is_err(), "locked");
    app.clock.advance(Duration::minutes(i64::from(identity.policy.lockout_minutes) + 1));
    signed_in(&app, "bob", &key).await;
}

#[tokio::test]
async fn credential_changes_need_a_recent_step_up() {
    let app = TestApp::builder().build().await;
    let key = onboarded(&app, "carol", false).await;
    let identity = &app.state.identity;
    let (who, secret) = signed_in(&app, "carol", &key).await;
    assert!(identity.may_change_password(&who).is_ok(), "just signed in with both factors");
    app.clock.advance(Duration::minutes(i64::from(identity.policy.fresh_mfa_minutes) + 1));
    let who = caller(&app, &secret).await;
    assert!(matches!(identity.may_change_password(&who), Err(CoreError::StepUpRequired)));
    assert!(matches!(identity.regenerate_recovery_codes(&who).await, Err(CoreError::StepUpRequired)));
    let passcode = format!("{PIN}{}", code(&app, &key));
    identity.confirm_identity(&who, PASSWORD, &passcode).await.unwrap();
    let who = caller(&app, &secret).await;
    assert!(identity.may_change_password(&who).is_ok(), "confirmed again");
}

#[tokio::test]
async fn a_recovery_code_signs_in_once() {
    let app = TestApp::builder().build().await;
    let key = onboarded(&app, "dora", false).await;
    let identity = &app.state.identity;
    let (who, _) = signed_in(&app, "dora", &key).await;
    let codes = identity.regenerate_recovery_codes(&who).await.unwrap();
    assert_eq!(identity.recovery_codes_left(&who).await.unwrap(), codes.len() as i64);
    let first = codes[0].as_str();
    identity.sign_in(&visitor(), creds("dora", PASSWORD, first), None).await.unwrap();
    let again = identity.sign_in(&visitor(), creds("dora", PASSWORD, first), None).await;
    assert!(matches!(again, Err(CoreError::SignInFailed)), "used up");
    assert_eq!(identity.recovery_codes_left(&who).await.unwrap(), codes.len() as i64 - 1);
}

#[tokio::test]
async fn an_enrolment_session_does_only_its_own_task() {
    let app = TestApp::builder().build().await;
    let identity = &app.state.identity;
    let enrol = enrolled(&app, "erin", false).await;
    assert!(identity.my_tokens(&enrol).await.is_ok(), "its own tokens");
    assert!(matches!(identity.my_sessions(&enrol).await, Err(CoreError::Forbidden)));
    assert!(matches!(identity.regenerate_recovery_codes(&enrol).await, Err(CoreError::Forbidden)));
    assert!(matches!(identity.request_emergency_code(&enrol).await, Err(CoreError::Forbidden)));
    assert!(matches!(identity.may_change_password(&enrol), Err(CoreError::Forbidden)));
}

#[tokio::test]
async fn the_service_desk_is_for_administrators_with_a_recent_step_up() {
    let app = TestApp::builder().build().await;
    let identity = &app.state.identity;
    let researcher = onboarded(&app, "fred", false).await;
    let admin = onboarded(&app, "gina", true).await;
    let (fred, _) = signed_in(&app, "fred", &researcher).await;
    assert!(matches!(identity.find_accounts(&fred, "").await, Err(CoreError::Forbidden)));
    assert!(matches!(
        identity.set_account_status(&fred, "gina", AccountStatus::Locked).await,
        Err(CoreError::Forbidden)
    ));
    let (gina, secret) = signed_in(&app, "gina", &admin).await;
    assert_eq!(identity.find_accounts(&gina, "fred").await.unwrap().len(), 1);
    identity.set_account_status(&gina, "fred", AccountStatus::Locked).await.unwrap();
    app.clock.advance(Duration::minutes(i64::from(identity.policy.fresh_mfa_minutes) + 1));
    let gina = caller(&app, &secret).await;
    assert!(identity.find_accounts(&gina, "fred").await.is_ok(), "reading needs no step-up");
    assert!(matches!(
        identity.set_account_status(&gina, "fred", AccountStatus::Active).await,
        Err(CoreError::StepUpRequired)
    ));
    // The console holds the data directory: no step-up.
    identity.set_account_status(&Caller::console(), "fred", AccountStatus::Active).await.unwrap();
}
