//! The [`Tx`] port inside the writer's transaction.

use async_trait::async_trait;
use haven_core::accounts::NewUser;
use haven_core::audit::{AuditEvent, Checkpoint, NewAuditEvent};
use haven_core::blobs::ObjectMeta;
use haven_core::updates::NewServiceUpdate;
use haven_core::{StoreError, Tx};
use sqlx::{AnyConnection, Executor, Row};

use crate::db::map_err;

pub(crate) struct SqlTx<'c> {
    conn: &'c mut AnyConnection,
    head: (i64, [u8; 32]),
    scratch: Vec<u8>,
}

impl<'c> SqlTx<'c> {
    pub(crate) fn new(conn: &'c mut AnyConnection, head: (i64, [u8; 32])) -> Self {
        SqlTx { conn, head, scratch: Vec::with_capacity(512) }
    }
    pub(crate) fn head(&self) -> (i64, [u8; 32]) {
        self.head
    }
    pub(crate) fn set_head(&mut self, head: (i64, [u8; 32])) {
        self.head = head;
    }
    pub(crate) async fn execute(&mut self, sql: &'static str) -> Result<(), StoreError> {
        self.conn.execute(sql).await.map_err(map_err).map(|_| ())
    }
}

#[async_trait]
impl Tx for SqlTx<'_> {
    async fn append_audit(&mut self, event: NewAuditEvent) -> Result<AuditEvent, StoreError> {
        let e = AuditEvent::chain(event, self.head.0, self.head.1, &mut self.scratch);
        sqlx::query(
            "INSERT INTO audit_events (seq, at_us, actor, action, target, project, source, details, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(e.seq)
        .bind(e.at_us)
        .bind(e.actor.as_str())
        .bind(e.action.as_str())
        .bind(e.target.as_str())
        .bind(e.project.as_str())
        .bind(e.source.as_str())
        .bind(e.details.as_str())
        .bind(e.prev_hash.to_vec())
        .bind(e.hash.to_vec())
        .execute(&mut *self.conn)
        .await
        .map_err(map_err)?;
        self.head = (e.seq, e.hash);
        Ok(e)
    }

    async fn audit_head(&mut self) -> Result<(i64, [u8; 32]), StoreError> {
        Ok(self.head)
    }

    async fn last_checkpoint_seq(&mut self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM audit_checkpoints")
            .fetch_one(&mut *self.conn)
            .await
            .map_err(map_err)?;
        row.try_get(0).map_err(map_err)
    }

    async fn insert_checkpoint(&mut self, c: &Checkpoint) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO audit_checkpoints (seq, hash, at_us, signature) VALUES ($1, $2, $3, $4)")
            .bind(c.seq)
            .bind(c.hash.to_vec())
            .bind(c.at_us)
            .bind(c.signature.clone())
            .execute(&mut *self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn count_admins(&mut self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM user_roles WHERE role = 'admin'")
            .fetch_one(&mut *self.conn)
            .await
            .map_err(map_err)?;
        row.try_get(0).map_err(map_err)
    }

    async fn insert_user(&mut self, u: &NewUser) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (id, email, status, password_hash, created_us) VALUES ($1, $2, 'active', $3, $4)",
        )
        .bind(u.id.as_str())
        .bind(u.email.as_str())
        .bind(u.password_hash.as_str())
        .bind(u.created_us)
        .execute(&mut *self.conn)
        .await
        .map_err(|e| match map_err(e) {
            StoreError::Duplicate(_) => StoreError::Duplicate("user id"),
            other => other,
        })?;
        for role in &u.roles {
            sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                .bind(u.id.as_str())
                .bind(role.as_str())
                .execute(&mut *self.conn)
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }

    async fn replace_bootstrap_token(&mut self, hash: &[u8; 32], expires_us: i64) -> Result<(), StoreError> {
        self.execute("DELETE FROM bootstrap_tokens").await?;
        sqlx::query("INSERT INTO bootstrap_tokens (hash, expires_us) VALUES ($1, $2)")
            .bind(hash.to_vec())
            .bind(expires_us)
            .execute(&mut *self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn take_bootstrap_token(&mut self, hash: &[u8; 32], now_us: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM bootstrap_tokens WHERE hash = $1 AND expires_us > $2")
            .bind(hash.to_vec())
            .bind(now_us)
            .execute(&mut *self.conn)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_update(&mut self, u: &NewServiceUpdate) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO service_updates (title, body, published_us, author) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(u.title.as_str())
        .bind(u.body.as_str())
        .bind(u.published_us)
        .bind(u.author.as_str())
        .fetch_one(&mut *self.conn)
        .await
        .map_err(map_err)?;
        row.try_get(0).map_err(map_err)
    }

    async fn insert_project_key(
        &mut self,
        project: &str,
        version: i64,
        wrapped: &[u8],
        at_us: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO project_keys (project, version, wrapped, created_us) VALUES ($1, $2, $3, $4)")
            .bind(project)
            .bind(version)
            .bind(wrapped.to_vec())
            .bind(at_us)
            .execute(&mut *self.conn)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn project_key(&mut self, project: &str) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
        crate::sql_store::select_project_key(&mut *self.conn, project).await
    }

    async fn insert_object(&mut self, m: &ObjectMeta) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO objects (id, project, key_version, wrapped_key, size, sha256, created_us) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(m.id.as_str())
        .bind(m.project.as_str())
        .bind(m.key_version)
        .bind(m.wrapped_key.clone())
        .bind(m.size)
        .bind(m.sha256.as_str())
        .bind(m.created_us)
        .execute(&mut *self.conn)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn delete_object(&mut self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM objects WHERE id = $1")
            .bind(id)
            .execute(&mut *self.conn)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }
}
