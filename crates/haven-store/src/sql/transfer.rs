//! SQL for the transfer part of the storage port: uploads (arrivals once complete), the parts
//! that hold their bytes, and drop-off links.

use async_trait::async_trait;
use haven_core::blobs::ObjectMeta;
use haven_core::transfer::store::{Arrival, DropLinkRecord, ScanUpdate, TransferTx, UploadRecord};
use haven_core::{StoreError, Tx};
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use super::rows::Columns;
use super::unit::SqlTx;

const UPLOAD_COLUMNS: &str = "id, asset, uploader, link_id, name, original_name, metadata, length, upload_offset, \
     parts, created_us, expires_us, completed_us, sha256, scan_status, scan_detail, scan_engine, scan_attempts, \
     scan_next_us, scanned_us, decision, decided_by, decided_us";
const LINK_COLUMNS: &str = "id, token_hash, asset, created_by, label, created_us, expires_us, password_hash, max_bytes, \
     max_files, bytes_reserved, files_started, revoked_us";

fn upload(r: &AnyRow) -> Result<UploadRecord, StoreError> {
    Ok(UploadRecord {
        id: r.col("id")?,
        asset: r.col("asset")?,
        uploader: r.col("uploader")?,
        link_id: r.col("link_id")?,
        name: r.col("name")?,
        original_name: r.col("original_name")?,
        metadata: r.col("metadata")?,
        length: r.col("length")?,
        offset: r.col("upload_offset")?,
        parts: r.col("parts")?,
        created_us: r.col("created_us")?,
        expires_us: r.col("expires_us")?,
        completed_us: r.col("completed_us")?,
        sha256: r.col("sha256")?,
        arrival: Arrival {
            scan_status: r.col("scan_status")?,
            scan_detail: r.col("scan_detail")?,
            scan_engine: r.col("scan_engine")?,
            scan_attempts: r.col("scan_attempts")?,
            scan_next_us: r.col("scan_next_us")?,
            scanned_us: r.col("scanned_us")?,
            decision: r.col("decision")?,
            decided_by: r.col("decided_by")?,
            decided_us: r.col("decided_us")?,
        },
    })
}

fn link(r: &AnyRow) -> Result<DropLinkRecord, StoreError> {
    Ok(DropLinkRecord {
        id: r.col("id")?,
        token_hash: r.col("token_hash")?,
        asset: r.col("asset")?,
        created_by: r.col("created_by")?,
        label: r.col("label")?,
        created_us: r.col("created_us")?,
        expires_us: r.col("expires_us")?,
        password_hash: r.col("password_hash")?,
        max_bytes: r.col("max_bytes")?,
        max_files: r.col("max_files")?,
        bytes_reserved: r.col("bytes_reserved")?,
        files_started: r.col("files_started")?,
        revoked_us: r.col("revoked_us")?,
    })
}

pub(super) fn object(r: &AnyRow) -> Result<ObjectMeta, StoreError> {
    Ok(ObjectMeta {
        id: r.col("id")?,
        project: r.col("project")?,
        key_version: r.col("key_version")?,
        wrapped_key: r.col("wrapped_key")?,
        size: r.col("size")?,
        sha256: r.col("sha256")?,
        created_us: r.col("created_us")?,
    })
}

#[async_trait]
impl TransferTx for SqlTx<'_> {
    async fn insert_upload(&mut self, u: &UploadRecord) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO uploads ({UPLOAD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
             $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
        );
        let a = &u.arrival;
        let q = sqlx::query(AssertSqlSafe(sql))
            .bind(u.id.as_str())
            .bind(u.asset.as_str())
            .bind(u.uploader.as_str())
            .bind(u.link_id.as_str())
            .bind(u.name.as_str())
            .bind(u.original_name.as_str())
            .bind(u.metadata.as_str())
            .bind(u.length)
            .bind(u.offset)
            .bind(u.parts)
            .bind(u.created_us)
            .bind(u.expires_us)
            .bind(u.completed_us)
            .bind(u.sha256.as_str())
            .bind(a.scan_status.as_str())
            .bind(a.scan_detail.as_str())
            .bind(a.scan_engine.as_str())
            .bind(a.scan_attempts)
            .bind(a.scan_next_us)
            .bind(a.scanned_us)
            .bind(a.decision.as_str())
            .bind(a.decided_by.as_str())
            .bind(a.decided_us);
        self.exec(q).await.map(|_| ())
    }

    async fn upload(&mut self, id: &str) -> Result<Option<UploadRecord>, StoreError> {
        let sql = format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = $1");
        self.optional(sqlx::query(AssertSqlSafe(sql)).bind(id)).await?.as_ref().map(upload).transpose()
    }

    async fn add_upload_part(
        &mut self,
        before: &UploadRecord,
        object: &ObjectMeta,
        after: &UploadRecord,
    ) -> Result<bool, StoreError> {
        if !self.update_upload(before, after).await? {
            return Ok(false);
        }
        Tx::insert_object(self, object).await?;
        let q =
            sqlx::query("INSERT INTO upload_parts (upload_id, seq, start_offset, object_id) VALUES ($1, $2, $3, $4)")
                .bind(before.id.as_str())
                .bind(before.parts)
                .bind(before.offset)
                .bind(object.id.as_str());
        self.exec(q).await.map(|_| true)
    }

    async fn update_upload(&mut self, before: &UploadRecord, after: &UploadRecord) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "UPDATE uploads SET upload_offset = $4, parts = $5, length = $6, completed_us = $7, sha256 = $8, \
             scan_status = $9, scan_next_us = $10 \
             WHERE id = $1 AND upload_offset = $2 AND length = $3 AND completed_us = 0",
        )
        .bind(before.id.as_str())
        .bind(before.offset)
        .bind(before.length)
        .bind(after.offset)
        .bind(after.parts)
        .bind(after.length)
        .bind(after.completed_us)
        .bind(after.sha256.as_str())
        .bind(after.arrival.scan_status.as_str())
        .bind(after.arrival.scan_next_us);
        Ok(self.exec(q).await? == 1)
    }

    async fn upload_parts(&mut self, id: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let q = sqlx::query(
            "SELECT o.id, o.project, o.key_version, o.wrapped_key, o.size, o.sha256, o.created_us \
             FROM upload_parts p JOIN objects o ON o.id = p.object_id WHERE p.upload_id = $1 ORDER BY p.seq",
        )
        .bind(id);
        self.all(q).await?.iter().map(object).collect()
    }

    async fn delete_upload(&mut self, id: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let parts = self.shred_upload(id).await?;
        self.exec(sqlx::query("DELETE FROM uploads WHERE id = $1").bind(id)).await?;
        Ok(parts)
    }

    async fn shred_upload(&mut self, id: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let parts = self.upload_parts(id).await?;
        self.exec(sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1").bind(id)).await?;
        for meta in &parts {
            Tx::delete_object(self, &meta.id).await?;
        }
        Ok(parts)
    }

    async fn arrivals(&mut self, asset: &str, limit: i64) -> Result<Vec<UploadRecord>, StoreError> {
        let sql = format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE asset = $1 AND completed_us > 0 \
             ORDER BY completed_us DESC, id LIMIT $2"
        );
        self.all(sqlx::query(AssertSqlSafe(sql)).bind(asset).bind(limit)).await?.iter().map(upload).collect()
    }

    async fn asset_upload_bytes(&mut self, asset: &str) -> Result<i64, StoreError> {
        let q = sqlx::query(
            "SELECT CAST(COALESCE(SUM(CASE WHEN length > 0 THEN length ELSE upload_offset END), 0) AS BIGINT) AS n \
             FROM uploads WHERE asset = $1 AND decision <> 'rejected'",
        )
        .bind(asset);
        self.one(q).await?.col("n")
    }

    async fn expired_uploads(&mut self, now_us: i64, limit: i64) -> Result<Vec<UploadRecord>, StoreError> {
        let sql = format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE completed_us = 0 AND expires_us <= $1 \
             ORDER BY expires_us, id LIMIT $2"
        );
        self.all(sqlx::query(AssertSqlSafe(sql)).bind(now_us).bind(limit)).await?.iter().map(upload).collect()
    }

    async fn due_scans(&mut self, now_us: i64, limit: i64) -> Result<Vec<UploadRecord>, StoreError> {
        let sql = format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE scan_status = 'pending' AND decision = '' \
             AND scan_next_us <= $1 ORDER BY scan_next_us, id LIMIT $2"
        );
        self.all(sqlx::query(AssertSqlSafe(sql)).bind(now_us).bind(limit)).await?.iter().map(upload).collect()
    }

    async fn set_scan(&mut self, id: &str, scan: &ScanUpdate) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "UPDATE uploads SET scan_status = $2, scan_detail = $3, scan_engine = $4, scan_attempts = $5, \
             scan_next_us = $6, scanned_us = $7 WHERE id = $1 AND scan_status = 'pending'",
        )
        .bind(id)
        .bind(scan.status.as_str())
        .bind(scan.detail.as_str())
        .bind(scan.engine.as_str())
        .bind(scan.attempts)
        .bind(scan.next_us)
        .bind(scan.scanned_us);
        Ok(self.exec(q).await? == 1)
    }

    async fn decide_arrival(&mut self, id: &str, decision: &str, by: &str, at_us: i64) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "UPDATE uploads SET decision = $2, decided_by = $3, decided_us = $4 \
             WHERE id = $1 AND completed_us > 0 AND decision = ''",
        )
        .bind(id)
        .bind(decision)
        .bind(by)
        .bind(at_us);
        Ok(self.exec(q).await? == 1)
    }

    async fn insert_drop_link(&mut self, l: &DropLinkRecord) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO drop_links ({LINK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        );
        let q = sqlx::query(AssertSqlSafe(sql))
            .bind(l.id.as_str())
            .bind(l.token_hash.clone())
            .bind(l.asset.as_str())
            .bind(l.created_by.as_str())
            .bind(l.label.as_str())
            .bind(l.created_us)
            .bind(l.expires_us)
            .bind(l.password_hash.as_str())
            .bind(l.max_bytes)
            .bind(l.max_files)
            .bind(l.bytes_reserved)
            .bind(l.files_started)
            .bind(l.revoked_us);
        self.exec(q).await.map(|_| ())
    }

    async fn drop_link(&mut self, id: &str) -> Result<Option<DropLinkRecord>, StoreError> {
        let sql = format!("SELECT {LINK_COLUMNS} FROM drop_links WHERE id = $1");
        self.optional(sqlx::query(AssertSqlSafe(sql)).bind(id)).await?.as_ref().map(link).transpose()
    }

    async fn drop_link_by_hash(&mut self, hash: &[u8]) -> Result<Option<DropLinkRecord>, StoreError> {
        let sql = format!("SELECT {LINK_COLUMNS} FROM drop_links WHERE token_hash = $1");
        self.optional(sqlx::query(AssertSqlSafe(sql)).bind(hash.to_vec())).await?.as_ref().map(link).transpose()
    }

    async fn drop_links_of(&mut self, asset: &str) -> Result<Vec<DropLinkRecord>, StoreError> {
        let sql = format!("SELECT {LINK_COLUMNS} FROM drop_links WHERE asset = $1 ORDER BY created_us DESC, id");
        self.all(sqlx::query(AssertSqlSafe(sql)).bind(asset)).await?.iter().map(link).collect()
    }

    async fn reserve_on_drop_link(&mut self, id: &str, bytes: i64, now_us: i64) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "UPDATE drop_links SET files_started = files_started + 1, bytes_reserved = bytes_reserved + $2 \
             WHERE id = $1 AND revoked_us = 0 AND expires_us > $3 \
             AND (max_files = 0 OR files_started < max_files) \
             AND (max_bytes = 0 OR bytes_reserved + $2 <= max_bytes)",
        )
        .bind(id)
        .bind(bytes)
        .bind(now_us);
        Ok(self.exec(q).await? == 1)
    }

    async fn revoke_drop_link(&mut self, id: &str, at_us: i64) -> Result<bool, StoreError> {
        let q =
            sqlx::query("UPDATE drop_links SET revoked_us = $2 WHERE id = $1 AND revoked_us = 0").bind(id).bind(at_us);
        Ok(self.exec(q).await? == 1)
    }

    async fn open_drop_link_uploads(&mut self, id: &str, now_us: i64) -> Result<i64, StoreError> {
        let q = sqlx::query(
            "SELECT COUNT(*) AS n FROM uploads WHERE link_id = $1 AND completed_us = 0 AND expires_us > $2",
        )
        .bind(id)
        .bind(now_us);
        self.one(q).await?.col("n")
    }

    async fn drop_link_uploads_since(&mut self, id: &str, since_us: i64) -> Result<i64, StoreError> {
        let q = sqlx::query("SELECT COUNT(*) AS n FROM uploads WHERE link_id = $1 AND created_us >= $2")
            .bind(id)
            .bind(since_us);
        self.one(q).await?.col("n")
    }
}
