//! The command line. Exit codes: 0 success, 1 the command failed (port in use, broken audit
//! trail…), 2 bad usage or configuration.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{self, Config, LogFormat, Overrides};

#[derive(Parser, Debug)]
#[command(name = "haven", version, about = "Haven, an open-source Data Safe Haven", propagate_version = true)]
pub struct Cli {
    /// Log format (overrides log.format).
    #[arg(long, global = true, value_enum, env = "HAVEN_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Configuration file (TOML).
    #[arg(long, env = "HAVEN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory [default: ./haven-data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run Haven: the portals over HTTPS, on SQLite and a local data directory unless configured otherwise.
    Serve {
        #[command(flatten)]
        common: Common,
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
}

#[derive(Subcommand, Debug)]
pub enum PackagesCommand {
    /// Allow a package (all versions, or those matching SPEC: PEP 440 for PyPI, `>= 1.2, < 2` for CRAN).
    Allow {
        #[command(flatten)]
        common: Common,
        /// pypi, cran or conda.
        ecosystem: String,
        name: String,
        spec: Option<String>,
        /// Offer matching versions before the cooldown ends (an urgent fix).
        #[arg(long)]
        skip_cooldown: bool,
        /// Why (kept with the rule and in the audit trail).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Deny a package (all versions, or those matching SPEC). Deny rules win over allow rules.
    Deny {
        #[command(flatten)]
        common: Common,
        ecosystem: String,
        name: String,
        spec: Option<String>,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Remove allow or deny rules for a package (those with SPEC only, when given).
    Remove {
        #[command(flatten)]
        common: Common,
        /// allow or deny.
        kind: String,
        ecosystem: String,
        name: String,
        spec: Option<String>,
    },
    /// Print the policy: mode, cooldown, size limit, upstream and every rule.
    Policy {
        #[command(flatten)]
        common: Common,
        /// Only this ecosystem.
        ecosystem: Option<String>,
    },
    /// Ask the upstream for a package and say, per file, whether Haven offers it and why not.
    Check {
        #[command(flatten)]
        common: Common,
        ecosystem: String,
        name: String,
        /// Only this version.
        #[arg(value_name = "VERSION")]
        only_version: Option<String>,
        /// conda: the channel and subdir to look in.
        #[arg(long, default_value = "noarch")]
        subdir: String,
        #[arg(long)]
        channel: Option<String>,
    },
    /// Import OSV advisories from a directory of .json files (searched recursively) or a .zip
    /// (OSV.dev's ecosystem dumps, OpenSSF malicious-packages); report what they now refuse.
    ImportOsv {
        #[command(flatten)]
        common: Common,
        path: PathBuf,
    },
    /// List software requests (pending ones only with --pending).
    Requests {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        pending: bool,
        /// Show one request with its dependency closure.
        #[arg(long)]
        show: Option<i64>,
    },
    /// Decide a pending software request: approve (adding its closure's allow rules) or reject.
    Decide {
        #[command(flatten)]
        common: Common,
        id: i64,
        /// approve or reject.
        decision: String,
        /// Note to the requester (required to reject).
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Make a repository token for USER (a service account, say) and print it once.
    Token {
        #[command(flatten)]
        common: Common,
        user: String,
        #[arg(long)]
        label: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Add an account and print its single-use onboarding link (also emailed).
    Add {
        #[command(flatten)]
        common: Common,
        id: String,
        #[arg(long)]
        email: String,
        /// Make the account a service-desk administrator.
        #[arg(long)]
        admin: bool,
    },
    /// List accounts whose id or email contains QUERY (all without one).
    List {
        #[command(flatten)]
        common: Common,
        query: Option<String>,
    },
    /// Show an account: status, counters, tokens (never a secret).
    Show {
        #[command(flatten)]
        common: Common,
        id: String,
    },
    /// Lock an account until it is unlocked; ends its sessions.
    Lock {
        #[command(flatten)]
        common: Common,
        id: String,
    },
    /// Unlock an account and clear its failure counter.
    Unlock {
        #[command(flatten)]
        common: Common,
        id: String,
    },
    /// Disable an account; ends its sessions.
    Disable {
        #[command(flatten)]
        common: Common,
        id: String,
    },
    /// Start a password reset: email the user a single-use link (never printed) that still needs a second factor.
    ResetPassword {
        #[command(flatten)]
        common: Common,
        id: String,
    },
    /// Grant a role (package_reviewer, admin, researcher), or withdraw it with --withdraw.
    Role {
        #[command(flatten)]
        common: Common,
        id: String,
        role: String,
        #[arg(long)]
        withdraw: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokensCommand {
    /// Import hardware-token seeds from a PSKC file (RFC 6030); all or nothing.
    ImportPskc {
        #[command(flatten)]
        common: Common,
        file: PathBuf,
        /// File holding the pre-shared key in hex, for encrypted files.
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Assign an imported token to a user.
    Assign {
        #[command(flatten)]
        common: Common,
        serial: String,
        user: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum MailCommand {
    /// List the messages in the outbox (mail.transport = "outbox").
    List {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the effective configuration with secrets redacted (exit 2 on an error).
    Check {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the hash chain and signed checkpoints; exit 1 naming the first bad event.
    Verify {
        #[command(flatten)]
        common: Common,
    },
    /// Write events as JSON lines.
    Export {
        #[command(flatten)]
        common: Common,
        /// Only events at or after this date or RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Output format.
        #[arg(long, default_value = "jsonl", value_parser = ["jsonl"])]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Sign a checkpoint for the newest event now.
    Checkpoint {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand, Debug)]
pub enum UpdatesCommand {
    /// Publish a service update (Markdown body).
    Publish {
        #[command(flatten)]
        common: Common,
        /// The publishing administrator's user id.
        #[arg(long = "as")]
        author: String,
        #[arg(long)]
        title: String,
        /// File with the Markdown body, or - for standard input.
        #[arg(long)]
        body_file: PathBuf,
    },
    /// List the published updates.
    List {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Issue a new one-time link to create the first administrator.
    BootstrapLink {
        #[command(flatten)]
        common: Common,
    },
}

impl Command {
    pub fn common(&self) -> Common {
        match self {
            Command::Serve { common, .. }
            | Command::Config { command: ConfigCommand::Check { common } }
            | Command::Audit {
                command:
                    AuditCommand::Verify { common }
                    | AuditCommand::Checkpoint { common }
                    | AuditCommand::Export { common, .. },
            }
            | Command::Updates { command: UpdatesCommand::Publish { common, .. } | UpdatesCommand::List { common } }
            | Command::Admin { command: AdminCommand::BootstrapLink { common } }
            | Command::Users {
                command:
                    UsersCommand::Add { common, .. }
                    | UsersCommand::List { common, .. }
                    | UsersCommand::Show { common, .. }
                    | UsersCommand::Lock { common, .. }
                    | UsersCommand::Unlock { common, .. }
                    | UsersCommand::Disable { common, .. }
                    | UsersCommand::ResetPassword { common, .. }
                    | UsersCommand::Role { common, .. },
            }
            | Command::Tokens {
                command: TokensCommand::ImportPskc { common, .. } | TokensCommand::Assign { common, .. },
            }
            | Command::Mail { command: MailCommand::List { common } }
            | Command::Packages {
                command:
                    PackagesCommand::Allow { common, .. }
                    | PackagesCommand::Deny { common, .. }
                    | PackagesCommand::Remove { common, .. }
                    | PackagesCommand::Policy { common, .. }
                    | PackagesCommand::Check { common, .. }
                    | PackagesCommand::ImportOsv { common, .. }
                    | PackagesCommand::Requests { common, .. }
                    | PackagesCommand::Decide { common, .. }
                    | PackagesCommand::Token { common, .. },
            } => common.clone(),
        }
    }

    pub fn load_config(&self) -> Result<Config, config::ConfigError> {
        let common = self.common();
        let listen = match self {
            Command::Serve { listen, .. } => *listen,
            _ => None,
        };
        let env: Vec<(String, String)> = std::env::vars().collect();
        config::load(common.config.as_deref(), &env, &Overrides { data_dir: common.data_dir, listen })
    }
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
