//! The texts of governance emails. Each says why it was sent and what to do next; none carries a
//! secret (the onboarding link of a new person is the identity email's, sent to them alone).

use super::records::{AccessRequest, ComplianceItem};
use super::rules::show_end_date;

fn footer(public_url: &str) -> String {
    format!("\n\nHaven — {public_url}\n")
}

/// What a request asks, in a phrase (`add jo as researcher to cardiac until 2027-03-31`).
pub fn what(r: &AccessRequest) -> String {
    match r.kind {
        super::records::RequestKind::Add => format!("add {} to {} as {}", r.subject, r.asset, r.role.as_str()),
        super::records::RequestKind::ChangeRole => {
            format!("change {}'s role in {} to {}", r.subject, r.asset, r.role.as_str())
        }
        super::records::RequestKind::Extend => {
            format!("extend {}'s membership of {} to {}", r.subject, r.asset, show_end_date(r.ends_us))
        }
        super::records::RequestKind::End => format!("end {}'s membership of {}", r.subject, r.asset),
    }
}

/// To the service desk: a request waits for a decision.
pub fn request_submitted(r: &AccessRequest, public_url: &str) -> String {
    format!(
        "Hello,\n\nAccess request #{} by {}: {}.\n\nJustification: {}\n\n\
         Decide it on the Pending decisions page ({public_url}{}) or with \
         `haven requests decide {} approve|reject --reason ...`. You cannot decide a request you made or one about yourself.{}",
        r.id,
        r.requested_by,
        what(r),
        r.justification,
        crate::paths::gov_decision(r.id),
        r.id,
        footer(public_url)
    )
}

/// To the requester: the service desk decided.
pub fn request_decided(r: &AccessRequest, public_url: &str) -> String {
    format!(
        "Hello,\n\nYour access request #{} ({}) was {} by the service desk.\n\nReason: {}\n\n\
         See the asset's members at {public_url}{}.{}",
        r.id,
        what(r),
        r.status.as_str(),
        r.reason,
        crate::paths::gov_asset(&r.asset),
        footer(public_url)
    )
}

/// To an IAO and the service desk: a compliance item expires soon.
pub fn compliance_expiring(item: &ComplianceItem, public_url: &str) -> String {
    format!(
        "Hello,\n\nThe {} ({}) of the information asset {} expires on {}. When it expires, nobody can reach the \
         asset's data until it is renewed.\n\nThe IAO should send the renewal to the service desk, who records it on \
         the asset's page ({public_url}{}).{}",
        item.kind.label(),
        item.reference,
        item.asset,
        show_end_date(item.expires_us),
        crate::paths::gov_asset(&item.asset),
        footer(public_url)
    )
}

/// To a member: their training expires soon.
pub fn training_expiring(course: &str, expires_us: i64, public_url: &str) -> String {
    format!(
        "Hello,\n\nYour information governance training \"{course}\" expires on {}. After that you cannot reach \
         any information asset in Haven until a new record is entered.\n\nComplete the course again and send the \
         certificate to the service desk.{}",
        show_end_date(expires_us),
        footer(public_url)
    )
}

/// To the service desk and the IAO: an access review deadline passed with members unconfirmed.
pub fn review_missed(asset: &str, users: &[String], suspended: bool, public_url: &str) -> String {
    format!(
        "Hello,\n\nThe access review of the information asset {asset} is overdue. These members were not confirmed: \
         {}.{}\n\nThe IAO confirms or removes each member on the review page ({public_url}{}).{}",
        users.join(", "),
        if suspended { " Their access is suspended until the IAO confirms them." } else { "" },
        crate::paths::gov_asset_review(asset),
        footer(public_url)
    )
}
