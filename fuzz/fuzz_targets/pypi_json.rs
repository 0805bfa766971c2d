#![no_main]
// An upstream PEP 691 project page: any bytes are refused or parsed, never a panic or a hang.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = haven_packages::pypi::parse_project_json(data, "https://upstream.example/simple/alpha/", "alpha");
});
