//! A table checked from the records behind it: the researcher says which columns of a record
//! file (one row per person or event, CSV) make the table's rows and columns and, for a table of
//! magnitudes, which column is summed; Haven builds the table itself, in one pass, and checks
//! every cell as ACRO does when it makes a table (`acro.crosstab`): the minimum count, zero
//! cells (frequency tables), dominance (N-k) and the p-ratio (magnitude tables). What leaves
//! can then be compared with the table Haven built.
//!
//! Memory holds one entry per cell (at most [`MAX_CELLS`]), whatever the number of records: per
//! cell its count, total, and its two largest contributions.

use std::collections::{BTreeMap, HashMap};

/// Labels by their bytes, and the number each was given.
type Labels = HashMap<Vec<u8>, usize, foldhash::fast::RandomState>;
use std::io::{self, Read};

use serde::Serialize;

use super::checks::{Finding, Findings, Thresholds, Verdict};
use super::split::Splitter;

/// More cells than this is no table a person could check.
pub const MAX_CELLS: usize = 100_000;
/// A row or column label longer than this is not a label (and would make the table's memory
/// grow with what a record holds).
pub const MAX_LABEL: usize = 1024;

/// Which columns make the table.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub rows: String,
    pub columns: Option<String>,
    /// Summed per cell (a magnitude table); counted when None (a frequency table).
    pub values: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Cell {
    pub count: u64,
    pub total: f64,
    /// The largest and second largest contributions.
    pub top: [f64; 2],
    pub negative: bool,
}

impl Cell {
    fn add(&mut self, v: f64) {
        self.count += 1;
        self.total += v;
        if v < 0.0 {
            self.negative = true;
        }
        if v > self.top[0] {
            self.top = [v, self.top[0]];
        } else if v > self.top[1] {
            self.top[1] = v;
        }
    }
}

/// The table Haven built, and what it found.
#[derive(Debug, Serialize)]
pub struct RecordsReport {
    pub records: u64,
    pub row_labels: Vec<String>,
    pub column_labels: Vec<String>,
    /// Cells by (row label, column label); absent combinations are zero cells.
    pub cells: BTreeMap<(String, String), Cell>,
}

/// Builds the table `spec` names from `source`'s records and checks every cell into `findings`
/// (each located by its labels: `rows=label × columns=label`).
pub(crate) fn check(
    source: &mut impl Read,
    spec: &TableSpec,
    t: &Thresholds,
    findings: &mut Findings,
) -> io::Result<Option<RecordsReport>> {
    let mut reader = Splitter::new(source, b',', t.max_line_bytes);
    let header: Vec<Vec<u8>> = match reader.next_record()? {
        Some(h) => h.iter().map(<[u8]>::to_vec).collect(),
        None => Vec::new(),
    };
    let find = |name: &str| {
        header.iter().position(|h| String::from_utf8_lossy(h).trim_start_matches('\u{feff}').trim() == name)
    };
    let mut missing = Vec::new();
    let rows_at = find(&spec.rows);
    if rows_at.is_none() {
        missing.push(spec.rows.as_str());
    }
    let cols_at = spec.columns.as_deref().map(|c| (c, find(c)));
    let values_at = spec.values.as_deref().map(|c| (c, find(c)));
    for (name, at) in cols_at.iter().chain(values_at.iter()) {
        if at.is_none() {
            missing.push(name);
        }
    }
    if !missing.is_empty() {
        findings.file("records", Verdict::Fail, format!("the records have no column {}", missing.join(", ")));
        return Ok(None);
    }
    let cols_at = cols_at.and_then(|(_, at)| at);
    let values_at = values_at.and_then(|(_, at)| at);
    // Labels by their bytes, looked up without allocating (foldhash: seeded per process, and
    // several times faster than SipHash on short labels); cells in a grid by the labels'
    // numbers, which the cell limit keeps small (every row × column is a cell of the table).
    let (mut row_ids, mut col_ids): (Labels, Labels) = Default::default();
    let mut grid: Vec<Vec<Cell>> = Vec::new();
    let (mut records, mut unreadable) = (0u64, 0u64);
    let id = |ids: &mut Labels, label: &[u8]| match ids.get(label) {
        Some(&i) => i,
        None => {
            let i = ids.len();
            ids.insert(label.to_vec(), i);
            i
        }
    };
    while let Some(record) = reader.next_record()? {
        records += 1;
        let value = match values_at {
            Some(at) => match number(record.get(at).unwrap_or_default()) {
                Some(v) => v,
                // Missing values are left out of a sum, as pandas does; counted and said.
                None => {
                    unreadable += 1;
                    continue;
                }
            },
            None => 1.0,
        };
        let (r, c) = (rows_at.and_then(|i| record.get(i)), cols_at.and_then(|i| record.get(i)));
        let (r, c) = (r.unwrap_or_default(), c.unwrap_or_default());
        if r.len().max(c.len()) > MAX_LABEL {
            let detail = format!("a label longer than {MAX_LABEL} bytes (record {records}): no table label");
            findings.file("records", Verdict::Fail, detail);
            return Ok(None);
        }
        let (r, c) = (id(&mut row_ids, r), id(&mut col_ids, c));
        if row_ids.len().saturating_mul(col_ids.len()) > MAX_CELLS {
            let detail = format!("more than {MAX_CELLS} cells: no table a person could check");
            findings.file("records", Verdict::Fail, detail);
            return Ok(None);
        }
        if r >= grid.len() {
            grid.resize_with(r + 1, Vec::new);
        }
        let row = &mut grid[r];
        if c >= row.len() {
            row.resize_with(c + 1, Cell::default);
        }
        row[c].add(value);
    }
    let label = |ids: &Labels| {
        let mut names = vec![String::new(); ids.len()];
        for (bytes, &i) in ids {
            names[i] = String::from_utf8_lossy(bytes).into_owned();
        }
        names
    };
    let (row_names, col_names) = (label(&row_ids), label(&col_ids));
    // The cells with records; the table's others are its empty cells.
    let cells: BTreeMap<(String, String), Cell> = grid
        .into_iter()
        .enumerate()
        .flat_map(|(r, row)| row.into_iter().enumerate().map(move |(c, cell)| (r, c, cell)))
        .filter(|(_, _, cell)| cell.count > 0)
        .map(|(r, c, cell)| ((row_names[r].clone(), col_names[c].clone()), cell))
        .collect();
    if unreadable > 0 {
        findings.file(
            "records",
            Verdict::Review,
            format!("{unreadable} records have no number in {} and are left out", spec.values.as_deref().unwrap_or("")),
        );
    }
    let row_labels: Vec<String> = {
        let mut v: Vec<String> = cells.keys().map(|(r, _)| r.clone()).collect();
        v.dedup();
        v
    };
    let column_labels: Vec<String> = {
        let mut v: Vec<String> = cells.keys().map(|(_, c)| c.clone()).collect();
        v.sort();
        v.dedup();
        v
    };
    for r in &row_labels {
        for c in &column_labels {
            let at = |rule: &'static str, verdict: Verdict, detail: String| Finding {
                rule: rule.into(),
                verdict,
                row: None,
                column: Some(format!("{}={r} × {}", spec.rows, column_name(spec, c))),
                detail,
            };
            let Some(cell) = cells.get(&(r.clone(), c.clone())) else {
                // No records: a zero in a table of counts; in a table of sums, a cell from none.
                if spec.values.is_some() {
                    let detail = format!("no records in this cell, below the minimum of {}", t.min_count);
                    findings.push(at("minimum-count", Verdict::Fail, detail));
                } else if t.zeros_disclosive {
                    findings.push(at("zero-cell", Verdict::Fail, "no records in this cell: a zero count".into()));
                }
                continue;
            };
            if cell.count < t.min_count {
                let detail = format!("{} records, below the minimum of {}", cell.count, t.min_count);
                findings.push(at("minimum-count", Verdict::Fail, detail));
            }
            if spec.values.is_none() {
                continue;
            }
            if cell.negative {
                let detail = "negative values: dominance and the p-ratio do not apply as they stand".to_string();
                findings.push(at("negative-values", Verdict::Review, detail));
                continue;
            }
            let top_n: f64 = cell.top.iter().take(t.nk_n.min(2)).sum();
            if cell.total > 0.0 && top_n / cell.total >= t.nk_k {
                let detail = format!(
                    "the largest {} contributions are {:.1} % of the cell's total (at most {:.0} %)",
                    t.nk_n.min(2),
                    100.0 * top_n / cell.total,
                    100.0 * t.nk_k
                );
                findings.push(at("dominance", Verdict::Fail, detail));
            }
            if cell.top[0] > 0.0 {
                let ratio = (cell.total - cell.top[0] - cell.top[1]) / cell.top[0];
                if ratio < t.p_ratio {
                    let detail = format!(
                        "the p-ratio is {ratio:.3}: the rest of the cell tells the largest contribution to within {:.1} % \
                         (at least {:.0} %)",
                        100.0 * ratio,
                        100.0 * t.p_ratio
                    );
                    findings.push(at("p-ratio", Verdict::Fail, detail));
                }
            }
        }
    }
    Ok(Some(RecordsReport { records, row_labels, column_labels, cells }))
}

fn column_name(spec: &TableSpec, label: &str) -> String {
    match &spec.columns {
        Some(c) => format!("{c}={label}"),
        None => "all".into(),
    }
}

/// A value to sum: a finite number, read at once when it is a whole number of up to 15 digits
/// (exact in an f64, as the standard parser would make it), by the standard parser otherwise.
fn number(cell: &[u8]) -> Option<f64> {
    if let Some(n) = super::table::whole_number(cell, 15) {
        #[allow(clippy::cast_precision_loss)] // below 10^15: exact
        return Some(n as f64);
    }
    std::str::from_utf8(cell).ok()?.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}
