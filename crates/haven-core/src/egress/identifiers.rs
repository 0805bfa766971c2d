//! Identifiers in text: the shape found by a regular expression, then confirmed by the rule the
//! identifier really follows where there is one (the NHS number's modulus 11, the postcode's
//! letters), so that a hit means what it says. A regex-only hit would flag one random 10-digit
//! string in 11 as an NHS number.

use std::sync::OnceLock;

use regex::Regex;

use super::checks::Verdict;

/// One identifier found: which kind, the verdict it earns, and where in the text it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub rule: &'static str,
    pub verdict: Verdict,
    pub at: usize,
    /// What was found, partly hidden: the finding must not become a copy of the identifier.
    pub masked: String,
}

struct Patterns {
    nhs: Regex,
    postcode: Regex,
    email: Regex,
    phone: Regex,
    date: Regex,
    birth: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        // Fixed patterns, tested below: a failure to compile is a bug caught by the tests.
        #[allow(clippy::unwrap_used)]
        let re = |p: &str| Regex::new(p).unwrap();
        Patterns {
            // 10 digits, as 3-3-4 with optional single spaces or hyphens, not inside a longer number.
            nhs: re(r"(?:^|[^0-9A-Za-z])([0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4})(?:$|[^0-9A-Za-z])"),
            // Outward (A9, A99, AA9, AA99, A9A, AA9A), a space or none, inward 9AA; or GIR 0AA.
            postcode: re(r"(?i)(?:^|[^0-9A-Za-z])(GIR ?0AA|[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2})(?:$|[^0-9A-Za-z])"),
            email: re(r"(?i)[A-Z0-9._%+-]+@[A-Z0-9-]+(?:\.[A-Z0-9-]+)*\.[A-Z]{2,}"),
            // UK numbers: +44 or 0, then 9 or 10 digits in groups.
            phone: re(r"(?:^|[^0-9+])((?:\+44\s?|0)(?:[0-9]\s?){9,10})(?:$|[^0-9])"),
            date: re(concat!(
                r"\b(?:(?:19|20)[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])",
                r"|(?:0?[1-9]|[12][0-9]|3[01])[/.-](?:0?[1-9]|1[0-2])[/.-](?:19|20)[0-9]{2}",
                r"|(?:0?[1-9]|[12][0-9]|3[01])[ -](?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*[ -](?:19|20)[0-9]{2})\b"
            )),
            birth: re(r"(?i)\b(?:d\.?o\.?b|date[ _-]?of[ _-]?birth|birth[ _-]?date|born)\b"),
        }
    })
}

/// Whether ten digits are a valid NHS number: Σ dᵢ × (11 − i) ≡ 0 (mod 11) over all ten, and a
/// check digit that is not 10 (never issued).
pub fn nhs_number_valid(digits: &[u8; 10]) -> bool {
    let weighted: u32 = digits[..9].iter().zip((2..=10).rev()).map(|(d, w)| u32::from(*d) * w).sum();
    let check = 11 - weighted % 11;
    let check = if check == 11 { 0 } else { check };
    check != 10 && check == u32::from(digits[9])
}

/// Whether a postcode of the right shape also follows the letter rules (BS 7666): first letter
/// never Q, V or X; second never I, J or Z; a letter third only from ABCDEFGHJKSTUW; fourth only
/// from ABEHMNPRVWXY; inward letters never C, I, K, M, O or V. (Real validation needs the ONS
/// directory; this is the shape.)
pub fn postcode_valid(code: &str) -> bool {
    let s: Vec<u8> = code.bytes().filter(|b| *b != b' ').map(|b| b.to_ascii_uppercase()).collect();
    if s == b"GIR0AA" {
        return true;
    }
    if !(5..=7).contains(&s.len()) {
        return false;
    }
    let (outward, inward) = s.split_at(s.len() - 3);
    if inward[1..].iter().any(|c| b"CIKMOV".contains(c)) {
        return false;
    }
    let letter = |c: u8| c.is_ascii_uppercase();
    if b"QVX".contains(&outward[0]) {
        return false;
    }
    if outward.len() >= 2 && letter(outward[1]) && b"IJZ".contains(&outward[1]) {
        return false;
    }
    // A9A (third is a letter after one letter and a digit): ABCDEFGHJKSTUW.
    if outward.len() == 3 && letter(outward[0]) && outward[1].is_ascii_digit() && letter(outward[2]) {
        return b"ABCDEFGHJKSTUW".contains(&outward[2]);
    }
    // AA9A: ABEHMNPRVWXY.
    if outward.len() == 4 && letter(outward[3]) {
        return b"ABEHMNPRVWXY".contains(&outward[3]);
    }
    true
}

/// A match without the one character the pattern took on either side of the identifier
/// (`part`: what an identifier's first and last characters are), and where it starts.
fn inner<'t>(m: regex::Match<'t>, part: fn(char) -> bool) -> (usize, &'t str) {
    let s = m.as_str();
    let start = s.char_indices().find(|&(_, c)| part(c)).map_or(0, |(i, _)| i);
    let end = s.char_indices().rev().find(|&(_, c)| part(c)).map_or(s.len(), |(i, c)| i + c.len_utf8());
    (m.start() + start, s.get(start..end.max(start)).unwrap_or(s))
}

/// Every identifier `re` finds in `text` (where it starts, and its text without the boundary
/// characters). The search goes on from an identifier's end, not from the match's: the
/// character after one is the boundary before the next ("9434765918 9434765919").
fn found<'t>(re: &Regex, text: &'t str, part: fn(char) -> bool) -> Vec<(usize, &'t str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(m) = re.find_at(text, from) {
        let (at, identifier) = inner(m, part);
        out.push((at, identifier));
        let end = at + identifier.len();
        from = if end > from { end } else { m.end() };
        if from >= text.len() {
            break;
        }
    }
    out
}

/// `s` with all but its first and last two characters hidden.
fn mask(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 4 {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..2].iter().collect();
    out.push_str(&"*".repeat(chars.len() - 4));
    out.extend(&chars[chars.len() - 2..]);
    out
}

/// Every identifier in `text`. `birth_context`: the text is a date-of-birth field (a column
/// so named), so any date in it is one.
pub fn scan(text: &str, birth_context: bool) -> Vec<Hit> {
    // What each kind needs at least, counted once: most cells of a table ("North East", "0-17")
    // have too few digits for any, and are passed by without running a pattern.
    let (digits, letters) = text.bytes().fold((0usize, 0usize), |(d, l), b| {
        (d + usize::from(b.is_ascii_digit()), l + usize::from(b.is_ascii_alphabetic()))
    });
    let email = text.contains('@');
    let long_numbers = digits >= 10; // NHS numbers and phones have 10 or more
    // A date of birth has 5 digits or more (6 Dec 1961), in a birth column or after a word for
    // birth, each of which has a "b".
    let dates = digits >= 5 && (birth_context || text.bytes().any(|b| b | 0x20 == b'b'));
    let postcode = digits >= 1 && letters >= 2 && text.len() >= 5;
    if !(email || long_numbers || dates || postcode) {
        return Vec::new();
    }
    let p = patterns();
    let mut hits = Vec::new();
    let none = "";
    let numeric = if long_numbers { text } else { none };
    // The patterns match the character before and after an identifier too (no word boundary
    // says "not inside a longer number"); the identifier is the match without them. Finding
    // the whole match is several times faster than asking for a group.
    for (at, m) in found(&p.nhs, numeric, |c| c.is_ascii_digit()) {
        let digits: Vec<u8> = m.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect();
        if let Ok(ten) = <[u8; 10]>::try_from(digits.as_slice())
            && nhs_number_valid(&ten)
        {
            hits.push(Hit { rule: "nhs-number", verdict: Verdict::Fail, at, masked: mask(m) });
        }
    }
    for (at, m) in found(&p.postcode, if postcode { text } else { none }, |c| c.is_ascii_alphanumeric()) {
        if postcode_valid(m) {
            hits.push(Hit { rule: "uk-postcode", verdict: Verdict::Fail, at, masked: mask(m) });
        }
    }
    for m in p.email.find_iter(if email { text } else { none }) {
        hits.push(Hit { rule: "email-address", verdict: Verdict::Fail, at: m.start(), masked: mask(m.as_str()) });
    }
    for (at, m) in found(&p.phone, numeric, |c| c.is_ascii_digit() || c == '+') {
        // Ten digits are an NHS number's business (above), not a phone number's.
        let digits = m.bytes().filter(u8::is_ascii_digit).count();
        if m.starts_with('+') || digits == 11 {
            hits.push(Hit { rule: "phone-number", verdict: Verdict::Review, at, masked: mask(m) });
        }
    }
    let near_birth =
        |at: usize| birth_context || p.birth.find_iter(&text[..at]).last().is_some_and(|b| at - b.end() <= 24);
    for m in p.date.find_iter(if dates { text } else { none }) {
        if near_birth(m.start()) {
            hits.push(Hit { rule: "date-of-birth", verdict: Verdict::Fail, at: m.start(), masked: mask(m.as_str()) });
        }
    }
    hits.sort_by_key(|h| h.at);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Vec<&'static str> {
        scan(text, false).into_iter().map(|h| h.rule).collect()
    }

    #[test]
    fn nhs_numbers_are_found_only_when_their_check_digit_is_right() {
        // The reference's worked example and the never-issued test range.
        for valid in ["9434765919", "943 476 5919", "943-476-5919", "9990000018", "9990000026"] {
            assert_eq!(rules(&format!("patient {valid} seen")), ["nhs-number"], "{valid}");
        }
        // Side by side, each is found (the space between them is both's boundary).
        assert_eq!(rules("9434765918 9434765919, 9434765919"), ["nhs-number", "nhs-number"]);
        // Check digit 10 (never issued), a wrong check digit, longer numbers, 9 digits.
        for invalid in ["9990000000", "9434765918", "94347659190", "943476591", "x9434765919y"] {
            assert!(!rules(invalid).contains(&"nhs-number"), "{invalid}");
        }
    }

    #[test]
    fn postcodes_follow_the_letter_rules() {
        for valid in ["SW1A 1AA", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "EC1A 1BB", "GIR 0AA", "w1a 0ax"] {
            assert_eq!(rules(&format!("lives at {valid}.")), ["uk-postcode"], "{valid}");
        }
        // Q first, Z second, inward C, I third.
        for invalid in ["QA1 1AA", "AZ1 1AA", "SW1A 1CA", "W1I 1AA"] {
            assert!(rules(invalid).is_empty(), "{invalid}");
        }
    }

    #[test]
    fn emails_phones_and_dates_of_birth() {
        assert_eq!(rules("write to ada.l@example.ac.uk"), ["email-address"]);
        assert_eq!(rules("call 07700 900123 or +44 20 7946 0958"), ["phone-number", "phone-number"]);
        assert_eq!(rules("DOB: 14/03/1961"), ["date-of-birth"]);
        assert_eq!(rules("born on 1961-03-14"), ["date-of-birth"]);
        assert!(rules("study period 2020-01-01 to 2021-12-31").is_empty());
        assert_eq!(rules("born 6 Dec 1961"), ["date-of-birth"]);
        assert_eq!(scan("1961-03-14", true)[0].rule, "date-of-birth");
        assert_eq!(scan("9434765919", false)[0].masked, "94******19");
    }
}
