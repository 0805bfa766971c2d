//! `haven report …`: reports an assessor can rerun.

use std::io::Seek;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use haven_core::caller::Caller;
use haven_core::governance::reports::{AccessQuery, Format, Report};

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
    /// Use of each asset: members now and in the last year, their sign-ins in the last 30 days
    /// and the last year.
    Usage(TableArgs),
    /// For each mandatory SATRE v2 statement software can address: the evidence this Haven
    /// holds, or "no evidence" and why.
    Satre(TableArgs),
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
        None => {
            // As `say`: a reader that goes away (`| head`) ends the output, not with a panic.
            use std::io::Write;
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        }
    }
    Ok(())
}

impl ReportCommand {
    pub async fn run(self, config: Config) -> Result<i32> {
        let gov = open_governance(config).await?;
        let console = Caller::console();
        match self {
            ReportCommand::Access { from, to, asset, format, output } => {
                let Some(format) = Format::parse(&format) else {
                    return usage(format!("--format {format:?}: use csv or html"));
                };
                let query = match AccessQuery::new(&from, &to, asset.as_deref()) {
                    Err(e) => return usage(e),
                    Ok(q) => q,
                };
                access(&gov, &console, query, format, output).await
            }
            ReportCommand::Training(args) => table(&gov, &console, Report::Training, args).await,
            ReportCommand::Reviews(args) => table(&gov, &console, Report::Reviews, args).await,
            ReportCommand::Compliance(args) => table(&gov, &console, Report::Compliance, args).await,
            ReportCommand::Register(args) => table(&gov, &console, Report::Register, args).await,
            ReportCommand::Usage(args) => table(&gov, &console, Report::Usage, args).await,
            ReportCommand::Satre(args) => table(&gov, &console, Report::Satre, args).await,
        }
    }
}

/// The access report, streamed as its rows are read: to standard output, or to `output` through
/// a part file renamed into place once complete (never a half-written report under its name).
async fn access(
    gov: &haven_core::governance::Governance,
    console: &Caller,
    query: AccessQuery,
    format: Format,
    output: Option<PathBuf>,
) -> Result<i32> {
    let Some(path) = output else {
        // Through an unnamed temporary file (mode 0600, gone when closed): the report is read
        // in one database transaction, which a pager stopped mid-page (`| less`) must not hold
        // open; memory stays flat however many rows there are.
        let spool = tempfile::tempfile().context("make a temporary file for the report")?;
        return match gov.write_access_report(console, query, format, std::io::BufWriter::new(spool)).await {
            Err(e) => usage(e),
            Ok((out, _)) => {
                let mut spool = out.into_inner().map_err(|e| e.into_error()).context("write the report")?;
                spool.seek(std::io::SeekFrom::Start(0)).context("read the report back")?;
                match std::io::copy(&mut spool, &mut std::io::stdout().lock()) {
                    // `| head` has what it wanted.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
                    Err(e) => Err(anyhow::Error::new(e).context("write the report")),
                    Ok(_) => Ok(0),
                }
            }
        };
    };
    let mut part_name = path.file_name().unwrap_or_default().to_os_string();
    part_name.push(".part");
    let part = path.with_file_name(part_name);
    // create_new: never follow a planted link, never clobber another run's part file.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&part)
        .with_context(|| format!("write {} (remove it if a previous run left it)", part.display()))?;
    match gov.write_access_report(console, query, format, std::io::BufWriter::new(file)).await {
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            usage(e)
        }
        Ok((out, rows)) => {
            let file =
                out.into_inner().map_err(|e| e.into_error()).with_context(|| format!("write {}", part.display()))?;
            file.sync_all().with_context(|| format!("write {}", part.display()))?;
            std::fs::rename(&part, &path).with_context(|| format!("write {}", path.display()))?;
            eprintln!("{rows} membership period(s) written to {}", path.display());
            Ok(0)
        }
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
