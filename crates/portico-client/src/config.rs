//! What to connect to and how: [`ClientConfig`], [`Transport`], and the parsed endpoint.

use std::fmt;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Uri};
use serde_json::Value;

use crate::error::ClientError;

/// How the client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// A WebSocket from the start (`transport=websocket`, no polling handshake).
    WebSocket,
    /// HTTP long-polling only: one pending GET, POSTs for outgoing packets.
    Polling,
    /// Polling handshake, then an upgrade to WebSocket (`2probe`/`3probe`/`5`), as browsers
    /// do by default. Once connected, [`crate::Client::transport`] reports
    /// [`Transport::WebSocket`].
    Upgrade,
}

impl Transport {
    /// The name used on the wire and in reports: `websocket`, `polling` or `upgrade`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::WebSocket => "websocket",
            Transport::Polling => "polling",
            Transport::Upgrade => "upgrade",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where and how to connect. Build with [`ClientConfig::new`] and set the public fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The server, `http://host:port` (`ws://` is accepted as a synonym). Plain HTTP only for
    /// now: `https`/`wss` are refused with [`ClientError::InvalidConfig`].
    pub url: String,
    /// The Engine.IO path. Default `"/socket.io/"`.
    pub path: String,
    /// The Socket.IO namespace to connect to. Default `"/"`.
    pub namespace: String,
    /// The transport. Default [`Transport::WebSocket`].
    pub transport: Transport,
    /// The `auth` object sent with the namespace `CONNECT`. Default `None`.
    pub auth: Option<Value>,
    /// Longest wait for the whole connection (TCP, handshake, upgrade, namespace `CONNECT`
    /// reply). Default 10 s.
    pub connect_timeout: Duration,
    /// The `Origin` header to send on every request, as a browser would. Default `None` (no
    /// header, as non-browser clients do).
    pub origin: Option<String>,
    /// More headers to send on every request, polling's and the WebSocket handshake's (as
    /// socket.io-client's `extraHeaders` does outside a browser): a token, say, or the headers
    /// a browser would send. Default none. A name the client sets itself (`Host`, `Origin`,
    /// `Content-Type`, `Content-Length`, `Connection`, `Upgrade`, `Sec-WebSocket-*`,
    /// `Transfer-Encoding`), an invalid name, or a value with a control character is refused
    /// with [`ClientError::InvalidConfig`] when the client connects.
    pub extra_headers: Vec<(String, String)>,
}

impl ClientConfig {
    /// A configuration for `url` (e.g. `http://127.0.0.1:3000`) with every other field at its
    /// default.
    pub fn new(url: impl Into<String>) -> ClientConfig {
        ClientConfig {
            url: url.into(),
            path: "/socket.io/".to_owned(),
            namespace: "/".to_owned(),
            transport: Transport::WebSocket,
            auth: None,
            connect_timeout: Duration::from_secs(10),
            origin: None,
            extra_headers: Vec::new(),
        }
    }

    /// Set [`ClientConfig::transport`].
    pub fn transport(mut self, transport: Transport) -> ClientConfig {
        self.transport = transport;
        self
    }

    /// Set [`ClientConfig::path`].
    pub fn path(mut self, path: impl Into<String>) -> ClientConfig {
        self.path = path.into();
        self
    }

    /// Set [`ClientConfig::namespace`].
    pub fn namespace(mut self, namespace: impl Into<String>) -> ClientConfig {
        self.namespace = namespace.into();
        self
    }

    /// Set [`ClientConfig::auth`].
    pub fn auth(mut self, auth: Value) -> ClientConfig {
        self.auth = Some(auth);
        self
    }

    /// Set [`ClientConfig::origin`].
    pub fn origin(mut self, origin: impl Into<String>) -> ClientConfig {
        self.origin = Some(origin.into());
        self
    }

    /// Add a header to [`ClientConfig::extra_headers`].
    pub fn extra_header(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> ClientConfig {
        self.extra_headers.push((name.into(), value.into()));
        self
    }

    /// Set [`ClientConfig::connect_timeout`].
    pub fn connect_timeout(mut self, timeout: Duration) -> ClientConfig {
        self.connect_timeout = timeout;
        self
    }
}

/// The parsed, validated target of a [`ClientConfig`].
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// `host:port` for TCP connect and the `Host` header (IPv6 hosts in brackets).
    pub authority: String,
    /// The Engine.IO path, with a trailing `/`.
    pub path: String,
    pub origin: Option<String>,
    /// [`ClientConfig::extra_headers`], checked.
    pub extra_headers: Vec<(HeaderName, HeaderValue)>,
}

/// Headers the client sets itself, which [`ClientConfig::extra_headers`] cannot.
const OWN_HEADERS: [&str; 8] = [
    "host",
    "origin",
    "content-type",
    "content-length",
    "connection",
    "upgrade",
    "transfer-encoding",
    "sec-websocket-",
];

impl Endpoint {
    pub fn parse(config: &ClientConfig) -> Result<Endpoint, ClientError> {
        let invalid = |why: String| ClientError::InvalidConfig(why);
        let uri: Uri = config
            .url
            .parse()
            .map_err(|e| invalid(format!("url {:?}: {e}", config.url)))?;
        match uri.scheme_str() {
            Some("http" | "ws") => {}
            Some(other) => {
                return Err(invalid(format!(
                    "url scheme {other:?} is not supported (plain http only)"
                )))
            }
            None => return Err(invalid(format!("url {:?} has no scheme", config.url))),
        }
        let host = uri
            .host()
            .ok_or_else(|| invalid(format!("url {:?} has no host", config.url)))?;
        let port = uri.port_u16().unwrap_or(80);
        let authority = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        if !config.path.starts_with('/') || config.path.contains(['?', '#', ' ']) {
            return Err(invalid(format!(
                "path {:?} must start with '/' and have no query",
                config.path
            )));
        }
        if !config.namespace.starts_with('/') || config.namespace.contains(',') {
            return Err(invalid(format!(
                "namespace {:?} must start with '/' and contain no ','",
                config.namespace
            )));
        }
        let mut path = config.path.clone();
        if !path.ends_with('/') {
            path.push('/');
        }
        let extra_headers = config
            .extra_headers
            .iter()
            .map(|(name, value)| extra_header(name, value))
            .collect::<Result<_, _>>()?;
        Ok(Endpoint {
            authority,
            path,
            origin: config.origin.clone(),
            extra_headers,
        })
    }

    /// The request target for `transport` (`polling` or `websocket`), with `sid` if given.
    pub fn target(&self, transport: &str, sid: Option<&str>) -> String {
        match sid {
            Some(sid) => format!(
                "{}?EIO=4&transport={transport}&sid={}",
                self.path,
                encode_query(sid)
            ),
            None => format!("{}?EIO=4&transport={transport}", self.path),
        }
    }
}

/// One of [`ClientConfig::extra_headers`], checked.
fn extra_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), ClientError> {
    let invalid = |why: String| ClientError::InvalidConfig(why);
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| invalid(format!("extra header {name:?}: not a valid header name")))?;
    let own = name.as_str();
    if OWN_HEADERS
        .iter()
        .any(|o| own == *o || (o.ends_with('-') && own.starts_with(o)))
    {
        return Err(invalid(format!(
            "extra header {own:?}: the client sets it itself{}",
            if own == "origin" {
                " (use ClientConfig::origin)"
            } else {
                ""
            }
        )));
    }
    // `HeaderValue` takes any byte but the control characters (tab aside): no line break can
    // end the header early.
    let value = HeaderValue::from_str(value).map_err(|_| {
        invalid(format!(
            "extra header {own:?}: control characters are not allowed in its value"
        ))
    })?;
    Ok((name, value))
}

/// Percent-encode a query value (session ids are URL-safe base64 in practice; be safe anyway).
fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

    use super::*;

    #[test]
    fn parses_urls() {
        let e = Endpoint::parse(&ClientConfig::new("http://127.0.0.1:3000")).unwrap();
        assert_eq!(e.authority, "127.0.0.1:3000");
        assert_eq!(
            e.target("polling", None),
            "/socket.io/?EIO=4&transport=polling"
        );
        assert_eq!(
            e.target("websocket", Some("a+b")),
            "/socket.io/?EIO=4&transport=websocket&sid=a%2Bb"
        );
        let e = Endpoint::parse(&ClientConfig::new("ws://[::1]:80").path("/x")).unwrap();
        assert_eq!(e.authority, "[::1]:80");
        assert_eq!(e.path, "/x/");
        let e = Endpoint::parse(&ClientConfig::new("http://localhost")).unwrap();
        assert_eq!(e.authority, "localhost:80");
    }

    #[test]
    fn refuses_bad_configs() {
        for config in [
            ClientConfig::new("https://127.0.0.1:3000"),
            ClientConfig::new("127.0.0.1:3000"),
            ClientConfig::new("http://127.0.0.1:3000").path("socket.io"),
            ClientConfig::new("http://127.0.0.1:3000").namespace("admin"),
        ] {
            assert!(matches!(
                Endpoint::parse(&config),
                Err(ClientError::InvalidConfig(_))
            ));
        }
    }
}
