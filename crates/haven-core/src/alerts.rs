//! Security alerts (SATRE 2.4.05, 2.5.03): the audit events an operator must hear of at once —
//! lockouts, integrity failures, infected arrivals, a node taking over from one that died, a
//! broken audit trail — forwarded by the background lease's holder to people by email and to a
//! webhook. Alerts are read from the trail, so every alert is an audited event; where forwarding
//! stopped is kept in the database, so an alert is sent at least once (twice only if a node dies
//! between sending and recording).

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::audit::{AuditEvent, action};
use crate::error::CoreError;
use crate::identity::ports::{Mail, Mailer};
use crate::store::{Store, read, transact};

/// Where forwarding stopped: the last event looked at.
const LAST_SEQ: &str = "alerts.last_seq";
/// Most events looked at in one round (the next round goes on).
const ROUND: usize = 10_000;

/// What is alerted unless `alerts.actions` says otherwise.
pub const DEFAULT_ACTIONS: &[&str] = &[
    action::ACCOUNT_LOCKED,
    action::TOKEN_LOCKED,
    action::EGRESS_INTEGRITY_FAILED,
    action::PACKAGE_INTEGRITY_FAILED,
    action::ARRIVAL_INFECTED,
    action::LEASE_TAKEN_OVER,
    action::AUDIT_VERIFY_FAILED,
];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Who gets an email for each alert.
    pub email: Vec<String>,
    /// Where each alert is POSTed as JSON (https, or http to this host only).
    pub webhook_url: Option<String>,
    /// The audit actions alerted.
    pub actions: Vec<String>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            email: Vec::new(),
            webhook_url: None,
            actions: DEFAULT_ACTIONS.iter().map(|a| a.to_string()).collect(),
        }
    }
}

impl AlertsConfig {
    pub fn validate(&self) -> Result<(), String> {
        if let Some(bad) = self.email.iter().find(|e| !e.contains('@') || e.contains(char::is_whitespace)) {
            return Err(format!("alerts.email: {bad:?} is not an email address"));
        }
        if let Some(url) = &self.webhook_url {
            let local = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"].iter().any(|p| url.starts_with(p));
            if !url.starts_with("https://") && !local {
                return Err("alerts.webhook_url must be https:// (or http:// to this host)".into());
            }
        }
        Ok(())
    }
}

/// Where an alert goes.
#[async_trait]
pub trait AlertSink: Send + Sync {
    async fn send(&self, alert: &Alert) -> Result<(), String>;
}

/// One alert: an audited event, and where people reach Haven.
pub struct Alert {
    pub event: AuditEvent,
    pub public_url: String,
}

impl Alert {
    pub fn subject(&self) -> String {
        format!("Haven security alert: {}", self.event.action)
    }

    /// What happened, for people: the event as the trail has it, and why they get it.
    pub fn text(&self) -> String {
        let e = &self.event;
        format!(
            "Haven recorded a security event that its configuration says to alert on.\n\n\
             What:    {}\nWhen:    {}\nWho:     {}\nTarget:  {}\nAsset:   {}\nFrom:    {}\nDetails: {}\n\
             Event:   {} in the audit trail\n\n\
             See it with `haven audit export` on a Haven node, or in the reports at {}.\n\
             You get this because your address is in alerts.email in Haven's configuration.\n",
            e.action,
            crate::from_micros(e.at_us),
            e.actor,
            e.target,
            e.project,
            e.source,
            e.details,
            e.seq,
            self.public_url
        )
    }
}

/// Email to each address.
pub struct MailSink {
    pub mailer: Arc<dyn Mailer>,
    pub to: Vec<String>,
}

#[async_trait]
impl AlertSink for MailSink {
    async fn send(&self, alert: &Alert) -> Result<(), String> {
        for to in &self.to {
            let mail = Mail { to: to.clone(), subject: alert.subject(), text: alert.text() };
            self.mailer.send(mail).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

pub struct Alerts {
    store: Arc<dyn Store>,
    sinks: Vec<Arc<dyn AlertSink>>,
    actions: HashSet<String>,
    public_url: String,
}

impl Alerts {
    pub fn new(store: Arc<dyn Store>, sinks: Vec<Arc<dyn AlertSink>>, actions: &[String], public_url: &str) -> Self {
        Alerts { store, sinks, actions: actions.iter().cloned().collect(), public_url: public_url.to_string() }
    }

    /// Forward the alerted events appended since the last round; the first round ever starts
    /// at the trail's end (nothing from before alerts were configured). How many were sent. A
    /// sink that fails stops the round at that event, which the next round sends again.
    pub async fn forward(&self) -> Result<u32, CoreError> {
        if self.sinks.is_empty() {
            return Ok(0);
        }
        let last = read(self.store.as_ref(), |tx| {
            Box::pin(async move {
                let last = tx.setting(LAST_SEQ).await?;
                Ok::<_, CoreError>((last, tx.last_audit_seq().await?))
            })
        })
        .await?;
        let from = match last {
            (Some(seq), _) => seq.trim().parse::<i64>().unwrap_or(0),
            (None, head) => {
                self.record(head).await?;
                return Ok(0);
            }
        };
        let mut events = self.store.audit_events(from + 1, i64::MIN).take(ROUND);
        let (mut done, mut sent) = (from, 0);
        while let Some(event) = events.next().await {
            let event = event?;
            if self.actions.contains(&event.action) {
                let alert = Alert { event, public_url: self.public_url.clone() };
                for sink in &self.sinks {
                    if let Err(e) = sink.send(&alert).await {
                        tracing::error!(seq = alert.event.seq, error = %e, "a security alert could not be sent; trying again shortly");
                        drop(events);
                        self.record(done).await?;
                        return Ok(sent);
                    }
                }
                sent += 1;
                done = alert.event.seq;
            } else {
                done = event.seq;
            }
        }
        drop(events);
        if done != from {
            self.record(done).await?;
        }
        Ok(sent)
    }

    async fn record(&self, seq: i64) -> Result<(), CoreError> {
        transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                tx.set_setting(LAST_SEQ, &seq.to_string()).await?;
                Ok::<_, CoreError>(())
            })
        })
        .await
    }
}
