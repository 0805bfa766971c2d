//! How Haven reaches a session's application (a web session's server, a desktop's screen): its
//! socket on this host, or, for a session run as a Slurm job, the bridge Haven started beside it
//! on the compute node (`haven sandbox bridge`), which relays to the socket there after the same
//! checks. Both are one byte stream to the application's socket.

use std::path::Path;
use std::time::Duration;

use crate::pinned::MemoryKey;
use haven_core::workspaces::sessions::WebEndpoint;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How long the application (or its bridge) has to answer a connection.
pub(super) const CONNECT_WITHIN: Duration = Duration::from_secs(5);
/// What a connection to the bridge is for, its first byte: the application; or to carry one
/// connection from the sandbox to the package repository, when the bridge says [`GO`].
pub const APPLICATION: u8 = b'A';
pub const CARRIER: u8 = b'R';
pub const GO: u8 = b'G';
/// The bridge's answer to [`APPLICATION`], one byte: the application's socket was reached (then
/// the bytes flow), or not yet (nothing listens), or something not the session's listens there.
pub const REACHED: u8 = 1;
pub const NOT_YET: u8 = 0;
pub const WRONG_PEER: u8 = 2;

/// A connection to an application, wherever it runs.
pub trait AppIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AppIo for T {}
pub type AppStream = Box<dyn AppIo>;

/// Why an application was not reached.
#[derive(Debug)]
pub enum Unreachable {
    /// Nothing answers yet (still starting), or no longer: said as why, for the log.
    NotYet(String),
    /// Something answered that is not the session's: refused, and logged as an error.
    WrongPeer,
}

/// A connection to the application behind `endpoint`.
pub async fn connect(endpoint: &WebEndpoint) -> Result<AppStream, Unreachable> {
    match endpoint {
        WebEndpoint::Unix { path, uid, gid } => Ok(Box::new(connect_unix(path, *uid, *gid).await?)),
        WebEndpoint::Bridged { endpoint } => connect_bridged(endpoint).await,
    }
}

/// A connection to the socket at `path`, if it is a socket of `uid`'s and the process listening
/// on it has exactly these identities. Haven connects as root into a folder the session writes:
/// the name could be a link to another socket (another session's, a system daemon's) by the
/// time Haven connects, so the socket is opened without following links and checked first, and
/// its peer is checked after.
pub async fn connect_unix(path: &Path, uid: u32, gid: u32) -> Result<tokio::net::UnixStream, Unreachable> {
    use std::os::fd::AsRawFd;
    let not_yet = |e: &dyn std::fmt::Display| Unreachable::NotYet(e.to_string());
    let socket = rustix::fs::open(
        path,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| not_yet(&e))?;
    let stat = rustix::fs::fstat(&socket).map_err(|e| not_yet(&e))?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::Socket || stat.st_uid != uid {
        return Err(Unreachable::NotYet("not the session's socket".into()));
    }
    let by_descriptor = format!("/proc/self/fd/{}", socket.as_raw_fd());
    let stream = tokio::time::timeout(CONNECT_WITHIN, tokio::net::UnixStream::connect(&by_descriptor))
        .await
        .map_err(|_| Unreachable::NotYet("timed out".into()))?
        .map_err(|e| not_yet(&e))?;
    drop(socket);
    let peer = stream.peer_cred().map_err(|e| not_yet(&e))?;
    if (peer.uid(), peer.gid()) != (uid, gid) {
        tracing::error!(
            socket = %path.display(), peer_uid = peer.uid(), peer_gid = peer.gid(),
            "a session's socket led to a process that is not the session's; refused"
        );
        return Err(Unreachable::WrongPeer);
    }
    Ok(stream)
}

pub type BridgeStream = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// The key with which this Haven proves itself to its sessions' bridges, made in memory when
/// first needed; only its certificate's SHA-256 is written into a session's run directory for
/// the bridge to pin. (A bridge's sessions end when the Haven that started them stops, so no
/// other process needs it.)
pub fn haven_key() -> Result<&'static MemoryKey, String> {
    static KEY: std::sync::OnceLock<MemoryKey> = std::sync::OnceLock::new();
    if let Some(k) = KEY.get() {
        return Ok(k);
    }
    let made = MemoryKey::generate("haven")?;
    Ok(KEY.get_or_init(|| made))
}

/// TLS to the bridge whose address file is `endpoint` (to exactly the certificate named there,
/// proving this Haven with its [`haven_key`]), then what the connection is for (`purpose`).
pub async fn open_bridge(endpoint: &Path, purpose: u8) -> Result<BridgeStream, String> {
    // Written by the bridge once it listens: until then the session is still starting.
    let said = tokio::fs::read_to_string(endpoint)
        .await
        .map_err(|_| "its bridge on the compute node is not listening yet".to_string())?;
    let (host, port, pin) = parse_endpoint(&said).ok_or_else(|| format!("{} is malformed", endpoint.display()))?;
    let key = haven_key()?;
    let open = async {
        let mut tls = crate::peer::connect(host, port, pin, Some(key)).await?;
        tls.write_all(&[purpose]).await.map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(tls)
    };
    match tokio::time::timeout(CONNECT_WITHIN, open).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(e)) => Err(format!("the bridge at {host}:{port}: {e}")),
        Err(_) => Err(format!("the bridge at {host}:{port} timed out")),
    }
}

/// [`open_bridge`] for the application; once the bridge says it reached the application's
/// socket, the connection is the application's.
async fn connect_bridged(endpoint: &Path) -> Result<AppStream, Unreachable> {
    let reach = async {
        let mut tls = open_bridge(endpoint, APPLICATION).await?;
        let mut answer = [NOT_YET];
        tls.read_exact(&mut answer).await.map_err(|e| format!("no answer: {e}"))?;
        Ok::<_, String>((tls, answer[0]))
    };
    match tokio::time::timeout(CONNECT_WITHIN, reach).await {
        Ok(Ok((tls, REACHED))) => Ok(Box::new(tls)),
        Ok(Ok((_, WRONG_PEER))) => {
            tracing::error!(
                bridge = %endpoint.display(),
                "a session's socket on its compute node led to a process that is not the session's; refused"
            );
            Err(Unreachable::WrongPeer)
        }
        Ok(Ok(_)) => Err(Unreachable::NotYet("the application is not listening on its compute node yet".into())),
        Ok(Err(e)) => Err(Unreachable::NotYet(e)),
        Err(_) => Err(Unreachable::NotYet(format!("the bridge in {} did not answer", endpoint.display()))),
    }
}

/// `HOST PORT SHA256` (the bridge's endpoint file): a host name or address, a port, the hex
/// SHA-256 of its certificate.
pub fn parse_endpoint(said: &str) -> Option<(&str, u16, [u8; 32])> {
    let mut words = said.split_ascii_whitespace();
    let (host, port, pin) = (words.next()?, words.next()?, words.next()?);
    if words.next().is_some()
        || host.is_empty()
        || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b))
    {
        return None;
    }
    let port = port.parse().ok().filter(|p| *p != 0)?;
    let pin = hex::decode(pin).ok()?.try_into().ok()?;
    Some((host, port, pin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bridge_endpoint_is_a_host_a_port_and_a_fingerprint() {
        let pin = "ab".repeat(32);
        assert_eq!(parse_endpoint(&format!("node1 40001 {pin}\n")), Some(("node1", 40001, [0xab; 32])));
        assert_eq!(parse_endpoint(&format!("fe80::1 40001 {pin}")).map(|e| e.0), Some("fe80::1"));
        for bad in [
            format!("node1 40001 {}", "ab".repeat(31)),
            format!("node1 0 {pin}"),
            format!("node1 70000 {pin}"),
            format!("node/1 40001 {pin}"),
            format!("node1 40001 {pin} more"),
            "node1 40001".to_string(),
            String::new(),
        ] {
            assert_eq!(parse_endpoint(&bad), None, "{bad}");
        }
    }
}
