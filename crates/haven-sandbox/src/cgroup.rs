//! Limits on a whole session, not only on each of its processes: a control group per session
//! with a memory limit (swap included, so a session's data is not written to the host's swap)
//! and a process limit. rlimits (the runner's prlimit) stay as well: they bound each process,
//! and a group bounds them together, so one session with many processes cannot take the host's
//! memory.
//!
//! cgroups v2 where the host delegates a subtree to Haven (under systemd, `Delegate=yes`), v1's
//! memory and pids hierarchies where the host has those (as older hospital and university hosts
//! do, and this project's test machines). Without either, sessions run on rlimits alone and
//! `haven sandbox check` says so.
//!
//! A sandbox joins its group before anything in it starts: the runner's first program is a
//! shell that writes its own pid into each `cgroup.procs` and then becomes the rest of the
//! command, so every process of the session is born inside.

use std::io;
use std::path::{Path, PathBuf};

/// Where per-session groups are made on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Groups {
    /// One directory per session under `base` (Haven's delegated subtree's `sessions`).
    V2 { base: PathBuf },
    /// A directory per session in the memory hierarchy and in the pids hierarchy.
    V1 { memory: PathBuf, pids: PathBuf },
}

/// What one session's group allows.
#[derive(Debug, Clone, Copy)]
pub struct GroupLimits {
    pub memory_bytes: u64,
    pub processes: u64,
}

/// One session's group: its directories, removed when this is dropped (once the session's last
/// process is gone; the kernel refuses to remove a group that still has one).
#[derive(Debug)]
pub struct SessionGroup {
    dirs: Vec<PathBuf>,
}

fn write(dir: &Path, file: &str, value: &str) -> io::Result<()> {
    std::fs::write(dir.join(file), value)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.join(file).display())))
}

/// The path of this process's own group in the v2 hierarchy (`0::/…` in /proc/self/cgroup).
fn own_v2_group() -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| l.strip_prefix("0::").map(|p| p.trim_start_matches('/').to_string()))
}

/// This process's own group in the v1 hierarchy of `controller`, where that hierarchy is
/// mounted at `root/controller` (per /proc/self/mountinfo): sessions' groups go under it, so
/// whatever limits Haven's own group has (a container's) hold for them too.
fn own_v1_group(root: &Path, controller: &str) -> Option<PathBuf> {
    let mount = root.join(controller);
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    // The mount's root within the hierarchy (not `/` where a container was given part of it).
    let root_of_mount = mountinfo.lines().find_map(|l| {
        let fields: Vec<&str> = l.split(' ').collect();
        let after = fields.iter().position(|f| *f == "-").map_or(&[][..], |i| &fields[i + 1..]);
        let ours = fields.get(4).is_some_and(|m| Path::new(m) == mount)
            && after.first() == Some(&"cgroup")
            && after.get(2).is_some_and(|o| o.split(',').any(|o| o == controller));
        ours.then(|| fields.get(3).map(|r| r.trim_start_matches('/').to_string())).flatten()
    })?;
    let groups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = groups.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers.split(',').any(|c| c == controller).then(|| path.trim_start_matches('/').to_string())
    })?;
    let own = own.strip_prefix(&root_of_mount).unwrap_or(&own).trim_start_matches('/');
    Some(mount.join(own))
}

fn has_controllers(dir: &Path, wanted: &[&str]) -> Result<(), String> {
    let controllers = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    let missing: Vec<&str> =
        wanted.iter().copied().filter(|c| !controllers.split_whitespace().any(|x| x == *c)).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("{} lacks the {} controllers", dir.display(), missing.join(", ")))
    }
}

impl Groups {
    /// The groups of the host whose cgroup file system is at `root` (`/sys/fs/cgroup`), with
    /// sessions' groups under `name`, without changing anything ([`Groups::prepare`] does).
    /// The error says why neither version can be used.
    pub fn detect(root: &Path, name: &str) -> Result<Groups, String> {
        if root.join("cgroup.controllers").is_file() {
            let own = root.join(own_v2_group().ok_or("this process is in no cgroup v2 group")?);
            has_controllers(&own, &["memory", "pids"])?;
            // Haven moves itself into a leaf so that its group may hand controllers on, which the
            // kernel refuses while any other process is there (a container's init, a shell).
            let procs = std::fs::read_to_string(own.join("cgroup.procs")).unwrap_or_default();
            let me = std::process::id().to_string();
            if procs.lines().any(|p| p != me) {
                return Err(format!(
                    "{} holds other processes besides Haven: give Haven a cgroup of its own (systemd: a unit with \
                     Delegate=yes)",
                    own.display()
                ));
            }
            let delegated = std::fs::OpenOptions::new().write(true).open(own.join("cgroup.subtree_control"));
            return match delegated {
                Ok(_) => Ok(Groups::V2 { base: own.join(name) }),
                Err(e) => Err(format!(
                    "cgroups v2 is not delegated to Haven ({}: {e}); under systemd, give Haven's unit Delegate=yes",
                    own.display()
                )),
            };
        }
        let (memory, pids) = match (own_v1_group(root, "memory"), own_v1_group(root, "pids")) {
            (Some(m), Some(p)) => (m, p),
            _ => {
                return Err(format!(
                    "neither cgroups v2 nor v1's memory and pids hierarchies are mounted at {}",
                    root.display()
                ));
            }
        };
        for dir in [&memory, &pids] {
            if let Err(e) = std::fs::OpenOptions::new().write(true).open(dir.join("cgroup.procs")) {
                return Err(format!("Haven may not make groups in {}: {e} (run it as root)", dir.display()));
            }
        }
        Ok(Groups::V1 { memory: memory.join(name), pids: pids.join(name) })
    }

    /// Makes the parent groups. On v2, Haven first moves itself into a leaf (`haven` beside
    /// the sessions' parent), since a group that hands controllers to its children may hold no
    /// processes.
    pub fn prepare(&self) -> io::Result<()> {
        match self {
            Groups::V1 { memory, pids } => {
                std::fs::create_dir_all(memory)?;
                std::fs::create_dir_all(pids)
            }
            Groups::V2 { base } => {
                let own = base.parent().ok_or_else(|| io::Error::other("the sessions' group has no parent"))?;
                let leaf = own.join("haven-serve");
                std::fs::create_dir_all(&leaf)?;
                write(&leaf, "cgroup.procs", &std::process::id().to_string())?;
                write(own, "cgroup.subtree_control", "+memory +pids")?;
                std::fs::create_dir_all(base)?;
                write(base, "cgroup.subtree_control", "+memory +pids")
            }
        }
    }

    /// The groups on this host for `haven serve` (under `haven`), made ready.
    pub fn on_this_host() -> Result<Groups, String> {
        let groups = Self::detect(Path::new("/sys/fs/cgroup"), "haven")?;
        groups.prepare().map_err(|e| format!("{} could not be set up: {e}", groups.describe()))?;
        Ok(groups)
    }

    /// Which groups these are, for `haven sandbox check` and the log.
    pub fn describe(&self) -> String {
        match self {
            Groups::V2 { base } => format!("cgroups v2 at {}", base.display()),
            Groups::V1 { memory, pids } => format!("cgroups v1 at {} and {}", memory.display(), pids.display()),
        }
    }

    /// A group for session `id` with `limits`; nothing is left when a limit cannot be set.
    pub fn make(&self, id: &str, limits: GroupLimits) -> io::Result<SessionGroup> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a group's name is letters, digits, - and _"));
        }
        let memory = limits.memory_bytes.to_string();
        let processes = limits.processes.to_string();
        let mut group = SessionGroup { dirs: Vec::new() };
        match self {
            Groups::V2 { base } => {
                let dir = base.join(id);
                std::fs::create_dir(&dir)?;
                group.dirs.push(dir.clone());
                write(&dir, "memory.max", &memory)?;
                // Absent where the kernel has no swap accounting: then there is no swap to keep from.
                if dir.join("memory.swap.max").exists() {
                    write(&dir, "memory.swap.max", "0")?;
                }
                write(&dir, "pids.max", &processes)?;
            }
            Groups::V1 { memory: m, pids: p } => {
                let (mdir, pdir) = (m.join(id), p.join(id));
                std::fs::create_dir(&mdir)?;
                group.dirs.push(mdir.clone());
                write(&mdir, "memory.limit_in_bytes", &memory)?;
                // Memory and swap together no more than memory alone, and no preference for
                // swapping this group's pages. (The host's own reclaim may still swap: a host
                // that keeps research data has its swap off or encrypted; docs/applications.md.)
                if mdir.join("memory.memsw.limit_in_bytes").exists() {
                    write(&mdir, "memory.memsw.limit_in_bytes", &memory)?;
                }
                if mdir.join("memory.swappiness").exists() {
                    write(&mdir, "memory.swappiness", "0")?;
                }
                std::fs::create_dir(&pdir)?;
                group.dirs.push(pdir.clone());
                write(&pdir, "pids.max", &processes)?;
            }
        }
        Ok(group)
    }

    /// Removes the sessions' parent groups with any empty groups under them: whether they are
    /// gone (not while a session's group still has a process).
    pub fn remove(&self) -> bool {
        self.remove_leftovers();
        self.parents().iter().all(|p| !p.exists() || std::fs::remove_dir(p).is_ok())
    }

    fn parents(&self) -> Vec<PathBuf> {
        match self {
            Groups::V2 { base } => vec![base.clone()],
            Groups::V1 { memory, pids } => vec![memory.clone(), pids.clone()],
        }
    }

    /// Sessions' groups a Haven that died left behind (only empty groups can be removed, so a
    /// group with a live process stays).
    pub fn remove_leftovers(&self) {
        for parent in self.parents() {
            for e in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
        }
    }
}

impl SessionGroup {
    /// The files a process writes its pid to, to join.
    pub fn procs(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// How often the group ran out of memory (a process was killed for it), where the kernel says.
    pub fn out_of_memory_kills(&self) -> Option<u64> {
        // v2's memory.events, v1's memory.oom_control: both have an `oom_kill N` line.
        let files = ["memory.events", "memory.oom_control"];
        self.dirs.iter().flat_map(|d| files.map(|f| d.join(f))).find_map(|file| {
            let events = std::fs::read_to_string(file).ok()?;
            events.lines().find_map(|l| l.strip_prefix("oom_kill ").and_then(|n| n.trim().parse().ok()))
        })
    }
}

impl Drop for SessionGroup {
    fn drop(&mut self) {
        let dirs = std::mem::take(&mut self.dirs);
        let gone = |dirs: &[PathBuf]| dirs.iter().all(|d| !d.exists() || std::fs::remove_dir(d).is_ok());
        if gone(&dirs) {
            return;
        }
        // The session's last processes may still be being reaped: try for a few seconds, off
        // the caller's thread. What is still there is removed at Haven's next start.
        let remove = move || {
            for _ in 0..50 {
                std::thread::sleep(std::time::Duration::from_millis(100));
                if gone(&dirs) {
                    return;
                }
            }
        };
        let _ = std::thread::Builder::new().name("cgroup-rmdir".into()).spawn(remove);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_are_plain() {
        let g = Groups::V1 { memory: "/nonexistent/m".into(), pids: "/nonexistent/p".into() };
        let limits = GroupLimits { memory_bytes: 1, processes: 1 };
        for bad in ["", "../x", "a/b", "a b"] {
            assert_eq!(g.make(bad, limits).unwrap_err().kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
    }
}
