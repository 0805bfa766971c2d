//! The stored records of governance: information assets, their storage areas and compliance
//! record, memberships, IG training, access requests. Plain data; the rules live in the sibling
//! modules.

use serde::Serialize;

/// A stored enum: its text form and back.
macro_rules! stored_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
            /// The accepted names, for error messages.
            pub fn names() -> String {
                [$($text),+].join(", ")
            }
        }
    };
}

stored_enum!(
    /// How identifiable the asset's data is (SATRE 3.1.03).
    Classification {
        Identifiable => "identifiable",
        Pseudonymised => "pseudonymised",
        Anonymised => "anonymised",
    }
);

stored_enum!(AssetStatus { Active => "active", Closed => "closed" });

stored_enum!(
    /// What closing an asset does with its data, as the IAO chose.
    Closure {
        /// Keep the data and its key, readable by nobody until reopened by the operator.
        Archive => "archive",
        /// Destroy the project key: everything sealed under it becomes unreadable.
        Shred => "shred",
    }
);

stored_enum!(
    MemberRole {
        Researcher => "researcher",
        /// Also receives and accepts arrivals (file transfer).
        DataManager => "data_manager",
    }
);

stored_enum!(
    /// The items of an asset's compliance record (SATRE 1.4.01).
    ComplianceKind {
        /// Data-sharing agreement or contract.
        Agreement => "agreement",
        Ethics => "ethics",
        Dpia => "dpia",
        Funding => "funding",
    }
);

stored_enum!(
    /// The storage areas every asset has; later portals fill them.
    Area {
        Shared => "shared",
        Arrivals => "arrivals",
        Outputs => "outputs",
    }
);

stored_enum!(
    RequestKind {
        /// Add a person (an existing user, or a new one the approval creates).
        Add => "add",
        ChangeRole => "change_role",
        Extend => "extend",
        End => "end",
    }
);

stored_enum!(
    RequestStatus {
        Pending => "pending",
        /// The person has no current training record yet; moves to pending when one arrives.
        AwaitingTraining => "awaiting_training",
        Approved => "approved",
        Rejected => "rejected",
    }
);

#[derive(Debug, Clone, Serialize)]
pub struct Asset {
    pub name: String,
    pub ig_ref: String,
    pub classification: Classification,
    pub description: String,
    pub starts_us: i64,
    /// 0: no end date.
    pub ends_us: i64,
    pub status: AssetStatus,
    pub iao: String,
    pub created_us: i64,
    pub review_due_us: i64,
    pub closed_us: i64,
    pub closure: Option<Closure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StorageArea {
    pub asset: String,
    pub area: Area,
    /// Object ids in this area start with it.
    pub prefix: String,
    pub created_us: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AssetAdmin {
    pub asset: String,
    pub user_id: String,
    pub added_us: i64,
}

/// One period of membership. A change of role or end date ends it and starts another.
#[derive(Debug, Clone, Serialize)]
pub struct Membership {
    pub id: i64,
    pub asset: String,
    pub user_id: String,
    pub role: MemberRole,
    pub starts_us: i64,
    pub ends_us: i64,
    /// 0 while current.
    pub ended_us: i64,
    pub end_reason: String,
    /// The approved request behind it (0: imported at the console).
    pub request_id: i64,
    /// Last confirmed in an access review (its start counts as a confirmation).
    pub confirmed_us: i64,
    /// When a review deadline passed without a confirmation (0: not flagged).
    pub flagged_us: i64,
    /// Suspended for a missed review (by configuration) until the IAO confirms it.
    pub suspended: bool,
}

impl Membership {
    pub fn current(&self) -> bool {
        self.ended_us == 0
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ComplianceItem {
    pub asset: String,
    pub kind: ComplianceKind,
    pub reference: String,
    pub expires_us: i64,
    pub updated_us: i64,
    pub updated_by: String,
    /// When "expiring soon" was sent for this expiry (0: not yet).
    pub flagged_us: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrainingRecord {
    pub id: i64,
    pub user_id: String,
    pub course: String,
    pub completed_us: i64,
    pub expires_us: i64,
    pub recorded_by: String,
    pub recorded_us: i64,
    /// Reminders sent: 0 none, 1 the first (30 days before), 2 the second (7 days before).
    pub reminders: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccessRequest {
    pub id: i64,
    pub asset: String,
    pub kind: RequestKind,
    /// The person the request is about (for a new person, the user id the approval creates).
    pub subject: String,
    /// For a new person: their email, name and organisation (empty otherwise).
    pub new_email: String,
    pub new_name: String,
    pub new_organisation: String,
    /// The role asked for (add, change_role), else the current one.
    pub role: MemberRole,
    /// The end date asked for (add, extend); 0 for end and change_role.
    pub ends_us: i64,
    pub justification: String,
    pub requested_by: String,
    pub requested_us: i64,
    pub status: RequestStatus,
    pub decided_by: String,
    pub decided_us: i64,
    pub reason: String,
}

impl AccessRequest {
    pub fn open(&self) -> bool {
        matches!(self.status, RequestStatus::Pending | RequestStatus::AwaitingTraining)
    }
    pub fn new_person(&self) -> bool {
        !self.new_email.is_empty()
    }
}

/// One row of the access report: a membership period with the request and decision behind it.
#[derive(Debug, Clone, Serialize)]
pub struct AccessRow {
    pub asset: String,
    pub user_id: String,
    pub role: MemberRole,
    pub starts_us: i64,
    pub ended_us: i64,
    pub end_reason: String,
    pub request_id: i64,
    pub requested_by: String,
    pub decided_by: String,
    pub decided_us: i64,
}
