//! SQL for the package repository's part of the storage port.

use async_trait::async_trait;
use haven_core::StoreError;
use haven_core::blobs::ObjectMeta;
use haven_core::packages::records::{CachedFile, NewRule, RepoToken, RequestRecord, RequestStatus, RuleRecord};
use haven_core::packages::rules::{kind_str, parse_kind};
use haven_core::packages::store::PackagesTx;
use haven_packages::osv::{Advisory, Severity};
use haven_packages::policy::{Ecosystem, RuleKind};
use sqlx::any::AnyRow;

use super::rows::{corrupt, get, hash32, map_err};
use super::unit::SqlTx;

const RULE_COLUMNS: &str = "id, ecosystem, kind, name, spec, skip_cooldown, reason, added_by, added_us";
const REQUEST_COLUMNS: &str =
    "id, requester, ecosystem, name, spec, justification, status, created_us, decided_by, decided_us, note, closure";
const TOKEN_COLUMNS: &str = "hash, user_id, label, created_us, last_used_us, expires_us";

fn rule(row: &AnyRow) -> Result<RuleRecord, StoreError> {
    let ecosystem: String = get(row, 1)?;
    let kind: String = get(row, 2)?;
    Ok(RuleRecord {
        id: get(row, 0)?,
        ecosystem: Ecosystem::parse(&ecosystem).ok_or_else(|| corrupt("rule ecosystem"))?,
        kind: parse_kind(&kind).ok_or_else(|| corrupt("rule kind"))?,
        name: get(row, 3)?,
        spec: get(row, 4)?,
        skip_cooldown: get::<i64>(row, 5)? != 0,
        reason: get(row, 6)?,
        added_by: get(row, 7)?,
        added_us: get(row, 8)?,
    })
}

fn request(row: &AnyRow) -> Result<RequestRecord, StoreError> {
    let ecosystem: String = get(row, 2)?;
    let status: String = get(row, 6)?;
    Ok(RequestRecord {
        id: get(row, 0)?,
        requester: get(row, 1)?,
        ecosystem: Ecosystem::parse(&ecosystem).ok_or_else(|| corrupt("request ecosystem"))?,
        name: get(row, 3)?,
        spec: get(row, 4)?,
        justification: get(row, 5)?,
        status: RequestStatus::parse(&status).ok_or_else(|| corrupt("request status"))?,
        created_us: get(row, 7)?,
        decided_by: get(row, 8)?,
        decided_us: get(row, 9)?,
        note: get(row, 10)?,
        closure: get(row, 11)?,
    })
}

fn token(row: &AnyRow) -> Result<RepoToken, StoreError> {
    Ok(RepoToken {
        hash: hash32(row, 0)?,
        user_id: get(row, 1)?,
        label: get(row, 2)?,
        created_us: get(row, 3)?,
        last_used_us: get(row, 4)?,
        expires_us: get(row, 5)?,
    })
}

#[async_trait]
impl PackagesTx for SqlTx<'_> {
    async fn package_rules(&mut self, ecosystem: Ecosystem, name: Option<&str>) -> Result<Vec<RuleRecord>, StoreError> {
        let rows = match name {
            Some(name) => {
                let sql =
                    format!("SELECT {RULE_COLUMNS} FROM package_rules WHERE ecosystem = $1 AND name = $2 ORDER BY id");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(ecosystem.as_str())
                    .bind(name)
                    .fetch_all(self.sql().await?)
                    .await
            }
            None => {
                let sql = format!("SELECT {RULE_COLUMNS} FROM package_rules WHERE ecosystem = $1 ORDER BY id");
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ecosystem.as_str()).fetch_all(self.sql().await?).await
            }
        }
        .map_err(map_err)?;
        rows.iter().map(rule).collect()
    }

    async fn put_package_rule(&mut self, r: &NewRule) -> Result<i64, StoreError> {
        let delete =
            sqlx::query("DELETE FROM package_rules WHERE ecosystem = $1 AND kind = $2 AND name = $3 AND spec = $4")
                .bind(r.ecosystem.as_str())
                .bind(kind_str(r.kind))
                .bind(r.name.as_str())
                .bind(r.spec.as_str());
        self.exec(delete).await?;
        let row = sqlx::query(
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
        .bind(r.added_us)
        .fetch_one(self.sql().await?)
        .await
        .map_err(map_err)?;
        get(&row, 0)
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
        let row = sqlx::query(
            "SELECT f.object_id, f.sha256, f.size, f.fetched_us, o.project, o.key_version, o.wrapped_key, o.size, \
             o.sha256, o.created_us FROM package_files f JOIN objects o ON o.id = f.object_id \
             WHERE f.ecosystem = $1 AND f.path = $2",
        )
        .bind(ecosystem.as_str())
        .bind(path)
        .fetch_optional(self.sql().await?)
        .await
        .map_err(map_err)?;
        let Some(row) = row else { return Ok(None) };
        let object_id: String = get(&row, 0)?;
        let file = CachedFile {
            ecosystem,
            path: path.into(),
            object_id: object_id.clone(),
            sha256: get(&row, 1)?,
            size: get(&row, 2)?,
            fetched_us: get(&row, 3)?,
        };
        let meta = ObjectMeta {
            id: object_id,
            project: get(&row, 4)?,
            key_version: get(&row, 5)?,
            wrapped_key: get(&row, 6)?,
            size: get(&row, 7)?,
            sha256: get(&row, 8)?,
            created_us: get(&row, 9)?,
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
        let row = sqlx::query("SELECT at_us FROM package_upload_times WHERE ecosystem = $1 AND key = $2")
            .bind(ecosystem.as_str())
            .bind(key)
            .fetch_optional(self.sql().await?)
            .await
            .map_err(map_err)?;
        row.map(|r| get(&r, 0)).transpose()
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
        let mut out = Vec::new();
        for e in ecosystems {
            let rows = match names {
                None => {
                    sqlx::query(
                        "SELECT id, ecosystem, name, malicious, severity, summary, affected FROM package_advisories \
                         WHERE ecosystem = $1 ORDER BY id",
                    )
                    .bind(e.as_str())
                    .fetch_all(self.sql().await?)
                    .await
                }
                Some(names) => {
                    let mut rows = Vec::new();
                    for n in names {
                        rows.extend(
                            sqlx::query(
                                "SELECT id, ecosystem, name, malicious, severity, summary, affected FROM package_advisories \
                                 WHERE ecosystem = $1 AND name = $2 ORDER BY id",
                            )
                            .bind(e.as_str())
                            .bind(n.as_str())
                            .fetch_all(self.sql().await?)
                            .await
                            .map_err(map_err)?,
                        );
                    }
                    Ok(rows)
                }
            }
            .map_err(map_err)?;
            for row in &rows {
                let severity: String = get(row, 4)?;
                let affected: String = get(row, 6)?;
                out.push(Advisory {
                    id: get(row, 0)?,
                    malicious: get::<i64>(row, 3)? != 0,
                    severity: Severity::parse(&severity).ok_or_else(|| corrupt("advisory severity"))?,
                    summary: get(row, 5)?,
                    withdrawn: false,
                    affected: vec![serde_json::from_str(&affected).map_err(|_| corrupt("advisory"))?],
                });
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
        let rows = sqlx::query("SELECT ecosystem, path FROM package_files ORDER BY ecosystem, path")
            .fetch_all(self.sql().await?)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                let e: String = get(r, 0)?;
                Ok((Ecosystem::parse(&e).ok_or_else(|| corrupt("cached file ecosystem"))?, get(r, 1)?))
            })
            .collect()
    }

    async fn insert_package_request(&mut self, r: &RequestRecord) -> Result<i64, StoreError> {
        let row = sqlx::query(
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
        .bind(r.closure.as_str())
        .fetch_one(self.sql().await?)
        .await
        .map_err(map_err)?;
        get(&row, 0)
    }

    async fn package_request(&mut self, id: i64) -> Result<Option<RequestRecord>, StoreError> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM package_requests WHERE id = $1");
        let row =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.sql().await?).await.map_err(map_err)?;
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
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(requester.unwrap_or(""))
            .bind(status.map_or("", RequestStatus::as_str))
            .bind(limit)
            .fetch_all(self.sql().await?)
            .await
            .map_err(map_err)?;
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

    async fn insert_repo_token(&mut self, t: &RepoToken) -> Result<(), StoreError> {
        let q = sqlx::query(
            "INSERT INTO repo_tokens (hash, user_id, label, created_us, last_used_us, expires_us) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(t.hash.to_vec())
        .bind(t.user_id.as_str())
        .bind(t.label.as_str())
        .bind(t.created_us)
        .bind(t.last_used_us)
        .bind(t.expires_us);
        self.exec(q).await.map(|_| ())
    }

    async fn repo_token(&mut self, hash: &[u8; 32]) -> Result<Option<RepoToken>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM repo_tokens WHERE hash = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hash.to_vec())
            .fetch_optional(self.sql().await?)
            .await
            .map_err(map_err)?;
        row.as_ref().map(token).transpose()
    }

    async fn repo_tokens(&mut self, user_id: &str) -> Result<Vec<RepoToken>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM repo_tokens WHERE user_id = $1 ORDER BY created_us");
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id).fetch_all(self.sql().await?).await.map_err(map_err)?;
        rows.iter().map(token).collect()
    }

    async fn touch_repo_token(&mut self, hash: &[u8; 32], at_us: i64) -> Result<(), StoreError> {
        let q = sqlx::query("UPDATE repo_tokens SET last_used_us = $2 WHERE hash = $1").bind(hash.to_vec()).bind(at_us);
        self.exec(q).await.map(|_| ())
    }

    async fn delete_repo_token(&mut self, hash: &[u8; 32]) -> Result<bool, StoreError> {
        let q = sqlx::query("DELETE FROM repo_tokens WHERE hash = $1").bind(hash.to_vec());
        Ok(self.exec(q).await? == 1)
    }
}
