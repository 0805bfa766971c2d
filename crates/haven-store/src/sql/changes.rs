//! Keeping [`Changes`] current (see `haven_core::changes`): the writer publishes the counters its
//! own commits set; [`follow`] learns other processes' from PostgreSQL `NOTIFY` and from a poll
//! every second (the only way on SQLite, where a command-line process may write too).

use std::sync::{Arc, Weak};
use std::time::Duration;

use haven_core::StoreError;
use haven_core::changes::{Changes, Topic};
use sqlx::{Any, AnyPool, Executor, Row};

use super::dialect::Dialect;
use super::rows::Db;

/// The channel the triggers of migration 0013 notify.
const CHANNEL: &str = "haven_changes";
/// How often the counters are read even without a notification.
const POLL: Duration = Duration::from_secs(1);
/// How long a read of the counters is trusted: past the next poll and its time to answer, so
/// that memos are bypassed within this time of reads stopping, whatever stopped them.
const TRUSTED_FOR: Duration = Duration::from_millis(2500);

/// The counters as `conn` sees them (inside a transaction: including its own changes).
pub(crate) async fn counters<'c, E>(conn: E) -> Result<Vec<(Topic, u64)>, StoreError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = sqlx::query("SELECT topic, n FROM change_counters").fetch_all(conn).await.db()?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let topic: String = row.try_get("topic").db()?;
        let n: i64 = row.try_get("n").db()?;
        let n = u64::try_from(n).map_err(|_| StoreError::Corrupt("a change counter is negative".into()))?;
        if let Some(topic) = Topic::parse(&topic) {
            out.push((topic, n));
        }
    }
    Ok(out)
}

pub(crate) fn publish(changes: &Changes, counters: &[(Topic, u64)]) {
    for (topic, n) in counters {
        changes.observe(*topic, *n);
    }
}

/// Read the counters into `changes` and trust them a while (or stop trusting them); whether
/// that worked. A read that hangs (a database cut off) counts as failed.
async fn poll(pool: &AnyPool, changes: &Changes) -> bool {
    let outcome = match tokio::time::timeout(2 * POLL, counters(pool)).await {
        Ok(read) => read,
        Err(_) => Err(StoreError::Database(format!("no answer within {:?}", 2 * POLL))),
    };
    match outcome {
        Ok(found) => {
            publish(changes, &found);
            changes.confirm(TRUSTED_FOR);
            true
        }
        Err(e) => {
            changes.distrust();
            tracing::warn!(error = %e, "could not read the change counters; in-memory caches are off until they are read");
            false
        }
    }
}

/// Keep `changes` current until the store is gone (`changes` dropped) or its pool closed.
pub(crate) fn follow(pool: AnyPool, dialect: Dialect, url: String, changes: Weak<Changes>) {
    tokio::spawn(async move {
        match dialect {
            Dialect::Sqlite => follow_polling(pool, changes).await,
            Dialect::Postgres => follow_postgres(pool, url, changes).await,
        }
    });
}

fn alive(pool: &AnyPool, changes: &Weak<Changes>) -> Option<Arc<Changes>> {
    if pool.is_closed() { None } else { changes.upgrade() }
}

async fn follow_polling(pool: AnyPool, changes: Weak<Changes>) {
    loop {
        let Some(c) = alive(&pool, &changes) else { return };
        poll(&pool, &c).await;
        drop(c);
        tokio::time::sleep(POLL).await;
    }
}

/// LISTEN first, then read: a change committed after the read is notified. A notification (or a
/// second without one) reads the counters again; the table, not the notification, is the truth,
/// so a notification lost while the wait below was cut short costs at most a second.
async fn follow_postgres(pool: AnyPool, url: String, changes: Weak<Changes>) {
    loop {
        let Some(c) = alive(&pool, &changes) else { return };
        c.distrust();
        let mut listener = match sqlx::postgres::PgListener::connect(&url).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "could not listen for changes; in-memory caches are off until it can");
                drop(c);
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "could not listen for changes; in-memory caches are off until it can");
            drop(c);
            tokio::time::sleep(POLL).await;
            continue;
        }
        drop(c);
        loop {
            let Some(c) = alive(&pool, &changes) else { return };
            if !poll(&pool, &c).await {
                break;
            }
            drop(c);
            match tokio::time::timeout(POLL, listener.try_recv()).await {
                Err(_) | Ok(Ok(Some(_))) => {}
                // The connection was lost: what was notified meanwhile is gone.
                Ok(Ok(None)) | Ok(Err(_)) => {
                    if let Some(c) = alive(&pool, &changes) {
                        c.distrust();
                    }
                    tracing::warn!("the change listener lost its connection; listening again");
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
