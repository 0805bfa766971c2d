//! Store contract for the governance SQL, on SQLite and PostgreSQL: assets, memberships as a
//! history, compliance, training, requests and the access report read back the same on both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use haven_core::accounts::{NewUser, Role};
use haven_core::governance::records::{
    AccessRequest, Area, Asset, AssetAdmin, AssetStatus, Classification, Closure, ComplianceItem, ComplianceKind,
    MemberRole, Membership, RequestKind, RequestStatus, StorageArea, TrainingRecord,
};
use haven_core::governance::store::{Paging, Profile};
use haven_core::{StoreError, transact};
use haven_testkit::contract;
use haven_testkit::db::TestDb;

contract!(
    assets_areas_and_administrators_round_trip,
    memberships_keep_their_history,
    compliance_training_and_profiles_round_trip,
    requests_filter_and_feed_the_access_report,
);

fn user(id: &str, roles: Vec<Role>) -> NewUser {
    NewUser { id: id.into(), email: format!("{id}@example.org"), password_hash: "phc".into(), roles, created_us: 1 }
}

fn asset(name: &str, ig_ref: &str) -> Asset {
    Asset {
        name: name.into(),
        ig_ref: ig_ref.into(),
        classification: Classification::Pseudonymised,
        description: "a study".into(),
        starts_us: 10,
        ends_us: 0,
        status: AssetStatus::Active,
        iao: "owen".into(),
        created_us: 10,
        review_due_us: 1000,
        closed_us: 0,
        closure: None,
    }
}

fn member(asset: &str, user: &str, starts_us: i64, ends_us: i64, request_id: i64) -> Membership {
    Membership {
        id: 0,
        asset: asset.into(),
        user_id: user.into(),
        role: MemberRole::Researcher,
        starts_us,
        ends_us,
        ended_us: 0,
        end_reason: String::new(),
        request_id,
        confirmed_us: starts_us,
        flagged_us: 0,
        suspended: false,
    }
}

/// Run one statement that must fail as a duplicate, in a unit of its own (on PostgreSQL a failed
/// statement ends its transaction).
async fn duplicate<F>(db: &TestDb, work: F)
where
    F: for<'a> FnOnce(&'a mut dyn haven_core::Tx) -> futures::future::BoxFuture<'a, Result<(), StoreError>>
        + Send
        + 'static,
{
    let outcome = transact(&db.store, work).await;
    assert!(matches!(outcome, Err(StoreError::Duplicate(_))), "{outcome:?}");
}

async fn people(db: &TestDb) {
    transact(&db.store, |tx| {
        Box::pin(async move {
            tx.insert_user(&user("owen", vec![Role::Staff])).await?;
            tx.insert_user(&user("alice", vec![Role::Researcher])).await?;
            tx.insert_user(&user("bob", vec![Role::Researcher])).await?;
            tx.insert_user(&user("carol", vec![Role::Researcher, Role::Auditor])).await?;
            Ok::<_, StoreError>(())
        })
    })
    .await
    .unwrap();
}

async fn assets_areas_and_administrators_round_trip(db: TestDb) {
    people(&db).await;
    transact(&db.store, |tx| {
        Box::pin(async move {
            tx.insert_asset(&asset("heart", "IG/00001")).await?;
            tx.insert_asset(&asset("brain", "IG/00002")).await?;
            Ok::<_, StoreError>(())
        })
    })
    .await
    .unwrap();
    duplicate(&db, |tx| Box::pin(async move { tx.insert_asset(&asset("heart", "IG/00003")).await })).await;
    duplicate(&db, |tx| Box::pin(async move { tx.insert_asset(&asset("lung", "IG/00001")).await })).await;
    duplicate(&db, |tx| {
        Box::pin(async move {
            tx.add_asset_admin(&AssetAdmin { asset: "heart".into(), user_id: "alice".into(), added_us: 11 }).await?;
            tx.add_asset_admin(&AssetAdmin { asset: "heart".into(), user_id: "alice".into(), added_us: 12 }).await
        })
    })
    .await;
    transact(&db.store, |tx| {
        Box::pin(async move {
            let back = tx.asset("heart").await?.unwrap();
            assert_eq!(
                (back.ig_ref.as_str(), back.classification, back.closure),
                ("IG/00001", Classification::Pseudonymised, None)
            );
            let names: Vec<String> = tx.assets().await?.into_iter().map(|a| a.name).collect();
            assert_eq!(names, ["brain", "heart"]);

            for area in Area::ALL {
                let area = StorageArea {
                    asset: "heart".into(),
                    area: *area,
                    prefix: format!("heart/{}/", area.as_str()),
                    created_us: 10,
                };
                tx.insert_storage_area(&area).await?;
            }
            let areas = tx.storage_areas("heart").await?;
            assert_eq!(areas.iter().map(|a| a.area).collect::<Vec<_>>(), [Area::Arrivals, Area::Outputs, Area::Shared]);

            tx.add_asset_admin(&AssetAdmin { asset: "heart".into(), user_id: "alice".into(), added_us: 11 }).await?;
            assert_eq!(tx.asset_admins("heart").await?.len(), 1);
            let of_alice: Vec<String> = tx.assets_of("alice").await?.into_iter().map(|a| a.name).collect();
            assert_eq!(of_alice, ["heart"]);
            assert_eq!(tx.assets_of("owen").await?.len(), 2);
            assert!(tx.remove_asset_admin("heart", "alice").await?);
            assert!(!tx.remove_asset_admin("heart", "alice").await?);

            tx.insert_project_key("heart", 1, b"wrapped", 10).await?;
            assert!(tx.project_key("heart").await?.is_some());
            assert_eq!(tx.delete_project_keys("heart").await?, 1);
            assert!(tx.project_key("heart").await?.is_none());

            let mut closed = back;
            closed.status = AssetStatus::Closed;
            closed.closed_us = 50;
            closed.closure = Some(Closure::Shred);
            closed.review_due_us = 77;
            tx.update_asset(&closed).await?;
            let back = tx.asset("heart").await?.unwrap();
            assert_eq!(
                (back.status, back.closed_us, back.closure, back.review_due_us),
                (AssetStatus::Closed, 50, Some(Closure::Shred), 77)
            );
            Ok::<_, StoreError>(())
        })
    })
    .await
    .unwrap();
}

async fn memberships_keep_their_history(db: TestDb) {
    people(&db).await;
    transact(&db.store, |tx| {
        Box::pin(async move {
            tx.insert_asset(&asset("heart", "IG/00001")).await?;
            tx.insert_membership(&member("heart", "alice", 100, 500, 7)).await?;
            Ok::<_, StoreError>(())
        })
    })
    .await
    .unwrap();
    // One current membership per person and asset.
    duplicate(&db, |tx| {
        Box::pin(async move { tx.insert_membership(&member("heart", "alice", 101, 500, 8)).await.map(|_| ()) })
    })
    .await;
    transact(&db.store, |tx| {
        Box::pin(async move {
            let first = tx.current_membership("heart", "alice").await?.unwrap().id;
            assert!(tx.end_membership(first, 200, "replaced by request #8").await?);
            assert!(!tx.end_membership(first, 201, "again").await?);
            let second = tx.insert_membership(&member("heart", "alice", 200, 300, 8)).await?;
            tx.insert_membership(&member("heart", "bob", 150, 900, 9)).await?;

            let current = tx.current_membership("heart", "alice").await?.unwrap();
            assert_eq!((current.id, current.request_id, current.ends_us), (second, 8, 300));
            assert_eq!(tx.memberships("heart", true).await?.len(), 2);
            let all = tx.memberships("heart", false).await?;
            assert_eq!(
                all.iter().map(|m| (m.user_id.as_str(), m.ended_us)).collect::<Vec<_>>(),
                [("alice", 200), ("alice", 0), ("bob", 0)]
            );
            assert_eq!(all[0].end_reason, "replaced by request #8");
            assert_eq!(tx.memberships_of("bob").await?.len(), 1);
            let due: Vec<i64> = tx.memberships_due_to_end(300).await?.into_iter().map(|m| m.id).collect();
            assert_eq!(due, [second]);

            let mut m = current;
            m.flagged_us = 400;
            m.suspended = true;
            m.confirmed_us = 5;
            tx.update_membership_review(&m).await?;
            let back = tx.current_membership("heart", "alice").await?.unwrap();
            assert_eq!((back.flagged_us, back.suspended, back.confirmed_us), (400, true, 5));

            // carol has a staff role, owen is staff: only someone with nothing is listed.
            assert!(tx.accounts_without_access().await?.is_empty());
            tx.end_membership(second, 300, "end date").await?;
            assert_eq!(tx.accounts_without_access().await?, ["alice"]);
            tx.add_asset_admin(&AssetAdmin { asset: "heart".into(), user_id: "alice".into(), added_us: 1 }).await?;
            assert!(tx.accounts_without_access().await?.is_empty());
            Ok::<_, StoreError>(())
        })
    })
    .await
    .unwrap();
}

async fn compliance_training_and_profiles_round_trip(db: TestDb) {
    people(&db).await;
    transact(&db.store, |tx| {
        Box::pin(async move {
            tx.insert_asset(&asset("heart", "IG/00001")).await?;
            let item = |kind, expires_us| ComplianceItem {
                asset: "heart".into(),
                kind,
                reference: "REC 22/LO/0001".into(),
                expires_us,
                updated_us: 1,
                updated_by: "desk".into(),
                flagged_us: 0,
            };
            tx.put_compliance_item(&item(ComplianceKind::Ethics, 500)).await?;
            tx.put_compliance_item(&item(ComplianceKind::Dpia, 900)).await?;
            tx.put_compliance_item(&ComplianceItem { flagged_us: 3, ..item(ComplianceKind::Ethics, 600) }).await?;
            let items = tx.compliance_items("heart").await?;
            assert_eq!(
                items.iter().map(|i| (i.kind, i.expires_us, i.flagged_us)).collect::<Vec<_>>(),
                [(ComplianceKind::Dpia, 900, 0), (ComplianceKind::Ethics, 600, 3)]
            );
            assert_eq!(tx.compliance_expiring(700).await?.len(), 1);

            let record = |course: &str, completed_us, expires_us| TrainingRecord {
                id: 0,
                user_id: "alice".into(),
                course: course.into(),
                completed_us,
                expires_us,
                recorded_by: "desk".into(),
                recorded_us: completed_us,
                reminders: 0,
            };
            let old = tx.insert_training(&record("dsa", 10, 100)).await?;
            let new = tx.insert_training(&record("dsa", 50, 400)).await?;
            assert_eq!(tx.training_of("alice").await?.iter().map(|r| r.id).collect::<Vec<_>>(), [new, old]);
            assert_eq!(tx.training_expiring(90, 400, 1).await?.iter().map(|r| r.id).collect::<Vec<_>>(), [old, new]);
            tx.set_training_reminders(old, 1).await?;
            assert_eq!(tx.training_expiring(90, 400, 1).await?.iter().map(|r| r.id).collect::<Vec<_>>(), [new]);
            assert_eq!(tx.training_expiring(90, 400, 2).await?.len(), 2);

            assert_eq!(tx.aus_version("alice").await?, 0);
            tx.accept_aus("alice", 1, 5).await?;
            tx.accept_aus("alice", 2, 6).await?;
            assert_eq!(tx.aus_version("alice").await?, 2);

            assert!(tx.profile("bob").await?.is_none());
            let p = Profile { name: "Bob B".into(), organisation: "UCL".into(), auto_disabled_us: 0 };
            tx.put_profile("bob", &p).await?;
            tx.put_profile("bob", &Profile { auto_disabled_us: 9, ..p.clone() }).await?;
            assert_eq!(tx.profile("bob").await?.unwrap(), Profile { auto_disabled_us: 9, ..p });
            Ok::<_, StoreError>(())
        })
    })
    .await
    .unwrap();
    duplicate(&db, |tx| Box::pin(async move { tx.accept_aus("alice", 2, 7).await })).await;
}

async fn requests_filter_and_feed_the_access_report(db: TestDb) {
    people(&db).await;
    transact(&db.store, |tx| {
        Box::pin(async move {
            tx.insert_asset(&asset("heart", "IG/00001")).await?;
            tx.insert_asset(&asset("brain", "IG/00002")).await?;
            let request = |asset: &str, subject: &str, status| AccessRequest {
                id: 0,
                asset: asset.into(),
                kind: RequestKind::Add,
                subject: subject.into(),
                new_email: String::new(),
                new_name: String::new(),
                new_organisation: String::new(),
                role: MemberRole::DataManager,
                ends_us: 900,
                justification: "needs it".into(),
                requested_by: "owen".into(),
                requested_us: 20,
                status,
                decided_by: String::new(),
                decided_us: 0,
                reason: String::new(),
            };
            let a = tx.insert_request(&request("heart", "alice", RequestStatus::Pending)).await?;
            let b = tx.insert_request(&request("heart", "bob", RequestStatus::AwaitingTraining)).await?;
            let c = tx.insert_request(&request("brain", "alice", RequestStatus::Pending)).await?;
            let ids = |v: Vec<AccessRequest>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
            let oldest = |after, limit| Paging::Oldest { after, limit };
            let newest = |before, limit| Paging::Newest { before, limit };
            assert_eq!(ids(tx.requests(None, None, None, oldest(0, 10)).await?), [a, b, c]);
            assert_eq!(ids(tx.requests(Some("heart"), None, None, oldest(0, 10)).await?), [a, b]);
            assert_eq!(ids(tx.requests(None, Some(RequestStatus::Pending), None, oldest(0, 10)).await?), [a, c]);
            assert_eq!(ids(tx.requests(None, None, Some("nobody"), oldest(0, 10)).await?), Vec::<i64>::new());
            assert_eq!(ids(tx.requests(None, None, None, oldest(0, 1)).await?), [a]);
            assert_eq!(ids(tx.requests(None, None, None, oldest(a, 1)).await?), [b], "the next page");
            assert_eq!(ids(tx.requests(None, None, None, newest(0, 2)).await?), [c, b]);
            assert_eq!(ids(tx.requests(None, None, None, newest(b, 2)).await?), [a], "the next (older) page");
            assert_eq!(ids(tx.requests(Some("heart"), None, None, newest(b, 2)).await?), [a]);
            assert_eq!(ids(tx.open_requests_about("alice").await?), [a, c]);

            let mut decided = tx.request(a).await?.unwrap();
            assert_eq!((decided.role, decided.kind), (MemberRole::DataManager, RequestKind::Add));
            decided.status = RequestStatus::Approved;
            decided.decided_by = "desk".into();
            decided.decided_us = 30;
            decided.reason = "IG case checked".into();
            tx.update_request(&decided).await?;
            assert_eq!(ids(tx.open_requests_about("alice").await?), [c]);

            // alice: 30..200 then 200..; bob: 500.. (outside the window); on brain 10..20.
            let first = tx.insert_membership(&member("heart", "alice", 30, 900, a)).await?;
            tx.end_membership(first, 200, "replaced").await?;
            tx.insert_membership(&member("heart", "alice", 200, 900, 0)).await?;
            tx.insert_membership(&member("heart", "bob", 500, 900, b)).await?;
            let old = tx.insert_membership(&member("brain", "alice", 10, 900, c)).await?;
            tx.end_membership(old, 20, "end date").await?;
            let rows = access_rows(tx, 25, 400, None).await?;
            let seen: Vec<(&str, &str, i64, &str)> = rows
                .iter()
                .map(|r| (r.asset.as_str(), r.user_id.as_str(), r.starts_us, r.decided_by.as_str()))
                .collect();
            assert_eq!(seen, [("heart", "alice", 30, "desk"), ("heart", "alice", 200, "")]);
            assert_eq!(rows[0].requested_by, "owen");
            assert_eq!(access_rows(tx, 0, 1000, Some("brain")).await?.len(), 1);
            assert_eq!(access_rows(tx, 0, 1000, Some("heart")).await?.len(), 3);
            assert_eq!(access_rows(tx, 0, 1000, None).await?.len(), 4);
            // An error from the receiver stops the read and is what the caller gets.
            let mut seen = 0;
            let stopped = tx
                .each_access_row(0, 1000, None, &mut |_| {
                    seen += 1;
                    Err(StoreError::Corrupt("stop".into()))
                })
                .await;
            assert!(matches!(stopped, Err(StoreError::Corrupt(_))) && seen == 1);
            Ok::<_, StoreError>(())
        })
    })
    .await
    .unwrap();
}

/// The access rows, collected.
async fn access_rows(
    tx: &mut dyn haven_core::Tx,
    from_us: i64,
    to_us: i64,
    asset: Option<&str>,
) -> Result<Vec<haven_core::governance::records::AccessRow>, StoreError> {
    let mut rows = Vec::new();
    tx.each_access_row(from_us, to_us, asset, &mut |r| {
        rows.push(r);
        Ok(())
    })
    .await?;
    Ok(rows)
}
