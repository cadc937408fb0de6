//! [`Origin`]: a parsed, normalised web origin, and the allocation-free parser used on the
//! hot path for `Origin` and `Host` header values.

use std::fmt;
use std::str::FromStr;

use crate::CorsConfigError;

/// A parsed, normalised origin: `scheme://host[:port]`, or the opaque origin `null`.
///
/// Normalised as browsers serialise origins: scheme and host in lowercase, the scheme's
/// default port dropped (`http://localhost:80` is `http://localhost`), IPv6 hosts in
/// brackets and in their compressed form (`http://[::1]:3000`).
///
/// ```
/// use portico_cors::Origin;
///
/// let o = Origin::parse("HTTPS://App.Example.com:443")?;
/// assert_eq!(o.as_str(), "https://app.example.com");
/// assert_eq!((o.scheme(), o.host(), o.port()), ("https", "app.example.com", None));
/// assert!(Origin::parse("null")?.is_null());
/// # Ok::<(), portico_cors::CorsConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The serialisation, e.g. `https://app.example.com:8443` or `null`.
    text: Box<str>,
    /// Byte length of the scheme within `text` (0 for `null`).
    scheme_len: usize,
    /// Byte range of the host within `text` (empty for `null`).
    host: (usize, usize),
    /// The port, `None` when it is the scheme's default (or for `null`).
    port: Option<u16>,
}

impl Origin {
    /// Parses and normalises an origin written by a person (config, CLI, a doctor prompt).
    ///
    /// Accepts `null` (the opaque origin). Rejects what browsers never send, with a message
    /// that shows the corrected form: a path or trailing slash, a missing scheme, user info,
    /// a wildcard (use [`OriginPolicy::allow`](crate::OriginPolicy::allow) for patterns).
    pub fn parse(input: &str) -> Result<Origin, CorsConfigError> {
        if input == "null" {
            return Ok(Origin::null());
        }
        crate::entry::parse_exact(input)
    }

    /// The opaque origin `null`, sent by sandboxed iframes, `file://` pages and some
    /// cross-origin redirects.
    pub fn null() -> Origin {
        Origin {
            text: "null".into(),
            scheme_len: 0,
            host: (0, 0),
            port: None,
        }
    }

    /// Whether this is the opaque origin `null`.
    pub fn is_null(&self) -> bool {
        self.scheme_len == 0
    }

    /// The scheme in lowercase, e.g. `https` (empty for `null`).
    pub fn scheme(&self) -> &str {
        &self.text[..self.scheme_len]
    }

    /// The host in lowercase, e.g. `app.example.com`, `127.0.0.1` or `[::1]` (empty for
    /// `null`).
    pub fn host(&self) -> &str {
        &self.text[self.host.0..self.host.1]
    }

    /// The explicit port, or `None` when it is the scheme's default (80 for `http`, 443 for
    /// `https`) or the origin is `null`.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The port, with the scheme's default filled in (`Some(443)` for `https://a.com`);
    /// `None` for `null` and for schemes without a default port.
    pub fn port_or_default(&self) -> Option<u16> {
        self.port.or_else(|| default_port(self.scheme()))
    }

    /// The normalised serialisation, exactly as a browser sends it in `Origin`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Builds a normalised origin from already-validated parts.
    pub(crate) fn from_parts(parts: &Parts<'_>) -> Origin {
        let mut text = String::with_capacity(parts.scheme.len() + parts.host.len() + 9);
        text.push_str(parts.scheme);
        text.make_ascii_lowercase();
        let scheme_len = text.len();
        text.push_str("://");
        let host_start = text.len();
        text.extend(parts.host.chars().map(|c| c.to_ascii_lowercase()));
        let host_end = text.len();
        if let Some(port) = parts.port {
            text.push(':');
            text.push_str(&port.to_string());
        }
        Origin {
            text: text.into_boxed_str(),
            scheme_len,
            host: (host_start, host_end),
            port: parts.port,
        }
    }

    /// A borrowed view for matching.
    pub(crate) fn parts(&self) -> Parts<'_> {
        Parts {
            scheme: self.scheme(),
            host: self.host(),
            port: self.port,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Origin({:?})", &*self.text)
    }
}

impl FromStr for Origin {
    type Err = CorsConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Origin::parse(s)
    }
}

impl AsRef<str> for Origin {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl PartialEq<str> for Origin {
    fn eq(&self, other: &str) -> bool {
        &*self.text == other
    }
}

impl PartialEq<&str> for Origin {
    fn eq(&self, other: &&str) -> bool {
        &*self.text == *other
    }
}

/// The default port of a scheme, per the URL standard's special schemes.
pub(crate) fn default_port(scheme: &str) -> Option<u16> {
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("ws") {
        Some(80)
    } else if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("wss") {
        Some(443)
    } else if scheme.eq_ignore_ascii_case("ftp") {
        Some(21)
    } else {
        None
    }
}

/// A borrowed, validated `scheme://host[:port]` with the default port dropped. Scheme and
/// host keep the case they were written in; comparisons ignore ASCII case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts<'a> {
    pub(crate) scheme: &'a str,
    pub(crate) host: &'a str,
    pub(crate) port: Option<u16>,
}

impl Parts<'_> {
    /// Same origin: scheme, host (ASCII case-insensitive) and port.
    pub(crate) fn same_as(&self, other: &Parts<'_>) -> bool {
        self.port == other.port
            && self.scheme.eq_ignore_ascii_case(other.scheme)
            && self.host.eq_ignore_ascii_case(other.host)
    }
}

/// Parses an `Origin` header value strictly and without allocating. `None` when it is not
/// `scheme://host[:port]` (this includes `null`, which callers handle first).
pub(crate) fn parse_header(value: &str) -> Option<Parts<'_>> {
    let (scheme, authority) = value.split_once("://")?;
    if !is_scheme(scheme) {
        return None;
    }
    let (host, port) = parse_authority(authority, scheme)?;
    Some(Parts { scheme, host, port })
}

/// Parses `host[:port]` (a `Host` header, or the authority of an origin) strictly, with the
/// given scheme's default port dropped.
pub(crate) fn parse_authority<'a>(
    authority: &'a str,
    scheme: &str,
) -> Option<(&'a str, Option<u16>)> {
    let (host, port) = split_host_port(authority)?;
    if !is_host(host) {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) => {
            let p = parse_port(p)?;
            if Some(p) == default_port(scheme) {
                None
            } else {
                Some(p)
            }
        }
    };
    Some((host, port))
}

/// Splits `host[:port]`, keeping IPv6 brackets on the host. `None` when the brackets are
/// unbalanced or the port separator is present without digits after a bracket.
pub(crate) fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, rest) = authority.split_at(end + 1);
        match rest {
            "" => Some((host, None)),
            _ => rest.strip_prefix(':').map(|p| (host, Some(p))),
        }
    } else {
        Some(match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        })
    }
}

/// A decimal port, 1 to 5 digits, at most 65535.
pub(crate) fn parse_port(port: &str) -> Option<u16> {
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse().ok()
}

/// A URL scheme: a letter, then letters, digits, `+`, `-` or `.`.
pub(crate) fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// A host as browsers serialise it: a bracketed IPv6 address, or a non-empty name of ASCII
/// letters, digits, `-`, `_` and `.` without empty labels.
pub(crate) fn is_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[') {
        return inner.strip_suffix(']').is_some_and(|a| {
            a.contains(':')
                && a.bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        });
    }
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !host.starts_with('.')
        && !host.contains("..")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn header_parsing_is_strict_and_case_preserving() {
        let p = parse_header("HTTPS://App.Example.com:443").unwrap();
        assert_eq!(
            (p.scheme, p.host, p.port),
            ("HTTPS", "App.Example.com", None)
        );
        let p = parse_header("http://[::1]:3000").unwrap();
        assert_eq!((p.host, p.port), ("[::1]", Some(3000)));
        for bad in [
            "null",
            "https://",
            "https://a.com/",
            "https://a.com/x",
            "https://u@a.com",
            "https://a.com:",
            "https://a.com:99999",
            "https://a.com:8o",
            "1http://a.com",
            "https://[::1",
            "https://[::1]x",
            "https://a..com",
            "https://.a.com",
            "https://a com",
            "a.com",
        ] {
            assert_eq!(parse_header(bad), None, "{bad}");
        }
    }

    #[test]
    fn origin_normalises_and_serialises() {
        let p = parse_header("HTTP://LocalHost:80").unwrap();
        let o = Origin::from_parts(&p);
        assert_eq!(o.as_str(), "http://localhost");
        assert_eq!(o.port_or_default(), Some(80));
        assert_eq!(o.to_string(), "http://localhost");
        assert_eq!(format!("{o:?}"), "Origin(\"http://localhost\")");
        let n = Origin::null();
        assert!(n.is_null() && n.scheme().is_empty() && n.host().is_empty());
        assert_eq!(n.port_or_default(), None);
    }

    #[test]
    fn parts_compare_ignoring_case() {
        let a = parse_header("https://A.com").unwrap();
        let b = parse_header("https://a.com:443").unwrap();
        let c = parse_header("http://a.com").unwrap();
        assert!(a.same_as(&b));
        assert!(!a.same_as(&c));
    }
}
