//! Redis cluster adapter for Portico, compatible with Node's `@socket.io/redis-adapter`.
//!
//! The byte-moving layer underneath:
//!
//! - [`resp`]: RESP2 values, the command encoder and a bounded, panic-free incremental decoder.
//! - [`link`]: a minimal Redis client on tokio with explicit fault behaviour: a pipelined
//!   [`link::Publisher`] that fails fast while Redis is away (no offline queue, no replay) and
//!   a [`link::Subscriber`] that restores its subscriptions after every reconnect.
//!
//! Redis Cluster (`MOVED`, hash slots) and TLS (`rediss://`) are not supported: connect to one
//! Redis server (or a proxy in front of a cluster).
#![forbid(unsafe_code)]

pub mod codec;
pub mod link;
pub mod resp;
mod transport;

pub use codec::SubscriptionMode;
pub use link::{RedisError, RedisUrl};
pub use transport::{Mode, Redis, RedisOptions};
