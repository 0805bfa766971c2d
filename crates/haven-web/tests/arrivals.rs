//! Arrivals, on SQLite with local blobs and on PostgreSQL with S3, scanned by a real clamd
//! (scripts/test starts one with an EICAR-only signature database, limits of 4 MiB): clean,
//! infected, over clamd's limit, over Haven's, and a flipped byte in stored ciphertext; emails to
//! those who must act; a scanner that is down leaves arrivals pending until it returns; accepting
//! (into the asset's S:) and rejecting (crypto-shredding); signed receipts; unfinished uploads
//! that expire.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use futures::TryStreamExt;
use haven_core::accounts::Role;
use haven_core::caller::Caller;
use haven_core::transfer::arrivals::Receipt;
use haven_core::transfer::links::NewLink;
use haven_core::transfer::scan::Scanner;
use haven_core::transfer::store::UploadRecord;
use haven_core::workspaces::drives::Drive;
use haven_store::clamd::{Clamd, ClamdAddress};
use haven_testkit::callers::signed_in;
use haven_testkit::db::TestDb;
use object_store::ObjectStoreExt;

mod common;

use common::TestApp as App;
use common::uploads::*;

haven_testkit::contract!(
    arrivals_are_scanned_then_accepted_or_shredded,
    accepted_files_land_whole_in_the_shared_drive,
    a_scanner_that_is_down_leaves_arrivals_pending,
    unfinished_uploads_expire_and_are_shredded
);

/// The 68-byte EICAR test file.
const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// Haven scans up to 6 MiB; the clamd of scripts/test stops at 4 MiB.
fn clamd(address: &str) -> Arc<dyn Scanner> {
    Arc::new(Clamd::new(ClamdAddress::parse(address).unwrap(), 6 << 20, Duration::from_secs(30)))
}

/// `world`, with the scanner and a service desk (dora, an administrator) to email.
async fn scanned_world(db: TestDb, scanner: Arc<dyn Scanner>) -> World {
    let builder = App::builder().db(db).transfer(config()).s3_with_postgres().scanner(scanner);
    let w = world_from(builder).await;
    let console = Caller::console();
    w.app.state.identity.add_account(&console, "dora", "dora@example.org", false).await.unwrap();
    w.app.state.identity.set_role(&console, "dora", Role::Admin, true).await.unwrap();
    w
}

/// Send `bytes` as `name` with owen's token, whole: the upload's id.
async fn arrive(w: &World, name: &str, bytes: &[u8]) -> String {
    let made = create(&w.app, &w.owen, bytes.len(), name).await;
    assert_eq!(made.status, 201, "{}", made.text);
    let at = made.header("location").to_string();
    let sent = patch(&w.app, &w.owen, &at, 0, bytes, &[]).await;
    assert_eq!(sent.status, 204, "{}", sent.text);
    at.rsplit('/').next().unwrap().to_string()
}

async fn arrival(app: &App, id: &str) -> UploadRecord {
    let id = id.to_string();
    haven_core::read(app.store.as_ref(), move |tx| {
        Box::pin(async move { Ok::<_, haven_core::CoreError>(tx.upload(&id).await?) })
    })
    .await
    .unwrap()
    .unwrap()
}

fn owen(app: &App) -> Caller {
    signed_in("owen", &[Role::Staff], app.state.governance.now_us())
}

/// Flip one byte in the middle of the first stored object of upload `id`.
async fn flip_a_stored_byte(app: &App, id: &str) {
    let id = id.to_string();
    let parts = haven_core::read(app.store.as_ref(), move |tx| {
        Box::pin(async move { Ok::<_, haven_core::CoreError>(tx.upload_parts(&id).await?) })
    })
    .await
    .unwrap();
    let path = object_store::path::Path::from(format!("objects/{}/{}", &parts[0].id[..2], parts[0].id));
    let stored = app.backend.get(&path).await.unwrap().bytes().await.unwrap();
    let mut bytes = stored.to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    app.backend.put(&path, bytes.into()).await.unwrap();
}

async fn arrivals_are_scanned_then_accepted_or_shredded(db: TestDb) {
    let Some(address) = haven_testkit::tool("HAVEN_TEST_CLAMD") else { return };
    let w = scanned_world(db, clamd(&address)).await;
    let app = &w.app;

    let clean = arrive(&w, "cohort.csv", &data(1 << 20)).await;
    let eicar = arrive(&w, "eicar.com", EICAR).await;
    let mut hidden = data(2 << 20);
    hidden.splice(1_000_000..1_000_000, EICAR.iter().copied());
    let embedded = arrive(&w, "notes.bin", &hidden).await;
    let over_clamd = arrive(&w, "scan-5mib.bin", &data(5 << 20)).await;
    let over_haven = arrive(&w, "scan-7mib.bin", &data(7 << 20)).await;
    let damaged = arrive(&w, "damaged.bin", &data(300_000)).await;
    flip_a_stored_byte(app, &damaged).await;
    // Too large for the scanner, and damaged: read whole all the same, so the damage is found.
    let big_damaged = arrive(&w, "scan-7mib-damaged.bin", &data(7 << 20)).await;
    flip_a_stored_byte(app, &big_damaged).await;
    assert_eq!(arrival(app, &clean).await.arrival.scan_status, "pending", "complete means pending");

    assert_eq!(app.state.transfer.scan_due().await.unwrap(), 7);
    let status = |r: &UploadRecord| (r.arrival.scan_status.clone(), r.arrival.scan_detail.clone());
    let c = arrival(app, &clean).await;
    assert_eq!(c.arrival.scan_status, "clean", "{:?}", status(&c));
    assert!(c.arrival.scan_engine.starts_with("ClamAV"), "the engine is recorded: {}", c.arrival.scan_engine);
    let e = arrival(app, &eicar).await;
    assert_eq!(e.arrival.scan_status, "infected");
    assert!(e.arrival.scan_detail.contains("Eicar"), "{:?}", status(&e));
    let h = arrival(app, &embedded).await;
    assert_eq!(h.arrival.scan_status, "infected", "found inside a larger file: {:?}", status(&h));
    let oc = arrival(app, &over_clamd).await;
    assert_eq!(oc.arrival.scan_status, "review", "{:?}", status(&oc));
    assert!(oc.arrival.scan_detail.contains("not scanned whole"), "{:?}", status(&oc));
    let oh = arrival(app, &over_haven).await;
    assert_eq!(oh.arrival.scan_status, "review", "{:?}", status(&oh));
    assert!(oh.arrival.scan_detail.contains("more than the scanner scans whole"), "{:?}", status(&oh));
    let d = arrival(app, &damaged).await;
    assert_eq!(d.arrival.scan_status, "damaged", "a flipped byte is found: {:?}", status(&d));
    let bd = arrival(app, &big_damaged).await;
    assert_eq!(bd.arrival.scan_status, "damaged", "found without the scanner: {:?}", status(&bd));
    assert_eq!(app.state.transfer.scan_due().await.unwrap(), 0, "nothing is scanned twice");

    // Emails: the keepers for every verdict, the service desk for infected and damaged files.
    let to_owen = app.mail.to("owen@example.org");
    assert!(to_owen.iter().any(|m| m.subject.contains("ready to accept") && m.text.contains("cohort.csv")));
    assert!(to_owen.iter().any(|m| m.subject.contains("needs your review")));
    let to_desk = app.mail.to("dora@example.org");
    assert!(to_desk.iter().any(|m| m.subject.contains("infected and quarantined") && m.text.contains("Eicar")));
    assert!(to_desk.iter().any(|m| m.subject.contains("damaged")));
    assert!(
        !to_desk.iter().any(|m| m.subject.contains("ready to accept")),
        "the desk is told only what it must act on"
    );
    for m in to_owen.iter().chain(&to_desk).filter(|m| m.subject.contains("a file")) {
        assert!(m.text.contains("https://haven.example/transfer/assets/heart"), "{}", m.text);
        assert!(m.text.contains("You are receiving this because"), "{}", m.text);
    }

    // The list, for those who look after the data only.
    let listed = app.state.transfer.arrivals(&owen(app), "heart").await.unwrap();
    assert_eq!(listed.len(), 7);
    let rita = signed_in("rita", &[], app.state.governance.now_us());
    assert!(matches!(app.state.transfer.arrivals(&rita, "heart").await, Err(haven_core::CoreError::Forbidden)));
    assert!(matches!(app.state.transfer.decide(&rita, &clean, true, "").await, Err(haven_core::CoreError::Forbidden)));

    // Deciding: clean accepted; infected and damaged never; a review only with a note.
    let t = &app.state.transfer;
    assert_eq!(t.decide(&owen(app), &clean, true, "").await.unwrap().upload.arrival.decision, "accepted");
    let again = t.decide(&owen(app), &clean, false, "").await.unwrap_err();
    assert!(again.to_string().contains("decided already"), "{again}");
    for id in [&eicar, &damaged] {
        let refused = t.decide(&owen(app), id, true, "looks fine").await.unwrap_err();
        assert!(refused.to_string().contains("cannot be accepted"), "{refused}");
    }
    let no_note = t.decide(&owen(app), &over_clamd, true, " ").await.unwrap_err();
    assert!(no_note.to_string().contains("say what you checked"), "{no_note}");
    let noted = t.decide(&owen(app), &over_clamd, true, "opened it in the sandbox; a CSV").await.unwrap().upload;
    assert_eq!(noted.arrival.decision, "accepted");

    // Rejecting crypto-shreds: the parts and their keys go, the record stays.
    assert!(!stored_bytes(app, &eicar).await.is_empty());
    let rejected = t.decide(&owen(app), &eicar, false, "").await.unwrap().upload;
    assert_eq!((rejected.arrival.decision.as_str(), rejected.arrival.decided_by.as_str()), ("rejected", "owen"));
    assert!(stored_bytes(app, &eicar).await.is_empty(), "nothing of it is left to read");
    let trail: Vec<String> = app.store.audit_events(1, i64::MIN).map_ok(|e| e.action).try_collect().await.unwrap();
    for action in ["arrival.scanned", "arrival.infected", "arrival.accepted", "arrival.rejected"] {
        assert!(trail.iter().any(|a| a == action), "{action} in {trail:?}");
    }

    // The sender's receipt: signed by Haven's key; an altered one fails.
    let receipt = t.receipt(&owen(app), &clean).await.unwrap();
    let key = hex::encode(app.signer.public_key());
    let manifest = receipt.verify(&key).unwrap();
    assert_eq!((manifest.file.as_str(), manifest.size), ("cohort.csv", 1 << 20));
    assert_eq!(manifest.sha256, sha256_hex(&data(1 << 20)));
    let altered = Receipt { manifest: receipt.manifest.replace("cohort.csv", "cohort2.csv"), ..receipt.clone() };
    assert!(altered.verify(&key).unwrap_err().contains("altered"));
    // Over HTTP too, through a drop-off link, for the provider who sent the file.
    let (secret, _) = t.create_link(&owen(app), NewLink { asset: "heart".into(), ..NewLink::default() }).await.unwrap();
    let endpoint = format!("/transfer/drop/{}/uploads/", secret.as_str());
    let meta = format!("filename {}", base64_of("extract.csv"));
    let made =
        send(app, "POST", &endpoint, None, &[V, ("upload-length", "5"), ("upload-metadata", &meta)], Body::empty())
            .await;
    let at = made.header("location").to_string();
    send(app, "PATCH", &at, None, &[V, OCTETS, ("upload-offset", "0")], Body::from("12345")).await;
    let got = send(app, "GET", &format!("{at}/receipt"), None, &[], Body::empty()).await;
    assert_eq!(got.status, 200, "{}", got.text);
    let receipt: Receipt = serde_json::from_str(&got.text).unwrap();
    assert_eq!(receipt.verify(&key).unwrap().sha256, sha256_hex(b"12345"));
    let other =
        send(app, "GET", &format!("/transfer/uploads/{clean}/receipt"), Some(&w.rita), &[], Body::empty()).await;
    assert_eq!(other.status, 404, "only the sender has a receipt");
}

/// Accepting writes the file's plaintext into the asset's S:, whole, under its safe name (a name
/// already there gets a number), private to Haven's user, and says where in the audit trail.
async fn accepted_files_land_whole_in_the_shared_drive(db: TestDb) {
    let Some(address) = haven_testkit::tool("HAVEN_TEST_CLAMD") else { return };
    let w = scanned_world(db, clamd(&address)).await;
    let app = &w.app;
    let first = data(3 << 20);
    let a = arrive(&w, "cohort.csv", &first).await;
    let b = arrive(&w, "../../cohort.csv", b"a second file of the same name").await;
    assert_eq!(app.state.transfer.scan_due().await.unwrap(), 2);
    let t = &app.state.transfer;
    assert_eq!(t.decide(&owen(app), &a, true, "").await.unwrap().placed_as.as_deref(), Some("cohort.csv"));
    assert_eq!(t.decide(&owen(app), &b, true, "").await.unwrap().placed_as.as_deref(), Some("cohort (2).csv"));

    let s = Drive::Shared("heart".into());
    let dir = app.drive_path(&s);
    assert_eq!(std::fs::read(dir.join("cohort.csv")).unwrap(), first);
    assert_eq!(std::fs::read(dir.join("cohort (2).csv")).unwrap(), b"a second file of the same name");
    let listed: Vec<_> = app.drives.list(&s, "").await.unwrap().into_iter().map(|e| (e.name, e.size)).collect();
    assert_eq!(listed, [("cohort (2).csv".to_string(), 30), ("cohort.csv".to_string(), 3 << 20)]);
    assert_eq!(walk_files(&app.drive_path(&s).join("../../..")).len(), 2, "nothing else is left in the drives");
    let accepted: Vec<String> = app
        .store
        .audit_events(1, i64::MIN)
        .try_filter(|e| futures::future::ready(e.action == "arrival.accepted"))
        .map_ok(|e| e.details)
        .try_collect()
        .await
        .unwrap();
    assert!(accepted[1].contains("S:/cohort (2).csv"), "{}", accepted[1]);
    // The sealed original stays on the record.
    assert_eq!(stored_bytes(app, &a).await, first);
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() { out.extend(walk_files(&p)) } else { out.push(p) }
    }
    out
}

async fn a_scanner_that_is_down_leaves_arrivals_pending(db: TestDb) {
    let Some(address) = haven_testkit::tool("HAVEN_TEST_CLAMD") else { return };
    let nowhere = tempfile::tempdir().unwrap();
    let down = clamd(&format!("unix:{}", nowhere.path().join("no-clamd.sock").display()));
    let w = scanned_world(db, down).await;
    let app = &w.app;
    let id = arrive(&w, "cohort.csv", &data(10_000)).await;
    let unwanted = arrive(&w, "wrong.csv", &data(10)).await;
    assert_eq!(app.state.transfer.scan_due().await.unwrap(), 0);
    // Rejected while pending: never scanned (nor announced) afterwards.
    app.state.transfer.decide(&owen(app), &unwanted, false, "sent by mistake").await.unwrap();
    let a = arrival(app, &id).await;
    assert_eq!((a.arrival.scan_status.as_str(), a.arrival.scan_attempts), ("pending", 1));
    assert!(a.arrival.scan_detail.contains("cannot be reached"), "{}", a.arrival.scan_detail);
    let refused = app.state.transfer.decide(&owen(app), &id, true, "").await.unwrap_err();
    assert!(refused.to_string().contains("not been scanned"), "{refused}");
    // Not retried before its back-off has passed.
    assert_eq!(app.state.transfer.scan_due().await.unwrap(), 0);
    assert_eq!(arrival(app, &id).await.arrival.scan_attempts, 1);

    // The scanner returns (here: another node that reaches it); after the back-off, it is scanned.
    let back = haven_testkit::transfer::another_node(app, config(), Some(clamd(&address)));
    assert_eq!(back.scan_due().await.unwrap(), 0, "its back-off has not passed");
    app.clock.advance(time::Duration::minutes(3));
    assert_eq!(back.scan_due().await.unwrap(), 1, "the rejected one is not scanned");
    assert_eq!(arrival(app, &id).await.arrival.scan_status, "clean");
    assert_eq!(arrival(app, &unwanted).await.arrival.scan_status, "pending");
}

async fn unfinished_uploads_expire_and_are_shredded(db: TestDb) {
    let w = world(db).await;
    let app = &w.app;
    let made = create(app, &w.owen, 1000, "half.csv").await;
    let at = made.header("location").to_string();
    assert_eq!(patch(app, &w.owen, &at, 0, &data(500), &[]).await.status, 204);
    let done = arrive(&w, "whole.csv", &data(100)).await;
    let id = at.rsplit('/').next().unwrap().to_string();
    assert!(!stored_bytes(app, &id).await.is_empty());
    assert_eq!(app.state.transfer.sweep_expired().await.unwrap(), 0, "not yet");
    app.clock.advance(time::Duration::hours(25));
    assert_eq!(app.state.transfer.sweep_expired().await.unwrap(), 1);
    assert_eq!(head(app, &w.owen, &at).await.status, 404, "gone");
    assert!(stored_bytes(app, &id).await.is_empty(), "its data removed");
    assert!(arrival(app, &done).await.completed_us > 0, "a complete upload is an arrival: it stays");
    let trail: Vec<String> = app.store.audit_events(1, i64::MIN).map_ok(|e| e.action).try_collect().await.unwrap();
    assert!(trail.iter().any(|a| a == "upload.expired"), "{trail:?}");
}
