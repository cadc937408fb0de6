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
        let list = self.headers.0.iter().map(|(n, v)| Some((*n, v.clone())));
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

/// A request's headers as a list: names as the request spelled them, values as `http`'s (which
/// share the request's bytes).
#[derive(Debug, Default)]
pub(crate) struct RawHeaders<'a>(pub(crate) Vec<(&'a str, HeaderValue)>);

impl RequestHeaders for RawHeaders<'_> {
    type Values<'s>
        = RawValues<'s>
    where
        Self: 's;

    fn get_all<'s>(&'s self, name: &HeaderName) -> RawValues<'s> {
        RawValues {
            list: self.0.iter(),
            name: name.clone(),
        }
    }
}

/// The values of one name in [`RawHeaders`].
#[derive(Debug)]
pub(crate) struct RawValues<'s> {
    list: std::slice::Iter<'s, (&'s str, HeaderValue)>,
    /// Lowercase, as every `HeaderName` is.
    name: HeaderName,
}

impl<'s> Iterator for RawValues<'s> {
    type Item = &'s HeaderValue;

    fn next(&mut self) -> Option<&'s HeaderValue> {
        let name = self.name.as_str().as_bytes();
        // The length and the first letter rule out nearly every other name at once (a full
        // comparison without regard to case costs a few instructions per byte).
        let first = name.first().copied().unwrap_or_default();
        self.list
            .find(|(n, _)| {
                let n = n.as_bytes();
                n.len() == name.len()
                    && n.first().map(u8::to_ascii_lowercase) == Some(first)
                    && n.eq_ignore_ascii_case(name)
            })
            .map(|(_, v)| v)
    }
}
