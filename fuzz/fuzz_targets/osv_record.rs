#![no_main]
// An OSV record from an imported advisory dump; evaluating it must not panic either.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(a) = haven_packages::osv::parse_record(data) {
        for v in ["0", "1.0", "2.0.post1", "1.2-3"] {
            let _ = a.affecting(haven_packages::policy::Ecosystem::Pypi, "x", v);
            let _ = a.affecting(haven_packages::policy::Ecosystem::Cran, "x", v);
        }
    }
});
