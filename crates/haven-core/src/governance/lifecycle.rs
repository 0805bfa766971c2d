//! What time does to access: memberships end on their end date, accounts left with no access
//! are disabled, compliance items and training near expiry are flagged, and access reviews fall
//! due. [`Governance::run_lifecycle`] runs it all; each step is its own small unit that checks
//! the state it changes, so running it twice (or on two nodes) does each thing once. Also the
//! IAO's access review.

use serde::Serialize;
use time::OffsetDateTime;

use super::records::{AssetStatus, Membership};
use super::rules::{self, DAY_US, add_months};
use super::store::Profile;
use super::{Governance, messages};
use crate::accounts::Role;
use crate::audit::{NewAuditEvent, action, actor};
use crate::authz::Action;
use crate::caller::Caller;
use crate::identity::records::AccountStatus;
use crate::{CoreError, StoreError, Tx, read, to_micros, transact};

/// A review opens this many days before it is due: confirmations from then on (and people who
/// joined since) count towards it.
pub const REVIEW_WINDOW_DAYS: i64 = 30;

/// When the review due at `due_us` opened.
pub fn review_opens(due_us: i64) -> i64 {
    due_us - REVIEW_WINDOW_DAYS * DAY_US
}

/// What one run did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct LifecycleRun {
    pub memberships_ended: usize,
    pub accounts_disabled: usize,
    pub compliance_flagged: usize,
    pub training_reminders: usize,
    pub reviews_flagged: usize,
    /// Shredded assets whose drives were still there, now erased.
    pub drives_erased: usize,
}

/// What an access review did.
#[derive(Debug, Serialize)]
pub struct Reviewed {
    pub confirmed: usize,
    pub removed: usize,
    /// Whether every member is now confirmed, so the next review is due `review_months` on.
    pub complete: bool,
    pub next_due_us: i64,
}

impl Governance {
    /// Run every lifecycle step once, as of now.
    /// A step that fails is logged and the others still run; the run reports the first error
    /// after all have run.
    pub async fn run_lifecycle(&self) -> Result<LifecycleRun, CoreError> {
        let mut first_error = None;
        let mut count = |step: &'static str, outcome: Result<usize, CoreError>| match outcome {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(step, error = %e, "a governance lifecycle step failed");
                first_error.get_or_insert(e);
                0
            }
        };
        let run = LifecycleRun {
            memberships_ended: count("end memberships", self.end_due_memberships().await),
            accounts_disabled: count("disable accounts", self.disable_accounts_without_access().await),
            compliance_flagged: count("flag compliance", self.flag_compliance().await),
            training_reminders: count("remind training", self.remind_training().await),
            reviews_flagged: count("flag reviews", self.flag_missed_reviews().await),
            drives_erased: count("erase shredded drives", self.erase_shredded_drives().await),
        };
        match first_error {
            Some(e) => Err(e),
            None => Ok(run),
        }
    }

    /// The drives of assets closed with shredding that are still there (erasing them at close
    /// failed), erased.
    async fn erase_shredded_drives(&self) -> Result<usize, CoreError> {
        let assets = read(self.store(), |tx| Box::pin(async move { tx.assets().await })).await?;
        let mut erased = 0;
        for a in assets.iter().filter(|a| a.closure == Some(super::records::Closure::Shred)) {
            erased += usize::from(self.erase_drives(&a.name).await?);
        }
        Ok(erased)
    }

    async fn end_due_memberships(&self) -> Result<usize, CoreError> {
        let (now, now_us) = self.now();
        let due =
            read(self.store(), move |tx| Box::pin(async move { tx.memberships_due_to_end(now_us).await })).await?;
        let mut ended = 0;
        for m in due {
            let done = transact(self.store(), move |tx| {
                Box::pin(async move {
                    if !tx.end_membership(m.id, now_us, "end date").await? {
                        return Ok::<_, CoreError>(false);
                    }
                    tx.append_audit(
                        NewAuditEvent::new(now, actor::SYSTEM, action::MEMBERSHIP_ENDED)
                            .target(&m.user_id)
                            .project(&m.asset)
                            .details(serde_json::json!({"membership": m.id, "reason": "end date"})),
                    )
                    .await?;
                    Ok(true)
                })
            })
            .await?;
            ended += usize::from(done);
        }
        Ok(ended)
    }

    async fn disable_accounts_without_access(&self) -> Result<usize, CoreError> {
        let (now, _) = self.now();
        let ids = read(self.store(), |tx| Box::pin(async move { tx.accounts_without_access().await })).await?;
        let mut disabled = 0;
        for id in ids {
            let done = transact(self.store(), move |tx| Box::pin(disable_without_access(tx, id, now))).await?;
            disabled += usize::from(done);
        }
        Ok(disabled)
    }

    async fn flag_compliance(&self) -> Result<usize, CoreError> {
        let (now, now_us) = self.now();
        let horizon = now_us + i64::from(self.config.compliance_warning_days) * DAY_US;
        let items =
            read(self.store(), move |tx| Box::pin(async move { tx.compliance_expiring(horizon).await })).await?;
        let mut flagged = 0;
        for mut item in items.into_iter().filter(|i| i.flagged_us == 0) {
            let stored = item.clone();
            item.flagged_us = now_us;
            let flag = item.clone();
            let iao = transact(self.store(), move |tx| {
                Box::pin(async move {
                    let current = tx.compliance_items(&flag.asset).await?;
                    if !current.iter().any(|c| c.kind == flag.kind && c.flagged_us == 0 && c.expires_us == stored.expires_us) {
                        return Ok::<_, CoreError>(None);
                    }
                    tx.put_compliance_item(&flag).await?;
                    tx.append_audit(
                        NewAuditEvent::new(now, actor::SYSTEM, action::COMPLIANCE_EXPIRING).project(&flag.asset).details(
                            serde_json::json!({"kind": flag.kind.as_str(), "expires": rules::show_end_date(flag.expires_us)}),
                        ),
                    )
                    .await?;
                    Ok(tx.asset(&flag.asset).await?.map(|a| a.iao))
                })
            })
            .await?;
            if let Some(iao) = iao {
                flagged += 1;
                let text = messages::compliance_expiring(&item, &self.identity.public_url);
                let subject = format!("Haven - {} of {} expires soon", item.kind.label(), item.asset);
                self.notify_user(&iao, &subject, text.clone()).await;
                self.notify_desk(&subject, text).await;
            }
        }
        Ok(flagged)
    }

    async fn remind_training(&self) -> Result<usize, CoreError> {
        let (now, now_us) = self.now();
        let days = self.config.reminder_days();
        let mut sent = 0;
        // The nearest reminder first, so a record first seen a few days before it expires gets
        // one email, not both.
        for (index, d) in days.iter().enumerate().rev() {
            let stage = index as i64 + 1;
            let horizon = now_us + i64::from(*d) * DAY_US;
            let due = read(self.store(), move |tx| {
                Box::pin(async move { tx.training_expiring(now_us, horizon, stage).await })
            })
            .await?;
            for record in due {
                let (id, user, course, expires) =
                    (record.id, record.user_id.clone(), record.course.clone(), record.expires_us);
                let remind = transact(self.store(), move |tx| {
                    Box::pin(async move {
                        let all = tx.training_of(&user).await?;
                        let Some(this) = all.iter().find(|r| r.id == id) else { return Ok::<_, CoreError>(false) };
                        if this.reminders >= stage {
                            return Ok(false);
                        }
                        // A newer record of the course supersedes this one: nothing to remind.
                        let renewed = all.iter().any(|r| r.course == course && r.expires_us > expires);
                        tx.set_training_reminders(id, if renewed { i64::MAX } else { stage }).await?;
                        if renewed {
                            return Ok(false);
                        }
                        tx.append_audit(
                            NewAuditEvent::new(now, actor::SYSTEM, action::TRAINING_REMINDER_SENT).target(&user).details(
                                serde_json::json!({"course": course, "expires": rules::show_end_date(expires), "days_before": (expires - now_us) / DAY_US}),
                            ),
                        )
                        .await?;
                        Ok(true)
                    })
                })
                .await?;
                if remind {
                    sent += 1;
                    let text =
                        messages::training_expiring(&record.course, record.expires_us, &self.identity.public_url);
                    self.notify_user(&record.user_id, "Haven - your IG training expires soon", text).await;
                }
            }
        }
        Ok(sent)
    }

    async fn flag_missed_reviews(&self) -> Result<usize, CoreError> {
        let (now, now_us) = self.now();
        let suspend = self.config.suspend_unreviewed;
        let assets = read(self.store(), |tx| Box::pin(async move { tx.assets().await })).await?;
        let mut flagged = 0;
        for asset in assets.into_iter().filter(|a| a.status == AssetStatus::Active && a.review_due_us <= now_us) {
            let cycle_start = review_opens(asset.review_due_us);
            let name = asset.name.clone();
            let missed = transact(self.store(), move |tx| {
                Box::pin(async move {
                    let mut missed = Vec::new();
                    for mut m in tx.memberships(&name, true).await? {
                        if m.confirmed_us >= cycle_start || m.flagged_us != 0 {
                            continue;
                        }
                        m.flagged_us = now_us;
                        m.suspended = suspend;
                        tx.update_membership_review(&m).await?;
                        tx.append_audit(
                            NewAuditEvent::new(now, actor::SYSTEM, action::MEMBERSHIP_REVIEW_MISSED)
                                .target(&m.user_id)
                                .project(&name)
                                .details(serde_json::json!({
                                    "membership": m.id,
                                    "review_due": rules::show_date(asset.review_due_us),
                                    "suspended": suspend,
                                })),
                        )
                        .await?;
                        missed.push(m.user_id);
                    }
                    Ok::<_, StoreError>(missed)
                })
            })
            .await?;
            if !missed.is_empty() {
                flagged += missed.len();
                let text = messages::review_missed(&asset.name, &missed, suspend, &self.identity.public_url);
                let subject = format!("Haven - the access review of {} is overdue", asset.name);
                self.notify_user(&asset.iao, &subject, text.clone()).await;
                self.notify_desk(&subject, text).await;
            }
        }
        Ok(flagged)
    }

    /// The IAO's access review: confirm some members, remove others. When every current member
    /// is confirmed since the review opened, the next review falls due `review_months` from now.
    pub async fn review(
        &self,
        who: &Caller,
        name: &str,
        confirm: &[String],
        remove: &[String],
    ) -> Result<Reviewed, CoreError> {
        let (asset, _) = self.require_on(who, Action::ReviewMembers, name).await?;
        if confirm.contains(&who.user_id) {
            return Err(CoreError::invalid("members", "you cannot confirm your own membership; ask the service desk"));
        }
        if let Some(both) = confirm.iter().find(|u| remove.contains(u)) {
            return Err(CoreError::invalid("members", format!("{both} is both confirmed and removed; choose one")));
        }
        let (now, now_us) = self.now();
        let months = self.config.review_months as i32;
        let (confirm, remove) = (confirm.to_vec(), remove.to_vec());
        let (actor, src) = (who.audit_name().to_string(), who.source.clone());
        transact(self.store(), move |tx| {
            Box::pin(async move {
                // Read again inside the unit: a closure meanwhile must not be written back.
                let asset = tx.asset(&asset.name).await?.ok_or(CoreError::NotFound)?;
                if asset.status != AssetStatus::Active {
                    return Err(CoreError::Conflict(format!("{} is closed", asset.name)));
                }
                let cycle_start = review_opens(asset.review_due_us);
                let members = tx.memberships(&asset.name, true).await?;
                let unknown: Vec<&String> =
                    confirm.iter().chain(&remove).filter(|u| !members.iter().any(|m| &m.user_id == *u)).collect();
                if !unknown.is_empty() {
                    return Err(CoreError::invalid(
                        "members",
                        format!(
                            "not current members of {}: {}",
                            asset.name,
                            unknown.iter().map(|u| u.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
                let mut confirmed = 0;
                let mut removed = 0;
                let mut still: Vec<Membership> = Vec::new();
                for mut m in members {
                    if confirm.contains(&m.user_id) {
                        m.confirmed_us = now_us;
                        m.flagged_us = 0;
                        m.suspended = false;
                        tx.update_membership_review(&m).await?;
                        confirmed += 1;
                        still.push(m);
                    } else if remove.contains(&m.user_id) {
                        tx.end_membership(m.id, now_us, "removed in access review").await?;
                        tx.append_audit(
                            NewAuditEvent::new(now, &actor, action::MEMBERSHIP_ENDED)
                                .target(&m.user_id)
                                .project(&asset.name)
                                .source(&src)
                                .details(serde_json::json!({"membership": m.id, "reason": "removed in access review"})),
                        )
                        .await?;
                        removed += 1;
                    } else {
                        still.push(m);
                    }
                }
                let complete = still.iter().all(|m| m.confirmed_us >= cycle_start && m.flagged_us == 0);
                let mut asset = asset;
                if complete {
                    asset.review_due_us = to_micros(add_months(now, months));
                    tx.update_asset(&asset).await?;
                }
                tx.append_audit(
                    NewAuditEvent::new(now, &actor, action::ACCESS_REVIEW_RECORDED)
                        .project(&asset.name)
                        .source(&src)
                        .details(serde_json::json!({
                            "confirmed": confirm,
                            "removed": remove,
                            "complete": complete,
                            "next_due": rules::show_date(asset.review_due_us),
                        })),
                )
                .await?;
                Ok(Reviewed { confirmed, removed, complete, next_due_us: asset.review_due_us })
            })
        })
        .await
    }
}

/// Disable `id` if it still has no access; whether it did. Its sessions end with it.
async fn disable_without_access(tx: &mut dyn Tx, id: String, now: OffsetDateTime) -> Result<bool, CoreError> {
    let Some(mut account) = tx.account(&id).await? else { return Ok(false) };
    let staff = account.roles.iter().any(|r| *r != Role::Researcher);
    if account.status != AccountStatus::Active || staff || !tx.memberships_of(&id).await?.is_empty() {
        return Ok(false);
    }
    // An IAO or IAA post on an active asset keeps the account.
    if tx.assets_of(&id).await?.iter().any(|a| a.status == AssetStatus::Active) {
        return Ok(false);
    }
    account.status = AccountStatus::Disabled;
    tx.update_account(&account).await?;
    let mut profile = tx.profile(&id).await?.unwrap_or_else(Profile::default);
    profile.auto_disabled_us = to_micros(now);
    tx.put_profile(&id, &profile).await?;
    let sessions = tx.delete_sessions_of(&id, None).await?;
    tx.append_audit(
        NewAuditEvent::new(now, actor::SYSTEM, action::ACCOUNT_DISABLED)
            .target(&id)
            .details(serde_json::json!({"reason": "no active membership", "sessions_ended": sessions})),
    )
    .await?;
    Ok(true)
}
