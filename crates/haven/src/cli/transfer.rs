//! `haven transfer …`: File Transfer at the console: drop-off links for external providers,
//! an asset's arrivals with their scan verdicts, and deciding them. Links and decisions are made
//! in the name of the IAO, IAA or data manager given with `--as`, whose standing `can()` asks.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use haven_core::caller::Caller;
use haven_core::governance::rules::show_date;
use haven_core::transfer::links::NewLink;
use haven_core::transfer::store::UploadRecord;
use zeroize::Zeroizing;

use super::usage;
use crate::app::{self, Mode};
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum TransferCommand {
    /// Drop-off links: write-only, expiring links an external provider sends files through.
    Link {
        #[command(subcommand)]
        command: LinkCommand,
    },
    /// List an asset's arrivals, newest first: size, SHA-256, scan verdict and decision.
    Arrivals {
        #[arg(long)]
        asset: String,
    },
    /// Accept an arrival into the asset's shared area (clean ones; a file that could not be
    /// scanned whole needs --note saying what was checked instead).
    Accept {
        id: String,
        /// The IAO, IAA or data manager deciding.
        #[arg(long = "as")]
        as_user: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Reject an arrival: its data is crypto-shredded at once; the record stays.
    Reject {
        id: String,
        #[arg(long = "as")]
        as_user: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Scan the arrivals that are due now (what `haven serve` does every few seconds).
    Scan,
}

#[derive(Subcommand, Debug)]
pub enum LinkCommand {
    /// Make a link into an asset and print it (once: Haven keeps only its hash).
    Create {
        #[arg(long)]
        asset: String,
        /// The asset's IAO or an IAA, in whose name the link is issued.
        #[arg(long = "as")]
        as_user: String,
        /// How long it works: days, as 7d or 7 [default: transfer.link_days].
        #[arg(long)]
        expires: Option<String>,
        /// The most bytes it takes, in all.
        #[arg(long)]
        max_bytes: Option<u64>,
        /// The most files it takes.
        #[arg(long)]
        max_files: Option<u64>,
        /// A file holding a password the provider must also give (at least 10 characters; send
        /// it by another channel than the link).
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Whom the link is for, as you will recognise it in lists.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// An asset's links, newest first, with what each has taken.
    List {
        #[arg(long)]
        asset: String,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Revoke a link by its id: it stops at once, uploads in progress through it included.
    Revoke {
        id: String,
        #[arg(long = "as")]
        as_user: String,
    },
}

/// The console acting as `user` (their roles, if active), or why not.
async fn acting(store: &dyn haven_core::Store, user: &str) -> Result<Result<Caller, String>> {
    Ok(haven_core::updates::console_as(store, user).await?.ok_or_else(|| {
        format!("there is no user {user:?}; give --as the user id of the asset's IAO, an IAA or a data manager")
    }))
}

fn days(text: &str) -> Result<i64, String> {
    text.trim_end_matches('d')
        .parse::<i64>()
        .map_err(|_| format!("--expires {text:?}: give a number of days, such as 7d"))
}

fn verdict(u: &UploadRecord) -> String {
    let decided = match u.arrival.decision.as_str() {
        "" => String::new(),
        "rejected" => " / rejected (shredded)".into(),
        d => format!(" / {d}"),
    };
    format!("{}{decided}", u.arrival.scan_status)
}

impl TransferCommand {
    pub async fn run(self, config: Config) -> Result<i32> {
        let public_url = config.console_url();
        let app = app::open(config, Mode::Existing).await?;
        let transfer = app.transfer(&public_url).await?;
        let store = app.store.clone();
        match self {
            TransferCommand::Link {
                command: LinkCommand::Create { asset, as_user, expires, max_bytes, max_files, password_file, label },
            } => {
                let who = match acting(store.as_ref(), &as_user).await? {
                    Ok(w) => w,
                    Err(m) => return usage(m),
                };
                let days = match expires.as_deref().map(days).transpose() {
                    Ok(d) => d,
                    Err(m) => return usage(m),
                };
                let password = match password_file {
                    None => None,
                    Some(f) => {
                        let text = Zeroizing::new(
                            std::fs::read_to_string(&f).with_context(|| format!("read {}", f.display()))?,
                        );
                        Some(Zeroizing::new(text.trim_end_matches(['\r', '\n']).to_string()))
                    }
                };
                let new = NewLink { asset, label, days, password, max_bytes, max_files };
                let (secret, link) = match transfer.create_link(&who, new).await {
                    Ok(made) => made,
                    Err(e) => return usage(e),
                };
                say!("{public_url}{}", haven_core::paths::transfer_drop(&secret));
                say!(
                    "Link {} into {}, until {}{}. Send it to the provider; it lets them send files in, nothing else.",
                    link.id,
                    link.asset,
                    show_date(link.expires_us),
                    if link.password_hash.is_empty() { "" } else { ", with the password (send that another way)" },
                );
                say!("Revoke it with: haven transfer link revoke {} --as {as_user}", link.id);
            }
            TransferCommand::Link { command: LinkCommand::List { asset, as_user } } => {
                let who = match acting(store.as_ref(), &as_user).await? {
                    Ok(w) => w,
                    Err(m) => return usage(m),
                };
                let links = match transfer.links(&who, &asset).await {
                    Ok(l) => l,
                    Err(e) => return usage(e),
                };
                say!(
                    "{:<17} {:<12} {:<11} {:<8} {:<15} {:<15} LABEL",
                    "ID",
                    "BY",
                    "EXPIRES",
                    "STATE",
                    "FILES",
                    "BYTES"
                );
                let now = haven_core::to_micros(haven_core::Clock::now(&haven_core::clock::SystemClock));
                for l in &links {
                    let state = if l.revoked_us != 0 {
                        "revoked"
                    } else if l.expires_us <= now {
                        "expired"
                    } else {
                        "live"
                    };
                    let limit =
                        |used: i64, max: i64| if max == 0 { format!("{used}") } else { format!("{used}/{max}") };
                    say!(
                        "{:<17} {:<12} {:<11} {:<8} {:<15} {:<15} {}",
                        l.id,
                        l.created_by,
                        show_date(l.expires_us),
                        state,
                        limit(l.files_started, l.max_files),
                        limit(l.bytes_reserved, l.max_bytes),
                        l.label
                    );
                }
                say!("{} link(s)", links.len());
            }
            TransferCommand::Link { command: LinkCommand::Revoke { id, as_user } } => {
                let who = match acting(store.as_ref(), &as_user).await? {
                    Ok(w) => w,
                    Err(m) => return usage(m),
                };
                match transfer.revoke_link(&who, &id).await {
                    Ok(l) => say!("Link {} into {} is revoked: it works no more.", l.id, l.asset),
                    Err(e) => return usage(e),
                }
            }
            TransferCommand::Arrivals { asset } => {
                let list = match transfer.arrivals(&Caller::console(), &asset).await {
                    Ok(l) => l,
                    Err(e) => return usage(e),
                };
                say!(
                    "{:<32} {:<11} {:>14} {:<64} {:<30} {:<20} NAME",
                    "ID",
                    "ARRIVED",
                    "BYTES",
                    "SHA-256",
                    "VERDICT",
                    "FROM"
                );
                for u in &list {
                    let from = if u.link_id.is_empty() { u.uploader.clone() } else { format!("link {}", u.link_id) };
                    say!(
                        "{:<32} {:<11} {:>14} {:<64} {:<30} {:<20} {}",
                        u.id,
                        show_date(u.completed_us),
                        u.offset,
                        u.sha256,
                        verdict(u),
                        from,
                        u.name
                    );
                }
                say!("{} arrival(s)", list.len());
            }
            TransferCommand::Accept { id, as_user, note } => {
                return decide(&transfer, store.as_ref(), &id, &as_user, &note, true).await;
            }
            TransferCommand::Reject { id, as_user, note } => {
                return decide(&transfer, store.as_ref(), &id, &as_user, &note, false).await;
            }
            TransferCommand::Scan => {
                if !transfer.scans() {
                    return usage(
                        "no scanner is configured: set transfer.clamd (see docs/file-transfer.md)".to_string(),
                    );
                }
                let n = transfer.scan_due().await?;
                say!("{n} arrival(s) got a verdict");
            }
        }
        Ok(0)
    }
}

async fn decide(
    transfer: &haven_core::transfer::uploads::Transfer,
    store: &dyn haven_core::Store,
    id: &str,
    as_user: &str,
    note: &str,
    accept: bool,
) -> Result<i32> {
    let who = match acting(store, as_user).await? {
        Ok(w) => w,
        Err(m) => return usage(m),
    };
    match transfer.decide(&who, id, accept, note).await {
        Ok(d) if accept => {
            let u = d.upload;
            let placed = d.placed_as.unwrap_or_default();
            say!(
                "{} ({} bytes, SHA-256 {}) is accepted into {}'s shared drive, as S:/{placed}",
                u.name,
                u.offset,
                u.sha256,
                u.asset
            )
        }
        Ok(d) => say!("{} is rejected: its data was crypto-shredded; the record stays.", d.upload.name),
        Err(e) => return usage(e),
    }
    Ok(0)
}
