//! Software requests: a signed-in user asks for a package (or pastes a requirements.txt,
//! DESCRIPTION or environment.yml to see first what Haven says about each package); a package
//! reviewer sees the whole dependency closure and decides once. Approval adds allow rules for
//! the requested package (as asked, or the resolved version) and for each dependency at the
//! reviewed version, each recorded as approved with that request. The requester is emailed at
//! each step. A reviewer never decides their own request.

use haven_packages::manifests::{self, Wanted};
use haven_packages::policy::{Ecosystem, Rule, RuleKind};
use serde_json::json;

use super::records::{ClosureItem, NewRule, RequestRecord, RequestStatus};
use super::{PackageError, Packages};
use crate::CoreError;
use crate::audit::{NewAuditEvent, action};
use crate::authz::{Action, Resource, can, require};
use crate::caller::Caller;
use crate::identity::{Mail, Mailer};

/// What the form's dry run says about one package.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub wanted: Wanted,
    /// Versions Haven offers now that match (newest last); empty when none.
    pub offered: Vec<String>,
    /// Why nothing (or not everything) matching is offered.
    pub reason: Option<String>,
}

pub enum Manifest {
    Requirements,
    Description,
    Environment,
}

fn check_text(what: &str, text: &str, min: usize, max: usize) -> Result<String, PackageError> {
    let t = text.trim();
    let n = t.chars().count();
    if n < min || n > max || t.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err(PackageError::BadRequest(format!("{what} must be {min} to {max} characters.")));
    }
    Ok(t.to_string())
}

impl Packages {
    /// The audit name of a reviewer (or `console`), after `can()`.
    fn reviewer(&self, who: &Caller) -> Result<String, PackageError> {
        require(who, Action::ManagePackages, Resource::Service)?;
        Ok(who.user_id.clone())
    }

    /// Whether the caller reviews software requests (the portal shows the review tab).
    pub fn is_reviewer(&self, who: &Caller) -> bool {
        can(who, Action::ManagePackages, Resource::Service)
    }

    async fn email(&self, mailer: &dyn Mailer, to: &str, subject: &str, text: String) {
        if to.is_empty() {
            return;
        }
        if let Err(e) = mailer.send(Mail { to: to.into(), subject: subject.into(), text }).await {
            tracing::warn!(error = %e, "a software request email was not sent");
        }
    }

    /// File a request. Audited; the requester gets a confirmation email.
    pub async fn submit_request(
        &self,
        who: &Caller,
        mailer: &dyn Mailer,
        ecosystem: Ecosystem,
        name: &str,
        spec: &str,
        justification: &str,
    ) -> Result<RequestRecord, PackageError> {
        require(who, Action::RequestPackages, Resource::Account(&who.user_id))?;
        let (requester, requester_email, source) = (who.user_id.as_str(), who.email(), who.source.as_str());
        let rule = Rule::new(ecosystem, RuleKind::Allow, name.trim(), Some(spec), false)
            .map_err(|e| PackageError::BadRequest(format!("{e}")))?;
        let justification = check_text("The justification", justification, 10, 2000)?;
        let record = RequestRecord {
            id: 0,
            requester: requester.into(),
            ecosystem,
            name: rule.name.clone(),
            spec: rule.spec.clone().unwrap_or_default(),
            justification,
            status: RequestStatus::Pending,
            created_us: self.now_us(),
            decided_by: String::new(),
            decided_us: 0,
            note: String::new(),
            closure: String::new(),
        };
        let event = NewAuditEvent::new(self.clock.now(), requester, action::PACKAGE_REQUEST_SUBMITTED)
            .target(&format!("{}:{}", ecosystem.as_str(), record.name))
            .source(source)
            .details(json!({"spec": record.spec}));
        let stored = record.clone();
        let id = crate::store::transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let open = tx.package_requests(Some(&stored.requester), Some(RequestStatus::Pending), 1000).await?;
                if open.iter().any(|r| r.ecosystem == stored.ecosystem && r.name == stored.name) {
                    return Err(CoreError::Conflict(format!(
                        "You already have a pending request for {}; the reviewers will decide it.",
                        stored.name
                    )));
                }
                let id = tx.insert_package_request(&stored).await?;
                tx.append_audit(event.details(json!({"spec": stored.spec, "request": id}))).await?;
                Ok(id)
            })
        })
        .await?;
        let record = RequestRecord { id, ..record };
        self.email(
            mailer,
            requester_email,
            &format!("Haven - software request #{id} received"),
            format!(
                "You asked Haven's package reviewers for {} {} {} (request #{id}).\n\n\
                 You are receiving this email because you submitted that request. A reviewer will look at the package \
                 and everything it depends on, and you will get another email when they decide.\n\n\
                 Your requests: {}{}\n",
                ecosystem.as_str(),
                record.name,
                record.spec,
                self.public_url,
                crate::paths::REQUESTS
            ),
        )
        .await;
        Ok(record)
    }

    /// Requests filed by `requester` (one's own, or anyone's for a reviewer), or (None)
    /// everyone's, for reviewers; only pending ones if asked.
    pub async fn requests(
        &self,
        who: &Caller,
        requester: Option<&str>,
        pending_only: bool,
    ) -> Result<Vec<RequestRecord>, PackageError> {
        let own = requester.is_some_and(|r| can(who, Action::RequestPackages, Resource::Account(r)));
        if !own {
            require(who, Action::ManagePackages, Resource::Service)?;
        }
        let requester = requester.map(str::to_string);
        Ok(crate::store::read(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let status = pending_only.then_some(RequestStatus::Pending);
                tx.package_requests(requester.as_deref(), status, 500).await.map_err(CoreError::from)
            })
        })
        .await?)
    }

    /// One request, for its reviewers.
    pub async fn request(&self, who: &Caller, id: i64) -> Result<RequestRecord, PackageError> {
        require(who, Action::ManagePackages, Resource::Service)?;
        self.stored_request(id).await
    }

    async fn stored_request(&self, id: i64) -> Result<RequestRecord, PackageError> {
        let found = crate::store::read(self.store.as_ref(), move |tx| {
            Box::pin(async move { tx.package_request(id).await.map_err(CoreError::from) })
        })
        .await?;
        found.ok_or_else(|| PackageError::NotFound(format!("There is no software request #{id}.")))
    }

    /// Approve (adding the closure's allow rules) or reject (a note is required) a pending
    /// request. Audited; the requester is emailed.
    pub async fn decide_request(
        &self,
        who: &Caller,
        mailer: &dyn Mailer,
        id: i64,
        approve: bool,
        note: &str,
    ) -> Result<RequestRecord, PackageError> {
        let reviewer = self.reviewer(who)?;
        let note = note.trim().to_string();
        if note.chars().count() > 2000 {
            return Err(PackageError::BadRequest("The note must be at most 2000 characters.".into()));
        }
        if !approve && note.is_empty() {
            return Err(PackageError::BadRequest("Say why the request is rejected: the requester reads it.".into()));
        }
        let request = self.stored_request(id).await?;
        if request.status != RequestStatus::Pending {
            return Err(CoreError::Conflict(format!("Request #{id} was already {}.", request.status.as_str())).into());
        }
        if request.requester == reviewer {
            return Err(CoreError::Conflict("Another reviewer must decide your own request.".into()).into());
        }
        let closure: Vec<ClosureItem> =
            if approve { self.closure(request.ecosystem, &request.name, &request.spec).await? } else { Vec::new() };
        if approve && let Some(bad) = closure.iter().find(|i| i.version.is_empty()) {
            return Err(PackageError::BadRequest(format!(
                "{} cannot be approved: {}",
                bad.name,
                bad.problem.clone().unwrap_or_else(|| "no version could be chosen".into())
            )));
        }
        let now = self.now_us();
        let mut rules = Vec::new();
        for item in closure.iter().filter(|i| !i.allowed) {
            let spec = match &item.needed_by {
                None if !request.spec.is_empty() => request.spec.clone(),
                _ if request.ecosystem == Ecosystem::Conda => String::new(),
                _ if request.ecosystem == Ecosystem::Cran => format!("== {}", item.version),
                _ => format!("=={}", item.version),
            };
            let reason = match &item.needed_by {
                None => format!("request #{id} by {}", request.requester),
                Some(parent) => format!("request #{id}: a dependency of {parent} ({})", request.name),
            };
            rules.push(NewRule {
                ecosystem: request.ecosystem,
                kind: RuleKind::Allow,
                name: item.name.clone(),
                spec,
                skip_cooldown: false,
                reason,
                added_by: reviewer.clone(),
                added_us: now,
            });
        }
        let decided = RequestRecord {
            status: if approve { RequestStatus::Approved } else { RequestStatus::Rejected },
            decided_by: reviewer.clone(),
            decided_us: now,
            note: note.clone(),
            closure: serde_json::to_string(&closure).unwrap_or_default(),
            ..request.clone()
        };
        let action = if approve { action::PACKAGE_REQUEST_APPROVED } else { action::PACKAGE_REQUEST_REJECTED };
        let event = NewAuditEvent::new(self.clock.now(), &reviewer, action)
            .target(&format!("{}:{}", request.ecosystem.as_str(), request.name))
            .source(&who.source)
            .details(json!({
                "request": id,
                "requester": request.requester,
                "note": note,
                "rules": rules.iter().map(|r| format!("{} {}", r.name, r.spec)).collect::<Vec<_>>(),
            }));
        let stored = decided.clone();
        crate::store::transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                if !tx.decide_package_request(&stored).await? {
                    return Err(CoreError::Conflict(format!(
                        "Request #{} was decided by someone else meanwhile.",
                        stored.id
                    )));
                }
                for r in &rules {
                    tx.put_package_rule(r).await?;
                }
                tx.append_audit(event).await?;
                Ok(())
            })
        })
        .await?;
        let subject = format!("Haven - software request #{id} {}", if approve { "approved" } else { "not approved" });
        let body = if approve {
            let list: Vec<String> = closure
                .iter()
                .map(|i| {
                    format!(
                        "  {} {}{}",
                        i.name,
                        i.version,
                        i.needed_by.as_ref().map(|p| format!(" (needed by {p})")).unwrap_or_default()
                    )
                })
                .collect();
            format!(
                "Your request #{id} for {} {} was approved by {reviewer}, with what it depends on:\n\n{}\n\n{}\
                 You are receiving this email because you submitted that request. You can install them now \
                 (if a version is newer than the cooldown, it appears when it has aged).\n",
                request.name,
                request.spec,
                list.join("\n"),
                if note.is_empty() { String::new() } else { format!("Reviewer's note: {note}\n\n") }
            )
        } else {
            format!(
                "Your request #{id} for {} {} was not approved by {reviewer}.\n\nReviewer's note: {note}\n\n\
                 You are receiving this email because you submitted that request. Reply to the service desk if \
                 you want to discuss it, or file a new request.\n",
                request.name, request.spec
            )
        };
        let requester = request.requester.clone();
        let email = crate::store::read(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.account(&requester).await?.map(|a| a.email)) })
        })
        .await?
        .unwrap_or_default();
        self.email(mailer, &email, &subject, body).await;
        Ok(decided)
    }

    /// The form's dry run: what Haven says now about each package a manifest names.
    pub async fn dry_run(
        &self,
        who: &Caller,
        kind: Manifest,
        text: &str,
    ) -> Result<(Vec<Verdict>, Vec<String>), PackageError> {
        require(who, Action::RequestPackages, Resource::Account(&who.user_id))?;
        if text.len() > manifests::MAX_MANIFEST_BYTES {
            return Err(PackageError::BadRequest(format!(
                "The pasted text is larger than {} KiB.",
                manifests::MAX_MANIFEST_BYTES / 1024
            )));
        }
        let parsed = match kind {
            Manifest::Requirements => manifests::requirements_txt(text),
            Manifest::Description => manifests::description(text),
            Manifest::Environment => manifests::environment_yml(text),
        };
        let mut verdicts = Vec::new();
        for w in parsed.wanted {
            let v = self.verdict(&w).await;
            verdicts.push(Verdict { wanted: w, offered: v.0, reason: v.1 });
        }
        Ok((verdicts, parsed.skipped))
    }

    async fn verdict(&self, w: &Wanted) -> (Vec<String>, Option<String>) {
        let matches = |v: &str| w.ecosystem != Ecosystem::Pypi || super::closure::pep440_matches(&w.spec, v);
        match w.ecosystem {
            Ecosystem::Pypi => match self.pypi_served(&w.name).await {
                Ok(served) => {
                    let mut offered: Vec<String> =
                        served.page.versions.iter().filter(|v| matches(v)).cloned().collect();
                    offered.dedup();
                    let reason = offered.is_empty().then(|| {
                        served
                            .refused
                            .iter()
                            .rev()
                            .find(|(f, _)| haven_packages::pypi::filename_version(f).is_some_and(matches))
                            .map(|(_, why)| why.clone())
                            .unwrap_or_else(|| format!("no offered version matches {}", w.spec))
                    });
                    (offered, reason)
                }
                Err(e) => (Vec::new(), Some(short(&e))),
            },
            Ecosystem::Cran => match self.cran_served().await {
                Ok(served) => match served.records.iter().find(|r| r.package == w.name) {
                    Some(r) => (vec![r.version.clone()], None),
                    None => {
                        let why = served
                            .refused
                            .iter()
                            .find(|(f, _)| f.starts_with(&format!("{}_", w.name)))
                            .map(|(_, why)| why.clone())
                            .unwrap_or_else(|| format!("{} is not in the repository", w.name));
                        (Vec::new(), Some(why))
                    }
                },
                Err(e) => (Vec::new(), Some(short(&e))),
            },
            Ecosystem::Conda => {
                let channel = self.config.conda_channels().first().cloned().unwrap_or_default();
                let mut offered = Vec::new();
                let mut reason = None;
                for subdir in std::iter::once("noarch".to_string()).chain(self.config.conda_platforms.iter().cloned()) {
                    if let Ok(served) = self.conda_served(&channel, &subdir).await {
                        let all = served.repodata.packages.values().chain(served.repodata.packages_conda.values());
                        offered.extend(all.filter(|r| r.name == w.name).map(|r| r.version.clone()));
                        if reason.is_none() {
                            reason = served
                                .refused
                                .iter()
                                .find(|(f, _)| f.starts_with(&format!("{}-", w.name)))
                                .map(|(_, y)| y.clone());
                        }
                    }
                }
                offered.sort();
                offered.dedup();
                let reason = if offered.is_empty() {
                    Some(reason.unwrap_or_else(|| format!("{} is not in the channel {channel}", w.name)))
                } else {
                    None
                };
                (offered, reason)
            }
        }
    }

    /// What a request would add if approved now (for the reviewer's page).
    pub async fn preview(&self, who: &Caller, request: &RequestRecord) -> Result<Vec<ClosureItem>, PackageError> {
        require(who, Action::ManagePackages, Resource::Service)?;
        if request.status == RequestStatus::Pending {
            return self.closure(request.ecosystem, &request.name, &request.spec).await;
        }
        Ok(request.closure_items())
    }
}

/// A refusal without the "to ask for it" tail (the dry run is on the request page already).
fn short(e: &PackageError) -> String {
    let text = e.to_string();
    let text = text.strip_prefix("Haven's package policy refuses this: ").unwrap_or(&text);
    text.split(". To ask for it").next().unwrap_or(text).to_string()
}
