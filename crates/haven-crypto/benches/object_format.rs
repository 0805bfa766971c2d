//! Sealed-object throughput against this machine's physical limits: raw AES-256-GCM (ring) and
//! SHA-256 over the same 64 KiB segments. The blob store's path is "SHA-256 of the plaintext +
//! seal", so that is measured too.
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use haven_crypto::SystemRng;
use haven_crypto::keys::Key256;
use haven_crypto::object::{DEFAULT_SEGMENT, Opener, Sealer, seal};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

const TOTAL: usize = 16 * 1024 * 1024;

fn bench(c: &mut Criterion) {
    let key = Key256::generate(&SystemRng::new()).unwrap();
    let id = [7u8; 16];
    let data: Vec<u8> = (0..TOTAL).map(|i| (i * 31 % 251) as u8).collect();
    let mut g = c.benchmark_group("object_format_16MiB");
    g.throughput(Throughput::Bytes(TOTAL as u64));
    g.sample_size(20);

    let raw = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key.expose()).unwrap());
    let mut buf = data.clone();
    g.bench_function("raw_aes256gcm_64KiB_in_place", |b| {
        b.iter(|| {
            for (i, seg) in buf.chunks_mut(DEFAULT_SEGMENT).enumerate() {
                let mut n = [0u8; 12];
                n[..8].copy_from_slice(&(i as u64).to_be_bytes());
                let tag = raw.seal_in_place_separate_tag(Nonce::assume_unique_for_key(n), Aad::empty(), seg).unwrap();
                black_box(tag.as_ref()[0]);
            }
        })
    });
    // Our format on a buffer that already holds the plaintext, as the raw figure: the format's own
    // overhead (nonce and associated data per segment), no copy.
    let mut in_place = data.clone();
    let (mut format_only, _) = Sealer::new(&key, &id, DEFAULT_SEGMENT).unwrap();
    g.bench_function("format_seal_in_place_no_copy", |b| {
        b.iter(|| {
            for seg in in_place.chunks_mut(DEFAULT_SEGMENT) {
                black_box(format_only.seal_segment_slice(seg).unwrap());
            }
        })
    });
    g.bench_function("raw_sha256", |b| b.iter(|| black_box(haven_crypto::sha256(&data))));

    let mut out = Vec::with_capacity(TOTAL + TOTAL / 1000 + 64);
    // As the blob store drives it: 64 KiB network chunks in, each sealed segment taken away.
    g.bench_function("seal_streaming_drained", |b| {
        b.iter(|| {
            let (mut s, header) = Sealer::new(&key, &id, DEFAULT_SEGMENT).unwrap();
            let mut out = header.to_vec();
            let mut taken = 0;
            for chunk in data.chunks(DEFAULT_SEGMENT) {
                s.update(chunk, &mut out).unwrap();
                taken += std::mem::take(&mut out).len();
            }
            s.finish(&mut out).unwrap();
            black_box(taken + out.len())
        })
    });
    // The same with a caller that never drains its output (one extra copy per segment).
    g.bench_function("seal_streaming_accumulated", |b| {
        b.iter(|| {
            out.clear();
            let (mut s, header) = Sealer::new(&key, &id, DEFAULT_SEGMENT).unwrap();
            out.extend_from_slice(&header);
            for chunk in data.chunks(DEFAULT_SEGMENT) {
                s.update(chunk, &mut out).unwrap();
            }
            s.finish(&mut out).unwrap();
            black_box(out.len())
        })
    });
    let mut seg = Vec::with_capacity(DEFAULT_SEGMENT + 16);
    g.bench_function("seal_in_place_per_segment", |b| {
        b.iter(|| {
            let (mut s, _header) = Sealer::new(&key, &id, DEFAULT_SEGMENT).unwrap();
            let (body, last) = data.split_at(TOTAL - DEFAULT_SEGMENT);
            for chunk in body.chunks(DEFAULT_SEGMENT) {
                seg.clear();
                seg.extend_from_slice(chunk);
                s.seal_full_in_place(&mut seg).unwrap();
                black_box(seg.len());
            }
            out.clear();
            s.update(last, &mut out).unwrap();
            s.finish(&mut out).unwrap();
        })
    });
    g.bench_function("sha256_plus_seal_blob_store_path", |b| {
        b.iter(|| {
            out.clear();
            let mut h = haven_crypto::Sha256::new();
            let (mut s, header) = Sealer::new(&key, &id, DEFAULT_SEGMENT).unwrap();
            out.extend_from_slice(&header);
            for chunk in data.chunks(DEFAULT_SEGMENT) {
                h.update(chunk);
                s.update(chunk, &mut out).unwrap();
            }
            s.finish(&mut out).unwrap();
            black_box(h.finish())
        })
    });
    let sealed = seal(&key, &id, &data, DEFAULT_SEGMENT).unwrap();
    let mut plain = Vec::with_capacity(TOTAL);
    g.bench_function("open_streaming_drained", |b| {
        b.iter(|| {
            plain.clear();
            let mut o = Opener::new(&key, &id).unwrap();
            let mut taken = 0;
            for chunk in sealed.chunks(DEFAULT_SEGMENT) {
                o.update(chunk, &mut plain).unwrap();
                taken += std::mem::take(&mut plain).len();
            }
            o.finish(&mut plain).unwrap();
            black_box(taken + plain.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
