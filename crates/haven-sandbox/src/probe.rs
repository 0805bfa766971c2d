//! What isolation this host offers a session, found by trying each piece rather than by reading
//! version numbers: bubblewrap is run with one namespace at a time and asked what it sees. Sessions
//! need all of user, PID, IPC, network and mount namespaces, and an identity that is not Haven's
//! own; resource limits come from cgroups v2 where the host delegates a subtree to Haven, and from
//! rlimits (util-linux `prlimit`) otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

/// One thing tried, and what came of it.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub what: &'static str,
    pub ok: bool,
    /// What was found, or why it failed and what to do.
    pub detail: String,
    /// Sessions cannot be isolated without it.
    pub required: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether sessions can be isolated here: every required check passed.
    pub fn isolated(&self) -> bool {
        self.checks.iter().all(|c| c.ok || !c.required)
    }

    fn ok(&self, what: &str) -> bool {
        self.checks.iter().any(|c| c.what == what && c.ok)
    }

    /// What sessions will use on this host, in a sentence or two.
    pub fn plan(&self) -> String {
        if !self.isolated() {
            let missing: Vec<&str> = self.checks.iter().filter(|c| c.required && !c.ok).map(|c| c.what).collect();
            return format!(
                "Sessions cannot be isolated here: {} missing. Sessions will not start on this host.",
                missing.join(", ")
            );
        }
        let limits = if self.ok(CGROUPS) {
            "limited per session by control groups (memory with no swap, processes) and per process by \
             rlimits through prlimit (address space, processes, CPU time)"
        } else {
            "limited by rlimits through prlimit (address space, processes, CPU time; no control groups \
             here, so memory is bounded per process, not per session)"
        };
        let bridge = if self.ok(BRIDGE) { "" } else { " Without socat, sessions cannot install packages." };
        format!(
            "Sessions will run in bubblewrap with their own user, PID, IPC, network and mount namespaces, as an \
             identity that is not Haven's, {limits}, under a seccomp filter that denies the kernel's less-trodden calls (keyrings, BPF, \
             perf, userfaultfd, io_uring, ptrace, mounts and namespaces).{bridge}"
        )
    }
}

const BWRAP: &str = "bubblewrap";
const USER: &str = "user namespace";
const PID: &str = "PID namespace";
const IPC: &str = "IPC namespace";
const NET: &str = "network namespace";
const MOUNT: &str = "mount namespace";
const IDENTITY: &str = "session identity";
const RUNNER: &str = "sandbox as a session";
const CGROUPS: &str = "control groups";
const RLIMITS: &str = "rlimits";
const SECCOMP: &str = "seccomp";
const BRIDGE: &str = "repository bridge";

/// One namespace tried with a bubblewrap: what it saw, or why it failed.
type Trial = fn(&Path) -> Result<String, String>;

/// Where to look for what the probe runs.
pub struct Probe {
    /// bubblewrap: an absolute path, or a name looked up in the system directories.
    pub bwrap: PathBuf,
    /// The root of the cgroup v2 file system.
    pub cgroup_root: PathBuf,
}

impl Default for Probe {
    fn default() -> Self {
        Probe { bwrap: PathBuf::from("bwrap"), cgroup_root: PathBuf::from("/sys/fs/cgroup") }
    }
}

fn check(what: &'static str, required: bool, outcome: Result<String, String>) -> Check {
    match outcome {
        Ok(detail) => Check { what, ok: true, detail, required },
        Err(detail) => Check { what, ok: false, detail, required },
    }
}

impl Probe {
    pub fn run(&self) -> Report {
        let mut checks = Vec::new();
        let bwrap = crate::runner::system_tool(&self.bwrap);
        checks.push(check(
            BWRAP,
            true,
            match &bwrap {
                Some(b) => version(b),
                None => Err(format!(
                    "{} not found: install bubblewrap (Debian and Ubuntu: apt-get install bubblewrap)",
                    self.bwrap.display()
                )),
            },
        ));
        let namespaces: [(&'static str, Trial); 5] =
            [(USER, user_ns), (PID, pid_ns), (IPC, ipc_ns), (NET, net_ns), (MOUNT, mount_ns)];
        for (what, test) in namespaces {
            let outcome = match &bwrap {
                Some(b) => test(b),
                None => Err("not tried: bubblewrap is missing".into()),
            };
            checks.push(check(what, true, outcome));
        }
        checks.push(check(IDENTITY, true, identity()));
        checks.push(check(
            RLIMITS,
            true,
            crate::runner::system_tool(Path::new("prlimit"))
                .map(|p| format!("prlimit at {}", p.display()))
                .ok_or_else(|| "prlimit not found: install util-linux".into()),
        ));
        checks.push(check(RUNNER, true, as_a_session(&self.bwrap)));
        checks.push(check(
            BRIDGE,
            false,
            Path::new("/usr/bin/socat")
                .is_file()
                .then(|| "socat at /usr/bin/socat carries package installs to Haven's repository".to_string())
                .ok_or_else(|| {
                    "socat not found: sessions run, but cannot install packages (apt-get install socat)".to_string()
                }),
        ));
        checks.push(check(CGROUPS, false, cgroups(&self.cgroup_root)));
        checks.push(check(SECCOMP, true, seccomp()));
        Report { checks }
    }
}

/// Runs `bwrap` over a read-only view of the host with `flags`, then `command`: its output.
fn sandboxed(bwrap: &Path, flags: &[&str], command: &[&str]) -> Result<String, String> {
    let out = Command::new(bwrap)
        .args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--die-with-parent"])
        .args(flags)
        .arg("--")
        .args(command)
        .output()
        .map_err(|e| format!("bubblewrap could not be run: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        Err(format!("refused ({}): {why}", out.status))
    }
}

fn version(bwrap: &Path) -> Result<String, String> {
    let out = Command::new(bwrap)
        .arg("--version")
        .output()
        .map_err(|e| format!("{} could not be run: {e}", bwrap.display()))?;
    Ok(format!("{} at {}", String::from_utf8_lossy(&out.stdout).trim(), bwrap.display()))
}

fn user_ns(bwrap: &Path) -> Result<String, String> {
    let uid = sandboxed(bwrap, &["--unshare-user", "--uid", "4242", "--gid", "4242"], &["id", "-u"])?;
    if uid == "4242" {
        Ok("a session sees a uid of its own (4242 inside)".into())
    } else {
        Err(format!("inside, the uid was {uid}, not the 4242 asked for"))
    }
}

fn pid_ns(bwrap: &Path) -> Result<String, String> {
    let pid = sandboxed(bwrap, &["--unshare-pid"], &["readlink", "/proc/self"])?;
    match pid.parse::<u32>() {
        Ok(n) if n < 10 => Ok(format!("a session sees only its own processes (pid {n} inside)")),
        _ => Err(format!("inside, a process had pid {pid}: the host's processes are visible")),
    }
}

fn ipc_ns(bwrap: &Path) -> Result<String, String> {
    sandboxed(bwrap, &["--unshare-ipc"], &["true"])
        .map(|_| "a session has its own System V IPC and message queues".into())
}

fn net_ns(bwrap: &Path) -> Result<String, String> {
    let devices = sandboxed(bwrap, &["--unshare-net"], &["cat", "/proc/net/dev"])?;
    let names: Vec<&str> = devices.lines().skip(2).filter_map(|l| l.split(':').next()).map(str::trim).collect();
    if names == ["lo"] {
        Ok("a session has no network but its own loopback".into())
    } else {
        Err(format!("inside, the network devices were {names:?}: the host's network is reachable"))
    }
}

fn mount_ns(bwrap: &Path) -> Result<String, String> {
    // A directory of its own (not a guessable name another user could have made first).
    let dir = tempfile::Builder::new().prefix("haven-sandbox-probe").tempdir().map_err(|e| e.to_string())?;
    let marker = dir.path().join("host-only");
    std::fs::write(&marker, b"x").map_err(|e| e.to_string())?;
    let (d, m) = (dir.path().to_string_lossy(), marker.to_string_lossy());
    sandboxed(bwrap, &["--tmpfs", &d], &["sh", "-c", "test ! -e \"$1\"", "sh", &m])
        .map(|_| "a session sees only what is mounted for it".into())
        .map_err(|e| format!("a host file stayed visible under an empty mount: {e}"))
}

/// The runner's own command, as a session identity with `no_new_privs`, run for real: what the
/// namespace checks above (run as Haven) cannot show, such as unprivileged user namespaces being
/// off for everyone but root.
fn as_a_session(bwrap: &Path) -> Result<String, String> {
    use crate::runner::{FIRST_SESSION_ID, Identity, Limits, Spec, Tools, command};
    let tools = Tools::find(bwrap).map_err(|e| e.to_string())?;
    let id = FIRST_SESSION_ID + 4242;
    let spec = Spec {
        argv: vec!["/usr/bin/id".into(), "-u".into()],
        identity: Identity { uid: id, gid: id },
        binds: vec![],
        workdir: "/tmp".into(),
        env: vec![],
        limits: Limits { memory_bytes: 256 << 20, processes: 16, cpu_secs: 10, scratch_bytes: 1 << 20 },
        etc: Vec::new(),
        groups: Vec::new(),
        new_session: true,
    };
    let out = command(&tools, &spec).map_err(|e| e.to_string())?.output().map_err(|e| e.to_string())?;
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() && said == id.to_string() {
        Ok(format!("prlimit, bubblewrap and setpriv ran a program as uid {said}"))
    } else {
        Err(format!("the sandbox did not start as a session identity: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// A line of /proc/self/status.
fn status(key: &str) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines().find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
}

fn identity() -> Result<String, String> {
    let euid: u32 = status("Uid:")
        .and_then(|v| v.split_whitespace().nth(1).and_then(|e| e.parse().ok()))
        .ok_or_else(|| "could not read this process's uid from /proc/self/status".to_string())?;
    if euid == 0 {
        return Ok("Haven runs as root: each session can run as a uid of its own".into());
    }
    let name = user_name(euid).unwrap_or_else(|| euid.to_string());
    Err(format!(
        "sessions would run as Haven's own user ({name}, uid {euid}), which can read the data directory: run \
         Haven as root, so that it can give each session an identity of its own"
    ))
}

fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid.to_string()).then(|| name.to_string())
    })
}

fn cgroups(root: &Path) -> Result<String, String> {
    let groups = crate::cgroup::Groups::detect(root, "haven")?;
    Ok(format!("{}: a memory and process limit per session", groups.describe()))
}

fn seccomp() -> Result<String, String> {
    status("Seccomp:").ok_or("the kernel does not offer seccomp, which sessions' filter needs")?;
    crate::seccomp::filters().map_err(|e| e.to_string())?;
    Ok("the kernel supports seccomp filters; sessions get Haven's".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_bubblewrap_sessions_cannot_be_isolated_and_it_says_how_to_get_it() {
        let report = Probe { bwrap: "/nonexistent/bwrap".into(), ..Probe::default() }.run();
        assert!(!report.isolated());
        let b = report.checks.iter().find(|c| c.what == BWRAP).unwrap();
        assert!(b.detail.contains("apt-get install bubblewrap"), "{}", b.detail);
        assert!(report.plan().contains("cannot be isolated"), "{}", report.plan());
    }

    #[test]
    fn a_host_without_control_groups_is_told_apart() {
        let empty = tempfile::tempdir().unwrap();
        let found = cgroups(empty.path()).unwrap_err();
        assert!(found.contains("neither cgroups v2 nor v1"), "{found}");
    }
}
