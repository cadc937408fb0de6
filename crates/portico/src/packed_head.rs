//! The URL and headers of a connection's first request, packed into one buffer for the life
//! of the connection ([`crate::handshake::ConnInfo`]).
//!
//! A `HeaderMap` costs about 100 bytes per header in its entry table alone, plus one
//! allocation per value (and per custom name): some 1.2 KiB for a browser's WebSocket
//! handshake, held by every connection although most applications never look at it. The
//! packed form is one allocation of the bytes themselves; the `HeaderMap` is built from it
//! when the application first asks ([`crate::Handshake::headers`]), its values sharing this
//! buffer.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

/// The URL, then each header's name and value, every piece preceded by its length (`u32`,
/// little-endian). Names are stored as `HeaderName::as_str` gives them (lowercase).
#[derive(Debug, Clone)]
pub(crate) struct PackedHead {
    bytes: Bytes,
}

/// Bytes of a length prefix.
const LEN: usize = 4;

impl PackedHead {
    /// Pack `url` and `headers` (in the map's order, repeated names kept). A piece longer
    /// than `u32::MAX` bytes (no HTTP server accepts one) is left out.
    pub(crate) fn new(url: &str, headers: &HeaderMap) -> PackedHead {
        PackedHead::of_pairs(url, || {
            headers
                .iter()
                .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
        })
    }

    /// Pack `url` and the headers (name, value) `headers` goes through (twice: once to size
    /// the buffer), in their order; the names are stored lowercase (a request may spell them
    /// otherwise: `h1`'s head keeps them as read). A piece longer than `u32::MAX` bytes is left
    /// out, as in [`PackedHead::new`].
    pub(crate) fn of_pairs<'a, I>(url: &str, headers: impl Fn() -> I) -> PackedHead
    where
        I: Iterator<Item = (&'a [u8], &'a [u8])>,
    {
        let size = LEN
            + url.len()
            + headers()
                .map(|(n, v)| 2 * LEN + n.len() + v.len())
                .sum::<usize>();
        let mut buf = Vec::with_capacity(size);
        if !push(&mut buf, url.as_bytes()) {
            push(&mut buf, b"");
        }
        for (name, value) in headers() {
            if u32::try_from(value.len()).is_ok() && push(&mut buf, name) {
                // The name just pushed, lowercased in place.
                let at = buf.len() - name.len();
                buf[at..].make_ascii_lowercase();
                push(&mut buf, value);
            }
        }
        PackedHead {
            bytes: Bytes::from(buf.into_boxed_slice()),
        }
    }

    /// The URL (path and query) of the request.
    pub(crate) fn url(&self) -> &str {
        let mut pieces = Pieces(&self.bytes);
        pieces
            .next()
            .and_then(|url| std::str::from_utf8(url).ok())
            .unwrap_or_default()
    }

    /// Every header as (name, value), in order.
    pub(crate) fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let mut pieces = Pieces(&self.bytes);
        pieces.next(); // the URL
        std::iter::from_fn(move || Some((pieces.next()?, pieces.next()?)))
    }

    /// The first value of header `name` (lowercase).
    pub(crate) fn get(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| *n == name.as_bytes())
            .map(|(_, v)| v)
    }

    /// The values of header `name` (lowercase), in order.
    pub(crate) fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> {
        self.headers()
            .filter(move |(n, _)| *n == name.as_bytes())
            .map(|(_, v)| v)
    }

    /// The headers as a `HeaderMap` whose values share this buffer (nothing copied but the
    /// names of non-standard headers).
    pub(crate) fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.headers().count());
        for (name, value) in self.headers() {
            // Both were valid when packed; anything else is skipped, never guessed at.
            let Ok(name) = HeaderName::from_bytes(name) else {
                continue;
            };
            let Ok(value) = HeaderValue::from_maybe_shared(self.bytes.slice_ref(value)) else {
                continue;
            };
            map.append(name, value);
        }
        map
    }
}

/// Append `piece` with its length; `false` (nothing appended) if it is too long.
fn push(buf: &mut Vec<u8>, piece: &[u8]) -> bool {
    let Ok(len) = u32::try_from(piece.len()) else {
        return false;
    };
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(piece);
    true
}

/// The length-prefixed pieces of a packed buffer.
struct Pieces<'a>(&'a [u8]);

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (len, rest) = self.0.split_first_chunk::<LEN>()?;
        let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
        let (piece, rest) = rest.split_at_checked(len)?;
        self.0 = rest;
        Some(piece)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    fn sample() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.append(http::header::HOST, HeaderValue::from_static("a.example"));
        h.append(http::header::COOKIE, HeaderValue::from_static("a=1"));
        h.append("x-custom", HeaderValue::from_static("v1"));
        h.append(http::header::COOKIE, HeaderValue::from_static("b=2"));
        h.append("x-empty", HeaderValue::from_static(""));
        h.append("x-latin", HeaderValue::from_bytes(b"caf\xe9\tbar").unwrap());
        h
    }

    #[test]
    fn the_map_comes_back_whole_and_in_order() {
        let h = sample();
        let packed = PackedHead::new("/socket.io/?EIO=4&transport=websocket", &h);
        assert_eq!(packed.url(), "/socket.io/?EIO=4&transport=websocket");
        let back = packed.header_map();
        assert_eq!(back, h);
        let order: Vec<_> = back.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
        let want: Vec<_> = h.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
        assert_eq!(order, want);
        let cookies: Vec<&[u8]> = packed.get_all("cookie").collect();
        assert_eq!(cookies, [&b"a=1"[..], b"b=2"]);
        assert_eq!(packed.get_all("origin").count(), 0);
    }

    #[test]
    fn values_share_the_packed_buffer() {
        let packed = PackedHead::new("/", &sample());
        let map = packed.header_map();
        let range = packed.bytes.as_ptr_range();
        let value = map["x-custom"].as_bytes().as_ptr();
        assert!(range.contains(&value), "the value was copied");
    }

    #[test]
    fn empty_head() {
        let packed = PackedHead::new("", &HeaderMap::new());
        assert_eq!(packed.url(), "");
        assert_eq!(packed.headers().count(), 0);
        assert!(packed.header_map().is_empty());
    }
}
