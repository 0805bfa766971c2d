//! Authorisation: one deny-by-default function. Handlers ask `can()`; they never decide access
//! themselves. Each capability adds its actions here, with rows in the table test below.

use crate::accounts::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    PublishServiceUpdate,
    ViewAuditTrail,
    ManageAccounts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    /// The service as a whole (service updates, accounts, the audit trail).
    Service,
    Project(&'a str),
}

#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub user_id: &'a str,
    pub roles: &'a [Role],
    /// Only active accounts act.
    pub active: bool,
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
    match (action, resource) {
        (Action::PublishServiceUpdate | Action::ViewAuditTrail | Action::ManageAccounts, Resource::Service) => {
            actor.has(Role::Admin)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let admin = Actor { user_id: "root", roles: &[Role::Admin], active: true };
        let locked_admin = Actor { user_id: "root", roles: &[Role::Admin], active: false };
        let researcher = Actor { user_id: "alice", roles: &[Role::Researcher], active: true };
        let actions = [Action::PublishServiceUpdate, Action::ViewAuditTrail, Action::ManageAccounts];
        for action in actions {
            assert!(can(Some(&admin), action, Resource::Service), "{action:?}");
            assert!(!can(Some(&locked_admin), action, Resource::Service), "{action:?}");
            assert!(!can(Some(&researcher), action, Resource::Service), "{action:?}");
            assert!(!can(None, action, Resource::Service), "{action:?}");
            assert!(!can(Some(&admin), action, Resource::Project("p1")), "{action:?}");
        }
    }
}
