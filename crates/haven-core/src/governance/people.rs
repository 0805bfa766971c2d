//! People: IG training records (entered by the service desk or imported from a training
//! system's CSV, all rows or none), the Acceptable Use Statement, and a person's own view.

use std::collections::BTreeSet;

use serde::Serialize;
use time::OffsetDateTime;

use super::records::{RequestStatus, TrainingRecord};
use super::rules::{self, TrainingRow, add_months};
use super::{Governance, GovernanceConfig};
use crate::audit::{NewAuditEvent, action};
use crate::authz::{Action, Resource, require};
use crate::caller::Caller;
use crate::{CoreError, Tx, from_micros, read, to_micros, transact};

/// What an import applied.
#[derive(Debug, Serialize)]
pub struct Imported {
    pub records: usize,
    /// Rows identical to a record the person already had, left alone.
    pub already_recorded: usize,
    pub users: usize,
    /// Requests that were waiting for these records and now wait for a decision.
    pub requests_ready: usize,
}

/// A person's training as the desk, an auditor or the person sees it.
#[derive(Debug, Serialize)]
pub struct TrainingView {
    pub records: Vec<TrainingRecord>,
    /// Courses required for membership that are not current.
    pub missing: Vec<String>,
    pub aus_version: i64,
    pub aus_current: bool,
}

impl Governance {
    /// Record one training completion for `user_id` (the service desk, never for themselves).
    pub async fn record_training(
        &self,
        who: &Caller,
        user_id: &str,
        course: &str,
        completed: &str,
        expires: &str,
    ) -> Result<TrainingRecord, CoreError> {
        let user_id = user_id.trim().to_lowercase();
        require(who, Action::DecideAccess, Resource::Account(&user_id))?;
        self.check_fresh(who)?;
        let (now, now_us) = self.now();
        rules::validate_course(course.trim())?;
        let completed_us = rules::parse_date("completed", completed)?;
        if completed_us > now_us {
            return Err(CoreError::invalid("completed", "this date is in the future"));
        }
        let expires_us = if expires.trim().is_empty() {
            to_micros(add_months(from_micros(completed_us), self.config.training_validity_months as i32))
        } else {
            rules::parse_end_date("expires", expires)?
        };
        if expires_us <= completed_us {
            return Err(CoreError::invalid("expires", "must be after the completion date"));
        }
        let row = TrainingRow { line: 0, user_id, course: course.trim().to_string(), completed_us, expires_us };
        let (actor, src, config) = (who.audit_name().to_string(), who.source.clone(), self.config.clone());
        let (records, _, _) =
            transact(self.store(), move |tx| Box::pin(apply_training(tx, vec![row], actor, src, now, config))).await?;
        records.into_iter().next().ok_or(CoreError::NotFound)
    }

    /// Read a training CSV whole with this configuration's validity, as of now (blocking: call it
    /// off the async threads). Nothing is applied.
    pub fn read_training_csv(&self, input: impl std::io::Read) -> Result<Vec<TrainingRow>, CoreError> {
        rules::parse_training_csv(input, self.config.training_validity_months, self.now().1)
    }

    /// Whether the caller may import training at all: asked before a file is read, so that
    /// nobody else makes Haven read and parse one.
    pub fn may_import_training(&self, who: &Caller) -> Result<(), CoreError> {
        require(who, Action::DecideAccess, Resource::Service)
    }

    /// Import rows read by [`rules::parse_training_csv`]: all or none. An unknown user, or a
    /// row about the importer themselves, refuses the whole file, naming the line.
    pub async fn import_training(&self, who: &Caller, rows: Vec<TrainingRow>) -> Result<Imported, CoreError> {
        require(who, Action::DecideAccess, Resource::Service)?;
        self.check_fresh(who)?;
        if let Some(own) = rows.iter().find(|r| r.user_id == who.user_id) {
            return Err(CoreError::invalid(
                "csv",
                format!("line {}: this is your own record; another member of the service desk must enter it", own.line),
            ));
        }
        let users = rules::users_of(&rows).len();
        let (now, _) = self.now();
        let (actor, src, config) = (who.audit_name().to_string(), who.source.clone(), self.config.clone());
        let (records, already_recorded, requests_ready) =
            transact(self.store(), move |tx| Box::pin(apply_training(tx, rows, actor, src, now, config))).await?;
        Ok(Imported { records: records.len(), already_recorded, users, requests_ready })
    }

    /// A person's training and AUS status: their own, or anyone's for the desk and auditors.
    pub async fn training_view(&self, who: &Caller, user_id: &str) -> Result<TrainingView, CoreError> {
        let own = crate::authz::can(who, Action::UseOwnGovernance, Resource::Account(user_id));
        if !own {
            require(who, Action::ViewGovernance, Resource::Service)?;
        }
        let (id, config, now_us) = (user_id.to_string(), self.config.clone(), self.now().1);
        read(self.store(), move |tx| {
            Box::pin(async move {
                let records = tx.training_of(&id).await?;
                let aus_version = tx.aus_version(&id).await?;
                Ok::<_, CoreError>(TrainingView {
                    missing: rules::missing_courses(&records, &config.courses.researcher, now_us),
                    records,
                    aus_version,
                    aus_current: aus_version >= config.aus_version,
                })
            })
        })
        .await
    }

    /// Whether `user_id` has still to accept the current Acceptable Use Statement (asked for the
    /// caller, or right after a sign-in succeeded).
    pub async fn needs_aus(&self, user_id: &str) -> Result<bool, CoreError> {
        let (id, version) = (user_id.to_lowercase(), self.config.aus_version);
        read(self.store(), move |tx| Box::pin(async move { Ok::<_, CoreError>(tx.aus_version(&id).await? < version) }))
            .await
    }

    /// Accept the current Acceptable Use Statement (once per version).
    pub async fn accept_aus(&self, who: &Caller) -> Result<(), CoreError> {
        require(who, Action::UseOwnGovernance, Resource::Account(&who.user_id))?;
        // A person reads and accepts the statement; a program holding their token cannot.
        if who.level != crate::caller::Level::Full {
            return Err(CoreError::Forbidden);
        }
        let (now, now_us) = self.now();
        let (id, src, version) = (who.user_id.clone(), who.source.clone(), self.config.aus_version);
        transact(self.store(), move |tx| {
            Box::pin(async move {
                if tx.aus_version(&id).await? >= version {
                    return Ok::<_, CoreError>(());
                }
                tx.accept_aus(&id, version, now_us).await?;
                tx.append_audit(
                    NewAuditEvent::new(now, &id, action::AUS_ACCEPTED)
                        .target(&id)
                        .source(&src)
                        .details(serde_json::json!({"version": version})),
                )
                .await?;
                Ok(())
            })
        })
        .await
    }
}

/// Insert training rows (every user must exist) and move the requests that waited for them;
/// the records made and how many requests moved.
async fn apply_training(
    tx: &mut dyn Tx,
    rows: Vec<TrainingRow>,
    actor: String,
    src: String,
    now: OffsetDateTime,
    config: GovernanceConfig,
) -> Result<(Vec<TrainingRecord>, usize, usize), CoreError> {
    let now_us = to_micros(now);
    let mut known = BTreeSet::new();
    // What each person already holds, so that importing the same export twice (training systems
    // export everything each time) adds nothing the second time.
    let mut held = BTreeSet::new();
    for row in &rows {
        if !known.contains(row.user_id.as_str()) {
            if tx.account(&row.user_id).await?.is_none() {
                let at = if row.line > 0 { format!("line {}: ", row.line) } else { String::new() };
                return Err(CoreError::invalid(
                    if row.line > 0 { "csv" } else { "user_id" },
                    format!("{at}there is no account {}; check the user id", row.user_id),
                ));
            }
            for r in tx.training_of(&row.user_id).await? {
                held.insert((r.user_id, r.course, r.completed_us, r.expires_us));
            }
            known.insert(row.user_id.clone());
        }
    }
    // One record entered by hand (line 0) is audited as itself; a file, as one import.
    let from_file = rows.first().is_some_and(|r| r.line > 0);
    let mut made = Vec::with_capacity(rows.len());
    let mut already = 0;
    for row in &rows {
        let key = (row.user_id.clone(), row.course.clone(), row.completed_us, row.expires_us);
        if from_file && held.contains(&key) {
            already += 1;
            continue;
        }
        held.insert(key);
        let mut record = TrainingRecord {
            id: 0,
            user_id: row.user_id.clone(),
            course: row.course.clone(),
            completed_us: row.completed_us,
            expires_us: row.expires_us,
            recorded_by: actor.clone(),
            recorded_us: now_us,
            reminders: 0,
        };
        record.id = tx.insert_training(&record).await?;
        if !from_file {
            tx.append_audit(
                NewAuditEvent::new(now, &actor, action::TRAINING_RECORDED)
                    .target(&record.user_id)
                    .source(&src)
                    .details(serde_json::json!({
                        "course": record.course,
                        "completed": rules::show_date(record.completed_us),
                        "expires": rules::show_end_date(record.expires_us),
                    })),
            )
            .await?;
        }
        made.push(record);
    }
    if from_file {
        tx.append_audit(
            NewAuditEvent::new(now, &actor, action::TRAINING_IMPORTED)
                .source(&src)
                .details(serde_json::json!({"records": made.len(), "users": known.len(), "already_recorded": already})),
        )
        .await?;
    }
    let mut ready = 0;
    for user in &known {
        ready += release_waiting(tx, user, &config, now).await?;
    }
    Ok((made, already, ready))
}

/// Move `user_id`'s requests that wait for training to pending once their training is current.
pub(crate) async fn release_waiting(
    tx: &mut dyn Tx,
    user_id: &str,
    config: &GovernanceConfig,
    now: OffsetDateTime,
) -> Result<usize, CoreError> {
    let now_us = to_micros(now);
    let waiting: Vec<_> = tx
        .open_requests_about(user_id)
        .await?
        .into_iter()
        .filter(|r| r.status == RequestStatus::AwaitingTraining)
        .collect();
    if waiting.is_empty() {
        return Ok(0);
    }
    let records = tx.training_of(user_id).await?;
    if !rules::missing_courses(&records, &config.courses.researcher, now_us).is_empty() {
        return Ok(0);
    }
    for mut r in waiting.iter().cloned() {
        r.status = RequestStatus::Pending;
        if !tx.update_request(&r).await? {
            continue;
        }
        tx.append_audit(
            NewAuditEvent::new(now, crate::audit::actor::SYSTEM, action::ACCESS_REQUEST_READY)
                .target(&r.subject)
                .project(&r.asset)
                .details(serde_json::json!({"request": r.id})),
        )
        .await?;
    }
    Ok(waiting.len())
}
