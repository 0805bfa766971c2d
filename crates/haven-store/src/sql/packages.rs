//! SQL for the package repository's part of the storage port.

use async_trait::async_trait;
use haven_core::StoreError;
use haven_core::blobs::ObjectMeta;
use haven_core::packages::records::{CachedFile, NewRule, RequestRecord, RequestStatus, RuleRecord};
use haven_core::packages::rules::{kind_str, parse_kind};
use haven_core::packages::store::PackagesTx;
use haven_core::tokens::{PersonalToken, TokenScope};
use haven_packages::osv::{Advisory, Severity};
use haven_packages::policy::{Ecosystem, RuleKind};
use sqlx::any::AnyRow;

use super::rows::{Columns, corrupt};
use super::unit::SqlTx;

const RULE_COLUMNS: &str = "id, ecosystem, kind, name, spec, skip_cooldown, reason, added_by, added_us";
const REQUEST_COLUMNS: &str =
    "id, requester, ecosystem, name, spec, justification, status, created_us, decided_by, decided_us, note, closure";
const TOKEN_COLUMNS: &str = "hash, user_id, label, scope, created_us, last_used_us, expires_us";

fn rule(row: &AnyRow) -> Result<RuleRecord, StoreError> {
    Ok(RuleRecord {
        id: row.col("id")?,
        ecosystem: row.parsed("ecosystem", Ecosystem::parse, "rule ecosystem")?,
        kind: row.parsed("kind", parse_kind, "rule kind")?,
        name: row.col("name")?,
        spec: row.col("spec")?,
        skip_cooldown: row.flag("skip_cooldown")?,
        reason: row.col("reason")?,
        added_by: row.col("added_by")?,
        added_us: row.col("added_us")?,
    })
}

fn request(row: &AnyRow) -> Result<RequestRecord, StoreError> {
    Ok(RequestRecord {
        id: row.col("id")?,
        requester: row.col("requester")?,
        ecosystem: row.parsed("ecosystem", Ecosystem::parse, "request ecosystem")?,
        name: row.col("name")?,
        spec: row.col("spec")?,
        justification: row.col("justification")?,
        status: row.parsed("status", RequestStatus::parse, "request status")?,
        created_us: row.col("created_us")?,
        decided_by: row.col("decided_by")?,
        decided_us: row.col("decided_us")?,
        note: row.col("note")?,
        closure: row.col("closure")?,
    })
}

fn token(row: &AnyRow) -> Result<PersonalToken, StoreError> {
    Ok(PersonalToken {
        hash: row.hash32("hash")?,
        user_id: row.col("user_id")?,
        label: row.col("label")?,
        scope: row.parsed("scope", TokenScope::parse, "token scope")?,
        created_us: row.col("created_us")?,
        last_used_us: row.col("last_used_us")?,
        expires_us: row.col("expires_us")?,
    })
}

#[async_trait]
impl PackagesTx for SqlTx<'_> {
    async fn package_rules(&mut self, ecosystem: Ecosystem, name: Option<&str>) -> Result<Vec<RuleRecord>, StoreError> {
        let q = match name {
            Some(name) => {
                let sql =
                    format!("SELECT {RULE_COLUMNS} FROM package_rules WHERE ecosystem = $1 AND name = $2 ORDER BY id");
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ecosystem.as_str()).bind(name)
            }
            None => {
                let sql = format!("SELECT {RULE_COLUMNS} FROM package_rules WHERE ecosystem = $1 ORDER BY id");
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ecosystem.as_str())
            }
        };
        self.all(q).await?.iter().map(rule).collect()
    }

    async fn put_package_rule(&mut self, r: &NewRule) -> Result<i64, StoreError> {
        let delete =
            sqlx::query("DELETE FROM package_rules WHERE ecosystem = $1 AND kind = $2 AND name = $3 AND spec = $4")
                .bind(r.ecosystem.as_str())
                .bind(kind_str(r.kind))
                .bind(r.name.as_str())
                .bind(r.spec.as_str());
        self.exec(delete).await?;
        let row = self.one(sqlx::query(
            "INSERT INTO package_rules (ecosystem, kind, name, spec, skip_cooldown, reason, added_by, added_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(r.ecosystem.as_str())
        .bind(kind_str(r.kind))
        .bind(r.name.as_str())
        .bind(r.spec.as_str())
        .bind(i64::from(r.skip_cooldown))
        .bind(r.reason.as_str())
        .bind(r.added_by.as_str())
        .bind(r.added_us)).await?;
        row.col("id")
    }

    async fn delete_package_rules(
        &mut self,
        ecosystem: Ecosystem,
        kind: RuleKind,
        name: &str,
        spec: Option<&str>,
    ) -> Result<u64, StoreError> {
        match spec {
            Some(spec) => {
                let q = sqlx::query(
                    "DELETE FROM package_rules WHERE ecosystem = $1 AND kind = $2 AND name = $3 AND spec = $4",
                )
                .bind(ecosystem.as_str())
                .bind(kind_str(kind))
                .bind(name)
                .bind(spec);
                self.exec(q).await
            }
            None => {
                let q = sqlx::query("DELETE FROM package_rules WHERE ecosystem = $1 AND kind = $2 AND name = $3")
                    .bind(ecosystem.as_str())
                    .bind(kind_str(kind))
                    .bind(name);
                self.exec(q).await
            }
        }
    }

    async fn cached_package_file(
        &mut self,
        ecosystem: Ecosystem,
        path: &str,
    ) -> Result<Option<(CachedFile, ObjectMeta)>, StoreError> {
        let row = self
            .optional(
                sqlx::query(
                    "SELECT f.object_id, f.sha256, f.size, f.fetched_us, o.project, o.key_version, o.wrapped_key, \
             o.size AS object_size, o.sha256 AS object_sha256, o.created_us AS object_created_us \
             FROM package_files f JOIN objects o ON o.id = f.object_id WHERE f.ecosystem = $1 AND f.path = $2",
                )
                .bind(ecosystem.as_str())
                .bind(path),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let object_id: String = row.col("object_id")?;
        let file = CachedFile {
            ecosystem,
            path: path.into(),
            object_id: object_id.clone(),
            sha256: row.col("sha256")?,
            size: row.col("size")?,
            fetched_us: row.col("fetched_us")?,
        };
        let meta = ObjectMeta {
            id: object_id,
            project: row.col("project")?,
            key_version: row.col("key_version")?,
            wrapped_key: row.col("wrapped_key")?,
            size: row.col("object_size")?,
            sha256: row.col("object_sha256")?,
            created_us: row.col("object_created_us")?,
        };
        Ok(Some((file, meta)))
    }

    async fn insert_cached_package_file(&mut self, f: &CachedFile) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "INSERT INTO package_files (ecosystem, path, object_id, sha256, size, fetched_us) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (ecosystem, path) DO NOTHING",
        )
        .bind(f.ecosystem.as_str())
        .bind(f.path.as_str())
        .bind(f.object_id.as_str())
        .bind(f.sha256.as_str())
        .bind(f.size)
        .bind(f.fetched_us);
        Ok(self.exec(q).await? == 1)
    }

    async fn package_upload_time(&mut self, ecosystem: Ecosystem, key: &str) -> Result<Option<i64>, StoreError> {
        let row = self
            .optional(
                sqlx::query("SELECT at_us FROM package_upload_times WHERE ecosystem = $1 AND key = $2")
                    .bind(ecosystem.as_str())
                    .bind(key),
            )
            .await?;
        row.map(|r| r.col("at_us")).transpose()
    }

    async fn put_package_upload_time(&mut self, ecosystem: Ecosystem, key: &str, at_us: i64) -> Result<(), StoreError> {
        let q = sqlx::query(
            "INSERT INTO package_upload_times (ecosystem, key, at_us) VALUES ($1, $2, $3) \
             ON CONFLICT (ecosystem, key) DO NOTHING",
        )
        .bind(ecosystem.as_str())
        .bind(key)
        .bind(at_us);
        self.exec(q).await.map(|_| ())
    }

    async fn package_advisories(
        &mut self,
        ecosystems: &[Ecosystem],
        names: Option<&[String]>,
    ) -> Result<Vec<Advisory>, StoreError> {
        // Two statements, not `($2 = '' OR name = $2)`: the planner keeps the name index only so.
        const BY_NAME: &str = "SELECT id, malicious, severity, summary, affected FROM package_advisories \
             WHERE ecosystem = $1 AND name = $2 ORDER BY id";
        const ALL: &str = "SELECT id, malicious, severity, summary, affected FROM package_advisories \
             WHERE ecosystem = $1 ORDER BY id";
        let mut out = Vec::new();
        for e in ecosystems {
            let queries: Vec<_> = match names {
                Some(names) => names.iter().map(|n| sqlx::query(BY_NAME).bind(e.as_str()).bind(n.as_str())).collect(),
                None => vec![sqlx::query(ALL).bind(e.as_str())],
            };
            for q in queries {
                for row in self.all(q).await? {
                    let affected: String = row.col("affected")?;
                    out.push(Advisory {
                        id: row.col("id")?,
                        malicious: row.flag("malicious")?,
                        severity: row.parsed("severity", Severity::parse, "advisory severity")?,
                        summary: row.col("summary")?,
                        withdrawn: false,
                        affected: vec![serde_json::from_str(&affected).map_err(|_| corrupt("advisory"))?],
                    });
                }
            }
        }
        Ok(out)
    }

    async fn put_package_advisory(&mut self, a: &Advisory, imported_us: i64) -> Result<(), StoreError> {
        self.exec(sqlx::query("DELETE FROM package_advisories WHERE id = $1").bind(a.id.as_str())).await?;
        if a.withdrawn {
            return Ok(());
        }
        for affected in &a.affected {
            let json = serde_json::to_string(affected).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let q = sqlx::query(
                "INSERT INTO package_advisories (id, ecosystem, name, malicious, severity, summary, affected, imported_us) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id, ecosystem, name) DO NOTHING",
            )
            .bind(a.id.as_str())
            .bind(affected.ecosystem.as_str())
            .bind(affected.name.as_str())
            .bind(i64::from(a.malicious))
            .bind(a.severity.as_str())
            .bind(a.summary.as_str())
            .bind(json)
            .bind(imported_us);
            self.exec(q).await?;
        }
        Ok(())
    }

    async fn cached_package_paths(&mut self) -> Result<Vec<(Ecosystem, String)>, StoreError> {
        let rows = self.all(sqlx::query("SELECT ecosystem, path FROM package_files ORDER BY ecosystem, path")).await?;
        rows.iter()
            .map(|r| Ok((r.parsed("ecosystem", Ecosystem::parse, "cached file ecosystem")?, r.col("path")?)))
            .collect()
    }

    async fn insert_package_request(&mut self, r: &RequestRecord) -> Result<i64, StoreError> {
        let row = self.one(sqlx::query(
            "INSERT INTO package_requests (requester, ecosystem, name, spec, justification, status, created_us, \
             decided_by, decided_us, note, closure) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(r.requester.as_str())
        .bind(r.ecosystem.as_str())
        .bind(r.name.as_str())
        .bind(r.spec.as_str())
        .bind(r.justification.as_str())
        .bind(r.status.as_str())
        .bind(r.created_us)
        .bind(r.decided_by.as_str())
        .bind(r.decided_us)
        .bind(r.note.as_str())
        .bind(r.closure.as_str())).await?;
        row.col("id")
    }

    async fn package_request(&mut self, id: i64) -> Result<Option<RequestRecord>, StoreError> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM package_requests WHERE id = $1");
        let row = self.optional(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id)).await?;
        row.as_ref().map(request).transpose()
    }

    async fn package_requests(
        &mut self,
        requester: Option<&str>,
        status: Option<RequestStatus>,
        limit: i64,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        // Empty strings stand for "any" so one statement serves every filter.
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM package_requests WHERE ($1 = '' OR requester = $1) \
             AND ($2 = '' OR status = $2) ORDER BY id DESC LIMIT $3"
        );
        let rows = self
            .all(
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(requester.unwrap_or(""))
                    .bind(status.map_or("", RequestStatus::as_str))
                    .bind(limit),
            )
            .await?;
        rows.iter().map(request).collect()
    }

    async fn decide_package_request(&mut self, r: &RequestRecord) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "UPDATE package_requests SET status = $2, decided_by = $3, decided_us = $4, note = $5, closure = $6 \
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(r.id)
        .bind(r.status.as_str())
        .bind(r.decided_by.as_str())
        .bind(r.decided_us)
        .bind(r.note.as_str())
        .bind(r.closure.as_str());
        Ok(self.exec(q).await? == 1)
    }

    async fn insert_personal_token(&mut self, t: &PersonalToken) -> Result<(), StoreError> {
        let q = sqlx::query(
            "INSERT INTO repo_tokens (hash, user_id, label, scope, created_us, last_used_us, expires_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(t.hash.to_vec())
        .bind(t.user_id.as_str())
        .bind(t.label.as_str())
        .bind(t.scope.as_str())
        .bind(t.created_us)
        .bind(t.last_used_us)
        .bind(t.expires_us);
        self.exec(q).await.map(|_| ())
    }

    async fn personal_token(&mut self, hash: &[u8; 32]) -> Result<Option<PersonalToken>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM repo_tokens WHERE hash = $1");
        let row = self.optional(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(hash.to_vec())).await?;
        row.as_ref().map(token).transpose()
    }

    async fn personal_tokens(&mut self, user_id: &str) -> Result<Vec<PersonalToken>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM repo_tokens WHERE user_id = $1 ORDER BY created_us, hash");
        let rows = self.all(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id)).await?;
        rows.iter().map(token).collect()
    }

    async fn touch_personal_token(&mut self, hash: &[u8; 32], at_us: i64) -> Result<(), StoreError> {
        let q = sqlx::query("UPDATE repo_tokens SET last_used_us = $2 WHERE hash = $1").bind(hash.to_vec()).bind(at_us);
        self.exec(q).await.map(|_| ())
    }

    async fn delete_personal_token(&mut self, hash: &[u8; 32]) -> Result<bool, StoreError> {
        let q = sqlx::query("DELETE FROM repo_tokens WHERE hash = $1").bind(hash.to_vec());
        Ok(self.exec(q).await? == 1)
    }
}
