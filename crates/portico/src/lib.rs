//! # Portico
//!
//! A Socket.IO server for Rust that gets cross-origin right. It speaks Engine.IO v4 and
//! Socket.IO v5 (and, with [`ServerBuilder::allow_eio3`], v3/v4), so the official
//! `socket.io-client` talks to it without noticing it is not Node.
//!
//! ## Dependencies
//!
//! ```sh
//! cargo add portico --git https://github.com/portico-rs/portico   # or --path <checkout>/crates/portico
//! cargo add tokio --features macros,rt-multi-thread
//! cargo add anyhow
//! cargo add serde --features derive   # for typed event payloads
//! cargo add serde_json                # for untyped ones (serde_json::Value)
//! ```
//!
//! ## Hello
//!
//! A server for a page on `http://127.0.0.1:8080` (the README's "Try it" has the page and the
//! commands; this very file is `examples/hello.rs`, run in a real browser by the tests):
//!
//! ```no_run
#![doc = include_str!("../examples/hello.rs")]
//! ```
//!
//! - Handlers are async closures whose arguments say what they need: [`Socket`], [`Server`],
//!   app state as [`State`], the event's payload as any serde type, and [`Ack`]. See
//!   [`handler`] for every shape.
//! - Typed per-socket values live in [`Socket::extensions`]; Node's JSON `socket.data` is
//!   [`Socket::set_data`].
//! - Inside axum, beside ordinary routes and static files:
//!   `Router::new().route(..).layer(io.layer())`, served with [`serve_app`] (see
//!   `examples/axum_chat.rs`).
//! - [`serve`] stops gracefully on Ctrl-C and SIGTERM.
//!
//! ## Logs
//!
//! Logging goes through `tracing`. When the program sets no subscriber, [`serve`] (and
//! [`serve_with_shutdown`], [`serve_app`]) install one that prints to stderr: a `listening on`
//! line, refusals and warnings by default; `RUST_LOG=portico=debug` shows each connection's
//! life (Node's `DEBUG=socket.io:*`).
#![forbid(unsafe_code)]

mod ack;
mod adapter;
pub mod admin;
pub mod args;
mod binary;
mod broadcast;
mod client_bundle;
pub mod cluster;
mod coalesce;
mod config;
mod connection_error;
mod cookie;
mod emit;
mod engine;
mod errors;
mod extract;
mod h1;
pub mod handler;
mod handshake;
mod hooks;
mod http;
mod listeners;
mod logging;
mod namespace;
mod on_wake;
mod packed_head;
mod reason;
mod recovery;
mod refusal;
mod remote;
mod serve;
mod server;
mod service;
mod sid;
mod sio;
mod socket;
pub mod stats;

pub use ack::Ack;
pub use adapter::{Adapter, Broadcast, BroadcastOptions, LocalAdapter};
pub use admin::AdminOptions;
pub use args::Args;
pub use binary::Binary;
pub use broadcast::{BroadcastAcks, BroadcastOperator};
pub use client_bundle::ClientBundle;
pub use cluster::{ClusterError, Replies, ServerSideEvent};
pub use config::{ConfigError, Parser, ServerBuilder, ServerConfig};
pub use connection_error::{ConnectionError, ErrorContext};
pub use cookie::{CookieOptions, SameSite};
pub use errors::{AckError, ConnectError, EmitError};
pub use extract::{Extensions, ExtractError, FromSocket, State};
pub use handshake::{Handshake, PeerAddr};
pub use hooks::RequestParts;
pub use http::Body;
pub use listeners::{AnyHandler, EventError, EventInfo, EventMiddleware};
pub use namespace::Namespace;
/// The origin policy crate: [`OriginPolicy`] and what it decides.
pub use portico_cors as cors;
pub use portico_cors::OriginPolicy;
/// The sans-IO protocol crate: packets (e.g. [`Broadcast::packet`]'s), codecs and state
/// machines.
pub use portico_proto as proto;
pub use reason::DisconnectReason;
pub use recovery::RecoveryConfig;
pub use remote::RemoteSocket;
pub use serve::{bind, local_addr, serve, serve_app, serve_with_shutdown, shutdown_signal};
pub use server::{Server, Shutdown};
pub use service::{PorticoLayer, PorticoMiddleware, PorticoService};
pub use sid::Sid;
pub use socket::{Socket, TimedSocket};
pub use stats::{NamespaceStats, Stats};

/// Re-exported so users need not depend on the same `bytes` version.
pub use bytes::Bytes;
