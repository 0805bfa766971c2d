//! The name an arriving file is kept under. A provider's client sends whatever name it likes
//! (`Upload-Metadata: filename …`); Haven keeps the original for the record but stores and
//! shows a safe one: no directory part, no control or direction-changing characters (which can
//! disguise `evil` U+202E `fdp.exe` as `evilexe.pdf`), no name Windows reserves, at most 255 bytes.

/// The longest name kept, in bytes (the limit of common filesystems).
pub const MAX_NAME_BYTES: usize = 255;

/// What a file without a usable name is called.
pub const UNNAMED: &str = "unnamed";

/// Names Windows reserves for devices, with or without an extension (`CON`, `con.txt`).
const RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "LPT1", "LPT2",
    "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// A character no stored name may hold: controls, and the invisible ones that change how the
/// rest is displayed (bidirectional overrides and isolates, zero-width joiners, the BOM).
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}')
        || matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*')
}

/// The safe name for `raw`: its last path component (after `/` or `\`), unsafe characters
/// replaced by `_`, leading and trailing spaces and dots removed, a reserved device name
/// prefixed with `_`, cut to [`MAX_NAME_BYTES`] keeping the extension, and [`UNNAMED`] when
/// nothing is left.
pub fn sanitise(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let replaced: String = last.chars().map(|c| if unsafe_char(c) { '_' } else { c }).collect();
    let trimmed = replaced.trim_matches(|c: char| c == '.' || c.is_whitespace());
    if trimmed.is_empty() {
        return UNNAMED.to_string();
    }
    let stem = trimmed.split('.').next().unwrap_or_default().trim_end();
    let name =
        if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem)) { format!("_{trimmed}") } else { trimmed.to_string() };
    shorten(&name)
}

/// `name` cut to [`MAX_NAME_BYTES`] on a character boundary, keeping a short extension.
fn shorten(name: &str) -> String {
    if name.len() <= MAX_NAME_BYTES {
        return name.to_string();
    }
    let ext = name.rfind('.').map(|i| &name[i..]).filter(|e| e.len() <= 16).unwrap_or("");
    let mut stem = &name[..name.len() - ext.len()];
    let room = MAX_NAME_BYTES - ext.len();
    let mut end = room.min(stem.len());
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    stem = &stem[..end];
    format!("{stem}{ext}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_what_could_harm_or_mislead() {
        for (raw, want) in [
            ("results.csv", "results.csv"),
            ("../../etc/passwd", "passwd"),
            ("C:\\Users\\ada\\cohort.xlsx", "cohort.xlsx"),
            ("dir/", UNNAMED),
            ("", UNNAMED),
            ("..", UNNAMED),
            ("  .hidden  ", "hidden"),
            ("a\u{0}b\nc.txt", "a_b_c.txt"),
            ("invoice\u{202E}fdp.exe", "invoice_fdp.exe"),
            ("zero\u{200B}width.txt", "zero_width.txt"),
            ("CON", "_CON"),
            ("con.txt", "_con.txt"),
            ("Lpt9.tar.gz", "_Lpt9.tar.gz"),
            ("CONSOLE.txt", "CONSOLE.txt"),
            ("what?.csv", "what_.csv"),
            ("naïve café.csv", "naïve café.csv"),
        ] {
            assert_eq!(sanitise(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn long_names_keep_their_extension_and_whole_characters() {
        let long = format!("{}.csv", "é".repeat(300));
        let kept = sanitise(&long);
        assert!(kept.len() <= MAX_NAME_BYTES, "{}", kept.len());
        assert!(kept.ends_with(".csv"));
        let no_ext = "x".repeat(1000);
        assert_eq!(sanitise(&no_ext).len(), MAX_NAME_BYTES);
    }

    #[test]
    fn any_input_gives_a_safe_name() {
        // A cheap exhaustive-ish sweep over awkward characters in awkward places.
        let pieces = ["", ".", " ", "/", "\\", "\u{202E}", "\u{7}", "CON", "a", "é", "..", "<", "nul."];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let name = sanitise(&format!("{a}{b}{c}"));
                    assert!(!name.is_empty() && name.len() <= MAX_NAME_BYTES, "{a:?}{b:?}{c:?} -> {name:?}");
                    assert!(!name.contains(['/', '\\']) && !name.chars().any(unsafe_char), "{name:?}");
                    assert!(name != "." && name != "..", "{name:?}");
                    let stem = name.split('.').next().unwrap_or_default().trim_end();
                    assert!(!RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem)), "{name:?}");
                }
            }
        }
    }
}
