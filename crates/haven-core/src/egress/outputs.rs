//! Output requests as people make and review them. A member whom the asset's IAO allowed to
//! ([`Egress::set_permission`]) gathers files from the asset's outputs area into a request:
//! each is copied into the sealed blob store and pinned by its SHA-256 at that moment, and the
//! automated checks run on exactly those bytes. The request then moves through its typed state
//! machine ([`super::request`]): every change is loaded, applied by the state's own method
//! (which checks who may), saved only over the version it was read at, and audited in the same
//! transaction. Emails tell the next person at each hand-over.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use super::EgressConfig;
use super::checks::Verdict;
use super::request::{Actor, AfterVote, Common, Decision, Draft, Group, Pinned, Refusal, Request};
use super::store::{Permission, RequestRecord};
use crate::accounts::Role;
use crate::audit::{NewAuditEvent, action};
use crate::authz::{Action, Resource, Standing, can, require};
use crate::blobs::{BlobStore, ObjectMeta, Put};
use crate::caller::Caller;
use crate::governance::Governance;
use crate::governance::records::{Asset, Classification};
use crate::workspaces::drives::{Drive, DriveError, Drives};
use crate::{Clock, CoreError, Rng, Store, read, to_micros, transact};
use haven_crypto::signing::SigningKey;

/// The most requests a list shows.
pub const LIST_LIMIT: i64 = 500;
/// The longest title, group name, description or comment (characters).
pub const TITLE_CHARS: usize = 200;
pub const TEXT_CHARS: usize = 4000;

pub struct Egress {
    pub(super) governance: Arc<Governance>,
    pub(super) store: Arc<dyn Store>,
    pub(super) blobs: Arc<dyn BlobStore>,
    pub(super) drives: Arc<dyn Drives>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) rng: Arc<dyn Rng>,
    pub(super) signer: Arc<SigningKey>,
    pub(super) config: EgressConfig,
}

/// What [`Egress`] works with.
pub struct EgressDeps {
    pub governance: Arc<Governance>,
    pub store: Arc<dyn Store>,
    /// Where pinned copies are sealed (under the asset's key).
    pub blobs: Arc<dyn BlobStore>,
    /// The outputs areas files are gathered from.
    pub drives: Arc<dyn Drives>,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Rng>,
    /// Signs release manifests (Haven's signing key, as for audit checkpoints).
    pub signer: Arc<SigningKey>,
    pub config: EgressConfig,
}

/// How the viewer stands to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Viewer {
    /// Its author (or a member of it).
    Author,
    /// An output checker who is not its author.
    Checker,
    /// The asset's IAO.
    Iao,
    /// The console or an auditor: reads only.
    Reader,
}

/// A request as one person may see it (blind votes and checkers-only comments hidden), with
/// what they may do to it now.
#[derive(Debug, Clone, Serialize)]
pub struct RequestView {
    pub state: &'static str,
    pub version: i64,
    pub created_us: i64,
    pub updated_us: i64,
    pub viewer: Viewer,
    pub request: Common,
    pub can: Possible,
}

/// What the viewer may do now (pages and the API offer only these).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Possible {
    pub edit: bool,
    pub submit: bool,
    pub withdraw: bool,
    pub vote: bool,
    pub iao_approve: bool,
    pub override_verdict: bool,
    pub return_for_changes: bool,
    pub release: bool,
    pub revoke: bool,
    pub download: bool,
    pub comment: bool,
    pub comment_privately: bool,
}

/// A request in a list.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub id: String,
    pub asset: String,
    pub author: String,
    pub title: String,
    pub state: String,
    pub updated_us: i64,
}

impl From<&RequestRecord> for Summary {
    fn from(r: &RequestRecord) -> Self {
        Summary {
            id: r.id.clone(),
            asset: r.asset.clone(),
            author: r.author.clone(),
            title: r.title.clone(),
            state: r.state.clone(),
            updated_us: r.updated_us,
        }
    }
}

/// One person's lists.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Lists {
    /// Their own requests.
    pub mine: Vec<Summary>,
    /// Requests waiting for checkers (for an output checker; never their own).
    pub to_review: Vec<Summary>,
    /// Approved requests waiting to be released (for an output checker).
    pub to_release: Vec<Summary>,
    /// Requests of the assets they are the IAO of.
    pub as_iao: Vec<Summary>,
    /// The assets they may request outputs from.
    pub assets: Vec<String>,
}

/// A refusal of the state machine as the use cases report it.
fn refused(r: Refusal) -> CoreError {
    match r {
        Refusal::NotAuthor(_) | Refusal::NotChecker(_) | Refusal::OwnRequest(_) | Refusal::NotIao => {
            CoreError::Refused(r.to_string())
        }
        Refusal::NoComment => CoreError::Refused(r.to_string()),
        Refusal::NotNeeded => CoreError::Conflict(r.to_string()),
        Refusal::NoReason => CoreError::invalid("reason", r.to_string()),
        Refusal::AlreadyVoted(_)
        | Refusal::Empty
        | Refusal::DuplicateName(_)
        | Refusal::NoSuchFile(_)
        | Refusal::Undescribed(_)
        | Refusal::Failing(_) => CoreError::Conflict(r.to_string()),
    }
}

fn is_console(who: &Caller) -> bool {
    who.level == crate::caller::Level::Console && who.has(Role::System)
}

fn too_many_files(max: u32) -> CoreError {
    CoreError::Conflict(format!("a request holds at most {max} files; make another request for the rest"))
}

/// The most comments one request keeps (each turn's and group's together).
pub const MAX_COMMENTS: usize = 1000;

/// A report as its author sees it: how many findings of each rule and the worst verdict of
/// each, not where they are or what they say (a finding quotes the file: data, which leaves only
/// through review). Checkers see the whole report.
fn tally(report: &mut super::checks::FileReport) {
    let mut rules: Vec<(String, Verdict, u64)> = Vec::new();
    for f in &report.findings {
        match rules.iter_mut().find(|(r, _, _)| *r == f.rule) {
            Some(entry) => {
                entry.1 = entry.1.max(f.verdict);
                entry.2 += 1;
            }
            None => rules.push((f.rule.to_string(), f.verdict, 1)),
        }
    }
    report.findings = rules
        .into_iter()
        .map(|(rule, verdict, n)| super::checks::Finding {
            rule: rule.into(),
            verdict,
            row: None,
            column: None,
            detail: format!("{n} finding(s) of this rule; where they are is shown to the checkers only"),
        })
        .collect();
}

/// How often a change is applied again when another saved first.
const SAVE_ATTEMPTS: usize = 5;

fn busy() -> CoreError {
    CoreError::Conflict("this request is being changed by others right now: reload it and try again".into())
}

fn not_now(what: &str, r: &Request) -> CoreError {
    CoreError::Conflict(format!("this request is {}: it cannot be {what} now", r.state_name().replace('_', " ")))
}

fn corrupt(e: serde_json::Error) -> CoreError {
    CoreError::Store(crate::StoreError::Corrupt(format!("a stored output request cannot be read: {e}")))
}

/// A request read back, with its record.
struct Loaded {
    record: RequestRecord,
    request: Request,
}

fn parse(record: RequestRecord) -> Result<Loaded, CoreError> {
    let request: Request = serde_json::from_str(&record.doc).map_err(corrupt)?;
    Ok(Loaded { record, request })
}

fn text(field: &'static str, value: &str, max: usize, required: bool) -> Result<String, CoreError> {
    let v = value.trim();
    if required && v.is_empty() {
        return Err(CoreError::invalid(field, "give one"));
    }
    if v.chars().count() > max {
        return Err(CoreError::invalid(field, format!("at most {max} characters")));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        return Err(CoreError::invalid(field, "control characters are not allowed"));
    }
    Ok(v.to_string())
}

impl Egress {
    pub fn new(deps: EgressDeps) -> Self {
        Egress {
            governance: deps.governance,
            store: deps.store,
            blobs: deps.blobs,
            drives: deps.drives,
            clock: deps.clock,
            rng: deps.rng,
            signer: deps.signer,
            config: deps.config,
        }
    }

    pub fn config(&self) -> &EgressConfig {
        &self.config
    }

    fn actor(&self, who: &Caller, standing: Standing) -> Actor {
        Actor {
            user: who.user_id.clone(),
            checker: who.has(Role::OutputChecker),
            iao: standing.iao,
            at_us: to_micros(self.clock.now()),
        }
    }

    fn new_id(&self) -> Result<String, CoreError> {
        let mut raw = [0u8; 16];
        self.rng.fill(&mut raw).map_err(CoreError::from)?;
        Ok(hex::encode(raw))
    }

    async fn load(&self, id: &str) -> Result<Loaded, CoreError> {
        let id = id.to_string();
        let record = read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.egress_request(&id).await?) })
        })
        .await?
        .ok_or(CoreError::NotFound)?;
        parse(record)
    }

    /// Whose request it is to the caller, and their standing in its asset. Someone with no
    /// business with it gets `NotFound` (nobody learns which requests exist).
    async fn relation(&self, who: &Caller, loaded: &Loaded) -> Result<(Viewer, Standing), CoreError> {
        let c = loaded.request.common();
        if c.is_member(&who.user_id) && can(who, Action::FollowOwnOutputs, Resource::Account(&who.user_id)) {
            let standing = self.governance.standing(who, &c.asset).await?;
            return Ok((Viewer::Author, standing));
        }
        // A request never submitted (a draft, or one withdrawn as a draft) is its authors' alone.
        let private = !c.history.iter().any(|e| e.what == "submitted");
        if !private && let Ok((_, standing)) = self.governance.require_on(who, Action::ReviewOutputs, &c.asset).await {
            let viewer = if standing.iao && !who.has(Role::OutputChecker) { Viewer::Iao } else { Viewer::Checker };
            return Ok((viewer, standing));
        }
        // The console (which holds the host) reads any request; auditors the submitted ones.
        if can(who, Action::ViewOutputs, Resource::Service) && (!private || is_console(who)) {
            return Ok((Viewer::Reader, Standing::default()));
        }
        Err(CoreError::NotFound)
    }

    /// Append one audit event in a unit of work of its own (a refusal, a read, an integrity
    /// failure: nothing else changes with it).
    pub(super) async fn audit(&self, event: NewAuditEvent) -> Result<(), CoreError> {
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.append_audit(event).await?;
                Ok::<_, CoreError>(())
            })
        })
        .await
    }

    /// Record a refusal to act on a request (someone reviewing their own, a non-checker
    /// voting): security-relevant, so audited on its own.
    async fn audit_refusal(&self, who: &Caller, loaded: &Loaded, what: &str, why: &CoreError) {
        if !matches!(why, CoreError::Refused(_) | CoreError::Forbidden) {
            return;
        }
        let event = NewAuditEvent::new(self.clock.now(), who.audit_name(), action::EGRESS_REFUSED)
            .target(&loaded.record.id)
            .project(&loaded.record.asset)
            .source(&who.source)
            .details(json!({ "tried": what, "why": why.to_string(), "state": loaded.request.state_name() }));
        let _ = self.audit(event).await;
    }

    /// Apply `change` to request `id` for `who`, save it over the version read, and audit it as
    /// `audit` with `details`; the request after. `need` is what the caller must be allowed on
    /// the asset ([`Action::RequestOutputs`] for the authors' changes, [`Action::ReviewOutputs`]
    /// for the reviewers').
    async fn change<F>(
        &self,
        who: &Caller,
        id: &str,
        need: Action,
        audit: &'static str,
        details: serde_json::Value,
        change: F,
    ) -> Result<Request, CoreError>
    where
        F: Fn(Request, &Actor) -> Result<Request, CoreError>,
    {
        // Two people acting at once (two checkers voting): the one whose save loses the race
        // has the change applied again to what the other saved, by the same rules.
        for _ in 0..SAVE_ATTEMPTS {
            let loaded = self.load(id).await?;
            let (viewer, _) = self.relation(who, &loaded).await?;
            let asset = loaded.record.asset.clone();
            let standing = match self.governance.require_on(who, need, &asset).await {
                Ok((_, s)) => s,
                Err(e) => {
                    let e = match (e, viewer) {
                        (CoreError::Forbidden, Viewer::Author) if need == Action::RequestOutputs => CoreError::Refused(
                            "you may no longer change requests of this asset: the IAO allows who requests outputs, \
                             and you need to be able to reach its data"
                                .into(),
                        ),
                        (CoreError::Forbidden, _) if need == Action::ReviewOutputs => CoreError::Refused(
                            "only output checkers (and, for its own approval, the asset's IAO) review requests".into(),
                        ),
                        (e, _) => e,
                    };
                    self.audit_refusal(who, &loaded, audit, &e).await;
                    return Err(e);
                }
            };
            let by = self.actor(who, standing);
            let before = loaded.request.state_name();
            let after = match change(loaded.request.clone(), &by) {
                Ok(r) => r,
                Err(e) => {
                    self.audit_refusal(who, &loaded, audit, &e).await;
                    return Err(e);
                }
            };
            if self.save(who, &loaded, &after, audit, details.clone(), before, None).await? {
                return Ok(after);
            }
        }
        Err(busy())
    }

    /// Save `after` over `loaded` with its audit event (and the record of a pinned copy's
    /// object, in the same transaction), only if nobody changed it since; whether it was.
    #[allow(clippy::too_many_arguments)] // one unit of work's parts, each named
    async fn save(
        &self,
        who: &Caller,
        loaded: &Loaded,
        after: &Request,
        audit: &'static str,
        mut details: serde_json::Value,
        before: &'static str,
        object: Option<ObjectMeta>,
    ) -> Result<bool, CoreError> {
        let now = self.clock.now();
        let record = RequestRecord {
            state: after.state_name().to_string(),
            title: after.common().title.clone(),
            updated_us: to_micros(now),
            version: loaded.record.version + 1,
            doc: serde_json::to_string(after).map_err(corrupt)?,
            ..loaded.record.clone()
        };
        if let Some(d) = details.as_object_mut() {
            d.insert("from".into(), json!(before));
            d.insert("to".into(), json!(after.state_name()));
            d.insert("turn".into(), json!(after.common().turn));
        }
        let event = NewAuditEvent::new(now, who.audit_name(), audit)
            .target(&record.id)
            .project(&record.asset)
            .source(&who.source)
            .details(details);
        let expected = loaded.record.version;
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                if !tx.update_egress_request(&record, expected).await? {
                    return Ok(false);
                }
                if let Some(meta) = &object {
                    tx.insert_object(meta).await?;
                }
                tx.append_audit(event).await?;
                Ok(true)
            })
        })
        .await
    }

    /// Allow (`allow`) or stop a member requesting outputs from `asset`: its IAO. Audited; the
    /// member is told by email. Whether anything changed.
    pub async fn set_permission(&self, who: &Caller, asset: &str, user: &str, allow: bool) -> Result<bool, CoreError> {
        self.governance.require_on(who, Action::GrantOutputs, asset).await?;
        if allow && let Err(why) = self.governance.still_reaches(user, asset).await? {
            return Err(CoreError::Conflict(format!(
                "{user} cannot reach {asset}'s data ({why}); only a current member may be allowed to request outputs"
            )));
        }
        let now = self.clock.now();
        let name = if allow { action::EGRESS_PERMISSION_GRANTED } else { action::EGRESS_PERMISSION_WITHDRAWN };
        let event = NewAuditEvent::new(now, who.audit_name(), name).target(user).project(asset).source(&who.source);
        let (a, u, by, at_us) = (asset.to_string(), user.to_string(), who.audit_name().to_string(), to_micros(now));
        let changed = transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let grant = allow.then_some((by.as_str(), at_us));
                let changed = tx.set_egress_permission(&a, &u, grant).await?;
                if changed {
                    tx.append_audit(event).await?;
                }
                Ok::<_, CoreError>(changed)
            })
        })
        .await?;
        if changed {
            let (subject, why) = if allow {
                (
                    format!("You may now request outputs from {asset}"),
                    format!(
                        "{} allowed you to request outputs from {asset}: put results in its outputs area, then make a \
                         request at {}/egress. Two output checkers review each request before anything leaves.",
                        who.audit_name(),
                        self.governance.public_url()
                    ),
                )
            } else {
                (
                    format!("You may no longer request outputs from {asset}"),
                    format!(
                        "{} withdrew your permission to request outputs from {asset}. Requests already made stay \
                         as they are; ask the IAO if you need it again.",
                        who.audit_name()
                    ),
                )
            };
            self.notify(user, &subject, why).await;
        }
        Ok(changed)
    }

    /// Who may request outputs from `asset`: its IAO and IAAs see this.
    pub async fn permissions(&self, who: &Caller, asset: &str) -> Result<Vec<Permission>, CoreError> {
        let (asset, _) = self.governance.require_on(who, Action::ViewMembers, asset).await?;
        read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.egress_permissions(&asset.name).await?) })
        })
        .await
    }

    /// A new, empty request on `asset` by the caller. Audited.
    pub async fn create(&self, who: &Caller, asset: &str, title: &str) -> Result<String, CoreError> {
        let title = text("title", title, TITLE_CHARS, true)?;
        let (asset, standing) = self.governance.require_on(who, Action::RequestOutputs, asset).await?;
        let id = self.new_id()?;
        let by = self.actor(who, standing);
        let identifiable = asset.classification == Classification::Identifiable;
        let draft: Request =
            Draft::new(&id, &asset.name, &title, &by, BTreeSet::new(), identifiable, self.config.checkers).into();
        let record = RequestRecord {
            id: id.clone(),
            asset: asset.name.clone(),
            author: who.user_id.clone(),
            state: draft.state_name().into(),
            title: title.clone(),
            created_us: by.at_us,
            updated_us: by.at_us,
            version: 1,
            doc: serde_json::to_string(&draft).map_err(corrupt)?,
        };
        let event = NewAuditEvent::new(self.clock.now(), who.audit_name(), action::EGRESS_CREATED)
            .target(&id)
            .project(&asset.name)
            .source(&who.source)
            .details(json!({ "title": title, "identifiable": identifiable }));
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.insert_egress_request(&record).await?;
                tx.append_audit(event).await?;
                Ok::<_, CoreError>(())
            })
        })
        .await?;
        Ok(id)
    }

    /// Copy the file at `path` in the asset's outputs area into request `id`, in `group`:
    /// sealed, pinned by SHA-256, and checked on exactly those bytes. Later changes to the
    /// outputs area do not change the request.
    pub async fn add_file(&self, who: &Caller, id: &str, path: &str, group: &str) -> Result<Pinned, CoreError> {
        let group = text("group", group, TITLE_CHARS, true)?;
        let loaded = self.load(id).await?;
        let (viewer, _) = self.relation(who, &loaded).await?;
        if viewer != Viewer::Author {
            let e = CoreError::Refused(Refusal::NotAuthor("add files").to_string());
            self.audit_refusal(who, &loaded, "add a file", &e).await;
            return Err(e);
        }
        if !matches!(loaded.request, Request::Draft(_) | Request::Returned(_)) {
            return Err(not_now("changed", &loaded.request));
        }
        let c = loaded.request.common();
        if c.files.len() >= self.config.max_files as usize {
            return Err(too_many_files(self.config.max_files));
        }
        let (_, standing) = self.governance.require_on(who, Action::RequestOutputs, &c.asset).await?;
        let path = path.trim().trim_start_matches('/');
        let name = path.rsplit('/').next().unwrap_or(path).to_string();
        if name.is_empty() {
            return Err(CoreError::invalid("path", "name a file in the outputs area"));
        }
        if c.files.iter().any(|f| f.name == name) {
            return Err(refused(Refusal::DuplicateName(name)));
        }
        let thresholds = self.config.thresholds(&c.asset).clone();
        let drive = Drive::Outputs(c.asset.clone());
        let (data, size) = self.drives.open(&drive, path).await.map_err(|e| match e {
            DriveError::NotFound => {
                CoreError::invalid("path", format!("there is no file {path:?} in the outputs area"))
            }
            DriveError::BadName(m) => CoreError::invalid("path", m),
            other => CoreError::Unavailable(other.to_string()),
        })?;
        if size > thresholds.max_file_bytes {
            return Err(CoreError::Conflict(format!(
                "{name} is {size} bytes; files larger than {} bytes do not leave (split it, or summarise it)",
                thresholds.max_file_bytes
            )));
        }
        let meta = self
            .blobs
            .put(&c.asset, data, Put::limited(thresholds.max_file_bytes))
            .await
            .map_err(|e| CoreError::Unavailable(format!("the file could not be copied: {e}")))?;
        let pinned = match self.pin(&meta, &name, &group, path, &thresholds).await {
            Ok(p) => p,
            Err(e) => {
                let _ = self.blobs.delete(&meta).await;
                return Err(e);
            }
        };
        let details = json!({
            "file": name, "group": group, "source": path, "bytes": pinned.bytes, "sha256": pinned.sha256,
            "verdict": pinned.verdict().as_str(), "ruleset": pinned.report.as_ref().map(|r| r.ruleset.clone()),
        });
        let by = self.actor(who, standing);
        let mut loaded = loaded;
        for attempt in 0..SAVE_ATTEMPTS {
            if attempt > 0 {
                loaded = match self.load(id).await {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = self.blobs.delete(&meta).await;
                        return Err(e);
                    }
                };
            }
            if loaded.request.common().files.len() >= self.config.max_files as usize {
                let _ = self.blobs.delete(&meta).await;
                return Err(too_many_files(self.config.max_files));
            }
            let after = match loaded.request.clone() {
                Request::Draft(d) => d.add(&by, pinned.clone()).map(Request::from).map_err(refused),
                Request::Returned(r) => r.add(&by, pinned.clone()).map(Request::from).map_err(refused),
                other => Err(not_now("changed", &other)),
            };
            let saved = match after {
                Ok(after) => {
                    let before = loaded.request.state_name();
                    let audit = action::EGRESS_FILE_ADDED;
                    self.save(who, &loaded, &after, audit, details.clone(), before, Some(meta.clone())).await
                }
                Err(e) => Err(e),
            };
            match saved {
                Ok(true) => return Ok(pinned),
                Ok(false) => continue,
                Err(e) => {
                    let _ = self.blobs.delete(&meta).await;
                    return Err(e);
                }
            }
        }
        let _ = self.blobs.delete(&meta).await;
        Err(busy())
    }

    /// The checks on a sealed copy, read back (so what is checked is what is kept).
    async fn pin(
        &self,
        meta: &ObjectMeta,
        name: &str,
        group: &str,
        source: &str,
        thresholds: &super::checks::Thresholds,
    ) -> Result<Pinned, CoreError> {
        let data = self.blobs.get(meta).await.map_err(|e| CoreError::Unavailable(e.to_string()))?;
        let report = super::stream::check_stream(name, data, thresholds)
            .await
            .map_err(|e| CoreError::Unavailable(format!("the copy could not be checked: {e}")))?;
        if report.sha256.as_deref() != Some(meta.sha256.as_str()) {
            return Err(CoreError::Unavailable(
                "the copy read back is not the bytes stored: nothing was added; try again".into(),
            ));
        }
        Ok(Pinned {
            name: name.into(),
            group: group.into(),
            bytes: u64::try_from(meta.size).unwrap_or(0),
            sha256: meta.sha256.clone(),
            source: source.into(),
            object: meta.id.clone(),
            report: Some(report),
        })
    }

    /// Take a file out of a request being edited (its pinned copy is kept until the request
    /// ends, in the history).
    pub async fn remove_file(&self, who: &Caller, id: &str, name: &str) -> Result<Request, CoreError> {
        let n = name.to_string();
        let before = self.load(id).await?;
        let after = self
            .change(who, id, Action::RequestOutputs, action::EGRESS_FILE_REMOVED, json!({ "file": name }), |r, by| {
                match r {
                    Request::Draft(d) => d.remove(by, &n).map(Into::into).map_err(refused),
                    Request::Returned(d) => d.remove(by, &n).map(Into::into).map_err(refused),
                    other => Err(not_now("changed", &other)),
                }
            })
            .await?;
        // The removed copy was never released: its key goes (crypto-shredding it), then its blob.
        // Should this stop part-way, the record or blob left is sealed and unreferenced.
        let kept: BTreeSet<&str> = after.common().files.iter().map(|f| f.object.as_str()).collect();
        let gone: Vec<&Pinned> =
            before.request.common().files.iter().filter(|f| !kept.contains(f.object.as_str())).collect();
        for f in gone {
            if let Ok(meta) = self.object_of(&before.record.asset, f).await {
                let object = meta.id.clone();
                let shredded = transact(self.store.as_ref(), move |tx| {
                    Box::pin(async move { Ok::<_, CoreError>(tx.delete_object(&object).await?) })
                })
                .await;
                if shredded.is_ok() {
                    let _ = self.blobs.delete(&meta).await;
                }
            }
        }
        Ok(after)
    }

    /// Describe a group: what its files are, and the disclosure controls applied.
    pub async fn describe(
        &self,
        who: &Caller,
        id: &str,
        group: &str,
        description: &str,
        controls: &str,
    ) -> Result<Request, CoreError> {
        let g = Group {
            name: text("group", group, TITLE_CHARS, true)?,
            description: text("description", description, TEXT_CHARS, true)?,
            controls: text("controls", controls, TEXT_CHARS, true)?,
        };
        let details = json!({ "group": g.name });
        let max_groups = self.config.max_files as usize;
        self.change(who, id, Action::RequestOutputs, action::EGRESS_DESCRIBED, details, |r, by| match r {
            r if r.common().group(&g.name).is_none() && r.common().groups.len() >= max_groups => {
                Err(CoreError::Conflict(format!("a request has at most {max_groups} groups")))
            }
            Request::Draft(d) => d.describe(by, g.clone()).map(Into::into).map_err(refused),
            Request::Returned(d) => d.describe(by, g.clone()).map(Into::into).map_err(refused),
            other => Err(not_now("changed", &other)),
        })
        .await
    }

    /// Submit (or resubmit after a return) for review; the checkers (and for an identifiable
    /// asset, the IAO) are told.
    pub async fn submit(&self, who: &Caller, id: &str) -> Result<Request, CoreError> {
        let after = self
            .change(who, id, Action::RequestOutputs, action::EGRESS_SUBMITTED, json!({}), |r, by| match r {
                Request::Draft(d) => d.submit(by).map(Into::into).map_err(refused),
                Request::Returned(d) => d.resubmit(by).map(Into::into).map_err(refused),
                other => Err(not_now("submitted", &other)),
            })
            .await?;
        let c = after.common();
        let why = format!(
            "{} submitted the output request \"{}\" on {} ({} file(s)) for review. Output checkers decide it: \
             review it at {}. You are told because you are an output checker{}.",
            c.author,
            c.title,
            c.asset,
            c.files.len(),
            self.link(&c.id),
            if c.identifiable { " or the IAO of this identifiable asset" } else { "" }
        );
        self.notify_checkers(c, &format!("Output request to review: {}", c.title), why).await;
        Ok(after)
    }

    /// Withdraw a request that has not been decided.
    pub async fn withdraw(&self, who: &Caller, id: &str) -> Result<Request, CoreError> {
        self.change(who, id, Action::RequestOutputs, action::EGRESS_WITHDRAWN, json!({}), |r, by| match r {
            Request::Draft(d) => d.withdraw(by).map(Into::into).map_err(refused),
            Request::Returned(d) => d.withdraw(by).map(Into::into).map_err(refused),
            Request::Submitted(d) => d.withdraw(by).map(Into::into).map_err(refused),
            Request::InReview(d) => d.withdraw(by).map(Into::into).map_err(refused),
            other => Err(not_now("withdrawn", &other)),
        })
        .await
    }

    /// A checker's vote (a rejection with its reason). When the vote decides the request, the
    /// author is told.
    pub async fn vote(&self, who: &Caller, id: &str, decision: Decision, reason: &str) -> Result<Request, CoreError> {
        let reason = text("reason", reason, TEXT_CHARS, false)?;
        let details = json!({ "decision": decision.as_str(), "reason": reason });
        let after = self
            .change(who, id, Action::ReviewOutputs, action::EGRESS_VOTED, details, |r, by| {
                let after = match r {
                    Request::Submitted(s) => s.vote(by, decision, &reason),
                    Request::InReview(s) => s.vote(by, decision, &reason),
                    other => return Err(not_now("voted on", &other)),
                };
                after.map(after_vote).map_err(refused)
            })
            .await?;
        self.tell_author_if_decided(&after).await;
        Ok(after)
    }

    /// The IAO's own approval, needed besides the checkers' for an identifiable asset.
    pub async fn iao_approve(&self, who: &Caller, id: &str) -> Result<Request, CoreError> {
        let after = self
            .change(who, id, Action::ReviewOutputs, action::EGRESS_IAO_APPROVED, json!({}), |r, by| match r {
                Request::Submitted(s) => s.iao_approve(by).map(after_vote).map_err(refused),
                Request::InReview(s) => s.iao_approve(by).map(after_vote).map_err(refused),
                other => Err(not_now("approved", &other)),
            })
            .await?;
        self.tell_author_if_decided(&after).await;
        Ok(after)
    }

    /// Back to the author for changes, with the reason; the author is told.
    pub async fn return_for_changes(&self, who: &Caller, id: &str, reason: &str) -> Result<Request, CoreError> {
        let reason = text("reason", reason, TEXT_CHARS, true)?;
        let details = json!({ "reason": reason });
        let after = self
            .change(who, id, Action::ReviewOutputs, action::EGRESS_RETURNED, details, |r, by| match r {
                Request::Submitted(s) => s.return_for_changes(by, &reason).map(Into::into).map_err(refused),
                Request::InReview(s) => s.return_for_changes(by, &reason).map(Into::into).map_err(refused),
                other => Err(not_now("returned", &other)),
            })
            .await?;
        let c = after.common();
        let why = format!(
            "An output checker returned your request \"{}\" on {} for changes: {reason}\n\nChange it and submit it \
             again at {}.",
            c.title,
            c.asset,
            self.link(&c.id)
        );
        self.notify(&c.author, &format!("Output request returned for changes: {}", c.title), why).await;
        Ok(after)
    }

    /// A checker's verdict on a file in place of the automated one, with a reason. Audited.
    pub async fn override_verdict(
        &self,
        who: &Caller,
        id: &str,
        file: &str,
        verdict: Verdict,
        reason: &str,
    ) -> Result<Request, CoreError> {
        let reason = text("reason", reason, TEXT_CHARS, true)?;
        let f = file.to_string();
        let details = json!({ "file": file, "verdict": verdict.as_str(), "reason": reason });
        self.change(who, id, Action::ReviewOutputs, action::EGRESS_OVERRIDDEN, details, |r, by| match r {
            Request::Submitted(s) => s.override_verdict(by, &f, verdict, &reason).map(Into::into).map_err(refused),
            Request::InReview(s) => s.override_verdict(by, &f, verdict, &reason).map(Into::into).map_err(refused),
            other => Err(not_now("changed", &other)),
        })
        .await
    }

    /// A comment on a group (`""`: the whole request); checkers-only ones are never shown to
    /// the authors.
    pub async fn comment(
        &self,
        who: &Caller,
        id: &str,
        group: &str,
        body: &str,
        checkers_only: bool,
    ) -> Result<Request, CoreError> {
        let body = text("comment", body, TEXT_CHARS, true)?;
        let loaded = self.load(id).await?;
        let (viewer, _) = self.relation(who, &loaded).await?;
        let need = if viewer == Viewer::Author { Action::RequestOutputs } else { Action::ReviewOutputs };
        let g = group.trim().to_string();
        let details = json!({ "group": g, "checkers_only": checkers_only });
        self.change(who, id, need, action::EGRESS_COMMENTED, details, |mut r, by| {
            if r.common().comments.len() >= MAX_COMMENTS {
                return Err(CoreError::Conflict(format!("a request keeps at most {MAX_COMMENTS} comments")));
            }
            r.comment(by, &g, &body, checkers_only).map_err(refused)?;
            Ok(r)
        })
        .await
    }

    /// Make an approved request's files downloadable by its author, after checking that every
    /// pinned copy still holds the bytes that were checked and approved (SHA-256). The author
    /// is told.
    pub async fn release(&self, who: &Caller, id: &str) -> Result<Request, CoreError> {
        let loaded = self.load(id).await?;
        let Request::Approved(_) = &loaded.request else {
            return Err(not_now("released", &loaded.request));
        };
        self.relation(who, &loaded).await?;
        self.governance.require_on(who, Action::ReviewOutputs, &loaded.record.asset).await?;
        if let Err(e) = self.verify_pinned(loaded.request.common()).await {
            let event = NewAuditEvent::new(self.clock.now(), who.audit_name(), action::EGRESS_INTEGRITY_FAILED)
                .target(id)
                .project(&loaded.record.asset)
                .source(&who.source)
                .details(json!({ "why": e.to_string() }));
            let _ = self.audit(event).await;
            return Err(e);
        }
        let after = self
            .change(who, id, Action::ReviewOutputs, action::EGRESS_RELEASED, json!({}), |r, by| match r {
                Request::Approved(s) => s.release(by).map(Into::into).map_err(refused),
                other => Err(not_now("released", &other)),
            })
            .await?;
        let c = after.common();
        let why = format!(
            "Your output request \"{}\" on {} was approved by the output checkers and released. Download it (a zip \
             of the approved files with a signed manifest) from {}: each download link works once, for {} minutes.",
            c.title,
            c.asset,
            self.link(&c.id),
            self.config.link_minutes
        );
        self.notify(&c.author, &format!("Output request released: {}", c.title), why).await;
        Ok(after)
    }

    /// Stop further downloads of a released request, with the reason; the author is told.
    pub async fn revoke(&self, who: &Caller, id: &str, reason: &str) -> Result<Request, CoreError> {
        let reason = text("reason", reason, TEXT_CHARS, true)?;
        let details = json!({ "reason": reason });
        let after = self
            .change(who, id, Action::ReviewOutputs, action::EGRESS_REVOKED, details, |r, by| match r {
                Request::Released(s) => s.revoke(by, &reason).map(Into::into).map_err(refused),
                other => Err(not_now("revoked", &other)),
            })
            .await?;
        let c = after.common();
        let why = format!(
            "Downloads of your output request \"{}\" on {} were stopped: {reason}\nWhat you downloaded before \
             stays yours to handle under the asset's agreement; ask the output checkers if you have questions.",
            c.title, c.asset
        );
        self.notify(&c.author, &format!("Output request revoked: {}", c.title), why).await;
        Ok(after)
    }

    /// Every pinned copy still opens (its seal verifies) and holds the SHA-256 it was pinned
    /// with.
    pub(super) async fn verify_pinned(&self, c: &Common) -> Result<(), CoreError> {
        for f in &c.files {
            let meta = self.object_of(&c.asset, f).await?;
            let mut data = self.blobs.get(&meta).await.map_err(|e| changed(&f.name, &e.to_string()))?;
            let mut hash = haven_crypto::Sha256::new();
            let mut bytes = 0u64;
            while let Some(chunk) = futures::StreamExt::next(&mut data).await {
                let chunk = chunk.map_err(|e| changed(&f.name, &e.to_string()))?;
                bytes += chunk.len() as u64;
                hash.update(&chunk);
            }
            if bytes != f.bytes || hex::encode(hash.finish()) != f.sha256 {
                return Err(changed(&f.name, "its bytes are not those pinned"));
            }
        }
        Ok(())
    }

    /// A pinned file's sealed object, as recorded.
    pub(super) async fn object_of(&self, asset: &str, f: &Pinned) -> Result<ObjectMeta, CoreError> {
        let (id, asset, name) = (f.object.clone(), asset.to_string(), f.name.clone());
        read(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let meta = tx.object(&id).await?;
                match meta {
                    Some(m) if m.project == asset => Ok(m),
                    _ => Err(changed(&name, "its pinned copy is gone")),
                }
            })
        })
        .await
    }

    /// A request as the caller may see it.
    pub async fn view(&self, who: &Caller, id: &str) -> Result<RequestView, CoreError> {
        let loaded = self.load(id).await?;
        let (viewer, standing) = self.relation(who, &loaded).await?;
        let r = &loaded.request;
        let reviewer = matches!(viewer, Viewer::Checker | Viewer::Iao) || is_console(who);
        let mut request = r.seen_by(&who.user_id, reviewer);
        let author = viewer == Viewer::Author;
        // What the checks found quotes the file: its reviewers (and the console) see it all,
        // everyone else a tally.
        if !reviewer {
            for f in &mut request.files {
                if let Some(report) = f.report.as_mut() {
                    tally(report);
                }
            }
        }
        let edits = author && matches!(r, Request::Draft(_) | Request::Returned(_)) && standing.outputs;
        let checker = viewer == Viewer::Checker;
        let voted = r.common().current_votes().any(|v| v.checker == who.user_id);
        let reviewing = r.under_review();
        let can = Possible {
            edit: edits,
            submit: edits,
            withdraw: author
                && matches!(r, Request::Draft(_) | Request::Returned(_) | Request::Submitted(_) | Request::InReview(_)),
            vote: checker
                && r.under_review()
                && !voted
                && r.common().iao_approval.as_deref() != Some(who.user_id.as_str()),
            iao_approve: standing.iao
                && !author
                && !voted
                && r.under_review()
                && r.common().identifiable
                && r.common().iao_approval.is_none(),
            override_verdict: checker && r.under_review(),
            return_for_changes: reviewing && checker,
            release: checker && matches!(r, Request::Approved(_)),
            revoke: (checker || viewer == Viewer::Iao) && matches!(r, Request::Released(_)),
            download: author && matches!(r, Request::Released(_)),
            comment: author || ((checker || viewer == Viewer::Iao) && !matches!(r, Request::Draft(_))),
            comment_privately: checker || viewer == Viewer::Iao,
        };
        Ok(RequestView {
            state: r.state_name(),
            version: loaded.record.version,
            created_us: loaded.record.created_us,
            updated_us: loaded.record.updated_us,
            viewer,
            request,
            can,
        })
    }

    /// The caller's lists: their own requests, and what waits for them as a checker or IAO.
    pub async fn lists(&self, who: &Caller) -> Result<Lists, CoreError> {
        require(who, Action::FollowOwnOutputs, Resource::Account(&who.user_id))?;
        let me = who.user_id.clone();
        let checker = who.has(Role::OutputChecker) && who.level == crate::caller::Level::Full;
        let mine_assets = self.governance.my_assets(who).await?;
        let iao_of: Vec<String> =
            mine_assets.iter().filter(|a| a.asset.iao == who.user_id).map(|a| a.asset.name.clone()).collect();
        let mut lists = read(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let mine = tx.egress_requests_by(&me, LIST_LIMIT).await?.iter().map(Summary::from).collect();
                let mut l = Lists { mine, ..Lists::default() };
                if checker {
                    let waiting = tx.egress_requests_in(&["submitted", "in_review"], LIST_LIMIT).await?;
                    l.to_review = waiting.iter().filter(|r| r.author != me).map(Summary::from).collect();
                    let approved = tx.egress_requests_in(&["approved"], LIST_LIMIT).await?;
                    l.to_release = approved.iter().filter(|r| r.author != me).map(Summary::from).collect();
                }
                for asset in iao_of {
                    let of = tx.egress_requests_of(&asset, LIST_LIMIT).await?;
                    // Only what was ever submitted: a draft (or one withdrawn as a draft) is its
                    // author's alone.
                    let submitted = |r: &&RequestRecord| {
                        serde_json::from_str::<Request>(&r.doc)
                            .is_ok_and(|q| q.common().history.iter().any(|e| e.what == "submitted"))
                    };
                    l.as_iao.extend(of.iter().filter(|r| r.author != me).filter(submitted).map(Summary::from));
                }
                Ok::<_, CoreError>(l)
            })
        })
        .await?;
        for a in mine_assets {
            if self.governance.require_on(who, Action::RequestOutputs, &a.asset.name).await.is_ok() {
                lists.assets.push(a.asset.name);
            }
        }
        Ok(lists)
    }

    /// Every request (the console and auditors), newest change first; one asset's if given.
    pub async fn all(&self, who: &Caller, asset: Option<&str>) -> Result<Vec<Summary>, CoreError> {
        require(who, Action::ViewOutputs, Resource::Service)?;
        let asset = asset.map(str::to_string);
        read(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let records = match asset {
                    Some(a) => tx.egress_requests_of(&a, LIST_LIMIT).await?,
                    None => {
                        let all = [
                            "draft",
                            "submitted",
                            "in_review",
                            "returned",
                            "approved",
                            "rejected",
                            "released",
                            "withdrawn",
                            "revoked",
                        ];
                        let mut r = tx.egress_requests_in(&all, LIST_LIMIT).await?;
                        r.reverse();
                        r
                    }
                };
                Ok::<_, CoreError>(records.iter().map(Summary::from).collect())
            })
        })
        .await
    }

    /// A pinned file's bytes and its report, for its reviewers (output checkers, the IAO): what
    /// is inside a file is data, which reaches the author's browser only once released. Audited.
    pub async fn file(
        &self,
        who: &Caller,
        id: &str,
        name: &str,
    ) -> Result<(crate::blobs::ByteStream, Pinned), CoreError> {
        let loaded = self.load(id).await?;
        let (viewer, _) = self.relation(who, &loaded).await?;
        if !matches!(viewer, Viewer::Checker | Viewer::Iao) {
            let e = CoreError::Refused(
                "a file's contents are shown to its reviewers only: open it in a session on the asset".into(),
            );
            self.audit_refusal(who, &loaded, "read a file", &e).await;
            return Err(e);
        }
        let c = loaded.request.common();
        let f = c.files.iter().find(|f| f.name == name).ok_or(CoreError::NotFound)?.clone();
        let meta = self.object_of(&c.asset, &f).await?;
        let data = self.blobs.get(&meta).await.map_err(|e| CoreError::Unavailable(e.to_string()))?;
        let event = NewAuditEvent::new(self.clock.now(), who.audit_name(), action::EGRESS_FILE_READ)
            .target(id)
            .project(&c.asset)
            .source(&who.source)
            .details(json!({ "file": f.name, "sha256": f.sha256 }));
        self.audit(event).await?;
        Ok((data, f))
    }

    fn link(&self, id: &str) -> String {
        format!("{}/egress/requests/{id}", self.governance.public_url())
    }

    async fn notify(&self, user: &str, subject: &str, text: String) {
        self.governance.notify_user(user, subject, text).await;
    }

    /// The output checkers (never the request's own authors), and the IAO of an identifiable
    /// asset.
    async fn notify_checkers(&self, c: &Common, subject: &str, text: String) {
        let checkers = read(self.store.as_ref(), |tx| {
            Box::pin(async move { tx.accounts_with_role(Role::OutputChecker.as_str()).await })
        })
        .await
        .unwrap_or_default();
        let mut told = BTreeSet::new();
        for a in checkers.iter().filter(|a| !c.is_member(&a.id)) {
            if told.insert(a.id.clone()) {
                self.governance.identity().notify(&a.email, subject, text.clone()).await;
            }
        }
        if c.identifiable
            && let Some(iao) = self.iao_of(&c.asset).await
            && !c.is_member(&iao)
            && told.insert(iao.clone())
        {
            self.notify(&iao, subject, text).await;
        }
    }

    async fn iao_of(&self, asset: &str) -> Option<String> {
        let name = asset.to_string();
        let asset: Option<Asset> =
            read(self.store.as_ref(), move |tx| Box::pin(async move { tx.asset(&name).await })).await.ok().flatten();
        asset.map(|a| a.iao)
    }

    async fn tell_author_if_decided(&self, r: &Request) {
        let c = r.common();
        let (subject, why) = match r {
            Request::Approved(_) => (
                format!("Output request approved: {}", c.title),
                format!(
                    "Your output request \"{}\" on {} was approved. An output checker releases it next; you will get \
                     an email when you can download it ({}).",
                    c.title,
                    c.asset,
                    self.link(&c.id)
                ),
            ),
            Request::Rejected(_) => (
                format!("Output request rejected: {}", c.title),
                format!(
                    "Your output request \"{}\" on {} was rejected by the output checkers; their reasons are on the \
                     request: {}",
                    c.title,
                    c.asset,
                    self.link(&c.id)
                ),
            ),
            _ => return,
        };
        self.notify(&c.author, &subject, why).await;
    }
}

fn after_vote(v: AfterVote) -> Request {
    match v {
        AfterVote::InReview(s) => s.into(),
        AfterVote::Approved(s) => s.into(),
        AfterVote::Rejected(s) => s.into(),
    }
}

fn changed(name: &str, why: &str) -> CoreError {
    CoreError::Conflict(format!(
        "{name} is not the file that was checked and approved ({why}): nothing is released; the request must be \
         made again"
    ))
}
