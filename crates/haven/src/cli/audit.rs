//! `haven audit …`: verify the audit trail, export it, write a checkpoint now.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use futures::StreamExt;
use haven_core::Store;
use haven_core::audit::verify_trail_parts;
use time::format_description::well_known::Rfc3339;

use crate::app::{self, Mode};
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the hash chain and signed checkpoints; exit 1 naming the first bad event.
    Verify,
    /// Write events as JSON lines.
    Export {
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
    Checkpoint,
}

impl AuditCommand {
    pub async fn run(self, config: Config) -> Result<i32> {
        match self {
            AuditCommand::Verify => audit_verify(config).await,
            AuditCommand::Export { since, output, .. } => {
                audit_export(config, since.as_deref(), output.as_deref()).await
            }
            AuditCommand::Checkpoint => audit_checkpoint(config).await,
        }
    }
}

/// `haven audit verify`: exit 0 when intact, 1 naming the first bad event.
pub async fn audit_verify(config: Config) -> Result<i32> {
    let app = app::open(config, Mode::Existing).await?;
    let interactive = std::io::stderr().is_terminal();
    // Parts read and hashed side by side, joined at the edges: one per two cores, as each keeps
    // about two busy (the database reading rows, the verifier decoding and hashing them); on two
    // cores two parts were slower than one (docs/benchmarks.md).
    let parts = std::thread::available_parallelism().map(usize::from).unwrap_or(1) / 2;
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = seen.clone();
    let progress = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
        loop {
            tick.tick().await;
            let n = counter.load(std::sync::atomic::Ordering::Relaxed);
            if interactive && n > 0 {
                eprint!("\rverified {n} events…");
            }
        }
    });
    let spawn = |part| -> futures::future::BoxFuture<'static, _> {
        let task = tokio::spawn(part);
        Box::pin(async move {
            task.await.map_err(|e| haven_core::StoreError::Database(format!("a verifying task stopped: {e}")))?
        })
    };
    let v = verify_trail_parts(app.store.clone(), app.audit_key.public_key(), parts, seen.clone(), &spawn).await;
    progress.abort();
    let v = v?;
    if interactive && seen.load(std::sync::atomic::Ordering::Relaxed) > 0 {
        eprint!("\r");
    }
    match v.problem {
        None => {
            say!(
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
            say!("Audit trail BROKEN at event {}: {p}.", p.first_bad_seq());
            // Recorded, so that the serving Haven alerts on it (alerts.email, alerts.webhook_url).
            let event = haven_core::audit::NewAuditEvent::new(
                app.clock.now(),
                haven_core::audit::actor::CONSOLE,
                haven_core::audit::action::AUDIT_VERIFY_FAILED,
            )
            .details(serde_json::json!({"first_bad_seq": p.first_bad_seq(), "problem": p.to_string()}));
            let recorded = haven_core::transact(app.store.as_ref(), move |tx| {
                Box::pin(async move { tx.append_audit(event).await.map(|_| ()) })
            })
            .await;
            if let Err(e) = recorded {
                eprintln!("haven: the failed verification could not be recorded: {e}");
            }
            say!(
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
        Some(seq) => say!("Signed a checkpoint at event {seq}."),
        None => say!("Nothing new since the last checkpoint."),
    }
    Ok(0)
}
