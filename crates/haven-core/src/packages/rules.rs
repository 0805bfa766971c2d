//! Changing and reading the policy rules (CLI and the reviewers' pages), and checking what the
//! policy says about one version without fetching it.

use std::sync::Arc;

use haven_packages::policy::{Candidate, Decision, Ecosystem, Rule, RuleKind};
use serde_json::json;

use super::records::{NewRule, RuleRecord};
use super::{PackageError, Packages};
use crate::CoreError;
use crate::audit::{NewAuditEvent, action};
use crate::authz::{Action, Resource, require};
use crate::caller::Caller;

impl Packages {
    /// An allow rule added outside a software request escapes "never your own request": it is
    /// reported to every other package reviewer and administrator by email (and audited), so a
    /// second person sees it and can remove it. Returns how many were told.
    pub async fn report_direct_allow(
        &self,
        mailer: &dyn crate::identity::ports::Mailer,
        who: &Caller,
        rule: &RuleRecord,
        reason: &str,
    ) -> Result<usize, PackageError> {
        require(who, Action::ManagePackages, Resource::Service)?;
        if rule.kind != RuleKind::Allow {
            return Ok(0);
        }
        let recipients = crate::store::read(self.store.as_ref(), |tx| {
            Box::pin(async move {
                let mut all = tx.accounts_with_role("package_reviewer").await?;
                all.extend(tx.accounts_with_role("admin").await?);
                Ok::<_, CoreError>(all)
            })
        })
        .await?;
        let mut told = std::collections::BTreeSet::new();
        let spec = if rule.spec.is_empty() { "every version".to_string() } else { rule.spec.clone() };
        for account in recipients.iter().filter(|a| a.id != who.user_id) {
            if !told.insert(account.email.clone()) {
                continue;
            }
            let text = format!(
                "Hello,\n\n{} allowed {} package {} ({spec}) in Haven's package repository directly, not through a \
                 software request. Reason given: {}\n\nYou are receiving this email because you review Haven's \
                 packages, and rules added outside a request are shown to a second person. If this was not agreed, \
                 remove the rule at {}{}.\n",
                who.user_id,
                rule.ecosystem.as_str(),
                rule.name,
                reason,
                self.public_url,
                crate::paths::POLICY
            );
            let mail = crate::identity::ports::Mail {
                to: account.email.clone(),
                subject: "Haven - a package was allowed outside a request".into(),
                text,
            };
            if let Err(e) = mailer.send(mail).await {
                tracing::warn!(error = %e, "could not report an allow rule to a reviewer");
            }
        }
        let event = NewAuditEvent::new(self.clock.now(), &who.user_id, action::PACKAGE_RULE_REPORTED)
            .target(&format!("{}:{}", rule.ecosystem.as_str(), rule.name))
            .source(&who.source)
            .details(json!({"reported_to": told.len()}));
        crate::store::transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.append_audit(event).await?;
                Ok::<_, CoreError>(())
            })
        })
        .await?;
        Ok(told.len())
    }

    /// Add (or replace) an allow or deny rule; the specifier is checked in the ecosystem's
    /// version syntax. Audited as `package.rule_added`.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_rule(
        &self,
        who: &Caller,
        ecosystem: Ecosystem,
        kind: RuleKind,
        name: &str,
        spec: Option<&str>,
        skip_cooldown: bool,
        reason: &str,
    ) -> Result<RuleRecord, PackageError> {
        require(who, Action::ManagePackages, Resource::Service)?;
        let rule = Rule::new(ecosystem, kind, name, spec, skip_cooldown)
            .map_err(|e| PackageError::BadRequest(e.to_string()))?;
        if reason.chars().count() > 500 {
            return Err(PackageError::BadRequest("The reason is longer than 500 characters.".into()));
        }
        let new = NewRule {
            ecosystem,
            kind,
            name: rule.name.clone(),
            spec: rule.spec.clone().unwrap_or_default(),
            skip_cooldown,
            reason: reason.to_string(),
            added_by: who.user_id.clone(),
            added_us: self.now_us(),
        };
        let event = NewAuditEvent::new(self.clock.now(), &who.user_id, action::PACKAGE_RULE_ADDED)
            .target(&format!("{}:{}", ecosystem.as_str(), new.name))
            .source(&who.source)
            .details(json!({
                "kind": kind_str(kind),
                "spec": new.spec,
                "skip_cooldown": skip_cooldown,
                "reason": new.reason,
            }));
        let record = crate::store::transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let id = tx.put_package_rule(&new).await?;
                tx.append_audit(event).await?;
                Ok::<_, CoreError>(RuleRecord {
                    id,
                    ecosystem: new.ecosystem,
                    kind: new.kind,
                    name: new.name,
                    spec: new.spec,
                    skip_cooldown: new.skip_cooldown,
                    reason: new.reason,
                    added_by: new.added_by,
                    added_us: new.added_us,
                })
            })
        })
        .await?;
        Ok(record)
    }

    /// Remove rules of a kind for a name: those with exactly this specifier when given (empty:
    /// the rule for every version), all of them when not. Audited.
    pub async fn remove_rules(
        &self,
        who: &Caller,
        ecosystem: Ecosystem,
        kind: RuleKind,
        name: &str,
        spec: Option<&str>,
        reason: &str,
    ) -> Result<u64, PackageError> {
        require(who, Action::ManagePackages, Resource::Service)?;
        let name = ecosystem.canonical_name(name).map_err(|e| PackageError::BadRequest(e.to_string()))?;
        // None: every rule of this kind for the name; Some(""): the one for every version.
        let spec = spec.map(|s| s.trim().to_string());
        let event = NewAuditEvent::new(self.clock.now(), &who.user_id, action::PACKAGE_RULE_REMOVED)
            .target(&format!("{}:{name}", ecosystem.as_str()))
            .source(&who.source)
            .details(json!({"kind": kind_str(kind), "spec": spec, "reason": reason}));
        let removed = crate::store::transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let n = tx.delete_package_rules(ecosystem, kind, &name, spec.as_deref()).await?;
                if n > 0 {
                    tx.append_audit(event).await?;
                }
                Ok::<_, CoreError>(n)
            })
        })
        .await?;
        Ok(removed)
    }

    /// The rules of one ecosystem, for the reviewers' policy page and the command line.
    pub async fn rules(&self, who: &Caller, ecosystem: Ecosystem) -> Result<Vec<RuleRecord>, PackageError> {
        require(who, Action::ManagePackages, Resource::Service)?;
        Ok(self.stored_rules(ecosystem).await?.as_ref().clone())
    }

    /// Every rule of one ecosystem (kept while no rule changed).
    pub(crate) async fn stored_rules(&self, ecosystem: Ecosystem) -> Result<Arc<Vec<RuleRecord>>, PackageError> {
        let read = crate::store::read(self.store.as_ref(), move |tx| {
            Box::pin(async move { tx.package_rules(ecosystem, None).await.map_err(CoreError::from) })
        });
        self.rules.get_or_load(&ecosystem, async { read.await.map_err(PackageError::from) }).await
    }

    /// What the policy says about `name` `version` uploaded at `uploaded_us` (None: unknown),
    /// without asking the upstream.
    pub async fn check(
        &self,
        ecosystem: Ecosystem,
        name: &str,
        version: &str,
        uploaded_us: Option<i64>,
        size: Option<u64>,
    ) -> Result<Decision, PackageError> {
        let canonical = ecosystem.canonical_name(name).map_err(|e| PackageError::BadRequest(e.to_string()))?;
        let policy = self.policy(ecosystem, Some(&canonical)).await?;
        Ok(policy.decide(&Candidate { name: &canonical, version, uploaded_us, size }, self.now_us()))
    }
}

/// One file of a package and why it is not offered (None: offered).
pub type Explained = (String, Option<String>);

impl Packages {
    /// Ask the upstream for `name` and say, per file (of `version` only, when given), whether
    /// Haven offers it and why not. conda looks in `channel` (default: the first configured) and
    /// `subdir`; CRAN includes the archive.
    pub async fn explain(
        &self,
        who: &Caller,
        ecosystem: Ecosystem,
        name: &str,
        version: Option<&str>,
        channel: Option<&str>,
        subdir: &str,
    ) -> Result<Vec<Explained>, PackageError> {
        require(who, Action::ManagePackages, Resource::Service)?;
        let wanted = |v: &str| version.is_none_or(|w| w == v);
        let mut rows: Vec<Explained> = Vec::new();
        match ecosystem {
            Ecosystem::Pypi => match self.pypi_served(name).await {
                Ok(served) => {
                    let version_of = |f: &str| haven_packages::pypi::filename_version(f).unwrap_or("").to_string();
                    for f in &served.page.files {
                        if wanted(&version_of(&f.filename)) {
                            rows.push((f.filename.clone(), None));
                        }
                    }
                    for (f, why) in &served.refused {
                        if wanted(&version_of(f)) {
                            rows.push((f.clone(), Some(why.clone())));
                        }
                    }
                }
                Err(err) => rows.push((name.to_string(), Some(err.to_string()))),
            },
            Ecosystem::Cran => {
                let served = self.cran_served().await?;
                for r in served.records.iter().filter(|r| r.package == name && wanted(&r.version)) {
                    rows.push((r.file_name(), None));
                }
                for (f, why) in served.refused.iter().filter(|(f, _)| f.starts_with(&format!("{name}_"))) {
                    rows.push((f.clone(), Some(why.clone())));
                }
                if let Ok(archive) = self.cran_archive_served(name).await {
                    for r in archive.records.iter().filter(|r| wanted(&r.version)) {
                        rows.push((format!("Archive/{name}/{}_{}.tar.gz", r.package, r.version), None));
                    }
                    for (f, why) in archive.refused {
                        rows.push((format!("Archive/{name}/{f}"), Some(why)));
                    }
                }
            }
            Ecosystem::Conda => {
                let channel = channel
                    .map(str::to_string)
                    .or_else(|| self.config.conda_channels().first().cloned())
                    .unwrap_or_default();
                let served = self.conda_served(&channel, subdir).await?;
                let all = served.repodata.packages.iter().chain(served.repodata.packages_conda.iter());
                for (f, _) in all.filter(|(_, r)| r.name == name && wanted(&r.version)) {
                    rows.push((f.clone(), None));
                }
                for (f, why) in served.refused.iter().filter(|(f, _)| f.starts_with(&format!("{name}-"))) {
                    rows.push((f.clone(), Some(why.clone())));
                }
            }
        }
        rows.sort();
        Ok(rows)
    }
}

pub fn kind_str(kind: RuleKind) -> &'static str {
    match kind {
        RuleKind::Allow => "allow",
        RuleKind::Deny => "deny",
    }
}

pub fn parse_kind(s: &str) -> Option<RuleKind> {
    match s {
        "allow" => Some(RuleKind::Allow),
        "deny" => Some(RuleKind::Deny),
        _ => None,
    }
}
