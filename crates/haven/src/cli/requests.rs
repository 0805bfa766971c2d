//! `haven requests …`: access requests at the console: list them and decide one.

use anyhow::Result;
use clap::Subcommand;
use haven_core::caller::Caller;
use haven_core::governance::records::RequestStatus;
use haven_core::governance::rules::show_date;

use super::{open_governance, usage};
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum RequestsCommand {
    /// List access requests (all, or of one asset or status).
    List {
        #[arg(long)]
        asset: Option<String>,
        /// pending, awaiting_training, approved or rejected.
        #[arg(long)]
        status: Option<String>,
    },
    /// Approve or reject a request, with a reason. Approval provisions at once.
    Decide {
        id: i64,
        /// approve or reject.
        decision: String,
        #[arg(long)]
        reason: String,
    },
}

impl RequestsCommand {
    pub async fn run(self, config: Config) -> Result<i32> {
        let gov = open_governance(config).await?;
        let console = Caller::console();
        match self {
            RequestsCommand::List { asset, status } => {
                let status = match status.as_deref().map(|s| (s, RequestStatus::parse(s))) {
                    None => None,
                    Some((_, Some(s))) => Some(s),
                    Some((s, None)) => {
                        return usage(format!("--status {s:?}: use one of {}", RequestStatus::names()));
                    }
                };
                let list = match gov.requests(&console, asset.as_deref(), status).await {
                    Err(e) => return usage(e),
                    Ok(l) => l,
                };
                println!(
                    "{:<6} {:<20} {:<11} {:<20} {:<13} {:<17} {:<12} JUSTIFICATION",
                    "ID", "ASSET", "KIND", "PERSON", "ROLE", "STATUS", "BY"
                );
                for r in &list {
                    let person = if r.new_person() { format!("{} (new)", r.subject) } else { r.subject.clone() };
                    println!(
                        "{:<6} {:<20} {:<11} {:<20} {:<13} {:<17} {:<12} {}",
                        r.id,
                        r.asset,
                        r.kind.as_str(),
                        person,
                        r.role.as_str(),
                        r.status.as_str(),
                        r.requested_by,
                        r.justification.replace('\n', " ")
                    );
                }
                println!("{} request(s)", list.len());
            }
            RequestsCommand::Decide { id, decision, reason } => {
                let approve = match decision.as_str() {
                    "approve" => true,
                    "reject" => false,
                    other => return usage(format!("{other:?} is not a decision: use approve or reject")),
                };
                let decided = match gov.decide(&console, id, approve, &reason).await {
                    Err(haven_core::CoreError::NotFound) => return usage(format!("there is no request #{id}")),
                    Err(e) => return usage(e),
                    Ok(d) => d,
                };
                let r = &decided.request;
                println!("Request #{id} {} on {}.", r.status.as_str(), show_date(r.decided_us));
                if let Some(link) = &decided.onboarding_link {
                    println!(
                        "Account {} created; onboarding link (single use; also emailed to {}):",
                        r.subject, r.new_email
                    );
                    println!("  {}", link.as_str());
                }
            }
        }
        Ok(0)
    }
}
