//! The socketioxide peer of the Portico bench: the same protocol, CLI and settings as
//! `portico bench serve` (crates/portico-cli/src/bench/server.rs) and `bench/peers/node/server.js`:
//! - `echo` (args..., ack) → ack(args...)
//! - `join` (room, ack) → join the room, ack(true)
//! - `broadcast` ({room, count, size}, ack) → emit `count` events `b` with a string of `size`
//!   chars to everyone in the room (sender included), then ack(true)
//!
//! Usage: `socketioxide-bench-peer [--port N] [--max-buffer N] [--redis URL [--redis-key-prefix P]]`;
//! prints `LISTENING <port>` once bound on 127.0.0.1 (with `--redis`, once the adapter's
//! channels are subscribed). One-worker runtime (`current_thread`), as Node has one thread.
//!
//! `--redis URL` (the bench's cluster case): the namespace's adapter is `socketioxide-redis`
//! (the `redis` crate's driver, one multiplexed RESP3 connection), channel prefix
//! `--redis-key-prefix` (default `socket.io`), so `within(room).emit` reaches every node.
//! Its wire format is socketioxide's own: such nodes only share a cluster with each other.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};

use axum::serve::ListenerExt as _;
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::SocketIo;
use socketioxide_redis::drivers::redis::redis_client;
use socketioxide_redis::{RedisAdapter, RedisAdapterConfig, RedisAdapterCtr};

/// Per-socket buffer, in packets (socketioxide's default: 128). A broadcast of 1,000 events is
/// queued on every socket at once, faster than the socket's writer drains it; past the buffer
/// socketioxide drops the packet (the broadcast only returns an error, the client sees nothing).
/// The bench checks received == expected, so the default would make socketioxide lose most
/// of the burst. 65,536 leaves room for `--emits` up to 64k and costs no idle memory: the
/// buffer is a tokio bounded channel, whose capacity is a counter and whose storage grows in
/// 32-slot blocks as packets are queued.
const DEFAULT_MAX_BUFFER: usize = 65_536;
/// Listen backlog, as Portico's (tokio's default of 128 overflows under handshake bursts).
const BACKLOG: u32 = 1024;
/// Largest payload, bytes: Node's `maxHttpBufferSize` default (socketioxide's is 100 kB).
const MAX_PAYLOAD: u64 = 1_000_000;

/// All the arguments of an event, as many as the client sent. Tuple-like in the serde model,
/// so socketioxide reads every argument into it (a plain `Value` gets only the first one)
/// and writes it back as that many ack arguments (a `Vec` would be one array argument).
struct Args(Vec<Value>);

impl<'de> Deserialize<'de> for Args {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct ArgsVisitor;
        impl<'de> Visitor<'de> for ArgsVisitor {
            type Value = Args;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("event arguments")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Args, A::Error> {
                let mut args = Vec::new();
                while let Some(v) = seq.next_element()? {
                    args.push(v);
                }
                Ok(Args(args))
            }
        }
        de.deserialize_tuple(usize::MAX, ArgsVisitor)
    }
}

impl Serialize for Args {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut tuple = ser.serialize_tuple(self.0.len())?;
        for v in &self.0 {
            tuple.serialize_element(v)?;
        }
        tuple.end()
    }
}

/// The argument of `broadcast`.
#[derive(Deserialize)]
struct Broadcast {
    room: String,
    count: u32,
    size: usize,
}

/// The bench protocol on `/`, for any adapter (local, or Redis for the cluster case).
async fn on_connect<A: Adapter>(s: SocketRef<A>) {
    s.on("echo", on_echo::<A>);
    s.on("join", on_join::<A>);
    s.on("broadcast", on_broadcast::<A>);
}

async fn on_echo<A: Adapter>(Data(args): Data<Args>, ack: AckSender<A>) {
    let _ = ack.send(&args);
}

async fn on_join<A: Adapter>(s: SocketRef<A>, Data(room): Data<String>, ack: AckSender<A>) {
    s.join(room);
    let _ = ack.send(&true);
}

async fn on_broadcast<A: Adapter>(s: SocketRef<A>, Data(req): Data<Broadcast>, ack: AckSender<A>) {
    let payload = "x".repeat(req.size);
    for _ in 0..req.count {
        // A full socket buffer shows here as an error; the bench counts deliveries on the
        // client side, so a drop is seen there. With Redis, the emit also publishes the
        // packet for the other nodes (and waits for Redis to take it).
        let _ = s.within(req.room.clone()).emit("b", &payload).await;
    }
    let _ = ack.send(&true);
}

fn flag(args: &[String], name: &str) -> Option<String> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = match flag(&args, "--port") {
        Some(p) => p.parse()?,
        None => 0,
    };
    let max_buffer: usize = match flag(&args, "--max-buffer") {
        Some(n) => n.parse()?,
        None => DEFAULT_MAX_BUFFER,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let redis = flag(&args, "--redis");
    let key_prefix = flag(&args, "--redis-key-prefix").unwrap_or_else(|| "socket.io".to_owned());
    runtime.block_on(async move {
        let builder = SocketIo::builder()
            .max_buffer_size(max_buffer)
            .max_payload(MAX_PAYLOAD);
        let app = match redis {
            None => {
                let (layer, io) = builder.build_layer();
                io.ns("/", on_connect);
                axum::Router::new().layer(layer)
            }
            Some(url) => {
                // The driver needs RESP3 (push messages on the multiplexed connection).
                let url = if url.contains("protocol=") {
                    url
                } else {
                    format!(
                        "{url}{}protocol=resp3",
                        if url.contains('?') { '&' } else { '?' }
                    )
                };
                let client = redis_client::Client::open(url.as_str())?;
                let config = RedisAdapterConfig::new().with_prefix(key_prefix);
                let adapter = RedisAdapterCtr::new_with_redis_config(&client, config).await?;
                let (layer, io) = builder
                    .with_adapter::<RedisAdapter<_>>(adapter)
                    .build_layer();
                // Subscribes the namespace's channels; LISTENING only once that is done.
                io.ns("/", on_connect).await?;
                axum::Router::new().layer(layer)
            }
        };

        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let listener = socket.listen(BACKLOG)?;
        println!("LISTENING {}", listener.local_addr()?.port());
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown())
            .await?;
        Ok(())
    })
}

/// SIGINT or SIGTERM.
async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending().await,
            }
        } => {}
    }
}
