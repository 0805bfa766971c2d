#![no_main]
// A table, text or record file that is to leave: the checks must give a verdict (never panic),
// with the hash of every byte, whatever the bytes; small limits reach the line and size cut-offs.
use haven_core::egress::checks::{Thresholds, check, check_records};
use haven_core::egress::records::TableSpec;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let t = Thresholds { max_line_bytes: 1024, max_file_bytes: 64 * 1024, ..Thresholds::default() };
    for name in ["t.csv", "t.tsv", "t.txt"] {
        let r = check(name, data, &t).expect("reading from memory cannot fail");
        assert!(r.bytes as usize <= data.len());
    }
    let spec = TableSpec { rows: "a".into(), columns: Some("b".into()), values: Some("c".into()) };
    let _ = check_records("r.csv", data, &spec, &t).expect("reading from memory cannot fail");
});
