//! SQL for the egress part of the storage port: output requests, permissions to make them, and
//! release downloads.

use async_trait::async_trait;
use haven_core::StoreError;
use haven_core::egress::store::{DownloadRecord, EgressTx, Permission, RequestRecord};
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use super::rows::Columns;
use super::unit::SqlTx;

const REQUEST_COLUMNS: &str = "id, asset, author, state, title, created_us, updated_us, version, doc";
const DOWNLOAD_COLUMNS: &str = "token_hash, request, made_for, created_us, expires_us, used_us";

fn request(r: &AnyRow) -> Result<RequestRecord, StoreError> {
    Ok(RequestRecord {
        id: r.col("id")?,
        asset: r.col("asset")?,
        author: r.col("author")?,
        state: r.col("state")?,
        title: r.col("title")?,
        created_us: r.col("created_us")?,
        updated_us: r.col("updated_us")?,
        version: r.col("version")?,
        doc: r.col("doc")?,
    })
}

fn download(r: &AnyRow) -> Result<DownloadRecord, StoreError> {
    Ok(DownloadRecord {
        token_hash: r.col("token_hash")?,
        request: r.col("request")?,
        made_for: r.col("made_for")?,
        created_us: r.col("created_us")?,
        expires_us: r.col("expires_us")?,
        used_us: r.col("used_us")?,
    })
}

impl SqlTx<'_> {
    async fn requests(&mut self, sql: String, bind: Vec<String>, limit: i64) -> Result<Vec<RequestRecord>, StoreError> {
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for b in bind {
            q = q.bind(b);
        }
        self.all(q.bind(limit)).await?.iter().map(request).collect()
    }
}

#[async_trait]
impl EgressTx for SqlTx<'_> {
    async fn insert_egress_request(&mut self, r: &RequestRecord) -> Result<(), StoreError> {
        let sql =
            format!("INSERT INTO egress_requests ({REQUEST_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
        let q = sqlx::query(AssertSqlSafe(sql))
            .bind(r.id.as_str())
            .bind(r.asset.as_str())
            .bind(r.author.as_str())
            .bind(r.state.as_str())
            .bind(r.title.as_str())
            .bind(r.created_us)
            .bind(r.updated_us)
            .bind(r.version)
            .bind(r.doc.as_str());
        self.exec(q).await.map(|_| ())
    }

    async fn egress_request(&mut self, id: &str) -> Result<Option<RequestRecord>, StoreError> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM egress_requests WHERE id = $1");
        self.optional(sqlx::query(AssertSqlSafe(sql)).bind(id)).await?.as_ref().map(request).transpose()
    }

    async fn update_egress_request(&mut self, r: &RequestRecord, expected: i64) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "UPDATE egress_requests SET state = $2, title = $3, updated_us = $4, version = $5, doc = $6 \
             WHERE id = $1 AND version = $7",
        )
        .bind(r.id.as_str())
        .bind(r.state.as_str())
        .bind(r.title.as_str())
        .bind(r.updated_us)
        .bind(r.version)
        .bind(r.doc.as_str())
        .bind(expected);
        Ok(self.exec(q).await? > 0)
    }

    async fn egress_requests_by(&mut self, author: &str, limit: i64) -> Result<Vec<RequestRecord>, StoreError> {
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM egress_requests WHERE author = $1 ORDER BY updated_us DESC, id LIMIT $2"
        );
        self.requests(sql, vec![author.to_string()], limit).await
    }

    async fn egress_requests_in(&mut self, states: &[&str], limit: i64) -> Result<Vec<RequestRecord>, StoreError> {
        if states.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=states.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM egress_requests WHERE state IN ({}) ORDER BY updated_us, id LIMIT ${}",
            marks.join(", "),
            states.len() + 1
        );
        self.requests(sql, states.iter().map(|s| s.to_string()).collect(), limit).await
    }

    async fn egress_requests_of(&mut self, asset: &str, limit: i64) -> Result<Vec<RequestRecord>, StoreError> {
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM egress_requests WHERE asset = $1 ORDER BY updated_us DESC, id LIMIT $2"
        );
        self.requests(sql, vec![asset.to_string()], limit).await
    }

    async fn set_egress_permission(
        &mut self,
        asset: &str,
        user_id: &str,
        grant: Option<(&str, i64)>,
    ) -> Result<bool, StoreError> {
        let q = match grant {
            Some((by, at_us)) => sqlx::query(
                "INSERT INTO egress_permissions (asset, user_id, granted_by, granted_us) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (asset, user_id) DO NOTHING",
            )
            .bind(asset)
            .bind(user_id)
            .bind(by)
            .bind(at_us),
            None => sqlx::query("DELETE FROM egress_permissions WHERE asset = $1 AND user_id = $2")
                .bind(asset)
                .bind(user_id),
        };
        Ok(self.exec(q).await? > 0)
    }

    async fn egress_permission(&mut self, asset: &str, user_id: &str) -> Result<bool, StoreError> {
        let q = sqlx::query("SELECT 1 AS found FROM egress_permissions WHERE asset = $1 AND user_id = $2")
            .bind(asset)
            .bind(user_id);
        Ok(self.optional(q).await?.is_some())
    }

    async fn egress_permissions(&mut self, asset: &str) -> Result<Vec<Permission>, StoreError> {
        let q = sqlx::query(
            "SELECT asset, user_id, granted_by, granted_us FROM egress_permissions WHERE asset = $1 ORDER BY user_id",
        )
        .bind(asset);
        self.all(q)
            .await?
            .iter()
            .map(|r| {
                Ok(Permission {
                    asset: r.col("asset")?,
                    user_id: r.col("user_id")?,
                    granted_by: r.col("granted_by")?,
                    granted_us: r.col("granted_us")?,
                })
            })
            .collect()
    }

    async fn insert_egress_download(&mut self, d: &DownloadRecord) -> Result<(), StoreError> {
        let sql = format!("INSERT INTO egress_downloads ({DOWNLOAD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)");
        let q = sqlx::query(AssertSqlSafe(sql))
            .bind(d.token_hash.clone())
            .bind(d.request.as_str())
            .bind(d.made_for.as_str())
            .bind(d.created_us)
            .bind(d.expires_us)
            .bind(d.used_us);
        self.exec(q).await.map(|_| ())
    }

    async fn egress_download(&mut self, hash: &[u8]) -> Result<Option<DownloadRecord>, StoreError> {
        let sql = format!("SELECT {DOWNLOAD_COLUMNS} FROM egress_downloads WHERE token_hash = $1");
        self.optional(sqlx::query(AssertSqlSafe(sql)).bind(hash.to_vec())).await?.as_ref().map(download).transpose()
    }

    async fn take_egress_download(&mut self, hash: &[u8], now_us: i64) -> Result<Option<DownloadRecord>, StoreError> {
        let sql = format!(
            "UPDATE egress_downloads SET used_us = $2 WHERE token_hash = $1 AND used_us = 0 AND expires_us > $2 \
             RETURNING {DOWNLOAD_COLUMNS}"
        );
        let q = sqlx::query(AssertSqlSafe(sql)).bind(hash.to_vec()).bind(now_us);
        self.optional(q).await?.as_ref().map(download).transpose()
    }
}
