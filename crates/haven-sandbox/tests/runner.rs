//! A program run through the real sandbox (bubblewrap, setpriv and prlimit from the host; root,
//! as Haven must be to give sessions identities of their own): what it can and cannot reach.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
use std::path::Path;

use haven_sandbox::cgroup::{GroupLimits, Groups};
use haven_sandbox::runner::{Bind, Identity, Limits, Spec, Tools, command};

const WHO: Identity = Identity { uid: 200_001, gid: 200_001 };

/// The tools, when this test can run here: bubblewrap (scripts/test sets HAVEN_TEST_BWRAP) and
/// root (under CI=true, not being root is a failure).
fn tools() -> Option<Tools> {
    let bwrap = haven_testkit::tool("HAVEN_TEST_BWRAP")?;
    haven_testkit::root("the sandbox").then(|| Tools::find(Path::new(&bwrap)).unwrap())
}

/// A drive owned by the sandbox's identity, 0700, as Haven will make them.
fn drive(root: &Path, name: &str) -> std::path::PathBuf {
    let d = root.join(name);
    std::fs::create_dir_all(&d).unwrap();
    chown(&d, Some(WHO.uid), Some(WHO.gid)).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    d
}

/// Runs `script` with /bin/sh in the sandbox: (exit code, stdout + stderr).
fn run(tools: &Tools, binds: Vec<Bind>, script: &str) -> (i32, String) {
    run_in(tools, binds, Vec::new(), script)
}

/// [`run`], in the control groups whose `cgroup.procs` are `groups`.
fn run_in(tools: &Tools, binds: Vec<Bind>, groups: Vec<std::path::PathBuf>, script: &str) -> (i32, String) {
    let spec = Spec {
        argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
        identity: WHO,
        binds,
        workdir: "/tmp".into(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into()), ("HOME".into(), "/drives/N".into())],
        limits: Limits { memory_bytes: 512 << 20, processes: 200, cpu_secs: 60, scratch_bytes: 16 << 20 },
        etc: Vec::new(),
        groups,
        new_session: true,
    };
    let out = command(tools, &spec).unwrap().output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_sandbox_reaches_its_drives_and_nothing_else() {
    let Some(tools) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    // Behind a directory only root may enter, as the data directory is.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let shared = drive(dir.path(), "shared");
    let home = drive(dir.path(), "home");
    std::fs::write(shared.join("cohort.csv"), "id,age\n1,54\n").unwrap();
    chown(shared.join("cohort.csv"), Some(WHO.uid), Some(WHO.gid)).unwrap();
    // Another asset's drive and Haven's own files, on the same host.
    let other = drive(dir.path(), "other-asset");
    std::fs::write(other.join("secret.csv"), "not yours").unwrap();
    std::fs::write(dir.path().join("master.key"), "key").unwrap();
    let binds = || {
        vec![
            Bind { host: shared.clone(), inside: "/drives/S".into(), writable: true },
            Bind { host: home.clone(), inside: "/drives/N".into(), writable: true },
        ]
    };

    // Its drives: read S:, write results to N:, as its own identity.
    let (code, out) = run(&tools, binds(), "id -u; id -G; cat /drives/S/cohort.csv; echo done > /drives/N/result.txt");
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("200001\n200001\n"), "its own uid, no other groups: {out}");
    assert!(out.contains("1,54"), "{out}");
    let written = std::fs::metadata(home.join("result.txt")).unwrap();
    assert_eq!((written.uid(), written.gid()), (WHO.uid, WHO.gid), "files it writes are its identity's");

    // Nothing else: not the other asset, not the host's files, not the repository it came from.
    let probe = format!(
        "ls {other} 2>&1; ls {dir} 2>&1; ls {repo} 2>&1; ls /drives",
        other = other.display(),
        dir = dir.path().display(),
        repo = env!("CARGO_MANIFEST_DIR")
    );
    let (_, out) = run(&tools, binds(), &probe);
    assert_eq!(out.matches("No such file or directory").count(), 3, "{out}");
    assert!(out.trim_end().ends_with("N\nS"), "{out}");

    // No network: a service listening on the host's loopback (as Haven and PostgreSQL do) is
    // not reachable, and only its own loopback is there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (code, out) = run(
        &tools,
        binds(),
        &format!(
            "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), 2)' 2>&1 | tail -n 1; \
             cat /proc/net/dev | tail -n +3 | cut -d: -f1"
        ),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ConnectionRefusedError"), "{out}");
    assert!(out.trim_end().ends_with("lo"), "only its own loopback: {out}");
    drop(listener);

    // Of /etc, what programs need; not the host's accounts or its services' configuration.
    let (_, out) =
        run(&tools, binds(), "ls /etc/passwd /etc/shadow /etc/hostname 2>&1; test -e /etc/ld.so.cache && echo loader");
    assert_eq!(out.matches("No such file or directory").count(), 3, "{out}");
    assert!(out.contains("loader"), "{out}");

    // Its own processes only, the limits set, and no way back up.
    let (_, out) = run(
        &tools,
        binds(),
        "ls /proc | grep -c '^[0-9]'; ulimit -v; grep 'Max processes' /proc/self/limits | tr -s ' ' | cut -d' ' -f3; \
         grep NoNewPrivs /proc/self/status",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].parse::<u32>().unwrap() < 10, "a few processes of its own: {out}");
    assert_eq!(&lines[1..3], ["524288", "200"], "{out}");
    assert!(lines[3].ends_with('1'), "{out}");

    // Scratch space is its own, of a bounded size, and gone when it ends.
    let (_, out) = run(&tools, binds(), "ls -A /tmp; echo scratch > /tmp/left.txt");
    assert_eq!(out, "");
    let (_, out) = run(&tools, binds(), "head -c 20000000 /dev/zero > /tmp/big 2>&1 || echo full");
    assert!(out.contains("full"), "16 MiB of scratch space: {out}");
    let (_, out) = run(&tools, binds(), "ls -A /tmp");
    assert_eq!(out, "", "nothing of the last sandbox's scratch space");
    // /dev is not more memory to fill: read-only, but for a /dev/shm as big as the scratch space.
    let (_, out) = run(
        &tools,
        binds(),
        "echo x > /dev/filler 2>&1; echo y > /dev/shm/ok && echo shm; head -c 20000000 /dev/zero > /dev/shm/big 2>&1 || echo shm-full; \
         echo z > /dev/null && echo null",
    );
    assert!(out.contains("Read-only file system") && out.contains("shm\n") && out.contains("shm-full"), "{out}");
    assert!(out.contains("null"), "{out}");

    // The host's programs are there, read-only; a read-only bind is read-only.
    let ro = vec![Bind { host: shared.clone(), inside: "/drives/S".into(), writable: false }];
    let (_, out) = run(&tools, ro, "touch /usr/x 2>&1; touch /drives/S/x 2>&1; echo end");
    assert_eq!(out.matches("Read-only file system").count(), 2, "{out}");
}

/// The seccomp filters hold inside: each call below answers with the errno given (EPERM from
/// the deny list, ENOSYS from the guard), while what analyses use (threads, sockets on its own
/// loopback, a child process) still works.
#[test]
fn the_kernels_less_trodden_calls_are_refused_inside() {
    let Some(tools) = tools() else { return };
    // Raw system calls through ctypes, on x86-64's numbers: (name, number, arguments, errno).
    let script = r#"
import ctypes, errno, os, socket, subprocess, threading
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return errno.errorcode.get(ctypes.get_errno(), 'OK') if r == -1 else 'OK'
buf = ctypes.create_string_buffer(8)
for name, nr, args in [
    ('keyctl', 250, (0, 0)), ('add_key', 248, (0, 0, 0, 0, 0)), ('bpf', 321, (0, 0, 0)),
    ('perf_event_open', 298, (0, 0, -1, -1, 0)), ('userfaultfd', 323, (0,)), ('io_uring_setup', 425, (1, 0)),
    ('ptrace', 101, (0, 0, 0, 0)), ('unshare', 272, (0x10000000,)), ('mount', 165, (0, 0, 0, 0, 0)),
    ('clone_newuser', 56, (0x10000000 | 17, 0, 0, 0, 0)), ('personality_no_aslr', 135, (0x0040000,)),
    ('tiocsti', 16, (0, 0x5412, ctypes.addressof(buf))), ('af_packet', 41, (17, 3, 0)),
    ('clone3', 435, (0, 0)), ('x32_getpid', 0x40000000 | 39, ()), ('open_by_handle_at', 304, (0, 0, 0)),
    ('socketpair_vsock', 53, (40, 1, 0, ctypes.addressof(buf))), ('sctp', 41, (2, 1, 132)), ('kcmp', 312, (1, 1, 0, 0, 0)),
    ('listmount', 457, (0, 0, 0, 0)), ('newer_than_the_list', 463, (0, 0, 0, 0)),
]:
    print(name, call(nr, *args))
print('personality_query', call(135, 0xffffffff))
t = threading.Thread(target=lambda: None); t.start(); t.join(); print('threads OK')
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); print('socket OK')
print('child', subprocess.run(['/bin/true']).returncode)
print(open('/proc/self/status').read().split('Seccomp:')[1].split()[0])
"#;
    let (code, out) = run(&tools, vec![], &format!("python3 -c '{}' 2>&1", script.replace('\'', "\"")));
    assert_eq!(code, 0, "{out}");
    for denied in [
        "keyctl",
        "add_key",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "io_uring_setup",
        "ptrace",
        "unshare",
        "mount",
        "clone_newuser",
        "personality_no_aslr",
        "tiocsti",
        "af_packet",
        "socketpair_vsock",
        "sctp",
        "kcmp",
        "listmount",
        "open_by_handle_at",
    ] {
        assert!(out.contains(&format!("{denied} EPERM\n")), "{denied}: {out}");
    }
    for refused in ["clone3", "x32_getpid", "newer_than_the_list"] {
        assert!(out.contains(&format!("{refused} ENOSYS\n")), "{refused}: {out}");
    }
    for works in ["personality_query OK", "threads OK", "socket OK", "child 0"] {
        assert!(out.contains(works), "{works}: {out}");
    }
    assert!(out.trim_end().ends_with('2'), "a filter is in force (Seccomp: 2): {out}");
}

/// A session's control group bounds all its processes together: memory (more than the group
/// allows, though each process is under its rlimit, is killed) and processes; every process
/// started inside is in the group; the group is gone once the session is.
#[test]
fn a_control_group_bounds_a_sandbox_as_a_whole() {
    let Some(tools) = tools() else { return };
    let groups = match Groups::detect(Path::new("/sys/fs/cgroup"), "haven-test-runner") {
        Ok(g) => g,
        Err(why) => {
            assert!(!haven_testkit::strict(), "this project's test hosts have control groups: {why}");
            return;
        }
    };
    groups.prepare().unwrap();
    let id = format!("runner-{}", std::process::id());
    let group = groups.make(&id, GroupLimits { memory_bytes: 96 << 20, processes: 24 }).unwrap();
    let procs = group.procs();

    // Everything it runs is in the group, from the first process on (seen from outside: inside,
    // its own cgroup namespace shows the group as its root).
    let spec = Spec {
        argv: vec!["/bin/sh".into(), "-c".into(), "sleep 1 & sleep 1; wait".into()],
        identity: WHO,
        binds: vec![],
        workdir: "/tmp".into(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        limits: Limits { memory_bytes: 512 << 20, processes: 200, cpu_secs: 60, scratch_bytes: 16 << 20 },
        etc: Vec::new(),
        groups: procs.clone(),
        new_session: true,
    };
    let mut child = command(&tools, &spec).unwrap().spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    for p in &procs {
        let members = std::fs::read_to_string(p).unwrap();
        assert!(members.lines().count() >= 5, "the tools and the program, all in {}: {members}", p.display());
        assert!(members.lines().any(|pid| pid == child.id().to_string()), "from the first process on: {members}");
        for pid in members.lines() {
            let adj = std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap_or_else(|_| "500".into());
            assert_eq!(adj.trim(), "500", "the kernel's first choice when the host runs out of memory");
        }
    }
    assert!(child.wait().unwrap().success());

    // 200 MiB written by one process: under its 512 MiB rlimit, over the group's 96 MiB.
    let (code, out) =
        run_in(&tools, vec![], procs.clone(), "python3 -c 'b = bytes(1) * (200 << 20); print(\"allocated\")'");
    assert!(code != 0 && !out.contains("allocated"), "killed for memory: {code} {out}");
    assert!(group.out_of_memory_kills().is_some_and(|n| n >= 1), "the kernel counts the kill");

    // 40 processes at once, under the identity's 200, over the group's 24.
    let (_, out) = run_in(&tools, vec![], procs.clone(), "for i in $(seq 40); do sleep 2 & done; wait; echo waited");
    assert!(out.contains("fork") || out.contains("Resource temporarily unavailable"), "{out}");

    // Joining is not optional: a group that cannot be joined starts nothing.
    let missing = vec![std::path::PathBuf::from("/sys/fs/cgroup/memory/no-such-group/cgroup.procs")];
    let (code, out) = run_in(&tools, vec![], missing, "echo started");
    assert_eq!(code, 125, "{out}");
    assert!(!out.contains("started"), "{out}");

    let dirs: Vec<_> = procs.iter().map(|p| p.parent().unwrap().to_path_buf()).collect();
    drop(group);
    for _ in 0..50 {
        if dirs.iter().all(|d| !d.exists()) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(dirs.iter().all(|d| !d.exists()), "the group is removed with the session: {dirs:?}");
    assert!(groups.remove(), "and the parents with no session left");
}
