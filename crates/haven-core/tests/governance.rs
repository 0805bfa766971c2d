//! Governance use cases, called directly (no HTTP), on SQLite and PostgreSQL with the fake
//! clock: who may ask for and decide access, training that gates it, provisioning, the
//! lifecycle jobs, reviews, closure and the access report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use futures::StreamExt;
use haven_core::accounts::Role;
use haven_core::caller::Caller;
use haven_core::governance::Governance;
use haven_core::governance::assets::NewAsset;
use haven_core::governance::lifecycle::LifecycleRun;
use haven_core::governance::records::{
    Classification, Closure, ComplianceKind, MemberRole, RequestKind, RequestStatus,
};
use haven_core::governance::requests::NewRequest;
use haven_core::governance::store::Paging;
use haven_core::identity::records::AccountStatus;
use haven_core::{Clock, CoreError};
use haven_testkit::app::TestApp;
use haven_testkit::callers::signed_in;
use haven_testkit::db::TestDb;
use time::Duration;

const COURSE: &str = "data-security-awareness";

haven_testkit::contract!(
    requests_are_made_by_the_iao_or_an_iaa_and_decided_by_someone_else,
    training_gates_requests_and_access,
    lifecycle_ends_flags_disables_and_is_idempotent,
    closing_an_asset_ends_access_and_can_shred_its_key,
    reviews_flag_unconfirmed_members,
    reports_name_what_to_act_on,
    bulk_imports_apply_every_row_or_none,
);

struct World {
    app: TestApp,
}

impl World {
    async fn new(db: TestDb) -> World {
        let app = TestApp::builder().db(db).build().await;
        let console = Caller::console();
        let id = &app.state.identity;
        for (user, admin) in
            [("dora", true), ("dave", true), ("owen", false), ("ian", false), ("alice", false), ("rita", false)]
        {
            id.add_account(&console, user, &format!("{user}@example.org"), admin).await.unwrap();
        }
        id.set_role(&console, "owen", Role::Staff, true).await.unwrap();
        for user in ["owen", "ian", "rita"] {
            app.state.governance.record_training(&console, user, COURSE, "2025-12-01", "").await.unwrap();
        }
        let world = World { app };
        world.gov().create_asset(&console, new_asset("heart", "IG/00001", "owen")).await.unwrap();
        world.gov().set_iaa(&world.as_user("owen"), "heart", "ian", true).await.unwrap();
        world
    }

    fn gov(&self) -> &Governance {
        &self.app.state.governance
    }

    fn now_us(&self) -> i64 {
        haven_core::to_micros(self.app.clock.now())
    }

    fn as_user(&self, id: &str) -> Caller {
        let roles = match id {
            "dora" | "dave" => vec![Role::Admin],
            "owen" => vec![Role::Staff, Role::Researcher],
            _ => vec![Role::Researcher],
        };
        signed_in(id, &roles, self.now_us())
    }

    fn advance_days(&self, days: i64) {
        self.app.clock.advance(Duration::days(days));
    }

    async fn actions(&self) -> Vec<(String, String)> {
        let events: Vec<_> = self.app.store.audit_events(0, 0).map(|e| e.unwrap()).collect().await;
        events.into_iter().map(|e| (e.action, e.target)).collect()
    }
}

fn new_asset(name: &str, ig_ref: &str, iao: &str) -> NewAsset {
    NewAsset {
        name: name.into(),
        iao: iao.into(),
        ig_ref: ig_ref.into(),
        classification: Classification::Identifiable,
        description: "Cardiac outcomes".into(),
        starts: String::new(),
        ends: String::new(),
    }
}

fn add(asset: &str, user: &str, ends: &str) -> NewRequest {
    NewRequest {
        asset: asset.into(),
        kind: Some(RequestKind::Add),
        user_id: user.into(),
        role: Some(MemberRole::Researcher),
        ends: ends.into(),
        justification: "analysis for the cardiac outcomes study".into(),
        ..NewRequest::default()
    }
}

fn conflict<T: std::fmt::Debug>(r: Result<T, CoreError>, says: &str) {
    match r {
        Err(CoreError::Conflict(m)) | Err(CoreError::Refused(m)) | Err(CoreError::Invalid { message: m, .. }) => {
            assert!(m.contains(says), "{m:?} should say {says:?}")
        }
        other => panic!("expected a refusal saying {says:?}, got {other:?}"),
    }
}

async fn requests_are_made_by_the_iao_or_an_iaa_and_decided_by_someone_else(db: TestDb) {
    let w = World::new(db).await;
    let console = Caller::console();
    // Registering: the IAO must be staff; names and references are checked.
    conflict(w.gov().create_asset(&console, new_asset("lung", "IG/00002", "ian")).await, "not staff");
    conflict(w.gov().create_asset(&console, new_asset("heart", "IG/00009", "owen")).await, "exists already");
    conflict(w.gov().create_asset(&console, new_asset("lung", "IG/00001", "owen")).await, "used by another asset");
    conflict(w.gov().create_asset(&console, new_asset("lung", "00002", "owen")).await, "IG/#####");
    assert!(matches!(
        w.gov().create_asset(&w.as_user("owen"), new_asset("lung", "IG/00002", "owen")).await,
        Err(CoreError::Forbidden)
    ));
    conflict(w.gov().set_iaa(&w.as_user("owen"), "heart", "owen", true).await, "is the IAO");
    assert!(matches!(w.gov().set_iaa(&w.as_user("ian"), "heart", "rita", true).await, Err(CoreError::Forbidden)));

    // A plain member (or anyone else) may not ask; the refusal is audited.
    conflict(
        w.gov().submit_request(&w.as_user("rita"), add("heart", "alice", "2026-06-30")).await,
        "Only the Information Asset Owner",
    );
    assert!(w.actions().await.iter().any(|(a, _)| a == "access_request.refused"));
    // An unknown asset is refused like one the caller has no standing in (no probing for names).
    conflict(
        w.gov().submit_request(&w.as_user("ian"), add("lung", "alice", "2026-06-30")).await,
        "Only the Information Asset Owner",
    );
    // Bad input: past end date, unknown person, asking for oneself.
    conflict(w.gov().submit_request(&w.as_user("ian"), add("heart", "rita", "2025-12-31")).await, "has passed");
    conflict(
        w.gov().submit_request(&w.as_user("ian"), add("heart", "nobody", "2026-06-30")).await,
        "no account nobody",
    );
    conflict(w.gov().submit_request(&w.as_user("ian"), add("heart", "ian", "2026-06-30")).await, "yourself");

    let req = w.gov().submit_request(&w.as_user("ian"), add("heart", "rita", "2026-06-30")).await.unwrap();
    assert_eq!(req.status, RequestStatus::Pending);
    conflict(w.gov().submit_request(&w.as_user("owen"), add("heart", "rita", "2026-06-30")).await, "still open");
    // The desk was told.
    assert!(w.app.mail.last_to("dora@example.org").unwrap().text.contains(&format!("#{}", req.id)));
    // Only the desk decides; nobody decides about themselves.
    assert!(matches!(w.gov().decide(&w.as_user("owen"), req.id, true, "ok").await, Err(CoreError::Forbidden)));
    let about_dave = w.gov().submit_request(&w.as_user("ian"), add("heart", "dave", "2026-06-30")).await;
    // dave has no training: the request waits.
    assert_eq!(about_dave.as_ref().unwrap().status, RequestStatus::AwaitingTraining);
    w.gov().record_training(&w.as_user("dora"), "dave", COURSE, "2025-12-15", "").await.unwrap();
    let about_dave = about_dave.unwrap();
    conflict(w.gov().decide(&w.as_user("dave"), about_dave.id, true, "fine").await, "about you");
    conflict(w.gov().decide(&w.as_user("dora"), req.id, true, " ").await, "required");

    let decided = w.gov().decide(&w.as_user("dora"), req.id, true, "IG case checked").await.unwrap();
    assert_eq!(decided.request.status, RequestStatus::Approved);
    assert!(decided.onboarding_link.is_none());
    conflict(w.gov().decide(&w.as_user("dave"), req.id, false, "again").await, "approved already");
    assert!(w.app.mail.last_to("ian@example.org").unwrap().text.contains("approved"));
    conflict(
        w.gov().submit_request(&w.as_user("ian"), add("heart", "rita", "2026-06-30")).await,
        "member of heart already",
    );

    // A new person: approval makes the account and sends them the onboarding link.
    let newbie = NewRequest {
        email: "New.Person@example.org".into(),
        name: "New Person".into(),
        organisation: "UCL".into(),
        ..add("heart", "", "2026-06-30")
    };
    // A "new person" with an address someone already has (the requester's own, say) is refused.
    let again = NewRequest { email: "IAN@example.org".into(), user_id: "ian2".into(), ..newbie.clone() };
    conflict(w.gov().submit_request(&w.as_user("ian"), again).await, "belongs to the account ian");
    let r = w.gov().submit_request(&w.as_user("ian"), newbie).await.unwrap();
    assert_eq!((r.subject.as_str(), r.status), ("new.person", RequestStatus::Pending));
    let decided = w.gov().decide(&w.as_user("dora"), r.id, true, "welcome").await.unwrap();
    let link = decided.onboarding_link.unwrap();
    let mail = w.app.mail.last_to("New.Person@example.org").unwrap();
    assert!(mail.text.contains(link.as_str()), "{}", mail.text);
    let account = w.app.state.identity.account_view(&console, "new.person").await.unwrap();
    assert!(!account.onboarded);

    // Rita reaches the asset once she accepts the AUS.
    conflict(w.gov().reach(&w.as_user("rita"), "heart").await, "Acceptable Use Statement");
    assert!(w.gov().needs_aus("rita").await.unwrap());
    w.gov().accept_aus(&w.as_user("rita")).await.unwrap();
    assert_eq!(w.gov().reach(&w.as_user("rita"), "heart").await.unwrap(), MemberRole::Researcher);
    conflict(w.gov().reach(&w.as_user("alice"), "heart").await, "not a member");

    // Ending a membership ends access at once.
    w.advance_days(1);
    let end = NewRequest { kind: Some(RequestKind::End), ..add("heart", "rita", "") };
    let end = w.gov().submit_request(&w.as_user("owen"), end).await.unwrap();
    w.gov().decide(&w.as_user("dave"), end.id, true, "left the project").await.unwrap();
    conflict(w.gov().reach(&w.as_user("rita"), "heart").await, "not a member");

    // The access report shows the period with the request and decision behind it.
    let rows = w.gov().access_report(&console, "2026-01-01", "2026-12-31", Some("heart")).await.unwrap();
    let rita: Vec<_> = rows.iter().filter(|r| r.user_id == "rita").collect();
    assert_eq!(rita.len(), 1);
    assert_eq!((rita[0].requested_by.as_str(), rita[0].decided_by.as_str()), ("ian", "dora"));
    assert!(rita[0].ended_us > 0);
    use haven_core::governance::reports::{AccessQuery, Format};
    let q = AccessQuery::new("2026-01-01", "2026-12-31", Some("heart")).unwrap();
    let (csv, n) = w.gov().write_access_report(&console, q, Format::Csv, Vec::new()).await.unwrap();
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.starts_with("asset,user_id,role,from,until"), "{csv}");
    assert_eq!(csv.lines().count() as u64, n + 1, "{csv}");
    assert!(matches!(
        w.gov().access_report(&w.as_user("owen"), "2026-01-01", "2026-12-31", None).await,
        Err(CoreError::Forbidden)
    ));
}

async fn training_gates_requests_and_access(db: TestDb) {
    let w = World::new(db).await;
    let console = Caller::console();
    // alice has no training: the request waits, and moves on by itself when a record arrives.
    let r = w.gov().submit_request(&w.as_user("ian"), add("heart", "alice", "2027-03-31")).await.unwrap();
    assert_eq!(r.status, RequestStatus::AwaitingTraining);
    conflict(w.gov().decide(&w.as_user("dora"), r.id, true, "ok").await, "no current IG training");
    let csv = "user_id,course,completed\nalice,data-security-awareness,2025-12-20\n";
    let rows = haven_core::governance::rules::parse_training_csv(csv.as_bytes(), 12, w.now_us()).unwrap();
    let imported = w.gov().import_training(&console, rows).await.unwrap();
    assert_eq!((imported.records, imported.requests_ready), (1, 1));
    w.gov().decide(&w.as_user("dora"), r.id, true, "trained now").await.unwrap();
    w.gov().accept_aus(&w.as_user("alice")).await.unwrap();
    assert!(w.gov().reach(&w.as_user("alice"), "heart").await.is_ok());

    // A file with one bad row applies nothing.
    let bad = "user_id,course,completed\nrita,dsa,2025-12-01\nnobody,dsa,2025-12-01\n";
    let rows = haven_core::governance::rules::parse_training_csv(bad.as_bytes(), 12, w.now_us()).unwrap();
    conflict(w.gov().import_training(&console, rows).await, "line 3: there is no account nobody");
    assert_eq!(w.gov().training_view(&console, "rita").await.unwrap().records.len(), 1);
    // The desk does not enter their own training.
    let own = "user_id,course,completed\ndora,dsa,2025-12-01\n";
    let rows = haven_core::governance::rules::parse_training_csv(own.as_bytes(), 12, w.now_us()).unwrap();
    conflict(w.gov().import_training(&w.as_user("dora"), rows).await, "your own record");
    assert!(matches!(
        w.gov().record_training(&w.as_user("dora"), "dora", COURSE, "2025-12-01", "").await,
        Err(CoreError::Forbidden)
    ));

    // Lapsed training blocks access and says what to do; a new record restores it.
    w.advance_days(360); // 2026-12-27: alice's record (to 2026-12-20) has lapsed
    let blocked = w.gov().reach(&w.as_user("alice"), "heart").await;
    conflict(blocked, "training has lapsed");
    // An IAA whose own training lapsed can no longer ask.
    conflict(
        w.gov().submit_request(&w.as_user("ian"), add("heart", "rita", "2027-03-31")).await,
        "current IG training",
    );
    w.gov().record_training(&console, "alice", COURSE, "2026-12-26", "").await.unwrap();
    assert!(w.gov().reach(&w.as_user("alice"), "heart").await.is_ok());
}

async fn lifecycle_ends_flags_disables_and_is_idempotent(db: TestDb) {
    let w = World::new(db).await;
    let console = Caller::console();
    let r = w.gov().submit_request(&w.as_user("ian"), add("heart", "rita", "2026-03-31")).await.unwrap();
    w.gov().decide(&w.as_user("dora"), r.id, true, "ok").await.unwrap();
    w.gov()
        .set_compliance(&w.as_user("owen"), "heart", ComplianceKind::Ethics, "REC 25/LO/0001", "2026-01-20")
        .await
        .unwrap();
    w.gov().accept_aus(&w.as_user("rita")).await.unwrap();

    // The ethics approval expires within 30 days: flagged to the IAO and the desk, once.
    let run = w.gov().run_lifecycle().await.unwrap();
    assert_eq!(run.compliance_flagged, 1);
    assert!(w.app.mail.last_to("owen@example.org").unwrap().text.contains("ethics approval"));
    // alice and new accounts without membership are disabled (the staff are not).
    assert_eq!(run.accounts_disabled, 1, "{run:?}");
    let alice = w.app.state.identity.account_view(&console, "alice").await.unwrap();
    assert_eq!(alice.account.status, AccountStatus::Disabled);
    assert_eq!(w.gov().run_lifecycle().await.unwrap(), LifecycleRun::default());
    // Once the desk has decided about the account itself, a new membership does not undo it.
    let identity = &w.app.state.identity;
    identity.set_account_status(&console, "alice", AccountStatus::Active).await.unwrap();
    identity.set_account_status(&console, "alice", AccountStatus::Disabled).await.unwrap();
    w.gov().record_training(&console, "alice", COURSE, "2025-12-01", "").await.unwrap();
    let back = w.gov().submit_request(&w.as_user("ian"), add("heart", "alice", "2026-03-31")).await.unwrap();
    w.gov().decide(&w.as_user("dora"), back.id, true, "ok").await.unwrap();
    let alice = identity.account_view(&console, "alice").await.unwrap();
    assert_eq!(alice.account.status, AccountStatus::Disabled);

    // Expired: access suspended until renewed.
    w.advance_days(21); // 2026-01-22
    conflict(w.gov().reach(&w.as_user("rita"), "heart").await, "ethics approval expired");
    w.gov()
        .set_compliance(&console, "heart", ComplianceKind::Ethics, "REC 25/LO/0001 (renewed)", "2027-01-20")
        .await
        .unwrap();
    assert!(w.gov().reach(&w.as_user("rita"), "heart").await.is_ok());

    // Training reminders at 30 and 7 days before expiry (records to 2026-12-01), once each.
    w.advance_days(290); // 2026-11-08: 23 days before
    let run = w.gov().run_lifecycle().await.unwrap();
    // rita ended on 2026-03-31 meanwhile; the review of heart fell due on 2026-07-01.
    assert_eq!(run.memberships_ended, 2, "{run:?}"); // rita's and alice's
    assert_eq!(run.accounts_disabled, 1, "{run:?}");
    assert_eq!(run.training_reminders, 4, "{run:?}"); // owen, ian, rita, alice
    assert!(w.app.mail.last_to("rita@example.org").unwrap().text.contains("expires on 2026-11-30"));
    assert_eq!(w.gov().run_lifecycle().await.unwrap().training_reminders, 0);
    w.advance_days(20); // 2026-11-28: 3 days before
    assert_eq!(w.gov().run_lifecycle().await.unwrap().training_reminders, 4);

    // A new approved membership enables the account the job disabled.
    w.gov().record_training(&console, "rita", COURSE, "2026-11-27", "").await.unwrap();
    let again = w.gov().submit_request(&w.as_user("owen"), add("heart", "rita", "2027-06-30")).await.unwrap();
    assert_eq!(again.status, RequestStatus::Pending);
    w.gov().decide(&w.as_user("dora"), again.id, true, "back on the study").await.unwrap();
    let rita = w.app.state.identity.account_view(&console, "rita").await.unwrap();
    assert_eq!(rita.account.status, AccountStatus::Active);
    assert!(w.actions().await.contains(&("account.enabled".to_string(), "rita".to_string())));
}

async fn reviews_flag_unconfirmed_members(db: TestDb) {
    let w = World::new(db).await;
    let r = w.gov().submit_request(&w.as_user("ian"), add("heart", "rita", "2026-12-31")).await.unwrap();
    w.gov().decide(&w.as_user("dora"), r.id, true, "ok").await.unwrap();
    w.gov().accept_aus(&w.as_user("rita")).await.unwrap();
    w.advance_days(100);
    assert_eq!(w.gov().run_lifecycle().await.unwrap().reviews_flagged, 0);
    // The review fell due on 2026-07-01; rita was last confirmed when she joined.
    w.advance_days(90); // 2026-07-10
    assert_eq!(w.gov().run_lifecycle().await.unwrap().reviews_flagged, 1);
    assert_eq!(w.gov().run_lifecycle().await.unwrap().reviews_flagged, 0);
    assert!(w.actions().await.contains(&("membership.review_missed".to_string(), "rita".to_string())));
    assert!(w.app.mail.last_to("dora@example.org").unwrap().text.contains("not confirmed: rita"));
    // Flagged, not suspended (the default).
    assert!(w.gov().reach(&w.as_user("rita"), "heart").await.is_ok());
    // Only the IAO reviews; confirming everyone completes the review.
    assert!(matches!(
        w.gov().review(&w.as_user("ian"), "heart", &["rita".into()], &[]).await,
        Err(CoreError::Forbidden)
    ));
    conflict(w.gov().review(&w.as_user("owen"), "heart", &["alice".into()], &[]).await, "not current members");
    let done = w.gov().review(&w.as_user("owen"), "heart", &["rita".into()], &[]).await.unwrap();
    assert!(done.complete);
    assert_eq!(haven_core::governance::rules::show_date(done.next_due_us), "2027-01-10");
}

async fn closing_an_asset_ends_access_and_can_shred_its_key(db: TestDb) {
    let w = World::new(db).await;
    let console = Caller::console();
    let r = w.gov().submit_request(&w.as_user("ian"), add("heart", "rita", "2026-06-30")).await.unwrap();
    w.gov().decide(&w.as_user("dora"), r.id, true, "ok").await.unwrap();
    let pending = w.gov().submit_request(&w.as_user("ian"), add("heart", "alice", "2026-06-30")).await.unwrap();
    assert!(matches!(
        w.gov().close_asset(&w.as_user("ian"), "heart", Closure::Shred, "done").await,
        Err(CoreError::Forbidden)
    ));
    // Its drives hold plaintext: shredding erases them (and only them).
    use haven_core::workspaces::drives::Drive;
    let file = || futures::stream::iter([Ok(bytes::Bytes::from_static(b"id,age\n"))]).boxed();
    let home = Drive::Home { user: "rita".into(), asset: "heart".into() };
    for drive in [Drive::Shared("heart".into()), Drive::Outputs("heart".into()), home.clone()] {
        w.app.drives.place(&drive, "cohort.csv", 7, 1 << 20, file()).await.unwrap();
    }
    let closed = w.gov().close_asset(&w.as_user("owen"), "heart", Closure::Shred, "study finished").await.unwrap();
    assert_eq!((closed.memberships_ended, closed.requests_rejected, closed.keys_destroyed), (1, 1, 1));
    assert!(closed.drives_erased);
    assert!(!w.app.drive_path(&Drive::Shared("heart".into())).exists());
    assert!(!w.app.drive_path(&Drive::Outputs("heart".into())).exists());
    assert!(!w.app.drive_path(&home).exists(), "the members' homes in the asset go with it");
    let trail: Vec<String> = w.app.store.audit_events(0, 0).map(|e| e.unwrap().action).collect().await;
    assert!(trail.iter().any(|a| a == "asset.drives_erased"), "{trail:?}");
    assert_eq!(w.gov().run_lifecycle().await.unwrap().drives_erased, 0, "nothing left for the lifecycle run");
    conflict(w.gov().close_asset(&console, "heart", Closure::Archive, "again").await, "closed already");
    let view = w.gov().asset_view(&console, "heart").await.unwrap();
    assert!(view.members.is_empty());
    assert_eq!(
        w.gov()
            .requests(&console, Some("heart"), None, Paging::Newest { before: 0, limit: 100 })
            .await
            .unwrap()
            .requests
            .iter()
            .find(|q| q.id == pending.id)
            .unwrap()
            .status,
        RequestStatus::Rejected
    );
    // Lists come a page at a time, newest first, each page saying where the next starts.
    let first = w.gov().requests(&console, None, None, Paging::Newest { before: 0, limit: 1 }).await.unwrap();
    assert_eq!((first.requests.len(), first.requests[0].id, first.next), (1, pending.id, Some(pending.id)));
    let second = w.gov().requests(&console, None, None, Paging::Newest { before: pending.id, limit: 1 }).await.unwrap();
    assert_eq!((second.requests[0].id, second.next), (r.id, None), "the last page says so");
    let mine = w.gov().my_requests(&w.as_user("ian"), Paging::Newest { before: 0, limit: 10 }).await.unwrap();
    assert_eq!(mine.requests.iter().map(|q| q.id).collect::<Vec<_>>(), [pending.id, r.id]);
    conflict(w.gov().requests(&console, None, None, Paging::Newest { before: 0, limit: 0 }).await, "give 1 to 1000");
    conflict(w.gov().reach(&w.as_user("rita"), "heart").await, "closed");
    // Shredded for good: no key is made again under the closed asset's name.
    let rng = std::sync::Arc::new(haven_crypto::SystemRng::new());
    let master = haven_crypto::keys::Key256::generate(rng.as_ref()).unwrap();
    let keys = haven_core::keyring::KeyRing::new(master, w.app.store.clone(), w.app.clock.clone(), rng);
    conflict(keys.project_key("heart").await.map(|_| ()), "destroyed when it closed");
    conflict(keys.project_key_version("heart", 1).await.map(|_| ()), "destroyed when it closed");
    // The closure record says what was done.
    let events: Vec<_> = w.app.store.audit_events(0, 0).map(|e| e.unwrap()).collect().await;
    let record = events.iter().find(|e| e.action == "asset.closed").unwrap();
    assert!(
        record.details.contains("\"closure\":\"shred\"")
            && record.details.contains("\"project_key_versions_destroyed\":1"),
        "{}",
        record.details
    );
    conflict(
        w.gov().submit_request(&w.as_user("owen"), add("heart", "alice", "2026-06-30")).await,
        "Only the Information Asset Owner",
    );
}

/// A staff role whose configured course has lapsed gives nothing where the session is made.
#[tokio::test]
async fn lapsed_courses_withdraw_staff_roles() {
    let mut config = haven_core::governance::GovernanceConfig::default();
    config.courses.service_desk = vec!["desk-course".into()];
    let app = TestApp::builder().governance(config).build().await;
    let gov = &app.state.governance;
    let console = Caller::console();
    app.state.identity.add_account(&console, "dora", "dora@example.org", true).await.unwrap();
    let now = haven_core::to_micros(app.clock.now());
    let dora = signed_in("dora", &[Role::Admin, Role::Researcher], now);
    assert_eq!(gov.gate_roles(dora.clone()).await.unwrap().roles, [Role::Researcher]);
    gov.record_training(&console, "dora", "desk-course", "2025-12-01", "").await.unwrap();
    assert_eq!(gov.gate_roles(dora.clone()).await.unwrap().roles, [Role::Admin, Role::Researcher]);
    app.clock.advance(Duration::days(365));
    assert_eq!(gov.gate_roles(dora).await.unwrap().roles, [Role::Researcher]);
}

async fn reports_name_what_to_act_on(db: TestDb) {
    use haven_core::governance::reports::Report;
    let w = World::new(db).await;
    let console = Caller::console();
    let r = w.gov().submit_request(&w.as_user("ian"), add("heart", "rita", "2026-12-31")).await.unwrap();
    w.gov().decide(&w.as_user("dora"), r.id, true, "ok").await.unwrap();
    w.gov().set_compliance(&console, "heart", ComplianceKind::Ethics, "REC 1", "2026-01-20").await.unwrap();
    w.gov().set_compliance(&console, "heart", ComplianceKind::Dpia, "DPIA 7", "2027-06-30").await.unwrap();

    let rows =
        |t: &haven_core::governance::reports::Table| -> Vec<String> { t.rows.iter().map(|r| r.join("|")).collect() };
    let training = w.gov().report(&console, Report::Training).await.unwrap();
    let expected = [
        "heart|owen|IAO|data-security-awareness|current|2026-11-30",
        "heart|ian|IAA|data-security-awareness|current|2026-11-30",
        "heart|rita|researcher|data-security-awareness|current|2026-11-30",
    ];
    assert_eq!(rows(&training), expected);
    assert!(training.csv().unwrap().starts_with("asset,user_id,as,required,status,valid_until\n"));

    // The ethics approval expires within 30 days; the agreement and funding are not recorded;
    // the DPIA is current and not listed.
    let compliance = rows(&w.gov().report(&console, Report::Compliance).await.unwrap());
    assert_eq!(compliance.len(), 3, "{compliance:?}");
    assert!(
        compliance.iter().any(|r| r.contains("ethics approval|REC 1|2026-01-20|expires in 20 day(s)")),
        "{compliance:?}"
    );
    assert!(compliance.iter().any(|r| r.contains("funding|||not recorded")), "{compliance:?}");

    let register = rows(&w.gov().report(&console, Report::Register).await.unwrap());
    assert_eq!(register.len(), 1);
    assert!(register[0].starts_with("heart|IG/00001|identifiable|owen|ian|active|2026-01-01||1|"), "{register:?}");
    assert!(register[0].contains("shared=heart/shared/"), "{register:?}");

    let reviews = rows(&w.gov().report(&console, Report::Reviews).await.unwrap());
    assert_eq!(reviews, ["heart|owen|2026-07-01|not yet open|1|1|0|0"]);
    // Past the deadline, with rita unconfirmed; and training about to lapse.
    w.advance_days(320); // 2026-11-17
    w.gov().run_lifecycle().await.unwrap();
    let reviews = rows(&w.gov().report(&console, Report::Reviews).await.unwrap());
    assert_eq!(reviews, ["heart|owen|2026-07-01|overdue|1|1|1|0"]);
    let training = rows(&w.gov().report(&console, Report::Training).await.unwrap());
    assert!(training.iter().all(|r| r.contains("|expires soon|")), "{training:?}");
    w.advance_days(20);
    let training = rows(&w.gov().report(&console, Report::Training).await.unwrap());
    assert!(training.iter().all(|r| r.contains("|not current: data-security-awareness|")), "{training:?}");

    // Auditors read the reports; nobody else does.
    let auditor = signed_in("aud", &[Role::Auditor], w.now_us());
    assert!(w.gov().report(&auditor, Report::Register).await.is_ok());
    // Usage: heart's members and their sign-ins (none in this world, which signs nobody in).
    let usage = rows(&w.gov().report(&console, Report::Usage).await.unwrap());
    assert!(usage.iter().any(|r| r.starts_with("heart|active|1|1|0|0|0")), "{usage:?}");
    // SATRE: every statement has a verdict; what is not built says so.
    let satre = w.gov().report(&auditor, Report::Satre).await.unwrap();
    assert!(satre.rows.len() >= 40, "{:?}", satre.rows);
    for row in &satre.rows {
        assert!(["evidence", "partial", "no evidence"].contains(&row[2].as_str()), "{row:?}");
    }
    // Counted at most once a minute: within it the same table, later a fresh count.
    assert!(satre.intro.contains("counted again at most once a minute"), "{}", satre.intro);
    let accounts = |t: &haven_core::governance::reports::Table| {
        t.rows.iter().find(|r| r[0] == "1.5.06").map(|r| r[3].clone()).unwrap()
    };
    w.app.state.identity.add_account(&console, "newcomer", "newcomer@example.org", false).await.unwrap();
    w.app.clock.advance(time::Duration::seconds(30));
    let again = w.gov().report(&auditor, Report::Satre).await.unwrap();
    assert_eq!((accounts(&again), &again.intro), (accounts(&satre), &satre.intro), "served from the last count");
    w.app.clock.advance(time::Duration::seconds(31));
    let recounted = w.gov().report(&auditor, Report::Satre).await.unwrap();
    assert_ne!(accounts(&recounted), accounts(&satre), "a minute on, counted again");
    let egress = satre.rows.iter().find(|r| r[0] == "3.1.05").unwrap();
    assert!(egress[3].starts_with("no evidence: egress is not built yet"), "{egress:?}");
    let governed = satre.rows.iter().find(|r| r[0] == "1.5.01").unwrap();
    assert_eq!(governed[2], "evidence", "{governed:?}");
    let researcher = w.as_user("rita");
    assert!(matches!(w.gov().report(&researcher, Report::Register).await, Err(CoreError::Forbidden)));
}

/// Accounts and memberships from CSV at the console: a bad row (here the last) refuses the
/// whole file and nothing is written; only the console imports memberships.
async fn bulk_imports_apply_every_row_or_none(db: TestDb) {
    use haven_core::governance::import::parse_accounts_csv;
    let w = World::new(db).await;
    let console = Caller::console();
    let id = &w.app.state.identity;
    let before = w.actions().await.len();
    let taken = parse_accounts_csv("user_id,email\nnora,nora@example.org\nrita,r2@example.org\n".as_bytes()).unwrap();
    conflict(id.import_accounts(&console, taken).await, "line 3: the user id rita is taken");
    assert!(id.find_accounts(&console, "nora").await.unwrap().is_empty(), "nothing from the refused file");
    assert_eq!(w.actions().await.len(), before, "nor any audit event");
    let good =
        parse_accounts_csv("user_id,email,roles\nnora,nora@example.org,\nnoel,noel@example.org,staff\n".as_bytes())
            .unwrap();
    assert_eq!(id.import_accounts(&console, good).await.unwrap(), 2);
    assert!(w.app.mail.last_to("noel@example.org").unwrap().text.contains("/security/onboard"));

    let csv = |text: &str| w.gov().read_members_csv(text.as_bytes()).unwrap();
    let bad = csv(
        "asset,user_id,role,ends\nheart,nora,researcher,2030-01-01\nheart,rita,researcher,2030-01-01\nlung,noel,researcher,2030-01-01\n",
    );
    conflict(w.gov().import_memberships(&console, bad).await, "line 4: there is no asset lung");
    let members =
        csv("asset,user_id,role,ends\nheart,nora,researcher,2030-01-01\nheart,rita,data_manager,2030-01-01\n");
    assert!(matches!(w.gov().import_memberships(&w.as_user("dora"), members.clone()).await, Err(CoreError::Forbidden)));
    assert!(w.gov().asset_view(&console, "heart").await.unwrap().members.is_empty(), "nothing from the refused file");
    let done = w.gov().import_memberships(&console, members.clone()).await.unwrap();
    assert_eq!((done.memberships, done.assets), (2, 1));
    let view = w.gov().asset_view(&console, "heart").await.unwrap();
    let mut who: Vec<(&str, i64)> = view.members.iter().map(|m| (m.user_id.as_str(), m.request_id)).collect();
    who.sort();
    assert_eq!(who, [("nora", 0), ("rita", 0)]);
    conflict(w.gov().import_memberships(&console, members).await, "line 2: nora is a member of heart already");
    // From here her access follows the usual rules: trained, but the AUS not yet accepted.
    let blocked = format!("{:?}", w.gov().reach(&w.as_user("rita"), "heart").await);
    assert!(blocked.contains("Acceptable Use Statement"), "{blocked}");
}
