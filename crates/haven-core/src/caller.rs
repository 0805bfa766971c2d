//! Who is acting: one [`Caller`], made once at the edge (the web's session extractor, a package
//! client's credentials, the command line) and handed to every use case, which asks
//! [`crate::authz::can`] itself. The caller also carries where the request came from, for the
//! audit trail and rate limits.

use crate::CoreError;
use crate::accounts::Role;
use crate::audit::actor;

/// How the caller proved who they are. ICE and enrolment sessions may do only a few things; a
/// repository token only reads packages; the console holds the data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// No one signed in: sign-in, ICE logon, links from emails, bootstrap.
    Anonymous,
    /// A portal session after both factors.
    Full,
    /// An emergency (ICE) session: tokens and emergency codes only.
    Ice,
    /// An onboarding session: enrol a token and set security questions.
    Enrol,
    /// A package client with a repository token.
    Repository,
    /// The operator at the server (`haven …` commands), who already holds the data directory.
    Console,
    /// A program with a read-only API token: reads what its owner may read in governance.
    ApiRead,
    /// A program with a read-write API token: also changes what its owner may change there.
    ApiWrite,
    /// An external provider holding a drop-off link: sends files through it, nothing else.
    DropLink,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Anonymous => "anonymous",
            Level::Full => "full",
            Level::Ice => "ice",
            Level::Enrol => "enrol",
            Level::Repository => "repository",
            Level::Console => "console",
            Level::ApiRead => "api:read",
            Level::ApiWrite => "api:write",
            Level::DropLink => "drop-link",
        }
    }
}

/// The portal session behind a caller.
#[derive(Debug, Clone)]
pub struct Session {
    /// SHA-256 of the cookie secret.
    pub hash: [u8; 32],
    pub email: String,
    /// When both factors were last proven (0: never in this session).
    pub mfa_at_us: i64,
    pub created_us: i64,
    /// The password is older than the policy allows: only changing it is possible.
    pub password_expired: bool,
    /// The account has no active token yet: it must enrol one before anything else.
    pub needs_token: bool,
}

#[derive(Debug, Clone)]
pub struct Caller {
    /// The account acting; `console` for the console, empty when anonymous.
    pub user_id: String,
    pub roles: Vec<Role>,
    pub level: Level,
    /// The client's address (empty when unknown).
    pub source: String,
    pub user_agent: String,
    /// The portal session, for callers that came with one.
    pub session: Option<Session>,
}

impl Caller {
    /// Someone not signed in, from `source`.
    pub fn anonymous(source: &str, user_agent: &str) -> Self {
        Caller {
            user_id: String::new(),
            roles: Vec::new(),
            level: Level::Anonymous,
            source: source.to_string(),
            user_agent: user_agent.to_string(),
            session: None,
        }
    }

    /// The operator at the server's console: audited as `console`, with the system role.
    pub fn console() -> Self {
        Caller {
            user_id: actor::CONSOLE.to_string(),
            roles: vec![Role::System],
            level: Level::Console,
            source: actor::CONSOLE.to_string(),
            user_agent: String::new(),
            session: None,
        }
    }

    /// An administrator named at the console (`haven updates publish --as`): the console acts in
    /// their name, with their roles (none when the account is not active).
    pub fn console_as(user_id: &str, roles: Vec<Role>) -> Self {
        Caller { user_id: user_id.to_string(), roles, ..Caller::console() }
    }

    /// A package client that presented `user_id`'s repository token.
    pub fn repository(user_id: &str, roles: Vec<Role>, source: &str) -> Self {
        Caller {
            user_id: user_id.to_string(),
            roles,
            level: Level::Repository,
            source: source.to_string(),
            user_agent: String::new(),
            session: None,
        }
    }

    /// A program that presented `user_id`'s API token (`write`: a read-write one).
    pub fn api(user_id: &str, roles: Vec<Role>, write: bool, source: &str, user_agent: &str) -> Self {
        Caller {
            user_id: user_id.to_string(),
            roles,
            level: if write { Level::ApiWrite } else { Level::ApiRead },
            source: source.to_string(),
            user_agent: user_agent.to_string(),
            session: None,
        }
    }

    /// A provider who opened drop-off link `link_id`: audited as `link:<id>`.
    pub fn drop_link(link_id: &str, source: &str, user_agent: &str) -> Self {
        Caller {
            user_id: format!("link:{link_id}"),
            roles: Vec::new(),
            level: Level::DropLink,
            source: source.to_string(),
            user_agent: user_agent.to_string(),
            session: None,
        }
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The name the audit trail records for this caller.
    pub fn audit_name(&self) -> &str {
        if self.level == Level::Anonymous { actor::ANONYMOUS } else { &self.user_id }
    }

    /// A session kept to one task until it is done: an ICE or enrolment session, an expired
    /// password, or an account with no active token.
    pub fn limited(&self) -> bool {
        matches!(self.level, Level::Ice | Level::Enrol)
            || self.session.as_ref().is_some_and(|s| s.password_expired || s.needs_token)
    }

    /// The account's email address, when the caller came with a portal session (empty otherwise).
    pub fn email(&self) -> &str {
        self.session.as_ref().map_or("", |s| s.email.as_str())
    }

    /// The portal session, or `Forbidden` for a caller without one.
    pub fn session(&self) -> Result<&Session, CoreError> {
        self.session.as_ref().ok_or(CoreError::Forbidden)
    }

    /// Whether both factors were proven within `window` before `now_us` (a step-up).
    pub fn fresh(&self, now_us: i64, window: time::Duration) -> bool {
        self.level == Level::Full
            && self
                .session
                .as_ref()
                .is_some_and(|s| s.mfa_at_us > 0 && now_us - s.mfa_at_us <= window.whole_microseconds() as i64)
    }

    /// Whether the password must be changed before anything else.
    pub fn password_expired(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.password_expired)
    }

    /// Whether the account must enrol a token before anything else.
    pub fn needs_token(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.needs_token)
    }
}
