//! Small HTTP helpers: responses with the reference bodies, query parsing.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use portico_proto::engine::ErrorCode;

use crate::refusal::Reason;

/// The body of every response Portico makes.
pub type Body = Full<Bytes>;

pub(crate) fn error(code: ErrorCode) -> Response<Body> {
    let mut res = Response::new(Full::new(Bytes::from(code.to_json())));
    *res.status_mut() = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // Lets the router report the refusal as a `connection_error`.
    res.extensions_mut().insert(Refusal {
        code,
        message: code.message().to_owned(),
        reason: None,
        kind: match code {
            ErrorCode::UnknownSid => Reason::UnknownSid,
            ErrorCode::Forbidden => Reason::Origin,
            _ => Reason::BadRequest,
        },
    });
    res
}

/// [`error`] with the reason the log and `connection_error` give (the body stays the
/// reference one).
pub(crate) fn error_because(code: ErrorCode, reason: String) -> Response<Body> {
    let mut res = error(code);
    if let Some(r) = res.extensions_mut().get_mut::<Refusal>() {
        r.reason = Some(reason);
    }
    res
}

/// A refusal by a limit: `status` with `{"code":4,"message":message}` (Node has no code of its
/// own for these; 4 is what its `allowRequest` refusals carry), reported as `kind`.
pub(crate) fn limit_refusal(status: StatusCode, message: &str, kind: Reason) -> Response<Body> {
    let body =
        serde_json::json!({ "code": ErrorCode::Forbidden.code(), "message": message }).to_string();
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res.extensions_mut().insert(Refusal {
        code: ErrorCode::Forbidden,
        message: message.to_owned(),
        reason: None,
        kind,
    });
    res
}

/// A `413 Payload Too Large` for a polling POST over `max_payload` (as Node: no body).
pub(crate) fn payload_too_large(max_payload: u64) -> Response<Body> {
    let mut res = status(StatusCode::PAYLOAD_TOO_LARGE);
    res.extensions_mut().insert(Refusal {
        code: ErrorCode::BadRequest,
        message: "Payload too large".to_owned(),
        reason: Some(format!(
            "the POST body is over max_payload ({max_payload} bytes)"
        )),
        kind: Reason::PayloadTooLarge,
    });
    res
}

/// Attached to an error response so that the router reports it once as a
/// `connection_error`.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
    pub(crate) reason: Option<String>,
    /// What it is counted as.
    pub(crate) kind: Reason,
}

/// Marks a handshake response (for the cookie and the `initial_headers` hook), with the new
/// session's id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HandshakeResponse(pub(crate) crate::sid::Sid);

/// A 403 `{"code":4,"message":..}` with a custom message (an `allow_request` refusal).
pub(crate) fn forbidden(message: &str) -> Response<Body> {
    let body =
        serde_json::json!({ "code": ErrorCode::Forbidden.code(), "message": message }).to_string();
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = StatusCode::FORBIDDEN;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res.extensions_mut().insert(Refusal {
        code: ErrorCode::Forbidden,
        message: message.to_owned(),
        reason: Some(format!("refused by allow_request: {message}")),
        kind: Reason::AllowRequest,
    });
    res
}

pub(crate) fn status(status: StatusCode) -> Response<Body> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = status;
    res
}

pub(crate) fn payload(body: Bytes) -> Response<Body> {
    let mut res = Response::new(Full::new(body));
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    res
}

/// An Engine.IO v3 polling body in the binary framing.
pub(crate) fn binary_payload(body: Bytes) -> Response<Body> {
    let mut res = Response::new(Full::new(body));
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    res
}

pub(crate) fn post_ok() -> Response<Body> {
    let mut res = Response::new(Full::new(Bytes::from_static(b"ok")));
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
    res
}

/// The query of a request, percent-decoded (`+` is a space, as in forms).
#[derive(Debug, Default)]
pub(crate) struct Query(pub(crate) Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(q: Option<&str>) -> Query {
        let Some(q) = q else { return Query::default() };
        let decode = |s: &str| {
            let s = s.replace('+', " ");
            percent_encoding::percent_decode_str(&s)
                .decode_utf8_lossy()
                .into_owned()
        };
        Query(
            q.split('&')
                .filter(|kv| !kv.is_empty())
                .take(64)
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (decode(k), decode(v)),
                    None => (decode(kv), String::new()),
                })
                .collect(),
        )
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Whether the request announces a body (a `Content-Length` other than 0, or any
/// `Transfer-Encoding`).
pub(crate) fn has_body<B>(req: &Request<B>) -> bool {
    let h = req.headers();
    h.contains_key(http::header::TRANSFER_ENCODING)
        || h.get_all(http::header::CONTENT_LENGTH)
            .iter()
            .any(|v| v.as_bytes().iter().any(|b| *b != b'0'))
}

/// Whether the request asks for a WebSocket upgrade.
pub(crate) fn is_websocket_upgrade<B>(req: &Request<B>) -> bool {
    let has_token = |name: http::header::HeaderName, token: &str| {
        req.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    req.method() == http::Method::GET
        && has_token(http::header::UPGRADE, "websocket")
        && has_token(http::header::CONNECTION, "upgrade")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decodes() {
        let q = Query::parse(Some("EIO=4&transport=polling&foo=a%20b+c&flag&&x="));
        assert_eq!(q.get("EIO"), Some("4"));
        assert_eq!(q.get("foo"), Some("a b c"));
        assert_eq!(q.get("flag"), Some(""));
        assert_eq!(q.get("x"), Some(""));
        assert_eq!(q.get("nope"), None);
    }
}
