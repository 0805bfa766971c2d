//! The operator's commands besides `serve`. Each acts on a data directory (`--data-dir`) through
//! the same ports and rules as the web portals.

use std::io::{IsTerminal, Write};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use haven_core::Store;
use haven_core::accounts;
use haven_core::audit::verify_trail;
use haven_core::authz::{Action, Resource, can};
use haven_core::caller::Caller;
use time::format_description::well_known::Rfc3339;

use crate::app::{self, Mode};
use crate::config::Config;

/// `haven audit verify`: exit 0 when intact, 1 naming the first bad event.
pub async fn audit_verify(config: Config) -> Result<i32> {
    let app = app::open(config, Mode::Existing).await?;
    let interactive = std::io::stderr().is_terminal();
    let mut progress = |n: u64| {
        if interactive {
            eprint!("\rverified {n} events…");
        }
    };
    let v = verify_trail(app.store.as_ref(), app.audit_key.public_key(), &mut progress).await?;
    if interactive && v.events >= 50_000 {
        eprint!("\r");
    }
    match v.problem {
        None => {
            println!(
                "Audit trail intact: {} event{}, {} signed checkpoint{}, last event {}.",
                v.events,
                if v.events == 1 { "" } else { "s" },
                v.checkpoints,
                if v.checkpoints == 1 { "" } else { "s" },
                v.last_seq
            );
            Ok(0)
        }
        Some(p) => {
            println!("Audit trail BROKEN at event {}: {p}.", p.first_bad_seq());
            println!(
                "The {} events before it verified. Preserve this database as evidence and report the incident.",
                v.events
            );
            Ok(1)
        }
    }
}

/// Parse `2026-11-24` or an RFC 3339 time.
pub fn parse_since(s: &str) -> Result<time::OffsetDateTime> {
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let date = time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).with_context(|| {
        format!("--since {s:?}: use a date (2026-11-24) or an RFC 3339 time (2026-11-24T09:00:00Z)")
    })?;
    Ok(date.midnight().assume_utc())
}

/// `haven audit export`: JSON lines, streamed.
pub async fn audit_export(config: Config, since: Option<&str>, output: Option<&std::path::Path>) -> Result<i32> {
    let since_us = match since {
        Some(s) => haven_core::to_micros(parse_since(s)?),
        None => i64::MIN,
    };
    let app = app::open(config, Mode::Existing).await?;
    let mut out: Box<dyn Write> = match output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("create {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut events = app.store.audit_events(1, since_us);
    let mut n = 0u64;
    while let Some(e) = events.next().await {
        writeln!(out, "{}", e?.to_json_line())?;
        n += 1;
    }
    out.flush()?;
    eprintln!("exported {n} events");
    Ok(0)
}

/// `haven audit checkpoint`: sign the current head now.
pub async fn audit_checkpoint(config: Config) -> Result<i32> {
    let app = app::open(config, Mode::Existing).await?;
    match haven_core::audit::write_checkpoint(app.store.as_ref(), app.audit_key.clone(), app.clock.now()).await? {
        Some(seq) => println!("Signed a checkpoint at event {seq}."),
        None => println!("Nothing new since the last checkpoint."),
    }
    Ok(0)
}

/// The console acting for `user_id`, who must be an active service-desk administrator.
async fn require_admin(store: &dyn Store, user_id: &str) -> Result<Caller> {
    let Some(user) = store.find_user(user_id).await? else {
        bail!("there is no user {user_id:?}; pass the user id of a service-desk administrator with --as");
    };
    let roles = if user.status == "active" { user.roles } else { Vec::new() };
    let caller = Caller::console_as(&user.id, roles);
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
    println!("Published service update {id}: {}", title.trim());
    Ok(0)
}

/// `haven updates list`.
pub async fn updates_list(config: Config) -> Result<i32> {
    let app = app::open(config, Mode::Existing).await?;
    let list = app.store.list_updates(1000).await?;
    if list.is_empty() {
        println!("No service updates yet.");
    }
    for u in list {
        let at = haven_core::from_micros(u.published_us).format(&Rfc3339).unwrap_or_default();
        println!("{:>5}  {at}  {:<12}  {}", u.id, u.author, u.title);
    }
    Ok(0)
}

/// `haven admin bootstrap-link`: a new one-time link while no administrator exists.
pub async fn bootstrap_link(config: Config) -> Result<i32> {
    let public_url = config.console_url();
    let app = app::open(config, Mode::Existing).await?;
    match accounts::issue_bootstrap_link(app.store.as_ref(), app.clock.as_ref(), app.rng.as_ref()).await? {
        Some(secret) => {
            println!("Open this one-time link within 1 hour to create the first administrator:");
            println!("  {public_url}{}", haven_core::paths::bootstrap_with(secret.as_str()));
            println!("Any earlier bootstrap link no longer works.");
            Ok(0)
        }
        None => {
            println!("An administrator already exists; bootstrap links are no longer issued.");
            Ok(1)
        }
    }
}
