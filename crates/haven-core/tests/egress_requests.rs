//! Output requests end to end on both databases, with a real sealed blob store and real
//! drives: permission from the IAO, files pinned and checked, blind two-checker review with the
//! IAO's approval, release, a single-use download whose zip contents match the pinned hashes
//! and whose manifest verifies; the author never reviews; a pinned copy that changed is never
//! released.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use futures::StreamExt;
use haven_core::CoreError;
use haven_core::accounts::Role;
use haven_core::caller::Caller;
use haven_core::egress::checks::Verdict;
use haven_core::egress::outputs::Viewer;
use haven_core::egress::release;
use haven_core::egress::request::Decision;
use haven_core::workspaces::drives::Drive;
use haven_testkit::app::TestApp;
use haven_testkit::callers::signed_in;
use haven_testkit::db::TestDb;
use haven_testkit::transfer::{World, make_member, world_from};

haven_testkit::contract!(
    a_request_is_pinned_checked_reviewed_blind_and_released_exactly,
    a_pinned_copy_that_changed_is_not_released,
    people_acting_at_once_and_requests_dropped_midway_leave_a_whole_request,
);

const TABLE: &str = "region,patients\nNorth,120\nSouth,95\n";
const SMALL: &str = "region,patients\nNorth,3\nSouth,95\n";

fn at(app: &TestApp, id: &str, roles: &[Role]) -> Caller {
    signed_in(id, roles, app.state.governance.now_us())
}

/// heart (identifiable; IAO owen) with rita a member allowed to request outputs, checkers cara
/// and carl, and rita's results in the outputs area.
async fn world(db: TestDb) -> World {
    let w = world_from(TestApp::builder().db(db).s3_with_postgres()).await;
    make_member(&w, "rita").await;
    let app = &w.app;
    let console = Caller::console();
    for c in ["cara", "carl"] {
        app.state.identity.add_account(&console, c, &format!("{c}@example.org"), false).await.unwrap();
        app.state.identity.set_role(&console, c, Role::OutputChecker, true).await.unwrap();
    }
    let outputs = app.drive_path(&Drive::Outputs("heart".into()));
    std::fs::create_dir_all(outputs.join("tables")).unwrap();
    std::fs::write(outputs.join("tables/counts.csv"), TABLE).unwrap();
    std::fs::write(outputs.join("small.csv"), SMALL).unwrap();
    w
}

async fn actions(app: &TestApp) -> Vec<String> {
    app.store.audit_events(0, 0).map(|e| e.unwrap().action).collect().await
}

async fn a_request_is_pinned_checked_reviewed_blind_and_released_exactly(db: TestDb) {
    let w = world(db).await;
    let app = &w.app;
    let e = &app.state.egress;
    let rita = at(app, "rita", &[Role::Researcher]);
    let owen = at(app, "owen", &[Role::Staff]);
    let cara = at(app, "cara", &[Role::OutputChecker]);
    let carl = at(app, "carl", &[Role::OutputChecker]);

    // Only a member the IAO allowed may make a request; only the IAO allows.
    assert!(matches!(e.create(&rita, "heart", "Table 1").await, Err(CoreError::Forbidden)));
    assert!(e.set_permission(&cara, "heart", "rita", true).await.is_err());
    assert!(e.set_permission(&owen, "heart", "nobody", true).await.is_err(), "not a member");
    assert!(e.set_permission(&owen, "heart", "rita", true).await.unwrap());
    assert!(app.mail.sent().iter().any(|m| m.to == "rita@example.org" && m.subject.contains("request outputs")));
    let id = e.create(&rita, "heart", "Table 1 of the paper").await.unwrap();

    // Files are pinned as they were when added, and checked on those bytes.
    let counts = e.add_file(&rita, &id, "tables/counts.csv", "tables").await.unwrap();
    assert_eq!(counts.sha256, hex::encode(haven_crypto::sha256(TABLE.as_bytes())));
    assert_eq!(counts.verdict(), Verdict::Pass);
    let small = e.add_file(&rita, &id, "/small.csv", "tables").await.unwrap();
    assert_eq!(small.verdict(), Verdict::Fail);
    assert!(e.add_file(&rita, &id, "../../etc/passwd", "tables").await.is_err());
    assert!(e.add_file(&rita, &id, "missing.csv", "tables").await.is_err());
    assert!(matches!(e.add_file(&rita, &id, "small.csv", "again").await, Err(CoreError::Conflict(_))), "same name");
    let outputs = app.drive_path(&Drive::Outputs("heart".into()));
    std::fs::write(outputs.join("tables/counts.csv"), "region,patients\nNorth,1\n").unwrap();

    // Nothing is submitted with a group undescribed; checkers see nothing of a draft.
    assert!(matches!(e.submit(&rita, &id).await, Err(CoreError::Conflict(_))));
    assert!(matches!(e.view(&cara, &id).await, Err(CoreError::NotFound)));
    // What the checks found is data: the author sees how many findings of each rule, not where
    // they are or what they quote, and never a file's contents.
    let mine = e.view(&rita, &id).await.unwrap();
    let report = mine.request.files.iter().find(|f| f.name == "small.csv").unwrap().report.clone().unwrap();
    assert!(report.findings.iter().all(|f| f.row.is_none() && f.column.is_none() && !f.detail.contains('3')));
    assert_eq!(report.verdict, Verdict::Fail);
    assert!(matches!(e.file(&rita, &id, "small.csv").await, Err(CoreError::Refused(_))));
    // An auditor sees no draft, and later only the tally; the console sees everything.
    let auditor = at(app, "aud", &[Role::Auditor]);
    assert!(matches!(e.view(&auditor, &id).await, Err(CoreError::NotFound)));
    assert_eq!(e.view(&Caller::console(), &id).await.unwrap().state, "draft");
    e.describe(&rita, &id, "tables", "patients by region, 2024", "counts under 10 suppressed").await.unwrap();
    e.submit(&rita, &id).await.unwrap();
    assert!(app.mail.sent().iter().any(|m| m.to == "cara@example.org" && m.subject.contains("to review")));
    assert!(app.mail.sent().iter().any(|m| m.to == "owen@example.org" && m.subject.contains("to review")));
    assert!(!app.mail.sent().iter().any(|m| m.to == "rita@example.org" && m.subject.contains("to review")));
    assert!(e.add_file(&rita, &id, "small.csv", "more").await.is_err(), "no edits after submission");

    // The author never reviews, even holding the checker role.
    let rita_checker = at(app, "rita", &[Role::OutputChecker]);
    let own = e.vote(&rita_checker, &id, Decision::Approve, "").await.unwrap_err();
    assert!(matches!(own, CoreError::Refused(_)), "{own:?}");
    assert!(e.vote(&owen, &id, Decision::Approve, "").await.is_err(), "the IAO is not a checker");

    // A failing file needs a checker's override with a reason before anyone approves.
    assert!(matches!(e.vote(&cara, &id, Decision::Approve, "").await, Err(CoreError::Conflict(_))));
    assert!(e.override_verdict(&cara, &id, "small.csv", Verdict::Review, " ").await.is_err());
    e.override_verdict(&cara, &id, "small.csv", Verdict::Review, "3 counts sites, not patients").await.unwrap();
    e.comment(&cara, &id, "tables", "check row 2 with the author", true).await.unwrap();
    e.comment(&cara, &id, "tables", "please confirm row 2 counts sites", false).await.unwrap();
    e.vote(&cara, &id, Decision::Approve, "").await.unwrap();

    // Blind: neither carl nor rita sees how cara voted, nor rita the checkers' own comment.
    for (who, reviewer) in [(&carl, true), (&rita, false)] {
        let v = e.view(who, &id).await.unwrap();
        assert!(v.request.votes.is_empty(), "{}", who.user_id);
        assert!(v.request.history.iter().all(|h| !h.what.contains("approve")), "{:?}", v.request.history);
        assert_eq!(v.request.comments.iter().filter(|c| c.checkers_only).count(), usize::from(reviewer));
    }
    assert!(e.view(&carl, &id).await.unwrap().can.vote);
    e.vote(&carl, &id, Decision::Approve, "").await.unwrap();
    // Identifiable data: the IAO's approval too.
    assert_eq!(e.view(&rita, &id).await.unwrap().state, "in_review");
    assert!(matches!(e.download_link(&rita, &id).await, Err(CoreError::Conflict(_))));
    // The checkers see where the findings are; reading a file is audited.
    let theirs = e.view(&carl, &id).await.unwrap();
    let small_report = theirs.request.files.iter().find(|f| f.name == "small.csv").unwrap().report.clone().unwrap();
    assert!(small_report.findings.iter().any(|f| f.row == Some(2) && f.column.as_deref() == Some("patients")));
    let (_bytes, _) = e.file(&carl, &id, "small.csv").await.unwrap();
    let audited = e.view(&auditor, &id).await.unwrap();
    let tallied = audited.request.files.iter().find(|f| f.name == "small.csv").unwrap().report.clone().unwrap();
    assert!(tallied.findings.iter().all(|f| f.row.is_none()), "an auditor sees the tally");
    assert!(e.file(&auditor, &id, "small.csv").await.is_err());
    e.iao_approve(&owen, &id).await.unwrap();
    assert!(app.mail.sent().iter().any(|m| m.to == "rita@example.org" && m.subject.contains("approved")));
    assert!(e.release(&rita_checker, &id).await.is_err(), "not by its author");
    e.release(&cara, &id).await.unwrap();
    assert!(app.mail.sent().iter().any(|m| m.to == "rita@example.org" && m.subject.contains("released")));
    assert!(!app.mail.sent().iter().any(|m| m.text.contains("/egress/download/")), "no secret in an email");

    // One link, for rita alone, once.
    assert!(e.download_link(&cara, &id).await.is_err());
    let (path, _) = e.download_link(&rita, &id).await.unwrap();
    let secret = path.rsplit('/').next().unwrap();
    assert!(matches!(e.take_download(&carl, secret).await, Err(CoreError::LinkInvalid)));
    let d = e.take_download(&rita, secret).await.unwrap();
    assert!(matches!(e.take_download(&rita, secret).await, Err(CoreError::LinkInvalid)), "single use");
    let key = hex::encode(app.signer.public_key());
    let sig = serde_json::to_vec(&d.signature).unwrap();
    let m = release::verify(d.manifest.as_bytes(), &sig, &key).unwrap();
    assert_eq!((m.asset.as_str(), m.author.as_str(), m.downloaded_by.as_str()), ("heart", "rita", "rita"));
    assert_eq!(m.files.len(), 2);
    let whos: Vec<&str> = m.decisions.iter().map(|d| d.by.as_str()).collect();
    assert!(whos.contains(&"cara") && whos.contains(&"carl") && whos.contains(&"owen"), "{whos:?}");
    let overridden = m.files.iter().find(|f| f.name == "small.csv").unwrap();
    assert_eq!((overridden.checked, overridden.verdict), (Verdict::Fail, Verdict::Review));
    for (f, meta) in &d.files {
        let mut data = e.open_pinned(meta).await.unwrap();
        let mut bytes = Vec::new();
        while let Some(chunk) = data.next().await {
            bytes.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(hex::encode(haven_crypto::sha256(&bytes)), f.sha256, "{}", f.name);
    }
    assert_eq!(d.files.iter().find(|(f, _)| f.name == "counts.csv").unwrap().0.sha256, counts.sha256);
    let mut forged = d.manifest.clone().into_bytes();
    forged[20] ^= 1;
    assert!(release::verify(&forged, &sig, &key).is_err());

    // Revoked: no more links.
    e.revoke(&cara, &id, "row 2 turned out to count patients").await.unwrap();
    assert!(matches!(e.download_link(&rita, &id).await, Err(CoreError::Conflict(_))));

    let done = actions(app).await;
    for a in [
        "egress.permission_granted",
        "egress.created",
        "egress.file_added",
        "egress.group_described",
        "egress.submitted",
        "egress.refused",
        "egress.verdict_overridden",
        "egress.voted",
        "egress.iao_approved",
        "egress.released",
        "egress.link_issued",
        "egress.downloaded",
        "egress.link_refused",
        "egress.revoked",
        "egress.file_read",
    ] {
        assert!(done.iter().any(|d| d == a), "{a} missing from {done:?}");
    }
    // Lists: rita's own; the checkers' queue never holds their own.
    assert_eq!(e.lists(&rita).await.unwrap().mine.len(), 1);
    assert_eq!(e.all(&Caller::console(), Some("heart")).await.unwrap().len(), 1);

    // Withdrawn permission: no new requests.
    e.set_permission(&owen, "heart", "rita", false).await.unwrap();
    assert!(matches!(e.create(&rita, "heart", "another").await, Err(CoreError::Forbidden)));
}

async fn a_pinned_copy_that_changed_is_not_released(db: TestDb) {
    let w = world(db).await;
    let app = &w.app;
    let e = &app.state.egress;
    let (rita, owen) = (at(app, "rita", &[]), at(app, "owen", &[Role::Staff]));
    let (cara, carl) = (at(app, "cara", &[Role::OutputChecker]), at(app, "carl", &[Role::OutputChecker]));
    e.set_permission(&owen, "heart", "rita", true).await.unwrap();
    let id = e.create(&rita, "heart", "T").await.unwrap();
    let pinned = e.add_file(&rita, &id, "tables/counts.csv", "t").await.unwrap();
    e.describe(&rita, &id, "t", "counts", "none needed").await.unwrap();
    e.submit(&rita, &id).await.unwrap();
    for c in [&cara, &carl] {
        e.vote(c, &id, Decision::Approve, "").await.unwrap();
    }
    e.iao_approve(&owen, &id).await.unwrap();
    // Someone with the storage in hand swaps the sealed copy for another object's bytes.
    let other = e.create(&rita, "heart", "U").await.unwrap();
    let decoy = e.add_file(&rita, &other, "small.csv", "t").await.unwrap();
    app.swap_blob(&pinned.object, &decoy.object).await;
    let refused = e.release(&cara, &id).await.unwrap_err();
    assert!(matches!(refused, CoreError::Conflict(ref m) if m.contains("counts.csv")), "{refused:?}");
    let v = e.view(&rita, &id).await.unwrap();
    assert!(matches!(v.state, "approved"), "nothing released");
    assert!(actions(app).await.iter().any(|a| a == "egress.integrity_failed"));
}

async fn people_acting_at_once_and_requests_dropped_midway_leave_a_whole_request(db: TestDb) {
    let w = world(db).await;
    let app = &w.app;
    let e = &app.state.egress;
    let (rita, owen) = (at(app, "rita", &[]), at(app, "owen", &[Role::Staff]));
    let (cara, carl) = (at(app, "cara", &[Role::OutputChecker]), at(app, "carl", &[Role::OutputChecker]));
    e.set_permission(&owen, "heart", "rita", true).await.unwrap();
    let id = e.create(&rita, "heart", "T").await.unwrap();
    let outputs = app.drive_path(&Drive::Outputs("heart".into()));
    for i in 0..24 {
        std::fs::write(outputs.join(format!("t{i}.csv")), format!("region,n\nNorth,{}\n", 100 + i)).unwrap();
    }
    // Four files added at once: each lands (a save that lost the race is applied again).
    let paths: Vec<String> = (0..4).map(|i| format!("t{i}.csv")).collect();
    let adds = paths.iter().map(|p| e.add_file(&rita, &id, p, "t")).collect::<Vec<_>>();
    for added in futures::future::join_all(adds).await {
        added.unwrap();
    }
    // Twenty more, each dropped at a different moment (the browser went away).
    for i in 4..24u64 {
        let path = format!("t{i}.csv");
        let _ =
            tokio::time::timeout(std::time::Duration::from_micros(i * 300), e.add_file(&rita, &id, &path, "t")).await;
    }
    // Whatever a dropped add left is a blob no record names, which the sweep removes (once the
    // blocking writes a dropped add started have finished); every file the request holds opens
    // with its pinned bytes.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    haven_core::blobs::sweep_unrecorded(app.store.as_ref(), app.blobs.as_ref(), app.clock.as_ref(), Some(i64::MAX))
        .await
        .unwrap();
    let v = e.view(&rita, &id).await.unwrap();
    let files = v.request.files.len();
    assert!(files >= 4, "{files}");
    assert_eq!(app.blob_count().await, files, "one sealed copy per pinned file, nothing else");
    // A file taken out of the request is shredded: its key and its blob go.
    let out = v.request.files[0].clone();
    e.remove_file(&rita, &id, &out.name).await.unwrap();
    assert_eq!(app.blob_count().await, files - 1);
    let v = e.view(&rita, &id).await.unwrap();
    e.describe(&rita, &id, "t", "counts", "none needed").await.unwrap();
    e.submit(&rita, &id).await.unwrap();
    for f in &v.request.files {
        let (mut data, pinned) = e.file(&cara, &id, &f.name).await.unwrap();
        let mut bytes = Vec::new();
        while let Some(chunk) = data.next().await {
            bytes.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(hex::encode(haven_crypto::sha256(&bytes)), pinned.sha256);
    }
    // Two checkers vote and comment at the same moment: every vote and comment is kept.
    let (a, b) = tokio::join!(e.vote(&cara, &id, Decision::Approve, ""), e.vote(&carl, &id, Decision::Approve, ""));
    a.unwrap();
    b.unwrap();
    let comments = [&cara, &carl, &cara, &rita].map(|who| e.comment(who, &id, "t", "noted", false));
    for c in futures::future::join_all(comments).await {
        c.unwrap();
    }
    let v = e.view(&owen, &id).await.unwrap();
    assert_eq!((v.state, v.request.votes.len(), v.request.comments.len()), ("in_review", 2, 4));
    assert!(v.can.iao_approve && !v.can.vote);
    let mine = e.view(&rita, &id).await.unwrap();
    assert!(!mine.can.vote && !mine.can.edit && mine.can.withdraw && mine.viewer == Viewer::Author);
}
