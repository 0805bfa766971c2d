//! The governance commands against the `haven` binary: `haven assets`, `haven ig`, `haven
//! requests` and `haven report`, with their refusals (exit 2, naming the field or line, nothing
//! applied).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::Path;
use std::process::{Command, Output};

use haven_testkit::process::Haven;

const BIN: &str = env!("CARGO_BIN_EXE_haven");

fn haven(args: &[&str], data: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("HAVEN_CONFIG")
        .env("HAVEN_METRICS__LISTEN", "127.0.0.1:0")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn ok(args: &[&str], data: &Path) -> String {
    let out = haven(args, data);
    assert!(out.status.success(), "haven {args:?}: {}", text(&out));
    text(&out)
}

/// Exit 2 with a message that says `says`.
fn refused(args: &[&str], data: &Path, says: &str) {
    let out = haven(args, data);
    assert_eq!(out.status.code(), Some(2), "haven {args:?}: {}", text(&out));
    assert!(text(&out).contains(says), "haven {args:?} should say {says:?}: {}", text(&out));
}

fn days_ago(days: i64) -> String {
    let d = (haven_core::Clock::now(&haven_core::clock::SystemClock) - time::Duration::days(days)).date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[test]
fn assets_training_requests_and_reports_at_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    Haven::start(Path::new(BIN), &data, &[], &[]).stop();
    let d = data.as_path();
    for user in ["owen", "ian", "alice"] {
        ok(&["users", "add", user, "--email", &format!("{user}@example.org")], d);
    }
    refused(
        &["users", "role", "owen", "boss"],
        d,
        "use one of admin, researcher, package_reviewer, staff, auditor, output_checker",
    );
    refused(
        &["assets", "create", "heart", "--iao", "owen", "--ig-ref", "IG/00001", "--classification", "identifiable"],
        d,
        "not staff",
    );
    assert!(ok(&["users", "role", "owen", "staff"], d).contains("owen now has the role staff"));

    let created = ok(
        &[
            "assets",
            "create",
            "heart",
            "--iao",
            "owen",
            "--ig-ref",
            "IG/00001",
            "--classification",
            "identifiable",
            "--description",
            "Cardiac outcomes",
            "--ends",
            "2031-12-31",
        ],
        d,
    );
    assert!(created.contains("Asset heart registered (IG/00001, identifiable), IAO owen"), "{created}");
    refused(
        &["assets", "create", "lung", "--iao", "owen", "--ig-ref", "12", "--classification", "identifiable"],
        d,
        "IG/#####",
    );
    refused(
        &["assets", "create", "lung", "--iao", "owen", "--ig-ref", "IG/00002", "--classification", "secret"],
        d,
        "identifiable, pseudonymised, anonymised",
    );
    refused(
        &["assets", "create", "Lung", "--iao", "owen", "--ig-ref", "IG/00002", "--classification", "anonymised"],
        d,
        "lower-case",
    );
    refused(
        &[
            "assets",
            "create",
            "lung",
            "--iao",
            "owen",
            "--ig-ref",
            "IG/00002",
            "--classification",
            "anonymised",
            "--ends",
            "2020-01-01",
        ],
        d,
        "in the past",
    );
    assert!(ok(&["assets", "iaa", "add", "heart", "ian"], d).contains("ian is now an IAA of heart"));
    refused(&["assets", "iaa", "add", "heart", "owen"], d, "is the IAO of heart already");
    refused(&["assets", "iaa", "add", "nowhere", "ian"], d, "not found");
    ok(&["assets", "compliance", "heart", "ethics", "REC 25/LO/0001", "--expires", &days_ago(-200)], d);
    refused(
        &["assets", "compliance", "heart", "blessing", "x", "--expires", "2030-01-01"],
        d,
        "agreement, ethics, dpia, funding",
    );

    // Training: a bad row refuses the whole file and names its line; nothing is applied.
    let csv = dir.path().join("training.csv");
    let done = days_ago(10);
    std::fs::write(
        &csv,
        format!(
            "user_id,course,completed\nowen,data-security-awareness,{done}\nnobody,data-security-awareness,{done}\n"
        ),
    )
    .unwrap();
    refused(&["ig", "import", csv.to_str().unwrap()], d, "line 3: there is no account nobody");
    assert!(ok(&["ig", "show", "owen"], d).contains("missing or lapsed: data-security-awareness"));
    std::fs::write(&csv, format!("user,course,date\nowen,x,{done}\n")).unwrap();
    refused(&["ig", "import", csv.to_str().unwrap()], d, "line 1: the first line must name the columns");
    std::fs::write(&csv, b"user_id,course,completed\nowen,caf\xe9,2026-01-01\n").unwrap();
    refused(&["ig", "import", csv.to_str().unwrap()], d, "line 2: not UTF-8");
    std::fs::write(
        &csv,
        format!("user_id,course,completed\nowen,data-security-awareness,{done}\nian,data-security-awareness,{done}\n"),
    )
    .unwrap();
    assert!(ok(&["ig", "import", csv.to_str().unwrap()], d).contains("Imported 2 training record(s) for 2 user(s)"));
    let again = ok(&["ig", "import", csv.to_str().unwrap()], d);
    assert!(
        again.contains("Imported 0 training record(s) for 2 user(s)") && again.contains("2 row(s) recorded already"),
        "{again}"
    );
    assert!(ok(&["ig", "show", "owen"], d).contains("Training for membership: current."));
    ok(&["ig", "record", "alice", "data-security-awareness", &done], d);
    refused(&["ig", "record", "alice", "data-security-awareness", "next tuesday"], d, "YYYY-MM-DD");

    // Requests are made by an IAO or IAA in the portal; the console lists and decides them.
    assert!(ok(&["requests", "list"], d).contains("0 request(s)"));
    refused(&["requests", "decide", "99", "approve", "--reason", "ok"], d, "there is no request #99");
    refused(&["requests", "decide", "1", "maybe", "--reason", "ok"], d, "use approve or reject");
    refused(&["requests", "list", "--status", "stuck"], d, "pending, awaiting_training, approved, rejected");

    // Bulk import of accounts, then memberships: a bad row refuses the whole file, naming its
    // line; nothing is applied; then the good file goes in whole.
    let people = dir.path().join("people.csv");
    std::fs::write(
        &people,
        "user_id,email,roles
nora,nora@example.org,researcher
alice,a2@example.org,
",
    )
    .unwrap();
    refused(&["users", "import", people.to_str().unwrap()], d, "line 3: the user id alice is taken");
    std::fs::write(&people, "user_id,email\nnora,nora@example.org\nnina,Alice@example.org\n").unwrap();
    refused(
        &["users", "import", people.to_str().unwrap()],
        d,
        "line 3: Alice@example.org is the email of the account alice already",
    );
    assert!(!ok(&["users", "list", "nora"], d).contains("nora@example.org"), "nothing from the refused file");
    std::fs::write(
        &people,
        "user_id,email,roles
nora,nora@example.org,researcher
noel,noel@example.org,staff;researcher
",
    )
    .unwrap();
    assert!(ok(&["users", "import", people.to_str().unwrap()], d).contains("Imported 2 account(s)"));
    let listed = ok(&["users", "list", "no"], d);
    assert!(listed.contains("nora@example.org") && listed.contains("staff"), "{listed}");
    let members = dir.path().join("members.csv");
    std::fs::write(
        &members,
        "asset,user_id,role,ends
heart,nora,researcher,2030-06-30
heart,nobody,researcher,2030-06-30
",
    )
    .unwrap();
    refused(&["assets", "import-members", members.to_str().unwrap()], d, "line 3: there is no account nobody");
    std::fs::write(
        &members,
        "asset,user_id,role,ends
heart,nora,researcher,2020-06-30
",
    )
    .unwrap();
    refused(&["assets", "import-members", members.to_str().unwrap()], d, "line 2, ends: 2020-06-30 is in the past");
    std::fs::write(&members, "asset,user_id,role,ends\nheart,nora,researcher,2032-01-01\n").unwrap();
    refused(
        &["assets", "import-members", members.to_str().unwrap()],
        d,
        "line 2: heart ends on 2031-12-31; a membership cannot outlast it",
    );
    assert!(!ok(&["assets", "show", "heart"], d).contains("nora"), "nothing from the refused files");
    std::fs::write(
        &members,
        "asset,user_id,role,ends
heart,nora,researcher,2030-06-30
heart,noel,data_manager,2030-06-30
",
    )
    .unwrap();
    assert!(
        ok(&["assets", "import-members", members.to_str().unwrap()], d)
            .contains("Imported 2 membership(s) of 1 asset(s)")
    );
    refused(&["assets", "import-members", members.to_str().unwrap()], d, "line 2: nora is a member of heart already");
    let imported = ok(&["report", "access", "--from", "2026-01-01", "--to", "2030-12-31"], d);
    assert!(
        imported.lines().any(|l| l.starts_with("heart,nora,researcher,") && l.contains(",imported,")),
        "{imported}"
    );

    let report = ok(&["report", "access", "--from", "2026-01-01", "--to", "2030-12-31"], d);
    assert!(
        report.starts_with("asset,user_id,role,from,until,end_reason,request,requested_by,decided_by,decided"),
        "{report}"
    );
    refused(
        &["report", "access", "--from", "2026-01-01", "--to", "2030-12-31", "--format", "pdf"],
        d,
        "use csv or html",
    );
    refused(&["report", "access", "--from", "2026-12-31", "--to", "2026-01-01"], d, "must not be before --from");
    let html = dir.path().join("access.html");
    ok(
        &[
            "report",
            "access",
            "--from",
            "2026-01-01",
            "--to",
            "2030-12-31",
            "--format",
            "html",
            "--output",
            html.to_str().unwrap(),
        ],
        d,
    );
    assert!(std::fs::read_to_string(&html).unwrap().contains("<h1>Access report</h1>"));
    // The other reports, the same way.
    let register = ok(&["report", "register"], d);
    assert!(
        register.starts_with("asset,ig_ref,classification,iao,iaas,status,starts,ends,members,datasets\n"),
        "{register}"
    );
    assert!(register.contains("heart,IG/00001,identifiable,owen,ian,active"), "{register}");
    assert!(ok(&["report", "training"], d).contains("heart,owen,IAO,data-security-awareness,"));
    assert!(ok(&["report", "reviews", "--format", "html"], d).contains("<h1>Access reviews</h1>"));
    assert!(ok(&["report", "compliance"], d).contains("not recorded"));
    refused(&["report", "training", "--format", "xml"], d, "use csv or html");
    // A reader that goes away (`| head`): the output ends quietly, with no panic.
    for args in [&["report", "register"][..], &["assets", "list"][..]] {
        let mut child = Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(d)
            .env_remove("HAVEN_CONFIG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "haven {args:?}: {}", text(&out));
        assert!(!text(&out).contains("panicked"), "haven {args:?}: {}", text(&out));
    }

    // alice has no membership and no staff role: the lifecycle jobs disable her, once.
    assert!(ok(&["assets", "run-jobs"], d).contains("accounts disabled: 1"));
    assert!(ok(&["assets", "run-jobs"], d).contains("accounts disabled: 0"));
    assert!(ok(&["users", "show", "alice"], d).contains("disabled"));

    let shown = ok(&["assets", "show", "heart"], d);
    assert!(shown.contains("IAAs:           ian") && shown.contains("heart/shared/"), "{shown}");
    refused(&["assets", "close", "heart", "--closure", "burn", "--reason", "done"], d, "archive, shred");
    let closed = ok(&["assets", "close", "heart", "--closure", "shred", "--reason", "study finished"], d);
    // nora's and noel's imported memberships end with it.
    assert!(
        closed.contains(
            "heart closed (shred): 2 membership(s) ended, 0 open request(s) rejected, 1 key version(s) destroyed"
        ),
        "{closed}"
    );
    refused(&["assets", "close", "heart", "--closure", "archive", "--reason", "again"], d, "closed already");
    assert!(ok(&["assets", "list"], d).contains("closed"));
    assert!(ok(&["audit", "verify"], d).contains("Audit trail intact"));
}

/// `haven apps`: versions side by side, a default per file type, refusals that change nothing.
#[test]
fn the_application_catalogue_at_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    Haven::start(Path::new(BIN), &data, &[], &[]).stop();
    let d = data.as_path();
    assert!(ok(&["apps", "list"], d).contains("The catalogue is empty"));
    let added = ok(
        &[
            "apps",
            "add",
            "r",
            "4.3.2",
            "--kind",
            "terminal",
            "--command",
            "/opt/R/4.3.2/bin/R --no-save",
            "--default-for",
            "R",
        ],
        d,
    );
    assert!(added.contains("r 4.3.2 (terminal) is in the catalogue: /opt/R/4.3.2/bin/R --no-save"), "{added}");
    ok(&["apps", "add", "r", "4.4.1", "--kind", "terminal", "--command", "/opt/R/4.4.1/bin/R"], d);
    refused(&["apps", "add", "r", "4.4.1", "--kind", "web", "--command", "/opt/x"], d, "in the catalogue already");
    refused(&["apps", "add", "r", "5", "--kind", "terminal", "--command", "R"], d, "absolute path");
    refused(&["apps", "default", "R", "r", "9"], d, "not in the catalogue");
    assert!(ok(&["apps", "default", ".R", "r", "4.4.1"], d).contains(".r files now open with r 4.4.1"));
    let listed = ok(&["apps", "list"], d);
    let lines: Vec<&str> = listed.lines().collect();
    assert!(lines[1].starts_with("r") && lines[1].contains("4.4.1") && lines[1].contains(".r"), "{listed}");
    assert!(lines[2].contains("4.3.2") && lines[2].contains(" - "), "{listed}");
}
