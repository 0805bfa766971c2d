//! How one Haven node vouches to another for a request it forwards (a request for a session the
//! other runs): a tag over what it says of the request (the client's address, when, the method
//! and path), with a key both derive from the master key every node holds. The receiving node
//! believes the client's address only with a tag that checks, so nodes need not trust each
//! other's network addresses.

use crate::keys::Key256;

/// The key for forwarding tags, derived from the master key (HMAC-SHA256 as a PRF, with a label
/// of its own: no other use of the master key shares it).
pub fn forwarding_key(master: &Key256) -> zeroize::Zeroizing<[u8; 32]> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, master.expose());
    let tag = ring::hmac::sign(&key, b"haven/peer-forwarding/v1");
    let mut out = zeroize::Zeroizing::new([0u8; 32]);
    out.copy_from_slice(tag.as_ref());
    out
}

fn message(client: &str, at_secs: i64, method: &str, path: &str) -> Vec<u8> {
    format!("v1\n{client}\n{at_secs}\n{method}\n{path}").into_bytes()
}

/// The tag for a forwarded request.
pub fn sign(key: &[u8; 32], client: &str, at_secs: i64, method: &str, path: &str) -> [u8; 32] {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let tag = ring::hmac::sign(&key, &message(client, at_secs, method, path));
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Whether `tag` is the tag for this request (compared in constant time).
pub fn verify(key: &[u8; 32], client: &str, at_secs: i64, method: &str, path: &str, tag: &[u8]) -> bool {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    ring::hmac::verify(&key, &message(client, at_secs, method, path), tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_checks_only_for_what_it_was_made_for() {
        let master = Key256::from_bytes(&[7; 32]).unwrap();
        let key = forwarding_key(&master);
        let other = forwarding_key(&Key256::from_bytes(&[8; 32]).unwrap());
        let tag = sign(&key, "203.0.113.5", 100, "GET", "/apps/sessions/x/terminal");
        assert!(verify(&key, "203.0.113.5", 100, "GET", "/apps/sessions/x/terminal", &tag));
        assert!(!verify(&key, "203.0.113.6", 100, "GET", "/apps/sessions/x/terminal", &tag));
        assert!(!verify(&key, "203.0.113.5", 101, "GET", "/apps/sessions/x/terminal", &tag));
        assert!(!verify(&key, "203.0.113.5", 100, "POST", "/apps/sessions/x/terminal", &tag));
        assert!(!verify(&key, "203.0.113.5", 100, "GET", "/apps/sessions/y/terminal", &tag));
        assert!(!verify(&other, "203.0.113.5", 100, "GET", "/apps/sessions/x/terminal", &tag));
        assert_ne!(*key, *master.expose(), "derived, not the master key itself");
    }
}
