//! Security alerts POSTed as JSON to `alerts.webhook_url` (a chat bridge, an incident tool).

use std::time::Duration;

use async_trait::async_trait;
use haven_core::alerts::{Alert, AlertSink};

pub struct WebhookSink {
    client: reqwest::Client,
    url: String,
}

impl WebhookSink {
    pub fn new(url: &str) -> anyhow::Result<WebhookSink> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(WebhookSink { client, url: url.to_string() })
    }
}

#[async_trait]
impl AlertSink for WebhookSink {
    async fn send(&self, alert: &Alert) -> Result<(), String> {
        let e = &alert.event;
        let details: serde_json::Value = serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null);
        let body = serde_json::json!({
            "text": alert.subject(),
            "action": e.action, "seq": e.seq, "at_us": e.at_us, "actor": e.actor, "target": e.target,
            "asset": e.project, "source": e.source, "details": details, "haven": alert.public_url,
        });
        let answer = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("the webhook: {e}"))?;
        if !answer.status().is_success() {
            return Err(format!("the webhook answered {}", answer.status()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn an_alert_is_posted_as_json_and_a_refusal_is_an_error() {
        crate::install_crypto_provider();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().unwrap().port());
        let server = tokio::spawn(async move {
            let mut bodies = Vec::new();
            for status in ["200 OK", "500 Internal Server Error"] {
                let (mut conn, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 65536];
                let mut got = Vec::new();
                while !String::from_utf8_lossy(&got).contains("\"haven\"") {
                    let n = conn.read(&mut buf).await.unwrap();
                    got.extend_from_slice(&buf[..n]);
                }
                conn.write_all(
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes(),
                )
                .await
                .unwrap();
                bodies.push(String::from_utf8_lossy(&got).into_owned());
            }
            bodies
        });
        let event = haven_core::audit::AuditEvent {
            seq: 7,
            at_us: 0,
            actor: "system".into(),
            action: "account.locked".into(),
            target: "alice".into(),
            project: String::new(),
            source: "203.0.113.9".into(),
            details: r#"{"failures":10}"#.into(),
            prev_hash: [0; 32],
            hash: [0; 32],
        };
        let alert = Alert { event, public_url: "https://haven.example".into() };
        let sink = WebhookSink::new(&url).unwrap();
        sink.send(&alert).await.unwrap();
        assert!(sink.send(&alert).await.unwrap_err().contains("500"));
        let bodies = server.await.unwrap();
        assert!(bodies[0].starts_with("POST /hook"), "{}", bodies[0]);
        assert!(
            bodies[0].contains(r#""action":"account.locked""#) && bodies[0].contains(r#""failures":10"#),
            "{}",
            bodies[0]
        );
    }
}
