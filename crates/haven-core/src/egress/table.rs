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
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(64 * 1024)
        .from_reader(source);
    let mut record = csv::ByteRecord::new();
    let mut columns: Vec<Column> = Vec::new();
    // Rows whose counts were all zero but one: (row, that column), kept until the columns are known.
    let mut full: Vec<(u64, usize, Vec<usize>)> = Vec::new();
    let mut row = 0u64;
    let (mut not_utf8, mut told_encoding) = (false, false);
    let mut kept = 0usize;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                if let csv::ErrorKind::Io(io) = e.into_kind() {
                    return Err(io);
                }
                // The csv reader with `flexible` fails only on I/O; anything else ends the table.
                findings.file("table-format", Verdict::Fail, "the table could not be read as CSV");
                break;
            }
        }
        row += 1;
        let cells: Vec<std::borrow::Cow<'_, str>> = record
            .iter()
            .map(|b| match std::str::from_utf8(b) {
                Ok(s) => std::borrow::Cow::Borrowed(s),
                Err(_) => {
                    not_utf8 = true;
                    String::from_utf8_lossy(b)
                }
            })
            .collect();
        if not_utf8 && !told_encoding {
            told_encoding = true;
            findings.push(Finding {
                rule: "encoding".into(),
                verdict: Verdict::Review,
                row: Some(row),
                column: None,
                detail: "not UTF-8 text from this row on: read as far as it could be".into(),
            });
        }
        if row == 1 {
            if cells.len() > MAX_COLUMNS {
                let detail = format!("{} columns, more than {MAX_COLUMNS}: no table a person could check", cells.len());
                findings.file("table-shape", Verdict::Fail, detail);
                return Ok(());
            }
            columns = cells
                .iter()
                .map(|c| {
                    let name = c.trim_start_matches('\u{feff}').trim().to_string();
                    Column {
                        label: label_name().is_match(&name),
                        birth: birth_name().is_match(&name),
                        name,
                        ..Column::default()
                    }
                })
                .collect();
            for (i, c) in cells.iter().enumerate() {
                findings.identifiers(c, row, columns.get(i).map(|c| c.name.as_str()), false);
            }
            continue;
        }
        if cells.len() != columns.len() {
            findings.push(Finding {
                rule: "table-shape".into(),
                verdict: Verdict::Review,
                row: Some(row),
                column: None,
                detail: format!("{} fields where the header has {}", cells.len(), columns.len()),
            });
        }
        let mut nonzero = Vec::new();
        let mut zeros = Vec::new();
        for (i, cell) in cells.iter().enumerate() {
            let Some(col) = columns.get_mut(i) else {
                findings.identifiers(cell, row, None, false);
                continue;
            };
            match value(cell) {
                // Labels are not counts; long numbers may be identifiers (an NHS number has 10 digits).
                Value::Count(n) if col.label || n >= 100_000_000 => {
                    col.counts += 1;
                    findings.identifiers(cell, row, Some(&col.name), col.birth);
                }
                Value::Count(n) => {
                    col.counts += 1;
                    if n == 0 {
                        zeros.push(i)
                    } else {
                        nonzero.push(i)
                    }
                    if n < t.min_count && (n > 0 || t.zeros_disclosive) {
                        // Kept per column and in all: a table of many columns keeps no more.
                        if col.candidates.len() < MAX_FINDINGS && kept < MAX_KEPT {
                            col.candidates.push((row, n));
                            kept += 1;
                        } else {
                            col.more_candidates += 1;
                        }
                    }
                }
                Value::Magnitude => col.magnitudes += 1,
                Value::Suppressed => {}
                Value::Text => {
                    col.texts += 1;
                    findings.identifiers(cell, row, Some(&col.name), col.birth);
                }
            }
        }
        if nonzero.len() == 1 && !zeros.is_empty() && full.len() < MAX_FINDINGS {
            zeros.push(nonzero[0]);
            full.push((row, nonzero[0], zeros));
        }
    }
    for col in &columns {
        if !col.holds_counts() {
            continue;
        }
        for &(row, n) in &col.candidates {
            let detail = if n == 0 {
                "a zero count: it says that no one in this group has this (explain it in the request if it is structural)"
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
                detail: "every count in this row is in this one cell: all of the row's group share its category".into(),
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
                "columns {} hold magnitudes (sums, means): dominance (N-k) and the p-ratio need the records behind each \
                 cell, so a checker must judge them (or check the records with --records)",
                magnitude.join(", ")
            ),
        );
    }
    Ok(())
}
