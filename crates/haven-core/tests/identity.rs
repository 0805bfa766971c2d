//! Identity use cases, called directly (no HTTP): sign-in, lockout, step-up, single-use codes,
//! limited sessions, the ICE logon, emergency codes and the service desk. On SQLite with the fake clock; one behaviour per test.
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

/// The right answers to the questions `enrolled` chose, in order.
fn answers() -> Vec<Zeroizing<String>> {
    (0..3).map(|k| Zeroizing::new(format!("answer number {k}"))).collect()
}

/// An ICE logon through both steps: the caller of the ICE session.
async fn ice_session(app: &TestApp, id: &str) -> Result<Caller, CoreError> {
    Ok(ice_logon(app, id).await?.0)
}

/// An ICE logon through both steps: the caller of the ICE session and its secret.
async fn ice_logon(app: &TestApp, id: &str) -> Result<(Caller, String), CoreError> {
    let identity = &app.state.identity;
    let flow = identity.ice_password(&visitor(), id, PASSWORD).await?;
    assert_eq!(identity.ice_questions(&flow).await?.len(), 3);
    let session = identity.ice_answers(&visitor(), &flow, &answers()).await?;
    Ok((caller(app, &session.secret).await, session.secret.to_string()))
}

#[tokio::test]
async fn an_ice_logon_takes_the_password_and_the_answers_and_gives_a_limited_session() {
    let app = TestApp::builder().build().await;
    onboarded(&app, "hana", false).await;
    let identity = &app.state.identity;
    let refused = identity.ice_password(&visitor(), "hana", "not the password").await;
    assert!(matches!(refused, Err(CoreError::Invalid { field: "ice", .. })), "{:?}", refused.err());
    let flow = identity.ice_password(&visitor(), "hana", PASSWORD).await.unwrap();
    let mut wrong = answers();
    wrong[2] = Zeroizing::new("Answer Number 2".into());
    assert!(identity.ice_answers(&visitor(), &flow, &wrong).await.is_err(), "answers are case-sensitive");
    let ice = ice_session(&app, "hana").await.unwrap();
    assert_eq!(ice.level, Level::Ice);
    // An ICE session makes a soft token or an emergency code, and nothing else.
    assert!(identity.create_token(&ice, Product::MobileIdTotp).await.is_ok());
    assert!(matches!(identity.my_sessions(&ice).await, Err(CoreError::Forbidden)));
    assert!(matches!(identity.regenerate_recovery_codes(&ice).await, Err(CoreError::Forbidden)));
    // The flow secret worked once.
    assert!(identity.ice_answers(&visitor(), &flow, &answers()).await.is_err(), "flow used up");
}

#[tokio::test]
async fn ice_attempts_are_limited_per_account_and_hour() {
    let app = TestApp::builder().build().await;
    onboarded(&app, "ivan", false).await;
    let identity = &app.state.identity;
    for _ in 0..identity.policy.ice_attempts_per_hour {
        let _ = identity.ice_password(&visitor(), "ivan", "wrong").await;
    }
    let limited = identity.ice_password(&visitor(), "ivan", PASSWORD).await;
    assert!(matches!(limited, Err(CoreError::TooManyAttempts(_))), "{:?}", limited.err());
    app.clock.advance(Duration::minutes(61));
    ice_session(&app, "ivan").await.unwrap();
}

#[tokio::test]
async fn the_service_desk_switches_ice_off_for_one_account_or_for_everyone() {
    let app = TestApp::builder().build().await;
    onboarded(&app, "jane", false).await;
    onboarded(&app, "kurt", false).await;
    let identity = &app.state.identity;
    let (_, secret) = ice_logon(&app, "jane").await.unwrap();
    identity.set_account_ice(&Caller::console(), "jane", false).await.unwrap();
    // Her ICE session ended, and a new logon is refused; Kurt's is not affected.
    assert!(identity.authenticate(&secret, "192.0.2.10", "test").await.unwrap().is_none());
    assert!(matches!(ice_session(&app, "jane").await, Err(CoreError::Unavailable(_))));
    ice_session(&app, "kurt").await.unwrap();
    identity.set_global_ice(&Caller::console(), false).await.unwrap();
    assert!(matches!(ice_session(&app, "kurt").await, Err(CoreError::Unavailable(_))));
    assert!(!identity.ice_globally_enabled().await.unwrap());
}

#[tokio::test]
async fn an_emergency_code_signs_in_once_and_expires() {
    let app = TestApp::builder().build().await;
    onboarded(&app, "lena", false).await;
    let identity = &app.state.identity;
    let ice = ice_session(&app, "lena").await.unwrap();
    let (code, expires_us) = identity.request_emergency_code(&ice).await.unwrap();
    assert_eq!(code.len(), 8);
    assert_eq!(identity.emergency_code_expiry(&ice).await.unwrap(), Some(expires_us));
    // A second request replaces the first: one code per user.
    let (code, _) = identity.request_emergency_code(&ice).await.unwrap();
    let ok = identity.sign_in(&visitor(), creds("lena", PASSWORD, &code), None).await.unwrap();
    assert_eq!(ok.factor, "emergency_code");
    let again = identity.sign_in(&visitor(), creds("lena", PASSWORD, &code), None).await;
    assert!(matches!(again, Err(CoreError::SignInFailed)), "used up");
    // A code not used within its hours expires.
    let ice = ice_session(&app, "lena").await.unwrap();
    let (late, _) = identity.request_emergency_code(&ice).await.unwrap();
    app.clock.advance(Duration::hours(i64::from(identity.policy.emergency_code_hours)) + Duration::minutes(1));
    let expired = identity.sign_in(&visitor(), creds("lena", PASSWORD, &late), None).await;
    assert!(matches!(expired, Err(CoreError::SignInFailed)), "expired");
}

/// A long-lived connection (a terminal's WebSocket) asks whether its sign-in still stands: not
/// after signing out, nor once idle, where the person's keystrokes count as use but a screen
/// printing on its own does not.
#[tokio::test]
async fn a_long_lived_connection_is_held_to_the_sign_in() {
    let app = TestApp::builder().build().await;
    let key = onboarded(&app, "tess", false).await;
    let (who, _) = signed_in(&app, "tess", &key).await;
    let identity = &app.state.identity;
    assert!(identity.still_signed_in(&who, 0).await.unwrap());
    app.clock.advance(Duration::minutes(31));
    let typed_a_minute_ago = 60 * 1_000_000;
    assert!(identity.still_signed_in(&who, typed_a_minute_ago).await.unwrap(), "typing is use");
    let quiet = 31 * 60 * 1_000_000;
    assert!(!identity.still_signed_in(&who, quiet).await.unwrap(), "31 minutes with no request and no key");
    identity.sign_out(&who).await.unwrap();
    assert!(!identity.still_signed_in(&who, 0).await.unwrap(), "signed out");
}
