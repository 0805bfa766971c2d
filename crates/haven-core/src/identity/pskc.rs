//! Reading hardware-token seed files in PSKC (RFC 6030): plain values, or values encrypted with a
//! pre-shared AES key and authenticated with the file's MAC key. A file is taken whole or refused
//! whole: any bad MAC, unknown algorithm, unknown policy element or malformed value refuses it,
//! and the error names the key package and what was wrong.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use haven_crypto::otp::Algorithm;
use haven_crypto::pskc_cipher::{MacAlgorithm, aes_cbc_decrypt, hmac_verify};
use roxmltree::{Document, Node};
use zeroize::Zeroizing;

use super::records::OtpKind;
use crate::CoreError;

const PSKC_NS: &str = "urn:ietf:params:xml:ns:keyprov:pskc";
const XENC_NS: &str = "http://www.w3.org/2001/04/xmlenc#";
const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// Largest file accepted (a few thousand tokens).
pub const MAX_PSKC_BYTES: usize = 8 * 1024 * 1024;
const KNOWN_POLICY: &[&str] = &["StartDate", "ExpiryDate", "PINPolicy", "KeyUsage", "NumberOfTransactions"];

/// One token from the file, its seed in memory only until it is sealed.
pub struct ImportedKey {
    pub serial: String,
    pub kind: OtpKind,
    pub algorithm: Algorithm,
    pub digits: u32,
    pub period: u32,
    pub counter: i64,
    pub secret: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ImportedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportedKey").field("serial", &self.serial).field("kind", &self.kind).finish_non_exhaustive()
    }
}

fn refuse(message: impl Into<String>) -> CoreError {
    CoreError::invalid("pskc", format!("the PSKC file was refused and nothing was imported: {}", message.into()))
}

fn child<'a, 'i>(node: Node<'a, 'i>, ns: &str, name: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|c| c.is_element() && c.tag_name().name() == name && c.tag_name().namespace() == Some(ns))
}

fn text<'a>(node: Node<'a, '_>) -> &'a str {
    node.text().unwrap_or_default().trim()
}

fn b64(value: &str, what: &str) -> Result<Zeroizing<Vec<u8>>, CoreError> {
    let clean: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(clean).map(Zeroizing::new).map_err(|_| refuse(format!("{what} is not valid base64")))
}

/// A decrypted value and the ciphertext its MAC covers.
type Decrypted = (Zeroizing<Vec<u8>>, Zeroizing<Vec<u8>>);

/// Decrypt an `<EncryptedValue>` (or a `<MACKey>`, same shape) with the pre-shared key.
fn decrypt(node: Node<'_, '_>, key: Option<&[u8]>, what: &str) -> Result<Decrypted, CoreError> {
    let method = child(node, XENC_NS, "EncryptionMethod")
        .and_then(|m| m.attribute("Algorithm"))
        .ok_or_else(|| refuse(format!("{what} has no EncryptionMethod")))?;
    let expected = match method {
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => 16,
        "http://www.w3.org/2001/04/xmlenc#aes192-cbc" => 24,
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => 32,
        other => {
            return Err(refuse(format!(
                "{what} uses the encryption algorithm {other}, which Haven does not support (AES-CBC only)"
            )));
        }
    };
    let key = key.ok_or_else(|| refuse("the file is encrypted: give the pre-shared key (--key-file)"))?;
    if key.len() != expected {
        return Err(refuse(format!(
            "{what} needs a {}-bit key but the pre-shared key has {} bits",
            expected * 8,
            key.len() * 8
        )));
    }
    let cipher = child(node, XENC_NS, "CipherData")
        .and_then(|d| child(d, XENC_NS, "CipherValue"))
        .ok_or_else(|| refuse(format!("{what} has no CipherValue")))?;
    let ciphertext = b64(text(cipher), what)?;
    let plain = aes_cbc_decrypt(key, &ciphertext).map_err(|e| refuse(format!("{what}: {e}")))?;
    Ok((plain, ciphertext))
}

/// Parse a PSKC file. `psk` is the pre-shared key for encrypted files.
pub fn parse(xml: &str, psk: Option<&[u8]>) -> Result<Vec<ImportedKey>, CoreError> {
    if xml.len() > MAX_PSKC_BYTES {
        return Err(refuse(format!("the file is larger than {} MiB", MAX_PSKC_BYTES / 1024 / 1024)));
    }
    let options = roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: 1_000_000, ..Default::default() };
    let doc =
        Document::parse_with_options(xml, options).map_err(|e| refuse(format!("it is not well-formed XML ({e})")))?;
    let root = doc.root_element();
    if root.tag_name().name() != "KeyContainer" || root.tag_name().namespace() != Some(PSKC_NS) {
        return Err(refuse("the root element is not a PSKC KeyContainer"));
    }
    if root.attribute("Version") != Some("1.0") {
        return Err(refuse("only PSKC version 1.0 is supported"));
    }
    if let Some(enc) = child(root, PSKC_NS, "EncryptionKey")
        && child(enc, DS_NS, "KeyName").is_none()
    {
        return Err(refuse("only pre-shared-key encryption is supported (not password-derived or asymmetric keys)"));
    }
    let mac = match child(root, PSKC_NS, "MACMethod") {
        None => None,
        Some(m) => {
            let uri = m.attribute("Algorithm").unwrap_or_default();
            let alg =
                MacAlgorithm::from_uri(uri).ok_or_else(|| refuse(format!("the MAC algorithm {uri} is unknown")))?;
            let key_node = child(m, PSKC_NS, "MACKey").ok_or_else(|| refuse("MACMethod has no MACKey"))?;
            Some((alg, decrypt(key_node, psk, "the MAC key")?.0))
        }
    };
    let mut keys = Vec::new();
    for (i, package) in root.children().filter(|c| c.is_element() && c.tag_name().name() == "KeyPackage").enumerate() {
        keys.push(parse_package(package, i + 1, psk, mac.as_ref())?);
    }
    if keys.is_empty() {
        return Err(refuse("it holds no KeyPackage"));
    }
    let mut serials: Vec<&str> = keys.iter().map(|k| k.serial.as_str()).collect();
    serials.sort_unstable();
    if let Some(w) = serials.windows(2).find(|w| w[0] == w[1]) {
        return Err(refuse(format!("the serial {} appears twice", w[0])));
    }
    Ok(keys)
}

fn parse_package(
    package: Node<'_, '_>,
    n: usize,
    psk: Option<&[u8]>,
    mac: Option<&(MacAlgorithm, Zeroizing<Vec<u8>>)>,
) -> Result<ImportedKey, CoreError> {
    let at = |m: String| refuse(format!("key package {n}: {m}"));
    let key = child(package, PSKC_NS, "Key").ok_or_else(|| at("no Key element".into()))?;
    let serial = child(package, PSKC_NS, "DeviceInfo")
        .and_then(|d| child(d, PSKC_NS, "SerialNo"))
        .map(text)
        .filter(|s| !s.is_empty())
        .or_else(|| key.attribute("Id"))
        .ok_or_else(|| at("no serial number (DeviceInfo/SerialNo or Key Id)".into()))?;
    if serial.len() > 64 || !serial.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')) {
        return Err(at(format!("the serial {serial:?} has characters Haven does not accept")));
    }
    let at = |m: String| refuse(format!("key package {n} (serial {serial}): {m}"));
    let algorithm_uri = key.attribute("Algorithm").unwrap_or_default();
    let kind = match algorithm_uri.rsplit(':').next() {
        Some("hotp") => OtpKind::Hotp,
        Some("totp") => OtpKind::Totp,
        _ => return Err(at(format!("the key algorithm {algorithm_uri:?} is unknown (HOTP and TOTP only)"))),
    };
    let params = child(key, PSKC_NS, "AlgorithmParameters");
    let algorithm = match params.and_then(|p| child(p, PSKC_NS, "Suite")).map(text) {
        None | Some("") => Algorithm::Sha1,
        Some(s) => Algorithm::parse(s).ok_or_else(|| at(format!("the hash suite {s:?} is unknown")))?,
    };
    let format = params.and_then(|p| child(p, PSKC_NS, "ResponseFormat"));
    let digits = match format.and_then(|f| f.attribute("Length")) {
        None => 6,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|d| (6..=10).contains(d))
            .ok_or_else(|| at(format!("response length {l:?} is not 6 to 10")))?,
    };
    if let Some(enc) = format.and_then(|f| f.attribute("Encoding"))
        && enc != "DECIMAL"
    {
        return Err(at(format!("response encoding {enc} is not supported (DECIMAL only)")));
    }
    if let Some(policy) = child(key, PSKC_NS, "Policy") {
        for element in policy.children().filter(Node::is_element) {
            let name = element.tag_name().name();
            if !KNOWN_POLICY.contains(&name) {
                return Err(at(format!(
                    "the policy element {name} is unknown, so the key must not be used (RFC 6030 section 5)"
                )));
            }
            if name == "KeyUsage" && text(element) != "OTP" {
                return Err(at(format!("key usage {} is not OTP", text(element))));
            }
        }
    }
    let data = child(key, PSKC_NS, "Data").ok_or_else(|| at("no Data element".into()))?;
    let secret_node = child(data, PSKC_NS, "Secret").ok_or_else(|| at("no Secret".into()))?;
    let secret = if let Some(plain) = child(secret_node, PSKC_NS, "PlainValue") {
        b64(text(plain), "the secret")?
    } else if let Some(encrypted) = child(secret_node, PSKC_NS, "EncryptedValue") {
        let (plain, ciphertext) = decrypt(encrypted, psk, "the secret").map_err(|e| at(e.to_string()))?;
        let (alg, mac_key) = mac.ok_or_else(|| at("the secret is encrypted but the file has no MACMethod".into()))?;
        let value_mac =
            child(secret_node, PSKC_NS, "ValueMAC").ok_or_else(|| at("the encrypted secret has no ValueMAC".into()))?;
        if !hmac_verify(*alg, mac_key, &ciphertext, &b64(text(value_mac), "ValueMAC")?) {
            return Err(at("the MAC of the secret does not match: the file was altered or the key is wrong".into()));
        }
        plain
    } else {
        return Err(at("the secret has neither PlainValue nor EncryptedValue".into()));
    };
    if secret.len() < 16 || secret.len() > 64 {
        return Err(at(format!("the secret has {} bytes (16 to 64 expected)", secret.len())));
    }
    let number = |name: &str| -> Result<Option<i64>, CoreError> {
        match child(data, PSKC_NS, name).and_then(|c| child(c, PSKC_NS, "PlainValue")) {
            None => Ok(None),
            Some(v) => text(v).parse::<i64>().map(Some).map_err(|_| at(format!("{name} is not a whole number"))),
        }
    };
    let counter = number("Counter")?.unwrap_or(0);
    let period = number("TimeInterval")?.unwrap_or(30);
    if counter < 0 || !(10..=120).contains(&period) {
        return Err(at("the counter is negative or the time interval is not 10 to 120 seconds".into()));
    }
    Ok(ImportedKey { serial: serial.to_string(), kind, algorithm, digits, period: period as u32, counter, secret })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc">
  <KeyPackage>
    <DeviceInfo><Manufacturer>Manufacturer</Manufacturer><SerialNo>987654321</SerialNo></DeviceInfo>
    <Key Id="12345678" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:hotp">
      <Issuer>Issuer-A</Issuer>
      <AlgorithmParameters><ResponseFormat Length="8" Encoding="DECIMAL"/></AlgorithmParameters>
      <Data>
        <Secret><PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</PlainValue></Secret>
        <Counter><PlainValue>0</PlainValue></Counter>
      </Data>
    </Key>
  </KeyPackage>
</KeyContainer>"#;

    #[test]
    fn a_plain_file_is_read() {
        let keys = parse(PLAIN, None).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].serial, "987654321");
        assert_eq!(keys[0].kind, OtpKind::Hotp);
        assert_eq!(keys[0].digits, 8);
        assert_eq!(keys[0].secret.as_slice(), b"12345678901234567890");
    }

    #[test]
    fn bad_files_are_refused_whole_with_a_reason() {
        let cases = [
            (PLAIN.replace("pskc:hotp", "pskc:ocra"), "unknown"),
            (PLAIN.replace("</Data>", "</Data><Policy><Frobnicate/></Policy>"), "Frobnicate"),
            (PLAIN.replace("MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=", "not base64!"), "base64"),
            (PLAIN.replace("MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=", "MTIz"), "bytes"),
            (PLAIN.replace("Version=\"1.0\"", "Version=\"2.0\""), "version"),
            (PLAIN.replace("</KeyContainer>", ""), "XML"),
            ("<!DOCTYPE x [<!ENTITY a \"b\">]><x/>".to_string(), "XML"),
        ];
        for (xml, needle) in cases {
            let err = parse(&xml, None).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
            assert!(err.contains("nothing was imported"), "{err}");
        }
    }
}
