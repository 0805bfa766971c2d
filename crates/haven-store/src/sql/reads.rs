//! The [`Store`] port: reads on a pool, changes through the group-commit writer.

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use haven_core::accounts::{Role, User};
use haven_core::audit::{AuditEvent, Checkpoint};
use haven_core::blobs::ObjectMeta;
use haven_core::store::Job;
use haven_core::updates::ServiceUpdate;
use haven_core::{Store, StoreError};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Executor, Row};
use tokio::sync::{mpsc, oneshot};

use super::dialect::Dialect;
use super::rows::{audit_event, hash32, map_err};
use super::unit::{SqlTx, select_project_key};
use super::writer::{self, Envelope};

#[derive(Clone)]
pub struct SqlStore {
    read: AnyPool,
    write: AnyPool,
    dialect: Dialect,
    writer: mpsc::Sender<Envelope>,
}

impl SqlStore {
    pub(crate) fn start(write: AnyPool, read: AnyPool, dialect: Dialect) -> Self {
        let writer = writer::spawn(write.clone(), dialect);
        SqlStore { read, write, dialect, writer }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The pool, for administrative tools and tests that must reach below the port.
    pub fn pool(&self) -> &AnyPool {
        &self.write
    }

    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        super::migrate::schema_version(&self.read).await
    }

    /// Close the pools after the writer has drained.
    pub async fn close(&self) {
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
        let mut guard = ReadGuard { conn: self.read.acquire().await.map_err(map_err)?, finished: false };
        guard.conn.execute(begin).await.map_err(map_err)?;
        let mut tx = SqlTx::new(&mut guard.conn, (0, [0; 32]), false);
        job(&mut tx).await;
        guard.conn.execute("ROLLBACK").await.map_err(map_err)?;
        guard.finished = true;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").fetch_one(&self.read).await.map_err(map_err).map(|_| ())
    }

    async fn admin_exists(&self) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM user_roles WHERE role = 'admin'")
            .fetch_one(&self.read)
            .await
            .map_err(map_err)?;
        Ok(row.try_get::<i64, _>(0).map_err(map_err)? > 0)
    }

    async fn find_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        let Some(row) = sqlx::query("SELECT id, email, status, created_us FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await
            .map_err(map_err)?
        else {
            return Ok(None);
        };
        let roles = sqlx::query("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
            .bind(id)
            .fetch_all(&self.read)
            .await
            .map_err(map_err)?
            .iter()
            .filter_map(|r| r.try_get::<String, _>(0).ok().and_then(|s| Role::parse(&s)))
            .collect();
        Ok(Some(User {
            id: row.try_get(0).map_err(map_err)?,
            email: row.try_get(1).map_err(map_err)?,
            status: row.try_get(2).map_err(map_err)?,
            roles,
            created_us: row.try_get(3).map_err(map_err)?,
        }))
    }

    async fn list_updates(&self, limit: i64) -> Result<Vec<ServiceUpdate>, StoreError> {
        sqlx::query("SELECT id, title, body, published_us, author FROM service_updates ORDER BY published_us DESC, id DESC LIMIT $1")
            .bind(limit)
            .fetch_all(&self.read)
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| {
                Ok(ServiceUpdate {
                    id: r.try_get(0).map_err(map_err)?,
                    title: r.try_get(1).map_err(map_err)?,
                    body: r.try_get(2).map_err(map_err)?,
                    published_us: r.try_get(3).map_err(map_err)?,
                    author: r.try_get(4).map_err(map_err)?,
                })
            })
            .collect()
    }

    fn audit_events(&self, from_seq: i64, since_us: i64) -> BoxStream<'_, Result<AuditEvent, StoreError>> {
        sqlx::query(
            "SELECT seq, at_us, actor, action, target, project, source, details, prev_hash, hash \
             FROM audit_events WHERE seq >= $1 AND at_us >= $2 ORDER BY seq",
        )
        .bind(from_seq)
        .bind(since_us)
        .fetch(&self.read)
        .map(|row| audit_event(&row.map_err(map_err)?))
        .boxed()
    }

    async fn audit_checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        sqlx::query("SELECT seq, hash, at_us, signature FROM audit_checkpoints ORDER BY seq")
            .fetch_all(&self.read)
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| {
                Ok(Checkpoint {
                    seq: r.try_get(0).map_err(map_err)?,
                    hash: hash32(r, 1)?,
                    at_us: r.try_get(2).map_err(map_err)?,
                    signature: r.try_get(3).map_err(map_err)?,
                })
            })
            .collect()
    }

    async fn project_key(&self, project: &str) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
        select_project_key(&self.read, project).await
    }

    async fn object(&self, id: &str) -> Result<Option<ObjectMeta>, StoreError> {
        let row = sqlx::query(
            "SELECT id, project, key_version, wrapped_key, size, sha256, created_us FROM objects WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.read)
        .await
        .map_err(map_err)?;
        row.map(|r| {
            Ok(ObjectMeta {
                id: r.try_get(0).map_err(map_err)?,
                project: r.try_get(1).map_err(map_err)?,
                key_version: r.try_get(2).map_err(map_err)?,
                wrapped_key: r.try_get(3).map_err(map_err)?,
                size: r.try_get(4).map_err(map_err)?,
                sha256: r.try_get(5).map_err(map_err)?,
                created_us: r.try_get(6).map_err(map_err)?,
            })
        })
        .transpose()
    }
}
