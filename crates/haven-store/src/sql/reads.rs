//! The [`Store`] port: reads in read-only transactions on the reader pool, changes through the
//! group-commit writer.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use haven_core::audit::AuditEvent;
use haven_core::changes::Changes;
use haven_core::store::Job;
use haven_core::{Store, StoreError};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Executor};
use tokio::sync::{mpsc, oneshot};

use super::dialect::Dialect;
use super::rows::{AUDIT_COLUMNS, Db, audit_event};
use super::stream::Streamer;
use super::unit::SqlTx;
use super::writer::{self, Envelope};

#[derive(Clone)]
pub struct SqlStore {
    read: AnyPool,
    write: AnyPool,
    dialect: Dialect,
    writer: mpsc::Sender<Envelope>,
    changes: Arc<Changes>,
    stream: Option<Streamer>,
}

impl SqlStore {
    /// Start the writer and the follower of change counters (`url` is where to listen for
    /// them on PostgreSQL).
    pub(crate) fn start(write: AnyPool, read: AnyPool, dialect: Dialect, url: &str, stream: Option<Streamer>) -> Self {
        let changes = Arc::new(Changes::new());
        let writer = writer::spawn(write.clone(), dialect, changes.clone());
        super::changes::follow(read.clone(), dialect, url.to_string(), Arc::downgrade(&changes));
        SqlStore { read, write, dialect, writer, changes, stream }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The pool, for administrative tools and tests that must reach below the port.
    pub fn pool(&self) -> &AnyPool {
        &self.write
    }

    /// An online, consistent copy of a SQLite database in the file `dest` (which must not
    /// exist): SQLite's `VACUUM INTO`, read from one snapshot while writers go on.
    pub async fn snapshot_sqlite(&self, dest: &std::path::Path) -> Result<(), StoreError> {
        if self.dialect != Dialect::Sqlite {
            return Err(StoreError::Database("only a SQLite database is copied this way".into()));
        }
        let dest = dest.to_str().ok_or_else(|| StoreError::Database("the backup path is not UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1").bind(dest).execute(&self.read).await.db()?;
        Ok(())
    }

    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        super::migrate::schema_version(&self.read).await
    }

    /// Close the pools after the writer has drained.
    pub async fn close(&self) {
        if let Some(s) = &self.stream {
            s.close().await;
        }
        self.read.close().await;
        self.write.close().await;
    }
}

/// A reader connection inside a read transaction. If it is dropped before the transaction ended
/// (the request was cancelled at an await: the client went away; or a statement failed), the
/// connection is closed instead of going back to the pool, so the server ends the transaction
/// wherever it stood and no later request draws a connection inside `BEGIN`. sqlx's own
/// transaction guard is not enough: on PostgreSQL a drop during `BEGIN` itself leaves the
/// transaction open (its rollback-on-drop only counts transactions that finished beginning).
struct ReadGuard {
    conn: PoolConnection<Any>,
    finished: bool,
}

impl Drop for ReadGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.conn.close_on_drop();
        }
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn run_job(&self, job: Job) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.writer
            .send(Envelope { job, done })
            .await
            .map_err(|_| StoreError::Database("the database writer has stopped".into()))?;
        wait.await.map_err(|_| StoreError::Database("the database writer has stopped".into()))?
    }

    async fn run_read(&self, job: Job) -> Result<(), StoreError> {
        let begin = match self.dialect {
            Dialect::Sqlite => "BEGIN",
            Dialect::Postgres => "BEGIN READ ONLY",
        };
        let mut guard = ReadGuard { conn: self.read.acquire().await.db()?, finished: false };
        guard.conn.execute(begin).await.db()?;
        let mut tx = SqlTx::new(&mut guard.conn, (0, [0; 32]), false);
        job(&mut tx).await;
        guard.conn.execute("ROLLBACK").await.db()?;
        guard.finished = true;
        Ok(())
    }

    fn changes(&self) -> Arc<Changes> {
        self.changes.clone()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").fetch_one(&self.read).await.db().map(|_| ())
    }

    fn audit_batches(
        &self,
        from_seq: i64,
        to_seq: i64,
    ) -> BoxStream<'_, Result<haven_core::audit::AuditBatch, StoreError>> {
        match &self.stream {
            Some(stream) => stream.audit_batches(from_seq, to_seq),
            None => haven_core::store::batches_of(self.audit_events(from_seq, i64::MIN), to_seq),
        }
    }

    fn audit_events(&self, from_seq: i64, since_us: i64) -> BoxStream<'_, Result<AuditEvent, StoreError>> {
        if let Some(stream) = &self.stream {
            return stream.audit_events(from_seq, since_us);
        }
        let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_events WHERE seq >= $1 AND at_us >= $2 ORDER BY seq");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(from_seq)
            .bind(since_us)
            .fetch(&self.read)
            .map(|row| audit_event(&row.db()?))
            .boxed()
    }
}
