//! Reports for the service desk, auditors and assessors: who had access to which asset between
//! two dates, with the request and decision behind each membership; training status, access
//! reviews, compliance items to act on, and the register.

use std::io::Write;

use haven_packages::pypi::render::escape;
use serde::Serialize;

use super::lifecycle::review_opens;
use super::records::{AccessRow, AssetStatus, ComplianceKind, TrainingRecord};
use super::rules::{self, show_date, show_end_date};
use super::{Governance, GovernanceConfig};
use crate::accounts::Role;
use crate::authz::{Action, Resource, require};
use crate::caller::Caller;
use crate::{CoreError, StoreError, Tx, read};

/// What an access report covers: `[from_us, to_us)`, from the dates as given (both days
/// included), of one asset or all.
#[derive(Debug, Clone)]
pub struct AccessQuery {
    pub from: String,
    pub to: String,
    pub asset: Option<String>,
    from_us: i64,
    to_us: i64,
}

impl AccessQuery {
    pub fn new(from: &str, to: &str, asset: Option<&str>) -> Result<AccessQuery, CoreError> {
        let from_us = rules::parse_date("from", from)?;
        let to_us = rules::parse_end_date("to", to)?;
        if to_us <= from_us {
            return Err(CoreError::invalid("to", "must not be before --from"));
        }
        let asset = asset.map(str::to_string);
        Ok(AccessQuery { from: from.trim().to_string(), to: to.trim().to_string(), asset, from_us, to_us })
    }
}

/// The forms a report is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Html,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "csv" => Some(Format::Csv),
            "html" => Some(Format::Html),
            _ => None,
        }
    }
}

impl Governance {
    /// Membership periods overlapping the query's dates, of one asset or all: the service desk
    /// and auditors. Held whole, for the API's JSON; reports are written with
    /// [`Governance::write_access_report`].
    pub async fn access_report(
        &self,
        who: &Caller,
        from: &str,
        to: &str,
        asset: Option<&str>,
    ) -> Result<Vec<AccessRow>, CoreError> {
        require(who, Action::ViewGovernance, Resource::Service)?;
        let q = AccessQuery::new(from, to, asset)?;
        read(self.store(), move |tx| {
            Box::pin(async move {
                let mut rows = Vec::new();
                tx.each_access_row(q.from_us, q.to_us, q.asset.as_deref(), &mut |r| {
                    rows.push(r);
                    Ok(())
                })
                .await?;
                Ok::<_, CoreError>(rows)
            })
        })
        .await
    }

    /// Write the access report to `out` as CSV or HTML, row by row as they are read (memory
    /// stays flat however many there are); `out` back, and the number of rows.
    pub async fn write_access_report<W: Write + Send + 'static>(
        &self,
        who: &Caller,
        q: AccessQuery,
        format: Format,
        out: W,
    ) -> Result<(W, u64), CoreError> {
        require(who, Action::ViewGovernance, Resource::Service)?;
        read(self.store(), move |tx| Box::pin(async move { write_access(tx, &q, format, out).await })).await
    }
}

fn written(e: impl std::fmt::Display) -> CoreError {
    CoreError::Unavailable(format!("the report could not be written: {e}"))
}

/// The access report of `q`, written to `out` in `format` as its rows are read.
pub async fn write_access<W: Write + Send>(
    tx: &mut dyn Tx,
    q: &AccessQuery,
    format: Format,
    out: W,
) -> Result<(W, u64), CoreError> {
    // The writer's own failure (a full disk) stops the read; it is reported, not the stop.
    let mut failed: Option<CoreError> = None;
    let stop = || StoreError::Database("the report's output failed".into());
    let (out, n) = match format {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(ACCESS_HEADER).map_err(written)?;
            let n = tx
                .each_access_row(q.from_us, q.to_us, q.asset.as_deref(), &mut |r| {
                    w.write_record(csv_cells(&r)).map_err(|e| {
                        failed = Some(written(e));
                        stop()
                    })
                })
                .await;
            if let Some(e) = failed {
                return Err(e);
            }
            (w.into_inner().map_err(|e| written(e.error()))?, n?)
        }
        Format::Html => {
            let mut w = out;
            w.write_all(html_head(q).as_bytes()).map_err(written)?;
            let n = tx
                .each_access_row(q.from_us, q.to_us, q.asset.as_deref(), &mut |r| {
                    w.write_all(html_row(&r).as_bytes()).map_err(|e| {
                        failed = Some(written(e));
                        stop()
                    })
                })
                .await;
            if let Some(e) = failed {
                return Err(e);
            }
            let n = n?;
            let foot = format!("</tbody></table>\n<p>{n} membership period(s).</p>\n</body></html>\n");
            w.write_all(foot.as_bytes()).map_err(written)?;
            w.flush().map_err(written)?;
            (w, n)
        }
    };
    Ok((out, n))
}

const ACCESS_HEADER: [&str; 10] =
    ["asset", "user_id", "role", "from", "until", "end_reason", "request", "requested_by", "decided_by", "decided"];

/// One row of the access report as CSV cells (RFC 4180 through the writer).
fn csv_cells(r: &AccessRow) -> [String; 10] {
    [
        r.asset.clone(),
        r.user_id.clone(),
        r.role.as_str().to_string(),
        show_date(r.starts_us),
        if r.ended_us == 0 { String::new() } else { show_date(r.ended_us) },
        r.end_reason.clone(),
        if r.request_id == 0 { "imported".to_string() } else { r.request_id.to_string() },
        r.requested_by.clone(),
        r.decided_by.clone(),
        if r.decided_us == 0 { String::new() } else { show_date(r.decided_us) },
    ]
}

/// The access report's HTML page up to its first row (self-contained, to file with an
/// assessment).
fn html_head(q: &AccessQuery) -> String {
    let scope = q.asset.as_deref().map_or_else(|| "all assets".to_string(), |a| format!("asset {}", escape(a)));
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Access report</title>\
         <style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}th,td{{border:1px solid #999;padding:.2em .5em;text-align:left}}</style>\
         </head><body>\n<h1>Access report</h1>\n<p>Who had access to {scope} between {} and {} (both days included): each membership period, with the request and decision behind it.</p>\n\
         <table><thead><tr><th scope=\"col\">Asset</th><th scope=\"col\">User</th><th scope=\"col\">Role</th><th scope=\"col\">From</th>\
         <th scope=\"col\">Until</th><th scope=\"col\">Ended because</th><th scope=\"col\">Request</th><th scope=\"col\">Requested by</th>\
         <th scope=\"col\">Decided by</th><th scope=\"col\">Decided</th></tr></thead><tbody>\n",
        escape(&q.from),
        escape(&q.to),
    )
}

fn html_row(r: &AccessRow) -> String {
    let mut cells = csv_cells(r);
    if r.ended_us == 0 {
        cells[4] = "current".into();
    }
    if r.request_id != 0 {
        cells[6] = format!("#{}", r.request_id);
    }
    let mut row = String::from("<tr>");
    for c in cells {
        row.push_str("<td>");
        row.push_str(&escape(&c));
        row.push_str("</td>");
    }
    row.push_str("</tr>\n");
    row
}

/// A report as a table, from which its CSV and HTML forms are made.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub title: String,
    /// One sentence on what the rows are.
    pub intro: String,
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// RFC 4180 CSV with a header line.
    pub fn csv(&self) -> Result<String, CoreError> {
        let bad = |e: csv::Error| CoreError::Unavailable(format!("the report could not be written: {e}"));
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(&self.header).map_err(bad)?;
        for row in &self.rows {
            out.write_record(row).map_err(bad)?;
        }
        let bytes =
            out.into_inner().map_err(|e| CoreError::Unavailable(format!("the report could not be written: {e}")))?;
        String::from_utf8(bytes).map_err(|_| CoreError::Unavailable("the report is not UTF-8".into()))
    }

    /// A self-contained HTML page, to file with an assessment.
    pub fn html(&self) -> String {
        let mut out = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{0}</title>\
             <style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}th,td{{border:1px solid #999;padding:.2em .5em;text-align:left}}</style>\
             </head><body>\n<h1>{0}</h1>\n<p>{1} {2} row(s).</p>\n<table><thead><tr>",
            escape(&self.title),
            escape(&self.intro),
            self.rows.len()
        );
        for h in &self.header {
            out.push_str(&format!("<th scope=\"col\">{}</th>", escape(h)));
        }
        out.push_str("</tr></thead><tbody>\n");
        for row in &self.rows {
            out.push_str("<tr>");
            for cell in row {
                out.push_str(&format!("<td>{}</td>", escape(cell)));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table>\n</body></html>\n");
        out
    }
}

/// The reports besides the access report, by the name the CLI and the page use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Training,
    Reviews,
    Compliance,
    Register,
    Usage,
    Satre,
}

impl Report {
    pub const ALL: [Report; 6] =
        [Report::Training, Report::Reviews, Report::Compliance, Report::Register, Report::Usage, Report::Satre];

    pub fn as_str(self) -> &'static str {
        match self {
            Report::Training => "training",
            Report::Reviews => "reviews",
            Report::Compliance => "compliance",
            Report::Register => "register",
            Report::Usage => "usage",
            Report::Satre => "satre",
        }
    }

    pub fn parse(s: &str) -> Option<Report> {
        Report::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A moment to the minute, as reports show it.
fn show_time(us: i64) -> String {
    let t = crate::from_micros(us);
    format!("{} {:02}:{:02}", show_date(us), t.hour(), t.minute())
}

/// How long a counting report (usage, SATRE) is served before it is counted again.
const RECOUNT_US: i64 = 60 * 1_000_000;

/// The counting reports scan the whole audit trail and every account: each is counted at most
/// once a minute per node, and people asking at once wait for one count rather than each
/// starting their own, so that a reloading page or a looping script cannot load the database.
#[derive(Default)]
pub(super) struct Counted {
    usage: Slot,
    satre: Slot,
}

/// A report's last count and when it was made; locked while it is counted again.
type Slot = futures::lock::Mutex<Option<(i64, Table)>>;

impl Governance {
    /// One of the [`Report`]s, as of now (the usage and SATRE counts, as of the last minute):
    /// the service desk and auditors.
    pub async fn report(&self, who: &Caller, report: Report) -> Result<Table, CoreError> {
        require(who, Action::ViewGovernance, Resource::Service)?;
        let slot = match report {
            Report::Usage => &self.counted.usage,
            Report::Satre => &self.counted.satre,
            _ => return self.count(report).await,
        };
        let mut counted = slot.lock().await;
        let now_us = self.now().1;
        if let Some((at, table)) = counted.as_ref().filter(|(at, _)| (0..RECOUNT_US).contains(&(now_us - at))) {
            tracing::debug!(report = report.as_str(), at, "report served from the last count");
            return Ok(table.clone());
        }
        let mut table = self.count(report).await?;
        table.intro =
            format!("{} Counted at {} UTC; counted again at most once a minute.", table.intro, show_time(now_us));
        *counted = Some((now_us, table.clone()));
        Ok(table)
    }

    async fn count(&self, report: Report) -> Result<Table, CoreError> {
        let (config, now_us) = (self.config.clone(), self.now().1);
        read(self.store(), move |tx| {
            Box::pin(async move {
                match report {
                    Report::Training => training_table(tx, &config, now_us).await,
                    Report::Reviews => reviews_table(tx, now_us).await,
                    Report::Compliance => compliance_table(tx, &config, now_us).await,
                    Report::Register => register_table(tx).await,
                    Report::Usage => usage_table(tx, now_us).await,
                    Report::Satre => super::satre::satre_table(tx, &config, now_us).await,
                }
            })
        })
        .await
    }
}

/// A person's standing against the courses `required`: status and the day the earliest of
/// them lapses.
fn training_cells(records: &[TrainingRecord], required: &[String], now_us: i64, soon_us: i64) -> [String; 3] {
    let missing = rules::missing_courses(records, required, now_us);
    let until = required
        .iter()
        .filter_map(|course| {
            records.iter().filter(|r| &r.course == course && r.completed_us <= now_us).map(|r| r.expires_us).max()
        })
        .min();
    let status = if !missing.is_empty() {
        format!("not current: {}", missing.join(" "))
    } else if until.is_some_and(|u| u - now_us <= soon_us) {
        "expires soon".to_string()
    } else {
        "current".to_string()
    };
    [required.join(" "), status, until.filter(|_| missing.is_empty()).map(show_end_date).unwrap_or_default()]
}

/// Training status per asset (IAO, IAAs, members, against their courses) and per staff role.
async fn training_table(tx: &mut dyn Tx, config: &GovernanceConfig, now_us: i64) -> Result<Table, CoreError> {
    let soon_us = i64::from(config.reminder_days().first().copied().unwrap_or(30)) * rules::DAY_US;
    let c = &config.courses;
    let mut rows = Vec::new();
    for asset in tx.assets().await?.into_iter().filter(|a| a.status == AssetStatus::Active) {
        let mut people: Vec<(String, &str, &[String])> = vec![(asset.iao.clone(), "IAO", &c.iao)];
        for admin in tx.asset_admins(&asset.name).await? {
            people.push((admin.user_id, "IAA", &c.iao));
        }
        for m in tx.memberships(&asset.name, true).await? {
            people.push((m.user_id, m.role.as_str(), &c.researcher));
        }
        for (user, as_what, required) in people {
            let records = tx.training_of(&user).await?;
            let [required, status, until] = training_cells(&records, required, now_us, soon_us);
            rows.push(vec![asset.name.clone(), user, as_what.to_string(), required, status, until]);
        }
    }
    for (role, required) in [
        (Role::Admin, &c.service_desk),
        (Role::PackageReviewer, &c.reviewer),
        (Role::Auditor, &c.auditor),
        (Role::OutputChecker, &c.output_checker),
    ] {
        if required.is_empty() {
            continue;
        }
        for account in tx.accounts_with_role(role.as_str()).await? {
            let records = tx.training_of(&account.id).await?;
            let [required, status, until] = training_cells(&records, required, now_us, soon_us);
            rows.push(vec![String::new(), account.id, role.as_str().to_string(), required, status, until]);
        }
    }
    Ok(Table {
        title: "Training status".into(),
        intro: "Each asset's IAO, IAAs and members, and each holder of a staff role that needs courses, against the courses required of them.".into(),
        header: vec!["asset", "user_id", "as", "required", "status", "valid_until"],
        rows,
    })
}

/// Each active asset's access review: when due, and how many members are still to confirm.
async fn reviews_table(tx: &mut dyn Tx, now_us: i64) -> Result<Table, CoreError> {
    let mut rows = Vec::new();
    for asset in tx.assets().await?.into_iter().filter(|a| a.status == AssetStatus::Active) {
        let opens = review_opens(asset.review_due_us);
        let members = tx.memberships(&asset.name, true).await?;
        let confirmed = members.iter().filter(|m| m.confirmed_us >= opens).count();
        let flagged = members.iter().filter(|m| m.flagged_us != 0).count();
        let suspended = members.iter().filter(|m| m.suspended).count();
        let state = if asset.review_due_us <= now_us && confirmed < members.len() {
            "overdue"
        } else if opens <= now_us {
            "open"
        } else {
            "not yet open"
        };
        rows.push(vec![
            asset.name,
            asset.iao,
            show_date(asset.review_due_us),
            state.into(),
            members.len().to_string(),
            (members.len() - confirmed).to_string(),
            flagged.to_string(),
            suspended.to_string(),
        ]);
    }
    // Overdue first, then open, then the rest.
    rows.sort_by_key(|r| match r[3].as_str() {
        "overdue" => 0,
        "open" => 1,
        _ => 2,
    });
    Ok(Table {
        title: "Access reviews".into(),
        intro: "Each active asset's access review, overdue ones first.".into(),
        header: vec!["asset", "iao", "due", "state", "members", "unconfirmed", "flagged", "suspended"],
        rows,
    })
}

/// Compliance items that have expired or expire within `compliance_warning_days`, and items
/// an active asset has not recorded.
async fn compliance_table(tx: &mut dyn Tx, config: &GovernanceConfig, now_us: i64) -> Result<Table, CoreError> {
    let warn_us = i64::from(config.compliance_warning_days) * rules::DAY_US;
    let mut rows = Vec::new();
    for asset in tx.assets().await?.into_iter().filter(|a| a.status == AssetStatus::Active) {
        let items = tx.compliance_items(&asset.name).await?;
        for kind in ComplianceKind::ALL {
            let item = items.iter().find(|i| i.kind == *kind);
            let state = match item {
                None => "not recorded".to_string(),
                Some(i) if i.expires_us <= now_us => "expired: access suspended".to_string(),
                Some(i) if i.expires_us - now_us <= warn_us => {
                    format!("expires in {} day(s)", (i.expires_us - now_us) / rules::DAY_US)
                }
                Some(_) => continue,
            };
            rows.push(vec![
                asset.name.clone(),
                asset.iao.clone(),
                kind.label().to_string(),
                item.map(|i| i.reference.clone()).unwrap_or_default(),
                item.map(|i| show_end_date(i.expires_us)).unwrap_or_default(),
                state,
            ]);
        }
    }
    Ok(Table {
        title: "Compliance items to act on".into(),
        intro: format!(
            "Items of active assets that have expired, expire within {} days, or are not recorded.",
            config.compliance_warning_days
        ),
        header: vec!["asset", "iao", "item", "reference", "valid_until", "state"],
        rows,
    })
}

/// The register: every asset, its owner, classification, dates and its datasets (storage areas).
async fn register_table(tx: &mut dyn Tx) -> Result<Table, CoreError> {
    let mut rows = Vec::new();
    for asset in tx.assets().await? {
        let admins: Vec<String> = tx.asset_admins(&asset.name).await?.into_iter().map(|a| a.user_id).collect();
        let members = tx.memberships(&asset.name, true).await?.len();
        let areas: Vec<String> = tx
            .storage_areas(&asset.name)
            .await?
            .into_iter()
            .map(|a| format!("{}={}", a.area.as_str(), a.prefix))
            .collect();
        rows.push(vec![
            asset.name,
            asset.ig_ref,
            asset.classification.as_str().into(),
            asset.iao,
            admins.join(" "),
            asset.status.as_str().into(),
            show_date(asset.starts_us),
            if asset.ends_us == 0 { String::new() } else { show_end_date(asset.ends_us) },
            members.to_string(),
            areas.join(" "),
        ]);
    }
    Ok(Table {
        title: "Register of information assets".into(),
        intro: "Every asset, open or closed, with its datasets (storage areas).".into(),
        header: vec![
            "asset",
            "ig_ref",
            "classification",
            "iao",
            "iaas",
            "status",
            "starts",
            "ends",
            "members",
            "datasets",
        ],
        rows,
    })
}

/// Use of each asset over the last 30 days and the last year: its members and their sign-ins
/// (SATRE 2.2.13). A person on two assets counts for both.
async fn usage_table(tx: &mut dyn Tx, now_us: i64) -> Result<Table, CoreError> {
    use std::collections::{BTreeMap, BTreeSet};
    const DAY_US: i64 = 86_400 * 1_000_000;
    let (month, year) = (now_us - 30 * DAY_US, now_us - 365 * DAY_US);
    let tally = |rows: Vec<(String, String, i64)>| -> BTreeMap<String, i64> {
        rows.into_iter().map(|(_, actor, n)| (actor, n)).collect()
    };
    let signin = crate::audit::action::SIGNIN_SUCCEEDED;
    let signins_month = tally(tx.audit_tally(month, now_us + 1, Some(signin)).await?);
    let signins_year = tally(tx.audit_tally(year, now_us + 1, Some(signin)).await?);
    // Who was a member of each asset in the year, and who is now.
    let mut members: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    tx.each_access_row(year, now_us + 1, None, &mut |r| {
        let entry = members.entry(r.asset).or_default();
        if r.ended_us == 0 {
            entry.0.insert(r.user_id.clone());
        }
        entry.1.insert(r.user_id);
        Ok(())
    })
    .await?;
    let mut rows = Vec::new();
    for asset in tx.assets().await? {
        let (now, in_year) = members.remove(&asset.name).unwrap_or_default();
        let sum = |t: &BTreeMap<String, i64>| in_year.iter().map(|u| t.get(u).copied().unwrap_or(0)).sum::<i64>();
        let active = in_year.iter().filter(|u| signins_month.contains_key(*u)).count();
        rows.push(vec![
            asset.name,
            asset.status.as_str().into(),
            now.len().to_string(),
            in_year.len().to_string(),
            active.to_string(),
            sum(&signins_month).to_string(),
            sum(&signins_year).to_string(),
        ]);
    }
    Ok(Table {
        title: "Usage of each asset".into(),
        intro: "Members now and in the last year, and their sign-ins in the last 30 days and the last year. \
                Uploads, sessions and released outputs join this report with File Transfer, Applications & Data and egress."
            .into(),
        header: vec![
            "asset",
            "status",
            "members_now",
            "members_last_year",
            "members_signed_in_30_days",
            "signins_30_days",
            "signins_last_year",
        ],
        rows,
    })
}
