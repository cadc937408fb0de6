//! Small HTTP helpers: responses with the reference bodies, query parsing.

use std::borrow::Cow;

use bytes::Bytes;
use http::header::{
    HeaderName, HeaderValue, CONNECTION, CONTENT_TYPE, SEC_WEBSOCKET_ACCEPT, UPGRADE,
};
use http::{Response, StatusCode};
use http_body_util::Full;
use portico_cors::RequestHeaders;
use portico_proto::engine::ErrorCode;
use portico_proto::ws::AcceptKey;

use crate::hooks::RequestParts;
use crate::packed_head::PackedHead;
use crate::refusal::Reason;

/// The body of every response Portico makes.
pub type Body = Full<Bytes>;

pub(crate) fn error(code: ErrorCode) -> Response<Body> {
    let mut res = Response::new(Full::new(Bytes::from(code.to_json())));
    *res.status_mut() = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // Lets the router report the refusal as a `connection_error`.
    res.extensions_mut().insert(Refusal {
        code,
        message: code.message().to_owned(),
        reason: None,
        kind: match code {
            ErrorCode::UnknownSid => Reason::UnknownSid,
            ErrorCode::Forbidden => Reason::Origin,
            ErrorCode::UnsupportedProtocolVersion => Reason::UnsupportedVersion,
            _ => Reason::BadRequest,
        },
    });
    res
}

/// [`error`] with the reason the log and `connection_error` give (the body stays the
/// reference one).
pub(crate) fn error_because(code: ErrorCode, reason: String) -> Response<Body> {
    let mut res = error(code);
    if let Some(r) = res.extensions_mut().get_mut::<Refusal>() {
        r.reason = Some(reason);
    }
    res
}

/// A refusal by a limit: `status` with `{"code":4,"message":message}` (Node has no code of its
/// own for these; 4 is what its `allowRequest` refusals carry), reported as `kind`.
pub(crate) fn limit_refusal(status: StatusCode, message: &str, kind: Reason) -> Response<Body> {
    let body =
        serde_json::json!({ "code": ErrorCode::Forbidden.code(), "message": message }).to_string();
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res.extensions_mut().insert(Refusal {
        code: ErrorCode::Forbidden,
        message: message.to_owned(),
        reason: None,
        kind,
    });
    res
}

/// A `413 Payload Too Large` for a polling POST over `max_payload` (as Node: no body).
pub(crate) fn payload_too_large(max_payload: u64) -> Response<Body> {
    let mut res = status(StatusCode::PAYLOAD_TOO_LARGE);
    res.extensions_mut().insert(Refusal {
        code: ErrorCode::BadRequest,
        message: "Payload too large".to_owned(),
        reason: Some(format!(
            "the POST body is over max_payload ({max_payload} bytes)"
        )),
        kind: Reason::PayloadTooLarge,
    });
    res
}

/// Attached to an error response so that the router reports it once as a
/// `connection_error`.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
    pub(crate) reason: Option<String>,
    /// What it is counted as.
    pub(crate) kind: Reason,
}

/// Marks a handshake response (for the cookie and the `initial_headers` hook), with the new
/// session's id; put in only when the server has either (`EngineConfig::mark_handshakes`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HandshakeResponse(pub(crate) crate::sid::Sid);

/// A 403 `{"code":4,"message":..}` with a custom message (an `allow_request` refusal).
pub(crate) fn forbidden(message: &str) -> Response<Body> {
    let body =
        serde_json::json!({ "code": ErrorCode::Forbidden.code(), "message": message }).to_string();
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = StatusCode::FORBIDDEN;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res.extensions_mut().insert(Refusal {
        code: ErrorCode::Forbidden,
        message: message.to_owned(),
        reason: Some(format!("refused by allow_request: {message}")),
        kind: Reason::AllowRequest,
    });
    res
}

pub(crate) fn status(status: StatusCode) -> Response<Body> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = status;
    res
}

/// What a polling request of a session is answered with, before it is a `Response`. The
/// answers of nearly every such request (a payload, a POST's `ok`) stay this small: `h1` writes
/// them as they are, where a `Response` would cost a header map per request (an allocation,
/// a hash, and their undoing). Anything else is a `Response`.
#[derive(Debug)]
pub(crate) enum Answer {
    /// 200, `text/plain; charset=UTF-8`: a polling payload ([`payload`]).
    Payload(Bytes),
    /// 200, `application/octet-stream`: an Engine.IO v3 binary payload.
    BinaryPayload(Bytes),
    /// 200, `text/html`, `ok`: a POST taken.
    PostOk,
    /// 101 to a WebSocket upgrade, with this `Sec-WebSocket-Accept`: its three headers,
    /// written by `h1` as they are, where a `Response` would build them into a header map (two
    /// allocations and a hash each) and copy the accept value into a third. (A handshake the
    /// server marks is a `Response`: see [`Answer::marked`].)
    Switching(AcceptKey, Leaves),
    /// Any other answer. Boxed: the answer is the output of every future of a request's
    /// chain, moved at each level, and a session's usual answers (the variants above) are a
    /// few words, where a `Response` is over a hundred bytes (a `memcpy` call per level).
    Response(Box<Response<Body>>),
}

/// When `h1` writes a `101`: an [`Answer::Switching`], or the `Response` it became when marked
/// ([`Answer::marked`] keeps this in its extensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leaves {
    /// At once, alone: the client speaks first on the WebSocket (the probe of a polling
    /// session's upgrade waits for the `101`), or it may listen for frames only once it has
    /// the `101` (the official Engine.IO v3 suite's client misses a frame that came in the same
    /// read as the `101`: an Engine.IO v3 session's open packet leaves apart). Also any `101`
    /// hyper writes (`serve_app`, the connections `h1` does not take).
    Alone,
    /// With the new session's first frame, its open packet, in one write: the WebSocket takes
    /// the `101`'s bytes, unwritten, ahead of its first frame (a `send` less per handshake).
    /// For a new Engine.IO v4 WebSocket session, whose clients (engine.io-client, browsers,
    /// `ws`) listen for frames from the start, as the official v4 and v5 suites do.
    WithOpenPacket,
}

/// The headers of a `101` answered with `accept`, in the order its `Response` has them.
pub(crate) fn switching_headers(accept: &AcceptKey) -> [(&'static HeaderName, &[u8]); 3] {
    [
        (&UPGRADE, b"websocket"),
        (&CONNECTION, b"Upgrade"),
        (&SEC_WEBSOCKET_ACCEPT, accept.as_bytes()),
    ]
}

fn switching_response(accept: &AcceptKey) -> Response<Body> {
    let mut res = Response::new(Body::default());
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    for (name, value) in switching_headers(accept) {
        // Cannot fail: these values are ASCII.
        if let Ok(v) = HeaderValue::from_bytes(value) {
            h.insert(name, v);
        }
    }
    res
}

/// The `Content-Type` of a polling payload, a v3 binary payload and a POST's `ok`.
static TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=UTF-8");
static OCTET_STREAM: HeaderValue = HeaderValue::from_static("application/octet-stream");
static TEXT_HTML: HeaderValue = HeaderValue::from_static("text/html");

impl Answer {
    /// A small answer's `Content-Type` and body, the one place they are said: `h1` writes
    /// them as they are, [`Answer::into_response`] puts them in a `Response`. `Err`: any
    /// other answer.
    // The `Err` is the answer itself handed back, not an error.
    pub(crate) fn small(self) -> Result<(&'static HeaderValue, Bytes), Large> {
        match self {
            Answer::Payload(body) => Ok((&TEXT_PLAIN, body)),
            Answer::BinaryPayload(body) => Ok((&OCTET_STREAM, body)),
            Answer::PostOk => Ok((&TEXT_HTML, Bytes::from_static(b"ok"))),
            Answer::Switching(s, _) => Err(Large::Switching(s)),
            Answer::Response(res) => Err(Large::Response(res)),
        }
    }

    /// The answer as a `Response`.
    pub(crate) fn into_response(self) -> Response<Body> {
        match self.small() {
            Ok((content_type, body)) => {
                let mut res = Response::new(Full::new(body));
                res.headers_mut().insert(CONTENT_TYPE, content_type.clone());
                res
            }
            Err(Large::Switching(accept)) => switching_response(&accept),
            Err(Large::Response(res)) => *res,
        }
    }

    /// A handshake's answer, marked with the new session's id when `handshake` has it (a
    /// server with a cookie or an `initial_headers` hook marks its handshakes:
    /// [`HandshakeResponse`]). A marked answer is a `Response`, which the cookie and the hook
    /// change anyway (a `101` keeps when it leaves: [`Answer::leaves`]); an unmarked one stays
    /// as it is (a small answer or a `101`, a few words moved through each future of a
    /// request's chain, written without a header map).
    pub(crate) fn marked(self, handshake: Option<crate::sid::Sid>) -> Answer {
        match handshake {
            None => self,
            Some(sid) => {
                let leaves = self.leaves();
                let mut res = self.into_response();
                res.extensions_mut().insert(HandshakeResponse(sid));
                if leaves != Leaves::Alone {
                    res.extensions_mut().insert(leaves);
                }
                res.into()
            }
        }
    }

    /// The new session's id, when this answers a handshake of a server that marks those
    /// ([`HandshakeResponse`]).
    pub(crate) fn handshake(&self) -> Option<crate::sid::Sid> {
        match self {
            Answer::Response(res) => res.extensions().get::<HandshakeResponse>().map(|h| h.0),
            _ => None,
        }
    }

    /// When a `101` leaves: [`Leaves::Alone`] but for a [`Answer::Switching`] that says
    /// otherwise, or the `Response` it became when marked (see [`Answer::marked`]).
    pub(crate) fn leaves(&self) -> Leaves {
        match self {
            Answer::Switching(_, leaves) => *leaves,
            Answer::Response(res) => res
                .extensions()
                .get::<Leaves>()
                .copied()
                .unwrap_or(Leaves::Alone),
            _ => Leaves::Alone,
        }
    }

    /// Whether this is a `101` (its stream goes on as a WebSocket once it is written).
    pub(crate) fn is_switching(&self) -> bool {
        match self {
            Answer::Switching(..) => true,
            Answer::Response(res) => res.status() == StatusCode::SWITCHING_PROTOCOLS,
            _ => false,
        }
    }
}

/// An [`Answer`] that is not a small one ([`Answer::small`]).
pub(crate) enum Large {
    Switching(AcceptKey),
    Response(Box<Response<Body>>),
}

impl From<Response<Body>> for Answer {
    fn from(res: Response<Body>) -> Answer {
        Answer::Response(Box::new(res))
    }
}

#[cfg(test)]
pub(crate) fn payload(body: Bytes) -> Response<Body> {
    Answer::Payload(body).into_response()
}

/// An Engine.IO v3 polling body in the binary framing.
#[cfg(test)]
pub(crate) fn binary_payload(body: Bytes) -> Response<Body> {
    Answer::BinaryPayload(body).into_response()
}

#[cfg(test)]
pub(crate) fn post_ok() -> Response<Body> {
    Answer::PostOk.into_response()
}

/// The query of a request, read where it lies: percent-decoded (`+` is a space, as in
/// forms) only where a key or value has an escape, so that routing a request (the
/// `transport`, `sid` and `EIO` lookups of every polling request) allocates nothing. At most
/// the first 64 non-empty parameters count.
#[derive(Debug, Default, Clone)]
pub(crate) struct Query<'a> {
    raw: &'a str,
    /// The first values of [`ROUTING_KEYS`], decoded, found in one pass by `parse`: every
    /// request reads two or three of them, some twice (the origin policy and the engine).
    routing: [Option<Cow<'a, str>>; ROUTING_KEYS.len()],
}

/// Parameters past this many are ignored (a query is not a place to store data).
const MAX_QUERY_PARAMS: usize = 64;

/// The keys every request is routed by, looked up without a scan of the query each (their
/// indexes: the `TRANSPORT`... constants below).
const ROUTING_KEYS: [&str; 4] = ["transport", "sid", "EIO", "b64"];
const TRANSPORT: usize = 0;
const SID: usize = 1;
const EIO: usize = 2;
const B64: usize = 3;

impl<'a> Query<'a> {
    /// Read the routing keys' first values. Only a routing key's value is searched for
    /// escapes: every request is routed by this, and most of a query's bytes are values no one
    /// routes by (the session id, the client's `t`, an application's token).
    pub(crate) fn parse(q: Option<&'a str>) -> Query<'a> {
        let raw = q.unwrap_or_default();
        let mut routing = [const { None }; ROUTING_KEYS.len()];
        for (key, value) in split_params(raw) {
            // A key with an escape is compared decoded (`%73id` is `sid`).
            let Some(i) = routing_index(key).or_else(|| routing_index(&decode(key))) else {
                continue;
            };
            if routing[i].is_none() {
                routing[i] = Some(decode(value));
            }
        }
        Query { raw, routing }
    }

    fn pairs(&self) -> impl Iterator<Item = (Cow<'a, str>, Cow<'a, str>)> {
        split_params(self.raw).map(|(k, v)| (decode(k), decode(v)))
    }

    /// The first value of `key` (the server reads the routing keys by their own methods).
    #[cfg(test)]
    pub(crate) fn get(&self, key: &str) -> Option<Cow<'a, str>> {
        match ROUTING_KEYS.iter().position(|k| *k == key) {
            Some(i) => self.routing[i].clone(),
            None => self.pairs().find(|(k, _)| k == key).map(|(_, v)| v),
        }
    }

    /// The first value of `transport`.
    pub(crate) fn transport(&self) -> Option<&str> {
        self.routing[TRANSPORT].as_deref()
    }

    /// The first value of `sid`.
    pub(crate) fn sid(&self) -> Option<&str> {
        self.routing[SID].as_deref()
    }

    /// The first value of `EIO`.
    pub(crate) fn eio(&self) -> Option<&str> {
        self.routing[EIO].as_deref()
    }

    /// The first value of `b64`.
    pub(crate) fn b64(&self) -> Option<&str> {
        self.routing[B64].as_deref()
    }

    /// Every parameter, in order, decoded and owned (what a handshake keeps).
    pub(crate) fn to_pairs(&self) -> Vec<(String, String)> {
        self.pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}

/// Where the first of `needles` is in `bytes`: eight bytes a step (a byte-by-byte search cost
/// about seven instructions a byte; it runs over every request's query, whose bytes are
/// mostly the session id and the values no one routes by).
fn find_any(bytes: &[u8], needles: [u8; 2]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    // The high bit of each byte of `word` that is zero. Borrows only run towards higher
    // bytes, so the lowest bit set is always a real zero byte: the first match.
    let zeros = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS;
    let [a, b] = needles.map(|n| ONES * u64::from(n));
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let word = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let found = zeros(word ^ a) | zeros(word ^ b);
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|c| needles.contains(c))
        .map(|i| at + i)
}

/// Which of [`ROUTING_KEYS`] `key` is.
fn routing_index(key: &str) -> Option<usize> {
    match key {
        "transport" => Some(TRANSPORT),
        "sid" => Some(SID),
        "EIO" => Some(EIO),
        "b64" => Some(B64),
        _ => None,
    }
}

/// The first [`MAX_QUERY_PARAMS`] non-empty parameters as undecoded (key, value); a
/// parameter without `=` has the value "".
fn split_params(raw: &str) -> Params<'_> {
    Params {
        rest: raw,
        left: MAX_QUERY_PARAMS,
    }
}

/// [`split_params`]' iterator: a parameter's end (`&`) is found eight bytes a step
/// ([`find_any`]), and its first `=` within it (ASCII, so every cut is at a character
/// boundary). Escapes are looked for only in what is decoded ([`decode`]).
struct Params<'a> {
    rest: &'a str,
    left: usize,
}

impl<'a> Iterator for Params<'a> {
    type Item = (&'a str, &'a str);

    // Inlined into `Query::parse`'s loop, which every request runs: out of line, the
    // parameters' state goes through memory (about 140 instructions a polling request).
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        while !self.rest.is_empty() && self.left > 0 {
            let bytes = self.rest.as_bytes();
            let end = find_any(bytes, [b'&', b'&']).unwrap_or(bytes.len());
            let (kv, rest) = self.rest.split_at(end);
            self.rest = rest.get(1..).unwrap_or_default();
            if kv.is_empty() {
                continue;
            }
            self.left -= 1;
            return Some(match kv.as_bytes().iter().position(|b| *b == b'=') {
                Some(eq) => (&kv[..eq], &kv[eq + 1..]),
                None => (kv, ""),
            });
        }
        None
    }
}

/// `s` percent-decoded (`+` a space); borrowed when it has no escape (`%` or `+`).
fn decode(s: &str) -> Cow<'_, str> {
    if find_any(s.as_bytes(), [b'+', b'%']).is_none() {
        return Cow::Borrowed(s);
    }
    let s = s.replace('+', " ");
    Cow::Owned(
        percent_encoding::percent_decode_str(&s)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// Whether the request announces a body (a `Content-Length` other than 0, or any
/// `Transfer-Encoding`).
pub(crate) fn has_body<R: RequestHead + ?Sized>(req: &R) -> bool {
    let h = req.headers();
    h.contains_key(&http::header::TRANSFER_ENCODING)
        || h.get_all(&http::header::CONTENT_LENGTH)
            .any(|v| v.as_bytes().iter().any(|b| *b != b'0'))
}

/// Whether the request asks for a WebSocket upgrade. Portico's own HTTP/1 parse decides it
/// by the same rule (`h1::take`, with [`has_token`]).
pub(crate) fn is_websocket_upgrade<R: RequestHead + ?Sized>(req: &R) -> bool {
    let any = |name: http::header::HeaderName, token: &[u8]| {
        req.headers()
            .get_all(&name)
            .any(|v| has_token(v.as_bytes(), token))
    };
    *req.method() == http::Method::GET
        && any(http::header::UPGRADE, b"websocket")
        && any(http::header::CONNECTION, b"upgrade")
}

/// A request's head, as the handling of a request reads it ([`crate::service::handle_from`],
/// [`crate::engine::route`]): `http`'s parts (hyper's requests, and those Portico's own HTTP/1
/// builds them for), or the head [`crate::h1`] kept as read, whose header values are built
/// only when looked up (a handshake reads a handful of a browser's dozen headers).
pub(crate) trait RequestHead: Sync {
    /// Its headers.
    type Headers: RequestHeaders + Sync + ?Sized;

    /// The method.
    fn method(&self) -> &http::Method;

    /// The headers.
    fn headers(&self) -> &Self::Headers;

    /// The path and query (empty when the target has neither).
    fn url(&self) -> &str;

    /// The query, read.
    fn query(&self) -> Query<'_>;

    /// Whether the target is an absolute `https` URI.
    fn is_https(&self) -> bool;

    /// The target's authority, when it is in absolute form.
    fn authority(&self) -> Option<&str>;

    /// What the hooks see of the request, from `peer`.
    fn hook_parts(&self, peer: Option<std::net::SocketAddr>) -> RequestParts;

    /// The URL and headers a new session keeps ([`crate::handshake::ConnInfo`]).
    fn packed(&self) -> PackedHead;
}

impl RequestHead for http::request::Parts {
    type Headers = http::HeaderMap;

    fn method(&self) -> &http::Method {
        &self.method
    }

    fn headers(&self) -> &http::HeaderMap {
        &self.headers
    }

    fn url(&self) -> &str {
        self.uri.path_and_query().map_or("", |p| p.as_str())
    }

    fn query(&self) -> Query<'_> {
        Query::parse(self.uri.query())
    }

    fn is_https(&self) -> bool {
        self.uri.scheme_str() == Some("https")
    }

    fn authority(&self) -> Option<&str> {
        self.uri.authority().map(|a| a.as_str())
    }

    fn hook_parts(&self, peer: Option<std::net::SocketAddr>) -> RequestParts {
        RequestParts::of(self, peer)
    }

    fn packed(&self) -> PackedHead {
        PackedHead::new(self.url(), &self.headers)
    }
}

/// Whether the comma-separated header `value` has `token`, given in lowercase (in any case;
/// the list's elements trimmed of ASCII whitespace, whatever other bytes they hold).
pub(crate) fn has_token(value: &[u8], token: &[u8]) -> bool {
    // The usual value is the token alone (`Upgrade: websocket`, `Connection: Upgrade`).
    eq_lower(value, token)
        || value
            .split(|b| *b == b',')
            .any(|t| eq_lower(t.trim_ascii(), token))
}

/// Whether `spelled` is `lower` in any ASCII case, where `lower` holds no uppercase ASCII
/// letter (a `HeaderName`'s bytes, a token as this crate writes it): what
/// `spelled.eq_ignore_ascii_case(lower)` says, eight bytes at a time. The standard library's
/// compares byte by byte (about a dozen instructions per byte), and every request compares a
/// few names whole (`Content-Length`, `Content-Type`, `Connection`...).
pub(crate) fn eq_lower(spelled: &[u8], lower: &[u8]) -> bool {
    debug_assert!(!lower.iter().any(u8::is_ascii_uppercase), "{lower:?}");
    if spelled.len() != lower.len() {
        return false;
    }
    let Some(tail) = spelled.len().checked_sub(8) else {
        return spelled
            .iter()
            .zip(lower)
            .all(|(a, b)| a.to_ascii_lowercase() == *b);
    };
    // Whole words, then the last eight bytes (overlapping the last whole word unless the
    // length is a multiple of eight).
    spelled
        .chunks_exact(8)
        .zip(lower.chunks_exact(8))
        .chain(std::iter::once((&spelled[tail..], &lower[tail..])))
        .all(|(a, b)| lowercase_word(word(a)) == word(b))
}

/// Eight bytes (a slice of exactly eight) as one word.
fn word(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]))
}

/// Each byte of `x` that is an uppercase ASCII letter made lowercase; the others as they are.
fn lowercase_word(x: u64) -> u64 {
    const EACH: u64 = 0x0101_0101_0101_0101;
    // Each byte's low seven bits, plus a constant that carries into the byte's top bit when
    // they are above `Z` (resp. at least `A`); no sum carries out of its byte.
    let low7 = x & (0x7f * EACH);
    let above_z = low7 + u64::from(0x7f - b'Z') * EACH;
    let from_a = low7 + u64::from(0x80 - b'A') * EACH;
    // Top bit set: an ASCII byte (top bit clear) from `A` to `Z`.
    let upper = !x & (from_a ^ above_z) & (0x80 * EACH);
    // 0x80 >> 2 is 0x20, the bit that makes a letter lowercase.
    x | (upper >> 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decodes() {
        let q = Query::parse(Some(
            "EIO=4&transport=polling&foo=a%20b+c&flag&&x=&a%62c=%zz&d=%C3%A9",
        ));
        assert_eq!(q.get("EIO").as_deref(), Some("4"));
        assert_eq!(q.get("foo").as_deref(), Some("a b c"));
        assert_eq!(q.get("flag").as_deref(), Some(""));
        assert_eq!(q.get("x").as_deref(), Some(""));
        assert_eq!(q.get("nope"), None);
        // Keys are decoded too; a bad escape is kept as it is; UTF-8 escapes decode.
        assert_eq!(q.get("abc").as_deref(), Some("%zz"));
        assert_eq!(q.get("d").as_deref(), Some("\u{e9}"));
        assert!(matches!(q.get("EIO"), Some(Cow::Borrowed(_))));
        assert_eq!(
            q.to_pairs(),
            [
                ("EIO", "4"),
                ("transport", "polling"),
                ("foo", "a b c"),
                ("flag", ""),
                ("x", ""),
                ("abc", "%zz"),
                ("d", "\u{e9}")
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert_eq!(Query::parse(None).get("EIO"), None);
        // Routing keys: the first occurrence counts, an escaped key is still the key.
        let q = Query::parse(Some("t=1&%73id=abc&sid=def&b64=1&transport=websocket+x"));
        assert_eq!(q.get("sid").as_deref(), Some("abc"));
        assert_eq!(q.get("b64").as_deref(), Some("1"));
        assert_eq!(q.get("transport").as_deref(), Some("websocket x"));
        assert_eq!(q.get("t").as_deref(), Some("1"));
        // The first `=` splits; empty parameters and a trailing `&` are skipped.
        let q = Query::parse(Some("&a=b=c&&é=ü&&"));
        assert_eq!(
            q.to_pairs(),
            [("a", "b=c"), ("é", "ü")].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert!(Query::parse(Some("&&&")).to_pairs().is_empty());
    }

    /// A deterministic generator of test inputs (xorshift64), from a non-zero seed.
    fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    #[test]
    fn find_any_finds_the_first_of_either_byte() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        // The needles' neighbours and the bytes a borrow crosses (0x00, 0x01, 0x80, 0xff).
        const OTHERS: [u8; 10] = [b'$', b'\'', b'*', b',', b'a', 0x00, 0x01, 0x80, 0x81, 0xff];
        const NEEDLES: [u8; 3] = [b'&', b'+', b'%'];
        for _ in 0..50_000 {
            let len = (next() % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r % 24 == 0 {
                        NEEDLES[(r / 24 % 3) as usize]
                    } else {
                        OTHERS[(r / 24 % 10) as usize]
                    }
                })
                .collect();
            for needles in [[b'&', b'&'], [b'+', b'%']] {
                let expected = bytes.iter().position(|b| needles.contains(b));
                assert_eq!(find_any(&bytes, needles), expected, "{bytes:?} {needles:?}");
            }
        }
    }

    /// `parse`'s routing values are those of the parameters `pairs` yields (the first of each
    /// key, keys and values decoded), on queries made of the characters that matter.
    #[test]
    fn query_routing_agrees_with_the_parameters() {
        const PIECES: [&str; 16] = [
            "sid",
            "EIO",
            "transport",
            "b64",
            "%73id",
            "%45IO",
            "=",
            "=",
            "&",
            "&",
            "+",
            "%2",
            "%zz",
            "x",
            "4",
            "\u{e9}",
        ];
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let len = next() % 12;
            let q: String = (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect();
            let parsed = Query::parse(Some(&q));
            let pairs = parsed.pairs().collect::<Vec<_>>();
            for (i, key) in ROUTING_KEYS.into_iter().enumerate() {
                let expected = pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v);
                assert_eq!(parsed.routing[i].as_ref(), expected, "{key} in {q:?}");
            }
        }
        // Over the parameter limit too.
        let mut past: String = (0..63).map(|i| format!("k{i}=v&")).collect();
        past.push_str("%73id=a&sid=b");
        assert_eq!(Query::parse(Some(&past)).sid(), Some("a"));
    }

    #[test]
    fn query_counts_only_the_first_64_parameters() {
        let mut q: String = (0..64).map(|i| format!("k{i}=v&")).collect();
        q.push_str("last=1");
        let q = Query::parse(Some(&q));
        assert_eq!(q.get("k63").as_deref(), Some("v"));
        let mut past: String = (0..64).map(|i| format!("k{i}=v&")).collect();
        past.push_str("sid=x");
        assert_eq!(Query::parse(Some(&past)).get("sid"), None);
        assert_eq!(q.get("last"), None);
        assert_eq!(q.to_pairs().len(), 64);
    }

    #[test]
    fn lowercase_word_lowers_exactly_the_ascii_capitals() {
        // Every byte value, at every position of a word whose other bytes are every kind of
        // neighbour (a capital, a lowercase letter, a byte with its top bit set, a boundary).
        for neighbour in [
            b'A', b'z', b'@', b'[', b'`', b'{', 0x00, 0x7f, 0x80, 0xc1, 0xda, 0xff,
        ] {
            for b in 0..=255u8 {
                for at in 0..8 {
                    let mut bytes = [neighbour; 8];
                    bytes[at] = b;
                    let lowered = lowercase_word(u64::from_le_bytes(bytes)).to_le_bytes();
                    assert_eq!(lowered, bytes.map(|c| c.to_ascii_lowercase()), "{bytes:?}");
                }
            }
        }
    }

    #[test]
    fn eq_lower_agrees_with_eq_ignore_ascii_case() {
        let names: [&[u8]; 8] = [
            b"",
            b"te",
            b"expect",
            b"upgrade",
            b"websocket",
            b"content-type",
            b"content-length",
            b"sec-websocket-extensions",
        ];
        // A fixed xorshift: the same cases every run.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for name in names {
            for _ in 0..2_000 {
                let mut spelled = name.to_vec();
                for c in &mut spelled {
                    match next() % 8 {
                        // Another case, or another byte (a near miss: one bit off, or any).
                        0..=3 => *c = c.to_ascii_uppercase(),
                        4 => *c ^= 1 << (next() % 8),
                        5 => *c = next() as u8,
                        _ => {}
                    }
                }
                if next() % 16 == 0 {
                    spelled.push(b'x');
                }
                let expected = spelled.eq_ignore_ascii_case(name);
                assert_eq!(eq_lower(&spelled, name), expected, "{spelled:?} {name:?}");
            }
            assert!(eq_lower(&name.to_ascii_uppercase(), name));
            assert!(eq_lower(name, name));
        }
        // The bytes that differ from a lowercase letter only in the case bit, and are not
        // its capital, are not taken for it.
        assert!(!eq_lower(b"CONTENT\x0dLENGTH", b"content-length"));
        assert!(!eq_lower(b"upgrad\xc5", b"upgrade"));
        assert!(!eq_lower(b"Content-Lengt\xc8", b"content-length"));
    }
}
