//! Batch jobs on a Slurm cluster: the same sandbox command a job runs with here, submitted with
//! `sbatch --wait`, so that the job's exit status is sbatch's and a cancel is `scancel`. What the
//! command needs besides its arguments travels in files of the run directory (on storage the
//! compute nodes share, readable by root only): the environment (it holds the job's repository
//! token, so it is exported by a script there: never in what Slurm stores, nor on any command
//! line a compute node's users could list), the seccomp filters (bubblewrap reads them from
//! descriptors 3 and 4), and a copy of the job's script as its standard input. The job's output
//! is capped in the job itself, so that the file Slurm writes cannot grow past the log's cap.

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Where Slurm's commands are, and where jobs go.
#[derive(Debug, Clone)]
pub struct Slurm {
    /// The directory holding `sbatch`, `scancel` and `squeue`.
    pub bin_dir: PathBuf,
    /// `SLURM_CONF` for those commands, when not the default.
    pub conf: Option<PathBuf>,
    /// The partition jobs go to (Slurm's default when None).
    pub partition: Option<String>,
    /// Terminal sessions run as Slurm jobs too (`srun --pty`), not only batch jobs.
    pub terminals: bool,
    /// Web sessions and desktops too: their socket on the compute node is reached through
    /// Haven's bridge there (`haven sandbox bridge`, from [`Slurm::bridge`]).
    pub applications: bool,
    /// Haven's own program, at the same path on the compute nodes.
    pub bridge: PathBuf,
    /// The SHA-256 of the certificate with which this Haven proves itself to its bridges (its
    /// key never leaves Haven's memory: `haven_web::reach::haven_key`).
    pub haven_key: [u8; 32],
}

/// In a session's run directory: the SHA-256 of the certificate of the Haven that started it, the
/// only client its bridge accepts (written by Haven; no secret), and where the bridge listens
/// (written by the bridge once it does).
pub const BRIDGE_HAVEN: &str = "bridge-haven";
pub const BRIDGE_ENDPOINT: &str = "bridge-endpoint";
/// The package repository's socket in a run directory (`/run/haven/repository.sock` inside).
pub const REPOSITORY_SOCKET: &str = "repository.sock";

/// Haven's bridge beside a job or session on a compute node (`haven sandbox bridge`, Haven's own
/// program): it relays Haven's connections to the application's socket there, if it has one,
/// and the sandbox's connections to the package repository back to Haven, if there is one.
pub struct Bridging {
    pub program: PathBuf,
    /// The application's socket (a web session's or desktop's).
    pub application: Option<PathBuf>,
    /// Whether the repository socket is made for the sandbox.
    pub repository: bool,
    /// [`Slurm::haven_key`].
    pub haven_key: [u8; 32],
}

/// The lines that start the bridge, outside the sandbox and before it, told which Haven to accept
/// (its certificate's SHA-256, written into `run_dir`), then wait (10 s at most) until it listens
/// (its repository socket is made by then, which the sandbox looks for once, as it starts): a
/// bridge that failed ends the job, saying so.
fn bridge_lines(run_dir: &Path, b: &Bridging, (uid, gid): (u32, u32)) -> std::io::Result<Vec<u8>> {
    private(&run_dir.join(BRIDGE_HAVEN), format!("{}\n", hex::encode(b.haven_key)).as_bytes())?;
    // env would take a program path with `=` for a variable.
    if b.program.as_os_str().as_bytes().contains(&b'=') || !b.program.is_absolute() {
        return Err(std::io::Error::other("Haven's program must be at an absolute path without '='"));
    }
    // What a previous start of this job left (a job started again) would pass for this one's.
    let endpoint = quote(run_dir.join(BRIDGE_ENDPOINT).as_os_str())?;
    let mut lines = b"rm -f ".to_vec();
    lines.extend_from_slice(&endpoint);
    lines.push(b' ');
    lines.extend_from_slice(&quote(run_dir.join(format!("{BRIDGE_ENDPOINT}.partial")).as_os_str())?);
    lines.push(b' ');
    lines.extend_from_slice(&quote(run_dir.join(REPOSITORY_SOCKET).as_os_str())?);
    // Nothing of the sandbox's environment (its repository token) reaches the bridge.
    lines.extend_from_slice(b"\n/usr/bin/env -i ");
    lines.extend_from_slice(&quote(b.program.as_os_str())?);
    lines.extend_from_slice(b" sandbox bridge --run-dir ");
    lines.extend_from_slice(&quote(run_dir.as_os_str())?);
    if let Some(socket) = &b.application {
        lines.extend_from_slice(b" --socket ");
        lines.extend_from_slice(&quote(socket.as_os_str())?);
    }
    if b.repository {
        lines.extend_from_slice(b" --repository");
    }
    lines.extend_from_slice(format!(" --uid {uid} --gid {gid} &\nbridge=$!\n").as_bytes());
    lines.extend_from_slice(b"for i in $(seq 200); do [ -e ");
    lines.extend_from_slice(&endpoint);
    lines.extend_from_slice(b" ] && break; kill -0 \"$bridge\" 2>/dev/null || break; sleep 0.05; done\nif ! [ -e ");
    lines.extend_from_slice(&endpoint);
    lines.extend_from_slice(
        b" ]; then\n  echo 'Haven: the bridge between Haven and this compute node did not start (it said why above, if \
          anything); the service desk can look into it' >&2\n  exit 125\nfi\n",
    );
    Ok(lines)
}

/// The files a submitted job runs from.
pub struct JobFiles {
    /// What `sbatch` is given: it only starts the job script (what Slurm keeps has no secrets).
    pub batch: PathBuf,
    /// Where the job's output goes while it runs (copied into its log by Haven).
    pub output: PathBuf,
}

impl Slurm {
    fn command(&self, name: &str) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(self.bin_dir.join(name));
        // Nothing of Haven's environment (an SBATCH_* or SLURM_* variable would change the job).
        c.env_clear().env("PATH", "/usr/bin:/bin");
        if let Some(conf) = &self.conf {
            c.env("SLURM_CONF", conf);
        }
        c.stdin(std::process::Stdio::null());
        c
    }

    /// What a job asks of the cluster: its name, at most `minutes` (0: the partition's limit),
    /// `memory_gib` of memory on its node (0: the partition's default), the partition.
    fn request(&self, name: &str, minutes: u64, memory_gib: u64) -> Vec<String> {
        let mut args = vec![format!("--job-name={name}")];
        if minutes > 0 {
            args.push(format!("--time={minutes}"));
        }
        if memory_gib > 0 {
            args.push(format!("--mem={memory_gib}G"));
        }
        if let Some(p) = &self.partition {
            args.push(format!("--partition={p}"));
        }
        args
    }

    /// `sbatch --wait` for `files` ([`Slurm::request`]): it prints the job's id, then exits
    /// with the job's status when it ends.
    pub fn submit(&self, files: &JobFiles, name: &str, minutes: u64, memory_gib: u64) -> tokio::process::Command {
        let mut c = self.command("sbatch");
        // Not requeued after a node fails: the job's status is its one run's (Haven reports it).
        c.args(["--wait", "--parsable", "--export=NONE", "--open-mode=append", "--no-requeue"]);
        c.args(self.request(name, minutes, memory_gib));
        c.arg("--output").arg(&files.output);
        c.arg(&files.batch);
        c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        c
    }

    /// `srun --pty` for a session's `script` ([`Slurm::request`]): srun relays the job's
    /// terminal to its own standard input and output (the session's terminal here), and exits
    /// when the job ends.
    pub fn interactive(&self, script: &Path, name: &str, minutes: u64, memory_gib: u64) -> std::process::Command {
        let mut c = std::process::Command::new(self.bin_dir.join("srun"));
        c.env_clear().env("PATH", "/usr/bin:/bin");
        if let Some(conf) = &self.conf {
            c.env("SLURM_CONF", conf);
        }
        c.args(["--pty", "--quiet", "--export=NONE", "--ntasks=1"]);
        c.args(self.request(name, minutes, memory_gib));
        c.args(["/usr/bin/env", "-i", "/bin/sh"]).arg(script);
        c
    }

    /// Cancel job `id` (a number sbatch printed); it is idempotent, so it is also said after a
    /// job ended.
    pub async fn cancel(&self, id: &str) {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return;
        }
        let mut c = self.command("scancel");
        c.arg(id).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        match c.status().await {
            Ok(s) if s.success() => {}
            Ok(s) => tracing::warn!(job = id, status = %s, "scancel failed: the Slurm job may still run"),
            Err(e) => tracing::warn!(job = id, error = %e, "scancel could not be run: the Slurm job may still run"),
        }
    }

    /// As [`Slurm::cancel`], from where nothing can be awaited (a run dropped part-way).
    pub fn cancel_now(&self, id: &str) {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return;
        }
        let mut c = std::process::Command::new(self.bin_dir.join("scancel"));
        c.env_clear().env("PATH", "/usr/bin:/bin");
        if let Some(conf) = &self.conf {
            c.env("SLURM_CONF", conf);
        }
        let _ = c.arg(id).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).status();
    }

    /// Cancel this user's jobs named exactly `<prefix><32 hex digits>` (a node's, left by a
    /// Haven that died: their records were ended as it started again).
    pub async fn cancel_leftovers(&self, prefix: &str) {
        self.cancel_where(|name| {
            name.strip_prefix(prefix).is_some_and(|rest| {
                rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            })
        })
        .await;
    }

    /// Cancel this user's jobs with one of these exact names.
    pub async fn cancel_named(&self, names: &[String]) {
        self.cancel_where(|name| names.iter().any(|n| n == name)).await;
    }

    async fn cancel_where(&self, wanted: impl Fn(&str) -> bool) {
        let mut c = self.command("squeue");
        c.args(["--me", "--noheader", "--format=%i %j"]).stdout(std::process::Stdio::piped());
        let out = match c.output().await {
            Ok(out) if out.status.success() => out,
            _ => {
                tracing::warn!("squeue failed: jobs whose records ended are not cancelled on Slurm");
                return;
            }
        };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((id, name)) = line.trim().split_once(' ')
                && wanted(name)
            {
                tracing::warn!(job = id, name, "cancelling a Slurm job whose Haven record has ended");
                self.cancel(id).await;
            }
        }
    }
}

/// Write the job's files into `run_dir`: `cmd` (the sandbox command, with its environment) as a
/// script, the seccomp filters, and `stdin`'s bytes. The job refuses to run on a compute node
/// where the job's identities belong to someone (`uid`, `gid`): they must be Haven's alone there
/// too. What it prints is cut at `cap` bytes. With `bridge`, Haven's bridge starts first.
pub fn write_job_files(
    run_dir: &Path,
    cmd: &std::process::Command,
    stdin: &mut std::fs::File,
    (uid, gid): (u32, u32),
    cap: u64,
    bridge: Option<&Bridging>,
) -> std::io::Result<JobFiles> {
    let input = run_dir.join("stdin");
    let mut copy = open_private(&input)?;
    std::io::copy(stdin, &mut copy)?;
    copy.sync_all()?;
    let status = run_dir.join("status");

    let mut script = preamble(cmd, (uid, gid))?;
    if let Some(b) = bridge {
        script.extend_from_slice(&bridge_lines(run_dir, b, (uid, gid))?);
    }
    script.extend_from_slice(b"{ (exec ");
    script.extend_from_slice(&filter_descriptors(run_dir)?);
    script.extend_from_slice(b" <");
    script.extend_from_slice(&quote(input.as_os_str())?);
    script.extend_from_slice(b"; exec ");
    script.extend_from_slice(&command_line(cmd)?);
    script.extend_from_slice(b") 2>&1; echo $? >");
    script.extend_from_slice(&quote(status.as_os_str())?);
    script.extend_from_slice(format!("; }} | {{ head -c {cap}; cat >/dev/null; }}\nexit \"$(cat ").as_bytes());
    script.extend_from_slice(&quote(status.as_os_str())?);
    script.extend_from_slice(b")\"\n");
    let job = run_dir.join("job.sh");
    private(&job, &script)?;
    let batch = run_dir.join("job.sbatch");
    // Nothing in the environment the job script starts with: it exports its own.
    let mut wrapper = b"#!/bin/sh\nexec /usr/bin/env -i /bin/sh ".to_vec();
    wrapper.extend_from_slice(&quote(job.as_os_str())?);
    wrapper.push(b'\n');
    private(&batch, &wrapper)?;
    Ok(JobFiles { batch, output: run_dir.join("output") })
}

/// Write a session's script into `run_dir` (as [`write_job_files`] does for a job, but the
/// program keeps the terminal srun gives it): the identity check, the environment, the seccomp
/// filters on descriptors 3 and 4, then `cmd`. With `bridge`, Haven's bridge starts first.
/// The script's path, for [`Slurm::interactive`].
pub fn write_session_files(
    run_dir: &Path,
    cmd: &std::process::Command,
    (uid, gid): (u32, u32),
    bridge: Option<&Bridging>,
) -> std::io::Result<PathBuf> {
    let mut script = preamble(cmd, (uid, gid))?;
    if let Some(b) = bridge {
        script.extend_from_slice(&bridge_lines(run_dir, b, (uid, gid))?);
    }
    script.extend_from_slice(b"exec ");
    script.extend_from_slice(&filter_descriptors(run_dir)?);
    script.extend_from_slice(b"\nexec ");
    script.extend_from_slice(&command_line(cmd)?);
    script.push(b'\n');
    let path = run_dir.join("session.sh");
    private(&path, &script)?;
    Ok(path)
}

/// Write the seccomp filters into `run_dir`; the redirections that open them on descriptors 3
/// and 4, where bubblewrap reads them.
fn filter_descriptors(run_dir: &Path) -> std::io::Result<Vec<u8>> {
    let filters = crate::seccomp::filters().map_err(|e| std::io::Error::other(e.to_string()))?;
    let (guard, deny) = (run_dir.join("seccomp-guard"), run_dir.join("seccomp-deny"));
    private(&guard, &filters.guard)?;
    private(&deny, &filters.deny)?;
    let mut redirections = b"3<".to_vec();
    redirections.extend_from_slice(&quote(guard.as_os_str())?);
    redirections.extend_from_slice(b" 4<");
    redirections.extend_from_slice(&quote(deny.as_os_str())?);
    Ok(redirections)
}

/// `cmd`'s program and arguments, quoted for sh.
fn command_line(cmd: &std::process::Command) -> std::io::Result<Vec<u8>> {
    let mut line = quote(cmd.get_program())?;
    for a in cmd.get_args() {
        line.push(b' ');
        line.extend_from_slice(&quote(a)?);
    }
    Ok(line)
}

/// A script's start: refuse a compute node where the identities belong to someone, then export
/// `cmd`'s environment.
fn preamble(cmd: &std::process::Command, (uid, gid): (u32, u32)) -> std::io::Result<Vec<u8>> {
    let mut script = b"#!/bin/sh\n".to_vec();
    script.extend_from_slice(
        format!(
            "if getent passwd {uid} >/dev/null || getent group {gid} >/dev/null; then\n  echo 'Haven: this compute node has \
             an account or group with the id {uid} or {gid}: the job would not be alone in its sandbox; ask the \
             operators to reserve Haven'\\''s ids on every node' >&2\n  exit 125\nfi\n"
        )
        .as_bytes(),
    );
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            script.extend_from_slice(b"export ");
            let mut pair = k.to_os_string();
            pair.push("=");
            pair.push(v);
            script.extend_from_slice(&quote(&pair)?);
            script.push(b'\n');
        }
    }
    Ok(script)
}

/// `s` in single quotes for sh (a quote inside becomes `'\''`); a NUL, which sh would drop, is
/// refused.
fn quote(s: &OsStr) -> std::io::Result<Vec<u8>> {
    if s.as_bytes().contains(&0) {
        return Err(std::io::Error::other("a NUL byte in the job's command or environment"));
    }
    let mut out = vec![b'\''];
    for &b in s.as_bytes() {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    Ok(out)
}

fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

fn private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = open_private(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_sh() {
        assert_eq!(quote(OsStr::new("a b")).unwrap(), b"'a b'");
        assert_eq!(quote(OsStr::new("it's")).unwrap(), b"'it'\\''s'");
        assert_eq!(quote(OsStr::new("$(rm -rf /)")).unwrap(), b"'$(rm -rf /)'");
        assert_eq!(quote(OsStr::new("two\nlines")).unwrap(), b"'two\nlines'");
        assert!(quote(OsStr::new("a\0b")).is_err());
    }
}
