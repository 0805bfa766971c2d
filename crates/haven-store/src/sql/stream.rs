//! The one read that returns millions of rows: the audit trail, streamed for `haven audit
//! verify` and exports. Through sqlx's `Any` driver each row is first copied into generic values
//! and then looked up by column name; here it is read natively (rusqlite by position; PostgreSQL
//! as a binary COPY) and packed straight into batches (docs/benchmarks.md). A pool of its own,
//! opened on first use, so that a long verification does not hold a connection the requests need.

use std::str::FromStr;

use futures::StreamExt;
use futures::stream::BoxStream;
use haven_core::StoreError;
use haven_core::audit::{AuditBatch, AuditEvent};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;

use super::dialect::Dialect;
use super::rows::{AUDIT_COLUMNS, Db, corrupt};

#[derive(Clone)]
pub(crate) enum Streamer {
    /// The database file, read by rusqlite in a thread of its own: sqlx hands every row from its
    /// worker thread to the async task, which was the whole cost (docs/benchmarks.md).
    Sqlite(std::path::PathBuf),
    Postgres(PgPool),
}

/// Which events a read returns: `from_seq..=to_seq`, at or after `since_us`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bounds {
    pub from_seq: i64,
    pub to_seq: i64,
    pub since_us: i64,
}

/// Events handed over from the reader at a time.
pub(crate) const BATCH: usize = 1024;

/// What a reader task sends, as a stream: a reader that stops early drops the receiver, and the
/// task's next send fails.
pub(crate) fn received(
    receiver: tokio::sync::mpsc::Receiver<Result<AuditBatch, StoreError>>,
) -> BoxStream<'static, Result<AuditBatch, StoreError>> {
    futures::stream::unfold(receiver, |mut r| async move { r.recv().await.map(|batch| (batch, r)) }).boxed()
}

impl Streamer {
    /// A lazily connected pool on `url` (read only on SQLite).
    pub(crate) fn open(url: &str, dialect: Dialect) -> Result<Self, StoreError> {
        Ok(match dialect {
            Dialect::Sqlite => {
                let options = SqliteConnectOptions::from_str(url).db()?;
                Streamer::Sqlite(options.get_filename().to_path_buf())
            }
            Dialect::Postgres => {
                // A sequential scan that joins one already running starts mid-table, which would
                // defeat reading the trail in its stored order (pg_copy.rs).
                let options = PgConnectOptions::from_str(url).db()?.options([("synchronize_seqscans", "off")]);
                Streamer::Postgres(PgPoolOptions::new().max_connections(4).connect_lazy_with(options))
            }
        })
    }

    pub(crate) fn audit_events(&self, from_seq: i64, since_us: i64) -> BoxStream<'_, Result<AuditEvent, StoreError>> {
        events_of(self.batches(Bounds { from_seq, to_seq: i64::MAX, since_us }))
    }

    /// The events `from_seq..=to_seq`, packed as the reader reads them.
    pub(crate) fn audit_batches(&self, from_seq: i64, to_seq: i64) -> BoxStream<'_, Result<AuditBatch, StoreError>> {
        self.batches(Bounds { from_seq, to_seq, since_us: i64::MIN })
    }

    fn batches(&self, bounds: Bounds) -> BoxStream<'static, Result<AuditBatch, StoreError>> {
        match self {
            Streamer::Sqlite(path) => sqlite_batches(path.clone(), bounds),
            Streamer::Postgres(pool) => super::pg_copy::batches(pool.clone(), bounds),
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            Streamer::Sqlite(_) => {}
            Streamer::Postgres(pool) => pool.close().await,
        }
    }
}

/// Batches unpacked into owned events (for exports).
fn events_of(
    batches: BoxStream<'static, Result<AuditBatch, StoreError>>,
) -> BoxStream<'static, Result<AuditEvent, StoreError>> {
    batches
        .flat_map(|batch| match batch {
            Ok(batch) => {
                futures::stream::iter(batch.iter().map(|v| Ok(v.to_event())).collect::<Vec<_>>()).left_stream()
            }
            Err(e) => futures::stream::once(async { Err(e) }).right_stream(),
        })
        .boxed()
}

/// The trail from the SQLite file at `path`, read only by rusqlite in a blocking thread that
/// sends events in batches. A reader that stops early (a verifier that found a problem) makes
/// the next send fail, and the thread ends, closing its connection.
fn sqlite_batches(path: std::path::PathBuf, bounds: Bounds) -> BoxStream<'static, Result<AuditBatch, StoreError>> {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<AuditBatch, StoreError>>(4);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = read_sqlite(&path, bounds, &sender) {
            let _ = sender.blocking_send(Err(e));
        }
    });
    received(receiver)
}

fn read_sqlite(
    path: &std::path::Path,
    Bounds { from_seq, to_seq, since_us }: Bounds,
    sender: &tokio::sync::mpsc::Sender<Result<AuditBatch, StoreError>>,
) -> Result<(), StoreError> {
    use rusqlite::OpenFlags;
    let failed = |e: rusqlite::Error| StoreError::Database(format!("reading the audit trail: {e}"));
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags).map_err(failed)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(failed)?;
    let mut statement = conn
        .prepare(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE seq >= ?1 AND seq <= ?2 AND at_us >= ?3 ORDER BY seq"
        ))
        .map_err(failed)?;
    let mut rows = statement.query([from_seq, to_seq, since_us]).map_err(failed)?;
    let mut batch = AuditBatch::with_capacity(BATCH);
    while let Some(row) = rows.next().map_err(failed)? {
        let text = |i: usize| -> Result<&str, StoreError> {
            row.get_ref(i).ok().and_then(|v| v.as_str().ok()).ok_or_else(|| corrupt("audit event"))
        };
        let hash = |i: usize| -> Result<[u8; 32], StoreError> {
            row.get_ref(i)
                .ok()
                .and_then(|v| v.as_blob().ok())
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| corrupt("hash"))
        };
        let number = |i: usize| -> Result<i64, StoreError> { row.get(i).map_err(|_| corrupt("audit event")) };
        let read = (|| {
            let texts = [text(2)?, text(3)?, text(4)?, text(5)?, text(6)?, text(7)?];
            Ok::<_, StoreError>(((number(0)?, number(1)?), texts, hash(8)?, hash(9)?))
        })();
        match read {
            Ok((numbers, texts, prev, hash)) => batch.push(numbers, texts, prev, hash),
            // The events before it still come first (a problem among them is theirs).
            Err(e) => {
                if !batch.is_empty() {
                    let _ = sender.blocking_send(Ok(batch));
                }
                return Err(e);
            }
        }
        if batch.len() >= BATCH
            && sender.blocking_send(Ok(std::mem::replace(&mut batch, AuditBatch::with_capacity(BATCH)))).is_err()
        {
            return Ok(()); // the reader went away
        }
    }
    if !batch.is_empty() {
        let _ = sender.blocking_send(Ok(batch));
    }
    Ok(())
}
