//! The client IP: the TCP peer, or the right-most untrusted address in
//! `x-forwarded-for` when the peer is a trusted proxy.

use std::net::{IpAddr, SocketAddr};

use http::{Extensions, HeaderMap};
use ipnetwork::IpNetwork;

use crate::ReasonCode;

/// The TCP peer address of a request, for servers that do not provide
/// axum's `ConnectInfo` (hyper, tonic). Insert it into the request's
/// extensions before the layer runs.
///
/// ```
/// use std::net::SocketAddr;
/// use tower_export_control::layer::ClientAddr;
///
/// let peer: SocketAddr = "203.0.113.7:52100".parse().unwrap();
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(ClientAddr(peer));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub SocketAddr);

/// The TCP peer, from our extension or (with the `axum` feature) axum's
/// `ConnectInfo<SocketAddr>`.
pub(crate) fn peer_addr(ext: &Extensions) -> Option<IpAddr> {
    if let Some(ClientAddr(addr)) = ext.get::<ClientAddr>() {
        return Some(addr.ip());
    }
    #[cfg(feature = "axum")]
    if let Some(info) = ext.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(info.0.ip());
    }
    None
}

fn is_trusted(ip: IpAddr, proxies: &[IpNetwork]) -> bool {
    let ip = canonical(ip);
    proxies.iter().any(|net| net.contains(ip))
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`, what dual-stack sockets
/// report) compare as the IPv4 address.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client address for the request: the peer unless it is a trusted
/// proxy; then the right-most `x-forwarded-for` entry that is not itself a
/// trusted proxy (the left-most entry if all are trusted).
///
/// # Errors
/// `invalid_forwarded` when a trusted peer sent an entry that is not an IP
/// address.
pub(crate) fn client_ip(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[IpNetwork],
) -> Result<Option<IpAddr>, ReasonCode> {
    let Some(peer) = peer else { return Ok(None) };
    if !is_trusted(peer, trusted) {
        return Ok(Some(canonical(peer)));
    }
    let mut client = None;
    let values = headers.get_all("x-forwarded-for").iter().rev();
    for value in values {
        let value = value.to_str().map_err(|_| ReasonCode::InvalidForwarded)?;
        for entry in value.rsplit(',') {
            let ip = parse_entry(entry.trim()).ok_or(ReasonCode::InvalidForwarded)?;
            client = Some(canonical(ip));
            if !is_trusted(ip, trusted) {
                return Ok(client);
            }
        }
    }
    // No header, or every hop trusted: the furthest hop seen, else the peer.
    Ok(Some(client.unwrap_or(canonical(peer))))
}

/// `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]` or
/// `[2001:db8::1]:443`.
fn parse_entry(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sock) = s.parse::<SocketAddr>() {
        return Some(sock.ip());
    }
    s.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarded_for_table() {
        let trusted: Vec<IpNetwork> =
            vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()];
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let outsider: IpAddr = "198.51.100.9".parse().unwrap();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        type Case<'a> = (
            Option<IpAddr>,
            &'a [&'a str],
            Result<Option<IpAddr>, ReasonCode>,
        );
        let cases: &[Case<'_>] = &[
            (None, &["1.1.1.1"], Ok(None)),
            (Some(outsider), &["1.1.1.1"], Ok(Some(outsider))),
            (Some(proxy), &[], Ok(Some(proxy))),
            (Some(proxy), &["1.1.1.1"], Ok(ip("1.1.1.1"))),
            (Some(proxy), &["6.6.6.6, 1.1.1.1"], Ok(ip("1.1.1.1"))),
            (
                Some(proxy),
                &["6.6.6.6, 1.1.1.1, 10.0.0.2"],
                Ok(ip("1.1.1.1")),
            ),
            (
                Some(proxy),
                &["6.6.6.6", "1.1.1.1, 10.0.0.2"],
                Ok(ip("1.1.1.1")),
            ),
            (Some(proxy), &["10.0.0.3, 10.0.0.2"], Ok(ip("10.0.0.3"))),
            (Some(proxy), &["[2001:db8::1]:443"], Ok(ip("2001:db8::1"))),
            (Some(proxy), &["1.1.1.1:8080"], Ok(ip("1.1.1.1"))),
            (Some(proxy), &["::ffff:1.1.1.1"], Ok(ip("1.1.1.1"))),
            (Some(proxy), &["unknown"], Err(ReasonCode::InvalidForwarded)),
            (
                Some(proxy),
                &["1.1.1.1,"],
                Err(ReasonCode::InvalidForwarded),
            ),
            (Some(proxy), &["garbage, 1.1.1.1"], Ok(ip("1.1.1.1"))),
            (ip("::ffff:10.0.0.1"), &["1.1.1.1"], Ok(ip("1.1.1.1"))),
        ];
        for (peer, xff, want) in cases {
            assert_eq!(
                &client_ip(*peer, &headers(xff), &trusted),
                want,
                "{peer:?} {xff:?}"
            );
        }
    }
}
