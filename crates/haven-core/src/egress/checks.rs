//! The automated checks on one file's exact bytes: what kind of file it is and whether that kind
//! may leave, its size, and by kind: tables (CSV, TSV) for disclosure (small and zero cells, full
//! cells) and identifiers in every cell; free text for identifiers; images and documents for a
//! person to look at. Each finding names its rule, the rule set's version, where it is (row and
//! column) and a verdict; the file's verdict is the worst of them.
//!
//! Everything is read once, as a stream: memory stays flat whatever the file's size, and a line
//! longer than a table could honestly have (a 10 GB "row") ends the content checks with a verdict
//! of fail instead of being held in memory. Bad input is a finding, never an error: only a
//! failure to read the bytes at all is.

use std::borrow::Cow;
use std::io::{self, Read};

use serde::{Deserialize, Serialize};

use super::records::{self, RecordsReport, TableSpec};
use super::{identifiers, table, workbook};

/// The version of these rules, recorded with every result: a change to any rule or default
/// changes it (2026.12.2: a workbook's cells and what it carries besides them).
pub const RULESET: &str = "haven-sdc-2026.12.2";

/// Per-asset thresholds (`[egress.checks]`, or an asset's own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// A count below this (and above zero) is disclosive (ACRO's `safe_threshold`).
    pub min_count: u64,
    /// Zero cells are disclosive (ACRO's `zeros_are_disclosive`).
    pub zeros_disclosive: bool,
    /// Dominance: the top `nk_n` (1 or 2) contributors may hold less than `nk_k` of a cell's total.
    pub nk_n: usize,
    pub nk_k: f64,
    /// p-ratio: (total − top1 − top2) / top1 must be at least this.
    pub p_ratio: f64,
    /// Largest file that may leave, bytes.
    pub max_file_bytes: u64,
    /// Longest line a table or text may have, bytes.
    pub max_line_bytes: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            min_count: 10,
            zeros_disclosive: true,
            nk_n: 2,
            nk_k: 0.9,
            p_ratio: 0.1,
            max_file_bytes: 1 << 30,
            max_line_bytes: 1 << 20,
        }
    }
}

impl Thresholds {
    pub fn validate(&self) -> Result<(), String> {
        if self.min_count == 0 {
            return Err("egress.checks.min_count is 0; give at least 1 (the usual is 10)".into());
        }
        if !((1..=2).contains(&self.nk_n) && 0.0 < self.nk_k && self.nk_k <= 1.0) {
            return Err("egress.checks.nk_n must be 1 or 2 and nk_k a fraction above 0, at most 1".into());
        }
        if !(0.0..1.0).contains(&self.p_ratio) {
            return Err("egress.checks.p_ratio must be a fraction from 0 to below 1 (the usual is 0.1)".into());
        }
        if self.max_line_bytes < 1024 || self.max_file_bytes == 0 {
            return Err("egress.checks.max_line_bytes must be at least 1024 and max_file_bytes above 0".into());
        }
        Ok(())
    }
}

/// A verdict, from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Review,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Review => "review",
            Verdict::Fail => "fail",
        }
    }
}

/// One thing a check found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule's name (static as the checks make it; owned as read back from a request).
    pub rule: Cow<'static, str>,
    pub verdict: Verdict,
    /// The line in the file (1 is the first, a table's header), when the finding has one.
    pub row: Option<u64>,
    /// The table's column, by its header, when the finding has one; for a table built from
    /// records, its cell (`rows=label × columns=label`).
    pub column: Option<String>,
    pub detail: String,
}

/// What kind of file this is, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Table,
    Text,
    Image,
    Document,
    Spreadsheet,
    NotAllowed,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Table => "table",
            Kind::Text => "text",
            Kind::Image => "image",
            Kind::Document => "document",
            Kind::Spreadsheet => "spreadsheet",
            Kind::NotAllowed => "a type that does not leave",
        }
    }
}

/// The checks' result for one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileReport {
    pub name: String,
    pub kind: Kind,
    /// Bytes read (all of them, unless the file was over the size limit).
    pub bytes: u64,
    /// SHA-256 of the bytes checked (hex), when all of them were read.
    pub sha256: Option<String>,
    pub ruleset: Cow<'static, str>,
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
    /// Findings beyond the first [`MAX_FINDINGS`], counted, not listed.
    pub more_findings: u64,
}

/// Findings listed per file; the rest are counted.
pub const MAX_FINDINGS: usize = 1000;
/// The most characters of a column's name a finding keeps (its detail keeps four times this).
const SHOWN_CHARS: usize = 80;

fn shortened(s: String, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s,
    }
}

/// Where findings go while a file is read: the first [`MAX_FINDINGS`], the count of the rest, and
/// the worst verdict of all.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub list: Vec<Finding>,
    pub more: u64,
    pub worst: Option<Verdict>,
}

impl Findings {
    pub fn push(&mut self, mut f: Finding) {
        self.worst = self.worst.max(Some(f.verdict));
        if self.list.len() < MAX_FINDINGS {
            // A column's name or a label is the file's own text: kept short, so that a report
            // stays small whatever a header holds.
            f.column = f.column.map(|c| shortened(c, SHOWN_CHARS));
            f.detail = shortened(f.detail, 4 * SHOWN_CHARS);
            self.list.push(f);
        } else {
            self.more += 1;
        }
    }

    /// `n` findings of `verdict` that were not kept, counted.
    pub fn count_more(&mut self, n: u64, verdict: Verdict) {
        if n > 0 {
            self.more += n;
            self.worst = self.worst.max(Some(verdict));
        }
    }

    pub fn file(&mut self, rule: &'static str, verdict: Verdict, detail: impl Into<String>) {
        self.push(Finding { rule: rule.into(), verdict, row: None, column: None, detail: detail.into() });
    }

    /// Identifiers in `text`, at `row` and `column`.
    pub fn identifiers(&mut self, text: &str, row: u64, column: Option<&str>, birth_column: bool) {
        for hit in identifiers::scan(text, birth_column) {
            // Past the listed ones, counted without the cost of saying where.
            if self.list.len() >= MAX_FINDINGS {
                self.count_more(1, hit.verdict);
                continue;
            }
            let detail = format!("{} ({})", describe(hit.rule), hit.masked);
            let column = column.map(str::to_string);
            self.push(Finding { rule: hit.rule.into(), verdict: hit.verdict, row: Some(row), column, detail });
        }
    }
}

fn describe(rule: &str) -> &'static str {
    match rule {
        "nhs-number" => "an NHS number with a valid check digit",
        "uk-postcode" => "a full UK postcode",
        "email-address" => "an email address",
        "phone-number" => "a UK telephone number",
        "date-of-birth" => "a date of birth",
        _ => "an identifier",
    }
}

fn kind_of(name: &str) -> Kind {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "csv" | "tsv" => Kind::Table,
        "txt" | "md" | "log" | "json" | "html" | "htm" | "r" | "py" | "do" | "sas" | "sql" => Kind::Text,
        "png" | "jpg" | "jpeg" | "svg" => Kind::Image,
        "pdf" => Kind::Document,
        "xlsx" => Kind::Spreadsheet,
        _ => Kind::NotAllowed,
    }
}

/// Why a file's name cannot leave as it is, if it cannot: a name is one plain component, so
/// that no release can place a file anywhere but where it is told.
fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.len() > 255 {
        Some("a file name must have 1 to 255 bytes")
    } else if name.contains(['/', '\\']) || name == "." || name == ".." {
        Some("a file name may not contain / or \\ or be . or ..")
    } else if name.chars().any(char::is_control) {
        Some("a file name may not contain control characters")
    } else if name.starts_with('.') {
        Some("hidden files (names starting with .) do not leave")
    } else {
        None
    }
}

/// Bytes handed from the reading thread to the checks at a time, and how many may wait.
const BLOCK: usize = 256 * 1024;
const IN_FLIGHT: usize = 8;

/// What the reading thread saw of the source: its bytes counted and hashed (SHA-256) up to the
/// size limit, and whether there was more.
struct Counted {
    hash: [u8; 32],
    bytes: u64,
    over: bool,
}

/// Reads `source` to its end (or the size limit), hashing every byte, and hands the bytes to
/// the checks in blocks: hashing and checking then run on two cores at once. Blocks come back
/// through `spare` to be filled again, so memory stays at `IN_FLIGHT` blocks.
fn read_and_hash(
    mut source: impl Read,
    limit: u64,
    blocks: std::sync::mpsc::SyncSender<io::Result<Vec<u8>>>,
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
) -> Counted {
    let mut hash = haven_crypto::Sha256::new();
    let (mut bytes, mut over, mut made) = (0u64, false, 0usize);
    loop {
        // A block back from the checks, or a new one while there are fewer than can be in use
        // at once (in the channel, being read, being filled), or wait for one to come back.
        let mut block = match spare.try_recv() {
            Ok(block) => block,
            Err(_) if made < IN_FLIGHT + 2 => {
                made += 1;
                Vec::new()
            }
            // The checks gone (their end dropped): a block to fail sending, which ends this.
            Err(_) => spare.recv().unwrap_or_default(),
        };
        if bytes >= limit {
            // One byte more says whether there is more: then the file is over the limit.
            let mut probe = [0u8; 1];
            match source.read(&mut probe) {
                Ok(n) => over = n > 0,
                Err(e) => {
                    let _ = blocks.send(Err(e));
                }
            }
            break;
        }
        let room = usize::try_from(limit - bytes).unwrap_or(usize::MAX).min(BLOCK);
        block.resize(room, 0);
        // Interrupted reads are tried again into the same block (dropping it would shrink the
        // pool of blocks below what keeps both threads going).
        let read = loop {
            match source.read(&mut block) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        let n = match read {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                let _ = blocks.send(Err(e));
                break;
            }
        };
        block.truncate(n);
        hash.update(&block);
        bytes += n as u64;
        if blocks.send(Ok(block)).is_err() {
            break;
        }
    }
    Counted { hash: hash.finish(), bytes, over }
}

/// The checks' side of [`read_and_hash`]: its blocks as a `Read`.
pub(crate) struct Feed {
    blocks: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    spare: std::sync::mpsc::Sender<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
}

impl Read for Feed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len() {
            match self.blocks.recv() {
                // The reading thread is done (its sender dropped): the end.
                Err(_) => return Ok(0),
                Ok(block) => {
                    let used = std::mem::replace(&mut self.current, block?);
                    let _ = self.spare.send(used);
                    self.at = 0;
                }
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Ends reading with an error when a line runs past `cap` bytes (quoted line breaks count as
/// ends of line too: a cell that long is no more checkable).
pub(crate) struct LineCap<R> {
    pub inner: R,
    cap: usize,
    run: usize,
    pub tripped: bool,
}

impl<R: Read> Read for LineCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.tripped {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
        }
        let n = self.inner.read(buf)?;
        // Not every line end is looked at: only whether there is one within each stretch of
        // `cap` bytes (the last in it, to jump as far as can be), so a table of short lines
        // costs one search per read, not one per line.
        let mut at = 0;
        loop {
            let room = self.cap - self.run;
            if n - at <= room {
                // What follows the last line end here (if any) is the run so far.
                self.run = match memchr::memrchr(b'\n', &buf[at..n]) {
                    Some(i) => n - at - i - 1,
                    None => self.run + n - at,
                };
                return Ok(n);
            }
            match memchr::memrchr(b'\n', &buf[at..=at + room]) {
                Some(i) => {
                    self.run = 0;
                    at += i + 1;
                }
                None => {
                    self.tripped = true;
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
                }
            }
        }
    }
}

/// Checks `name`'s bytes from `source` under `t`. Only a failure to read `source` is an error.
pub fn check(name: &str, source: impl Read + Send, t: &Thresholds) -> io::Result<FileReport> {
    let kind = kind_of(name);
    let tsv = name.to_ascii_lowercase().ends_with(".tsv");
    read_checked(name, kind, source, t, |input, findings| match kind {
        Kind::Table => table::check(input, if tsv { b'\t' } else { b',' }, t, findings),
        Kind::Text => text(input, findings),
        Kind::Image | Kind::Document => {
            let what = if kind == Kind::Image { "an image" } else { "a PDF document" };
            findings.file("human-review", Verdict::Review, format!("{what}: a person must look at what it shows"));
            Ok(())
        }
        // A workbook is read past the line cap (a zip has no lines; its parts have their own).
        Kind::Spreadsheet => workbook::check(&mut input.inner, t, findings),
        Kind::NotAllowed => {
            findings.file(
                "file-type",
                Verdict::Fail,
                "this type of file does not leave: tables as CSV or TSV, text, PNG, JPEG, SVG or PDF",
            );
            Ok(())
        }
    })
}

/// Builds the table `spec` names from the records in `source` (CSV) and checks each of its cells
/// (see [`records`]); the report's findings are the table's, and the table itself comes back
/// for comparison with what is to leave.
pub fn check_records(
    name: &str,
    source: impl Read + Send,
    spec: &TableSpec,
    t: &Thresholds,
) -> io::Result<(FileReport, Option<RecordsReport>)> {
    let mut built = None;
    let report = read_checked(name, Kind::Table, source, t, |input, findings| {
        built = records::check(input, spec, t, findings)?;
        Ok(())
    })?;
    Ok((report, built))
}

/// Reads `source` through the size limit, the hash and the line cap, runs `body` on it, reads
/// the rest, and makes the report.
fn read_checked(
    name: &str,
    kind: Kind,
    source: impl Read + Send,
    t: &Thresholds,
    body: impl FnOnce(&mut LineCap<Feed>, &mut Findings) -> io::Result<()>,
) -> io::Result<FileReport> {
    let mut findings = Findings::default();
    if let Some(why) = name_problem(name) {
        findings.file("file-name", Verdict::Fail, why);
    }
    let (send, blocks) = std::sync::mpsc::sync_channel(IN_FLIGHT);
    let (spare, spares) = std::sync::mpsc::channel();
    let counted = std::thread::scope(|scope| {
        let reader = scope.spawn(|| read_and_hash(source, t.max_file_bytes, send, spares));
        let feed = Feed { blocks, spare, current: Vec::new(), at: 0 };
        let mut capped = LineCap { inner: feed, cap: t.max_line_bytes, run: 0, tripped: false };
        if let Err(e) = body(&mut capped, &mut findings) {
            // The line cap's own error is a finding; a table that is not CSV is one too; anything
            // else is the source failing.
            if !capped.tripped && e.kind() != io::ErrorKind::InvalidData {
                return Err(e);
            }
            if !capped.tripped {
                findings.file("table-format", Verdict::Fail, format!("not a table that can be read as CSV: {e}"));
            }
        }
        if capped.tripped {
            findings.file(
                "line-length",
                Verdict::Fail,
                format!("a line is longer than {} bytes: no table or text a person could check", t.max_line_bytes),
            );
        }
        // The rest of the bytes, for the hash and the size, whatever the checks read.
        io::copy(&mut capped.inner, &mut io::sink())?;
        reader.join().map_err(|_| io::Error::other("reading the file stopped unexpectedly"))
    })?;
    if counted.over {
        findings.file(
            "file-size",
            Verdict::Fail,
            format!("larger than {} bytes, the most a file may be", t.max_file_bytes),
        );
    }
    let sha256 = (!counted.over).then(|| hex::encode(counted.hash));
    let Findings { mut list, more, worst } = findings;
    list.sort_by_key(|f| f.row.unwrap_or(0));
    Ok(FileReport {
        name: name.to_string(),
        kind,
        bytes: counted.bytes,
        sha256,
        ruleset: RULESET.into(),
        verdict: worst.unwrap_or(Verdict::Pass),
        findings: list,
        more_findings: more,
    })
}

/// Free text: identifiers line by line, and a person's look, which nothing automatic replaces.
fn text(source: &mut impl Read, findings: &mut Findings) -> io::Result<()> {
    use io::BufRead;
    let mut reader = io::BufReader::with_capacity(64 * 1024, source);
    let mut line = Vec::new();
    let (mut row, mut not_utf8) = (0u64, false);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        row += 1;
        let text = match std::str::from_utf8(&line) {
            Ok(t) => std::borrow::Cow::Borrowed(t),
            Err(_) => {
                if !not_utf8 {
                    not_utf8 = true;
                    let f = Finding {
                        rule: "encoding".into(),
                        verdict: Verdict::Review,
                        row: Some(row),
                        column: None,
                        detail: "not UTF-8 text from here on: read as far as it could be".into(),
                    };
                    findings.push(f);
                }
                String::from_utf8_lossy(&line)
            }
        };
        findings.identifiers(&text, row, None, false);
    }
    findings.file("human-review", Verdict::Review, "free text: a person must read what it says");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, bytes: &[u8]) -> FileReport {
        check(name, bytes, &Thresholds::default()).unwrap()
    }

    fn at(r: &FileReport, rule: &str) -> Vec<(Option<u64>, Option<String>)> {
        r.findings.iter().filter(|f| f.rule == rule).map(|f| (f.row, f.column.clone())).collect()
    }

    #[test]
    fn a_frequency_table_fails_on_its_small_and_zero_cells_located_by_row_and_column() {
        let table = "region,cases,controls\nNorth,120,340\nSouth,7,220\nEast,0,15\nWest,[REDACTED],44\n";
        let r = run("table.csv", table.as_bytes());
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(at(&r, "minimum-count"), [(Some(3), Some("cases".into()))]);
        assert_eq!(at(&r, "zero-cell"), [(Some(4), Some("cases".into()))]);
        assert_eq!(r.sha256.as_deref(), Some(hex::encode(haven_crypto::sha256(table.as_bytes())).as_str()));
        assert_eq!(r.bytes, table.len() as u64);
        let safe = run("safe.csv", b"region,cases\nNorth,120\nSouth,40\n");
        assert_eq!((safe.verdict, safe.findings.len()), (Verdict::Pass, 0), "{:?}", safe.findings);
    }

    #[test]
    fn labels_magnitudes_and_full_cells() {
        // A year column is a label, not a count; means are magnitudes (reviewed); a row with all
        // its count in one cell is a full cell.
        let r = run("t.csv", b"year,exposed,unexposed\n2019,25,0\n2020,30,40\n");
        assert_eq!(at(&r, "full-cell"), [(Some(2), Some("exposed".into()))]);
        assert_eq!(at(&r, "zero-cell"), [(Some(2), Some("unexposed".into()))]);
        assert!(at(&r, "minimum-count").is_empty(), "2019 is a year: {:?}", r.findings);
        let m = run("m.csv", b"group,mean_age,n\nA,54.2,30\nB,61.0,45\n");
        assert_eq!(m.verdict, Verdict::Review);
        assert!(m.findings.iter().any(|f| f.rule == "magnitude-table" && f.detail.contains("mean_age")));
    }

    #[test]
    fn identifiers_in_cells_and_text() {
        let r = run("people.csv", b"nhs_number,dob,postcode,n\n9434765919,14/03/1961,SW1A 1AA,12\n");
        let rules: Vec<&str> = r.findings.iter().map(|f| f.rule.as_ref()).collect();
        assert_eq!(rules, ["nhs-number", "date-of-birth", "uk-postcode"], "{:?}", r.findings);
        assert!(r.findings.iter().all(|f| !f.detail.contains("9434765919")), "findings never copy the identifier");
        let t = run("notes.txt", b"Results look fine.\nContact ada@example.org for the code.\n");
        assert_eq!(t.verdict, Verdict::Fail);
        assert_eq!(at(&t, "email-address"), [(Some(2), None)]);
        assert!(t.findings.iter().any(|f| f.rule == "human-review"));
    }

    #[test]
    fn the_line_cap_allows_lines_of_exactly_the_cap_across_reads() {
        use crate::egress::split::tests::Trickle;
        let passes = |text: &[u8], step: usize| {
            let mut capped = LineCap { inner: Trickle(text, step), cap: 10, run: 0, tripped: false };
            io::copy(&mut capped, &mut io::sink()).is_ok()
        };
        for step in [1, 3, 7, 64] {
            assert!(passes(b"0123456789\n0123456789\n\n01234\n0123456789", step), "{step}");
            assert!(!passes(b"0123456789\n01234567890\n", step), "{step}");
            assert!(!passes(b"short\n01234567890", step), "{step}");
        }
    }

    #[test]
    fn bad_input_is_a_verdict_with_its_reason() {
        // Ragged rows, wrong encodings, a very long line, names with path tricks, types that do not leave.
        let ragged = run("r.csv", b"a,b\n1,2,3\n20\n");
        assert_eq!(at(&ragged, "table-shape").len(), 2);
        let latin1 = run("l.csv", b"name,n\nJos\xe9,40\n");
        assert_eq!(latin1.verdict, Verdict::Review);
        assert_eq!(at(&latin1, "encoding"), [(Some(2), None)]);
        let t = Thresholds { max_line_bytes: 1024, ..Thresholds::default() };
        let mut long = b"a,b\n".to_vec();
        long.extend(std::iter::repeat_n(b'7', 50_000));
        let r = check("long.csv", long.as_slice(), &t).unwrap();
        assert_eq!(r.verdict, Verdict::Fail);
        assert!(r.findings.iter().any(|f| f.rule == "line-length"));
        assert_eq!(r.bytes, long.len() as u64, "read to the end for the hash, without holding it");
        for name in ["../etc/passwd.csv", "a/b.csv", ".hidden.csv", "tab\t.csv"] {
            assert_eq!(run(name, b"a\n").findings[0].rule, "file-name", "{name}");
        }
        for name in ["data.zip", "model.rds", "archive.tar.gz", "noextension"] {
            let r = run(name, b"PK\x03\x04");
            assert_eq!((r.verdict, r.findings[0].rule.as_ref()), (Verdict::Fail, "file-type"), "{name}");
        }
        let t = Thresholds { max_file_bytes: 10, ..Thresholds::default() };
        let big = check("big.csv", &b"a,b\n100,200\n300,400\n"[..], &t).unwrap();
        assert!(big.findings.iter().any(|f| f.rule == "file-size") && big.sha256.is_none());
    }

    #[test]
    fn hostile_shapes_keep_memory_bounded() {
        // Many columns of small counts: candidates are capped across columns, all counted.
        let mut table = (0..5000).map(|i| format!("c{i}")).collect::<Vec<_>>().join(",");
        table.push('\n');
        for _ in 0..5 {
            table.push_str(&vec!["3"; 5000].join(","));
            table.push('\n');
        }
        let r = run("wide.csv", table.as_bytes());
        assert_eq!(r.findings.len() as u64 + r.more_findings, 25_000);
        let too_wide = format!("{}\n", vec!["c"; 20_000].join(","));
        assert_eq!(run("w.csv", too_wide.as_bytes()).findings[0].rule, "table-shape");
        // Labels as long as a line allows do not become a table's memory.
        let long = format!("region,n\n{},1\n", "x".repeat(5000));
        let spec = TableSpec { rows: "region".into(), columns: None, values: None };
        let (r, built) = check_records("r.csv", long.as_bytes(), &spec, &Thresholds::default()).unwrap();
        assert!(built.is_none() && r.findings[0].detail.contains("label longer than"), "{:?}", r.findings);
    }

    #[test]
    fn findings_are_capped_but_counted() {
        let mut table = String::from("g,n\n");
        for i in 0..(MAX_FINDINGS + 500) {
            table.push_str(&format!("g{i},3\n"));
        }
        let r = run("many.csv", table.as_bytes());
        assert_eq!(r.findings.len(), MAX_FINDINGS);
        assert_eq!(r.more_findings, 500);
        assert_eq!(r.verdict, Verdict::Fail);
    }
}
