//! Several Haven nodes on one database. Work that must happen once however many nodes run
//! (audit checkpoints, lifecycle jobs, scans, sweeps) runs under a lease: a row naming its
//! holder and when it lapses. The holder renews it well before then; a node that dies stops
//! renewing, and another takes it once it has lapsed, so takeover is bounded by the lease's time.
//!
//! A holder is one process (`node/random`), not one node name: two processes given the same
//! name by mistake still cannot both hold a lease. A node believes it holds the lease only for a
//! margin less than the database says (measured on its own monotonic clock from before it
//! asked), so clocks that differ between nodes by less than that margin cannot give two holders.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::json;

use crate::audit::NewAuditEvent;
use crate::audit::{action, actor};
use crate::error::{CoreError, StoreError};
use crate::store::{Store, transact};
use crate::{Clock, Rng, to_micros};

/// The lease under which a node does the deployment's background work.
pub const BACKGROUND: &str = "background";

/// The lease of a node's name (`node:NAME`): held while a process runs as that node.
pub fn node_lease(node: &str) -> String {
    format!("node:{node}")
}

/// The nodes that may still be running: those whose name's claim has not run out, or ran out
/// less than `grace_us` ago (a database outage lets every claim lapse at once; the nodes renew
/// when it is back).
pub async fn live_nodes(store: &dyn Store, now_us: i64, grace_us: i64) -> Result<Vec<String>, CoreError> {
    let now_us = now_us.saturating_sub(grace_us);
    let names =
        crate::store::read(store, move |tx| Box::pin(async move { Ok::<_, CoreError>(tx.live_leases(now_us).await?) }))
            .await?;
    Ok(names.into_iter().filter_map(|n| n.strip_prefix("node:").map(str::to_string)).collect())
}

/// Where a node answers the other nodes: its main and web-session listeners, and the SHA-256
/// (hex) of the certificate it serves on both, which the others pin when they forward a
/// request for a session it runs (so nodes share no CA, and a database row is the only trust).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    pub name: String,
    /// `https://host:port` of the main listener.
    pub url: String,
    /// `https://host:port` of the web sessions' listener.
    pub sessions_url: String,
    pub cert_sha256: String,
    pub updated_us: i64,
}

/// Record (or update) where this node answers; written at start and whenever its certificate
/// may have changed.
pub async fn publish_node(store: &dyn Store, record: NodeRecord) -> Result<(), CoreError> {
    transact(store, move |tx| {
        Box::pin(async move {
            tx.record_node(&record).await?;
            Ok::<_, CoreError>(())
        })
    })
    .await
}

/// Where the node `name` answers, if it ever said.
pub async fn node(store: &dyn Store, name: &str) -> Result<Option<NodeRecord>, CoreError> {
    let name = name.to_string();
    crate::store::read(store, move |tx| Box::pin(async move { Ok::<_, CoreError>(tx.node(&name).await?) })).await
}

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    pub holder: String,
    pub expires_us: i64,
}

#[async_trait]
pub trait ClusterTx {
    /// The lease `name`, if anyone took it and has not released it.
    async fn lease(&mut self, name: &str) -> Result<Option<LeaseRecord>, StoreError>;
    /// Take or renew `name` for `holder` until `until_us`: done only if nobody holds it, its
    /// holder's time ran out before `now_us`, or `holder` already holds it. Whether it was done.
    async fn take_lease(&mut self, name: &str, holder: &str, now_us: i64, until_us: i64) -> Result<bool, StoreError>;
    /// Give `name` up, if `holder` holds it. Whether it did.
    async fn release_lease(&mut self, name: &str, holder: &str) -> Result<bool, StoreError>;
    /// The names of the leases whose time has not run out at `now_us`.
    async fn live_leases(&mut self, now_us: i64) -> Result<Vec<String>, StoreError>;
    /// Forget `name` if `holder` holds it, or whoever does when `holder` is None (see
    /// [`Lease::seize`]). Whether a row went.
    async fn clear_lease(&mut self, name: &str, holder: Option<&str>) -> Result<bool, StoreError>;
    /// Insert or replace the record of where a node answers.
    async fn record_node(&mut self, record: &NodeRecord) -> Result<(), StoreError>;
    /// Where the node `name` answers.
    async fn node(&mut self, name: &str) -> Result<Option<NodeRecord>, StoreError>;
}

/// What asking for a lease found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// This process holds it (newly, or again).
    Held,
    /// Another holds it until the time given (microseconds).
    Elsewhere { holder: String, until_us: i64 },
}

/// One process's claim on one lease; the binary renews it every third of its time.
pub struct Lease {
    name: String,
    holder: String,
    time: Duration,
    store: std::sync::Arc<dyn Store>,
    clock: std::sync::Arc<dyn Clock>,
    /// Until when (this process's monotonic clock) it may act as the holder.
    believed_until: Mutex<Option<Instant>>,
}

impl Lease {
    /// A claim on `name` for this process of node `node`, for `time` at a time.
    pub fn new(
        name: &str,
        node: &str,
        time: Duration,
        store: std::sync::Arc<dyn Store>,
        clock: std::sync::Arc<dyn Clock>,
        rng: &dyn Rng,
    ) -> Result<Lease, CoreError> {
        let tag = haven_crypto::rng::random_array::<4>(rng)?;
        Ok(Lease {
            name: name.to_string(),
            holder: format!("{node}/{}", hex::encode(tag)),
            time,
            store,
            clock,
            believed_until: Mutex::new(None),
        })
    }

    /// Who this process is as a holder.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// How long one take lasts.
    pub fn time(&self) -> Duration {
        self.time
    }

    /// Whether this process may do the lease's work now.
    pub fn held(&self) -> bool {
        let until = *self.believed_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        until.is_some_and(|u| Instant::now() < u)
    }

    /// Take or renew the lease. Taking it over from a holder whose time ran out is audited (a
    /// node died, or lost the database, while it held the deployment's background work).
    pub async fn take(&self) -> Result<Taken, CoreError> {
        let asked = Instant::now();
        let now = self.clock.now();
        let now_us = to_micros(now);
        let until_us = now_us.saturating_add(i64::try_from(self.time.as_micros()).unwrap_or(i64::MAX));
        let (name, holder) = (self.name.clone(), self.holder.clone());
        let taken = transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let before = tx.lease(&name).await?;
                if !tx.take_lease(&name, &holder, now_us, until_us).await? {
                    let b = before.unwrap_or(LeaseRecord { holder: String::new(), expires_us: 0 });
                    return Ok::<_, CoreError>(Taken::Elsewhere { holder: b.holder, until_us: b.expires_us });
                }
                if let Some(b) = before.filter(|b| b.holder != holder) {
                    let event = NewAuditEvent::new(now, actor::SYSTEM, action::LEASE_TAKEN_OVER)
                        .target(&name)
                        .details(json!({"holder": holder, "from": b.holder, "lapsed_us": b.expires_us}));
                    tx.append_audit(event).await?;
                }
                Ok(Taken::Held)
            })
        })
        .await?;
        let mut believed = self.believed_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *believed = match taken {
            // Two thirds of the time, from before the database was asked: the last third is the
            // margin for renewals that are late and for clocks that differ between nodes.
            Taken::Held => Some(asked + self.time.mul_f64(2.0 / 3.0)),
            Taken::Elsewhere { .. } => None,
        };
        Ok(taken)
    }

    /// Take the lease whoever holds it, without a word in the audit trail: only where nothing
    /// else can hold it (one `haven serve` on SQLite, whose data directory lock proves it alone;
    /// its last holder was this node before a crash).
    pub async fn seize(&self) -> Result<(), CoreError> {
        self.replace(None).await.map(|_| ())
    }

    /// Take the lease from `holder`, a process known to be dead (this node's previous run on
    /// this host), without waiting for its time to run out; not if another has it by now.
    pub async fn take_from(&self, holder: &str) -> Result<bool, CoreError> {
        self.replace(Some(holder.to_string())).await
    }

    async fn replace(&self, from: Option<String>) -> Result<bool, CoreError> {
        let asked = Instant::now();
        let now_us = to_micros(self.clock.now());
        let until_us = now_us.saturating_add(i64::try_from(self.time.as_micros()).unwrap_or(i64::MAX));
        let (name, holder) = (self.name.clone(), self.holder.clone());
        let taken = transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.clear_lease(&name, from.as_deref()).await?;
                Ok::<_, CoreError>(tx.take_lease(&name, &holder, now_us, until_us).await?)
            })
        })
        .await?;
        if taken {
            *self.believed_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(asked + self.time.mul_f64(2.0 / 3.0));
        }
        Ok(taken)
    }

    /// Stop acting as the holder and give the lease up, so another node takes it at once.
    pub async fn release(&self) -> Result<bool, CoreError> {
        *self.believed_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        let (name, holder) = (self.name.clone(), self.holder.clone());
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.release_lease(&name, &holder).await?) })
        })
        .await
    }
}
