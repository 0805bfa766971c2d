//! `haven jobs …`: batch jobs at the console. `submit` queues a script in a member's name (the
//! serving Haven runs it within seconds); `status`, `logs`, `list` and `cancel` follow it.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Subcommand;
use haven_core::caller::Caller;
use haven_core::governance::rules::show_date;
use haven_core::workspaces::jobs::{JobRecord, JobState, LOG_BYTES, SCRIPT_BYTES};

use super::{say, usage};
use crate::app::{self, Mode};
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum JobsCommand {
    /// Queue SCRIPT to run with an application of the catalogue on an asset's data, as a
    /// member (it runs as them, in the sandbox a session of theirs would have).
    Submit {
        /// The asset whose drives it works on.
        #[arg(long)]
        asset: String,
        /// NAME or NAME@VERSION from the catalogue (`haven apps list`); the script is its input,
        /// as in `R --no-save < SCRIPT`.
        #[arg(long)]
        app: String,
        /// The member it runs as (their user id).
        #[arg(long = "as")]
        as_user: String,
        /// Wait for it to end, showing its state, then print its log; exit 0 only if it succeeded.
        #[arg(long)]
        wait: bool,
        /// The script (text, at most 256 KiB).
        script: PathBuf,
    },
    /// A job's state, exit status and times.
    Status { id: String },
    /// What a job printed (audited: the log is the data's).
    Logs { id: String },
    /// Every job, queued and running first, then the latest ended.
    List,
    /// Cancel a queued or running job (audited); what it wrote to the drives stays.
    Cancel { id: String },
}

fn describe(j: &JobRecord) -> String {
    let when = match j.state {
        JobState::Queued => format!("queued {}", show_date(j.submitted_us)),
        JobState::Running => format!("running since {}", show_date(j.started_us)),
        _ => format!("{} {} ({})", j.state.as_str(), show_date(j.ended_us), j.end_reason),
    };
    format!("{}  {:<12} {:<12} {}@{}  {}  {when}", j.id, j.owner, j.asset, j.app_name, j.app_version, j.script_name)
}

impl JobsCommand {
    pub async fn run(self, config: Config) -> Result<i32> {
        let public_url = config.console_url();
        let app = app::open(config, Mode::Existing).await?;
        let jobs = app.sessions(&public_url).await?;
        let console = Caller::console();
        match self {
            JobsCommand::Submit { asset, app: app_spec, as_user, wait, script } => {
                let Some(who) = haven_core::updates::console_as(app.store.as_ref(), &as_user).await? else {
                    return usage(format!(
                        "there is no user {as_user:?}; give --as the user id of a member of {asset}"
                    ));
                };
                let mut text = Vec::new();
                std::fs::File::open(&script)
                    .with_context(|| format!("open {}", script.display()))?
                    .take(SCRIPT_BYTES as u64 + 1)
                    .read_to_end(&mut text)
                    .with_context(|| format!("read {}", script.display()))?;
                let name = script.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let job = match jobs.submit_job(&who, &asset, &app_spec, &name, text).await {
                    Ok(j) => j,
                    Err(e) => return usage(e),
                };
                say(format!(
                    "Job {} is queued: {} runs {}@{} on {} as {}. The serving Haven starts it within seconds; \
                     follow it with `haven jobs status {}` and `haven jobs logs {}`.",
                    job.id, job.script_name, job.app_name, job.app_version, job.asset, job.owner, job.id, job.id
                ));
                if !wait {
                    return Ok(0);
                }
                let mut shown = JobState::Queued;
                let ended = loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let j = match jobs.job(&console, &job.id).await {
                        Ok(j) => j,
                        Err(e) => return usage(e),
                    };
                    if j.state != shown {
                        shown = j.state;
                        say(describe(&j));
                    }
                    if j.state.finished() {
                        break j;
                    }
                };
                print_log(&jobs, &console, &ended.id).await?;
                Ok(if ended.state == JobState::Succeeded { 0 } else { 1 })
            }
            JobsCommand::Status { id } => match jobs.job(&console, &id).await {
                Ok(j) => {
                    say(describe(&j));
                    if let Some(code) = j.exit_code {
                        say(format!("exit status {code}"));
                    }
                    say(format!("submitted by {} {}", j.submitted_by, show_date(j.submitted_us)));
                    Ok(0)
                }
                Err(e) => usage(e),
            },
            JobsCommand::Logs { id } => print_log(&jobs, &console, &id).await,
            JobsCommand::List => {
                let all = match jobs.jobs(&console, true).await {
                    Ok(a) => a,
                    Err(e) => return usage(e),
                };
                if all.is_empty() {
                    say("No jobs yet.");
                }
                for j in all {
                    say(describe(&j));
                }
                Ok(0)
            }
            JobsCommand::Cancel { id } => match jobs.cancel_job(&console, &id).await {
                Ok(j) => {
                    say(format!(
                        "{}. A running job's programs end within seconds; what it wrote to the drives stays.",
                        describe(&j)
                    ));
                    Ok(0)
                }
                Err(e) => usage(e),
            },
        }
    }
}

/// The whole log to standard output (a log keeps at most 16 MiB).
async fn print_log(jobs: &haven_core::workspaces::sessions::Sessions, console: &Caller, id: &str) -> Result<i32> {
    match jobs.job_log(console, id, LOG_BYTES + 4096).await {
        Ok(log) => {
            let mut out = std::io::stdout().lock();
            match out.write_all(&log.text).and_then(|()| out.flush()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                _ => {}
            }
            Ok(0)
        }
        Err(e) => usage(e),
    }
}
