//! Subdomain patterns (`https://*.example.com[:port]`), compiled once and matched without
//! allocation.

use std::fmt;

use crate::origin::Parts;

/// `scheme://*.suffix[:port]`: matches any origin whose host is one or more labels followed
/// by `.suffix`, with exactly this scheme and port. Never the bare `suffix`, never
/// `evil-suffix` or `suffix.evil.net`, never another scheme or port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    /// Lowercase scheme.
    scheme: Box<str>,
    /// Lowercase host suffix without the leading dot, e.g. `example.com`.
    suffix: Box<str>,
    /// Explicit port; `None` means the scheme's default port.
    port: Option<u16>,
}

impl Pattern {
    /// Builds a pattern from validated, lowercase parts (see `entry.rs`).
    pub(crate) fn new(scheme: &str, suffix: &str, port: Option<u16>) -> Self {
        Self {
            scheme: scheme.into(),
            suffix: suffix.into(),
            port,
        }
    }

    /// Whether the origin matches. `parts` come from a strictly parsed header (valid host
    /// characters, no empty labels), so only the label boundary needs checking here.
    pub(crate) fn matches(&self, parts: &Parts<'_>) -> bool {
        if parts.port != self.port || !parts.scheme.eq_ignore_ascii_case(&self.scheme) {
            return false;
        }
        let host = parts.host.as_bytes();
        let suffix = self.suffix.as_bytes();
        // At least one label, then '.', then the suffix.
        if host.len() < suffix.len() + 2 || host.starts_with(b"[") {
            return false;
        }
        let dot = host.len() - suffix.len() - 1;
        host[dot] == b'.' && host[dot + 1..].eq_ignore_ascii_case(suffix) && host[dot - 1] != b'.'
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://*.{}", self.scheme, self.suffix)?;
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use crate::origin::parse_header;

    fn m(pattern: &Pattern, origin: &str) -> bool {
        pattern.matches(&parse_header(origin).unwrap())
    }

    #[test]
    fn matches_subdomains_only() {
        let p = Pattern::new("https", "example.com", None);
        assert!(m(&p, "https://a.example.com"));
        assert!(m(&p, "https://a.b.example.com"));
        assert!(m(&p, "https://A.EXAMPLE.COM"));
        assert!(m(&p, "https://a.example.com:443"));
        for no in [
            "https://example.com",
            "https://evil-example.com",
            "https://example.com.evil.net",
            "https://aexample.com",
            "http://a.example.com",
            "https://a.example.com:8443",
            "https://a.example.org",
        ] {
            assert!(!m(&p, no), "{no}");
        }
    }

    #[test]
    fn port_patterns_need_that_port() {
        let p = Pattern::new("https", "example.com", Some(8443));
        assert!(m(&p, "https://a.example.com:8443"));
        assert!(!m(&p, "https://a.example.com"));
        assert_eq!(p.to_string(), "https://*.example.com:8443");
    }
}
