//! The application catalogue on both databases: the service desk adds versions side by side and
//! sets defaults per file type; everyone signed in reads it; bad input changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::Arc;

use futures::StreamExt;
use haven_core::CoreError;
use haven_core::accounts::Role;
use haven_core::caller::Caller;
use haven_core::workspaces::catalogue::{AppKind, Catalogue, NewApp};
use haven_testkit::app::TestApp;
use haven_testkit::callers::signed_in;
use haven_testkit::db::TestDb;

haven_testkit::contract!(versions_sit_side_by_side_with_a_default_per_file_type);

fn r(version: &str, default_for: &[&str]) -> NewApp {
    NewApp {
        name: "r".into(),
        version: version.into(),
        kind: "terminal".into(),
        command: vec![format!("/opt/R/{version}/bin/R"), "--no-save".into()],
        description: String::new(),
        default_for: default_for.iter().map(|s| s.to_string()).collect(),
    }
}

async fn versions_sit_side_by_side_with_a_default_per_file_type(db: TestDb) {
    let app = TestApp::builder().db(db).build().await;
    let catalogue = Catalogue::new(app.store.clone(), app.clock.clone() as Arc<dyn haven_core::Clock>);
    let desk = signed_in("dora", &[Role::Admin], app.state.governance.now_us());
    let alice = signed_in("alice", &[Role::Researcher], app.state.governance.now_us());

    catalogue.add(&desk, r("4.3.2", &["R", ".Rmd"])).await.unwrap();
    catalogue.add(&Caller::console(), r("4.10.0", &[])).await.unwrap();
    let jupyter = NewApp {
        name: "jupyterlab".into(),
        version: "4.2.5".into(),
        kind: "web".into(),
        command: vec!["/opt/jupyterlab/bin/jupyter".into(), "lab".into()],
        default_for: vec!["ipynb".into()],
        ..NewApp::default()
    };
    catalogue.add(&desk, jupyter).await.unwrap();

    let listing = catalogue.list(&alice).await.unwrap();
    let names: Vec<(&str, &str)> = listing.apps.iter().map(|a| (a.name.as_str(), a.version.as_str())).collect();
    assert_eq!(names, [("jupyterlab", "4.2.5"), ("r", "4.10.0"), ("r", "4.3.2")], "by name, newest first");
    assert_eq!(listing.default_for("R").unwrap().version, "4.3.2");
    assert_eq!(listing.default_for("rmd").unwrap().version, "4.3.2");
    assert_eq!(listing.default_for("ipynb").unwrap().kind, AppKind::Web);
    assert!(listing.default_for("py").is_none());
    assert_eq!(listing.apps[2].command, ["/opt/R/4.3.2/bin/R", "--no-save"]);

    // The default moves to the newer R; the other extension stays.
    catalogue.set_default(&desk, "R", "r", "4.10.0").await.unwrap();
    let listing = catalogue.list(&alice).await.unwrap();
    assert_eq!(listing.default_for("r").unwrap().version, "4.10.0");
    assert_eq!(listing.default_for("Rmd").unwrap().version, "4.3.2");

    // Refusals: who, what, and a version that exists already; nothing changes.
    let refused = |e: CoreError, want: &str| assert!(e.to_string().contains(want), "{e} (wanted {want})");
    assert!(matches!(catalogue.add(&alice, r("4.4.0", &[])).await, Err(CoreError::Forbidden)));
    assert!(matches!(catalogue.set_default(&alice, "R", "r", "4.3.2").await, Err(CoreError::Forbidden)));
    refused(catalogue.add(&desk, r("4.3.2", &[])).await.unwrap_err(), "in the catalogue already");
    refused(catalogue.add(&desk, NewApp { name: "R".into(), ..r("1", &[]) }).await.unwrap_err(), "lower-case");
    refused(catalogue.add(&desk, r("../1", &[])).await.unwrap_err(), "version");
    refused(
        catalogue.add(&desk, NewApp { kind: "gui".into(), ..r("5", &[]) }).await.unwrap_err(),
        "terminal, web or desktop",
    );
    refused(
        catalogue.add(&desk, NewApp { command: vec!["R".into()], ..r("5", &[]) }).await.unwrap_err(),
        "absolute path",
    );
    refused(catalogue.add(&desk, NewApp { command: vec![], ..r("5", &[]) }).await.unwrap_err(), "absolute path");
    refused(catalogue.add(&desk, r("5", &["tar.gz"])).await.unwrap_err(), "not a file extension");
    refused(catalogue.set_default(&desk, "R", "r", "9.9").await.unwrap_err(), "not in the catalogue");
    assert_eq!(catalogue.list(&alice).await.unwrap().apps.len(), 3);
    let anonymous = Caller::anonymous("192.0.2.1", "");
    assert!(matches!(catalogue.list(&anonymous).await, Err(CoreError::Forbidden)));

    let trail: Vec<String> = app.store.audit_events(0, 0).map(|e| e.unwrap().action).collect().await;
    assert_eq!(trail.iter().filter(|a| *a == "app.added").count(), 3);
    assert_eq!(trail.iter().filter(|a| *a == "app.default_set").count(), 1);
}
