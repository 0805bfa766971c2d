//! Runs one program in a sandbox: the command line that sessions and batch jobs will be started
//! with. Three tools from the host, each doing one thing well (none of it hand-written here):
//!
//! 1. `setpriv` (util-linux) becomes the session's own identity: a uid and gid that are neither
//!    root nor Haven's, with no supplementary groups and `no_new_privs`, so nothing inside can
//!    gain privileges through a setuid program;
//! 2. `prlimit` (util-linux) sets the rlimits (address space, processes, CPU time), which that
//!    identity then cannot raise;
//! 3. `bwrap` (bubblewrap) unshares every namespace (user, PID, IPC, UTS, cgroup and network: no
//!    network but its own loopback) and builds a root file system of the host's programs
//!    read-only (`/usr`, `/etc`, `/opt`), a fresh `/proc`, `/dev` and `/tmp` (memory that is gone
//!    when the sandbox ends: scratch space is wiped, SATRE 2.1.14), and the binds it is given
//!    (N:, S:, outputs). Nothing else of the host is there: not the data directory, its keys or
//!    database, nor another user's or asset's drives. It runs in a new session (no terminal
//!    injection) and dies with its parent.
//!
//! Haven must run as root to hand a sandbox an identity of its own (`haven sandbox check`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::probe::find;

/// Who the sandboxed program runs as, inside and outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
}

/// A host directory made visible inside.
#[derive(Debug, Clone)]
pub struct Bind {
    pub host: PathBuf,
    /// Where it appears: an absolute path under `/drives` or `/home` (not over the host's
    /// programs).
    pub inside: String,
    pub writable: bool,
}

/// What one sandbox may use.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Address space, bytes.
    pub memory_bytes: u64,
    /// Processes and threads of the identity.
    pub processes: u64,
    /// CPU seconds (0: none).
    pub cpu_secs: u64,
}

#[derive(Debug, Clone)]
pub struct Spec {
    /// The program (an absolute path inside) and its arguments.
    pub argv: Vec<String>,
    pub identity: Identity,
    pub binds: Vec<Bind>,
    /// The working directory inside.
    pub workdir: String,
    /// The whole environment (nothing of Haven's is passed on).
    pub env: Vec<(String, String)>,
    pub limits: Limits,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SandboxError {
    #[error("{0} is not installed: sessions need bubblewrap and util-linux (haven sandbox check)")]
    Missing(&'static str),
    #[error("the sandbox cannot run as {0}: a session needs an identity of its own, not root's or Haven's")]
    Identity(u32),
    #[error("{0}")]
    Spec(String),
}

/// The host programs the sandbox is made with.
#[derive(Debug, Clone)]
pub struct Tools {
    pub bwrap: PathBuf,
    pub setpriv: PathBuf,
    pub prlimit: PathBuf,
}

impl Tools {
    /// bubblewrap as given (a path, or a name on PATH), util-linux's tools from PATH.
    pub fn find(bwrap: &Path) -> Result<Self, SandboxError> {
        Ok(Tools {
            bwrap: find(bwrap).ok_or(SandboxError::Missing("bubblewrap"))?,
            setpriv: find(Path::new("setpriv")).ok_or(SandboxError::Missing("setpriv (util-linux)"))?,
            prlimit: find(Path::new("prlimit")).ok_or(SandboxError::Missing("prlimit (util-linux)"))?,
        })
    }
}

/// Where binds may appear: away from the host programs the sandbox is built from.
const BIND_ROOTS: [&str; 2] = ["/drives/", "/home/"];

fn clean_inside(path: &str) -> Result<(), SandboxError> {
    let ok = path.starts_with('/')
        && !path.split('/').any(|p| p == ".." || p == ".")
        && !path.contains(['\0', '\n'])
        && path.len() <= 255;
    if ok { Ok(()) } else { Err(SandboxError::Spec(format!("{path:?} is not a clean absolute path"))) }
}

/// This process's effective uid, from /proc (no libc call, so no `unsafe`).
fn own_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The command that runs `spec` sandboxed; the caller runs it (and owns its pipes).
pub fn command(tools: &Tools, spec: &Spec) -> Result<Command, SandboxError> {
    let Identity { uid, gid } = spec.identity;
    if uid == 0 || gid == 0 || Some(uid) == own_uid() {
        return Err(SandboxError::Identity(uid));
    }
    match spec.argv.first() {
        Some(p) if p.starts_with('/') => clean_inside(p)?,
        _ => return Err(SandboxError::Spec("the program must be an absolute path".into())),
    }
    clean_inside(&spec.workdir)?;
    let mut c = Command::new(&tools.setpriv);
    c.args(["--reuid", &uid.to_string(), "--regid", &gid.to_string(), "--clear-groups", "--no-new-privs", "--"]);
    c.arg(&tools.prlimit);
    c.arg(format!("--as={}", spec.limits.memory_bytes));
    c.arg(format!("--nproc={}", spec.limits.processes));
    if spec.limits.cpu_secs > 0 {
        c.arg(format!("--cpu={}", spec.limits.cpu_secs));
    }
    c.arg("--").arg(&tools.bwrap);
    c.args(["--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]);
    for dir in ["/usr", "/etc", "/opt"] {
        if Path::new(dir).is_dir() {
            c.args(["--ro-bind", dir, dir]);
        }
    }
    // Merged-/usr hosts link these into /usr; others have them as directories.
    for dir in ["/bin", "/sbin", "/lib", "/lib32", "/lib64"] {
        let p = Path::new(dir);
        match std::fs::read_link(p) {
            Ok(target) => {
                c.arg("--symlink").arg(target).arg(dir);
            }
            Err(_) if p.is_dir() => {
                c.args(["--ro-bind", dir, dir]);
            }
            Err(_) => {}
        }
    }
    c.args(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]);
    for b in &spec.binds {
        clean_inside(&b.inside)?;
        if !BIND_ROOTS.iter().any(|r| b.inside.starts_with(r)) {
            return Err(SandboxError::Spec(format!("{} must be under /drives/ or /home/", b.inside)));
        }
        c.arg(if b.writable { "--bind" } else { "--ro-bind" }).arg(&b.host).arg(&b.inside);
    }
    c.args(["--chdir", &spec.workdir]);
    for (k, v) in &spec.env {
        if k.is_empty() || k.contains(['=', '\0']) || v.contains('\0') {
            return Err(SandboxError::Spec(format!("{k:?} cannot be an environment variable")));
        }
        c.args(["--setenv", k, v]);
    }
    c.arg("--").args(&spec.argv);
    c.env_clear();
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            argv: vec!["/usr/bin/true".into()],
            identity: Identity { uid: 200_001, gid: 200_001 },
            binds: vec![],
            workdir: "/tmp".into(),
            env: vec![],
            limits: Limits { memory_bytes: 1 << 30, processes: 64, cpu_secs: 0 },
        }
    }

    fn tools() -> Tools {
        Tools { bwrap: "/usr/bin/bwrap".into(), setpriv: "/usr/bin/setpriv".into(), prlimit: "/usr/bin/prlimit".into() }
    }

    #[test]
    fn what_would_escape_is_refused_before_anything_runs() {
        let refused = |s: Spec| command(&tools(), &s).unwrap_err();
        assert_eq!(refused(Spec { identity: Identity { uid: 0, gid: 5 }, ..spec() }), SandboxError::Identity(0));
        assert!(matches!(refused(Spec { argv: vec!["true".into()], ..spec() }), SandboxError::Spec(_)));
        assert!(matches!(refused(Spec { argv: vec![], ..spec() }), SandboxError::Spec(_)));
        assert!(matches!(refused(Spec { workdir: "/drives/../etc".into(), ..spec() }), SandboxError::Spec(_)));
        let over_usr = Bind { host: "/tmp".into(), inside: "/usr/lib".into(), writable: true };
        assert!(matches!(refused(Spec { binds: vec![over_usr], ..spec() }), SandboxError::Spec(_)));
        let sneaky = Bind { host: "/tmp".into(), inside: "/drives/../etc".into(), writable: true };
        assert!(matches!(refused(Spec { binds: vec![sneaky], ..spec() }), SandboxError::Spec(_)));
        assert!(matches!(refused(Spec { env: vec![("A=B".into(), "c".into())], ..spec() }), SandboxError::Spec(_)));
    }

    #[test]
    fn the_command_drops_to_the_identity_then_limits_then_unshares_everything() {
        let c = command(&tools(), &spec()).unwrap();
        let args: Vec<String> = c.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(c.get_program(), "/usr/bin/setpriv");
        let at = |s: &str| args.iter().position(|a| a == s).unwrap();
        assert!(at("--no-new-privs") < at("/usr/bin/prlimit") && at("/usr/bin/prlimit") < at("/usr/bin/bwrap"));
        assert!(args.contains(&"--unshare-all".to_string()) && args.contains(&"--clearenv".to_string()));
        assert!(!args.iter().any(|a| a == "--share-net"));
        assert_eq!(args.last().unwrap(), "/usr/bin/true");
    }
}
