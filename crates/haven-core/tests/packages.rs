//! Package-repository use cases, called directly (no HTTP): who may change the policy, see
//! requests and manage repository tokens. On SQLite with the fake clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use futures::StreamExt;
use haven_core::CoreError;
use haven_core::accounts::Role;
use haven_core::caller::{Caller, Level};
use haven_core::packages::PackageError;
use haven_packages::policy::{Ecosystem, RuleKind};
use haven_testkit::app::TestApp;
use haven_testkit::callers::signed_in;
use time::Duration;

fn now_us(app: &TestApp) -> i64 {
    haven_core::to_micros(haven_core::Clock::now(app.clock.as_ref()))
}

fn forbidden<T: std::fmt::Debug>(r: Result<T, PackageError>) -> bool {
    matches!(r, Err(PackageError::Core(CoreError::Forbidden)))
}

#[tokio::test]
async fn only_reviewers_and_the_console_change_the_policy() {
    let app = TestApp::builder().build().await;
    let p = &app.state.packages;
    let now = now_us(&app);
    let rita = signed_in("rita", &[Role::Researcher], now);
    assert!(forbidden(p.add_rule(&rita, Ecosystem::Pypi, RuleKind::Allow, "numpy", None, false, "mine").await));
    assert!(forbidden(p.rules(&rita, Ecosystem::Pypi).await));
    let rev = signed_in("rev", &[Role::PackageReviewer], now);
    p.add_rule(&rev, Ecosystem::Pypi, RuleKind::Allow, "numpy", None, false, "reviewed").await.unwrap();
    p.add_rule(&Caller::console(), Ecosystem::Cran, RuleKind::Deny, "badpkg", None, false, "known bad").await.unwrap();
    assert_eq!(p.rules(&rev, Ecosystem::Pypi).await.unwrap().len(), 1);
    let events: Vec<_> = app.store.audit_events(0, 0).map(|e| e.unwrap()).collect().await;
    let added: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e.action == "package.rule_added")
        .map(|e| (e.actor.as_str(), e.target.as_str()))
        .collect();
    assert_eq!(added, [("rev", "pypi:numpy"), ("console", "cran:badpkg")]);
}

#[tokio::test]
async fn a_requester_sees_their_own_requests_only() {
    let app = TestApp::builder().build().await;
    let p = &app.state.packages;
    let now = now_us(&app);
    let rita = signed_in("rita", &[Role::Researcher], now);
    assert!(p.requests(&rita, Some("rita"), false).await.unwrap().is_empty());
    assert!(forbidden(p.requests(&rita, Some("bob"), false).await), "another user's");
    assert!(forbidden(p.requests(&rita, None, true).await), "the reviewers' queue");
    let rev = signed_in("rev", &[Role::PackageReviewer], now);
    assert!(p.requests(&rev, None, true).await.unwrap().is_empty());
    assert!(p.requests(&rev, Some("rita"), false).await.is_ok());
}

#[tokio::test]
async fn repository_tokens_need_a_recent_step_up() {
    let app = TestApp::builder().build().await;
    let p = &app.state.packages;
    let fresh = signed_in("tess", &[Role::Researcher], now_us(&app));
    assert!(p.repo_tokens(&fresh).await.unwrap().is_empty());
    app.clock.advance(Duration::minutes(11));
    let stale = signed_in("tess", &[Role::Researcher], now_us(&app) - 11 * 60 * 1_000_000);
    assert!(matches!(p.repo_tokens(&stale).await, Err(PackageError::Core(CoreError::StepUpRequired))));
    // Nobody makes tokens for someone else, except the console.
    let other = signed_in("mallory", &[Role::Admin], now_us(&app));
    assert!(forbidden(p.create_repo_token(&other, "tess", "laptop").await));
}

#[tokio::test]
async fn reading_the_repository_needs_an_account_unless_anonymous_reading_is_on() {
    let app = TestApp::builder().build().await;
    let p = &app.state.packages;
    assert!(forbidden(p.pypi_index(&Caller::anonymous("192.0.2.30", "pip")).await));
    assert!(p.pypi_index(&Caller::repository("rita", vec![Role::Researcher], "192.0.2.30")).await.is_ok());
    let mut ice = signed_in("ivy", &[Role::Researcher], now_us(&app));
    ice.level = Level::Ice;
    assert!(forbidden(p.pypi_index(&ice).await), "an ICE session reads nothing");
}
