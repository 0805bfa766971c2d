//! Security alerts forwarded from the audit trail, on both databases: only the configured
//! actions, each once, nothing from before alerts began, and a sink that fails is tried again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use haven_core::alerts::{Alert, AlertSink, Alerts, DEFAULT_ACTIONS, MailSink};
use haven_core::audit::{NewAuditEvent, action};
use haven_core::{Store, StoreError, transact};
use haven_testkit::app::TestApp;
use haven_testkit::db::TestDb;

haven_testkit::contract!(alerted_events_are_forwarded_once_and_retried_when_a_sink_fails);

async fn append(store: &dyn Store, what: &'static str, target: &'static str) {
    transact(store, move |tx| {
        Box::pin(async move {
            let e = NewAuditEvent::new(time::OffsetDateTime::UNIX_EPOCH, "system", what)
                .target(target)
                .details(serde_json::json!({"failures": 10}));
            tx.append_audit(e).await.map(|_| ())
        })
    })
    .await
    .map_err(|e: StoreError| e)
    .unwrap();
}

/// A webhook that is down until told otherwise.
struct Flaky(AtomicBool, std::sync::Mutex<Vec<String>>);

#[async_trait]
impl AlertSink for Flaky {
    async fn send(&self, alert: &Alert) -> Result<(), String> {
        if !self.0.load(Ordering::SeqCst) {
            return Err("down".into());
        }
        self.1.lock().unwrap().push(alert.event.target.clone());
        Ok(())
    }
}

async fn alerted_events_are_forwarded_once_and_retried_when_a_sink_fails(db: TestDb) {
    let app = TestApp::builder().db(db).build().await;
    let store = app.store.clone();
    append(store.as_ref(), action::ACCOUNT_LOCKED, "before-alerts").await;
    let actions: Vec<String> = DEFAULT_ACTIONS.iter().map(|a| a.to_string()).collect();
    let mail = Arc::new(MailSink { mailer: app.mail.clone(), to: vec!["desk@example.org".into()] });
    let alerts = Alerts::new(store.clone(), vec![mail], &actions, "https://haven.example");
    assert_eq!(alerts.forward().await.unwrap(), 0, "the first round starts at the trail's end");

    append(store.as_ref(), action::ACCOUNT_LOCKED, "alice").await;
    append(store.as_ref(), "session.signed_in", "bob").await;
    append(store.as_ref(), action::LEASE_TAKEN_OVER, "background").await;
    assert_eq!(alerts.forward().await.unwrap(), 2);
    assert_eq!(alerts.forward().await.unwrap(), 0, "each once");
    let sent = app.mail.to("desk@example.org");
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].subject, "Haven security alert: account.locked");
    assert!(sent[0].text.contains("alice") && sent[0].text.contains("alerts.email"), "{}", sent[0].text);
    assert!(!sent.iter().any(|m| m.text.contains("before-alerts") || m.text.contains("bob")));

    // A webhook that is down: the round stops there, and the next sends it.
    let hook = Arc::new(Flaky(AtomicBool::new(false), std::sync::Mutex::new(Vec::new())));
    let alerts = Alerts::new(store.clone(), vec![hook.clone()], &actions, "https://haven.example");
    append(store.as_ref(), action::TOKEN_LOCKED, "HVN00000001").await;
    assert_eq!(alerts.forward().await.unwrap(), 0);
    hook.0.store(true, Ordering::SeqCst);
    assert_eq!(alerts.forward().await.unwrap(), 1);
    assert_eq!(*hook.1.lock().unwrap(), ["HVN00000001"]);
}
