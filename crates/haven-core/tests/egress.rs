//! Egress checks on tables made from records, against ACRO (the AI-SDC project's disclosure
//! checker, from PyPI) on the same records: the same cells fail the same rules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::BTreeSet;

use haven_core::egress::checks::{Thresholds, check_records};
use haven_core::egress::records::TableSpec;

type Cells = BTreeSet<(String, String)>;

/// Records with known problems: East has 8 people (small cells), nobody in West is M (a zero),
/// one South M earns 10 million (dominance, p-ratio), North is large and safe. Deterministic.
fn records() -> String {
    let mut out = String::from("region,sex,income\n");
    let mut x: u64 = 7;
    let mut next = move || {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        x >> 33
    };
    for (region, n) in [("North", 300), ("South", 40), ("East", 8), ("West", 25)] {
        for i in 0..n {
            let sex = if region == "West" || next() % 2 == 0 { "F" } else { "M" };
            let income =
                if region == "South" && sex == "M" && i % 7 == 0 && i < 7 { 10_000_000 } else { 1000 + next() % 4000 };
            out.push_str(&format!("{region},{sex},{income}\n"));
        }
    }
    // A South M large enough to dominate its cell, whatever the draws above gave.
    out.push_str("South,M,10000000\n");
    out
}

/// Haven's cells per rule, as (row label, column label).
fn haven(findings: &[haven_core::egress::checks::Finding], rules: &[&str]) -> Cells {
    findings
        .iter()
        .filter(|f| rules.contains(&f.rule.as_ref()))
        .map(|f| {
            let at = f.column.as_deref().unwrap();
            let (r, c) = at.split_once(" × ").unwrap();
            (r.split_once('=').unwrap().1.to_string(), c.split_once('=').unwrap().1.to_string())
        })
        .collect()
}

fn acro(found: &serde_json::Value, check: &str) -> Cells {
    found[check]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().into(), p[1].as_str().unwrap().into()))
        .collect()
}

#[test]
fn tables_from_records_fail_the_cells_acro_fails() {
    let Some(python) = haven_testkit::tool("HAVEN_TEST_ACRO") else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.csv");
    std::fs::write(&path, records()).unwrap();
    let t = Thresholds::default();

    let frequency = TableSpec { rows: "region".into(), columns: Some("sex".into()), values: None };
    let (freq, built) = check_records("records.csv", records().as_bytes(), &frequency, &t).unwrap();
    let built = built.unwrap();
    assert_eq!(built.records, 374);
    let sums = TableSpec { values: Some("income".into()), ..frequency.clone() };
    let (sum, _) = check_records("records.csv", records().as_bytes(), &sums, &t).unwrap();

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/acro/cells.py");
    let out = std::process::Command::new(python)
        .args([script, path.to_str().unwrap(), "region", "sex", "income"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let found: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();

    // The frequency table: ACRO's threshold cells are Haven's small and zero cells; its zeros, Haven's.
    let threshold = acro(&found[0], "MinimumThresholdCheck");
    assert!(!threshold.is_empty());
    assert_eq!(haven(&freq.findings, &["minimum-count", "zero-cell"]), threshold, "{:?}", freq.findings);
    assert_eq!(haven(&freq.findings, &["zero-cell"]), acro(&found[0], "PresenceOfZeroCheck"));
    assert_eq!(haven(&freq.findings, &["zero-cell"]), Cells::from([("West".into(), "M".into())]));

    // The table of sums: threshold, dominance (N-k 2 at 90 %) and the p-ratio (10 %) on the same cells.
    assert_eq!(haven(&sum.findings, &["minimum-count"]), acro(&found[1], "MinimumThresholdCheck"));
    let nk = acro(&found[1], "NKCheck");
    assert!(nk.contains(&("South".into(), "M".into())), "{nk:?}");
    assert_eq!(haven(&sum.findings, &["dominance"]), nk);
    assert_eq!(haven(&sum.findings, &["p-ratio"]), acro(&found[1], "PPercentCheck"));
}

#[test]
fn records_that_do_not_make_the_table_say_why() {
    let t = Thresholds::default();
    let spec = TableSpec { rows: "region".into(), columns: Some("ward".into()), values: Some("pay".into()) };
    let (r, built) = check_records("r.csv", &b"region,sex,income\nNorth,F,10\n"[..], &spec, &t).unwrap();
    assert!(built.is_none());
    assert!(r.findings.iter().any(|f| f.detail.contains("no column ward, pay")), "{:?}", r.findings);
    // Values that are not numbers are left out, counted, and said.
    let spec = TableSpec { rows: "region".into(), columns: None, values: Some("income".into()) };
    let (r, built) = check_records("r.csv", &b"region,income\nNorth,10\nNorth,n/a\n"[..], &spec, &t).unwrap();
    assert_eq!(built.unwrap().cells.values().map(|c| c.count).sum::<u64>(), 1);
    assert!(r.findings.iter().any(|f| f.detail.starts_with("1 records have no number")), "{:?}", r.findings);
}

/// A workbook as Excel's kind of writer makes it (openpyxl, from PyPI, in ACRO's environment),
/// and the same table as CSV: the same findings, in the same rows and columns.
#[test]
fn a_workbook_is_checked_cell_for_cell_as_its_csv_is() {
    use haven_core::egress::checks::check;
    let Some(python) = haven_testkit::tool("HAVEN_TEST_ACRO") else { return };
    let rows: [[&str; 4]; 6] = [
        ["region", "cases", "controls", "note"],
        ["North", "120", "340", ""],
        ["South", "7", "220", "seen 943 476 5919"],
        ["East", "0", "15", "ada@example.org"],
        ["West", "[REDACTED]", "44", ""],
        ["Wales", "31", "0", ""],
    ];
    let dir = tempfile::tempdir().unwrap();
    let xlsx = dir.path().join("table.xlsx");
    let script = r#"
import json, sys
from openpyxl import Workbook
rows = json.loads(sys.argv[2])
wb = Workbook()
ws = wb.active
ws.title = "Table 1"
for row in rows:
    ws.append([int(c) if c.isdigit() else (c or None) for c in row])
wb.create_sheet("Notes").append(["written by openpyxl"])
wb.save(sys.argv[1])
"#;
    let out = std::process::Command::new(python)
        .args(["-c", script, xlsx.to_str().unwrap(), &serde_json::to_string(&rows).unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t = Thresholds::default();
    let book = check("table.xlsx", std::fs::File::open(&xlsx).unwrap(), &t).unwrap();
    let csv: String = rows.iter().map(|r| r.join(",") + "\n").collect();
    let table = check("table.csv", csv.as_bytes(), &t).unwrap();
    let located = |r: &haven_core::egress::checks::FileReport,
                   strip: &str|
     -> Vec<(String, Option<u64>, Option<String>)> {
        r.findings
            .iter()
            .filter(|f| f.rule != "spreadsheet")
            .map(|f| (f.rule.to_string(), f.row, f.column.as_deref().map(|c| c.trim_start_matches(strip).to_string())))
            .collect()
    };
    assert_eq!(located(&book, "Table 1!"), located(&table, ""), "{:?}", book.findings);
    assert!(located(&table, "").iter().any(|(rule, row, _)| rule == "minimum-count" && *row == Some(3)));
    assert!(located(&table, "").iter().any(|(rule, row, _)| rule == "nhs-number" && *row == Some(3)));
    assert_eq!(book.verdict, haven_core::egress::checks::Verdict::Fail);
}
