//! Reports for the service desk, auditors and assessors: who had access to which asset between
//! two dates, with the request and decision behind each membership.

use super::Governance;
use super::records::AccessRow;
use super::rules::{self, show_date};
use crate::authz::{Action, Resource, require};
use crate::caller::Caller;
use crate::{CoreError, read};

impl Governance {
    /// Membership periods overlapping `[from, to]` (dates, both days included), of one asset or
    /// all: the service desk and auditors.
    pub async fn access_report(
        &self,
        who: &Caller,
        from: &str,
        to: &str,
        asset: Option<&str>,
    ) -> Result<Vec<AccessRow>, CoreError> {
        require(who, Action::ViewGovernance, Resource::Service)?;
        let from_us = rules::parse_date("from", from)?;
        let to_us = rules::parse_end_date("to", to)?;
        if to_us <= from_us {
            return Err(CoreError::invalid("to", "must not be before --from"));
        }
        let asset = asset.map(str::to_string);
        read(self.store(), move |tx| {
            Box::pin(async move { Ok::<_, CoreError>(tx.access_rows(from_us, to_us, asset.as_deref()).await?) })
        })
        .await
    }
}

/// The access report as CSV (RFC 4180), one row per membership period.
pub fn access_csv(rows: &[AccessRow]) -> Result<String, CoreError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let header =
        ["asset", "user_id", "role", "from", "until", "end_reason", "request", "requested_by", "decided_by", "decided"];
    let bad = |e: csv::Error| CoreError::Unavailable(format!("the report could not be written: {e}"));
    out.write_record(header).map_err(bad)?;
    for r in rows {
        let until = if r.ended_us == 0 { String::new() } else { show_date(r.ended_us) };
        let request = if r.request_id == 0 { String::new() } else { r.request_id.to_string() };
        let decided = if r.decided_us == 0 { String::new() } else { show_date(r.decided_us) };
        out.write_record([
            r.asset.as_str(),
            r.user_id.as_str(),
            r.role.as_str(),
            &show_date(r.starts_us),
            &until,
            r.end_reason.as_str(),
            &request,
            r.requested_by.as_str(),
            r.decided_by.as_str(),
            &decided,
        ])
        .map_err(bad)?;
    }
    let bytes =
        out.into_inner().map_err(|e| CoreError::Unavailable(format!("the report could not be written: {e}")))?;
    String::from_utf8(bytes).map_err(|_| CoreError::Unavailable("the report is not UTF-8".into()))
}
