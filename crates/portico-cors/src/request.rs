//! [`RequestInfo`]: the parts of a request the policy looks at, borrowed.

use std::fmt;
use std::net::IpAddr;

use http::{HeaderMap, Method};

/// The request parts an origin decision needs, borrowed from the request.
///
/// Build it with [`RequestInfo::new`] or [`RequestInfo::from_parts`] and the `with_*`
/// methods; the fields are public to read.
///
/// ```
/// use portico_cors::{RequestInfo, Transport};
/// use http::{HeaderMap, Method};
///
/// let headers = HeaderMap::new();
/// let info = RequestInfo::new(&Method::GET, &headers)
///     .with_transport(Transport::Polling)
///     .with_peer("10.0.0.2".parse().unwrap())
///     .with_tls(true);
/// assert_eq!(info.transport, Transport::Polling);
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RequestInfo<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request headers (`Origin`, `Host`, `Access-Control-Request-*`, `Sec-Fetch-Site`,
    /// and `X-Forwarded-*` from trusted proxies).
    pub headers: &'a HeaderMap,
    /// The request target's authority (HTTP/2 `:authority`), used when there is no `Host`
    /// header. Default: `None`.
    pub authority: Option<&'a str>,
    /// The address of the TCP peer: the client, or the proxy in front of the server. Only a
    /// peer listed in [`trusted_proxies`](crate::OriginPolicy::trusted_proxies) may set the
    /// server's own origin through `X-Forwarded-Host` / `X-Forwarded-Proto`. Default: `None`.
    pub peer: Option<IpAddr>,
    /// Which transport the request belongs to; used in deny messages. Default:
    /// [`Transport::Other`].
    pub transport: Transport,
    /// Whether the server's own listener uses TLS (`https`); the scheme of the server's own
    /// origin unless a trusted proxy says otherwise. Default: `false`.
    pub is_tls: bool,
}

impl<'a> RequestInfo<'a> {
    /// A request with this method and headers; no peer, no authority, plain HTTP,
    /// [`Transport::Other`].
    pub fn new(method: &'a Method, headers: &'a HeaderMap) -> Self {
        Self {
            method,
            headers,
            authority: None,
            peer: None,
            transport: Transport::Other,
            is_tls: false,
        }
    }

    /// A request from `http::request::Parts`, taking the authority from the URI (HTTP/2).
    pub fn from_parts(parts: &'a http::request::Parts) -> Self {
        let mut info = Self::new(&parts.method, &parts.headers);
        info.authority = parts.uri.authority().map(|a| a.as_str());
        info
    }

    /// Sets the TCP peer address.
    pub fn with_peer(mut self, peer: IpAddr) -> Self {
        self.peer = Some(peer);
        self
    }

    /// Sets the transport.
    pub fn with_transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Sets whether the server's own listener uses TLS.
    pub fn with_tls(mut self, is_tls: bool) -> Self {
        self.is_tls = is_tls;
        self
    }

    /// Sets the request target's authority (HTTP/2 `:authority`).
    pub fn with_authority(mut self, authority: &'a str) -> Self {
        self.authority = Some(authority);
        self
    }
}

/// The Engine.IO transport a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Transport {
    /// HTTP long-polling (GET and POST, and their preflights).
    Polling,
    /// The WebSocket upgrade request.
    WebSocket,
    /// Anything else (e.g. the client bundle, or unknown).
    #[default]
    Other,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Polling => "polling",
            Transport::WebSocket => "websocket",
            Transport::Other => "HTTP",
        })
    }
}
