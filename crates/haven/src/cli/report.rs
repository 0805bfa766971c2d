//! `haven report …`: reports an assessor can rerun.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use haven_core::caller::Caller;
use haven_core::governance::reports::{Report, access_csv, access_html};

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
    /// Training status per asset (IAO, IAAs, members) and per staff role, against the courses
    /// each needs.
    Training(TableArgs),
    /// Each active asset's access review: when due, overdue, members still to confirm.
    Reviews(TableArgs),
    /// Compliance items expired, expiring within compliance_warning_days, or not recorded.
    Compliance(TableArgs),
    /// The register: every asset with its owner, classification, dates and datasets.
    Register(TableArgs),
}

#[derive(clap::Args, Debug)]
pub struct TableArgs {
    /// csv or html.
    #[arg(long, default_value = "csv")]
    format: String,
    /// Write to this file instead of standard output.
    #[arg(long)]
    output: Option<PathBuf>,
}

fn write_out(text: String, output: Option<PathBuf>, rows: usize, what: &str) -> Result<()> {
    match output {
        Some(path) => {
            std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
            eprintln!("{rows} {what} written to {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
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
                write_out(text, output, rows.len(), "membership period(s)")?;
            }
            ReportCommand::Training(args) => return table(&gov, &console, Report::Training, args).await,
            ReportCommand::Reviews(args) => return table(&gov, &console, Report::Reviews, args).await,
            ReportCommand::Compliance(args) => return table(&gov, &console, Report::Compliance, args).await,
            ReportCommand::Register(args) => return table(&gov, &console, Report::Register, args).await,
        }
        Ok(0)
    }
}

async fn table(
    gov: &haven_core::governance::Governance,
    console: &Caller,
    report: Report,
    TableArgs { format, output }: TableArgs,
) -> Result<i32> {
    if format != "csv" && format != "html" {
        return usage(format!("--format {format:?}: use csv or html"));
    }
    let table = match gov.report(console, report).await {
        Err(e) => return usage(e),
        Ok(t) => t,
    };
    let text = if format == "csv" { table.csv()? } else { table.html() };
    write_out(text, output, table.rows.len(), "row(s)")?;
    Ok(0)
}
