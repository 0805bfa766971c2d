//! The [`Tx`] port inside the writer's transaction.
//!
//! A unit's audit events are chained in memory and written with the rest of its group in a few
//! multi-row INSERTs just before the commit. A unit's own SQL runs inside a savepoint that is opened
//! lazily, at its first statement, so that a unit that only appends audit events costs the database
//! no round trip of its own, while a unit that fails still rolls back alone.

use async_trait::async_trait;
use haven_core::accounts::NewUser;
use haven_core::audit::{AuditEvent, Checkpoint, NewAuditEvent};
use haven_core::blobs::ObjectMeta;
use haven_core::updates::{NewServiceUpdate, ServiceUpdate};
use haven_core::{StoreError, Tx};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Executor};

use super::rows::{Columns, Db};

/// A statement with its parameters bound.
pub(crate) type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Most audit events per INSERT statement (10 parameters each; well under both databases' limits).
const EVENTS_PER_INSERT: usize = 64;

/// Split `n` events into statement sizes that are powers of two, largest first, so that the
/// database sees at most seven distinct statements, each prepared once and then reused.
fn insert_sizes(mut n: usize) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        if n == 0 {
            return None;
        }
        let size = if n >= EVENTS_PER_INSERT { EVENTS_PER_INSERT } else { 1 << (usize::BITS - 1 - n.leading_zeros()) };
        n -= size;
        Some(size)
    })
}

fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO audit_events (seq, at_us, actor, action, target, project, source, details, prev_hash, hash) VALUES ",
    );
    for i in 0..rows {
        let b = i * 10;
        if i > 0 {
            sql.push(',');
        }
        sql.push('(');
        for k in 1..=10 {
            if k > 1 {
                sql.push(',');
            }
            sql.push_str(&format!("${}", b + k));
        }
        sql.push(')');
    }
    sql
}

pub(crate) struct SqlTx<'c> {
    conn: &'c mut AnyConnection,
    /// The chain head as of the last event appended (committed or pending).
    head: (i64, [u8; 32]),
    /// The head in the database when the group began.
    stored_head: (i64, [u8; 32]),
    /// Events appended in this group, not yet written.
    pending: Vec<AuditEvent>,
    scratch: Vec<u8>,
    /// Whether units run in savepoints (groups of more than one unit).
    isolate: bool,
    savepoint_open: bool,
    unit_start: ((i64, [u8; 32]), usize),
}

impl<'c> SqlTx<'c> {
    pub(crate) fn new(conn: &'c mut AnyConnection, head: (i64, [u8; 32]), isolate: bool) -> Self {
        SqlTx {
            conn,
            head,
            stored_head: head,
            pending: Vec::new(),
            scratch: Vec::with_capacity(512),
            isolate,
            savepoint_open: false,
            unit_start: (head, 0),
        }
    }

    async fn execute(&mut self, sql: &'static str) -> Result<(), StoreError> {
        self.conn.execute(sql).await.db().map(|_| ())
    }

    /// Run a statement; the number of rows it touched.
    pub(crate) async fn exec(&mut self, q: Query<'_>) -> Result<u64, StoreError> {
        Ok(q.execute(self.sql().await?).await.db()?.rows_affected())
    }

    /// Every row a query returns.
    pub(crate) async fn all(&mut self, q: Query<'_>) -> Result<Vec<AnyRow>, StoreError> {
        q.fetch_all(self.sql().await?).await.db()
    }

    /// Each row a query returns, to `f` as it arrives (nothing held); how many there were.
    pub(crate) async fn each(
        &mut self,
        q: Query<'_>,
        mut f: impl FnMut(&AnyRow) -> Result<(), StoreError> + Send,
    ) -> Result<u64, StoreError> {
        use futures::TryStreamExt;
        let mut rows = q.fetch(self.sql().await?);
        let mut n = 0;
        while let Some(row) = rows.try_next().await.db()? {
            f(&row)?;
            n += 1;
        }
        Ok(n)
    }

    /// The row a query returns, if any.
    pub(crate) async fn optional(&mut self, q: Query<'_>) -> Result<Option<AnyRow>, StoreError> {
        q.fetch_optional(self.sql().await?).await.db()
    }

    /// The one row a query must return.
    pub(crate) async fn one(&mut self, q: Query<'_>) -> Result<AnyRow, StoreError> {
        q.fetch_one(self.sql().await?).await.db()
    }

    /// The connection for a unit's own SQL, inside the unit's savepoint.
    async fn sql(&mut self) -> Result<&mut AnyConnection, StoreError> {
        if self.isolate && !self.savepoint_open {
            self.conn.execute("SAVEPOINT unit").await.db()?;
            self.savepoint_open = true;
        }
        Ok(&mut *self.conn)
    }

    pub(crate) fn begin_unit(&mut self) {
        self.savepoint_open = false;
        self.unit_start = (self.head, self.pending.len());
    }

    /// Keep (`ok`) or undo the unit that just ran.
    pub(crate) async fn end_unit(&mut self, ok: bool) -> Result<(), StoreError> {
        if self.savepoint_open {
            if !ok {
                self.execute("ROLLBACK TO SAVEPOINT unit").await?;
            }
            self.execute("RELEASE SAVEPOINT unit").await?;
            self.savepoint_open = false;
        }
        if !ok {
            (self.head, _) = self.unit_start;
            self.pending.truncate(self.unit_start.1);
        }
        Ok(())
    }

    /// Write the group's audit events and the new head. Call once, before COMMIT.
    pub(crate) async fn flush(&mut self) -> Result<(), StoreError> {
        let SqlTx { conn, pending, .. } = self;
        let mut rest: &[AuditEvent] = pending;
        for size in insert_sizes(pending.len()) {
            let (chunk, tail) = rest.split_at(size);
            rest = tail;
            let sql = insert_sql(size);
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for e in chunk {
                q = q
                    .bind(e.seq)
                    .bind(e.at_us)
                    .bind(e.actor.as_str())
                    .bind(e.action.as_str())
                    .bind(e.target.as_str())
                    .bind(e.project.as_str())
                    .bind(e.source.as_str())
                    .bind(e.details.as_str())
                    .bind(e.prev_hash.to_vec())
                    .bind(e.hash.to_vec());
            }
            q.execute(&mut **conn).await.db()?;
        }
        pending.clear();
        if self.head != self.stored_head {
            let q = sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
                .bind(self.head.0)
                .bind(self.head.1.to_vec());
            self.exec(q).await?;
            self.stored_head = self.head;
        }
        Ok(())
    }
}

#[async_trait]
impl Tx for SqlTx<'_> {
    async fn audit_tally(
        &mut self,
        from_us: i64,
        to_us: i64,
        action: Option<&str>,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let q = match action {
            Some(a) => sqlx::query(
                "SELECT action, actor, COUNT(*) AS n FROM audit_events \
                 WHERE at_us >= $1 AND at_us < $2 AND action = $3 GROUP BY action, actor ORDER BY actor",
            )
            .bind(from_us)
            .bind(to_us)
            .bind(a),
            None => sqlx::query(
                "SELECT action, '' AS actor, COUNT(*) AS n FROM audit_events \
                 WHERE at_us >= $1 AND at_us < $2 GROUP BY action ORDER BY action",
            )
            .bind(from_us)
            .bind(to_us),
        };
        let rows = self.all(q).await?;
        rows.iter().map(|r| Ok((r.col("action")?, r.col("actor")?, r.col("n")?))).collect()
    }

    async fn append_audit(&mut self, event: NewAuditEvent) -> Result<AuditEvent, StoreError> {
        let e = AuditEvent::chain(event, self.head.0, self.head.1, &mut self.scratch);
        self.head = (e.seq, e.hash);
        self.pending.push(e.clone());
        Ok(e)
    }

    async fn audit_head(&mut self) -> Result<(i64, [u8; 32]), StoreError> {
        Ok(self.head)
    }

    async fn last_audit_seq(&mut self) -> Result<i64, StoreError> {
        self.one(sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM audit_events")).await?.col("seq")
    }

    async fn last_checkpoint_seq(&mut self) -> Result<i64, StoreError> {
        self.one(sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM audit_checkpoints")).await?.col("seq")
    }

    async fn insert_checkpoint(&mut self, c: &Checkpoint) -> Result<(), StoreError> {
        let q = sqlx::query("INSERT INTO audit_checkpoints (seq, hash, at_us, signature) VALUES ($1, $2, $3, $4)")
            .bind(c.seq)
            .bind(c.hash.to_vec())
            .bind(c.at_us)
            .bind(c.signature.clone());
        self.exec(q).await.map(|_| ())
    }

    async fn audit_checkpoints(&mut self) -> Result<Vec<Checkpoint>, StoreError> {
        let rows =
            self.all(sqlx::query("SELECT seq, hash, at_us, signature FROM audit_checkpoints ORDER BY seq")).await?;
        rows.iter()
            .map(|r| {
                Ok(Checkpoint {
                    seq: r.col("seq")?,
                    hash: r.hash32("hash")?,
                    at_us: r.col("at_us")?,
                    signature: r.col("signature")?,
                })
            })
            .collect()
    }

    async fn count_admins(&mut self) -> Result<i64, StoreError> {
        self.one(sqlx::query("SELECT COUNT(*) AS n FROM user_roles WHERE role = 'admin'")).await?.col("n")
    }

    async fn insert_user(&mut self, u: &NewUser) -> Result<(), StoreError> {
        let q = sqlx::query(
            "INSERT INTO users (id, email, status, password_hash, created_us, password_changed_us) VALUES ($1, $2, 'active', $3, $4, $4)",
        )
        .bind(u.id.as_str())
        .bind(u.email.as_str())
        .bind(u.password_hash.as_str())
        .bind(u.created_us);
        self.exec(q).await.map_err(|e| match e {
            StoreError::Duplicate(_) => StoreError::Duplicate("user id"),
            other => other,
        })?;
        for role in &u.roles {
            let q = sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                .bind(u.id.as_str())
                .bind(role.as_str());
            self.exec(q).await?;
        }
        Ok(())
    }

    async fn replace_bootstrap_token(&mut self, hash: &[u8; 32], expires_us: i64) -> Result<(), StoreError> {
        self.exec(sqlx::query("DELETE FROM bootstrap_tokens")).await?;
        let q = sqlx::query("INSERT INTO bootstrap_tokens (hash, expires_us) VALUES ($1, $2)")
            .bind(hash.to_vec())
            .bind(expires_us);
        self.exec(q).await.map(|_| ())
    }

    async fn take_bootstrap_token(&mut self, hash: &[u8; 32], now_us: i64) -> Result<bool, StoreError> {
        let q = sqlx::query("DELETE FROM bootstrap_tokens WHERE hash = $1 AND expires_us > $2")
            .bind(hash.to_vec())
            .bind(now_us);
        Ok(self.exec(q).await? == 1)
    }

    async fn insert_update(&mut self, u: &NewServiceUpdate) -> Result<i64, StoreError> {
        let q = sqlx::query(
            "INSERT INTO service_updates (title, body, published_us, author) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(u.title.as_str())
        .bind(u.body.as_str())
        .bind(u.published_us)
        .bind(u.author.as_str());
        self.one(q).await?.col("id")
    }

    async fn service_updates(&mut self, limit: i64) -> Result<Vec<ServiceUpdate>, StoreError> {
        let q = sqlx::query(
            "SELECT id, title, body, published_us, author FROM service_updates ORDER BY published_us DESC, id DESC LIMIT $1",
        )
        .bind(limit);
        self.all(q)
            .await?
            .iter()
            .map(|r| {
                Ok(ServiceUpdate {
                    id: r.col("id")?,
                    title: r.col("title")?,
                    body: r.col("body")?,
                    published_us: r.col("published_us")?,
                    author: r.col("author")?,
                })
            })
            .collect()
    }

    async fn insert_project_key(
        &mut self,
        project: &str,
        version: i64,
        wrapped: &[u8],
        at_us: i64,
    ) -> Result<(), StoreError> {
        let q = sqlx::query("INSERT INTO project_keys (project, version, wrapped, created_us) VALUES ($1, $2, $3, $4)")
            .bind(project)
            .bind(version)
            .bind(wrapped.to_vec())
            .bind(at_us);
        self.exec(q).await.map(|_| ())
    }

    async fn project_key(&mut self, project: &str) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
        let q =
            sqlx::query("SELECT version, wrapped FROM project_keys WHERE project = $1 ORDER BY version DESC LIMIT 1")
                .bind(project);
        self.optional(q).await?.map(|r| Ok((r.col("version")?, r.col("wrapped")?))).transpose()
    }

    async fn any_project_key(&mut self) -> Result<Option<(String, i64, Vec<u8>)>, StoreError> {
        let q = sqlx::query(
            "SELECT project, version, wrapped FROM project_keys WHERE version > 0 AND length(wrapped) > 0 \
             ORDER BY project, version LIMIT 1",
        );
        self.optional(q).await?.map(|r| Ok((r.col("project")?, r.col("version")?, r.col("wrapped")?))).transpose()
    }

    async fn insert_object(&mut self, m: &ObjectMeta) -> Result<(), StoreError> {
        let q = sqlx::query(
            "INSERT INTO objects (id, project, key_version, wrapped_key, size, sha256, created_us) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(m.id.as_str())
        .bind(m.project.as_str())
        .bind(m.key_version)
        .bind(m.wrapped_key.clone())
        .bind(m.size)
        .bind(m.sha256.as_str())
        .bind(m.created_us);
        self.exec(q).await.map(|_| ())
    }

    async fn delete_object(&mut self, id: &str) -> Result<bool, StoreError> {
        Ok(self.exec(sqlx::query("DELETE FROM objects WHERE id = $1").bind(id)).await? == 1)
    }

    async fn object_recorded(&mut self, id: &str) -> Result<bool, StoreError> {
        Ok(self.optional(sqlx::query("SELECT 1 AS found FROM objects WHERE id = $1").bind(id)).await?.is_some())
    }

    async fn object(&mut self, id: &str) -> Result<Option<ObjectMeta>, StoreError> {
        let q = sqlx::query(
            "SELECT id, project, key_version, wrapped_key, size, sha256, created_us FROM objects WHERE id = $1",
        )
        .bind(id);
        self.optional(q).await?.as_ref().map(super::transfer::object).transpose()
    }

    async fn objects_after(&mut self, after: &str, limit: i64) -> Result<Vec<ObjectMeta>, StoreError> {
        let q = sqlx::query(
            "SELECT id, project, key_version, wrapped_key, size, sha256, created_us FROM objects WHERE id > $1 \
             ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit);
        self.all(q).await?.iter().map(super::transfer::object).collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn insert_sizes_are_powers_of_two_summing_to_n() {
        for n in 0..300 {
            let sizes: Vec<usize> = super::insert_sizes(n).collect();
            assert_eq!(sizes.iter().sum::<usize>(), n);
            assert!(sizes.iter().all(|s| s.is_power_of_two() && *s <= super::EVENTS_PER_INSERT));
        }
        assert_eq!(super::insert_sizes(100).collect::<Vec<_>>(), [64, 32, 4]);
        assert!(
            super::insert_sql(2)
                .ends_with("($1,$2,$3,$4,$5,$6,$7,$8,$9,$10),($11,$12,$13,$14,$15,$16,$17,$18,$19,$20)")
        );
    }
}
