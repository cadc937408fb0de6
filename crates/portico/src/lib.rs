//! # Portico
//!
//! A Socket.IO server for Rust that gets cross-origin right. It speaks Engine.IO v4 and
//! Socket.IO v5, so the official `socket.io-client` (3.x, 4.x) talks to it without noticing
//! it is not Node.
//!
//! ```no_run
//! use portico::{Ack, Server, Socket};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let io = Server::builder().build()?;
//! io.of("/").on_connection(|socket: Socket| async move {
//!     socket.on("echo", |_socket: Socket, value: serde_json::Value, ack: Ack| async move {
//!         ack.send(&value)
//!     });
//! });
//! portico::serve(("127.0.0.1", 3000), io).await?;
//! # Ok(()) }
//! ```
//!
//! Inside axum, beside ordinary routes: `Router::new().route(..).layer(io.layer())`.
//!
//! Logging goes through `tracing`: `RUST_LOG=portico=debug` shows each connection's life.
#![forbid(unsafe_code)]

mod ack;
mod adapter;
pub mod args;
mod binary;
mod broadcast;
mod client_bundle;
mod config;
mod connection_error;
mod cookie;
mod emit;
mod engine;
mod errors;
pub mod handler;
mod handshake;
mod hooks;
mod http;
mod listeners;
mod namespace;
mod reason;
mod recovery;
mod remote;
mod serve;
mod server;
mod service;
mod sid;
mod sio;
mod socket;

pub use ack::Ack;
pub use adapter::{Adapter, BroadcastOptions, LocalAdapter};
pub use args::Args;
pub use binary::Binary;
pub use broadcast::BroadcastOperator;
pub use client_bundle::ClientBundle;
pub use config::{ConfigError, Parser, ServerBuilder, ServerConfig};
pub use connection_error::{ConnectionError, ErrorContext};
pub use cookie::{CookieOptions, SameSite};
pub use errors::{AckError, ConnectError, EmitError};
pub use handshake::{Handshake, PeerAddr};
pub use hooks::RequestParts;
pub use http::Body;
pub use listeners::{AnyHandler, EventError, EventInfo, EventMiddleware};
pub use namespace::Namespace;
/// The origin policy crate: [`OriginPolicy`] and what it decides.
pub use portico_cors as cors;
pub use portico_cors::OriginPolicy;
pub use reason::DisconnectReason;
pub use recovery::RecoveryConfig;
pub use remote::RemoteSocket;
pub use serve::{bind, local_addr, serve, serve_app, serve_with_shutdown};
pub use server::Server;
pub use service::{PorticoLayer, PorticoMiddleware, PorticoService};
pub use sid::Sid;
pub use socket::{Socket, TimedSocket};

/// Re-exported so users need not depend on the same `bytes` version.
pub use bytes::Bytes;
