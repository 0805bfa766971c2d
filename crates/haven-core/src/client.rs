//! Who a request comes from, for rate limits.

use std::net::IpAddr;

/// The key rate limits count a client address under: an IPv4 address as it is, an IPv6 address by
/// its /64 (one client usually holds a whole /64, and could otherwise step through it), and
/// anything else (an unknown source, the console) as given.
pub fn rate_key(source: &str) -> String {
    match source.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
        Ok(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(v4) => v4.to_string(),
        Err(_) => source.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::rate_key;

    #[test]
    fn ipv6_clients_count_by_their_slash_64() {
        assert_eq!(rate_key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(rate_key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
        assert_ne!(rate_key("2001:db8:1:3::1"), rate_key("2001:db8:1:2::1"));
        assert_eq!(rate_key("192.0.2.7"), "192.0.2.7");
        assert_eq!(rate_key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(rate_key("console"), "console");
    }
}
