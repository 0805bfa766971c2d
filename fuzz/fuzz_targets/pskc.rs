#![no_main]
// A hardware-token seed file (PSKC, RFC 6030), with and without a pre-shared key.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = haven_core::identity::pskc::parse(text, None);
        let _ = haven_core::identity::pskc::parse(text, Some(&[0x12; 16]));
    }
});
