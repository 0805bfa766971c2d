//! The service's two flows in headless Chromium, driven by playwright-core (`tests/e2e/flows.mjs`)
//! against the real binary, with codes from oathtool.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::Path;
use std::process::Command;

use haven_testkit::process::Haven;

const BIN: &str = env!("CARGO_BIN_EXE_haven");

#[test]
fn soft_token_and_ice_flows_in_chromium() {
    let (Ok(node_path), Ok(chromium)) = (std::env::var("HAVEN_TEST_NODE_PATH"), std::env::var("HAVEN_TEST_CHROMIUM"))
    else {
        assert!(
            !haven_testkit::strict(),
            "HAVEN_TEST_NODE_PATH and HAVEN_TEST_CHROMIUM are required under CI=true (scripts/test installs them)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("haven-data");
    let server = Haven::start(Path::new(BIN), &data, &[], &[]);
    let d = data.to_str().unwrap();
    let added = Command::new(BIN)
        // An administrator, so that the test also reaches the desk's and reviewers' pages.
        .args(["users", "add", "carol", "--email", "carol@example.org", "--admin", "--data-dir", d])
        .env_remove("HAVEN_CONFIG")
        .env_remove("HAVEN_PUBLIC_URL")
        // No public_url: the printed link must name the port the server actually listens on
        // (recorded by `serve` in the data directory), not the default 8443.
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let stdout = String::from_utf8_lossy(&added.stdout);
    let link = stdout.lines().find(|l| l.contains("/security/onboard?token=")).unwrap().trim();
    assert!(link.starts_with(&format!("{}/security/onboard?token=", server.url)), "{link} names {}", server.url);
    let script = e2e_script("flows.mjs", &node_path);
    let out = Command::new("node")
        .arg(&script)
        .env("HAVEN_URL", &server.url)
        .env("ONBOARDING_LINK", link)
        .env("DATA_DIR", &data)
        .env("CHROMIUM", &chromium)
        .env("USER_ID", "carol")
        .output()
        .expect("run node");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    keep_screenshots(&data);
    assert!(out.status.success() && text.contains("E2E OK"), "{text}");
    assert!(server.stop().success());
}

/// The script `name` under `tests/e2e`, with the npm modules linked beside it: Node resolves
/// ES-module imports from the script's folder upwards, not NODE_PATH.
fn e2e_script(name: &str, node_path: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    let modules = dir.join("node_modules");
    if !modules.exists() {
        // Both browser tests may link it at once: the other one winning is fine.
        let _ = std::os::unix::fs::symlink(node_path, &modules);
    }
    dir.join(name)
}

/// HAVEN_TEST_SCREENSHOTS=DIR keeps the screenshot of every page state, to look at.
fn keep_screenshots(data: &Path) {
    if let Ok(keep) = std::env::var("HAVEN_TEST_SCREENSHOTS") {
        std::fs::create_dir_all(&keep).unwrap();
        for e in std::fs::read_dir(data).unwrap().flatten() {
            if e.file_name().to_string_lossy().ends_with(".png") {
                std::fs::copy(e.path(), Path::new(&keep).join(e.file_name())).unwrap();
            }
        }
    }
}

/// `haven` with the test's environment; its output, which must be a success.
fn haven(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("HAVEN_CONFIG").env_remove("HAVEN_PUBLIC_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "haven {args:?}: {text}");
    text
}

fn onboarding_link(printed: &str) -> String {
    printed.lines().find(|l| l.contains("/security/onboard?token=")).unwrap().trim().to_string()
}

/// The governance path (`tests/e2e/governance.mjs`) against the real binary on `database`
/// (None: SQLite in the data directory), its mail going to the test SMTP server.
fn governance_path(database: Option<&str>) {
    let (Ok(node_path), Ok(chromium), Ok(smtp), Ok(maildir)) = (
        std::env::var("HAVEN_TEST_NODE_PATH"),
        std::env::var("HAVEN_TEST_CHROMIUM"),
        std::env::var("HAVEN_TEST_SMTP"),
        std::env::var("HAVEN_TEST_MAILDIR"),
    ) else {
        assert!(
            !haven_testkit::strict(),
            "HAVEN_TEST_NODE_PATH, HAVEN_TEST_CHROMIUM and HAVEN_TEST_SMTP are required under CI=true (scripts/test)"
        );
        return;
    };
    let (host, port) = smtp.split_once(':').unwrap();
    let mut env = vec![
        ("HAVEN_MAIL__TRANSPORT", "smtp"),
        ("HAVEN_MAIL__FROM", "Haven <haven@example.org>"),
        ("HAVEN_MAIL__SMTP__HOST", host),
        ("HAVEN_MAIL__SMTP__PORT", port),
        ("HAVEN_MAIL__SMTP__TLS", "none"),
    ];
    if let Some(url) = database {
        env.push(("HAVEN_DATABASE__URL", url));
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("haven-data");
    let server = Haven::start(Path::new(BIN), &data, &[], &env);
    let d = data.to_str().unwrap();
    // Unique addresses: the SMTP server's mailbox is shared by every run.
    let tag = format!("{}{}", std::process::id(), if database.is_some() { "p" } else { "s" });
    let mail = |user: &str| format!("{user}-{tag}@example.org");
    let (dora, owen, ian) = (mail("dora"), mail("owen"), mail("ian"));
    let desk_link =
        onboarding_link(&haven(&["users", "add", "dora", "--email", &dora, "--admin", "--data-dir", d], &env));
    haven(&["users", "add", "owen", "--email", &owen, "--data-dir", d], &env);
    haven(&["users", "role", "owen", "staff", "--data-dir", d], &env);
    let iaa_link = onboarding_link(&haven(&["users", "add", "ian", "--email", &ian, "--data-dir", d], &env));
    // A completion a month ago, by the real clock the server runs on.
    let month_ago = haven_core::from_micros(
        haven_core::to_micros(haven_core::Clock::now(&haven_core::clock::SystemClock)) - 30 * 86_400_000_000,
    );
    let completed = format!("{:04}-{:02}-{:02}", month_ago.year(), u8::from(month_ago.month()), month_ago.day());
    for user in ["owen", "ian"] {
        haven(&["ig", "record", user, "data-security-awareness", &completed, "--data-dir", d], &env);
    }
    let created = [
        "assets",
        "create",
        "heart",
        "--iao",
        "owen",
        "--ig-ref",
        "IG/00001",
        "--classification",
        "identifiable",
        "--data-dir",
        d,
    ];
    haven(&created, &env);
    haven(&["assets", "iaa", "add", "heart", "ian", "--data-dir", d], &env);

    let script = e2e_script("governance.mjs", &node_path);
    let out = Command::new("node")
        .arg(&script)
        .env("HAVEN_URL", &server.url)
        .env("CHROMIUM", &chromium)
        .env("DATA_DIR", &data)
        .env("MAILDIR", &maildir)
        .env("DESK_LINK", desk_link)
        .env("IAA_LINK", iaa_link)
        .env("NEW_EMAIL", format!("nina.{tag}@example.org"))
        .env("COMPLETED", &completed)
        .output()
        .expect("run node");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    keep_screenshots(&data);
    assert!(out.status.success() && text.contains("E2E OK"), "{text}");
    assert!(server.stop().success());
}

#[test]
fn governance_path_in_chromium_on_sqlite() {
    governance_path(None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn governance_path_in_chromium_on_postgres() {
    let Some(db) = haven_testkit::db::postgres().await else {
        assert!(!haven_testkit::strict(), "HAVEN_TEST_POSTGRES_URL is required under CI=true");
        return;
    };
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || governance_path(Some(&url))).await.unwrap();
    drop(db);
}

/// File Transfer in Chromium (`tests/e2e/transfer.mjs`): the IAO's asset page, a drop-off link,
/// a provider's upload reloaded part-way and resumed, the receipt, accepting an arrival (scanned
/// by clamd when scripts/test started one).
#[test]
fn file_transfer_in_chromium() {
    let (Ok(node_path), Ok(chromium)) = (std::env::var("HAVEN_TEST_NODE_PATH"), std::env::var("HAVEN_TEST_CHROMIUM"))
    else {
        assert!(!haven_testkit::strict(), "HAVEN_TEST_NODE_PATH and HAVEN_TEST_CHROMIUM are required under CI=true");
        return;
    };
    let clamd = haven_testkit::tool("HAVEN_TEST_CLAMD");
    let mut env: Vec<(&str, &str)> = Vec::new();
    if let Some(c) = clamd.as_deref() {
        env.push(("HAVEN_TRANSFER__CLAMD", c));
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("haven-data");
    let server = Haven::start(Path::new(BIN), &data, &[], &env);
    let d = data.to_str().unwrap();
    let link = onboarding_link(&haven(&["users", "add", "owen", "--email", "owen@example.org", "--data-dir", d], &env));
    haven(&["users", "role", "owen", "staff", "--data-dir", d], &env);
    let today = haven_core::Clock::now(&haven_core::clock::SystemClock).date();
    let completed = format!("{:04}-{:02}-{:02}", today.year(), u8::from(today.month()), today.day());
    haven(&["ig", "record", "owen", "data-security-awareness", &completed, "--data-dir", d], &env);
    let asset =
        ["assets", "create", "heart", "--iao", "owen", "--ig-ref", "IG/00001", "--classification", "identifiable"];
    haven(&[&asset[..], &["--data-dir", d]].concat(), &env);

    let script = e2e_script("transfer.mjs", &node_path);
    let out = Command::new("node")
        .arg(&script)
        .env("HAVEN_URL", &server.url)
        .env("CHROMIUM", &chromium)
        .env("DATA_DIR", &data)
        .env("IAO_LINK", link)
        .env("SCANNED", if clamd.is_some() { "1" } else { "0" })
        .output()
        .expect("run node");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    keep_screenshots(&data);
    assert!(out.status.success() && text.contains("E2E OK"), "{text}");
    assert!(server.stop().success());
}

/// Egress in Chromium (`tests/e2e/egress.mjs`): the IAO allows a member to request outputs; a
/// request of a failing table and a note; two checkers vote blind, one overriding the table's
/// verdict with a reason; the IAO approves; a checker releases; the author's single-use link
/// gives a zip whose files are the pinned bytes and whose manifest `haven egress verify-manifest`
/// verifies (and refuses once a byte is changed).
#[test]
fn egress_in_chromium() {
    let (Ok(node_path), Ok(chromium)) = (std::env::var("HAVEN_TEST_NODE_PATH"), std::env::var("HAVEN_TEST_CHROMIUM"))
    else {
        assert!(!haven_testkit::strict(), "HAVEN_TEST_NODE_PATH and HAVEN_TEST_CHROMIUM are required under CI=true");
        return;
    };
    let env: Vec<(&str, &str)> = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("haven-data");
    let server = Haven::start(Path::new(BIN), &data, &[], &env);
    let d = data.to_str().unwrap();
    let mut links = Vec::new();
    for user in ["owen", "rita", "cara", "carl"] {
        let printed = haven(&["users", "add", user, "--email", &format!("{user}@example.org"), "--data-dir", d], &env);
        links.push(onboarding_link(&printed));
    }
    haven(&["users", "role", "owen", "staff", "--data-dir", d], &env);
    for checker in ["cara", "carl"] {
        haven(&["users", "role", checker, "output_checker", "--data-dir", d], &env);
    }
    let now = haven_core::Clock::now(&haven_core::clock::SystemClock);
    let day = |t: time::OffsetDateTime| format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day());
    for user in ["owen", "rita"] {
        haven(&["ig", "record", user, "data-security-awareness", &day(now), "--data-dir", d], &env);
    }
    let asset =
        ["assets", "create", "heart", "--iao", "owen", "--ig-ref", "IG/00001", "--classification", "identifiable"];
    haven(&[&asset[..], &["--data-dir", d]].concat(), &env);
    let members = dir.path().join("members.csv");
    let ends = day(now + time::Duration::days(180));
    std::fs::write(&members, format!("asset,user_id,role,ends\nheart,rita,researcher,{ends}\n")).unwrap();
    haven(&["assets", "import-members", members.to_str().unwrap(), "--data-dir", d], &env);
    let outputs = data.join("drives/assets/heart/outputs");
    std::fs::create_dir_all(outputs.join("tables")).unwrap();
    let table = "region,year,patients\nNorth,2024,120\nSouth,2024,7\nEast,2024,86\n";
    std::fs::write(outputs.join("tables/counts.csv"), table).unwrap();
    std::fs::write(outputs.join("notes.txt"), "Rates are per 1000 patient-years.\n").unwrap();

    let out = Command::new("node")
        .arg(e2e_script("egress.mjs", &node_path))
        .env("HAVEN_URL", &server.url)
        .env("CHROMIUM", &chromium)
        .env("DATA_DIR", &data)
        .env("IAO_LINK", &links[0])
        .env("MEMBER_LINK", &links[1])
        .env("CARA_LINK", &links[2])
        .env("CARL_LINK", &links[3])
        .output()
        .expect("run node");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    keep_screenshots(&data);
    assert!(out.status.success() && text.contains("E2E OK"), "{text}");

    // The zip holds the pinned bytes, and its manifest verifies against Haven's key.
    let zip_path = data.join("release.zip");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let mut got = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("files/counts.csv").unwrap(), &mut got).unwrap();
    assert_eq!(got, table);
    let verified = haven(&["egress", "verify-manifest", zip_path.to_str().unwrap(), "--data-dir", d], &env);
    assert!(verified.contains("Verified: the signature and all 2 file(s)"), "{verified}");
    let sha = hex::encode(haven_crypto::sha256(table.as_bytes()));
    assert!(verified.contains(&sha), "{verified}");
    // One byte changed in a file: refused.
    let mut bytes = std::fs::read(&zip_path).unwrap();
    let at = bytes.windows(table.len()).position(|w| w == table.as_bytes()).unwrap();
    bytes[at + table.len() - 3] = b'9';
    let forged = dir.path().join("forged.zip");
    std::fs::write(&forged, bytes).unwrap();
    let refused = Command::new(BIN)
        .args(["egress", "verify-manifest", forged.to_str().unwrap(), "--data-dir", d])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1), "{}", String::from_utf8_lossy(&refused.stdout));
    let listed = haven(&["egress", "list", "--data-dir", d], &env);
    assert!(listed.contains("released") && listed.contains("Table 1"), "{listed}");
    let trail = haven(&["audit", "export", "--data-dir", d], &env);
    for action in ["egress.permission_granted", "egress.voted", "egress.released", "egress.downloaded"] {
        assert!(trail.contains(action), "{action} missing");
    }
    assert!(server.stop().success());
}

/// Applications & Data in Chromium (`tests/e2e/apps.mjs`): R in a terminal session in the
/// browser, a second user kept out of it. Needs the sandbox (bubblewrap, root) and R.
#[test]
fn a_terminal_session_in_chromium() {
    let Some((node_path, chromium)) = session_browser() else { return };
    let env: Vec<(&str, &str)> = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let (server, data, member, other) = asset_with_a_member(dir.path(), &env);
    let d = data.to_str().unwrap();
    let r = ["apps", "add", "r", "4", "--kind", "terminal", "--command", "/usr/bin/R --no-save --quiet"];
    haven(&[&r[..], &["--default-for", "R", "--data-dir", d]].concat(), &env);

    session_walk("apps.mjs", &node_path, &chromium, &server, &data, &member, &other);
    let written = std::fs::read_to_string(data.join("drives/assets/heart/shared/from-r.csv")).unwrap();
    assert!(written.contains("\"x\""), "{written}");
    let listed = haven(&["sessions", "list", "--data-dir", d], &env);
    assert!(listed.contains("rita") && listed.contains("r@4") && listed.contains("stopped by rita"), "{listed}");
    // The job the page submitted, at the console: listed, its log printed, its output in outputs.
    let jobs = haven(&["jobs", "list", "--data-dir", d], &env);
    assert!(jobs.contains("mean.R") && jobs.contains("succeeded"), "{jobs}");
    let id = jobs.split_whitespace().next().unwrap();
    assert!(haven(&["jobs", "logs", id, "--data-dir", d], &env).contains("mean is 5"));
    assert!(haven(&["jobs", "status", id, "--data-dir", d], &env).contains("exit status 0"));
    assert!(data.join("drives/assets/heart/outputs/job.csv").exists());
    // And one from the console in rita's name, followed to its end.
    let submit = ["jobs", "submit", "--asset", "heart", "--app", "r@4", "--as", "rita", "--wait"];
    let r_script = dir.path().join("sum.R");
    std::fs::write(&r_script, "cat('sum is', sum(1:10), '\\n')\n").unwrap();
    let out = haven(&[&submit[..], &[r_script.to_str().unwrap(), "--data-dir", d]].concat(), &env);
    assert!(out.contains("is queued") && out.contains("succeeded") && out.contains("sum is 55"), "{out}");
    assert!(server.stop().success());
}

/// Node and Chromium for a sessions walk, when sessions can run here (bubblewrap, root); under
/// CI=true their absence fails.
fn session_browser() -> Option<(String, String)> {
    let (Ok(node_path), Ok(chromium)) = (std::env::var("HAVEN_TEST_NODE_PATH"), std::env::var("HAVEN_TEST_CHROMIUM"))
    else {
        assert!(!haven_testkit::strict(), "HAVEN_TEST_NODE_PATH and HAVEN_TEST_CHROMIUM are required under CI=true");
        return None;
    };
    if haven_testkit::tool("HAVEN_TEST_BWRAP").is_none() || !haven_testkit::root("sessions") {
        return None;
    }
    Some((node_path, chromium))
}

/// Runs the e2e walk `script` against `server` as rita (`member`) and mallory (`other`), keeps
/// its screenshots, and fails unless it ends "E2E OK".
fn session_walk(script: &str, node_path: &str, chromium: &str, server: &Haven, data: &Path, member: &str, other: &str) {
    let out = Command::new("node")
        .arg(e2e_script(script, node_path))
        .env("HAVEN_URL", &server.url)
        .env("CHROMIUM", chromium)
        .env("DATA_DIR", data)
        .env("MEMBER_LINK", member)
        .env("OTHER_LINK", other)
        .output()
        .expect("run node");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    keep_screenshots(data);
    assert!(out.status.success() && text.contains("E2E OK"), "{text}");
}

/// A serving Haven with rita a member of heart (owen its IAO) and mallory signed up but no
/// member: the server, its data directory, and rita's and mallory's onboarding links.
fn asset_with_a_member(dir: &Path, env: &[(&str, &str)]) -> (Haven, std::path::PathBuf, String, String) {
    let data = dir.join("haven-data");
    let server = Haven::start(Path::new(BIN), &data, &[], env);
    let d = data.to_str().unwrap();
    let member =
        onboarding_link(&haven(&["users", "add", "rita", "--email", "rita@example.org", "--data-dir", d], env));
    let other =
        onboarding_link(&haven(&["users", "add", "mallory", "--email", "mallory@example.org", "--data-dir", d], env));
    haven(&["users", "add", "owen", "--email", "owen@example.org", "--data-dir", d], env);
    haven(&["users", "role", "owen", "staff", "--data-dir", d], env);
    let now = haven_core::Clock::now(&haven_core::clock::SystemClock);
    let day = |t: time::OffsetDateTime| format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day());
    for user in ["owen", "rita", "mallory"] {
        haven(&["ig", "record", user, "data-security-awareness", &day(now), "--data-dir", d], env);
    }
    let asset =
        ["assets", "create", "heart", "--iao", "owen", "--ig-ref", "IG/00001", "--classification", "identifiable"];
    haven(&[&asset[..], &["--data-dir", d]].concat(), env);
    let members = dir.join("members.csv");
    let ends = day(now + time::Duration::days(180));
    std::fs::write(&members, format!("asset,user_id,role,ends\nheart,rita,researcher,{ends}\n")).unwrap();
    haven(&["assets", "import-members", members.to_str().unwrap(), "--data-dir", d], env);
    (server, data, member, other)
}

/// JupyterLab (from PyPI, HAVEN_TEST_JUPYTERLAB) in a web session through Haven, in Chromium:
/// a Python and an R cell run; downloads, exports and uploads are refused; nobody else gets in.
#[test]
fn jupyterlab_in_chromium() {
    let Some((node_path, chromium)) = session_browser() else { return };
    let Some(lab) = haven_testkit::tool("HAVEN_TEST_JUPYTERLAB") else { return };
    lab_walk(&node_path, &chromium, &lab, None);
}

/// The same walk with JupyterLab run as a Slurm job on the one-host cluster (scripts/test),
/// reached through Haven's bridge beside it on the compute node.
#[test]
fn jupyterlab_on_slurm_in_chromium() {
    let Some((node_path, chromium)) = session_browser() else { return };
    let Some(lab) = haven_testkit::tool("HAVEN_TEST_JUPYTERLAB") else { return };
    let Some(conf) = haven_testkit::tool("HAVEN_TEST_SLURM_CONF") else { return };
    lab_walk(&node_path, &chromium, &lab, Some(&conf));
}

/// Haven's settings for sessions on the one-host Slurm cluster at `conf`, as node `node` (a
/// Haven starting cancels the Slurm jobs its name's sessions left: each test a name of its own).
fn on_slurm(conf: &str, node: &str) -> Vec<(&'static str, String)> {
    vec![
        ("HAVEN_SLURM__ENABLED", "true".into()),
        ("HAVEN_SLURM__CONF", conf.into()),
        ("HAVEN_SLURM__APPLICATIONS", "true".into()),
        ("HAVEN_CLUSTER__NODE", node.into()),
    ]
}

/// Each session of node `node`'s Haven in `data` (one at least) was a job on the Slurm cluster.
fn ran_on_slurm(conf: &str, node: &str, data: &Path) {
    let listed = haven(&["sessions", "list", "--data-dir", data.to_str().unwrap()], &[]);
    let ids: Vec<&str> = listed
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.len() == 32 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect();
    assert!(!ids.is_empty(), "{listed}");
    let jobs = Command::new("scontrol").args(["show", "job", "--oneliner"]).env("SLURM_CONF", conf).output().unwrap();
    let jobs = String::from_utf8_lossy(&jobs.stdout);
    for id in ids {
        let name = format!("{}{id}", haven_sandbox::local::slurm_prefix(&format!("local@{node}")));
        assert!(jobs.contains(&format!("JobName={name} ")), "session {id} was no Slurm job: {jobs}");
    }
}

/// The JupyterLab walk, with sessions on the Slurm cluster at `slurm` if given.
fn lab_walk(node_path: &str, chromium: &str, lab: &str, slurm: Option<&str>) {
    const NODE: &str = "lab-on-slurm";
    let settings = slurm.map(|conf| on_slurm(conf, NODE)).unwrap_or_default();
    let env: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dir = tempfile::tempdir().unwrap();
    let (server, data, member, other) = asset_with_a_member(dir.path(), &env);
    let d = data.to_str().unwrap();
    let add = ["apps", "add", "jupyterlab", "4.6", "--kind", "web", "--command", lab];
    haven(&[&add[..], &["--default-for", "ipynb", "--data-dir", d]].concat(), &env);
    session_walk("lab.mjs", node_path, chromium, &server, &data, &member, &other);
    // What the page tried and Haven refused is in the audit trail.
    let trail = haven(&["audit", "export", "--data-dir", d], &env);
    assert!(trail.matches("app_session.transfer_refused").count() >= 5, "{trail}");
    if let Some(conf) = slurm {
        ran_on_slurm(conf, NODE, &data);
    }
    assert!(server.stop().success());
}

/// A desktop (Debian's TigerVNC Xvnc and openbox, xterm as its application) in a session,
/// drawn by noVNC in Chromium through Haven's WebSocket bridge; typing reaches it.
#[test]
fn a_desktop_in_chromium() {
    let Some((node_path, chromium)) = session_browser() else { return };
    desktop_walk(&node_path, &chromium, None);
}

/// The same desktop run as a Slurm job, its screen reached through Haven's bridge.
#[test]
fn a_desktop_on_slurm_in_chromium() {
    let Some((node_path, chromium)) = session_browser() else { return };
    let Some(conf) = haven_testkit::tool("HAVEN_TEST_SLURM_CONF") else { return };
    desktop_walk(&node_path, &chromium, Some(&conf));
}

/// The desktop walk, with sessions on the Slurm cluster at `slurm` if given.
fn desktop_walk(node_path: &str, chromium: &str, slurm: Option<&str>) {
    const NODE: &str = "desktop-on-slurm";
    let settings = slurm.map(|conf| on_slurm(conf, NODE)).unwrap_or_default();
    let env: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dir = tempfile::tempdir().unwrap();
    let (server, data, member, other) = asset_with_a_member(dir.path(), &env);
    let d = data.to_str().unwrap();
    haven(&["apps", "add", "desktop", "1", "--kind", "desktop", "--command", "/usr/bin/xterm", "--data-dir", d], &env);
    session_walk("desktop.mjs", node_path, chromium, &server, &data, &member, &other);
    let typed = std::fs::read_to_string(data.join("drives/assets/heart/homes/rita/desktop.txt")).unwrap_or_default();
    assert_eq!(typed, "typed-on-the-desktop\n", "what was typed on the desktop ran there");
    if let Some(conf) = slurm {
        ran_on_slurm(conf, NODE, &data);
    }
    assert!(server.stop().success());
}
