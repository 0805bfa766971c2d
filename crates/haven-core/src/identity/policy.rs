//! The security policy: every number of the Security & Tokens portal that an operator may tune,
//! with the service's own values as defaults. It is the `[security]` section of the configuration.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityPolicy {
    /// Shortest password accepted (characters). At least 8.
    pub password_min_chars: usize,
    /// Lowest zxcvbn strength score accepted, 0 (any) to 4 (strongest).
    pub password_min_score: u8,
    /// Days after which a password must be changed; 0 turns expiry off.
    pub password_expiry_days: u32,
    /// How many earlier passwords may not be reused.
    pub password_history: u32,
    /// Consecutive failed sign-ins that lock an account.
    pub lockout_failures: u32,
    /// How long an automatic lockout lasts.
    pub lockout_minutes: u32,
    /// Consecutive failures that lock a token until the service desk resets it.
    pub token_max_failures: u32,
    /// Failed sign-ins from one address, within `address_window_minutes`, before it is refused.
    pub address_max_failures: u32,
    pub address_window_minutes: u32,
    pub session_idle_minutes: u32,
    pub session_absolute_hours: u32,
    /// Credential changes need a sign-in with both factors this recently.
    pub fresh_mfa_minutes: u32,
    /// Shortest token PIN (digits), 4 to 8.
    pub pin_min_digits: usize,
    /// Lifetime of an emergency code, 1 to 24 hours.
    pub emergency_code_hours: u32,
    /// ICE logon for everyone (the service desk can also turn it off per user, or for everyone).
    pub ice_enabled: bool,
    /// ICE attempts (password or answers) allowed per account per hour.
    pub ice_attempts_per_hour: u32,
    /// The questions users choose three of when onboarding.
    pub security_questions: Vec<String>,
    /// The issuer authenticator apps show beside the account.
    pub token_issuer: String,
    pub token_email_subject: String,
    pub delivery_link_hours: u32,
    pub onboarding_link_hours: u32,
    pub reset_link_hours: u32,
}

impl Default for SecurityPolicy {
    fn default() -> Self {
        SecurityPolicy {
            password_min_chars: 12,
            password_min_score: 3,
            password_expiry_days: 90,
            password_history: 5,
            lockout_failures: 10,
            lockout_minutes: 30,
            token_max_failures: 10,
            address_max_failures: 50,
            address_window_minutes: 15,
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            fresh_mfa_minutes: 10,
            pin_min_digits: 4,
            emergency_code_hours: 24,
            ice_enabled: true,
            ice_attempts_per_hour: 5,
            security_questions: [
                "What was the name of the street you grew up on?",
                "What was the name of your first school?",
                "What is the name of a town you would like to visit?",
                "What was the make of your first car or bicycle?",
                "What is the title of a book you read more than once?",
                "What was the name of your first employer?",
                "What is the middle name of your oldest cousin?",
            ]
            .map(String::from)
            .to_vec(),
            token_issuer: "Haven".into(),
            token_email_subject: "Haven - Your Token (MobileID)".into(),
            delivery_link_hours: 24,
            onboarding_link_hours: 72,
            reset_link_hours: 24,
        }
    }
}

impl SecurityPolicy {
    /// Whether the values make sense together; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        let checks: [(bool, &str); 10] = [
            ((8..=64).contains(&self.password_min_chars), "password_min_chars must be 8 to 64"),
            (self.password_min_score <= 4, "password_min_score must be 0 to 4"),
            ((4..=8).contains(&self.pin_min_digits), "pin_min_digits must be 4 to 8"),
            ((1..=24).contains(&self.emergency_code_hours), "emergency_code_hours must be 1 to 24"),
            (self.lockout_failures >= 1 && self.lockout_failures <= 100, "lockout_failures must be 1 to 100"),
            (self.token_max_failures >= 1 && self.token_max_failures <= 100, "token_max_failures must be 1 to 100"),
            (self.session_idle_minutes >= 1 && self.session_absolute_hours >= 1, "session timeouts must be at least 1"),
            (self.security_questions.len() >= 3, "security_questions needs at least 3 questions"),
            ((1..=10).contains(&self.ice_attempts_per_hour), "ice_attempts_per_hour must be 1 to 10"),
            (
                (1..=168).contains(&self.delivery_link_hours)
                    && (1..=720).contains(&self.onboarding_link_hours)
                    && (1..=168).contains(&self.reset_link_hours),
                "link lifetimes must be at least 1 hour (delivery and reset at most 168, onboarding at most 720)",
            ),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, why)) => Err(format!("security.{why}")),
            None => Ok(()),
        }
    }
}
