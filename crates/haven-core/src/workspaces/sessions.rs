//! Sessions: an application of the catalogue, at one version, running for one member of one
//! asset, with that member's N: and the asset's S: and outputs, and nothing else. Where and how
//! it runs is a [`SessionBackend`]'s business (the local one runs a sandbox on this machine; a
//! cluster one would submit a batch job, as Open OnDemand does): this module decides who may
//! start, reach and stop what, keeps the record, and audits each step.
//!
//! A session runs as identities of its own, never as Haven: a uid per user and a gid per asset,
//! given out once and kept ([`SessionsTx::session_identity`]), so that what a user writes to N:
//! stays theirs across sessions and what members write to S: is shared by the asset's group
//! only. Package clients inside reach the curated repository with a repository token made for
//! the session and deleted when it ends.

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;

use super::catalogue::{App, AppKind, Catalogue};
use super::drives::Drive;
use crate::audit::{NewAuditEvent, action, actor};
use crate::authz::{Action, Resource, can, require};
use crate::caller::Caller;
use crate::cluster::NodeRecord;
use crate::governance::Governance;
use crate::tokens::{PersonalToken, TokenScope};
use crate::{Clock, CoreError, Rng, Store, StoreError, read, to_micros, transact};

/// The first uid or gid handed to sessions: above the ids a Linux host gives its accounts, the
/// subordinate ranges useradd hands out for containers (from 100000, 65536 each), and the range
/// SSSD maps directory accounts into (200000 to 2000200000), and below 2^31, which some tools
/// still read as signed. The runner also refuses any id the host knows (haven sandbox check).
pub const FIRST_ID: u32 = 2_100_000_000;

/// What sessions may use, from `[sessions]` in the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsConfig {
    /// A session nobody has typed into or looked at for this long is stopped.
    pub idle_minutes: u32,
    /// Sessions one person may have running at once.
    pub per_user: u32,
    /// Address space of a session's processes, GiB.
    pub memory_gib: u64,
    /// Processes and threads of one user's sessions together.
    pub processes: u64,
    /// Scratch space (`/tmp`, in memory), MiB.
    pub scratch_mib: u64,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig { idle_minutes: 60, per_user: 4, memory_gib: 8, processes: 512, scratch_mib: 1024 }
    }
}

impl SessionsConfig {
    pub fn validate(&self) -> Result<(), String> {
        let checks: [(&str, u64, u64, u64); 5] = [
            ("sessions.idle_minutes", u64::from(self.idle_minutes), 1, 7 * 24 * 60),
            ("sessions.per_user", u64::from(self.per_user), 1, 64),
            ("sessions.memory_gib", self.memory_gib, 1, 4096),
            ("sessions.processes", self.processes, 16, 1_000_000),
            ("sessions.scratch_mib", self.scratch_mib, 16, 1_048_576),
        ];
        for (key, v, lo, hi) in checks {
            if !(lo..=hi).contains(&v) {
                return Err(format!("{key} is {v}; give a number from {lo} to {hi}"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Running,
    Ended,
}

/// A session as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionRecord {
    /// 32 hex digits from the CSPRNG: the session's path is not guessable, and is of no use to
    /// anyone but its owner anyway.
    pub id: String,
    pub owner: String,
    pub asset: String,
    pub app_name: String,
    pub app_version: String,
    pub kind: AppKind,
    /// Which backend runs it (`local`, or `local@<node>` on one of several nodes).
    pub backend: String,
    pub uid: u32,
    pub gid: u32,
    pub state: SessionState,
    pub started_us: i64,
    /// 0 while it runs.
    pub ended_us: i64,
    /// Why it ended: `stopped by …`, `exited with 0`, `idle`, `Haven restarted`, `failed to
    /// start: …`.
    pub end_reason: String,
    /// The SHA-256 of its repository token (deleted when it ends).
    #[serde(skip)]
    pub token_hash: Option<[u8; 32]>,
}

impl SessionRecord {
    pub fn running(&self) -> bool {
        self.state == SessionState::Running
    }
}

/// The identities a session runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionIdentity {
    pub uid: u32,
    pub gid: u32,
}

/// What a backend is asked to run.
pub struct Launch {
    pub id: String,
    pub owner: String,
    pub asset: String,
    pub app: App,
    pub identity: SessionIdentity,
    /// Mounted at `/drives/N`, `/drives/S` and `/drives/outputs`.
    pub home: Drive,
    pub shared: Drive,
    pub outputs: Drive,
    /// Basic-auth credentials for the package repository: the owner's id and a token made for
    /// this session.
    pub repository_user: String,
    pub repository_token: Zeroizing<String>,
    pub config: SessionsConfig,
    /// Wall-clock seconds it may run before it is stopped (0: no limit; batch jobs have one).
    pub deadline_secs: u64,
}

/// How a session ended, as its backend saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    /// Killed by a signal (a stop, a limit).
    Signalled(i32),
    /// Stopped when it ran past its wall-clock limit (seconds).
    OverTime(u64),
}

impl Outcome {
    pub fn describe(&self) -> String {
        match self {
            Outcome::Exited(code) => format!("exited with {code}"),
            Outcome::Signalled(sig) => format!("ended by signal {sig}"),
            Outcome::OverTime(secs) => format!("stopped after running for its limit of {} hours", secs / 3600),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The host cannot run sessions (no sandbox, not root): what to do.
    #[error("{0}")]
    Unavailable(String),
    #[error("no such session is running here")]
    NotRunning,
    /// The application did not start.
    #[error("{0}")]
    Failed(String),
}

/// Where a web session's application answers (its HTTP server, reverse-proxied to its owner's
/// browser under the session's path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebEndpoint {
    /// A Unix socket on this host that the session's own identities listen on: a connection to
    /// it counts only if the peer's credentials are theirs (the folder is the session's, so the
    /// name could be a link to another socket by the time Haven connects).
    Unix { path: std::path::PathBuf, uid: u32, gid: u32 },
    /// A session run as a Slurm job: Haven's bridge on the compute node (`haven
    /// sandbox bridge`) relays connections to the application's socket there (checking its
    /// peer as above). Where it listens and the SHA-256 of the certificate it made are in
    /// `endpoint` (`HOST PORT SHA256`, written by the bridge once listening, root's alone, in
    /// the session's run directory); a connection is TLS to exactly that certificate, in which
    /// Haven proves itself with a key it keeps in memory (the bridge pins its certificate).
    Bridged { endpoint: std::path::PathBuf },
}

/// Input to a terminal.
pub enum TerminalInput {
    Data(bytes::Bytes),
    Resize { cols: u16, rows: u16 },
}

/// A browser's view of a running terminal: what it showed lately, what it shows from now on,
/// and where keystrokes go. Only one view at a time: a newer one ends the older's output.
pub struct TerminalLink {
    pub backlog: bytes::Bytes,
    pub output: BoxStream<'static, bytes::Bytes>,
    pub input: Box<dyn TerminalSink>,
}

#[async_trait]
pub trait TerminalSink: Send + Sync {
    /// Fails when the session has ended.
    async fn send(&self, input: TerminalInput) -> Result<(), BackendError>;
}

/// Where sessions run. Implementations: `haven_sandbox::local::LocalBackend` (this machine,
/// bubblewrap); a cluster backend would submit the same launch as a batch job.
#[async_trait]
pub trait SessionBackend: Send + Sync {
    /// Its name in session records: one per node (a node recovers and sweeps only its own).
    fn name(&self) -> &str;
    /// Start the session; returns once its program runs.
    async fn launch(&self, launch: Launch) -> Result<(), BackendError>;
    /// Stop it (everything it started), if it runs. Whether it did.
    async fn stop(&self, id: &str) -> Result<bool, BackendError>;
    /// Attach to a terminal session.
    async fn terminal(&self, id: &str) -> Result<TerminalLink, BackendError>;
    /// Microseconds since anyone typed into or watched output of the session; None if it does
    /// not run here.
    fn idle_us(&self, id: &str) -> Option<i64>;
    /// The sessions running here.
    fn running(&self) -> Vec<String>;
    /// What an ended terminal session showed last (kept a few minutes after it ends, so that its
    /// owner can see why a program stopped at once).
    fn last_output(&self, id: &str) -> Option<bytes::Bytes>;
    /// Sessions as they end, with how. Taken once, by [`Sessions::watch`].
    fn ends(&self) -> Option<BoxStream<'static, (String, Outcome)>>;
    /// Where a running web session's application answers, if it runs here.
    fn web_endpoint(&self, id: &str) -> Option<WebEndpoint>;
    /// The session was used (a request or message from its owner's browser to a web session).
    fn touch(&self, id: &str);
    /// Run a batch job to its end in the sandbox a session would have: the application's
    /// command, with the `script` file of the job's folder `job` as its standard input, and what
    /// it prints (output and errors) written to `output.log` there, at most
    /// [`super::jobs::LOG_BYTES`]. [`SessionBackend::stop`] stops it as it stops a session. How
    /// it ended.
    async fn run_job(&self, launch: Launch, job: Drive) -> Result<Outcome, BackendError>;
    /// Cancel the batch jobs and sessions `job_ids` that the node whose backend was `backend`
    /// left running off this host (on a scheduler): it is gone, and their records were ended.
    async fn cancel_departed(&self, backend: &str, job_ids: &[String]) {
        let _ = (backend, job_ids);
    }
}

/// The sessions' part of a unit of work.
#[async_trait]
pub trait SessionsTx: Send {
    /// The id kept for a user (`kind` "user") or an asset ("asset"), if one was given out.
    async fn session_identity(&mut self, kind: &str, name: &str) -> Result<Option<u32>, StoreError>;
    /// Give out the next id (from [`FIRST_ID`]) to `kind` `name`; `Duplicate` if taken
    /// meanwhile.
    async fn insert_session_identity(&mut self, kind: &str, name: &str, id: u32) -> Result<(), StoreError>;
    async fn max_session_identity(&mut self) -> Result<Option<u32>, StoreError>;
    async fn insert_app_session(&mut self, s: &SessionRecord) -> Result<(), StoreError>;
    async fn app_session(&mut self, id: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Running sessions first, then the latest ended, at most `limit`; only `owner`'s if given.
    async fn app_sessions(&mut self, owner: Option<&str>, limit: u32) -> Result<Vec<SessionRecord>, StoreError>;
    /// Every session recorded running.
    async fn running_app_sessions(&mut self) -> Result<Vec<SessionRecord>, StoreError>;
    /// Mark a running session ended; false if it was not running.
    async fn end_app_session(&mut self, id: &str, ended_us: i64, reason: &str) -> Result<bool, StoreError>;
}

/// Where a request for a session is answered ([`Sessions::placement`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Here: it runs here, has ended, or there is no such session.
    Here,
    /// On another node, which answers there.
    On(NodeRecord),
    /// On another node that has not said where it answers (an older Haven).
    Unknown(String),
}

pub struct Sessions {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Rng>,
    governance: Arc<Governance>,
    catalogue: Arc<Catalogue>,
    drives: Arc<dyn super::drives::Drives>,
    backend: Arc<dyn SessionBackend>,
    config: SessionsConfig,
    pub(super) jobs: super::jobs::JobsConfig,
    /// How much each drive may hold (a copy within the garden is held to it).
    pub(super) quotas: super::drives::DrivesConfig,
    /// The batch jobs this Haven runs now.
    pub(super) jobs_here: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The size of each job's log when each reader last read it (what was audited).
    pub(super) log_reads: std::sync::Mutex<std::collections::HashMap<String, u64>>,
}

pub struct SessionsDeps {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Rng>,
    pub governance: Arc<Governance>,
    pub catalogue: Arc<Catalogue>,
    pub drives: Arc<dyn super::drives::Drives>,
    pub backend: Arc<dyn SessionBackend>,
    pub config: SessionsConfig,
    pub jobs: super::jobs::JobsConfig,
    pub quotas: super::drives::DrivesConfig,
}

/// How many sessions lists show.
const LIST_LIMIT: u32 = 200;

impl Sessions {
    pub fn new(d: SessionsDeps) -> Self {
        Sessions {
            store: d.store,
            clock: d.clock,
            rng: d.rng,
            governance: d.governance,
            catalogue: d.catalogue,
            drives: d.drives,
            backend: d.backend,
            config: d.config,
            jobs: d.jobs,
            quotas: d.quotas,
            jobs_here: std::sync::Mutex::new(std::collections::HashSet::new()),
            log_reads: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    pub fn config(&self) -> &SessionsConfig {
        &self.config
    }

    pub fn jobs_config(&self) -> &super::jobs::JobsConfig {
        &self.jobs
    }

    pub(crate) fn governance(&self) -> &Governance {
        &self.governance
    }

    pub(crate) fn drives(&self) -> &dyn super::drives::Drives {
        self.drives.as_ref()
    }

    pub(super) fn backend(&self) -> &Arc<dyn SessionBackend> {
        &self.backend
    }

    pub(super) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub(super) fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    pub(super) fn rng(&self) -> &dyn Rng {
        self.rng.as_ref()
    }

    /// `app_name` at `version` (the default, newest, when empty) from the catalogue.
    pub(super) async fn find_app(&self, who: &Caller, app_name: &str, version: &str) -> Result<App, CoreError> {
        let listing = self.catalogue.list(who).await?;
        listing
            .apps
            .iter()
            .find(|a| a.name == app_name && (version.is_empty() || a.version == version))
            .cloned()
            .ok_or_else(|| {
                CoreError::invalid(
                    "app",
                    format!("{app_name} {version} is not in the catalogue; choose one from Applications"),
                )
            })
    }

    /// A new id for a session or job: 32 hex digits from the CSPRNG.
    pub(super) fn new_id(&self) -> Result<String, CoreError> {
        let mut raw = [0u8; 16];
        self.rng.fill(&mut raw).map_err(CoreError::from)?;
        Ok(hex::encode(raw))
    }

    /// Give a session's or job's identities its drives in `asset`, made if new.
    pub(super) async fn grant_drives(
        &self,
        owner: &str,
        asset: &str,
        identity: SessionIdentity,
    ) -> Result<(Drive, Drive, Drive), BackendError> {
        let (home, shared, outputs) = (
            Drive::Home { user: owner.to_string(), asset: asset.to_string() },
            Drive::Shared(asset.to_string()),
            Drive::Outputs(asset.to_string()),
        );
        for (drive, uid, gid) in
            [(&home, identity.uid, identity.uid), (&shared, 0, identity.gid), (&outputs, 0, identity.gid)]
        {
            self.drives.grant(drive, uid, gid).await.map_err(|e| BackendError::Failed(e.to_string()))?;
        }
        Ok((home, shared, outputs))
    }

    fn now_us(&self) -> i64 {
        to_micros(self.clock.now())
    }

    /// Start `app_name` at `version` (the default version when empty) on `asset`'s data, for
    /// the caller, who must be able to reach the asset now. Audited; the record is kept even
    /// when the application fails to start (with why).
    pub async fn launch(
        &self,
        who: &Caller,
        asset: &str,
        app_name: &str,
        version: &str,
    ) -> Result<SessionRecord, CoreError> {
        require(who, Action::UseOwnSessions, Resource::Account(&who.user_id))?;
        self.governance.reach(who, asset).await?;
        let app = self.find_app(who, app_name, version).await?;
        let id = self.new_id()?;
        let token = haven_crypto::token::new_token(self.rng.as_ref()).map_err(CoreError::from)?;
        let now = self.now_us();
        let owner = who.user_id.clone();
        let identity = self.identities(&owner, asset).await?;
        let record = SessionRecord {
            id: id.clone(),
            owner: owner.clone(),
            asset: asset.to_string(),
            app_name: app.name.clone(),
            app_version: app.version.clone(),
            kind: app.kind,
            backend: self.backend.name().to_string(),
            uid: identity.uid,
            gid: identity.gid,
            state: SessionState::Running,
            started_us: now,
            ended_us: 0,
            end_reason: String::new(),
            token_hash: Some(token.hash),
        };
        let personal = PersonalToken {
            hash: token.hash,
            user_id: owner.clone(),
            label: format!("session {}", &id[..8]),
            scope: TokenScope::Repository,
            created_us: now,
            last_used_us: 0,
            // Deleted when the session ends; this bounds one that outlives a crash.
            expires_us: now + 7 * 86_400 * 1_000_000,
        };
        let event = NewAuditEvent::new(self.clock.now(), who.audit_name(), action::APP_SESSION_STARTED)
            .target(&id)
            .source(&who.source)
            .details(json!({
                "asset": asset, "app": format!("{}@{}", app.name, app.version), "kind": app.kind.as_str(),
                "backend": record.backend, "uid": identity.uid, "gid": identity.gid,
            }));
        let (stored, per_user) = (record.clone(), self.config.per_user);
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let running = tx.app_sessions(Some(&stored.owner), LIST_LIMIT).await?;
                if running.iter().filter(|s| s.running()).count() >= per_user as usize {
                    return Err(CoreError::Conflict(format!(
                        "You have {per_user} sessions running, the most one person may; stop one in My sessions first."
                    )));
                }
                tx.insert_app_session(&stored).await?;
                tx.insert_personal_token(&personal).await?;
                tx.append_audit(event).await?;
                Ok(())
            })
        })
        .await?;
        let started = async {
            let (home, shared, outputs) = self.grant_drives(&owner, asset, identity).await?;
            self.backend
                .launch(Launch {
                    id: id.clone(),
                    owner: owner.clone(),
                    asset: asset.to_string(),
                    app,
                    identity,
                    home,
                    shared,
                    outputs,
                    repository_user: owner.clone(),
                    repository_token: token.secret,
                    config: self.config.clone(),
                    deadline_secs: 0,
                })
                .await
        }
        .await;
        match started {
            Ok(()) => Ok(record),
            Err(e) => {
                let reason = format!("failed to start: {e}");
                self.end(&id, actor::SYSTEM, "", &reason).await?;
                Err(CoreError::Conflict(format!(
                    "The session could not start: {e}. Nothing was changed in your drives; try again, or \
                     tell the service desk if it keeps failing."
                )))
            }
        }
    }

    /// The uid kept for `owner` and the gid kept for `asset`, given out now if new.
    pub(super) async fn identities(&self, owner: &str, asset: &str) -> Result<SessionIdentity, CoreError> {
        let uid = self.identity("user", owner).await?;
        let gid = self.identity("asset", asset).await?;
        Ok(SessionIdentity { uid, gid })
    }

    async fn identity(&self, kind: &'static str, name: &str) -> Result<u32, CoreError> {
        // Two launches may race for the next number: the loser sees `Duplicate` and tries again.
        for _ in 0..5 {
            let name = name.to_string();
            let got = transact(self.store.as_ref(), move |tx| {
                Box::pin(async move {
                    if let Some(id) = tx.session_identity(kind, &name).await? {
                        return Ok(id);
                    }
                    let next = tx.max_session_identity().await?.map_or(FIRST_ID, |m| m.saturating_add(1));
                    if next == u32::MAX {
                        return Err(CoreError::Conflict("no session identities are left".into()));
                    }
                    tx.insert_session_identity(kind, &name, next).await?;
                    Ok::<_, CoreError>(next)
                })
            })
            .await;
            match got {
                Err(CoreError::Store(StoreError::Duplicate(_))) => continue,
                other => return other,
            }
        }
        Err(CoreError::Conflict("session identities are busy; try again".into()))
    }

    /// Mark a session ended (once), delete its token, audit why. Whether it was running.
    async fn end(&self, id: &str, by: &str, source: &str, reason: &str) -> Result<bool, CoreError> {
        let (id, reason) = (id.to_string(), reason.to_string());
        let now = self.clock.now();
        let event = NewAuditEvent::new(now, by, action::APP_SESSION_STOPPED).target(&id).source(source);
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let Some(s) = tx.app_session(&id).await? else { return Ok(false) };
                if !tx.end_app_session(&id, to_micros(now), &reason).await? {
                    return Ok(false);
                }
                if let Some(hash) = s.token_hash {
                    tx.delete_personal_token(&hash).await?;
                }
                tx.append_audit(event.details(json!({
                    "reason": reason, "owner": s.owner, "asset": s.asset,
                    "app": format!("{}@{}", s.app_name, s.app_version),
                })))
                .await?;
                Ok::<_, CoreError>(true)
            })
        })
        .await
    }

    /// A session the caller may see: their own, or anyone's for the service desk. Someone
    /// else's, or one that does not exist, is refused alike and audited.
    pub async fn get(&self, who: &Caller, id: &str) -> Result<SessionRecord, CoreError> {
        let key = id.to_string();
        let found = read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.app_session(&key).await?) })
        })
        .await?;
        match found {
            Some(s) if can(who, Action::UseOwnSessions, Resource::Account(&s.owner)) => Ok(s),
            Some(s) if can(who, Action::ManageSessions, Resource::Service) => Ok(s),
            other => {
                self.refused(who, id, other.as_ref().map(|s| s.owner.as_str())).await?;
                Err(CoreError::NotFound)
            }
        }
    }

    async fn refused(&self, who: &Caller, id: &str, owner: Option<&str>) -> Result<(), CoreError> {
        self.refused_as(action::APP_SESSION_REFUSED, who, id, owner).await
    }

    /// Audit a refused request for a session or job (`what`, the event's action).
    pub(super) async fn refused_as(
        &self,
        what: &'static str,
        who: &Caller,
        id: &str,
        owner: Option<&str>,
    ) -> Result<(), CoreError> {
        let event = NewAuditEvent::new(self.clock.now(), who.audit_name(), what)
            .target(id.get(..64).unwrap_or(id))
            .source(&who.source)
            .details(json!({"owner": owner, "why": if owner.is_some() { "not the owner" } else { "no such one" }}));
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.append_audit(event).await?;
                Ok::<_, CoreError>(())
            })
        })
        .await
    }

    /// Where a request for session `id` is answered: here, unless several nodes share the
    /// database and another runs it; that node then checks the caller as for its own. Nobody is
    /// checked and nothing is audited here: this says only where to ask.
    pub async fn placement(&self, id: &str) -> Result<Placement, CoreError> {
        let mine = self.backend.name();
        if !mine.starts_with("local@") || self.backend.idle_us(id).is_some() {
            return Ok(Placement::Here);
        }
        let key = id.to_string();
        let found = read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.app_session(&key).await?) })
        })
        .await?;
        let Some(node) = found
            .filter(|s| s.running() && s.backend != mine)
            .and_then(|s| s.backend.strip_prefix("local@").map(str::to_string))
        else {
            return Ok(Placement::Here);
        };
        Ok(match crate::cluster::node(self.store.as_ref(), &node).await? {
            Some(record) => Placement::On(record),
            None => Placement::Unknown(node),
        })
    }

    /// Attach the caller's browser to their own running terminal session: its owner only,
    /// never the desk (what is on a screen is the data).
    pub async fn terminal(&self, who: &Caller, id: &str) -> Result<TerminalLink, CoreError> {
        let s = self.own_running(who, id).await?;
        if s.kind != AppKind::Terminal {
            return Err(CoreError::invalid("session", "this session is not a terminal"));
        }
        self.backend.terminal(id).await.map_err(|e| CoreError::Conflict(e.to_string()))
    }

    /// Where the caller's own running web or desktop session answers; used, as far as the idle
    /// clock goes, when `used` (a change or a message from the browser, not a page's polling).
    pub async fn web(&self, who: &Caller, id: &str, used: bool) -> Result<(SessionRecord, WebEndpoint), CoreError> {
        let s = self.own_running(who, id).await?;
        if s.kind == AppKind::Terminal {
            return Err(CoreError::NotFound);
        }
        let endpoint = self.backend.web_endpoint(id).ok_or_else(|| {
            CoreError::Conflict("This session is not running on this Haven; start it again from Applications.".into())
        })?;
        if used {
            self.backend.touch(id);
        }
        Ok((s, endpoint))
    }

    /// A message from the owner's browser reached their web session (already let through by
    /// [`Sessions::web`]): it is in use.
    pub fn touched(&self, id: &str) {
        self.backend.touch(id);
    }

    /// Audit a download, export or upload refused at a web session's door (`what`: which, and
    /// the path asked for).
    pub async fn transfer_refused(&self, who: &Caller, id: &str, what: &str, path: &str) -> Result<(), CoreError> {
        let event = NewAuditEvent::new(self.clock.now(), who.audit_name(), action::APP_SESSION_TRANSFER_REFUSED)
            .target(id)
            .source(&who.source)
            .details(json!({"what": what, "path": path.get(..512).unwrap_or(path)}));
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.append_audit(event).await?;
                Ok::<_, CoreError>(())
            })
        })
        .await
    }

    /// The caller's own running session, or `NotFound` (audited) for anything else. A session
    /// whose owner can no longer reach the asset (membership ended, training lapsed, the asset
    /// closed) is stopped here, as the sweep would.
    pub async fn own_running(&self, who: &Caller, id: &str) -> Result<SessionRecord, CoreError> {
        let s = self.get(who, id).await?;
        if s.owner != who.user_id || !can(who, Action::UseOwnSessions, Resource::Account(&s.owner)) {
            self.refused(who, id, Some(&s.owner)).await?;
            return Err(CoreError::NotFound);
        }
        if !s.running() {
            return Err(CoreError::Conflict(format!("This session has ended ({}); start a new one.", s.end_reason)));
        }
        if let Err(why) = self.governance.still_reaches(&s.owner, &s.asset).await? {
            self.end_and_stop(&s.id, actor::SYSTEM, "", &format!("access ended: {why}")).await?;
            return Err(CoreError::Conflict(format!("This session was stopped: {why}")));
        }
        Ok(s)
    }

    /// Whether `who` may keep a terminal of `id` open: still signed in (their last keystroke
    /// `quiet_us` ago counting as use), and still able to use the session. Asked by the
    /// WebSocket from time to time.
    pub async fn still_attached(&self, who: &Caller, id: &str, quiet_us: i64) -> Result<bool, CoreError> {
        if !self.governance.identity().still_signed_in(who, quiet_us).await? {
            return Ok(false);
        }
        Ok(self.own_running(who, id).await.is_ok())
    }

    /// Record the end (by `by`, for `reason`), then end its programs. Recorded first, so that the
    /// backend's report of the kill does not take the reason's place; a kill that fails is retried
    /// by the sweep, which stops what is recorded ended but still runs.
    async fn end_and_stop(&self, id: &str, by: &str, source: &str, reason: &str) -> Result<bool, CoreError> {
        let ended = self.end(id, by, source, reason).await?;
        if let Err(e) = self.backend.stop(id).await {
            tracing::warn!(session = %id, error = %e, "a session's programs could not be ended yet; the sweep retries");
        }
        Ok(ended)
    }

    /// What the caller's own ended session showed last, if it ended moments ago here: its owner
    /// only (what a screen showed is the data).
    pub async fn last_output(&self, who: &Caller, id: &str) -> Result<Option<bytes::Bytes>, CoreError> {
        let s = self.get(who, id).await?;
        if s.owner != who.user_id {
            self.refused(who, id, Some(&s.owner)).await?;
            return Err(CoreError::NotFound);
        }
        // Only while the owner may still reach the asset: one whose access ended sees no more.
        if s.running() || self.governance.still_reaches(&s.owner, &s.asset).await?.is_err() {
            return Ok(None);
        }
        Ok(self.backend.last_output(id))
    }

    /// Stop a session: its owner, or the service desk. Audited.
    pub async fn stop(&self, who: &Caller, id: &str) -> Result<SessionRecord, CoreError> {
        let s = self.get(who, id).await?;
        if !s.running() {
            return Ok(s);
        }
        self.end_and_stop(id, who.audit_name(), &who.source, &format!("stopped by {}", who.audit_name())).await?;
        self.get(who, id).await
    }

    /// The caller's sessions, or everyone's (`all`, the service desk).
    pub async fn list(&self, who: &Caller, all: bool) -> Result<Vec<SessionRecord>, CoreError> {
        let owner = if all {
            require(who, Action::ManageSessions, Resource::Service)?;
            None
        } else {
            require(who, Action::UseOwnSessions, Resource::Account(&who.user_id))?;
            Some(who.user_id.clone())
        };
        read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.app_sessions(owner.as_deref(), LIST_LIMIT).await?) })
        })
        .await
    }

    /// Record sessions as their backend reports them ending; runs for the life of the server.
    pub async fn watch(self: Arc<Self>) {
        use futures::StreamExt;
        let Some(mut ends) = self.backend.ends() else { return };
        while let Some((id, outcome)) = ends.next().await {
            if let Err(e) = self.end(&id, actor::SYSTEM, "", &outcome.describe()).await {
                tracing::error!(session = %id, error = %e, "a session's end could not be recorded");
            }
        }
    }

    /// As the serving Haven starts: every session recorded running on this backend died with the
    /// Haven before (or never started); recorded ended, their tokens deleted. How many.
    pub async fn recover(&self) -> Result<u32, CoreError> {
        let backend = self.backend.name();
        let running = read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.running_app_sessions().await?) })
        })
        .await?;
        let mut n = 0;
        for s in running.iter().filter(|s| s.backend == backend) {
            if self.end(&s.id, actor::SYSTEM, "", "Haven restarted").await? {
                n += 1;
            }
        }
        Ok(n)
    }

    /// On the background lease's holder, with several nodes: sessions and running batch jobs
    /// recorded on a node that is gone (no live claim on its name in `live_nodes`: it died and
    /// did not come back, or was renamed) are recorded ended, their tokens deleted, so that they
    /// stop counting against their owners' limits. How many.
    pub async fn end_departed(&self, live_nodes: &[String]) -> Result<u32, CoreError> {
        let mine = self.backend.name().to_string();
        // Only `local@NODE` records: a name with no claim at all (`local`, from a node of an
        // earlier version during a rolling upgrade) is left alone.
        let departed = |backend: &str| {
            backend != mine && backend.strip_prefix("local@").is_some_and(|node| !live_nodes.iter().any(|n| n == node))
        };
        let running = read(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let sessions = tx.running_app_sessions().await?;
                let jobs = tx.jobs_in_state(crate::workspaces::jobs::JobState::Running, u32::MAX).await?;
                Ok::<_, CoreError>((sessions, jobs))
            })
        })
        .await?;
        let mut n = 0;
        // Sessions and jobs alike: a terminal on a scheduler is a job there too.
        let mut failed: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
        for s in running.0.iter().filter(|s| departed(&s.backend)) {
            if self.end(&s.id, actor::SYSTEM, "", &format!("its node ({}) stopped", s.backend)).await? {
                n += 1;
                failed.entry(s.backend.as_str()).or_default().push(s.id.clone());
            }
        }
        for j in running.1.iter().filter(|j| departed(&j.backend)) {
            let reason = format!("its node ({}) stopped while it ran; submit it again", j.backend);
            if self.fail_job(&j.id, &reason).await? {
                n += 1;
                failed.entry(j.backend.as_str()).or_default().push(j.id.clone());
            }
        }
        // Recorded failed here, they must not go on running on the scheduler unseen.
        for (backend, ids) in failed {
            self.backend.cancel_departed(backend, &ids).await;
        }
        Ok(n)
    }

    /// Stop every session running here (Haven is stopping), recording why. How many.
    pub async fn shutdown(&self) -> Result<u32, CoreError> {
        let mut n = 0;
        for id in self.backend.running() {
            if self.end_and_stop(&id, actor::SYSTEM, "", "Haven stopped").await? {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Stop sessions idle past the configured time, kill those recorded as ended that still
    /// run here (stopped from the console, which cannot reach this process), and mark ended
    /// those this backend no longer runs (Haven restarted: a local session dies with it). Run
    /// every few seconds.
    pub async fn sweep(&self) -> Result<u32, CoreError> {
        let idle_us = i64::from(self.config.idle_minutes) * 60 * 1_000_000;
        let backend = self.backend.name();
        let all = read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.running_app_sessions().await?) })
        })
        .await?;
        // Running here but recorded ended (stopped from the console): ended now. Asked of each
        // record, not of the snapshot above: a launch recorded since then is not killed.
        for id in self.backend.running() {
            if all.iter().any(|s| s.id == id) {
                continue;
            }
            let key = id.clone();
            let record = read(self.store.as_ref(), move |tx| {
                Box::pin(async move { Ok::<_, CoreError>(tx.app_session(&key).await?) })
            })
            .await?;
            if record.is_some_and(|s| !s.running()) {
                let _ = self.backend.stop(&id).await;
            }
        }
        let mut ended = 0;
        // A launch is recorded before its backend runs it: leave the newest alone.
        let settled = self.now_us() - 10 * 60 * 1_000_000;
        for s in all.iter().filter(|s| s.running() && s.backend == backend) {
            match self.backend.idle_us(&s.id) {
                None if s.started_us > settled => {}
                None => {
                    if self.end(&s.id, actor::SYSTEM, "", "Haven restarted").await? {
                        ended += 1;
                    }
                }
                Some(idle) if idle >= idle_us => {
                    let reason = format!("idle for {} minutes", self.config.idle_minutes);
                    if self.end_and_stop(&s.id, actor::SYSTEM, "", &reason).await? {
                        ended += 1;
                    }
                }
                Some(_) => {
                    // Held to the asset's rules while it runs, not only when it started.
                    if let Err(why) = self.governance.still_reaches(&s.owner, &s.asset).await?
                        && self.end_and_stop(&s.id, actor::SYSTEM, "", &format!("access ended: {why}")).await?
                    {
                        ended += 1;
                    }
                }
            }
        }
        Ok(ended)
    }
}
