//! The writer: every unit of work runs here. Units that arrive while a commit is in flight are
//! grouped into the next transaction (group commit); a unit's own SQL runs in a savepoint (opened
//! at its first statement, see `unit.rs`) so that one failing unit rolls back alone, and the group's
//! audit events are written together before the commit. One durable commit then serves the whole
//! group, which is what lets the audit trail take tens of thousands of events a second on one disk.

use std::sync::Arc;

use haven_core::StoreError;
use haven_core::changes::{Changes, Topic};
use haven_core::store::Job;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Connection};
use tokio::sync::{mpsc, oneshot};

use super::dialect::Dialect;
use super::rows::{Columns, Db, map_err};
use super::unit::SqlTx;

/// Most units in one commit: bounds the work lost to a failing commit and the latency of the last.
const MAX_GROUP: usize = 512;

pub(crate) struct Envelope {
    pub job: Job,
    pub done: oneshot::Sender<Result<(), StoreError>>,
}

pub(crate) fn spawn(pool: AnyPool, dialect: Dialect, changes: Arc<Changes>) -> mpsc::Sender<Envelope> {
    let (send, mut receive) = mpsc::channel::<Envelope>(4 * MAX_GROUP);
    tokio::spawn(async move {
        let mut group = Vec::with_capacity(MAX_GROUP);
        while let Some(first) = receive.recv().await {
            group.push(first);
            while group.len() < MAX_GROUP {
                match receive.try_recv() {
                    Ok(next) => group.push(next),
                    Err(_) => break,
                }
            }
            run_group(&pool, dialect, &changes, &mut group).await;
        }
    });
    send
}

async fn run_group(pool: &AnyPool, dialect: Dialect, changes: &Changes, group: &mut Vec<Envelope>) {
    let mut conn = match pool.acquire().await {
        Ok(c) => c,
        Err(e) => return fail_all(group, map_err(e)),
    };
    match commit_group(&mut conn, dialect, group).await {
        // Before any unit hears of its commit: what a node changed, it never serves stale.
        Ok(counters) => super::changes::publish(changes, &counters),
        Err(e) => return fail_all(group, e),
    }
    for env in group.drain(..) {
        let _ = env.done.send(Ok(()));
    }
}

fn fail_all(group: &mut Vec<Envelope>, e: StoreError) {
    tracing::error!(error = %e, units = group.len(), "a group commit failed; its units were rolled back");
    for env in group.drain(..) {
        let _ = env.done.send(Err(StoreError::Database(e.to_string())));
    }
}

async fn commit_group(
    conn: &mut PoolConnection<Any>,
    dialect: Dialect,
    group: &mut [Envelope],
) -> Result<Vec<(Topic, u64)>, StoreError> {
    // A transaction guard: any early return (or the task being dropped at shutdown) rolls back.
    let mut guard = conn.begin_with(dialect.begin()).await.db()?;
    let head = sqlx::query(dialect.lock_head()).fetch_one(&mut *guard).await.db()?;
    let (seq, hash) = (head.col("seq")?, head.hash32("hash")?);
    // A lone unit needs no savepoint: if it fails, the whole transaction is rolled back.
    let single = group.len() == 1;
    let mut tx = SqlTx::new(&mut guard, (seq, hash), !single);
    for env in group.iter_mut() {
        let job = std::mem::replace(&mut env.job, Box::new(|_| Box::pin(async { false })));
        tx.begin_unit();
        let ok = job(&mut tx).await;
        if single && !ok {
            // Its own error is already in its result.
            return guard.rollback().await.db().map(|()| Vec::new());
        }
        tx.end_unit(ok).await?;
    }
    tx.flush().await?;
    // The change counters as this transaction leaves them (the triggers bumped them).
    let counters = super::changes::counters(&mut *guard).await?;
    guard.commit().await.db()?;
    Ok(counters)
}
