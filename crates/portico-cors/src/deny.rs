//! [`DenyReason`]: why a request was refused, and the config change that would serve it.

use std::fmt;

use crate::origin::parse_header;
use crate::Transport;

/// Why a request (or a namespace connection) was refused.
///
/// [`message`](Self::message) is the one line for logs and the `connection_error` context:
/// what was refused and what to add to the config. [`explain`](Self::explain) adds the
/// browser rule behind it, for `portico doctor` and docs. Neither text is API; match on
/// [`kind`](Self::kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenyReason {
    kind: DenyKind,
    origin: Option<Box<str>>,
    transport: Transport,
    preflight: bool,
    detail: Option<Box<str>>,
    server_origin: Option<Box<str>>,
    namespace: Option<Box<str>>,
}

/// The category of a [`DenyReason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DenyKind {
    /// The origin is neither the server's own nor listed (nor matched by a pattern).
    OriginNotAllowed,
    /// The origin is not listed and the policy's predicates returned `false`.
    PredicateRefused,
    /// `Origin: null` without [`allow_null_origin`](crate::OriginPolicy::allow_null_origin).
    NullOrigin,
    /// The `Origin` header is not `scheme://host[:port]` (or is repeated, or not ASCII).
    MalformedOrigin,
    /// No `Origin`, but `Sec-Fetch-Site: cross-site` (or `same-site`): a cross-origin
    /// browser request, e.g. from an `<img>` or `<script>` tag.
    CrossSiteWithoutOrigin,
    /// No `Origin` and the policy does not
    /// [`serve_requests_without_origin`](crate::OriginPolicy::serve_requests_without_origin).
    MissingOrigin,
    /// A preflight asked for a method outside
    /// [`allow_methods`](crate::OriginPolicy::allow_methods).
    MethodNotAllowed,
    /// A preflight asked for a request header outside
    /// [`allow_headers`](crate::OriginPolicy::allow_headers).
    HeaderNotAllowed,
}

impl DenyReason {
    pub(crate) fn new(kind: DenyKind, origin: Option<&str>, transport: Transport) -> Self {
        Self {
            kind,
            origin: origin.map(Into::into),
            transport,
            preflight: false,
            detail: None,
            server_origin: None,
            namespace: None,
        }
    }

    pub(crate) fn preflight(mut self) -> Self {
        self.preflight = true;
        self
    }

    pub(crate) fn with_detail(mut self, detail: &str) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub(crate) fn with_server_origin(mut self, server_origin: Option<String>) -> Self {
        self.server_origin = server_origin.map(Into::into);
        self
    }

    pub(crate) fn with_namespace(mut self, nsp: &str) -> Self {
        self.namespace = Some(nsp.into());
        self
    }

    /// The category.
    pub fn kind(&self) -> DenyKind {
        self.kind
    }

    /// The `Origin` header exactly as received, if there was one.
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// The transport of the refused request.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Whether the refused request was a CORS preflight.
    pub fn is_preflight(&self) -> bool {
        self.preflight
    }

    /// The refused method ([`DenyKind::MethodNotAllowed`]) or request header
    /// ([`DenyKind::HeaderNotAllowed`]).
    pub fn refused_name(&self) -> Option<&str> {
        match self.kind {
            DenyKind::MethodNotAllowed | DenyKind::HeaderNotAllowed => self.detail.as_deref(),
            _ => None,
        }
    }

    /// The server's own origin as the same-origin rule computed it, when known.
    pub fn server_origin(&self) -> Option<&str> {
        self.server_origin.as_deref()
    }

    /// The namespace whose origin guard refused the connection, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// One line for logs and the `connection_error` context: what was refused, why, and
    /// what to add to the config. E.g. `refused a polling request from origin
    /// "http://localhost:5173": not an allowed origin (this server's own origin is
    /// "http://localhost:3000"); add "http://localhost:5173" to the allowed origins
    /// (OriginPolicy::allow / --cors-origin http://localhost:5173)`.
    pub fn message(&self) -> String {
        format!("{}: {}; {}", self.what(), self.why(), self.fix())
    }

    /// Just the config change that would serve the request (or why there is none).
    pub fn fix(&self) -> String {
        let origin = self.origin().unwrap_or_default();
        match self.kind {
            DenyKind::OriginNotAllowed | DenyKind::PredicateRefused => {
                let or_predicate = if self.kind == DenyKind::PredicateRefused { " or change the predicate" } else { "" };
                match self.namespace() {
                    Some(nsp) => format!(
                        "add \"{origin}\" to the origin guard of namespace \"{nsp}\" (OriginPolicy::allow){or_predicate}"
                    ),
                    None => format!(
                        "add \"{origin}\" to the allowed origins (OriginPolicy::allow / --cors-origin {origin}){or_predicate}"
                    ),
                }
            }
            DenyKind::NullOrigin => {
                "serve it only if you must, with OriginPolicy::allow_null_origin(true)".to_string()
            }
            DenyKind::MalformedOrigin => "nothing to add to the config: fix the client".to_string(),
            DenyKind::CrossSiteWithoutOrigin => {
                "nothing to add unless every site may use this server (OriginPolicy::any_origin())".to_string()
            }
            DenyKind::MissingOrigin => {
                "serve them with OriginPolicy::serve_requests_without_origin(true)".to_string()
            }
            DenyKind::MethodNotAllowed => format!(
                "add \"{}\" to OriginPolicy::allow_methods([...]) (default: GET, POST)",
                self.detail.as_deref().unwrap_or_default()
            ),
            DenyKind::HeaderNotAllowed => format!(
                "add \"{}\" to OriginPolicy::allow_headers([...]), or allow every requested header with \
                 OriginPolicy::reflect_request_headers()",
                self.detail.as_deref().unwrap_or_default()
            ),
        }
    }

    /// Several lines for `portico doctor` and docs: what happened, the browser rule behind
    /// it, and the fix.
    pub fn explain(&self) -> String {
        format!(
            "{}: {}.\nwhy: {}\nfix: {}.",
            self.what(),
            self.why(),
            self.background(),
            self.fix()
        )
    }

    /// A short text safe to send to the client (e.g. in a Socket.IO CONNECT_ERROR): it
    /// names only what the client sent, never the configuration.
    pub fn public_message(&self) -> String {
        let subject = match (self.kind, self.origin()) {
            (DenyKind::MethodNotAllowed, _) => {
                format!("method \"{}\"", self.detail.as_deref().unwrap_or_default())
            }
            (DenyKind::HeaderNotAllowed, _) => {
                format!(
                    "request header \"{}\"",
                    self.detail.as_deref().unwrap_or_default()
                )
            }
            (_, Some(origin)) => format!("origin \"{origin}\""),
            (_, None) => "a request without an Origin header".to_string(),
        };
        match self.namespace() {
            Some(nsp) => format!("{subject} is not allowed on namespace \"{nsp}\""),
            None => format!("{subject} is not allowed"),
        }
    }

    fn what(&self) -> String {
        let what = match (&self.namespace, self.preflight) {
            (Some(nsp), _) => format!("namespace \"{nsp}\" refused a connection"),
            (None, true) => format!("refused a preflight ({})", self.transport),
            (None, false) => format!("refused a {} request", self.transport),
        };
        match self.origin() {
            Some(origin) => format!("{what} from origin \"{origin}\""),
            None => format!("{what} without an Origin header"),
        }
    }

    fn why(&self) -> String {
        match self.kind {
            DenyKind::OriginNotAllowed | DenyKind::PredicateRefused => {
                let mut why = if self.kind == DenyKind::PredicateRefused {
                    "not a listed origin, and the origin predicate returned false".to_string()
                } else {
                    "not an allowed origin".to_string()
                };
                if let Some(own) = self.server_origin() {
                    why.push_str(&format!(" (this server's own origin is \"{own}\")"));
                    if self.same_host_other_scheme(own) {
                        why.push_str(
                            "; the host matches but the scheme differs: if TLS ends at a proxy, list it in \
                             OriginPolicy::trusted_proxies so its X-Forwarded-Proto is used",
                        );
                    }
                }
                why
            }
            DenyKind::NullOrigin => "\"null\" is not allowed".to_string(),
            DenyKind::MalformedOrigin => {
                "the Origin header is not scheme://host[:port]".to_string()
            }
            DenyKind::CrossSiteWithoutOrigin => format!(
                "Sec-Fetch-Site: {} marks it as a cross-origin browser request",
                self.detail.as_deref().unwrap_or("cross-site")
            ),
            DenyKind::MissingOrigin => {
                "requests without Origin are not served by this policy".to_string()
            }
            DenyKind::MethodNotAllowed => {
                format!(
                    "it asks for method \"{}\", which is not allowed",
                    self.detail.as_deref().unwrap_or_default()
                )
            }
            DenyKind::HeaderNotAllowed => format!(
                "it asks for request header \"{}\", which is not allowed",
                self.detail.as_deref().unwrap_or_default()
            ),
        }
    }

    fn background(&self) -> &'static str {
        match self.kind {
            DenyKind::OriginNotAllowed | DenyKind::PredicateRefused => {
                "browsers send the page's origin with every cross-origin request and WebSocket; Portico serves \
                 only the server's own origin and the configured ones, so a page elsewhere (another port counts) \
                 cannot connect until its exact origin (scheme://host[:port]) is allowed"
            }
            DenyKind::NullOrigin => {
                "browsers send \"Origin: null\" from sandboxed iframes, file:// pages and some cross-origin \
                 redirects; any site can create such a frame, so allowing null lets every site in"
            }
            DenyKind::MalformedOrigin => {
                "browsers always send a serialised origin (or \"null\"); anything else comes from a broken or \
                 non-browser client"
            }
            DenyKind::CrossSiteWithoutOrigin => {
                "browsers omit Origin on some GET requests (images, scripts, navigations) but mark them with \
                 Sec-Fetch-Site; a cross-site one has no origin that could be listed"
            }
            DenyKind::MissingOrigin => {
                "non-browser clients (servers, mobile apps, curl) send no Origin; browsers always send one on \
                 cross-origin requests and WebSockets"
            }
            DenyKind::MethodNotAllowed | DenyKind::HeaderNotAllowed => {
                "before a cross-origin request with a non-simple method or header, browsers send an OPTIONS \
                 preflight and proceed only if the answer allows that method and every requested header"
            }
        }
    }

    fn same_host_other_scheme(&self, own: &str) -> bool {
        match (self.origin().and_then(parse_header), parse_header(own)) {
            (Some(a), Some(b)) => {
                a.host.eq_ignore_ascii_case(b.host) && !a.scheme.eq_ignore_ascii_case(b.scheme)
            }
            _ => false,
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for DenyReason {}
