//! Store contract: the same tests on SQLite and on PostgreSQL (when HAVEN_TEST_POSTGRES_URL is set;
//! under CI=true it must be).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use haven_core::accounts::{self, BootstrapAdmin};
use haven_core::audit::Checkpoint;
use haven_core::audit::{ChainVerifier, NewAuditEvent, sign_checkpoint};
use haven_core::blobs::{BlobError, BlobStore, Put};
use haven_core::keyring::KeyRing;
use haven_core::{Clock, CoreError, Store, StoreError, read, transact, updates};
use haven_crypto::SystemRng;
use haven_crypto::keys::Key256;
use haven_crypto::signing::SigningKey;
use haven_store::SqlStore;
use haven_store::blobs::{BlobLocation, SealedBlobStore};
use haven_testkit::FakeClock;
use haven_testkit::contract;
use haven_testkit::db::TestDb;
use sqlx::{Connection, Executor};

contract!(
    audit_events_chain_and_verify,
    the_trail_streams_in_batches_and_readers_may_stop_early,
    the_trail_reads_in_sequence_order_however_the_table_holds_it,
    failed_unit_rolls_back_change_and_event,
    concurrent_units_are_group_committed_in_order,
    failing_units_in_a_group_roll_back_alone,
    cancelled_reads_and_writes_leave_every_connection_usable,
    audit_rows_are_append_only,
    checkpoints_round_trip,
    bootstrap_link_is_single_use_and_expires,
    service_updates_newest_first,
    newer_schema_is_refused_untouched,
    blobs_round_trip_sealed_and_detect_tampering,
);

async fn event(store: &SqlStore, clock: &FakeClock, action: &'static str) -> Result<i64, StoreError> {
    let at = clock.now();
    transact(store, move |tx| {
        Box::pin(
            async move { Ok::<_, StoreError>(tx.append_audit(NewAuditEvent::new(at, "tester", action)).await?.seq) },
        )
    })
    .await
}

async fn checkpoints(store: &SqlStore) -> Vec<Checkpoint> {
    read(store, |tx| Box::pin(async move { tx.audit_checkpoints().await })).await.unwrap()
}

async fn project_key(store: &SqlStore, project: &'static str) -> Option<(i64, Vec<u8>)> {
    read(store, move |tx| Box::pin(async move { tx.project_key(project).await })).await.unwrap()
}

async fn verify(store: &SqlStore, public: [u8; 32]) -> haven_core::audit::Verification {
    let checkpoints = checkpoints(store).await;
    let mut v = ChainVerifier::new(public, checkpoints);
    let mut events = store.audit_events(1, i64::MIN);
    while let Some(e) = events.next().await {
        if !v.push(&e.unwrap()) {
            break;
        }
    }
    v.finish()
}

fn signing_key() -> SigningKey {
    SigningKey::from_seed(SigningKey::generate_seed(&SystemRng::new()).unwrap().as_ref()).unwrap()
}

async fn audit_events_chain_and_verify(db: TestDb) {
    let clock = FakeClock::new();
    for i in 1..=5 {
        assert_eq!(event(&db.store, &clock, "test.one").await.unwrap(), i);
    }
    let key = signing_key();
    let r = verify(&db.store, key.public_key()).await;
    assert_eq!(r.problem, None);
    assert_eq!(r.events, 5);
    let all: Vec<_> = db.store.audit_events(3, i64::MIN).try_collect().await.unwrap();
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 4, 5]);
}

/// Several batches' worth, a `since` bound, and readers that go away mid-stream (a verifier that
/// found a problem): the connections they held are not left mid-read for the next reader.
async fn the_trail_streams_in_batches_and_readers_may_stop_early(db: TestDb) {
    let store = Arc::new(db.store.clone());
    let clock = Arc::new(FakeClock::new());
    let start_us = haven_core::to_micros(clock.now());
    for round in 0..5 {
        let tasks: Vec<_> = (0..500)
            .map(|_| {
                let (s, c) = (store.clone(), clock.clone());
                tokio::spawn(async move { event(&s, &c, "many").await.unwrap() })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        if round == 1 {
            clock.advance(time::Duration::seconds(60));
        }
    }
    let later_us = start_us + 60_000_000;
    let sizes: Vec<usize> = store.audit_batches(1, i64::MAX).map_ok(|b| b.len()).try_collect().await.unwrap();
    assert_eq!(sizes.iter().sum::<usize>(), 2500);
    let part: Vec<i64> = store
        .audit_batches(100, 2200)
        .map_ok(|b| b.iter().map(|v| v.fields.seq).collect::<Vec<_>>())
        .try_concat()
        .await
        .unwrap();
    assert_eq!(part, (100..=2200).collect::<Vec<_>>());
    let seqs: Vec<i64> = store.audit_events(1, i64::MIN).map_ok(|e| e.seq).try_collect().await.unwrap();
    assert_eq!(seqs, (1..=2500).collect::<Vec<_>>());
    let since: Vec<_> = store.audit_events(1, later_us).try_collect().await.unwrap();
    assert_eq!(since.len(), 1500);
    assert!(since.iter().all(|e| e.at_us >= later_us) && since[0].seq == 1001);
    let from: Vec<i64> = store.audit_events(2400, later_us).map_ok(|e| e.seq).try_collect().await.unwrap();
    assert_eq!(from, (2400..=2500).collect::<Vec<_>>());
    for _ in 0..3 {
        let readers: Vec<_> = (0..8)
            .map(|i| {
                let s = store.clone();
                tokio::spawn(async move {
                    let first: Vec<_> = s.audit_events(1 + i, i64::MIN).take(3).try_collect().await.unwrap();
                    first[0].seq
                })
            })
            .collect();
        for (i, r) in readers.into_iter().enumerate() {
            assert_eq!(r.await.unwrap(), 1 + i as i64);
        }
    }
    let r = verify(&db.store, signing_key().public_key()).await;
    assert_eq!((r.problem, r.events), (None, 2500));
    assert_eq!(event(&db.store, &clock, "after the readers").await.unwrap(), 2501);
}

/// Rows stored out of sequence order (a few, then many), and a gap: every read gives them in
/// order, with the gap where it is (PostgreSQL reads the table as stored and puts rows back in
/// order, reading the rest again in order when that is too far off).
async fn the_trail_reads_in_sequence_order_however_the_table_holds_it(db: TestDb) {
    let insert = |from: i64, to: i64| {
        let sql = "WITH RECURSIVE n(i) AS (SELECT $1 UNION ALL SELECT i + 1 FROM n WHERE i < $2) \
                   INSERT INTO audit_events (seq, at_us, actor, action, target, project, source, details, prev_hash, hash) \
                   SELECT i, i, 'a', 'b', '', '', '', '{}', $3, $3 FROM n";
        sqlx::query(sql).bind(from).bind(to).bind(vec![7u8; 32]).execute(db.store.pool())
    };
    let seqs = |from: i64| db.store.audit_events(from, i64::MIN).map_ok(|e| e.seq).try_collect::<Vec<_>>();
    for (from, to) in [(2, 2), (1, 1), (4, 5), (3, 3), (7, 7)] {
        insert(from, to).await.unwrap();
    }
    assert_eq!(seqs(1).await.unwrap(), vec![1, 2, 3, 4, 5, 7]);
    assert_eq!(seqs(4).await.unwrap(), vec![4, 5, 7]);
    // Far more rows ahead of their turn than are kept waiting, then the rows before them.
    insert(30_001, 60_000).await.unwrap();
    insert(8, 30_000).await.unwrap();
    let all = seqs(1).await.unwrap();
    let expected: Vec<i64> = [1, 2, 3, 4, 5].into_iter().chain(7..=60_000).collect();
    assert_eq!(all, expected);
    let sizes: Vec<usize> = db.store.audit_batches(6, i64::MAX).map_ok(|b| b.len()).try_collect().await.unwrap();
    assert_eq!(sizes.iter().sum::<usize>(), 60_000 - 6);
    let part: Vec<i64> = db
        .store
        .audit_batches(1, 40_000)
        .map_ok(|b| b.iter().map(|v| v.fields.seq).collect::<Vec<_>>())
        .try_concat()
        .await
        .unwrap();
    assert_eq!(part, expected[..expected.len() - 20_000]);
}

async fn failed_unit_rolls_back_change_and_event(db: TestDb) {
    let clock = FakeClock::new();
    event(&db.store, &clock, "before").await.unwrap();
    let at = clock.now();
    let failed: Result<(), CoreError> = transact(&db.store, move |tx| {
        Box::pin(async move {
            tx.insert_project_key("p1", 1, &[1, 2, 3], 0).await?;
            tx.append_audit(NewAuditEvent::new(at, "tester", "doomed")).await?;
            Err(CoreError::Conflict("no".into()))
        })
    })
    .await;
    assert!(matches!(failed, Err(CoreError::Conflict(_))));
    assert_eq!(project_key(&db.store, "p1").await, None);
    assert_eq!(event(&db.store, &clock, "after").await.unwrap(), 2);
    let r = verify(&db.store, signing_key().public_key()).await;
    assert_eq!((r.problem, r.events), (None, 2));
}

async fn concurrent_units_are_group_committed_in_order(db: TestDb) {
    let store = Arc::new(db.store.clone());
    let clock = Arc::new(FakeClock::new());
    let tasks: Vec<_> = (0..300)
        .map(|_| {
            let (s, c) = (store.clone(), clock.clone());
            tokio::spawn(async move { event(&s, &c, "concurrent").await.unwrap() })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    seqs.sort();
    assert_eq!(seqs, (1..=300).collect::<Vec<_>>());
    let r = verify(&store, signing_key().public_key()).await;
    assert_eq!((r.problem, r.events), (None, 300));
}

async fn failing_units_in_a_group_roll_back_alone(db: TestDb) {
    let store = Arc::new(db.store.clone());
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move {
                transact(s.as_ref(), move |tx| {
                    Box::pin(async move {
                        tx.append_audit(NewAuditEvent::new(time::OffsetDateTime::UNIX_EPOCH, "t", "maybe")).await?;
                        // A unit that fails in SQL (duplicate key) and one that fails by choice.
                        if i % 10 == 3 {
                            tx.insert_project_key("dup", 1, &[0], 0).await?;
                            tx.insert_project_key("dup", 1, &[0], 0).await?;
                        }
                        if i % 10 == 7 {
                            return Err(StoreError::Corrupt("refused".into()));
                        }
                        Ok(())
                    })
                })
                .await
                .is_ok()
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.unwrap());
    }
    assert_eq!(ok, 80);
    let r = verify(&store, signing_key().public_key()).await;
    assert_eq!((r.problem, r.events), (None, 80));
    assert_eq!(project_key(&store, "dup").await, None);
}

/// A request future can be dropped at any await (the client went away). Cancel reads and writes
/// at pseudo-random points, many at once, then check that every later read and write succeeds:
/// no pooled connection may come back inside a transaction (the read path used to leave one in
/// `BEGIN`, and every later request that drew it failed).
/// Polls `work` at most `polls` times, then drops it where it stands.
struct CancelAfter<F> {
    polls: u64,
    work: std::pin::Pin<Box<F>>,
}

impl<F: std::future::Future> std::future::Future for CancelAfter<F> {
    type Output = Option<F::Output>;
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        if self.polls == 0 {
            return std::task::Poll::Ready(None);
        }
        self.polls -= 1;
        match self.work.as_mut().poll(cx) {
            std::task::Poll::Ready(out) => std::task::Poll::Ready(Some(out)),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

async fn cancelled_reads_and_writes_leave_every_connection_usable(db: TestDb) {
    use std::time::Duration;
    let store = Arc::new(db.store.clone());
    // A small deterministic generator: the same points are tried on every run.
    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        *state >> 33
    }
    let tasks: Vec<_> = (0..48u64)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move {
                let mut state = i + 1;
                for round in 0..25u64 {
                    let pause = Duration::from_micros(500 + next(&mut state) % 1500);
                    let polls = 1 + next(&mut state) % 8;
                    let work = async {
                        if round % 3 == 0 {
                            transact(s.as_ref(), move |tx| {
                                Box::pin(async move {
                                    tx.insert_project_key(&format!("p{i}-{round}"), 1, &[1], 0).await?;
                                    tokio::time::sleep(pause).await;
                                    tx.append_audit(NewAuditEvent::new(time::OffsetDateTime::UNIX_EPOCH, "t", "w"))
                                        .await?;
                                    Ok::<_, StoreError>(())
                                })
                            })
                            .await
                        } else {
                            haven_core::read(s.as_ref(), move |tx| {
                                Box::pin(async move {
                                    tx.count_admins().await?;
                                    tokio::time::sleep(pause).await;
                                    tx.last_checkpoint_seq().await?;
                                    tokio::task::yield_now().await;
                                    tx.project_key("p0-0").await?;
                                    Ok::<_, StoreError>(())
                                })
                            })
                            .await
                        }
                    };
                    // Dropped wherever it is after a few polls, as a request is when its client goes.
                    let _ = CancelAfter { polls, work: Box::pin(work) }.await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    // On PostgreSQL the server can tell: no connection of this database sits idle in a transaction.
    if store.dialect() == haven_store::Dialect::Postgres {
        // A dropped transaction's ROLLBACK is sent when its connection goes back to the pool, on
        // a task of its own: give those tasks a moment, then look.
        let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
        let mut leaked = -1;
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            leaked = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
            )
            .fetch_one(&mut conn)
            .await
            .unwrap();
            if leaked == 0 {
                break;
            }
        }
        let last: Vec<String> = sqlx::query_scalar(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        assert_eq!(leaked, 0, "pooled connections left inside a transaction, last statements: {last:?}");
    }
    // Every connection of every pool must now work. Writes first, one after another, so that on
    // PostgreSQL (one pool for both) the writer draws each idle connection before a read could
    // end a leaked transaction by chance; then more concurrent requests than connections.
    for i in 0..24 {
        transact(store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.insert_project_key(&format!("first-{i}"), 1, &[2], 0).await?;
                Ok::<_, StoreError>(())
            })
        })
        .await
        .expect("a write after cancellations");
    }
    let after: Vec<_> = (0..64)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move {
                let read = haven_core::read(s.as_ref(), |tx| {
                    Box::pin(async move {
                        tx.count_admins().await?;
                        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                        tx.last_checkpoint_seq().await
                    })
                })
                .await;
                let write = transact(s.as_ref(), move |tx| {
                    Box::pin(async move {
                        tx.insert_project_key(&format!("after-{i}"), 1, &[2], 0).await?;
                        Ok::<_, StoreError>(())
                    })
                })
                .await;
                (read, write)
            })
        })
        .collect();
    for t in after {
        let (read, write) = t.await.unwrap();
        read.expect("a read after cancellations");
        write.expect("a write after cancellations");
    }
    let r = verify(&store, signing_key().public_key()).await;
    assert_eq!(r.problem, None);
}

async fn audit_rows_are_append_only(db: TestDb) {
    let clock = FakeClock::new();
    event(&db.store, &clock, "x").await.unwrap();
    assert!(db.store.pool().execute("UPDATE audit_events SET actor = 'mallory'").await.is_err());
    assert!(db.store.pool().execute("DELETE FROM audit_events").await.is_err());
    // Signed checkpoints too.
    let key = signing_key();
    haven_core::audit::write_checkpoint(&db.store, std::sync::Arc::new(key), clock.now()).await.unwrap();
    assert!(db.store.pool().execute("UPDATE audit_checkpoints SET seq = 0").await.is_err());
    assert!(db.store.pool().execute("DELETE FROM audit_checkpoints").await.is_err());
    assert_eq!(checkpoints(&db.store).await.len(), 1);
}

async fn checkpoints_round_trip(db: TestDb) {
    let clock = FakeClock::new();
    for _ in 0..3 {
        event(&db.store, &clock, "x").await.unwrap();
    }
    let key = signing_key();
    let seed_key = Arc::new(key);
    let k = seed_key.clone();
    let at = clock.now();
    transact(&db.store, move |tx| {
        Box::pin(async move {
            let (seq, hash) = tx.audit_head().await?;
            assert_eq!(tx.last_checkpoint_seq().await?, 0);
            tx.insert_checkpoint(&sign_checkpoint(&k, seq, hash, at)).await?;
            Ok::<_, StoreError>(())
        })
    })
    .await
    .unwrap();
    let cps = checkpoints(&db.store).await;
    assert_eq!(cps.len(), 1);
    assert_eq!(cps[0].seq, 3);
    let r = verify(&db.store, seed_key.public_key()).await;
    assert_eq!((r.problem, r.checkpoints), (None, 1));
}

async fn bootstrap_link_is_single_use_and_expires(db: TestDb) {
    let clock = FakeClock::new();
    let rng = SystemRng::new();
    let admin = |id: &str| BootstrapAdmin {
        user_id: id.into(),
        email: "desk@example.org".into(),
        password_hash: "$argon2id$x".into(),
    };
    let link = accounts::issue_bootstrap_link(&db.store, &clock, &rng).await.unwrap().unwrap();
    let wrong = accounts::redeem_bootstrap(&db.store, &clock, "not-the-token", admin("desk"), "127.0.0.1").await;
    assert!(matches!(wrong, Err(CoreError::LinkInvalid)));
    // A new link replaces the old one; the old one expires anyway after an hour.
    clock.advance(time::Duration::minutes(61));
    assert!(matches!(
        accounts::redeem_bootstrap(&db.store, &clock, &link, admin("desk"), "127.0.0.1").await,
        Err(CoreError::LinkInvalid)
    ));
    let link = accounts::issue_bootstrap_link(&db.store, &clock, &rng).await.unwrap().unwrap();
    let user = accounts::redeem_bootstrap(&db.store, &clock, &link, admin("desk"), "127.0.0.1").await.unwrap();
    assert_eq!(user.id, "desk");
    assert!(accounts::admin_exists(&db.store).await.unwrap());
    let desk = read(&db.store, |tx| Box::pin(async move { tx.account("desk").await })).await.unwrap();
    assert_eq!(desk.unwrap().roles, vec![accounts::Role::Admin]);
    assert!(matches!(
        accounts::redeem_bootstrap(&db.store, &clock, &link, admin("other"), "127.0.0.1").await,
        Err(CoreError::LinkInvalid)
    ));
    assert!(accounts::issue_bootstrap_link(&db.store, &clock, &rng).await.unwrap().is_none());
    let actions: Vec<String> = db.store.audit_events(1, i64::MIN).map_ok(|e| e.action).try_collect().await.unwrap();
    assert_eq!(
        actions,
        [
            "bootstrap.link_issued",
            "bootstrap.link_refused",
            "bootstrap.link_refused",
            "bootstrap.link_issued",
            "account.created",
            // The last refusal came within a minute of the one before, from the same source:
            // it is counted (anonymous refusals are aggregated), not written.
        ]
    );
}

async fn service_updates_newest_first(db: TestDb) {
    let clock = FakeClock::new();
    let desk = haven_core::caller::Caller::console_as("desk", vec![haven_core::accounts::Role::Admin]);
    updates::publish(&db.store, clock.now(), &desk, "First", "Hello **world**").await.unwrap();
    clock.advance(time::Duration::days(1));
    updates::publish(&db.store, clock.now(), &desk, "Second", "Again").await.unwrap();
    assert!(matches!(
        updates::publish(&db.store, clock.now(), &desk, " ", "x").await,
        Err(CoreError::Invalid { field: "title", .. })
    ));
    let list = updates::list(&db.store, 10).await.unwrap();
    assert_eq!(list.iter().map(|u| u.title.as_str()).collect::<Vec<_>>(), ["Second", "First"]);
}

async fn newer_schema_is_refused_untouched(db: TestDb) {
    db.store
        .pool()
        .execute("INSERT INTO haven_schema (version, description, applied_us) VALUES (99, 'future', 0)")
        .await
        .unwrap();
    db.store.close().await;
    match haven_store::connect(&db.url).await {
        Err(StoreError::NewerSchema { found: 99, known }) => {
            assert_eq!(known, haven_store::KNOWN_VERSION)
        }
        Err(other) => panic!("expected NewerSchema, got {other}"),
        Ok(_) => panic!("expected NewerSchema, got a connection"),
    }
}

async fn blobs_round_trip_sealed_and_detect_tampering(db: TestDb) {
    let store: Arc<dyn Store> = Arc::new(db.store.clone());
    let clock: Arc<dyn Clock> = Arc::new(FakeClock::new());
    let rng = Arc::new(SystemRng::new());
    let keys = Arc::new(KeyRing::new(Key256::generate(rng.as_ref()).unwrap(), store.clone(), clock.clone(), rng));
    let dir = tempfile::tempdir().unwrap();
    let blobs = SealedBlobStore::open(&BlobLocation::Local(dir.path().to_path_buf()), keys, clock.clone()).unwrap();
    blobs.ping().await.unwrap();

    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
        data.chunks(10_007).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
    let meta = blobs.put("proj", futures::stream::iter(chunks).boxed(), Put::unlimited()).await.unwrap();
    assert_eq!(meta.size, 300_000);
    assert_eq!(meta.sha256, hex::encode(haven_crypto::sha256(&data)));

    let back: Vec<bytes::Bytes> = blobs.get(&meta).await.unwrap().try_collect().await.unwrap();
    assert_eq!(back.concat(), data);

    // Only ciphertext on disk.
    let file = dir.path().join("objects").join(&meta.id[..2]).join(&meta.id);
    let mut on_disk = std::fs::read(&file).unwrap();
    assert!(!on_disk.windows(64).any(|w| w == &data[1000..1064]));
    on_disk[100_000] ^= 1;
    std::fs::write(&file, &on_disk).unwrap();
    let tampered: Result<Vec<bytes::Bytes>, _> = blobs.get(&meta).await.unwrap().try_collect().await;
    assert_eq!(tampered.unwrap_err().kind(), std::io::ErrorKind::InvalidData);

    // Over the limit: refused, nothing left behind.
    let big = futures::stream::iter(vec![Ok(bytes::Bytes::from(vec![0u8; 2000]))]).boxed();
    assert!(matches!(blobs.put("proj", big, Put::limited(1000)).await, Err(BlobError::TooLarge { limit: 1000 })));
    let files = walk(dir.path());
    assert_eq!(files, vec![file.clone()], "only the first object remains");

    blobs.delete(&meta).await.unwrap();
    assert!(!file.exists());

    // Unhashed (an upload's part): the same sealed object, with no SHA-256 of its own.
    let part = futures::stream::iter(vec![Ok(bytes::Bytes::from_static(b"part of a file"))]).boxed();
    let meta = blobs.put("proj", part, Put::limited(100).unhashed()).await.unwrap();
    assert_eq!((meta.size, meta.sha256.as_str()), (14, ""));
    let back: Vec<bytes::Bytes> = blobs.get(&meta).await.unwrap().try_collect().await.unwrap();
    assert_eq!(back.concat(), b"part of a file");
    blobs.delete(&meta).await.unwrap();

    // A blob left half-written (the server stopped mid-write) is listed by its id as partial,
    // spared while young, then swept: its staging file only, never an object of the same id
    // (the write may have just finished).
    let kept = futures::stream::iter(vec![Ok(bytes::Bytes::from_static(b"a whole object"))]).boxed();
    let kept = blobs.put("proj", kept, Put::unlimited()).await.unwrap();
    let left = dir.path().join("staging").join(&kept.id);
    std::fs::write(&left, b"half a blob").unwrap();
    let listed: Vec<_> = blobs.list().await.unwrap().try_collect().await.unwrap();
    let mut seen: Vec<_> = listed.iter().map(|b| (b.id.as_str(), b.partial)).collect();
    seen.sort();
    assert_eq!(seen, [(kept.id.as_str(), false), (kept.id.as_str(), true)]);
    let sweep = |before| haven_core::blobs::sweep_unrecorded(store.as_ref(), &blobs, clock.as_ref(), Some(before));
    assert_eq!(sweep(0).await.unwrap(), 0, "nothing is old enough");
    assert!(left.exists());
    // The whole object is unrecorded here too, so it goes as well, by its own rule.
    assert_eq!(sweep(i64::MAX).await.unwrap(), 2);
    assert!(!left.exists());
    assert_eq!(walk(dir.path()), Vec::<std::path::PathBuf>::new());

    // Only the half-written file goes when the object of that id is a recorded one.
    let recorded = futures::stream::iter(vec![Ok(bytes::Bytes::from_static(b"kept"))]).boxed();
    let recorded = blobs.put("proj", recorded, Put::unlimited()).await.unwrap();
    std::fs::write(dir.path().join("staging").join(&recorded.id), b"half").unwrap();
    blobs.delete_partial(&recorded.id).await.unwrap();
    let back: Vec<bytes::Bytes> = blobs.get(&recorded).await.unwrap().try_collect().await.unwrap();
    assert_eq!(back.concat(), b"kept");
    assert_eq!(walk(dir.path()).len(), 1);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
