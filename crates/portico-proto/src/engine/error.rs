//! Engine.IO HTTP error bodies.
//!
//! Errors answer with `Content-Type: application/json` and the body
//! `{"code":<n>,"message":"<text>"}`, the code a number and the message the reference
//! server's text, as engine.io 6 sends them.

/// Engine.IO error codes, with the reference server's messages.
///
/// Map an error to the wire with [`ErrorCode::status`] and [`ErrorCode::to_json`] only: this
/// is the one place where these bodies are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `0`: the `transport` query parameter is missing or not a known transport.
    TransportUnknown = 0,
    /// `1`: the `sid` query parameter names no live session.
    UnknownSid = 1,
    /// `2`: a handshake with a method other than GET (e.g. OPTIONS without CORS).
    BadHandshakeMethod = 2,
    /// `3`: a request the server cannot accept (bad payload, concurrent poll, ...).
    BadRequest = 3,
    /// `4`: refused by the application (`allowRequest`); answered with HTTP 403.
    Forbidden = 4,
    /// `5`: the `EIO` query parameter names an unsupported protocol version.
    UnsupportedProtocolVersion = 5,
}

impl ErrorCode {
    /// Every code, in numeric order.
    pub const ALL: [ErrorCode; 6] = [
        ErrorCode::TransportUnknown,
        ErrorCode::UnknownSid,
        ErrorCode::BadHandshakeMethod,
        ErrorCode::BadRequest,
        ErrorCode::Forbidden,
        ErrorCode::UnsupportedProtocolVersion,
    ];

    /// The numeric code sent in the JSON body (`0..=5`).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The code for a number, if it is one of `0..=5`.
    pub fn from_code(code: u8) -> Option<ErrorCode> {
        ErrorCode::ALL.get(usize::from(code)).copied()
    }

    /// The reference server's message, e.g. `"Session ID unknown"`.
    pub fn message(self) -> &'static str {
        match self {
            ErrorCode::TransportUnknown => "Transport unknown",
            ErrorCode::UnknownSid => "Session ID unknown",
            ErrorCode::BadHandshakeMethod => "Bad handshake method",
            ErrorCode::BadRequest => "Bad request",
            ErrorCode::Forbidden => "Forbidden",
            ErrorCode::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    /// The HTTP status: 403 for [`ErrorCode::Forbidden`], 400 for every other code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::Forbidden => 403,
            _ => 400,
        }
    }

    /// The JSON body, exactly as the reference server writes it, with no spaces:
    /// `{"code":1,"message":"Session ID unknown"}`.
    pub fn to_json(self) -> String {
        // The messages are fixed ASCII with nothing to escape.
        format!(
            r#"{{"code":{},"message":"{}"}}"#,
            self.code(),
            self.message()
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

    use super::*;

    #[test]
    fn golden_bodies() {
        let table = [
            (
                ErrorCode::TransportUnknown,
                400,
                r#"{"code":0,"message":"Transport unknown"}"#,
            ),
            (
                ErrorCode::UnknownSid,
                400,
                r#"{"code":1,"message":"Session ID unknown"}"#,
            ),
            (
                ErrorCode::BadHandshakeMethod,
                400,
                r#"{"code":2,"message":"Bad handshake method"}"#,
            ),
            (
                ErrorCode::BadRequest,
                400,
                r#"{"code":3,"message":"Bad request"}"#,
            ),
            (
                ErrorCode::Forbidden,
                403,
                r#"{"code":4,"message":"Forbidden"}"#,
            ),
            (
                ErrorCode::UnsupportedProtocolVersion,
                400,
                r#"{"code":5,"message":"Unsupported protocol version"}"#,
            ),
        ];
        for (i, (code, status, json)) in table.into_iter().enumerate() {
            assert_eq!(usize::from(code.code()), i);
            assert_eq!(ErrorCode::from_code(code.code()), Some(code));
            assert_eq!(code.status(), status);
            assert_eq!(code.to_json(), json);
            // Also valid JSON with a numeric code.
            let v: serde_json::Value = serde_json::from_str(&code.to_json()).unwrap();
            assert_eq!(v["code"], serde_json::json!(i));
            assert_eq!(v["message"], serde_json::json!(code.message()));
        }
        assert_eq!(ErrorCode::from_code(6), None);
    }
}
