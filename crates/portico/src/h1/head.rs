//! A request head as `take` read it, for the requests of a session: the method, the target
//! and the headers, borrowed from the bytes read, with no `http::Request` built.
//!
//! A polling `GET` or `POST` of a session reads a handful of its headers (the origin policy's,
//! `Content-Type` and `Content-Length`) and two or three of its query's parameters. Building
//! an `http::HeaderMap` for it (a name parsed and hashed per header, two allocations) and an
//! `http::Uri` (the target scanned byte by byte) cost about a tenth of such a request's
//! instructions; a list of the headers read in the order they came costs one allocation, and
//! a lookup compares the few names of the list. What a session's request needs of its head
//! ([`crate::service::handle_raw`]) is the same either way; a request that turns out to need
//! more (a handshake: its hooks and its kept head read the `http` types) is built in them.

use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, Version};
use portico_cors::RequestHeaders;

use crate::http::Query;

/// The head of a request `take` read (see the module's documentation).
#[derive(Debug)]
pub(crate) struct RawHead<'a> {
    /// `GET` or `POST`.
    pub(crate) method: Method,
    /// The request target: origin-form, ASCII, without a fragment.
    pub(crate) target: &'a str,
    /// Its query, read (it has a `sid`).
    pub(crate) query: Query<'a>,
    /// The headers, in the request's order.
    pub(crate) headers: RawHeaders<'a>,
}

impl<'a> RawHead<'a> {
    /// The same head as `http`'s types.
    #[cfg(test)]
    pub(crate) fn to_parts(&self) -> Option<http::request::Parts> {
        let list = self.headers.pairs();
        let copy = Bytes::copy_from_slice(self.target.as_bytes());
        let target = std::str::from_utf8(&copy).ok()?;
        parts(self.method.clone(), target, &copy, list)
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
    #[cfg(test)]
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
        self.list
            .iter()
            .find(|h| named(h.name, name))
            .map(|h| h.value)
    }

    fn contains_key(&self, name: &HeaderName) -> bool {
        self.list.iter().any(|h| named(h.name, name))
    }
}

/// Whether a name as the request spelled it is `name`. The length and the first letter rule
/// out nearly every other name at once (a full comparison without regard to case costs a few
/// instructions per byte).
fn named(spelled: &str, name: &HeaderName) -> bool {
    let (n, name) = (spelled.as_bytes(), name.as_str().as_bytes());
    n.len() == name.len()
        && n.first().map(u8::to_ascii_lowercase) == name.first().copied()
        && n.eq_ignore_ascii_case(name)
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
        let (bytes, name) = (self.bytes, &self.name);
        // Every value httparse takes, `http` takes (`h1::tests` checks it byte by byte, so a
        // parser that one day takes more fails there): a value it would not take is one no
        // request can have, and it reads as absent.
        self.list
            .find_map(|h| named(h.name, name).then(|| h.value(bytes)).flatten())
    }
}
