//! [`OriginPolicy`]: the validated builder.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

use crate::entry::{parse_entry, Entry};
use crate::error::{ConfigErrorKind, CorsConfigError};
use crate::headers::{is_token, NameList};
use crate::pattern::Pattern;
use crate::Origin;

/// Which origins a request may come from, and which CORS headers it gets.
///
/// Build one with a constructor ([`same_origin`](Self::same_origin) — the default —,
/// [`allow`](Self::allow), [`predicate`](Self::predicate), [`any_origin`](Self::any_origin),
/// [`reflect_any_origin_with_credentials_dangerously`](Self::reflect_any_origin_with_credentials_dangerously)),
/// refine it with the chained setters, then call [`validate`](Self::validate) (or
/// [`build`](Self::build)) once: origin entries are checked as they are added, mistakes that
/// depend on several setters (credentials with `any_origin()`) by `validate`. A server
/// builder calls `validate` for you.
///
/// The same-origin rule is part of every policy (see
/// [`allow_same_origin`](Self::allow_same_origin)): a page served by this server may always
/// talk to it.
///
/// Cloning is cheap enough for per-namespace guards (predicates are shared).
#[derive(Clone)]
pub struct OriginPolicy {
    pub(crate) mode: Mode,
    pub(crate) same_origin: bool,
    pub(crate) exact: Vec<Origin>,
    pub(crate) patterns: Vec<Pattern>,
    pub(crate) predicates: Vec<Predicate>,
    pub(crate) credentials: bool,
    pub(crate) allow_null: bool,
    pub(crate) serve_without_origin: bool,
    pub(crate) methods: NameList,
    pub(crate) allow_headers: NameList,
    pub(crate) reflect_headers: bool,
    pub(crate) expose_headers: NameList,
    pub(crate) max_age: Option<HeaderValue>,
    pub(crate) private_network: bool,
    pub(crate) trusted_proxies: Vec<IpAddr>,
    pub(crate) trust_loopback: bool,
    /// The first setter mistake, reported by `validate` (setters return `Self`).
    pub(crate) deferred: Option<CorsConfigError>,
}

/// How origins outside the same-origin rule and the lists are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Only the same origin, listed origins, patterns and predicates.
    List,
    /// Every origin, answered with `Access-Control-Allow-Origin: *`.
    Any,
    /// Every origin, reflected (with credentials unless turned off).
    ReflectAny,
}

/// A shared origin predicate.
#[derive(Clone)]
pub(crate) struct Predicate(pub(crate) Arc<dyn Fn(&Origin) -> bool + Send + Sync>);

impl Default for OriginPolicy {
    /// Same as [`OriginPolicy::same_origin`].
    fn default() -> Self {
        Self {
            mode: Mode::List,
            same_origin: true,
            exact: Vec::new(),
            patterns: Vec::new(),
            predicates: Vec::new(),
            credentials: false,
            allow_null: false,
            serve_without_origin: true,
            methods: NameList::new(vec!["GET".into(), "POST".into()]),
            allow_headers: NameList::default(),
            reflect_headers: false,
            expose_headers: NameList::default(),
            max_age: None,
            private_network: false,
            trusted_proxies: Vec::new(),
            trust_loopback: false,
            deferred: None,
        }
    }
}

impl OriginPolicy {
    /// Same-origin only: a request's `Origin` must equal the server's own origin (scheme
    /// from the listener or a trusted proxy's `X-Forwarded-Proto`, host from `Host` or a
    /// trusted proxy's `X-Forwarded-Host`). Requests without `Origin` are served. This is
    /// the default.
    pub fn same_origin() -> Self {
        Self::default()
    }

    /// Allows the same origin plus these entries, each checked now: exact origins
    /// (`"https://app.example.com"`, normalised) and subdomain patterns
    /// (`"https://*.example.com"`, `"https://*.example.com:8443"`).
    ///
    /// A pattern matches one or more labels before the domain with the same scheme and
    /// port: `https://a.example.com` and `https://a.b.example.com`, never
    /// `https://example.com`, `https://evil-example.com`, `https://example.com.evil.net`,
    /// `http://a.example.com` or `https://a.example.com:8443`.
    ///
    /// An entry with a path, a trailing slash, no scheme, user info or a misplaced wildcard
    /// is an error whose message shows the corrected entry.
    ///
    /// ```
    /// use portico_cors::OriginPolicy;
    ///
    /// let err = OriginPolicy::allow(["https://app.example.com/"]).unwrap_err();
    /// assert_eq!(err.suggestion(), Some("https://app.example.com"));
    /// ```
    pub fn allow<I, S>(entries: I) -> Result<Self, CorsConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::default().also_allow(entries)
    }

    /// Allows the same origin plus every origin for which `predicate` returns `true`.
    ///
    /// The closure gets the request's origin as an [`&Origin`](Origin), parsed and normalised
    /// as browsers serialise it (lowercase, no default port): [`as_str`](Origin::as_str) is
    /// the whole origin (`"https://app.example.com:8443"`), [`scheme`](Origin::scheme),
    /// [`host`](Origin::host) and [`port`](Origin::port) its parts (`port()` is `None` for
    /// the scheme's default port; [`port_or_default`](Origin::port_or_default) fills it in).
    /// It is never called for `Origin: null` (see
    /// [`allow_null_origin`](Self::allow_null_origin)) or a malformed `Origin`.
    ///
    /// ```
    /// use http::{header, HeaderMap, HeaderValue, Method};
    /// use portico_cors::{Origin, OriginPolicy, RequestInfo, Verdict};
    ///
    /// // Any https origin under example.com, on any port, and the local dev server.
    /// let policy = OriginPolicy::predicate(|origin: &Origin| {
    ///     (origin.scheme() == "https" && origin.host().ends_with(".example.com"))
    ///         || origin.as_str() == "http://localhost:5173"
    /// })
    /// .build()?;
    ///
    /// let verdict = |origin: &'static str| {
    ///     let mut headers = HeaderMap::new();
    ///     headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
    ///     policy.evaluate(&RequestInfo::new(&Method::GET, &headers)).verdict
    /// };
    /// assert_eq!(verdict("https://chat.example.com:8443"), Verdict::Allow);
    /// assert_eq!(verdict("HTTP://LOCALHOST:5173"), Verdict::Allow); // normalised first
    /// assert_ne!(verdict("http://chat.example.com"), Verdict::Allow);
    /// # Ok::<(), portico_cors::CorsConfigError>(())
    /// ```
    pub fn predicate(predicate: impl Fn(&Origin) -> bool + Send + Sync + 'static) -> Self {
        Self::default().also_allow_if(predicate)
    }

    /// Allows every origin and answers `Access-Control-Allow-Origin: *`: any site may read
    /// the responses, but browsers never send cookies or other credentials with it, so
    /// [`validate`](Self::validate) rejects it together with `credentials(true)`. Also serves
    /// `Origin: null` and cross-site requests without `Origin`.
    pub fn any_origin() -> Self {
        Self {
            mode: Mode::Any,
            ..Self::default()
        }
    }

    /// Reflects **every** origin in `Access-Control-Allow-Origin` **with credentials**: any
    /// web page a user visits can open a Socket.IO connection carrying that user's cookies
    /// and read everything the server answers.
    ///
    /// This is the pattern behind CVE-2020-28481 (socket.io before 2.4.0 reflected any
    /// origin with credentials by default) and what Node's `cors: { origin: true,
    /// credentials: true }` does. Use it only when no response depends on ambient
    /// credentials (cookies, client certificates, HTTP auth); otherwise list the origins with
    /// [`allow`](Self::allow). `Origin: null` stays refused unless
    /// [`allow_null_origin`](Self::allow_null_origin) is also set.
    pub fn reflect_any_origin_with_credentials_dangerously() -> Self {
        Self {
            mode: Mode::ReflectAny,
            credentials: true,
            ..Self::default()
        }
    }

    /// Adds exact origins and subdomain patterns, checked as in [`allow`](Self::allow).
    pub fn also_allow<I, S>(mut self, entries: I) -> Result<Self, CorsConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for entry in entries {
            match parse_entry(entry.as_ref())? {
                Entry::Exact(origin) if !self.exact.contains(&origin) => self.exact.push(origin),
                Entry::Exact(_) => {}
                Entry::Pattern(pattern) => self.patterns.push(pattern),
            }
        }
        Ok(self)
    }

    /// Adds a predicate over the request's [`&Origin`](Origin): an origin is also allowed when
    /// it returns `true` (see [`predicate`](Self::predicate) for what the closure gets).
    pub fn also_allow_if(
        mut self,
        predicate: impl Fn(&Origin) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.predicates.push(Predicate(Arc::new(predicate)));
        self
    }

    /// Whether the server's own origin is allowed (a page served by this server). Turn it
    /// off to rely on the listed origins only, e.g. against DNS rebinding, where a hostile
    /// page makes its own host name resolve to your server and so looks same-origin.
    /// Default: `true`.
    pub fn allow_same_origin(mut self, allow: bool) -> Self {
        self.same_origin = allow;
        self
    }

    /// Sends `Access-Control-Allow-Credentials: true` to allowed origins (never to others),
    /// so browsers send and accept cookies (`withCredentials: true` on the client).
    /// Combined with [`any_origin`](Self::any_origin) it is a [`validate`](Self::validate)
    /// error. Default: `false`.
    pub fn credentials(mut self, credentials: bool) -> Self {
        self.credentials = credentials;
        self
    }

    /// Serves `Origin: null` (sandboxed iframes, `file://` pages, some redirects) and
    /// reflects `null` — with credentials when [`credentials`](Self::credentials) is on.
    /// Any site can produce a `null` origin from a sandboxed iframe, so this is close to
    /// allowing every origin. Default: `false`.
    pub fn allow_null_origin(mut self, allow: bool) -> Self {
        self.allow_null = allow;
        self
    }

    /// Serves requests without an `Origin` header (servers, mobile apps, curl, and browser
    /// same-origin GETs). A browser request without `Origin` whose `Sec-Fetch-Site` is
    /// `cross-site` or `same-site` is cross-origin and is refused regardless, unless the
    /// policy is [`any_origin`](Self::any_origin). Default: `true`.
    pub fn serve_requests_without_origin(mut self, serve: bool) -> Self {
        self.serve_without_origin = serve;
        self
    }

    /// Methods a preflight may ask for (`Access-Control-Allow-Methods`); `"*"` means any
    /// (not with credentials). A preflight asking for another method is refused. Takes
    /// `&str`s or [`http::Method`]s; invalid tokens are reported by
    /// [`validate`](Self::validate). Default: `GET, POST`.
    pub fn allow_methods<I, M>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = M>,
        M: AsRef<str>,
    {
        let mut names: Vec<Box<str>> = Vec::new();
        for method in methods {
            let method = method.as_ref().trim();
            if !is_token(method) {
                self.defer(ConfigErrorKind::InvalidMethod, format!(
                    "allow_methods: \"{method}\" is not an HTTP method; write methods like \"GET\" or \"PUT\""
                ));
                continue;
            }
            // Fetch normalises these six to uppercase; everything else is case-sensitive.
            let upper = method.to_ascii_uppercase();
            let method = match upper.as_str() {
                "DELETE" | "GET" | "HEAD" | "OPTIONS" | "POST" | "PUT" => upper,
                _ => method.to_string(),
            };
            if !names.iter().any(|n| **n == *method) {
                names.push(method.into());
            }
        }
        self.methods = NameList::new(names);
        self
    }

    /// Request headers a preflight may ask for (`Access-Control-Allow-Headers`), compared
    /// ignoring case; `"*"` means any (not with credentials). A preflight asking for an
    /// unlisted header is refused. Replaces
    /// [`reflect_request_headers`](Self::reflect_request_headers). Default: none beyond the
    /// CORS-safelisted headers browsers never ask about.
    pub fn allow_headers<I, H>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = H>,
        H: AsRef<str>,
    {
        self.allow_headers = self.header_list("allow_headers", headers);
        self.reflect_headers = false;
        self
    }

    /// Allows whatever request headers a preflight asks for, echoing
    /// `Access-Control-Request-Headers` into `Access-Control-Allow-Headers` (with
    /// `Vary: Access-Control-Request-Headers`). Node's default. Replaces
    /// [`allow_headers`](Self::allow_headers). Default: off.
    pub fn reflect_request_headers(mut self) -> Self {
        self.allow_headers = NameList::default();
        self.reflect_headers = true;
        self
    }

    /// Response headers scripts may read (`Access-Control-Expose-Headers`, sent on actual
    /// responses, not preflights); `"*"` means all (not with credentials). Default: none.
    pub fn expose_headers<I, H>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = H>,
        H: AsRef<str>,
    {
        self.expose_headers = self.header_list("expose_headers", headers);
        self
    }

    /// How long browsers may cache a preflight answer (`Access-Control-Max-Age`, whole
    /// seconds, on preflights only). Browsers cap it (Chromium: 2 hours, Firefox: 24 hours).
    /// Default: not sent (browsers then cache for 5 seconds).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(HeaderValue::from(max_age.as_secs()));
        self
    }

    /// Answers Private Network Access preflights (`Access-Control-Request-Private-Network:
    /// true`, sent when a public site calls a server on a private address) with
    /// `Access-Control-Allow-Private-Network: true`. When off, such preflights are answered
    /// without it and the browser decides. Default: `false`.
    pub fn allow_private_network(mut self, allow: bool) -> Self {
        self.private_network = allow;
        self
    }

    /// Peers (reverse proxies) whose `X-Forwarded-Host` and `X-Forwarded-Proto` define the
    /// server's own origin for the same-origin rule (first value of each; `X-Forwarded-Host`
    /// carries the port when it is not the default, `X-Forwarded-Port` and `Forwarded` are
    /// not read). From any other peer these headers are ignored. The Portico server also takes
    /// the client's address from a trusted proxy's `X-Forwarded-For` (the right-most address
    /// that is not itself a trusted proxy). Default: none.
    pub fn trusted_proxies(mut self, proxies: impl IntoIterator<Item = IpAddr>) -> Self {
        self.trusted_proxies = proxies.into_iter().map(|ip| ip.to_canonical()).collect();
        self
    }

    /// Trusts every loopback peer (`127.0.0.0/8`, `::1`) as a proxy, for a proxy on the same
    /// host. Default: `false`.
    pub fn trust_loopback_proxies(mut self, trust: bool) -> Self {
        self.trust_loopback = trust;
        self
    }

    /// Checks the combination of settings: `any_origin()` with credentials or with listed
    /// origins, `"*"` names with credentials, and invalid methods or header names given to
    /// the setters. A server builder calls this in its `build()`.
    pub fn validate(&self) -> Result<(), CorsConfigError> {
        if let Some(err) = &self.deferred {
            return Err(err.clone());
        }
        if self.mode == Mode::Any && self.credentials {
            return Err(CorsConfigError::new(
                ConfigErrorKind::WildcardWithCredentials,
                "credentials(true) cannot be combined with any_origin(): browsers reject \
                 \"Access-Control-Allow-Origin: *\" on credentialed requests (cookies, withCredentials: true), \
                 so every such request would fail. Fix it one of two ways: list the origins that may send \
                 credentials, e.g. OriginPolicy::allow([\"https://app.example.com\"])?.credentials(true); \
                 or drop credentials(true) and keep any_origin()",
            ));
        }
        if self.mode == Mode::Any
            && !(self.exact.is_empty() && self.patterns.is_empty() && self.predicates.is_empty())
        {
            return Err(CorsConfigError::new(
                ConfigErrorKind::ConflictingOrigins,
                "any_origin() already allows every origin, so the listed origins and predicates would be \
                 ignored: remove them, or use OriginPolicy::allow([...]) instead of any_origin()",
            ));
        }
        if self.credentials {
            for (setter, list) in [
                ("allow_methods", &self.methods),
                ("allow_headers", &self.allow_headers),
                ("expose_headers", &self.expose_headers),
            ] {
                if list.has_wildcard() {
                    return Err(CorsConfigError::new(
                        ConfigErrorKind::WildcardNameWithCredentials,
                        format!(
                            "{setter}([\"*\"]) cannot be combined with credentials(true): on credentialed requests \
                             browsers read \"*\" as a literal name, not a wildcard; list the names instead"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// [`validate`](Self::validate)s and returns the policy, for builder chains ending in `?`.
    pub fn build(self) -> Result<Self, CorsConfigError> {
        self.validate().map(|()| self)
    }

    /// A one-line summary for logs and `portico doctor`, e.g. `same origin, https://app.example.com,
    /// https://*.example.com; credentials`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        match self.mode {
            Mode::Any => parts.push("any origin (*)".into()),
            Mode::ReflectAny => parts.push("any origin, reflected (dangerous)".into()),
            Mode::List => {}
        }
        if self.same_origin && self.mode == Mode::List {
            parts.push("same origin".into());
        }
        parts.extend(self.exact.iter().map(|o| o.to_string()));
        parts.extend(self.patterns.iter().map(|p| p.to_string()));
        if !self.predicates.is_empty() {
            parts.push(format!("{} predicate(s)", self.predicates.len()));
        }
        if self.allow_null {
            parts.push("null".into());
        }
        if parts.is_empty() {
            parts.push("no origin".into());
        }
        let mut text = parts.join(", ");
        if self.credentials {
            text.push_str("; credentials");
        }
        if !self.serve_without_origin {
            text.push_str("; requests without Origin refused");
        }
        text
    }

    fn header_list<I, H>(&mut self, setter: &str, headers: I) -> NameList
    where
        I: IntoIterator<Item = H>,
        H: AsRef<str>,
    {
        let mut names: Vec<Box<str>> = Vec::new();
        for header in headers {
            let header = header.as_ref().trim().to_ascii_lowercase();
            if !is_token(&header) {
                self.defer(ConfigErrorKind::InvalidHeaderName, format!(
                    "{setter}: \"{header}\" is not a valid header name; write names like \"x-request-id\""
                ));
            } else if !names.iter().any(|n| **n == *header) {
                names.push(header.into());
            }
        }
        NameList::new(names)
    }

    fn defer(&mut self, kind: ConfigErrorKind, message: String) {
        self.deferred
            .get_or_insert(CorsConfigError::new(kind, message));
    }
}

impl fmt::Debug for OriginPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OriginPolicy")
            .field("origins", &self.describe())
            .field("methods", &self.methods.names)
            .field("allow_headers", &self.allow_headers.names)
            .field("reflect_request_headers", &self.reflect_headers)
            .field("expose_headers", &self.expose_headers.names)
            .field("max_age", &self.max_age)
            .field("private_network", &self.private_network)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("trust_loopback_proxies", &self.trust_loopback)
            .finish_non_exhaustive()
    }
}
