//! The one read that returns millions of rows: the audit trail, streamed for `haven audit
//! verify` and exports. Through sqlx's `Any` driver each row is first copied into generic values
//! and then looked up by column name; here it is read by the database's own driver, by position,
//! straight into an event (about twice as fast: docs/benchmarks.md). A pool of its own, opened
//! on first use, so that a long verification does not hold a connection the requests need.

use std::str::FromStr;

use futures::StreamExt;
use futures::stream::BoxStream;
use haven_core::StoreError;
use haven_core::audit::AuditEvent;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{PgPool, SqlitePool};

use super::dialect::Dialect;
use super::rows::{AUDIT_COLUMNS, Db, corrupt};

type Row = (i64, i64, String, String, String, String, String, String, Vec<u8>, Vec<u8>);

const SQL: &str = "WHERE seq >= $1 AND at_us >= $2 ORDER BY seq";

#[derive(Clone)]
pub(crate) enum Streamer {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Streamer {
    /// A lazily connected pool on `url` (read only on SQLite).
    pub(crate) fn open(url: &str, dialect: Dialect) -> Result<Self, StoreError> {
        Ok(match dialect {
            Dialect::Sqlite => {
                let options = SqliteConnectOptions::from_str(url).db()?.read_only(true);
                Streamer::Sqlite(SqlitePoolOptions::new().max_connections(4).connect_lazy_with(options))
            }
            Dialect::Postgres => {
                let options = PgConnectOptions::from_str(url).db()?;
                Streamer::Postgres(PgPoolOptions::new().max_connections(4).connect_lazy_with(options))
            }
        })
    }

    pub(crate) fn audit_events(&self, from_seq: i64, since_us: i64) -> BoxStream<'_, Result<AuditEvent, StoreError>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {AUDIT_COLUMNS} FROM audit_events {SQL}"));
        match self {
            Streamer::Sqlite(pool) => sqlx::query_as::<_, Row>(sql)
                .bind(from_seq)
                .bind(since_us)
                .fetch(pool)
                .map(|row| event(row.db()?))
                .boxed(),
            Streamer::Postgres(pool) => sqlx::query_as::<_, Row>(sql)
                .bind(from_seq)
                .bind(since_us)
                .fetch(pool)
                .map(|row| event(row.db()?))
                .boxed(),
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            Streamer::Sqlite(pool) => pool.close().await,
            Streamer::Postgres(pool) => pool.close().await,
        }
    }
}

fn event(r: Row) -> Result<AuditEvent, StoreError> {
    let hash = |v: Vec<u8>| -> Result<[u8; 32], StoreError> { v.try_into().map_err(|_| corrupt("hash")) };
    Ok(AuditEvent {
        seq: r.0,
        at_us: r.1,
        actor: r.2,
        action: r.3,
        target: r.4,
        project: r.5,
        source: r.6,
        details: r.7,
        prev_hash: hash(r.8)?,
        hash: hash(r.9)?,
    })
}
