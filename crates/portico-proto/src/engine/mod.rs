//! Engine.IO: the transport layer under Socket.IO.
//!
//! Packets ([`Packet`]) and their wire form ([`Frame`]), HTTP long-polling payloads
//! ([`decode_payload_v4`], [`encode_payload_v4`] and, for Engine.IO v3 clients,
//! [`payload_v3`]), the error bodies ([`ErrorCode`]), the open packet ([`Handshake`]) and the
//! per-connection state machine ([`session`]).
//!
//! Spec: <https://github.com/socketio/engine.io-protocol> (v4, and v3 for socket.io-client 2.x).

pub mod error;
pub mod handshake;
pub mod packet;
pub mod payload;
pub mod payload_v3;
pub mod session;
pub mod traffic;

pub use error::ErrorCode;
pub use handshake::Handshake;
pub use packet::{DecodeError, Frame, Packet};
pub use payload::{decode_payload_v4, encode_payload_v4};
pub use traffic::Traffic;
