//! Socket.IO v5: packets on top of Engine.IO messages, and binary attachments.
//!
//! Each Socket.IO packet travels as one Engine.IO `message` (so it is prefixed by `4` on the
//! wire); a packet with binary data (types 5 and 6) is followed by its attachments, each one
//! Engine.IO binary message.
//!
//! Spec: <https://github.com/socketio/socket.io-protocol> (v5; the v4 protocol of
//! socket.io-client 2.x differs in small ways noted on [`Packet`]).

pub mod binary;
pub mod connection;
pub mod msgpack;
pub mod packet;

pub use binary::{is_placeholder, placeholder, BinaryAssembler};
pub use connection::{Connection, Encoding, ProtocolError, Received, Role, Version};
pub use msgpack::{decode_msgpack, encode_msgpack};
pub use packet::{
    decode_event, encode_event_frame, DecodeError, Event, Limits, Packet, PacketType,
};
