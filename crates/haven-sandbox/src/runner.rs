//! Runs one program in a sandbox: the command line that sessions and batch jobs are started
//! with. Built from tools of the host, each doing one thing well (none of it hand-written here):
//!
//! 1. `prlimit` (util-linux) sets the rlimits (address space, processes, CPU time, no core
//!    dumps), which nothing below can raise;
//! 2. `bwrap` (bubblewrap), still as root, unshares the PID, IPC, UTS, cgroup and network
//!    namespaces (no network but its own loopback) and builds a root file system of the host's
//!    programs read-only (`/usr`, `/opt`, and from `/etc` only what programs need to run), a
//!    fresh `/proc`, `/dev` and a size-limited `/tmp` (memory that is gone when the sandbox ends:
//!    scratch space is wiped, SATRE 2.1.14), and the binds it is given (N:, S:, outputs).
//!    Nothing else of the host is there: not the data directory, its keys or database, nor
//!    another user's or asset's drives. It runs in a new session (no terminal injection) and
//!    dies with its parent. It runs as root because the drives live in the data directory,
//!    which only Haven may enter (bubblewrap 0.8 resolves a bind's path as its caller; opening
//!    by descriptor, `--bind-fd`, came in 0.10);
//! 3. `setpriv` (util-linux) becomes the session's own identity inside: a uid and gid that are
//!    neither root nor Haven's, no supplementary groups, no capabilities and `no_new_privs`, so
//!    nothing inside can gain privileges through a setuid program;
//! 4. a second `bwrap`, as that identity, in a user namespace of its own with `--disable-userns`:
//!    nothing inside can make further user namespaces (the way to the kernel's less-trodden
//!    code), and with Haven's seccomp filters (`crate::seccomp`), handed over as descriptors.
//!
//! Haven must run as root to hand a sandbox an identity of its own (`haven sandbox check`).

use std::path::{Path, PathBuf};
use std::process::Command;

use command_fds::{CommandFdExt, FdMapping};

/// Writes the shell's pid into each file before `--`, then runs what follows `--` (exit 125,
/// and nothing started, if a group cannot be joined). It also makes the session the kernel's
/// first choice when memory runs out on the host, before Haven and the host's services.
const JOIN: &str = r#"echo 500 > /proc/self/oom_score_adj; while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@""#;

/// Where the sandbox's tools find the seccomp filters.
const GUARD_FD: i32 = 3;
const DENY_FD: i32 = 4;

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
    /// The size of its scratch space (`/tmp`, in memory).
    pub scratch_bytes: u64,
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
    /// Files of the session's own seen inside instead of the host's, by name under `/etc`:
    /// `hosts` (the repository's name on the sandbox's own loopback), `passwd` and `group` (the
    /// session's identities by name, and none of the host's accounts).
    pub etc: Vec<(PathBuf, &'static str)>,
    /// The `cgroup.procs` files of the session's control groups (crate::cgroup), joined before
    /// anything starts; none where the host has no groups for sessions.
    pub groups: Vec<PathBuf>,
    /// A session of its own (bubblewrap's `--new-session`): the terminal it was started on is
    /// then nobody's inside. False only for a terminal that is a Slurm job's own (srun's), which
    /// the shell must keep as its controlling terminal; typing into a terminal's input
    /// (TIOCSTI, TIOCLINUX) stays refused by the seccomp filter either way.
    pub new_session: bool,
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

/// Where the host's own tools are looked for: root runs them, so never from PATH, which may name
/// the working directory or a directory others can write.
const SYSTEM_DIRS: [&str; 4] = ["/usr/bin", "/usr/sbin", "/bin", "/sbin"];

/// `name` in the system directories, or `name` itself when it is an absolute path.
pub fn system_tool(name: &Path) -> Option<PathBuf> {
    if name.is_absolute() {
        return name.is_file().then(|| name.to_path_buf());
    }
    SYSTEM_DIRS.iter().map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

impl Tools {
    /// bubblewrap as given (an absolute path, or a name in the system directories), and
    /// util-linux's tools from the system directories.
    pub fn find(bwrap: &Path) -> Result<Self, SandboxError> {
        Ok(Tools {
            bwrap: system_tool(bwrap).ok_or(SandboxError::Missing("bubblewrap"))?,
            setpriv: system_tool(Path::new("setpriv")).ok_or(SandboxError::Missing("setpriv (util-linux)"))?,
            prlimit: system_tool(Path::new("prlimit")).ok_or(SandboxError::Missing("prlimit (util-linux)"))?,
        })
    }
}

/// The lowest uid and gid a sandbox may have: above every account a Linux host makes itself
/// (system and login accounts, and the 65534 of nobody).
pub const FIRST_SESSION_ID: u32 = 100_000;

/// What programs need from `/etc` (the loader's cache, certificates, time zone, name lookup,
/// which system this is, the shell's and terminal's settings), and nothing else: not the accounts, and not the configuration of the host's services, which
/// may hold secrets (Haven's own among them).
const ETC: [&str; 24] = [
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/alternatives",
    "/etc/fonts",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/R",
    "/etc/python3",
    "/etc/jupyter",
    "/etc/os-release",
    "/etc/debian_version",
    "/etc/lsb-release",
    "/etc/mime.types",
    "/etc/bash.bashrc",
    "/etc/inputrc",
    "/etc/profile",
    "/etc/terminfo",
    // The desktop: X's and the window manager's defaults.
    "/etc/X11",
    "/etc/xdg",
];

/// Whether `id` names an account or group of the host's own (`passwd` or `group`): in the
/// local files, through the name service (a directory's accounts, `getent`), or in a range
/// given to someone's containers (`/etc/subuid`, `/etc/subgid`). Anything that shares the id
/// could reach the session's processes and files.
fn host_id(id: u32, database: &str) -> bool {
    let file = format!("/etc/{database}");
    let listed = std::fs::read_to_string(&file)
        .map(|t| t.lines().any(|l| l.split(':').nth(2) == Some(id.to_string().as_str())))
        .unwrap_or(true);
    let subordinate = if database == "passwd" { "/etc/subuid" } else { "/etc/subgid" };
    let in_range = std::fs::read_to_string(subordinate).is_ok_and(|t| {
        t.lines().any(|l| {
            let mut parts = l.split(':').skip(1).map(|p| p.trim().parse::<u64>());
            matches!((parts.next(), parts.next()), (Some(Ok(start)), Some(Ok(count)))
                if (start..start.saturating_add(count)).contains(&u64::from(id)))
        })
    });
    // getent answers 0 (known) or 2 (unknown); anything else (a name service that fails, or
    // takes over 5 seconds) counts as known: the launch is refused rather than risk sharing an id.
    let named = match (system_tool(Path::new("getent")), system_tool(Path::new("timeout"))) {
        (Some(getent), Some(timeout)) => Command::new(timeout)
            .arg("5")
            .arg(getent)
            .args([database, &id.to_string()])
            .env_clear()
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map_or(true, |s| s.code() != Some(2)),
        _ => false,
    };
    listed || in_range || named
}

/// Where binds may appear: away from the host programs the sandbox is built from.
const BIND_ROOTS: [&str; 3] = ["/drives/", "/home/", "/run/haven"];

fn clean_inside(path: &str) -> Result<(), SandboxError> {
    let ok = path.starts_with('/')
        && !path.split('/').any(|p| p == ".." || p == ".")
        && !path.contains(['\0', '\n'])
        && path.len() <= 255;
    if ok { Ok(()) } else { Err(SandboxError::Spec(format!("{path:?} is not a clean absolute path"))) }
}

/// Whether this process runs as root, as Haven must to give sandboxes identities of their own.
pub fn running_as_root() -> bool {
    own_uid() == Some(0)
}

/// This process's effective uid, from /proc (no libc call, so no `unsafe`).
fn own_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `wanted`, or this process's hard limit of `resource` when that is lower.
fn within_hard(resource: rustix::process::Resource, wanted: u64) -> u64 {
    rustix::process::getrlimit(resource).maximum.map_or(wanted, |hard| wanted.min(hard))
}

/// The command that runs `spec` sandboxed; the caller runs it (and owns its pipes).
pub fn command(tools: &Tools, spec: &Spec) -> Result<Command, SandboxError> {
    let Identity { uid, gid } = spec.identity;
    let own = own_uid().ok_or_else(|| SandboxError::Spec("this process's uid cannot be read".into()))?;
    if uid < FIRST_SESSION_ID || gid < FIRST_SESSION_ID || uid == own {
        return Err(SandboxError::Identity(uid));
    }
    if host_id(uid, "passwd") || host_id(gid, "group") {
        return Err(SandboxError::Identity(uid));
    }
    match spec.argv.first() {
        Some(p) if p.starts_with('/') => clean_inside(p)?,
        _ => return Err(SandboxError::Spec("the program must be an absolute path".into())),
    }
    clean_inside(&spec.workdir)?;
    let mut c = match spec.groups.as_slice() {
        [] => Command::new(&tools.prlimit),
        procs => {
            // Joins the session's control groups (crate::cgroup), then becomes the rest: every
            // process of the sandbox is born inside them.
            let sh = system_tool(Path::new("sh")).ok_or(SandboxError::Missing("sh"))?;
            let mut c = Command::new(sh);
            c.args(["-c", JOIN, "haven-cgroup"]).args(procs).arg("--").arg(&tools.prlimit);
            c
        }
    };
    // Never above Haven's own hard limits: without CAP_SYS_RESOURCE (a container) even root
    // cannot raise them, and prlimit would fail the whole launch.
    c.arg(format!("--as={}", within_hard(rustix::process::Resource::As, spec.limits.memory_bytes)));
    c.arg(format!("--nproc={}", within_hard(rustix::process::Resource::Nproc, spec.limits.processes)));
    // No core dumps: a crash must not write a process's memory (the data) where the host keeps them.
    c.arg("--core=0");
    if spec.limits.cpu_secs > 0 {
        c.arg(format!("--cpu={}", within_hard(rustix::process::Resource::Cpu, spec.limits.cpu_secs)));
    }
    c.arg("--").arg(&tools.bwrap);
    // Every namespace but the user's, which the inner bubblewrap makes as the session's identity
    // (made here, by root, it would map the session to root outside).
    c.args(["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]);
    c.arg("--die-with-parent");
    if spec.new_session {
        c.arg("--new-session");
    }
    for dir in ["/usr", "/opt"] {
        if Path::new(dir).is_dir() {
            c.args(["--ro-bind", dir, dir]);
        }
    }
    // Mount points' parents are made 0700 unless said otherwise: the identity must pass through.
    for dir in ["/etc", "/run", "/drives", "/home"] {
        c.args(["--perms", "0755", "--dir", dir]);
    }
    for path in ETC {
        c.args(["--ro-bind-try", path, path]);
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
    for (file, name) in &spec.etc {
        if !matches!(*name, "hosts" | "passwd" | "group") {
            return Err(SandboxError::Spec(format!("/etc/{name} is not one a session may be given")));
        }
        c.arg("--ro-bind").arg(file).arg(format!("/etc/{name}"));
    }
    c.args(["--proc", "/proc", "--dev", "/dev"]);
    // Made by root: sticky and writable by all, as a /tmp is, or the identity could not use it.
    c.args(["--perms", "1777", "--size"]).arg(spec.limits.scratch_bytes.to_string()).args(["--tmpfs", "/tmp"]);
    for b in &spec.binds {
        clean_inside(&b.inside)?;
        if !BIND_ROOTS.iter().any(|r| b.inside.starts_with(r)) {
            return Err(SandboxError::Spec(format!("{} must be under /drives/, /home/ or /run/haven", b.inside)));
        }
        c.arg(if b.writable { "--bind" } else { "--ro-bind" }).arg(&b.host).arg(&b.inside);
    }
    for (k, v) in &spec.env {
        if k.is_empty() || k.contains(['=', '\0']) || v.contains('\0') {
            return Err(SandboxError::Spec(format!("{k:?} cannot be an environment variable")));
        }
    }
    c.arg("--").arg(&tools.setpriv);
    c.args(["--reuid", &uid.to_string(), "--regid", &gid.to_string(), "--clear-groups"]);
    c.args(["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]);
    c.arg(&tools.bwrap);
    // Its binds are all `nodev`: a fresh /dev of its own keeps /dev/null and /dev/tty usable. A
    // PID namespace of its own: what runs inside can end everything it started (`kill -1`)
    // without reaching the bubblewraps that hold the sandbox. (/proc stays the outer one's: the
    // kernel refuses a new one where bubblewrap has covered parts of it.)
    c.args(["--unshare-user", "--disable-userns", "--unshare-pid", "--die-with-parent"]);
    c.args(["--bind", "/", "/", "--dev", "/dev"]);
    // That /dev is memory the identity may write: read-only, but for a /dev/shm of the scratch
    // space's size (shared memory, which Python's multiprocessing and R's parallel use).
    c.args(["--perms", "1777", "--size"]).arg(spec.limits.scratch_bytes.to_string()).args(["--tmpfs", "/dev/shm"]);
    c.args(["--remount-ro", "/dev"]);
    c.args(["--chdir", &spec.workdir]);
    // The seccomp filters, on descriptors that pass through the tools above (none of them closes
    // what it inherits); the inner bubblewrap reads and closes them before the program starts.
    let filters = crate::seccomp::filters().map_err(|e| SandboxError::Spec(e.to_string()))?;
    let memfd = |name, program| {
        crate::seccomp::memfd(name, program).map_err(|e| SandboxError::Spec(format!("seccomp filter: {e}")))
    };
    let mappings = vec![
        FdMapping { parent_fd: memfd("haven-seccomp-guard", &filters.guard)?, child_fd: GUARD_FD },
        FdMapping { parent_fd: memfd("haven-seccomp-deny", &filters.deny)?, child_fd: DENY_FD },
    ];
    c.fd_mappings(mappings).map_err(|e| SandboxError::Spec(e.to_string()))?;
    c.args(["--add-seccomp-fd", &GUARD_FD.to_string(), "--add-seccomp-fd", &DENY_FD.to_string()]);
    c.arg("--").args(&spec.argv);
    // The environment is the sandbox's alone, passed as one (not as arguments, which every
    // account on the host can read in the process list: it holds the session's repository token).
    c.env_clear();
    c.envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    // Never the caller's terminal: whoever runs it gives it input (a session's own PTY) and takes
    // its output.
    c.stdin(std::process::Stdio::null());
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
            limits: Limits { memory_bytes: 1 << 30, processes: 64, cpu_secs: 0, scratch_bytes: 64 << 20 },
            etc: Vec::new(),
            groups: Vec::new(),
            new_session: true,
        }
    }

    fn tools() -> Tools {
        Tools { bwrap: "/usr/bin/bwrap".into(), setpriv: "/usr/bin/setpriv".into(), prlimit: "/usr/bin/prlimit".into() }
    }

    #[test]
    fn what_would_escape_is_refused_before_anything_runs() {
        let refused = |s: Spec| command(&tools(), &s).unwrap_err();
        assert_eq!(refused(Spec { identity: Identity { uid: 0, gid: 5 }, ..spec() }), SandboxError::Identity(0));
        let nobody = Identity { uid: 65534, gid: 65534 };
        assert_eq!(refused(Spec { identity: nobody, ..spec() }), SandboxError::Identity(65534));
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
    fn the_command_limits_then_unshares_then_drops_to_the_identity_then_forbids_user_namespaces() {
        let c = command(&tools(), &spec()).unwrap();
        let args: Vec<String> = c.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(c.get_program(), "/usr/bin/prlimit");
        let at = |s: &str| args.iter().position(|a| a == s).unwrap();
        let last = |s: &str| args.iter().rposition(|a| a == s).unwrap();
        assert!(at("/usr/bin/bwrap") < at("--unshare-net") && at("--unshare-net") < at("/usr/bin/setpriv"));
        assert!(at("--no-new-privs") < last("/usr/bin/bwrap") && last("/usr/bin/bwrap") < at("--disable-userns"));
        for flag in ["--unshare-pid", "--unshare-ipc", "--unshare-user", "--disable-userns", "--core=0"] {
            assert!(args.contains(&flag.to_string()), "{flag}");
        }
        assert!(!args.windows(2).any(|w| w[0].contains("bind") && w[1] == "/etc"), "not the whole of /etc");
        assert!(!args.iter().any(|a| a == "--share-net"));
        assert_eq!(args.last().unwrap(), "/usr/bin/true");
    }

    #[test]
    fn the_environment_is_never_on_the_command_line() {
        let token = "https://ada:hvn_s3cr3t@haven:8443/pypi/simple/";
        let c = command(&tools(), &Spec { env: vec![("PIP_INDEX_URL".into(), token.into())], ..spec() }).unwrap();
        assert!(!c.get_args().any(|a| a.to_string_lossy().contains("s3cr3t")), "visible to every account in ps");
        let envs: Vec<_> = c.get_envs().collect();
        assert_eq!(envs.len(), 1);
        assert_eq!(envs[0].1.unwrap().to_string_lossy(), token);
    }
}
