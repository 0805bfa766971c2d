//! The package repository's gate for sessions: what answers a connection from a session's
//! socket (`haven_sandbox::local`). Haven terminates TLS with its own certificate (the session's
//! clients check it under Haven's public name) and serves `haven_web::repository_router`: the
//! package indexes and files, nothing else of Haven (no sign-in, no API, no portal), so a session
//! cannot reach the rest through the hole made for packages. Each session appears under an
//! address of its own, in a private IPv6 range, in audit events and rate limits: one session's
//! failures never count against another's, nor against a real client address.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use haven_web::source::ClientAddress;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;

pub struct RepositoryGate {
    tls: tokio_rustls::TlsAcceptor,
    router: axum::Router,
}

/// How long a session's client may take to finish the TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

impl RepositoryGate {
    pub fn new(tls: Arc<rustls::ServerConfig>, state: haven_web::AppState) -> Self {
        RepositoryGate { tls: tokio_rustls::TlsAcceptor::from(tls), router: haven_web::repository_router(state) }
    }
}

/// The address a session's requests carry: `fd68:6176:656e::/48` ("haven" in the unique-local
/// range), then the first 80 bits of the session's id; a session id that is not hex maps to the
/// range's first address.
pub fn session_address(session: &str) -> IpAddr {
    let id = hex::decode(session.get(..20).unwrap_or("")).unwrap_or_default();
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&[0xfd, 0x68, 0x61, 0x76, 0x65, 0x6e]);
    for (slot, b) in bytes[6..].iter_mut().zip(id) {
        *slot = b;
    }
    IpAddr::V6(Ipv6Addr::from(bytes))
}

#[async_trait]
impl haven_sandbox::local::Gate for RepositoryGate {
    async fn serve(&self, connection: tokio::net::UnixStream, session: &str) {
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
        let _ = Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(tls), service).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_session_has_an_address_of_its_own_in_a_private_range() {
        let a = session_address("0123456789abcdef0123456789abcdef");
        assert_eq!(a.to_string(), "fd68:6176:656e:123:4567:89ab:cdef:123");
        assert_ne!(a, session_address("ffff456789abcdef0123456789abcdef"));
        assert_eq!(session_address("not hex").to_string(), "fd68:6176:656e::");
    }
}
