//! Node's wire formats: `@socket.io/redis-adapter` 8.x classic (PUBLISH/PSUBSCRIBE) and
//! sharded (SPUBLISH/SSUBSCRIBE) messages to and from [`portico::cluster`] messages.
//!
//! Byte-compatible with what Node's nodes publish (the golden vectors in the tests were
//! recorded from Node): maps keep Node's key order, MessagePack uses the smallest encodings
//! as `notepack.io` does, and JSON is chosen where Node chooses it.

use bytes::Bytes;
use portico::cluster::{
    json_to_value, wire_to_plain_json, Body, Flags, Message, Opts, Response, ResponseBody, Value,
};
use serde_json::Value as Json;

/// How deep a MessagePack or JSON value from Redis may nest.
const MAX_DEPTH: usize = 64;

/// A classic request type (`RequestType` in Node's adapter).
mod req {
    pub const ALL_ROOMS: u64 = 1;
    pub const REMOTE_JOIN: u64 = 2;
    pub const REMOTE_LEAVE: u64 = 3;
    pub const REMOTE_DISCONNECT: u64 = 4;
    pub const REMOTE_FETCH: u64 = 5;
    pub const SERVER_SIDE_EMIT: u64 = 6;
    pub const BROADCAST: u64 = 7;
    pub const BROADCAST_CLIENT_COUNT: u64 = 8;
    pub const BROADCAST_ACK: u64 = 9;
}

/// A sharded message type (`MessageType` of Node's cluster adapter).
mod msg {
    pub const BROADCAST: u64 = 3;
    pub const SOCKETS_JOIN: u64 = 4;
    pub const SOCKETS_LEAVE: u64 = 5;
    pub const DISCONNECT_SOCKETS: u64 = 6;
    pub const FETCH_SOCKETS: u64 = 7;
    pub const FETCH_SOCKETS_RESPONSE: u64 = 8;
    pub const SERVER_SIDE_EMIT: u64 = 9;
    pub const SERVER_SIDE_EMIT_RESPONSE: u64 = 10;
    pub const BROADCAST_CLIENT_COUNT: u64 = 11;
    pub const BROADCAST_ACK: u64 = 12;
}

/// Why bytes from Redis were not a message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(String);

fn bad(what: impl Into<String>) -> DecodeError {
    DecodeError(what.into())
}

// ---------------------------------------------------------------------------------------------
// Values

fn s(v: &str) -> Value {
    Value::from(v)
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (s(k), v)).collect())
}

fn strings(list: &[String]) -> Value {
    Value::Array(list.iter().map(|r| s(r)).collect())
}

fn flags_value(flags: &Flags) -> Value {
    let mut entries = Vec::new();
    if flags.volatile {
        entries.push(("volatile", Value::Boolean(true)));
    }
    if let Some(c) = flags.compress {
        entries.push(("compress", Value::Boolean(c)));
    }
    if flags.local {
        entries.push(("local", Value::Boolean(true)));
    }
    if let Some(t) = flags.timeout {
        entries.push(("timeout", Value::from(t)));
    }
    map(entries)
}

fn opts_value(opts: &Opts, with_flags: bool) -> Value {
    let mut entries = vec![
        ("rooms", strings(&opts.rooms)),
        ("except", strings(&opts.except)),
    ];
    if with_flags {
        entries.push(("flags", flags_value(&opts.flags)));
    }
    map(entries)
}

fn has_binary(v: &Value) -> bool {
    match v {
        Value::Binary(_) => true,
        Value::Array(items) => items.iter().any(has_binary),
        Value::Map(entries) => entries.iter().any(|(k, v)| has_binary(k) || has_binary(v)),
        _ => false,
    }
}

fn msgpack(v: &Value) -> Bytes {
    let mut out = Vec::with_capacity(64);
    // Writing into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, v);
    Bytes::from(out)
}

/// JSON text of a value without binary (the caller checked), keys in order.
fn json_text(v: &Value) -> Bytes {
    Bytes::from(wire_to_plain_json(v).to_string())
}

/// Node's choice: JSON unless the value holds binary, then MessagePack.
fn json_or_msgpack(v: &Value) -> Bytes {
    if has_binary(v) {
        msgpack(v)
    } else {
        json_text(v)
    }
}

/// Decode a payload: JSON when it starts with `{`, MessagePack otherwise (what Node does).
pub fn decode_payload(bytes: &[u8]) -> Result<Value, DecodeError> {
    if bytes.first() == Some(&b'{') {
        let json: Json =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("bad JSON: {e}")))?;
        Ok(json_to_value(&json))
    } else {
        read_msgpack(bytes)
    }
}

/// One MessagePack value, its strings made UTF-8 (see [`lossy_strings`]).
fn read_msgpack(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut rd = bytes;
    let mut v = rmpv::decode::read_value_with_max_depth(&mut rd, MAX_DEPTH)
        .map_err(|e| bad(format!("bad MessagePack: {e}")))?;
    lossy_strings(&mut v);
    Ok(v)
}

/// Strings that are not UTF-8 are read lossily (invalid sequences become U+FFFD), as a
/// string: kept as they are, they reach sockets as `""` and are written again as binary.
/// Recursion is bounded by [`MAX_DEPTH`].
fn lossy_strings(v: &mut Value) {
    match v {
        Value::String(s) if s.as_str().is_none() => {
            let text = String::from_utf8_lossy(s.as_bytes()).into_owned();
            *v = Value::String(text.into());
        }
        Value::Array(items) => items.iter_mut().for_each(lossy_strings),
        Value::Map(entries) => {
            for (k, v) in entries {
                lossy_strings(k);
                lossy_strings(v);
            }
        }
        _ => {}
    }
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

fn get_str(v: &Value, key: &str) -> Option<String> {
    get(v, key).and_then(Value::as_str).map(str::to_owned)
}

fn get_u64(v: &Value, key: &str) -> Option<u64> {
    get(v, key).and_then(Value::as_u64)
}

fn get_strings(v: &Value, key: &str) -> Vec<String> {
    match get(v, key) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| match i {
                Value::String(s) => s.as_str().map(str::to_owned),
                // Node allows numeric rooms.
                Value::Integer(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn decode_flags(v: Option<&Value>) -> Flags {
    let Some(v) = v else { return Flags::default() };
    Flags {
        volatile: get(v, "volatile").and_then(Value::as_bool).unwrap_or(false),
        compress: get(v, "compress").and_then(Value::as_bool),
        local: get(v, "local").and_then(Value::as_bool).unwrap_or(false),
        timeout: get_u64(v, "timeout"),
    }
}

fn decode_opts(v: Option<&Value>) -> Opts {
    let Some(v) = v else { return Opts::default() };
    Opts {
        rooms: get_strings(v, "rooms"),
        except: get_strings(v, "except"),
        flags: decode_flags(get(v, "flags")),
    }
}

fn data_array(v: Option<&Value>) -> Result<Vec<Value>, DecodeError> {
    match v {
        Some(Value::Array(items)) => Ok(items.clone()),
        _ => Err(bad("the packet has no data array")),
    }
}

/// The event packet `{type: 2, data}` (classic adds `nsp`); `None` for other packet types.
fn event_data(packet: &Value) -> Option<Vec<Value>> {
    match get_u64(packet, "type") {
        // EVENT, or BINARY_EVENT from an encoder that marks it.
        Some(2) | Some(5) | None => data_array(get(packet, "data")).ok(),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Classic

/// Channel names of one namespace in classic mode.
#[derive(Debug, Clone)]
pub struct ClassicChannels {
    /// `<key>#<nsp>#`: broadcasts (room broadcasts append `<room>#`).
    pub broadcast: String,
    /// `<key>-request#<nsp>#`.
    pub request: String,
    /// `<key>-response#<nsp>#`, shared by every node.
    pub response: String,
    /// `<key>-response#<nsp>#<uid>#`, this node's own.
    pub own_response: String,
}

impl ClassicChannels {
    /// The channels of `nsp` under `key` for node `uid`.
    pub fn new(key: &str, nsp: &str, uid: &str) -> ClassicChannels {
        let response = format!("{key}-response#{nsp}#");
        ClassicChannels {
            broadcast: format!("{key}#{nsp}#"),
            request: format!("{key}-request#{nsp}#"),
            own_response: format!("{response}{uid}#"),
            response,
        }
    }
}

/// A message to publish: its channel and bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The channel.
    pub channel: String,
    /// The payload.
    pub payload: Bytes,
}

/// Encode `message` (from this node, `uid`) in classic mode.
pub fn classic_encode(ch: &ClassicChannels, nsp: &str, uid: &str, message: &Message) -> Outgoing {
    let uid_v = s(message.uid.as_deref().unwrap_or(uid));
    let request = |payload: Bytes| Outgoing {
        channel: ch.request.clone(),
        payload,
    };
    match &message.body {
        Body::Broadcast { data, opts } => {
            let packet = map(vec![
                ("type", Value::from(2)),
                ("data", Value::Array(data.clone())),
                ("nsp", s(nsp)),
            ]);
            let payload = msgpack(&Value::Array(vec![uid_v, packet, opts_value(opts, true)]));
            let channel = match opts.rooms.as_slice() {
                [room] => format!("{}{room}#", ch.broadcast),
                _ => ch.broadcast.clone(),
            };
            Outgoing { channel, payload }
        }
        Body::BroadcastWithAck {
            request_id,
            data,
            opts,
        } => {
            let packet = map(vec![
                ("type", Value::from(2)),
                ("data", Value::Array(data.clone())),
                ("nsp", s(nsp)),
            ]);
            request(msgpack(&map(vec![
                ("uid", uid_v),
                ("requestId", s(request_id)),
                ("type", Value::from(req::BROADCAST)),
                ("packet", packet),
                ("opts", opts_value(opts, true)),
            ])))
        }
        Body::SocketsJoin { opts, rooms } | Body::SocketsLeave { opts, rooms } => {
            let kind = if matches!(message.body, Body::SocketsJoin { .. }) {
                req::REMOTE_JOIN
            } else {
                req::REMOTE_LEAVE
            };
            request(json_text(&map(vec![
                ("uid", uid_v),
                ("type", Value::from(kind)),
                ("opts", opts_value(opts, false)),
                ("rooms", strings(rooms)),
            ])))
        }
        Body::DisconnectSockets { opts, close } => request(json_text(&map(vec![
            ("uid", uid_v),
            ("type", Value::from(req::REMOTE_DISCONNECT)),
            ("opts", opts_value(opts, false)),
            ("close", Value::Boolean(*close)),
        ]))),
        Body::FetchSockets { request_id, opts } => request(json_text(&map(vec![
            ("uid", uid_v),
            ("requestId", s(request_id)),
            ("type", Value::from(req::REMOTE_FETCH)),
            ("opts", opts_value(opts, false)),
        ]))),
        Body::ServerSideEmit { request_id, data } => {
            let mut entries = vec![("uid", uid_v)];
            if let Some(id) = request_id {
                entries.push(("requestId", s(id)));
            }
            entries.push(("type", Value::from(req::SERVER_SIDE_EMIT)));
            entries.push(("data", Value::Array(data.clone())));
            request(json_or_msgpack(&map(entries)))
        }
        Body::AllRooms { request_id } => request(json_text(&map(vec![
            ("uid", uid_v),
            ("requestId", s(request_id)),
            ("type", Value::from(req::ALL_ROOMS)),
        ]))),
    }
}

/// Encode an answer in classic mode (published on the shared response channel, as Node's
/// nodes do by default).
pub fn classic_encode_response(ch: &ClassicChannels, response: &Response) -> Outgoing {
    let payload = match &response.body {
        ResponseBody::BroadcastClientCount {
            request_id,
            client_count,
        } => json_text(&map(vec![
            ("type", Value::from(req::BROADCAST_CLIENT_COUNT)),
            ("requestId", s(request_id)),
            ("clientCount", Value::from(*client_count)),
        ])),
        ResponseBody::BroadcastAck { request_id, value } => msgpack(&map(vec![
            ("type", Value::from(req::BROADCAST_ACK)),
            ("requestId", s(request_id)),
            ("packet", value.clone()),
        ])),
        ResponseBody::FetchSockets {
            request_id,
            sockets,
        } => json_or_msgpack(&map(vec![
            ("requestId", s(request_id)),
            ("sockets", Value::Array(sockets.clone())),
        ])),
        ResponseBody::ServerSideEmit { request_id, value } => json_or_msgpack(&map(vec![
            ("type", Value::from(req::SERVER_SIDE_EMIT)),
            ("requestId", s(request_id)),
            ("data", value.clone()),
        ])),
        ResponseBody::AllRooms { request_id, rooms } => json_text(&map(vec![
            ("requestId", s(request_id)),
            ("rooms", strings(rooms)),
        ])),
    };
    Outgoing {
        channel: ch.response.clone(),
        payload,
    }
}

/// A classic broadcast (from the `<key>#<nsp>#*` pattern) of namespace `nsp`.
pub fn classic_decode_broadcast(nsp: &str, payload: &[u8]) -> Result<Message, DecodeError> {
    let v = read_msgpack(payload)?;
    let Value::Array(parts) = v else {
        return Err(bad("a broadcast is not an array"));
    };
    let [uid, packet, opts, ..] = parts.as_slice() else {
        return Err(bad("a broadcast has fewer than 3 parts"));
    };
    let packet_nsp = get(packet, "nsp").and_then(Value::as_str).unwrap_or("/");
    if packet_nsp != nsp {
        return Err(bad(format!("a broadcast for namespace {packet_nsp:?}")));
    }
    let data = event_data(packet).ok_or_else(|| bad("a broadcast of a non-event packet"))?;
    Ok(Message {
        uid: uid.as_str().map(str::to_owned),
        body: Body::Broadcast {
            data,
            opts: decode_opts(Some(opts)),
        },
    })
}

/// A classic request (from `<key>-request#<nsp>#`). `Ok(None)` for requests Portico does not
/// act on (the legacy single-socket forms and type 0).
pub fn classic_decode_request(payload: &[u8]) -> Result<Option<Message>, DecodeError> {
    let v = decode_payload(payload)?;
    let uid = get_str(&v, "uid");
    let request_id = get_str(&v, "requestId");
    let need_id = || {
        request_id
            .clone()
            .ok_or_else(|| bad("a request without requestId"))
    };
    let body = match get_u64(&v, "type") {
        Some(req::ALL_ROOMS) => Body::AllRooms {
            request_id: need_id()?,
        },
        Some(kind @ (req::REMOTE_JOIN | req::REMOTE_LEAVE)) => {
            let Some(opts) = get(&v, "opts") else {
                return Ok(None);
            };
            let opts = decode_opts(Some(opts));
            let rooms = get_strings(&v, "rooms");
            if kind == req::REMOTE_JOIN {
                Body::SocketsJoin { opts, rooms }
            } else {
                Body::SocketsLeave { opts, rooms }
            }
        }
        Some(req::REMOTE_DISCONNECT) => {
            let Some(opts) = get(&v, "opts") else {
                return Ok(None);
            };
            Body::DisconnectSockets {
                opts: decode_opts(Some(opts)),
                close: get(&v, "close").and_then(Value::as_bool).unwrap_or(false),
            }
        }
        Some(req::REMOTE_FETCH) => Body::FetchSockets {
            request_id: need_id()?,
            opts: decode_opts(get(&v, "opts")),
        },
        Some(req::SERVER_SIDE_EMIT) => Body::ServerSideEmit {
            request_id,
            data: data_array(get(&v, "data"))?,
        },
        Some(req::BROADCAST) => {
            let packet =
                get(&v, "packet").ok_or_else(|| bad("a broadcast request without packet"))?;
            Body::BroadcastWithAck {
                request_id: need_id()?,
                data: event_data(packet).ok_or_else(|| bad("a broadcast of a non-event packet"))?,
                opts: decode_opts(get(&v, "opts")),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(Message { uid, body }))
}

/// A classic response (from `<key>-response#<nsp>#[<uid>#]`).
pub fn classic_decode_response(payload: &[u8]) -> Result<Option<Response>, DecodeError> {
    let v = decode_payload(payload)?;
    let Some(request_id) = get_str(&v, "requestId") else {
        return Ok(None);
    };
    let body = match get_u64(&v, "type") {
        Some(req::BROADCAST_CLIENT_COUNT) => ResponseBody::BroadcastClientCount {
            request_id,
            client_count: get_u64(&v, "clientCount").unwrap_or(0),
        },
        Some(req::BROADCAST_ACK) => ResponseBody::BroadcastAck {
            request_id,
            value: get(&v, "packet").cloned().unwrap_or(Value::Nil),
        },
        Some(req::SERVER_SIDE_EMIT) => ResponseBody::ServerSideEmit {
            request_id,
            value: get(&v, "data").cloned().unwrap_or(Value::Nil),
        },
        _ => {
            if let Some(Value::Array(sockets)) = get(&v, "sockets") {
                ResponseBody::FetchSockets {
                    request_id,
                    sockets: sockets.clone(),
                }
            } else if get(&v, "rooms").is_some() {
                ResponseBody::AllRooms {
                    request_id,
                    rooms: get_strings(&v, "rooms"),
                }
            } else {
                return Ok(None);
            }
        }
    };
    Ok(Some(Response { uid: None, body }))
}

// ---------------------------------------------------------------------------------------------
// Sharded

/// Which rooms get a channel of their own in sharded mode (Node's `subscriptionMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubscriptionMode {
    /// Two channels per namespace and node; every broadcast goes to the namespace channel.
    Static,
    /// Also one channel per public room (not for socket ids); the default, as in Node.
    #[default]
    Dynamic,
    /// Also one channel per room, socket ids included.
    DynamicPrivate,
}

impl SubscriptionMode {
    /// Whether a room (`private`: a socket's own) gets its own channel.
    pub fn room_channel(self, private: bool) -> bool {
        match self {
            SubscriptionMode::Static => false,
            SubscriptionMode::Dynamic => !private,
            SubscriptionMode::DynamicPrivate => true,
        }
    }
}

/// The sharded channel of a room: `<prefix>#<nsp>#<room>#`.
pub fn sharded_room_channel(prefix: &str, nsp: &str, room: &str) -> String {
    format!("{prefix}#{nsp}#{room}#")
}

/// Encode `message` in sharded mode: the channel (the namespace's, or a room's for a
/// single-room broadcast when the mode says so) and the bytes.
pub fn sharded_encode(
    prefix: &str,
    nsp: &str,
    uid: &str,
    mode: SubscriptionMode,
    message: &Message,
) -> Outgoing {
    let main = format!("{prefix}#{nsp}#");
    let packet = |data: &[Value]| {
        map(vec![
            ("type", Value::from(2)),
            ("data", Value::Array(data.to_vec())),
        ])
    };
    let (kind, data, channel) = match &message.body {
        Body::Broadcast { data, opts } => {
            let channel = match opts.rooms.as_slice() {
                [room]
                    if (mode == SubscriptionMode::Dynamic && room.chars().count() != 20)
                        || mode == SubscriptionMode::DynamicPrivate =>
                {
                    sharded_room_channel(prefix, nsp, room)
                }
                _ => main,
            };
            (
                msg::BROADCAST,
                map(vec![
                    ("packet", packet(data)),
                    ("opts", opts_value(opts, true)),
                ]),
                channel,
            )
        }
        Body::BroadcastWithAck {
            request_id,
            data,
            opts,
        } => (
            msg::BROADCAST,
            map(vec![
                ("packet", packet(data)),
                ("requestId", s(request_id)),
                ("opts", opts_value(opts, true)),
            ]),
            main,
        ),
        Body::SocketsJoin { opts, rooms } => (
            msg::SOCKETS_JOIN,
            map(vec![
                ("opts", opts_value(opts, true)),
                ("rooms", strings(rooms)),
            ]),
            main,
        ),
        Body::SocketsLeave { opts, rooms } => (
            msg::SOCKETS_LEAVE,
            map(vec![
                ("opts", opts_value(opts, true)),
                ("rooms", strings(rooms)),
            ]),
            main,
        ),
        Body::DisconnectSockets { opts, close } => (
            msg::DISCONNECT_SOCKETS,
            map(vec![
                ("opts", opts_value(opts, true)),
                ("close", Value::Boolean(*close)),
            ]),
            main,
        ),
        Body::FetchSockets { request_id, opts } => (
            msg::FETCH_SOCKETS,
            map(vec![
                ("opts", opts_value(opts, true)),
                ("requestId", s(request_id)),
            ]),
            main,
        ),
        Body::ServerSideEmit { request_id, data } => {
            let mut entries = Vec::new();
            if let Some(id) = request_id {
                entries.push(("requestId", s(id)));
            }
            entries.push(("packet", Value::Array(data.clone())));
            (msg::SERVER_SIDE_EMIT, map(entries), main)
        }
        // No such request in sharded mode (the transport says so before it gets here).
        Body::AllRooms { .. } => (0, Value::Nil, main),
    };
    let uid = message.uid.as_deref().unwrap_or(uid);
    let envelope = map(vec![
        ("type", Value::from(kind)),
        ("data", data),
        ("uid", s(uid)),
        ("nsp", s(nsp)),
    ]);
    Outgoing {
        channel,
        payload: json_or_msgpack(&envelope),
    }
}

/// Encode an answer in sharded mode, to the requester's channel `<prefix>#<nsp>#<uid>#`.
pub fn sharded_encode_response(
    prefix: &str,
    nsp: &str,
    uid: &str,
    requester: &str,
    response: &Response,
) -> Outgoing {
    let (kind, data) = match &response.body {
        ResponseBody::BroadcastClientCount {
            request_id,
            client_count,
        } => (
            msg::BROADCAST_CLIENT_COUNT,
            map(vec![
                ("requestId", s(request_id)),
                ("clientCount", Value::from(*client_count)),
            ]),
        ),
        ResponseBody::BroadcastAck { request_id, value } => (
            msg::BROADCAST_ACK,
            map(vec![
                ("requestId", s(request_id)),
                ("packet", value.clone()),
            ]),
        ),
        ResponseBody::FetchSockets {
            request_id,
            sockets,
        } => (
            msg::FETCH_SOCKETS_RESPONSE,
            map(vec![
                ("requestId", s(request_id)),
                ("sockets", Value::Array(sockets.clone())),
            ]),
        ),
        ResponseBody::ServerSideEmit { request_id, value } => (
            msg::SERVER_SIDE_EMIT_RESPONSE,
            map(vec![
                ("requestId", s(request_id)),
                ("packet", value.clone()),
            ]),
        ),
        ResponseBody::AllRooms { request_id, rooms } => (
            0,
            map(vec![
                ("requestId", s(request_id)),
                ("rooms", strings(rooms)),
            ]),
        ),
    };
    let envelope = map(vec![
        ("type", Value::from(kind)),
        ("data", data),
        ("uid", s(response.uid.as_deref().unwrap_or(uid))),
        ("nsp", s(nsp)),
    ]);
    Outgoing {
        channel: format!("{prefix}#{nsp}#{requester}#"),
        payload: json_or_msgpack(&envelope),
    }
}

/// What a sharded payload is.
#[derive(Debug, Clone, PartialEq)]
pub enum Sharded {
    /// An operation.
    Message(Message),
    /// An answer.
    Response(Response),
}

/// Decode a sharded payload of namespace `nsp`. `Ok(None)` for messages Portico ignores
/// (heartbeats, adapter close, another namespace).
pub fn sharded_decode(nsp: &str, payload: &[u8]) -> Result<Option<Sharded>, DecodeError> {
    let v = decode_payload(payload)?;
    if get(&v, "nsp")
        .and_then(Value::as_str)
        .is_some_and(|n| n != nsp)
    {
        return Ok(None);
    }
    let uid = get_str(&v, "uid");
    let data = get(&v, "data").cloned().unwrap_or(Value::Nil);
    let request_id = get_str(&data, "requestId");
    let need_id = || {
        request_id
            .clone()
            .ok_or_else(|| bad("a message without requestId"))
    };
    let message = |body| {
        Ok(Some(Sharded::Message(Message {
            uid: uid.clone(),
            body,
        })))
    };
    let response = |body| {
        Ok(Some(Sharded::Response(Response {
            uid: uid.clone(),
            body,
        })))
    };
    match get_u64(&v, "type") {
        Some(msg::BROADCAST) => {
            let packet = get(&data, "packet").ok_or_else(|| bad("a broadcast without packet"))?;
            let events =
                event_data(packet).ok_or_else(|| bad("a broadcast of a non-event packet"))?;
            let opts = decode_opts(get(&data, "opts"));
            match request_id {
                Some(request_id) => message(Body::BroadcastWithAck {
                    request_id,
                    data: events,
                    opts,
                }),
                None => message(Body::Broadcast { data: events, opts }),
            }
        }
        Some(kind @ (msg::SOCKETS_JOIN | msg::SOCKETS_LEAVE)) => {
            let opts = decode_opts(get(&data, "opts"));
            let rooms = get_strings(&data, "rooms");
            message(if kind == msg::SOCKETS_JOIN {
                Body::SocketsJoin { opts, rooms }
            } else {
                Body::SocketsLeave { opts, rooms }
            })
        }
        Some(msg::DISCONNECT_SOCKETS) => message(Body::DisconnectSockets {
            opts: decode_opts(get(&data, "opts")),
            close: get(&data, "close")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }),
        Some(msg::FETCH_SOCKETS) => message(Body::FetchSockets {
            request_id: need_id()?,
            opts: decode_opts(get(&data, "opts")),
        }),
        Some(msg::SERVER_SIDE_EMIT) => message(Body::ServerSideEmit {
            request_id,
            data: data_array(get(&data, "packet"))?,
        }),
        Some(msg::FETCH_SOCKETS_RESPONSE) => response(ResponseBody::FetchSockets {
            request_id: need_id()?,
            sockets: match get(&data, "sockets") {
                Some(Value::Array(items)) => items.clone(),
                _ => Vec::new(),
            },
        }),
        Some(msg::SERVER_SIDE_EMIT_RESPONSE) => response(ResponseBody::ServerSideEmit {
            request_id: need_id()?,
            value: get(&data, "packet").cloned().unwrap_or(Value::Nil),
        }),
        Some(msg::BROADCAST_CLIENT_COUNT) => response(ResponseBody::BroadcastClientCount {
            request_id: need_id()?,
            client_count: get_u64(&data, "clientCount").unwrap_or(0),
        }),
        Some(msg::BROADCAST_ACK) => response(ResponseBody::BroadcastAck {
            request_id: need_id()?,
            value: get(&data, "packet").cloned().unwrap_or(Value::Nil),
        }),
        _ => Ok(None),
    }
}
