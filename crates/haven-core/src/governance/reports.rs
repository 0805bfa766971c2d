//! Reports for the service desk, auditors and assessors: who had access to which asset between
//! two dates, with the request and decision behind each membership.

use haven_packages::pypi::render::escape;

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

/// The access report as a self-contained HTML page (for `haven report access --format html`,
/// to file with an assessment).
pub fn access_html(rows: &[AccessRow], from: &str, to: &str, asset: Option<&str>) -> String {
    let scope = asset.map_or_else(|| "all assets".to_string(), |a| format!("asset {}", escape(a)));
    let mut out = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Access report</title>\
         <style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}th,td{{border:1px solid #999;padding:.2em .5em;text-align:left}}</style>\
         </head><body>\n<h1>Access report</h1>\n<p>Who had access to {scope} between {} and {} (both days included): {} membership period(s), each with the request and decision behind it.</p>\n\
         <table><thead><tr><th scope=\"col\">Asset</th><th scope=\"col\">User</th><th scope=\"col\">Role</th><th scope=\"col\">From</th>\
         <th scope=\"col\">Until</th><th scope=\"col\">Ended because</th><th scope=\"col\">Request</th><th scope=\"col\">Requested by</th>\
         <th scope=\"col\">Decided by</th><th scope=\"col\">Decided</th></tr></thead><tbody>\n",
        escape(from),
        escape(to),
        rows.len()
    );
    for r in rows {
        let cells = [
            r.asset.clone(),
            r.user_id.clone(),
            r.role.as_str().to_string(),
            show_date(r.starts_us),
            if r.ended_us == 0 { "current".into() } else { show_date(r.ended_us) },
            r.end_reason.clone(),
            if r.request_id == 0 { "imported".into() } else { format!("#{}", r.request_id) },
            r.requested_by.clone(),
            r.decided_by.clone(),
            if r.decided_us == 0 { String::new() } else { show_date(r.decided_us) },
        ];
        out.push_str("<tr>");
        for c in cells {
            out.push_str("<td>");
            out.push_str(&escape(&c));
            out.push_str("</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n</body></html>\n");
    out
}
