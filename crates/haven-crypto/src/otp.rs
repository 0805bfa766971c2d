//! One-time passwords: HOTP (RFC 4226) and TOTP (RFC 6238) with SHA-1, SHA-256 and SHA-512, and the
//! `otpauth://` key URI authenticator apps read from a QR code.
//!
//! Written on ring's HMAC rather than taken from a TOTP crate because Haven needs the raw counter
//! arithmetic (HOTP look-ahead and resynchronisation, TOTP replay and drift bookkeeping) that
//! those crates keep private, and ring is already the one crypto provider of the build.

use ring::hmac;
use zeroize::Zeroizing;

use crate::CryptoError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }

    pub fn parse(s: &str) -> Option<Algorithm> {
        match s.to_ascii_uppercase().replace('-', "").as_str() {
            "SHA1" => Some(Algorithm::Sha1),
            "SHA256" => Some(Algorithm::Sha256),
            "SHA512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    fn ring(self) -> hmac::Algorithm {
        match self {
            Algorithm::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Algorithm::Sha256 => hmac::HMAC_SHA256,
            Algorithm::Sha512 => hmac::HMAC_SHA512,
        }
    }
}

/// The secret and parameters of one OTP generator.
pub struct OtpKey {
    seed: Zeroizing<Vec<u8>>,
    key: hmac::Key,
    pub algorithm: Algorithm,
    pub digits: u32,
}

impl OtpKey {
    /// `digits` must be 6 to 10 (RFC 4226 allows 6–9 plus the 10 of some tokens; fewer is unsafe).
    pub fn new(seed: &[u8], algorithm: Algorithm, digits: u32) -> Result<Self, CryptoError> {
        if !(6..=10).contains(&digits) {
            return Err(CryptoError::Key("OTP codes have 6 to 10 digits"));
        }
        if seed.len() < 16 {
            return Err(CryptoError::Key("OTP seeds have at least 128 bits (RFC 4226 section 4)"));
        }
        Ok(OtpKey {
            seed: Zeroizing::new(seed.to_vec()),
            key: hmac::Key::new(algorithm.ring(), seed),
            algorithm,
            digits,
        })
    }

    pub fn seed(&self) -> &[u8] {
        &self.seed
    }

    /// HOTP value for `counter`, as a number (left-pad with zeros to `digits` to show it).
    pub fn hotp(&self, counter: u64) -> u64 {
        let tag = hmac::sign(&self.key, &counter.to_be_bytes());
        let mac = tag.as_ref();
        let offset = usize::from(mac[mac.len() - 1] & 0x0f);
        let bin = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
        u64::from(bin) % 10u64.pow(self.digits)
    }

    /// The code for `counter` as the user sees it.
    pub fn code(&self, counter: u64) -> String {
        format!("{:0width$}", self.hotp(counter), width = self.digits as usize)
    }

    /// Whether `code` is the code for `counter`, compared in constant time.
    pub fn matches(&self, counter: u64, code: &str) -> bool {
        crate::ct_eq(self.code(counter).as_bytes(), code.as_bytes())
    }
}

/// The TOTP time step of `unix_seconds` (T0 = 0). 64-bit throughout, so dates after 2038 work.
pub fn totp_step(unix_seconds: i64, period: u32) -> i64 {
    unix_seconds.div_euclid(i64::from(period.max(1)))
}

/// Base32 (RFC 4648) without padding, as the key URI wants it.
pub fn base32(seed: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(data_encoding::BASE32_NOPAD.encode(seed))
}

/// Decode Base32 with or without padding, ignoring spaces and case.
pub fn from_base32(text: &str) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let clean: Zeroizing<String> =
        Zeroizing::new(text.chars().filter(|c| !c.is_whitespace() && *c != '=').collect::<String>().to_uppercase());
    data_encoding::BASE32_NOPAD
        .decode(clean.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Format { what: "Base32 secret", why: "not Base32".into() })
}

/// What a key URI describes.
pub enum UriKind {
    Totp { period: u32 },
    Hotp { counter: u64 },
}

/// The `otpauth://` URI for an authenticator app (Google's "Key Uri Format"): issuer in the label
/// and as a parameter, secret in Base32 without padding.
pub fn key_uri(issuer: &str, account: &str, key: &OtpKey, kind: UriKind) -> Zeroizing<String> {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.replace(':', "").as_bytes()).collect::<String>();
    let issuer_enc = enc(issuer).replace('+', "%20");
    let account_enc = enc(account).replace('+', "%20");
    let (type_, extra) = match kind {
        UriKind::Totp { period } => ("totp", format!("period={period}")),
        UriKind::Hotp { counter } => ("hotp", format!("counter={counter}")),
    };
    Zeroizing::new(format!(
        "otpauth://{type_}/{issuer_enc}:{account_enc}?secret={}&issuer={issuer_enc}&algorithm={}&digits={}&{extra}",
        base32(key.seed()).as_str(),
        key.algorithm.as_str(),
        key.digits,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED20: &[u8] = b"12345678901234567890";
    const SEED32: &[u8] = b"12345678901234567890123456789012";
    const SEED64: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    #[test]
    fn rfc4226_appendix_d() {
        let key = OtpKey::new(SEED20, Algorithm::Sha1, 6).unwrap();
        let want = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
        for (counter, code) in want.iter().enumerate() {
            assert_eq!(key.code(counter as u64), *code, "counter {counter}");
            assert!(key.matches(counter as u64, code));
            assert!(!key.matches(counter as u64 + 1, code));
        }
    }

    #[test]
    fn rfc6238_appendix_b_each_hash_with_its_own_seed() {
        let rows: [(i64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        let sha1 = OtpKey::new(SEED20, Algorithm::Sha1, 8).unwrap();
        let sha256 = OtpKey::new(SEED32, Algorithm::Sha256, 8).unwrap();
        let sha512 = OtpKey::new(SEED64, Algorithm::Sha512, 8).unwrap();
        for (time, c1, c256, c512) in rows {
            let step = totp_step(time, 30) as u64;
            assert_eq!(sha1.code(step), c1, "SHA1 at {time}");
            assert_eq!(sha256.code(step), c256, "SHA256 at {time}");
            assert_eq!(sha512.code(step), c512, "SHA512 at {time}");
        }
        // The classic mistake: the 20-byte seed with the longer hashes gives other codes.
        assert_eq!(OtpKey::new(SEED20, Algorithm::Sha256, 8).unwrap().code(1), "32247374");
        assert_eq!(OtpKey::new(SEED20, Algorithm::Sha512, 8).unwrap().code(1), "69342147");
    }

    #[test]
    fn key_uri_has_unpadded_base32_and_issuer() {
        let key = OtpKey::new(SEED20, Algorithm::Sha1, 6).unwrap();
        let uri = key_uri("Haven", "alice@example.org", &key, UriKind::Totp { period: 30 });
        assert_eq!(
            uri.as_str(),
            "otpauth://totp/Haven:alice%40example.org?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Haven&algorithm=SHA1&digits=6&period=30"
        );
        let key = OtpKey::new(SEED32, Algorithm::Sha256, 6).unwrap();
        assert!(
            key_uri("Haven", "a", &key, UriKind::Hotp { counter: 0 })
                .contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA&")
        );
        assert_eq!(from_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap().as_slice(), SEED20);
        assert!(from_base32("not base32!").is_err());
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(OtpKey::new(SEED20, Algorithm::Sha1, 5).is_err());
        assert!(OtpKey::new(b"short", Algorithm::Sha1, 6).is_err());
        assert_eq!(totp_step(-1, 30), -1);
    }
}
