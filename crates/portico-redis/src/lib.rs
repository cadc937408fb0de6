//! Redis cluster adapter for Portico, compatible with Node's `@socket.io/redis-adapter` 8.x:
//! Portico nodes and Node socket.io nodes on the same Redis and key prefix form one cluster.
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! use portico_redis::{Redis, RedisOptions, SubscriptionMode};
//!
//! // Classic mode (PUBLISH/PSUBSCRIBE), Node's `createAdapter(pub, sub, { key: "socket.io" })`.
//! let redis = Redis::connect("redis://127.0.0.1:6379").await?;
//! let io = portico::Server::builder().cluster(redis).build()?;
//!
//! // Sharded mode (SPUBLISH, Redis 7), Node's `createShardedAdapter` with its default mode.
//! let opts = RedisOptions::default().sharded(SubscriptionMode::Dynamic);
//! let redis = Redis::connect_with("redis://127.0.0.1:6379", opts).await?;
//! # let _ = (io, redis);
//! # Ok(()) }
//! ```
//!
//! - [`Redis`]: the [`portico::cluster::Transport`]; [`codec`]: Node's wire formats.
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
