//! The server's own origin, for the same-origin rule: scheme from the listener (or a
//! trusted proxy's `X-Forwarded-Proto`), host from `Host` (or a trusted proxy's
//! `X-Forwarded-Host`, or the HTTP/2 authority).

use std::net::IpAddr;

use http::header::HOST;
use http::HeaderName;

use crate::headers::{X_FORWARDED_HOST, X_FORWARDED_PROTO};
use crate::origin::{is_scheme, parse_authority, Parts};
use crate::{OriginPolicy, RequestHeaders, RequestInfo};

impl OriginPolicy {
    /// Whether `peer` is a trusted proxy ([`OriginPolicy::trusted_proxies`], or a loopback
    /// peer with [`OriginPolicy::trust_loopback_proxies`]): it may set the server's own origin
    /// through `X-Forwarded-*`, and the server counts the client address it forwards in
    /// `X-Forwarded-For` instead of its own.
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        (self.trust_loopback && peer.is_loopback()) || self.trusted_proxies.contains(&peer)
    }
}

/// The server's own origin as this request sees it; `None` without a usable host.
pub(crate) fn own_origin<'a, H: RequestHeaders + ?Sized>(
    policy: &OriginPolicy,
    req: &RequestInfo<'a, H>,
) -> Option<Parts<'a>> {
    let trusted = req.peer.is_some_and(|peer| policy.is_trusted_proxy(peer));
    let forwarded = |name: &HeaderName| {
        if trusted {
            first_value(req.headers, name)
        } else {
            None
        }
    };
    let scheme = match forwarded(&X_FORWARDED_PROTO) {
        // Some proxies report the WebSocket scheme; the page's origin has the HTTP one.
        Some(proto) if proto.eq_ignore_ascii_case("wss") => "https",
        Some(proto) if proto.eq_ignore_ascii_case("ws") => "http",
        Some(proto) if is_scheme(proto) => proto,
        _ if req.is_tls => "https",
        _ => "http",
    };
    let authority = forwarded(&X_FORWARDED_HOST)
        .or_else(|| first_value(req.headers, &HOST))
        .or_else(|| {
            req.authority
                .map(|a| a.rsplit_once('@').map_or(a, |(_, host)| host))
        })?;
    let (host, port) = parse_authority(authority, scheme)?;
    Some(Parts { scheme, host, port })
}

/// The first comma-separated value of a header, trimmed.
fn first_value<'a, H: RequestHeaders + ?Sized>(
    headers: &'a H,
    name: &HeaderName,
) -> Option<&'a str> {
    let value = headers.get(name)?.to_str().ok()?;
    let first = value.split(',').next()?.trim();
    (!first.is_empty()).then_some(first)
}
