//! Resumable uploads (the resources behind tus), on both databases, with a real sealed blob
//! store and a fake clock: who may send, parts acknowledged only once stored, offsets,
//! checksums, a client that goes away, a server that forgets, deferred lengths, limits,
//! termination and expiry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use bytes::Bytes;
use futures::StreamExt;
use haven_core::accounts::Role;
use haven_core::audit::AuditEvent;
use haven_core::blobs::ByteStream;
use haven_core::caller::Caller;
use haven_core::transfer::store::UploadRecord;
use haven_core::transfer::tus::{Checksum, Length, parse_checksum};
use haven_core::transfer::uploads::{Append, NewUpload, TransferConfig, TransferError};
use haven_core::{CoreError, Tx, read};
use haven_testkit::app::TestApp;
use haven_testkit::callers::signed_in;
use haven_testkit::db::TestDb;
use haven_testkit::transfer::world_from;

haven_testkit::contract!(
    uploads_are_stored_part_by_part_and_resume,
    uploads_refuse_what_breaks_the_rules,
    a_part_that_cannot_be_recorded_ends_the_request_and_leaves_no_blob,
    objects_that_no_record_names_are_swept,
    a_closed_asset_takes_no_more_data,
    a_link_starts_a_limited_number_of_uploads_an_hour
);

fn config() -> TransferConfig {
    TransferConfig {
        max_upload_bytes: 1000,
        part_bytes: 10,
        expiry_hours: 24,
        max_parts: 50,
        idle_timeout_secs: 60,
        ..TransferConfig::default()
    }
}

/// An asset `heart` with its IAO owen (trained, staff); rita is a plain researcher.
async fn world(db: TestDb) -> TestApp {
    world_from(TestApp::builder().db(db).transfer(config()).s3_with_postgres()).await.app
}

fn owen(app: &TestApp) -> Caller {
    signed_in("owen", &[Role::Staff], app.state.governance.now_us())
}

fn body(chunks: &[&[u8]]) -> ByteStream {
    let owned: Vec<Result<Bytes, std::io::Error>> = chunks.iter().map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    futures::stream::iter(owned).boxed()
}

fn append(offset: u64, chunks: &[&[u8]]) -> Append {
    Append { offset, length: None, checksum: None, body: body(chunks) }
}

fn named(name: &str, length: Length) -> NewUpload {
    NewUpload { asset: "heart".into(), length, metadata: vec![("filename".into(), name.as_bytes().to_vec())] }
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(haven_crypto::sha256(data))
}

async fn stored(app: &TestApp, id: &str) -> (Option<UploadRecord>, Vec<haven_core::blobs::ObjectMeta>) {
    let id = id.to_string();
    read(app.store.as_ref(), move |tx: &mut dyn Tx| {
        Box::pin(async move { Ok::<_, CoreError>((tx.upload(&id).await?, tx.upload_parts(&id).await?)) })
    })
    .await
    .unwrap()
}

async fn actions(app: &TestApp) -> Vec<AuditEvent> {
    app.store.audit_events(0, 0).map(|e| e.unwrap()).collect().await
}

async fn uploads_are_stored_part_by_part_and_resume(db: TestDb) {
    let app = world(db).await;
    let t = &app.state.transfer;
    let who = owen(&app);
    let data: Vec<u8> = (0u8..45).collect();

    let up = t.create(&who, named("../cohort\u{202E}vsc.xlsx", Length::Known(45))).await.unwrap();
    assert_eq!((up.name.as_str(), up.offset, up.length), ("cohort_vsc.xlsx", 0, 45), "the name is made safe");
    assert_eq!(up.original_name, "../cohort\u{202E}vsc.xlsx", "the original is kept for the record");

    // 12 bytes in chunks of 5: parts of at most 10 bytes, each acknowledged once stored.
    let after = t.append(&who, &up.id, append(0, &[&data[..5], &data[5..10], &data[10..12]])).await.unwrap();
    assert_eq!((after.offset, after.parts), (12, 2));
    let (row, parts) = stored(&app, &up.id).await;
    assert_eq!((row.unwrap().offset, parts.iter().map(|p| p.size).collect::<Vec<_>>()), (12, vec![10, 2]));

    // A wrong offset changes nothing and says where to resume.
    match t.append(&who, &up.id, append(10, &[&data[10..20]])).await {
        Err(TransferError::OffsetMismatch { current: 12 }) => {}
        other => panic!("{other:?}"),
    }

    // The client goes away after 6 bytes: what arrived is kept (no checksum was promised).
    let broken: ByteStream = futures::stream::iter(vec![
        Ok(Bytes::copy_from_slice(&data[12..18])),
        Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "gone")),
    ])
    .boxed();
    let gone = t.append(&who, &up.id, Append { offset: 12, length: None, checksum: None, body: broken }).await;
    assert!(gone.is_err(), "{gone:?}");
    assert_eq!(t.get(&who, &up.id).await.unwrap().offset, 18);

    // A checksum that does not match keeps nothing of that request; one that does, all of it.
    let wrong = parse_checksum("sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=").unwrap();
    let bad = Append { offset: 18, length: None, checksum: Some(wrong), body: body(&[&data[18..30]]) };
    assert!(matches!(t.append(&who, &up.id, bad).await, Err(TransferError::ChecksumMismatch)));
    let (row, parts) = stored(&app, &up.id).await;
    assert_eq!((row.unwrap().offset, parts.len()), (18, 3), "nothing of the refused body is recorded");
    assert_eq!(hex::encode(sha1_reference(b"hello world")), "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed");
    let digest = sha1_reference(&data[18..30]);
    let good = Append {
        offset: 18,
        length: None,
        checksum: Some(Checksum { algorithm: haven_core::transfer::tus::Algorithm::Sha1, digest }),
        body: body(&[&data[18..30]]),
    };
    assert_eq!(t.append(&who, &up.id, good).await.unwrap().offset, 30);

    // Another node (or this one after a restart) carries on: the running hash is rebuilt from
    // the stored parts, and the whole file's SHA-256 is right.
    let other = haven_testkit::transfer::another_node(&app, config(), None);
    let done = other.append(&who, &up.id, append(30, &[&data[30..45]])).await.unwrap();
    assert_eq!(done.offset, 45);
    assert!(done.completed_us > 0);
    assert_eq!(done.sha256, sha256_hex(&data));
    // The parts read back are the bytes sent.
    let (_, parts) = stored(&app, &up.id).await;
    let mut back = Vec::new();
    for meta in &parts {
        let mut s = app.blobs.get(meta).await.unwrap();
        while let Some(chunk) = s.next().await {
            back.extend_from_slice(&chunk.unwrap());
        }
    }
    assert_eq!(back, data);
    let trail = actions(&app).await;
    let completed = trail.iter().find(|e| e.action == "upload.completed").expect("the arrival is audited");
    assert!(completed.details.contains(&sha256_hex(&data)) && completed.project == "heart", "{}", completed.details);

    // A deferred length is given once, with the last bytes; an empty upload is complete at once.
    let later = t.create(&who, named("later.csv", Length::Deferred)).await.unwrap();
    assert_eq!(later.length, -1);
    t.append(&who, &later.id, append(0, &[b"abcde"])).await.unwrap();
    let last = Append { offset: 5, length: Some(9), checksum: None, body: body(&[b"fghi"]) };
    let finished = t.append(&who, &later.id, last).await.unwrap();
    assert_eq!((finished.length, finished.sha256.clone()), (9, sha256_hex(b"abcdefghi")));
    let again = Append { offset: 9, length: Some(10), checksum: None, body: body(&[]) };
    assert!(matches!(t.append(&who, &later.id, again).await, Err(TransferError::Protocol(e)) if e.status == 400));
    let empty = t.create(&who, named("empty.txt", Length::Known(0))).await.unwrap();
    assert_eq!(empty.sha256, sha256_hex(b""));

    // Termination crypto-shreds the parts and forgets the upload.
    let dropped = t.create(&who, named("oops.csv", Length::Known(20))).await.unwrap();
    t.append(&who, &dropped.id, append(0, &[b"0123456789ab"])).await.unwrap();
    let (_, parts) = stored(&app, &dropped.id).await;
    t.terminate(&who, &dropped.id).await.unwrap();
    assert_eq!(stored(&app, &dropped.id).await, (None, vec![]));
    assert!(app.blobs.get(&parts[0]).await.is_err(), "the key and the blob are gone");
    assert!(matches!(t.get(&who, &dropped.id).await, Err(TransferError::Core(CoreError::NotFound))));
    assert!(actions(&app).await.iter().any(|e| e.action == "upload.terminated"));
}

/// Parts are pipelined (the next streams in while the last is made durable and recorded): when
/// recording one fails, the part behind it must not be recorded at the wrong offset, nor its
/// blob left behind.
async fn a_part_that_cannot_be_recorded_ends_the_request_and_leaves_no_blob(db: TestDb) {
    let app = world(db).await;
    let t = &app.state.transfer;
    let who = owen(&app);
    let up = t.create(&who, named("late.csv", Length::Known(100))).await.unwrap();
    // The upload expires while its bytes stream in (chunks of 5, parts of 10).
    let clock = app.clock.clone();
    let chunks = futures::stream::iter(0..12u8)
        .then(move |i| {
            let clock = clock.clone();
            async move {
                if i == 5 {
                    clock.advance(time::Duration::hours(25));
                }
                tokio::task::yield_now().await;
                Ok(Bytes::from(vec![i; 5]))
            }
        })
        .boxed();
    let late = t.append(&who, &up.id, Append { offset: 0, length: None, checksum: None, body: chunks }).await;
    assert!(matches!(late, Err(TransferError::Expired)), "{late:?}");
    let (row, parts) = stored(&app, &up.id).await;
    let row = row.unwrap();
    assert!((10..=20).contains(&row.offset), "the parts recorded before it expired stay: {}", row.offset);
    assert_eq!(row.offset, parts.iter().map(|p| p.size).sum::<i64>());
    assert_eq!(app.blob_count().await, parts.len(), "no blob of an unrecorded part is left");
}

/// A blob written but never recorded (the server killed between the two) is deleted by the
/// sweep once old enough; recorded ones stay readable. Audited.
async fn objects_that_no_record_names_are_swept(db: TestDb) {
    use haven_core::blobs::{Put, sweep_unrecorded};
    let app = world(db).await;
    let t = &app.state.transfer;
    let who = owen(&app);
    let up = t.create(&who, named("kept.csv", Length::Known(12))).await.unwrap();
    t.append(&who, &up.id, append(0, &[b"twelve bytes"])).await.unwrap();
    let orphan = app.blobs.put("heart", body(&[b"never recorded"]), Put::unlimited().unhashed()).await.unwrap();
    assert_eq!(app.blob_count().await, 3);

    let sweep =
        |before: i64| sweep_unrecorded(app.store.as_ref(), app.blobs.as_ref(), app.clock.as_ref(), Some(before));
    assert_eq!(sweep(0).await.unwrap(), 0, "nothing is old enough");
    assert_eq!(sweep(i64::MAX).await.unwrap(), 1);
    assert_eq!(app.blob_count().await, 2);
    assert!(app.blobs.get(&orphan).await.is_err());
    let (_, parts) = stored(&app, &up.id).await;
    for meta in &parts {
        let mut s = app.blobs.get(meta).await.unwrap();
        while let Some(chunk) = s.next().await {
            chunk.unwrap();
        }
    }
    let swept = actions(&app).await.into_iter().find(|e| e.action == "blobs.swept").expect("audited");
    assert!(swept.details.contains(&orphan.id), "{}", swept.details);
    assert_eq!(sweep(i64::MAX).await.unwrap(), 0, "a second sweep finds nothing");
}

/// Closing an asset (here archived, so its key survives) ends sending into it: through its
/// drop-off links, by its IAO, and for an upload already under way.
async fn a_closed_asset_takes_no_more_data(db: TestDb) {
    use haven_core::governance::records::Closure;
    use haven_core::transfer::links::NewLink;
    let app = world(db).await;
    let t = &app.state.transfer;
    let who = owen(&app);
    let (_, link) = t.create_link(&who, NewLink { asset: "heart".into(), ..NewLink::default() }).await.unwrap();
    let provider = Caller::drop_link(&link.id, "192.0.2.7", "test");
    let sent = t.create(&provider, named("before.csv", Length::Known(30))).await.unwrap();
    t.append(&provider, &sent.id, append(0, &[b"0123456789"])).await.unwrap();
    let mine = t.create(&who, named("mine.csv", Length::Known(30))).await.unwrap();

    // Closed while the provider's bytes stream in (chunks of 5, parts of 10): the part being
    // recorded then is refused, and nothing after it is kept.
    let (gov, owner) = (app.state.governance.clone(), who.clone());
    let chunks = futures::stream::iter(0..8u8)
        .then(move |i| {
            let (gov, owner) = (gov.clone(), owner.clone());
            async move {
                if i == 3 {
                    gov.close_asset(&owner, "heart", Closure::Archive, "study finished").await.unwrap();
                }
                Ok(Bytes::from(vec![i; 5]))
            }
        })
        .boxed();
    let during = Append { offset: 10, length: None, checksum: None, body: chunks };
    let closed = |r: &Result<_, TransferError>| matches!(r, Err(TransferError::Limit { status: 410, .. }));
    let cut = t.append(&provider, &sent.id, during).await;
    assert!(closed(&cut), "{cut:?}");
    let (row, parts) = stored(&app, &sent.id).await;
    let at = row.unwrap().offset;
    assert!(at == 10 || at == 20, "only a part recorded before the closure stays: {at}");
    assert_eq!(app.blob_count().await, parts.len(), "no blob of a refused part is left");

    let more = t.append(&provider, &sent.id, append(at as u64, &[b"0123456789"])).await;
    assert!(closed(&more), "{more:?}");
    let again = t.create(&provider, named("after.csv", Length::Known(3))).await;
    assert!(closed(&again), "{again:?}");
    let iao = t.append(&who, &mine.id, append(0, &[b"0123456789"])).await;
    assert!(iao.is_err(), "{iao:?}");
    assert!(t.create(&who, named("late.csv", Length::Known(3))).await.is_err());
    assert_eq!(stored(&app, &sent.id).await.0.unwrap().offset, at, "nothing more was recorded");
    assert_eq!(stored(&app, &mine.id).await.0.unwrap().offset, 0);
}

/// Empty files complete at once and each emails the keepers: a link without a file limit still
/// starts only so many uploads an hour.
async fn a_link_starts_a_limited_number_of_uploads_an_hour(db: TestDb) {
    use haven_core::transfer::links::NewLink;
    let limited = TransferConfig { link_uploads_per_hour: 3, ..config() };
    let app = world_from(TestApp::builder().db(db).transfer(limited).s3_with_postgres()).await.app;
    let t = &app.state.transfer;
    let (_, link) = t.create_link(&owen(&app), NewLink { asset: "heart".into(), ..NewLink::default() }).await.unwrap();
    let provider = Caller::drop_link(&link.id, "192.0.2.7", "test");
    for i in 0..3 {
        t.create(&provider, named(&format!("empty-{i}.txt"), Length::Known(0))).await.unwrap();
    }
    match t.create(&provider, named("one-more.txt", Length::Known(0))).await {
        Err(TransferError::Limit { status: 429, message }) => assert!(message.contains("archive"), "{message}"),
        other => panic!("{other:?}"),
    }
    app.clock.advance(time::Duration::minutes(61));
    t.create(&provider, named("next-hour.txt", Length::Known(0))).await.unwrap();
}

/// SHA-1 by the textbook (RFC 3174), so the test does not trust the code it checks.
fn sha1_reference(data: &[u8]) -> Vec<u8> {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64) * 8;
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([block[4 * i], block[4 * i + 1], block[4 * i + 2], block[4 * i + 3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().flat_map(|x| x.to_be_bytes()).collect()
}

async fn uploads_refuse_what_breaks_the_rules(db: TestDb) {
    let app = world(db).await;
    let t = &app.state.transfer;
    let who = owen(&app);
    // Only the IAO, IAAs and data managers send; a researcher and an unknown asset are refused.
    let rita = signed_in("rita", &[Role::Researcher], app.state.governance.now_us());
    assert!(matches!(
        t.create(&rita, named("x.csv", Length::Known(3))).await,
        Err(TransferError::Core(CoreError::Forbidden))
    ));
    let nowhere = NewUpload { asset: "lung".into(), length: Length::Known(3), metadata: vec![] };
    assert!(matches!(t.create(&who, nowhere).await, Err(TransferError::Core(CoreError::Forbidden))));
    // Over the limit, declared or sent.
    assert!(matches!(
        t.create(&who, named("big", Length::Known(1001))).await,
        Err(TransferError::TooLarge { max: 1000 })
    ));
    // Bytes past the declared length: the declared ones are kept (the upload completes), the
    // rest refused; a part boundary at the very end changes nothing.
    let small = t.create(&who, named("small.csv", Length::Known(20))).await.unwrap();
    let over = t.append(&who, &small.id, append(0, &[b"0123456789", b"0123456789", b"extra"])).await;
    assert!(matches!(over, Err(TransferError::TooLarge { .. })), "{over:?}");
    let kept = t.get(&who, &small.id).await.unwrap();
    assert_eq!((kept.offset, kept.sha256.clone()), (20, sha256_hex(b"01234567890123456789")));
    // Someone else's upload does not exist for them.
    assert!(matches!(t.get(&rita, &small.id).await, Err(TransferError::Core(CoreError::NotFound))));
    // An upload left unfinished expires; it can still be ended, and that is audited.
    let idle = t.create(&who, named("idle.csv", Length::Known(5))).await.unwrap();
    app.clock.advance(time::Duration::hours(25));
    assert!(matches!(t.get(&who, &idle.id).await, Err(TransferError::Expired)));
    assert!(matches!(t.append(&who, &idle.id, append(0, &[b"12345"])).await, Err(TransferError::Expired)));
    t.terminate(&who, &idle.id).await.unwrap();
    let trail = actions(&app).await;
    assert!(trail.iter().any(|e| e.action == "upload.terminated" && e.details.contains(&idle.id)));
    assert_eq!(trail.iter().filter(|e| e.action == "upload.completed").count(), 1, "only small arrived");
}
