//! `haven sandbox check`: which isolation this host offers sessions, found by trying each piece,
//! and what Haven will use. Exit 1 when sessions cannot be isolated here.

use std::path::PathBuf;

use clap::Subcommand;
use haven_sandbox::probe::Probe;

use super::say;

#[derive(Subcommand, Debug)]
pub enum SandboxCommand {
    /// Try each kind of isolation (namespaces through bubblewrap, session identities, cgroups
    /// v2 delegation, rlimits, seccomp) and say what sessions will use; exit 1 if they cannot be isolated.
    Check {
        /// bubblewrap to try: an absolute path, or a name looked up in /usr/bin, /usr/sbin, /bin, /sbin.
        #[arg(long, default_value = "bwrap")]
        bwrap: PathBuf,
    },
    /// Relay Haven's connections to a session's application on a Slurm compute node (Haven
    /// starts it in the session's job; not for people).
    #[command(hide = true)]
    Bridge {
        /// The session's run directory (its secret is there; the bridge's address goes there).
        #[arg(long)]
        run_dir: PathBuf,
        /// The application's socket, if it has one.
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Make the sandbox's package repository socket, carried back to Haven.
        #[arg(long)]
        repository: bool,
        /// The session's identities: the socket's listener must have them.
        #[arg(long)]
        uid: u32,
        #[arg(long)]
        gid: u32,
    },
}

impl SandboxCommand {
    pub async fn run(self) -> anyhow::Result<i32> {
        match self {
            SandboxCommand::Bridge { run_dir, socket, repository, uid, gid } => {
                crate::bridge::Bridge { run_dir, socket, repository, uid, gid }.run().await
            }
            SandboxCommand::Check { bwrap } => {
                let report = Probe { bwrap, ..Probe::default() }.run();
                for c in &report.checks {
                    let mark = match (c.ok, c.required) {
                        (true, _) => "yes",
                        (false, true) => "NO",
                        (false, false) => "no",
                    };
                    let need = if c.required { "needed" } else { "optional" };
                    say(format!("{:<20} {mark:<3}  {need:<8}  {}", c.what, c.detail));
                }
                say("");
                say(report.plan());
                Ok(if report.isolated() { 0 } else { 1 })
            }
        }
    }
}
