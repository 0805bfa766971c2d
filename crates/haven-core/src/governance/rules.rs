//! The pure rules of governance: names and references, dates, training currency, whether a
//! member may reach an asset (and, if not, why and what to do), and reading a training CSV.

use std::collections::BTreeSet;
use std::io::Read;

use time::{Date, Month, OffsetDateTime, Time};

use super::csv_file::{CsvShape, read_csv};
use super::records::{Asset, AssetStatus, ComplianceItem, ComplianceKind, MemberRole, Membership, TrainingRecord};
use crate::CoreError;
use crate::accounts::Role;
use crate::{from_micros, to_micros};

/// An asset's name: 2–48 characters, lower-case letters, digits and `-`, starting with a letter.
/// It names the project key and storage areas, so it never changes.
pub fn validate_asset_name(name: &str) -> Result<(), CoreError> {
    let ok = (2..=48).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(CoreError::invalid(
            "name",
            "use 2 to 48 characters: lower-case letters, digits and '-', starting with a letter (e.g. cardiac-outcomes)",
        ))
    }
}

/// An IG case reference in the configured form (`#` for a digit, e.g. `IG/#####`).
pub fn validate_ig_ref(format: &str, value: &str) -> Result<(), CoreError> {
    let ok = value.chars().count() == format.chars().count()
        && format.chars().zip(value.chars()).all(|(f, v)| if f == '#' { v.is_ascii_digit() } else { f == v });
    if ok {
        Ok(())
    } else {
        let example: String = format
            .chars()
            .enumerate()
            .map(|(i, c)| if c == '#' { char::from(b'0' + (i % 10) as u8) } else { c })
            .collect();
        Err(CoreError::invalid(
            "ig_ref",
            format!("an IG case reference looks like {format} (# is a digit), e.g. {example}"),
        ))
    }
}

pub fn validate_course(name: &str) -> Result<(), CoreError> {
    let ok = (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok { Ok(()) } else { Err(CoreError::invalid("course", "use 1 to 64 letters, digits, '-', '_' or '.'")) }
}

/// Free text a person gives (a justification, a reason, a description): trimmed, not empty
/// when `required`, at most `max` characters, no control characters but line breaks.
pub fn text(field: &'static str, value: &str, required: bool, max: usize) -> Result<String, CoreError> {
    let v = value.trim();
    if required && v.is_empty() {
        return Err(CoreError::invalid(field, "this is required"));
    }
    if v.chars().count() > max {
        return Err(CoreError::invalid(field, format!("use at most {max} characters")));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err(CoreError::invalid(field, "remove the control characters"));
    }
    Ok(v.to_string())
}

/// A date as `YYYY-MM-DD`, as the start of that day (UTC).
pub fn parse_date(field: &'static str, value: &str) -> Result<i64, CoreError> {
    if value.trim().is_empty() {
        return Err(CoreError::invalid(field, "give a date, as YYYY-MM-DD (e.g. 2027-03-31)"));
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(value.trim(), format).map(|d| to_micros(d.with_time(Time::MIDNIGHT).assume_utc())).map_err(|_| {
        CoreError::invalid(field, format!("{value:?} is not a date: write it as YYYY-MM-DD, e.g. 2027-03-31"))
    })
}

/// An end date as `YYYY-MM-DD`: access lasts through that day, so it ends at the next midnight.
pub fn parse_end_date(field: &'static str, value: &str) -> Result<i64, CoreError> {
    Ok(parse_date(field, value)? + DAY_US)
}

pub const DAY_US: i64 = 86_400_000_000;

/// The `YYYY-MM-DD` of an instant (UTC).
pub fn show_date(us: i64) -> String {
    let d = from_micros(us).date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// The last day of access of an end stored by [`parse_end_date`].
pub fn show_end_date(us: i64) -> String {
    if us == 0 { "none".into() } else { show_date(us - DAY_US) }
}

/// `t` plus `months` calendar months (minus, if negative), the day clamped to the month's length.
pub fn add_months(t: OffsetDateTime, months: i32) -> OffsetDateTime {
    let total = i64::from(t.year()) * 12 + i64::from(u8::from(t.month()) - 1) + i64::from(months);
    let year = (total / 12) as i32;
    let month = Month::try_from((total % 12 + 1) as u8).unwrap_or(Month::January);
    let day = t.day().min(month.length(year));
    Date::from_calendar_date(year, month, day).map_or(t, |d| t.replace_date(d))
}

/// The courses among `required` that `records` do not show as current at `now_us`.
pub fn missing_courses(records: &[TrainingRecord], required: &[String], now_us: i64) -> Vec<String> {
    required
        .iter()
        .filter(|course| {
            !records.iter().any(|r| &r.course == *course && r.completed_us <= now_us && r.expires_us > now_us)
        })
        .cloned()
        .collect()
}

/// The roles whose required courses are current: a lapsed course withdraws what the role gives
/// (the account keeps the role; it works again once a record arrives).
pub fn trained_roles(
    roles: &[Role],
    records: &[TrainingRecord],
    config: &super::GovernanceConfig,
    now_us: i64,
) -> Vec<Role> {
    let c = &config.courses;
    roles
        .iter()
        .copied()
        .filter(|role| {
            let required = match role {
                Role::Admin => &c.service_desk,
                Role::PackageReviewer => &c.reviewer,
                Role::Auditor => &c.auditor,
                Role::OutputChecker => &c.output_checker,
                Role::Researcher | Role::Staff | Role::System => return true,
            };
            missing_courses(records, required, now_us).is_empty()
        })
        .collect()
}

/// Why a person cannot reach an asset right now. Each says why and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    Closed,
    NotStarted,
    Ended,
    NotMember,
    Suspended,
    Training(Vec<String>),
    Compliance(Vec<ComplianceKind>),
    Aus,
}

impl Blocked {
    pub fn message(&self, asset: &str) -> String {
        match self {
            Blocked::Closed => format!("{asset} is closed: its data can no longer be reached."),
            Blocked::NotStarted => format!("{asset} has not started yet: it opens on its start date."),
            Blocked::Ended => {
                format!("{asset} has passed its end date: ask its IAO to extend it with the service desk.")
            }
            Blocked::NotMember => format!(
                "You are not a member of {asset}: ask its Information Asset Owner or Administrator to request access for you."
            ),
            Blocked::Suspended => format!(
                "Your access to {asset} is suspended: its access review passed without your membership being confirmed. Ask its IAO to confirm you."
            ),
            Blocked::Training(courses) => format!(
                "Your information governance training has lapsed ({}): complete it and send the certificate to the service desk; access returns as soon as the record is entered.",
                courses.join(", ")
            ),
            Blocked::Compliance(kinds) => format!(
                "{asset} is suspended: its {} expired. Its IAO must send the renewal to the service desk.",
                kinds.iter().map(|k| k.label()).collect::<Vec<_>>().join(", ")
            ),
            Blocked::Aus => "Accept the current Acceptable Use Statement first.".into(),
        }
    }
}

impl ComplianceKind {
    pub fn label(self) -> &'static str {
        match self {
            ComplianceKind::Agreement => "data-sharing agreement or contract",
            ComplianceKind::Ethics => "ethics approval",
            ComplianceKind::Dpia => "DPIA",
            ComplianceKind::Funding => "funding",
        }
    }
}

/// What a decision to let someone reach an asset's data rests on.
pub struct ReachFacts<'a> {
    pub asset: &'a Asset,
    pub membership: Option<&'a Membership>,
    pub compliance: &'a [ComplianceItem],
    /// Courses the member's role needs that are not current.
    pub missing_training: Vec<String>,
    pub aus_accepted: bool,
    pub now_us: i64,
}

/// Whether the person may reach the asset's data now: the role they would act in, or why not.
pub fn reach(f: &ReachFacts<'_>) -> Result<MemberRole, Blocked> {
    if f.asset.status == AssetStatus::Closed {
        return Err(Blocked::Closed);
    }
    if f.asset.starts_us > f.now_us {
        return Err(Blocked::NotStarted);
    }
    if f.asset.ends_us != 0 && f.asset.ends_us <= f.now_us {
        return Err(Blocked::Ended);
    }
    let Some(m) = f.membership.filter(|m| m.current() && m.ends_us > f.now_us) else {
        return Err(Blocked::NotMember);
    };
    if m.suspended {
        return Err(Blocked::Suspended);
    }
    let expired: Vec<ComplianceKind> =
        f.compliance.iter().filter(|c| c.expires_us <= f.now_us).map(|c| c.kind).collect();
    if !expired.is_empty() {
        return Err(Blocked::Compliance(expired));
    }
    if !f.missing_training.is_empty() {
        return Err(Blocked::Training(f.missing_training.clone()));
    }
    if !f.aus_accepted {
        return Err(Blocked::Aus);
    }
    Ok(m.role)
}

/// One row of a training CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingRow {
    pub line: u64,
    pub user_id: String,
    pub course: String,
    pub completed_us: i64,
    pub expires_us: i64,
}

/// The shape of a training CSV.
const TRAINING_CSV: CsvShape =
    CsvShape { what: "training", columns: &["user_id", "course", "completed", "expires"], optional: 1 };

/// Read a training CSV (`user_id,course,completed[,expires]`, dates as YYYY-MM-DD, a header
/// line first) whole, or the first problem naming its line. A missing expiry is the completion
/// plus `validity_months`. Nothing is applied here; the caller applies all rows or none.
pub fn parse_training_csv(input: impl Read, validity_months: u32, now_us: i64) -> Result<Vec<TrainingRow>, CoreError> {
    read_csv(input, &TRAINING_CSV, |line, fields| {
        let user_id = fields[0].to_lowercase();
        crate::accounts::validate_user_id(&user_id)?;
        validate_course(&fields[1])?;
        let completed_us = parse_date("completed", &fields[2])?;
        if completed_us > now_us {
            return Err(CoreError::invalid("completed", format!("{} is in the future", fields[2])));
        }
        let expires_us = if fields[3].is_empty() {
            to_micros(add_months(from_micros(completed_us), validity_months as i32))
        } else {
            parse_end_date("expires", &fields[3])?
        };
        if expires_us <= completed_us {
            return Err(CoreError::invalid("expires", "must be after the completion date"));
        }
        Ok(TrainingRow { line, user_id, course: fields[1].clone(), completed_us, expires_us })
    })
}

/// The distinct user ids of some rows.
pub fn users_of(rows: &[TrainingRow]) -> BTreeSet<&str> {
    rows.iter().map(|r| r.user_id.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governance::csv_file::{MAX_CSV_LINE, MAX_CSV_ROWS};
    use crate::governance::records::Classification;

    const NOW: i64 = 1_790_000_000_000_000; // 2026-09-21

    #[test]
    fn names_and_references() {
        assert!(validate_asset_name("cardiac-outcomes").is_ok());
        for bad in ["C", "Cardiac", "1cardiac", "a b", "@packages", "x/y", &"a".repeat(49)] {
            assert!(validate_asset_name(bad).is_err(), "{bad}");
        }
        assert!(validate_ig_ref("IG/#####", "IG/00999").is_ok());
        for bad in ["IG/0099", "IG/009999", "ig/00999", "IG-00999", "IG/0099x", ""] {
            let e = validate_ig_ref("IG/#####", bad).unwrap_err().to_string();
            assert!(e.contains("IG/#####"), "{e}");
        }
        assert!(text("reason", "  ", true, 10).is_err());
        assert!(text("reason", "a\u{7}b", true, 10).is_err());
        assert_eq!(text("reason", " ok \n fine ", true, 20).unwrap(), "ok \n fine");
    }

    #[test]
    fn dates() {
        let d = parse_date("d", "2027-03-31").unwrap();
        assert_eq!(show_date(d), "2027-03-31");
        assert_eq!(show_end_date(parse_end_date("d", "2027-03-31").unwrap()), "2027-03-31");
        assert!(parse_date("d", "31/03/2027").unwrap_err().to_string().contains("YYYY-MM-DD"));
        let jan31 = from_micros(parse_date("d", "2027-01-31").unwrap());
        assert_eq!(show_date(to_micros(add_months(jan31, 1))), "2027-02-28");
        assert_eq!(show_date(to_micros(add_months(jan31, 12))), "2028-01-31");
        assert_eq!(show_date(to_micros(add_months(jan31, 13))), "2028-02-29");
        assert_eq!(show_date(to_micros(add_months(jan31, -2))), "2026-11-30");
    }

    fn record(course: &str, completed_us: i64, expires_us: i64) -> TrainingRecord {
        TrainingRecord {
            id: 1,
            user_id: "alice".into(),
            course: course.into(),
            completed_us,
            expires_us,
            recorded_by: "desk".into(),
            recorded_us: completed_us,
            reminders: 0,
        }
    }

    #[test]
    fn training_currency_and_role_gates() {
        let records = [record("dsa", NOW - 10, NOW + 10), record("old", NOW - 20, NOW - 1)];
        let required = vec!["dsa".to_string(), "old".to_string(), "none".to_string()];
        assert_eq!(missing_courses(&records, &required, NOW), ["old", "none"]);
        assert!(missing_courses(&records, &required[..1], NOW + 10).contains(&"dsa".to_string()));
        let mut config = crate::governance::GovernanceConfig::default();
        config.courses.service_desk = vec!["desk".into()];
        config.courses.auditor = vec!["dsa".into()];
        let roles = [Role::Admin, Role::Auditor, Role::Researcher, Role::PackageReviewer];
        assert_eq!(
            trained_roles(&roles, &records, &config, NOW),
            [Role::Auditor, Role::Researcher, Role::PackageReviewer]
        );
        assert_eq!(trained_roles(&roles, &[], &config, NOW), [Role::Researcher, Role::PackageReviewer]);
    }

    #[test]
    fn reach_says_why_not() {
        let asset = Asset {
            name: "heart".into(),
            ig_ref: "IG/00001".into(),
            classification: Classification::Identifiable,
            description: String::new(),
            starts_us: NOW - 100,
            ends_us: 0,
            status: AssetStatus::Active,
            iao: "owen".into(),
            created_us: NOW - 100,
            review_due_us: NOW + 100,
            closed_us: 0,
            closure: None,
        };
        let member = Membership {
            id: 1,
            asset: "heart".into(),
            user_id: "alice".into(),
            role: MemberRole::Researcher,
            starts_us: NOW - 50,
            ends_us: NOW + 50,
            ended_us: 0,
            end_reason: String::new(),
            request_id: 1,
            confirmed_us: NOW - 50,
            flagged_us: 0,
            suspended: false,
        };
        let item = |expires_us| ComplianceItem {
            asset: "heart".into(),
            kind: ComplianceKind::Ethics,
            reference: "REC 1".into(),
            expires_us,
            updated_us: 0,
            updated_by: String::new(),
            flagged_us: 0,
        };
        let fresh = [item(NOW + 1)];
        let facts = |asset: &Asset, m: Option<&Membership>, items: &[ComplianceItem], missing: Vec<String>, aus| {
            reach(&ReachFacts {
                asset: &asset.clone(),
                membership: m,
                compliance: items,
                missing_training: missing,
                aus_accepted: aus,
                now_us: NOW,
            })
        };
        assert_eq!(facts(&asset, Some(&member), &fresh, vec![], true), Ok(MemberRole::Researcher));
        assert_eq!(facts(&asset, None, &fresh, vec![], true), Err(Blocked::NotMember));
        let ended = Membership { ended_us: NOW - 1, ..member.clone() };
        assert_eq!(facts(&asset, Some(&ended), &fresh, vec![], true), Err(Blocked::NotMember));
        let past_end = Membership { ends_us: NOW, ..member.clone() };
        assert_eq!(facts(&asset, Some(&past_end), &fresh, vec![], true), Err(Blocked::NotMember));
        let suspended = Membership { suspended: true, ..member.clone() };
        assert_eq!(facts(&asset, Some(&suspended), &fresh, vec![], true), Err(Blocked::Suspended));
        assert_eq!(
            facts(&asset, Some(&member), &[item(NOW)], vec![], true),
            Err(Blocked::Compliance(vec![ComplianceKind::Ethics]))
        );
        let lapsed = facts(&asset, Some(&member), &fresh, vec!["dsa".into()], true).unwrap_err();
        assert!(lapsed.message("heart").contains("training has lapsed (dsa)"), "{}", lapsed.message("heart"));
        assert_eq!(facts(&asset, Some(&member), &fresh, vec![], false), Err(Blocked::Aus));
        let closed = Asset { status: AssetStatus::Closed, ..asset.clone() };
        assert_eq!(facts(&closed, Some(&member), &fresh, vec![], true), Err(Blocked::Closed));
        let over = Asset { ends_us: NOW, ..asset.clone() };
        assert_eq!(facts(&over, Some(&member), &fresh, vec![], true), Err(Blocked::Ended));
    }

    #[test]
    fn training_csv() {
        let ok = "user_id,course,completed,expires\nalice,dsa,2026-01-15,\n\"bob\",dsa,2026-02-01,2026-12-31\n\n";
        let rows = parse_training_csv(ok.as_bytes(), 12, NOW).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].line, show_date(rows[0].expires_us).as_str()), (2, "2027-01-15"));
        assert_eq!(show_end_date(rows[1].expires_us), "2026-12-31");
        let bom = "\u{feff}user_id,course,completed\r\nalice,dsa,2026-01-15\r\n";
        assert_eq!(parse_training_csv(bom.as_bytes(), 12, NOW).unwrap().len(), 1);

        for (input, want) in [
            ("", "empty"),
            ("name,course,date\n", "line 1: the first line must name the columns"),
            ("user_id,course,completed\nalice,dsa\n", "line 2: 2 fields"),
            ("user_id,course,completed\nalice,dsa,2026-01-15\nBad User,dsa,2026-01-01\n", "line 3, user_id"),
            ("user_id,course,completed\nalice,dsa,15/01/2026\n", "line 2, completed"),
            ("user_id,course,completed\nalice,dsa,2099-01-01\n", "line 2, completed: 2099-01-01 is in the future"),
            ("user_id,course,completed,expires\nalice,dsa,2026-01-15,2025-01-01\n", "line 2, expires"),
        ] {
            let e = parse_training_csv(input.as_bytes(), 12, NOW).unwrap_err().to_string();
            assert!(e.contains(want), "{input:?}: {e}");
        }
        let latin1: &[u8] = b"user_id,course,completed\nalice,caf\xe9,2026-01-15\n";
        assert!(parse_training_csv(latin1, 12, NOW).unwrap_err().to_string().contains("line 2: not UTF-8"));
        let long = format!("user_id,course,completed\n{}\n", "a".repeat(MAX_CSV_LINE + 1));
        assert!(parse_training_csv(long.as_bytes(), 12, NOW).unwrap_err().to_string().contains("line 2: longer than"));
    }

    /// A file of any size is refused after `MAX_CSV_ROWS` rows, without reading the rest.
    #[test]
    fn training_csv_row_limit() {
        struct Endless(u64);
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let line = if self.0 == 0 {
                    "user_id,course,completed\n".to_string()
                } else {
                    "alice,dsa,2026-01-15\n".to_string()
                };
                self.0 += 1;
                let n = line.len().min(buf.len());
                buf[..n].copy_from_slice(&line.as_bytes()[..n]);
                Ok(n)
            }
        }
        let e = parse_training_csv(Endless(0), 12, NOW).unwrap_err().to_string();
        assert!(e.contains(&format!("line {}: more than {MAX_CSV_ROWS} rows", MAX_CSV_ROWS + 2)), "{e}");
    }
}
