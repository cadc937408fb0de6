//! Cluster messages from Redis (Node's @socket.io/redis-adapter formats, classic and sharded):
//! decoding any bytes never panics, and whatever decodes, encoded again, decodes again.
//!
//! Input: one payload, tried as a classic broadcast, request and response, and as a sharded
//! message.
//!
//! Checks, for every decoder: decode -> encode -> decode gives back the message (the node's uid
//! filled in where the message had none; classic requests other than broadcasts carry no
//! flags), exactly when its values survive JSON (Node writes a message without binary as JSON:
//! non-string map keys, `undefined`, 32-bit floats, NaN and invalid UTF-8 become something
//! else); and always the encoding is a fixed point: encoding the message decoded from it
//! gives the same channel and bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portico::cluster::{Body, Flags, Message, Response, ResponseBody, Value};
use portico_redis::codec::{self, ClassicChannels, Outgoing, Sharded, SubscriptionMode};

const KEY: &str = "socket.io";
const NSP: &str = "/";
const UID: &str = "abcdef";
const REQUESTER: &str = "req";

/// Whether `v` reads back the same after a trip through JSON.
fn survives_json(v: &Value) -> bool {
    match v {
        Value::Nil | Value::Boolean(_) | Value::Integer(_) | Value::Binary(_) => true,
        Value::F64(f) => f.is_finite(),
        Value::F32(_) | Value::Ext(..) => false,
        Value::String(s) => s.as_str().is_some(),
        Value::Array(items) => items.iter().all(survives_json),
        Value::Map(entries) => {
            let mut keys = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let Some(k) = k.as_str() else { return false };
                if keys.contains(&k) || !survives_json(v) {
                    return false;
                }
                keys.push(k);
            }
            true
        }
    }
}

fn has_binary(v: &Value) -> bool {
    match v {
        Value::Binary(_) => true,
        Value::Array(items) => items.iter().any(has_binary),
        Value::Map(entries) => entries.iter().any(|(k, v)| has_binary(k) || has_binary(v)),
        _ => false,
    }
}

/// Whether these values must read back exactly: written as MessagePack (always, or because
/// they hold binary), or they survive JSON. NaN never compares equal, so never exactly.
fn exact(values: &[&Value], always_msgpack: bool) -> bool {
    !values.iter().any(|v| has_nan(v))
        && (always_msgpack
            || values.iter().any(|v| has_binary(v))
            || values.iter().all(|v| survives_json(v)))
}

fn body_values(body: &Body) -> Vec<&Value> {
    match body {
        Body::Broadcast { data, .. }
        | Body::BroadcastWithAck { data, .. }
        | Body::ServerSideEmit { data, .. } => data.iter().collect(),
        _ => Vec::new(),
    }
}

fn response_values(body: &ResponseBody) -> Vec<&Value> {
    match body {
        ResponseBody::BroadcastAck { value, .. } | ResponseBody::ServerSideEmit { value, .. } => {
            vec![value]
        }
        ResponseBody::FetchSockets { sockets, .. } => sockets.iter().collect(),
        _ => Vec::new(),
    }
}

/// `m` as it reads back: with this node's uid if it had none.
fn with_uid(m: &Message) -> Message {
    Message {
        uid: Some(m.uid.clone().unwrap_or_else(|| UID.to_owned())),
        body: m.body.clone(),
    }
}

/// Classic requests other than broadcasts carry no flags (Node's format).
fn without_flags(mut m: Message) -> Message {
    match &mut m.body {
        Body::SocketsJoin { opts, .. }
        | Body::SocketsLeave { opts, .. }
        | Body::DisconnectSockets { opts, .. }
        | Body::FetchSockets { opts, .. } => opts.flags = Flags::default(),
        _ => {}
    }
    m
}

fn same(a: &Outgoing, b: &Outgoing, what: &str) {
    assert_eq!(a.channel, b.channel, "{what}: channel");
    assert_eq!(a.payload, b.payload, "{what}: not a fixed point");
}

fn classic_broadcast(data: &[u8], ch: &ClassicChannels) {
    let Ok(m1) = codec::classic_decode_broadcast(NSP, data) else {
        return;
    };
    let out1 = codec::classic_encode(ch, NSP, UID, &m1);
    let m2 = codec::classic_decode_broadcast(NSP, &out1.payload).expect("re-encoded broadcast");
    // A broadcast is MessagePack both ways: nothing is lost.
    let want = with_uid(&m1);
    if exact(&body_values(&m1.body), true) {
        assert_eq!(m2, want);
    }
    same(
        &codec::classic_encode(ch, NSP, UID, &m2),
        &out1,
        "classic broadcast",
    );
}

fn classic_request(data: &[u8], ch: &ClassicChannels) {
    let Ok(Some(m1)) = codec::classic_decode_request(data) else {
        return;
    };
    // The sharded encoder takes every message without panicking (AllRooms has no sharded
    // form; the transport never sends it there).
    let _ = codec::sharded_encode(KEY, NSP, UID, SubscriptionMode::Dynamic, &m1);
    let out1 = codec::classic_encode(ch, NSP, UID, &m1);
    let m2 = match &m1.body {
        // A broadcast (without ack) is never a request; it goes to the broadcast channel.
        Body::Broadcast { .. } => unreachable!("a request decoded as a broadcast"),
        _ => codec::classic_decode_request(&out1.payload)
            .expect("re-encoded request decodes")
            .expect("re-encoded request is acted on"),
    };
    let always_msgpack = matches!(m1.body, Body::BroadcastWithAck { .. });
    if exact(&body_values(&m1.body), always_msgpack) {
        assert_eq!(m2, without_flags(with_uid(&m1)));
    }
    same(
        &codec::classic_encode(ch, NSP, UID, &m2),
        &out1,
        "classic request",
    );
}

fn classic_response(data: &[u8], ch: &ClassicChannels) {
    let Ok(Some(r1)) = codec::classic_decode_response(data) else {
        return;
    };
    let out1 = codec::classic_encode_response(ch, &r1);
    let r2 = codec::classic_decode_response(&out1.payload)
        .expect("re-encoded response decodes")
        .expect("re-encoded response is acted on");
    let always_msgpack = matches!(r1.body, ResponseBody::BroadcastAck { .. });
    if exact(&response_values(&r1.body), always_msgpack) {
        assert_eq!(r2, r1);
    }
    same(
        &codec::classic_encode_response(ch, &r2),
        &out1,
        "classic response",
    );
}

fn sharded(data: &[u8]) {
    let encode = |m: &Message| codec::sharded_encode(KEY, NSP, UID, SubscriptionMode::Dynamic, m);
    let encode_response =
        |r: &Response| codec::sharded_encode_response(KEY, NSP, UID, REQUESTER, r);
    match codec::sharded_decode(NSP, data) {
        Ok(Some(Sharded::Message(m1))) => {
            let out1 = encode(&m1);
            let Ok(Some(Sharded::Message(m2))) = codec::sharded_decode(NSP, &out1.payload) else {
                panic!("re-encoded sharded message {m1:?} does not decode as one");
            };
            if exact(&body_values(&m1.body), false) {
                assert_eq!(m2, with_uid(&m1));
            }
            same(&encode(&m2), &out1, "sharded message");
        }
        Ok(Some(Sharded::Response(r1))) => {
            let out1 = encode_response(&r1);
            let Ok(Some(Sharded::Response(r2))) = codec::sharded_decode(NSP, &out1.payload) else {
                panic!("re-encoded sharded response {r1:?} does not decode as one");
            };
            if exact(&response_values(&r1.body), false) {
                let want = Response {
                    uid: Some(r1.uid.clone().unwrap_or_else(|| UID.to_owned())),
                    body: r1.body.clone(),
                };
                assert_eq!(r2, want);
            }
            same(&encode_response(&r2), &out1, "sharded response");
        }
        _ => {}
    }
}

fn has_nan(v: &Value) -> bool {
    match v {
        Value::F32(f) => f.is_nan(),
        Value::F64(f) => f.is_nan(),
        Value::Array(items) => items.iter().any(has_nan),
        Value::Map(entries) => entries.iter().any(|(k, v)| has_nan(k) || has_nan(v)),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let ch = ClassicChannels::new(KEY, NSP, UID);
    classic_broadcast(data, &ch);
    classic_request(data, &ch);
    classic_response(data, &ch);
    sharded(data);
});
