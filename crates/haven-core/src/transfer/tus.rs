//! The tus 1.0.0 resumable-upload protocol's headers (tus.io `protocol.md`), parsed and written
//! in one place. A header that breaks the protocol is a [`TusError`] naming what was wrong, and
//! the status the protocol gives it; nothing here touches storage.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;
use time::macros::format_description;

/// The one protocol version spoken (`Tus-Resumable`, `Tus-Version`).
pub const VERSION: &str = "1.0.0";
/// The extensions offered (`Tus-Extension`). Not `concatenation`: parts of one file uploaded in
/// parallel would each need scanning and sealing as a whole, for a speed the link rarely has.
pub const EXTENSIONS: &str = "creation,creation-with-upload,creation-defer-length,expiration,checksum,termination";
/// The checksum algorithms accepted (`Tus-Checksum-Algorithm`).
pub const CHECKSUM_ALGORITHMS: &str = "sha1,sha256";
/// The content type of an upload's bytes.
pub const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
/// The status of a body whose checksum does not match (tus checksum extension).
pub const CHECKSUM_MISMATCH: u16 = 460;

/// The longest `Upload-Metadata` accepted, and the most pairs in it.
const MAX_METADATA_BYTES: usize = 4096;
const MAX_METADATA_PAIRS: usize = 32;

/// A header that breaks the protocol: the status to answer with and what to tell the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TusError {
    pub status: u16,
    pub message: String,
}

impl TusError {
    fn bad(message: impl Into<String>) -> TusError {
        TusError { status: 400, message: message.into() }
    }
}

impl std::fmt::Display for TusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TusError {}

/// `Tus-Resumable` must name [`VERSION`] (412 otherwise; the answer then carries `Tus-Version`).
pub fn check_version(header: Option<&str>) -> Result<(), TusError> {
    match header.map(str::trim) {
        Some(VERSION) => Ok(()),
        Some(other) => {
            Err(TusError { status: 412, message: format!("Tus-Resumable {other} is not supported: use {VERSION}") })
        }
        None => Err(TusError { status: 412, message: format!("send Tus-Resumable: {VERSION}") }),
    }
}

/// A non-negative byte count or offset: digits only, no sign, no spaces inside.
pub fn parse_size(name: &str, header: &str) -> Result<u64, TusError> {
    let v = header.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TusError::bad(format!("{name} must be a whole number of bytes, not {v:?}")));
    }
    v.parse().map_err(|_| TusError::bad(format!("{name} {v} is too large")))
}

/// How long an upload will be, from a creation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    Known(u64),
    /// `Upload-Defer-Length: 1`: the length comes with a later PATCH.
    Deferred,
}

/// The length of a new upload from its `Upload-Length` and `Upload-Defer-Length` headers:
/// exactly one of them, and the deferral only as `1`.
pub fn creation_length(length: Option<&str>, defer: Option<&str>) -> Result<Length, TusError> {
    match (length, defer.map(str::trim)) {
        (Some(l), None) => Ok(Length::Known(parse_size("Upload-Length", l)?)),
        (None, Some("1")) => Ok(Length::Deferred),
        (None, Some(other)) => Err(TusError::bad(format!("Upload-Defer-Length must be 1, not {other:?}"))),
        (Some(_), Some(_)) => Err(TusError::bad("send Upload-Length or Upload-Defer-Length: 1, not both")),
        (None, None) => {
            Err(TusError::bad("send Upload-Length (or Upload-Defer-Length: 1 if the size is not known yet)"))
        }
    }
}

/// `Upload-Metadata`: comma-separated `key base64value` pairs (the value may be left out). Keys
/// are non-empty, unique, printable ASCII without spaces or commas; values are bytes.
pub fn parse_metadata(header: &str) -> Result<Vec<(String, Vec<u8>)>, TusError> {
    if header.len() > MAX_METADATA_BYTES {
        return Err(TusError::bad(format!("Upload-Metadata is longer than {MAX_METADATA_BYTES} bytes")));
    }
    let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
    for item in header.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let mut parts = item.split(' ').filter(|p| !p.is_empty());
        let key = parts.next().unwrap_or_default();
        let value = parts.next();
        if parts.next().is_some() {
            return Err(TusError::bad(format!("Upload-Metadata: {key:?} has more than one value")));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TusError::bad(format!("Upload-Metadata: the key {key:?} must be printable ASCII")));
        }
        if pairs.iter().any(|(k, _)| k == key) {
            return Err(TusError::bad(format!("Upload-Metadata: the key {key} is given twice")));
        }
        let bytes = match value {
            None => Vec::new(),
            Some(v) => STANDARD
                .decode(v)
                .map_err(|_| TusError::bad(format!("Upload-Metadata: the value of {key} is not base64")))?,
        };
        pairs.push((key.to_string(), bytes));
        if pairs.len() > MAX_METADATA_PAIRS {
            return Err(TusError::bad(format!("Upload-Metadata has more than {MAX_METADATA_PAIRS} keys")));
        }
    }
    Ok(pairs)
}

/// `Upload-Metadata` for `pairs`, as a HEAD answer echoes it.
pub fn write_metadata(pairs: &[(String, Vec<u8>)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| if v.is_empty() { k.clone() } else { format!("{k} {}", STANDARD.encode(v)) })
        .collect::<Vec<_>>()
        .join(",")
}

/// A checksum algorithm the checksum extension offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
}

impl Algorithm {
    /// The digest's length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
        }
    }
}

/// `Upload-Checksum: <algorithm> <base64 digest>` of one request's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algorithm: Algorithm,
    pub digest: Vec<u8>,
}

/// Parse `Upload-Checksum`; an algorithm not offered is a 400, as the extension says.
pub fn parse_checksum(header: &str) -> Result<Checksum, TusError> {
    let mut parts = header.trim().splitn(2, ' ');
    let (name, digest) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default().trim());
    let algorithm = match name.to_ascii_lowercase().as_str() {
        "sha1" => Algorithm::Sha1,
        "sha256" => Algorithm::Sha256,
        other => {
            return Err(TusError::bad(format!("Upload-Checksum: {other:?} is not offered; use {CHECKSUM_ALGORITHMS}")));
        }
    };
    let digest = STANDARD
        .decode(digest)
        .ok()
        .filter(|d| d.len() == algorithm.digest_len())
        .ok_or_else(|| TusError::bad(format!("Upload-Checksum: give the {name} digest of the body in base64")))?;
    Ok(Checksum { algorithm, digest })
}

/// The method a request means: `X-HTTP-Method-Override` on a POST (for clients behind proxies
/// that allow only GET and POST), else its own.
pub fn effective_method<'a>(method: &'a str, method_override: Option<&'a str>) -> &'a str {
    match method_override.map(str::trim) {
        Some(m) if method.eq_ignore_ascii_case("POST") && !m.is_empty() => m,
        _ => method,
    }
}

/// `Upload-Expires`: an HTTP date (IMF-fixdate, RFC 9110 §5.6.7), always in GMT.
pub fn http_date(at: OffsetDateTime) -> String {
    let utc = at.to_offset(time::UtcOffset::UTC);
    let format =
        format_description!("[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT");
    utc.format(format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_must_be_1_0_0() {
        assert!(check_version(Some("1.0.0")).is_ok());
        assert_eq!(check_version(Some("0.2.2")).unwrap_err().status, 412);
        assert_eq!(check_version(None).unwrap_err().status, 412);
    }

    #[test]
    fn sizes_are_plain_digits() {
        assert_eq!(parse_size("Upload-Offset", "0"), Ok(0));
        assert_eq!(parse_size("Upload-Offset", " 1048576 "), Ok(1_048_576));
        for bad in ["-1", "+5", "1e3", "", "0x10", "1 2", "99999999999999999999999"] {
            assert_eq!(parse_size("Upload-Offset", bad).unwrap_err().status, 400, "{bad:?}");
        }
    }

    #[test]
    fn a_creation_names_its_length_or_defers_it() {
        assert_eq!(creation_length(Some("10"), None), Ok(Length::Known(10)));
        assert_eq!(creation_length(None, Some("1")), Ok(Length::Deferred));
        for (l, d) in [(None, Some("0")), (None, Some("yes")), (Some("10"), Some("1")), (None, None)] {
            assert_eq!(creation_length(l, d).unwrap_err().status, 400, "{l:?} {d:?}");
        }
    }

    #[test]
    fn metadata_round_trips_and_bad_metadata_is_refused() {
        // The example of the protocol document.
        let parsed = parse_metadata("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential").unwrap();
        assert_eq!(parsed[0], ("filename".to_string(), b"world_domination_plan.pdf".to_vec()));
        assert_eq!(parsed[1], ("is_confidential".to_string(), Vec::new()));
        assert_eq!(parse_metadata(&write_metadata(&parsed)).unwrap(), parsed);
        assert!(parse_metadata("").unwrap().is_empty());
        for bad in ["a x,a y", "name !!!", "a b c", "k\u{e9}y dmFs", &"k dmFs,".repeat(2000)] {
            assert_eq!(parse_metadata(bad).unwrap_err().status, 400, "{bad:?}");
        }
    }

    #[test]
    fn checksums_name_an_offered_algorithm_and_a_digest_of_its_length() {
        let sha1 = parse_checksum("sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=").unwrap();
        assert_eq!((sha1.algorithm, sha1.digest.len()), (Algorithm::Sha1, 20));
        let sha256 = parse_checksum("sha256 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=").unwrap();
        assert_eq!(sha256.algorithm, Algorithm::Sha256);
        for bad in ["md5 1B2M2Y8AsgTpgAmY7PhCfg==", "sha1", "sha1 !!!", "sha256 Kq5sNclPz7QV2+lfQIuc6R7oRu0="] {
            assert_eq!(parse_checksum(bad).unwrap_err().status, 400, "{bad:?}");
        }
    }

    #[test]
    fn a_post_may_say_it_means_another_method() {
        assert_eq!(effective_method("POST", Some("PATCH")), "PATCH");
        assert_eq!(effective_method("POST", Some("DELETE")), "DELETE");
        assert_eq!(effective_method("POST", None), "POST");
        assert_eq!(effective_method("GET", Some("DELETE")), "GET", "only a POST is overridden");
    }

    #[test]
    fn expiry_is_an_http_date() {
        let t = OffsetDateTime::from_unix_timestamp(1_403_712_000).unwrap();
        assert_eq!(http_date(t), "Wed, 25 Jun 2014 16:00:00 GMT");
    }
}
