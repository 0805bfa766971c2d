//! `haven packages …`: the package policy at the console, through the same use cases as the
//! reviewers' pages, audited as `console`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use haven_core::CoreError;
use haven_core::caller::Caller;
use haven_core::identity::Mailer;
use haven_core::packages::rules::{kind_str, parse_kind};
use haven_core::packages::{PackageError, Packages};
use haven_packages::policy::{Ecosystem, RuleKind};

use crate::app::{self, Mode};
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum PackagesCommand {
    /// Allow a package (all versions, or those matching SPEC: PEP 440 for PyPI, `>= 1.2, < 2` for CRAN).
    Allow {
        /// pypi, cran or conda.
        ecosystem: String,
        name: String,
        spec: Option<String>,
        /// Offer matching versions before the cooldown ends (an urgent fix).
        #[arg(long)]
        skip_cooldown: bool,
        /// Why (kept with the rule and in the audit trail).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Deny a package (all versions, or those matching SPEC). Deny rules win over allow rules.
    Deny {
        ecosystem: String,
        name: String,
        spec: Option<String>,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Remove allow or deny rules for a package (those with SPEC only, when given).
    Remove {
        /// allow or deny.
        kind: String,
        ecosystem: String,
        name: String,
        spec: Option<String>,
    },
    /// Print the policy: mode, cooldown, size limit, upstream and every rule.
    Policy {
        /// Only this ecosystem.
        ecosystem: Option<String>,
    },
    /// Ask the upstream for a package and say, per file, whether Haven offers it and why not.
    Check {
        ecosystem: String,
        name: String,
        /// Only this version.
        #[arg(value_name = "VERSION")]
        only_version: Option<String>,
        /// conda: the channel and subdir to look in.
        #[arg(long, default_value = "noarch")]
        subdir: String,
        #[arg(long)]
        channel: Option<String>,
    },
    /// Import OSV advisories from a directory of .json files (searched recursively) or a .zip
    /// (OSV.dev's ecosystem dumps, OpenSSF malicious-packages); report what they now refuse.
    ImportOsv { path: PathBuf },
    /// List software requests (pending ones only with --pending).
    Requests {
        #[arg(long)]
        pending: bool,
        /// Show one request with its dependency closure.
        #[arg(long)]
        show: Option<i64>,
    },
    /// Decide a pending software request: approve (adding its closure's allow rules) or reject.
    Decide {
        id: i64,
        /// approve or reject.
        decision: String,
        /// Note to the requester (required to reject).
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Make a repository token for USER (a service account, say) and print it once.
    Token {
        user: String,
        #[arg(long)]
        label: String,
    },
}

impl PackagesCommand {
    pub async fn run(self, config: Config) -> Result<i32> {
        dispatch(config, self).await
    }
}

async fn open_with_mail(config: Config) -> Result<(Arc<Packages>, Arc<dyn Mailer>)> {
    let public_url = config.console_url();
    let app = app::open(config, Mode::Existing).await?;
    let mailer: Arc<dyn Mailer> = Arc::new(app.mailer()?);
    Ok((app.packages(&public_url)?, mailer))
}

async fn requests(config: Config, pending: bool, show: Option<i64>) -> Result<i32> {
    let packages = open(config).await?;
    if let Some(id) = show {
        let r = packages.request(&Caller::console(), id).await?;
        say!(
            "Request #{} {} {} {} by {} ({})",
            r.id,
            r.ecosystem.as_str(),
            r.name,
            r.spec,
            r.requester,
            r.status.as_str()
        );
        say!("Why: {}", r.justification);
        if !r.note.is_empty() {
            say!("Note from {}: {}", r.decided_by, r.note);
        }
        say!("{:<32} {:<14} {:<24} {:<12} FINDINGS", "PACKAGE", "VERSION", "NEEDED BY", "NOW");
        for i in packages.preview(&Caller::console(), &r).await? {
            let mut findings = i.findings.join("; ");
            if let Some(p) = i.problem {
                findings.push_str(&format!(" {p}"));
            }
            let needed_by = i.needed_by.unwrap_or_else(|| "(requested)".into());
            let now = if i.allowed { "allowed" } else { "to approve" };
            say!("{:<32} {:<14} {:<24} {:<12} {}", i.name, i.version, needed_by, now, findings.trim());
        }
        return Ok(0);
    }
    let list = packages.requests(&Caller::console(), None, pending).await?;
    say!("{:<6} {:<8} {:<40} {:<16} {:<10} CREATED", "ID", "ECO", "PACKAGE", "REQUESTER", "STATUS");
    for r in &list {
        let created = haven_core::from_micros(r.created_us)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        say!(
            "{:<6} {:<8} {:<40} {:<16} {:<10} {created}",
            r.id,
            r.ecosystem.as_str(),
            format!("{} {}", r.name, r.spec),
            r.requester,
            r.status.as_str()
        );
    }
    say!("{} request(s)", list.len());
    Ok(0)
}

async fn open(config: Config) -> Result<Arc<Packages>> {
    let public_url = config.console_url();
    let app = app::open(config, Mode::Existing).await?;
    app.packages(&public_url)
}

fn ecosystem(s: &str) -> Result<Ecosystem> {
    Ecosystem::parse(s).ok_or_else(|| anyhow!("{s:?} is not an ecosystem: use pypi, cran or conda"))
}

async fn dispatch(config: Config, command: PackagesCommand) -> Result<i32> {
    match command {
        PackagesCommand::Allow { ecosystem: e, name, spec, skip_cooldown, reason, .. } => {
            add(config, RuleKind::Allow, &e, &name, spec.as_deref(), skip_cooldown, &reason).await
        }
        PackagesCommand::Deny { ecosystem: e, name, spec, reason, .. } => {
            add(config, RuleKind::Deny, &e, &name, spec.as_deref(), false, &reason).await
        }
        PackagesCommand::Remove { kind, ecosystem: e, name, spec, .. } => {
            let kind = parse_kind(&kind).ok_or_else(|| anyhow!("{kind:?} is not a rule kind: use allow or deny"))?;
            let e = ecosystem(&e)?;
            let packages = open(config).await?;
            let n = packages.remove_rules(&Caller::console(), e, kind, &name, spec.as_deref(), "").await?;
            if n == 0 {
                bail!(
                    "there is no {} rule for {name}{} in {}",
                    kind_str(kind),
                    spec.map(|s| format!(" {s}")).unwrap_or_default(),
                    e.as_str()
                );
            }
            say!("Removed {n} {} rule(s) for {name} ({}).", kind_str(kind), e.as_str());
            Ok(0)
        }
        PackagesCommand::Policy { ecosystem: only, .. } => policy(config, only.as_deref()).await,
        PackagesCommand::Check { ecosystem: e, name, only_version, subdir, channel, .. } => {
            check(config, &e, &name, only_version.as_deref(), &subdir, channel.as_deref()).await
        }
        PackagesCommand::ImportOsv { path, .. } => import_osv(config, &path).await,
        PackagesCommand::Requests { pending, show, .. } => requests(config, pending, show).await,
        PackagesCommand::Decide { id, decision, note, .. } => {
            let approve = match decision.as_str() {
                "approve" => true,
                "reject" => false,
                other => bail!("{other:?} is not a decision: use approve or reject"),
            };
            let (packages, mailer) = open_with_mail(config).await?;
            let decided = packages.decide_request(&Caller::console(), mailer.as_ref(), id, approve, &note).await?;
            say!("Request #{id} {} ({} {}).", decided.status.as_str(), decided.ecosystem.as_str(), decided.name);
            let closure = decided.closure_items();
            for i in closure {
                say!(
                    "  {:<32} {:<14} {}",
                    i.name,
                    i.version,
                    if i.allowed { "already allowed" } else { "allowed now" }
                );
            }
            Ok(0)
        }
        PackagesCommand::Token { user, label, .. } => {
            let packages = open(config).await?;
            let made = packages.create_repo_token(&Caller::console(), &user, &label).await;
            let (secret, token) = match made {
                Err(PackageError::Core(CoreError::NotFound)) => bail!("there is no user {user:?} (haven users list)"),
                other => other?,
            };
            say!("Repository token {} for {user} ({label}); shown once:", token.handle());
            say!("  {}", secret.as_str());
            Ok(0)
        }
    }
}

async fn add(
    config: Config,
    kind: RuleKind,
    e: &str,
    name: &str,
    spec: Option<&str>,
    skip_cooldown: bool,
    reason: &str,
) -> Result<i32> {
    let e = ecosystem(e)?;
    let (packages, mailer) = open_with_mail(config).await?;
    let console = Caller::console();
    let rule = packages.add_rule(&console, e, kind, name, spec, skip_cooldown, reason).await?;
    let told = packages.report_direct_allow(mailer.as_ref(), &console, &rule, reason).await?;
    let spec = if rule.spec.is_empty() { "(all versions)".to_string() } else { rule.spec.clone() };
    say!(
        "{} {} {} {spec}{}",
        match kind {
            RuleKind::Allow => "Allowed",
            RuleKind::Deny => "Denied",
        },
        e.as_str(),
        rule.name,
        if skip_cooldown { ", without waiting for the cooldown" } else { "" }
    );
    if told > 0 {
        say!("(Reported to {told} package reviewer(s) and administrator(s): allow rules added outside a request are.)");
    }
    Ok(0)
}

async fn policy(config: Config, only: Option<&str>) -> Result<i32> {
    let only = only.map(ecosystem).transpose()?;
    let packages = open(config).await?;
    for e in [Ecosystem::Pypi, Ecosystem::Cran, Ecosystem::Conda] {
        if only.is_some_and(|o| o != e) {
            continue;
        }
        let c = packages.config.ecosystem(e);
        say!("[{}] upstream {}", e.as_str(), c.upstream);
        say!("  mode {}, cooldown {} day(s), files up to {} MiB", c.mode.as_str(), c.min_age_days, c.max_file_mib);
        let rules = packages.rules(&Caller::console(), e).await?;
        if rules.is_empty() {
            say!("  no rules");
        }
        for r in rules {
            let spec = if r.spec.is_empty() { "*" } else { r.spec.as_str() };
            let waive = if r.skip_cooldown { " (no cooldown)" } else { "" };
            let reason = if r.reason.is_empty() { String::new() } else { format!(" — {}", r.reason) };
            say!("  {:<5} {:<32} {spec}{waive}  by {}{reason}", kind_str(r.kind), r.name, r.added_by);
        }
    }
    Ok(0)
}

/// Exit 0 when at least one file is offered, 3 when none is.
async fn check(
    config: Config,
    e: &str,
    name: &str,
    version: Option<&str>,
    subdir: &str,
    channel: Option<&str>,
) -> Result<i32> {
    let e = ecosystem(e)?;
    let packages = open(config).await?;
    let rows = packages.explain(&Caller::console(), e, name, version, channel, subdir).await?;
    let offered = rows.iter().filter(|(_, why)| why.is_none()).count();
    for (file, why) in &rows {
        match why {
            None => say!("offered  {file}"),
            Some(why) => say!("refused  {file}: {why}"),
        }
    }
    say!("{offered} of {} file(s) offered", rows.len());
    Ok(if offered > 0 { 0 } else { 3 })
}

/// Largest OSV archive or file read (OSV.dev's whole PyPI dump is a few hundred MiB unpacked).
const MAX_OSV_FILE: u64 = 4 * 1024 * 1024;

const MAX_OSV_FILES: usize = 500_000;

fn read_osv_dir(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            read_osv_dir(&path, out)?;
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "json") {
            if out.len() >= MAX_OSV_FILES {
                bail!("more than {MAX_OSV_FILES} files under {}", dir.display());
            }
            let len = entry.metadata()?.len();
            let name = path.display().to_string();
            if len > MAX_OSV_FILE {
                say!("  skipped {name}: larger than {MAX_OSV_FILE} bytes");
                continue;
            }
            out.push((name, std::fs::read(&path)?));
        }
    }
    Ok(())
}

fn read_osv_zip(path: &Path, out: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut archive =
        zip::ZipArchive::new(file).with_context(|| format!("{} is not a readable zip", path.display()))?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        if !entry.is_file() || !entry.name().ends_with(".json") {
            continue;
        }
        if out.len() >= MAX_OSV_FILES {
            bail!("more than {MAX_OSV_FILES} records in {}", path.display());
        }
        let name = format!("{}:{}", path.display(), entry.name());
        // Read at most one byte past the limit, whatever the header claims (zip bombs).
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(&mut entry, MAX_OSV_FILE + 1), &mut bytes)?;
        if bytes.len() as u64 > MAX_OSV_FILE {
            say!("  skipped {name}: larger than {MAX_OSV_FILE} bytes");
            continue;
        }
        out.push((name, bytes));
    }
    Ok(())
}

async fn import_osv(config: Config, path: &Path) -> Result<i32> {
    let mut files = Vec::new();
    if path.is_dir() {
        read_osv_dir(path, &mut files)?;
    } else {
        read_osv_zip(path, &mut files)?;
    }
    let packages = open(config).await?;
    let report = packages.import_osv(&Caller::console(), files).await?;
    say!(
        "Imported {} advisories ({} withdrawn, {} about other ecosystems).",
        report.imported,
        report.withdrawn,
        report.ignored
    );
    for (name, why) in &report.malformed {
        say!("  skipped {name}: {why}");
    }
    if report.newly_refused.is_empty() {
        say!("No file Haven has served is refused by them.");
    } else {
        say!("Files Haven has served that are now refused:");
        for line in &report.newly_refused {
            say!("  {line}");
        }
    }
    Ok(0)
}
