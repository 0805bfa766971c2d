//! The session sandbox: [`probe`], what isolation this host offers and what sessions will use
//! (`haven sandbox check`), and [`runner`], the command that runs a program sandboxed, which the
//! local session backend and batch jobs are to be built on.

pub mod probe;
pub mod runner;
