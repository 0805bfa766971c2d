//! The HTTPS listener's defences against clients that hold connections without finishing
//! requests (slowloris) and against HTTP/2 abuse:
//! - a per-address cap on open connections, checked before the TLS handshake (IPv6 addresses
//!   count by their /64, which one client usually holds whole);
//! - deadlines for the TLS handshake, for the first request (which also covers hyper's untimed
//!   HTTP/1-or-2 detection), and for every HTTP/1 request head (also the keep-alive idle limit);
//! - HTTP/2 stream limits, rapid-reset limits (CVE-2023-44487) and keep-alive pings that close
//!   peers that have gone silent.
//!
//! axum-server turns hyper's header-read timeout off by default, which is what left connections
//! open forever; here every limit is set explicitly.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The listener's limits (from `[http]` in the configuration).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_connections_per_address: usize,
}

/// Streams one HTTP/2 connection may have open at once (a browser uses a few dozen at most).
const HTTP2_MAX_STREAMS: u32 = 100;

/// The key one client's connections are counted under.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// Open connections per client key. Trusted proxies (`http.trusted_proxies`) are not capped:
/// every client behind a load balancer arrives from its address.
#[derive(Clone)]
pub struct PerAddress {
    max: usize,
    exempt: Arc<Vec<ipnet::IpNet>>,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One counted connection; the count drops when the connection (and so this) is dropped.
pub struct Slot {
    key: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerAddress {
    pub fn new(max: usize, exempt: Vec<ipnet::IpNet>) -> Self {
        PerAddress { max: max.max(1), exempt: Arc::new(exempt), open: Arc::default() }
    }

    pub fn try_take(&self, ip: IpAddr) -> Option<Slot> {
        let key = client_key(ip);
        let max = if self.exempt.iter().any(|n| n.contains(&ip.to_canonical())) { usize::MAX } else { self.max };
        // The map is only ever incremented and decremented under the lock; a poisoned lock
        // still holds consistent counts.
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(key).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot { key, open: self.open.clone() })
    }

    #[cfg(test)]
    fn open(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&client_key(ip)).copied().unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// A TCP stream that holds its client's slot for as long as it lives.
pub struct Counted {
    inner: TcpStream,
    _slot: Slot,
}

impl AsyncRead for Counted {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Takes a slot for the client (or closes the connection before any TLS work) and turns
/// Nagle's algorithm off: small answers go out at once instead of waiting out the client's
/// delayed ACK (40 ms per request measured).
#[derive(Clone)]
pub struct CountingAcceptor {
    limit: PerAddress,
}

impl<S> Accept<TcpStream, S> for CountingAcceptor {
    type Stream = Counted;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Counted, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let counted = stream.peer_addr().and_then(|peer| {
            let slot = self.limit.try_take(peer.ip()).ok_or_else(|| {
                // Not a warning: a client holding connections open could otherwise flood the log.
                tracing::debug!(client = %client_key(peer.ip()), "too many open connections from one address; refused one");
                io::Error::new(io::ErrorKind::ConnectionRefused, "too many connections from this address")
            })?;
            stream.set_nodelay(true)?;
            Ok(Counted { inner: stream, _slot: slot })
        });
        std::future::ready(counted.map(|c| (c, service)))
    }
}

/// An HTTPS server on `listener` with every limit above set.
pub fn https_server(
    listener: std::net::TcpListener,
    tls: &RustlsConfig,
    limits: Limits,
    per_address: &PerAddress,
) -> io::Result<axum_server::Server<SocketAddr, RustlsAcceptor<CountingAcceptor>>> {
    let acceptor = RustlsAcceptor::new(tls.clone())
        .handshake_timeout(limits.header_read_timeout)
        .acceptor(CountingAcceptor { limit: per_address.clone() });
    let mut server =
        axum_server::from_tcp(listener)?.acceptor(acceptor).first_request_timeout(limits.header_read_timeout);
    server
        .http_builder()
        .http1()
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(64 * 1024)
        .http2()
        .max_concurrent_streams(HTTP2_MAX_STREAMS)
        .max_pending_accept_reset_streams(20)
        .max_local_error_reset_streams(256)
        .max_header_list_size(16 * 1024)
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10));
    Ok(server)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn slots_are_counted_per_client_and_released_on_drop() {
        let limit = PerAddress::new(2, vec!["10.0.0.0/8".parse().unwrap()]);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let one = limit.try_take(a).unwrap();
        let two = limit.try_take(a).unwrap();
        assert!(limit.try_take(a).is_none(), "a third connection from one address");
        assert!(limit.try_take("192.0.2.2".parse().unwrap()).is_some(), "another address is not affected");
        drop(one);
        assert!(limit.try_take(a).is_some());
        drop(two);
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let through_proxy: Vec<Slot> = (0..10).map(|_| limit.try_take(proxy).unwrap()).collect();
        assert_eq!(through_proxy.len(), 10, "a trusted proxy is not capped");
        // One /64 is one client; the v4-mapped form of an address is that address.
        let v6 = PerAddress::new(1, vec![]);
        let _x = v6.try_take("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(v6.try_take("2001:db8:1:2:ffff::9".parse().unwrap()).is_none());
        assert!(v6.try_take("2001:db8:1:3::1".parse().unwrap()).is_some());
        let _m = v6.try_take("::ffff:192.0.2.7".parse().unwrap()).unwrap();
        assert!(v6.try_take("192.0.2.7".parse().unwrap()).is_none());
        assert_eq!(v6.open("192.0.2.7".parse().unwrap()), 1);
    }
}
