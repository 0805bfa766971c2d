//! Batch jobs: a script run against an asset's data by an application of the catalogue, in the
//! sandbox a session would have (the same identities, drives, limits and package repository),
//! with no one watching. A member submits one (from the Applications page, or the console in
//! their name); the serving Haven runs queued jobs a few at a time through the
//! [`SessionBackend`], and keeps each job's exit status and log. What the script writes to N:,
//! S: or outputs stays there.
//!
//! A job's folder ([`Drive::Job`], with the asset's data) holds the script as submitted and its
//! log; it is never mounted in the sandbox: the script is the program's standard input and the
//! log what it prints. Scripts are code, not data: text, at most [`SCRIPT_BYTES`] (data comes
//! in only through File Transfer). The log is the data's (what a script prints of it), so only
//! the job's owner reads it, and the console, audited; the service desk sees a job's state and
//! may cancel it, as with sessions.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::drives::{Drive, DriveError};
use super::sessions::{BackendError, Launch, Outcome, Sessions};
use crate::audit::{NewAuditEvent, action, actor};
use crate::authz::{Action, Resource, can, require};
use crate::caller::{Caller, Level};
use crate::tokens::{PersonalToken, TokenScope};
use crate::{CoreError, StoreError, read, to_micros, transact};

/// The largest script a job takes: what a terminal takes as a paste (code, not data).
pub const SCRIPT_BYTES: usize = 64 * 1024;
/// Jobs one person may have queued or running at once.
pub const PER_USER_WAITING: u32 = 20;
/// The most of a job's output that is kept; past it, the log says what was left out.
pub const LOG_BYTES: u64 = 16 * 1024 * 1024;
/// What the job's folder calls its files.
pub const SCRIPT_FILE: &str = "script";
pub const LOG_FILE: &str = "output.log";

/// How batch jobs run, from `[jobs]` in the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Jobs one Haven runs at once; the rest wait their turn, oldest first.
    pub concurrent: u32,
    /// A job still running after this many hours is stopped.
    pub max_hours: u32,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig { concurrent: 2, max_hours: 24 }
    }
}

impl JobsConfig {
    pub fn validate(&self) -> Result<(), String> {
        for (key, v, lo, hi) in
            [("jobs.concurrent", self.concurrent, 1, 64), ("jobs.max_hours", self.max_hours, 1, 720)]
        {
            if !(lo..=hi).contains(&v) {
                return Err(format!("{key} is {v}; give a number from {lo} to {hi}"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    /// Its program exited with 0.
    Succeeded,
    /// It exited otherwise, was killed, ran out of time, or could not start or run.
    Failed,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [JobState::Queued, JobState::Running, JobState::Succeeded, JobState::Failed, JobState::Cancelled]
            .into_iter()
            .find(|st| st.as_str() == s)
    }

    pub fn finished(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }
}

/// A batch job as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRecord {
    /// 32 hex digits from the CSPRNG.
    pub id: String,
    /// Whose job it is: it runs as them, on their N:, while they may reach the asset.
    pub owner: String,
    /// Who submitted it (the owner, or the console in their name).
    pub submitted_by: String,
    pub asset: String,
    pub app_name: String,
    pub app_version: String,
    /// The script's name as submitted (shown only; the folder calls it `script`).
    pub script_name: String,
    pub state: JobState,
    /// The program's exit status, when it exited.
    pub exit_code: Option<i32>,
    /// Which backend ran it (empty until it starts).
    pub backend: String,
    pub uid: u32,
    pub gid: u32,
    pub submitted_us: i64,
    pub started_us: i64,
    pub ended_us: i64,
    /// How it ended: `exited with 0`, `cancelled by …`, `not run: …`, `Haven restarted …`.
    pub end_reason: String,
    /// The SHA-256 of its repository token while it runs.
    #[serde(skip)]
    pub token_hash: Option<[u8; 32]>,
}

/// The end of a job's log, as its owner reads it.
#[derive(Debug, Clone)]
pub struct JobLog {
    pub text: bytes::Bytes,
    /// The whole log's size: more than `text` when only its end is shown.
    pub size: u64,
}

/// The batch jobs' part of a unit of work.
#[async_trait]
pub trait JobsTx: Send {
    async fn insert_job(&mut self, j: &JobRecord) -> Result<(), StoreError>;
    async fn job(&mut self, id: &str) -> Result<Option<JobRecord>, StoreError>;
    /// Queued and running first, then the latest ended, at most `limit`; `owner`'s only if given.
    async fn jobs(&mut self, owner: Option<&str>, limit: u32) -> Result<Vec<JobRecord>, StoreError>;
    /// Jobs in `state`, oldest submitted first, at most `limit`.
    async fn jobs_in_state(&mut self, state: JobState, limit: u32) -> Result<Vec<JobRecord>, StoreError>;
    /// Queued → running, with who runs it and where; false if it was no longer queued.
    async fn start_job(&mut self, j: &JobRecord) -> Result<bool, StoreError>;
    /// Queued or running → `state` (a finished one); false if it had already finished.
    async fn end_job(
        &mut self,
        id: &str,
        state: JobState,
        exit_code: Option<i32>,
        ended_us: i64,
        reason: &str,
    ) -> Result<bool, StoreError>;
}

/// A claimed job's run, to be spawned: it records the job's end, however it ends.
pub type JobRun = futures::future::BoxFuture<'static, ()>;

/// How many queued jobs each turn looks at to choose whose go next.
const QUEUE_LOOKAHEAD: u32 = 200;

/// How many jobs lists show.
const LIST_LIMIT: u32 = 200;

/// `name` or `name@version`.
fn app_spec(spec: &str) -> (&str, &str) {
    spec.split_once('@').unwrap_or((spec, ""))
}

impl Sessions {
    /// Queue `script` (named `script_name`) to run with `app` (`name` or `name@version`) on
    /// `asset`'s data as the caller, who must be able to reach the asset now. Audited with the
    /// script's SHA-256.
    pub async fn submit_job(
        &self,
        who: &Caller,
        asset: &str,
        app: &str,
        script_name: &str,
        script: Vec<u8>,
    ) -> Result<JobRecord, CoreError> {
        require(who, Action::RunOwnJobs, Resource::Account(&who.user_id))?;
        if who.level == Level::Console {
            // The console acts in the member's name: held to what they may reach.
            if let Err(why) = self.governance().still_reaches(&who.user_id, asset).await? {
                return Err(CoreError::Conflict(why));
            }
        } else {
            self.governance().reach(who, asset).await?;
        }
        let (name, version) = app_spec(app);
        let app = self.find_app(who, name, version).await?;
        if app.kind != super::catalogue::AppKind::Terminal {
            return Err(CoreError::invalid(
                "app",
                format!(
                    "{} {} is a {} application; a batch job runs a terminal one (R, Python, a shell)",
                    app.name,
                    app.version,
                    app.kind.as_str()
                ),
            ));
        }
        if script.is_empty() || script.len() > SCRIPT_BYTES {
            return Err(CoreError::invalid(
                "script",
                format!(
                    "a job's script must hold from 1 byte to {} KiB (this one has {} bytes); data comes in \
                     through File Transfer, not in a script",
                    SCRIPT_BYTES / 1024,
                    script.len()
                ),
            ));
        }
        if std::str::from_utf8(&script).is_err() || script.contains(&0) {
            return Err(CoreError::invalid("script", "a job's script must be text (UTF-8, no NUL bytes)"));
        }
        let id = self.new_id()?;
        let job = Drive::Job { asset: asset.to_string(), id: id.clone() };
        let size = script.len() as u64;
        let sha256 = hex::encode(haven_crypto::sha256(&script));
        let data: crate::blobs::ByteStream =
            Box::pin(futures::stream::once(async move { Ok::<_, std::io::Error>(bytes::Bytes::from(script)) }));
        self.drives().place(&job, SCRIPT_FILE, size, u64::MAX, data).await.map_err(drive_error)?;
        let now = to_micros(self.clock().now());
        let record = JobRecord {
            id: id.clone(),
            owner: who.user_id.clone(),
            // The console submits in a member's name; the record says it was the console.
            submitted_by: if who.level == Level::Console {
                format!("{} (at the console)", who.user_id)
            } else {
                who.audit_name().to_string()
            },
            asset: asset.to_string(),
            app_name: app.name.clone(),
            app_version: app.version.clone(),
            script_name: crate::transfer::names::sanitise(script_name),
            state: JobState::Queued,
            exit_code: None,
            backend: String::new(),
            uid: 0,
            gid: 0,
            submitted_us: now,
            started_us: 0,
            ended_us: 0,
            end_reason: String::new(),
            token_hash: None,
        };
        let event = NewAuditEvent::new(self.clock().now(), who.audit_name(), action::JOB_SUBMITTED)
            .target(&id)
            .source(&who.source)
            .details(json!({
                "owner": record.owner, "asset": asset, "app": format!("{}@{}", app.name, app.version),
                "script": record.script_name, "bytes": size, "sha256": sha256,
                "submitted_by": record.submitted_by,
            }));
        let stored = record.clone();
        let saved = transact(self.store(), move |tx| {
            Box::pin(async move {
                let mine = tx.jobs(Some(&stored.owner), PER_USER_WAITING + 1).await?;
                if mine.iter().filter(|j| !j.state.finished()).count() >= PER_USER_WAITING as usize {
                    return Err(CoreError::Conflict(format!(
                        "{} has {PER_USER_WAITING} jobs queued or running, the most one person may; wait for \
                         some to end, or cancel one.",
                        stored.owner
                    )));
                }
                tx.insert_job(&stored).await?;
                tx.append_audit(event).await?;
                Ok::<_, CoreError>(())
            })
        })
        .await;
        if let Err(e) = saved {
            let _ = self.drives().remove(&job, SCRIPT_FILE).await;
            return Err(e);
        }
        Ok(record)
    }

    /// A job the caller may see: their own, or anyone's for the service desk and the console.
    /// Someone else's, or one that does not exist, is refused alike and audited.
    pub async fn job(&self, who: &Caller, id: &str) -> Result<JobRecord, CoreError> {
        let key = id.to_string();
        let found =
            read(self.store(), move |tx| Box::pin(async move { Ok::<_, CoreError>(tx.job(&key).await?) })).await?;
        match found {
            Some(j) if can(who, Action::RunOwnJobs, Resource::Account(&j.owner)) => Ok(j),
            Some(j) if can(who, Action::ManageSessions, Resource::Service) => Ok(j),
            other => {
                self.refused_as(action::JOB_REFUSED, who, id, other.as_ref().map(|j| j.owner.as_str())).await?;
                Err(CoreError::NotFound)
            }
        }
    }

    /// The caller's jobs, or everyone's (`all`: the service desk, the console).
    pub async fn jobs(&self, who: &Caller, all: bool) -> Result<Vec<JobRecord>, CoreError> {
        let owner = if all {
            require(who, Action::ManageSessions, Resource::Service)?;
            None
        } else {
            require(who, Action::RunOwnJobs, Resource::Account(&who.user_id))?;
            Some(who.user_id.clone())
        };
        read(self.store(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.jobs(owner.as_deref(), LIST_LIMIT).await?) })
        })
        .await
    }

    /// The last `max` bytes of a job's log: its owner's while they may reach the asset, and
    /// the console's; each reading audited. Empty until the job has printed something.
    pub async fn job_log(&self, who: &Caller, id: &str, max: u64) -> Result<JobLog, CoreError> {
        let j = self.job(who, id).await?;
        if !can(who, Action::ReadJobLog, Resource::Account(&j.owner))
            && !can(who, Action::ReadAnyJobLog, Resource::Service)
        {
            self.refused_as(action::JOB_REFUSED, who, id, Some(&j.owner)).await?;
            return Err(CoreError::NotFound);
        }
        if who.user_id == j.owner
            && let Err(why) = self.governance().still_reaches(&j.owner, &j.asset).await?
        {
            return Err(CoreError::Conflict(format!("This job's log cannot be read now: {why}")));
        }
        let drive = Drive::Job { asset: j.asset.clone(), id: j.id.clone() };
        let (text, size) = match self.drives().tail(&drive, LOG_FILE, max).await {
            Ok(found) => found,
            Err(DriveError::NotFound) => (bytes::Bytes::new(), 0),
            Err(e) => return Err(drive_error(e)),
        };
        // Each reading of something new is audited: a page following a running job asks every
        // few seconds, and the same bytes again say nothing new.
        let key = format!("{}\0{}", who.audit_name(), j.id);
        {
            let mut seen = self.log_reads.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if seen.get(&key) == Some(&size) {
                return Ok(JobLog { text, size });
            }
            if seen.len() >= 10_000 {
                seen.clear();
            }
            seen.insert(key, size);
        }
        let event = NewAuditEvent::new(self.clock().now(), who.audit_name(), action::JOB_LOG_READ)
            .target(id)
            .source(&who.source)
            .details(json!({"owner": j.owner, "asset": j.asset, "bytes": text.len(), "log_size": size}));
        transact(self.store(), move |tx| {
            Box::pin(async move {
                tx.append_audit(event).await?;
                Ok::<_, CoreError>(())
            })
        })
        .await?;
        Ok(JobLog { text, size })
    }

    /// Cancel a queued or running job: its owner, the service desk or the console. A running
    /// job's programs are ended (by the serving Haven within seconds when cancelled from the
    /// console). Audited.
    pub async fn cancel_job(&self, who: &Caller, id: &str) -> Result<JobRecord, CoreError> {
        let j = self.job(who, id).await?;
        if j.state.finished() {
            return Ok(j);
        }
        let reason = format!("cancelled by {}", who.audit_name());
        self.finish(&j.id, JobState::Cancelled, None, who.audit_name(), &reason, action::JOB_CANCELLED).await?;
        if self.runs_here(&j.id) {
            let _ = self.backend().stop(&j.id).await;
        }
        self.job(who, id).await
    }

    fn runs_here(&self, id: &str) -> bool {
        self.jobs_here.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(id)
    }

    /// Record a job finished (once), delete its token, audit it as `what`. Whether it was
    /// still queued or running.
    async fn finish(
        &self,
        id: &str,
        state: JobState,
        exit_code: Option<i32>,
        by: &str,
        reason: &str,
        what: &'static str,
    ) -> Result<bool, CoreError> {
        let (id, reason) = (id.to_string(), reason.to_string());
        let now = self.clock().now();
        let event = NewAuditEvent::new(now, by, what).target(&id);
        transact(self.store(), move |tx| {
            Box::pin(async move {
                if !tx.end_job(&id, state, exit_code, to_micros(now), &reason).await? {
                    return Ok(false);
                }
                // Read after the change, not before: a claim that committed in between (on
                // PostgreSQL) has put its token on the record, and that token must go too.
                let Some(j) = tx.job(&id).await? else { return Ok(false) };
                if let Some(hash) = j.token_hash {
                    tx.delete_personal_token(&hash).await?;
                }
                tx.append_audit(event.details(json!({
                    "state": state.as_str(), "exit_code": exit_code, "reason": reason, "owner": j.owner,
                    "asset": j.asset, "app": format!("{}@{}", j.app_name, j.app_version),
                })))
                .await?;
                Ok::<_, CoreError>(true)
            })
        })
        .await
    }

    /// Claim queued jobs, oldest first, while fewer than `jobs.concurrent` run here; and end
    /// the programs of jobs cancelled from the console. For the serving Haven, every few
    /// seconds: it spawns each run returned (each records its job's end, however it ends).
    pub async fn run_jobs(self: &Arc<Self>) -> Result<Vec<JobRun>, CoreError> {
        let here: Vec<String> =
            self.jobs_here.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().cloned().collect();
        let mut owners_here = Vec::new();
        for id in &here {
            let key = id.clone();
            let record =
                read(self.store(), move |tx| Box::pin(async move { Ok::<_, CoreError>(tx.job(&key).await?) })).await?;
            match record {
                Some(j) if !j.state.finished() => {
                    // Held to the asset's rules while it runs, as a session is.
                    if let Err(why) = self.governance().still_reaches(&j.owner, &j.asset).await? {
                        let reason = format!("access ended: {why}");
                        self.finish(&j.id, JobState::Failed, None, actor::SYSTEM, &reason, action::JOB_ENDED).await?;
                        let _ = self.backend().stop(id).await;
                    } else {
                        owners_here.push(j.owner);
                    }
                }
                // Cancelled from the console, which cannot reach this process.
                _ => {
                    let _ = self.backend().stop(id).await;
                }
            }
        }
        let free = self.jobs.concurrent.saturating_sub(u32::try_from(here.len()).unwrap_or(u32::MAX));
        if free == 0 {
            return Ok(Vec::new());
        }
        let queued = read(self.store(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.jobs_in_state(JobState::Queued, QUEUE_LOOKAHEAD).await?) })
        })
        .await?;
        // Oldest first, but taking turns: someone with nothing running goes before a second job
        // of someone who has, so that one member's queue cannot hold every place for days.
        let (mut waiting, mut second): (Vec<JobRecord>, Vec<JobRecord>) = (Vec::new(), Vec::new());
        for j in queued {
            if owners_here.contains(&j.owner) || waiting.iter().any(|w| w.owner == j.owner) {
                second.push(j);
            } else {
                waiting.push(j);
            }
        }
        waiting.extend(second);
        let mut runs = Vec::new();
        for j in waiting.into_iter().take(free as usize) {
            // One that cannot be claimed now (the database busy) waits for the next turn; the
            // runs already claimed are handed over whatever happens.
            match self.claim(j).await {
                Ok(run) => runs.extend(run),
                Err(e) => {
                    tracing::warn!(error = %e, "a queued job could not be started; it waits for the next turn");
                    break;
                }
            }
        }
        Ok(runs)
    }

    /// Claim a queued job for this Haven: its run, unless another took it or its owner may no
    /// longer reach the asset.
    async fn claim(self: &Arc<Self>, mut j: JobRecord) -> Result<Option<JobRun>, CoreError> {
        // Held to the asset's rules when it runs, not only when it was queued.
        if let Err(why) = self.governance().still_reaches(&j.owner, &j.asset).await? {
            let reason = format!("not run: {why}");
            self.finish(&j.id, JobState::Failed, None, actor::SYSTEM, &reason, action::JOB_ENDED).await?;
            return Ok(None);
        }
        let identity = self.identities(&j.owner, &j.asset).await?;
        let token = haven_crypto::token::new_token(self.rng()).map_err(CoreError::from)?;
        let now = to_micros(self.clock().now());
        j.state = JobState::Running;
        j.backend = self.backend().name().to_string();
        (j.uid, j.gid, j.started_us, j.token_hash) = (identity.uid, identity.gid, now, Some(token.hash));
        let personal = PersonalToken {
            hash: token.hash,
            user_id: j.owner.clone(),
            label: format!("job {}", &j.id[..8.min(j.id.len())]),
            scope: TokenScope::Repository,
            created_us: now,
            last_used_us: 0,
            // Deleted when the job ends; this bounds one that outlives a crash.
            expires_us: now + (i64::from(self.jobs.max_hours) + 1) * 3_600_000_000,
        };
        let event =
            NewAuditEvent::new(self.clock().now(), actor::SYSTEM, action::JOB_STARTED).target(&j.id).details(json!({
                "owner": j.owner, "asset": j.asset, "app": format!("{}@{}", j.app_name, j.app_version),
                "backend": j.backend, "uid": identity.uid, "gid": identity.gid,
            }));
        let claimed = j.clone();
        let ours = transact(self.store(), move |tx| {
            Box::pin(async move {
                if !tx.start_job(&claimed).await? {
                    return Ok(false);
                }
                tx.insert_personal_token(&personal).await?;
                tx.append_audit(event).await?;
                Ok::<_, CoreError>(true)
            })
        })
        .await?;
        if !ours {
            return Ok(None);
        }
        self.jobs_here.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(j.id.clone());
        // Its place is given back however the run ends, even if it is dropped unpolled.
        let place = Here { sessions: self.clone(), id: j.id.clone() };
        let this = self.clone();
        Ok(Some(Box::pin(async move {
            let _place = place;
            let id = j.id.clone();
            let outcome = this.run(j, identity, token.secret).await;
            let (state, code, reason) = match outcome {
                Ok(Outcome::Exited(0)) => (JobState::Succeeded, Some(0), Outcome::Exited(0).describe()),
                Ok(Outcome::Exited(code)) => (JobState::Failed, Some(code), Outcome::Exited(code).describe()),
                Ok(other) => (JobState::Failed, None, other.describe()),
                Err(e) => (JobState::Failed, None, format!("failed to start: {e}")),
            };
            if let Err(e) = this.finish(&id, state, code, actor::SYSTEM, &reason, action::JOB_ENDED).await {
                tracing::error!(job = %id, error = %e, "a job's end could not be recorded");
            }
        })))
    }

    async fn run(
        &self,
        j: JobRecord,
        identity: super::sessions::SessionIdentity,
        token: zeroize::Zeroizing<String>,
    ) -> Result<Outcome, BackendError> {
        let (home, shared, outputs) = self.grant_drives(&j.owner, &j.asset, identity).await?;
        let app = self
            .find_app(&Caller::console(), &j.app_name, &j.app_version)
            .await
            .map_err(|_| BackendError::Failed(format!("{} {} left the catalogue", j.app_name, j.app_version)))?;
        let launch = Launch {
            id: j.id.clone(),
            owner: j.owner.clone(),
            asset: j.asset.clone(),
            app,
            identity,
            home,
            shared,
            outputs,
            repository_user: j.owner.clone(),
            repository_token: token,
            config: self.config().clone(),
            deadline_secs: u64::from(self.jobs.max_hours) * 3600,
        };
        self.backend().run_job(launch, Drive::Job { asset: j.asset, id: j.id }).await
    }

    /// As the serving Haven starts: jobs recorded running on this backend died with the Haven
    /// before; recorded failed (never run twice on their own: a script may not be safe to
    /// repeat). How many.
    pub async fn recover_jobs(&self) -> Result<u32, CoreError> {
        let backend = self.backend().name();
        let running = read(self.store(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.jobs_in_state(JobState::Running, u32::MAX).await?) })
        })
        .await?;
        let mut n = 0;
        for j in running.iter().filter(|j| j.backend == backend) {
            let reason = "Haven restarted while it ran; submit it again";
            if self.finish(&j.id, JobState::Failed, None, actor::SYSTEM, reason, action::JOB_ENDED).await? {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Record a running job failed for `reason` (its node is gone). Whether it was running.
    pub(super) async fn fail_job(&self, id: &str, reason: &str) -> Result<bool, CoreError> {
        self.finish(id, JobState::Failed, None, actor::SYSTEM, reason, action::JOB_ENDED).await
    }

    /// Stop the jobs running here (Haven is stopping), recording why first. How many.
    pub async fn shutdown_jobs(&self) -> Result<u32, CoreError> {
        let here: Vec<String> =
            self.jobs_here.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().cloned().collect();
        let mut n = 0;
        for id in here {
            let reason = "Haven stopped while it ran; submit it again";
            if self.finish(&id, JobState::Failed, None, actor::SYSTEM, reason, action::JOB_ENDED).await? {
                n += 1;
            }
            let _ = self.backend().stop(&id).await;
        }
        Ok(n)
    }
}

/// A job's place among those running here, given back when its run ends or is dropped.
struct Here {
    sessions: Arc<Sessions>,
    id: String,
}

impl Drop for Here {
    fn drop(&mut self) {
        self.sessions.jobs_here.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.id);
    }
}

fn drive_error(e: DriveError) -> CoreError {
    match e {
        DriveError::NotFound => CoreError::NotFound,
        DriveError::BadName(m) => CoreError::invalid("script", m),
        other => CoreError::Conflict(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_back_and_know_when_they_are_final() {
        for s in [JobState::Queued, JobState::Running, JobState::Succeeded, JobState::Failed, JobState::Cancelled] {
            assert_eq!(JobState::parse(s.as_str()), Some(s));
        }
        assert!(!JobState::Running.finished() && JobState::Cancelled.finished());
        assert_eq!(JobState::parse("done"), None);
    }

    #[test]
    fn an_app_is_named_with_or_without_its_version() {
        assert_eq!(app_spec("r@4.4"), ("r", "4.4"));
        assert_eq!(app_spec("python"), ("python", ""));
    }

    #[test]
    fn limits_are_checked() {
        assert!(JobsConfig::default().validate().is_ok());
        assert!(JobsConfig { concurrent: 0, ..JobsConfig::default() }.validate().is_err());
        assert!(JobsConfig { max_hours: 721, ..JobsConfig::default() }.validate().is_err());
    }
}
