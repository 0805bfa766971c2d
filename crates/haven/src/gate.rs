//! The package repository's gate for sessions: what answers a connection from a session's
//! socket (`haven_sandbox::local`). Haven terminates TLS with its own certificate (the session's
//! clients check it under Haven's public name) and serves `haven_web::repository_router`: the
//! package indexes and files, nothing else of Haven (no sign-in, no API, no portal), so a session
//! cannot reach the rest through the hole made for packages. Each session appears under an
//! address of its own, in a private IPv6 range, in audit events and rate limits: one session's
//! failures do not count against another's, nor against a real client address.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use haven_web::source::ClientAddress;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;

pub struct RepositoryGate {
    tls: tokio_rustls::TlsAcceptor,
    router: axum::Router,
}

/// How long a session's client may take to finish the TLS handshake, and to send a request's
/// headers.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// Requests one HTTP/2 connection may have at once (with 32 connections a session, a session
/// cannot hold more of Haven's database pool than a few clients would).
const STREAMS: u32 = 8;

impl RepositoryGate {
    pub fn new(tls: Arc<rustls::ServerConfig>, state: haven_web::AppState) -> Self {
        RepositoryGate { tls: tokio_rustls::TlsAcceptor::from(tls), router: haven_web::repository_router(state) }
    }
}

/// The address a session's requests carry: `fd68::/16` (a unique-local range), then the first
/// 112 bits of the session's id. Rate limits count an IPv6 client by its /64, so the id's first
/// 48 bits fall inside it: sessions' failures are counted apart (two sessions share a count only
/// if their random ids share 48 bits). A session id that is not hex maps to `fd68::`.
pub fn session_address(session: &str) -> IpAddr {
    let id = hex::decode(session.get(..28).unwrap_or("")).unwrap_or_default();
    let mut bytes = [0u8; 16];
    bytes[..2].copy_from_slice(&[0xfd, 0x68]);
    for (slot, b) in bytes[2..].iter_mut().zip(id) {
        *slot = b;
    }
    IpAddr::V6(Ipv6Addr::from(bytes))
}

#[async_trait]
impl haven_sandbox::local::Gate for RepositoryGate {
    async fn carry(self: Arc<Self>, run_dir: std::path::PathBuf, session: String) {
        crate::bridge::carry(self, run_dir, session).await;
    }

    async fn serve(&self, connection: Box<dyn haven_sandbox::local::Connection>, session: &str) {
        let tls = match tokio::time::timeout(HANDSHAKE, self.tls.accept(connection)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::info!(session, error = %e, "a session's connection to the repository failed its TLS handshake");
                return;
            }
            Err(_) => return,
        };
        let router = self.router.clone().layer(axum::Extension(ClientAddress(session_address(session))));
        let service = TowerToHyperService::new(router);
        // The limits of Haven's own listener (`listener::https_server`), tighter where a session
        // is one client: headers within the handshake's time, few streams, resets bounded.
        let mut builder = Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(HANDSHAKE).max_buf_size(64 * 1024);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(STREAMS)
            .max_pending_accept_reset_streams(20)
            .max_local_error_reset_streams(256)
            .max_header_list_size(16 * 1024)
            .keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10));
        let _ = builder.serve_connection(TokioIo::new(tls), service).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_session_has_an_address_of_its_own_in_a_private_range() {
        let a = session_address("0123456789abcdef0123456789abcdef");
        assert_eq!(a.to_string(), "fd68:123:4567:89ab:cdef:123:4567:89ab");
        let b = session_address("0123456789ffcdef0123456789abcdef");
        let key = |ip: IpAddr| haven_core::client::rate_key(&ip.to_string());
        assert_ne!(key(a), key(b), "counted apart when their ids differ in the first 48 bits");
        assert_eq!(session_address("not hex").to_string(), "fd68::");
    }
}
