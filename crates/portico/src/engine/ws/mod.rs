//! The WebSocket transport: [`upgrade`] answers the HTTP upgrade (a new session, or the probe
//! of a polling one), [`stream`] reads the socket (frames decoded by
//! `portico_proto::ws::Reader`, pings answered, the close handshake), [`frame`] encodes what
//! the driver writes; [`server_io`] is the TCP stream of a connection Portico's own server
//! accepted.

pub(crate) mod frame;
pub(crate) mod server_io;
pub(crate) mod stream;
pub(crate) mod upgrade;
