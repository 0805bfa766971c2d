//! Package-repository use cases, called directly (no HTTP): who may change the policy, see
//! requests and manage repository tokens; what the rules decide; a request's closure and its
//! approval. On SQLite with the fake clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use futures::StreamExt;
use haven_core::CoreError;
use haven_core::accounts::Role;
use haven_core::caller::{Caller, Level};
use haven_core::packages::PackageError;
use haven_core::packages::requests::Manifest;
use haven_packages::policy::{Decision, Ecosystem, RuleKind};
use haven_testkit::app::TestApp;
use haven_testkit::callers::signed_in;
use haven_testkit::upstream::{DAY, NOW, Upstream, WheelSpec, wheel};
use time::Duration;

fn now_us(app: &TestApp) -> i64 {
    haven_core::to_micros(haven_core::Clock::now(app.clock.as_ref()))
}

fn forbidden<T: std::fmt::Debug>(r: Result<T, PackageError>) -> bool {
    matches!(r, Err(PackageError::Core(CoreError::Forbidden)))
}

#[tokio::test]
async fn only_reviewers_and_the_console_change_the_policy() {
    let app = TestApp::builder().build().await;
    let p = &app.state.packages;
    let now = now_us(&app);
    let rita = signed_in("rita", &[Role::Researcher], now);
    assert!(forbidden(p.add_rule(&rita, Ecosystem::Pypi, RuleKind::Allow, "numpy", None, false, "mine").await));
    assert!(forbidden(p.rules(&rita, Ecosystem::Pypi).await));
    let rev = signed_in("rev", &[Role::PackageReviewer], now);
    p.add_rule(&rev, Ecosystem::Pypi, RuleKind::Allow, "numpy", None, false, "reviewed").await.unwrap();
    p.add_rule(&Caller::console(), Ecosystem::Cran, RuleKind::Deny, "badpkg", None, false, "known bad").await.unwrap();
    assert_eq!(p.rules(&rev, Ecosystem::Pypi).await.unwrap().len(), 1);
    let events: Vec<_> = app.store.audit_events(0, 0).map(|e| e.unwrap()).collect().await;
    let added: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e.action == "package.rule_added")
        .map(|e| (e.actor.as_str(), e.target.as_str()))
        .collect();
    assert_eq!(added, [("rev", "pypi:numpy"), ("console", "cran:badpkg")]);
}

#[tokio::test]
async fn a_requester_sees_their_own_requests_only() {
    let app = TestApp::builder().build().await;
    let p = &app.state.packages;
    let now = now_us(&app);
    let rita = signed_in("rita", &[Role::Researcher], now);
    assert!(p.requests(&rita, Some("rita"), false).await.unwrap().is_empty());
    assert!(forbidden(p.requests(&rita, Some("bob"), false).await), "another user's");
    assert!(forbidden(p.requests(&rita, None, true).await), "the reviewers' queue");
    let rev = signed_in("rev", &[Role::PackageReviewer], now);
    assert!(p.requests(&rev, None, true).await.unwrap().is_empty());
    assert!(p.requests(&rev, Some("rita"), false).await.is_ok());
}

#[tokio::test]
async fn repository_tokens_need_a_recent_step_up() {
    let app = TestApp::builder().build().await;
    let p = &app.state.packages;
    let fresh = signed_in("tess", &[Role::Researcher], now_us(&app));
    assert!(p.repo_tokens(&fresh).await.unwrap().is_empty());
    app.clock.advance(Duration::minutes(11));
    let stale = signed_in("tess", &[Role::Researcher], now_us(&app) - 11 * 60 * 1_000_000);
    assert!(matches!(p.repo_tokens(&stale).await, Err(PackageError::Core(CoreError::StepUpRequired))));
    // Nobody makes tokens for someone else, except the console.
    let other = signed_in("mallory", &[Role::Admin], now_us(&app));
    assert!(forbidden(p.create_repo_token(&other, "tess", "laptop").await));
}

#[tokio::test]
async fn reading_the_repository_needs_an_account_unless_anonymous_reading_is_on() {
    let app = TestApp::builder().build().await;
    let p = &app.state.packages;
    assert!(forbidden(p.pypi_index(&Caller::anonymous("192.0.2.30", "pip")).await));
    assert!(p.pypi_index(&Caller::repository("rita", vec![Role::Researcher], "192.0.2.30")).await.is_ok());
    let mut ice = signed_in("ivy", &[Role::Researcher], now_us(&app));
    ice.level = Level::Ice;
    assert!(forbidden(p.pypi_index(&ice).await), "an ICE session reads nothing");
}

#[tokio::test]
async fn a_request_shows_its_closure_and_one_approval_allows_all_of_it() {
    let up = Upstream::new();
    up.pypi(
        "app",
        &[WheelSpec {
            requires: &["lib>=1", "winonly; sys_platform == 'win32'", "testing-tool; extra == 'test'"],
            ..wheel("app", "app-1.0-py3-none-any.whl", b"app", 30)
        }],
    );
    up.pypi(
        "lib",
        &[
            WheelSpec { requires: &["tiny"], ..wheel("lib", "lib-1.0-py3-none-any.whl", b"lib1", 60) },
            WheelSpec { requires: &["tiny"], ..wheel("lib", "lib-2.0-py3-none-any.whl", b"lib2", 30) },
        ],
    );
    up.pypi("tiny", &[wheel("tiny", "tiny-1.0-py3-none-any.whl", b"tiny", 30)]);
    let app = TestApp::builder().packages(up.config(true)).build().await;
    let p = &app.state.packages;
    p.add_rule(&Caller::console(), Ecosystem::Pypi, RuleKind::Allow, "tiny", None, false, "test").await.unwrap();
    for (id, admin) in [("rita", false), ("rev", true)] {
        app.state.identity.add_account(&Caller::console(), id, &format!("{id}@example.org"), admin).await.unwrap();
    }
    let rita = signed_in("rita", &[Role::Researcher], now_us(&app));
    let rev = signed_in("rev", &[Role::Admin], now_us(&app));
    let mailer = app.state.identity.mailer.clone();

    // The dry run: per package, what Haven says now.
    let (verdicts, skipped) =
        p.dry_run(&rita, Manifest::Requirements, "app\ntiny==1.0\nnowhere\n-e .\n").await.unwrap();
    let said: Vec<String> = verdicts
        .iter()
        .map(|v| format!("{} [{}] {}", v.wanted.name, v.offered.join(","), v.reason.clone().unwrap_or_default()))
        .collect();
    assert_eq!(said[0], "app [] app is not on the allowlist", "{said:?}");
    assert_eq!(said[1], "tiny [1.0] ", "{said:?}");
    assert_eq!(said[2], "nowhere [] nowhere is not on the allowlist", "{said:?}");
    assert_eq!(skipped.len(), 1);

    let r =
        p.submit_request(&rita, mailer.as_ref(), Ecosystem::Pypi, "App", "", "For the cohort analysis.").await.unwrap();
    assert_eq!((r.name.as_str(), r.status.as_str()), ("app", "pending"));
    assert!(app.mail.last_to("rita@example.org").unwrap().subject.contains(&format!("request #{} received", r.id)));
    let again = p.submit_request(&rita, mailer.as_ref(), Ecosystem::Pypi, "app", "", "Again, please.").await;
    assert!(again.is_err(), "one pending request per package");
    assert!(p.submit_request(&rita, mailer.as_ref(), Ecosystem::Pypi, "x", "", "short").await.is_err());

    // The closure: app, lib at its newest, tiny (already allowed); no Windows-only or extra.
    let closure = p.preview(&rev, &r).await.unwrap();
    let items: Vec<String> =
        closure.iter().map(|i| format!("{} {} {:?} {}", i.name, i.version, i.needed_by, i.allowed)).collect();
    assert_eq!(items, ["app 1.0 None false", "lib 2.0 Some(\"app\") false", "tiny 1.0 Some(\"lib\") true"]);
    assert_eq!(closure[0].license.as_deref(), Some("MIT"));

    // Only reviewers decide, never their own request; rejecting needs a note.
    assert!(p.decide_request(&rita, mailer.as_ref(), r.id, true, "").await.is_err());
    assert!(p.decide_request(&rev, mailer.as_ref(), r.id, false, "").await.is_err());
    let decided = p.decide_request(&rev, mailer.as_ref(), r.id, true, "Fine.").await.unwrap();
    assert_eq!(decided.status.as_str(), "approved");
    let mail = app.mail.last_to("rita@example.org").unwrap();
    assert!(mail.subject.contains("approved") && mail.text.contains("lib 2.0 (needed by app)"), "{}", mail.text);
    assert!(p.decide_request(&rev, mailer.as_ref(), r.id, true, "").await.is_err(), "decided once");

    let rules: Vec<String> = p
        .rules(&Caller::console(), Ecosystem::Pypi)
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{} {} | {}", r.name, r.spec, r.reason))
        .collect();
    assert!(rules.contains(&format!("app ==1.0 | request #{} by rita", r.id)), "{rules:?}");
    assert!(rules.contains(&format!("lib ==2.0 | request #{}: a dependency of app (app)", r.id)), "{rules:?}");
    let lib = p.pypi_project(&rita, "lib").await.unwrap();
    let offered: Vec<&str> = lib.page.files.iter().map(|f| f.filename.as_str()).collect();
    assert_eq!(offered, ["lib-2.0-py3-none-any.whl"], "the reviewed version only");
    let events: Vec<_> = app.store.audit_events(0, 0).map(|e| e.unwrap()).collect().await;
    assert!(
        events.iter().any(|e| e.action == "package.request_approved" && e.details.to_string().contains("lib ==2.0"))
    );
}

#[tokio::test]
async fn the_stored_rules_decide_each_version_with_the_cooldown_and_size() {
    let app = TestApp::builder().build().await;
    let p = &app.state.packages;
    let console = Caller::console();
    let day_us = 86_400 * 1_000_000;
    let now = now_us(&app);
    let old = Some(now - 30 * day_us);
    let refused = |d: Decision, says: &str| match d {
        Decision::Refused(why) => assert!(why.contains(says), "{why:?} should say {says:?}"),
        Decision::Allowed => panic!("allowed; expected a refusal saying {says:?}"),
    };
    // Allowlist mode (the default): a name nobody allowed is refused.
    refused(p.check(Ecosystem::Pypi, "numpy", "2.0.0", old, None).await.unwrap(), "not on the allowlist");
    p.add_rule(&console, Ecosystem::Pypi, RuleKind::Allow, "NumPy", Some(">=1.20"), false, "reviewed").await.unwrap();
    p.add_rule(&console, Ecosystem::Pypi, RuleKind::Deny, "numpy", Some("==2.0.1"), false, "broken").await.unwrap();
    assert_eq!(p.check(Ecosystem::Pypi, "numpy", "2.0.0", old, None).await.unwrap(), Decision::Allowed);
    // Names are compared canonical (PEP 503), versions against the allow rule's range.
    assert_eq!(p.check(Ecosystem::Pypi, "NumPy", "2.0.0", old, None).await.unwrap(), Decision::Allowed);
    refused(p.check(Ecosystem::Pypi, "numpy", "1.19", old, None).await.unwrap(), "1.19 is not on the allowlist");
    // A deny rule wins over the allow rule and names its reason.
    refused(p.check(Ecosystem::Pypi, "numpy", "2.0.1", old, None).await.unwrap(), "deny numpy ==2.0.1");
    // The cooldown: too new a version is refused, an unknown upload time too; a waiver lets it in.
    refused(
        p.check(Ecosystem::Pypi, "numpy", "2.1.0", Some(now - day_us), None).await.unwrap(),
        "the cooldown is 7 days",
    );
    refused(p.check(Ecosystem::Pypi, "numpy", "2.1.0", None, None).await.unwrap(), "gives no upload time");
    p.add_rule(&console, Ecosystem::Pypi, RuleKind::Allow, "scipy", None, true, "urgent fix").await.unwrap();
    assert_eq!(p.check(Ecosystem::Pypi, "scipy", "1.0", Some(now - day_us), None).await.unwrap(), Decision::Allowed);
    // The size limit (1 GiB by default).
    refused(p.check(Ecosystem::Pypi, "numpy", "2.0.0", old, Some(2 << 30)).await.unwrap(), "more than the limit");
    // Rules are per ecosystem.
    refused(p.check(Ecosystem::Cran, "numpy", "2.0.0", old, None).await.unwrap(), "not on the allowlist");
}

#[tokio::test]
async fn a_conda_closure_follows_dependencies_across_subdirs_and_passes() {
    let up = Upstream::new();
    let ts = (NOW - 30 * DAY) * 1000;
    let record = |name: &str, version: &str, subdir: &str, depends: &[&str]| {
        serde_json::json!({"name": name, "version": version, "build": "0", "depends": depends,
            "sha256": "ab".repeat(32), "size": 10, "timestamp": ts, "subdir": subdir, "license": "MIT"})
    };
    // File order matters to the streaming reader: `aaa` goes by before anything asks for it
    // (zlib, read after it, needs it), so a second pass must fetch it.
    let linux = serde_json::json!({"packages": {}, "packages.conda": {
        "aaa-0.5-0.conda": record("aaa", "0.5", "linux-64", &[]),
        "app-1.0-0.conda": record("app", "1.0", "linux-64", &["zlib >=1.2", "pyhelper", "__glibc >=2.17"]),
        "unrelated-9-0.conda": record("unrelated", "9", "linux-64", &[]),
        "zlib-1.1-0.conda": record("zlib", "1.1", "linux-64", &[]),
        "zlib-1.3-0.conda": record("zlib", "1.3", "linux-64", &["aaa"]),
    }});
    let noarch = serde_json::json!({"packages.conda": {
        "pyhelper-2.0-0.conda": record("pyhelper", "2.0", "noarch", &[]),
    }});
    for (subdir, data) in [("linux-64", linux), ("noarch", noarch)] {
        let dir = up.root().join("conda/haven-test").join(subdir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("repodata.json"), data.to_string()).unwrap();
    }
    let app = TestApp::builder().packages(up.config(true)).build().await;
    let console = Caller::console();
    app.state
        .packages
        .add_rule(&console, Ecosystem::Conda, RuleKind::Allow, "pyhelper", None, false, "t")
        .await
        .unwrap();
    let items = app.state.packages.closure(Ecosystem::Conda, "app", "").await.unwrap();
    let said: Vec<String> = items
        .iter()
        .map(|i| format!("{} {} by {} allowed={}", i.name, i.version, i.needed_by.as_deref().unwrap_or("-"), i.allowed))
        .collect();
    assert_eq!(
        said,
        [
            "app 1.0 by - allowed=false",
            "zlib 1.3 by app allowed=false",
            "pyhelper 2.0 by app allowed=true",
            "aaa 0.5 by zlib allowed=false"
        ]
    );
    assert_eq!(items[0].license.as_deref(), Some("MIT"));
    let r = app.state.packages.closure(Ecosystem::Conda, "nothing", "").await.unwrap();
    assert!(r[0].problem.as_deref().unwrap_or("").contains("no build"), "{:?}", r[0]);
}

#[tokio::test]
async fn the_bootstrap_allowlist_is_added_once() {
    let app = TestApp::builder().build().await;
    let p = &app.state.packages;
    let console = Caller::console();
    let names = |e| async move {
        p.rules(&Caller::console(), e).await.unwrap().into_iter().map(|r| r.name).collect::<Vec<String>>()
    };
    let added = p.bootstrap_allowlist().await.unwrap();
    assert!(added >= 20, "{added}");
    let pypi = names(Ecosystem::Pypi).await;
    for name in ["pip", "setuptools", "wheel", "hatchling", "flit-core"] {
        assert!(pypi.contains(&name.to_string()), "{name} in {pypi:?}");
    }
    assert_eq!(names(Ecosystem::Cran).await, ["remotes", "renv"]);
    // Removed rules stay removed: it is added once, not on every start.
    p.remove_rules(&console, Ecosystem::Cran, RuleKind::Allow, "renv", None, "").await.unwrap();
    assert_eq!(p.bootstrap_allowlist().await.unwrap(), 0);
    assert_eq!(names(Ecosystem::Cran).await, ["remotes"]);
}
