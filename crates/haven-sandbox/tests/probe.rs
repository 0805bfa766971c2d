//! The probe against this host's real bubblewrap (scripts/test installs it and sets
//! HAVEN_TEST_BWRAP): every namespace a session needs is found to work, by trying it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use haven_sandbox::probe::Probe;

#[test]
fn this_host_isolates_sessions_and_the_probe_shows_it() {
    let Some(bwrap) = haven_testkit::tool("HAVEN_TEST_BWRAP") else { return };
    if !haven_testkit::root("the probe's session identity") {
        return;
    }
    let report = Probe { bwrap: bwrap.into(), ..Probe::default() }.run();
    for what in
        ["bubblewrap", "user namespace", "PID namespace", "IPC namespace", "network namespace", "mount namespace"]
    {
        let c = report.checks.iter().find(|c| c.what == what).unwrap();
        assert!(c.ok, "{what}: {}", c.detail);
    }
    let net = report.checks.iter().find(|c| c.what == "network namespace").unwrap();
    assert!(net.detail.contains("loopback"), "{}", net.detail);
    // Root here (CI and the development machine): sessions can have identities of their own.
    assert!(report.isolated(), "{:#?}", report.checks);
    assert!(report.plan().starts_with("Sessions will run in bubblewrap"), "{}", report.plan());
}
