//! The client's address, for audit events and rate limits.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use axum::extract::ConnectInfo;
use axum::http::Extensions;

/// The client's address as [`client_address`] worked it out (the peer's, unless the peer is a
/// trusted proxy), or the peer's when the middleware did not run.
pub fn address(extensions: &Extensions) -> String {
    if let Some(ClientAddress(ip)) = extensions.get::<ClientAddress>() {
        return ip.to_string();
    }
    extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_canonical().to_string()).unwrap_or_default()
}

/// The client's address for this request.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddress(pub IpAddr);

/// The client behind `peer`: the peer itself, unless it is one of `trusted` proxies; then the
/// nearest address in `X-Forwarded-For` (read from the right) that is not a trusted proxy. A
/// forwarded header from anyone else is ignored: clients cannot choose their own address.
pub fn client_behind(peer: IpAddr, forwarded: &[&[u8]], trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    let mut client = peer.to_canonical();
    if !is_trusted(&client) {
        return client;
    }
    // Split the raw bytes: a client can put anything (non-ASCII too) in the part it sends, and
    // that must not hide the address our proxy appended after it.
    let hops = forwarded.iter().rev().flat_map(|h| h.rsplit(|b| *b == b',')).map(hop_address);
    for hop in hops {
        match hop {
            Some(ip) => {
                client = ip.to_canonical();
                if !is_trusted(&client) {
                    break;
                }
            }
            // A malformed hop: stop at the last address we could trust.
            None => break,
        }
    }
    client
}

/// One `X-Forwarded-For` hop: an address, or an address with a port (`203.0.113.5:51234`,
/// `[2001:db8::1]:443`), as some load balancers write them.
fn hop_address(hop: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(hop).ok()?.trim();
    text.parse::<IpAddr>().ok().or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// Middleware: work out the client's address once per request: the one another node vouched
/// for ([`crate::peer`]), else the one [`client_behind`] finds.
pub async fn client_address(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if let Some(client) = crate::peer::vouched_client(&state, &request) {
        request.extensions_mut().insert(ClientAddress(client));
    } else if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let forwarded: Vec<&[u8]> = request.headers().get_all("x-forwarded-for").iter().map(|v| v.as_bytes()).collect();
        let client = client_behind(peer.ip(), &forwarded, &state.config.trusted_proxies);
        request.extensions_mut().insert(ClientAddress(client));
    }
    next.run(request).await
}

/// The browser's User-Agent (shown in "My sessions"), empty when absent.
pub fn user_agent(headers: &axum::http::HeaderMap) -> String {
    headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

/// The value of cookie `name`, if the request carries one that looks like a Haven token.
pub fn token_cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| haven_crypto::token::looks_like_token(v))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "2001:db8::1/128".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // From a client directly: its own header is ignored.
        let client_behind = |peer, hops: &[&str], trusted: &[IpNet]| {
            let raw: Vec<&[u8]> = hops.iter().map(|h| h.as_bytes()).collect();
            super::client_behind(peer, &raw, trusted)
        };
        assert_eq!(client_behind(ip("192.0.2.1"), &["198.51.100.9"], &proxies), ip("192.0.2.1"));
        // Through a trusted proxy: the nearest untrusted hop.
        assert_eq!(client_behind(ip("10.1.1.1"), &["198.51.100.9"], &proxies), ip("198.51.100.9"));
        assert_eq!(
            client_behind(ip("10.1.1.1"), &["203.0.113.5, 198.51.100.9, 10.2.2.2"], &proxies),
            ip("198.51.100.9"),
            "a client-supplied left part is not trusted"
        );
        assert_eq!(client_behind(ip("2001:db8::1"), &["198.51.100.9"], &proxies), ip("198.51.100.9"));
        // Without a header, or with garbage, the proxy itself.
        assert_eq!(client_behind(ip("10.1.1.1"), &[], &proxies), ip("10.1.1.1"));
        assert_eq!(client_behind(ip("10.1.1.1"), &["not-an-ip"], &proxies), ip("10.1.1.1"));
        assert_eq!(client_behind(ip("::ffff:192.0.2.1"), &[], &[]), ip("192.0.2.1"));
        // Hops with ports, and junk (even non-UTF-8) sent by the client before the proxy's part.
        assert_eq!(client_behind(ip("10.1.1.1"), &["203.0.113.5:51234"], &proxies), ip("203.0.113.5"));
        assert_eq!(client_behind(ip("10.1.1.1"), &["[2001:db8::7]:443"], &proxies), ip("2001:db8::7"));
        let junk: &[u8] = b"\xff\xfe, 198.51.100.9";
        assert_eq!(super::client_behind(ip("10.1.1.1"), &[junk], &proxies), ip("198.51.100.9"));
    }
}
