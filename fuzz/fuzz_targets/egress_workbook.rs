#![no_main]
// An XLSX workbook that is to leave: the checks must give a verdict (never panic, never grow
// past their bounds), whatever the zip holds. Seed the corpus with real workbooks (openpyxl,
// LibreOffice, Excel) for the fuzzer to mutate.
use haven_core::egress::checks::{Thresholds, check};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let t = Thresholds { max_line_bytes: 1024, ..Thresholds::default() };
    let r = check("t.xlsx", data, &t).expect("reading from memory cannot fail");
    assert_eq!(r.bytes as usize, data.len());
});
