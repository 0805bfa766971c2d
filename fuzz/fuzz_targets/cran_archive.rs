#![no_main]
// An upstream CRAN archive folder listing.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = haven_packages::cran::archive_versions(data, "rlang");
});
