//! Email through lettre: SMTP (STARTTLS required, TLS from the first byte, or plain to a local
//! relay; servers checked against the Mozilla roots plus `mail.smtp.ca_file`) or, by default, an outbox
//! directory in the data directory where each message is a `.eml` file (`haven mail list`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use haven_core::identity::{Mail, MailError, Mailer};
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{MailConfig, MailTransport, SmtpTls};
use crate::datadir::DataDir;

enum Transport {
    Outbox(AsyncFileTransport<Tokio1Executor>),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

pub struct LettreMailer {
    from: Mailbox,
    transport: Transport,
}

impl LettreMailer {
    pub fn new(config: &MailConfig, data: &DataDir) -> Result<Self> {
        let from: Mailbox = config.from.parse().context("mail.from is not an email address")?;
        let transport = match config.transport {
            MailTransport::Outbox => {
                let dir = crate::datadir::ensure_private_dir(&data.outbox())?;
                Transport::Outbox(AsyncFileTransport::new(dir))
            }
            MailTransport::Smtp => {
                let s = &config.smtp;
                let tls = match s.tls {
                    SmtpTls::None => Tls::None,
                    mode => {
                        let mut params = TlsParameters::builder(s.host.clone());
                        if let Some(ca) = &s.ca_file {
                            let pem = std::fs::read(ca)
                                .with_context(|| format!("read mail.smtp.ca_file {}", ca.display()))?;
                            params = params.add_root_certificate(
                                Certificate::from_pem(&pem).context("mail.smtp.ca_file is not a PEM certificate")?,
                            );
                        }
                        let params = params.build_rustls().context("TLS settings for SMTP")?;
                        if mode == SmtpTls::Starttls { Tls::Required(params) } else { Tls::Wrapper(params) }
                    }
                };
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
                    .tls(tls)
                    .port(s.port)
                    .timeout(Some(Duration::from_secs(s.timeout_secs)));
                if let (Some(user), Some(password)) = (&s.username, &s.password) {
                    builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_string()));
                }
                Transport::Smtp(builder.build())
            }
        };
        Ok(LettreMailer { from, transport })
    }
}

#[async_trait]
impl Mailer for LettreMailer {
    async fn send(&self, mail: Mail) -> Result<(), MailError> {
        let to: Mailbox = mail.to.parse().map_err(|e| MailError(format!("bad recipient: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text)
            .map_err(|e| MailError(e.to_string()))?;
        match &self.transport {
            Transport::Outbox(t) => t.send(message).await.map(|_| ()).map_err(|e| MailError(e.to_string())),
            Transport::Smtp(t) => t.send(message).await.map(|_| ()).map_err(|e| MailError(e.to_string())),
        }
    }
}

/// One message in the outbox.
pub struct OutboxEntry {
    pub file: PathBuf,
    pub modified: std::time::SystemTime,
    pub to: String,
    pub subject: String,
}

/// The outbox's messages, oldest first.
pub fn list_outbox(dir: &Path) -> Result<Vec<OutboxEntry>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("read {}", dir.display())),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("eml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
        let header = |name: &str| {
            text.lines()
                .take_while(|l| !l.is_empty())
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
                .unwrap_or_default()
        };
        out.push(OutboxEntry {
            modified: entry.metadata()?.modified()?,
            to: header("To:"),
            subject: header("Subject:"),
            file: path,
        });
    }
    out.sort_by_key(|e| e.modified);
    Ok(out)
}
