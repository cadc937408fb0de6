//! The Socket.IO layer on top of the engine: [`conn::SioConn`] is the Socket.IO side of one
//! Engine.IO connection, [`Layer`] the engine's handler that makes them.

pub(crate) mod conn;
pub(crate) mod rate;

pub(crate) use conn::{Layer, SioConn};
