//! `haven assets …`: the asset register at the console, through the same use cases as the
//! governance pages, audited as `console`.

use anyhow::Result;
use clap::Subcommand;
use haven_core::caller::Caller;
use haven_core::governance::assets::NewAsset;
use haven_core::governance::records::{Classification, Closure, ComplianceKind};
use haven_core::governance::rules::{show_date, show_end_date};

use super::{open_governance, usage};
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum AssetsCommand {
    /// Register an information asset; its IAO must hold the staff role.
    Create {
        name: String,
        /// The Information Asset Owner's user id.
        #[arg(long)]
        iao: String,
        /// The IG case reference, e.g. IG/00999.
        #[arg(long)]
        ig_ref: String,
        /// identifiable, pseudonymised or anonymised.
        #[arg(long)]
        classification: String,
        #[arg(long, default_value = "")]
        description: String,
        /// First day (YYYY-MM-DD) [default: today].
        #[arg(long, default_value = "")]
        starts: String,
        /// Last day (YYYY-MM-DD) [default: none].
        #[arg(long, default_value = "")]
        ends: String,
    },
    /// List every asset.
    List,
    /// Show an asset: IAO, IAAs, members, compliance record, storage areas, open requests.
    Show { name: String },
    /// Close an asset: end every membership and archive its data or destroy its key (shred).
    Close {
        name: String,
        /// archive or shred, as the IAO chose.
        #[arg(long)]
        closure: String,
        #[arg(long)]
        reason: String,
    },
    /// Nominate or remove an Information Asset Administrator.
    Iaa {
        #[command(subcommand)]
        command: IaaCommand,
    },
    /// Record or renew an item of the compliance record (agreement, ethics, dpia, funding).
    Compliance {
        name: String,
        kind: String,
        reference: String,
        /// Last day it is valid (YYYY-MM-DD).
        #[arg(long)]
        expires: String,
    },
    /// Import memberships from CSV (columns asset,user_id,role,ends; ends is the last day,
    /// YYYY-MM-DD), as when moving from another system: every row or none; a bad row is named by
    /// its line (exit 2). The access report shows them as "imported", with no request behind.
    ImportMembers { file: std::path::PathBuf },
    /// Run the lifecycle jobs once now (end dates, accounts without access, compliance and
    /// training reminders, overdue reviews); `haven serve` runs them hourly.
    RunJobs,
}

#[derive(Subcommand, Debug)]
pub enum IaaCommand {
    Add { name: String, user: String },
    Remove { name: String, user: String },
}

impl AssetsCommand {
    pub async fn run(self, config: Config) -> Result<i32> {
        let gov = open_governance(config).await?;
        let console = Caller::console();
        match self {
            AssetsCommand::Create { name, iao, ig_ref, classification, description, starts, ends } => {
                let Some(classification) = Classification::parse(&classification) else {
                    return usage(format!("--classification: use one of {}", Classification::names()));
                };
                let new = NewAsset { name, iao, ig_ref, classification, description, starts, ends };
                let asset = match gov.create_asset(&console, new).await {
                    Err(e) => return usage(e),
                    Ok(a) => a,
                };
                say!(
                    "Asset {} registered ({}, {}), IAO {}; its project key and storage areas (shared, arrivals, outputs) are made.",
                    asset.name,
                    asset.ig_ref,
                    asset.classification.as_str(),
                    asset.iao
                );
                say!("First access review due {}.", show_date(asset.review_due_us));
            }
            AssetsCommand::ImportMembers { file } => {
                let reader = super::open_csv(&file)?;
                let reading = gov.clone();
                let parsed = tokio::task::spawn_blocking(move || reading.read_members_csv(reader)).await?;
                let rows = match parsed {
                    Err(e) => return usage(e),
                    Ok(rows) => rows,
                };
                match gov.import_memberships(&console, rows).await {
                    Err(e) => return usage(e),
                    Ok(done) => say!(
                        "Imported {} membership(s) of {} asset(s) from {}.",
                        done.memberships,
                        done.assets,
                        file.display()
                    ),
                }
            }
            AssetsCommand::List => {
                let assets = gov.register(&console).await?;
                say!(
                    "{:<24} {:<10} {:<14} {:<8} {:<16} {:<10} REVIEW DUE",
                    "NAME",
                    "IG REF",
                    "CLASS",
                    "STATUS",
                    "IAO",
                    "ENDS"
                );
                for a in &assets {
                    say!(
                        "{:<24} {:<10} {:<14} {:<8} {:<16} {:<10} {}",
                        a.name,
                        a.ig_ref,
                        a.classification.as_str(),
                        a.status.as_str(),
                        a.iao,
                        show_end_date(a.ends_us),
                        show_date(a.review_due_us)
                    );
                }
                say!("{} asset(s)", assets.len());
            }
            AssetsCommand::Show { name } => {
                let v = match gov.asset_view(&console, &name).await {
                    Err(haven_core::CoreError::NotFound) => return usage(format!("there is no asset {name}")),
                    other => other?,
                };
                let a = &v.asset;
                say!("Asset:          {}", a.name);
                say!("IG reference:   {}", a.ig_ref);
                say!("Classification: {}", a.classification.as_str());
                say!(
                    "Status:         {}{}",
                    a.status.as_str(),
                    a.closure.map(|c| format!(" ({})", c.as_str())).unwrap_or_default()
                );
                say!("Dates:          {} to {}", show_date(a.starts_us), show_end_date(a.ends_us));
                say!("IAO:            {}", a.iao);
                let iaas: Vec<&str> = v.admins.iter().map(|x| x.user_id.as_str()).collect();
                say!("IAAs:           {}", if iaas.is_empty() { "none".into() } else { iaas.join(", ") });
                say!("Review due:     {}", show_date(a.review_due_us));
                say!("Storage areas:  {}", v.areas.iter().map(|s| s.prefix.as_str()).collect::<Vec<_>>().join(" "));
                say!("Compliance:");
                for c in &v.compliance {
                    say!("  {:<10} {:<32} expires {}", c.kind.as_str(), c.reference, show_end_date(c.expires_us));
                }
                say!("Members:");
                for m in &v.members {
                    let flag = if m.suspended {
                        " (suspended: review missed)"
                    } else if m.flagged_us != 0 {
                        " (review missed)"
                    } else {
                        ""
                    };
                    say!("  {:<24} {:<13} until {}{flag}", m.user_id, m.role.as_str(), show_end_date(m.ends_us));
                }
                say!("Open requests:");
                for r in &v.open_requests {
                    say!(
                        "  #{:<6} {:<11} {:<24} {} by {}",
                        r.id,
                        r.kind.as_str(),
                        r.subject,
                        r.status.as_str(),
                        r.requested_by
                    );
                }
            }
            AssetsCommand::Close { name, closure, reason } => {
                let Some(closure) = Closure::parse(&closure) else {
                    return usage(format!("--closure: use one of {}", Closure::names()));
                };
                let done = match gov.close_asset(&console, &name, closure, &reason).await {
                    Err(e) => return usage(e),
                    Ok(d) => d,
                };
                say!(
                    "{name} closed ({}): {} membership(s) ended, {} open request(s) rejected, {} key version(s) destroyed.",
                    closure.as_str(),
                    done.memberships_ended,
                    done.requests_rejected,
                    done.keys_destroyed
                );
                if closure == Closure::Shred {
                    if done.drives_erased {
                        say!("Its drives (S: and outputs) were erased.");
                    } else {
                        say!(
                            "Its drives (S: and outputs) could not be erased now (see the log); the next lifecycle run tries again."
                        );
                    }
                }
            }
            AssetsCommand::Iaa { command } => {
                let (name, user, on) = match command {
                    IaaCommand::Add { name, user } => (name, user, true),
                    IaaCommand::Remove { name, user } => (name, user, false),
                };
                let changed = match gov.set_iaa(&console, &name, &user, on).await {
                    Err(e) => return usage(e),
                    Ok(c) => c,
                };
                match (on, changed) {
                    (true, true) => say!("{user} is now an IAA of {name}."),
                    (false, true) => say!("{user} is no longer an IAA of {name}."),
                    (true, false) => say!("{user} was an IAA of {name} already; nothing changed."),
                    (false, false) => say!("{user} was not an IAA of {name}; nothing changed."),
                }
            }
            AssetsCommand::Compliance { name, kind, reference, expires } => {
                let Some(kind) = ComplianceKind::parse(&kind) else {
                    return usage(format!("KIND: use one of {}", ComplianceKind::names()));
                };
                match gov.set_compliance(&console, &name, kind, &reference, &expires).await {
                    Err(e) => return usage(e),
                    Ok(item) => say!(
                        "{name}: {} {} recorded, valid to {}.",
                        kind.label(),
                        item.reference,
                        show_end_date(item.expires_us)
                    ),
                }
            }
            AssetsCommand::RunJobs => {
                let run = gov.run_lifecycle().await?;
                say!(
                    "memberships ended: {}, accounts disabled: {}, compliance items flagged: {}, training reminders: {}, members flagged for review: {}",
                    run.memberships_ended,
                    run.accounts_disabled,
                    run.compliance_flagged,
                    run.training_reminders,
                    run.reviews_flagged
                );
            }
        }
        Ok(0)
    }
}
