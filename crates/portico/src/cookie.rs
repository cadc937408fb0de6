//! The sticky-session cookie (Node's `cookie` option): lets a load balancer send every request
//! of a session to the same node.

use std::fmt;

/// The `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=Lax` (the default).
    Lax,
    /// `SameSite=None` (requires `Secure`; the builder refuses it without).
    None,
}

/// The cookie set on every handshake response: `io=<sid>; Path=/; HttpOnly; SameSite=Lax`
/// by default. Off unless configured with [`crate::ServerBuilder::cookie`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CookieOptions {
    /// Cookie name. Default: `io`.
    pub name: String,
    /// `Path`. Default: `/`.
    pub path: String,
    /// `HttpOnly`. Default: `true`.
    pub http_only: bool,
    /// `SameSite`. Default: `Lax`.
    pub same_site: SameSite,
    /// `Secure`. Default: `false`.
    pub secure: bool,
}

impl Default for CookieOptions {
    fn default() -> Self {
        CookieOptions {
            name: "io".into(),
            path: "/".into(),
            http_only: true,
            same_site: SameSite::Lax,
            secure: false,
        }
    }
}

impl CookieOptions {
    /// Change the name. Default: `io`.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
    /// Change the path. Default: `/`.
    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }
    /// Set or clear `HttpOnly`. Default: set.
    #[must_use]
    pub fn http_only(mut self, on: bool) -> Self {
        self.http_only = on;
        self
    }
    /// Change `SameSite`. Default: `Lax`.
    #[must_use]
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }
    /// Set or clear `Secure`. Default: clear.
    #[must_use]
    pub fn secure(mut self, on: bool) -> Self {
        self.secure = on;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        let token_ok = !self.name.is_empty()
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token_ok {
            return Err(format!(
                "cookie name {:?} is not a valid token: use letters, digits or -_.",
                self.name
            ));
        }
        if self.path.bytes().any(|b| b == b';' || b.is_ascii_control()) {
            return Err(format!(
                "cookie path {:?} must not contain ';' or control characters",
                self.path
            ));
        }
        if self.same_site == SameSite::None && !self.secure {
            return Err(
                "SameSite=None cookies are rejected by browsers unless Secure: add .secure(true) (and serve over HTTPS)"
                    .into(),
            );
        }
        Ok(())
    }

    pub(crate) fn header(&self, sid: &str) -> String {
        self.with_value(sid).to_string()
    }

    fn with_value<'a>(&'a self, value: &'a str) -> impl fmt::Display + 'a {
        struct D<'a>(&'a CookieOptions, &'a str);
        impl fmt::Display for D<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}={}; Path={}", self.0.name, self.1, self.0.path)?;
                if self.0.http_only {
                    f.write_str("; HttpOnly")?;
                }
                if self.0.secure {
                    f.write_str("; Secure")?;
                }
                f.write_str(match self.0.same_site {
                    SameSite::Strict => "; SameSite=Strict",
                    SameSite::Lax => "; SameSite=Lax",
                    SameSite::None => "; SameSite=None",
                })
            }
        }
        D(self, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_cookie_matches_node() {
        assert_eq!(
            CookieOptions::default().header("abc"),
            "io=abc; Path=/; HttpOnly; SameSite=Lax"
        );
        let c = CookieOptions::default()
            .name("sticky")
            .path("/app")
            .http_only(false)
            .secure(true)
            .same_site(SameSite::None);
        assert_eq!(c.header("x"), "sticky=x; Path=/app; Secure; SameSite=None");
        assert!(c.validate().is_ok());
        assert!(CookieOptions::default()
            .same_site(SameSite::None)
            .validate()
            .is_err());
        assert!(CookieOptions::default().name("a b").validate().is_err());
    }
}
