//! Errors of the Socket.IO layer.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

/// Why an emit did not go out.
#[derive(Debug)]
#[non_exhaustive]
pub enum EmitError {
    /// The data could not be serialized to JSON.
    Serialize(serde_json::Error),
    /// The event name is reserved (`connect`, `connect_error`, `disconnect`, `disconnecting`,
    /// `newListener`, `removeListener`): clients would treat it as a lifecycle event.
    ReservedEvent(String),
    /// The socket is disconnected.
    Disconnected,
    /// The client reads too slowly and its buffer is full; the connection was closed.
    BufferFull,
    /// The other nodes of the cluster could not be reached (this node's sockets were).
    Cluster(crate::cluster::ClusterError),
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmitError::Serialize(e) => write!(f, "event data does not serialize to JSON: {e}"),
            EmitError::ReservedEvent(e) => {
                write!(f, "\"{e}\" is a reserved event name; use another name")
            }
            EmitError::Disconnected => f.write_str("the socket is disconnected"),
            EmitError::BufferFull => {
                f.write_str("the client's send buffer is full; the connection was closed")
            }
            EmitError::Cluster(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for EmitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EmitError::Serialize(e) => Some(e),
            EmitError::Cluster(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::cluster::ClusterError> for EmitError {
    fn from(e: crate::cluster::ClusterError) -> Self {
        EmitError::Cluster(e)
    }
}

impl From<serde_json::Error> for EmitError {
    fn from(e: serde_json::Error) -> Self {
        EmitError::Serialize(e)
    }
}

/// Why an acknowledgement did not arrive as expected.
#[derive(Debug)]
#[non_exhaustive]
pub enum AckError {
    /// The emit itself failed.
    Emit(EmitError),
    /// No acknowledgement within the timeout.
    Timeout,
    /// The socket disconnected before acknowledging.
    Disconnected,
    /// The acknowledgement's arguments do not decode into the expected type.
    Decode(serde_json::Error),
}

impl fmt::Display for AckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AckError::Emit(e) => write!(f, "emit failed: {e}"),
            AckError::Timeout => f.write_str("operation has timed out"),
            AckError::Disconnected => f.write_str("the socket disconnected before acknowledging"),
            AckError::Decode(e) => write!(f, "acknowledgement does not decode: {e}"),
        }
    }
}

impl std::error::Error for AckError {}

impl From<EmitError> for AckError {
    fn from(e: EmitError) -> Self {
        AckError::Emit(e)
    }
}

/// A refusal from a connect middleware: the client receives `connect_error` with this
/// `message` (and `data`, when set).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectError {
    message: String,
    data: Option<Value>,
}

impl ConnectError {
    /// Refuse with a message (the client's `err.message`).
    pub fn new(message: impl Into<String>) -> ConnectError {
        ConnectError {
            message: message.into(),
            data: None,
        }
    }
    /// Attach data (the client's `err.data`). Data that does not serialize is left out.
    #[must_use]
    pub fn with_data(mut self, data: impl Serialize) -> ConnectError {
        self.data = serde_json::to_value(data).ok();
        self
    }
    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The data, if any.
    pub fn data(&self) -> Option<&Value> {
        self.data.as_ref()
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConnectError {}
