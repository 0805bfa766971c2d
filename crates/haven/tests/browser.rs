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
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/flows.mjs");
    // Node resolves ES-module imports from the script's folder upwards, not NODE_PATH: link it.
    let modules = script.parent().unwrap().join("node_modules");
    if !modules.exists() {
        std::os::unix::fs::symlink(&node_path, &modules).unwrap();
    }
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
    // HAVEN_TEST_SCREENSHOTS=DIR keeps the screenshot of every page state, to look at.
    if let Ok(keep) = std::env::var("HAVEN_TEST_SCREENSHOTS") {
        std::fs::create_dir_all(&keep).unwrap();
        for e in std::fs::read_dir(&data).unwrap().flatten() {
            if e.file_name().to_string_lossy().ends_with(".png") {
                std::fs::copy(e.path(), Path::new(&keep).join(e.file_name())).unwrap();
            }
        }
    }
    assert!(out.status.success() && text.contains("E2E OK"), "{text}");
    assert!(server.stop().success());
}
