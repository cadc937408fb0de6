//! `redis://` URLs.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use percent_encoding::percent_decode_str;

use super::RedisError;

/// Where Redis is and how to log in: `redis://[user[:password]@]host[:port][/db]`.
///
/// The port defaults to 6379 and the database to 0. User name and password are
/// percent-decoded. `Display` and `Debug` hide the password, so a `RedisUrl` is safe to log.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
    db: u32,
    /// The redacted form, shared by every error that names this URL.
    shown: Arc<str>,
}

impl RedisUrl {
    /// Parses a `redis://` URL. Other schemes are refused with an error that says what is
    /// supported (`rediss://`, Redis over TLS, is not yet).
    pub fn parse(url: &str) -> Result<RedisUrl, RedisError> {
        let bad = |reason: &str| RedisError::InvalidUrl {
            reason: format!("`{}`: {reason}", redact(url)).into(),
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(bad("expected redis://[user[:password]@]host[:port][/db]"));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "redis" => {}
            "rediss" => {
                return Err(bad(
                    "rediss:// (Redis over TLS) is not supported yet; use redis://",
                ))
            }
            "unix" | "redis+unix" => {
                return Err(bad("Unix sockets are not supported; use redis://host:port"))
            }
            _ => {
                return Err(bad(
                    "unsupported scheme; expected redis://[user[:password]@]host[:port][/db]",
                ))
            }
        }
        if rest.contains(['?', '#']) {
            return Err(bad("query parameters and fragments are not supported"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let decode = |s: &str| -> Result<String, RedisError> {
            percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| bad("user name and password must be UTF-8 once percent-decoded"))
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(info) => match info.split_once(':') {
                Some((user, pass)) => {
                    let user = if user.is_empty() {
                        None
                    } else {
                        Some(decode(user)?)
                    };
                    (user, Some(decode(pass)?))
                }
                None => {
                    return Err(bad(
                        "a user name needs a password: redis://user:password@host",
                    ))
                }
            },
        };
        let (host, port) = split_host_port(hostport)
            .ok_or_else(|| bad("expected host[:port] with a port from 1 to 65535"))?;
        if host.is_empty() {
            return Err(bad("the host is missing"));
        }
        let db = match path {
            "" => 0,
            db => db.parse::<u32>().map_err(|_| {
                bad("the path must be a database number, as in redis://host:6379/0")
            })?,
        };
        let mut parsed = RedisUrl {
            host: host.to_owned(),
            port,
            username,
            password,
            db,
            shown: Arc::from(""),
        };
        parsed.shown = parsed.to_string().into();
        Ok(parsed)
    }

    /// The host name or IP address (an IPv6 address without its brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port; 6379 when the URL has none.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database sent with `SELECT` after connecting; 0 (not sent) when the URL has none.
    pub fn db(&self) -> u32 {
        self.db
    }

    /// The ACL user name, when the URL has one.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// True when the URL carries a password (then `AUTH` is sent on every connect).
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    pub(crate) fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The redacted URL as shared text, for errors.
    pub(crate) fn shown(&self) -> Arc<str> {
        self.shown.clone()
    }
}

impl FromStr for RedisUrl {
    type Err = RedisError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RedisUrl::parse(s)
    }
}

/// `redis://user:***@host:port/db`: the password never appears.
impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("redis://")?;
        match (&self.username, &self.password) {
            (Some(u), _) => write!(f, "{u}:***@")?,
            (None, Some(_)) => f.write_str(":***@")?,
            (None, None) => {}
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)?;
        } else {
            write!(f, "{}:{}", self.host, self.port)?;
        }
        if self.db != 0 {
            write!(f, "/{}", self.db)?;
        }
        Ok(())
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

fn split_host_port(s: &str) -> Option<(&str, u16)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => return None,
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        None => 6379,
        Some(p) => p.parse::<u16>().ok().filter(|&p| p != 0)?,
    };
    Some((host, port))
}

/// The input URL with any password replaced, for the error about that URL.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split_once(':').map_or("", |(u, _)| u);
            format!("{scheme}://{user}:***@{}", &rest[at + 1..])
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let u = RedisUrl::parse("redis://localhost").unwrap();
        assert_eq!(
            (u.host(), u.port(), u.db(), u.username(), u.password()),
            ("localhost", 6379, 0, None, None)
        );
        let u = RedisUrl::parse("redis://:s%40cret@10.0.0.1:7000/3").unwrap();
        assert_eq!(
            (u.host(), u.port(), u.db(), u.username(), u.password()),
            ("10.0.0.1", 7000, 3, None, Some("s@cret"))
        );
        let u = RedisUrl::parse("redis://alice:pw@[::1]:6380/").unwrap();
        assert_eq!(
            (u.host(), u.port(), u.db(), u.username(), u.password()),
            ("::1", 6380, 0, Some("alice"), Some("pw"))
        );
        let u = RedisUrl::parse("REDIS://h:1").unwrap();
        assert_eq!((u.host(), u.port()), ("h", 1));
    }

    #[test]
    fn display_and_debug_hide_the_password() {
        let u = RedisUrl::parse("redis://alice:hunter2@h:1/2").unwrap();
        assert_eq!(u.to_string(), "redis://alice:***@h:1/2");
        assert!(!format!("{u:?}").contains("hunter2"));
        let u = RedisUrl::parse("redis://:hunter2@[::1]").unwrap();
        assert_eq!(u.to_string(), "redis://:***@[::1]:6379");
    }

    #[test]
    fn refuses_what_it_does_not_support_with_a_reason() {
        let cases = [
            ("rediss://h", "TLS"),
            ("http://h", "unsupported scheme"),
            ("unix:///tmp/redis.sock", "Unix sockets"),
            ("localhost:6379", "expected redis://"),
            ("redis://h:0", "port"),
            ("redis://h:99999", "port"),
            ("redis://h:x", "port"),
            ("redis://::1", "port"),
            ("redis://h/abc", "database number"),
            ("redis://alice@h", "needs a password"),
            ("redis://h?db=1", "query"),
            ("redis://", "host is missing"),
        ];
        for (url, needle) in cases {
            let err = RedisUrl::parse(url).unwrap_err().to_string();
            assert!(err.contains(needle), "{url}: {err}");
        }
        let err = RedisUrl::parse("rediss://u:hunter2@h")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
