//! The stored records of identity: accounts with their sign-in state, OTP tokens, sessions and
//! single-use links. Plain data; the rules that change them live in the sibling modules.

use crate::accounts::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    /// Locked by the service desk until unlocked (automatic lockouts use `locked_until_us`).
    Locked,
    Disabled,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Locked => "locked",
            AccountStatus::Disabled => "disabled",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(AccountStatus::Active),
            "locked" => Some(AccountStatus::Locked),
            "disabled" => Some(AccountStatus::Disabled),
            _ => None,
        }
    }
}

/// An account with everything sign-in needs.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub status: AccountStatus,
    pub roles: Vec<Role>,
    pub password_hash: String,
    pub created_us: i64,
    pub failed_signins: i64,
    /// An automatic lockout ends at this time (0: none).
    pub locked_until_us: i64,
    pub password_changed_us: i64,
    pub ice_enabled: bool,
    pub last_signin_us: i64,
}

impl Account {
    /// The password was never set (an account waiting for its onboarding link).
    pub fn has_password(&self) -> bool {
        !self.password_hash.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpKind {
    Totp,
    Hotp,
}

impl OtpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OtpKind::Totp => "totp",
            OtpKind::Hotp => "hotp",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "totp" => Some(OtpKind::Totp),
            "hotp" => Some(OtpKind::Hotp),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    /// Made, seed not yet handed to the user's app (or handed out but not confirmed by a code).
    Pending,
    Active,
    Disabled,
    /// Too many failures; the service desk resets it.
    Locked,
    /// A hardware token imported from PSKC, not yet assigned to anyone.
    Unassigned,
}

impl TokenState {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenState::Pending => "pending",
            TokenState::Active => "active",
            TokenState::Disabled => "disabled",
            TokenState::Locked => "locked",
            TokenState::Unassigned => "unassigned",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(TokenState::Pending),
            "active" => Some(TokenState::Active),
            "disabled" => Some(TokenState::Disabled),
            "locked" => Some(TokenState::Locked),
            "unassigned" => Some(TokenState::Unassigned),
            _ => None,
        }
    }
    /// How the state reads in the token list.
    pub fn label(self) -> &'static str {
        match self {
            TokenState::Pending => "Waiting for its first code",
            TokenState::Active => "Active",
            TokenState::Disabled => "Disabled",
            TokenState::Locked => "Locked (too many failures)",
            TokenState::Unassigned => "Not assigned",
        }
    }
}

#[derive(Debug, Clone)]
pub struct OtpTokenRecord {
    pub serial: String,
    pub user_id: Option<String>,
    pub kind: OtpKind,
    /// `mobileid_totp`, `event_hotp` or `hardware`.
    pub product: String,
    /// `SHA1`, `SHA256` or `SHA512`.
    pub algorithm: String,
    pub digits: i64,
    /// TOTP step in seconds (unused for HOTP).
    pub period: i64,
    /// The seed, encrypted under the OTP seed key and bound to the serial.
    pub seed_sealed: Vec<u8>,
    /// HOTP: the next counter expected.
    pub counter: i64,
    /// TOTP: the last step accepted (never accepted again); -1 when none.
    pub last_step: i64,
    /// TOTP: learned clock drift, in steps.
    pub drift: i64,
    pub pin_hash: Option<String>,
    pub state: TokenState,
    pub failures: i64,
    pub created_us: i64,
    pub last_used_us: i64,
}

impl OtpTokenRecord {
    pub fn product_label(&self) -> &'static str {
        match self.product.as_str() {
            "mobileid_totp" => "MobileID/Time-Based",
            "event_hotp" => "Event-Based",
            _ => "Hardware",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// Signed in with password and a second factor.
    Full,
    /// ICE logon (password and security questions): may create a soft token and request an
    /// emergency code, nothing else.
    Ice,
    /// A new account or reset password on its onboarding link: may set security questions and
    /// enrol a token, nothing else.
    Enrol,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Full => "full",
            SessionKind::Ice => "ice",
            SessionKind::Enrol => "enrol",
        }
    }
    /// What a caller with a session of this kind may do (see `authz`).
    pub fn level(self) -> crate::caller::Level {
        match self {
            SessionKind::Full => crate::caller::Level::Full,
            SessionKind::Ice => crate::caller::Level::Ice,
            SessionKind::Enrol => crate::caller::Level::Enrol,
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "full" => Some(SessionKind::Full),
            "ice" => Some(SessionKind::Ice),
            "enrol" => Some(SessionKind::Enrol),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub hash: [u8; 32],
    pub user_id: String,
    pub kind: SessionKind,
    pub created_us: i64,
    pub last_seen_us: i64,
    /// When the user last proved password and second factor in this session (0: never).
    pub mfa_at_us: i64,
    pub source: String,
    pub user_agent: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// First password, security questions and token for a new account.
    Onboarding,
    /// A new password chosen after a second factor (set by the service desk).
    PasswordReset,
    /// Shows a token's QR code once to its signed-in owner.
    TokenDelivery,
    /// Carries a half-finished ICE logon from the password step to the questions.
    IceQuestions,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Onboarding => "onboarding",
            LinkPurpose::PasswordReset => "password_reset",
            LinkPurpose::TokenDelivery => "token_delivery",
            LinkPurpose::IceQuestions => "ice_questions",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LinkRecord {
    pub hash: [u8; 32],
    pub purpose: LinkPurpose,
    pub user_id: String,
    /// What the link is about (a token serial), or empty.
    pub subject: String,
    pub created_us: i64,
    pub expires_us: i64,
}

/// A security question and the argon2id hash of its (case-sensitive) answer.
#[derive(Debug, Clone)]
pub struct SecurityAnswer {
    pub position: i64,
    pub question: String,
    pub answer_hash: String,
}

#[derive(Debug, Clone)]
pub struct EmergencyCode {
    pub user_id: String,
    pub code_hash: String,
    pub created_us: i64,
    pub expires_us: i64,
}
