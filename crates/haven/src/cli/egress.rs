//! `haven egress …`: the way out of the garden. `haven egress check FILE…` runs the automated
//! checks on files outside any request, so that a checker or a script can try a table first:
//! each finding with its rule, the rule set's version, where it is and its verdict. With
//! `--records`, each file is the records behind a table, and Haven builds the table itself (rows,
//! columns, and a summed column for a table of magnitudes) and checks every cell.
//!
//! Exit status: 0 when every file passes, 1 when any fails (or cannot be read), 3 when none fails
//! but some need a person's review.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use haven_core::egress::checks::{FileReport, Thresholds, Verdict, check, check_records};
use haven_core::egress::records::TableSpec;
use indicatif::{ProgressBar, ProgressStyle};

use super::say;
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum EgressCommand {
    /// Run the automated checks on files (tables, text, images) and print each finding; exit 0
    /// when all pass, 1 when any fails, 3 when some need review.
    Check(CheckArgs),
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Files to check.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// One JSON object per file instead of text.
    #[arg(long)]
    json: bool,
    /// The files are records (CSV, one row per person or event): build the table --rows ×
    /// --columns from them and check its cells.
    #[arg(long, requires = "rows")]
    records: bool,
    /// The records' column that makes the table's rows.
    #[arg(long, requires = "records")]
    rows: Option<String>,
    /// The records' column that makes the table's columns.
    #[arg(long, requires = "records")]
    columns: Option<String>,
    /// The records' column summed per cell (a table of magnitudes: dominance and p-ratio apply).
    #[arg(long, requires = "records")]
    values: Option<String>,
}

impl EgressCommand {
    pub fn run(self, config: &Config) -> i32 {
        match self {
            EgressCommand::Check(args) => check_files(args, &config.egress.checks),
        }
    }
}

fn check_files(args: CheckArgs, t: &Thresholds) -> i32 {
    let spec = args.rows.clone().filter(|_| args.records).map(|rows| TableSpec {
        rows,
        columns: args.columns.clone(),
        values: args.values.clone(),
    });
    let mut worst = Verdict::Pass;
    for path in &args.files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let report = std::fs::File::open(path).and_then(|file| {
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            let bar = progress(size, &name);
            let source = bar.wrap_read(file);
            let report = match &spec {
                Some(spec) => check_records(&name, source, spec, t).map(|(r, _)| r),
                None => check(&name, source, t),
            };
            bar.finish_and_clear();
            report
        });
        match report {
            Ok(report) => {
                worst = worst.max(report.verdict);
                if args.json {
                    say(serde_json::to_string(&report).unwrap_or_default());
                } else {
                    print(path, &report);
                }
            }
            Err(e) => {
                worst = Verdict::Fail;
                eprintln!("{}: cannot be read: {e}", path.display());
            }
        }
    }
    match worst {
        Verdict::Pass => 0,
        Verdict::Fail => 1,
        Verdict::Review => 3,
    }
}

/// A bar on a terminal for files that take a while (nothing otherwise).
fn progress(size: u64, name: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() || size < (64 << 20) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(size);
    let style =
        ProgressStyle::with_template("checking {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}, {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(name.to_string());
    bar
}

fn print(path: &std::path::Path, r: &FileReport) {
    let hash = r.sha256.as_deref().map(|h| format!(", sha256 {}", &h[..16])).unwrap_or_default();
    say(format!(
        "{}: {} ({}, {} bytes{hash}; rules {})",
        path.display(),
        r.verdict.as_str().to_uppercase(),
        r.kind.as_str(),
        r.bytes,
        r.ruleset
    ));
    for f in &r.findings {
        let mut at = Vec::new();
        if let Some(row) = f.row {
            at.push(format!("row {row}"));
        }
        match &f.column {
            Some(cell) if cell.contains(" × ") => at.push(format!("cell {cell}")),
            Some(column) => at.push(format!("column {column}")),
            None => {}
        }
        let at = if at.is_empty() { String::new() } else { format!(" at {}", at.join(", ")) };
        say(format!("  {:<6} {}{at}: {}", f.verdict.as_str(), f.rule, f.detail));
    }
    if r.more_findings > 0 {
        say(format!("  … and {} more findings", r.more_findings));
    }
}
