//! [`Decision`] and [`Verdict`]: what to do with a request, and the headers to send.

use http::header::VARY;
use http::HeaderMap;

use crate::DenyReason;

/// The outcome of [`OriginPolicy::evaluate`](crate::OriginPolicy::evaluate).
#[derive(Debug, Clone)]
pub struct Decision {
    /// Serve, answer the preflight, or refuse.
    pub verdict: Verdict,
    /// Headers to add to the response — to every response of this request, error responses
    /// included, so the browser shows the real error. For [`Verdict::Deny`] only `Vary`,
    /// never an `Access-Control-Allow-*` header.
    pub headers: HeaderMap,
}

/// What the server does with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Serve the request normally (with [`Decision::headers`]).
    Allow,
    /// A CORS preflight that passed: answer `204 No Content` with [`Decision::headers`] and
    /// do not route it further.
    Preflight,
    /// Refuse: answer `403` with `{"code":4,"message":"Forbidden"}`, create no session, and
    /// report the reason (`connection_error` event, one warning log).
    Deny(DenyReason),
}

impl Decision {
    /// Whether the request is served ([`Verdict::Allow`]).
    pub fn is_allowed(&self) -> bool {
        self.verdict == Verdict::Allow
    }

    /// The refusal, for [`Verdict::Deny`].
    pub fn deny_reason(&self) -> Option<&DenyReason> {
        match &self.verdict {
            Verdict::Deny(reason) => Some(reason),
            _ => None,
        }
    }

    /// Adds [`headers`](Self::headers) to a response's headers: `Vary` is appended to any
    /// existing `Vary`, the others replace a header of the same name.
    pub fn apply_to(&self, response: &mut HeaderMap) {
        for (name, value) in &self.headers {
            if name == VARY {
                response.append(name, value.clone());
            } else {
                response.insert(name, value.clone());
            }
        }
    }
}
