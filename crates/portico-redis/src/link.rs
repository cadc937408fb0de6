//! A minimal Redis client on tokio, with explicit fault behaviour.
//!
//! Two connections per node, as `@socket.io/redis-adapter` uses them:
//!
//! - [`Publisher`]: commands. `publish`/`spublish` are fire-and-forget and not `async`; they
//!   queue into a bounded buffer and fail fast with [`RedisError::Unavailable`] while Redis is
//!   away, so nothing is replayed later. `command` (and `numsub`/`shardnumsub`) are pipelined
//!   request/response calls with a timeout.
//! - [`Subscriber`]: a connection in subscribe mode that remembers its subscriptions and
//!   restores them, in order, after each reconnect.
//!
//! Both connect with a clear error when Redis does not answer at start, then reconnect in the
//! background with a doubling backoff for as long as a handle exists. Their
//! [`state`](Publisher::state) is a watch channel that changes only between [`LinkState::Up`]
//! and [`LinkState::Down`]: the layer above logs one line per transition; this layer logs
//! state changes at debug level only.
//!
//! Every buffer is bounded ([`LinkOptions`], [`Limits`](crate::resp::Limits)) and no byte from
//! the server can cause a panic: a reply that breaks the protocol drops the connection (and
//! the link reconnects).
//!
//! Not supported: TLS (`rediss://`), Unix sockets, Redis Cluster (`MOVED`, hash slots: connect
//! to one server), RESP3.

mod conn;
mod error;
mod options;
mod publisher;
mod state;
mod subscriber;
mod subscriptions;
mod url;

pub use error::RedisError;
pub use options::LinkOptions;
pub use publisher::Publisher;
pub use state::LinkState;
pub use subscriber::{Kind, PubSubMessage, Subscriber};
pub use url::RedisUrl;
