//! The configuration error: every message says how to fix the config.

use std::fmt;

/// An invalid origin policy, found while building or validating it.
///
/// The [`Display`](fmt::Display) text explains the problem and the fix, and is meant for
/// humans (it is not API: match on [`kind`](Self::kind) or the `is_*` queries instead).
/// When the fix is a corrected origin entry, [`suggestion`](Self::suggestion) returns it so a
/// tool can offer it directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsConfigError {
    kind: ConfigErrorKind,
    message: String,
    suggestion: Option<String>,
}

/// What kind of configuration mistake a [`CorsConfigError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// An origin entry is not a valid origin or subdomain pattern (path, trailing slash,
    /// missing scheme, misplaced wildcard, bad port, ...).
    InvalidOrigin,
    /// `credentials(true)` together with [`any_origin()`](crate::OriginPolicy::any_origin):
    /// browsers reject `Access-Control-Allow-Origin: *` on credentialed requests.
    WildcardWithCredentials,
    /// A `"*"` method, request header or exposed header together with `credentials(true)`:
    /// browsers read `*` literally on credentialed requests.
    WildcardNameWithCredentials,
    /// [`any_origin()`](crate::OriginPolicy::any_origin) combined with listed origins or
    /// predicates, which it would silently override.
    ConflictingOrigins,
    /// A method given to `allow_methods` is not a valid HTTP method token.
    InvalidMethod,
    /// A header given to `allow_headers` or `expose_headers` is not a valid header name.
    InvalidHeaderName,
}

impl CorsConfigError {
    pub(crate) fn new(kind: ConfigErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            suggestion: None,
        }
    }

    pub(crate) fn with_suggestion(mut self, suggestion: impl Into<String>) -> Self {
        self.suggestion = Some(suggestion.into());
        self
    }

    /// What kind of mistake this is.
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }

    /// The corrected origin entry, when there is one (e.g. `"https://app.example.com"` for
    /// the entry `"https://app.example.com/"`).
    pub fn suggestion(&self) -> Option<&str> {
        self.suggestion.as_deref()
    }

    /// Whether an origin entry was malformed.
    pub fn is_invalid_origin(&self) -> bool {
        self.kind == ConfigErrorKind::InvalidOrigin
    }

    /// Whether the policy combined `any_origin()` with `credentials(true)`.
    pub fn is_wildcard_with_credentials(&self) -> bool {
        self.kind == ConfigErrorKind::WildcardWithCredentials
    }
}

impl fmt::Display for CorsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CorsConfigError {}
