//! `haven admin …`: a new one-time link for the first administrator.

use anyhow::Result;
use clap::Subcommand;
use haven_core::accounts;

use crate::app::{self, Mode};
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Issue a new one-time link to create the first administrator.
    BootstrapLink,
}

impl AdminCommand {
    pub async fn run(self, config: Config) -> Result<i32> {
        match self {
            AdminCommand::BootstrapLink => bootstrap_link(config).await,
        }
    }
}

/// `haven admin bootstrap-link`: a new one-time link while no administrator exists.
pub async fn bootstrap_link(config: Config) -> Result<i32> {
    let public_url = config.console_url();
    let app = app::open(config, Mode::Existing).await?;
    match accounts::issue_bootstrap_link(app.store.as_ref(), app.clock.as_ref(), app.rng.as_ref()).await? {
        Some(secret) => {
            say!("Open this one-time link within 1 hour to create the first administrator:");
            say!("  {public_url}{}", haven_core::paths::bootstrap_with(secret.as_str()));
            say!("Any earlier bootstrap link no longer works.");
            Ok(0)
        }
        None => {
            say!("An administrator already exists; bootstrap links are no longer issued.");
            Ok(1)
        }
    }
}
