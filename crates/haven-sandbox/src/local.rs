//! The local session backend: each session is a sandbox on this machine ([`crate::runner`]),
//! a terminal session's program on a pseudo-terminal Haven holds ([`crate::pty`]).
//!
//! The sandbox has no network. The package repository is reached through a Unix socket in the
//! session's own run directory (`<data_dir>/sessions/<id>`, bound read-only at `/run/haven`):
//! inside, `socat` listens on the sandbox's loopback at the repository's port and passes each
//! connection to that socket; Haven answers it itself, through a [`Gate`] that speaks TLS under
//! Haven's public name (`/etc/hosts` inside maps it to the loopback) and serves the package
//! repository and nothing else, with the session's own address in its audit events and rate
//! limits. The session's repository token is in its environment.

use std::collections::{HashMap, VecDeque};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::channel::mpsc;
use futures::stream::BoxStream;
use haven_core::workspaces::catalogue::AppKind;
use haven_core::workspaces::drives::Drive;
use haven_core::workspaces::sessions::{
    BackendError, Launch, Outcome, SessionBackend, TerminalInput, TerminalLink, TerminalSink, WebEndpoint,
};
use tokio::sync::{broadcast, oneshot};

use crate::pty::{self, PtyInput, PtyOutput};
use crate::runner::{Bind, Identity, Limits, Spec, Tools, command};

/// A connection from inside a sandbox: from its socket here, or carried from a compute node.
pub trait Connection: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Connection for T {}

/// Serves the package repository on one connection from a session's socket: TLS and HTTP are
/// Haven's (`haven::gate`); no other part of Haven is reachable this way.
#[async_trait]
pub trait Gate: Send + Sync {
    async fn serve(&self, connection: Box<dyn Connection>, session: &str);
    /// Serves the repository to a sandbox on a Slurm compute node, whose connections Haven's
    /// bridge there (the files in `run_dir`) carries back, until the returned future is dropped.
    async fn carry(self: Arc<Self>, run_dir: PathBuf, session: String);
}

/// How Haven's package repository is reached from inside.
#[derive(Clone)]
pub struct Repository {
    pub gate: Arc<dyn Gate>,
    /// The name in Haven's public URL (what its certificate is for).
    pub host: String,
    /// The port inside: the public one when unprivileged, else 8443.
    pub port: u16,
    /// Haven's internal CA, when Haven made its own certificate; otherwise the host's trust
    /// store (bound from `/etc/ssl`) is used.
    pub ca_pem: Option<String>,
}

pub struct LocalConfig {
    /// Its name in session and job records: `local`, or `local@<node>` when several nodes
    /// share one database (each recovers and sweeps only what it runs).
    pub name: String,
    /// None when the host lacks bubblewrap or util-linux: launches say so.
    pub tools: Option<Tools>,
    /// Where the drives live (`<data_dir>/drives`).
    pub drives_root: PathBuf,
    /// Where sessions' run directories go (`<data_dir>/sessions`).
    pub run_root: PathBuf,
    pub repository: Option<Repository>,
    /// Control groups for per-session limits; None where the host has none for Haven (rlimits
    /// alone then).
    pub groups: Option<crate::cgroup::Groups>,
    /// Batch jobs go to this Slurm cluster instead of running here, and terminal sessions,
    /// web sessions and desktops too when it says so (else they run here).
    pub slurm: Option<crate::slurm::Slurm>,
}

/// Where a sandbox runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runs {
    Here,
    /// A batch job on Slurm (sbatch).
    SlurmJob,
    /// A session on Slurm (srun --pty): a terminal, or an application behind Haven's bridge.
    SlurmSession,
}

/// What a terminal showed last, replayed to a browser that attaches.
const BACKLOG_BYTES: usize = 64 * 1024;
/// How long, and for how many sessions, an ended session's last output is kept.
const LAST_OUTPUT_FOR: Duration = Duration::from_secs(600);
const LAST_OUTPUT_SESSIONS: usize = 256;
/// Connections one session may have open to the repository at once.
const REPOSITORY_CONNECTIONS: usize = 32;

struct Running {
    pty: Option<Arc<PtyInput>>,
    output: broadcast::Sender<Bytes>,
    backlog: Mutex<VecDeque<u8>>,
    /// Milliseconds since `LocalBackend::epoch` at the last keystroke or output watched.
    last_active_ms: AtomicI64,
    viewers: AtomicUsize,
    /// Bumped by each attach: an older view's output stops.
    generation: AtomicU64,
    kill: Mutex<Option<oneshot::Sender<()>>>,
    ended: tokio::sync::watch::Receiver<bool>,
    /// Where a web session's application listens.
    web: Option<WebEndpoint>,
}

pub struct LocalBackend {
    config: LocalConfig,
    /// Ended sessions' last output, for their owners, a few minutes.
    last: Arc<Mutex<VecDeque<(String, Instant, Bytes)>>>,
    /// Set once Haven's listener is up (`haven serve`), after the backend is made.
    repository: Mutex<Option<Repository>>,
    sessions: Arc<Mutex<HashMap<String, Arc<Running>>>>,
    epoch: Instant,
    ends_tx: mpsc::UnboundedSender<(String, Outcome)>,
    ends_rx: Mutex<Option<mpsc::UnboundedReceiver<(String, Outcome)>>>,
}

fn failed(what: &str) -> impl Fn(std::io::Error) -> BackendError + '_ {
    move |e| BackendError::Failed(format!("{what}: {e}"))
}

/// A web session's socket folder in its run directory, and the socket its application listens on.
const WEB_DIR: &str = "web";
const WEB_SOCKET: &str = "app.sock";
/// A desktop session's RFB socket, in the same folder.
const DESKTOP_SOCKET: &str = "vnc.sock";
/// The desktop's X server (TigerVNC's, by its own name: `Xvnc` is a link through
/// `/etc/alternatives`) and window manager.
const XVNC: &str = "/usr/bin/Xtigervnc";
const WINDOW_MANAGER: &str = "/usr/bin/openbox";

/// Starts a desktop session's X server on its socket, with no clipboard either way (and nothing
/// inside may turn it back on), then the window manager, then the application (its end ends the
/// session).
const DESKTOP: &str = r#"/usr/bin/Xtigervnc :1 -rfbunixpath /run/haven/web/vnc.sock -rfbunixmode 0600 -rfbport -1 \
  -SecurityTypes None -SendCutText=0 -AcceptCutText=0 -SendPrimary=0 -SetPrimary=0 -AllowOverride= -noclipboard \
  -geometry "${HAVEN_DESKTOP_SIZE:-1280x800}" -depth 24 -nolisten tcp -NeverShared &
for i in $(seq 200); do [ -S /run/haven/web/vnc.sock ] && break; sleep 0.05; done
sleep 0.2
export DISPLAY=:1
/usr/bin/openbox --config-file /run/haven/openbox.xml &
exec "$@""#;

/// Jupyter Server's configuration for a web session (found through `JUPYTER_CONFIG_PATH`): the
/// session's socket and base URL, no token (Haven lets only the session's owner through, and
/// Jupyter's own XSRF check stays on), the drives as its root, nothing fetched from outside.
fn jupyter_config(id: &str) -> String {
    serde_json::json!({
        "ServerApp": {
            "sock": format!("/run/haven/{WEB_DIR}/{WEB_SOCKET}"),
            "sock_mode": "0600",
            "base_url": haven_core::paths::app_session_web(id),
            "open_browser": false,
            // Requests arrive through Haven with its public name as their Host.
            "allow_remote_access": true,
            "root_dir": "/drives",
            "terminals_enabled": true,
        },
        "IdentityProvider": { "token": "" },
        // The drives are its root (N, S, outputs side by side); it opens in N:, where new
        // notebooks go (/drives itself is not writable).
        "ContentsManager": { "preferred_dir": "N" },
        "LabApp": {
            "extension_manager": "readonly",
            "news_url": null,
            "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
        },
    })
    .to_string()
}

/// The window manager's settings for a desktop session: the keyboard goes to the window under the
/// pointer (openbox's click-to-focus left a freshly mapped window without it in the sandbox), one
/// desktop, no menus.
const OPENBOX_CONFIG: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<openbox_config xmlns="http://openbox.org/3.4/rc">
  <focus><focusNew>yes</focusNew><followMouse>yes</followMouse><focusDelay>0</focusDelay><underMouse>yes</underMouse><raiseOnFocus>no</raiseOnFocus></focus>
  <desktops><number>1</number></desktops>
  <theme><name>Clearlooks</name></theme>
  <applications><application class="*"><maximized>yes</maximized><decor>yes</decor></application></applications>
</openbox_config>
"#;

/// JupyterLab's commands that would take files out through the browser, switched off (Haven
/// refuses their endpoints too: this keeps them out of the menus).
const JUPYTERLAB_PAGE_CONFIG: &str = r#"{"disabledExtensions": {
  "@jupyterlab/docmanager-extension:download": true,
  "@jupyterlab/filebrowser-extension:download": true,
  "@jupyterlab/filebrowser-extension:open-browser-tab": true,
  "@jupyterlab/filebrowser-extension:share-file": true,
  "@jupyterlab/docmanager-extension:open-browser-tab": true,
  "@jupyterlab/notebook-extension:export": true,
  "@jupyterlab/apputils-extension:announcements": true
}}"#;

/// The shell that runs the application inside: a umask that lets the asset's group read what
/// members write, the per-version libraries, the repository's bridge, and when the application
/// ends, everything it left running (a background process would keep the sandbox alive).
const START: &str = r#"umask 007
mkdir -p "$R_LIBS_USER" "$PYTHONUSERBASE" 2>/dev/null
if [ -S /run/haven/repository.sock ]; then
  socat TCP-LISTEN:"$HAVEN_REPOSITORY_PORT",bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:/run/haven/repository.sock &
fi
"$@"
status=$?
kill -9 -1 2>/dev/null
exit $status"#;

impl LocalBackend {
    pub fn new(config: LocalConfig) -> Self {
        let (ends_tx, ends_rx) = mpsc::unbounded();
        LocalBackend {
            last: Arc::new(Mutex::new(VecDeque::new())),
            repository: Mutex::new(config.repository.clone()),
            config,
            sessions: Arc::new(Mutex::new(HashMap::new())),
            epoch: Instant::now(),
            ends_tx,
            ends_rx: Mutex::new(Some(ends_rx)),
        }
    }

    /// Removes the run directories a Haven that died left (they hold repository tokens; no
    /// sandbox outlives the Haven that ran it). Only for the serving Haven, as it starts: the
    /// console's commands make a backend too, while the server's sessions run.
    pub fn remove_leftovers(&self) {
        if let Ok(entries) = std::fs::read_dir(&self.config.run_root) {
            for e in entries.flatten() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        if let Some(groups) = &self.config.groups {
            groups.remove_leftovers();
        }
    }

    /// A running job among the running (so that `stop` reaches it): its registration, which
    /// unregisters it and reports it ended however the run ends, even dropped; and what a stop
    /// sends.
    fn register_job(&self, id: &str) -> (Registered, oneshot::Receiver<()>) {
        let (kill_tx, kill_rx) = oneshot::channel();
        let (ended_tx, ended_rx) = tokio::sync::watch::channel(false);
        let running = Arc::new(Running {
            pty: None,
            output: broadcast::channel(1).0,
            backlog: Mutex::new(VecDeque::new()),
            last_active_ms: AtomicI64::new(self.now_ms()),
            viewers: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            kill: Mutex::new(Some(kill_tx)),
            ended: ended_rx,
            web: None,
        });
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id.to_string(), running);
        (Registered { sessions: self.sessions.clone(), id: id.to_string(), ended: ended_tx }, kill_rx)
    }

    /// The name a job of this node has on Slurm: `haven_<backend, in hex>_<job id>`, one name
    /// per node and job that no other node's can start with (what leftovers are found by).
    fn slurm_name(&self, id: &str) -> String {
        format!("{}{id}", self.slurm_prefix())
    }

    fn slurm_prefix(&self) -> String {
        slurm_prefix(&self.config.name)
    }

    /// Cancel the Slurm jobs a Haven that died here left (their records were ended at start).
    pub async fn cancel_slurm_leftovers(&self) {
        if let Some(slurm) = &self.config.slurm {
            slurm.cancel_leftovers(&self.slurm_prefix()).await;
        }
    }

    /// A batch job as a Slurm job: the same sandbox, started by `sbatch --wait` on a compute
    /// node; its output is copied into its log as it comes (within the same cap), a cancel or
    /// its time running out is `scancel`, and its status is the job's.
    async fn run_job_on_slurm(
        &self,
        slurm: &crate::slurm::Slurm,
        l: Launch,
        job: Drive,
    ) -> Result<Outcome, BackendError> {
        let folder = self.drive_path(&job);
        let (mut script, log) = tokio::task::spawn_blocking(move || job_files(&folder))
            .await
            .map_err(|e| BackendError::Failed(e.to_string()))?
            .map_err(failed("the job's folder could not be opened"))?;
        let (cmd, cleanup) = self.sandbox_with(&l, &[], Runs::SlurmJob).await?;
        let run_dir = cleanup.run_dir.clone();
        let identity = (l.identity.uid, l.identity.gid);
        // A little more than the log keeps, so that keep_log still says output was cut.
        let cap = haven_core::workspaces::jobs::LOG_BYTES + 64 * 1024;
        let bridge = self.bridging(slurm, None);
        let files = tokio::task::spawn_blocking(move || {
            crate::slurm::write_job_files(&run_dir, &cmd, &mut script, identity, cap, bridge.as_ref())
        })
        .await
        .map_err(|e| BackendError::Failed(e.to_string()))?
        .map_err(failed("the job's files for Slurm could not be written"))?;
        let minutes = l.deadline_secs.div_ceil(60);
        let mut submit = slurm.submit(&files, &self.slurm_name(&l.id), minutes, l.config.memory_gib);
        submit.kill_on_drop(true);
        let mut child = submit.spawn().map_err(failed("sbatch could not be run"))?;
        let mut stdout = child.stdout.take().ok_or_else(|| BackendError::Failed("sbatch: no output".into()))?;
        let mut stderr = child.stderr.take().ok_or_else(|| BackendError::Failed("sbatch: no output".into()))?;
        // From here, whatever happens, the Slurm job does not run on (once its id is known).
        let mut cancel_on_drop = CancelOnDrop { slurm: Some(slurm.clone()), id: String::new() };
        let mut first = Vec::new();
        {
            use tokio::io::AsyncReadExt;
            let mut byte = [0u8; 1];
            while first.len() < 64 && stdout.read(&mut byte).await.map_err(failed("sbatch"))? == 1 && byte[0] != b'\n' {
                first.push(byte[0]);
            }
        }
        let slurm_id: String = String::from_utf8_lossy(&first).split(';').next().unwrap_or_default().trim().to_string();
        if slurm_id.is_empty() || !slurm_id.bytes().all(|b| b.is_ascii_digit()) {
            let mut why = Vec::new();
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut stderr, &mut why).await;
            let _ = child.wait().await;
            return Err(BackendError::Failed(format!(
                "Slurm did not take the job: {}",
                String::from_utf8_lossy(&why).trim()
            )));
        }
        tracing::info!(job = %l.id, slurm = %slurm_id, "submitted a batch job to Slurm");
        cancel_on_drop.id = slurm_id.clone();
        // What sbatch says while it waits (retries while the controller is away), to the log.
        tokio::spawn(async move {
            use tokio::io::AsyncBufReadExt;
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(%line, "sbatch");
            }
        });
        // The output file, followed into the log through a pipe (keep_log keeps the cap).
        let (reader, writer) = std::io::pipe().map_err(failed("no pipe"))?;
        let (reader, writer) = (OwnedFd::from(reader), OwnedFd::from(writer));
        let output = receiver(reader)?;
        let (note_tx, note_rx) = oneshot::channel();
        let logging = tokio::spawn(keep_log(output, tokio::fs::File::from_std(log), note_rx));
        let (done_tx, done_rx) = tokio::sync::watch::channel(false);
        let following = tokio::spawn(follow(files.output.clone(), std::fs::File::from(writer), done_rx));
        let (_registered, kill_rx) = self.register_job(&l.id);
        let deadline = job_deadline(l.deadline_secs);
        // sbatch --wait looks at the job every few seconds at first, then less often: after a
        // cancel it is not waited for (the job is cancelled; sbatch is stopped).
        let ended = tokio::select! {
            s = child.wait() => outcome(s),
            _ = kill_rx => {
                slurm.cancel(&slurm_id).await;
                let _ = child.start_kill();
                outcome(child.wait().await)
            }
            _ = deadline => {
                slurm.cancel(&slurm_id).await;
                let _ = child.start_kill();
                let _ = child.wait().await;
                Outcome::OverTime(l.deadline_secs)
            }
        };
        // sbatch may have ended before the job (killed, or it lost the controller): said again,
        // as it does nothing to a job that ended.
        slurm.cancel(&slurm_id).await;
        cancel_on_drop.disarm();
        let _ = done_tx.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), following).await;
        let _ = note_tx.send(String::new());
        drop(cleanup);
        let _ = tokio::time::timeout(Duration::from_secs(10), logging).await;
        Ok(ended)
    }

    /// Where sessions started from now on reach the package repository.
    pub fn set_repository(&self, repository: Repository) {
        *self.repository.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(repository);
    }

    /// The bridge a job or session on Slurm needs: for its application's socket, for the
    /// package repository, or none.
    fn bridging(&self, slurm: &crate::slurm::Slurm, application: Option<PathBuf>) -> Option<crate::slurm::Bridging> {
        let repository = self.repository().is_some();
        (application.is_some() || repository).then(|| crate::slurm::Bridging {
            program: slurm.bridge.clone(),
            application,
            repository,
            haven_key: slurm.haven_key,
        })
    }

    fn repository(&self) -> Option<Repository> {
        self.repository.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn now_ms(&self) -> i64 {
        millis_since(self.epoch)
    }

    fn running(&self, id: &str) -> Option<Arc<Running>> {
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(id).cloned()
    }

    fn drive_path(&self, drive: &Drive) -> PathBuf {
        self.config.drives_root.join(drive.relative_path())
    }

    /// The session's environment: nothing of Haven's, the repository configured for every
    /// client, and libraries per application version on N:.
    fn environment(&self, l: &Launch) -> Vec<(String, String)> {
        let libs = format!("/drives/N/.haven/libraries/{}-{}", l.app.name, l.app.version);
        let mut env: Vec<(String, String)> = vec![
            ("HOME".into(), "/drives/N".into()),
            ("USER".into(), l.owner.clone()),
            ("LOGNAME".into(), l.owner.clone()),
            ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
            ("LANG".into(), "C.UTF-8".into()),
            ("TERM".into(), "xterm-256color".into()),
            ("SHELL".into(), "/bin/bash".into()),
            ("TMPDIR".into(), "/tmp".into()),
            ("HAVEN_SESSION".into(), l.id.clone()),
            ("HAVEN_ASSET".into(), l.asset.clone()),
            ("R_LIBS_USER".into(), format!("{libs}/R")),
            ("PYTHONUSERBASE".into(), format!("{libs}/python")),
            // Debian's Python refuses `pip install` outside a virtual environment; the
            // libraries on N: are the session's own, so installs go there.
            ("PIP_USER".into(), "1".into()),
            ("PIP_BREAK_SYSTEM_PACKAGES".into(), "1".into()),
            ("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into()),
            ("UV_PYTHON_DOWNLOADS".into(), "never".into()),
            ("R_PROFILE_USER".into(), "/run/haven/Rprofile".into()),
            ("CONDARC".into(), "/run/haven/condarc".into()),
        ];
        if l.app.kind == AppKind::Web {
            // Where the application listens and under which path it is served; Jupyter reads
            // the same from the configuration Haven writes for it.
            env.push(("HAVEN_WEB_SOCKET".into(), format!("/run/haven/{WEB_DIR}/{WEB_SOCKET}")));
            env.push(("HAVEN_BASE_URL".into(), haven_core::paths::app_session_web(&l.id)));
            env.push(("JUPYTER_CONFIG_PATH".into(), "/run/haven/jupyter".into()));
        }
        if let Some(r) = &self.repository() {
            let base = repository_base(l, r);
            let pypi = format!("{base}{}", haven_core::paths::PYPI_SIMPLE);
            env.push(("PIP_INDEX_URL".into(), pypi.clone()));
            env.push(("UV_DEFAULT_INDEX".into(), pypi));
            env.push(("HAVEN_REPOSITORY".into(), base));
            env.push(("HAVEN_REPOSITORY_PORT".into(), r.port.to_string()));
            if r.ca_pem.is_some() {
                for key in ["SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"] {
                    env.push((key.into(), "/run/haven/ca.pem".into()));
                }
            }
        }
        env
    }

    /// The run directory: hosts, CA, R and conda configuration, the repository's socket; the
    /// session's uid reads it, nobody else.
    async fn prepare_run_dir(
        &self,
        l: &Launch,
        dir: &Path,
        runs: Runs,
    ) -> Result<Option<tokio::task::JoinHandle<()>>, BackendError> {
        let (uid, gid) = (l.identity.uid, l.identity.gid);
        let mut files: Vec<(&str, String)> = Vec::new();
        let mut hosts = "127.0.0.1 localhost\n::1 localhost\n".to_string();
        let (mut rprofile, mut condarc) = (String::new(), String::new());
        let repository = self.repository();
        if let Some(r) = &repository {
            hosts.push_str(&format!("127.0.0.1 {}\n", r.host));
            let base = repository_base(l, r);
            rprofile.push_str(&format!(
                "local({{ r <- getOption(\"repos\"); r[\"CRAN\"] <- \"{base}{cran}\"; options(repos = r) }})\n",
                cran = haven_core::paths::CRAN
            ));
            condarc.push_str(&format!(
                "channel_alias: {base}{conda}\ndefault_channels: []\nchannels:\n  - conda-forge\n",
                conda = haven_core::paths::CONDA
            ));
            if let Some(ca) = &r.ca_pem {
                condarc.push_str("ssl_verify: /run/haven/ca.pem\n");
                files.push(("ca.pem", ca.clone()));
            }
        }
        // A user's own ~/.Rprofile still runs, after Haven's.
        rprofile.push_str("if (file.exists(\"~/.Rprofile\")) source(\"~/.Rprofile\")\n");
        files.push(("hosts", hosts));
        // The session's identities by name (a shell says who it is; R's Sys.info(), Python's
        // getpass and git ask), and none of the host's accounts.
        files.push(("passwd", format!(
            "{user}:x:{uid}:{gid}:{user}:/drives/N:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
            user = l.owner, uid = uid, gid = gid
        )));
        files.push((
            "group",
            format!("{asset}:x:{gid}:\n{user}:x:{uid}:\nnogroup:x:65534:\n", asset = l.asset, user = l.owner),
        ));
        files.push(("Rprofile", rprofile));
        files.push(("condarc", condarc));
        let web = l.app.kind == AppKind::Web;
        let socket_dir = l.app.kind != AppKind::Terminal;
        if l.app.kind == AppKind::Desktop {
            files.push(("openbox.xml", OPENBOX_CONFIG.to_string()));
        }
        if web {
            files.push(("jupyter/jupyter_server_config.json", jupyter_config(&l.id)));
            files.push(("jupyter/labconfig/page_config.json", JUPYTERLAB_PAGE_CONFIG.to_string()));
        }
        let dir2 = dir.to_path_buf();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir2.parent().unwrap_or(&dir2))?;
            std::fs::DirBuilder::new().mode(0o700).create(&dir2)?;
            if socket_dir {
                std::fs::DirBuilder::new().mode(0o700).create(dir2.join(WEB_DIR))?;
                std::os::unix::fs::chown(dir2.join(WEB_DIR), Some(uid), Some(gid))?;
            }
            if web {
                // The socket's folder is the session's to write; Jupyter's configuration is
                // made read-only once written (below).
                for sub in ["jupyter", "jupyter/labconfig"] {
                    std::fs::DirBuilder::new().mode(0o700).create(dir2.join(sub))?;
                    std::os::unix::fs::chown(dir2.join(sub), Some(uid), Some(gid))?;
                }
            }
            for (name, text) in files {
                let path = dir2.join(name);
                let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o400).open(&path)?;
                std::io::Write::write_all(&mut f, text.as_bytes())?;
                std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
            }
            std::os::unix::fs::chown(&dir2, Some(uid), Some(gid))?;
            if web {
                for sub in ["jupyter/labconfig", "jupyter"] {
                    std::fs::set_permissions(dir2.join(sub), std::fs::Permissions::from_mode(0o500))?;
                }
            }
            std::fs::set_permissions(&dir2, std::fs::Permissions::from_mode(0o500))
        })
        .await
        .map_err(|e| BackendError::Failed(e.to_string()))?
        .map_err(failed("the session's run directory could not be made"))?;
        let Some(r) = &repository else { return Ok(None) };
        if runs != Runs::Here {
            // A socket here does not reach a compute node: the bridge there makes it, and its
            // connections come back through the bridge.
            return Ok(Some(tokio::spawn(r.gate.clone().carry(dir.to_path_buf(), l.id.clone()))));
        }
        let socket = dir.join(crate::slurm::REPOSITORY_SOCKET);
        let listener = tokio::net::UnixListener::bind(&socket).map_err(failed("the repository socket"))?;
        std::os::unix::fs::chown(&socket, Some(uid), Some(gid)).map_err(failed("the repository socket"))?;
        Ok(Some(tokio::spawn(answer(listener, r.gate.clone(), l.id.clone()))))
    }

    /// The sandbox's command for `l` (the application's command after `wrap`), with its run
    /// directory made and the repository's socket answered until the [`Cleanup`] is dropped.
    /// Off this host (`runs`: a job or terminal under its scheduler's limits) without this
    /// host's control groups; a terminal on Slurm in the session srun made for it (see
    /// [`Spec::new_session`]).
    async fn sandbox_with(
        &self,
        l: &Launch,
        wrap: &[&str],
        runs: Runs,
    ) -> Result<(std::process::Command, Cleanup), BackendError> {
        let groups = runs == Runs::Here;
        if !crate::runner::running_as_root() {
            return Err(BackendError::Unavailable(
                "Haven is not running as root here, so a session cannot have an identity of its own; the \
                 operator must run haven serve as root (haven sandbox check says what else is needed)"
                    .into(),
            ));
        }
        // The host's /usr and /opt are what the sandbox sees: a program missing here is missing there.
        let program = l.app.command.first().map(PathBuf::from).unwrap_or_default();
        let runnable = std::fs::metadata(&program)
            .is_ok_and(|m| m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0);
        if !runnable {
            return Err(BackendError::Failed(format!(
                "{} {} cannot start: {} is not installed on this host (the service desk can install it, or take \
                 the version out of the catalogue)",
                l.app.name,
                l.app.version,
                program.display()
            )));
        }
        let run_dir = self.config.run_root.join(&l.id);
        let forwarder = self.prepare_run_dir(l, &run_dir, runs).await;
        let forwarder = match forwarder {
            Ok(f) => f,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&run_dir);
                return Err(e);
            }
        };
        // From here on, whatever fails leaves nothing: the cleanup removes what was made.
        let mut cleanup = Cleanup { run_dir: run_dir.clone(), forwarder, group: None };
        let memory_bytes = l.config.memory_gib.saturating_mul(1 << 30);
        if let Some(groups) = self.config.groups.as_ref().filter(|_| groups) {
            let limits = crate::cgroup::GroupLimits { memory_bytes, processes: l.config.processes };
            let made = groups.make(&l.id, limits).map_err(failed("the session's control group could not be made"))?;
            cleanup.group = Some(made);
        }
        let procs = cleanup.group.as_ref().map(crate::cgroup::SessionGroup::procs).unwrap_or_default();
        let mut argv = vec!["/bin/sh".to_string(), "-c".into(), START.into(), "haven-session".into()];
        argv.extend(wrap.iter().map(|w| w.to_string()));
        argv.extend(l.app.command.iter().cloned());
        let mut binds = vec![
            Bind { host: self.drive_path(&l.home), inside: "/drives/N".into(), writable: true },
            Bind { host: self.drive_path(&l.shared), inside: "/drives/S".into(), writable: true },
            Bind { host: self.drive_path(&l.outputs), inside: "/drives/outputs".into(), writable: true },
            Bind { host: run_dir.clone(), inside: "/run/haven".into(), writable: false },
        ];
        if l.app.kind != AppKind::Terminal {
            binds.push(Bind { host: run_dir.join(WEB_DIR), inside: format!("/run/haven/{WEB_DIR}"), writable: true });
        }
        let spec = Spec {
            argv,
            identity: Identity { uid: l.identity.uid, gid: l.identity.gid },
            binds,
            workdir: "/drives/N".into(),
            env: self.environment(l),
            limits: Limits {
                memory_bytes,
                processes: l.config.processes,
                cpu_secs: 0,
                scratch_bytes: l.config.scratch_mib.saturating_mul(1 << 20),
            },
            etc: vec![
                (run_dir.join("hosts"), "hosts"),
                (run_dir.join("passwd"), "passwd"),
                (run_dir.join("group"), "group"),
            ],
            groups: procs,
            new_session: runs != Runs::SlurmSession,
        };
        let tools = self.config.tools.as_ref().ok_or_else(|| {
            BackendError::Unavailable("this host has no sandbox for sessions (haven sandbox check says why)".into())
        })?;
        // Building it asks the name service about the ids (getent): off the async threads.
        let tools = tools.clone();
        let built = tokio::task::spawn_blocking(move || command(&tools, &spec))
            .await
            .map_err(|e| BackendError::Failed(e.to_string()))?;
        let cmd = built.map_err(|e| BackendError::Unavailable(e.to_string()))?;
        Ok((cmd, cleanup))
    }
}

/// `https://USER:TOKEN@HOST:PORT`: the repository as the session's clients reach it.
fn repository_base(l: &Launch, r: &Repository) -> String {
    format!("https://{}:{}@{}:{}", l.repository_user, l.repository_token.as_str(), r.host, r.port)
}

/// Milliseconds since `epoch`, for the idle clock.
fn millis_since(epoch: Instant) -> i64 {
    i64::try_from(epoch.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// Each connection to the session's socket, answered by the gate, a few at a time.
async fn answer(listener: tokio::net::UnixListener, gate: Arc<dyn Gate>, session: String) {
    let permits = Arc::new(tokio::sync::Semaphore::new(REPOSITORY_CONNECTIONS));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        let Ok((inside, _)) = listener.accept().await else { return };
        let (gate, session) = (gate.clone(), session.clone());
        tokio::spawn(async move {
            let _permit = permit;
            gate.serve(Box::new(inside), &session).await;
        });
    }
}

fn outcome(status: std::io::Result<std::process::ExitStatus>) -> Outcome {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => Outcome::Exited(code),
            (None, Some(sig)) => Outcome::Signalled(sig),
            (None, None) => Outcome::Exited(-1),
        },
        Err(_) => Outcome::Exited(-1),
    }
}

#[async_trait]
impl SessionBackend for LocalBackend {
    fn name(&self) -> &str {
        &self.config.name
    }

    async fn launch(&self, l: Launch) -> Result<(), BackendError> {
        // The shell gets the terminal as its own (job control, Ctrl-C) in the session the
        // sandbox made for it. A web application's or a desktop's log goes to the terminal too:
        // what it printed last is what its owner sees if it stops at once.
        let wrap: &[&str] = if l.app.kind == AppKind::Desktop {
            for needed in [XVNC, WINDOW_MANAGER] {
                if !Path::new(needed).is_file() {
                    return Err(BackendError::Unavailable(format!(
                        "a desktop needs {needed} on this host (Debian's tigervnc-standalone-server and openbox); \
                         the service desk can install them"
                    )));
                }
            }
            &["/bin/sh", "-c", DESKTOP, "haven-desktop"]
        } else {
            &["/usr/bin/setsid", "--ctty", "--wait"]
        };
        // A session on Slurm: the same sandbox, started on a compute node by `srun --pty`,
        // whose terminal srun relays to the one here (the cluster's limits, not this host's); a
        // web session's or desktop's socket there reached through Haven's bridge beside it.
        let on_slurm = self.config.slurm.clone().filter(|s| match l.app.kind {
            AppKind::Terminal => s.terminals,
            AppKind::Web | AppKind::Desktop => s.applications,
        });
        // srun's terminal is already the controlling terminal of the job's session: the program
        // keeps it there (no session of its own, no setsid; a desktop's start needs none).
        let (wrap, runs) = match (&on_slurm, l.app.kind) {
            (None, _) => (wrap, Runs::Here),
            (Some(_), AppKind::Desktop) => (wrap, Runs::SlurmSession),
            (Some(_), _) => (&[][..], Runs::SlurmSession),
        };
        let (cmd, cleanup) = self.sandbox_with(&l, wrap, runs).await?;
        let run_dir = self.config.run_root.join(&l.id);
        let socket = match l.app.kind {
            AppKind::Terminal => None,
            AppKind::Web => Some(run_dir.join(WEB_DIR).join(WEB_SOCKET)),
            AppKind::Desktop => Some(run_dir.join(WEB_DIR).join(DESKTOP_SOCKET)),
        };
        let slurm_job = on_slurm.map(|slurm| (slurm, self.slurm_name(&l.id)));
        let mut cmd = match &slurm_job {
            None => cmd,
            Some((slurm, name)) => {
                let (dir, identity) = (cleanup.run_dir.clone(), (l.identity.uid, l.identity.gid));
                let bridge = self.bridging(slurm, socket.clone());
                let script = tokio::task::spawn_blocking(move || {
                    crate::slurm::write_session_files(&dir, &cmd, identity, bridge.as_ref())
                })
                .await
                .map_err(|e| BackendError::Failed(e.to_string()))?
                .map_err(failed("the session's files for Slurm could not be written"))?;
                slurm.interactive(&script, name, l.deadline_secs.div_ceil(60), l.config.memory_gib)
            }
        };
        let (pty_out, pty, terminal) = pty::open().map_err(failed("no terminal could be opened"))?;
        let clone = |fd: &OwnedFd| fd.try_clone().map_err(failed("no terminal could be opened"));
        cmd.stdin(clone(&terminal)?).stdout(clone(&terminal)?).stderr(terminal);
        let mut cmd = tokio::process::Command::from(cmd);
        cmd.kill_on_drop(true);
        let mut child = cmd.spawn().map_err(failed("the sandbox could not start"))?;
        // The terminal side's last copies are the child's: the master reads EOF when it ends.
        drop(cmd);
        let (kill_tx, kill_rx) = oneshot::channel();
        let (ended_tx, ended_rx) = tokio::sync::watch::channel(false);
        let (output, _) = broadcast::channel(256);
        let running = Arc::new(Running {
            pty: Some(Arc::new(pty)),
            output,
            backlog: Mutex::new(VecDeque::with_capacity(BACKLOG_BYTES)),
            last_active_ms: AtomicI64::new(self.now_ms()),
            viewers: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            kill: Mutex::new(Some(kill_tx)),
            ended: ended_rx,
            web: socket.map(|path| match &slurm_job {
                None => WebEndpoint::Unix { path, uid: l.identity.uid, gid: l.identity.gid },
                Some(_) => WebEndpoint::Bridged { endpoint: run_dir.join(crate::slurm::BRIDGE_ENDPOINT) },
            }),
        });
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(l.id.clone(), running.clone());
        let pumping = tokio::spawn(pump(pty_out, running.clone(), self.epoch));
        let (sessions, ends, id, last) = (self.sessions.clone(), self.ends_tx.clone(), l.id.clone(), self.last.clone());
        tokio::spawn(async move {
            let status = tokio::select! {
                s = child.wait() => s,
                _ = kill_rx => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            // What it printed last is read before it is kept (the terminal reads its end once
            // every program holding it has gone; a program left holding it is not waited for).
            let _ = tokio::time::timeout(Duration::from_secs(1), pumping).await;
            // srun killed does not end its job: Slurm is told, by the job's exact name.
            if let Some((slurm, name)) = &slurm_job {
                slurm.cancel_named(std::slice::from_ref(name)).await;
            }
            drop(cleanup);
            let gone = sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&id);
            if let Some(r) = gone {
                let shown: Bytes = {
                    let b = r.backlog.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    b.iter().copied().collect::<Vec<u8>>().into()
                };
                let mut last = last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                last.retain(|(_, at, _)| at.elapsed() < LAST_OUTPUT_FOR);
                if last.len() >= LAST_OUTPUT_SESSIONS {
                    last.pop_front();
                }
                last.push_back((id.clone(), Instant::now(), shown));
            }
            let _ = ended_tx.send(true);
            let _ = ends.unbounded_send((id, outcome(status)));
        });
        Ok(())
    }

    async fn run_job(&self, l: Launch, job: Drive) -> Result<Outcome, BackendError> {
        if let Some(slurm) = self.config.slurm.clone() {
            return self.run_job_on_slurm(&slurm, l, job).await;
        }
        let folder = self.drive_path(&job);
        let (script, log) = tokio::task::spawn_blocking(move || job_files(&folder))
            .await
            .map_err(|e| BackendError::Failed(e.to_string()))?
            .map_err(failed("the job's folder could not be opened"))?;
        let (mut cmd, cleanup) = self.sandbox_with(&l, &[], Runs::Here).await?;
        let (reader, writer) = std::io::pipe().map_err(failed("no pipe"))?;
        let (reader, writer) = (OwnedFd::from(reader), OwnedFd::from(writer));
        let clone = |fd: &OwnedFd| fd.try_clone().map_err(failed("no pipe"));
        cmd.stdin(script).stdout(clone(&writer)?).stderr(writer);
        let mut cmd = tokio::process::Command::from(cmd);
        cmd.kill_on_drop(true);
        let mut child = cmd.spawn().map_err(failed("the sandbox could not start"))?;
        // The pipe's writing end is now the job's alone: its reader sees the end when the job's
        // last process is gone.
        drop(cmd);
        let output = receiver(reader)?;
        let (note_tx, note_rx) = oneshot::channel();
        let logging = tokio::spawn(keep_log(output, tokio::fs::File::from_std(log), note_rx));
        let (_registered, kill_rx) = self.register_job(&l.id);
        let deadline = job_deadline(l.deadline_secs);
        let ended = tokio::select! {
            s = child.wait() => outcome(s),
            _ = kill_rx => {
                let _ = child.start_kill();
                outcome(child.wait().await)
            }
            _ = deadline => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                Outcome::OverTime(l.deadline_secs)
            }
        };
        // A process the kernel killed for the session's memory limit: said at the log's end.
        if let Some(kills @ 1..) = cleanup.group.as_ref().and_then(crate::cgroup::SessionGroup::out_of_memory_kills) {
            let _ = note_tx.send(format!(
                "\n[Haven: {kills} process(es) of this job were stopped for using more than the {} GiB of memory a \
                 job may use (sessions.memory_gib)]\n",
                l.config.memory_gib
            ));
        }
        drop(cleanup);
        // What it printed last is in the log before its end is recorded.
        let _ = tokio::time::timeout(Duration::from_secs(10), logging).await;
        Ok(ended)
    }

    async fn stop(&self, id: &str) -> Result<bool, BackendError> {
        let Some(running) = self.running(id) else { return Ok(false) };
        if let Some(kill) = running.kill.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            let _ = kill.send(());
        }
        let mut ended = running.ended.clone();
        let _ = tokio::time::timeout(Duration::from_secs(10), ended.wait_for(|e| *e)).await;
        Ok(true)
    }

    async fn terminal(&self, id: &str) -> Result<TerminalLink, BackendError> {
        let running = self.running(id).ok_or(BackendError::NotRunning)?;
        let pty = running.pty.clone().ok_or(BackendError::NotRunning)?;
        let generation = running.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let receiver = running.output.subscribe();
        let backlog: Bytes = {
            let b = running.backlog.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            b.iter().copied().collect::<Vec<u8>>().into()
        };
        running.viewers.fetch_add(1, Ordering::SeqCst);
        let view = View { running: running.clone(), generation, receiver };
        let output = futures::stream::unfold(view, |mut v| async move {
            loop {
                if v.running.generation.load(Ordering::SeqCst) != v.generation {
                    return None;
                }
                let mut ended = v.running.ended.clone();
                let next = tokio::select! {
                    next = v.receiver.recv() => next,
                    _ = ended.wait_for(|e| *e) => return None,
                };
                match next {
                    Ok(bytes) => return Some((bytes, v)),
                    // A slow browser missed some output; the screen catches up with what follows.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .boxed();
        let epoch = self.epoch;
        Ok(TerminalLink { backlog, output, input: Box::new(Keys { pty, running, epoch }) })
    }

    fn web_endpoint(&self, id: &str) -> Option<WebEndpoint> {
        self.running(id)?.web.clone()
    }

    fn touch(&self, id: &str) {
        if let Some(running) = self.running(id) {
            running.last_active_ms.store(self.now_ms(), Ordering::SeqCst);
        }
    }

    fn idle_us(&self, id: &str) -> Option<i64> {
        let running = self.running(id)?;
        Some((self.now_ms() - running.last_active_ms.load(Ordering::SeqCst)).max(0) * 1000)
    }

    fn last_output(&self, id: &str) -> Option<Bytes> {
        let last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        last.iter().find(|(i, at, _)| i == id && at.elapsed() < LAST_OUTPUT_FOR).map(|(_, _, b)| b.clone())
    }

    fn running(&self) -> Vec<String> {
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).keys().cloned().collect()
    }

    fn ends(&self) -> Option<BoxStream<'static, (String, Outcome)>> {
        let rx = self.ends_rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()?;
        Some(rx.boxed())
    }

    /// The departed node's jobs on Slurm, by their exact names (its backend's prefix and the
    /// job's id): a node back under the same name meanwhile has other jobs.
    async fn cancel_departed(&self, backend: &str, job_ids: &[String]) {
        if let Some(slurm) = &self.config.slurm
            && backend != self.config.name
        {
            let names: Vec<String> = job_ids.iter().map(|id| format!("{}{id}", slurm_prefix(backend))).collect();
            slurm.cancel_named(&names).await;
        }
    }
}

/// What the names of a node's jobs on Slurm begin with: `haven_<backend, in hex>_`, which no
/// other node's can begin with.
pub fn slurm_prefix(backend: &str) -> String {
    format!("haven_{}_", hex::encode(backend.as_bytes()))
}

/// Removes the run directory (its token-bearing configuration) and stops the repository
/// forwarder when the session ends, however it ends.
struct Cleanup {
    run_dir: PathBuf,
    forwarder: Option<tokio::task::JoinHandle<()>>,
    /// Removed when dropped, after the run directory (the group outlives the program's end).
    group: Option<crate::cgroup::SessionGroup>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(f) = self.forwarder.take() {
            f.abort();
        }
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}

/// A job's place among the running: removed, and its end told to `stop`, when its run ends.
struct Registered {
    sessions: Arc<Mutex<HashMap<String, Arc<Running>>>>,
    id: String,
    ended: tokio::sync::watch::Sender<bool>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.id);
        let _ = self.ended.send(true);
    }
}

/// The job's script (its standard input) and a new, empty log, opened in its folder without
/// following links.
fn job_files(folder: &Path) -> std::io::Result<(std::fs::File, std::fs::File)> {
    use haven_core::workspaces::jobs::{LOG_FILE, SCRIPT_FILE};
    use rustix::fs::{Mode, OFlags};
    let at = rustix::fs::open(
        folder,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let script =
        rustix::fs::openat(&at, SCRIPT_FILE, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
    let log = rustix::fs::openat(
        &at,
        LOG_FILE,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    Ok((script.into(), log.into()))
}

/// The reading end of a pipe, non-blocking, for tokio.
fn receiver(reader: OwnedFd) -> Result<tokio::net::unix::pipe::Receiver, BackendError> {
    let flags = rustix::fs::fcntl_getfl(&reader).map_err(|e| failed("no pipe")(e.into()))?;
    rustix::fs::fcntl_setfl(&reader, flags | rustix::fs::OFlags::NONBLOCK).map_err(|e| failed("no pipe")(e.into()))?;
    tokio::net::unix::pipe::Receiver::from_owned_fd(reader).map_err(failed("no pipe"))
}

/// When a job's time is up (never for 0).
async fn job_deadline(secs: u64) {
    match secs {
        0 => std::future::pending().await,
        secs => tokio::time::sleep(Duration::from_secs(secs)).await,
    }
}

/// Copy the growing file `path` (a Slurm job's output) into `to` until `done`, then what is
/// left; waits for the file to appear (the job may not have started yet).
async fn follow(path: PathBuf, to: std::fs::File, mut done: tokio::sync::watch::Receiver<bool>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut to = tokio::fs::File::from_std(to);
    let mut from: Option<tokio::fs::File> = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let finished = *done.borrow();
        if from.is_none() {
            from = tokio::fs::File::open(&path).await.ok();
        }
        let mut moved = 0;
        if let Some(f) = from.as_mut() {
            while let Ok(n @ 1..) = f.read(&mut buf).await {
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
                moved += n;
            }
        }
        if finished {
            return;
        }
        if moved == 0 {
            let _ = tokio::time::timeout(Duration::from_millis(250), done.changed()).await;
        }
    }
}

/// Cancels a Slurm job if the run that submitted it is dropped before it ended.
struct CancelOnDrop {
    slurm: Option<crate::slurm::Slurm>,
    id: String,
}

impl CancelOnDrop {
    fn disarm(mut self) {
        self.slurm = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        // Blocking, so that it is done even as the runtime shuts down.
        if let Some(slurm) = self.slurm.take() {
            slurm.cancel_now(&self.id);
        }
    }
}

/// Writes what a job prints to its log, up to [`LOG_BYTES`], then says what was left out and
/// `note`; reads on to the end either way, so that the job never blocks on a full pipe.
async fn keep_log(
    mut output: tokio::net::unix::pipe::Receiver,
    mut log: tokio::fs::File,
    note: oneshot::Receiver<String>,
) {
    use haven_core::workspaces::jobs::LOG_BYTES;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    let (mut kept, mut dropped) = (0u64, 0u64);
    loop {
        let n = match output.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let room = usize::try_from(LOG_BYTES.saturating_sub(kept)).unwrap_or(usize::MAX).min(n);
        if room > 0 && log.write_all(&buf[..room]).await.is_ok() {
            kept += room as u64;
            dropped += (n - room) as u64;
        } else {
            // Past the cap, or the disk refused it: either way not kept, and counted.
            dropped += n as u64;
        }
    }
    if dropped > 0 {
        let note = format!(
            "\n[Haven: {dropped} more bytes of output were not kept: a log keeps at most {} MiB]\n",
            LOG_BYTES >> 20
        );
        let _ = log.write_all(note.as_bytes()).await;
    }
    // Haven's own last word (why the job ended), when it has one; the sender is dropped otherwise.
    if let Ok(note) = note.await {
        let _ = log.write_all(note.as_bytes()).await;
    }
    let _ = log.flush().await;
    let _ = log.sync_all().await;
}

/// One browser's view: counted while it lasts (a watched session is not idle).
struct View {
    running: Arc<Running>,
    generation: u64,
    receiver: broadcast::Receiver<Bytes>,
}

impl Drop for View {
    fn drop(&mut self) {
        self.running.viewers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The terminal's output, kept as backlog and sent to whoever watches, until it ends.
async fn pump(mut pty: PtyOutput, running: Arc<Running>, epoch: Instant) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match pty.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let chunk = Bytes::copy_from_slice(&buf[..n]);
        {
            let mut backlog = running.backlog.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            backlog.extend(chunk.iter().copied());
            let excess = backlog.len().saturating_sub(BACKLOG_BYTES);
            backlog.drain(..excess);
        }
        // Output someone is watching is use; output to an unwatched tab is not (a tab left open
        // on a busy session must not keep it alive for ever).
        if running.viewers.load(Ordering::SeqCst) > 0 {
            running.last_active_ms.store(millis_since(epoch), Ordering::SeqCst);
        }
        let _ = running.output.send(chunk);
    }
}

struct Keys {
    pty: Arc<PtyInput>,
    running: Arc<Running>,
    epoch: Instant,
}

#[async_trait]
impl TerminalSink for Keys {
    async fn send(&self, input: TerminalInput) -> Result<(), BackendError> {
        if *self.running.ended.borrow() {
            return Err(BackendError::NotRunning);
        }
        self.running.last_active_ms.store(millis_since(self.epoch), Ordering::SeqCst);
        match input {
            TerminalInput::Data(bytes) => {
                self.pty.write_all(&bytes).await.map_err(|e| BackendError::Failed(e.to_string()))
            }
            TerminalInput::Resize { cols, rows } => {
                self.pty.resize(cols.max(2), rows.max(1)).await.map_err(|e| BackendError::Failed(e.to_string()))
            }
        }
    }
}
