//! The `[governance]` section of the configuration: IG case references, training, the
//! Acceptable Use Statement, access reviews and compliance warnings.

use serde::{Deserialize, Serialize};

/// The course every governed role needs by default: NHS England's "Data Security Awareness".
pub const DEFAULT_COURSE: &str = "data-security-awareness";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GovernanceConfig {
    /// The form of an IG case reference: `#` stands for a digit, anything else for itself
    /// (`IG/#####` accepts `IG/00999`).
    pub ig_ref_format: String,
    /// How long a training record is valid when the record gives no expiry (months).
    pub training_validity_months: u32,
    /// Reminders before a training record expires (days before; at most two).
    pub training_reminder_days: Vec<u32>,
    /// The courses each role needs, current; a role whose courses have lapsed gives nothing.
    pub courses: RequiredCourses,
    /// The version of the Acceptable Use Statement; raising it asks everyone to accept again.
    pub aus_version: i64,
    /// The Acceptable Use Statement people accept (Markdown); empty for Haven's own text.
    /// Change `aus_version` with it, so that everyone accepts the new text.
    pub aus_text: String,
    /// How often each IAO confirms their members (months).
    pub review_months: u32,
    /// Suspend a member whose review deadline passed unconfirmed (otherwise only flagged).
    pub suspend_unreviewed: bool,
    /// Flag a compliance item to the IAO and the service desk this many days before it expires.
    pub compliance_warning_days: u32,
}

/// Courses required per role. Researchers and data managers (members of an asset) and IAOs and
/// IAAs need the default course out of the box; the staff roles need none until configured, so
/// that a new installation's first administrator is not locked out before any record exists.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequiredCourses {
    /// Members of an asset (researchers and data managers).
    pub researcher: Vec<String>,
    /// Information Asset Owners and Administrators.
    pub iao: Vec<String>,
    pub output_checker: Vec<String>,
    /// Package reviewers.
    pub reviewer: Vec<String>,
    /// The service desk (administrators).
    pub service_desk: Vec<String>,
    pub auditor: Vec<String>,
}

impl Default for RequiredCourses {
    fn default() -> Self {
        RequiredCourses {
            researcher: vec![DEFAULT_COURSE.into()],
            iao: vec![DEFAULT_COURSE.into()],
            output_checker: Vec::new(),
            reviewer: Vec::new(),
            service_desk: Vec::new(),
            auditor: Vec::new(),
        }
    }
}

impl Default for GovernanceConfig {
    fn default() -> Self {
        GovernanceConfig {
            ig_ref_format: "IG/#####".into(),
            training_validity_months: 12,
            training_reminder_days: vec![30, 7],
            courses: RequiredCourses::default(),
            aus_version: 1,
            aus_text: String::new(),
            review_months: 6,
            suspend_unreviewed: false,
            compliance_warning_days: 30,
        }
    }
}

impl GovernanceConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.ig_ref_format.trim().is_empty() || self.ig_ref_format.len() > 64 {
            return Err(
                "governance.ig_ref_format must be 1 to 64 characters, with # for each digit (e.g. IG/#####)".into()
            );
        }
        if !(1..=60).contains(&self.training_validity_months) {
            return Err("governance.training_validity_months must be 1 to 60".into());
        }
        if self.training_reminder_days.len() > 2 || self.training_reminder_days.iter().any(|d| !(1..=365).contains(d)) {
            return Err("governance.training_reminder_days: at most two numbers of days, each 1 to 365".into());
        }
        if self.aus_version < 1 {
            return Err("governance.aus_version must be 1 or more".into());
        }
        if self.aus_text.len() > 64 * 1024 {
            return Err("governance.aus_text must be at most 64 KiB of Markdown".into());
        }
        if !(1..=24).contains(&self.review_months) {
            return Err("governance.review_months must be 1 to 24".into());
        }
        if !(1..=365).contains(&self.compliance_warning_days) {
            return Err("governance.compliance_warning_days must be 1 to 365".into());
        }
        let c = &self.courses;
        for (role, courses) in [
            ("researcher", &c.researcher),
            ("iao", &c.iao),
            ("output_checker", &c.output_checker),
            ("reviewer", &c.reviewer),
            ("service_desk", &c.service_desk),
            ("auditor", &c.auditor),
        ] {
            if let Some(bad) = courses.iter().find(|name| super::rules::validate_course(name).is_err()) {
                return Err(format!(
                    "governance.courses.{role}: {bad:?} is not a course name (1 to 64 letters, digits, '-', '_' or '.')"
                ));
            }
        }
        Ok(())
    }

    /// Reminder offsets, largest first (30 days, then 7).
    pub fn reminder_days(&self) -> Vec<u32> {
        let mut days = self.training_reminder_days.clone();
        days.sort_unstable_by(|a, b| b.cmp(a));
        days
    }
}
