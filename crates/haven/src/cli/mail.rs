//! `haven mail list`: the emails waiting in the outbox while no SMTP relay is configured.

use anyhow::{Context, Result};
use clap::Subcommand;

use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum MailCommand {
    /// List the messages in the outbox (mail.transport = "outbox").
    List,
}

impl MailCommand {
    pub fn run(self, config: &Config) -> Result<i32> {
        match self {
            MailCommand::List => mail_list(config),
        }
    }
}

pub fn mail_list(config: &Config) -> Result<i32> {
    let dir = config.data().outbox();
    let entries = haven_store::mail::list_outbox(&dir).with_context(|| format!("read the outbox {}", dir.display()))?;
    for e in &entries {
        let at: time::OffsetDateTime = e.modified.into();
        say!(
            "{}  {}  {}  {}",
            at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            e.to,
            e.subject,
            e.file.display()
        );
    }
    say!("{} message(s) in {}", entries.len(), dir.display());
    Ok(0)
}
