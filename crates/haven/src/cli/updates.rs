//! `haven updates …`: publish and list service updates (the home page and the feed).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use haven_core::Store;
use haven_core::authz::{Action, Resource, can};
use haven_core::caller::Caller;
use time::format_description::well_known::Rfc3339;

use crate::app::{self, Mode};
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum UpdatesCommand {
    /// Publish a service update (Markdown body).
    Publish {
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
    List,
}

impl UpdatesCommand {
    pub async fn run(self, config: Config) -> Result<i32> {
        match self {
            UpdatesCommand::Publish { author, title, body_file, .. } => {
                updates_publish(config, &author, &title, &body_file).await
            }
            UpdatesCommand::List => updates_list(config).await,
        }
    }
}

/// The console acting for `user_id`, who must be an active service-desk administrator.
async fn require_admin(store: &dyn Store, user_id: &str) -> Result<Caller> {
    let Some(caller) = haven_core::updates::console_as(store, user_id).await? else {
        bail!("there is no user {user_id:?}; pass the user id of a service-desk administrator with --as");
    };
    if !can(&caller, Action::PublishServiceUpdate, Resource::Service) {
        bail!("{user_id} is not an active service-desk administrator, so cannot publish service updates");
    }
    Ok(caller)
}

/// `haven updates publish`.
pub async fn updates_publish(config: Config, author: &str, title: &str, body_file: &std::path::Path) -> Result<i32> {
    let body = if body_file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("read the body from standard input")?
    } else {
        std::fs::read_to_string(body_file).with_context(|| format!("read {}", body_file.display()))?
    };
    let app = app::open(config, Mode::Existing).await?;
    let caller = require_admin(app.store.as_ref(), author).await?;
    let id = haven_core::updates::publish(app.store.as_ref(), app.clock.now(), &caller, title, &body).await?;
    say!("Published service update {id}: {}", title.trim());
    Ok(0)
}

/// `haven updates list`.
pub async fn updates_list(config: Config) -> Result<i32> {
    let app = app::open(config, Mode::Existing).await?;
    let list = haven_core::updates::list(app.store.as_ref(), 1000).await?;
    if list.is_empty() {
        say!("No service updates yet.");
    }
    for u in list {
        let at = haven_core::from_micros(u.published_us).format(&Rfc3339).unwrap_or_default();
        say!("{:>5}  {at}  {:<12}  {}", u.id, u.author, u.title);
    }
    Ok(0)
}
