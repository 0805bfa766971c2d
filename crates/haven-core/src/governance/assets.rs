//! Information assets: registering one (with its project key and storage areas), the register,
//! one asset's page, nominating IAAs, the compliance record, and closing (archive or
//! crypto-shred).

use serde::Serialize;
use time::OffsetDateTime;

use super::records::{
    AccessRequest, Area, Asset, AssetAdmin, AssetStatus, Classification, Closure, ComplianceItem, ComplianceKind,
    Membership, RequestStatus, StorageArea,
};
use super::rules::{self, add_months};
use super::store::Paging;
use super::{Governance, GovernanceConfig, standing_and_reach};
use crate::accounts::Role;
use crate::audit::{NewAuditEvent, action, actor};
use crate::authz::{Action, Resource, Standing, require};
use crate::caller::Caller;
use crate::identity::records::AccountStatus;
use crate::{CoreError, StoreError, Tx, read, to_micros, transact};

/// What the service desk gives to register an asset.
pub struct NewAsset {
    pub name: String,
    pub iao: String,
    pub ig_ref: String,
    pub classification: Classification,
    pub description: String,
    /// `YYYY-MM-DD`, empty for today.
    pub starts: String,
    /// `YYYY-MM-DD` (the last day), empty for none.
    pub ends: String,
}

/// One asset as its IAO, IAAs, the service desk and auditors see it.
#[derive(Debug, Serialize)]
pub struct AssetView {
    pub asset: Asset,
    pub admins: Vec<AssetAdmin>,
    pub members: Vec<Membership>,
    pub compliance: Vec<ComplianceItem>,
    pub areas: Vec<StorageArea>,
    /// The oldest open requests (at most 1,000 of each status; the request lists page through all).
    pub open_requests: Vec<AccessRequest>,
    /// The viewer's standing (what the page may offer).
    #[serde(skip)]
    pub standing: Standing,
}

/// An asset in someone's "My assets", with whether they can reach it and why not.
#[derive(Debug, Serialize)]
pub struct MyAsset {
    pub asset: Asset,
    pub iao: bool,
    pub iaa: bool,
    /// `None` when the data can be reached; else why not and what to do.
    pub blocked: Option<String>,
}

impl Governance {
    /// Register an asset: its IAO must hold the staff role. Its project key and storage areas
    /// are made with it.
    pub async fn create_asset(&self, who: &Caller, new: NewAsset) -> Result<Asset, CoreError> {
        require(who, Action::CreateAsset, Resource::Service)?;
        self.check_fresh(who)?;
        let (now, now_us) = self.now();
        let name = new.name.trim().to_string();
        rules::validate_asset_name(&name)?;
        let ig_ref = new.ig_ref.trim().to_string();
        rules::validate_ig_ref(&self.config.ig_ref_format, &ig_ref)?;
        let description = rules::text("description", &new.description, false, 2000)?;
        let starts_us = if new.starts.trim().is_empty() { now_us } else { rules::parse_date("starts", &new.starts)? };
        let ends_us = if new.ends.trim().is_empty() { 0 } else { rules::parse_end_date("ends", &new.ends)? };
        if ends_us != 0 && ends_us <= now_us.max(starts_us) {
            return Err(CoreError::invalid(
                "ends",
                "the end date is in the past or before the start; give a later date",
            ));
        }
        let asset = Asset {
            name: name.clone(),
            ig_ref,
            classification: new.classification,
            description,
            starts_us,
            ends_us,
            status: AssetStatus::Active,
            iao: new.iao.trim().to_lowercase(),
            created_us: now_us,
            review_due_us: to_micros(add_months(now, self.config.review_months as i32)),
            closed_us: 0,
            closure: None,
        };
        let (a, actor, src) = (asset.clone(), who.audit_name().to_string(), who.source.clone());
        transact(self.store(), move |tx| Box::pin(insert_asset(tx, a, actor, src, now))).await?;
        // The key is made on first use too; making it now records it with the asset.
        self.keys.project_key(&name).await?;
        Ok(asset)
    }

    /// The asset register: every asset (the service desk and auditors).
    pub async fn register(&self, who: &Caller) -> Result<Vec<Asset>, CoreError> {
        require(who, Action::ViewGovernance, Resource::Service)?;
        read(self.store(), |tx| Box::pin(async move { Ok::<_, CoreError>(tx.assets().await?) })).await
    }

    /// The assets the caller owns, administers or is a member of, and whether each can be reached.
    pub async fn my_assets(&self, who: &Caller) -> Result<Vec<MyAsset>, CoreError> {
        require(who, Action::UseOwnGovernance, Resource::Account(&who.user_id))?;
        let (id, config, now_us) = (who.user_id.clone(), self.config.clone(), self.now().1);
        read(self.store(), move |tx| Box::pin(my_assets_of(tx, id, config, now_us))).await
    }

    /// One asset's page: members, IAAs, compliance record, storage areas, open requests.
    pub async fn asset_view(&self, who: &Caller, name: &str) -> Result<AssetView, CoreError> {
        let (asset, standing) = self.require_on(who, Action::ViewMembers, name).await?;
        let view = read(self.store(), move |tx| {
            Box::pin(async move {
                let name = asset.name.clone();
                Ok::<_, StoreError>(AssetView {
                    admins: tx.asset_admins(&name).await?,
                    members: tx.memberships(&name, true).await?,
                    compliance: tx.compliance_items(&name).await?,
                    areas: tx.storage_areas(&name).await?,
                    open_requests: open_requests(tx, &name, VIEW_OPEN_REQUESTS).await?,
                    asset,
                    standing,
                })
            })
        })
        .await?;
        Ok(view)
    }

    /// Nominate (`on`) or remove an IAA. The IAO cannot nominate themselves.
    pub async fn set_iaa(&self, who: &Caller, name: &str, user_id: &str, on: bool) -> Result<bool, CoreError> {
        let (asset, _) = self.require_on(who, Action::NominateAdmins, name).await?;
        self.check_fresh(who)?;
        let user_id = user_id.trim().to_lowercase();
        if asset.status == AssetStatus::Closed {
            return Err(CoreError::Conflict(format!("{name} is closed")));
        }
        if on && user_id == asset.iao {
            return Err(CoreError::Conflict(format!(
                "{user_id} is the IAO of {name} already; nominate someone else as IAA"
            )));
        }
        if on && user_id == who.user_id {
            return Err(CoreError::Conflict(
                "you cannot nominate yourself; ask the IAO or another member of the service desk".into(),
            ));
        }
        let (now, now_us) = self.now();
        let (actor, src) = (who.audit_name().to_string(), who.source.clone());
        transact(self.store(), move |tx| {
            Box::pin(async move {
                let changed = if on {
                    let account = tx.account(&user_id).await?.ok_or_else(|| no_user(&user_id))?;
                    if account.status != AccountStatus::Active {
                        return Err(CoreError::Conflict(format!("{user_id}'s account is {}", account.status.as_str())));
                    }
                    // Checked first: on PostgreSQL a failed INSERT would end the unit's transaction.
                    if tx.asset_admins(&asset.name).await?.iter().any(|a| a.user_id == user_id) {
                        false
                    } else {
                        tx.add_asset_admin(&AssetAdmin {
                            asset: asset.name.clone(),
                            user_id: user_id.clone(),
                            added_us: now_us,
                        })
                        .await?;
                        true
                    }
                } else {
                    tx.remove_asset_admin(&asset.name, &user_id).await?
                };
                if changed {
                    let what = if on { action::ASSET_IAA_ADDED } else { action::ASSET_IAA_REMOVED };
                    tx.append_audit(
                        NewAuditEvent::new(now, &actor, what).target(&user_id).project(&asset.name).source(&src),
                    )
                    .await?;
                }
                Ok(changed)
            })
        })
        .await
    }

    /// Record or renew one item of the asset's compliance record.
    pub async fn set_compliance(
        &self,
        who: &Caller,
        name: &str,
        kind: ComplianceKind,
        reference: &str,
        expires: &str,
    ) -> Result<ComplianceItem, CoreError> {
        let (asset, _) = self.require_on(who, Action::ManageAsset, name).await?;
        let reference = rules::text("reference", reference, true, 200)?;
        let expires_us = rules::parse_end_date("expires", expires)?;
        let (now, now_us) = self.now();
        if expires_us <= now_us {
            return Err(CoreError::invalid("expires", "this date has passed; record the renewed item's expiry"));
        }
        let item = ComplianceItem {
            asset: asset.name.clone(),
            kind,
            reference,
            expires_us,
            updated_us: now_us,
            updated_by: who.audit_name().to_string(),
            flagged_us: 0,
        };
        let (stored, src) = (item.clone(), who.source.clone());
        transact(self.store(), move |tx| {
            Box::pin(async move {
                tx.put_compliance_item(&stored).await?;
                tx.append_audit(
                    NewAuditEvent::new(now, &stored.updated_by, action::COMPLIANCE_RECORDED)
                        .project(&stored.asset)
                        .source(&src)
                        .details(serde_json::json!({
                            "kind": stored.kind.as_str(),
                            "reference": stored.reference,
                            "expires": rules::show_end_date(stored.expires_us),
                        })),
                )
                .await?;
                Ok::<_, CoreError>(())
            })
        })
        .await?;
        Ok(item)
    }

    /// Close an asset: every membership ends, open requests are rejected, and its data is
    /// archived or its project key destroyed (crypto-shredding everything sealed under it), as
    /// the IAO chose. One unit, so the closure record in the audit trail (signed by the next
    /// checkpoint) says exactly what was done. Closing a closed asset changes nothing.
    pub async fn close_asset(
        &self,
        who: &Caller,
        name: &str,
        closure: Closure,
        reason: &str,
    ) -> Result<Closed, CoreError> {
        let (asset, _) = self.require_on(who, Action::ManageAsset, name).await?;
        self.check_fresh(who)?;
        let reason = rules::text("reason", reason, true, 2000)?;
        if asset.status == AssetStatus::Closed {
            return Err(CoreError::Conflict(format!("{name} is closed already")));
        }
        let (now, _) = self.now();
        let (actor, src) = (who.audit_name().to_string(), who.source.clone());
        let mut closed =
            transact(self.store(), move |tx| Box::pin(close(tx, asset, closure, reason, actor, src, now))).await?;
        if closure == Closure::Shred {
            // Its key is gone; the plaintext in its drives goes now (or, should that fail, with
            // the next lifecycle run).
            closed.drives_erased = self.erase_drives(name).await.is_ok();
        }
        Ok(closed)
    }

    /// Erase a shredded asset's drives (S:, outputs), audited when there was anything.
    pub(super) async fn erase_drives(&self, asset: &str) -> Result<bool, CoreError> {
        let erased = self.drives.erase_asset(asset).await.map_err(|e| {
            tracing::error!(asset, error = %e, "a shredded asset's drives could not be erased");
            CoreError::Unavailable(format!("the drives of {asset} could not be erased: {e}"))
        })?;
        if erased {
            let event = NewAuditEvent::new(self.now().0, actor::SYSTEM, action::ASSET_DRIVES_ERASED)
                .project(asset)
                .details(serde_json::json!({"drives": ["shared", "outputs"]}));
            transact(self.store(), move |tx| Box::pin(async move { tx.append_audit(event).await.map(|_| ()) })).await?;
        }
        Ok(erased)
    }
}

/// What closing did.
#[derive(Debug, Serialize)]
pub struct Closed {
    pub memberships_ended: usize,
    pub requests_rejected: usize,
    pub keys_destroyed: u64,
    /// A shredded asset's drives were erased (false: the next lifecycle run tries again).
    pub drives_erased: bool,
}

fn no_user(user_id: &str) -> CoreError {
    CoreError::invalid("user_id", format!("there is no account {user_id}; check the user id"))
}

/// How many open requests of each status an asset's page shows (the oldest).
const VIEW_OPEN_REQUESTS: usize = 1000;

/// The asset's open requests, oldest first, at most `cap` of each status (closing takes them
/// all, to reject them; the asset's page shows the oldest).
async fn open_requests(tx: &mut dyn Tx, asset: &str, cap: usize) -> Result<Vec<AccessRequest>, StoreError> {
    let mut open = Vec::new();
    for status in [RequestStatus::Pending, RequestStatus::AwaitingTraining] {
        let (mut after, mut taken) = (0, 0);
        while taken < cap {
            let page = tx.requests(Some(asset), Some(status), None, Paging::Oldest { after, limit: 1000 }).await?;
            let Some(last) = page.last().map(|r| r.id) else { break };
            taken += page.len();
            open.extend(page);
            after = last;
        }
    }
    open.sort_by_key(|r| r.id);
    Ok(open)
}

async fn insert_asset(
    tx: &mut dyn Tx,
    asset: Asset,
    actor: String,
    src: String,
    now: OffsetDateTime,
) -> Result<(), CoreError> {
    let iao = tx.account(&asset.iao).await?.ok_or_else(|| no_user(&asset.iao))?;
    if !iao.roles.contains(&Role::Staff) {
        return Err(CoreError::Conflict(format!(
            "{} is not staff: an Information Asset Owner must hold the staff role (haven users role {} staff)",
            iao.id, iao.id
        )));
    }
    if tx.assets().await?.iter().any(|a| a.ig_ref == asset.ig_ref) {
        return Err(CoreError::Conflict(format!("the IG case reference {} is used by another asset", asset.ig_ref)));
    }
    tx.insert_asset(&asset).await.map_err(|e| match e {
        StoreError::Duplicate(_) => CoreError::Conflict(format!("an asset named {} exists already", asset.name)),
        other => other.into(),
    })?;
    for area in Area::ALL {
        let prefix = format!("{}/{}/", asset.name, area.as_str());
        tx.insert_storage_area(&StorageArea {
            asset: asset.name.clone(),
            area: *area,
            prefix,
            created_us: asset.created_us,
        })
        .await?;
    }
    tx.append_audit(
        NewAuditEvent::new(now, &actor, action::ASSET_CREATED)
            .target(&asset.iao)
            .project(&asset.name)
            .source(&src)
            .details(serde_json::json!({
                "ig_ref": asset.ig_ref,
                "classification": asset.classification.as_str(),
                "iao": asset.iao,
                "starts": rules::show_date(asset.starts_us),
                "ends": rules::show_end_date(asset.ends_us),
            })),
    )
    .await?;
    Ok(())
}

async fn my_assets_of(
    tx: &mut dyn Tx,
    user_id: String,
    config: GovernanceConfig,
    now_us: i64,
) -> Result<Vec<MyAsset>, CoreError> {
    let mut out = Vec::new();
    for asset in tx.assets_of(&user_id).await? {
        let (standing, reach) = standing_and_reach(tx, &asset, &user_id, &config, now_us).await?;
        let blocked = reach.err().map(|b| b.message(&asset.name));
        out.push(MyAsset { iao: asset.iao == user_id, iaa: standing.iaa, blocked, asset });
    }
    Ok(out)
}

async fn close(
    tx: &mut dyn Tx,
    asset: Asset,
    closure: Closure,
    reason: String,
    actor: String,
    src: String,
    now: OffsetDateTime,
) -> Result<Closed, CoreError> {
    let now_us = to_micros(now);
    // Read again inside the unit: the asset may have changed since the caller's standing was read.
    let mut asset = tx.asset(&asset.name).await?.ok_or(CoreError::NotFound)?;
    if asset.status == AssetStatus::Closed {
        return Err(CoreError::Conflict(format!("{} is closed already", asset.name)));
    }
    let mut ended = 0;
    for m in tx.memberships(&asset.name, true).await? {
        if tx.end_membership(m.id, now_us, "asset closed").await? {
            ended += 1;
            tx.append_audit(
                NewAuditEvent::new(now, &actor, action::MEMBERSHIP_ENDED)
                    .target(&m.user_id)
                    .project(&asset.name)
                    .details(serde_json::json!({"reason": "asset closed", "membership": m.id})),
            )
            .await?;
        }
    }
    let mut rejected = 0;
    for mut r in open_requests(tx, &asset.name, usize::MAX).await? {
        r.status = RequestStatus::Rejected;
        r.decided_by = actor.clone();
        r.decided_us = now_us;
        r.reason = "the asset was closed".into();
        if tx.update_request(&r).await? {
            rejected += 1;
            tx.append_audit(
                NewAuditEvent::new(now, &actor, action::ACCESS_REQUEST_REJECTED)
                    .target(&r.subject)
                    .project(&asset.name)
                    .details(serde_json::json!({"request": r.id, "reason": r.reason})),
            )
            .await?;
        }
    }
    let keys_destroyed = match closure {
        Closure::Shred => crate::keyring::destroy_project_keys(tx, &asset.name, now_us).await?,
        Closure::Archive => 0,
    };
    asset.status = AssetStatus::Closed;
    asset.closed_us = now_us;
    asset.closure = Some(closure);
    tx.update_asset(&asset).await?;
    tx.append_audit(NewAuditEvent::new(now, &actor, action::ASSET_CLOSED).project(&asset.name).source(&src).details(
        serde_json::json!({
            "closure": closure.as_str(),
            "reason": reason,
            "ig_ref": asset.ig_ref,
            "memberships_ended": ended,
            "requests_rejected": rejected,
            "project_key_versions_destroyed": keys_destroyed,
        }),
    ))
    .await?;
    Ok(Closed { memberships_ended: ended, requests_rejected: rejected, keys_destroyed, drives_erased: false })
}
