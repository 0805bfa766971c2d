//! With several nodes, a session (terminal, desktop, web application) runs on one of them, but
//! the load balancer may send its owner's requests to any. A node that receives a request for a
//! session another node runs sends it on to that node as it came (cookies, `Origin`, a WebSocket
//! upgrade), adding the client's hop to `X-Forwarded-For`; the owning node checks the caller,
//! audits and answers as for a request of its own. Nothing is decided here: this node does not
//! even check who asks, so it cannot let anyone in that the owner would refuse.
//!
//! The nodes speak TLS to one another and share no CA: each node records in the database the
//! SHA-256 of the certificate it serves ([`haven_core::cluster::NodeRecord`]), and the sender
//! accepts exactly that certificate (written here: pinning to a database record is the design,
//! and no crate does it). A request already forwarded once is never forwarded again (two nodes
//! that disagree about where a session runs would otherwise pass it back and forth).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Version, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use haven_core::cluster::NodeRecord;
use haven_core::workspaces::sessions::Placement;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;

use crate::error::OwnBody;
use crate::{AppState, WebError};

/// Set on a request one node sends to another (`CLIENT;UNIX SECONDS;TAG`): it is answered where
/// it arrives, and names the client.
pub const FORWARDED_BY: HeaderName = HeaderName::from_static("x-haven-forwarded");
/// How long the owning node has to accept the connection and finish the TLS handshake.
const CONNECT_WITHIN: Duration = Duration::from_secs(5);
/// How far a forwarded request's time may be from the receiving node's (clocks on NTP).
const VOUCHED_WITHIN_SECS: i64 = 60;
/// A joined WebSocket's connection to the owning node is probed after this long idle, so that a
/// node that vanished without closing it does not hold it for hours.
const KEEPALIVE: Duration = Duration::from_secs(30);

/// Which of a node's listeners a request came to, and so goes to on the owning node.
#[derive(Debug, Clone, Copy)]
pub enum Listener {
    Main,
    Sessions,
}

/// Middleware: a request for a session another node runs is answered by that node.
pub async fn to_owning_node(
    State((state, listener)): State<(AppState, Listener)>,
    request: Request,
    next: Next,
) -> Response {
    // Only what could be a session's id is looked up (random ids cost no database read).
    let Some(id) = session_id(request.uri().path()).filter(|id| is_session_id(id)) else {
        return next.run(request).await;
    };
    let node = match state.sessions.placement(id).await {
        Ok(Placement::Here) => return next.run(request).await,
        Ok(Placement::On(node)) => node,
        Ok(Placement::Unknown(node)) => {
            tracing::debug!(%node, "a session's node has not recorded where it answers (an older Haven?)");
            return unreachable(&node);
        }
        Err(e) => return WebError::from(e).into_response(),
    };
    if request.headers().contains_key(&FORWARDED_BY) {
        // Anyone can send the header; it only ever stops a forward, so this is not a warning.
        tracing::debug!(node = %node.name, "not forwarding a request that was forwarded already");
        return unreachable(&node.name);
    }
    let base = match listener {
        Listener::Main => &node.url,
        Listener::Sessions => &node.sessions_url,
    };
    // The owning node applies its own request timeout; this one bounds the wait for its answer.
    let within = state.config.request_timeout;
    match tokio::time::timeout(within, forward(&state, &node, base, request)).await {
        Ok(Ok(response)) => response,
        Ok(Err(why)) => {
            tracing::warn!(node = %node.name, %why, "could not reach the node that runs a session");
            unreachable(&node.name)
        }
        Err(_) => {
            tracing::warn!(node = %node.name, "the node that runs a session did not answer in time");
            unreachable(&node.name)
        }
    }
}

/// Session ids are 32 lowercase hex digits.
fn is_session_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The client another node vouched for on this request, if it carries a forwarding header whose
/// signature checks and whose time is current; None otherwise (the header is then ignored).
pub fn vouched_client(state: &AppState, request: &Request) -> Option<std::net::IpAddr> {
    let key = state.config.forwarding_key.as_ref()?;
    let value = request.headers().get(&FORWARDED_BY)?.to_str().ok()?;
    let mut parts = value.split(';');
    let (client, at, tag) = (parts.next()?, parts.next()?, parts.next()?);
    let at_secs: i64 = at.parse().ok()?;
    let now = state.clock.now().unix_timestamp();
    if (now - at_secs).abs() > VOUCHED_WITHIN_SECS {
        tracing::debug!("a forwarded request's time is too far from this node's");
        return None;
    }
    let path = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let tag = hex::decode(tag).ok()?;
    if !haven_crypto::peer::verify(key, client, at_secs, request.method().as_str(), path, &tag) {
        tracing::debug!("a forwarding header whose signature does not check was ignored");
        return None;
    }
    client.parse().ok()
}

/// The session's id in `/apps/sessions/<id>[/…]`.
fn session_id(path: &str) -> Option<&str> {
    let id = path.strip_prefix("/apps/sessions/")?.split('/').next()?;
    (!id.is_empty()).then_some(id)
}

/// Why is logged, not shown: the page is answered before anyone is checked.
fn unreachable(node: &str) -> Response {
    WebError::new(
        StatusCode::BAD_GATEWAY,
        "node_unreachable",
        format!(
            "This session runs on Haven node {node}, which could not be reached. Try again in a minute; if the node has stopped, its sessions are recorded as ended shortly and you can start a new one from Applications."
        ),
    )
    .into_response()
}

/// Headers that belong to one connection, never passed on (RFC 9110 §7.6.1); a WebSocket's
/// `Upgrade` and `Connection: upgrade` are set again where one is asked for.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// The options `Connection` lists.
fn connection_options(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers.get_all(header::CONNECTION).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(str::trim)
}

fn wants_upgrade(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = connection_options(headers).any(|t| t.eq_ignore_ascii_case("upgrade"));
    asks.then(|| headers.get(header::UPGRADE).cloned()).flatten()
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers that `Connection` names are this hop's too.
    let named: Vec<HeaderName> =
        connection_options(headers).filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok()).collect();
    for name in HOP_BY_HOP.iter().chain(named.iter()) {
        headers.remove(name);
    }
}

async fn forward(state: &AppState, node: &NodeRecord, base: &str, mut request: Request) -> Result<Response, String> {
    let target: axum::http::Uri = base.parse().map_err(|_| format!("its address {base:?} is not a URL"))?;
    let host = target.host().ok_or_else(|| format!("its address {base} names no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = target.port_u16().unwrap_or(443);

    // The request as it goes on: same method, path, headers and body; the client's address (as
    // this node worked it out) vouched for in a header of its own.
    let upgrade = wants_upgrade(request.headers());
    let client_side = upgrade.as_ref().and_then(|_| request.extensions_mut().remove::<hyper::upgrade::OnUpgrade>());
    let client = crate::source::address(request.extensions());
    let authority = request.uri().authority().map(|a| a.as_str().to_string());
    let path = request.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let (mut parts, body) = request.into_parts();
    let host_header = parts.headers.get(header::HOST).cloned();
    strip_hop_by_hop(&mut parts.headers);
    // `Connection` may not take these away: HTTP/2 carries the host in the URI, and HTTP/1.1
    // to the next node needs it as a header.
    match host_header.or_else(|| authority.and_then(|a| HeaderValue::from_str(&a).ok())) {
        Some(value) => parts.headers.insert(header::HOST, value),
        None => parts.headers.remove(header::HOST),
    };
    let vouch = match &state.config.forwarding_key {
        Some(key) => {
            let at = state.clock.now().unix_timestamp();
            let tag = haven_crypto::peer::sign(key, &client, at, parts.method.as_str(), &path);
            format!("{client};{at};{}", hex::encode(tag))
        }
        None => "unsigned".to_string(),
    };
    parts.headers.insert(
        FORWARDED_BY,
        HeaderValue::from_str(&vouch).map_err(|_| "the client's address could not be passed on".to_string())?,
    );
    if let Some(protocol) = &upgrade {
        parts.headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        parts.headers.insert(header::UPGRADE, protocol.clone());
    }
    parts.uri = path.parse().map_err(|_| "the request's path could not be passed on".to_string())?;
    parts.version = Version::HTTP_11;
    let outgoing = axum::http::Request::from_parts(parts, body);

    let pin: [u8; 32] = hex::decode(&node.cert_sha256)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "its recorded certificate fingerprint is malformed".to_string())?;
    let stream = tokio::time::timeout(CONNECT_WITHIN, connect(&host, port, pin, None))
        .await
        .map_err(|_| format!("no answer within {} s", CONNECT_WITHIN.as_secs()))??;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("HTTP: {e}"))?;
    tokio::spawn(async move {
        if let Err(e) = connection.with_upgrades().await {
            tracing::debug!(error = %e, "a connection to another node ended with an error");
        }
    });
    let mut answer = sender.send_request(outgoing).await.map_err(|e| format!("HTTP: {e}"))?;

    if answer.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_side) = client_side else {
            return Err("it switched protocols unasked".into());
        };
        let node_side = hyper::upgrade::on(&mut answer);
        tokio::spawn(async move {
            match tokio::try_join!(client_side, node_side) {
                Ok((client, node)) => {
                    let (mut client, mut node) = (TokioIo::new(client), TokioIo::new(node));
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut node).await;
                }
                Err(e) => tracing::debug!(error = %e, "a forwarded WebSocket could not be joined"),
            }
        });
        let (mut parts, _) = answer.into_parts();
        let protocol = parts.headers.get(header::UPGRADE).cloned();
        strip_hop_by_hop(&mut parts.headers);
        parts.headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        if let Some(protocol) = protocol {
            parts.headers.insert(header::UPGRADE, protocol);
        }
        let mut response = Response::from_parts(parts, Body::empty());
        response.extensions_mut().insert(OwnBody);
        return Ok(response);
    }
    let (mut parts, body) = answer.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let mut response = Response::from_parts(parts, Body::new(body));
    // Rendered by the owning node already.
    response.extensions_mut().insert(OwnBody);
    Ok(response)
}

/// TLS over TCP to `host:port`, accepting only the certificate whose SHA-256 is `pin` (another
/// node; a session's bridge on a compute node, [`crate::reach`], which Haven proves itself to
/// with `client`).
pub(crate) async fn connect(
    host: &str,
    port: u16,
    pin: [u8; 32],
    client: Option<&crate::pinned::MemoryKey>,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = crate::pinned::Pinned::new(pin, &provider);
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match client {
        Some(key) => {
            let (chain, key) = key.identity();
            config.with_client_auth_cert(chain, key).map_err(|e| format!("TLS: {e}"))?
        }
        None => config.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = ServerName::try_from(host.to_string()).map_err(|_| format!("{host} is not a host name"))?;
    let tcp = tokio::net::TcpStream::connect((host, port)).await.map_err(|e| format!("{host}:{port}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let _ = rustix::net::sockopt::set_socket_keepalive(&tcp, true);
    let _ = rustix::net::sockopt::set_tcp_keepidle(&tcp, KEEPALIVE);
    let _ = rustix::net::sockopt::set_tcp_keepintvl(&tcp, KEEPALIVE);
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {host}:{port}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_could_be_a_session_id_is_looked_up() {
        assert!(is_session_id("8faf05bb14f9d28b6a0ce324bc0a6e10"));
        assert!(!is_session_id("8FAF05BB14F9D28B6A0CE324BC0A6E10"));
        assert!(!is_session_id("8faf05bb14f9d28b6a0ce324bc0a6e1"));
        assert!(!is_session_id("..%2f..%2fsecurity00000000000000"));
    }

    #[test]
    fn only_session_addresses_are_considered() {
        assert_eq!(session_id("/apps/sessions/abc/terminal"), Some("abc"));
        assert_eq!(session_id("/apps/sessions/abc"), Some("abc"));
        assert_eq!(session_id("/apps/sessions/"), None);
        assert_eq!(session_id("/apps/jobs/abc"), None);
        assert_eq!(session_id("/security"), None);
    }

    #[test]
    fn connection_headers_stay_on_their_hop() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-private"));
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        h.insert(header::COOKIE, HeaderValue::from_static("a=b"));
        assert!(wants_upgrade(&h).is_none());
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key(header::COOKIE));
        let mut ws = HeaderMap::new();
        ws.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        ws.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert_eq!(wants_upgrade(&ws), Some(HeaderValue::from_static("websocket")));
    }
}
