//! Leases for background work, on both databases, with separate stores (as separate nodes
//! have) over one database: one holder at a time, renewal, takeover once a holder's time ran
//! out (audited), release, and many nodes asking at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use haven_core::audit::{AuditEvent, action};
use haven_core::cluster::{BACKGROUND, Lease, Taken};
use haven_core::{Clock, Store};
use haven_crypto::SystemRng;
use haven_testkit::FakeClock;
use haven_testkit::db::TestDb;

haven_testkit::contract!(
    one_node_holds_a_lease_until_its_time_runs_out,
    a_released_lease_is_taken_at_once_and_not_reported,
    of_many_nodes_asking_at_once_one_gets_the_lease,
    the_sessions_of_a_node_that_is_gone_are_ended_and_no_others
);

const TIME: Duration = Duration::from_secs(30);
const SECOND: time::Duration = time::Duration::SECOND;

async fn node(db: &TestDb) -> Arc<dyn Store> {
    Arc::new(db.another_node().await)
}

fn lease(store: &Arc<dyn Store>, clock: &Arc<FakeClock>, name: &str) -> Lease {
    Lease::new(BACKGROUND, name, TIME, store.clone(), clock.clone(), &SystemRng::new()).unwrap()
}

async fn takeovers(store: &dyn Store) -> Vec<AuditEvent> {
    let all: Vec<AuditEvent> = store.audit_events(0, 0).try_collect().await.unwrap();
    all.into_iter().filter(|e| e.action == action::LEASE_TAKEN_OVER).collect()
}

async fn one_node_holds_a_lease_until_its_time_runs_out(db: TestDb) {
    let clock = Arc::new(FakeClock::new());
    let (a_store, b_store) = (node(&db).await, node(&db).await);
    let (a, b) = (lease(&a_store, &clock, "a"), lease(&b_store, &clock, "a"));
    assert_ne!(a.holder(), b.holder(), "two processes with one node name are two holders");
    assert!(!a.held());

    assert_eq!(a.take().await.unwrap(), Taken::Held);
    assert!(a.held());
    match b.take().await.unwrap() {
        Taken::Elsewhere { holder, until_us } => {
            assert_eq!(holder, a.holder());
            assert_eq!(until_us, haven_core::to_micros(clock.now()) + 30_000_000);
        }
        other => panic!("b got {other:?}"),
    }
    assert!(!b.held());

    // Renewed before its time is up, it stays a's.
    clock.advance(20 * SECOND);
    assert_eq!(a.take().await.unwrap(), Taken::Held);
    clock.advance(20 * SECOND);
    assert!(matches!(b.take().await.unwrap(), Taken::Elsewhere { .. }));
    assert!(takeovers(&db.store).await.is_empty());

    // a stops renewing (it died): once its time ran out, b takes over, and that is audited.
    clock.advance(11 * SECOND);
    assert_eq!(b.take().await.unwrap(), Taken::Held);
    assert!(b.held());
    assert!(matches!(a.take().await.unwrap(), Taken::Elsewhere { .. }));
    assert!(!a.held(), "a node that finds another holder stops at once");
    let events = takeovers(&db.store).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].target, BACKGROUND);
    let details: serde_json::Value = serde_json::from_str(&events[0].details).unwrap();
    assert_eq!(details["from"], a.holder());
    assert_eq!(details["holder"], b.holder());
}

async fn a_released_lease_is_taken_at_once_and_not_reported(db: TestDb) {
    let clock = Arc::new(FakeClock::new());
    let (a_store, b_store) = (node(&db).await, node(&db).await);
    let (a, b) = (lease(&a_store, &clock, "a"), lease(&b_store, &clock, "b"));
    assert_eq!(a.take().await.unwrap(), Taken::Held);
    assert!(!b.release().await.unwrap(), "b cannot release what a holds");
    assert!(a.release().await.unwrap());
    assert!(!a.held());
    assert_eq!(b.take().await.unwrap(), Taken::Held);
    assert!(takeovers(&db.store).await.is_empty(), "a clean hand-over is not a takeover");
}

async fn of_many_nodes_asking_at_once_one_gets_the_lease(db: TestDb) {
    let clock = Arc::new(FakeClock::new());
    let mut leases = Vec::new();
    for i in 0..8 {
        leases.push(Arc::new(lease(&node(&db).await, &clock, &format!("n{i}"))));
    }
    for round in 0..3 {
        let asks = leases.iter().map(|l| {
            let l = l.clone();
            tokio::spawn(async move { l.take().await.unwrap() })
        });
        let got = futures::future::join_all(asks).await;
        let held = got.iter().filter(|t| matches!(t.as_ref().unwrap(), Taken::Held)).count();
        assert_eq!(held, 1, "round {round}: {got:?}");
        assert_eq!(leases.iter().filter(|l| l.held()).count(), 1);
        // Everyone's time runs out: the next round is a free-for-all again.
        clock.advance(31 * SECOND);
    }
}

/// Nodes started together on a new PostgreSQL database: one migrates, the others wait for it
/// and find the schema made (without the lock, they fail on tables the first created).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_at_once_migrate_once() {
    let Some(url) = haven_testkit::db::empty_postgres().await else {
        assert!(!haven_testkit::strict(), "HAVEN_TEST_POSTGRES_URL is required under CI=true");
        return;
    };
    let starts = (0..4).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { haven_testkit::db::connect(&url).await.map(|_| ()) })
    });
    for started in futures::future::join_all(starts).await {
        started.unwrap().unwrap();
    }
}

/// A node that died and did not come back leaves sessions recorded running: the background
/// lease's holder ends those of nodes without a live claim on their name, and only those.
async fn the_sessions_of_a_node_that_is_gone_are_ended_and_no_others(db: TestDb) {
    use haven_core::workspaces::catalogue::AppKind;
    use haven_core::workspaces::sessions::{SessionRecord, SessionState};
    let app = haven_testkit::app::TestApp::builder().db(db).build().await;
    let store = app.store.clone();
    let alive = lease_named(&store, &app.clock, "node:b");
    assert_eq!(alive.take().await.unwrap(), Taken::Held);
    let gone = lease_named(&store, &app.clock, "node:c");
    assert_eq!(gone.take().await.unwrap(), Taken::Held);
    app.clock.advance(20 * SECOND);
    assert_eq!(alive.take().await.unwrap(), Taken::Held, "b renews; c stopped renewing");
    app.clock.advance(15 * SECOND);
    let now_us = haven_core::to_micros(app.clock.now());
    let live = haven_core::cluster::live_nodes(store.as_ref(), now_us, 0).await.unwrap();
    assert_eq!(live, ["b"]);

    let record = |id: &str, backend: &str| SessionRecord {
        id: id.into(),
        owner: "rita".into(),
        asset: "heart".into(),
        app_name: "terminal".into(),
        app_version: "1".into(),
        kind: AppKind::Terminal,
        backend: backend.into(),
        uid: 200_001,
        gid: 200_001,
        state: SessionState::Running,
        started_us: now_us,
        ended_us: 0,
        end_reason: String::new(),
        token_hash: None,
    };
    let records = [record("s-own", "local"), record("s-b", "local@b"), record("s-c", "local@c")];
    haven_core::transact(store.as_ref(), move |tx| {
        Box::pin(async move {
            for r in &records {
                tx.insert_app_session(r).await?;
            }
            Ok::<_, haven_core::CoreError>(())
        })
    })
    .await
    .unwrap();
    assert_eq!(app.state.sessions.end_departed(&live).await.unwrap(), 1);
    let running: Vec<String> = haven_core::read(store.as_ref(), |tx| {
        Box::pin(async move { Ok::<_, haven_core::CoreError>(tx.running_app_sessions().await?) })
    })
    .await
    .unwrap()
    .into_iter()
    .map(|s| s.id)
    .collect();
    assert_eq!(running, ["s-b", "s-own"], "this node's and the live node's sessions run on");
}

fn lease_named(store: &Arc<dyn Store>, clock: &Arc<FakeClock>, name: &str) -> Lease {
    Lease::new(name, "n", TIME, store.clone(), clock.clone(), &SystemRng::new()).unwrap()
}

/// The trail verified in parts side by side gives what the whole verifier gives, intact and
/// tampered with (an edit, a deletion, a rewritten link at a part's edge), for any number of
/// parts, on both databases (PostgreSQL's trail is read by binary COPY).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trail_verified_in_parts_says_what_the_whole_verifier_says() {
    trail_in_parts(
        haven_testkit::db::sqlite().await,
        "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete",
    )
    .await;
    match haven_testkit::db::postgres().await {
        Some(db) => trail_in_parts(db, "DROP TRIGGER audit_events_no_change ON audit_events").await,
        None => assert!(!haven_testkit::strict(), "HAVEN_TEST_POSTGRES_URL is required under CI=true"),
    }
}

async fn trail_in_parts(db: haven_testkit::db::TestDb, unguard: &str) {
    use haven_core::audit::{NewAuditEvent, verify_trail, verify_trail_parts};
    let store: Arc<dyn Store> = Arc::new(db.another_node().await);
    for chunk in 0..10 {
        haven_core::transact(store.as_ref(), move |tx| {
            Box::pin(async move {
                for i in 0..100 {
                    let e = NewAuditEvent::new(time::OffsetDateTime::UNIX_EPOCH, "alice", "test.event")
                        .target(&format!("t{chunk}-{i}"));
                    tx.append_audit(e).await?;
                }
                Ok::<_, haven_core::StoreError>(())
            })
        })
        .await
        .unwrap();
    }
    let spawn =
        |f| -> futures::future::BoxFuture<'static, _> { Box::pin(async move { tokio::spawn(f).await.unwrap() }) };
    let compare = |label: &'static str| {
        let store = store.clone();
        async move {
            let whole = verify_trail(store.as_ref(), [0u8; 32], &mut |_| {}).await.unwrap();
            for parts in [1, 2, 3, 7, 2000] {
                let seen = Arc::new(std::sync::atomic::AtomicU64::new(0));
                let split = verify_trail_parts(store.clone(), [0u8; 32], parts, seen, &spawn).await.unwrap();
                assert_eq!(split.problem, whole.problem, "{label}, {parts} parts");
                assert_eq!(split.events, whole.events, "{label}, {parts} parts");
            }
            whole
        }
    };
    assert_eq!(compare("intact").await.events, 1000);
    db.execute(unguard).await;
    // 501 starts the second of two parts: its link rewritten to match itself.
    db.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 700").await;
    assert!(compare("edited").await.problem.is_some());
    db.execute("UPDATE audit_events SET actor = 'alice' WHERE seq = 700").await;
    db.execute("DELETE FROM audit_events WHERE seq = 501").await;
    assert!(compare("deleted at a part's start").await.problem.is_some());
    db.execute("DELETE FROM audit_events WHERE seq = 334").await;
    assert!(compare("deleted twice").await.problem.is_some());
}
