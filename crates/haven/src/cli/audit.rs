//! `haven audit …`: verify the audit trail, export it, write a checkpoint now.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use clap::Subcommand;
use futures::StreamExt;
use haven_core::audit::verify_trail_parts;
use haven_core::{CoreError, Store, read};
use indicatif::{ProgressBar, ProgressStyle};
use time::format_description::well_known::Rfc3339;

use crate::app::{self, Mode};
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the hash chain and signed checkpoints; exit 1 naming the first bad event.
    Verify {
        /// Also open every recorded object through the blob store, checking each segment's
        /// integrity tag: what to run after restoring a database and its objects.
        #[arg(long)]
        objects: bool,
    },
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
            AuditCommand::Verify { objects } => audit_verify(config, objects).await,
            AuditCommand::Export { since, output, .. } => {
                audit_export(config, since.as_deref(), output.as_deref()).await
            }
            AuditCommand::Checkpoint => audit_checkpoint(config).await,
        }
    }
}

/// `haven audit verify [--objects]`: exit 0 when intact, 1 naming the first bad event (or the
/// first object that is missing or fails its check).
pub async fn audit_verify(config: Config, objects: bool) -> Result<i32> {
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
        }
        Some(p) => {
            say!("Audit trail BROKEN at event {}: {p}.", p.first_bad_seq());
            let details = serde_json::json!({"first_bad_seq": p.first_bad_seq(), "problem": p.to_string()});
            record_failure(&app, details).await;
            say!(
                "The {} events before it verified. Preserve this database as evidence and report the incident.",
                v.events
            );
            return Ok(1);
        }
    }
    if !objects {
        return Ok(0);
    }
    match open_every_object(&app).await {
        Ok((n, bytes)) => {
            say!("Every object opened and verified: {n} object{} ({bytes} bytes).", if n == 1 { "" } else { "s" });
            Ok(0)
        }
        Err(e) => {
            say!("An object FAILED: {e:#}.");
            record_failure(&app, serde_json::json!({"problem": format!("{e:#}")})).await;
            say!("Restore the object store from a copy as of the database's time, or report the incident.");
            Ok(1)
        }
    }
}

/// Record a failed verification, so that the serving Haven alerts on it (alerts.email,
/// alerts.webhook_url); a failure to record is said, not fatal.
async fn record_failure(app: &app::App, details: serde_json::Value) {
    let event = haven_core::audit::NewAuditEvent::new(
        app.clock.now(),
        haven_core::audit::actor::CONSOLE,
        haven_core::audit::action::AUDIT_VERIFY_FAILED,
    )
    .details(details);
    let recorded = haven_core::transact(app.store.as_ref(), move |tx| {
        Box::pin(async move { tx.append_audit(event).await.map(|_| ()) })
    })
    .await;
    if let Err(e) = recorded {
        eprintln!("haven: the failed verification could not be recorded: {e}");
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

/// Read every recorded object through the blob store, which checks each segment's tag: how
/// many, and their plaintext bytes. The first that is missing or fails its check is named.
pub(crate) async fn open_every_object(app: &app::App) -> Result<(u64, u64)> {
    let bar = if std::io::stderr().is_terminal() { ProgressBar::no_length() } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("opening and verifying objects: {pos} ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (mut after, mut objects, mut bytes) = (String::new(), 0u64, 0u64);
    loop {
        let from = after.clone();
        let page = read(app.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.objects_after(&from, 500).await?) })
        })
        .await?;
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        for meta in page {
            let mut stream = haven_core::blobs::BlobStore::get(app.blobs.as_ref(), &meta)
                .await
                .map_err(|e| anyhow!("object {} cannot be opened: {e}", meta.id))?;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| anyhow!("object {} failed its integrity check: {e}", meta.id))?;
                bytes += chunk.len() as u64;
            }
            objects += 1;
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    Ok((objects, bytes))
}
