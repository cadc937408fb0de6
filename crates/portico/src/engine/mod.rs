//! Engine.IO over HTTP: one [`conn::Conn`] per session, driven by one task
//! ([`driver`]); the request side lives in [`polling`] and [`websocket`].

pub(crate) mod conn;
pub(crate) mod driver;
pub(crate) mod polling;
pub(crate) mod websocket;
pub(crate) mod ws_conn;
pub(crate) mod ws_frame;

pub(crate) use conn::Conn;
