//! CORS preflights per the Fetch standard: classification, the method and header checks,
//! and the preflight-only response headers.

use http::header::{ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN};
use http::{HeaderValue, Method};

use crate::decision::Slot;
use crate::headers::{ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK, TRUE};
use crate::{CorsHeaders, DenyKind, OriginPolicy, RequestHeaders, RequestInfo};

/// A preflight is `OPTIONS` with both `Origin` and `Access-Control-Request-Method`; any
/// other `OPTIONS` is an ordinary request (which Engine.IO answers with 400, code 2).
pub(crate) fn is_preflight<H: RequestHeaders + ?Sized>(req: &RequestInfo<'_, H>) -> bool {
    *req.method == Method::OPTIONS
        && req.headers.contains_key(&ORIGIN)
        && req.headers.contains_key(&ACCESS_CONTROL_REQUEST_METHOD)
}

/// Checks the requested method and headers; on refusal, the kind and the refused name.
pub(crate) fn check<H: RequestHeaders + ?Sized>(
    policy: &OriginPolicy,
    headers: &H,
) -> Result<(), (DenyKind, String)> {
    let wildcards = !policy.credentials;
    if let Some(method) = headers.get(&ACCESS_CONTROL_REQUEST_METHOD) {
        let method = method.to_str().map(str::trim).unwrap_or_default();
        let listed =
            policy.methods.contains(method) || (wildcards && policy.methods.has_wildcard());
        if !listed {
            return Err((DenyKind::MethodNotAllowed, method.to_string()));
        }
    }
    if policy.reflect_headers {
        return Ok(());
    }
    for value in headers.get_all(&ACCESS_CONTROL_REQUEST_HEADERS) {
        let Ok(value) = value.to_str() else {
            return Err((
                DenyKind::HeaderNotAllowed,
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            ));
        };
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            // Per Fetch, "*" never covers Authorization.
            let wildcard = wildcards
                && policy.allow_headers.has_wildcard()
                && !name.eq_ignore_ascii_case("authorization");
            if !wildcard && !policy.allow_headers.contains_ignore_case(name) {
                return Err((DenyKind::HeaderNotAllowed, name.to_ascii_lowercase()));
            }
        }
    }
    Ok(())
}

/// Adds `Access-Control-Allow-Methods`, `-Allow-Headers`, `-Max-Age` and
/// `-Allow-Private-Network` to a passing preflight's answer.
pub(crate) fn add_headers<H: RequestHeaders + ?Sized>(
    policy: &OriginPolicy,
    request: &H,
    response: &mut CorsHeaders,
) {
    if let Some(methods) = &policy.methods.value {
        response.set(Slot::AllowMethods, methods.clone());
    }
    let allow_headers = if policy.reflect_headers {
        reflected_headers(request)
    } else {
        policy.allow_headers.value.clone()
    };
    if let Some(value) = allow_headers {
        response.set(Slot::AllowHeaders, value);
    }
    if let Some(max_age) = &policy.max_age {
        response.set(Slot::MaxAge, max_age.clone());
    }
    let asks_private_network = request
        .get(&ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    if policy.private_network && asks_private_network {
        response.set(Slot::AllowPrivateNetwork, TRUE);
    }
}

/// `Access-Control-Request-Headers` echoed back (several header lines joined), or `None`
/// when absent or empty.
fn reflected_headers<H: RequestHeaders + ?Sized>(request: &H) -> Option<HeaderValue> {
    let mut values = request
        .get_all(&ACCESS_CONTROL_REQUEST_HEADERS)
        .filter(|v| !v.is_empty());
    let first = values.next()?;
    match values.next() {
        None => Some(first.clone()),
        Some(second) => {
            let mut joined = first.as_bytes().to_vec();
            for value in std::iter::once(second).chain(values) {
                joined.extend_from_slice(b", ");
                joined.extend_from_slice(value.as_bytes());
            }
            HeaderValue::from_bytes(&joined).ok()
        }
    }
}
