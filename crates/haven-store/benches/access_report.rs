//! The access report (who had access to which asset between two dates, with the request and
//! decision behind each membership) over 10,000 users, 1,000 assets and 100,000 membership
//! periods, on SQLite and on PostgreSQL when HAVEN_TEST_POSTGRES_URL is set: the query through
//! a read-only unit of work, and the CSV written from it, as `haven report access` does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark code

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use haven_core::accounts::{NewUser, Role};
use haven_core::governance::records::{
    AccessRequest, Asset, AssetStatus, Classification, MemberRole, Membership, RequestKind, RequestStatus,
};
use haven_core::governance::reports::{AccessQuery, Format, write_access};
use haven_core::{StoreError, read, transact};
use haven_store::SqlStore;

const USERS: usize = 10_000;
const ASSETS: usize = 1_000;
const CHANGES: usize = 100_000;
const DAY: i64 = 86_400_000_000;
/// 2026-01-01T00:00:00Z
const T0: i64 = 1_767_225_600_000_000;
/// The whole of 2026, and its second quarter (T0 + 90 days to T0 + 181 days).
const YEAR: (&str, &str) = ("2026-01-01", "2026-12-31");
const QUARTER: (&str, &str) = ("2026-04-01", "2026-06-30");

fn user(i: usize) -> String {
    format!("user{i:05}")
}

/// Bulk setup in units of 1,000 rows: users, assets, then membership periods (every other one
/// ended) with the approved request behind each.
async fn seed(store: &SqlStore) {
    for chunk in 0..USERS / 1000 {
        transact(store, move |tx| {
            Box::pin(async move {
                for i in chunk * 1000..(chunk + 1) * 1000 {
                    let roles = if i == 0 { vec![Role::Staff] } else { vec![Role::Researcher] };
                    let u = NewUser {
                        id: user(i),
                        email: format!("{}@example.org", user(i)),
                        password_hash: String::new(),
                        roles,
                        created_us: T0,
                    };
                    tx.insert_user(&u).await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .await
        .unwrap();
    }
    transact(store, |tx| {
        Box::pin(async move {
            for a in 0..ASSETS {
                tx.insert_asset(&Asset {
                    name: format!("asset-{a:04}"),
                    ig_ref: format!("IG/{a:05}"),
                    classification: Classification::Pseudonymised,
                    description: String::new(),
                    starts_us: T0,
                    ends_us: 0,
                    status: AssetStatus::Active,
                    iao: user(0),
                    created_us: T0,
                    review_due_us: T0 + 180 * DAY,
                    closed_us: 0,
                    closure: None,
                })
                .await?;
            }
            Ok::<_, StoreError>(())
        })
    })
    .await
    .unwrap();
    for chunk in 0..CHANGES / 1000 {
        transact(store, move |tx| {
            Box::pin(async move {
                for i in chunk * 1000..(chunk + 1) * 1000 {
                    let (a, k) = (i % ASSETS, i / ASSETS);
                    let subject = user((a * 10 + k) % USERS);
                    let asset = format!("asset-{a:04}");
                    let starts_us = T0 + (i as i64 % 300) * DAY;
                    let request = AccessRequest {
                        id: 0,
                        asset: asset.clone(),
                        kind: RequestKind::Add,
                        subject: subject.clone(),
                        new_email: String::new(),
                        new_name: String::new(),
                        new_organisation: String::new(),
                        role: MemberRole::Researcher,
                        ends_us: starts_us + 365 * DAY,
                        justification: "benchmark".into(),
                        requested_by: user(1),
                        requested_us: starts_us - DAY,
                        status: RequestStatus::Approved,
                        decided_by: user(2),
                        decided_us: starts_us,
                        reason: "ok".into(),
                    };
                    let request_id = tx.insert_request(&request).await?;
                    tx.insert_membership(&Membership {
                        id: 0,
                        asset,
                        user_id: subject,
                        role: MemberRole::Researcher,
                        starts_us,
                        ends_us: starts_us + 365 * DAY,
                        ended_us: if k % 2 == 0 { starts_us + 30 * DAY } else { 0 },
                        end_reason: String::new(),
                        request_id,
                        confirmed_us: starts_us,
                        flagged_us: 0,
                        suspended: false,
                    })
                    .await?;
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

/// The report over two dates (both included), of one asset or all, written as CSV as its rows
/// are read (as `haven report access` does); its rows.
async fn report(store: &SqlStore, from: &'static str, to: &'static str, asset: Option<&'static str>) -> u64 {
    let q = AccessQuery::new(from, to, asset).unwrap();
    let (csv, rows) =
        read(store, move |tx| Box::pin(async move { write_access(tx, &q, Format::Csv, Vec::new()).await }))
            .await
            .unwrap();
    assert!(csv.len() > 60);
    rows
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    for kind in ["sqlite", "postgres"] {
        let Some((store, _dir)) = rt.block_on(open(kind)) else {
            eprintln!("skipping {kind}: HAVEN_TEST_POSTGRES_URL is not set");
            continue;
        };
        let started = std::time::Instant::now();
        rt.block_on(seed(&store));
        eprintln!(
            "{kind}: seeded {USERS} users, {ASSETS} assets, {CHANGES} membership periods in {:.1?}",
            started.elapsed()
        );
        let year = rt.block_on(report(&store, YEAR.0, YEAR.1, None));
        let quarter = rt.block_on(report(&store, QUARTER.0, QUARTER.1, None));
        let one = rt.block_on(report(&store, YEAR.0, YEAR.1, Some("asset-0042")));
        eprintln!("{kind}: rows — whole year {year}, one quarter {quarter}, one asset's year {one}");
        let mut g = c.benchmark_group(format!("access_report_{kind}"));
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(15));
        g.bench_function("all_assets_whole_year_csv", |b| {
            b.to_async(&rt).iter(|| report(&store, YEAR.0, YEAR.1, None))
        });
        g.bench_function("all_assets_one_quarter_csv", |b| {
            b.to_async(&rt).iter(|| report(&store, QUARTER.0, QUARTER.1, None))
        });
        g.bench_function("one_asset_whole_year_csv", |b| {
            b.to_async(&rt).iter(|| report(&store, YEAR.0, YEAR.1, Some("asset-0042")))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
