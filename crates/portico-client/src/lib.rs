//! A Socket.IO v5 / Engine.IO v4 client, built on [`portico_proto`].
//!
//! It speaks WebSocket, HTTP long-polling, and polling upgraded to WebSocket, over plain HTTP
//! (no TLS yet). `portico bench` opens thousands of these from one process, so each
//! connection is one tokio task with small buffers; `portico doctor` uses it to probe
//! servers, so errors carry what the server said (HTTP status and body, `CONNECT_ERROR`
//! message and data).
//!
//! ```no_run
//! use std::time::Duration;
//! use portico_client::{Client, ClientConfig, Event, Transport};
//!
//! # async fn run() -> Result<(), portico_client::ClientError> {
//! let config = ClientConfig::new("http://127.0.0.1:3000").transport(Transport::Upgrade);
//! let (client, mut events) = Client::connect(config).await?;
//! let reply = client
//!     .emit_with_ack("echo", &[serde_json::json!("hi")], Duration::from_secs(5))
//!     .await?;
//! assert_eq!(reply, vec![serde_json::json!("hi")]);
//! while let Some(event) = events.recv().await {
//!     match event {
//!         Event::Message(m) => println!("{}: {:?}", m.name, m.args),
//!         Event::Disconnected(reason) => println!("gone: {reason}"),
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Specs: <https://github.com/socketio/engine.io-protocol> (v4) and
//! <https://github.com/socketio/socket.io-protocol> (v5).
#![forbid(unsafe_code)]

mod client;
mod config;
mod core;
mod error;
mod event;
mod polling;
mod websocket;

pub use client::{Client, PendingAck};
pub use config::{ClientConfig, Transport};
pub use error::ClientError;
pub use event::{DisconnectReason, Event, Events, Message, RawEvent};
