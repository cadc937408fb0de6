//! Turning an emit into frames: serialize once, encode once.

use std::cell::RefCell;

use bytes::Bytes;
use portico_proto::engine::Frame;
use portico_proto::sio::{encode_event_frame, encode_msgpack, Connection, Packet, PacketType};
use serde::Serialize;
use serde_json::Value;

use crate::args::Shape;
use crate::config::Parser;
use crate::errors::EmitError;

/// Event names a server may not emit (clients treat them as lifecycle events) and a client
/// may not send: the protocol crate's list.
pub(crate) use portico_proto::sio::packet::RESERVED_EVENTS;

/// The frames of one event (text packet, then its binary attachments), or of one ack.
pub(crate) fn encode<T: Serialize + ?Sized>(
    parser: Parser,
    nsp: &str,
    event: Option<&str>,
    data: &T,
    id: Option<u64>,
) -> Result<Frames, EmitError> {
    if let Some(ev) = event {
        if RESERVED_EVENTS.contains(&ev) {
            return Err(EmitError::ReservedEvent(ev.to_owned()));
        }
    }
    encode_inner(parser, nsp, event, data, id)
}

fn encode_inner<T: Serialize + ?Sized>(
    parser: Parser,
    nsp: &str,
    event: Option<&str>,
    data: &T,
    id: Option<u64>,
) -> Result<Frames, EmitError> {
    if parser != Parser::MsgPack {
        if let Some(frames) = encode_json(nsp, event, data, id)? {
            return Ok(frames);
        }
    }
    encode_values(parser, nsp, event, data, id)
}

/// Encode through `serde_json::Value`s: the msgpack parser's path (and the JSON parser's
/// fallback).
fn encode_values<T: Serialize + ?Sized>(
    parser: Parser,
    nsp: &str,
    event: Option<&str>,
    data: &T,
    id: Option<u64>,
) -> Result<Frames, EmitError> {
    let (packet, bins) = packet(nsp, event, data, id)?;
    if parser == Parser::MsgPack {
        return Ok(Frames::One(Frame::Binary(encode_msgpack(&packet, &bins))));
    }
    Ok(Frames::new(Frame::Text(packet.encode_engine_frame()), bins))
}

/// The structured packet of an event (or, without `event`, an ack) and its attachments: what
/// a cluster adapter publishes (see [`crate::Broadcast::packet`]).
pub(crate) fn packet<T: Serialize + ?Sized>(
    nsp: &str,
    event: Option<&str>,
    data: &T,
    id: Option<u64>,
) -> Result<(Packet, Vec<Bytes>), EmitError> {
    let (args, bins) = crate::args::to_args(data)?;
    let values = match event {
        Some(ev) => {
            let mut v = Vec::with_capacity(args.len() + 1);
            v.push(Value::String(ev.to_owned()));
            v.extend(args);
            v
        }
        None => args,
    };
    let kind = packet_type(event.is_some(), !bins.is_empty());
    let packet = Packet {
        kind,
        nsp: nsp.to_owned(),
        id,
        data: Some(Value::Array(values)),
        attachments: bins.len(),
    };
    Ok((packet, bins))
}

/// EVENT or ACK, binary or not.
fn packet_type(event: bool, binary: bool) -> PacketType {
    match (event, binary) {
        (true, false) => PacketType::Event,
        (true, true) => PacketType::BinaryEvent,
        (false, false) => PacketType::Ack,
        (false, true) => PacketType::BinaryAck,
    }
}

/// The JSON parser's frames, serialized straight to text: the data is written once by
/// serde_json (binary values become placeholders as they are met) and cut into arguments by
/// its [`Shape`](crate::args::Shape), with no `serde_json::Value` in between. `None` if the
/// text does not have the shape expected (then the `Value` path encodes it).
fn encode_json<T: Serialize + ?Sized>(
    nsp: &str,
    event: Option<&str>,
    data: &T,
    id: Option<u64>,
) -> Result<Option<Frames>, EmitError> {
    let shape = crate::args::shape(data);
    let encoded = with_scratch(|body| -> Result<_, EmitError> {
        let (res, bins) = crate::binary::collect(|| serde_json::to_writer(&mut *body, data));
        res?;
        let args: &[u8] = match shape {
            Shape::None => b"",
            Shape::One => body,
            Shape::Many => match body.as_slice() {
                [b'[', inner @ .., b']'] => inner,
                _ => return Ok(None),
            },
        };
        let kind = packet_type(event.is_some(), !bins.is_empty());
        Ok(Some((
            encode_event_frame(kind, bins.len(), nsp, id, event, args),
            bins,
        )))
    })?;
    let Some((text, bins)) = encoded else {
        return Ok(None);
    };
    Ok(Some(Frames::new(Frame::Text(text), bins)))
}

/// The frames of one packet: its text and the binary attachments after it. One frame (the
/// usual packet) is held without a `Vec`, so an emit or an ack allocates only its text.
#[derive(Debug, Clone)]
pub(crate) enum Frames {
    One(Frame),
    Many(Vec<Frame>),
}

impl Frames {
    fn new(first: Frame, bins: Vec<bytes::Bytes>) -> Frames {
        if bins.is_empty() {
            return Frames::One(first);
        }
        let mut frames = Vec::with_capacity(1 + bins.len());
        frames.push(first);
        frames.extend(bins.into_iter().map(Frame::Binary));
        Frames::Many(frames)
    }
}

impl std::ops::Deref for Frames {
    type Target = [Frame];
    fn deref(&self) -> &[Frame] {
        match self {
            Frames::One(f) => std::slice::from_ref(f),
            Frames::Many(v) => v,
        }
    }
}

/// Equal when the frames are (however they are held).
impl PartialEq for Frames {
    fn eq(&self, other: &Frames) -> bool {
        **self == **other
    }
}

impl AsRef<[Frame]> for Frames {
    fn as_ref(&self) -> &[Frame] {
        self
    }
}

impl IntoIterator for Frames {
    type Item = Frame;
    type IntoIter = std::iter::Chain<std::option::IntoIter<Frame>, std::vec::IntoIter<Frame>>;
    fn into_iter(self) -> Self::IntoIter {
        let (one, many) = match self {
            Frames::One(f) => (Some(f), Vec::new()),
            Frames::Many(v) => (None, v),
        };
        one.into_iter().chain(many)
    }
}

thread_local! {
    /// The buffer [`encode_json`] serializes into before the frame is cut to its exact size:
    /// one per thread, reused, so an emit allocates only its frame.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A scratch buffer above this capacity (one large emit) is given back after use.
const SCRATCH_KEEP: usize = 64 * 1024;

/// Run `f` with this thread's empty scratch buffer (a fresh one if it is in use: a
/// `Serialize` impl that emits while being serialized).
fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            let r = f(&mut buf);
            if buf.capacity() > SCRATCH_KEEP {
                *buf = Vec::new();
            }
            r
        }
        Err(_) => f(&mut Vec::new()),
    })
}

/// Like [`encode`] for an event, without the reserved-name check: for the server's own
/// `error` event to a client.
pub(crate) fn encode_unchecked<T: Serialize + ?Sized>(
    parser: Parser,
    nsp: &str,
    event: &str,
    data: &T,
) -> Result<Frames, EmitError> {
    encode_inner(parser, nsp, Some(event), data, None)
}

/// Like [`encode`] for an event, with the recovery `offset` appended as its last argument.
pub(crate) fn encode_with_offset<T: Serialize + ?Sized>(
    parser: Parser,
    nsp: &str,
    event: &str,
    data: &T,
    offset: u64,
) -> Result<Frames, EmitError> {
    if RESERVED_EVENTS.contains(&event) {
        return Err(EmitError::ReservedEvent(event.to_owned()));
    }
    let (mut args, bins) = crate::args::to_args(data)?;
    args.push(Value::String(offset.to_string()));
    encode_inner(
        parser,
        nsp,
        Some(event),
        &crate::args::Args {
            values: args,
            binary: bins,
        },
        None,
    )
}

/// The frame of a packet with no binary (connect, connect error, disconnect).
pub(crate) fn control(parser: Parser, packet: &Packet) -> [Frame; 1] {
    match parser {
        Parser::MsgPack => [Frame::Binary(encode_msgpack(packet, &[]))],
        _ => [Frame::Text(packet.encode_engine_frame())],
    }
}

/// The frame of the server's `CONNECT` reply for socket `sid` (and its recovery `pid`) in
/// namespace `nsp`, in `protocol`'s shape: what [`control`] makes of
/// [`Connection::connect_reply`], with the JSON parser's frame written straight (no JSON map
/// per connection).
pub(crate) fn connect_reply(
    parser: Parser,
    protocol: &Connection,
    nsp: &str,
    sid: &str,
    pid: Option<&str>,
) -> [Frame; 1] {
    match parser {
        Parser::Json => [Frame::Text(protocol.connect_reply_frame(nsp, sid, pid))],
        Parser::MsgPack => control(parser, &protocol.connect_reply(nsp, sid, pid)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

    use super::*;
    use crate::{Args, Binary};
    use serde_json::json;

    #[derive(Serialize)]
    struct Upload {
        name: String,
        data: Binary,
        parts: Vec<Binary>,
    }

    #[derive(Serialize)]
    enum Kind {
        A,
        B(u8),
        C { x: u8 },
    }

    /// The connect reply each parser sends is what `control` makes of the protocol's packet
    /// (the JSON one written straight, the msgpack one through the packet).
    #[test]
    fn the_connect_reply_is_the_control_frame_of_the_protocols_packet() {
        use portico_proto::sio::{Encoding, Limits, Role, Version};
        for (parser, encoding) in [
            (Parser::Json, Encoding::Json),
            (Parser::MsgPack, Encoding::MsgPack),
        ] {
            for version in [Version::V5, Version::V4] {
                let protocol = Connection::new(Role::Server, version, encoding, Limits::default());
                for (nsp, pid) in [("/", None), ("/chat", Some("p\"q"))] {
                    let [frame] = connect_reply(parser, &protocol, nsp, "s1", pid);
                    let [want] = control(parser, &protocol.connect_reply(nsp, "s1", pid));
                    assert_eq!(frame, want, "{parser:?} {version:?} {nsp} {pid:?}");
                    // The JSON parser's frame is text, msgpack's binary.
                    assert_eq!(
                        matches!(frame, Frame::Text(_)),
                        parser == Parser::Json,
                        "{parser:?}"
                    );
                }
            }
        }
    }

    /// The direct JSON path writes exactly what the `Value` path writes, for every shape.
    fn same<T: Serialize + ?Sized>(what: &str, data: &T) {
        for (nsp, event, id) in [
            ("/", Some("ev"), None),
            ("/", Some("ev \"quoted\" é"), Some(7)),
            ("/admin", Some("x"), Some(u64::MAX)),
            ("/", None, Some(3)),
            ("/chat", None, Some(0)),
        ] {
            let fast = encode_json(nsp, event, data, id).unwrap().unwrap();
            let slow = encode_values(Parser::Json, nsp, event, data, id).unwrap();
            assert_eq!(fast, slow, "{what} nsp={nsp} event={event:?} id={id:?}");
        }
    }

    #[test]
    fn the_direct_json_path_matches_the_value_path() {
        same("unit", &());
        same("number", &42);
        same("string", &"hello");
        same("none", &None::<u8>);
        same("some", &Some("x"));
        same("tuple", &(1, "two", [3]));
        same("one-tuple", &(json!({"a": 1}),));
        same("vec", &vec![1, 2, 3]);
        same("map", &json!({"k": [1, {"n": null}]}));
        same("enum unit", &Kind::A);
        same("enum newtype", &Kind::B(2));
        same("enum struct", &Kind::C { x: 1 });
        same("args", &Args::new(vec![json!("a"), json!(1), json!(null)]));
        same("empty args", &Args::new(vec![]));
        same("binary", &Binary::from(vec![1u8, 2, 3]));
        same(
            "nested binary",
            &Upload {
                name: "f".into(),
                data: Binary::from(vec![0u8; 4]),
                parts: vec![Binary::from(vec![1u8]), Binary::from(vec![2u8])],
            },
        );
        same(
            "tuple with binary",
            &("meta", Binary::from(vec![9u8]), Binary::from(vec![8u8])),
        );
        same(
            "args with binary",
            &Args {
                values: vec![json!({"_placeholder": true, "num": 0}), json!("t")],
                binary: vec![bytes::Bytes::from_static(b"bin")],
            },
        );
    }

    #[test]
    fn the_direct_path_is_what_emit_uses_and_decodes_back() {
        let frames = encode(Parser::Json, "/", Some("echo"), &(1, "a"), Some(5)).unwrap();
        let [Frame::Text(t)] = &frames[..] else {
            panic!("{frames:?}")
        };
        assert_eq!(&t[..], br#"425["echo",1,"a"]"#);
        let frames = encode(Parser::Json, "/", None, &(), Some(1)).unwrap();
        let [Frame::Text(t)] = &frames[..] else {
            panic!("{frames:?}")
        };
        assert_eq!(&t[..], b"431[]");
    }

    /// A value whose serialization emits (encodes) something itself: the scratch buffer is in
    /// use, the inner encode gets a fresh one, and both frames are right.
    struct EmitsWhileSerialized;

    impl Serialize for EmitsWhileSerialized {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let inner = encode(Parser::Json, "/", Some("inner"), &"i", None).unwrap();
            assert!(matches!(&inner[..], [Frame::Text(t)] if &t[..] == br#"42["inner","i"]"#));
            s.serialize_str("outer")
        }
    }

    #[test]
    fn an_emit_inside_serialization_and_a_large_emit_are_encoded_right() {
        let frames = encode(Parser::Json, "/", Some("ev"), &EmitsWhileSerialized, None).unwrap();
        assert!(matches!(&frames[..], [Frame::Text(t)] if &t[..] == br#"42["ev","outer"]"#));
        // A payload above what the scratch buffer keeps, then a small one: both whole.
        let big = "x".repeat(2 * SCRATCH_KEEP);
        let frames = encode(Parser::Json, "/", Some("big"), &big, None).unwrap();
        let [Frame::Text(t)] = &frames[..] else {
            panic!("one frame")
        };
        assert_eq!(t.len(), br#"42["big",""]"#.len() + big.len());
        SCRATCH.with(|cell| assert!(cell.borrow().capacity() <= SCRATCH_KEEP));
        let frames = encode(Parser::Json, "/", Some("small"), &1, None).unwrap();
        assert!(matches!(&frames[..], [Frame::Text(t)] if &t[..] == br#"42["small",1]"#));
    }
}
