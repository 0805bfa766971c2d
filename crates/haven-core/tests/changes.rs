//! What nodes keep in memory (token checks, package policies) follows changes, on both
//! databases, with separate stores over one database as separate nodes have: the node that
//! commits a change knows it before its commit returns, another node within seconds; a token's
//! use and an account's sign-in counters do not count as changes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::Arc;
use std::time::{Duration, Instant};

use haven_core::caller::Caller;
use haven_core::changes::Topic;
use haven_core::identity::records::AccountStatus;
use haven_core::packages::records::NewRule;
use haven_core::packages::tokens::Auth;
use haven_core::packages::{Packages, PackagesDeps};
use haven_core::tokens::{PersonalToken, TokenScope};
use haven_core::{Clock, CoreError, Store, transact};
use haven_crypto::SystemRng;
use haven_packages::policy::{Decision, Ecosystem, RuleKind};
use haven_testkit::app::TestApp;
use haven_testkit::callers::signed_in;
use haven_testkit::db::TestDb;

haven_testkit::contract!(
    counters_move_with_what_nodes_keep_and_nothing_else,
    a_change_made_on_one_node_is_honoured_by_another_within_seconds
);

/// How long another node may take to hear of a change (a notification, or the poll each second).
const WITHIN: Duration = Duration::from_secs(5);

async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < WITHIN, "not within {WITHIN:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn seen(store: &dyn Store, topic: Topic) -> Option<u64> {
    store.changes().seen(topic)
}

async fn known(store: &dyn Store) {
    until("the counters are read", async || Topic::ALL.iter().all(|t| seen(store, *t).is_some())).await;
}

async fn counters_move_with_what_nodes_keep_and_nothing_else(db: TestDb) {
    let a: Arc<dyn Store> = Arc::new(db.store.clone());
    let b: Arc<dyn Store> = Arc::new(db.another_node().await);
    known(a.as_ref()).await;
    known(b.as_ref()).await;

    // A rule added on a: a knows before its commit returns, b within seconds. (Each node
    // counts its own versions: they move together, not in step.)
    let before = seen(a.as_ref(), Topic::Packages).unwrap();
    let b_before = seen(b.as_ref(), Topic::Packages);
    let credentials = seen(a.as_ref(), Topic::Credentials).unwrap();
    transact(a.as_ref(), |tx| {
        Box::pin(async move {
            let rule = NewRule {
                ecosystem: Ecosystem::Pypi,
                kind: RuleKind::Allow,
                name: "numpy".into(),
                spec: String::new(),
                skip_cooldown: false,
                reason: "reviewed".into(),
                added_by: "console".into(),
                added_us: 0,
            };
            tx.put_package_rule(&rule).await.map_err(CoreError::from)
        })
    })
    .await
    .unwrap();
    let after = seen(a.as_ref(), Topic::Packages).unwrap();
    assert!(after > before, "a's own commit is known when it returns");
    assert_eq!(seen(a.as_ref(), Topic::Credentials), Some(credentials), "another topic did not move");
    until("b hears of the rule", async || seen(b.as_ref(), Topic::Packages) > b_before).await;

    // An account: made (nothing cached can name it yet), its sign-in counters written by hand
    // (not a change), then locked by hand: a change both nodes hear of.
    db.execute("INSERT INTO users (id, email, status, password_hash, created_us) VALUES ('dora', 'd@example.org', 'active', '', 0)")
        .await;
    db.execute("UPDATE users SET failed_signins = 3, locked_until_us = 99, last_signin_us = 5 WHERE id = 'dora'").await;
    let token = PersonalToken {
        hash: [7; 32],
        user_id: "dora".into(),
        label: "laptop".into(),
        scope: TokenScope::Repository,
        created_us: 0,
        last_used_us: 0,
        expires_us: i64::MAX,
    };
    let stored = token.clone();
    transact(a.as_ref(), move |tx| {
        Box::pin(async move { tx.insert_personal_token(&stored).await.map_err(CoreError::from) })
    })
    .await
    .unwrap();
    let made = seen(a.as_ref(), Topic::Credentials).unwrap();
    assert!(made > credentials, "a new token counts");
    // A token's use is written once an hour per token: not a change.
    transact(a.as_ref(), |tx| {
        Box::pin(async move { tx.touch_personal_token(&[7; 32], 42).await.map_err(CoreError::from) })
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await; // a poll has come and gone
    assert_eq!(seen(a.as_ref(), Topic::Credentials), Some(made), "a token's use and sign-in counters are not changes");
    let b_made = seen(b.as_ref(), Topic::Credentials);
    db.execute("UPDATE users SET status = 'locked' WHERE id = 'dora'").await;
    until("a hears of a lock made by hand", async || seen(a.as_ref(), Topic::Credentials) > Some(made)).await;
    until("b hears of it too", async || seen(b.as_ref(), Topic::Credentials) > b_made).await;
    let locked = seen(b.as_ref(), Topic::Credentials);
    // Revoking counts.
    transact(b.as_ref(), |tx| {
        Box::pin(async move { tx.delete_personal_token(&[7; 32]).await.map_err(CoreError::from) })
    })
    .await
    .unwrap();
    assert!(seen(b.as_ref(), Topic::Credentials) > locked);
    // Emptied by hand (PostgreSQL's TRUNCATE fires no row or statement trigger of the others).
    if db.url.starts_with("postgres") {
        let rules = seen(b.as_ref(), Topic::Packages);
        db.execute("TRUNCATE package_rules").await;
        until("b hears of a truncated table", async || seen(b.as_ref(), Topic::Packages) > rules).await;
    }
}

/// Node b's package repository over its own store, sharing a's blobs, clock and configuration.
async fn node_b(app: &TestApp) -> Packages {
    let a = &app.state.packages;
    Packages::new(PackagesDeps {
        store: Arc::new(app.db.another_node().await),
        blobs: app.blobs.clone(),
        clock: app.clock.clone(),
        rng: Arc::new(SystemRng::new()),
        upstream: a.upstream.clone(),
        config: a.config.clone(),
        public_url: a.public_url.clone(),
        fresh_mfa_minutes: 10,
    })
}

async fn a_change_made_on_one_node_is_honoured_by_another_within_seconds(db: TestDb) {
    let app = TestApp::builder().db(db).build().await;
    let a = &app.state.packages;
    let b = node_b(&app).await;
    known(app.store.as_ref()).await;
    known(b.store.as_ref()).await;
    let now = haven_core::to_micros(app.clock.now());
    let old = Some(now - 400 * 86_400 * 1_000_000);

    // A rule added on a is honoured by b, which had the policy without it in memory.
    let numpy = async || b.check(Ecosystem::Pypi, "numpy", "2.0.0", old, None).await.unwrap();
    assert!(matches!(numpy().await, Decision::Refused(_)));
    assert!(matches!(numpy().await, Decision::Refused(_)), "asked twice: the second from memory");
    a.add_rule(&Caller::console(), Ecosystem::Pypi, RuleKind::Allow, "numpy", None, false, "reviewed").await.unwrap();
    assert_eq!(a.check(Ecosystem::Pypi, "numpy", "2.0.0", old, None).await.unwrap(), Decision::Allowed);
    until("b allows numpy", async || numpy().await == Decision::Allowed).await;
    a.remove_rules(&Caller::console(), Ecosystem::Pypi, RuleKind::Allow, "numpy", None, "withdrawn").await.unwrap();
    until("b refuses numpy again", async || numpy().await != Decision::Allowed).await;

    // A token made on a works on b; revoked on a, b refuses it within seconds; a lock likewise.
    app.state.identity.add_account(&Caller::console(), "dora", "dora@example.org", false).await.unwrap();
    let dora = signed_in("dora", &[], now);
    let (secret, token) = a.create_repo_token(&dora, "dora", "laptop").await.unwrap();
    let (other, _) = a.create_repo_token(&dora, "dora", "desktop").await.unwrap();
    let ok = |auth: Auth| matches!(auth, Auth::Ok { .. });
    for _ in 0..2 {
        assert!(ok(b.authenticate("dora", &secret, "192.0.2.1").await.unwrap()));
        assert!(ok(b.authenticate("dora", &other, "192.0.2.1").await.unwrap()));
    }
    a.revoke_repo_token(&dora, &token.handle()).await.unwrap();
    assert_eq!(a.authenticate("dora", &secret, "192.0.2.1").await.unwrap(), Auth::Refused, "at once where revoked");
    until("b refuses the revoked token", async || {
        b.authenticate("dora", &secret, "192.0.2.1").await.unwrap() == Auth::Refused
    })
    .await;
    assert!(ok(b.authenticate("dora", &other, "192.0.2.1").await.unwrap()), "the other token still works");
    app.state.identity.set_account_status(&Caller::console(), "dora", AccountStatus::Disabled).await.unwrap();
    until("b refuses a disabled account's token", async || {
        b.authenticate("dora", &other, "192.0.2.1").await.unwrap() == Auth::Refused
    })
    .await;
}
