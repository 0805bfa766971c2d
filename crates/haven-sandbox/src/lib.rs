//! The session sandbox: [`probe`], what isolation this host offers and what sessions will use
//! (`haven sandbox check`); [`runner`], the command that runs a program sandboxed, with
//! [`seccomp`]'s filters and in [`cgroup`]'s groups; [`pty`], a
//! terminal session's pseudo-terminal; and [`local`], the session backend that runs sessions on
//! this machine with them.

pub mod cgroup;
pub mod local;
pub mod probe;
pub mod pty;
pub mod runner;
pub mod seccomp;
pub mod slurm;
