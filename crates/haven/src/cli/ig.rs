//! `haven ig …`: information governance training records at the console: import a training
//! system's CSV (all rows or none), record one completion, show a person's status.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use haven_core::caller::Caller;
use haven_core::governance::rules::{show_date, show_end_date};

use super::{open_governance, usage};
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum IgCommand {
    /// Import training records from CSV (columns user_id,course,completed[,expires]; dates
    /// YYYY-MM-DD). One bad row refuses the whole file, naming its line (exit 2).
    Import { file: PathBuf },
    /// Record one completed course for a user.
    Record {
        user: String,
        course: String,
        /// Completion date (YYYY-MM-DD).
        completed: String,
        /// Last valid day (YYYY-MM-DD) [default: completion plus governance.training_validity_months].
        #[arg(long, default_value = "")]
        expires: String,
    },
    /// Show a user's training records and Acceptable Use Statement status.
    Show { user: String },
}

impl IgCommand {
    pub async fn run(self, config: Config) -> Result<i32> {
        let gov = open_governance(config).await?;
        let console = Caller::console();
        match self {
            IgCommand::Import { file } => {
                let reader = super::open_csv(&file)?;
                // Read and checked whole before anything is applied; at most MAX_CSV_ROWS rows held.
                let reading = gov.clone();
                let rows = match tokio::task::spawn_blocking(move || reading.read_training_csv(reader)).await? {
                    Err(e) => return usage(e),
                    Ok(rows) => rows,
                };
                match gov.import_training(&console, rows).await {
                    Err(e) => return usage(e),
                    Ok(done) => say!(
                        "Imported {} training record(s) for {} user(s) from {} ({} row(s) recorded already, left alone); {} request(s) that waited for training now wait for a decision.",
                        done.records,
                        done.users,
                        file.display(),
                        done.already_recorded,
                        done.requests_ready
                    ),
                }
            }
            IgCommand::Record { user, course, completed, expires } => {
                match gov.record_training(&console, &user, &course, &completed, &expires).await {
                    Err(e) => return usage(e),
                    Ok(r) => say!(
                        "{user}: {course} completed {}, valid to {}.",
                        show_date(r.completed_us),
                        show_end_date(r.expires_us)
                    ),
                }
            }
            IgCommand::Show { user } => {
                let v = gov.training_view(&console, &user).await?;
                say!("{:<32} {:<10} VALID TO", "COURSE", "COMPLETED");
                for r in &v.records {
                    say!("{:<32} {:<10} {}", r.course, show_date(r.completed_us), show_end_date(r.expires_us));
                }
                if v.missing.is_empty() {
                    say!("Training for membership: current.");
                } else {
                    say!("Training for membership: missing or lapsed: {}", v.missing.join(", "));
                }
                say!(
                    "Acceptable Use Statement: {}",
                    if v.aus_current {
                        format!("version {} accepted", v.aus_version)
                    } else {
                        "not accepted (asked at the next sign-in)".into()
                    }
                );
            }
        }
        Ok(0)
    }
}
