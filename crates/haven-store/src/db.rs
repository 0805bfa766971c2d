//! Connecting: one code path for both databases through sqlx's `Any` driver, with the few dialect
//! differences named in [`Dialect`]. SQLite runs in WAL mode with `synchronous = FULL`, so a
//! commit is durable when it returns; a single writer connection matches SQLite's single-writer
//! design, and readers use their own pool.

use std::str::FromStr;
use std::time::Duration;

use haven_core::StoreError;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::sql_store::SqlStore;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn from_url(url: &str) -> Result<Dialect, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Dialect::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Dialect::Postgres)
        } else {
            Err(StoreError::Database("database.url must start with sqlite:// or postgres://".into()))
        }
    }

    /// Take the write lock at the start, so a transaction never fails half-way for want of it.
    pub(crate) fn begin(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        }
    }

    /// Read the audit head, locking it against other writers (other Haven nodes on PostgreSQL).
    pub(crate) fn lock_head(self) -> &'static str {
        match self {
            Dialect::Sqlite => "SELECT seq, hash FROM audit_head WHERE id = 1",
            Dialect::Postgres => "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
        }
    }
}

/// A stored value that does not read back as what was written.
pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("a stored {what} is malformed"))
}

/// Column `i` of a row, with the driver's error mapped.
pub(crate) fn get<'r, T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>>(
    row: &'r sqlx::any::AnyRow,
    i: usize,
) -> Result<T, StoreError> {
    sqlx::Row::try_get(row, i).map_err(map_err)
}

/// A 32-byte hash column.
pub(crate) fn hash32(row: &sqlx::any::AnyRow, i: usize) -> Result<[u8; 32], StoreError> {
    let v: Vec<u8> = get(row, i)?;
    v.try_into().map_err(|_| corrupt("hash"))
}

pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
    {
        return StoreError::Duplicate("key");
    }
    StoreError::Database(redact(&e.to_string()))
}

/// Driver messages can quote a connection URL; never let a password through.
fn redact(message: &str) -> String {
    let mut out = message.to_string();
    if let Some(at) = out.find('@')
        && let Some(scheme) = out.find("://")
        && scheme < at
    {
        out.replace_range(scheme + 3..at, "<redacted>");
    }
    out
}

/// Open (creating if needed) the database at `url`, check its schema version, migrate it, and
/// start the writer. A database written by a newer Haven is refused before anything is changed.
pub async fn connect(url: &str) -> Result<SqlStore, StoreError> {
    sqlx::any::install_default_drivers();
    let dialect = Dialect::from_url(url)?;
    let options = AnyConnectOptions::from_str(&with_create(url, dialect)).map_err(map_err)?;
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
                .map_err(map_err)?;
            (pool.clone(), pool)
        }
    };
    crate::migrate::run(&write, dialect).await?;
    Ok(SqlStore::start(write, read, dialect))
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
        .map_err(map_err)
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_in_driver_messages_are_redacted() {
        let r = super::redact("error connecting to postgres://haven:s3cret@db:5432/haven");
        assert!(!r.contains("s3cret"), "{r}");
    }
}
