//! Header names the policy reads and writes, and the precomputed header values.

use http::{HeaderName, HeaderValue};

/// `Access-Control-Allow-Private-Network` (Private Network Access).
pub const ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-allow-private-network");
/// `Access-Control-Request-Private-Network` (Private Network Access).
pub const ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-request-private-network");
/// `Sec-Fetch-Site` (Fetch Metadata).
pub const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");
/// `X-Forwarded-Host`, read only from trusted proxies.
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
/// `X-Forwarded-Proto`, read only from trusted proxies.
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

pub(crate) const WILDCARD: HeaderValue = HeaderValue::from_static("*");
pub(crate) const TRUE: HeaderValue = HeaderValue::from_static("true");
pub(crate) const VARY_ORIGIN: HeaderValue = HeaderValue::from_static("Origin");
pub(crate) const VARY_REQUEST_HEADERS: HeaderValue =
    HeaderValue::from_static("Access-Control-Request-Headers");
pub(crate) const VARY_BOTH: HeaderValue =
    HeaderValue::from_static("Origin, Access-Control-Request-Headers");

/// A configured list of methods or header names, with its header value joined once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NameList {
    /// The names as they are compared (header names lowercase; methods as configured).
    pub(crate) names: Vec<Box<str>>,
    /// `names` joined with `", "`, or `None` when empty.
    pub(crate) value: Option<HeaderValue>,
}

impl NameList {
    /// Builds the list; names must already be validated tokens.
    pub(crate) fn new(names: Vec<Box<str>>) -> Self {
        let value = if names.is_empty() {
            None
        } else {
            HeaderValue::from_str(&names.join(", ")).ok()
        };
        Self { names, value }
    }

    /// Whether the list holds `*`.
    pub(crate) fn has_wildcard(&self) -> bool {
        self.names.iter().any(|n| &**n == "*")
    }

    /// Whether `name` is listed, ignoring ASCII case (header names).
    pub(crate) fn contains_ignore_case(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }

    /// Whether `name` is listed exactly (methods are case-sensitive).
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.names.iter().any(|n| &**n == name)
    }
}

/// Whether `s` is an HTTP token (method names, header names).
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
