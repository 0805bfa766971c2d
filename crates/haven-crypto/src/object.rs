//! The sealed object format: how every blob Haven stores is encrypted.
//!
//! ```text
//! header  = "HVNOBJ1\0" ‖ segment size (u32 BE) ‖ reserved (u32, 0) ‖ object id (16 bytes)   32 bytes
//! segment = AES-256-GCM(object key, nonce = index (u64 BE) ‖ 0 0 0 ‖ final flag, aad = header)
//! ```
//! Every segment but the last holds exactly `segment size` bytes of plaintext; the last holds the
//! rest (possibly none) and is sealed with the final flag. Because the nonce carries the segment's
//! index and finality and the associated data carries the object id, reordering, dropping,
//! duplicating or swapping segments, truncating at a segment boundary, and moving a blob under
//! another object's row are all detected. Each object has its own random key, so nonces never repeat
//! under a key. This is the STREAM construction used by age and Tink, written here because the
//! key hierarchy (object key wrapped by project key) and the id binding are Haven's own.
//!
//! Both directions are incremental state machines: memory stays at one segment however large the
//! object is. [`Opener`] releases a segment's plaintext only after its tag verified, but a caller
//! must still treat the object as valid only once [`Opener::finish`] succeeds.

use ring::aead::{Aad, LessSafeKey, Nonce};

use crate::{CryptoError, keys::Key256};

pub const MAGIC: &[u8; 8] = b"HVNOBJ1\0";
pub const HEADER_LEN: usize = 32;
pub const TAG_LEN: usize = 16;
pub const DEFAULT_SEGMENT: usize = 64 * 1024;
const MAX_SEGMENT: usize = 16 * 1024 * 1024;

fn nonce(index: u64, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

/// The size of the sealed form of `plain_len` bytes.
pub fn sealed_len(plain_len: u64, segment: usize) -> u64 {
    let seg = segment as u64;
    let segments = plain_len / seg + 1 - u64::from(plain_len.is_multiple_of(seg) && plain_len > 0);
    HEADER_LEN as u64 + plain_len + segments * TAG_LEN as u64
}

pub fn header(object_id: &[u8; 16], segment: usize) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&(segment as u32).to_be_bytes());
    h[16..32].copy_from_slice(object_id);
    h
}

/// Move a finished segment from `pending` to `out`. When the caller has drained `out`, the buffer
/// itself is handed over (no copy) and `pending` gets a fresh one.
fn deliver(pending: &mut Vec<u8>, out: &mut Vec<u8>, capacity: usize) {
    if out.is_empty() {
        std::mem::swap(out, pending);
        pending.reserve(capacity);
    } else {
        out.extend_from_slice(pending);
    }
    pending.clear();
}

/// Seals a stream of plaintext into segments.
pub struct Sealer {
    key: LessSafeKey,
    header: [u8; HEADER_LEN],
    segment: usize,
    index: u64,
    pending: Vec<u8>,
}

impl Sealer {
    /// Returns the sealer and the header to write first.
    pub fn new(key: &Key256, object_id: &[u8; 16], segment: usize) -> Result<(Self, [u8; HEADER_LEN]), CryptoError> {
        if segment == 0 || segment > MAX_SEGMENT {
            return Err(CryptoError::Format {
                what: "segment size",
                why: format!("{segment} is outside 1..={MAX_SEGMENT}"),
            });
        }
        let header = header(object_id, segment);
        let sealer =
            Sealer { key: key.aead()?, header, segment, index: 0, pending: Vec::with_capacity(segment + TAG_LEN) };
        Ok((sealer, header))
    }

    fn seal_pending(&mut self, last: bool, out: &mut Vec<u8>) -> Result<(), CryptoError> {
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce(self.index, last), Aad::from(&self.header), &mut self.pending)
            .map_err(|_| CryptoError::Authentication)?;
        self.index += 1;
        self.pending.extend_from_slice(tag.as_ref());
        deliver(&mut self.pending, out, self.segment + TAG_LEN);
        Ok(())
    }

    /// Absorb `input`, appending every segment that is now known not to be the last to `out`.
    /// Copies each plaintext byte once; drain `out` between calls (as the blob store does) and
    /// sealed segments are handed over without a second copy.
    pub fn update(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        while !input.is_empty() {
            if self.pending.len() == self.segment {
                self.seal_pending(false, out)?;
            }
            let take = (self.segment - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
        }
        Ok(())
    }

    /// Seal a full segment the caller filled itself, in place (no copy): `buf` holds exactly one
    /// segment of plaintext and gets its tag appended. Use only while no bytes are pending.
    pub fn seal_full_in_place(&mut self, buf: &mut Vec<u8>) -> Result<(), CryptoError> {
        if !self.pending.is_empty() {
            return Err(CryptoError::Format { what: "segment", why: "bytes are pending".into() });
        }
        let tag = self.seal_segment_slice(buf)?;
        buf.extend_from_slice(&tag);
        Ok(())
    }

    /// Seal one non-final segment in place in `seg` (exactly one segment long), returning its tag.
    /// For benchmarks and callers that keep ciphertext and tags apart.
    pub fn seal_segment_slice(&mut self, seg: &mut [u8]) -> Result<[u8; TAG_LEN], CryptoError> {
        if seg.len() != self.segment {
            return Err(CryptoError::Format { what: "segment", why: "not a whole segment".into() });
        }
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce(self.index, false), Aad::from(&self.header), seg)
            .map_err(|_| CryptoError::Authentication)?;
        self.index += 1;
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Seal the final segment.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), CryptoError> {
        self.seal_pending(true, out)
    }
}

/// Opens a sealed stream, segment by segment.
pub struct Opener {
    key: LessSafeKey,
    header: [u8; HEADER_LEN],
    have_header: usize,
    segment: usize,
    index: u64,
    pending: Vec<u8>,
    expected_id: [u8; 16],
}

impl Opener {
    /// `object_id` is the id the caller expects: a blob sealed for another object is refused.
    pub fn new(key: &Key256, object_id: &[u8; 16]) -> Result<Self, CryptoError> {
        Ok(Opener {
            key: key.aead()?,
            header: [0u8; HEADER_LEN],
            have_header: 0,
            segment: 0,
            index: 0,
            pending: Vec::new(),
            expected_id: *object_id,
        })
    }

    fn parse_header(&mut self) -> Result<(), CryptoError> {
        let bad = |why: &str| CryptoError::Format { what: "object header", why: why.to_string() };
        if &self.header[..8] != MAGIC {
            return Err(bad("not a Haven sealed object"));
        }
        let seg = u32::from_be_bytes([self.header[8], self.header[9], self.header[10], self.header[11]]) as usize;
        if seg == 0 || seg > MAX_SEGMENT || self.header[12..16] != [0, 0, 0, 0] {
            return Err(bad("bad segment size or reserved field"));
        }
        if self.header[16..32] != self.expected_id {
            return Err(CryptoError::Authentication);
        }
        self.segment = seg;
        self.pending = Vec::with_capacity(seg + TAG_LEN);
        Ok(())
    }

    fn open_pending(&mut self, last: bool, out: &mut Vec<u8>) -> Result<(), CryptoError> {
        let plain_len = self
            .key
            .open_in_place(nonce(self.index, last), Aad::from(&self.header), &mut self.pending)
            .map_err(|_| CryptoError::Authentication)?
            .len();
        self.index += 1;
        self.pending.truncate(plain_len);
        deliver(&mut self.pending, out, self.segment + TAG_LEN);
        Ok(())
    }

    /// Absorb sealed bytes, appending the plaintext of every segment verified so far to `out`.
    pub fn update(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        if self.have_header < HEADER_LEN {
            let take = (HEADER_LEN - self.have_header).min(input.len());
            self.header[self.have_header..self.have_header + take].copy_from_slice(&input[..take]);
            self.have_header += take;
            input = &input[take..];
            if self.have_header < HEADER_LEN {
                return Ok(());
            }
            self.parse_header()?;
        }
        let full = self.segment + TAG_LEN;
        while !input.is_empty() {
            if self.pending.len() == full {
                self.open_pending(false, out)?;
            }
            let take = (full - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
        }
        Ok(())
    }

    /// Open the final segment: fails if the stream was truncated or extended.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), CryptoError> {
        if self.have_header < HEADER_LEN || self.pending.len() < TAG_LEN {
            return Err(CryptoError::Authentication);
        }
        self.open_pending(true, out)
    }
}

/// Seal a whole buffer (small objects and tests).
pub fn seal(key: &Key256, object_id: &[u8; 16], plain: &[u8], segment: usize) -> Result<Vec<u8>, CryptoError> {
    let (mut sealer, header) = Sealer::new(key, object_id, segment)?;
    let mut out = Vec::with_capacity(sealed_len(plain.len() as u64, segment) as usize);
    out.extend_from_slice(&header);
    sealer.update(plain, &mut out)?;
    sealer.finish(&mut out)?;
    Ok(out)
}

/// Open a whole buffer (small objects and tests).
pub fn open(key: &Key256, object_id: &[u8; 16], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut opener = Opener::new(key, object_id)?;
    let mut out = Vec::with_capacity(sealed.len());
    opener.update(sealed, &mut out)?;
    opener.finish(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemRng;
    use proptest::prelude::*;

    fn key() -> Key256 {
        Key256::generate(&SystemRng::new()).unwrap()
    }

    #[test]
    fn sealed_length_matches_formula() {
        let k = key();
        for len in [0usize, 1, 15, 16, 17, 32, 33, 100] {
            let sealed = seal(&k, &[1; 16], &vec![7u8; len], 16).unwrap();
            assert_eq!(sealed.len() as u64, sealed_len(len as u64, 16), "len {len}");
        }
    }

    #[test]
    fn truncation_at_a_segment_boundary_is_detected() {
        let k = key();
        let sealed = seal(&k, &[1; 16], &[9u8; 64], 16).unwrap();
        // header + 3 whole segments: a valid prefix that lacks the final segment
        let cut = HEADER_LEN + 3 * (16 + TAG_LEN);
        assert_eq!(open(&k, &[1; 16], &sealed[..cut]).unwrap_err(), CryptoError::Authentication);
        assert_eq!(open(&k, &[1; 16], &sealed[..HEADER_LEN]).unwrap_err(), CryptoError::Authentication);
    }

    #[test]
    fn reordered_segments_swapped_ids_and_appended_bytes_are_detected() {
        let k = key();
        let sealed = seal(&k, &[1; 16], &(0..64u8).collect::<Vec<_>>(), 16).unwrap();
        let s = 16 + TAG_LEN;
        let mut swapped = sealed.clone();
        let (a, b) = (HEADER_LEN, HEADER_LEN + s);
        let first: Vec<u8> = swapped[a..a + s].to_vec();
        let second: Vec<u8> = swapped[b..b + s].to_vec();
        swapped[a..a + s].copy_from_slice(&second);
        swapped[b..b + s].copy_from_slice(&first);
        assert!(open(&k, &[1; 16], &swapped).is_err());
        assert!(open(&k, &[2; 16], &sealed).is_err());
        let mut longer = sealed.clone();
        longer.push(0);
        assert!(open(&k, &[1; 16], &longer).is_err());
        assert!(open(&key(), &[1; 16], &sealed).is_err());
    }

    #[test]
    fn in_place_sealing_matches_buffered_sealing() {
        let k = key();
        let data: Vec<u8> = (0..48u32).map(|i| i as u8).collect();
        let (mut s, header) = Sealer::new(&k, &[3; 16], 16).unwrap();
        let mut out = header.to_vec();
        for chunk in data[..32].chunks(16) {
            let mut buf = chunk.to_vec();
            s.seal_full_in_place(&mut buf).unwrap();
            out.extend_from_slice(&buf);
        }
        s.update(&data[32..], &mut out).unwrap();
        s.finish(&mut out).unwrap();
        assert_eq!(open(&k, &[3; 16], &out).unwrap(), data);
    }

    proptest! {
        #[test]
        fn round_trip_with_any_chunking(data in proptest::collection::vec(any::<u8>(), 0..400),
                                        seg in 1usize..70, feed in 1usize..97) {
            let k = key();
            let id = [5u8; 16];
            let (mut sealer, header) = Sealer::new(&k, &id, seg).unwrap();
            let mut sealed = header.to_vec();
            for chunk in data.chunks(feed) { sealer.update(chunk, &mut sealed).unwrap(); }
            sealer.finish(&mut sealed).unwrap();
            prop_assert_eq!(sealed.len() as u64, sealed_len(data.len() as u64, seg));
            let mut opener = Opener::new(&k, &id).unwrap();
            let mut plain = Vec::new();
            for chunk in sealed.chunks(feed) { opener.update(chunk, &mut plain).unwrap(); }
            opener.finish(&mut plain).unwrap();
            prop_assert_eq!(plain, data);
        }

        #[test]
        fn opening_arbitrary_bytes_fails_cleanly(junk in proptest::collection::vec(any::<u8>(), 0..300),
                                                 with_header in any::<bool>(), feed in 1usize..50) {
            // Hostile stored blobs: garbage, or garbage behind a well-formed header.
            let k = key();
            let mut input = if with_header { header(&[1; 16], 16).to_vec() } else { Vec::new() };
            input.extend_from_slice(&junk);
            let mut opener = Opener::new(&k, &[1; 16]).unwrap();
            let mut out = Vec::new();
            let mut ok = true;
            for chunk in input.chunks(feed) {
                if opener.update(chunk, &mut out).is_err() { ok = false; break; }
            }
            if ok { ok = opener.finish(&mut out).is_ok(); }
            prop_assert!(!ok, "random bytes never authenticate");
        }

        #[test]
        fn any_single_bit_flip_is_detected(len in 0usize..100, pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let k = key();
            let mut sealed = seal(&k, &[1; 16], &vec![0xAB; len], 16).unwrap();
            let i = pos.index(sealed.len());
            sealed[i] ^= 1 << bit;
            prop_assert!(open(&k, &[1; 16], &sealed).is_err());
        }
    }
}
