#![no_main]
// An upstream CRAN PACKAGES file, and dependency fields.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(records) = haven_packages::cran::parse_packages(data) {
        for r in &records {
            for field in ["Depends", "Imports", "LinkingTo"] {
                if let Some(v) = r.field(field) {
                    let _ = haven_packages::cran::parse_deps(v);
                }
            }
        }
        // What Haven writes back must read back the same.
        let again = haven_packages::cran::parse_packages(haven_packages::cran::render_packages(&records).as_bytes());
        assert_eq!(again.ok().as_ref(), Some(&records));
    }
});
