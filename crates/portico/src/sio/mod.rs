//! The Socket.IO layer on top of an Engine.IO connection.

pub(crate) mod client;
