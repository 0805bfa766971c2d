//! `haven report …`: reports an assessor can rerun.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use haven_core::caller::Caller;
use haven_core::governance::reports::{access_csv, access_html};

use super::{open_governance, usage};
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum ReportCommand {
    /// Who had access to which asset between two dates (both included), with the request and
    /// decision behind each membership.
    Access {
        /// First day (YYYY-MM-DD).
        #[arg(long)]
        from: String,
        /// Last day (YYYY-MM-DD).
        #[arg(long)]
        to: String,
        #[arg(long)]
        asset: Option<String>,
        /// csv or html.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

impl ReportCommand {
    pub async fn run(self, config: Config) -> Result<i32> {
        let gov = open_governance(config).await?;
        let console = Caller::console();
        match self {
            ReportCommand::Access { from, to, asset, format, output } => {
                if format != "csv" && format != "html" {
                    return usage(format!("--format {format:?}: use csv or html"));
                }
                let rows = match gov.access_report(&console, &from, &to, asset.as_deref()).await {
                    Err(e) => return usage(e),
                    Ok(rows) => rows,
                };
                let text =
                    if format == "csv" { access_csv(&rows)? } else { access_html(&rows, &from, &to, asset.as_deref()) };
                match output {
                    Some(path) => {
                        std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
                        eprintln!("{} membership period(s) written to {}", rows.len(), path.display());
                    }
                    None => print!("{text}"),
                }
            }
        }
        Ok(0)
    }
}
