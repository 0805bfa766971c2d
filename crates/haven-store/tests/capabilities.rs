//! Store contract for the capabilities' SQL (identity and packages), on SQLite and PostgreSQL:
//! what a use case writes through its `Tx` part reads back the same on both databases, and the
//! single-use operations (links, recovery codes, decisions) work once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use haven_core::accounts::{NewUser, Role};
use haven_core::blobs::ObjectMeta;
use haven_core::identity::records::{
    AccountStatus, LinkPurpose, LinkRecord, OtpKind, OtpTokenRecord, SessionKind, SessionRecord, TokenState,
};
use haven_core::packages::records::{CachedFile, NewRule, RequestRecord, RequestStatus};
use haven_core::tokens::{PersonalToken, TokenScope};
use haven_core::{StoreError, transact};
use haven_packages::osv::{Advisory, Affected, Event, Severity};
use haven_packages::policy::{Ecosystem, RuleKind};
use haven_testkit::contract;
use haven_testkit::db::TestDb;

contract!(
    accounts_roles_and_password_history_round_trip,
    tokens_sessions_and_single_use_secrets_round_trip,
    package_rules_requests_and_repository_tokens_round_trip,
    advisories_and_upload_times_round_trip,
    cached_package_files_join_their_objects,
);

fn user(id: &str, roles: Vec<Role>) -> NewUser {
    NewUser { id: id.into(), email: format!("{id}@example.org"), password_hash: "phc".into(), roles, created_us: 1 }
}

async fn accounts_roles_and_password_history_round_trip(db: TestDb) {
    transact(&db.store, |tx| {
        Box::pin(async move {
            tx.insert_user(&user("alice", vec![Role::Researcher])).await?;
            tx.insert_user(&user("bob", vec![Role::Admin, Role::PackageReviewer])).await?;
            let mut alice = tx.account("alice").await?.unwrap();
            assert_eq!(
                (alice.email.as_str(), alice.status, alice.roles.clone()),
                ("alice@example.org", AccountStatus::Active, vec![Role::Researcher])
            );
            alice.status = AccountStatus::Locked;
            alice.failed_signins = 3;
            alice.locked_until_us = 99;
            alice.ice_enabled = false;
            tx.update_account(&alice).await?;
            let back = tx.account("alice").await?.unwrap();
            assert_eq!(
                (back.status, back.failed_signins, back.locked_until_us, back.ice_enabled),
                (AccountStatus::Locked, 3, 99, false)
            );
            assert!(tx.account("nobody").await?.is_none());
            assert_eq!(tx.find_accounts("ali", 10).await?.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["alice"]);
            assert!(tx.set_role("alice", Role::PackageReviewer, true).await?);
            let reviewers: Vec<String> =
                tx.accounts_with_role("package_reviewer").await?.into_iter().map(|a| a.id).collect();
            assert_eq!(reviewers, ["bob"], "only active accounts (alice is locked)");
            let mut alice = tx.account("alice").await?.unwrap();
            alice.status = AccountStatus::Active;
            tx.update_account(&alice).await?;
            assert_eq!(tx.accounts_with_role("package_reviewer").await?.len(), 2);
            assert!(tx.set_role("alice", Role::PackageReviewer, false).await?);
            assert_eq!(tx.accounts_with_role("package_reviewer").await?.len(), 1);
            for (i, old) in ["h1", "h2", "h3"].into_iter().enumerate() {
                tx.push_password_history("alice", old, i as i64, 2).await?;
            }
            assert_eq!(tx.password_history("alice", 5).await?, ["h3", "h2"], "newest first, kept to the limit");
            Ok::<_, StoreError>(())
        })
    })
    .await
    .unwrap();
}

fn token(serial: &str, user: Option<&str>) -> OtpTokenRecord {
    OtpTokenRecord {
        serial: serial.into(),
        user_id: user.map(str::to_string),
        kind: OtpKind::Totp,
        product: "mobileid_totp".into(),
        algorithm: "SHA1".into(),
        digits: 6,
        period: 30,
        seed_sealed: vec![1, 2, 3],
        counter: 0,
        last_step: 0,
        drift: 0,
        pin_hash: None,
        state: TokenState::Pending,
        failures: 0,
        created_us: 5,
        last_used_us: 0,
    }
}

fn session(n: u8, user: &str, kind: SessionKind) -> SessionRecord {
    SessionRecord {
        hash: [n; 32],
        user_id: user.into(),
        kind,
        created_us: 10,
        last_seen_us: 10,
        mfa_at_us: 0,
        source: "192.0.2.1".into(),
        user_agent: "test".into(),
    }
}

async fn tokens_sessions_and_single_use_secrets_round_trip(db: TestDb) {
    transact(&db.store, |tx| {
        Box::pin(async move {
            tx.insert_user(&user("carol", vec![Role::Researcher])).await?;
            // Tokens: assigned and unassigned, updated in place, deleted.
            tx.put_token(&token("T1", Some("carol"))).await?;
            tx.put_token(&token("HW1", None)).await?;
            let mut t = tx.token("T1").await?.unwrap();
            assert_eq!((t.seed_sealed.clone(), t.state), (vec![1, 2, 3], TokenState::Pending));
            t.state = TokenState::Active;
            t.pin_hash = Some("pin-phc".into());
            t.last_step = 42;
            tx.put_token(&t).await?;
            let back = tx.token("T1").await?.unwrap();
            assert_eq!(
                (back.state, back.pin_hash.as_deref(), back.last_step),
                (TokenState::Active, Some("pin-phc"), 42)
            );
            assert_eq!(tx.tokens_of("carol").await?.len(), 1);
            assert_eq!(tx.unassigned_tokens(10).await?.iter().map(|t| t.serial.as_str()).collect::<Vec<_>>(), ["HW1"]);
            assert!(tx.delete_token("HW1").await?);
            assert!(!tx.delete_token("HW1").await?, "gone");
            // Sessions: touched, stepped up, others ended, by kind.
            for (n, kind) in [(1, SessionKind::Full), (2, SessionKind::Full), (3, SessionKind::Ice)] {
                tx.insert_session(&session(n, "carol", kind)).await?;
            }
            tx.touch_session(&[1; 32], 20).await?;
            tx.set_session_mfa(&[1; 32], 21).await?;
            let s = tx.session(&[1; 32]).await?.unwrap();
            assert_eq!((s.last_seen_us, s.mfa_at_us, s.kind), (21, 21, SessionKind::Full), "a step-up is also a use");
            assert_eq!(tx.delete_sessions_of_kind(Some("carol"), SessionKind::Ice).await?, 1);
            assert_eq!(tx.delete_sessions_of("carol", Some(&[1; 32])).await?, 1, "all but the kept one");
            assert_eq!(tx.sessions_of("carol").await?.len(), 1);
            // Links work once, and not after they expire.
            let link = LinkRecord {
                hash: [9; 32],
                purpose: LinkPurpose::PasswordReset,
                user_id: "carol".into(),
                subject: String::new(),
                created_us: 0,
                expires_us: 100,
            };
            tx.replace_link(&link).await?;
            assert!(tx.link(&[9; 32], LinkPurpose::Onboarding, 50).await?.is_none(), "another purpose");
            assert!(tx.link(&[9; 32], LinkPurpose::PasswordReset, 150).await?.is_none(), "expired");
            assert!(tx.take_link(&[9; 32], LinkPurpose::PasswordReset, 50).await?.is_some());
            assert!(tx.take_link(&[9; 32], LinkPurpose::PasswordReset, 50).await?.is_none(), "used up");
            // Recovery codes work once.
            tx.replace_recovery_codes("carol", &[[1; 32], [2; 32]]).await?;
            assert_eq!(tx.count_recovery_codes("carol").await?, 2);
            assert!(tx.take_recovery_code("carol", &[1; 32]).await?);
            assert!(!tx.take_recovery_code("carol", &[1; 32]).await?, "used up");
            assert_eq!(tx.count_recovery_codes("carol").await?, 1);
            // Attempts are counted within a window and pruned.
            for at in [10, 20, 30] {
                tx.record_attempt("signin:carol", at).await?;
            }
            assert_eq!(tx.count_attempts("signin:carol", 15).await?, 2);
            assert_eq!(tx.prune_attempts(25).await?, 2);
            assert_eq!(tx.count_attempts("signin:carol", 0).await?, 1);
            tx.set_setting("ice.enabled", "false").await?;
            assert_eq!(tx.setting("ice.enabled").await?.as_deref(), Some("false"));
            Ok::<_, StoreError>(())
        })
    })
    .await
    .unwrap();
}

fn rule(name: &str, kind: RuleKind, spec: &str) -> NewRule {
    NewRule {
        ecosystem: Ecosystem::Pypi,
        kind,
        name: name.into(),
        spec: spec.into(),
        skip_cooldown: false,
        reason: "test".into(),
        added_by: "console".into(),
        added_us: 1,
    }
}

async fn package_rules_requests_and_repository_tokens_round_trip(db: TestDb) {
    transact(&db.store, |tx| {
        Box::pin(async move {
            tx.insert_user(&user("dora", vec![Role::Researcher])).await?;
            // Rules: per name and kind, replaced for the same specifier, removed by kind.
            tx.put_package_rule(&rule("numpy", RuleKind::Allow, "")).await?;
            tx.put_package_rule(&rule("numpy", RuleKind::Allow, ">=2")).await?;
            tx.put_package_rule(&rule("numpy", RuleKind::Deny, "==2.1")).await?;
            tx.put_package_rule(&rule("scipy", RuleKind::Allow, "")).await?;
            assert_eq!(tx.package_rules(Ecosystem::Pypi, Some("numpy")).await?.len(), 3);
            assert_eq!(tx.package_rules(Ecosystem::Pypi, None).await?.len(), 4);
            assert!(tx.package_rules(Ecosystem::Cran, None).await?.is_empty());
            assert_eq!(tx.delete_package_rules(Ecosystem::Pypi, RuleKind::Allow, "numpy", Some(">=2")).await?, 1);
            assert_eq!(tx.delete_package_rules(Ecosystem::Pypi, RuleKind::Allow, "numpy", None).await?, 1);
            assert_eq!(tx.package_rules(Ecosystem::Pypi, Some("numpy")).await?.len(), 1, "the deny rule stays");
            // Requests: filtered by requester and status; decided once.
            let request = RequestRecord {
                id: 0,
                requester: "dora".into(),
                ecosystem: Ecosystem::Pypi,
                name: "pandas".into(),
                spec: ">=2".into(),
                justification: "For the cohort study.".into(),
                status: RequestStatus::Pending,
                created_us: 2,
                decided_by: String::new(),
                decided_us: 0,
                note: String::new(),
                closure: String::new(),
            };
            let id = tx.insert_package_request(&request).await?;
            assert_eq!(tx.package_requests(Some("dora"), Some(RequestStatus::Pending), 10).await?.len(), 1);
            assert!(tx.package_requests(Some("eve"), None, 10).await?.is_empty());
            let decided = RequestRecord {
                id,
                status: RequestStatus::Approved,
                decided_by: "rev".into(),
                decided_us: 3,
                note: "fine".into(),
                closure: "[]".into(),
                ..request
            };
            assert!(tx.decide_package_request(&decided).await?);
            assert!(!tx.decide_package_request(&decided).await?, "decided once");
            let back = tx.package_request(id).await?.unwrap();
            assert_eq!(
                (back.status, back.decided_by.as_str(), back.note.as_str()),
                (RequestStatus::Approved, "rev", "fine")
            );
            assert!(tx.package_requests(None, Some(RequestStatus::Pending), 10).await?.is_empty());
            // Personal tokens: by hash, per user, with their scope, touched, revoked.
            let t = PersonalToken {
                hash: [4; 32],
                user_id: "dora".into(),
                label: "laptop pip".into(),
                scope: TokenScope::Repository,
                created_us: 1,
                last_used_us: 0,
                expires_us: 1000,
            };
            tx.insert_personal_token(&t).await?;
            tx.touch_personal_token(&[4; 32], 7).await?;
            let back = tx.personal_token(&[4; 32]).await?.unwrap();
            assert_eq!((back.user_id.as_str(), back.label.as_str(), back.last_used_us), ("dora", "laptop pip", 7));
            let api = PersonalToken { hash: [5; 32], scope: TokenScope::ApiWrite, label: "script".into(), ..t.clone() };
            tx.insert_personal_token(&api).await?;
            let scopes: Vec<TokenScope> = tx.personal_tokens("dora").await?.iter().map(|t| t.scope).collect();
            assert_eq!(scopes, [TokenScope::Repository, TokenScope::ApiWrite]);
            assert!(tx.delete_personal_token(&[4; 32]).await?);
            assert!(tx.personal_token(&[4; 32]).await?.is_none());
            Ok::<_, StoreError>(())
        })
    })
    .await
    .unwrap();
}

fn advisory(id: &str, name: &str, withdrawn: bool) -> Advisory {
    Advisory {
        id: id.into(),
        summary: format!("{id} summary"),
        severity: Severity::High,
        malicious: false,
        withdrawn,
        affected: vec![Affected {
            ecosystem: Ecosystem::Pypi.as_str().into(),
            name: name.into(),
            versions: vec!["1.0".into()],
            ranges: vec![vec![Event::Introduced("0".into()), Event::Fixed("1.2".into())]],
        }],
    }
}

async fn advisories_and_upload_times_round_trip(db: TestDb) {
    transact(&db.store, |tx| {
        Box::pin(async move {
            tx.put_package_advisory(&advisory("GHSA-1", "lib", false), 1).await?;
            tx.put_package_advisory(&advisory("GHSA-2", "other", false), 1).await?;
            let names = ["lib".to_string()];
            let found = tx.package_advisories(&[Ecosystem::Pypi], Some(&names)).await?;
            assert_eq!(found.len(), 1);
            let a = &found[0];
            assert_eq!((a.id.as_str(), a.severity, a.malicious), ("GHSA-1", Severity::High, false));
            assert_eq!(a.affected[0].versions, ["1.0"]);
            assert_eq!(a.affected[0].ranges[0].len(), 2, "ranges read back whole");
            assert_eq!(tx.package_advisories(&[Ecosystem::Pypi], None).await?.len(), 2);
            assert!(tx.package_advisories(&[Ecosystem::Cran], None).await?.is_empty());
            // A withdrawn record removes what was stored under its id.
            tx.put_package_advisory(&advisory("GHSA-1", "lib", true), 2).await?;
            assert!(tx.package_advisories(&[Ecosystem::Pypi], Some(&names)).await?.is_empty());
            // Upload times: the first one learnt is kept per ecosystem and artifact.
            assert_eq!(tx.package_upload_time(Ecosystem::Pypi, "lib-1.0.whl").await?, None);
            tx.put_package_upload_time(Ecosystem::Pypi, "lib-1.0.whl", 123).await?;
            assert_eq!(tx.package_upload_time(Ecosystem::Pypi, "lib-1.0.whl").await?, Some(123));
            assert_eq!(tx.package_upload_time(Ecosystem::Cran, "lib-1.0.whl").await?, None);
            Ok::<_, StoreError>(())
        })
    })
    .await
    .unwrap();
}

fn cached(ecosystem: Ecosystem, path: &str, object: &str) -> (CachedFile, ObjectMeta) {
    let file = CachedFile {
        ecosystem,
        path: path.into(),
        object_id: object.into(),
        sha256: format!("{path}-sha"),
        size: 10,
        fetched_us: 5,
    };
    // Values unlike the file's, so that a column read from the wrong table shows.
    let meta = ObjectMeta {
        id: object.into(),
        project: "haven-packages".into(),
        key_version: 1,
        wrapped_key: vec![7; 40],
        size: 74,
        sha256: format!("{object}-sealed-sha"),
        created_us: 4,
    };
    (file, meta)
}

async fn cached_package_files_join_their_objects(db: TestDb) {
    transact(&db.store, |tx| {
        Box::pin(async move {
            let wheel = cached(Ecosystem::Pypi, "lib/lib-1.0-py3-none-any.whl", "obj-1");
            let tarball = cached(Ecosystem::Cran, "src/contrib/rlang_1.1.4.tar.gz", "obj-2");
            for (file, meta) in [&wheel, &tarball] {
                tx.insert_object(meta).await?;
                assert!(tx.insert_cached_package_file(file).await?, "new");
            }
            // A second fetch of the same path keeps the first (the loser deletes its object).
            let (dup, _) = cached(Ecosystem::Pypi, "lib/lib-1.0-py3-none-any.whl", "obj-1");
            assert!(!tx.insert_cached_package_file(&dup).await?, "kept the first");
            let (file, meta) = tx.cached_package_file(Ecosystem::Pypi, &wheel.0.path).await?.unwrap();
            assert_eq!(
                (file.object_id.as_str(), file.sha256.as_str(), file.size, file.fetched_us),
                ("obj-1", "lib/lib-1.0-py3-none-any.whl-sha", 10, 5)
            );
            assert_eq!(
                (meta.id.as_str(), meta.project.as_str(), meta.key_version, meta.wrapped_key.len()),
                ("obj-1", "haven-packages", 1, 40)
            );
            assert_eq!((meta.size, meta.sha256.as_str(), meta.created_us), (74, "obj-1-sealed-sha", 4));
            assert!(tx.cached_package_file(Ecosystem::Cran, &wheel.0.path).await?.is_none(), "per ecosystem");
            let paths = tx.cached_package_paths().await?;
            assert_eq!(
                paths,
                [
                    (Ecosystem::Cran, "src/contrib/rlang_1.1.4.tar.gz".to_string()),
                    (Ecosystem::Pypi, "lib/lib-1.0-py3-none-any.whl".to_string())
                ]
            );
            Ok::<_, StoreError>(())
        })
    })
    .await
    .unwrap();
}
