//! This node among several: its claim on its own name (a second process with the same
//! `cluster.node` is refused, as it would end this one's sessions and jobs), and the background
//! lease under which it does the deployment's once-only work. Both are leases
//! (`haven_core::cluster`), kept for the life of the server and given up when it stops.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use haven_core::cluster::{self, Lease, Taken};
use haven_core::{Clock, Rng, Store};
use tokio::sync::Notify;

use crate::config::Config;

pub struct Leases {
    /// The deployment's background work: checkpoints, lifecycle jobs, scans, sweeps.
    pub work: Arc<Lease>,
    /// This node's name.
    node: Arc<Lease>,
    /// Told each time this node takes the background lease (not on renewals): hourly and daily
    /// work then runs at once rather than at its next tick.
    pub taken: Arc<Notify>,
}

impl Leases {
    /// Claim this node's name and ask for the background lease. On SQLite, where the data
    /// directory's lock proves this is the only server, both are taken whoever held them (a
    /// crash left them to this node's previous run). On PostgreSQL a name held by a live
    /// process is refused; one held by a process that died is waited for until it lapses.
    pub async fn claim(
        config: &Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        rng: &dyn Rng,
        alone: bool,
    ) -> Result<Leases> {
        let name = config.cluster.holder_name();
        let time = Duration::from_secs(config.cluster.lease_secs);
        let me = process_mark(&name);
        let node = Arc::new(Lease::new(&cluster::node_lease(&name), &me, time, store.clone(), clock.clone(), rng)?);
        let work = Arc::new(Lease::new(cluster::BACKGROUND, &me, time, store, clock.clone(), rng)?);
        if alone {
            node.seize().await?;
            work.seize().await?;
        } else {
            claim_name(&node, clock.as_ref(), &name).await?;
            match work.take().await {
                // This node's previous run, which died here: no need to wait for it to lapse.
                Ok(Taken::Elsewhere { holder, .. }) if dead_predecessor(&holder, &name) => {
                    work.take_from(&holder).await?;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not ask for the background lease; asking again shortly"),
            }
        }
        Ok(Leases { work, node, taken: Arc::new(Notify::new()) })
    }

    /// Keep both for the life of the server.
    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let (work, node, taken) = (self.work.clone(), self.node.clone(), self.taken.clone());
        tokio::spawn(async move {
            tokio::join!(keep(work, Some(taken)), keep(node, None));
        })
    }

    /// Give both up (the server stops): another node takes the work at once.
    pub async fn release(&self) {
        for lease in [&self.work, &self.node] {
            if let Err(e) = lease.release().await {
                tracing::warn!(lease = lease.name(), error = %e, "could not give a lease up; it lapses on its own");
            }
        }
    }
}

/// Take `node` (this node's name), waiting out a holder that has stopped renewing it.
async fn claim_name(node: &Lease, clock: &dyn Clock, name: &str) -> Result<()> {
    let mut first_seen = None;
    loop {
        match node.take().await? {
            Taken::Held => return Ok(()),
            Taken::Elsewhere { holder, .. } if dead_predecessor(&holder, name) => {
                tracing::info!(%holder, "this node's previous run on this host has died: taking its name back");
                if node.take_from(&holder).await? {
                    return Ok(());
                }
            }
            Taken::Elsewhere { holder, until_us } => {
                if first_seen.is_some_and(|seen| until_us > seen) {
                    bail!(
                        "another haven serve runs as node {name:?} (it holds the name as {holder} and renews it): give \
                         this one its own cluster.node, or stop that one first. Two nodes of one name would end each \
                         other's sessions and jobs."
                    );
                }
                first_seen = Some(until_us);
                let wait_us = until_us.saturating_sub(haven_core::to_micros(clock.now())).clamp(0, 600_000_000);
                tracing::warn!(
                    %holder,
                    "node {name:?} was held by a process that may have died; waiting {} s for its claim to lapse",
                    wait_us / 1_000_000 + 1
                );
                tokio::time::sleep(Duration::from_micros(u64::try_from(wait_us).unwrap_or(0)) + Duration::from_secs(1))
                    .await;
            }
        }
    }
}

/// This process as a lease's holder: the node's name, this boot of the host and this pid, so that
/// a node started again on the same host can tell its own predecessor that died.
fn process_mark(name: &str) -> String {
    format!("{name}@{}.{}", host_mark(), std::process::id())
}

/// This boot of the host and this pid namespace (containers on one host share the boot, not
/// their pids): a pid means the same process only where both agree.
fn host_mark() -> String {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let boot: String = id.trim().chars().filter(char::is_ascii_hexdigit).take(8).collect();
    let ns = std::fs::read_link("/proc/self/ns/pid").map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    let ns: String = ns.chars().filter(char::is_ascii_digit).collect();
    if boot.is_empty() || ns.is_empty() { String::new() } else { format!("{boot}-{ns}") }
}

/// Whether `holder` (as [`process_mark`] made it, with the lease's tag after `/`) was a process
/// of node `name` on this host, since this boot, that no longer runs.
fn dead_predecessor(holder: &str, name: &str) -> bool {
    let Some(mark) = holder.strip_prefix(name).and_then(|r| r.strip_prefix('@')) else { return false };
    let Some((boot, pid)) = mark.split('/').next().and_then(|m| m.split_once('.')) else { return false };
    let Ok(pid) = pid.parse::<u32>() else { return false };
    let here = host_mark();
    !here.is_empty()
        && boot == here
        && pid != std::process::id()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Ask every third of the lease's time. A node that cannot reach the database stops believing
/// it holds the lease when its time runs out (`Lease::held`), before any other may take it.
async fn keep(lease: Arc<Lease>, taken: Option<Arc<Notify>>) {
    let mut tick = tokio::time::interval(lease.time() / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut had = lease.held();
    loop {
        tick.tick().await;
        match lease.take().await {
            Ok(Taken::Held) => {
                if !had {
                    tracing::info!(lease = lease.name(), holder = lease.holder(), "this node now holds the lease");
                    if let Some(t) = &taken {
                        t.notify_waiters();
                    }
                }
                had = true;
            }
            Ok(Taken::Elsewhere { holder, .. }) => {
                if had {
                    tracing::warn!(lease = lease.name(), %holder, "another process took the lease over");
                }
                had = false;
            }
            Err(e) => {
                tracing::warn!(lease = lease.name(), error = %e, "could not renew a lease; it lapses if this goes on");
                had = lease.held();
            }
        }
    }
}
