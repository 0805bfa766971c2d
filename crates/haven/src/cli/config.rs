//! `haven config check`: print the effective configuration (secrets redacted) and whether it is
//! valid. It runs before anything else is opened (see `main.rs`).

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the effective configuration with secrets redacted (exit 2 on an error).
    Check,
}
