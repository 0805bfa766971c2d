//! The audit trail: durable appends per second through the group-commit writer (each append is its
//! own unit of work, as a real change is, submitted by many concurrent requests), and verification
//! speed, on SQLite (synchronous=FULL) and on PostgreSQL when HAVEN_TEST_POSTGRES_URL is set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark code

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use haven_core::audit::{AuditEvent, ChainVerifier, NewAuditEvent, verify_trail, verify_trail_parts};
use haven_core::{StoreError, transact};
use haven_crypto::audit_chain::GENESIS;
use haven_store::SqlStore;

const APPENDS: usize = 20_000;
const CONCURRENCY: usize = 256;
/// Events in the trail the verification benchmarks read (`BENCH_VERIFY_EVENTS`, default 200,000).
fn verify_events() -> i64 {
    std::env::var("BENCH_VERIFY_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000)
}

fn new_event(i: usize) -> NewAuditEvent {
    NewAuditEvent::new(time::OffsetDateTime::UNIX_EPOCH, "alice", "bench.event")
        .target(&format!("object/{i}"))
        .source("10.1.2.3")
        .details(serde_json::json!({"size": i, "note": "a typical small details object"}))
}

/// `APPENDS` single-event units of work from `CONCURRENCY` concurrent submitters.
async fn appends(store: Arc<SqlStore>) -> Duration {
    let started = Instant::now();
    let per = APPENDS / CONCURRENCY;
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|t| {
            let s = store.clone();
            tokio::spawn(async move {
                for i in 0..per {
                    let e = new_event(t * per + i);
                    transact(s.as_ref(), move |tx| Box::pin(async move { tx.append_audit(e).await.map(|_| ()) }))
                        .await
                        .map_err(|e: StoreError| e)
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed()
}

async fn fill(store: &SqlStore, n: i64) {
    // Bulk setup only: 1,000 events per unit of work.
    for chunk in 0..(n / 1000) {
        transact(store, move |tx| {
            Box::pin(async move {
                for i in 0..1000 {
                    tx.append_audit(new_event((chunk * 1000 + i) as usize)).await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .await
        .unwrap();
    }
}

async fn open(kind: &str) -> Option<(Arc<SqlStore>, Option<tempfile::TempDir>)> {
    match kind {
        "sqlite" => {
            let dir = tempfile::tempdir().unwrap();
            let store = haven_store::connect(&format!("sqlite://{}/bench.db", dir.path().display())).await.unwrap();
            Some((Arc::new(store), Some(dir)))
        }
        _ => {
            let db = haven_testkit::db::postgres().await?;
            Some((Arc::new(db.store), None))
        }
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    for kind in ["sqlite", "postgres"] {
        let Some((store, _dir)) = rt.block_on(open(kind)) else {
            eprintln!("skipping {kind}: HAVEN_TEST_POSTGRES_URL is not set");
            continue;
        };
        let mut g = c.benchmark_group(format!("audit_{kind}"));
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(20));
        g.throughput(Throughput::Elements(APPENDS as u64));
        g.bench_function("durable_appends_group_commit_256_concurrent", |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let store = store.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += appends(store.clone()).await;
                    }
                    total
                }
            })
        });

        let (vstore, _vdir) = rt.block_on(open(kind)).unwrap();
        let n = verify_events();
        rt.block_on(fill(&vstore, n));
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function("verify_from_database", |b| {
            b.to_async(&rt).iter(|| {
                let s = vstore.clone();
                async move {
                    let v = verify_trail(s.as_ref(), [0u8; 32], &mut |_| {}).await.unwrap();
                    assert_eq!(v.problem, None);
                    assert_eq!(v.events as i64, n);
                }
            })
        });
        // As `haven audit verify` does: one part per core, each on a task of its own.
        g.bench_function("verify_from_database_in_parts", |b| {
            b.to_async(&rt).iter(|| {
                let s: Arc<dyn haven_core::Store> = vstore.clone();
                async move {
                    let seen = Arc::new(std::sync::atomic::AtomicU64::new(0));
                    let spawn = |f| -> futures::future::BoxFuture<'static, _> {
                        Box::pin(async move { tokio::spawn(f).await.unwrap() })
                    };
                    let v = verify_trail_parts(s, [0u8; 32], 2, seen, &spawn).await.unwrap();
                    assert_eq!(v.problem, None);
                    assert_eq!(v.events as i64, n);
                }
            })
        });
        g.finish();
    }

    // The chain check itself, on events already in memory.
    let n = verify_events();
    let mut events = Vec::with_capacity(n as usize);
    let mut scratch = Vec::new();
    let (mut seq, mut hash) = (0, GENESIS);
    for i in 0..n as usize {
        let e = AuditEvent::chain(new_event(i), seq, hash, &mut scratch);
        (seq, hash) = (e.seq, e.hash);
        events.push(e);
    }
    let mut g = c.benchmark_group("audit_chain");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("verify_in_memory", |b| {
        b.iter(|| {
            let mut v = ChainVerifier::new([0u8; 32], Vec::new());
            for e in &events {
                v.push(e);
            }
            assert_eq!(v.finish().problem, None);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
