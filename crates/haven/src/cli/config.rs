//! `haven config check`: print the effective configuration (secrets redacted) and whether it is
//! valid. It runs before anything else is opened (see `main.rs`).

use clap::Subcommand;

use super::Common;

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the effective configuration with secrets redacted (exit 2 on an error).
    Check {
        #[command(flatten)]
        common: Common,
    },
}

impl ConfigCommand {
    pub fn common(&self) -> &Common {
        match self {
            ConfigCommand::Check { common, .. } => common,
        }
    }
}
