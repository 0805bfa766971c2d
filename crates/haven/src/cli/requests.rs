//! `haven requests …`: access requests at the console: list them and decide one.

use anyhow::Result;
use clap::Subcommand;
use haven_core::caller::Caller;
use haven_core::governance::records::RequestStatus;
use haven_core::governance::requests::PAGE;
use haven_core::governance::rules::show_date;
use haven_core::governance::store::Paging;

use super::{open_governance, usage};
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum RequestsCommand {
    /// List access requests, newest first (all, or of one asset or status), a page at a time.
    List {
        #[arg(long)]
        asset: Option<String>,
        /// pending, awaiting_training, approved or rejected.
        #[arg(long)]
        status: Option<String>,
        /// Only requests older than this id (the next page, as the last line says).
        #[arg(long)]
        before: Option<i64>,
        /// At most this many (1 to 1000).
        #[arg(long, default_value_t = PAGE)]
        limit: i64,
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
            RequestsCommand::List { asset, status, before, limit } => {
                let status = match status.as_deref().map(|s| (s, RequestStatus::parse(s))) {
                    None => None,
                    Some((_, Some(s))) => Some(s),
                    Some((s, None)) => {
                        return usage(format!("--status {s:?}: use one of {}", RequestStatus::names()));
                    }
                };
                let page = Paging::Newest { before: before.unwrap_or(0).max(0), limit };
                let (list, next) = match gov.requests(&console, asset.as_deref(), status, page).await {
                    Err(e) => return usage(e),
                    Ok(l) => (l.requests, l.next),
                };
                say!(
                    "{:<6} {:<20} {:<11} {:<20} {:<13} {:<17} {:<12} JUSTIFICATION",
                    "ID",
                    "ASSET",
                    "KIND",
                    "PERSON",
                    "ROLE",
                    "STATUS",
                    "BY"
                );
                for r in &list {
                    let person = if r.new_person() { format!("{} (new)", r.subject) } else { r.subject.clone() };
                    say!(
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
                match next {
                    Some(n) => say!("{} request(s); older ones: add --before {n}", list.len()),
                    None => say!("{} request(s)", list.len()),
                }
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
                say!("Request #{id} {} on {}.", r.status.as_str(), show_date(r.decided_us));
                if let Some(link) = &decided.onboarding_link {
                    say!(
                        "Account {} created; onboarding link (single use; also emailed to {}):",
                        r.subject,
                        r.new_email
                    );
                    say!("  {}", link.as_str());
                }
            }
        }
        Ok(0)
    }
}
