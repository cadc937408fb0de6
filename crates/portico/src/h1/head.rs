//! A request head as `take` read it: the method, the target and the headers, borrowed from
//! the bytes read, with no `http::Request` built.
//!
//! A polling `GET` or `POST` of a session reads a handful of its headers (the origin policy's,
//! `Content-Type` and `Content-Length`) and two or three of its query's parameters; a
//! handshake reads a few more (`Sec-WebSocket-Key` and `-Version`, `X-Forwarded-For` behind a
//! trusted proxy) and packs them all for the session ([`crate::handshake::ConnInfo`]). Building
//! an `http::HeaderMap` for it (a name parsed and hashed per header, two allocations) and an
//! `http::Uri` (the target scanned byte by byte) cost about a tenth of a polling request's
//! instructions and 3,300 of a WebSocket handshake's 41,400; a list of the headers read in the
//! order they came costs one allocation, and a lookup compares the few names of the list.
//! What needs `http`'s types (the hooks) gets them built from the list
//! ([`RequestHead::hook_parts`]).

use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, Version};
use portico_cors::RequestHeaders;

use crate::hooks::RequestParts;
use crate::http::{Query, RequestHead};
use crate::packed_head::PackedHead;

/// The head of a request `take` read (see the module's documentation).
#[derive(Debug)]
pub(crate) struct RawHead<'a> {
    /// `GET`, `POST` or `OPTIONS`.
    pub(crate) method: Method,
    /// The request target: origin-form, ASCII, without a fragment, its query right after the
    /// server's path (`take`'s `raw_target`).
    pub(crate) target: &'a str,
    /// Its query, read.
    pub(crate) query: Query<'a>,
    /// The headers, in the request's order.
    pub(crate) headers: RawHeaders<'a>,
}

impl<'a> RawHead<'a> {
    /// The same head as `http`'s types.
    pub(crate) fn to_parts(&self) -> Option<http::request::Parts> {
        let list = self.headers.pairs();
        parts(self.method.clone(), self.target, self.headers.bytes, list)
    }
}

impl<'a> RequestHead for RawHead<'a> {
    type Headers = RawHeaders<'a>;

    fn method(&self) -> &Method {
        &self.method
    }

    fn headers(&self) -> &RawHeaders<'a> {
        &self.headers
    }

    fn url(&self) -> &str {
        self.target
    }

    fn query(&self) -> Query<'_> {
        self.query.clone()
    }

    // Origin-form: no scheme, no authority.
    fn is_https(&self) -> bool {
        false
    }

    fn authority(&self) -> Option<&str> {
        None
    }

    // For the `allow_request` hook (with hooks that see headers, `take` keeps no raw head).
    fn hook_parts(&self, peer: Option<std::net::SocketAddr>) -> RequestParts {
        // `take` keeps as read only what `http` takes as it is (the target by `raw_target`,
        // every value httparse takes: `h1::tests` checks both), so this is never `None`; if
        // it were, the hook would see the method alone.
        let parts = self.to_parts().unwrap_or_else(|| {
            let (mut parts, ()) = http::Request::new(()).into_parts();
            parts.method = self.method.clone();
            parts
        });
        RequestParts::of(&parts, peer)
    }

    fn packed(&self) -> PackedHead {
        PackedHead::of_pairs(self.target, || {
            self.headers
                .list
                .iter()
                .map(|h| (h.name.as_bytes(), h.value))
        })
    }
}

/// A request head in `http`'s types: `method`, `target` (a slice of `bytes`, which the URI
/// shares) and the headers (`None` for one `http` does not take). `None` if `http` does not
/// take the target or a header.
pub(crate) fn parts<'a>(
    method: Method,
    target: &str,
    bytes: &Bytes,
    headers: impl ExactSizeIterator<Item = Option<(&'a str, HeaderValue)>>,
) -> Option<http::request::Parts> {
    let (mut req, ()) = http::Request::new(()).into_parts();
    req.method = method;
    req.version = Version::HTTP_11;
    req.uri = Uri::from_maybe_shared(bytes.slice_ref(target.as_bytes())).ok()?;
    let mut map = HeaderMap::with_capacity(headers.len());
    for header in headers {
        let (name, value) = header?;
        map.append(HeaderName::from_bytes(name.as_bytes()).ok()?, value);
    }
    req.headers = map;
    Some(req)
}

/// A request's headers as a list, in the request's order: names as the request spelled them,
/// values as read. A value becomes `http`'s `HeaderValue` (sharing the request's bytes) when it
/// is first looked up, not before: a session's request reads two or three names, and a browser
/// sends a dozen headers or more (the `User-Agent`, the `Cookie`, the `Sec-*` hints), whose
/// values would each be checked byte by byte, and given a count on the request's bytes, for
/// nothing.
#[derive(Debug)]
pub(crate) struct RawHeaders<'a> {
    /// The request's bytes, which the values are slices of.
    bytes: &'a Bytes,
    list: Vec<RawHeader<'a>>,
}

/// One header of [`RawHeaders`].
#[derive(Debug)]
struct RawHeader<'a> {
    name: &'a str,
    value: &'a [u8],
    /// The value as `http`'s, once looked up (`None`: `http` does not take it; see
    /// [`RawValues`]). A `OnceLock`, not a `OnceCell`: the handling's future holds the list
    /// across its awaits and is sent between threads.
    built: OnceLock<Option<HeaderValue>>,
}

impl<'a> RawHeaders<'a> {
    /// The headers `parsed` read off `bytes`.
    pub(crate) fn new(bytes: &'a Bytes, parsed: &[httparse::Header<'a>]) -> RawHeaders<'a> {
        let list = parsed
            .iter()
            .map(|h| RawHeader {
                name: h.name,
                value: h.value,
                built: OnceLock::new(),
            })
            .collect();
        RawHeaders { bytes, list }
    }

    /// How many values have been built.
    #[cfg(test)]
    pub(crate) fn built(&self) -> usize {
        self.list.iter().filter(|h| h.built.get().is_some()).count()
    }

    /// The headers as `http`'s name and value, in order (`None` for a value `http` does not
    /// take).
    fn pairs(&self) -> impl ExactSizeIterator<Item = Option<(&'a str, HeaderValue)>> + '_ {
        self.list
            .iter()
            .map(|h| Some((h.name, h.value(self.bytes)?.clone())))
    }
}

impl RawHeader<'_> {
    /// The value as `http`'s, built the first time.
    fn value(&self, bytes: &Bytes) -> Option<&HeaderValue> {
        self.built
            .get_or_init(|| HeaderValue::from_maybe_shared(bytes.slice_ref(self.value)).ok())
            .as_ref()
    }
}

impl RequestHeaders for RawHeaders<'_> {
    type Values<'s>
        = RawValues<'s>
    where
        Self: 's;

    fn get_all<'s>(&'s self, name: &HeaderName) -> RawValues<'s> {
        RawValues {
            list: self.list.iter(),
            bytes: self.bytes,
            name: name.clone(),
        }
    }

    // These two build no value: a polling POST reads `Content-Type` and `Content-Length` as
    // bytes. (A value `http` would not take is one no request can have: see `RawValues`.)
    fn get_bytes(&self, name: &HeaderName) -> Option<&[u8]> {
        let name = name.as_str().as_bytes();
        self.list
            .iter()
            .find(|h| named(h.name, name))
            .map(|h| h.value)
    }

    fn contains_key(&self, name: &HeaderName) -> bool {
        let name = name.as_str().as_bytes();
        self.list.iter().any(|h| named(h.name, name))
    }
}

/// Whether a name as the request spelled it is `name` (a `HeaderName`'s lowercase bytes,
/// read once per lookup, not once per header: `HeaderName::as_str` of a standard name is a
/// match over the names `http` knows).
fn named(spelled: &str, name: &[u8]) -> bool {
    crate::http::eq_lower(spelled.as_bytes(), name)
}

/// The values of one name in [`RawHeaders`].
#[derive(Debug)]
pub(crate) struct RawValues<'s> {
    list: std::slice::Iter<'s, RawHeader<'s>>,
    bytes: &'s Bytes,
    /// Lowercase, as every `HeaderName` is.
    name: HeaderName,
}

impl<'s> Iterator for RawValues<'s> {
    type Item = &'s HeaderValue;

    fn next(&mut self) -> Option<&'s HeaderValue> {
        let (bytes, name) = (self.bytes, self.name.as_str().as_bytes());
        // Every value httparse takes, `http` takes (`h1::tests` checks it byte by byte, so a
        // parser that one day takes more fails there): a value it would not take is one no
        // request can have, and it reads as absent.
        self.list
            .find_map(|h| named(h.name, name).then(|| h.value(bytes)).flatten())
    }
}
