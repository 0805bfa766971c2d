//! Project names (PEP 503, PEP 508): valid characters are ASCII letters, digits, `.`, `-` and `_`,
//! starting and ending with a letter or digit; the normalised form is lower case with each run of
//! `-`, `_`, `.` replaced by one `-`. Everything is looked up by its normalised form, so
//! `Zope.Interface`, `zope_interface` and `zope-interface` are one project.

use crate::FormatError;

/// Longest name accepted (PyPI's own limit is far below this).
pub const MAX_NAME: usize = 200;

pub fn validate_name(name: &str) -> Result<(), FormatError> {
    let bytes = name.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_NAME
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok { Ok(()) } else { Err(FormatError::BadName(name.chars().take(MAX_NAME).collect())) }
}

/// The normalised form of a valid name.
pub fn normalize(name: &str) -> Result<String, FormatError> {
    validate_name(name)?;
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '.' | '-' | '_') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_run = false;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_as_pep_503_says() {
        for (given, want) in [
            ("Django", "django"),
            ("zope.interface", "zope-interface"),
            ("Zope_Interface", "zope-interface"),
            ("beta_pkg", "beta-pkg"),
            ("a-_.b", "a-b"),
            ("A1", "a1"),
        ] {
            assert_eq!(normalize(given).unwrap(), want, "{given}");
        }
    }

    #[test]
    fn path_tricks_and_odd_names_are_refused() {
        for bad in ["", "-x", "x-", "../etc", "a/b", "a%2Fb", "a b", "naïve", "x\0", ".hidden", &"a".repeat(201)] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }
}
