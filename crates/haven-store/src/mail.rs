//! Email through lettre: SMTP (STARTTLS required, TLS from the first byte, or plain to a local
//! relay; servers checked against the Mozilla roots plus an optional CA) or an outbox directory
//! where each message is a `.eml` file (`haven mail list`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use haven_core::identity::{Mail, MailError, Mailer};
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use zeroize::Zeroizing;

/// Where mail goes, from the `mail` section of the configuration.
pub enum MailSettings {
    /// Each message a `.eml` file in this directory (created 0700 by the caller).
    Outbox {
        from: String,
        dir: PathBuf,
    },
    Smtp {
        from: String,
        smtp: SmtpSettings,
    },
}

pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// User name and password, if the server wants them.
    pub credentials: Option<(String, Zeroizing<String>)>,
    /// PEM CA certificates to trust besides the Mozilla roots (an internal relay's CA).
    pub ca_pem: Option<Vec<u8>>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS; refused if the server does not offer it.
    Starttls,
    /// TLS from the first byte.
    Tls,
    /// No encryption: only for a relay on this host.
    None,
}

enum Transport {
    Outbox(AsyncFileTransport<Tokio1Executor>),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

pub struct LettreMailer {
    from: Mailbox,
    transport: Transport,
}

impl LettreMailer {
    /// The mailer, or what is wrong with the settings (named by their configuration keys).
    pub fn new(settings: MailSettings) -> Result<Self, String> {
        let (from, transport) = match settings {
            MailSettings::Outbox { from, dir } => (from, Transport::Outbox(AsyncFileTransport::new(dir))),
            MailSettings::Smtp { from, smtp } => (from, Transport::Smtp(smtp_transport(smtp)?)),
        };
        let from: Mailbox = from.parse().map_err(|e| format!("mail.from is not an email address: {e}"))?;
        Ok(LettreMailer { from, transport })
    }
}

fn smtp_transport(s: SmtpSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let tls = match s.tls {
        SmtpTls::None => Tls::None,
        mode => {
            let mut params = TlsParameters::builder(s.host.clone());
            if let Some(pem) = &s.ca_pem {
                let ca = Certificate::from_pem(pem)
                    .map_err(|e| format!("mail.smtp.ca_file is not a PEM certificate: {e}"))?;
                params = params.add_root_certificate(ca);
            }
            let params = params.build_rustls().map_err(|e| format!("TLS settings for SMTP: {e}"))?;
            if mode == SmtpTls::Starttls { Tls::Required(params) } else { Tls::Wrapper(params) }
        }
    };
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host).tls(tls).port(s.port).timeout(Some(s.timeout));
    if let Some((user, password)) = s.credentials {
        builder = builder.credentials(Credentials::new(user, password.to_string()));
    }
    Ok(builder.build())
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

/// Whether `text` is a sender or recipient lettre accepts, e.g. `Haven <haven@example.org>`.
pub fn is_mailbox(text: &str) -> bool {
    text.parse::<Mailbox>().is_ok()
}

/// One message in the outbox.
pub struct OutboxEntry {
    pub file: PathBuf,
    pub modified: std::time::SystemTime,
    pub to: String,
    pub subject: String,
}

/// The outbox's messages, oldest first.
pub fn list_outbox(dir: &Path) -> std::io::Result<Vec<OutboxEntry>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("eml") {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
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
