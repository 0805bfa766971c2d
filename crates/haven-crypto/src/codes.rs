//! Human-typed secrets: emergency codes, recovery codes and token serials, drawn from the CSPRNG
//! without modulo bias.

use zeroize::Zeroizing;

use crate::{CryptoError, Rng};

/// Upper-case letters and digits without look-alikes (no 0/O, 1/I/L, U).
const SERIAL_ALPHABET: &[u8; 30] = b"ABCDEFGHJKMNPQRSTVWXYZ23456789";
/// Recovery codes: 32 symbols, 5 bits each.
const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstvwxyz0123456789";

/// A uniformly random number below `bound` (rejection sampling).
pub fn below(rng: &dyn Rng, bound: u64) -> Result<u64, CryptoError> {
    let zone = u64::MAX - (u64::MAX % bound.max(1));
    loop {
        let mut b = [0u8; 8];
        rng.fill(&mut b)?;
        let v = u64::from_le_bytes(b);
        if v < zone {
            return Ok(v % bound.max(1));
        }
    }
}

/// `digits` uniformly random decimal digits.
pub fn numeric(rng: &dyn Rng, digits: u32) -> Result<Zeroizing<String>, CryptoError> {
    let mut out = Zeroizing::new(String::with_capacity(digits as usize));
    for _ in 0..digits {
        let d = below(rng, 10)?;
        out.push(char::from(b'0' + d as u8));
    }
    Ok(out)
}

/// Recovery codes carry 120 bits: six groups of four from a 32-symbol alphabet. Above 112 bits a
/// plain SHA-256 is an acceptable stored form (NIST 800-63B 5.1.2.2), so a code is found by
/// lookup rather than by trying every stored argon2 hash.
pub const RECOVERY_CODE_SYMBOLS: usize = 24;

pub fn recovery_code(rng: &dyn Rng) -> Result<Zeroizing<String>, CryptoError> {
    let mut out = Zeroizing::new(String::with_capacity(RECOVERY_CODE_SYMBOLS + 5));
    let mut bytes = Zeroizing::new([0u8; RECOVERY_CODE_SYMBOLS]);
    rng.fill(bytes.as_mut())?;
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(char::from(RECOVERY_ALPHABET[usize::from(b & 31)]));
    }
    Ok(out)
}

/// The canonical form of a typed recovery code (case, spaces and dashes ignored), if it has the shape.
pub fn normalise_recovery_code(typed: &str) -> Option<Zeroizing<String>> {
    let clean: Zeroizing<String> = Zeroizing::new(
        typed.chars().filter(|c| !c.is_whitespace() && *c != '-').flat_map(char::to_lowercase).collect(),
    );
    (clean.len() == RECOVERY_CODE_SYMBOLS && clean.bytes().all(|b| RECOVERY_ALPHABET.contains(&b))).then_some(clean)
}

/// A short random identifier a person can read out (a token serial, say): `prefix` + 8 symbols.
pub fn serial(rng: &dyn Rng, prefix: &str) -> Result<String, CryptoError> {
    let mut out = String::from(prefix);
    for _ in 0..8 {
        out.push(char::from(SERIAL_ALPHABET[below(rng, 30)? as usize]));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemRng;

    #[test]
    fn codes_have_their_shape() {
        let rng = SystemRng::new();
        let code = numeric(&rng, 8).unwrap();
        assert_eq!(code.len(), 8);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
        let rc = recovery_code(&rng).unwrap();
        assert_eq!(rc.len(), 29);
        let norm = normalise_recovery_code(&rc.to_uppercase().replace('-', " ")).unwrap();
        assert_eq!(norm.as_str(), rc.replace('-', ""));
        assert!(normalise_recovery_code("too-short").is_none());
        let s = serial(&rng, "HVN").unwrap();
        assert_eq!(s.len(), 11);
        assert!(s.chars().skip(3).all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    }

    #[test]
    fn below_is_roughly_uniform() {
        let rng = SystemRng::new();
        let mut counts = [0u32; 10];
        for _ in 0..10_000 {
            counts[below(&rng, 10).unwrap() as usize] += 1;
        }
        assert!(counts.iter().all(|c| (800..1200).contains(c)), "{counts:?}");
    }
}
