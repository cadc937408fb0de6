//! Sans-IO Engine.IO and Socket.IO protocol for Portico.
//!
//! This crate is pure: it performs no I/O, reads no clock and takes no locks. It turns wire
//! bytes into typed packets and back, and every decoder treats its input as hostile
//! (no panics, every buffer capped).
//!
//! - [`engine`]: Engine.IO packets, polling payloads (v4, and v3 for socket.io-client 2.x),
//!   error codes, the handshake and the session state machine.
//!   Spec: <https://github.com/socketio/engine.io-protocol>.
//! - [`sio`]: Socket.IO v5 packets and binary attachment reassembly.
//!   Spec: <https://github.com/socketio/socket.io-protocol>.
//! - [`ws`]: WebSocket framing (RFC 6455) for both sides of a connection.
//! - [`decimal`]: decimal digits without `fmt` (ack ids, lengths).
#![forbid(unsafe_code)]

pub mod decimal;
pub mod engine;
mod json;
pub mod sio;
pub mod ws;

#[cfg(test)]
mod test_rng;
