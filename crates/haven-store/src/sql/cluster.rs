//! SQL for leases (`haven_core::cluster`): one row per lease. Taking one is a single upsert
//! whose condition is checked against the row as it is when the upsert locks it (PostgreSQL
//! re-reads a row that another transaction changed first; SQLite has one writer), so two nodes
//! asking at once cannot both get it.

use async_trait::async_trait;
use haven_core::StoreError;
use haven_core::cluster::{ClusterTx, LeaseRecord, NodeRecord};

use super::rows::Columns;
use super::unit::SqlTx;

#[async_trait]
impl ClusterTx for SqlTx<'_> {
    async fn lease(&mut self, name: &str) -> Result<Option<LeaseRecord>, StoreError> {
        let q = sqlx::query("SELECT holder, expires_us FROM leases WHERE name = $1").bind(name);
        self.optional(q)
            .await?
            .map(|r| Ok(LeaseRecord { holder: r.col("holder")?, expires_us: r.col("expires_us")? }))
            .transpose()
    }

    async fn take_lease(&mut self, name: &str, holder: &str, now_us: i64, until_us: i64) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "INSERT INTO leases (name, holder, expires_us, taken_us) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_us = excluded.expires_us, \
             taken_us = CASE WHEN leases.holder = excluded.holder THEN leases.taken_us ELSE excluded.taken_us END \
             WHERE leases.holder = excluded.holder OR leases.expires_us < $4",
        )
        .bind(name)
        .bind(holder)
        .bind(until_us)
        .bind(now_us);
        Ok(self.exec(q).await? == 1)
    }

    async fn live_leases(&mut self, now_us: i64) -> Result<Vec<String>, StoreError> {
        let q = sqlx::query("SELECT name FROM leases WHERE expires_us >= $1 ORDER BY name").bind(now_us);
        self.all(q).await?.iter().map(|r| r.col("name")).collect()
    }

    async fn clear_lease(&mut self, name: &str, holder: Option<&str>) -> Result<bool, StoreError> {
        let gone = match holder {
            None => self.exec(sqlx::query("DELETE FROM leases WHERE name = $1").bind(name)).await?,
            Some(h) => {
                self.exec(sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2").bind(name).bind(h)).await?
            }
        };
        Ok(gone > 0)
    }

    async fn release_lease(&mut self, name: &str, holder: &str) -> Result<bool, StoreError> {
        let q = sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2").bind(name).bind(holder);
        Ok(self.exec(q).await? == 1)
    }

    async fn record_node(&mut self, r: &NodeRecord) -> Result<(), StoreError> {
        let q = sqlx::query(
            "INSERT INTO cluster_nodes (name, url, sessions_url, cert_sha256, updated_us) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (name) DO UPDATE SET url = excluded.url, sessions_url = excluded.sessions_url, \
             cert_sha256 = excluded.cert_sha256, updated_us = excluded.updated_us",
        )
        .bind(&r.name)
        .bind(&r.url)
        .bind(&r.sessions_url)
        .bind(&r.cert_sha256)
        .bind(r.updated_us);
        self.exec(q).await?;
        Ok(())
    }

    async fn node(&mut self, name: &str) -> Result<Option<NodeRecord>, StoreError> {
        let q =
            sqlx::query("SELECT name, url, sessions_url, cert_sha256, updated_us FROM cluster_nodes WHERE name = $1")
                .bind(name);
        self.optional(q)
            .await?
            .map(|r| {
                Ok(NodeRecord {
                    name: r.col("name")?,
                    url: r.col("url")?,
                    sessions_url: r.col("sessions_url")?,
                    cert_sha256: r.col("cert_sha256")?,
                    updated_us: r.col("updated_us")?,
                })
            })
            .transpose()
    }
}
