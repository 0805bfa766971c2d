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
    /// Register a new information asset: the service desk.
    CreateAsset,
    /// Read the asset register, IG records, access requests and reports: the service desk and
    /// auditors.
    ViewGovernance,
    /// Decide access requests and record training: the service desk (never their own, which
    /// the use case checks with the request in hand).
    DecideAccess,
    /// Close an asset and keep its compliance record: its IAO or the service desk.
    ManageAsset,
    /// Nominate and remove IAAs: the asset's IAO or the service desk.
    NominateAdmins,
    /// Ask for a person to be added, changed, extended or ended: the asset's IAO or an IAA.
    RequestAccess,
    /// See an asset's members, requests and compliance record: its IAO and IAAs, the service
    /// desk and auditors.
    ViewMembers,
    /// Confirm or remove members in an access review: the asset's IAO.
    ReviewMembers,
    /// Reach the asset's data: a current, trained member (what later portals ask).
    ReachAsset,
    /// Send files into the asset's arrivals area: its IAO, IAAs and data managers who may
    /// reach it, signed in fully or with a write API token.
    SendData,
    /// Accept the Acceptable Use Statement and see one's own assets and training.
    UseOwnGovernance,
    /// Give an external provider a drop-off link into the asset: its IAO and IAAs.
    IssueDropLink,
    /// Accept or reject the asset's arrivals: its IAO, IAAs and data managers.
    DecideArrival,
    /// List the asset's arrivals: those who decide them, and the console.
    ViewArrivals,
    /// Add applications and versions to the catalogue, and set defaults: the service desk.
    ManageCatalogue,
    /// Read the application catalogue: anyone signed in fully, and the console.
    ReadCatalogue,
    /// See, open and stop one's own sessions: their owner, signed in fully (launching asks
    /// [`Action::ReachAsset`] of the asset).
    UseOwnSessions,
    /// See and stop everyone's sessions and batch jobs: the service desk and the console.
    ManageSessions,
    /// Submit, see and cancel one's own batch jobs: their owner, signed in fully or at the
    /// console in their name (`haven jobs submit --as`); the asset must be reachable by them.
    RunOwnJobs,
    /// Read one's own batch job's log (what its script printed is the data): its owner.
    ReadJobLog,
    /// Read any batch job's log: the console alone, whose operator holds the host anyway
    /// (audited); never the service desk.
    ReadAnyJobLog,
    /// Allow or stop a member requesting outputs from the asset (SATRE 3.1.06): its IAO.
    GrantOutputs,
    /// Gather files from the asset's outputs area into a request and submit it: a member the
    /// IAO has allowed to, signed in fully.
    RequestOutputs,
    /// Review the asset's output requests (vote, comment, override a verdict, release,
    /// revoke): an output checker, or for the IAO's own approval, the asset's IAO; signed in
    /// fully. The request's rules keep authors from reviewing their own.
    ReviewOutputs,
    /// Follow one's own output requests: their author, signed in fully or with an API token.
    FollowOwnOutputs,
    /// Download what was released to one: the author, signed in fully.
    DownloadOutputs,
    /// Read any output request (list, show): the console and auditors; they change nothing.
    ViewOutputs,
}

/// The caller's relation to one asset, worked out by the use case from the asset's records
/// (and their IAO/IAA training) before it asks [`can`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Standing {
    /// The asset's Information Asset Owner, with current IAO training.
    pub iao: bool,
    /// One of its Information Asset Administrators, with current IAO training.
    pub iaa: bool,
    /// A current member who may reach the data now (trained, not suspended, compliant).
    pub member: bool,
    /// Such a member, in the data manager role.
    pub data_manager: bool,
    /// Such a member, whom the IAO allowed to request outputs.
    pub outputs: bool,
}

impl Action {
    /// Every action, for table tests and the route table's checks.
    pub const ALL: [Action; 39] = [
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
        Action::CreateAsset,
        Action::ViewGovernance,
        Action::DecideAccess,
        Action::ManageAsset,
        Action::NominateAdmins,
        Action::RequestAccess,
        Action::ViewMembers,
        Action::ReviewMembers,
        Action::ReachAsset,
        Action::SendData,
        Action::UseOwnGovernance,
        Action::IssueDropLink,
        Action::DecideArrival,
        Action::ViewArrivals,
        Action::ManageCatalogue,
        Action::ReadCatalogue,
        Action::UseOwnSessions,
        Action::ManageSessions,
        Action::RunOwnJobs,
        Action::ReadJobLog,
        Action::ReadAnyJobLog,
        Action::GrantOutputs,
        Action::RequestOutputs,
        Action::ReviewOutputs,
        Action::FollowOwnOutputs,
        Action::DownloadOutputs,
        Action::ViewOutputs,
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
            | Action::RequestPackages
            | Action::UseOwnGovernance
            | Action::UseOwnSessions
            | Action::RunOwnJobs
            | Action::ReadJobLog
            | Action::FollowOwnOutputs
            | Action::DownloadOutputs => Resource::Account(&caller.user_id),
            Action::PublishServiceUpdate
            | Action::ViewAuditTrail
            | Action::ManageAccounts
            | Action::ReadPackages
            | Action::ManagePackages
            | Action::CreateAsset
            | Action::ViewGovernance
            | Action::DecideAccess
            | Action::ManageCatalogue
            | Action::ReadCatalogue
            | Action::ManageSessions
            | Action::ReadAnyJobLog
            | Action::ViewOutputs => Resource::Service,
            // Without a named asset, only the service desk's standing counts.
            Action::ManageAsset
            | Action::NominateAdmins
            | Action::RequestAccess
            | Action::ViewMembers
            | Action::ReviewMembers
            | Action::ReachAsset
            | Action::SendData
            | Action::IssueDropLink
            | Action::DecideArrival
            | Action::ViewArrivals
            | Action::GrantOutputs
            | Action::RequestOutputs
            | Action::ReviewOutputs => Resource::Asset { asset: "", standing: Standing::default() },
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
    /// An information asset, with the caller's standing in it.
    Asset { asset: &'a str, standing: Standing },
    /// A drop-off link, and whether it may still be used (not expired, revoked, or used up, as
    /// the use case found it).
    DropLink { link: &'a str, usable: bool },
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
    // The console acting in a named person's name (`--as USER`), with that person's standing.
    let console_named = level == Level::Console && !caller.has(Role::System) && !caller.user_id.is_empty();
    let own = |owner: &str| !caller.user_id.is_empty() && owner == caller.user_id;
    let desk = (full && caller.has(Role::Admin)) || console || console_admin;
    let auditor = full && caller.has(Role::Auditor);
    // An API token reaches governance only: a read token what its owner may read, a write token
    // also what they may change, and a write token may send files in. It never reads data, nor
    // reaches accounts, credentials or packages.
    let api_read = matches!(level, Level::ApiRead | Level::ApiWrite);
    let api_write = level == Level::ApiWrite;
    let reads = full || api_read;
    let writes = full || api_write;
    let desk_reads = desk || (api_read && caller.has(Role::Admin));
    let desk_writes = desk || (api_write && caller.has(Role::Admin));
    let auditor_reads = reads && caller.has(Role::Auditor);
    match (action, resource) {
        (Action::PublishServiceUpdate | Action::ManageAccounts | Action::ManageCatalogue, Resource::Service) => desk,
        (Action::ReadCatalogue, Resource::Service) => full || console || console_admin || console_named,
        // A session's screen and files are its owner's alone: not even the desk opens one.
        (Action::UseOwnSessions, Resource::Account(owner)) => own(owner) && full,
        (Action::ManageSessions, Resource::Service) => desk,
        (Action::RunOwnJobs, Resource::Account(owner)) => own(owner) && (full || console_named),
        (Action::ReadJobLog, Resource::Account(owner)) => own(owner) && (full || console_named),
        (Action::ReadAnyJobLog, Resource::Service) => console,
        (Action::ViewAuditTrail, Resource::Service) => desk || auditor,
        (Action::ViewGovernance, Resource::Service) => desk_reads || auditor_reads,
        (Action::CreateAsset | Action::DecideAccess, Resource::Service) => desk_writes,
        (Action::DecideAccess, Resource::Account(subject)) => desk_writes && !own(subject),
        (Action::ManageAsset | Action::NominateAdmins, Resource::Asset { standing, .. }) => {
            desk_writes || (writes && standing.iao)
        }
        (Action::RequestAccess, Resource::Asset { standing, .. }) => writes && (standing.iao || standing.iaa),
        (Action::ViewMembers, Resource::Asset { standing, .. }) => {
            desk_reads || auditor_reads || (reads && (standing.iao || standing.iaa))
        }
        (Action::ReviewMembers, Resource::Asset { standing, .. }) => writes && standing.iao,
        (Action::ReachAsset, Resource::Asset { standing, .. }) => full && standing.member,
        // A write token may send files in (`haven upload`): ingress is write-only, so the token
        // still reads nothing, not even what it sent.
        (Action::SendData, Resource::Asset { standing, .. }) => {
            writes && (standing.iao || standing.iaa || standing.data_manager)
        }
        // A provider holding a drop-off link sends through that link only, while it is usable.
        (Action::SendData, Resource::DropLink { link, usable }) => {
            level == Level::DropLink && usable && caller.user_id.strip_prefix("link:") == Some(link)
        }
        (Action::IssueDropLink, Resource::Asset { standing, .. }) => {
            (full || console_named) && (standing.iao || standing.iaa)
        }
        (Action::DecideArrival, Resource::Asset { standing, .. }) => {
            (full || console_named) && (standing.iao || standing.iaa || standing.data_manager)
        }
        (Action::ViewArrivals, Resource::Asset { standing, .. }) => {
            console || ((full || console_named) && (standing.iao || standing.iaa || standing.data_manager))
        }
        (Action::UseOwnGovernance, Resource::Account(owner)) => own(owner) && reads,
        // Egress: nothing leaves through a token or a limited session; the console only reads.
        (Action::GrantOutputs, Resource::Asset { standing, .. }) => (full || console_named) && standing.iao,
        (Action::RequestOutputs, Resource::Asset { standing, .. }) => full && standing.outputs,
        (Action::ReviewOutputs, Resource::Asset { standing, .. }) => {
            full && (caller.has(Role::OutputChecker) || standing.iao)
        }
        (Action::FollowOwnOutputs, Resource::Account(owner)) => own(owner) && reads,
        (Action::DownloadOutputs, Resource::Account(owner)) => own(owner) && full,
        (Action::ViewOutputs, Resource::Service) => console || auditor,
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
        let service = [
            Action::PublishServiceUpdate,
            Action::ViewAuditTrail,
            Action::ManageAccounts,
            Action::ManageCatalogue,
            Action::ManageSessions,
        ];
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
    fn the_catalogue_is_read_by_anyone_signed_in_fully_and_kept_by_the_desk() {
        use Level::*;
        for (level, read) in
            [(Full, true), (Ice, false), (Enrol, false), (Repository, false), (ApiRead, false), (ApiWrite, false)]
        {
            let a = caller("alice", &[Role::Researcher], level);
            assert_eq!(can(&a, Action::ReadCatalogue, Resource::Service), read, "{level:?}");
            assert!(!can(&a, Action::ManageCatalogue, Resource::Service), "{level:?}");
        }
        assert!(!can(&limited("alice", &[Role::Researcher], true, false), Action::ReadCatalogue, Resource::Service));
        assert!(!can(&Caller::anonymous("", ""), Action::ReadCatalogue, Resource::Service));
        assert!(can(&Caller::console(), Action::ReadCatalogue, Resource::Service));
        assert!(!can(&caller("alice", &[Role::Researcher], Full), Action::ReadCatalogue, Resource::Account("alice")));
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
        // Deciding access is the desk's action about another person's account, by design.
        for action in Action::ALL.into_iter().filter(|a| *a != Action::DecideAccess) {
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
        let rows: [(Action, [bool; 5]); 8] = [
            // (action, [full, ICE, enrolment, password expired, no token yet])
            (Action::ManageOwnTokens, [true, true, true, false, true]),
            (Action::RequestEmergencyCode, [true, true, false, false, false]),
            (Action::SetSecurityAnswers, [true, false, true, false, true]),
            (Action::ChangeOwnPassword, [true, false, false, true, true]),
            (Action::ConfirmIdentity, [true, false, false, true, true]),
            (Action::ManageOwnCredentials, [true, false, false, false, false]),
            (Action::RequestPackages, [true, false, false, false, false]),
            (Action::UseOwnSessions, [true, false, false, false, false]),
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

    /// The governance rows: roles × standing in the asset (none, member, IAA, IAO), and the
    /// service-wide actions. An auditor reads and changes nothing.
    #[test]
    fn governance_actions() {
        use Action::*;
        let none = Standing::default();
        let member = Standing { member: true, ..none };
        let iaa = Standing { iaa: true, ..none };
        let iao = Standing { iao: true, ..none };
        let asset = |standing| Resource::Asset { asset: "heart", standing };
        let asset_actions = [ManageAsset, NominateAdmins, RequestAccess, ViewMembers, ReviewMembers, ReachAsset];
        // (who, standing, [ManageAsset, NominateAdmins, RequestAccess, ViewMembers, ReviewMembers, ReachAsset])
        let desk = caller("desk", &[Role::Admin], Level::Full);
        let auditor = caller("aud", &[Role::Auditor], Level::Full);
        let researcher = caller("rita", &[Role::Researcher], Level::Full);
        let staff = caller("owen", &[Role::Staff, Role::Researcher], Level::Full);
        let rows: [(&Caller, Standing, [bool; 6]); 11] = [
            (&researcher, none, [false, false, false, false, false, false]),
            (&researcher, member, [false, false, false, false, false, true]),
            (&researcher, iaa, [false, false, true, true, false, false]),
            (&staff, iao, [true, true, true, true, true, false]),
            (&staff, Standing { iao: true, member: true, ..none }, [true, true, true, true, true, true]),
            (&desk, none, [true, true, false, true, false, false]),
            (&auditor, none, [false, false, false, true, false, false]),
            (&auditor, member, [false, false, false, true, false, true]),
            (&Caller::console(), none, [true, true, false, true, false, false]),
            // Limited sessions get nothing from their standing.
            (&limited("owen", &[Role::Staff], true, false), iao, [false; 6]),
            (
                &caller("owen", &[Role::Staff], Level::Repository),
                Standing { iao: true, iaa: true, member: true, data_manager: true, outputs: true },
                [false; 6],
            ),
        ];
        for (who, standing, want) in rows {
            for (action, allowed) in asset_actions.iter().zip(want) {
                assert_eq!(can(who, *action, asset(standing)), allowed, "{action:?} {who:?} {standing:?}");
            }
        }
        // Sending data in: the IAO, IAAs and data managers, fully signed in; not plain members,
        // the desk, auditors, the console or any token.
        let data_manager = Standing { member: true, data_manager: true, ..none };
        for (who, standing, want) in [
            (&researcher, member, false),
            (&researcher, data_manager, true),
            (&researcher, iaa, true),
            (&staff, iao, true),
            (&desk, none, false),
            // The auditor role adds nothing, and takes nothing a membership gives.
            (&auditor, none, false),
            (&auditor, data_manager, true),
            (&Caller::console(), none, false),
            (&limited("rita", &[], true, false), data_manager, false),
            (&caller("rita", &[], Level::Repository), data_manager, false),
            (&caller("rita", &[], Level::ApiWrite), data_manager, true),
            (&caller("rita", &[], Level::ApiRead), data_manager, false),
            (&caller("rita", &[], Level::ApiWrite), none, false),
        ] {
            assert_eq!(can(who, SendData, asset(standing)), want, "{who:?} {standing:?}");
        }
        // Drop-off links and arrivals: (who, standing, [IssueDropLink, DecideArrival, ViewArrivals]).
        let owen_at_console = Caller::console_as("owen", vec![Role::Staff]);
        for (who, standing, want) in [
            (&staff, iao, [true, true, true]),
            (&researcher, iaa, [true, true, true]),
            (&researcher, data_manager, [false, true, true]),
            (&researcher, member, [false, false, false]),
            (&desk, none, [false, false, false]),
            (&Caller::console(), none, [false, false, true]),
            (&owen_at_console, iao, [true, true, true]),
            (&owen_at_console, none, [false, false, false]),
            (&caller("owen", &[Role::Staff], Level::ApiWrite), iao, [false, false, false]),
            (&limited("owen", &[Role::Staff], true, false), iao, [false, false, false]),
        ] {
            for (action, allowed) in [IssueDropLink, DecideArrival, ViewArrivals].into_iter().zip(want) {
                assert_eq!(can(who, action, asset(standing)), allowed, "{action:?} {who:?} {standing:?}");
            }
        }
        // A provider sends through the link they opened, while it is usable, and nothing else.
        let provider = Caller::drop_link("ab12", "192.0.2.9", "");
        assert!(can(&provider, SendData, Resource::DropLink { link: "ab12", usable: true }));
        assert!(!can(&provider, SendData, Resource::DropLink { link: "ab12", usable: false }));
        assert!(!can(&provider, SendData, Resource::DropLink { link: "cd34", usable: true }));
        assert!(!can(&staff, SendData, Resource::DropLink { link: "ab12", usable: true }));
        for action in Action::ALL {
            let both = Standing { iao: true, iaa: true, member: true, data_manager: true, outputs: true };
            for resource in [Resource::Service, Resource::Account("link:ab12"), asset(both)] {
                assert!(!can(&provider, action, resource), "{action:?} {resource:?}");
            }
        }
        // Service-wide: create assets and decide (desk, console); view (desk, console, auditor).
        for (who, create, view) in [
            (&desk, true, true),
            (&Caller::console(), true, true),
            (&auditor, false, true),
            (&researcher, false, false),
            (&staff, false, false),
        ] {
            assert_eq!(can(who, CreateAsset, Resource::Service), create, "{who:?}");
            assert_eq!(can(who, DecideAccess, Resource::Service), create, "{who:?}");
            assert_eq!(can(who, ViewGovernance, Resource::Service), view, "{who:?}");
            assert_eq!(can(who, ViewAuditTrail, Resource::Service), view, "{who:?}");
        }
        // Nobody decides about themselves; the desk decides about others.
        assert!(!can(&desk, DecideAccess, Resource::Account("desk")));
        assert!(can(&desk, DecideAccess, Resource::Account("rita")));
        // An auditor changes nothing anywhere.
        let changes = Action::ALL.into_iter().filter(|a| {
            !matches!(
                a,
                ViewAuditTrail
                    | ViewGovernance
                    | ViewMembers
                    | ReachAsset
                    | UseOwnGovernance
                    | ReadPackages
                    | RequestPackages
                    | ManageOwnTokens
                    | RequestEmergencyCode
                    | SetSecurityAnswers
                    | ChangeOwnPassword
                    | ConfirmIdentity
                    | ManageOwnCredentials
                    | ReadCatalogue
                    | UseOwnSessions
                    | ViewOutputs
            )
        });
        for action in changes {
            for resource in [Resource::Service, Resource::Account("rita"), asset(none)] {
                assert!(!can(&auditor, action, resource), "{action:?} {resource:?}");
            }
        }
        // API tokens: a read token reads what its owner may read; a write token also changes
        // what they may change; neither reaches data.
        let api = |roles: &[Role], write| caller("owen", roles, if write { Level::ApiWrite } else { Level::ApiRead });
        let both = Standing { iao: true, member: true, ..none };
        for (who, standing, want) in [
            (api(&[Role::Staff], false), both, [false, false, false, true, false, false]),
            (api(&[Role::Staff], true), both, [true, true, true, true, true, false]),
            (api(&[Role::Researcher], true), iaa, [false, false, true, true, false, false]),
            (api(&[Role::Researcher], true), member, [false; 6]),
            (api(&[Role::Admin], false), none, [false, false, false, true, false, false]),
            (api(&[Role::Admin], true), none, [true, true, false, true, false, false]),
            (api(&[Role::Auditor], true), none, [false, false, false, true, false, false]),
        ] {
            for (action, allowed) in asset_actions.iter().zip(want) {
                assert_eq!(can(&who, *action, asset(standing)), allowed, "{action:?} {who:?} {standing:?}");
            }
        }
        for (who, create, view) in [
            (api(&[Role::Admin], false), false, true),
            (api(&[Role::Admin], true), true, true),
            (api(&[Role::Auditor], true), false, true),
            (api(&[Role::Staff], true), false, false),
        ] {
            assert_eq!(can(&who, CreateAsset, Resource::Service), create, "{who:?}");
            assert_eq!(can(&who, DecideAccess, Resource::Service), create, "{who:?}");
            assert_eq!(can(&who, DecideAccess, Resource::Account("rita")), create, "{who:?}");
            assert_eq!(can(&who, ViewGovernance, Resource::Service), view, "{who:?}");
        }
        assert!(!can(&api(&[Role::Admin], true), DecideAccess, Resource::Account("owen")));
        // Outside governance (and sending files in, above, and reading one's own output
        // requests) a token of any scope does nothing, whoever holds it.
        for action in Action::ALL.into_iter().filter(|a| {
            !matches!(a, ViewGovernance | CreateAsset | DecideAccess | ManageAsset | NominateAdmins)
                && !matches!(a, RequestAccess | ViewMembers | ReviewMembers | UseOwnGovernance | SendData)
                && !matches!(a, FollowOwnOutputs)
        }) {
            for write in [false, true] {
                let who = api(&[Role::Admin, Role::Auditor, Role::PackageReviewer], write);
                for resource in [Resource::Service, Resource::Account("owen"), asset(both)] {
                    assert!(!can(&who, action, resource), "{action:?} {resource:?} {write}");
                }
            }
        }
        // One's own governance page: a full session of one's own.
        assert!(can(&researcher, UseOwnGovernance, Resource::Account("rita")));
        assert!(!can(&researcher, UseOwnGovernance, Resource::Account("owen")));
        assert!(!can(&limited("rita", &[Role::Researcher], false, true), UseOwnGovernance, Resource::Account("rita")));
    }

    #[test]
    fn outputs_are_requested_by_allowed_members_and_reviewed_by_checkers_or_the_iao() {
        use Action::*;
        let none = Standing::default();
        let asset = |standing| Resource::Asset { asset: "heart", standing };
        let member = Standing { member: true, ..none };
        let allowed = Standing { member: true, outputs: true, ..none };
        let iao = Standing { iao: true, ..none };
        let ada = caller("ada", &[Role::Researcher], Level::Full);
        let checker = caller("cara", &[Role::OutputChecker], Level::Full);
        let owen = caller("owen", &[Role::Staff], Level::Full);
        // (who, standing, [grant, request, review])
        for (who, standing, want) in [
            (&ada, allowed, [false, true, false]),
            (&ada, member, [false, false, false]),
            (&checker, none, [false, false, true]),
            (&owen, iao, [true, false, true]),
            (&caller("desk", &[Role::Admin], Level::Full), none, [false, false, false]),
            (&Caller::console_as("owen", vec![Role::Staff]), iao, [true, false, false]),
            (&Caller::console(), iao, [false, false, false]),
            (&caller("ada", &[Role::Researcher], Level::ApiWrite), allowed, [false, false, false]),
            (&caller("cara", &[Role::OutputChecker], Level::ApiWrite), none, [false, false, false]),
            (&limited("cara", &[Role::OutputChecker], true, false), none, [false, false, false]),
            (&limited("ada", &[Role::Researcher], false, true), allowed, [false, false, false]),
        ] {
            for (action, ok) in [GrantOutputs, RequestOutputs, ReviewOutputs].into_iter().zip(want) {
                assert_eq!(can(who, action, asset(standing)), ok, "{action:?} {who:?} {standing:?}");
            }
        }
        assert!(can(&ada, FollowOwnOutputs, Resource::Account("ada")));
        assert!(!can(&ada, FollowOwnOutputs, Resource::Account("bob")));
        let token = caller("ada", &[Role::Researcher], Level::ApiRead);
        assert!(can(&token, FollowOwnOutputs, Resource::Account("ada")), "the API reads one's own requests");
        assert!(!can(&token, DownloadOutputs, Resource::Account("ada")), "nothing leaves through a token");
        assert!(can(&ada, DownloadOutputs, Resource::Account("ada")));
        assert!(!can(&ada, DownloadOutputs, Resource::Account("bob")));
        assert!(can(&Caller::console(), ViewOutputs, Resource::Service));
        assert!(can(&caller("aud", &[Role::Auditor], Level::Full), ViewOutputs, Resource::Service));
        assert!(!can(&checker, ViewOutputs, Resource::Service));
        assert!(!can(&caller("desk", &[Role::Admin], Level::Full), ViewOutputs, Resource::Service));
    }
}
