//! Bulk import at the console (`haven users import`, `haven assets members import`): accounts
//! and memberships from CSV, as when a safe haven moves onto Haven from the system it used
//! before. Each file is read and checked whole, then applied in one unit: every row or none,
//! the first bad row named by its line. A membership imported this way has no request behind it
//! (`request_id` 0), and the access report says "imported".

use std::collections::BTreeMap;
use std::io::Read;

use serde::Serialize;

use super::Governance;
use super::csv_file::{CsvShape, read_csv};
use super::records::{AssetStatus, MemberRole, Membership};
use super::rules::{self, parse_end_date, show_end_date};
use crate::accounts::{Role, validate_email, validate_user_id};
use crate::audit::{NewAuditEvent, action};
use crate::authz::{Action, Resource, can};
use crate::caller::{Caller, Level};
use crate::identity::desk::NewAccountRow;
use crate::{CoreError, transact};

const ACCOUNTS_CSV: CsvShape = CsvShape { what: "accounts", columns: &["user_id", "email", "roles"], optional: 1 };
const MEMBERS_CSV: CsvShape =
    CsvShape { what: "memberships", columns: &["asset", "user_id", "role", "ends"], optional: 0 };

/// One membership to import, checked.
#[derive(Debug, Clone)]
pub struct MemberRow {
    pub line: u64,
    pub asset: String,
    pub user_id: String,
    pub role: MemberRole,
    pub ends_us: i64,
}

/// What a memberships import applied.
#[derive(Debug, Serialize)]
pub struct MembersImported {
    pub memberships: usize,
    pub assets: usize,
}

/// A second row for the same key refuses the file, naming both lines.
fn once<K: Ord>(seen: &mut BTreeMap<K, u64>, key: K, line: u64, what: &str) -> Result<(), CoreError> {
    match seen.insert(key, line) {
        Some(first) => Err(CoreError::invalid("csv", format!("{what} is on line {first} already"))),
        None => Ok(()),
    }
}

/// Read an accounts CSV (`user_id,email[,roles]`, roles separated by `;`, researcher when
/// empty) whole: the rows, or the first problem naming its line.
pub fn parse_accounts_csv(input: impl Read) -> Result<Vec<NewAccountRow>, CoreError> {
    let (mut seen, mut emails) = (BTreeMap::new(), BTreeMap::new());
    read_csv(input, &ACCOUNTS_CSV, |line, f| {
        let user_id = f[0].to_lowercase();
        validate_user_id(&user_id)?;
        validate_email(&f[1])?;
        let mut roles = Vec::new();
        for name in f[2].split(';').map(str::trim).filter(|r| !r.is_empty()) {
            match Role::parse(name).filter(|r| Role::GRANTABLE.contains(r)) {
                Some(role) if !roles.contains(&role) => roles.push(role),
                Some(_) => {}
                None => {
                    let names: Vec<&str> = Role::GRANTABLE.iter().map(|r| r.as_str()).collect();
                    return Err(CoreError::invalid(
                        "roles",
                        format!("{name:?} is not a role: use {}", names.join(", ")),
                    ));
                }
            }
        }
        if roles.is_empty() {
            roles.push(Role::Researcher);
        }
        once(&mut seen, user_id.clone(), line, &user_id)?;
        once(&mut emails, f[1].to_lowercase(), line, &format!("the email {}", f[1]))?;
        Ok(NewAccountRow { line, user_id, email: f[1].clone(), roles })
    })
}

/// Read a memberships CSV (`asset,user_id,role,ends`, the last day as YYYY-MM-DD, after
/// today) whole: the rows, or the first problem naming its line.
pub fn parse_members_csv(input: impl Read, now_us: i64) -> Result<Vec<MemberRow>, CoreError> {
    let mut seen = BTreeMap::new();
    read_csv(input, &MEMBERS_CSV, |line, f| {
        let (asset, user_id) = (f[0].to_lowercase(), f[1].to_lowercase());
        rules::validate_asset_name(&asset).map_err(|e| match e {
            CoreError::Invalid { message, .. } => CoreError::invalid("asset", message),
            other => other,
        })?;
        validate_user_id(&user_id)?;
        let role = MemberRole::parse(&f[2])
            .ok_or_else(|| CoreError::invalid("role", format!("use one of {}", MemberRole::names())))?;
        let ends_us = parse_end_date("ends", &f[3])?;
        if ends_us <= now_us {
            return Err(CoreError::invalid("ends", format!("{} is in the past", f[3])));
        }
        once(&mut seen, (asset.clone(), user_id.clone()), line, &format!("{user_id} in {asset}"))?;
        Ok(MemberRow { line, asset, user_id, role, ends_us })
    })
}

impl Governance {
    /// Read a memberships CSV with this Haven's clock (blocking: call it off the async threads).
    pub fn read_members_csv(&self, input: impl Read) -> Result<Vec<MemberRow>, CoreError> {
        parse_members_csv(input, self.now().1)
    }

    /// Start the memberships of `rows`, all or none: at the console only, since no request and
    /// decision stand behind them. An unknown or closed asset, an unknown account or a current
    /// membership refuses the whole file, naming the line. Each membership is audited.
    pub async fn import_memberships(&self, who: &Caller, rows: Vec<MemberRow>) -> Result<MembersImported, CoreError> {
        if who.level != Level::Console || !can(who, Action::CreateAsset, Resource::Service) {
            return Err(CoreError::Forbidden);
        }
        let (now, now_us) = self.now();
        let (actor, src) = (who.audit_name().to_string(), who.source.clone());
        let assets = rows.iter().map(|r| r.asset.as_str()).collect::<std::collections::BTreeSet<_>>().len();
        let memberships = rows.len();
        transact(self.store(), move |tx| {
            Box::pin(async move {
                let at = |line: u64, m: String| CoreError::invalid("csv", format!("line {line}: {m}"));
                for r in rows {
                    match tx.asset(&r.asset).await? {
                        None => return Err(at(r.line, format!("there is no asset {}", r.asset))),
                        Some(a) if a.status != AssetStatus::Active => {
                            return Err(at(r.line, format!("{} is closed", r.asset)));
                        }
                        // As with a request: a membership cannot outlast its asset.
                        Some(a) if a.ends_us != 0 && r.ends_us > a.ends_us => {
                            return Err(at(
                                r.line,
                                format!(
                                    "{} ends on {}; a membership cannot outlast it",
                                    r.asset,
                                    show_end_date(a.ends_us)
                                ),
                            ));
                        }
                        Some(_) => {}
                    }
                    if tx.account(&r.user_id).await?.is_none() {
                        return Err(at(
                            r.line,
                            format!("there is no account {}; import the accounts first", r.user_id),
                        ));
                    }
                    if tx.current_membership(&r.asset, &r.user_id).await?.is_some() {
                        return Err(at(
                            r.line,
                            format!("{} is a member of {} already; change it with a request", r.user_id, r.asset),
                        ));
                    }
                    super::requests::reenable(tx, &r.user_id, &actor, &src, now).await?;
                    let membership = Membership {
                        id: 0,
                        asset: r.asset.clone(),
                        user_id: r.user_id.clone(),
                        role: r.role,
                        starts_us: now_us,
                        ends_us: r.ends_us,
                        ended_us: 0,
                        end_reason: String::new(),
                        request_id: 0,
                        confirmed_us: now_us,
                        flagged_us: 0,
                        suspended: false,
                    };
                    let id = tx.insert_membership(&membership).await?;
                    tx.append_audit(
                        NewAuditEvent::new(now, &actor, action::MEMBERSHIP_STARTED)
                            .target(&r.user_id)
                            .project(&r.asset)
                            .source(&src)
                            .details(serde_json::json!({
                                "membership": id,
                                "role": r.role.as_str(),
                                "ends": show_end_date(r.ends_us),
                                "request": 0,
                                "imported_from_line": r.line,
                            })),
                    )
                    .await?;
                }
                Ok::<_, CoreError>(())
            })
        })
        .await?;
        Ok(MembersImported { memberships, assets })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000_000_000; // 2026-09-21

    fn accounts(text: &str) -> Result<Vec<NewAccountRow>, String> {
        parse_accounts_csv(text.as_bytes()).map_err(|e| e.to_string())
    }

    fn members(text: &str) -> Result<Vec<MemberRow>, String> {
        parse_members_csv(text.as_bytes(), NOW).map_err(|e| e.to_string())
    }

    #[test]
    fn accounts_csv_rows_and_roles() {
        let rows =
            accounts("user_id,email,roles\nAda,ada@example.org,staff;researcher\nbob,bob@example.org,\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].user_id.as_str(), rows[0].line), ("ada", 2));
        assert_eq!(rows[0].roles, [Role::Staff, Role::Researcher]);
        assert_eq!(rows[1].roles, [Role::Researcher], "researcher when none is given");
        // The roles column may be left out of the header.
        assert_eq!(accounts("user_id,email\nada,ada@example.org\n").unwrap()[0].roles, [Role::Researcher]);
    }

    #[test]
    fn accounts_csv_names_the_bad_line() {
        for (text, want) in [
            ("user,email\nada,ada@example.org\n", "line 1: the first line must name the columns user_id,email"),
            ("user_id,email\nada,ada@example.org\nbob,not-an-email\n", "line 3, email"),
            ("user_id,email,roles\nada,ada@example.org,system\n", "line 2, roles: \"system\" is not a role"),
            ("user_id,email\nada,a@example.org\nADA,b@example.org\n", "line 3: ada is on line 2 already"),
            (
                "user_id,email\nada,a@example.org\nbob,A@Example.org\n",
                "line 3: the email A@Example.org is on line 2 already",
            ),
            ("user_id,email\nada\n", "line 2: 1 fields where the header names 2"),
            ("", "the file is empty"),
        ] {
            let e = accounts(text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn members_csv_names_the_bad_line() {
        let rows = members("asset,user_id,role,ends\nheart,ada,researcher,2027-06-30\n").unwrap();
        assert_eq!((rows[0].asset.as_str(), rows[0].role), ("heart", MemberRole::Researcher));
        for (text, want) in [
            (
                "asset,user_id,role\nheart,ada,researcher\n",
                "line 1: the first line must name the columns asset,user_id,role,ends",
            ),
            (
                "asset,user_id,role,ends\nheart,ada,boss,2027-06-30\n",
                "line 2, role: use one of researcher, data_manager",
            ),
            ("asset,user_id,role,ends\nheart,ada,researcher,2020-01-01\n", "line 2, ends: 2020-01-01 is in the past"),
            ("asset,user_id,role,ends\nheart,ada,researcher,soon\n", "line 2, ends"),
            ("asset,user_id,role,ends\nHeart!,ada,researcher,2027-01-01\n", "line 2, asset"),
            (
                "asset,user_id,role,ends\nheart,ada,researcher,2027-01-01\nheart,ada,data_manager,2027-01-01\n",
                "line 3: ada in heart is on line 2 already",
            ),
        ] {
            let e = members(text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
