//! A raw HTTP/1.1 probe on tokio: one connection per request, every header kept as received
//! (a duplicated `Access-Control-Allow-Origin` stays two lines), each request bounded in time,
//! header and body sizes capped. `https://` and `wss://` go through rustls with the webpki
//! root certificates.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

/// Largest response head read (status line and headers), in bytes.
const MAX_HEAD: usize = 16 * 1024;
/// Largest response body kept, in bytes; the rest is not read.
pub(crate) const MAX_BODY: usize = 64 * 1024;
/// Most response headers parsed.
const MAX_HEADERS: usize = 64;

/// A byte stream: plain TCP or TLS over TCP.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Where the server is: scheme, host and port of the URL given to `doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// Whether to speak TLS (`https`/`wss`).
    pub tls: bool,
    /// The host as written in the URL, IPv6 addresses in brackets.
    pub host: String,
    /// The port, the scheme's default filled in.
    pub port: u16,
}

impl Target {
    /// `http://host[:port]` (or `https`): the server's origin, as a browser serialises it.
    pub fn origin(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.authority()
        )
    }

    /// `host[:port]`, the port left out when it is the scheme's default (the `Host` header).
    pub fn authority(&self) -> String {
        let default = if self.tls { 443 } else { 80 };
        if self.port == default {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The full `http(s)://` URL of a path and query.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.origin())
    }

    /// The full `ws(s)://` URL of a path and query.
    pub fn ws_url(&self, path_and_query: &str) -> String {
        format!(
            "{}://{}{path_and_query}",
            if self.tls { "wss" } else { "ws" },
            self.authority()
        )
    }

    /// The host without IPv6 brackets, for DNS and TLS.
    fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }
}

/// One request as written on the wire (the `Host` header is added).
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// A request without headers or body.
    pub fn new(method: &'static str, path: impl Into<String>) -> Request {
        Request {
            method,
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The request as evidence lines: `> GET /path HTTP/1.1`, then `> Name: value` for the
    /// headers that matter to the diagnosis (not Host, Content-Length or the WebSocket key).
    pub fn evidence(&self) -> Vec<String> {
        let mut lines = vec![format!("> {} {} HTTP/1.1", self.method, self.path)];
        for (name, value) in &self.headers {
            let skip = [
                "user-agent",
                "accept",
                "sec-websocket-key",
                "sec-websocket-version",
            ];
            let close =
                name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close");
            if !close && !skip.iter().any(|s| name.eq_ignore_ascii_case(s)) {
                lines.push(format!("> {name}: {value}"));
            }
        }
        if !self.body.is_empty() {
            lines.push(format!("> {}", printable(&self.body, 200)));
        }
        lines
    }

    fn encode(&self, target: &Target) -> Vec<u8> {
        let mut out = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\n",
            self.method,
            self.path,
            target.authority()
        );
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        if !self.body.is_empty() || self.method == "POST" {
            out.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// A response: status, headers in order with names in lowercase, and up to [`MAX_BODY`]
/// bytes of body.
#[derive(Debug, Clone, Default)]
pub(crate) struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every line of a header, in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The response as evidence lines: `< HTTP/1.1 200 OK`, every header but `date`,
    /// `content-length`, `keep-alive` and `etag`, and the start of the body.
    pub fn evidence(&self) -> Vec<String> {
        let mut lines = vec![format!("< HTTP/1.1 {} {}", self.status, self.reason)];
        for (name, value) in &self.headers {
            if !["date", "content-length", "keep-alive", "etag"].contains(&name.as_str()) {
                lines.push(format!("< {name}: {value}"));
            }
        }
        // A polling payload: one line per packet.
        for packet in self.body.split(|&b| b == 0x1e).filter(|p| !p.is_empty()) {
            lines.push(format!("< {}", printable(packet, 200)));
        }
        lines
    }

    /// The proxy that answered, from `Server` or `Via` (e.g. `nginx/1.22.1`), if the answer
    /// names one that is not a Socket.IO server itself.
    pub fn proxy_name(&self) -> Option<String> {
        let known = [
            "nginx",
            "apache",
            "envoy",
            "haproxy",
            "caddy",
            "traefik",
            "cloudflare",
        ];
        let candidates = self
            .header_all("server")
            .into_iter()
            .chain(self.header_all("via"));
        for value in candidates {
            let lower = value.to_ascii_lowercase();
            if known.iter().any(|k| lower.contains(k)) {
                return Some(value.to_string());
            }
        }
        self.header("via")
            .map(|v| format!("the proxy named in `Via: {v}`"))
    }
}

/// Text for an evidence line: at most `max` characters, control bytes escaped
/// (`\u001e` for the polling separator).
pub(crate) fn printable(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i >= max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProbeError {
    /// The host name does not resolve.
    Dns(String),
    /// TCP connection refused (or otherwise failed before connecting).
    Refused(String),
    /// No TCP connection within the time allowed.
    ConnectTimeout,
    /// Connected, but no complete answer within the time allowed.
    Timeout,
    /// The TLS handshake failed.
    Tls(String),
    /// The server closed the connection without answering.
    Closed,
    /// The bytes received are not an HTTP/1.1 response.
    Malformed(String),
    /// Another I/O error after connecting.
    Io(String),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Dns(e) => write!(f, "DNS lookup failed: {e}"),
            ProbeError::Refused(e) => write!(f, "connection refused: {e}"),
            ProbeError::ConnectTimeout => f.write_str("no TCP connection within the time allowed"),
            ProbeError::Timeout => f.write_str("connected, but no answer within the time allowed"),
            ProbeError::Tls(e) => write!(f, "TLS handshake failed: {e}"),
            ProbeError::Closed => f.write_str("the server closed the connection without answering"),
            ProbeError::Malformed(e) => write!(f, "not an HTTP/1.1 response: {e}"),
            ProbeError::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

/// Opens a connection (TCP, then TLS for `https`) within `timeout`.
pub(crate) async fn connect(target: &Target, timeout: Duration) -> Result<Box<dyn Io>, ProbeError> {
    let host = target.bare_host().to_string();
    let lookup = tokio::time::timeout(
        timeout,
        tokio::net::lookup_host((host.as_str(), target.port)),
    );
    let addrs: Vec<_> = match lookup.await {
        Err(_) => {
            let ms = timeout.as_millis();
            return Err(ProbeError::Dns(format!(
                "{host}: no answer from the resolver within {ms} ms"
            )));
        }
        Ok(Err(e)) => return Err(ProbeError::Dns(format!("{host}: {e}"))),
        Ok(Ok(addrs)) => addrs.collect(),
    };
    if addrs.is_empty() {
        return Err(ProbeError::Dns(format!("{host}: no address")));
    }
    let dial = async {
        let mut last = ProbeError::Refused("no address".into());
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = ProbeError::Refused(format!("{addr}: {e}")),
            }
        }
        Err(last)
    };
    let tcp = match tokio::time::timeout(timeout, dial).await {
        Err(_) => return Err(ProbeError::ConnectTimeout),
        Ok(r) => r?,
    };
    let _ = tcp.set_nodelay(true);
    if !target.tls {
        return Ok(Box::new(tcp));
    }
    let name = rustls::pki_types::ServerName::try_from(host.clone())
        .map_err(|e| ProbeError::Tls(format!("{host} is not a valid TLS server name: {e}")))?;
    let connector = tokio_rustls::TlsConnector::from(tls_config());
    match tokio::time::timeout(timeout, connector.connect(name, tcp)).await {
        Err(_) => Err(ProbeError::Timeout),
        Ok(Err(e)) => Err(ProbeError::Tls(e.to_string())),
        Ok(Ok(tls)) => Ok(Box::new(tls)),
    }
}

/// The TLS client configuration: the webpki roots, HTTP/1.1 only.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = match rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
            {
                Ok(b) => b.with_root_certificates(roots).with_no_client_auth(),
                // The ring provider supports the default versions; keep a working fallback.
                Err(_) => rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            };
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(config)
        })
        .clone()
}

/// Sends one request on a new connection (`Connection: close`) and reads the whole answer,
/// all within `timeout`.
pub(crate) async fn send(
    target: &Target,
    request: &Request,
    timeout: Duration,
) -> Result<Response, ProbeError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut io = connect(target, timeout).await?;
    let wire = request.encode(target);
    let exchange = async {
        io.write_all(&wire)
            .await
            .map_err(|e| ProbeError::Io(e.to_string()))?;
        let (response, rest) = read_head(&mut io).await?;
        let body = read_body(&mut io, &response, rest, request.method == "HEAD").await?;
        Ok(Response { body, ..response })
    };
    match tokio::time::timeout_at(deadline, exchange).await {
        Err(_) => Err(ProbeError::Timeout),
        Ok(r) => r,
    }
}

/// Sends an upgrade request and reads the answer's head. On `101` the connection is handed
/// back with the bytes that followed the head; on any other status the body is read too.
pub(crate) async fn upgrade(
    target: &Target,
    request: &Request,
    timeout: Duration,
) -> Result<(Response, Option<(Box<dyn Io>, Vec<u8>)>), ProbeError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut io = connect(target, timeout).await?;
    let wire = request.encode(target);
    let exchange = async {
        io.write_all(&wire)
            .await
            .map_err(|e| ProbeError::Io(e.to_string()))?;
        let (response, rest) = read_head(&mut io).await?;
        if response.status == 101 {
            return Ok((response, Some(rest)));
        }
        let body = read_body(&mut io, &response, rest, false).await?;
        Ok((Response { body, ..response }, None))
    };
    match tokio::time::timeout_at(deadline, exchange).await {
        Err(_) => Err(ProbeError::Timeout),
        Ok(Ok((response, Some(rest)))) => Ok((response, Some((io, rest)))),
        Ok(Ok((response, None))) => Ok((response, None)),
        Ok(Err(e)) => Err(e),
    }
}

/// Reads until the end of the head; returns it parsed and the bytes after it.
async fn read_head(io: &mut Box<dyn Io>) -> Result<(Response, Vec<u8>), ProbeError> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = io
            .read(&mut chunk)
            .await
            .map_err(|e| ProbeError::Io(e.to_string()))?;
        if n == 0 {
            return Err(if buf.is_empty() {
                ProbeError::Closed
            } else {
                ProbeError::Malformed("the connection closed in the middle of the head".into())
            });
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(parsed) = parse_head(&buf)? {
            return Ok(parsed);
        }
        if buf.len() > MAX_HEAD {
            return Err(ProbeError::Malformed(format!(
                "head larger than {MAX_HEAD} bytes"
            )));
        }
    }
}

/// Parses a response head; `None` while it is incomplete.
pub(crate) fn parse_head(buf: &[u8]) -> Result<Option<(Response, Vec<u8>)>, ProbeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut headers);
    match parsed.parse(buf) {
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(ProbeError::Malformed(format!(
            "{e} (starts with {:?})",
            printable(buf, 40)
        ))),
        Ok(httparse::Status::Complete(len)) => {
            let response = Response {
                status: parsed.code.unwrap_or_default(),
                reason: parsed.reason.unwrap_or_default().to_string(),
                headers: parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).trim().to_string(),
                        )
                    })
                    .collect(),
                body: Vec::new(),
            };
            Ok(Some((
                response,
                buf.get(len..).unwrap_or_default().to_vec(),
            )))
        }
    }
}

/// Reads the body after the head: chunked, by `Content-Length`, or until the connection
/// closes; at most [`MAX_BODY`] bytes are kept (and read).
async fn read_body(
    io: &mut Box<dyn Io>,
    head: &Response,
    mut buf: Vec<u8>,
    head_only: bool,
) -> Result<Vec<u8>, ProbeError> {
    if head_only || matches!(head.status, 100..=199 | 204 | 304) {
        return Ok(Vec::new());
    }
    let chunked = head
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = head
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok());
    let mut chunk = [0u8; 8192];
    loop {
        if chunked {
            if let Some(body) = dechunk(&buf) {
                return Ok(body);
            }
        } else if let Some(len) = length {
            if buf.len() >= len.min(MAX_BODY) {
                buf.truncate(len.min(MAX_BODY));
                return Ok(buf);
            }
        }
        if buf.len() >= MAX_BODY {
            buf.truncate(MAX_BODY);
            return Ok(buf);
        }
        let n = io
            .read(&mut chunk)
            .await
            .map_err(|e| ProbeError::Io(e.to_string()))?;
        if n == 0 {
            // Closed: what arrived is the body (chunked bodies cut short: their chunks so far).
            return Ok(if chunked { dechunk_partial(&buf) } else { buf });
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Decodes a complete chunked body; `None` while the last chunk has not arrived.
pub(crate) fn dechunk(buf: &[u8]) -> Option<Vec<u8>> {
    let (body, complete) = dechunk_inner(buf);
    complete.then_some(body)
}

fn dechunk_partial(buf: &[u8]) -> Vec<u8> {
    dechunk_inner(buf).0
}

fn dechunk_inner(buf: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let Some(rest) = buf.get(at..) else {
            return (out, false);
        };
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return (out, false);
        };
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let size_text = size_text
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let Ok(size) = usize::from_str_radix(&size_text, 16) else {
            return (out, true);
        };
        let start = at + eol + 2;
        if size == 0 {
            return (out, true);
        }
        let end = start.saturating_add(size);
        match buf.get(start..end) {
            Some(data) => out.extend_from_slice(data),
            None => {
                out.extend_from_slice(buf.get(start..).unwrap_or_default());
                return (out, false);
            }
        }
        if out.len() >= MAX_BODY {
            out.truncate(MAX_BODY);
            return (out, true);
        }
        at = end + 2;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

    use super::*;

    #[test]
    fn parses_duplicate_headers_in_order() {
        let raw = b"HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\nServer: nginx/1.22.1\r\naccess-control-allow-origin: http://a.test\r\n\r\nbody";
        let (r, rest) = parse_head(raw).unwrap().unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header_all("access-control-allow-origin"),
            ["*", "http://a.test"]
        );
        assert_eq!(rest, b"body");
        assert_eq!(r.proxy_name().as_deref(), Some("nginx/1.22.1"));
        assert!(r
            .evidence()
            .contains(&"< access-control-allow-origin: *".to_string()));
    }

    #[test]
    fn partial_head_is_none() {
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nA: b\r\n")
            .unwrap()
            .is_none());
        assert!(parse_head(b"\x16\x03\x01garbage\r\n\r\n").is_err());
    }

    #[test]
    fn chunked_bodies() {
        assert_eq!(
            dechunk(b"4\r\nabcd\r\n2;x=y\r\nef\r\n0\r\n\r\n").unwrap(),
            b"abcdef"
        );
        assert!(dechunk(b"4\r\nab").is_none());
        assert_eq!(dechunk_partial(b"4\r\nabcd\r\n2\r\ne"), b"abcde");
    }

    #[test]
    fn target_urls() {
        let t = Target {
            tls: false,
            host: "localhost".into(),
            port: 80,
        };
        assert_eq!(t.origin(), "http://localhost");
        let t = Target {
            tls: true,
            host: "[::1]".into(),
            port: 8443,
        };
        assert_eq!(t.url("/socket.io/"), "https://[::1]:8443/socket.io/");
        assert_eq!(t.ws_url("/x"), "wss://[::1]:8443/x");
        assert_eq!(t.bare_host(), "::1");
    }

    #[test]
    fn evidence_escapes_separators() {
        assert_eq!(printable(b"40\x1e2", 10), "40\\u001e2");
        assert_eq!(printable(b"abcdef", 3), "abc…");
    }
}
