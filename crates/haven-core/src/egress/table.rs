//! A table that is to leave (CSV or TSV), read as a stream: its header names the columns; a
//! column whose every value is a whole number (or a suppression mark such as `[REDACTED]`,
//! `*`, `<10`) holds counts, unless its name says it is a label (year, age, code…); a column
//! with any fractional value holds magnitudes. Then, per cell:
//!
//! - a count from 1 to `min_count` − 1 fails (minimum cell count);
//! - a count of 0 fails when zeros are disclosive (a group with none of something says
//!   something about every member of the group);
//! - a row whose counts are all 0 but one is a full cell (everyone in that row's group is in one
//!   category): review;
//! - every cell is searched for identifiers (a column named like a date of birth makes any date
//!   in it one);
//! - a table with magnitude columns is marked for review: dominance (N-k) and the p-ratio need
//!   the records behind each cell, which an output table does not hold.
//!
//! Memory holds the header, one row, and at most [`MAX_KEPT`] candidate cells, whatever the
//! number of rows or columns.

use std::io::{self, Read};
use std::sync::OnceLock;

use regex::Regex;

use super::checks::{Finding, Findings, MAX_FINDINGS, Thresholds, Verdict};
use super::split::Splitter;

/// More columns than this is no table a person could check.
const MAX_COLUMNS: usize = 10_000;

/// Candidate cells kept across all columns until the columns are known.
const MAX_KEPT: usize = 10 * MAX_FINDINGS;

/// What a suppressed cell may say instead of a number.
const SUPPRESSED: [&str; 10] = ["", "*", "**", "[redacted]", "redacted", "na", "n/a", "-", "..", "suppressed"];

fn label_name() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    // A fixed pattern, compiled in the tests.
    #[allow(clippy::unwrap_used)]
    R.get_or_init(|| {
        Regex::new(r"(?i)(^|[ _-])(year|yr|age|ageband|age_?group|month|week|day|date|id|code|icd|snomed|region|band|group|category|cat|sex|gender|rank|order|decile|quintile)($|[ _-])")
            .unwrap()
    })
}

fn birth_name() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    #[allow(clippy::unwrap_used)]
    R.get_or_init(|| Regex::new(r"(?i)(dob|birth)").unwrap())
}

/// A cell's value, as these checks see it.
enum Value {
    Count(u64),
    Magnitude,
    Suppressed,
    Text,
}

/// A cell of ASCII digits only (spaces around them allowed), as a number: what [`value`] makes of
/// it, without reading it as text first.
fn count(cell: &[u8]) -> Option<u64> {
    whole_number(cell, 19)
}

/// A cell of at most `max_digits` ASCII digits (19 at most: no overflow), spaces around them
/// allowed, as a number.
pub(crate) fn whole_number(cell: &[u8], max_digits: usize) -> Option<u64> {
    let digits = cell.trim_ascii();
    if digits.is_empty() || digits.len() > max_digits.min(19) || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

fn value(cell: &str) -> Value {
    let c = cell.trim();
    if SUPPRESSED.iter().any(|s| c.eq_ignore_ascii_case(s)) || c.starts_with('<') || c.starts_with("≤") {
        return Value::Suppressed;
    }
    if let Ok(n) = c.parse::<u64>() {
        return Value::Count(n);
    }
    if c.parse::<f64>().is_ok_and(f64::is_finite) {
        return Value::Magnitude;
    }
    Value::Text
}

#[derive(Default)]
struct Column {
    name: String,
    label: bool,
    birth: bool,
    counts: u64,
    magnitudes: u64,
    texts: u64,
    /// (row, value) of counts below the minimum or zero, while the column may hold counts.
    candidates: Vec<(u64, u64)>,
    more_candidates: u64,
}

impl Column {
    fn holds_counts(&self) -> bool {
        !self.label && self.counts > 0 && self.magnitudes == 0 && self.texts == 0
    }
}

pub(crate) fn check(source: &mut impl Read, delimiter: u8, t: &Thresholds, findings: &mut Findings) -> io::Result<()> {
    let mut records = Splitter::new(source, delimiter, t.max_line_bytes);
    let mut table = TableCheck::new(t);
    let mut row = 0u64;
    while let Some(record) = records.next_record()? {
        row += 1;
        if !table.row(row, record.len(), record.is_utf8(), record.iter(), findings) {
            return Ok(());
        }
    }
    table.finish(findings);
    Ok(())
}

/// The checks of one table, fed a row at a time (from CSV, or from a worksheet).
pub(crate) struct TableCheck<'t> {
    t: &'t Thresholds,
    columns: Vec<Column>,
    /// Rows whose counts were all zero but one: (row, that column, the columns involved), kept
    /// until the columns are known.
    full: Vec<(u64, usize, Vec<usize>)>,
    header: bool,
    told_encoding: bool,
    kept: usize,
    nonzero: Vec<usize>,
    zeros: Vec<usize>,
}

impl<'t> TableCheck<'t> {
    pub fn new(t: &'t Thresholds) -> Self {
        TableCheck {
            t,
            columns: Vec::new(),
            full: Vec::new(),
            header: true,
            told_encoding: false,
            kept: 0,
            nonzero: Vec::new(),
            zeros: Vec::new(),
        }
    }

    /// Row `row` (its number in the file; the first row fed is the header): `len` cells, all
    /// UTF-8 or not. False when the table can be read no further.
    pub fn row<'c>(
        &mut self,
        row: u64,
        len: usize,
        utf8: bool,
        cells: impl Iterator<Item = &'c [u8]>,
        findings: &mut Findings,
    ) -> bool {
        let t = self.t;
        if !self.told_encoding && !utf8 {
            self.told_encoding = true;
            findings.push(Finding {
                rule: "encoding".into(),
                verdict: Verdict::Review,
                row: Some(row),
                column: None,
                detail: "not UTF-8 text from this row on: read as far as it could be".into(),
            });
        }
        if std::mem::take(&mut self.header) {
            if len > MAX_COLUMNS {
                let detail = format!("{len} columns, more than {MAX_COLUMNS}: no table a person could check");
                findings.file("table-shape", Verdict::Fail, detail);
                return false;
            }
            for cell in cells {
                let cell = String::from_utf8_lossy(cell);
                let name = cell.trim_start_matches('\u{feff}').trim().to_string();
                findings.identifiers(&cell, row, Some(&name), false);
                self.columns.push(Column {
                    label: label_name().is_match(&name),
                    birth: birth_name().is_match(&name),
                    name,
                    ..Column::default()
                });
            }
            return true;
        }
        let columns = &mut self.columns;
        if len != columns.len() {
            findings.push(Finding {
                rule: "table-shape".into(),
                verdict: Verdict::Review,
                row: Some(row),
                column: None,
                detail: format!("{len} fields where the header has {}", columns.len()),
            });
        }
        self.nonzero.clear();
        self.zeros.clear();
        for (i, bytes) in cells.enumerate() {
            // Most cells of a table are whole numbers: read as such without more ado.
            let (value, cell) = match count(bytes) {
                Some(n) => (Value::Count(n), None),
                None => {
                    let cell = String::from_utf8_lossy(bytes);
                    (value(&cell), Some(cell))
                }
            };
            let text = || cell.clone().unwrap_or_else(|| String::from_utf8_lossy(bytes));
            let Some(col) = columns.get_mut(i) else {
                findings.identifiers(&text(), row, None, false);
                continue;
            };
            match value {
                // Labels are not counts; long numbers may be identifiers (an NHS number has 10 digits).
                Value::Count(n) if col.label || n >= 100_000_000 => {
                    col.counts += 1;
                    findings.identifiers(&text(), row, Some(&col.name), col.birth);
                }
                Value::Count(n) => {
                    col.counts += 1;
                    if n == 0 {
                        self.zeros.push(i)
                    } else {
                        self.nonzero.push(i)
                    }
                    if n < t.min_count && (n > 0 || t.zeros_disclosive) {
                        // Kept per column and in all: a table of many columns keeps no more.
                        if col.candidates.len() < MAX_FINDINGS && self.kept < MAX_KEPT {
                            col.candidates.push((row, n));
                            self.kept += 1;
                        } else {
                            col.more_candidates += 1;
                        }
                    }
                }
                Value::Magnitude => col.magnitudes += 1,
                Value::Suppressed => {}
                Value::Text => {
                    col.texts += 1;
                    findings.identifiers(&text(), row, Some(&col.name), col.birth);
                }
            }
        }
        if self.nonzero.len() == 1 && !self.zeros.is_empty() && self.full.len() < MAX_FINDINGS {
            let mut involved = self.zeros.clone();
            involved.push(self.nonzero[0]);
            self.full.push((row, self.nonzero[0], involved));
        }
        true
    }

    /// What the whole table shows, once every row is in.
    pub fn finish(self, findings: &mut Findings) {
        let TableCheck { t, columns, full, .. } = self;
        for col in &columns {
            if !col.holds_counts() {
                continue;
            }
            for &(row, n) in &col.candidates {
                let detail = if n == 0 {
                    "a zero count: it says that no one in this group has this (explain it in the request if it is \
                     structural)"
                        .to_string()
                } else {
                    format!("a count of {n}, below the minimum of {}", t.min_count)
                };
                let rule = if n == 0 { "zero-cell" } else { "minimum-count" };
                findings.push(Finding {
                    rule: rule.into(),
                    verdict: Verdict::Fail,
                    row: Some(row),
                    column: Some(col.name.clone()),
                    detail,
                });
            }
            findings.count_more(col.more_candidates, Verdict::Fail);
        }
        for (row, at, involved) in full {
            if involved.iter().all(|&i| columns.get(i).is_some_and(Column::holds_counts)) {
                let column = columns.get(at).map(|c| c.name.clone());
                findings.push(Finding {
                    rule: "full-cell".into(),
                    verdict: Verdict::Review,
                    row: Some(row),
                    column,
                    detail: "every count in this row is in this one cell: all of the row's group share its category"
                        .into(),
                });
            }
        }
        let magnitude: Vec<&str> =
            columns.iter().filter(|c| c.magnitudes > 0 && c.texts == 0).map(|c| c.name.as_str()).collect();
        if !magnitude.is_empty() {
            findings.file(
                "magnitude-table",
                Verdict::Review,
                format!(
                    "columns {} hold magnitudes (sums, means): dominance (N-k) and the p-ratio need the records \
                     behind each cell, so a checker must judge them (or check the records with --records)",
                    magnitude.join(", ")
                ),
            );
        }
    }
}
