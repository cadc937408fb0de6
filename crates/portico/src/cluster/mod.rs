//! Several server nodes sharing their sockets: the cluster seam.
//!
//! A cluster has two halves, split the way Node's `ClusterAdapter` splits them:
//!
//! - **The cluster logic**, written once, here: each namespace's [`ClusterAdapter`] keeps the
//!   local rooms (any [`Adapter`](crate::Adapter), the in-memory one by default), publishes every operation
//!   that must reach the other nodes, answers theirs, and for requests that expect answers
//!   counts the nodes ([`Transport::server_count`]), matches answers by request id, merges
//!   them and stops at a timeout.
//! - **A [`Transport`]** that only moves messages: it encodes a [`Message`] or a [`Response`]
//!   in its wire format, publishes it, and hands what it receives to the namespace's
//!   [`Inbox`]. `portico-redis` is one, byte-compatible with Node's
//!   `@socket.io/redis-adapter`.
//!
//! Turn it on with [`crate::ServerBuilder::cluster`]. Without it a server is one node and
//! pays nothing: no namespace has a cluster half, and every operation is local.
//!
//! Values travel as MessagePack values ([`Value`], re-exported from `rmpv`) because binary
//! data inside events must cross as binary (Node's `Buffer`); [`to_wire`] and [`from_wire`]
//! convert event arguments.

mod core;
mod server_side;
#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};

use bytes::Bytes;
pub use rmpv::Value;

pub use self::core::ClusterAdapter;
pub(crate) use self::core::{event_of, plain, Core, Responder};
pub(crate) use self::server_side::{erase, ServerSideHandler};
pub use self::server_side::{Replies, ServerSideEvent};

use crate::adapter::BroadcastOptions;

/// A boxed future, as transports return them.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Why a cluster operation failed. Local delivery is never affected: a broadcast still reaches
/// this node's sockets while the cluster is unavailable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// The transport cannot reach the other nodes (e.g. Redis is down). Operations fail at
    /// once instead of queueing; nothing is replayed when it comes back.
    #[error("the cluster is unavailable: {0}")]
    Unavailable(String),
    /// Not every node answered in time.
    #[error("timeout reached: only {received} responses received out of {expected}")]
    Timeout {
        /// Answers received.
        received: usize,
        /// Answers expected (one per other node).
        expected: usize,
    },
    /// The transport cannot do this (e.g. listing every room in sharded mode).
    #[error("{0}")]
    Unsupported(String),
    /// A value could not be encoded for the other nodes.
    #[error("cannot send to the other nodes: {0}")]
    Encode(String),
}

/// Broadcast flags as the other nodes see them (Node's `BroadcastFlags`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// Dropped where a transport cannot take it now.
    pub volatile: bool,
    /// Node's `compress` flag, when set.
    pub compress: Option<bool>,
    /// Only the emitting node's sockets (never published; kept for completeness).
    pub local: bool,
    /// The acknowledgement timeout of a broadcast with acks, in ms.
    pub timeout: Option<u64>,
}

/// Which sockets an operation selects, as it travels between nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Opts {
    /// Rooms to reach; empty means every socket of the namespace.
    pub rooms: Vec<String>,
    /// Rooms whose members are left out (a `socket.broadcast` puts the sender's id here).
    pub except: Vec<String>,
    /// The flags.
    pub flags: Flags,
}

impl Opts {
    pub(crate) fn from_local(opts: &BroadcastOptions, flags: Flags) -> Opts {
        let mut except = opts.except.clone();
        if let Some(sid) = opts.exclude {
            except.push(sid.to_string());
        }
        Opts {
            rooms: opts.rooms.clone(),
            except,
            flags,
        }
    }

    pub(crate) fn to_local(&self) -> BroadcastOptions {
        BroadcastOptions {
            rooms: self.rooms.clone(),
            except: self.except.clone(),
            exclude: None,
        }
    }
}

/// An operation one node sends to the others.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The sending node's id ([`Transport::uid`]); `None` for the requests of
    /// `@socket.io/redis-emitter` that carry none.
    pub uid: Option<String>,
    /// What to do.
    pub body: Body,
}

/// The operations (Node's `ClusterMessage` and the classic redis adapter's requests).
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Emit `data` (`[event, ...args]`) to the selected sockets.
    Broadcast {
        /// `[event, ...args]`.
        data: Vec<Value>,
        /// Which sockets.
        opts: Opts,
    },
    /// Emit with acknowledgements: each node answers with its client count, then each ack.
    BroadcastWithAck {
        /// Matches the answers.
        request_id: String,
        /// `[event, ...args]`.
        data: Vec<Value>,
        /// Which sockets; `flags.timeout` bounds the wait.
        opts: Opts,
    },
    /// The selected sockets join `rooms`.
    SocketsJoin {
        /// Which sockets.
        opts: Opts,
        /// Rooms to join.
        rooms: Vec<String>,
    },
    /// The selected sockets leave `rooms`.
    SocketsLeave {
        /// Which sockets.
        opts: Opts,
        /// Rooms to leave.
        rooms: Vec<String>,
    },
    /// Disconnect the selected sockets (`close`: their whole connection).
    DisconnectSockets {
        /// Which sockets.
        opts: Opts,
        /// Close the underlying connection too.
        close: bool,
    },
    /// Describe the selected sockets ([`ResponseBody::FetchSockets`]).
    FetchSockets {
        /// Matches the answers.
        request_id: String,
        /// Which sockets.
        opts: Opts,
    },
    /// A server-side event (`[event, ...args]`); with a request id, each node answers once.
    ServerSideEmit {
        /// Present when the sender waits for answers.
        request_id: Option<String>,
        /// `[event, ...args]`.
        data: Vec<Value>,
    },
    /// List every room (classic mode only).
    AllRooms {
        /// Matches the answers.
        request_id: String,
    },
}

/// An answer to one node's request.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The answering node's id, when the wire format carries it.
    pub uid: Option<String>,
    /// The answer.
    pub body: ResponseBody,
}

/// The answers.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseBody {
    /// How many of this node's sockets were sent a broadcast with acks.
    BroadcastClientCount {
        /// The request.
        request_id: String,
        /// Sockets that will answer (or time out).
        client_count: u64,
    },
    /// One socket's acknowledgement (its first argument).
    BroadcastAck {
        /// The request.
        request_id: String,
        /// The value.
        value: Value,
    },
    /// This node's selected sockets: `{id, handshake, rooms, data}` each.
    FetchSockets {
        /// The request.
        request_id: String,
        /// The sockets.
        sockets: Vec<Value>,
    },
    /// One node's answer to a server-side event.
    ServerSideEmit {
        /// The request.
        request_id: String,
        /// The value.
        value: Value,
    },
    /// This node's rooms.
    AllRooms {
        /// The request.
        request_id: String,
        /// The rooms.
        rooms: Vec<String>,
    },
}

impl ResponseBody {
    /// The request this answers.
    pub fn request_id(&self) -> &str {
        match self {
            ResponseBody::BroadcastClientCount { request_id, .. }
            | ResponseBody::BroadcastAck { request_id, .. }
            | ResponseBody::FetchSockets { request_id, .. }
            | ResponseBody::ServerSideEmit { request_id, .. }
            | ResponseBody::AllRooms { request_id, .. } => request_id,
        }
    }
}

/// Moves cluster messages between nodes. Implement it for a new backend; the cluster logic
/// (counting, matching, timeouts, merging) is [`ClusterAdapter`]'s, not yours.
///
/// Publishing is synchronous and must fail fast ([`ClusterError::Unavailable`]) rather than
/// queue while the backend is away. Calls for a namespace come only after
/// [`Transport::attach`] for it.
pub trait Transport: Send + Sync + 'static {
    /// This node's id on the wire (unique per node; the same for every namespace).
    fn uid(&self) -> &str;

    /// Start receiving namespace `nsp`'s messages and hand them to `inbox`. Called once per
    /// namespace, when it is created; the future ends once the other nodes can reach it.
    fn attach(&self, nsp: &str, inbox: Inbox) -> BoxFuture<Result<(), ClusterError>>;

    /// Send `message` to the other nodes of `nsp`.
    fn publish(&self, nsp: &str, message: &Message) -> Result<(), ClusterError>;

    /// Send `response` to the node `requester` that asked.
    fn respond(&self, nsp: &str, requester: &str, response: &Response) -> Result<(), ClusterError>;

    /// How many nodes serve `nsp`, this one included.
    fn server_count(&self, nsp: &str) -> BoxFuture<Result<usize, ClusterError>>;

    /// Whether [`Transport::room_created`] and [`Transport::room_deleted`] are wanted (e.g.
    /// sharded Redis subscribes to a channel per room). Default: no.
    fn wants_room_events(&self) -> bool {
        false
    }

    /// A room of `nsp` got its first member on this node (`private`: it is a socket's own
    /// room).
    fn room_created(&self, _nsp: &str, _room: &str, _private: bool) {}

    /// A room of `nsp` lost its last member on this node.
    fn room_deleted(&self, _nsp: &str, _room: &str, _private: bool) {}

    /// Whether [`Body::AllRooms`] exists in this wire format. Default: yes.
    fn supports_all_rooms(&self) -> bool {
        true
    }

    /// One line for logs, e.g. `redis (classic) at redis://127.0.0.1:6379`.
    fn describe(&self) -> String;
}

/// Where a transport hands what it receives for one namespace. Cheap to clone; once the
/// namespace is gone, messages are dropped.
#[derive(Clone)]
pub struct Inbox(pub(crate) Weak<Core>);

impl Inbox {
    /// An operation from another node (the transport need not filter this node's own: they
    /// are ignored here).
    pub fn message(&self, message: Message) {
        if let Some(core) = self.0.upgrade() {
            core.on_message(message);
        }
    }

    /// An answer to one of this node's requests (answers to other nodes are ignored here).
    pub fn response(&self, response: Response) {
        if let Some(core) = self.0.upgrade() {
            core.on_response(response);
        }
    }

    /// Whether the namespace has a room `room` with members on this node (a transport may
    /// skip decoding room broadcasts that reach nobody here).
    pub fn has_room(&self, room: &str) -> bool {
        self.0.upgrade().is_some_and(|core| core.has_room(room))
    }
}

impl fmt::Debug for Inbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Inbox")
    }
}

/// Event arguments with placeholders (`{"_placeholder":true,"num":N}`) and their attachments,
/// as MessagePack values with the binary inline (how Node's adapters carry them).
pub fn to_wire(values: &[serde_json::Value], attachments: &[Bytes]) -> Vec<Value> {
    values
        .iter()
        .map(|v| json_to_wire(v, attachments))
        .collect()
}

fn json_to_wire(v: &serde_json::Value, attachments: &[Bytes]) -> Value {
    use serde_json::Value as J;
    if !attachments.is_empty() {
        if let Some(bin) = portico_proto::sio::is_placeholder(v).and_then(|n| attachments.get(n)) {
            return Value::Binary(bin.to_vec());
        }
    }
    match v {
        J::Null => Value::Nil,
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                Value::F64(n.as_f64().unwrap_or(0.0))
            }
        }
        J::String(s) => Value::String(s.as_str().into()),
        J::Array(items) => {
            Value::Array(items.iter().map(|i| json_to_wire(i, attachments)).collect())
        }
        J::Object(map) => Value::Map(
            map.iter()
                .map(|(k, v)| {
                    (
                        Value::String(k.as_str().into()),
                        json_to_wire(v, attachments),
                    )
                })
                .collect(),
        ),
    }
}

/// The reverse of [`to_wire`]: JSON values with placeholders, and the attachments.
pub fn from_wire(values: &[Value]) -> crate::Args {
    let mut bins = Vec::new();
    let values = values.iter().map(|v| wire_to_json(v, &mut bins)).collect();
    crate::Args {
        values,
        binary: bins,
    }
}

/// A MessagePack value as JSON, binary as placeholders appended to `bins`.
pub(crate) fn wire_to_json(v: &Value, bins: &mut Vec<Bytes>) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Nil => J::Null,
        Value::Boolean(b) => J::Bool(*b),
        Value::Integer(i) => {
            if let Some(u) = i.as_u64() {
                J::from(u)
            } else if let Some(s) = i.as_i64() {
                J::from(s)
            } else {
                J::Null
            }
        }
        Value::F32(f) => serde_json::Number::from_f64(f64::from(*f)).map_or(J::Null, J::Number),
        Value::F64(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::String(s) => J::String(s.as_str().unwrap_or_default().to_owned()),
        Value::Binary(b) => {
            bins.push(Bytes::copy_from_slice(b));
            serde_json::json!({"_placeholder": true, "num": bins.len() - 1})
        }
        Value::Array(items) => J::Array(items.iter().map(|i| wire_to_json(i, bins)).collect()),
        Value::Map(entries) => J::Object(
            entries
                .iter()
                .map(|(k, v)| (map_key(k), wire_to_json(v, bins)))
                .collect(),
        ),
        Value::Ext(_, _) => J::Null,
    }
}

fn map_key(k: &Value) -> String {
    match k {
        Value::String(s) => s.as_str().unwrap_or_default().to_owned(),
        other => other.to_string(),
    }
}

/// A MessagePack value as plain JSON; binary becomes Node's `Buffer.toJSON()` shape
/// (`{"type":"Buffer","data":[..]}`).
pub fn wire_to_plain_json(v: &Value) -> serde_json::Value {
    let mut bins = Vec::new();
    let json = wire_to_json(v, &mut bins);
    if bins.is_empty() {
        return json;
    }
    fn fill(v: serde_json::Value, bins: &[Bytes]) -> serde_json::Value {
        if let Some(b) = portico_proto::sio::is_placeholder(&v).and_then(|n| bins.get(n)) {
            return serde_json::json!({"type": "Buffer", "data": b.to_vec()});
        }
        match v {
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.into_iter().map(|i| fill(i, bins)).collect())
            }
            serde_json::Value::Object(map) => serde_json::Value::Object(
                map.into_iter().map(|(k, v)| (k, fill(v, bins))).collect(),
            ),
            other => other,
        }
    }
    fill(json, &bins)
}

/// A JSON value as a MessagePack value (no binary).
pub fn json_to_value(v: &serde_json::Value) -> Value {
    json_to_wire(v, &[])
}

/// A node's transport, shared by every namespace of the server.
pub(crate) type SharedTransport = Arc<dyn Transport>;
