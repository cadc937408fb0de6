//! `connection_error`: every request the server refuses, with what to do about it.

use std::fmt;

/// A refused request (Node's `connection_error` event), handed to the handlers registered
/// with [`crate::Server::on_connection_error`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionError {
    /// The Engine.IO error code sent to the client (0–5; 4 is "Forbidden").
    pub code: u8,
    /// The message sent to the client.
    pub message: String,
    /// What was refused and why.
    pub context: ErrorContext,
}

/// Details of a [`ConnectionError`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorContext {
    /// The request's `Origin` header, if any.
    pub origin: Option<String>,
    /// The transport asked for (`polling`, `websocket`), if any.
    pub transport: Option<String>,
    /// The HTTP method.
    pub method: String,
    /// Path and query of the request.
    pub url: String,
    /// Why, and what to change in the configuration when that is the fix (origin refusals).
    pub reason: Option<String>,
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (code {}) for {} {}",
            self.message, self.code, self.context.method, self.context.url
        )?;
        if let Some(r) = &self.context.reason {
            write!(f, ": {r}")?;
        }
        Ok(())
    }
}
