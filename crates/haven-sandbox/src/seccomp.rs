//! The system calls a sandbox may not make. bubblewrap loads the filters (`--add-seccomp-fd`)
//! just before it starts the program, after every namespace is made and every privilege gone, so
//! they hold for everything the program starts and nothing inside can lift them.
//!
//! A deny list, as Flatpak's and Docker's default profiles are: researchers run compilers, R,
//! Python and whatever those start, which an allow list would break in ways no one can predict.
//! What is denied is what a data analysis never needs and what has given local root before: the
//! kernel's keyrings, BPF, perf, userfaultfd, io_uring, tracing other processes, namespaces and
//! mounts, modules, clocks and other host-wide settings, the terminal-input injection ioctls,
//! unusual socket families and personalities. Denied calls fail with `EPERM` (programs see
//! "Operation not permitted" and carry on where they can).
//!
//! Two filters, because one kind of call must fail differently: the deny list (built with
//! seccompiler) and a short guard written here, because seccompiler checks the architecture
//! but not x86-64's x32 system call numbers (the same architecture, numbers with bit 30 set),
//! which would walk around any deny list. The guard kills a process that calls with another
//! architecture's numbers (32-bit `int 0x80`), fails x32 calls and calls newer than the list
//! with `ENOSYS` (what a kernel without them says), and answers `clone3` with `ENOSYS` so that the C library falls back to
//! `clone`, whose flags the deny list can see (`clone3` passes them in memory it cannot read).

use std::collections::BTreeMap;
use std::io::{Seek, Write};
use std::os::fd::OwnedFd;

use seccompiler::{
    SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
    sock_filter,
};

/// The two filters, as bubblewrap reads them: raw BPF instructions, in the machine's byte order.
#[derive(Debug, Clone)]
pub struct Filters {
    pub guard: Vec<u8>,
    pub deny: Vec<u8>,
}

/// Calls denied whatever their arguments.
const DENIED: &[i64] = &[
    // Kernel keyrings: shared across the host's users' namespaces, and a long list of bugs.
    libc::SYS_add_key,
    libc::SYS_keyctl,
    libc::SYS_request_key,
    // Programs in the kernel and kernel-level tracing.
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    // Page faults handled by user space: the way most kernel races are won.
    libc::SYS_userfaultfd,
    // io_uring: a second system call interface with a record of local privilege escalations.
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    // Reading or steering other processes (the session's own, or a way out through them).
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_pidfd_getfd,
    // New namespaces and mounts: the sandbox is made; nothing inside remakes it.
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_open_tree,
    libc::SYS_move_mount,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    // Files by handle, around the paths a mount namespace hides.
    libc::SYS_name_to_handle_at,
    libc::SYS_open_by_handle_at,
    // The host's: its log, accounting, quotas, swap, clocks, modules, reboot.
    libc::SYS_syslog,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_quotactl_fd,
    // Comparing other processes' kernel objects.
    libc::SYS_kcmp,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_reboot,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_vhangup,
    libc::SYS_fanotify_init,
    // Memory placement of other processes.
    libc::SYS_mbind,
    libc::SYS_migrate_pages,
    libc::SYS_move_pages,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_uselib,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_lookup_dcookie,
    #[cfg(target_arch = "x86_64")]
    libc::SYS__sysctl,
    // Listing the host's mounts by id (Linux 6.8), newer than the C library's numbers.
    #[cfg(target_arch = "x86_64")]
    457, // listmount
    #[cfg(target_arch = "x86_64")]
    458, // statmount
];

/// The highest x86-64 call number this list was written against (`mseal`, Linux 6.10): calls
/// above it are newer than this filter, and fail with ENOSYS (what an older kernel says) until
/// someone has looked at them and raised this.
const LAST_REVIEWED: u32 = 462;

/// `clone` flags that make namespaces.
const NAMESPACE_FLAGS: [libc::c_int; 7] = [
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWNS,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWCGROUP,
];

/// Socket families a session may open: local, IP (its own loopback, where the repository is),
/// and netlink (the C library asks it which addresses exist).
const FAMILIES: [libc::c_int; 4] = [libc::AF_UNIX, libc::AF_INET, libc::AF_INET6, libc::AF_NETLINK];

/// IP protocols a session may open sockets for: the default, TCP, UDP, ICMP and ICMPv6.
const IP_PROTOCOLS: [libc::c_int; 5] =
    [0, libc::IPPROTO_TCP, libc::IPPROTO_UDP, libc::IPPROTO_ICMP, libc::IPPROTO_ICMPV6];

/// Personalities a program may ask for: the default, 32-bit `uname`, and asking which it has.
/// Not the rest (turning address randomisation off, mapping page zero).
const PERSONALITIES: [u64; 4] = [0, 0x0008, 0x0002_0008, 0xffff_ffff];

#[derive(Debug, thiserror::Error)]
#[error("the seccomp filter could not be built: {0}")]
pub struct FilterError(String);

fn err(e: impl std::fmt::Display) -> FilterError {
    FilterError(e.to_string())
}

fn cond(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, FilterError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value).map_err(err)
}

/// The deny list, as seccompiler builds it: each listed call, and the listed argument cases of
/// `clone`, `ioctl`, `socket` and `personality`, fail with EPERM; everything else is allowed.
fn deny_list() -> Result<Vec<sock_filter>, FilterError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = DENIED.iter().map(|&nr| (nr, Vec::new())).collect();
    // A rule matches when all its conditions do; a call when any of its rules does.
    let each_flag = NAMESPACE_FLAGS
        .iter()
        .map(|&f| {
            let f = u64::from(f.unsigned_abs());
            SeccompRule::new(vec![cond(0, SeccompCmpOp::MaskedEq(f), f)?]).map_err(err)
        })
        .collect::<Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_clone, each_flag);
    // Typing into the terminal's input queue (TIOCSTI) or the console (TIOCLINUX): compared on
    // the low 32 bits, as the kernel reads the request.
    let injection = [libc::TIOCSTI, libc::TIOCLINUX]
        .iter()
        .map(|&r| SeccompRule::new(vec![cond(1, SeccompCmpOp::Eq, r)?]).map_err(err))
        .collect::<Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_ioctl, injection);
    let other_family = FAMILIES
        .iter()
        .map(|&f| cond(0, SeccompCmpOp::Ne, u64::from(f.unsigned_abs())))
        .collect::<Result<Vec<_>, _>>()?;
    // And of IP, the usual protocols only: the others (SCTP, L2TP, MPTCP…) would load kernel
    // modules a session never needs.
    let mut socket = vec![SeccompRule::new(other_family).map_err(err)?];
    for family in [libc::AF_INET, libc::AF_INET6] {
        let mut conditions = vec![cond(0, SeccompCmpOp::Eq, u64::from(family.unsigned_abs()))?];
        for protocol in IP_PROTOCOLS {
            conditions.push(cond(2, SeccompCmpOp::Ne, u64::from(protocol.unsigned_abs()))?);
        }
        socket.push(SeccompRule::new(conditions).map_err(err)?);
    }
    rules.insert(libc::SYS_socket, socket);
    // A pair of sockets is local: any other family would still be made (and its module loaded)
    // before the kernel refuses the pair.
    let not_local = SeccompRule::new(vec![cond(0, SeccompCmpOp::Ne, u64::from(libc::AF_UNIX.unsigned_abs()))?]);
    rules.insert(libc::SYS_socketpair, vec![not_local.map_err(err)?]);
    let other_personality =
        PERSONALITIES.iter().map(|&p| cond(0, SeccompCmpOp::Ne, p)).collect::<Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_personality, vec![SeccompRule::new(other_personality).map_err(err)?]);
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(err)?;
    let eperm = SeccompAction::Errno(libc::EPERM.unsigned_abs());
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, eperm, arch).map_err(err)?;
    filter.try_into().map_err(err)
}

// Classic BPF, as in <linux/filter.h> and <linux/seccomp.h>.
const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const RET_K: u16 = 0x06;
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_ALLOW: u32 = 0x7fff_0000;
/// Offsets in `struct seccomp_data`.
const NR: u32 = 0;
const ARCH: u32 = 4;
/// The bit that marks x32 system call numbers on x86-64.
const X32_BIT: u32 = 0x4000_0000;

fn op(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// The guard (see the module's comment). Jumps count the instructions skipped.
fn guard() -> Result<Vec<sock_filter>, FilterError> {
    let audit_arch = match std::env::consts::ARCH {
        "x86_64" => 0xc000_003e,
        "aarch64" => 0xc000_00b7,
        other => return Err(FilterError(format!("no seccomp guard for {other}"))),
    };
    let enosys = RET_ERRNO | libc::ENOSYS.unsigned_abs();
    let clone3 = u32::try_from(libc::SYS_clone3).map_err(err)?;
    // aarch64 has no second numbering, and numbers of its own: only x86-64's are bounded here.
    let newer = if std::env::consts::ARCH == "x86_64" { LAST_REVIEWED + 1 } else { X32_BIT };
    Ok(vec![
        op(LD_W_ABS, 0, 0, ARCH),
        op(JEQ_K, 1, 0, audit_arch),
        op(RET_K, 0, 0, RET_KILL_PROCESS),
        op(LD_W_ABS, 0, 0, NR),
        // Newer than this filter and, above those, x32's numbers: not implemented, as far as
        // the session can tell.
        op(JGE_K, 0, 1, newer),
        op(RET_K, 0, 0, enosys),
        op(JEQ_K, 0, 1, clone3),
        op(RET_K, 0, 0, enosys),
        op(RET_K, 0, 0, RET_ALLOW),
    ])
}

fn bytes(program: &[sock_filter]) -> Vec<u8> {
    program
        .iter()
        .flat_map(|i| {
            let mut b = Vec::with_capacity(8);
            b.extend_from_slice(&i.code.to_ne_bytes());
            b.extend_from_slice(&[i.jt, i.jf]);
            b.extend_from_slice(&i.k.to_ne_bytes());
            b
        })
        .collect()
}

impl Filters {
    /// Both filters for this machine (built once; see [`filters`]).
    pub fn build() -> Result<Self, FilterError> {
        Ok(Filters { guard: bytes(&guard()?), deny: bytes(&deny_list()?) })
    }
}

/// The filters, built on first use and kept.
pub fn filters() -> Result<&'static Filters, FilterError> {
    static BUILT: std::sync::OnceLock<Result<Filters, String>> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| Filters::build().map_err(|e| e.0)).as_ref().map_err(|e| FilterError(e.clone()))
}

/// `program` in a file of memory that bubblewrap reads (a descriptor, not a path anyone could
/// swap), at its start.
pub fn memfd(name: &str, program: &[u8]) -> std::io::Result<OwnedFd> {
    let fd = rustix::fs::memfd_create(name, rustix::fs::MemfdFlags::CLOEXEC)?;
    let mut file = std::fs::File::from(fd);
    file.write_all(program)?;
    file.rewind()?;
    Ok(OwnedFd::from(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_filters_build_and_the_guard_kills_foreign_architectures_first() {
        let f = Filters::build().unwrap();
        assert_eq!(f.guard.len() % 8, 0);
        assert_eq!(f.deny.len() % 8, 0);
        assert!(f.deny.len() > 8 * DENIED.len(), "every listed call is in the deny list");
        let g = guard().unwrap();
        assert_eq!((g[0].code, g[0].k), (LD_W_ABS, ARCH));
        assert_eq!(g[2].k, RET_KILL_PROCESS);
        assert_eq!(g.last().unwrap().k, RET_ALLOW);
        // Every jump lands inside the program.
        for (i, ins) in g.iter().enumerate().filter(|(_, ins)| ins.code & 0x07 == 0x05) {
            assert!(i + 1 + usize::from(ins.jt.max(ins.jf)) < g.len());
        }
    }
}
