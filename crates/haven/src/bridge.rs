//! `haven sandbox bridge`: Haven starts it on a compute node, beside a web session or desktop
//! run as a Slurm job, as Open OnDemand's jobs start their application on a port of the node.
//! The application itself listens only on its socket in the sandbox (it has no network); the
//! bridge, outside the sandbox, listens on a port of the node and relays each connection that
//! proves to be Haven's to that socket:
//!
//! - TLS with a key the bridge makes as it starts (it never leaves its memory); Haven accepts
//!   exactly that certificate, whose SHA-256 the bridge writes beside its address into the
//!   session's run directory (root's alone, on storage the nodes share);
//! - the connection's first 32 bytes must be the secret Haven wrote there for this session
//!   (compared in constant time): anyone else on the cluster's network is closed on;
//! - the socket is opened as Haven opens a local session's: not through a link, a socket of
//!   the session's own, whose listening process has the session's identities; one byte tells
//!   Haven whether it was, and then the bytes flow both ways.
//!
//! It ends with the job (Slurm ends the job step's processes), and of itself when the script
//! that started it has gone.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use haven_sandbox::slurm::{BRIDGE_ENDPOINT, BRIDGE_SECRET};
use haven_web::reach::{NOT_YET, REACHED, SECRET_BYTES, Unreachable, WRONG_PEER, connect_unix};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zeroize::Zeroizing;

/// How long a connection has to finish TLS and send the secret.
const OPENING_WITHIN: Duration = Duration::from_secs(10);
/// Connections relayed at once (a JupyterLab page opens a few dozen).
const CONNECTIONS: usize = 256;

pub struct Bridge {
    pub run_dir: PathBuf,
    pub socket: PathBuf,
    pub uid: u32,
    pub gid: u32,
}

impl Bridge {
    pub async fn run(self) -> Result<i32> {
        let secret = Zeroizing::new(
            std::fs::read(self.run_dir.join(BRIDGE_SECRET))
                .with_context(|| format!("the session's secret in {}", self.run_dir.display()))?,
        );
        if secret.len() != SECRET_BYTES {
            return Err(anyhow!("the session's secret is not {SECRET_BYTES} bytes"));
        }
        let key = rcgen::KeyPair::generate().context("a key for the bridge")?;
        let cert = rcgen::CertificateParams::new(vec!["haven-session-bridge".to_string()])
            .context("the bridge's certificate")?
            .self_signed(&key)
            .context("the bridge's certificate")?;
        let der = CertificateDer::from(cert.der().to_vec());
        let fingerprint = hex::encode(haven_crypto::sha256(der.as_ref()));
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_single_cert(vec![der], private)
            .context("the bridge's TLS")?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

        // Any address of the node, on a port the system picks; Haven finds it by the node's name.
        let listener = match tokio::net::TcpListener::bind("[::]:0").await {
            Ok(l) => l,
            Err(_) => tokio::net::TcpListener::bind("0.0.0.0:0").await.context("a port for the bridge")?,
        };
        let port = listener.local_addr().context("the bridge's port")?.port();
        let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
        publish(&self.run_dir, &format!("{host} {port} {fingerprint}\n"))?;

        let started_by = rustix::process::getppid();
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
                    let Ok((tcp, _)) = accepted else { continue };
                    let Ok(permit) = permits.clone().try_acquire_owned() else { continue };
                    let (acceptor, this, secret) = (acceptor.clone(), this.clone(), secret.clone());
                    tokio::spawn(async move {
                        let _permit = permit;
                        this.relay(acceptor, tcp, &secret).await;
                    });
                }
            }
        }
    }

    /// One connection: TLS, Haven's secret, then both ways to the application's socket.
    async fn relay(&self, acceptor: tokio_rustls::TlsAcceptor, tcp: tokio::net::TcpStream, secret: &[u8]) {
        let _ = tcp.set_nodelay(true);
        let opening = async {
            let mut tls = acceptor.accept(tcp).await.ok()?;
            let mut said = Zeroizing::new([0u8; SECRET_BYTES]);
            tls.read_exact(&mut said[..]).await.ok()?;
            Some((tls, said))
        };
        let Ok(Some((mut tls, said))) = tokio::time::timeout(OPENING_WITHIN, opening).await else { return };
        if !haven_crypto::ct_eq(&said[..], secret) {
            tracing::warn!("a connection to the session's bridge did not send Haven's secret; closed");
            return;
        }
        // Haven is told whether the application was reached, as a local socket's connect says.
        let mut app = match connect_unix(&self.socket, self.uid, self.gid).await {
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
