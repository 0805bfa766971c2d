//! An XLSX workbook that is to leave: what it holds besides cells, and every worksheet's cells
//! checked as a table (its first row the header), by the same rules as a CSV table.
//!
//! Besides cells, a workbook can carry data nobody sees on screen: links that pull cells from
//! other workbooks, macros, the records behind a pivot table (its pivot cache), embedded files,
//! hidden sheets, rows and columns, comments. Parts are found by their names and by the content
//! types and relationships the workbook declares for them (a part renamed is still declared as
//! what it is). The first four fail; the others are for a person's review. The checks never pass
//! a workbook on their own: what it shows besides cells (charts, drawings, names, formats) is not
//! read, so every workbook is for a person's review at least.
//!
//! Bounds, so that a hostile file (a zip bomb) cannot take the memory or the time: the workbook
//! is read whole only up to [`MAX_WORKBOOK`] bytes (larger ones are left to a person), all parts
//! together may inflate to at most [`MAX_INFLATED`] bytes, shared strings keep at most
//! [`MAX_SHARED`] bytes, at most [`MAX_CELLS`] cells are counted, and no XML event (a tag, a
//! text, a comment) in a part may run past the line limit.
//!
//! Not read: number formats (a date stored as a day number is checked as a number), formulas
//! (their last computed values are; a formula with none is searched for identifiers), charts
//! and drawings (hence the review every workbook gets).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, BufRead, BufReader, Cursor, Read};

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

use super::checks::{Finding, Findings, Thresholds, Verdict};
use super::table::TableCheck;

/// The largest workbook whose cells are read (it is held in memory while they are).
pub(crate) const MAX_WORKBOOK: u64 = 64 << 20;
/// All parts read, inflated, at most.
const MAX_INFLATED: u64 = 512 << 20;
/// Shared strings kept, bytes.
const MAX_SHARED: usize = 64 << 20;
/// Columns beyond this (XFD is 16,384) make no table a person could check.
const MAX_COLUMN: usize = 10_000;
/// More parts than this is no workbook a person could check (and would make lookups slow).
const MAX_PARTS: usize = 10_000;
/// Cells fed to the table checks, in all sheets, at most.
const MAX_CELLS: u64 = 20_000_000;

type Archive<'a> = zip::ZipArchive<Cursor<&'a [u8]>>;

/// The workbook's part names, found in any case (OPC part names are case-insensitive).
struct Names {
    list: Vec<String>,
    by_lower: HashMap<String, usize>,
}

impl Names {
    fn find(&self, name: &str) -> Option<usize> {
        self.by_lower.get(&name.to_ascii_lowercase()).copied()
    }
}

/// What the workbook declares and holds, besides its cells.
#[derive(Default)]
struct Parts {
    links: bool,
    macros: bool,
    pivot: bool,
    embedded: bool,
    comments: bool,
    encrypted: bool,
}

impl Parts {
    /// A part name, content type or relationship type, in any case.
    fn see(&mut self, what: &str) {
        let w = what.to_ascii_lowercase();
        self.links |= w.contains("externallink");
        self.macros |= w.contains("vbaproject") || w.contains("macroenabled") || w.contains("macrosheet");
        // A pivot cache holds the records behind a pivot table; a data model (Power Pivot,
        // `xl/model/`) holds whole tables of them.
        self.pivot |= w.contains("pivotcache") || w.contains("xl/model/") || w.contains("powerpivot");
        self.embedded |= w.contains("embeddings/") || w.contains("oleobject") || w.contains("activex");
        self.comments |= w.contains("comments");
    }
}

/// Checks the workbook read from `source` into `findings`.
pub(crate) fn check(source: &mut impl Read, t: &Thresholds, findings: &mut Findings) -> io::Result<()> {
    let mut bytes = Vec::new();
    source.take(MAX_WORKBOOK + 1).read_to_end(&mut bytes)?;
    if !bytes.starts_with(b"PK\x03\x04") {
        findings.file("spreadsheet-format", Verdict::Fail, "not an XLSX workbook (not a zip): it cannot be checked");
        return Ok(());
    }
    let mut parts = Parts::default();
    if bytes.len() as u64 > MAX_WORKBOOK {
        scan_names(&mut Cursor::new(bytes).chain(source), &mut parts)?;
        parts_findings(&parts, findings);
        let detail = format!(
            "a workbook larger than {} MiB: its cells are not read; export the tables as CSV, or a person checks it",
            MAX_WORKBOOK >> 20
        );
        findings.file("spreadsheet-size", Verdict::Review, detail);
        return Ok(());
    }
    scan_names(&mut bytes.as_slice(), &mut parts)?;
    cells(&bytes, t, parts, (MAX_INFLATED, MAX_CELLS), findings);
    Ok(())
}

/// Part names as they stand in the zip's headers, local and central (a crafted zip may give a
/// part two names): one streamed pass over the raw bytes, nothing inflated.
fn scan_names(source: &mut impl Read, parts: &mut Parts) -> io::Result<()> {
    const NAMES: [&[u8]; 2] = [b"externallink", b"vbaproject"];
    let mut buf = vec![0u8; 64 * 1024];
    // The end of the last block, so that a name split across two reads is still found.
    let keep = NAMES.iter().map(|n| n.len()).max().unwrap_or(0);
    let mut filled = 0usize;
    loop {
        let n = source.read(&mut buf[filled..])?;
        if n == 0 {
            return Ok(());
        }
        let end = filled + n;
        // Part names in a package are case-insensitive (OPC).
        let lower = buf[..end].to_ascii_lowercase();
        parts.links |= memchr::memmem::find(&lower, NAMES[0]).is_some();
        parts.macros |= memchr::memmem::find(&lower, NAMES[1]).is_some();
        let tail = end.min(keep);
        buf.copy_within(end - tail..end, 0);
        filled = tail;
    }
}

/// The workbook in `bytes` (whole, at most [`MAX_WORKBOOK`]): its parts, then its cells;
/// `limits`: the bytes all parts may inflate to, and the cells that may be checked.
fn cells(bytes: &[u8], t: &Thresholds, mut parts: Parts, limits: (u64, u64), findings: &mut Findings) {
    let (mut budget, mut cells_left) = limits;
    let mut zip = match zip::ZipArchive::new(Cursor::new(bytes)) {
        Ok(zip) => zip,
        Err(e) => {
            parts_findings(&parts, findings);
            let detail = format!("not an XLSX workbook that can be read ({e}): export the tables as CSV");
            findings.file("spreadsheet-format", Verdict::Fail, detail);
            return;
        }
    };
    if zip.len() > MAX_PARTS {
        let detail = format!("more than {MAX_PARTS} parts: no workbook a person could check");
        findings.file("spreadsheet-size", Verdict::Fail, detail);
        return;
    }
    let mut names = Names { list: Vec::new(), by_lower: Default::default() };
    for i in 0..zip.len() {
        let Ok(file) = zip.by_index_raw(i) else {
            findings.file("spreadsheet-format", Verdict::Fail, format!("part {i} of the workbook cannot be read"));
            return;
        };
        parts.encrypted |= file.encrypted();
        parts.see(file.name());
        names.by_lower.entry(file.name().to_ascii_lowercase()).or_insert(i);
        names.list.push(file.name().to_string());
    }
    if parts.encrypted {
        findings.file("spreadsheet-format", Verdict::Fail, "the workbook is encrypted: it cannot be checked");
        return;
    }
    let declared = (|| -> Result<Workbook, Stop> {
        let types = read_part(&mut zip, &names, "[Content_Types].xml", &mut budget, t, &mut |e, _, _| {
            if let Event::Empty(e) | Event::Start(e) = e {
                for value in attrs(e, &[b"ContentType"]) {
                    parts.see(&value);
                }
            }
            Ok(())
        });
        if let Err(Stop::Missing) = types {
            return Err(Stop::Malformed("it has no [Content_Types].xml".into()));
        }
        types?;
        workbook(&mut zip, &names, &mut budget, t, &mut parts)
    })();
    parts_findings(&parts, findings);
    let book = match declared {
        Ok(book) => book,
        Err(stop) => {
            stop.finding(findings);
            return;
        }
    };
    let strings = match shared_strings(&mut zip, &names, &book.shared, &mut budget, t) {
        Ok(s) => s,
        Err(stop) => {
            stop.finding(findings);
            return;
        }
    };
    for sheet in &book.sheets {
        if sheet.hidden {
            let detail = format!("sheet {} is hidden: a person must look at what it holds", sheet.name);
            findings.file("spreadsheet-hidden", Verdict::Review, detail);
        }
        let mut of_sheet = Findings::default();
        let read = worksheet(&mut zip, &names, &sheet.part, &strings, (&mut budget, &mut cells_left), t, &mut of_sheet);
        // Each finding says which sheet it is on.
        for mut f in of_sheet.list {
            match &mut f.column {
                Some(c) => *c = format!("{}!{c}", sheet.name),
                None => f.detail = format!("sheet {}: {}", sheet.name, f.detail),
            }
            findings.push(f);
        }
        if let Some(worst) = of_sheet.worst {
            findings.count_more(of_sheet.more, worst);
        }
        if let Err(stop) = read {
            stop.finding(findings);
            return;
        }
    }
    // The checks read cells and find what hides besides them; they do not read everything a
    // workbook can show (charts, drawings, names, number formats, headers): a person opens it.
    findings.file(
        "spreadsheet",
        Verdict::Review,
        "a workbook: its cells were checked as tables, but a workbook can show more than its cells (charts, \
         drawings, names, formats); a person opens it before it leaves, or export the tables as CSV",
    );
}

fn parts_findings(parts: &Parts, findings: &mut Findings) {
    if parts.links {
        findings.file(
            "spreadsheet-links",
            Verdict::Fail,
            "the workbook links to other workbooks (external links): its cells can pull data from outside what is \
             checked; break the links (Data → Edit Links) and save it again, or export the tables as CSV",
        );
    }
    if parts.macros {
        findings.file(
            "spreadsheet-macros",
            Verdict::Fail,
            "the workbook holds macros (a VBA project or macro sheets): save it as .xlsx without them",
        );
    }
    if parts.pivot {
        findings.file(
            "spreadsheet-pivot-cache",
            Verdict::Fail,
            "the workbook holds a pivot cache: the records behind a pivot table leave with it; copy the pivot \
             table's values to a plain sheet, delete the pivot table and save again",
        );
    }
    if parts.embedded {
        findings.file(
            "spreadsheet-embedded",
            Verdict::Fail,
            "the workbook embeds other files or objects, which are not checked: remove them and save again",
        );
    }
    if parts.comments {
        findings.file(
            "spreadsheet-comments",
            Verdict::Review,
            "the workbook has comments or notes: a person must read them",
        );
    }
}

/// Why reading stopped: each is a finding.
enum Stop {
    /// The part asked for is not in the workbook.
    Missing,
    Malformed(String),
    TooLarge,
    TooManyCells,
    LineTooLong,
}

impl Stop {
    fn finding(self, findings: &mut Findings) {
        match self {
            Stop::Missing => {
                findings.file("spreadsheet-format", Verdict::Fail, "the workbook has no worksheet part it names")
            }
            Stop::Malformed(why) => findings.file(
                "spreadsheet-format",
                Verdict::Fail,
                format!("not an XLSX workbook that can be read: {why}; export the tables as CSV"),
            ),
            Stop::TooLarge => findings.file(
                "spreadsheet-size",
                Verdict::Fail,
                format!(
                    "the workbook's parts expand to more than {} MiB: no workbook a person could check (or a zip bomb)",
                    MAX_INFLATED >> 20
                ),
            ),
            Stop::TooManyCells => findings.file(
                "spreadsheet-size",
                Verdict::Fail,
                format!("more than {MAX_CELLS} cells: no workbook a person could check"),
            ),
            Stop::LineTooLong => findings.file(
                "line-length",
                Verdict::Fail,
                "a cell, text or tag in the workbook is longer than the line limit: no table a person could check",
            ),
        }
    }
}

/// Counts what is inflated against the budget.
struct Bounded<R> {
    inner: R,
    left: u64,
    over: bool,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? > 0 {
                self.over = true;
                return Err(io::Error::new(io::ErrorKind::InvalidData, "expands too far"));
            }
            return Ok(0);
        }
        let room = usize::try_from(self.left).unwrap_or(usize::MAX).min(buf.len());
        let n = self.inner.read(&mut buf[..room])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Stops the XML reader from taking more than `cap` bytes for one event (a tag, a text, a
/// comment): the reader holds an event whole, so this bounds its memory, whatever the event
/// holds. `since` is set back to 0 after each event.
struct EventCap<R> {
    inner: R,
    cap: usize,
    since: usize,
    long: bool,
}

impl<R: BufRead> Read for EventCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.fill_buf()?.len().min(buf.len());
        buf[..n].copy_from_slice(&self.inner.fill_buf()?[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for EventCap<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.since > self.cap {
            self.long = true;
            return Err(io::Error::new(io::ErrorKind::InvalidData, "an event too long"));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        self.since += n;
        self.inner.consume(n);
    }
}

/// The namespaces whose elements are the workbook's own (SpreadsheetML, transitional and
/// strict, and package relationships): an element of any other is not read for data.
const OURS: [&[u8]; 3] = [
    b"http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    b"http://purl.oclc.org/ooxml/spreadsheetml/main",
    b"http://schemas.openxmlformats.org/package/2006/relationships",
];

/// Reads the part named `name` (in any case) through the XML reader, calling `each` with every
/// event and whether its element is the workbook's own (in one of [`OURS`], or in no namespace
/// at all); bounded as above.
fn read_part(
    zip: &mut Archive<'_>,
    names: &Names,
    name: &str,
    budget: &mut u64,
    t: &Thresholds,
    each: &mut dyn FnMut(&Event<'_>, bool, &mut bool) -> Result<(), Stop>,
) -> Result<(), Stop> {
    let Some(index) = names.find(name) else {
        return Err(Stop::Missing);
    };
    let file = zip.by_index(index).map_err(|e| Stop::Malformed(format!("part {name}: {e}")))?;
    let bounded = BufReader::with_capacity(64 * 1024, Bounded { inner: file, left: *budget, over: false });
    let capped = EventCap { inner: bounded, cap: t.max_line_bytes, since: 0, long: false };
    let mut xml = quick_xml::NsReader::from_reader(capped);
    let mut buf = Vec::new();
    let mut done = false;
    let result = loop {
        buf.clear();
        xml.get_mut().since = 0;
        let (ours, event) = match xml.read_resolved_event_into(&mut buf) {
            Ok((resolved, event)) => {
                let ours = match resolved {
                    ResolveResult::Unbound => true,
                    ResolveResult::Bound(ns) => OURS.contains(&ns.as_ref()),
                    ResolveResult::Unknown(_) => false,
                };
                (ours, event)
            }
            Err(e) => break Err(Stop::Malformed(format!("part {name}: {e}"))),
        };
        // The cap stops reading within an event; an event read in one go is measured here.
        if xml.get_mut().since > t.max_line_bytes {
            xml.get_mut().long = true;
            break Ok(());
        }
        match event {
            Event::Eof => break Ok(()),
            event => {
                if let Err(stop) = each(&event, ours, &mut done) {
                    break Err(stop);
                }
                if done {
                    break Ok(());
                }
            }
        }
    };
    let capped = xml.into_inner();
    let bounded = capped.inner.into_inner();
    *budget = bounded.left;
    if bounded.over {
        return Err(Stop::TooLarge);
    }
    if capped.long {
        return Err(Stop::LineTooLong);
    }
    result
}

/// The values of the attributes named `keys` (their whole names: an attribute of another
/// namespace, `z:t`, is not `t`), unescaped.
fn attrs(e: &BytesStart<'_>, keys: &[&[u8]]) -> Vec<String> {
    e.attributes()
        .flatten()
        .filter(|a| keys.contains(&a.key.as_ref()))
        .map(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map(|v| v.into_owned()).unwrap_or_default())
        .collect()
}

fn attr(e: &BytesStart<'_>, key: &[u8]) -> Option<String> {
    attrs(e, &[key]).into_iter().next()
}

/// A sheet's relationship id: `r:id`, under whatever prefix the relationships namespace has.
fn relationship_id(e: &BytesStart<'_>) -> Option<String> {
    e.attributes()
        .flatten()
        .filter(|a| a.key.local_name().as_ref() == b"id" && a.key.prefix().is_some_and(|p| p.as_ref() != b"xmlns"))
        // `r:id` as Excel writes it first; another prefix bound to relationships otherwise.
        .min_by_key(|a| a.key.as_ref() != b"r:id")
        .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok().map(|v| v.into_owned()))
}

/// A relationship's target as a part name: relative to `xl/` unless absolute, dot segments
/// resolved and escapes decoded (RFC 3986), as Excel and openpyxl find it.
fn part_name(target: &str) -> String {
    let (base, path) = match target.strip_prefix('/') {
        Some(absolute) => (Vec::new(), absolute),
        None => (vec!["xl".to_string()], target),
    };
    let mut segments = base;
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(percent_decoded(s)),
        }
    }
    segments.join("/")
}

fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'%'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Sheet {
    name: String,
    part: String,
    hidden: bool,
}

struct Workbook {
    sheets: Vec<Sheet>,
    /// The shared strings part, as the workbook's relationships name it.
    shared: String,
}

/// The sheets the workbook lists (name, state, relationship), where their parts are, and what
/// its relationships declare.
fn workbook(
    zip: &mut Archive<'_>,
    names: &Names,
    budget: &mut u64,
    t: &Thresholds,
    parts: &mut Parts,
) -> Result<Workbook, Stop> {
    let mut listed = Vec::new();
    read_part(zip, names, "xl/workbook.xml", budget, t, &mut |e, ours, _| {
        if let Event::Empty(e) | Event::Start(e) = e
            && ours
            && e.local_name().as_ref() == b"sheet"
        {
            let name = attr(e, b"name").unwrap_or_default();
            let state = attr(e, b"state").unwrap_or_default();
            let id = relationship_id(e).unwrap_or_default();
            listed.push((name, state != "visible" && !state.is_empty(), id));
        }
        Ok(())
    })
    .map_err(|s| if let Stop::Missing = s { Stop::Malformed("it has no xl/workbook.xml".into()) } else { s })?;
    let mut targets = BTreeMap::new();
    let mut shared = None;
    let rels = read_part(zip, names, "xl/_rels/workbook.xml.rels", budget, t, &mut |e, ours, _| {
        if let Event::Empty(e) | Event::Start(e) = e {
            // Every declared type is looked at, whatever element holds it.
            let kind = attrs(e, &[b"Type"]).join(" ");
            parts.see(&kind);
            if ours && e.local_name().as_ref() == b"Relationship" {
                let part = part_name(&attr(e, b"Target").unwrap_or_default());
                if kind.ends_with("/sharedStrings") {
                    shared = Some(part.clone());
                }
                targets.insert(attr(e, b"Id").unwrap_or_default(), part);
            }
        }
        Ok(())
    });
    match rels {
        Ok(()) | Err(Stop::Missing) => {}
        Err(stop) => return Err(stop),
    }
    // A sheet the workbook lists must be found: one that is not would go unchecked.
    let mut sheets = Vec::new();
    for (name, hidden, id) in listed {
        let Some(part) = targets.get(&id) else {
            return Err(Stop::Malformed(format!("sheet {name} has no part the workbook names")));
        };
        sheets.push(Sheet { name, hidden, part: part.clone() });
    }
    // Worksheet parts the list does not name are read too: nothing in the file goes unchecked.
    let listed: HashSet<String> = sheets.iter().map(|s| s.part.to_ascii_lowercase()).collect();
    for part in &names.list {
        let lower = part.to_ascii_lowercase();
        if lower.starts_with("xl/worksheets/") && lower.ends_with(".xml") && !listed.contains(&lower) {
            let name = part.rsplit('/').next().unwrap_or(part).trim_end_matches(".xml").to_string();
            sheets.push(Sheet { name, hidden: true, part: part.clone() });
        }
    }
    Ok(Workbook { sheets, shared: shared.unwrap_or_else(|| "xl/sharedStrings.xml".into()) })
}

/// The shared strings table: each `<si>`'s text (its runs joined, phonetic guides left out).
fn shared_strings(
    zip: &mut Archive<'_>,
    names: &Names,
    part: &str,
    budget: &mut u64,
    t: &Thresholds,
) -> Result<Vec<String>, Stop> {
    let mut strings = Vec::new();
    let (mut kept, mut depth_phonetic, mut in_t, mut current) = (0usize, 0usize, false, String::new());
    let read = read_part(zip, names, part, budget, t, &mut |e, ours, _| {
        match e {
            Event::Start(e) if ours && e.local_name().as_ref() == b"si" => current.clear(),
            Event::End(e) if ours && e.local_name().as_ref() == b"si" => {
                // Each string costs its text and its place in the table.
                kept += current.len() + std::mem::size_of::<String>();
                if kept > MAX_SHARED {
                    return Err(Stop::TooLarge);
                }
                strings.push(std::mem::take(&mut current));
            }
            Event::Empty(e) if ours && e.local_name().as_ref() == b"si" => {
                kept += std::mem::size_of::<String>();
                if kept > MAX_SHARED {
                    return Err(Stop::TooLarge);
                }
                strings.push(String::new());
            }
            Event::Start(e) if ours && e.local_name().as_ref() == b"rPh" => depth_phonetic += 1,
            Event::End(e) if ours && e.local_name().as_ref() == b"rPh" => {
                depth_phonetic = depth_phonetic.saturating_sub(1)
            }
            Event::Start(e) if ours && e.local_name().as_ref() == b"t" => in_t = true,
            Event::End(e) if ours && e.local_name().as_ref() == b"t" => in_t = false,
            other if in_t && depth_phonetic == 0 => {
                text(other, &mut current)?;
                if current.len() > t.max_line_bytes {
                    return Err(Stop::LineTooLong);
                }
            }
            _ => {}
        }
        Ok(())
    });
    match read {
        Ok(()) | Err(Stop::Missing) => Ok(strings),
        Err(stop) => Err(stop),
    }
}

/// Appends an event's text (text, CDATA or a reference) to `into`.
fn text(e: &Event<'_>, into: &mut String) -> Result<(), Stop> {
    let bad = |e: &dyn std::fmt::Display| Stop::Malformed(format!("text that cannot be read: {e}"));
    match e {
        Event::Text(t) => into.push_str(&t.xml10_content().map_err(|e| bad(&e))?),
        Event::CData(t) => into.push_str(&String::from_utf8_lossy(t)),
        Event::GeneralRef(r) => {
            if let Some(c) = r.resolve_char_ref().map_err(|e| bad(&e))? {
                into.push(c);
            } else {
                let name = r.decode().map_err(|e| bad(&e))?;
                match quick_xml::escape::resolve_predefined_entity(&name) {
                    Some(s) => into.push_str(s),
                    None => return Err(Stop::Malformed(format!("an unknown entity &{name};"))),
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Column `A` is 0, `Z` 25, `AA` 26, from a cell reference such as `AB12`.
fn column_of(reference: &str) -> Option<usize> {
    let letters = reference.bytes().take_while(u8::is_ascii_alphabetic);
    let mut n = 0usize;
    let mut any = false;
    for l in letters {
        any = true;
        n = n.checked_mul(26)?.checked_add(usize::from(l.to_ascii_uppercase() - b'A') + 1)?;
    }
    any.then(|| n - 1)
}

/// One worksheet's rows, fed to the table checks.
#[allow(clippy::too_many_arguments)] // the reading state of one part; a struct would only rename it
fn worksheet(
    zip: &mut Archive<'_>,
    names: &Names,
    part: &str,
    strings: &[String],
    (budget, cells_left): (&mut u64, &mut u64),
    t: &Thresholds,
    findings: &mut Findings,
) -> Result<(), Stop> {
    let mut table = TableCheck::new(t);
    let mut formula = String::new();
    let mut cells: Vec<String> = Vec::new();
    let (mut row, mut next_row, mut row_bytes) = (0u64, 1u64, 0usize);
    let (mut column, mut kind, mut value, mut in_value, mut in_formula) =
        (0usize, String::new(), String::new(), false, false);
    let mut hidden_told = false;
    let (mut reading, mut width) = (true, 0usize);
    let read = read_part(zip, names, part, budget, t, &mut |event, ours, done| {
        let empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(e) | Event::Empty(e) if ours && e.local_name().as_ref() == b"row" => {
                row = attr(e, b"r").and_then(|r| r.parse().ok()).unwrap_or(next_row);
                next_row = row.saturating_add(1);
                cells.clear();
                row_bytes = 0;
                if !hidden_told && attr(e, b"hidden").is_some_and(|h| h == "1" || h == "true") {
                    hidden_told = true;
                    findings.push(Finding {
                        rule: "spreadsheet-hidden".into(),
                        verdict: Verdict::Review,
                        row: Some(row),
                        column: None,
                        detail: "hidden rows: a person must look at what they hold".into(),
                    });
                }
            }
            Event::Empty(e) | Event::Start(e)
                if ours
                    && e.local_name().as_ref() == b"col"
                    && !hidden_told
                    && attr(e, b"hidden").is_some_and(|h| h == "1" || h == "true") =>
            {
                hidden_told = true;
                findings.file(
                    "spreadsheet-hidden",
                    Verdict::Review,
                    "hidden columns: a person must look at what they hold",
                );
            }
            Event::End(e) if ours && e.local_name().as_ref() == b"row" => {
                // Every cell a row holds counts, empty and padding too: a workbook of few bytes
                // may not make the checks run for hours.
                let width_now = cells.len().max(width);
                match cells_left.checked_sub(width_now as u64) {
                    Some(left) => *cells_left = left,
                    None => return Err(Stop::TooManyCells),
                }
                // Empty rows are no rows (as blank lines in CSV); empty cells at a row's end are
                // not written in a sheet, so a row is as wide as its header at least.
                if reading && cells.iter().any(|c| !c.is_empty()) {
                    if width == 0 {
                        width = cells.len();
                    } else if cells.len() < width {
                        cells.resize(width, String::new());
                    }
                    let fields = cells.iter().map(String::as_bytes);
                    if !table.row(row, cells.len(), true, fields, findings) {
                        reading = false;
                        *done = true;
                    }
                }
            }
            Event::Start(e) | Event::Empty(e) if ours && e.local_name().as_ref() == b"c" => {
                column = attr(e, b"r").as_deref().and_then(column_of).unwrap_or(cells.len());
                if column >= MAX_COLUMN {
                    let detail = format!("a cell beyond column {MAX_COLUMN}: no table a person could check");
                    findings.file("table-shape", Verdict::Fail, detail);
                    reading = false;
                    *done = true;
                    return Ok(());
                }
                kind = attr(e, b"t").unwrap_or_default();
                value.clear();
                if empty {
                    store(&mut cells, column, String::new());
                }
            }
            Event::End(e) if ours && e.local_name().as_ref() == b"c" => {
                let shown = match kind.as_str() {
                    "s" => match value.trim().parse::<usize>().ok().and_then(|i| strings.get(i)) {
                        Some(shared) => shared.clone(),
                        None => {
                            let why = format!(
                                "a cell refers to shared string {}, which the workbook does not have",
                                value.trim()
                            );
                            return Err(Stop::Malformed(why));
                        }
                    },
                    "b" => {
                        if value.trim() == "1" {
                            "TRUE".into()
                        } else {
                            "FALSE".into()
                        }
                    }
                    _ => std::mem::take(&mut value),
                };
                // A formula with no value kept (openpyxl writes them so) is an empty cell to the
                // table, but its text may hold an identifier.
                if shown.is_empty() && !formula.is_empty() {
                    findings.identifiers(&formula, row, None, false);
                }
                formula.clear();
                row_bytes += shown.len();
                if row_bytes > t.max_line_bytes {
                    return Err(Stop::LineTooLong);
                }
                store(&mut cells, column, shown);
            }
            Event::Start(e) if ours && matches!(e.local_name().as_ref(), b"v" | b"t") => in_value = true,
            Event::End(e) if ours && matches!(e.local_name().as_ref(), b"v" | b"t") => in_value = false,
            Event::Start(e) if ours && e.local_name().as_ref() == b"f" => in_formula = true,
            Event::End(e) if ours && e.local_name().as_ref() == b"f" => in_formula = false,
            other if in_value || in_formula => {
                let into = if in_formula { &mut formula } else { &mut value };
                text(other, into)?;
                if into.len() > t.max_line_bytes {
                    return Err(Stop::LineTooLong);
                }
            }
            _ => {}
        }
        Ok(())
    });
    let read = match read {
        Err(Stop::Missing) => Err(Stop::Malformed(format!("the workbook names a sheet part {part} it does not have"))),
        other => other,
    };
    if reading {
        table.finish(findings);
    }
    read
}

fn store(cells: &mut Vec<String>, column: usize, value: String) {
    if cells.len() <= column {
        cells.resize(column + 1, String::new());
    }
    cells[column] = value;
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::egress::checks::{FileReport, check};

    const REL: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

    fn zip(parts: &[(&str, String)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, body) in parts {
            w.start_file(*name, options).unwrap();
            w.write_all(body.as_bytes()).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    /// A workbook of `sheets` (name, hidden, sheetData's rows), shared strings, and more parts.
    fn book(sheets: &[(&str, bool, &str)], shared: &[&str], more: &[(&str, String)], rels: &str) -> Vec<u8> {
        let mut parts = vec![(
            "[Content_Types].xml",
            r#"<Types><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>"#.to_string(),
        )];
        let listed: String = sheets
            .iter()
            .enumerate()
            .map(|(i, (name, hidden, _))| {
                let state = if *hidden { r#" state="hidden""# } else { "" };
                format!(r#"<sheet name="{name}" sheetId="{}"{state} r:id="rId{}"/>"#, i + 1, i + 1)
            })
            .collect();
        parts.push(("xl/workbook.xml", format!(r#"<workbook xmlns:r="{REL}"><sheets>{listed}</sheets></workbook>"#)));
        let targets: String = (1..=sheets.len())
            .map(|i| format!(r#"<Relationship Id="rId{i}" Type="{REL}/worksheet" Target="worksheets/sheet{i}.xml"/>"#))
            .collect();
        parts.push(("xl/_rels/workbook.xml.rels", format!("<Relationships>{targets}{rels}</Relationships>")));
        let si: String = shared.iter().map(|s| format!("<si><t>{s}</t></si>")).collect();
        parts.push(("xl/sharedStrings.xml", format!("<sst>{si}</sst>")));
        let names: Vec<String> = (1..=sheets.len()).map(|i| format!("xl/worksheets/sheet{i}.xml")).collect();
        for ((_, _, rows), name) in sheets.iter().zip(&names) {
            parts.push((name, format!("<worksheet><sheetData>{rows}</sheetData></worksheet>")));
        }
        parts.extend(more.iter().cloned());
        zip(&parts)
    }

    fn run(bytes: &[u8]) -> FileReport {
        check("t.xlsx", bytes, &Thresholds::default()).unwrap()
    }

    /// The findings, but for the review every workbook gets.
    fn rules(r: &FileReport) -> Vec<(&str, Option<u64>, Option<&str>)> {
        r.findings
            .iter()
            .filter(|f| f.rule != "spreadsheet")
            .map(|f| (f.rule.as_ref(), f.row, f.column.as_deref()))
            .collect()
    }

    /// region | cases | note, with shared strings 0..: region, cases, North, South, note, East & West.
    const SHARED: [&str; 6] = ["region", "cases", "North", "South", "note", "East &amp; West"];
    const COUNTS: &str = r#"
        <row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>4</v></c></row>
        <row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2"><f>SUM(D1:D9)</f><v>120</v></c></row>
        <row r="4"><c r="A4" t="s"><v>3</v></c><c r="B4"><v>7</v></c><c r="C4" t="inlineStr"><is><t>NHS 943 476 5919</t></is></c></row>
        <row r="5"><c r="A5" t="s"><v>5</v></c><c r="B5"><v>0</v></c></row>"#;

    #[test]
    fn cells_are_checked_as_a_table_located_by_sheet_row_and_column() {
        let r = run(&book(&[("Counts", false, COUNTS)], &SHARED, &[], ""));
        assert_eq!(r.verdict, Verdict::Fail);
        assert_eq!(
            rules(&r),
            [
                ("nhs-number", Some(4), Some("Counts!note")),
                ("minimum-count", Some(4), Some("Counts!cases")),
                ("zero-cell", Some(5), Some("Counts!cases")),
            ],
            "row numbers are the sheet's own; the formula's text is not a value"
        );
        let safe = "<row r=\"1\"><c t=\"s\"><v>0</v></c><c t=\"s\"><v>1</v></c></row><row r=\"2\"><c t=\"s\"><v>2</v></c><c><v>40</v></c></row>";
        let r = run(&book(&[("S", false, safe)], &SHARED, &[], ""));
        // Nothing found; still a person opens a workbook before it leaves.
        assert_eq!(r.verdict, Verdict::Review);
        assert_eq!(r.findings.iter().map(|f| f.rule.as_ref()).collect::<Vec<_>>(), ["spreadsheet"]);
    }

    /// A workbook with one sheet at `target`, shared strings at `strings` (declared), and `rows`.
    fn declared(target: &str, strings: &str, rows: &str) -> Vec<u8> {
        zip(&[
            ("[Content_Types].xml", "<Types/>".into()),
            (
                "xl/workbook.xml",
                format!(r#"<workbook xmlns:r="{REL}"><sheets><sheet name="S" r:id="rId1"/></sheets></workbook>"#),
            ),
            (
                "xl/_rels/workbook.xml.rels",
                format!(
                    r#"<Relationships><Relationship Id="rId1" Type="{REL}/worksheet" Target="{target}"/><Relationship Id="rId2" Type="{REL}/sharedStrings" Target="{strings}"/></Relationships>"#
                ),
            ),
            ("xl/strs.xml", "<sst><si><t>n</t></si><si><t>3</t></si></sst>".into()),
            ("xl/data/one.xml", format!("<worksheet><sheetData>{rows}</sheetData></worksheet>")),
        ])
    }

    #[test]
    fn parts_are_found_where_the_workbook_says_and_what_is_missing_fails() {
        let rows = r#"<row r="1"><c t="s"><v>0</v></c></row><row r="2"><c t="s"><v>1</v></c></row>"#;
        // Shared strings under another name, a target with dot segments and an escape: the 3 is seen.
        let r = run(&declared("./data/../data/%6Fne.xml", "strs.xml", rows));
        assert!(rules(&r).contains(&("minimum-count", Some(2), Some("S!n"))), "{:?}", r.findings);
        // A string the workbook does not have, a sheet part it does not have: fail, never a blank.
        let r = run(&declared("data/one.xml", "strs.xml", r#"<row r="1"><c t="s"><v>7</v></c></row>"#));
        assert!(r.findings.iter().any(|f| f.rule == "spreadsheet-format" && f.detail.contains("shared string 7")));
        let r = run(&declared("data/two.xml", "strs.xml", rows));
        assert!(r.findings.iter().any(|f| f.rule == "spreadsheet-format" && f.detail.contains("xl/data/two.xml")));
    }

    #[test]
    fn other_namespaces_do_not_hide_cells_and_formulas_without_values_are_read() {
        // A foreign element or attribute is not the spreadsheet's: it neither clears a row,
        // overwrites a cell, nor changes a cell's type.
        let rows = r#"<row r="1"><c t="s"><v>0</v></c><c t="s"><v>1</v></c></row>
            <row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2" z:t="s"><v>3</v></c><z:c r="B2"/><z:row/></row>"#;
        let r = run(&book(&[("S", false, rows)], &SHARED, &[], ""));
        assert!(rules(&r).contains(&("minimum-count", Some(2), Some("S!cases"))), "{:?}", r.findings);
        // A formula with no value kept is checked by its text.
        let rows = r#"<row r="1"><c t="s"><v>4</v></c></row><row r="2"><c t="str"><f>"943 476 5919"</f></c></row>"#;
        let r = run(&book(&[("S", false, rows)], &SHARED, &[], ""));
        assert!(rules(&r).contains(&("nhs-number", Some(2), None)), "{:?}", r.findings);
        // A total with no value kept (as openpyxl saves it) leaves the counts above it counts.
        let rows = r#"<row r="1"><c t="s"><v>1</v></c></row><row r="2"><c><v>3</v></c></row><row r="3"><c><v>40</v></c></row><row r="4"><c><f>SUM(A2:A3)</f><v></v></c></row>"#;
        let r = run(&book(&[("S", false, rows)], &SHARED, &[], ""));
        assert!(rules(&r).contains(&("minimum-count", Some(2), Some("S!cases"))), "{:?}", r.findings);
        // SpreadsheetML under a prefix (the OpenXML SDK writes x:c) is the workbook's own.
        let main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
        let prefixed = zip(&[
            ("[Content_Types].xml", "<Types/>".into()),
            (
                "xl/workbook.xml",
                format!(
                    r#"<x:workbook xmlns:x="{main}" xmlns:r="{REL}"><x:sheets><x:sheet xmlns:id="u" name="P" r:id="rId1"/></x:sheets></x:workbook>"#
                ),
            ),
            (
                "xl/_rels/workbook.xml.rels",
                format!(
                    r#"<Relationships><Relationship Id="rId1" Type="{REL}/worksheet" Target="data/p.xml"/></Relationships>"#
                ),
            ),
            (
                "xl/data/p.xml",
                format!(
                    r#"<x:worksheet xmlns:x="{main}"><x:sheetData><x:row r="1"><x:c t="inlineStr"><x:is><x:t>n</x:t></x:is></x:c></x:row><x:row r="2"><x:c><x:v>4</x:v></x:c></x:row></x:sheetData></x:worksheet>"#
                ),
            ),
        ]);
        let r = run(&prefixed);
        assert!(rules(&r).contains(&("minimum-count", Some(2), Some("P!n"))), "{:?}", r.findings);
    }

    #[test]
    fn one_event_cannot_hold_more_than_a_line_and_empty_wide_rows_count() {
        let t = Thresholds { max_line_bytes: 1024, ..Thresholds::default() };
        // A tag whose quoted attribute holds many `<` (and `>`): still one event, stopped.
        let tag = format!(r#"<row r="1"><c r="A1" z="{}"><v>1</v></c></row>"#, "<>".repeat(2000));
        let r = check("t.xlsx", book(&[("S", false, &tag)], &SHARED, &[], "").as_slice(), &t).unwrap();
        assert!(r.findings.iter().any(|f| f.rule == "line-length"), "{:?}", r.findings);
        // Rows that are empty but wide cost their width.
        let rows = r#"<row><c r="J1"/></row>"#.repeat(5);
        let mut f = Findings::default();
        cells(
            &book(&[("S", false, &rows)], &SHARED, &[], ""),
            &Thresholds::default(),
            Parts::default(),
            (MAX_INFLATED, 40),
            &mut f,
        );
        assert!(f.list.iter().any(|f| f.rule == "spreadsheet-size"), "{:?}", f.list);
    }

    #[test]
    fn cells_are_counted_padding_too() {
        // A header far to the right makes every short row as wide: the cells are counted.
        let rows = r#"<row r="1"><c r="A1"><v>1</v></c><c r="J1"><v>2</v></c></row><row r="2"><c><v>1</v></c></row><row r="3"><c><v>1</v></c></row>"#;
        let mut f = Findings::default();
        cells(
            &book(&[("S", false, rows)], &SHARED, &[], ""),
            &Thresholds::default(),
            Parts::default(),
            (MAX_INFLATED, 25),
            &mut f,
        );
        assert!(f.list.iter().any(|f| f.rule == "spreadsheet-size" && f.detail.contains("cells")), "{:?}", f.list);
    }

    #[test]
    fn what_a_workbook_carries_besides_cells_is_found_even_under_other_names() {
        let safe = "<row r=\"1\"><c t=\"s\"><v>0</v></c></row>";
        // An external link declared by its relationship, the part named like anything else.
        let linked = book(
            &[("S", false, safe)],
            &SHARED,
            &[("xl/other/thing.xml", "<externalLink/>".into())],
            &format!(r#"<Relationship Id="rId9" Type="{REL}/externalLink" Target="other/thing.xml"/>"#),
        );
        assert!(rules(&run(&linked)).contains(&("spreadsheet-links", None, None)));
        let pivot =
            book(&[("S", false, safe)], &SHARED, &[("xl/pivotCache/pivotCacheRecords1.xml", "<r/>".into())], "");
        assert!(rules(&run(&pivot)).contains(&("spreadsheet-pivot-cache", None, None)));
        let mut macros = book(&[("S", false, safe)], &SHARED, &[], "");
        let types = r#"<Types><Override PartName="/xl/workbook.xml" ContentType="application/vnd.ms-excel.sheet.macroEnabled.main+xml"/></Types>"#;
        macros = replace_part(&macros, "[Content_Types].xml", types);
        assert!(rules(&run(&macros)).contains(&("spreadsheet-macros", None, None)));
        let embedded = book(&[("S", false, safe)], &SHARED, &[("xl/embeddings/oleObject1.bin", "x".into())], "");
        assert!(rules(&run(&embedded)).contains(&("spreadsheet-embedded", None, None)));
        // Hidden sheets and comments are for a person; a hidden sheet's cells are checked too.
        let hidden = book(
            &[("S", false, safe), ("Secret", true, COUNTS)],
            &SHARED,
            &[("xl/comments1.xml", "<comments/>".into())],
            "",
        );
        let r = run(&hidden);
        let found = rules(&r);
        assert!(found.contains(&("spreadsheet-hidden", None, None)), "{found:?}");
        assert!(found.contains(&("spreadsheet-comments", None, None)));
        assert!(found.contains(&("minimum-count", Some(4), Some("Secret!cases"))), "{found:?}");
    }

    fn replace_part(bytes: &[u8], name: &str, body: &str) -> Vec<u8> {
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut parts = Vec::new();
        for i in 0..zip.len() {
            let mut f = zip.by_index(i).unwrap();
            let mut text = String::new();
            f.read_to_string(&mut text).unwrap();
            let n = f.name().to_string();
            parts.push((n.clone(), if n == name { body.to_string() } else { text }));
        }
        let parts: Vec<(&str, String)> = parts.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
        super::tests::zip(&parts)
    }

    #[test]
    fn hostile_workbooks_are_a_verdict_and_memory_stays_bounded() {
        assert_eq!(rules(&run(b"<html>not a workbook</html>"))[0].0, "spreadsheet-format");
        assert_eq!(rules(&run(b"PK\x03\x04 broken"))[0].0, "spreadsheet-format");
        let no_book = zip(&[("[Content_Types].xml", "<Types/>".into())]);
        assert!(
            run(&no_book).findings.iter().any(|f| f.rule == "spreadsheet-format" && f.detail.contains("workbook.xml"))
        );
        // A part that inflates past the budget (a zip bomb, in small).
        let bomb = book(&[("S", false, &" ".repeat(300_000))], &SHARED, &[], "");
        assert!(bomb.len() < 10_000, "it compresses well");
        let mut f = Findings::default();
        cells(&bomb, &Thresholds::default(), Parts::default(), (100_000, MAX_CELLS), &mut f);
        assert_eq!(f.list.iter().map(|f| f.rule.as_ref()).collect::<Vec<_>>(), ["spreadsheet-size"]);
        // A text with no end in sight is stopped at the line limit, not held.
        let t = Thresholds { max_line_bytes: 1024, ..Thresholds::default() };
        let long = format!("<row r=\"1\"><c t=\"inlineStr\"><is><t>{}</t></is></c></row>", "x".repeat(5000));
        let r = check("t.xlsx", book(&[("S", false, &long)], &SHARED, &[], "").as_slice(), &t).unwrap();
        assert!(r.findings.iter().any(|f| f.rule == "line-length" && f.verdict == Verdict::Fail), "{:?}", r.findings);
        // A cell far to the right, an unknown entity, a name split across reads.
        let wide = "<row r=\"1\"><c r=\"XFD1\"><v>1</v></c></row>";
        assert!(rules(&run(&book(&[("S", false, wide)], &SHARED, &[], ""))).iter().any(|f| f.0 == "table-shape"));
        let entity = "<row r=\"1\"><c t=\"inlineStr\"><is><t>&bomb;</t></is></c></row>";
        assert_eq!(rules(&run(&book(&[("S", false, entity)], &SHARED, &[], "")))[0].0, "spreadsheet-format");
        let mut parts = Parts::default();
        let mut split = vec![b'x'; 64 * 1024 - 5];
        split.extend_from_slice(b"xl/externalLinks/externalLink1.xml");
        scan_names(&mut split.as_slice(), &mut parts).unwrap();
        assert!(parts.links);
    }

    #[test]
    fn column_letters() {
        assert_eq!(
            ["A1", "Z9", "AA1", "AB12", "XFD1", "1"].map(column_of),
            [Some(0), Some(25), Some(26), Some(27), Some(16383), None]
        );
    }
}
