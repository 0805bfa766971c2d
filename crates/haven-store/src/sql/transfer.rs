//! SQL for the transfer part of the storage port: uploads and the parts that hold their bytes.

use async_trait::async_trait;
use haven_core::blobs::ObjectMeta;
use haven_core::transfer::store::{TransferTx, UploadRecord};
use haven_core::{StoreError, Tx};
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use super::rows::Columns;
use super::unit::SqlTx;

const UPLOAD_COLUMNS: &str = "id, asset, uploader, name, original_name, metadata, length, upload_offset, parts, \
     created_us, expires_us, completed_us, sha256";

fn upload(r: &AnyRow) -> Result<UploadRecord, StoreError> {
    Ok(UploadRecord {
        id: r.col("id")?,
        asset: r.col("asset")?,
        uploader: r.col("uploader")?,
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
    })
}

fn object(r: &AnyRow) -> Result<ObjectMeta, StoreError> {
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
            "INSERT INTO uploads ({UPLOAD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        );
        let q = sqlx::query(AssertSqlSafe(sql))
            .bind(u.id.as_str())
            .bind(u.asset.as_str())
            .bind(u.uploader.as_str())
            .bind(u.name.as_str())
            .bind(u.original_name.as_str())
            .bind(u.metadata.as_str())
            .bind(u.length)
            .bind(u.offset)
            .bind(u.parts)
            .bind(u.created_us)
            .bind(u.expires_us)
            .bind(u.completed_us)
            .bind(u.sha256.as_str());
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
            "UPDATE uploads SET upload_offset = $4, parts = $5, length = $6, completed_us = $7, sha256 = $8 \
             WHERE id = $1 AND upload_offset = $2 AND length = $3 AND completed_us = 0",
        )
        .bind(before.id.as_str())
        .bind(before.offset)
        .bind(before.length)
        .bind(after.offset)
        .bind(after.parts)
        .bind(after.length)
        .bind(after.completed_us)
        .bind(after.sha256.as_str());
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
        let parts = self.upload_parts(id).await?;
        self.exec(sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1").bind(id)).await?;
        for meta in &parts {
            Tx::delete_object(self, &meta.id).await?;
        }
        self.exec(sqlx::query("DELETE FROM uploads WHERE id = $1").bind(id)).await?;
        Ok(parts)
    }
}
