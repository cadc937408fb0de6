//! The Socket.IO `Connection` state machine (binary reassembly, both roles, protocol v4 and
//! v5, JSON and msgpack encodings) fed a sequence of Engine.IO messages.
//!
//! Input: one config byte (bit 0 role, bit 1 version, bit 2 encoding, bits 3-4 the attachment
//! limit), then records `tag, len_hi, len_lo, data[len]` (tag bit 0: binary, else text).
//!
//! Checks: no panic whatever the sequence; no packet with more attachments than the limit;
//! `awaiting_attachments` says exactly when a binary packet is incomplete; and every packet
//! received, written again as the other end writes it (`Connection::connect`,
//! `connect_reply`, `connect_error`, `Packet::encode`, `encode_msgpack`) and fed to a fresh
//! connection, is received the same (up to what protocol v4 cannot carry, see `expected`).
#![no_main]

use std::borrow::Cow;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use portico_proto::sio::{
    encode_msgpack, Connection, Encoding, Limits, Packet, ProtocolError, Received, Role, Version,
};
use serde_json::{Map, Value};

/// Most messages read from one input.
const MAX_MESSAGES: usize = 64;
/// Most query pairs a v4 CONNECT name carries (as `connection.rs` reads them).
const MAX_QUERY_PAIRS: usize = 64;

#[derive(Clone, Copy)]
struct Config {
    role: Role,
    version: Version,
    encoding: Encoding,
    limits: Limits,
}

impl Config {
    fn from_byte(b: u8) -> Config {
        Config {
            role: if b & 1 == 0 {
                Role::Server
            } else {
                Role::Client
            },
            version: if b & 2 == 0 { Version::V5 } else { Version::V4 },
            encoding: if b & 4 == 0 {
                Encoding::Json
            } else {
                Encoding::MsgPack
            },
            limits: Limits {
                max_attachments: [10, 1, 2, 0][usize::from((b >> 3) & 3)],
            },
        }
    }

    fn connection(self) -> Connection {
        Connection::new(self.role, self.version, self.encoding, self.limits)
    }
}

enum Message<'a> {
    Text(&'a [u8]),
    Binary(&'a [u8]),
}

fn messages(mut data: &[u8]) -> Vec<Message<'_>> {
    let mut out = Vec::new();
    while let [tag, hi, lo, rest @ ..] = data {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
        let (body, tail) = rest.split_at(len);
        out.push(if tag & 1 == 1 {
            Message::Binary(body)
        } else {
            Message::Text(body)
        });
        data = tail;
        if out.len() == MAX_MESSAGES {
            break;
        }
    }
    out
}

fn owned(r: Received<'_>) -> Received<'static> {
    let o = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
    match r {
        Received::Connect { nsp, auth } => Received::Connect { nsp: o(nsp), auth },
        Received::Connected { nsp, sid, pid } => Received::Connected {
            nsp: o(nsp),
            sid,
            pid,
        },
        Received::ConnectError { nsp, message, data } => Received::ConnectError {
            nsp: o(nsp),
            message,
            data,
        },
        Received::Disconnect { nsp } => Received::Disconnect { nsp: o(nsp) },
        Received::Event {
            nsp,
            name,
            args,
            id,
            binary,
        } => Received::Event {
            nsp: o(nsp),
            name: o(name),
            args,
            id,
            binary,
        },
        Received::Ack {
            nsp,
            id,
            args,
            binary,
        } => Received::Ack {
            nsp: o(nsp),
            id,
            args,
            binary,
        },
    }
}

/// The packet (and attachments) the other end writes for `r`; `None` where it writes none
/// (v4 joins `/` without a CONNECT; a v5 CONNECT reply always has a sid).
fn rewrite(cfg: Config, r: &Received<'_>) -> Option<(Packet, Vec<Bytes>)> {
    let peer = cfg.connection();
    let args = |name: Option<&str>, args: &[Value]| {
        let mut items = Vec::with_capacity(args.len() + 1);
        items.extend(name.map(|n| Value::String(n.to_owned())));
        items.extend(args.iter().cloned());
        Value::Array(items)
    };
    Some(match r {
        Received::Connect { nsp, auth } => (peer.connect(nsp, auth.clone())?, Vec::new()),
        Received::Connected { nsp, sid, pid } => {
            let sid = match (cfg.version, sid) {
                (Version::V5, None) => return None,
                (_, sid) => sid.as_deref().unwrap_or(""),
            };
            (peer.connect_reply(nsp, sid, pid.as_deref()), Vec::new())
        }
        Received::ConnectError { nsp, message, data } => {
            (peer.connect_error(nsp, message, data.clone()), Vec::new())
        }
        Received::Disconnect { nsp } => (Packet::disconnect(nsp), Vec::new()),
        Received::Event {
            nsp,
            name,
            args: a,
            id,
            binary,
        } => {
            let data = args(Some(name), a);
            let packet = if binary.is_empty() {
                Packet::event(nsp, data, *id)
            } else {
                Packet::binary_event(nsp, data, *id, binary.len())
            };
            (packet, binary.clone())
        }
        Received::Ack {
            nsp,
            id,
            args: a,
            binary,
        } => {
            let data = args(None, a);
            let packet = if binary.is_empty() {
                Packet::ack(nsp, *id, data)
            } else {
                Packet::binary_ack(nsp, *id, data, binary.len())
            };
            (packet, binary.clone())
        }
    })
}

/// What a fresh connection must receive from the rewritten packet: `r` itself, except where
/// protocol v4 cannot carry it (a CONNECT's auth travels as a query of strings, a CONNECT
/// reply carries nothing). `None`: only check that it decodes.
fn expected(cfg: Config, r: &Received<'static>) -> Option<Received<'static>> {
    if cfg.version == Version::V5 {
        return Some(r.clone());
    }
    match r {
        Received::Connect { nsp, auth } => {
            let auth = match auth {
                Some(Value::Object(o)) if !o.is_empty() => {
                    let o: Map<String, Value> = o
                        .iter()
                        .take(MAX_QUERY_PAIRS)
                        .map(|(k, v)| {
                            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                            (k.clone(), Value::String(v))
                        })
                        .collect();
                    Some(Value::Object(o))
                }
                _ => None,
            };
            Some(Received::Connect {
                nsp: nsp.clone(),
                auth,
            })
        }
        Received::Connected { nsp, .. } => Some(Received::Connected {
            nsp: nsp.clone(),
            sid: None,
            pid: None,
        }),
        // v4 sends the data, or else the message: which of the two arrived is not kept.
        Received::ConnectError { .. } => None,
        other => Some(other.clone()),
    }
}

/// Feed the wire form of `packet` to a fresh connection; what it finally received.
fn receive_again(cfg: Config, packet: &Packet, binary: &[Bytes]) -> Received<'static> {
    let mut c = cfg.connection();
    let got = match cfg.encoding {
        Encoding::MsgPack => c.handle_binary(encode_msgpack(packet, binary)),
        Encoding::Json => {
            let text = packet.encode();
            let mut got = c.handle_text(text.as_bytes()).map(|r| r.map(owned));
            for (i, b) in binary.iter().enumerate() {
                assert!(
                    matches!(got, Ok(None)),
                    "attachment {i} of {text:?} not awaited: {got:?}"
                );
                got = c.handle_binary(b.clone());
            }
            got
        }
    };
    match got {
        Ok(Some(r)) => {
            assert!(!c.awaiting_attachments());
            r
        }
        other => panic!("rewritten {packet:?} gives {other:?}"),
    }
}

fn check_round_trip(cfg: Config, r: Received<'static>) {
    let Some((packet, binary)) = rewrite(cfg, &r) else {
        return;
    };
    let again = receive_again(cfg, &packet, &binary);
    match expected(cfg, &r) {
        Some(want) => assert_eq!(again, want, "rewritten as {packet:?}"),
        None => {
            // At least a fixed point: written once more, it is received the same.
            let (packet, binary) = rewrite(cfg, &again).expect("rewritable");
            assert_eq!(receive_again(cfg, &packet, &binary), again);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    let cfg = Config::from_byte(cfg);
    let mut c = cfg.connection();
    for m in messages(rest) {
        let got: Result<Option<Received<'static>>, ProtocolError> = match m {
            Message::Text(t) => c.handle_text(t).map(|r| r.map(owned)),
            Message::Binary(b) => c.handle_binary(Bytes::copy_from_slice(b)),
        };
        match got {
            // The connection ends on a protocol error.
            Err(_) => return,
            Ok(None) => assert!(c.awaiting_attachments()),
            Ok(Some(r)) => {
                assert!(!c.awaiting_attachments());
                if let Received::Event { binary, .. } | Received::Ack { binary, .. } = &r {
                    assert!(binary.len() <= cfg.limits.max_attachments);
                }
                check_round_trip(cfg, r);
            }
        }
    }
});
