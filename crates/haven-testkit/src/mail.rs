//! A mailer that keeps messages in memory, for in-process tests (the real SMTP path is tested
//! against an SMTP server process in the `haven` crate's tests).

use std::sync::Mutex;

use async_trait::async_trait;
use haven_core::identity::{Mail, MailError, Mailer};

#[derive(Default)]
pub struct MemoryMailer(Mutex<Vec<Mail>>);

impl MemoryMailer {
    pub fn sent(&self) -> Vec<Mail> {
        self.0.lock().unwrap().clone()
    }
    /// The last message sent to `to`.
    /// Every message sent to `to`, oldest first.
    pub fn to(&self, to: &str) -> Vec<Mail> {
        self.sent().into_iter().filter(|m| m.to == to).collect()
    }

    pub fn last_to(&self, to: &str) -> Option<Mail> {
        self.sent().into_iter().rev().find(|m| m.to == to)
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, mail: Mail) -> Result<(), MailError> {
        self.0.lock().unwrap().push(mail);
        Ok(())
    }
}
