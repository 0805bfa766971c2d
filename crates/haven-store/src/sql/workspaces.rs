//! SQL for the workspaces part of the storage port: the application catalogue, sessions and
//! batch jobs.

use async_trait::async_trait;
use haven_core::StoreError;
use haven_core::workspaces::catalogue::{App, AppKind, CatalogueTx, DefaultApp};
use haven_core::workspaces::jobs::{JobRecord, JobState, JobsTx};
use haven_core::workspaces::sessions::{SessionRecord, SessionState, SessionsTx};
use sqlx::any::AnyRow;

use super::rows::Columns;
use super::unit::SqlTx;

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("a stored application's {what} cannot be read"))
}

#[async_trait]
impl CatalogueTx for SqlTx<'_> {
    async fn insert_app(&mut self, app: &App) -> Result<(), StoreError> {
        let command = serde_json::to_string(&app.command).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let q = sqlx::query(
            "INSERT INTO apps (name, version, kind, command, description, added_by, added_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(app.name.as_str())
        .bind(app.version.as_str())
        .bind(app.kind.as_str())
        .bind(command)
        .bind(app.description.as_str())
        .bind(app.added_by.as_str())
        .bind(app.added_us);
        self.exec(q).await.map(|_| ())
    }

    async fn apps(&mut self) -> Result<Vec<App>, StoreError> {
        let q = sqlx::query("SELECT name, version, kind, command, description, added_by, added_us FROM apps");
        self.all(q)
            .await?
            .iter()
            .map(|r| {
                let kind: String = r.col("kind")?;
                let command: String = r.col("command")?;
                Ok(App {
                    name: r.col("name")?,
                    version: r.col("version")?,
                    kind: AppKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
                    command: serde_json::from_str(&command).map_err(|_| corrupt("command"))?,
                    description: r.col("description")?,
                    added_by: r.col("added_by")?,
                    added_us: r.col("added_us")?,
                })
            })
            .collect()
    }

    async fn set_app_default(&mut self, d: &DefaultApp) -> Result<(), StoreError> {
        let q = sqlx::query(
            "INSERT INTO app_defaults (extension, name, version) VALUES ($1, $2, $3) \
             ON CONFLICT (extension) DO UPDATE SET name = excluded.name, version = excluded.version",
        )
        .bind(d.extension.as_str())
        .bind(d.name.as_str())
        .bind(d.version.as_str());
        self.exec(q).await.map(|_| ())
    }

    async fn app_defaults(&mut self) -> Result<Vec<DefaultApp>, StoreError> {
        let q = sqlx::query("SELECT extension, name, version FROM app_defaults ORDER BY extension");
        self.all(q)
            .await?
            .iter()
            .map(|r| {
                Ok(DefaultApp { extension: r.col("extension")?, name: r.col("name")?, version: r.col("version")? })
            })
            .collect()
    }
}

const SESSION_COLUMNS: &str = "id, owner, asset, app_name, app_version, kind, backend, uid, gid, state, started_us, \
                               ended_us, end_reason, token_hash";

fn id_of(v: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("a stored session {what} is out of range")))
}

fn token_hash(r: &AnyRow) -> Result<Option<[u8; 32]>, StoreError> {
    let hash: Option<Vec<u8>> = r.col("token_hash")?;
    hash.map(|h| <[u8; 32]>::try_from(h.as_slice()).map_err(|_| StoreError::Corrupt("a session's token hash".into())))
        .transpose()
}

fn session(r: &AnyRow) -> Result<SessionRecord, StoreError> {
    let token_hash = token_hash(r)?;
    Ok(SessionRecord {
        id: r.col("id")?,
        owner: r.col("owner")?,
        asset: r.col("asset")?,
        app_name: r.col("app_name")?,
        app_version: r.col("app_version")?,
        kind: r.parsed("kind", AppKind::parse, "session kind")?,
        backend: r.col("backend")?,
        uid: id_of(r.col("uid")?, "uid")?,
        gid: id_of(r.col("gid")?, "gid")?,
        state: r.parsed(
            "state",
            |s| match s {
                "running" => Some(SessionState::Running),
                "ended" => Some(SessionState::Ended),
                _ => None,
            },
            "session state",
        )?,
        started_us: r.col("started_us")?,
        ended_us: r.col("ended_us")?,
        end_reason: r.col("end_reason")?,
        token_hash,
    })
}

#[async_trait]
impl SessionsTx for SqlTx<'_> {
    async fn session_identity(&mut self, kind: &str, name: &str) -> Result<Option<u32>, StoreError> {
        let q = sqlx::query("SELECT id FROM session_identities WHERE kind = $1 AND name = $2").bind(kind).bind(name);
        match self.optional(q).await? {
            Some(r) => Ok(Some(id_of(r.col("id")?, "identity")?)),
            None => Ok(None),
        }
    }

    async fn insert_session_identity(&mut self, kind: &str, name: &str, id: u32) -> Result<(), StoreError> {
        let q = sqlx::query("INSERT INTO session_identities (kind, name, id) VALUES ($1, $2, $3)")
            .bind(kind)
            .bind(name)
            .bind(i64::from(id));
        self.exec(q).await.map(|_| ())
    }

    async fn max_session_identity(&mut self) -> Result<Option<u32>, StoreError> {
        let q = sqlx::query("SELECT MAX(id) AS id FROM session_identities");
        let row = self.optional(q).await?;
        match row {
            Some(r) => {
                let max: Option<i64> = r.col("id")?;
                max.map(|m| id_of(m, "identity")).transpose()
            }
            None => Ok(None),
        }
    }

    async fn insert_app_session(&mut self, s: &SessionRecord) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO app_sessions ({SESSION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        );
        let q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(s.id.as_str())
            .bind(s.owner.as_str())
            .bind(s.asset.as_str())
            .bind(s.app_name.as_str())
            .bind(s.app_version.as_str())
            .bind(s.kind.as_str())
            .bind(s.backend.as_str())
            .bind(i64::from(s.uid))
            .bind(i64::from(s.gid))
            .bind(if s.running() { "running" } else { "ended" })
            .bind(s.started_us)
            .bind(s.ended_us)
            .bind(s.end_reason.as_str())
            .bind(s.token_hash.map(|h| h.to_vec()));
        self.exec(q).await.map(|_| ())
    }

    async fn app_session(&mut self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM app_sessions WHERE id = $1");
        let row = self.optional(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id)).await?;
        row.as_ref().map(session).transpose()
    }

    async fn app_sessions(&mut self, owner: Option<&str>, limit: u32) -> Result<Vec<SessionRecord>, StoreError> {
        let order = "ORDER BY CASE WHEN state = 'running' THEN 0 ELSE 1 END, started_us DESC, id";
        let limit = i64::from(limit);
        let q = match owner {
            Some(owner) => {
                let sql = format!("SELECT {SESSION_COLUMNS} FROM app_sessions WHERE owner = $1 {order} LIMIT $2");
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(owner.to_string()).bind(limit)
            }
            None => {
                let sql = format!("SELECT {SESSION_COLUMNS} FROM app_sessions {order} LIMIT $1");
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit)
            }
        };
        self.all(q).await?.iter().map(session).collect()
    }

    async fn running_app_sessions(&mut self) -> Result<Vec<SessionRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM app_sessions WHERE state = 'running' ORDER BY started_us, id");
        self.all(sqlx::query(sqlx::AssertSqlSafe(sql))).await?.iter().map(session).collect()
    }

    async fn end_app_session(&mut self, id: &str, ended_us: i64, reason: &str) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "UPDATE app_sessions SET state = 'ended', ended_us = $2, end_reason = $3 \
             WHERE id = $1 AND state = 'running'",
        )
        .bind(id)
        .bind(ended_us)
        .bind(reason);
        Ok(self.exec(q).await? > 0)
    }
}

const JOB_COLUMNS: &str = "id, owner, submitted_by, asset, app_name, app_version, script_name, state, exit_code, \
     backend, uid, gid, submitted_us, started_us, ended_us, end_reason, token_hash";

fn job(r: &AnyRow) -> Result<JobRecord, StoreError> {
    let exit_code: Option<i64> = r.col("exit_code")?;
    let exit_code = exit_code
        .map(|c| i32::try_from(c).map_err(|_| StoreError::Corrupt("a job's exit code is out of range".into())))
        .transpose()?;
    Ok(JobRecord {
        id: r.col("id")?,
        owner: r.col("owner")?,
        submitted_by: r.col("submitted_by")?,
        asset: r.col("asset")?,
        app_name: r.col("app_name")?,
        app_version: r.col("app_version")?,
        script_name: r.col("script_name")?,
        state: r.parsed("state", JobState::parse, "job state")?,
        exit_code,
        backend: r.col("backend")?,
        uid: id_of(r.col("uid")?, "uid")?,
        gid: id_of(r.col("gid")?, "gid")?,
        submitted_us: r.col("submitted_us")?,
        started_us: r.col("started_us")?,
        ended_us: r.col("ended_us")?,
        end_reason: r.col("end_reason")?,
        token_hash: token_hash(r)?,
    })
}

#[async_trait]
impl JobsTx for SqlTx<'_> {
    async fn insert_job(&mut self, j: &JobRecord) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO batch_jobs ({JOB_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
        );
        let q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(j.id.as_str())
            .bind(j.owner.as_str())
            .bind(j.submitted_by.as_str())
            .bind(j.asset.as_str())
            .bind(j.app_name.as_str())
            .bind(j.app_version.as_str())
            .bind(j.script_name.as_str())
            .bind(j.state.as_str())
            .bind(j.exit_code.map(i64::from))
            .bind(j.backend.as_str())
            .bind(i64::from(j.uid))
            .bind(i64::from(j.gid))
            .bind(j.submitted_us)
            .bind(j.started_us)
            .bind(j.ended_us)
            .bind(j.end_reason.as_str())
            .bind(j.token_hash.map(|h| h.to_vec()));
        self.exec(q).await.map(|_| ())
    }

    async fn job(&mut self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM batch_jobs WHERE id = $1");
        let row = self.optional(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id)).await?;
        row.as_ref().map(job).transpose()
    }

    async fn jobs(&mut self, owner: Option<&str>, limit: u32) -> Result<Vec<JobRecord>, StoreError> {
        let order = "ORDER BY CASE WHEN state IN ('queued', 'running') THEN 0 ELSE 1 END, submitted_us DESC, id";
        let limit = i64::from(limit);
        let q = match owner {
            Some(owner) => {
                let sql = format!("SELECT {JOB_COLUMNS} FROM batch_jobs WHERE owner = $1 {order} LIMIT $2");
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(owner.to_string()).bind(limit)
            }
            None => {
                let sql = format!("SELECT {JOB_COLUMNS} FROM batch_jobs {order} LIMIT $1");
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit)
            }
        };
        self.all(q).await?.iter().map(job).collect()
    }

    async fn jobs_in_state(&mut self, state: JobState, limit: u32) -> Result<Vec<JobRecord>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM batch_jobs WHERE state = $1 ORDER BY submitted_us, id LIMIT $2");
        let q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(state.as_str()).bind(i64::from(limit));
        self.all(q).await?.iter().map(job).collect()
    }

    async fn start_job(&mut self, j: &JobRecord) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "UPDATE batch_jobs SET state = 'running', backend = $2, uid = $3, gid = $4, started_us = $5, \
             token_hash = $6 WHERE id = $1 AND state = 'queued'",
        )
        .bind(j.id.as_str())
        .bind(j.backend.as_str())
        .bind(i64::from(j.uid))
        .bind(i64::from(j.gid))
        .bind(j.started_us)
        .bind(j.token_hash.map(|h| h.to_vec()));
        Ok(self.exec(q).await? > 0)
    }

    async fn end_job(
        &mut self,
        id: &str,
        state: JobState,
        exit_code: Option<i32>,
        ended_us: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "UPDATE batch_jobs SET state = $2, exit_code = $3, ended_us = $4, end_reason = $5 \
             WHERE id = $1 AND state IN ('queued', 'running')",
        )
        .bind(id)
        .bind(state.as_str())
        .bind(exit_code.map(i64::from))
        .bind(ended_us)
        .bind(reason);
        Ok(self.exec(q).await? > 0)
    }
}
