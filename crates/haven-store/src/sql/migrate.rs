//! Embedded schema migrations, one directory per dialect. Written here rather than with sqlx's
//! migrate macro so that a database from a newer Haven is detected and refused before any change,
//! and to keep sqlx's compile-time macro machinery out of the build.

use haven_core::StoreError;
use sqlx::AnyPool;

use super::dialect::Dialect;
use super::rows::{Columns, Db};

struct Migration {
    version: i64,
    description: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "foundation",
        sqlite: include_str!("../../migrations/sqlite/0001_foundation.sql"),
        postgres: include_str!("../../migrations/postgres/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        description: "identity",
        sqlite: include_str!("../../migrations/sqlite/0002_identity.sql"),
        postgres: include_str!("../../migrations/postgres/0002_identity.sql"),
    },
    Migration {
        version: 3,
        description: "packages",
        sqlite: include_str!("../../migrations/sqlite/0003_packages.sql"),
        postgres: include_str!("../../migrations/postgres/0003_packages.sql"),
    },
    Migration {
        version: 4,
        description: "hardening",
        sqlite: include_str!("../../migrations/sqlite/0004_hardening.sql"),
        postgres: include_str!("../../migrations/postgres/0004_hardening.sql"),
    },
    Migration {
        version: 5,
        description: "governance",
        sqlite: include_str!("../../migrations/sqlite/0005_governance.sql"),
        postgres: include_str!("../../migrations/postgres/0005_governance.sql"),
    },
    Migration {
        version: 6,
        description: "api tokens and report index",
        sqlite: include_str!("../../migrations/sqlite/0006_api.sql"),
        postgres: include_str!("../../migrations/postgres/0006_api.sql"),
    },
    Migration {
        version: 7,
        description: "file transfer: uploads, arrivals, drop-off links",
        sqlite: include_str!("../../migrations/sqlite/0007_transfer.sql"),
        postgres: include_str!("../../migrations/postgres/0007_transfer.sql"),
    },
    Migration {
        version: 8,
        description: "workspaces: the application catalogue",
        sqlite: include_str!("../../migrations/sqlite/0008_workspaces.sql"),
        postgres: include_str!("../../migrations/postgres/0008_workspaces.sql"),
    },
    Migration {
        version: 9,
        description: "workspaces: session identities and sessions",
        sqlite: include_str!("../../migrations/sqlite/0009_sessions.sql"),
        postgres: include_str!("../../migrations/postgres/0009_sessions.sql"),
    },
    Migration {
        version: 10,
        description: "workspaces: batch jobs",
        sqlite: include_str!("../../migrations/sqlite/0010_jobs.sql"),
        postgres: include_str!("../../migrations/postgres/0010_jobs.sql"),
    },
    Migration {
        version: 11,
        description: "egress: output requests, permissions, release downloads",
        sqlite: include_str!("../../migrations/sqlite/0011_egress.sql"),
        postgres: include_str!("../../migrations/postgres/0011_egress.sql"),
    },
    Migration {
        version: 12,
        description: "several nodes: leases for background work",
        sqlite: include_str!("../../migrations/sqlite/0012_cluster.sql"),
        postgres: include_str!("../../migrations/postgres/0012_cluster.sql"),
    },
    Migration {
        version: 13,
        description: "change counters for what nodes keep in memory",
        sqlite: include_str!("../../migrations/sqlite/0013_changes.sql"),
        postgres: include_str!("../../migrations/postgres/0013_changes.sql"),
    },
    Migration {
        version: 14,
        description: "several nodes: where each node answers the others",
        sqlite: include_str!("../../migrations/sqlite/0014_nodes.sql"),
        postgres: include_str!("../../migrations/postgres/0014_nodes.sql"),
    },
];

/// The advisory lock migrations take on PostgreSQL ("haven" + a digit, as one number).
const MIGRATION_LOCK: i64 = 0x6861_7665_6e01;

/// The newest schema version this Haven knows.
pub const KNOWN_VERSION: i64 = 14;

/// The schema version of the database, 0 if it is empty.
pub async fn schema_version(pool: &AnyPool) -> Result<i64, StoreError> {
    let exists = sqlx::query("SELECT 1 FROM haven_schema LIMIT 1").fetch_optional(pool).await;
    if exists.is_err() {
        return Ok(0);
    }
    let row =
        sqlx::query("SELECT COALESCE(MAX(version), 0) AS version FROM haven_schema").fetch_one(pool).await.db()?;
    row.col("version")
}

pub(crate) async fn run(pool: &AnyPool, dialect: Dialect) -> Result<(), StoreError> {
    let current = schema_version(pool).await?;
    if current > KNOWN_VERSION {
        return Err(StoreError::NewerSchema { found: current, known: KNOWN_VERSION });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let mut tx = pool.begin_with(dialect.begin()).await.db()?;
        // Several nodes starting at once on PostgreSQL: one migrates, the others wait here and
        // then find the migration applied. (On SQLite, BEGIN IMMEDIATE takes the write lock.)
        if dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(MIGRATION_LOCK).execute(&mut *tx).await.db()?;
        }
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS haven_schema (version BIGINT PRIMARY KEY, description TEXT NOT NULL, applied_us BIGINT NOT NULL)",
        )
        .execute(&mut *tx)
        .await
        .db()?;
        // Read again under the lock: another node may have migrated meanwhile, or (a newer
        // Haven started beside this one) past what this one knows.
        let (now,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(version), 0) FROM haven_schema").fetch_one(&mut *tx).await.db()?;
        if now > KNOWN_VERSION {
            return Err(StoreError::NewerSchema { found: now, known: KNOWN_VERSION });
        }
        if now >= m.version {
            continue;
        }
        let sql = match dialect {
            Dialect::Sqlite => m.sqlite,
            Dialect::Postgres => m.postgres,
        };
        sqlx::raw_sql(sql).execute(&mut *tx).await.db()?;
        sqlx::query("INSERT INTO haven_schema (version, description, applied_us) VALUES ($1, $2, 0)")
            .bind(m.version)
            .bind(m.description)
            .execute(&mut *tx)
            .await
            .db()?;
        tx.commit().await.db()?;
        tracing::info!(version = m.version, description = m.description, "applied database migration");
    }
    Ok(())
}
