//! `haven tokens …`: import hardware tokens (PSKC) and assign them, at the console.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use haven_core::caller::Caller;

use super::open_identity;
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum TokensCommand {
    /// Import hardware-token seeds from a PSKC file (RFC 6030); all or nothing.
    ImportPskc {
        file: PathBuf,
        /// File holding the pre-shared key in hex, for encrypted files.
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Assign an imported token to a user.
    Assign { serial: String, user: String },
}

impl TokensCommand {
    pub async fn run(self, config: Config) -> Result<i32> {
        match self {
            TokensCommand::ImportPskc { file, key_file, .. } => import_pskc(config, &file, key_file.as_deref()).await,
            TokensCommand::Assign { serial, user, .. } => assign(config, &serial, &user).await,
        }
    }
}

pub async fn import_pskc(config: Config, file: &Path, key_file: Option<&Path>) -> Result<i32> {
    let identity = open_identity(config).await?;
    let xml = std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
    let key = match key_file {
        None => None,
        Some(p) => {
            let text =
                zeroize::Zeroizing::new(std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()))?);
            Some(zeroize::Zeroizing::new(
                hex::decode(text.trim()).context("the key file must hold the pre-shared key in hex")?,
            ))
        }
    };
    let keys = match haven_core::identity::pskc::parse(&xml, key.as_ref().map(|k| k.as_slice())) {
        Ok(k) => k,
        Err(e) => {
            identity.pskc_refused(&Caller::console(), &e.to_string()).await?;
            return Err(e.into());
        }
    };
    let serials = identity.import_tokens(&Caller::console(), keys).await?;
    say!("Imported {} token(s): {}", serials.len(), serials.join(", "));
    say!("Assign each with `haven tokens assign SERIAL USER`; the user then sets its PIN and confirms a code.");
    Ok(0)
}

pub async fn assign(config: Config, serial: &str, user: &str) -> Result<i32> {
    let identity = open_identity(config).await?;
    identity.assign_token(&Caller::console(), serial, user).await?;
    say!("Token {serial} assigned to {user}. They set its PIN and type a code in My Tokens to activate it.");
    Ok(0)
}
