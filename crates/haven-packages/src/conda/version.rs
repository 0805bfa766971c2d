//! conda version constraints as rules and dependency lookups use them: comma-separated clauses
//! of `>=`, `>`, `<=`, `<`, `==`, `!=`, `=1.2` (1.2 and 1.2.x) and `1.2.*`, compared in PEP 440
//! order (close to conda's for the versions conda-forge publishes).

use std::cmp::Ordering;

use crate::osv::compare;
use crate::policy::Ecosystem;

/// Whether `spec` is made of clauses this module reads.
pub fn valid_spec(spec: &str) -> bool {
    let spec = spec.trim();
    !spec.is_empty()
        && spec.len() <= 200
        && spec.split(',').all(|clause| {
            let (op, v) = split(clause.trim());
            matches!(op, "" | "=" | "==" | ">=" | ">" | "<=" | "<" | "!=")
                && !v.is_empty()
                && compare(Ecosystem::Conda, base(v), base(v)).is_some()
                && (!v.ends_with('*') || matches!(op, "" | "=" | "=="))
        })
}

fn split(clause: &str) -> (&str, &str) {
    let op_len = clause.find(|c: char| !matches!(c, '<' | '>' | '=' | '!' | '~')).unwrap_or(clause.len());
    let (op, v) = clause.split_at(op_len);
    (op, v.trim())
}

fn base(v: &str) -> &str {
    v.trim_end_matches('*').trim_end_matches('.')
}

/// Whether `version` satisfies `spec`; None when a comparison cannot be made (a version that is
/// not PEP 440-like): the caller decides which way that fails.
pub fn matches(spec: &str, version: &str) -> Option<bool> {
    let spec = spec.split_whitespace().next().unwrap_or("").trim();
    if spec.is_empty() || spec == "*" {
        return Some(true);
    }
    let mut all = true;
    for clause in spec.split(',') {
        let (op, v) = split(clause.trim());
        let ok = if v.ends_with('*') || op == "=" {
            let prefix = base(v);
            version == prefix || version.starts_with(&format!("{prefix}."))
        } else {
            let o = compare(Ecosystem::Conda, version, v)?;
            match op {
                "" | "==" => o == Ordering::Equal,
                ">=" => o != Ordering::Less,
                ">" => o == Ordering::Greater,
                "<=" => o != Ordering::Greater,
                "<" => o == Ordering::Less,
                "!=" => o != Ordering::Equal,
                _ => return None,
            }
        };
        all &= ok;
    }
    Some(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses() {
        assert_eq!(matches(">=1,<2", "1.5"), Some(true));
        assert_eq!(matches(">=1,<2", "2.0"), Some(false));
        assert_eq!(matches("1.2.*", "1.2.7"), Some(true));
        assert_eq!(matches("1.2.*", "1.20"), Some(false));
        assert_eq!(matches("=1.2", "1.2.3"), Some(true));
        assert_eq!(matches("", "9"), Some(true));
        assert_eq!(matches(">=1", "not-a-version!"), None);
        assert!(valid_spec(">=1.2,<2") && valid_spec("1.2.*") && valid_spec("==3.0"));
        assert!(!valid_spec("~> 1") && !valid_spec(">=x") && !valid_spec("") && !valid_spec(">=1.*"));
    }
}
