//! `haven sessions …`: everyone's sessions, for the service desk at the console: list them, and
//! stop one (the serving Haven ends its programs within 15 seconds: it sweeps the records).

use anyhow::Result;
use clap::Subcommand;
use haven_core::caller::Caller;
use haven_core::governance::rules::show_date;

use super::{say, usage};
use crate::app::{self, Mode};
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum SessionsCommand {
    /// Every session, running first, then the latest ended.
    List,
    /// Stop a session (audited); its drives keep what it saved.
    Stop {
        /// The session's id (from `haven sessions list`).
        id: String,
    },
}

impl SessionsCommand {
    pub async fn run(self, config: Config) -> Result<i32> {
        let public_url = config.console_url();
        let app = app::open(config, Mode::Existing).await?;
        let sessions = app.sessions(&public_url).await?;
        let console = Caller::console();
        match self {
            SessionsCommand::List => {
                let all = match sessions.list(&console, true).await {
                    Ok(a) => a,
                    Err(e) => return usage(e),
                };
                if all.is_empty() {
                    say("No sessions yet.");
                }
                for s in all {
                    let state = if s.running() {
                        "running".to_string()
                    } else {
                        format!("ended {} ({})", show_date(s.ended_us), s.end_reason)
                    };
                    say(format!(
                        "{}  {:<12} {:<12} {}@{}  uid {} gid {}  started {}  {state}",
                        s.id,
                        s.owner,
                        s.asset,
                        s.app_name,
                        s.app_version,
                        s.uid,
                        s.gid,
                        show_date(s.started_us)
                    ));
                }
                Ok(0)
            }
            SessionsCommand::Stop { id } => match sessions.stop(&console, &id).await {
                Ok(s) => {
                    say(format!(
                        "Session {} of {} ({}@{} on {}) is stopped: {}. Haven ends its programs within 15 seconds.",
                        s.id, s.owner, s.app_name, s.app_version, s.asset, s.end_reason
                    ));
                    Ok(0)
                }
                Err(e) => usage(e),
            },
        }
    }
}
