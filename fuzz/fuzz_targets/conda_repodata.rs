#![no_main]
// An upstream conda repodata.json.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(r) = haven_packages::conda::parse_repodata(data, "linux-64") {
        let _ = r.to_json();
    }
});
