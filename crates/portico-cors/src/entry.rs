//! Parsing origin entries written in a config: exact origins and `*.` subdomain patterns,
//! with errors that show the corrected entry.

use std::net::Ipv6Addr;

use crate::error::{ConfigErrorKind, CorsConfigError};
use crate::origin::{
    default_port, is_host, is_scheme, parse_header, parse_port, split_host_port, Origin,
};
use crate::pattern::Pattern;

/// One validated entry of an allow list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// An exact origin.
    Exact(Origin),
    /// A subdomain pattern.
    Pattern(Pattern),
}

/// Parses an entry that must be an exact origin (no wildcard).
pub(crate) fn parse_exact(raw: &str) -> Result<Origin, CorsConfigError> {
    match parse_entry(raw)? {
        Entry::Exact(origin) => Ok(origin),
        Entry::Pattern(p) => Err(invalid(format!(
            "\"{raw}\" is a subdomain pattern, not an origin; patterns go in OriginPolicy::allow([\"{p}\"])"
        ))),
    }
}

/// Parses an allow-list entry. Fixable mistakes (whitespace, missing scheme, path, trailing
/// slash, user info, a WebSocket scheme, `*example.com`) are still errors, so a typo never
/// silently allows the wrong thing, but the error carries the corrected entry.
pub(crate) fn parse_entry(raw: &str) -> Result<Entry, CorsConfigError> {
    let mut problems: Vec<String> = Vec::new();
    let mut note = |p: String| problems.push(p);
    let s = raw.trim();
    if s.len() != raw.len() {
        note("has surrounding whitespace".into());
    }
    if s.is_empty() {
        return Err(invalid(format!(
            "origin entry \"{raw}\" is empty; write an origin like \"https://app.example.com\""
        )));
    }
    if s == "*" {
        return Err(invalid(format!(
            "origin entry \"{raw}\" is a wildcard, not an origin: use OriginPolicy::any_origin() to allow \
             every origin (it sends \"Access-Control-Allow-Origin: *\" and cannot be combined with credentials)"
        )));
    }
    if s.eq_ignore_ascii_case("null") {
        return Err(invalid(format!(
            "origin entry \"{raw}\" is the opaque origin of sandboxed iframes and file:// pages, which any \
             site can produce; it cannot be listed: opt in with .allow_null_origin(true) if you really mean it"
        )));
    }
    if !s.is_ascii() {
        return Err(invalid(format!(
            "origin entry \"{raw}\" contains non-ASCII characters; browsers send internationalised hosts \
             in their punycode form (\"xn--...\"): write the entry that way"
        )));
    }

    let (scheme, rest) = match s.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => {
            let rest = s.trim_start_matches('/');
            let scheme = if looks_local(rest) { "http" } else { "https" };
            note("has no scheme; browsers always send one (scheme://host[:port])".into());
            (scheme.to_string(), rest)
        }
    };
    if !is_scheme(&scheme) {
        return Err(invalid(format!(
            "origin entry \"{raw}\" has an invalid scheme \"{scheme}\"; write an origin like \"https://app.example.com\""
        )));
    }
    let scheme = match scheme.as_str() {
        "ws" | "wss" => {
            note(format!(
                "uses the WebSocket scheme \"{scheme}\"; the Origin header carries the scheme of the page, not of the socket"
            ));
            if scheme == "ws" {
                "http".to_string()
            } else {
                "https".to_string()
            }
        }
        _ => scheme,
    };

    let (authority, tail) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if tail == "/" {
        note("has a trailing slash; browsers send origins without one".into());
    } else if !tail.is_empty() {
        note(format!("has a path (\"{tail}\"); an origin is only scheme://host[:port], browsers never send a path"));
    }
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => {
            note(format!(
                "contains user info (\"{user}@\"); an origin never does"
            ));
            host
        }
        None => authority,
    };
    if authority.is_empty() {
        return Err(invalid(format!(
            "origin entry \"{raw}\" has no host; write an origin like \"https://app.example.com\""
        )));
    }

    let Some((host, port)) = split_host_port(authority) else {
        return Err(invalid(format!(
            "origin entry \"{raw}\" has an unbalanced \"[\" in its IPv6 host"
        )));
    };
    let port = match port {
        None => None,
        Some("") => {
            note("has an empty port after \":\"".into());
            None
        }
        Some("*") => {
            return Err(invalid(format!(
                "origin entry \"{raw}\" has a wildcard port; ports cannot be wildcards: list each origin with its port"
            )))
        }
        Some(p) => match parse_port(p) {
            Some(port) if Some(port) == default_port(&scheme) => None,
            Some(port) => Some(port),
            None => {
                return Err(invalid(format!(
                    "origin entry \"{raw}\" has an invalid port \"{p}\"; a port is a number from 0 to 65535"
                )))
            }
        },
    };
    let host = host.to_ascii_lowercase();
    let port_text = port.map(|p| format!(":{p}")).unwrap_or_default();

    if host.contains('*') {
        let suffix = host.strip_prefix('*').unwrap_or(&host);
        let suffix_ok =
            |suffix: &str| is_host(suffix) && !suffix.contains('*') && !suffix.ends_with('.');
        if host == "*" {
            return Err(invalid(format!(
                "origin entry \"{raw}\" matches every host: use OriginPolicy::any_origin() to allow every origin \
                 (it cannot be combined with credentials)"
            )));
        }
        if let Some(suffix) = suffix.strip_prefix('.').filter(|s| suffix_ok(s)) {
            check_breadth(raw, &scheme, suffix)?;
            return finish(
                raw,
                &problems,
                format!("{scheme}://*.{suffix}{port_text}"),
                || Entry::Pattern(Pattern::new(&scheme, suffix, port)),
            );
        }
        if host.starts_with('*') && suffix_ok(suffix) && suffix.contains('.') {
            // The corrected pattern must itself be acceptable (`*w.1.2` is not `*.w.1.2`).
            check_breadth(raw, &scheme, suffix)?;
            note(format!(
                "has a wildcard inside a label; \"*\" must be the whole leftmost label and matches subdomains \
                 only (also add \"{scheme}://{suffix}{port_text}\" if you need the domain itself)"
            ));
            return finish(
                raw,
                &problems,
                format!("{scheme}://*.{suffix}{port_text}"),
                || Entry::Pattern(Pattern::new(&scheme, suffix, port)),
            );
        }
        return Err(invalid(format!(
            "origin entry \"{raw}\" has a wildcard in the wrong place; only a leftmost \"*.\" label is supported \
             (e.g. \"https://*.example.com\" for the subdomains of example.com): list the exact origins instead"
        )));
    }

    let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) => match inner.parse::<Ipv6Addr>() {
            Ok(ip) => format!("[{ip}]"),
            Err(_) => {
                return Err(invalid(format!(
                    "origin entry \"{raw}\" has an invalid IPv6 address \"[{inner}]\""
                )))
            }
        },
        None => host,
    };
    if !is_host(&host) || host.ends_with('.') {
        return Err(invalid(format!(
            "origin entry \"{raw}\" has an invalid host \"{host}\"; a host is letters, digits, '-' and '.' \
             (or an IPv6 address in brackets)"
        )));
    }
    let text = format!("{scheme}://{host}{port_text}");
    let origin = match parse_header(&text) {
        Some(parts) => Origin::from_parts(&parts),
        None => {
            return Err(invalid(format!(
                "origin entry \"{raw}\" is not a valid origin"
            )))
        }
    };
    finish(raw, &problems, text, || Entry::Exact(origin))
}

/// Refuses a pattern `*.<suffix>` that would match every site under a top-level domain or a
/// range of IP addresses.
fn check_breadth(raw: &str, scheme: &str, suffix: &str) -> Result<(), CorsConfigError> {
    let numeric = suffix
        .rsplit('.')
        .next()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    if suffix.contains('.') && !numeric {
        return Ok(());
    }
    let what = if numeric {
        "a range of IP addresses"
    } else {
        "every site under a top-level domain"
    };
    Err(invalid(format!(
        "origin entry \"{raw}\" is too broad: \"*.{suffix}\" would match {what}; use a pattern under \
         a domain you own, like \"{scheme}://*.example.com\""
    )))
}

/// Reports the fixable problems with the corrected entry, or returns the entry.
fn finish(
    raw: &str,
    problems: &[String],
    corrected: String,
    entry: impl FnOnce() -> Entry,
) -> Result<Entry, CorsConfigError> {
    if problems.is_empty() {
        return Ok(entry());
    }
    let problems = problems.join("; it also ");
    Err(invalid(format!(
        "origin entry \"{raw}\" {problems}: use \"{corrected}\""
    ))
    .with_suggestion(corrected))
}

/// Hosts for which a missing scheme most likely means `http` (local development).
fn looks_local(rest: &str) -> bool {
    let host = rest.split([':', '/']).next().unwrap_or(rest);
    host == "localhost"
        || host.ends_with(".localhost")
        || host.starts_with("127.")
        || rest.starts_with("[::1]")
}

fn invalid(message: String) -> CorsConfigError {
    CorsConfigError::new(ConfigErrorKind::InvalidOrigin, message)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn exact_entries_normalise() {
        let cases = [
            ("https://app.example.com", "https://app.example.com"),
            ("HTTPS://APP.Example.COM", "https://app.example.com"),
            ("http://localhost:80", "http://localhost"),
            ("https://a.com:443", "https://a.com"),
            ("http://a.com:443", "http://a.com:443"),
            ("http://[0:0:0:0:0:0:0:1]:3000", "http://[::1]:3000"),
            ("http://[::FFFF:7F00:1]", "http://[::ffff:127.0.0.1]"),
            ("tauri://localhost", "tauri://localhost"),
            ("chrome-extension://abcdefgh", "chrome-extension://abcdefgh"),
        ];
        for (input, want) in cases {
            match parse_entry(input) {
                Ok(Entry::Exact(o)) => assert_eq!(o.as_str(), want, "{input}"),
                other => panic!("{input}: {other:?}"),
            }
        }
    }

    #[test]
    fn suggestions_are_valid_entries() {
        for input in [
            "app.example.com",
            " https://a.com",
            "https://a.com/",
            "*.example.com",
            "localhost:5173",
            "wss://a.com",
        ] {
            let err = parse_entry(input).unwrap_err();
            let suggestion = err.suggestion().unwrap();
            assert!(parse_entry(suggestion).is_ok(), "{input} -> {suggestion}");
        }
    }
}
