//! SQL for the governance part of the storage port.

use async_trait::async_trait;
use haven_core::StoreError;
use haven_core::governance::records::{
    AccessRequest, AccessRow, Area, Asset, AssetAdmin, AssetStatus, Classification, Closure, ComplianceItem,
    ComplianceKind, MemberRole, Membership, RequestKind, RequestStatus, StorageArea, TrainingRecord,
};
use haven_core::governance::store::{GovernanceTx, Paging, Profile};
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use super::rows::Columns;
use super::unit::SqlTx;

const ASSET_COLUMNS: &str = "name, ig_ref, classification, description, starts_us, ends_us, status, iao, created_us, \
     review_due_us, closed_us, closure";
const MEMBERSHIP_COLUMNS: &str = "id, asset, user_id, role, starts_us, ends_us, ended_us, end_reason, request_id, \
     confirmed_us, flagged_us, suspended";
const TRAINING_COLUMNS: &str = "id, user_id, course, completed_us, expires_us, recorded_by, recorded_us, reminders";
const REQUEST_COLUMNS: &str = "id, asset, kind, subject, new_email, new_name, new_organisation, role, ends_us, \
     justification, requested_by, requested_us, status, decided_by, decided_us, reason";
/// The access report's columns, read by position in [`access_row`] (100,000 rows by name cost
/// more than the query).
macro_rules! access_select {
    () => {
        "SELECT m.asset, m.user_id, m.role, m.starts_us, m.ended_us, m.end_reason, m.request_id, \
         COALESCE(r.requested_by, '') AS requested_by, COALESCE(r.decided_by, '') AS decided_by, \
         COALESCE(r.decided_us, 0) AS decided_us \
         FROM memberships m LEFT JOIN access_requests r ON r.id = m.request_id "
    };
}
const ACCESS_ALL: &str = concat!(
    access_select!(),
    "WHERE m.starts_us < $2 AND (m.ended_us = 0 OR m.ended_us > $1) ORDER BY m.asset, m.user_id, m.starts_us, m.id"
);
const ACCESS_ONE: &str = concat!(
    access_select!(),
    "WHERE m.asset = $3 AND m.starts_us < $2 AND (m.ended_us = 0 OR m.ended_us > $1) \
     ORDER BY m.asset, m.user_id, m.starts_us, m.id"
);
const COMPLIANCE_COLUMNS: &str = "asset, kind, reference, expires_us, updated_us, updated_by, flagged_us";

fn asset(row: &AnyRow) -> Result<Asset, StoreError> {
    let closure: String = row.col("closure")?;
    Ok(Asset {
        name: row.col("name")?,
        ig_ref: row.col("ig_ref")?,
        classification: row.parsed("classification", Classification::parse, "classification")?,
        description: row.col("description")?,
        starts_us: row.col("starts_us")?,
        ends_us: row.col("ends_us")?,
        status: row.parsed("status", AssetStatus::parse, "asset status")?,
        iao: row.col("iao")?,
        created_us: row.col("created_us")?,
        review_due_us: row.col("review_due_us")?,
        closed_us: row.col("closed_us")?,
        closure: if closure.is_empty() { None } else { Some(row.parsed("closure", Closure::parse, "closure")?) },
    })
}

fn membership(row: &AnyRow) -> Result<Membership, StoreError> {
    Ok(Membership {
        id: row.col("id")?,
        asset: row.col("asset")?,
        user_id: row.col("user_id")?,
        role: row.parsed("role", MemberRole::parse, "member role")?,
        starts_us: row.col("starts_us")?,
        ends_us: row.col("ends_us")?,
        ended_us: row.col("ended_us")?,
        end_reason: row.col("end_reason")?,
        request_id: row.col("request_id")?,
        confirmed_us: row.col("confirmed_us")?,
        flagged_us: row.col("flagged_us")?,
        suspended: row.flag("suspended")?,
    })
}

fn training(row: &AnyRow) -> Result<TrainingRecord, StoreError> {
    Ok(TrainingRecord {
        id: row.col("id")?,
        user_id: row.col("user_id")?,
        course: row.col("course")?,
        completed_us: row.col("completed_us")?,
        expires_us: row.col("expires_us")?,
        recorded_by: row.col("recorded_by")?,
        recorded_us: row.col("recorded_us")?,
        reminders: row.col("reminders")?,
    })
}

fn request(row: &AnyRow) -> Result<AccessRequest, StoreError> {
    Ok(AccessRequest {
        id: row.col("id")?,
        asset: row.col("asset")?,
        kind: row.parsed("kind", RequestKind::parse, "request kind")?,
        subject: row.col("subject")?,
        new_email: row.col("new_email")?,
        new_name: row.col("new_name")?,
        new_organisation: row.col("new_organisation")?,
        role: row.parsed("role", MemberRole::parse, "member role")?,
        ends_us: row.col("ends_us")?,
        justification: row.col("justification")?,
        requested_by: row.col("requested_by")?,
        requested_us: row.col("requested_us")?,
        status: row.parsed("status", RequestStatus::parse, "request status")?,
        decided_by: row.col("decided_by")?,
        decided_us: row.col("decided_us")?,
        reason: row.col("reason")?,
    })
}

fn compliance(row: &AnyRow) -> Result<ComplianceItem, StoreError> {
    Ok(ComplianceItem {
        asset: row.col("asset")?,
        kind: row.parsed("kind", ComplianceKind::parse, "compliance kind")?,
        reference: row.col("reference")?,
        expires_us: row.col("expires_us")?,
        updated_us: row.col("updated_us")?,
        updated_by: row.col("updated_by")?,
        flagged_us: row.col("flagged_us")?,
    })
}

fn each<T>(rows: &[AnyRow], decode: fn(&AnyRow) -> Result<T, StoreError>) -> Result<Vec<T>, StoreError> {
    rows.iter().map(decode).collect()
}

#[async_trait]
impl GovernanceTx for SqlTx<'_> {
    async fn insert_asset(&mut self, a: &Asset) -> Result<(), StoreError> {
        let sql =
            format!("INSERT INTO assets ({ASSET_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)");
        self.exec(
            sqlx::query(AssertSqlSafe(sql))
                .bind(a.name.as_str())
                .bind(a.ig_ref.as_str())
                .bind(a.classification.as_str())
                .bind(a.description.as_str())
                .bind(a.starts_us)
                .bind(a.ends_us)
                .bind(a.status.as_str())
                .bind(a.iao.as_str())
                .bind(a.created_us)
                .bind(a.review_due_us)
                .bind(a.closed_us)
                .bind(a.closure.map_or("", Closure::as_str)),
        )
        .await
        .map(|_| ())
    }

    async fn asset(&mut self, name: &str) -> Result<Option<Asset>, StoreError> {
        let sql = format!("SELECT {ASSET_COLUMNS} FROM assets WHERE name = $1");
        self.optional(sqlx::query(AssertSqlSafe(sql)).bind(name)).await?.as_ref().map(asset).transpose()
    }

    async fn assets(&mut self) -> Result<Vec<Asset>, StoreError> {
        let sql = format!("SELECT {ASSET_COLUMNS} FROM assets ORDER BY name");
        each(&self.all(sqlx::query(AssertSqlSafe(sql))).await?, asset)
    }

    async fn update_asset(&mut self, a: &Asset) -> Result<(), StoreError> {
        let q = sqlx::query(
            "UPDATE assets SET description = $2, ends_us = $3, status = $4, review_due_us = $5, closed_us = $6, \
             closure = $7, iao = $8 WHERE name = $1",
        )
        .bind(a.name.as_str())
        .bind(a.description.as_str())
        .bind(a.ends_us)
        .bind(a.status.as_str())
        .bind(a.review_due_us)
        .bind(a.closed_us)
        .bind(a.closure.map_or("", Closure::as_str))
        .bind(a.iao.as_str());
        self.exec(q).await.map(|_| ())
    }

    async fn assets_of(&mut self, user_id: &str) -> Result<Vec<Asset>, StoreError> {
        let sql = format!(
            "SELECT {ASSET_COLUMNS} FROM assets WHERE iao = $1 \
             OR name IN (SELECT asset FROM asset_admins WHERE user_id = $1) \
             OR name IN (SELECT asset FROM memberships WHERE user_id = $1 AND ended_us = 0) ORDER BY name"
        );
        each(&self.all(sqlx::query(AssertSqlSafe(sql)).bind(user_id)).await?, asset)
    }

    async fn insert_storage_area(&mut self, s: &StorageArea) -> Result<(), StoreError> {
        let q = sqlx::query("INSERT INTO storage_areas (asset, area, prefix, created_us) VALUES ($1, $2, $3, $4)")
            .bind(s.asset.as_str())
            .bind(s.area.as_str())
            .bind(s.prefix.as_str())
            .bind(s.created_us);
        self.exec(q).await.map(|_| ())
    }

    async fn storage_areas(&mut self, asset: &str) -> Result<Vec<StorageArea>, StoreError> {
        let rows = self
            .all(
                sqlx::query("SELECT asset, area, prefix, created_us FROM storage_areas WHERE asset = $1 ORDER BY area")
                    .bind(asset),
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(StorageArea {
                    asset: r.col("asset")?,
                    area: r.parsed("area", Area::parse, "storage area")?,
                    prefix: r.col("prefix")?,
                    created_us: r.col("created_us")?,
                })
            })
            .collect()
    }

    async fn asset_admins(&mut self, asset: &str) -> Result<Vec<AssetAdmin>, StoreError> {
        let rows = self
            .all(
                sqlx::query("SELECT asset, user_id, added_us FROM asset_admins WHERE asset = $1 ORDER BY user_id")
                    .bind(asset),
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AssetAdmin { asset: r.col("asset")?, user_id: r.col("user_id")?, added_us: r.col("added_us")? })
            })
            .collect()
    }

    async fn add_asset_admin(&mut self, a: &AssetAdmin) -> Result<(), StoreError> {
        let q = sqlx::query("INSERT INTO asset_admins (asset, user_id, added_us) VALUES ($1, $2, $3)")
            .bind(a.asset.as_str())
            .bind(a.user_id.as_str())
            .bind(a.added_us);
        self.exec(q).await.map(|_| ())
    }

    async fn remove_asset_admin(&mut self, asset: &str, user_id: &str) -> Result<bool, StoreError> {
        let q = sqlx::query("DELETE FROM asset_admins WHERE asset = $1 AND user_id = $2").bind(asset).bind(user_id);
        Ok(self.exec(q).await? > 0)
    }

    async fn delete_project_keys(&mut self, project: &str) -> Result<u64, StoreError> {
        self.exec(sqlx::query("DELETE FROM project_keys WHERE project = $1").bind(project)).await
    }

    async fn insert_membership(&mut self, m: &Membership) -> Result<i64, StoreError> {
        let row = self
            .one(
                sqlx::query(
                    "INSERT INTO memberships (asset, user_id, role, starts_us, ends_us, ended_us, end_reason, \
                     request_id, confirmed_us, flagged_us, suspended) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                )
                .bind(m.asset.as_str())
                .bind(m.user_id.as_str())
                .bind(m.role.as_str())
                .bind(m.starts_us)
                .bind(m.ends_us)
                .bind(m.ended_us)
                .bind(m.end_reason.as_str())
                .bind(m.request_id)
                .bind(m.confirmed_us)
                .bind(m.flagged_us)
                .bind(i64::from(m.suspended)),
            )
            .await?;
        row.col("id")
    }

    async fn current_membership(&mut self, asset: &str, user_id: &str) -> Result<Option<Membership>, StoreError> {
        let sql =
            format!("SELECT {MEMBERSHIP_COLUMNS} FROM memberships WHERE asset = $1 AND user_id = $2 AND ended_us = 0");
        self.optional(sqlx::query(AssertSqlSafe(sql)).bind(asset).bind(user_id))
            .await?
            .as_ref()
            .map(membership)
            .transpose()
    }

    async fn memberships(&mut self, asset: &str, current_only: bool) -> Result<Vec<Membership>, StoreError> {
        let only = if current_only { "AND ended_us = 0" } else { "" };
        let sql = format!(
            "SELECT {MEMBERSHIP_COLUMNS} FROM memberships WHERE asset = $1 {only} ORDER BY user_id, starts_us, id"
        );
        each(&self.all(sqlx::query(AssertSqlSafe(sql)).bind(asset)).await?, membership)
    }

    async fn memberships_of(&mut self, user_id: &str) -> Result<Vec<Membership>, StoreError> {
        let sql =
            format!("SELECT {MEMBERSHIP_COLUMNS} FROM memberships WHERE user_id = $1 AND ended_us = 0 ORDER BY asset");
        each(&self.all(sqlx::query(AssertSqlSafe(sql)).bind(user_id)).await?, membership)
    }

    async fn memberships_due_to_end(&mut self, at_us: i64) -> Result<Vec<Membership>, StoreError> {
        let sql = format!(
            "SELECT {MEMBERSHIP_COLUMNS} FROM memberships WHERE ended_us = 0 AND ends_us <= $1 ORDER BY asset, user_id"
        );
        each(&self.all(sqlx::query(AssertSqlSafe(sql)).bind(at_us)).await?, membership)
    }

    async fn end_membership(&mut self, id: i64, at_us: i64, reason: &str) -> Result<bool, StoreError> {
        let q = sqlx::query("UPDATE memberships SET ended_us = $2, end_reason = $3 WHERE id = $1 AND ended_us = 0")
            .bind(id)
            .bind(at_us)
            .bind(reason);
        Ok(self.exec(q).await? > 0)
    }

    async fn update_membership_review(&mut self, m: &Membership) -> Result<(), StoreError> {
        let q = sqlx::query("UPDATE memberships SET confirmed_us = $2, flagged_us = $3, suspended = $4 WHERE id = $1")
            .bind(m.id)
            .bind(m.confirmed_us)
            .bind(m.flagged_us)
            .bind(i64::from(m.suspended));
        self.exec(q).await.map(|_| ())
    }

    async fn accounts_without_access(&mut self) -> Result<Vec<String>, StoreError> {
        let rows = self
            .all(sqlx::query(
                "SELECT u.id FROM users u WHERE u.status = 'active' \
                 AND NOT EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role <> 'researcher') \
                 AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.ended_us = 0) \
                 AND NOT EXISTS (SELECT 1 FROM asset_admins a JOIN assets s ON s.name = a.asset \
                                 WHERE a.user_id = u.id AND s.status = 'active') \
                 ORDER BY u.id",
            ))
            .await?;
        rows.iter().map(|r| r.col("id")).collect()
    }

    async fn put_compliance_item(&mut self, c: &ComplianceItem) -> Result<(), StoreError> {
        self.exec(
            sqlx::query("DELETE FROM compliance_items WHERE asset = $1 AND kind = $2")
                .bind(c.asset.as_str())
                .bind(c.kind.as_str()),
        )
        .await?;
        let sql = format!("INSERT INTO compliance_items ({COMPLIANCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        let q = sqlx::query(AssertSqlSafe(sql))
            .bind(c.asset.as_str())
            .bind(c.kind.as_str())
            .bind(c.reference.as_str())
            .bind(c.expires_us)
            .bind(c.updated_us)
            .bind(c.updated_by.as_str())
            .bind(c.flagged_us);
        self.exec(q).await.map(|_| ())
    }

    async fn compliance_items(&mut self, asset: &str) -> Result<Vec<ComplianceItem>, StoreError> {
        let sql = format!("SELECT {COMPLIANCE_COLUMNS} FROM compliance_items WHERE asset = $1 ORDER BY kind");
        each(&self.all(sqlx::query(AssertSqlSafe(sql)).bind(asset)).await?, compliance)
    }

    async fn compliance_expiring(&mut self, at_us: i64) -> Result<Vec<ComplianceItem>, StoreError> {
        let sql = format!(
            "SELECT {COMPLIANCE_COLUMNS} FROM compliance_items WHERE expires_us <= $1 \
             AND asset IN (SELECT name FROM assets WHERE status = 'active') ORDER BY expires_us, asset, kind"
        );
        each(&self.all(sqlx::query(AssertSqlSafe(sql)).bind(at_us)).await?, compliance)
    }

    async fn insert_training(&mut self, t: &TrainingRecord) -> Result<i64, StoreError> {
        let row = self
            .one(
                sqlx::query(
                    "INSERT INTO training_records (user_id, course, completed_us, expires_us, recorded_by, recorded_us, \
                     reminders) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(t.user_id.as_str())
                .bind(t.course.as_str())
                .bind(t.completed_us)
                .bind(t.expires_us)
                .bind(t.recorded_by.as_str())
                .bind(t.recorded_us)
                .bind(t.reminders),
            )
            .await?;
        row.col("id")
    }

    async fn training_of(&mut self, user_id: &str) -> Result<Vec<TrainingRecord>, StoreError> {
        let sql = format!(
            "SELECT {TRAINING_COLUMNS} FROM training_records WHERE user_id = $1 ORDER BY completed_us DESC, id DESC"
        );
        each(&self.all(sqlx::query(AssertSqlSafe(sql)).bind(user_id)).await?, training)
    }

    async fn training_expiring(
        &mut self,
        from_us: i64,
        to_us: i64,
        reminders: i64,
    ) -> Result<Vec<TrainingRecord>, StoreError> {
        let sql = format!(
            "SELECT {TRAINING_COLUMNS} FROM training_records WHERE expires_us > $1 AND expires_us <= $2 \
             AND reminders < $3 ORDER BY user_id, id"
        );
        each(&self.all(sqlx::query(AssertSqlSafe(sql)).bind(from_us).bind(to_us).bind(reminders)).await?, training)
    }

    async fn set_training_reminders(&mut self, id: i64, reminders: i64) -> Result<(), StoreError> {
        let q = sqlx::query("UPDATE training_records SET reminders = $2 WHERE id = $1").bind(id).bind(reminders);
        self.exec(q).await.map(|_| ())
    }

    async fn accept_aus(&mut self, user_id: &str, version: i64, at_us: i64) -> Result<(), StoreError> {
        let q = sqlx::query("INSERT INTO aus_acceptances (user_id, version, accepted_us) VALUES ($1, $2, $3)")
            .bind(user_id)
            .bind(version)
            .bind(at_us);
        self.exec(q).await.map(|_| ())
    }

    async fn aus_version(&mut self, user_id: &str) -> Result<i64, StoreError> {
        let row = self
            .one(
                sqlx::query("SELECT COALESCE(MAX(version), 0) AS version FROM aus_acceptances WHERE user_id = $1")
                    .bind(user_id),
            )
            .await?;
        row.col("version")
    }

    async fn profile(&mut self, user_id: &str) -> Result<Option<Profile>, StoreError> {
        let row = self
            .optional(
                sqlx::query("SELECT name, organisation, auto_disabled_us FROM user_profiles WHERE user_id = $1")
                    .bind(user_id),
            )
            .await?;
        row.map(|r| {
            Ok(Profile {
                name: r.col("name")?,
                organisation: r.col("organisation")?,
                auto_disabled_us: r.col("auto_disabled_us")?,
            })
        })
        .transpose()
    }

    async fn put_profile(&mut self, user_id: &str, p: &Profile) -> Result<(), StoreError> {
        self.exec(sqlx::query("DELETE FROM user_profiles WHERE user_id = $1").bind(user_id)).await?;
        let q = sqlx::query(
            "INSERT INTO user_profiles (user_id, name, organisation, auto_disabled_us) VALUES ($1, $2, $3, $4)",
        )
        .bind(user_id)
        .bind(p.name.as_str())
        .bind(p.organisation.as_str())
        .bind(p.auto_disabled_us);
        self.exec(q).await.map(|_| ())
    }

    async fn insert_request(&mut self, r: &AccessRequest) -> Result<i64, StoreError> {
        let row = self
            .one(
                sqlx::query(
                    "INSERT INTO access_requests (asset, kind, subject, new_email, new_name, new_organisation, role, \
                     ends_us, justification, requested_by, requested_us, status, decided_by, decided_us, reason) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
                )
                .bind(r.asset.as_str())
                .bind(r.kind.as_str())
                .bind(r.subject.as_str())
                .bind(r.new_email.as_str())
                .bind(r.new_name.as_str())
                .bind(r.new_organisation.as_str())
                .bind(r.role.as_str())
                .bind(r.ends_us)
                .bind(r.justification.as_str())
                .bind(r.requested_by.as_str())
                .bind(r.requested_us)
                .bind(r.status.as_str())
                .bind(r.decided_by.as_str())
                .bind(r.decided_us)
                .bind(r.reason.as_str()),
            )
            .await?;
        row.col("id")
    }

    async fn request(&mut self, id: i64) -> Result<Option<AccessRequest>, StoreError> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM access_requests WHERE id = $1");
        self.optional(sqlx::query(AssertSqlSafe(sql)).bind(id)).await?.as_ref().map(request).transpose()
    }

    async fn requests(
        &mut self,
        asset: Option<&str>,
        status: Option<RequestStatus>,
        requested_by: Option<&str>,
        page: Paging,
    ) -> Result<Vec<AccessRequest>, StoreError> {
        // Empty parameters match everything: one statement for every filter, per direction;
        // pages are keyed by id, so a page costs the same however deep it is.
        let (order, from) = match page {
            Paging::Newest { before, .. } => ("id < $4 ORDER BY id DESC", if before > 0 { before } else { i64::MAX }),
            Paging::Oldest { after, .. } => ("id > $4 ORDER BY id", after),
        };
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM access_requests WHERE ($1 = '' OR asset = $1) AND ($2 = '' OR status = $2) \
             AND ($3 = '' OR requested_by = $3) AND {order} LIMIT $5"
        );
        let q = sqlx::query(AssertSqlSafe(sql))
            .bind(asset.unwrap_or(""))
            .bind(status.map_or("", RequestStatus::as_str))
            .bind(requested_by.unwrap_or(""))
            .bind(from)
            .bind(page.limit());
        each(&self.all(q).await?, request)
    }

    async fn open_requests_about(&mut self, subject: &str) -> Result<Vec<AccessRequest>, StoreError> {
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM access_requests WHERE subject = $1 \
             AND status IN ('pending', 'awaiting_training') ORDER BY id"
        );
        each(&self.all(sqlx::query(AssertSqlSafe(sql)).bind(subject)).await?, request)
    }

    async fn update_request(&mut self, r: &AccessRequest) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "UPDATE access_requests SET status = $2, decided_by = $3, decided_us = $4, reason = $5 \
             WHERE id = $1 AND status IN ('pending', 'awaiting_training')",
        )
        .bind(r.id)
        .bind(r.status.as_str())
        .bind(r.decided_by.as_str())
        .bind(r.decided_us)
        .bind(r.reason.as_str());
        Ok(self.exec(q).await? > 0)
    }

    async fn each_access_row(
        &mut self,
        from_us: i64,
        to_us: i64,
        asset: Option<&str>,
        each: &mut (dyn FnMut(AccessRow) -> Result<(), StoreError> + Send),
    ) -> Result<u64, StoreError> {
        // Two statements, so that one asset's report reads its rows in order from the
        // `memberships_report` index rather than filtering every row.
        let q = match asset {
            Some(asset) => sqlx::query(ACCESS_ONE).bind(from_us).bind(to_us).bind(asset),
            None => sqlx::query(ACCESS_ALL).bind(from_us).bind(to_us),
        };
        self.each(q, |r| each(access_row(r)?)).await
    }
}

fn access_row(r: &AnyRow) -> Result<AccessRow, StoreError> {
    use sqlx::Row;
    let get = |e: sqlx::Error| super::rows::map_err(e);
    let role: String = r.try_get(2).map_err(get)?;
    Ok(AccessRow {
        asset: r.try_get(0).map_err(get)?,
        user_id: r.try_get(1).map_err(get)?,
        role: MemberRole::parse(&role).ok_or_else(|| super::rows::corrupt("member role"))?,
        starts_us: r.try_get(3).map_err(get)?,
        ended_us: r.try_get(4).map_err(get)?,
        end_reason: r.try_get(5).map_err(get)?,
        request_id: r.try_get(6).map_err(get)?,
        requested_by: r.try_get(7).map_err(get)?,
        decided_by: r.try_get(8).map_err(get)?,
        decided_us: r.try_get(9).map_err(get)?,
    })
}
