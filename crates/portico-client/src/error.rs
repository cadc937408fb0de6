//! [`ClientError`]: everything that can go wrong while connecting or talking to a server.

use std::fmt;

use serde_json::Value;

/// Why a connection, an emit or an acknowledgement failed.
///
/// Match on the variants (or use the `is_*` queries); the [`fmt::Display`] text is meant for
/// people (it carries the HTTP status and body of a refused handshake, for `doctor` to show)
/// and is not API.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL or path in the [`crate::ClientConfig`] cannot be used; holds the reason.
    InvalidConfig(String),
    /// The TCP connection failed or broke.
    Io(std::io::Error),
    /// The server answered an HTTP request (polling request or WebSocket upgrade) with a
    /// status other than the expected one.
    Http {
        /// The HTTP status code.
        status: u16,
        /// The response body (lossy UTF-8, at most 4 KiB), e.g. `{"code":4,"message":"Forbidden"}`.
        body: String,
    },
    /// The WebSocket layer failed (handshake or framing); holds the reason.
    WebSocket(String),
    /// The server broke the Engine.IO or Socket.IO protocol; holds what was wrong.
    Protocol(String),
    /// The server refused the namespace connection (`CONNECT_ERROR`, e.g. from a middleware).
    ConnectError {
        /// The `message` of the error.
        message: String,
        /// The `data` of the error, when the server sent one.
        data: Option<Value>,
    },
    /// A wait timed out: the connection (`connect_timeout`), or an acknowledgement.
    Timeout,
    /// The connection is closed; nothing can be sent any more.
    Closed,
}

impl ClientError {
    /// Whether this is a timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClientError::Timeout)
    }

    /// Whether the server refused the connection, at the HTTP level ([`ClientError::Http`])
    /// or the namespace level ([`ClientError::ConnectError`]).
    pub fn is_refused(&self) -> bool {
        matches!(
            self,
            ClientError::Http { .. } | ClientError::ConnectError { .. }
        )
    }

    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, ClientError::Closed)
    }

    /// The HTTP status of a refused request, if that is what this error is.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            ClientError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub(crate) fn protocol(what: impl Into<String>) -> ClientError {
        ClientError::Protocol(what.into())
    }

    /// Build [`ClientError::Http`] from a status and raw body, capping the body at 4 KiB.
    pub(crate) fn http(status: u16, body: &[u8]) -> ClientError {
        const MAX_BODY: usize = 4096;
        let body = body.get(..MAX_BODY).unwrap_or(body);
        ClientError::Http {
            status,
            body: String::from_utf8_lossy(body).into_owned(),
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::InvalidConfig(why) => write!(f, "invalid client configuration: {why}"),
            ClientError::Io(e) => write!(f, "connection failed: {e}"),
            ClientError::Http { status, body } if body.is_empty() => {
                write!(f, "the server answered HTTP {status} with an empty body")
            }
            ClientError::Http { status, body } => {
                write!(f, "the server answered HTTP {status}: {body}")
            }
            ClientError::WebSocket(why) => write!(f, "websocket error: {why}"),
            ClientError::Protocol(why) => write!(f, "protocol error: {why}"),
            ClientError::ConnectError {
                message,
                data: None,
            } => write!(f, "the server refused the namespace: {message:?}"),
            ClientError::ConnectError {
                message,
                data: Some(data),
            } => write!(
                f,
                "the server refused the namespace: {message:?} (data: {data})"
            ),
            ClientError::Timeout => f.write_str("timed out"),
            ClientError::Closed => f.write_str("the connection is closed"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        ClientError::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_display_shows_status_and_body() {
        let e = ClientError::http(403, br#"{"code":4,"message":"Forbidden"}"#);
        assert_eq!(e.http_status(), Some(403));
        assert_eq!(
            e.to_string(),
            r#"the server answered HTTP 403: {"code":4,"message":"Forbidden"}"#
        );
        let long = vec![b'x'; 10_000];
        assert!(
            matches!(ClientError::http(500, &long), ClientError::Http { body, .. } if body.len() == 4096)
        );
    }
}
