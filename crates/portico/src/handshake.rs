//! What the server knows about a client from its first request: `socket.handshake`.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::packed_head::PackedHead;

/// The address of the peer of an HTTP connection. [`crate::serve_app`] puts it in every
/// request's extensions ([`crate::serve`] hands it to Portico beside each request); when you
/// run Portico inside another server, insert it yourself so that [`Handshake::address`] and
/// the hooks' [`crate::RequestParts::peer`] are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// A handshake's addresses, handed by the router to the engine (a request of a session needs
/// neither).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientAddr {
    /// The client's address as the server counts it (`max_sessions_per_ip`) and shows it
    /// ([`Handshake::address`]): the peer's, or behind a trusted proxy the one it forwards.
    pub(crate) client: SocketAddr,
    /// The peer's own (what the `allow_request` hook sees as [`crate::RequestParts::peer`]).
    pub(crate) peer: SocketAddr,
}

/// The client address of a request from `peer`: `peer` itself, unless `trusted(peer)`; then
/// the right-most `X-Forwarded-For` address that is not a trusted proxy (each proxy appends
/// the address it got the request from, so the hops right of it are ours and the ones left
/// of it are the client's word), or the left-most when all are trusted. Its port is `0`.
/// At most [`MAX_FORWARDED_HOPS`] hops are read; an unreadable list leaves `peer`.
pub(crate) fn client_addr<H: portico_cors::RequestHeaders + ?Sized>(
    peer: SocketAddr,
    headers: &H,
    trusted: impl Fn(std::net::IpAddr) -> bool,
) -> SocketAddr {
    if !trusted(peer.ip()) {
        return peer;
    }
    let mut hops: Vec<std::net::IpAddr> = Vec::new();
    for value in headers.get_all(&X_FORWARDED_FOR) {
        let Ok(text) = value.to_str() else {
            return peer;
        };
        for hop in text.split(',') {
            if hops.len() == MAX_FORWARDED_HOPS {
                return peer;
            }
            match hop.trim().parse() {
                Ok(ip) => hops.push(ip),
                Err(_) => return peer,
            }
        }
    }
    let client = hops
        .iter()
        .rev()
        .find(|ip| !trusted(**ip))
        .or(hops.first())
        .copied();
    client.map_or(peer, |ip| SocketAddr::new(ip, 0))
}

/// The header a trusted proxy names the client in.
static X_FORWARDED_FOR: http::HeaderName = http::HeaderName::from_static("x-forwarded-for");

/// Hops of `X-Forwarded-For` read; a longer chain is not trusted.
const MAX_FORWARDED_HOPS: usize = 32;

/// Per-connection facts, shared by every socket of the connection.
///
/// The first request's URL and headers are kept packed ([`PackedHead`]): a `HeaderMap`
/// (over 1 KiB for a browser's handshake) and the parsed query are built on first use only,
/// so an idle connection whose application never reads them does not pay for them. The
/// packed copy owns its bytes: hyper parses header values as slices of its connection read
/// buffer (16 KiB after a handshake), which the connection must not keep alive.
#[derive(Debug)]
pub(crate) struct ConnInfo {
    head: PackedHead,
    headers: OnceLock<Box<HeaderMap>>,
    query: OnceLock<Vec<(String, String)>>,
    pub(crate) address: Option<SocketAddr>,
    pub(crate) time: SystemTime,
    pub(crate) secure: bool,
}

impl ConnInfo {
    /// The facts of a request whose URL (path and query) is `url`; the query is parsed from
    /// `url` when first asked for.
    pub(crate) fn new(
        url: &str,
        headers: &HeaderMap,
        address: Option<SocketAddr>,
        time: SystemTime,
        secure: bool,
    ) -> ConnInfo {
        ConnInfo::packed(PackedHead::new(url, headers), address, time, secure)
    }

    /// The facts of a request whose URL and headers are packed in `head`.
    pub(crate) fn packed(
        head: PackedHead,
        address: Option<SocketAddr>,
        time: SystemTime,
        secure: bool,
    ) -> ConnInfo {
        ConnInfo {
            head,
            headers: OnceLock::new(),
            query: OnceLock::new(),
            address,
            time,
            secure,
        }
    }

    /// The same, with a query given rather than parsed from the URL (a handshake another node
    /// described).
    fn with_query(self, query: Vec<(String, String)>) -> ConnInfo {
        let _ = self.query.set(query);
        self
    }

    /// The headers (built from the packed copy on the first call).
    pub(crate) fn headers(&self) -> &HeaderMap {
        self.headers
            .get_or_init(|| Box::new(self.head.header_map()))
    }

    /// The first value of header `name` (lowercase) as text, without building the map.
    pub(crate) fn header_str(&self, name: &str) -> Option<&str> {
        self.head
            .get(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The query parameters, percent-decoded (parsed from the URL on the first call).
    pub(crate) fn query(&self) -> &[(String, String)] {
        self.query.get_or_init(|| {
            let url = self.head.url();
            crate::http::Query::parse(url.split_once('?').map(|(_, q)| q)).to_pairs()
        })
    }

    /// Path and query of the request.
    pub(crate) fn url(&self) -> &str {
        self.head.url()
    }
}

/// The handshake of a socket (Node's `socket.handshake`): the headers, query and address of
/// the connection's first request, and the `auth` payload the client sent with this
/// namespace's CONNECT.
#[derive(Debug, Clone)]
pub struct Handshake {
    info: Arc<ConnInfo>,
    /// `None` is `{}`, what most clients send (boxed: every socket holds a `Handshake`).
    auth: Option<Box<Value>>,
}

/// `{}`: the `auth` payload of a client that sent none.
fn empty_auth() -> &'static Value {
    static EMPTY: OnceLock<Value> = OnceLock::new();
    EMPTY.get_or_init(|| Value::Object(serde_json::Map::new()))
}

impl Handshake {
    /// The handshake of a socket of the connection `info`, whose CONNECT carried `auth`.
    pub(crate) fn new(info: Arc<ConnInfo>, auth: Value) -> Handshake {
        let empty = auth.as_object().is_some_and(serde_json::Map::is_empty);
        Handshake {
            info,
            auth: (!empty).then(|| Box::new(auth)),
        }
    }

    /// Headers of the first HTTP request of the connection.
    pub fn headers(&self) -> &HeaderMap {
        self.info.headers()
    }
    /// One query parameter of the first request (percent-decoded).
    pub fn query(&self, key: &str) -> Option<&str> {
        self.info
            .query()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    /// Every query parameter, in order.
    pub fn query_pairs(&self) -> &[(String, String)] {
        self.info.query()
    }
    /// The peer's address, when known (see [`PeerAddr`]).
    pub fn address(&self) -> Option<SocketAddr> {
        self.info.address
    }
    /// When the connection was opened.
    pub fn time(&self) -> SystemTime {
        self.info.time
    }
    /// When the connection was opened, in milliseconds since the Unix epoch (Node's `issued`).
    pub fn issued(&self) -> u64 {
        self.info
            .time
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
    /// Path and query of the first request.
    pub fn url(&self) -> &str {
        self.info.url()
    }
    /// Whether the connection came over TLS.
    pub fn secure(&self) -> bool {
        self.info.secure
    }
    /// Whether the first request carried an `Origin` header (Node's `xdomain`).
    pub fn xdomain(&self) -> bool {
        self.info.head.get("origin").is_some()
    }
    /// The value of the cookie `name` in the first request's `Cookie` header(s), if any —
    /// e.g. the session id your HTTP app's session layer set at login, which the browser
    /// sends with the handshake when the client connects with `withCredentials: true`
    /// (cross-origin) or from the same origin.
    ///
    /// The value is returned as sent (no percent-decoding, surrounding double quotes
    /// removed); the first cookie of that name wins. Only what the browser sends is here: a
    /// cookie set by a response of the Socket.IO connection itself is not.
    ///
    /// ```
    /// # use portico::{ConnectError, Socket};
    /// # let _ = |socket: Socket| async move {
    /// let Some(session_id) = socket.handshake().cookie("id") else {
    ///     return Err(ConnectError::new("not logged in"));
    /// };
    /// # let _ = session_id;
    /// # Ok(())
    /// # };
    /// ```
    pub fn cookie(&self, name: &str) -> Option<&str> {
        cookie_value(self.info.head.get_all("cookie"), name)
    }
    /// The `auth` payload as JSON (`{}` when the client sent none).
    pub fn auth_value(&self) -> &Value {
        self.auth.as_deref().unwrap_or_else(|| empty_auth())
    }
    /// The `auth` payload as your type.
    pub fn auth<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(self.auth_value())
    }
}

/// The value of cookie `name` in `headers`' `Cookie` fields (`a=1; b=2`, RFC 6265 §5.4).
/// Pairs that are not `name=value` or not UTF-8 are skipped; a value in double quotes is
/// returned without them.
fn cookie_value<'a>(values: impl Iterator<Item = &'a [u8]>, name: &str) -> Option<&'a str> {
    values
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| !name.is_empty() && k.trim() == name)
        .map(|(_, v)| {
            let v = v.trim();
            v.strip_prefix('"')
                .and_then(|inner| inner.strip_suffix('"'))
                .unwrap_or(v)
        })
}

impl Handshake {
    /// A handshake as another node described it (Node's `socket.handshake` in JSON).
    pub(crate) fn from_json(v: &Value) -> Handshake {
        let mut headers = HeaderMap::new();
        if let Some(map) = v.get("headers").and_then(Value::as_object) {
            for (k, val) in map {
                let text = match val {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                if let (Ok(name), Ok(value)) = (
                    http::HeaderName::from_bytes(k.as_bytes()),
                    http::HeaderValue::from_str(&text),
                ) {
                    headers.append(name, value);
                }
            }
        }
        let query = v
            .get("query")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let address = v
            .get("address")
            .and_then(Value::as_str)
            .and_then(|a| a.parse::<std::net::IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, 0));
        let issued = v.get("issued").and_then(Value::as_u64).unwrap_or(0);
        let url = v.get("url").and_then(Value::as_str).unwrap_or_default();
        let info = ConnInfo::new(
            url,
            &headers,
            address,
            UNIX_EPOCH + std::time::Duration::from_millis(issued),
            v.get("secure").and_then(Value::as_bool).unwrap_or(false),
        )
        .with_query(query);
        let auth = v
            .get("auth")
            .cloned()
            .unwrap_or_else(|| empty_auth().clone());
        Handshake::new(Arc::new(info), auth)
    }
}

/// Serializes like Node's `socket.handshake` (headers with lowercase names; `time` as a date
/// string; `issued` in ms).
impl Serialize for Handshake {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Headers<'a>(&'a HeaderMap);
        impl Serialize for Headers<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(self.0.keys_len()))?;
                for k in self.0.keys() {
                    let v: Vec<&str> = self
                        .0
                        .get_all(k)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .collect();
                    m.serialize_entry(k.as_str(), &v.join(", "))?;
                }
                m.end()
            }
        }
        struct Query<'a>(&'a [(String, String)]);
        impl Serialize for Query<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for (k, v) in self.0 {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
        let mut m = s.serialize_map(Some(9))?;
        m.serialize_entry("headers", &Headers(self.info.headers()))?;
        m.serialize_entry("time", &httpdate(self.info.time))?;
        m.serialize_entry("address", &self.info.address.map(|a| a.ip().to_string()))?;
        m.serialize_entry("xdomain", &self.xdomain())?;
        m.serialize_entry("secure", &self.info.secure)?;
        m.serialize_entry("issued", &self.issued())?;
        m.serialize_entry("url", self.info.url())?;
        m.serialize_entry("query", &Query(self.info.query()))?;
        m.serialize_entry("auth", self.auth_value())?;
        m.end()
    }
}

/// RFC 7231 date, as JavaScript's `Date.prototype.toString` is not worth imitating.
fn httpdate(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, mi, sec) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1).clamp(0, 11) as usize],
        y,
        h,
        mi,
        sec
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn kept_headers_do_not_share_the_request_buffer() {
        let buffer = bytes::Bytes::from(vec![b'x'; 16 * 1024]);
        let mut headers = HeaderMap::new();
        let value = http::HeaderValue::from_maybe_shared(buffer.slice(0..5))
            .unwrap_or_else(|_| http::HeaderValue::from_static("x"));
        headers.append("x-custom", value);
        headers.append(
            http::header::ORIGIN,
            http::HeaderValue::from_static("http://a.example"),
        );
        let info = ConnInfo::new("/socket.io/?a=1", &headers, None, UNIX_EPOCH, false);
        let copy = info.headers();
        assert_eq!(*copy, headers);
        // The copy's value lives in its own allocation, not in the 16 KiB buffer.
        let copied = copy["x-custom"].as_bytes().as_ptr();
        assert!(!buffer.as_ptr_range().contains(&copied));
        assert_eq!(info.header_str("origin"), Some("http://a.example"));
        assert_eq!(info.query(), [("a".to_owned(), "1".to_owned())]);
    }

    #[test]
    fn client_address_behind_trusted_proxies() {
        let proxy: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let trusted = |ip: std::net::IpAddr| ip.to_string().starts_with("10.");
        let with = |xff: &[&str]| {
            let mut h = HeaderMap::new();
            for v in xff {
                h.append("x-forwarded-for", http::HeaderValue::from_str(v).unwrap());
            }
            client_addr(proxy, &h, trusted).to_string()
        };
        assert_eq!(with(&[]), "10.0.0.1:5000", "nothing forwarded: the peer");
        assert_eq!(with(&["203.0.113.7"]), "203.0.113.7:0");
        // The client's own claim (left) is not believed over what our proxies saw.
        assert_eq!(with(&["1.2.3.4, 203.0.113.7, 10.0.0.2"]), "203.0.113.7:0");
        assert_eq!(with(&["1.2.3.4", "203.0.113.7"]), "203.0.113.7:0");
        assert_eq!(with(&["10.0.0.3, 10.0.0.2"]), "10.0.0.3:0");
        assert_eq!(with(&["not-an-ip"]), "10.0.0.1:5000");
        // An untrusted peer's header is ignored.
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", http::HeaderValue::from_static("1.2.3.4"));
        let peer: SocketAddr = "198.51.100.1:1".parse().unwrap();
        assert_eq!(client_addr(peer, &h, trusted), peer);
    }

    #[test]
    fn cookies_of_the_first_request() {
        let cookie_value = |h: &HeaderMap, name: &str| {
            let packed = PackedHead::new("/", h);
            cookie_value(packed.get_all("cookie"), name).map(str::to_owned)
        };
        let mut h = HeaderMap::new();
        assert_eq!(cookie_value(&h, "id").as_deref(), None, "no Cookie header");
        h.append(
            http::header::COOKIE,
            http::HeaderValue::from_static("theme=dark; id=abc.def-1; io=x"),
        );
        h.append(
            http::header::COOKIE,
            http::HeaderValue::from_static("late=\"quoted value\";id=second"),
        );
        assert_eq!(
            cookie_value(&h, "id").as_deref(),
            Some("abc.def-1"),
            "first one wins"
        );
        assert_eq!(cookie_value(&h, "theme").as_deref(), Some("dark"));
        assert_eq!(cookie_value(&h, "late").as_deref(), Some("quoted value"));
        assert_eq!(cookie_value(&h, "i").as_deref(), None, "names match whole");
        assert_eq!(
            cookie_value(&h, "dark").as_deref(),
            None,
            "values are not names"
        );
        let mut odd = HeaderMap::new();
        odd.append(
            http::header::COOKIE,
            http::HeaderValue::from_static(";; junk ; empty= ;=nameless"),
        );
        assert_eq!(cookie_value(&odd, "empty").as_deref(), Some(""));
        assert_eq!(cookie_value(&odd, "junk").as_deref(), None);
        assert_eq!(
            cookie_value(&odd, "").as_deref(),
            None,
            "no cookie has an empty name"
        );
    }

    #[test]
    fn http_dates() {
        assert_eq!(httpdate(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            httpdate(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            "Tue, 14 Nov 2023 22:13:20 GMT"
        );
    }
}
