//! The command line: one file per command group, each with its clap enum beside the code that
//! runs it. Exit codes: 0 success, 1 the command failed (port in use, broken audit trail…), 2 bad
//! usage or configuration.

/// `println!` that survives a reader going away (`| head`): see [`say`].
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::say(format_args!($($arg)*))
    };
}

mod admin;
mod apps;
mod assets;
mod audit;
mod backup;
mod config;
mod egress;
mod ig;
mod jobs;
mod mail;
mod packages;
mod report;
mod requests;
mod sandbox;
mod sessions;
mod tokens;
mod transfer;
mod updates;
mod upload;
mod users;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use anyhow::{Context, Result};
use haven_core::CoreError;
use haven_core::governance::Governance;
use haven_core::identity::Identity;
use std::sync::Arc;

pub use admin::AdminCommand;
pub use apps::AppsCommand;
pub use assets::AssetsCommand;
pub use audit::AuditCommand;
pub use config::ConfigCommand;
pub use egress::EgressCommand;
pub use ig::IgCommand;
pub use jobs::JobsCommand;
pub use mail::MailCommand;
pub use packages::PackagesCommand;
pub use report::ReportCommand;
pub use requests::RequestsCommand;
pub use sandbox::SandboxCommand;
pub use sessions::SessionsCommand;
pub use tokens::TokensCommand;
pub use transfer::TransferCommand;
pub use updates::UpdatesCommand;
pub use upload::Upload;
pub use users::UsersCommand;

use crate::app::{self, Mode};
use crate::config::{Config, LogFormat, Overrides};

#[derive(Parser, Debug)]
#[command(name = "haven", version, about = "Haven, an open-source Data Safe Haven", propagate_version = true)]
pub struct Cli {
    /// Log format (overrides log.format).
    #[arg(long, global = true, value_enum, env = "HAVEN_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Configuration file (TOML).
    #[arg(long, global = true, env = "HAVEN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory [default: ./haven-data].
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run Haven: the portals over HTTPS, on SQLite and a local data directory unless configured otherwise.
    Serve {
        /// Address to listen on [default: 127.0.0.1:8443].
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Service updates shown on the home page and in the Atom feed.
    Updates {
        #[command(subcommand)]
        command: UpdatesCommand,
    },
    /// Service-desk administration.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Accounts (the service desk on the command line).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Hardware OTP tokens.
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Email Haven has sent.
    Mail {
        #[command(subcommand)]
        command: MailCommand,
    },
    /// The curated package repository: policy rules and checks.
    Packages {
        #[command(subcommand)]
        command: PackagesCommand,
    },
    /// Information assets: register, IAAs, compliance record, closure, lifecycle jobs.
    Assets {
        #[command(subcommand)]
        command: AssetsCommand,
    },
    /// Information governance training records and the Acceptable Use Statement.
    Ig {
        #[command(subcommand)]
        command: IgCommand,
    },
    /// Access requests: list and decide.
    Requests {
        #[command(subcommand)]
        command: RequestsCommand,
    },
    /// Reports for the service desk, auditors and assessors.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// File Transfer: drop-off links, arrivals, accepting and rejecting them.
    Transfer {
        #[command(subcommand)]
        command: TransferCommand,
    },
    /// The application catalogue: versions side by side, and defaults per file type.
    Apps {
        #[command(subcommand)]
        command: AppsCommand,
    },
    /// Sessions: list everyone's, stop one.
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// Batch jobs: submit a script in a member's name, follow it, read its log, cancel it.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Egress: the automated disclosure and identifier checks on files (`haven egress check`).
    Egress {
        #[command(subcommand)]
        command: EgressCommand,
    },
    /// The session sandbox: which isolation this host offers (`haven sandbox check`).
    Sandbox {
        #[command(subcommand)]
        command: SandboxCommand,
    },
    /// Copy the embedded database, the sealed objects and (encrypted) the keys into a new
    /// directory, online and consistent.
    Backup(backup::Backup),
    /// Restore a backup into a new --data-dir, checking the keys, the audit chain and every
    /// object before it becomes the data directory.
    Restore(backup::Restore),
    /// Send files into Haven: into an asset (HAVEN_TOKEN, --url) or through a drop-off link.
    /// Resumes, shows progress, and checks the SHA-256 end to end.
    Upload(Upload),
}

impl Cli {
    pub fn load_config(&self) -> Result<Config, crate::config::ConfigError> {
        let common = self.common.clone();
        let listen = match &self.command {
            Command::Serve { listen, .. } => *listen,
            _ => None,
        };
        let env: Vec<(String, String)> = std::env::vars().collect();
        crate::config::load(common.config.as_deref(), &env, &Overrides { data_dir: common.data_dir, listen })
    }
}

impl Command {
    /// Run the command (`config check` is answered before, without a runtime).
    pub async fn run(self, config: Config) -> Result<i32> {
        match self {
            Command::Serve { .. } => crate::serve::run(config).await.map(|_| 0),
            Command::Config { .. } => Ok(0),
            Command::Audit { command } => command.run(config).await,
            Command::Updates { command } => command.run(config).await,
            Command::Admin { command } => command.run(config).await,
            Command::Users { command } => command.run(config).await,
            Command::Tokens { command } => command.run(config).await,
            Command::Mail { command } => command.run(&config),
            Command::Packages { command } => command.run(config).await,
            Command::Assets { command } => command.run(config).await,
            Command::Ig { command } => command.run(config).await,
            Command::Requests { command } => command.run(config).await,
            Command::Report { command } => command.run(config).await,
            Command::Transfer { command } => command.run(config).await,
            Command::Apps { command } => command.run(config).await,
            Command::Sessions { command } => command.run(config).await,
            Command::Jobs { command } => command.run(config).await,
            Command::Sandbox { command } => command.run().await,
            Command::Egress { command } => command.run(config).await,
            Command::Upload(upload) => upload.run().await,
            Command::Backup(backup) => backup.run(config).await,
            Command::Restore(restore) => restore.run(config).await,
        }
    }
}

/// The governance use cases, for the asset, IG, request and report commands.
async fn open_governance(config: Config) -> Result<Arc<Governance>> {
    let public_url = config.console_url();
    let app = app::open(config, Mode::Existing).await?;
    app.governance(&public_url).await
}

/// What a command refuses: a message of its own, or a use case's refusal.
enum Refusal {
    Message(String),
    Core(CoreError),
}

impl From<String> for Refusal {
    fn from(m: String) -> Self {
        Refusal::Message(m)
    }
}

impl From<CoreError> for Refusal {
    fn from(e: CoreError) -> Self {
        Refusal::Core(e)
    }
}

/// Bad input (a malformed value, a refused or impossible request): print why and exit 2, as
/// for a usage error. Anything else (the database failed) stays an error: exit 1.
fn usage(refusal: impl Into<Refusal>) -> Result<i32> {
    match refusal.into() {
        Refusal::Message(m) => eprintln!("haven: {m}"),
        Refusal::Core(
            e @ (CoreError::Invalid { .. }
            | CoreError::Conflict(_)
            | CoreError::NotFound
            | CoreError::Forbidden
            | CoreError::Refused(_)),
        ) => eprintln!("haven: {e}"),
        Refusal::Core(e) => return Err(e.into()),
    }
    Ok(2)
}

/// Print `text` and a newline to standard output. A reader that went away (`| head`) is not an
/// error, and is not a panic as `println!` would make it.
pub(crate) fn say(text: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// The identity use cases, for the service desk's commands.
/// A CSV file to import, buffered.
fn open_csv(file: &std::path::Path) -> Result<std::io::BufReader<std::fs::File>> {
    let f = std::fs::File::open(file).with_context(|| format!("open {}", file.display()))?;
    Ok(std::io::BufReader::new(f))
}

async fn open_identity(config: Config) -> Result<Arc<Identity>> {
    let public_url = config.console_url();
    let app = app::open(config, Mode::Existing).await?;
    app.identity(&public_url).await
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap checks the whole command tree (clashing names, say) only when asked.
    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
