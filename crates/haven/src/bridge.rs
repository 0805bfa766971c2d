//! `haven sandbox bridge`: Haven starts it on a compute node, beside a job or session run on
//! Slurm, as Open OnDemand's jobs start their application on a port of the node.
//! The application itself listens only on its socket in the sandbox (it has no network); the
//! bridge, outside the sandbox, listens on a port of the node and relays each connection that
//! proves to be Haven's to that socket:
//!
//! - TLS with a key the bridge makes as it starts (it never leaves its memory); Haven accepts
//!   exactly that certificate, whose SHA-256 the bridge writes beside its address into the
//!   session's run directory (root's alone, on storage the nodes share);
//! - and Haven proves itself in the same handshake, with a key that never leaves Haven's memory:
//!   the bridge accepts only the certificate whose SHA-256 Haven wrote into the run directory
//!   for it. Nothing on the shared storage is a secret: reading it lets nobody in, and anyone
//!   else on the cluster's network fails the handshake;
//! - the socket is opened as Haven opens a local session's: not through a link, a socket of
//!   the session's own, whose listening process has the session's identities; one byte tells
//!   Haven whether it was, and then the bytes flow both ways.
//!
//! The package repository goes the other way: the bridge makes the sandbox's repository socket
//! on the compute node (Haven's own, on its node, would not reach it), and Haven keeps a few
//! connections open to the bridge, each waiting to carry one of the sandbox's connections back
//! to Haven's gate ([`carry`]), which serves it as it serves a local session's socket. Haven
//! dials out to the compute nodes only, as for the application: they need not reach Haven.
//!
//! It ends with the job (Slurm ends the job step's processes), and of itself when the script
//! that started it has gone.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use haven_sandbox::slurm::{BRIDGE_ENDPOINT, BRIDGE_HAVEN};
use haven_web::reach::{
    APPLICATION, CARRIER, GO, NOT_YET, REACHED, Unreachable, WRONG_PEER, connect_unix, open_bridge,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a connection has to finish TLS and say what it is for (Haven takes milliseconds).
const OPENING_WITHIN: Duration = Duration::from_secs(3);
/// Connections still opening at once: anyone on the cluster's network can open one, so they
/// are counted apart from Haven's, which hold the others.
const OPENING: usize = 64;
/// Connections relayed at once (a JupyterLab page opens a few dozen), carriers at work included.
const CONNECTIONS: usize = 256;

pub struct Bridge {
    pub run_dir: PathBuf,
    /// The application's socket, if it has one.
    pub socket: Option<PathBuf>,
    /// Make the sandbox's repository socket, carried back to Haven.
    pub repository: bool,
    pub uid: u32,
    pub gid: u32,
}

/// Carriers Haven keeps waiting at a bridge, and at most this many are kept there.
const IDLE_CARRIERS: usize = 4;
/// How long a connection from the sandbox waits for a carrier: Haven finds the bridge by its
/// address file on shared storage, which a node's cache may show late (up to a minute on NFS
/// with the default attribute cache).
const CARRIER_WITHIN: Duration = Duration::from_secs(90);
/// The sandbox's connections to the repository at once (as a local session's socket allows).
const REPOSITORY_CONNECTIONS: usize = 32;

type Carrier = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;

impl Bridge {
    pub async fn run(self) -> Result<i32> {
        // Gone with what started it (the job's script): told by the kernel, and checked below
        // in case it went before this was said.
        let started_by = rustix::process::getppid();
        let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM));
        let haven = std::fs::read_to_string(self.run_dir.join(BRIDGE_HAVEN))
            .with_context(|| format!("which Haven to accept, in {}", self.run_dir.display()))?;
        let haven: [u8; 32] = hex::decode(haven.trim())
            .ok()
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| anyhow!("{BRIDGE_HAVEN} is not a SHA-256 in hex"))?;
        let key = haven_web::pinned::MemoryKey::generate("haven-session-bridge").map_err(|e| anyhow!(e))?;
        let fingerprint = hex::encode(key.fingerprint);
        let (chain, private) = key.identity();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // Only the Haven that started the session finishes the handshake.
        let only_haven = haven_web::pinned::Pinned::new(haven, &provider);
        let tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_client_cert_verifier(Arc::new(only_haven))
            .with_single_cert(chain, private)
            .context("the bridge's TLS")?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

        let listener = listen().context("a port for the bridge")?;
        let port = listener.local_addr().context("the bridge's port")?.port();
        let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
        let (idle, waiting) = tokio::sync::mpsc::channel::<Carrier>(IDLE_CARRIERS);
        if self.repository {
            let socket = self.run_dir.join(haven_sandbox::slurm::REPOSITORY_SOCKET);
            let listener = tokio::net::UnixListener::bind(&socket)
                .with_context(|| format!("the repository socket {}", socket.display()))?;
            std::os::unix::fs::chown(&socket, Some(self.uid), Some(self.gid)).context("the repository socket")?;
            tokio::spawn(repository(listener, waiting));
        }
        // Last: the script that started the bridge waits for this before starting the sandbox.
        publish(&self.run_dir, &format!("{host} {port} {fingerprint}\n"))?;

        let opening = Arc::new(tokio::sync::Semaphore::new(OPENING));
        let permits = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS));
        let this = Arc::new(self);
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    if rustix::process::getppid() != started_by {
                        return Ok(0);
                    }
                }
                accepted = listener.accept() => {
                    let Ok((tcp, _)) = accepted else {
                        // Out of descriptors, say: not a busy loop.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    let Ok(opening) = opening.clone().try_acquire_owned() else { continue };
                    let (acceptor, this, idle, permits) =
                        (acceptor.clone(), this.clone(), idle.clone(), permits.clone());
                    tokio::spawn(async move {
                        this.relay(acceptor, tcp, idle, opening, permits).await;
                    });
                }
            }
        }
    }

    /// One connection: TLS in which Haven proved itself, what it is for; then both ways to the
    /// application's socket, or kept as a carrier for the repository.
    async fn relay(
        &self,
        acceptor: tokio_rustls::TlsAcceptor,
        tcp: tokio::net::TcpStream,
        idle: tokio::sync::mpsc::Sender<Carrier>,
        opening: tokio::sync::OwnedSemaphorePermit,
        permits: Arc<tokio::sync::Semaphore>,
    ) {
        let _ = tcp.set_nodelay(true);
        // A Haven gone without a word is noticed (a carrier can wait for hours).
        let _ = rustix::net::sockopt::set_socket_keepalive(&tcp, true);
        let _ = rustix::net::sockopt::set_tcp_keepidle(&tcp, Duration::from_secs(30));
        let _ = rustix::net::sockopt::set_tcp_keepintvl(&tcp, Duration::from_secs(30));
        let handshake = async {
            let mut tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => {
                    let not_haven = e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()).is_some_and(|e| {
                        matches!(e, rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
                    });
                    // Said once: what the bridge prints is the session's log its owner reads.
                    if not_haven && !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                        tracing::warn!("a connection to the session's bridge was not Haven's; closed (said once)");
                    }
                    return None;
                }
            };
            let mut purpose = [0u8];
            tls.read_exact(&mut purpose).await.ok()?;
            Some((tls, purpose[0]))
        };
        let Ok(Some((mut tls, purpose))) = tokio::time::timeout(OPENING_WITHIN, handshake).await else { return };
        drop(opening);
        let Ok(_permit) = permits.try_acquire_owned() else { return };
        match purpose {
            APPLICATION => {}
            // More waiting than wanted: this one is closed, and Haven opens it again later.
            CARRIER if self.repository => {
                let _ = idle.try_send(tls);
                return;
            }
            _ => return,
        }
        let Some(socket) = &self.socket else { return };
        // Haven is told whether the application was reached, as a local socket's connect says.
        let mut app = match connect_unix(socket, self.uid, self.gid).await {
            Ok(app) => app,
            Err(e) => {
                let answer = if matches!(e, Unreachable::WrongPeer) { WRONG_PEER } else { NOT_YET };
                let _ = tls.write_all(&[answer]).await;
                let _ = tls.shutdown().await;
                return;
            }
        };
        if tls.write_all(&[REACHED]).await.is_err() || tls.flush().await.is_err() {
            return;
        }
        let _ = tokio::io::copy_bidirectional(&mut tls, &mut app).await;
    }
}

/// Whether a connection that was not Haven's was reported.
static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A port on every address of the node, IPv4 and IPv6 alike (whatever the host's default for
/// IPv6 sockets), chosen by the system; IPv4 alone where the node has no IPv6.
fn listen() -> std::io::Result<tokio::net::TcpListener> {
    let dual = || -> std::io::Result<tokio::net::TcpListener> {
        let socket = tokio::net::TcpSocket::new_v6()?;
        rustix::net::sockopt::set_ipv6_v6only(&socket, false)?;
        socket.bind((std::net::Ipv6Addr::UNSPECIFIED, 0).into())?;
        socket.listen(1024)
    };
    dual().or_else(|_| {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind((std::net::Ipv4Addr::UNSPECIFIED, 0).into())?;
        socket.listen(1024)
    })
}

/// Each connection from the sandbox to its repository socket, carried to Haven by a waiting
/// carrier (told to go), a few at a time; none waiting within 10 s: closed.
async fn repository(listener: tokio::net::UnixListener, waiting: tokio::sync::mpsc::Receiver<Carrier>) {
    let permits = Arc::new(tokio::sync::Semaphore::new(REPOSITORY_CONNECTIONS));
    let waiting = Arc::new(tokio::sync::Mutex::new(waiting));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        let Ok((mut inside, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let waiting = waiting.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let deadline = tokio::time::Instant::now() + CARRIER_WITHIN;
            // A carrier whose Haven went away (its end already read, or its first write
            // failing) is passed over for the next.
            let mut carrier = loop {
                let next = tokio::time::timeout_at(deadline, async { waiting.lock().await.recv().await }).await;
                let Ok(Some(mut c)) = next else { return };
                let mut probe = [0u8; 1];
                let closed = tokio::time::timeout(Duration::ZERO, c.read(&mut probe)).await.is_ok();
                if !closed && c.write_all(&[GO]).await.is_ok() && c.flush().await.is_ok() {
                    break c;
                }
            };
            let _ = tokio::io::copy_bidirectional(&mut inside, &mut carrier).await;
        });
    }
}

/// Haven's side of the repository's carriers for the session in `run_dir`: a few connections
/// always waiting at its bridge; each, once told to go, served by `gate` as a connection from
/// the session's socket. Until dropped (the session's end).
pub async fn carry(gate: Arc<crate::gate::RepositoryGate>, run_dir: PathBuf, session: String) {
    let endpoint = run_dir.join(BRIDGE_ENDPOINT);
    let permits = Arc::new(tokio::sync::Semaphore::new(REPOSITORY_CONNECTIONS));
    let mut keepers = tokio::task::JoinSet::new();
    for _ in 0..IDLE_CARRIERS {
        let (gate, endpoint, session, permits) = (gate.clone(), endpoint.clone(), session.clone(), permits.clone());
        keepers.spawn(async move {
            let mut pause = Duration::from_millis(200);
            loop {
                let Ok(permit) = permits.clone().acquire_owned().await else { return };
                let waiting = async {
                    let mut carrier = open_bridge(&endpoint, CARRIER).await.ok()?;
                    let mut go = [0u8];
                    carrier.read_exact(&mut go).await.ok()?;
                    (go[0] == GO).then_some(carrier)
                };
                match waiting.await {
                    Some(carrier) => {
                        pause = Duration::from_millis(200);
                        let (gate, session) = (gate.clone(), session.clone());
                        tokio::spawn(async move {
                            let _permit = permit;
                            haven_sandbox::local::Gate::serve(&*gate, Box::new(carrier), &session).await;
                        });
                    }
                    // Not listening yet (the job is queued or starting), or gone: again, later.
                    None => {
                        drop(permit);
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(2));
                    }
                }
            }
        });
    }
    while keepers.join_next().await.is_some() {}
}

/// Write the bridge's address whole (Haven reads it at any moment): a new file, then renamed.
fn publish(run_dir: &Path, line: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let (partial, done) = (run_dir.join(format!("{BRIDGE_ENDPOINT}.partial")), run_dir.join(BRIDGE_ENDPOINT));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("{} could not be written", partial.display()))?;
    f.write_all(line.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&partial, &done).with_context(|| format!("{} could not be written", done.display()))?;
    Ok(())
}
