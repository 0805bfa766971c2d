//! Terminal sessions for real: the local backend's sandbox (bubblewrap, setpriv, prlimit; root),
//! a PTY, and pip inside reaching Haven's package repository over HTTPS through the session's
//! socket. What a member can do in a session, and what nobody can reach.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use haven_core::CoreError;
use haven_core::accounts::Role;
use haven_core::caller::Caller;
use haven_core::governance::records::RequestKind;
use haven_core::governance::requests::NewRequest;
use haven_core::workspaces::catalogue::NewApp;
use haven_core::workspaces::drives::Drive;
use haven_core::workspaces::sessions::{TerminalInput, TerminalLink};
use haven_packages::policy::{Ecosystem, RuleKind};
use haven_testkit::app::TestApp;
use haven_testkit::callers::signed_in;
use haven_testkit::db::TestDb;
use haven_testkit::transfer::{World, world_from};

haven_testkit::contract!(
    many_sessions_started_watched_and_dropped_at_once_leave_nothing_behind,
    batch_jobs_run_in_the_sandbox_and_keep_their_status_log_and_outputs,
);

/// Whether sessions can run here: bubblewrap and root (under CI=true, a failure if not).
fn sandbox() -> bool {
    haven_testkit::tool("HAVEN_TEST_BWRAP").is_some() && haven_testkit::root("sessions")
}

/// rita made a member of heart.
async fn member(w: &World, user: &str) {
    haven_testkit::transfer::make_member(w, user).await;
}

/// The Python fixtures of the package tests (alpha depends on beta; gamma is not allowed).
fn upstream(dir: &Path) -> haven_core::packages::PackagesConfig {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../haven/tests/e2e/fixtures.py");
    let out = std::process::Command::new("python3").arg(script).arg(dir).output().unwrap();
    assert!(out.status.success(), "fixtures: {}", String::from_utf8_lossy(&out.stderr));
    let mut config = haven_core::packages::PackagesConfig::default();
    config.pypi.upstream = format!("file://{}/pypi/simple/", dir.display());
    config.pypi.min_age_days = 0;
    config
}

/// Types `command` into the terminal and returns what it printed, up to its exit status.
struct Term {
    link: TerminalLink,
    seen: String,
    n: u32,
}

impl Term {
    async fn run(&mut self, command: &str) -> (i32, String) {
        self.n += 1;
        let marker = format!("__END{}__", self.n);
        let line = format!("{command}; echo {marker}$?__\n");
        self.link.input.send(TerminalInput::Data(line.into_bytes().into())).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            // The typed line echoes `__ENDn__$?__`; the answer has digits after the marker.
            if let Some(at) = self.seen.rfind(&marker) {
                let rest = &self.seen[at + marker.len()..];
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if !digits.is_empty() && rest[digits.len()..].starts_with("__") {
                    let out = self.seen[..at].to_string();
                    self.seen = rest[digits.len() + 2..].to_string();
                    return (digits.parse().unwrap(), out);
                }
            }
            let next = tokio::time::timeout_at(deadline, self.link.output.next()).await;
            match next {
                Ok(Some(bytes)) => self.seen.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(None) => panic!("the terminal closed; it showed: {}", self.seen),
                Err(_) => panic!("no answer to {command:?}; the terminal showed: {}", self.seen),
            }
        }
    }
}

async fn attach(app: &TestApp, who: &Caller, id: &str) -> Term {
    let link = app.state.sessions.terminal(who, id).await.unwrap();
    let seen = String::from_utf8_lossy(&link.backlog).into_owned();
    Term { link, seen, n: 0 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_session_works_on_its_drives_installs_from_haven_and_reaches_nothing_else() {
    if !sandbox() {
        return;
    }
    let fixtures = tempfile::tempdir().unwrap();
    let w = world_from(TestApp::builder().packages(upstream(fixtures.path()))).await;
    member(&w, "rita").await;
    let app = &w.app;
    let console = Caller::console();
    for version in ["1", "2"] {
        let shell = NewApp {
            name: "shell".into(),
            version: version.into(),
            kind: "terminal".into(),
            command: vec!["/usr/bin/bash".into(), "--norc".into()],
            ..NewApp::default()
        };
        app.state.catalogue.add(&console, shell).await.unwrap();
    }
    for name in ["alpha", "beta"] {
        app.state
            .packages
            .add_rule(&console, Ecosystem::Pypi, RuleKind::Allow, name, None, true, "test")
            .await
            .unwrap();
    }
    // A version whose program is not installed, or that exits at once: a clear end, recorded.
    let quits = ["/usr/bin/sh", "-c", "echo cannot start: no licence; exit 2"];
    for (version, command) in [("missing", &["/usr/bin/no-such-program"][..]), ("quits", &quits[..])] {
        let app_version = NewApp {
            name: "shell".into(),
            version: version.into(),
            kind: "terminal".into(),
            command: command.iter().map(|a| a.to_string()).collect(),
            ..NewApp::default()
        };
        app.state.catalogue.add(&console, app_version).await.unwrap();
    }
    app.serve_repository_to_sessions();
    // A service on the host's loopback that no session may reach.
    let host_service = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host_port = host_service.local_addr().unwrap().port();

    let now = app.state.governance.now_us();
    let rita = signed_in("rita", &[], now);
    let owen = signed_in("owen", &[Role::Staff], now);
    // Only members launch: owen is heart's IAO, not a member of it.
    assert!(app.state.sessions.launch(&owen, "heart", "shell", "1").await.is_err());
    let watch = tokio::spawn(app.state.sessions.clone().watch());
    match app.state.sessions.launch(&rita, "heart", "shell", "missing").await {
        Err(CoreError::Conflict(m)) => assert!(m.contains("/usr/bin/no-such-program is not installed"), "{m}"),
        other => panic!("{other:?}"),
    }
    let quits = app.state.sessions.launch(&rita, "heart", "shell", "quits").await.unwrap();
    let mut ended = String::new();
    for _ in 0..100 {
        let now = app.state.sessions.get(&rita, &quits.id).await.unwrap();
        if !now.running() {
            ended = now.end_reason;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ended, "exited with 2");
    // Its owner can see why it stopped; nobody else.
    let said = app.state.sessions.last_output(&rita, &quits.id).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&said).contains("cannot start: no licence"), "{said:?}");
    assert!(app.state.sessions.last_output(&owen, &quits.id).await.is_err());
    let mine = app.state.sessions.list(&rita, false).await.unwrap();
    assert!(mine.iter().any(|s| s.app_version == "missing" && s.end_reason.starts_with("failed to start")), "{mine:?}");
    let s = app.state.sessions.launch(&rita, "heart", "shell", "1").await.unwrap();
    assert!(s.uid >= haven_core::workspaces::sessions::FIRST_ID && s.gid != s.uid);
    let mut t = attach(app, &rita, &s.id).await;

    // Its own identity, its drives and nothing else of the host.
    let (code, out) = t.run("id -u; id -g; ls -1 /drives; ls -1 / | tr '\\n' ' '").await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("{}\r\n{}\r\n", s.uid, s.gid)), "{out}");
    assert!(out.contains("N\r\nS\r\noutputs\r\n"), "{out}");
    assert!(!out.contains("root") && !out.contains("var"), "no host directories: {out}");
    // Its identities have names (its owner's and the asset's), and the host's accounts are not there.
    let (code, out) = t.run("whoami; id -gn; getent passwd daemon || echo no-daemon").await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("rita\r\nheart\r\nno-daemon"), "{out}");

    // pip installs an allowed package (with its dependency) from Haven into the version's
    // library on N:, and is refused one not allowed.
    let (code, out) = t.run("pip install --no-cache-dir --retries 0 alpha").await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Successfully installed alpha"), "{out}");
    let (code, out) = t.run("python3 -c 'import alpha; print(alpha.__file__)'").await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("/drives/N/.haven/libraries/shell-1/python/"), "{out}");
    let (code, out) = t.run("pip install --no-cache-dir --retries 0 gamma").await;
    assert_ne!(code, 0, "{out}");

    // Through the repository's gate, only the repository: not the sign-in, the API or the portal.
    let (code, out) = t
        .run(
            "python3 -c 'import urllib.request as u\nfor p in (\"/pypi/simple/\", \"/security/signin\", \"/api/v1/assets\", \"/apps\"):\n  try: print(p, u.urlopen(\"https://localhost:8443\" + p).status)\n  except Exception as e: print(p, getattr(e, \"code\", e))'",
        )
        .await;
    assert_eq!(code, 0, "{out}");
    for refused in ["/security/signin 404", "/api/v1/assets 404", "/apps 404"] {
        assert!(out.contains(refused), "{refused}: {out}");
    }
    assert!(out.contains("/pypi/simple/ 401"), "the repository asks for the token: {out}");

    // No network but the repository: not the internet, not the host's loopback services.
    let probe = format!(
        "python3 -c 'import socket\nfor a in ((\"1.1.1.1\", 443), (\"127.0.0.1\", {host_port})):\n  try:\n    socket.create_connection(a, 3); print(\"reached\", a)\n  except OSError as e: print(\"unreachable\", a, e)'"
    );
    let (_, out) = t.run(&probe).await;
    assert_eq!(out.matches("unreachable ('").count(), 2, "{out}");
    assert!(!out.contains("\nreached ("), "{out}");

    // What it writes to S: is the asset's group's, for the other members.
    let (code, out) = t.run("echo 42 > /drives/S/result.csv && echo mine > /drives/N/notes.txt").await;
    assert_eq!(code, 0, "{out}");
    let written = std::fs::metadata(app.drive_path(&Drive::Shared("heart".into())).join("result.csv")).unwrap();
    assert_eq!((written.uid(), written.gid(), written.mode() & 0o777), (s.uid, s.gid, 0o660));
    let home = app.drive_path(&Drive::Home { user: "rita".into(), asset: "heart".into() });
    assert_eq!(std::fs::metadata(&home).unwrap().mode() & 0o777, 0o700);

    // Another signed-in user cannot reach the session, even with its id; audited.
    assert!(matches!(app.state.sessions.terminal(&owen, &s.id).await, Err(CoreError::NotFound)));
    assert!(matches!(app.state.sessions.get(&owen, &s.id).await, Err(CoreError::NotFound)));
    assert!(matches!(
        app.state.sessions.terminal(&rita, "0123456789abcdef0123456789abcdef").await,
        Err(CoreError::NotFound)
    ));
    let trail: Vec<_> = app.store.audit_events(0, 0).map(|e| e.unwrap()).collect().await;
    // Three above, and owen asking for the quitting session's last output.
    assert_eq!(trail.iter().filter(|e| e.action == "app_session.refused").count(), 4);
    assert!(trail.iter().any(|e| e.action == "app_session.started" && e.target == s.id));

    // The other version keeps a library of its own.
    let s2 = app.state.sessions.launch(&rita, "heart", "shell", "2").await.unwrap();
    let mut t2 = attach(app, &rita, &s2.id).await;
    let (code, out) = t2.run("python3 -c 'import alpha' 2>&1 | tail -n 1").await;
    assert_eq!(code, 0);
    assert!(out.contains("ModuleNotFoundError"), "version 2 does not see version 1's library: {out}");
    let (code, out) = t2.run("pip install --no-cache-dir --retries 0 beta && ls /drives/N/.haven/libraries").await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("shell-1") && out.contains("shell-2"), "{out}");

    // Stopping ends it, its run directory (with the token) and its token.
    let run_dir = |id: &str| app.session_run_dir(id);
    assert!(run_dir(&s.id).exists());
    let stopped = app.state.sessions.stop(&rita, &s.id).await.unwrap();
    assert!(!stopped.running() && stopped.end_reason.contains("stopped by rita"), "{stopped:?}");
    assert!(!run_dir(&s.id).exists());
    // The attached view ends with it.
    let rest = tokio::time::timeout(Duration::from_secs(10), t.link.output.by_ref().collect::<Vec<_>>()).await;
    assert!(rest.is_ok(), "the view ended");
    assert!(app.state.sessions.terminal(&rita, &s.id).await.is_err());
    // A program that exits ends its session by itself, recorded by the watcher.
    t2.link.input.send(TerminalInput::Data("exit 3\n".into())).await.unwrap();
    let mut ended = None;
    for _ in 0..100 {
        let now = app.state.sessions.get(&rita, &s2.id).await.unwrap();
        if !now.running() {
            ended = Some(now);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ended.expect("the session ended").end_reason, "exited with 3");

    // A session is held to the asset's rules while it runs: once rita's membership ends, she
    // cannot reach it, and the sweep stops it.
    let s3 = app.state.sessions.launch(&rita, "heart", "shell", "1").await.unwrap();
    let now = app.state.governance.now_us();
    let end = NewRequest {
        asset: "heart".into(),
        kind: Some(RequestKind::End),
        user_id: "rita".into(),
        justification: "left the project".into(),
        ..NewRequest::default()
    };
    let r = app.state.governance.submit_request(&signed_in("owen", &[Role::Staff], now), end).await.unwrap();
    app.state.governance.decide(&signed_in("dora", &[Role::Admin], now), r.id, true, "ok").await.unwrap();
    assert_eq!(app.state.sessions.sweep().await.unwrap(), 1);
    let s3 = app.state.sessions.get(&rita, &s3.id).await.unwrap();
    assert!(!s3.running() && s3.end_reason.starts_with("access ended"), "{s3:?}");
    assert!(!app.session_run_dir(&s3.id).exists());
    watch.abort();
    drop(host_service);
}

/// Many launches at once, terminals attached and dropped mid-output (a browser going away), some
/// stops racing the programs' own ends: afterwards nothing runs, no run directory or token is
/// left, and every record says it ended; on both databases.
async fn many_sessions_started_watched_and_dropped_at_once_leave_nothing_behind(db: TestDb) {
    if !sandbox() {
        return;
    }
    let config = haven_core::workspaces::sessions::SessionsConfig { per_user: 16, ..Default::default() };
    let w = world_from(TestApp::builder().db(db).sessions(config)).await;
    member(&w, "rita").await;
    let app = &w.app;
    let busy = NewApp {
        name: "busy".into(),
        version: "1".into(),
        kind: "terminal".into(),
        // Prints without end until stopped.
        command: vec!["/usr/bin/yes".into(), "haven".into()],
        ..NewApp::default()
    };
    app.state.catalogue.add(&Caller::console(), busy).await.unwrap();
    let watch = tokio::spawn(app.state.sessions.clone().watch());
    let rita = signed_in("rita", &[], app.state.governance.now_us());
    let launches = (0..12).map(|_| app.state.sessions.launch(&rita, "heart", "busy", "1"));
    let started: Vec<_> = futures::future::join_all(launches).await.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(app.local_sessions_running(), 12);
    // Each watched a moment, then dropped mid-output, twice (a second tab takes over).
    let views = started.iter().map(|s| {
        let (sessions, rita, id) = (app.state.sessions.clone(), rita.clone(), s.id.clone());
        async move {
            for _ in 0..2 {
                let mut link = sessions.terminal(&rita, &id).await.unwrap();
                let got = tokio::time::timeout(Duration::from_secs(10), link.output.next()).await.unwrap();
                assert!(got.is_some_and(|b| !b.is_empty()));
                drop(link);
            }
        }
    });
    futures::future::join_all(views).await;
    // Half stopped by hand while the sweep runs, the rest when Haven shuts down.
    let stops = started.iter().take(6).map(|s| app.state.sessions.stop(&rita, &s.id));
    let (stopped, swept) = tokio::join!(futures::future::join_all(stops), app.state.sessions.sweep());
    assert!(stopped.iter().all(|r| r.as_ref().is_ok_and(|s| !s.running())), "{stopped:?}");
    swept.unwrap();
    let shut = app.state.sessions.shutdown().await.unwrap();
    let all = app.state.sessions.list(&rita, false).await.unwrap();
    let reasons: Vec<&str> = all.iter().map(|s| s.end_reason.as_str()).collect();
    assert_eq!(shut, 6, "{reasons:?}");
    assert_eq!(app.local_sessions_running(), 0, "nothing runs");
    for s in &started {
        let now = app.state.sessions.get(&rita, &s.id).await.unwrap();
        assert!(!now.running(), "{now:?}");
        assert!(!app.session_run_dir(&s.id).exists(), "{}", s.id);
    }
    let tokens = app.state.packages.repo_tokens(&rita).await.unwrap();
    assert!(tokens.is_empty(), "every session's token is gone: {tokens:?}");
    watch.abort();
}

/// Runs queued jobs as the serving Haven's runner does until one runs in the sandbox (recorded
/// running when claimed; in the backend's hands a moment later).
async fn until_one_job_runs(app: &TestApp) {
    for _ in 0..100 {
        for run in app.state.sessions.run_jobs().await.unwrap() {
            tokio::spawn(run);
        }
        if app.local_sessions_running() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.local_sessions_running(), 1);
}

/// Runs queued jobs as the serving Haven's runner does, until `id` has finished.
async fn until_finished(app: &TestApp, id: &str) -> haven_core::workspaces::jobs::JobRecord {
    for _ in 0..600 {
        for run in app.state.sessions.run_jobs().await.unwrap() {
            tokio::spawn(run);
        }
        let j = app.state.sessions.job(&Caller::console(), id).await.unwrap();
        if j.state.finished() {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("job {id} did not finish in two minutes");
}

/// Batch jobs in the sandbox a session has: Python and R read their scripts, write results to
/// outputs as the member's identities, reach no network; a failing script's status and errors
/// are kept; a cancelled one stops; only the owner (and the console) reads a log; bad scripts
/// are refused before anything is queued; on both databases.
async fn batch_jobs_run_in_the_sandbox_and_keep_their_status_log_and_outputs(db: TestDb) {
    use haven_core::workspaces::jobs::JobState;
    if !sandbox() {
        return;
    }
    // A gibibyte per job: enough for R and Python, little enough to run out of on purpose.
    let config = haven_core::workspaces::sessions::SessionsConfig { memory_gib: 1, ..Default::default() };
    let w = world_from(TestApp::builder().db(db).sessions(config)).await;
    member(&w, "rita").await;
    let app = &w.app;
    let console = Caller::console();
    for (name, command) in [
        ("python", &["/usr/bin/python3"][..]),
        ("r", &["/usr/bin/R", "--no-save", "--quiet"][..]),
        ("shell", &["/usr/bin/bash"][..]),
    ] {
        let a = NewApp {
            name: name.into(),
            version: "1".into(),
            kind: "terminal".into(),
            command: command.iter().map(|c| c.to_string()).collect(),
            ..NewApp::default()
        };
        app.state.catalogue.add(&console, a).await.unwrap();
    }
    let now = app.state.governance.now_us();
    let rita = signed_in("rita", &[], now);
    let owen = signed_in("owen", &[Role::Staff], now);
    let jobs = &app.state.sessions;

    let python = "import os, socket\nrows = [1, 2, 3]\nprint('rows:', len(rows))\n\
        open('/drives/outputs/summary.csv', 'w').write('n\\n3\\n')\n\
        try:\n    socket.create_connection(('1.1.1.1', 443), 3); print('reached')\n\
        except OSError as e: print('unreachable', e)\nprint('uid', os.getuid())\n";
    let p = jobs.submit_job(&rita, "heart", "python@1", "summary.py", python.as_bytes().to_vec()).await.unwrap();
    assert_eq!(p.state, JobState::Queued);
    let r_script =
        "x <- c(2, 4, 9)\ncat('mean is', mean(x), '\\n')\nwrite.csv(data.frame(x = x), '/drives/outputs/r.csv')\n";
    let r = jobs.submit_job(&rita, "heart", "r", "mean.R", r_script.as_bytes().to_vec()).await.unwrap();
    let failing =
        jobs.submit_job(&rita, "heart", "shell@1", "fail.sh", b"echo oops >&2\nexit 4\n".to_vec()).await.unwrap();

    let p = until_finished(app, &p.id).await;
    assert_eq!((p.state, p.exit_code), (JobState::Succeeded, Some(0)), "{p:?}");
    let log = jobs.job_log(&rita, &p.id, 1 << 20).await.unwrap();
    let text = String::from_utf8_lossy(&log.text);
    assert!(text.contains("rows: 3") && text.contains("unreachable"), "{text}");
    assert!(!text.contains("reached\n"), "{text}");
    assert!(text.contains(&format!("uid {}", p.uid)) && p.uid >= haven_core::workspaces::sessions::FIRST_ID, "{text}");
    let outputs = app.drive_path(&Drive::Outputs("heart".into()));
    let summary = std::fs::metadata(outputs.join("summary.csv")).unwrap();
    assert_eq!((summary.uid(), summary.gid()), (p.uid, p.gid));

    let r = until_finished(app, &r.id).await;
    assert_eq!(r.state, JobState::Succeeded, "{r:?}");
    let text = String::from_utf8_lossy(&jobs.job_log(&rita, &r.id, 1 << 20).await.unwrap().text).into_owned();
    assert!(text.contains("mean is 5"), "{text}");
    assert!(std::fs::read_to_string(outputs.join("r.csv")).unwrap().contains("\"x\""));

    let failing = until_finished(app, &failing.id).await;
    assert_eq!((failing.state, failing.exit_code), (JobState::Failed, Some(4)));
    assert_eq!(failing.end_reason, "exited with 4");
    assert!(String::from_utf8_lossy(&jobs.job_log(&rita, &failing.id, 1 << 20).await.unwrap().text).contains("oops"));

    // Three processes that each fit their rlimit but not, together, the job's control group
    // (where this host has control groups for Haven, as the project's test hosts do): the
    // kernel stops one, and the log says why.
    if haven_sandbox::cgroup::Groups::detect(std::path::Path::new("/sys/fs/cgroup"), "haven-test").is_ok() {
        let hog =
            "for i in 1 2 3; do python3 -c 'b = bytes(1) * (450 << 20); import time; time.sleep(4)' & done; wait\n";
        let hog = jobs.submit_job(&rita, "heart", "shell@1", "hog.sh", hog.as_bytes().to_vec()).await.unwrap();
        let hog = until_finished(app, &hog.id).await;
        let text = String::from_utf8_lossy(&jobs.job_log(&rita, &hog.id, 1 << 20).await.unwrap().text).into_owned();
        assert!(text.contains("stopped for using more than the 1 GiB of memory a job may use"), "{text}");
    } else {
        assert!(!haven_testkit::strict(), "this project's test hosts have control groups");
    }

    // Cancelled while it runs: its programs end, its token goes.
    let long = jobs.submit_job(&rita, "heart", "shell@1", "wait.sh", b"sleep 600\n".to_vec()).await.unwrap();
    until_one_job_runs(app).await;
    let cancelled = jobs.cancel_job(&rita, &long.id).await.unwrap();
    assert_eq!(cancelled.state, JobState::Cancelled);
    assert_eq!(cancelled.end_reason, "cancelled by rita");
    for _ in 0..100 {
        if app.local_sessions_running() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.local_sessions_running(), 0, "the cancelled job's programs ended");
    assert!(app.state.packages.repo_tokens(&rita).await.unwrap().is_empty(), "no job token is left");

    // A job past its time limit is stopped (`jobs.max_hours` sets it; a second here).
    let drive = Drive::Job { asset: "heart".into(), id: "f".repeat(32) };
    let script: haven_core::blobs::ByteStream =
        Box::pin(futures::stream::once(async { Ok(bytes::Bytes::from_static(b"echo started; sleep 600")) }));
    app.drives.place(&drive, "script", 23, u64::MAX, script).await.unwrap();
    let shell = app.state.catalogue.list(&console).await.unwrap().apps.into_iter().find(|a| a.name == "shell").unwrap();
    let launch = haven_core::workspaces::sessions::Launch {
        id: "f".repeat(32),
        owner: "rita".into(),
        asset: "heart".into(),
        app: shell,
        identity: haven_core::workspaces::sessions::SessionIdentity { uid: p.uid, gid: p.gid },
        home: Drive::Home { user: "rita".into(), asset: "heart".into() },
        shared: Drive::Shared("heart".into()),
        outputs: Drive::Outputs("heart".into()),
        repository_user: "rita".into(),
        repository_token: String::new().into(),
        config: Default::default(),
        deadline_secs: 1,
    };
    let backend = app.local_sessions.as_ref();
    let started = std::time::Instant::now();
    let ended =
        haven_core::workspaces::sessions::SessionBackend::run_job(backend, launch, drive.clone()).await.unwrap();
    assert_eq!(ended, haven_core::workspaces::sessions::Outcome::OverTime(1));
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(app.drives.tail(&drive, "output.log", 100).await.unwrap().0, "started\n");

    // Someone else gets 404 for the job and its log, audited; the console reads a log, audited.
    assert!(matches!(jobs.job(&owen, &p.id).await, Err(CoreError::NotFound)));
    assert!(matches!(jobs.job_log(&owen, &p.id, 100).await, Err(CoreError::NotFound)));
    assert!(jobs.job_log(&console, &p.id, 100).await.is_ok());
    let trail: Vec<_> = app.store.audit_events(0, 0).map(|e| e.unwrap()).collect().await;
    assert_eq!(trail.iter().filter(|e| e.action == "job.refused").count(), 2);
    assert!(trail.iter().any(|e| e.action == "job.log_read" && e.actor == "console" && e.target == p.id));
    assert!(trail.iter().any(|e| e.action == "job.submitted" && e.target == p.id && e.details.contains("sha256")));
    assert!(
        trail
            .iter()
            .any(|e| e.action == "job.ended" && e.target == failing.id && e.details.contains("\"exit_code\":4"))
    );

    // Bad scripts and callers are refused, and nothing is queued.
    let before = jobs.jobs(&rita, false).await.unwrap().len();
    let big = vec![b'#'; 300 * 1024];
    for (app_spec, script) in [
        ("shell@1", Vec::new()),
        ("shell@1", big),
        ("shell@1", b"echo \0 binary".to_vec()),
        ("shell@1", vec![0xff, 0xfe, 0x00]),
        ("nothing@9", b"echo hi".to_vec()),
    ] {
        let refused = jobs.submit_job(&rita, "heart", app_spec, "x.sh", script).await;
        assert!(matches!(refused, Err(CoreError::Invalid { .. })), "{refused:?}");
    }
    assert!(jobs.submit_job(&owen, "heart", "shell@1", "x.sh", b"id".to_vec()).await.is_err(), "not a member");
    assert!(jobs.submit_job(&rita, "lungs", "shell@1", "x.sh", b"id".to_vec()).await.is_err(), "no such asset");
    assert_eq!(jobs.jobs(&rita, false).await.unwrap().len(), before);

    // The console submits in a member's name, held to what they may reach.
    let as_rita = Caller::console_as("rita", vec![]);
    let j = jobs.submit_job(&as_rita, "heart", "shell@1", "hello.sh", b"echo hello from $USER".to_vec()).await.unwrap();
    assert_eq!(j.owner, "rita");
    let j = until_finished(app, &j.id).await;
    assert!(
        String::from_utf8_lossy(&jobs.job_log(&as_rita, &j.id, 100).await.unwrap().text).contains("hello from rita")
    );
    assert!(
        jobs.submit_job(&Caller::console_as("owen", vec![]), "heart", "shell@1", "x", b"id".to_vec()).await.is_err()
    );

    // A job that was running when Haven died is recorded failed when it starts again, never re-run.
    let lost = jobs.submit_job(&rita, "heart", "shell@1", "lost.sh", b"sleep 600".to_vec()).await.unwrap();
    let runs = jobs.run_jobs().await.unwrap();
    assert_eq!(runs.len(), 1);
    drop(runs);
    assert_eq!(jobs.job(&rita, &lost.id).await.unwrap().state, JobState::Running);
    assert_eq!(jobs.recover_jobs().await.unwrap(), 1);
    let lost = jobs.job(&rita, &lost.id).await.unwrap();
    assert_eq!(lost.state, JobState::Failed);
    assert!(lost.end_reason.starts_with("Haven restarted"), "{lost:?}");

    // A web application cannot run a job; one person may have only so many waiting.
    let web = NewApp {
        name: "lab".into(),
        version: "1".into(),
        kind: "web".into(),
        command: vec!["/usr/bin/true".into()],
        ..NewApp::default()
    };
    app.state.catalogue.add(&console, web).await.unwrap();
    let refused = jobs.submit_job(&rita, "heart", "lab@1", "x.py", b"print(1)".to_vec()).await;
    assert!(matches!(refused, Err(CoreError::Invalid { .. })), "{refused:?}");
    let mut waiting = Vec::new();
    for _ in 0..haven_core::workspaces::jobs::PER_USER_WAITING {
        waiting.push(jobs.submit_job(&rita, "heart", "shell@1", "w.sh", b"true".to_vec()).await.unwrap());
    }
    let over = jobs.submit_job(&rita, "heart", "shell@1", "w.sh", b"true".to_vec()).await;
    assert!(matches!(over, Err(CoreError::Conflict(_))), "{over:?}");
    for j in &waiting {
        jobs.cancel_job(&rita, &j.id).await.unwrap();
    }

    // A running job is held to the asset's rules: once rita's membership ends, it is stopped.
    let held = jobs.submit_job(&rita, "heart", "shell@1", "held.sh", b"sleep 600".to_vec()).await.unwrap();
    until_one_job_runs(app).await;
    let now = app.state.governance.now_us();
    let end = NewRequest {
        asset: "heart".into(),
        kind: Some(RequestKind::End),
        user_id: "rita".into(),
        justification: "left the project".into(),
        ..NewRequest::default()
    };
    let r = app.state.governance.submit_request(&signed_in("owen", &[Role::Staff], now), end).await.unwrap();
    app.state.governance.decide(&signed_in("dora", &[Role::Admin], now), r.id, true, "ok").await.unwrap();
    assert!(jobs.run_jobs().await.unwrap().is_empty());
    let held = jobs.job(&console, &held.id).await.unwrap();
    assert!(held.state == JobState::Failed && held.end_reason.starts_with("access ended"), "{held:?}");
    for _ in 0..100 {
        if app.local_sessions_running() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.local_sessions_running(), 0, "the job's programs ended");
    assert!(app.state.packages.repo_tokens(&rita).await.unwrap().is_empty());
}

/// JupyterLab (HAVEN_TEST_JUPYTERLAB, from PyPI) as a web session: it starts in the sandbox and
/// listens on the session's socket as the session's own identities, and nobody else's request
/// reaches it. The browser's side (the proxy, cells run, downloads refused) is tests/browser.rs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jupyterlab_session_listens_on_its_socket_as_the_session() {
    use haven_core::workspaces::sessions::WebEndpoint;
    if !sandbox() {
        return;
    }
    let Some(lab) = haven_testkit::tool("HAVEN_TEST_JUPYTERLAB") else { return };
    let w = world_from(TestApp::builder()).await;
    member(&w, "rita").await;
    let app = &w.app;
    let console = Caller::console();
    let jupyter = NewApp {
        name: "jupyterlab".into(),
        version: "4".into(),
        kind: "web".into(),
        command: vec![lab],
        ..NewApp::default()
    };
    app.state.catalogue.add(&console, jupyter).await.unwrap();
    let now = app.state.governance.now_us();
    let rita = signed_in("rita", &[], now);
    let owen = signed_in("owen", &[Role::Staff], now);
    let watch = tokio::spawn(app.state.sessions.clone().watch());
    let s = app.state.sessions.launch(&rita, "heart", "jupyterlab", "4").await.unwrap();
    assert!(matches!(app.state.sessions.web(&owen, &s.id, false).await, Err(CoreError::NotFound)));
    let (_, endpoint) = app.state.sessions.web(&rita, &s.id, false).await.unwrap();
    let WebEndpoint::Unix { path, uid, gid } = endpoint else { panic!("a local session's socket: {endpoint:?}") };
    assert_eq!((uid, gid), (s.uid, s.gid));
    let mut status = String::new();
    for _ in 0..600 {
        if let Ok(mut stream) = tokio::net::UnixStream::connect(&path).await {
            let peer = stream.peer_cred().unwrap();
            assert_eq!((peer.uid(), peer.gid()), (s.uid, s.gid), "JupyterLab runs as the session");
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let ask = format!(
                "GET {}api/status HTTP/1.0\r\nHost: localhost\r\n\r\n",
                haven_core::paths::app_session_web(&s.id)
            );
            stream.write_all(ask.as_bytes()).await.unwrap();
            stream.read_to_string(&mut status).await.unwrap();
            break;
        }
        let now = app.state.sessions.get(&rita, &s.id).await.unwrap();
        if !now.running() {
            let said = app.state.sessions.last_output(&rita, &s.id).await.unwrap().unwrap_or_default();
            panic!("JupyterLab ended ({}): {}", now.end_reason, String::from_utf8_lossy(&said));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(status.starts_with("HTTP/1.1 200") && status.contains("\"kernels\""), "{status}");
    app.state.sessions.stop(&rita, &s.id).await.unwrap();
    assert!(!path.exists(), "the socket went with the run directory");
    watch.abort();
}

/// The web sessions' origin serves web sessions and nothing else: Haven's pages are not there
/// (a script in a session cannot read them as same-origin), a request without a sign-in is sent
/// to Haven's own origin to sign in, and a change from any other origin, Haven's own included,
/// is refused.
#[tokio::test]
async fn the_web_sessions_origin_serves_sessions_only() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use tower::ServiceExt;
    let app = TestApp::builder().build().await;
    let ask = |r: Request<Body>| haven_web::sessions_router(app.state.clone()).oneshot(r);
    for path in ["/security/signin", "/apps", "/api/v1/assets", "/static/haven.css", "/apps/sessions/x/ready"] {
        let r = ask(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let r = ask(Request::get("/apps/sessions/abc/lab/lab").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()[header::LOCATION].to_str().unwrap();
    assert!(to.starts_with(&format!("{}/security/signin", haven_testkit::app::PUBLIC_URL)), "{to}");
    for origin in [haven_testkit::app::PUBLIC_URL, "https://elsewhere.example"] {
        let post = Request::post("/apps/sessions/abc/lab/api/contents")
            .header(header::ORIGIN, origin)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap();
        assert_eq!(ask(post).await.unwrap().status(), StatusCode::FORBIDDEN, "{origin}");
    }
}

/// A file copied from one of an asset's drives to another, from the browser's drives page: whole,
/// under its name (numbered when taken), audited; never through a link, never outside the drives,
/// never for someone who cannot reach the asset.
#[tokio::test]
async fn a_file_is_copied_within_the_garden() {
    use haven_core::workspaces::browse::Which;
    let w = world_from(TestApp::builder()).await;
    member(&w, "rita").await;
    let app = &w.app;
    let now = app.state.governance.now_us();
    let (rita, owen) = (signed_in("rita", &[], now), signed_in("owen", &[Role::Staff], now));
    let home = Drive::Home { user: "rita".into(), asset: "heart".into() };
    let bytes: haven_core::blobs::ByteStream =
        Box::pin(futures::stream::once(async { Ok(bytes::Bytes::from_static(b"n,mean\n12,5.0\n")) }));
    app.drives.place(&home, "result.csv", 14, u64::MAX, bytes).await.unwrap();
    let sessions = &app.state.sessions;
    assert_eq!(
        sessions.copy_within(&rita, "heart", Which::Home, "result.csv", Which::Outputs).await.unwrap(),
        "result.csv"
    );
    assert_eq!(
        sessions.copy_within(&rita, "heart", Which::Home, "result.csv", Which::Outputs).await.unwrap(),
        "result (2).csv"
    );
    let outputs = app.drive_path(&Drive::Outputs("heart".into()));
    assert_eq!(std::fs::read(outputs.join("result.csv")).unwrap(), b"n,mean\n12,5.0\n");
    // A link (one a session could make to anywhere) is not followed; nor is a path out of the drive.
    std::os::unix::fs::symlink("/etc/hostname", app.drive_path(&home).join("link.csv")).unwrap();
    for (path, to) in [("link.csv", Which::Outputs), ("../shared/x", Which::Outputs), ("missing.csv", Which::Shared)] {
        let refused = sessions.copy_within(&rita, "heart", Which::Home, path, to).await;
        assert!(matches!(refused, Err(CoreError::NotFound | CoreError::Invalid { .. })), "{path}: {refused:?}");
    }
    let same = sessions.copy_within(&rita, "heart", Which::Home, "result.csv", Which::Home).await;
    assert!(matches!(same, Err(CoreError::Invalid { .. })), "{same:?}");
    assert!(sessions.copy_within(&owen, "heart", Which::Home, "result.csv", Which::Outputs).await.is_err());
    let trail: Vec<_> = app.store.audit_events(0, 0).map(|e| e.unwrap()).collect().await;
    let copied: Vec<_> = trail.iter().filter(|e| e.action == "drive.copied").collect();
    assert_eq!(copied.len(), 2);
    assert!(copied[1].details.contains("outputs:result (2).csv") && copied[1].actor == "rita", "{:?}", copied[1]);
}

/// What Slurm names job `id` of the backend `local`: `haven_<"local" in hex>_<id>`.
fn slurm_name(id: &str) -> String {
    format!("haven_6c6f63616c_{id}")
}

/// Slurm's state of job `name` once it settles on `want` (it may show COMPLETING a moment after
/// sbatch --wait returned), or what it shows after 20 s.
async fn slurm_settles(conf: &str, name: &str, want: &str) -> String {
    let mut state = String::new();
    for _ in 0..80 {
        state = slurm_state(conf, name);
        if state == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    state
}

/// Slurm's view of job `name` (`scontrol show job`, which keeps finished jobs for minutes).
fn slurm_state(conf: &str, name: &str) -> String {
    slurm_field(conf, name, "JobState")
}

/// What Slurm says of job `name`'s `field` (empty if it knows no such job).
fn slurm_field(conf: &str, name: &str, field: &str) -> String {
    let out = std::process::Command::new("scontrol")
        .args(["show", "job", "--oneliner"])
        .env("SLURM_CONF", conf)
        .output()
        .expect("run scontrol");
    let all = String::from_utf8_lossy(&out.stdout).into_owned();
    all.lines()
        .find(|l| l.contains(&format!("JobName={name} ")))
        .and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix(&format!("{field}="))))
        .unwrap_or_default()
        .to_string()
}

/// Batch jobs on a one-host Slurm cluster (slurm-wlm and munge from Debian, started by
/// scripts/test): a job becomes an sbatch job that runs in the same sandbox, cannot reach the
/// network, writes its results into the asset's outputs as the member's identity, and its log
/// and status come back; a failing job's status and a cancelled one (scancel) too. Then a
/// terminal session on Slurm (`srun --pty`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_jobs_run_on_slurm_in_the_sandbox() {
    use haven_core::workspaces::jobs::JobState;
    let Some(conf) = haven_testkit::tool("HAVEN_TEST_SLURM_CONF") else { return };
    if !sandbox() {
        return;
    }
    let Some(bridge) = haven_testkit::haven_program() else { return };
    let slurm = haven_sandbox::slurm::Slurm {
        bin_dir: "/usr/bin".into(),
        conf: Some(conf.clone().into()),
        partition: None,
        terminals: true,
        applications: false,
        bridge,
        haven_key: haven_web::reach::haven_key().unwrap().fingerprint,
    };
    let w = world_from(TestApp::builder().slurm(slurm)).await;
    member(&w, "rita").await;
    let app = &w.app;
    // The package repository is reached through Haven's bridge on the compute node (Haven's
    // own socket is not made for jobs and sessions on Slurm).
    app.serve_repository_to_sessions();
    let console = Caller::console();
    for (name, command) in [("python", &["/usr/bin/python3"][..]), ("shell", &["/usr/bin/bash"][..])] {
        let a = NewApp {
            name: name.into(),
            version: "1".into(),
            kind: "terminal".into(),
            command: command.iter().map(|c| c.to_string()).collect(),
            ..NewApp::default()
        };
        app.state.catalogue.add(&console, a).await.unwrap();
    }
    let rita = signed_in("rita", &[], app.state.governance.now_us());
    let jobs = &app.state.sessions;
    // A listener on the host: a job that could reach the network would connect to it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let python = format!(
        "import os, socket\nprint('on slurm', os.environ.get('SLURM_JOB_ID', 'no job id in the sandbox'))\n\
         open('/drives/outputs/slurm.csv', 'w').write('n\\n3\\n')\n\
         try:\n    socket.create_connection(('127.0.0.1', {port}), 3); print('reached')\n\
         except OSError as e: print('unreachable', e)\nprint('uid', os.getuid())\n\
         import urllib.request as u\n\
         try: u.urlopen('https://localhost:8443/pypi/simple/')\n\
         except Exception as e: print('repository', getattr(e, 'code', e))\n"
    );
    let p = jobs.submit_job(&rita, "heart", "python@1", "slurm.py", python.into_bytes()).await.unwrap();
    let p = until_finished(app, &p.id).await;
    assert_eq!((p.state, p.exit_code), (JobState::Succeeded, Some(0)), "{p:?}");
    let text = String::from_utf8_lossy(&jobs.job_log(&rita, &p.id, 1 << 20).await.unwrap().text).into_owned();
    assert!(text.contains("unreachable") && !text.contains("reached\n"), "{text}");
    assert!(text.contains("no job id in the sandbox"), "Slurm's environment stays outside: {text}");
    assert!(text.contains(&format!("uid {}", p.uid)), "{text}");
    assert!(text.contains("repository 401"), "the repository answers (and asks for the token): {text}");
    let outputs = app.drive_path(&Drive::Outputs("heart".into()));
    let written = std::fs::metadata(outputs.join("slurm.csv")).unwrap();
    assert_eq!((written.uid(), written.gid()), (p.uid, p.gid), "written as the member's identity");
    assert_eq!(slurm_settles(&conf, &slurm_name(&p.id), "COMPLETED").await, "COMPLETED", "it ran as a Slurm job");
    // It asked the cluster for the memory a session may use (sessions.memory_gib, 8 GiB here).
    assert_eq!(slurm_field(&conf, &slurm_name(&p.id), "MinMemoryNode"), "8G");

    let failing =
        jobs.submit_job(&rita, "heart", "shell@1", "fail.sh", b"echo oops >&2\nexit 4\n".to_vec()).await.unwrap();
    let failing = until_finished(app, &failing.id).await;
    assert_eq!((failing.state, failing.exit_code), (JobState::Failed, Some(4)), "{failing:?}");
    assert!(String::from_utf8_lossy(&jobs.job_log(&rita, &failing.id, 1 << 20).await.unwrap().text).contains("oops"));

    // A job that prints more than a log keeps: cut in the job itself (the file Slurm writes
    // stays small), and the log says so.
    let loud = b"head -c 20000000 /dev/zero | tr '\\0' x\n".to_vec();
    let loud = jobs.submit_job(&rita, "heart", "shell@1", "loud.sh", loud).await.unwrap();
    let loud = until_finished(app, &loud.id).await;
    assert_eq!(loud.state, JobState::Succeeded, "{loud:?}");
    let log = jobs.job_log(&rita, &loud.id, 32 << 20).await.unwrap();
    assert!(log.text.len() <= (haven_core::workspaces::jobs::LOG_BYTES as usize) + 1024, "{}", log.text.len());
    assert!(String::from_utf8_lossy(&log.text).contains("more bytes of output were not kept"));

    // Cancelled while it runs: scancel ends it on Slurm, and its token goes.
    let long =
        jobs.submit_job(&rita, "heart", "shell@1", "wait.sh", b"echo waiting; sleep 600\n".to_vec()).await.unwrap();
    until_one_job_runs(app).await;
    let name = slurm_name(&long.id);
    assert_eq!(slurm_settles(&conf, &name, "RUNNING").await, "RUNNING");
    let cancelled = jobs.cancel_job(&rita, &long.id).await.unwrap();
    assert_eq!(cancelled.state, JobState::Cancelled);
    for _ in 0..100 {
        if app.local_sessions_running() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.local_sessions_running(), 0);
    assert_eq!(slurm_settles(&conf, &name, "CANCELLED").await, "CANCELLED");
    assert!(app.state.packages.repo_tokens(&rita).await.unwrap().is_empty());

    // A node that is gone left a job on Slurm: ending its records, the lease holder cancels it
    // there (found by its name's prefix, the gone node's), and leaves a live node's job alone.
    let sbatch = |backend: &str, id: &str| {
        let name = format!("{}{id}", haven_sandbox::local::slurm_prefix(backend));
        let out = std::process::Command::new("sbatch")
            .args(["--parsable", "--job-name", &name, "--output", "/dev/null", "--wrap", "sleep 600"])
            .env("SLURM_CONF", &conf)
            .output()
            .expect("run sbatch");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        name
    };
    let left_id = "0123456789abcdef0123456789abcdef";
    let left = sbatch("local@gone", left_id);
    // A name of this run's own: `scontrol` remembers an earlier run's job of the same name.
    let mut nonce = [0u8; 16];
    haven_crypto::Rng::fill(&haven_crypto::SystemRng::new(), &mut nonce).unwrap();
    let other = sbatch("local@alive", &hex::encode(nonce));
    let record = haven_core::workspaces::jobs::JobRecord {
        id: left_id.into(),
        owner: "rita".into(),
        submitted_by: "rita".into(),
        asset: "heart".into(),
        app_name: "shell".into(),
        app_version: "1".into(),
        script_name: "left.sh".into(),
        state: JobState::Running,
        exit_code: None,
        backend: "local@gone".into(),
        uid: p.uid,
        gid: p.gid,
        submitted_us: 0,
        started_us: 0,
        ended_us: 0,
        end_reason: String::new(),
        token_hash: None,
    };
    haven_core::transact(app.store.as_ref(), move |tx| Box::pin(async move { tx.insert_job(&record).await }))
        .await
        .unwrap();
    assert_eq!(app.state.sessions.end_departed(&["alive".to_string()]).await.unwrap(), 1);
    assert_eq!(slurm_settles(&conf, &left, "CANCELLED").await, "CANCELLED");
    let live = slurm_state(&conf, &other);
    let _ = std::process::Command::new("scancel").args(["--name", &other]).env("SLURM_CONF", &conf).status();
    assert!(live == "RUNNING" || live == "PENDING", "a live node's job is left alone: {live}");

    // A terminal session on Slurm (`slurm.terminals`): its shell runs as a Slurm job, in the
    // sandbox (its identity, its drives, no network), and its terminal reaches the browser here.
    let s = app.state.sessions.launch(&rita, "heart", "shell", "1").await.unwrap();
    let name = slurm_name(&s.id);
    let state = slurm_settles(&conf, &name, "RUNNING").await;
    if state != "RUNNING" {
        let shown = app.state.sessions.get(&rita, &s.id).await.unwrap();
        let last = match app.state.sessions.terminal(&rita, &s.id).await {
            Ok(link) => String::from_utf8_lossy(&link.backlog).into_owned(),
            Err(e) => format!("{e}: {:?}", app.state.sessions.last_output(&rita, &s.id).await),
        };
        panic!("the session is not a running Slurm job ({state}): {shown:?} {last:?}");
    }
    assert_eq!(slurm_field(&conf, &name, "MinMemoryNode"), "8G");
    let mut term = attach(app, &rita, &s.id).await;
    let (code, out) = term.run("id -u; ls /drives; echo $((6*7))").await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&s.uid.to_string()) && out.contains("outputs") && out.contains("42"), "{out}");
    let (_, out) =
        term.run(&format!("(exec 3<>/dev/tcp/127.0.0.1/{port}) 2>&1 && echo reached || echo unreachable")).await;
    assert!(out.contains("unreachable") && !out.contains("\nreached"), "{out}");
    // The repository through the bridge, several connections at once; only the repository.
    let (code, out) = term
        .run(
            "python3 -c 'import urllib.request as u, concurrent.futures as f\ndef get(p):\n  try: return p, u.urlopen(\"https://localhost:8443\" + p).status\n  except Exception as e: return p, getattr(e, \"code\", e)\nfor r in f.ThreadPoolExecutor(8).map(get, [\"/pypi/simple/\"] * 12 + [\"/apps\"]): print(*r)'",
        )
        .await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("/pypi/simple/ 401").count(), 12, "{out}");
    assert!(out.contains("/apps 404"), "{out}");
    // Stopped from Haven: srun goes, and so does the job on Slurm.
    app.state.sessions.stop(&rita, &s.id).await.unwrap();
    assert_eq!(slurm_settles(&conf, &name, "CANCELLED").await, "CANCELLED", "stopping the session ends its job");
    drop(listener);
}
