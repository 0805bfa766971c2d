//! Authorisation: one deny-by-default function. Handlers ask `can()`; they never decide access
//! themselves. Each capability adds its actions here, with rows in the table test below.

use crate::accounts::Role;
use crate::identity::records::SessionKind;

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
    /// Change one's password, make recovery codes, see and end one's sessions.
    ManageOwnCredentials,
    /// Read the package repository (indexes and files): any active account, signed in fully or
    /// presenting a repository token.
    ReadPackages,
    /// Change the package policy and decide software requests: package reviewers and the
    /// service desk.
    ManagePackages,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    /// The service as a whole (service updates, accounts, the audit trail).
    Service,
    Project(&'a str),
    /// One user's account and what belongs to it (tokens, codes, sessions).
    Account(&'a str),
}

#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub user_id: &'a str,
    pub roles: &'a [Role],
    /// Only active accounts act.
    pub active: bool,
    /// How the actor signed in: ICE and enrolment sessions may do only a few things.
    pub level: SessionKind,
}

impl Actor<'_> {
    fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

pub fn can(actor: Option<&Actor<'_>>, action: Action, resource: Resource<'_>) -> bool {
    let Some(actor) = actor else { return false };
    if !actor.active {
        return false;
    }
    let full = actor.level == SessionKind::Full;
    match (action, resource) {
        (Action::PublishServiceUpdate | Action::ViewAuditTrail | Action::ManageAccounts, Resource::Service) => {
            full && actor.has(Role::Admin)
        }
        (Action::ManageOwnTokens, Resource::Account(owner)) => {
            owner == actor.user_id && actor.level != SessionKind::Repository
        }
        (Action::ReadPackages, Resource::Service) => matches!(actor.level, SessionKind::Full | SessionKind::Repository),
        (Action::ManagePackages, Resource::Service) => {
            full && (actor.has(Role::Admin) || actor.has(Role::PackageReviewer))
        }
        (Action::RequestEmergencyCode, Resource::Account(owner)) => {
            owner == actor.user_id && matches!(actor.level, SessionKind::Full | SessionKind::Ice)
        }
        (Action::SetSecurityAnswers, Resource::Account(owner)) => {
            owner == actor.user_id && matches!(actor.level, SessionKind::Full | SessionKind::Enrol)
        }
        (Action::ManageOwnCredentials, Resource::Account(owner)) => owner == actor.user_id && full,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Action; 9] = [
        Action::PublishServiceUpdate,
        Action::ViewAuditTrail,
        Action::ManageAccounts,
        Action::ManageOwnTokens,
        Action::RequestEmergencyCode,
        Action::SetSecurityAnswers,
        Action::ManageOwnCredentials,
        Action::ReadPackages,
        Action::ManagePackages,
    ];

    fn actor<'a>(id: &'a str, roles: &'a [Role], active: bool, level: SessionKind) -> Actor<'a> {
        Actor { user_id: id, roles, active, level }
    }

    #[test]
    fn service_actions_need_a_fully_signed_in_active_admin() {
        let service = [Action::PublishServiceUpdate, Action::ViewAuditTrail, Action::ManageAccounts];
        for action in service {
            assert!(can(Some(&actor("root", &[Role::Admin], true, SessionKind::Full)), action, Resource::Service));
            for level in [SessionKind::Ice, SessionKind::Enrol] {
                assert!(
                    !can(Some(&actor("root", &[Role::Admin], true, level)), action, Resource::Service),
                    "{action:?}"
                );
            }
            assert!(!can(Some(&actor("root", &[Role::Admin], false, SessionKind::Full)), action, Resource::Service));
            assert!(!can(
                Some(&actor("alice", &[Role::Researcher], true, SessionKind::Full)),
                action,
                Resource::Service
            ));
            assert!(!can(None, action, Resource::Service));
            assert!(!can(
                Some(&actor("root", &[Role::Admin], true, SessionKind::Full)),
                action,
                Resource::Project("p1")
            ));
        }
    }

    #[test]
    fn package_actions() {
        use SessionKind::*;
        let researcher = [Role::Researcher];
        let reviewer = [Role::PackageReviewer];
        for (roles, level, read, manage) in [
            (&researcher[..], Full, true, false),
            (&researcher[..], Repository, true, false),
            (&researcher[..], Ice, false, false),
            (&researcher[..], Enrol, false, false),
            (&reviewer[..], Full, true, true),
            (&reviewer[..], Repository, true, false),
            (&[Role::Admin][..], Full, true, true),
        ] {
            let a = actor("alice", roles, true, level);
            assert_eq!(can(Some(&a), Action::ReadPackages, Resource::Service), read, "{roles:?} {level:?}");
            assert_eq!(can(Some(&a), Action::ManagePackages, Resource::Service), manage, "{roles:?} {level:?}");
            assert!(!can(Some(&a), Action::ReadPackages, Resource::Project("p")));
        }
        let inactive = actor("alice", &researcher, false, Repository);
        assert!(!can(Some(&inactive), Action::ReadPackages, Resource::Service));
        // A repository token does nothing else, not even on its own account.
        for action in ALL.into_iter().filter(|a| *a != Action::ReadPackages) {
            let a = actor("alice", &[Role::Admin], true, Repository);
            assert!(!can(Some(&a), action, Resource::Service), "{action:?}");
            assert!(!can(Some(&a), action, Resource::Account("alice")), "{action:?}");
        }
    }

    #[test]
    fn own_account_actions_never_reach_another_account() {
        for action in ALL {
            for level in [SessionKind::Full, SessionKind::Ice, SessionKind::Enrol] {
                for roles in [&[Role::Admin][..], &[Role::Researcher][..]] {
                    let a = actor("alice", roles, true, level);
                    assert!(!can(Some(&a), action, Resource::Account("bob")), "{action:?} {level:?} {roles:?}");
                }
            }
        }
    }

    #[test]
    fn own_account_actions_by_session_level() {
        use SessionKind::*;
        let rows: [(Action, [bool; 3]); 4] = [
            // (action, [Full, Ice, Enrol])
            (Action::ManageOwnTokens, [true, true, true]),
            (Action::RequestEmergencyCode, [true, true, false]),
            (Action::SetSecurityAnswers, [true, false, true]),
            (Action::ManageOwnCredentials, [true, false, false]),
        ];
        for (action, allowed) in rows {
            for (level, want) in [Full, Ice, Enrol].into_iter().zip(allowed) {
                let a = actor("alice", &[Role::Researcher], true, level);
                assert_eq!(can(Some(&a), action, Resource::Account("alice")), want, "{action:?} {level:?}");
                let locked = actor("alice", &[Role::Researcher], false, level);
                assert!(!can(Some(&locked), action, Resource::Account("alice")));
            }
        }
    }
}
