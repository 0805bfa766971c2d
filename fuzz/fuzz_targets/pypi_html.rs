#![no_main]
// An upstream PEP 503 HTML page.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = haven_packages::pypi::parse_project_html(data, "file:///mirror/simple/alpha/", "alpha");
});
