//! [`RequestInfo`]: the parts of a request the policy looks at, borrowed.

use std::fmt;
use std::net::IpAddr;

use http::{HeaderMap, HeaderName, HeaderValue, Method};

/// Where a [`RequestInfo`] reads the request's headers: an [`http::HeaderMap`], or a server's
/// own view of a request head (one that has not built a map, say).
///
/// The policy looks up a handful of names per request (`Origin`, `Host`, `Sec-Fetch-Site`,
/// `Access-Control-Request-*`, `X-Forwarded-*`); an implementation compares names without
/// regard to case, and yields a name's values in the order the request has them.
///
/// ```
/// use http::{HeaderName, HeaderValue};
/// use portico_cors::RequestHeaders;
///
/// /// Headers kept as a list, in the request's order.
/// struct List(Vec<(HeaderName, HeaderValue)>);
///
/// impl RequestHeaders for List {
///     type Values<'s> = std::vec::IntoIter<&'s HeaderValue>;
///
///     fn get_all<'s>(&'s self, name: &HeaderName) -> Self::Values<'s> {
///         let found: Vec<_> = self.0.iter().filter(|(n, _)| n == name).map(|(_, v)| v).collect();
///         found.into_iter()
///     }
/// }
///
/// let list = List(vec![(http::header::ORIGIN, HeaderValue::from_static("https://a.test"))]);
/// assert_eq!(list.get(&http::header::ORIGIN).unwrap(), "https://a.test");
/// assert!(!list.contains_key(&http::header::HOST));
/// assert_eq!(list.get_bytes(&http::header::ORIGIN), Some(&b"https://a.test"[..]));
/// ```
pub trait RequestHeaders {
    /// The values of one header name.
    type Values<'s>: Iterator<Item = &'s HeaderValue>
    where
        Self: 's;

    /// The values of the header `name`, in the order the request has them.
    fn get_all<'s>(&'s self, name: &HeaderName) -> Self::Values<'s>;

    /// The first value of the header `name`.
    fn get(&self, name: &HeaderName) -> Option<&HeaderValue> {
        self.get_all(name).next()
    }

    /// Whether the request has the header `name`.
    fn contains_key(&self, name: &HeaderName) -> bool {
        self.get(name).is_some()
    }

    /// The first value of the header `name`, as bytes: for a reader that needs no
    /// [`HeaderValue`], from an implementation that keeps the values as read and can answer
    /// without building one.
    fn get_bytes(&self, name: &HeaderName) -> Option<&[u8]> {
        self.get(name).map(HeaderValue::as_bytes)
    }
}

impl RequestHeaders for HeaderMap {
    type Values<'s> = http::header::ValueIter<'s, HeaderValue>;

    fn get_all<'s>(&'s self, name: &HeaderName) -> Self::Values<'s> {
        HeaderMap::get_all(self, name).iter()
    }

    fn get(&self, name: &HeaderName) -> Option<&HeaderValue> {
        HeaderMap::get(self, name)
    }

    fn contains_key(&self, name: &HeaderName) -> bool {
        HeaderMap::contains_key(self, name)
    }
}

/// The request parts an origin decision needs, borrowed from the request.
///
/// Its headers are an [`http::HeaderMap`] unless the server reads them from elsewhere
/// ([`RequestHeaders`]).
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
#[derive(Debug)]
#[non_exhaustive]
pub struct RequestInfo<'a, H: RequestHeaders + ?Sized = HeaderMap> {
    /// The request method.
    pub method: &'a Method,
    /// The request headers (`Origin`, `Host`, `Access-Control-Request-*`, `Sec-Fetch-Site`,
    /// and `X-Forwarded-*` from trusted proxies).
    pub headers: &'a H,
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

// By hand: a derive would ask `H: Copy`, and the info holds only a reference to `H`.
impl<H: RequestHeaders + ?Sized> Clone for RequestInfo<'_, H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H: RequestHeaders + ?Sized> Copy for RequestInfo<'_, H> {}

impl<'a, H: RequestHeaders + ?Sized> RequestInfo<'a, H> {
    /// A request with this method and headers; no peer, no authority, plain HTTP,
    /// [`Transport::Other`].
    pub fn new(method: &'a Method, headers: &'a H) -> Self {
        Self {
            method,
            headers,
            authority: None,
            peer: None,
            transport: Transport::Other,
            is_tls: false,
        }
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

impl<'a> RequestInfo<'a> {
    /// A request from `http::request::Parts`, taking the authority from the URI (HTTP/2).
    pub fn from_parts(parts: &'a http::request::Parts) -> Self {
        let mut info = Self::new(&parts.method, &parts.headers);
        info.authority = parts.uri.authority().map(|a| a.as_str());
        info
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
