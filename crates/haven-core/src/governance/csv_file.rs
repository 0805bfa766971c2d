//! Reading the CSV files the service desk imports (training records, accounts, memberships):
//! a header naming the columns first, then rows, each checked by the caller's rule. The whole
//! file is read and checked before anything is applied, and the first problem is reported with
//! its line; the limits below keep memory bounded whatever the file holds.

use std::io::Read;

use crate::CoreError;

/// Most rows one file may hold: rows are held in memory until all are checked.
pub const MAX_CSV_ROWS: usize = 100_000;
/// Longest line (bytes).
pub const MAX_CSV_LINE: usize = 4096;
/// Largest file (bytes): a quoted field may span lines, so lines alone do not bound a row.
pub const MAX_CSV_BYTES: u64 = 32 * 1024 * 1024;

/// What a file must look like: its columns in order, the last `optional` of which the header
/// may leave out (the rule then sees them empty), and what the file is, for messages.
pub struct CsvShape {
    pub what: &'static str,
    pub columns: &'static [&'static str],
    pub optional: usize,
}

impl CsvShape {
    fn required(&self) -> &[&'static str] {
        &self.columns[..self.columns.len() - self.optional]
    }

    fn describe(&self) -> String {
        let optional = &self.columns[self.columns.len() - self.optional..];
        if optional.is_empty() {
            self.required().join(",")
        } else {
            format!("{} (and optionally ,{})", self.required().join(","), optional.join(","))
        }
    }
}

/// Refuses a line longer than [`MAX_CSV_LINE`] and a file larger than [`MAX_CSV_BYTES`], so that
/// neither can fill memory.
struct Limited<R> {
    inner: R,
    what: &'static str,
    run: usize,
    line: u64,
    total: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.total += n as u64;
        if self.total > MAX_CSV_BYTES {
            return Err(std::io::Error::other(format!(
                "the file is larger than {} MiB; split it and import each part",
                MAX_CSV_BYTES / (1024 * 1024)
            )));
        }
        for &b in &buf[..n] {
            if b == b'\n' {
                self.run = 0;
                self.line += 1;
            } else {
                self.run += 1;
                if self.run > MAX_CSV_LINE {
                    return Err(std::io::Error::other(format!(
                        "line {}: longer than {MAX_CSV_LINE} bytes; is this a {} CSV?",
                        self.line + 1,
                        self.what
                    )));
                }
            }
        }
        Ok(n)
    }
}

fn csv_error(message: String) -> CoreError {
    CoreError::invalid("csv", message)
}

/// Read `input` whole as a file of `shape`, each row through `row` (given its line and every
/// column, trimmed, optional ones left out of the header as empty): the rows, or the first
/// problem naming its line. Nothing is applied here.
pub fn read_csv<T>(
    input: impl Read,
    shape: &CsvShape,
    mut row: impl FnMut(u64, &[String]) -> Result<T, CoreError>,
) -> Result<Vec<T>, CoreError> {
    let limited = Limited { inner: input, what: shape.what, run: 0, line: 0, total: 0 };
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(limited);
    let mut record = csv::ByteRecord::new();
    let mut rows = Vec::new();
    let mut given = 0;
    let mut first = true;
    loop {
        let more = reader.read_byte_record(&mut record).map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            match e.into_kind() {
                csv::ErrorKind::Io(io) => csv_error(io.to_string()),
                other => csv_error(format!("line {line}: not valid CSV ({other:?})")),
            }
        })?;
        if !more {
            break;
        }
        let line = record.position().map_or(0, |p| p.line());
        let mut fields = Vec::with_capacity(shape.columns.len());
        for field in record.iter() {
            let text = std::str::from_utf8(field)
                .map_err(|_| csv_error(format!("line {line}: not UTF-8 text; save the file as UTF-8 CSV")))?;
            fields.push(text.trim().trim_start_matches('\u{feff}').to_string());
        }
        if first {
            first = false;
            let names: Vec<&str> = fields.iter().map(String::as_str).collect();
            let fits = names.len() >= shape.required().len()
                && names.len() <= shape.columns.len()
                && names == shape.columns[..names.len()];
            if !fits {
                return Err(csv_error(format!(
                    "line {line}: the first line must name the columns {}; it reads {:?}",
                    shape.describe(),
                    fields.join(",")
                )));
            }
            given = names.len();
            continue;
        }
        if fields.iter().all(String::is_empty) {
            continue;
        }
        if fields.len() != given {
            return Err(csv_error(format!("line {line}: {} fields where the header names {given}", fields.len())));
        }
        if rows.len() >= MAX_CSV_ROWS {
            return Err(csv_error(format!(
                "line {line}: more than {MAX_CSV_ROWS} rows; split the file and import each part"
            )));
        }
        fields.resize(shape.columns.len(), String::new());
        let checked = row(line, &fields).map_err(|e| match e {
            CoreError::Invalid { field: "csv", message } => csv_error(format!("line {line}: {message}")),
            CoreError::Invalid { field, message } => csv_error(format!("line {line}, {field}: {message}")),
            other => other,
        })?;
        rows.push(checked);
    }
    if first {
        return Err(csv_error(format!("the file is empty; the first line must be {}", shape.required().join(","))));
    }
    Ok(rows)
}
