//! Authorisation: one deny-by-default function, [`can`]. Use cases ask it about their
//! [`Caller`]; handlers and templates never decide access. Each capability adds its actions here,
//! with rows in the table tests below. Limited sessions (ICE, enrolment, an expired password, an
//! account with no active token) are rows too: each may do only its own task.

use crate::accounts::Role;
use crate::caller::{Caller, Level};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    PublishServiceUpdate,
    ViewAuditTrail,
    /// Service desk: find, add, lock, unlock, disable accounts; reset passwords, fail counters
    /// and tokens; import and assign hardware tokens; switch ICE.
    ManageAccounts,
    /// Create, deliver, activate, PIN, enable, disable and delete one's own OTP tokens.
    ManageOwnTokens,
    /// Request an emergency code (in an ICE session or a full one).
    RequestEmergencyCode,
    /// Set security questions (while onboarding, or signed in fully).
    SetSecurityAnswers,
    /// Change one's password (also when it has expired, or before a token is enrolled).
    ChangeOwnPassword,
    /// Prove both factors again before a credential change (step-up).
    ConfirmIdentity,
    /// Make recovery codes, see and end one's sessions, make repository tokens.
    ManageOwnCredentials,
    /// Read the package repository (indexes and files): any active account, signed in fully or
    /// presenting a repository token.
    ReadPackages,
    /// Ask for software and follow one's own requests.
    RequestPackages,
    /// Change the package policy and decide software requests: package reviewers and the
    /// service desk.
    ManagePackages,
}

impl Action {
    /// Every action, for table tests and the route table's checks.
    pub const ALL: [Action; 12] = [
        Action::PublishServiceUpdate,
        Action::ViewAuditTrail,
        Action::ManageAccounts,
        Action::ManageOwnTokens,
        Action::RequestEmergencyCode,
        Action::SetSecurityAnswers,
        Action::ChangeOwnPassword,
        Action::ConfirmIdentity,
        Action::ManageOwnCredentials,
        Action::ReadPackages,
        Action::RequestPackages,
        Action::ManagePackages,
    ];

    /// What the action is about when a page asks for it without naming a thing: the caller's
    /// own account, or the service.
    pub fn default_resource(self, caller: &Caller) -> Resource<'_> {
        match self {
            Action::ManageOwnTokens
            | Action::RequestEmergencyCode
            | Action::SetSecurityAnswers
            | Action::ChangeOwnPassword
            | Action::ConfirmIdentity
            | Action::ManageOwnCredentials
            | Action::RequestPackages => Resource::Account(&caller.user_id),
            Action::PublishServiceUpdate
            | Action::ViewAuditTrail
            | Action::ManageAccounts
            | Action::ReadPackages
            | Action::ManagePackages => Resource::Service,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    /// The service as a whole (service updates, accounts, the audit trail, the package policy).
    Service,
    /// One user's account and what belongs to it (tokens, codes, sessions, requests).
    Account(&'a str),
    /// Something inside a project (an information asset, a transfer, a workspace), and the user
    /// who owns it, if anyone does. Project-scoped rules are rows on this shape.
    Project { project: &'a str, owner: Option<&'a str> },
}

/// `Forbidden` unless [`can`] allows it: what a use case asks first.
pub fn require(caller: &Caller, action: Action, resource: Resource<'_>) -> Result<(), crate::CoreError> {
    if can(caller, action, resource) { Ok(()) } else { Err(crate::CoreError::Forbidden) }
}

pub fn can(caller: &Caller, action: Action, resource: Resource<'_>) -> bool {
    let level = caller.level;
    // A full session that is not kept to one task (expired password, no token yet).
    let full = level == Level::Full && !caller.limited();
    let console = level == Level::Console && caller.has(Role::System);
    // The console acting in a named administrator's name.
    let console_admin = level == Level::Console && caller.has(Role::Admin);
    let own = |owner: &str| !caller.user_id.is_empty() && owner == caller.user_id;
    match (action, resource) {
        (Action::PublishServiceUpdate | Action::ViewAuditTrail | Action::ManageAccounts, Resource::Service) => {
            (full && caller.has(Role::Admin)) || console || console_admin
        }
        (Action::ManagePackages, Resource::Service) => {
            (full && (caller.has(Role::Admin) || caller.has(Role::PackageReviewer))) || console
        }
        (Action::ReadPackages, Resource::Service) => matches!(level, Level::Full | Level::Repository),
        (Action::RequestPackages, Resource::Account(owner)) => own(owner) && full,
        (Action::ManageOwnTokens, Resource::Account(owner)) => {
            own(owner)
                && (matches!(level, Level::Ice | Level::Enrol) || (level == Level::Full && !caller.password_expired()))
        }
        (Action::RequestEmergencyCode, Resource::Account(owner)) => own(owner) && (level == Level::Ice || full),
        (Action::SetSecurityAnswers, Resource::Account(owner)) => {
            own(owner) && (level == Level::Enrol || (level == Level::Full && !caller.password_expired()))
        }
        (Action::ChangeOwnPassword | Action::ConfirmIdentity, Resource::Account(owner)) => {
            own(owner) && level == Level::Full
        }
        (Action::ManageOwnCredentials, Resource::Account(owner)) => own(owner) && full,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caller::Session;

    fn caller(id: &str, roles: &[Role], level: Level) -> Caller {
        let mut c = Caller::anonymous("192.0.2.1", "");
        c.user_id = id.to_string();
        c.roles = roles.to_vec();
        c.level = level;
        c
    }

    /// A full session kept to one task: an expired password, or no active token yet.
    fn limited(id: &str, roles: &[Role], password_expired: bool, needs_token: bool) -> Caller {
        let mut c = caller(id, roles, Level::Full);
        c.session = Some(Session {
            hash: [0; 32],
            email: String::new(),
            mfa_at_us: 0,
            created_us: 0,
            password_expired,
            needs_token,
        });
        c
    }

    #[test]
    fn service_actions_need_a_fully_signed_in_admin_or_the_console() {
        let service = [Action::PublishServiceUpdate, Action::ViewAuditTrail, Action::ManageAccounts];
        for action in service {
            assert!(can(&caller("root", &[Role::Admin], Level::Full), action, Resource::Service));
            assert!(can(&Caller::console(), action, Resource::Service));
            assert!(can(&Caller::console_as("root", vec![Role::Admin]), action, Resource::Service));
            assert!(!can(&Caller::console_as("alice", vec![Role::Researcher]), action, Resource::Service));
            assert!(!can(&Caller::console_as("gone", Vec::new()), action, Resource::Service));
            for level in [Level::Ice, Level::Enrol, Level::Repository, Level::Anonymous] {
                assert!(!can(&caller("root", &[Role::Admin], level), action, Resource::Service), "{action:?}");
            }
            assert!(!can(&limited("root", &[Role::Admin], true, false), action, Resource::Service));
            assert!(!can(&limited("root", &[Role::Admin], false, true), action, Resource::Service));
            assert!(!can(&caller("alice", &[Role::Researcher], Level::Full), action, Resource::Service));
            assert!(!can(&Caller::anonymous("", ""), action, Resource::Service));
            // The system role is the console's alone: a session holding it gets nothing from it.
            assert!(!can(&caller("root", &[Role::System], Level::Full), action, Resource::Service));
            assert!(!can(
                &caller("root", &[Role::Admin], Level::Full),
                action,
                Resource::Project { project: "p1", owner: None }
            ));
        }
    }

    #[test]
    fn package_actions() {
        use Level::*;
        let researcher = [Role::Researcher];
        let reviewer = [Role::PackageReviewer];
        for (roles, level, read, manage) in [
            (&researcher[..], Full, true, false),
            (&researcher[..], Repository, true, false),
            (&researcher[..], Ice, false, false),
            (&researcher[..], Enrol, false, false),
            (&researcher[..], Anonymous, false, false),
            (&reviewer[..], Full, true, true),
            (&reviewer[..], Repository, true, false),
            (&[Role::Admin][..], Full, true, true),
        ] {
            let a = caller("alice", roles, level);
            assert_eq!(can(&a, Action::ReadPackages, Resource::Service), read, "{roles:?} {level:?}");
            assert_eq!(can(&a, Action::ManagePackages, Resource::Service), manage, "{roles:?} {level:?}");
            assert_eq!(can(&a, Action::RequestPackages, Resource::Account("alice")), level == Full);
            assert!(!can(&a, Action::ReadPackages, Resource::Project { project: "p", owner: Some("alice") }));
        }
        assert!(can(&Caller::console(), Action::ManagePackages, Resource::Service));
        // A limited full session reads (a pip run with a browser cookie) but decides nothing.
        let expired = limited("bob", &reviewer, true, false);
        assert!(can(&expired, Action::ReadPackages, Resource::Service));
        assert!(!can(&expired, Action::ManagePackages, Resource::Service));
        assert!(!can(&expired, Action::RequestPackages, Resource::Account("bob")));
        // A repository token does nothing else, not even on its own account.
        for action in Action::ALL.into_iter().filter(|a| *a != Action::ReadPackages) {
            let a = caller("alice", &[Role::Admin], Repository);
            assert!(!can(&a, action, Resource::Service), "{action:?}");
            assert!(!can(&a, action, Resource::Account("alice")), "{action:?}");
        }
    }

    #[test]
    fn own_account_actions_never_reach_another_account() {
        for action in Action::ALL {
            for level in [Level::Full, Level::Ice, Level::Enrol, Level::Console] {
                for roles in [&[Role::Admin][..], &[Role::Researcher][..], &[Role::System][..]] {
                    let a = caller("alice", roles, level);
                    assert!(!can(&a, action, Resource::Account("bob")), "{action:?} {level:?} {roles:?}");
                }
            }
            // Nobody signed in owns nothing, not even the account with no name.
            assert!(!can(&Caller::anonymous("", ""), action, Resource::Account("")), "{action:?}");
        }
    }

    /// The lanes of limited sessions: what each may do on its own account.
    #[test]
    fn own_account_actions_by_session() {
        let rows: [(Action, [bool; 5]); 7] = [
            // (action, [full, ICE, enrolment, password expired, no token yet])
            (Action::ManageOwnTokens, [true, true, true, false, true]),
            (Action::RequestEmergencyCode, [true, true, false, false, false]),
            (Action::SetSecurityAnswers, [true, false, true, false, true]),
            (Action::ChangeOwnPassword, [true, false, false, true, true]),
            (Action::ConfirmIdentity, [true, false, false, true, true]),
            (Action::ManageOwnCredentials, [true, false, false, false, false]),
            (Action::RequestPackages, [true, false, false, false, false]),
        ];
        let r = [Role::Researcher];
        let sessions = [
            caller("alice", &r, Level::Full),
            caller("alice", &r, Level::Ice),
            caller("alice", &r, Level::Enrol),
            limited("alice", &r, true, false),
            limited("alice", &r, false, true),
        ];
        for (action, allowed) in rows {
            for (session, want) in sessions.iter().zip(allowed) {
                assert_eq!(can(session, action, Resource::Account("alice")), want, "{action:?} {session:?}");
            }
        }
        // An expired password comes first: with no token either, only the password.
        let both = limited("alice", &r, true, true);
        let allowed: Vec<Action> =
            Action::ALL.into_iter().filter(|a| can(&both, *a, Resource::Account("alice"))).collect();
        assert_eq!(allowed, [Action::ChangeOwnPassword, Action::ConfirmIdentity]);
    }
}
