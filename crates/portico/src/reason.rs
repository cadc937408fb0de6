//! Why a socket disconnected.

use std::fmt;

use portico_proto::engine::session::CloseReason;

/// Why a [`crate::Socket`] disconnected. [`fmt::Display`] gives the reason strings of Node's
/// socket.io, which clients and logs compare against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The client closed the connection (or the network dropped it): `transport close`.
    TransportClose,
    /// The connection failed (aborted poll, bad frame): `transport error`.
    TransportError,
    /// The client stopped answering pings: `ping timeout`.
    PingTimeout,
    /// The client sent bytes that are not valid Socket.IO or Engine.IO: `parse error`.
    ParseError,
    /// The server closed the underlying connection: `forced close`.
    ForcedClose,
    /// The server disconnected another namespace of the same connection with
    /// `disconnect(true)`: `forced server close`.
    ForcedServerClose,
    /// The server is shutting down: `server shutting down`.
    ServerShuttingDown,
    /// The server called [`crate::Socket::disconnect`]: `server namespace disconnect`.
    ServerNamespaceDisconnect,
    /// The client called `socket.disconnect()`: `client namespace disconnect`.
    ClientNamespaceDisconnect,
    /// The client did not read fast enough and its send buffer filled up: `send buffer full`.
    SendBufferFull,
    /// The client sent packets faster than [`crate::ServerConfig::event_rate`] allows:
    /// `event rate exceeded`.
    EventRateExceeded,
}

impl DisconnectReason {
    /// The reason string.
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::ParseError => "parse error",
            DisconnectReason::ForcedClose => "forced close",
            DisconnectReason::ForcedServerClose => "forced server close",
            DisconnectReason::ServerShuttingDown => "server shutting down",
            DisconnectReason::ServerNamespaceDisconnect => "server namespace disconnect",
            DisconnectReason::ClientNamespaceDisconnect => "client namespace disconnect",
            DisconnectReason::SendBufferFull => "send buffer full",
            DisconnectReason::EventRateExceeded => "event rate exceeded",
        }
    }
}

impl From<CloseReason> for DisconnectReason {
    fn from(r: CloseReason) -> Self {
        match r {
            CloseReason::TransportClose => DisconnectReason::TransportClose,
            CloseReason::TransportError => DisconnectReason::TransportError,
            CloseReason::PingTimeout => DisconnectReason::PingTimeout,
            CloseReason::ParseError => DisconnectReason::ParseError,
            CloseReason::ServerShutdown => DisconnectReason::ServerShuttingDown,
            CloseReason::BufferFull => DisconnectReason::SendBufferFull,
            CloseReason::RateLimited => DisconnectReason::EventRateExceeded,
            _ => DisconnectReason::ForcedClose,
        }
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for DisconnectReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
