//! `haven apps …`: the application catalogue (the service desk at the console): versions side by
//! side, and which version opens a file type by default.

use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use haven_core::caller::Caller;
use haven_core::workspaces::catalogue::NewApp;

use super::{say, usage};
use crate::app::{self, Mode};
use crate::config::Config;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Kind {
    /// A terminal in the browser (R's console, a shell).
    Terminal,
    /// A web application reverse-proxied to the browser (JupyterLab).
    Web,
    /// A desktop in the browser.
    Desktop,
}

#[derive(Subcommand, Debug)]
pub enum AppsCommand {
    /// Add an application version beside the others (audited).
    Add {
        /// The application's name: lower-case letters, digits and '-' (r, python, jupyterlab).
        name: String,
        #[arg(value_name = "VERSION")]
        app_version: String,
        #[arg(long, value_enum)]
        kind: Kind,
        /// The program (an absolute path) and its arguments, split at spaces and run without a
        /// shell, e.g. --command "/opt/R/4.3.2/bin/R --no-save" (an argument holding a space
        /// needs a wrapper script).
        #[arg(long)]
        command: String,
        /// Open files with this extension with this version by default (repeatable: R, Rmd).
        #[arg(long = "default-for")]
        default_for: Vec<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Make a version in the catalogue the default for a file extension (audited).
    Default {
        /// The extension, with or without its dot (R, .ipynb).
        extension: String,
        name: String,
        #[arg(value_name = "VERSION")]
        app_version: String,
    },
    /// List the catalogue: every version, newest first, and the defaults.
    List,
}

impl AppsCommand {
    pub async fn run(self, config: Config) -> Result<i32> {
        let app = app::open(config, Mode::Existing).await?;
        let catalogue = app.catalogue();
        let console = Caller::console();
        match self {
            AppsCommand::Add { name, app_version: version, kind, command, default_for, description } => {
                let kind = match kind {
                    Kind::Terminal => "terminal",
                    Kind::Web => "web",
                    Kind::Desktop => "desktop",
                };
                let command = command.split_whitespace().map(str::to_string).collect();
                let new = NewApp { name, version, kind: kind.into(), command, description, default_for };
                let added = match catalogue.add(&console, new).await {
                    Ok(a) => a,
                    Err(e) => return usage(e),
                };
                say(format!(
                    "{} {} ({}) is in the catalogue: {}",
                    added.name,
                    added.version,
                    added.kind.as_str(),
                    added.command.join(" ")
                ));
            }
            AppsCommand::Default { extension, name, app_version: version } => {
                if let Err(e) = catalogue.set_default(&console, &extension, &name, &version).await {
                    return usage(e);
                }
                say(format!(
                    ".{} files now open with {name} {version}",
                    extension.trim_start_matches('.').to_lowercase()
                ));
            }
            AppsCommand::List => {
                let listing = match catalogue.list(&console).await {
                    Ok(l) => l,
                    Err(e) => return usage(e),
                };
                if listing.apps.is_empty() {
                    say(
                        "The catalogue is empty: add an application with `haven apps add NAME VERSION --kind … --command …`.",
                    );
                    return Ok(0);
                }
                say(format!("{:<16} {:<14} {:<9} {:<14} COMMAND", "NAME", "VERSION", "KIND", "DEFAULT FOR"));
                for a in &listing.apps {
                    let defaults: Vec<String> = listing
                        .defaults
                        .iter()
                        .filter(|d| d.name == a.name && d.version == a.version)
                        .map(|d| format!(".{}", d.extension))
                        .collect();
                    say(format!(
                        "{:<16} {:<14} {:<9} {:<14} {}",
                        a.name,
                        a.version,
                        a.kind.as_str(),
                        if defaults.is_empty() { "-".to_string() } else { defaults.join(" ") },
                        a.command.join(" ")
                    ));
                }
            }
        }
        Ok(0)
    }
}
