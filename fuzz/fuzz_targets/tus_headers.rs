#![no_main]
// Every tus header a client controls, and the name it gives its file: parsing must not panic,
// metadata must round-trip, and a sanitised name must stay safe.
use haven_core::transfer::{names, tus};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(pairs) = tus::parse_metadata(text) {
        assert_eq!(tus::parse_metadata(&tus::write_metadata(&pairs)).ok(), Some(pairs));
    }
    let _ = tus::parse_checksum(text);
    let _ = tus::parse_size("Upload-Offset", text);
    let _ = tus::creation_length(Some(text), None);
    let _ = tus::creation_length(None, Some(text));
    let name = names::sanitise(text);
    assert!(!name.is_empty() && name.len() <= names::MAX_NAME_BYTES && !name.contains(['/', '\\']));
});
