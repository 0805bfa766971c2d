//! SQL on SQLite and PostgreSQL through sqlx's `Any` driver: one body of SQL for both, with the few
//! differences named in [`Dialect`]. Read it top-down:
//!
//! - here, [`connect`]: open the pools, migrate ([`migrate`]), start the store;
//! - [`reads`]: the [`haven_core::Store`] port: reads on a pool in read-only transactions,
//!   changes handed to the writer;
//! - [`writer`]: the group-commit writer: units of work batched into one transaction, each in its
//!   own savepoint, their audit events chained and appended in the same transaction;
//! - [`unit`]: a unit of work's transaction ([`unit::SqlTx`]), with the foundation's SQL (audit,
//!   keys, objects, updates, attempts), extended per capability by [`identity`], [`packages`] and [`governance`];
//! - [`migrate`], [`dialect`] and [`rows`] underneath.
//!
//! SQLite runs in WAL mode with `synchronous = FULL`, so a commit is durable when it returns; a
//! single writer connection matches SQLite's single-writer design, and readers use their own pool.

mod changes;
mod cluster;
mod dialect;
mod egress;
mod governance;
mod identity;
pub(crate) mod migrate;
mod packages;
mod pg_copy;
pub(crate) mod reads;
mod rows;
mod stream;
mod transfer;
mod unit;
mod workspaces;
mod writer;

use std::str::FromStr;
use std::time::Duration;

use haven_core::StoreError;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use dialect::Dialect;
use reads::SqlStore;
use rows::Db;

/// Open (creating if needed) the database at `url`, check its schema version, migrate it, and
/// start the writer. A database written by a newer Haven is refused before anything is changed.
pub async fn connect(url: &str) -> Result<SqlStore, StoreError> {
    sqlx::any::install_default_drivers();
    let dialect = Dialect::from_url(url)?;
    let options = AnyConnectOptions::from_str(&with_create(url, dialect)).db()?;
    let (write, read) = match dialect {
        Dialect::Sqlite => {
            let write = sqlite_pool(options.clone(), 1).await?;
            let read = sqlite_pool(options, 4).await?;
            (write, read)
        }
        Dialect::Postgres => {
            let pool = AnyPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .db()?;
            (pool.clone(), pool)
        }
    };
    migrate::run(&write, dialect).await?;
    // An in-memory SQLite database is one per connection: its trail is read through `read`.
    let stream = if url.contains(":memory:") { None } else { Some(stream::Streamer::open(url, dialect)?) };
    Ok(SqlStore::start(write, read, dialect, url, stream))
}

/// The object ids a SQLite copy (`SqlStore::snapshot_sqlite`) records, and its schema version,
/// read without changing the file: what a backup checks it holds.
pub async fn snapshot_objects(db: &std::path::Path) -> Result<(Vec<String>, i64), StoreError> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=ro", db.display());
    let mut conn = sqlx::AnyConnection::connect(&url).await.db()?;
    let ids: Vec<(String,)> = sqlx::query_as("SELECT id FROM objects").fetch_all(&mut conn).await.db()?;
    let (version,): (i64,) =
        sqlx::query_as("SELECT COALESCE(MAX(version), 0) FROM haven_schema").fetch_one(&mut conn).await.db()?;
    conn.close().await.db()?;
    Ok((ids.into_iter().map(|r| r.0).collect(), version))
}

fn with_create(url: &str, dialect: Dialect) -> String {
    if dialect == Dialect::Sqlite && !url.contains("mode=") && !url.contains(":memory:") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}mode=rwc")
    } else {
        url.to_string()
    }
}

async fn sqlite_pool(options: AnyConnectOptions, max: u32) -> Result<AnyPool, StoreError> {
    AnyPoolOptions::new()
        .max_connections(max)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA synchronous = FULL").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .db()
}
