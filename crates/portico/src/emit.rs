//! Turning an emit into frames: serialize once, encode once.

use portico_proto::engine::Frame;
use portico_proto::sio::{encode_msgpack, Packet, PacketType};
use serde::Serialize;
use serde_json::Value;

use crate::config::Parser;
use crate::errors::EmitError;

/// Event names a server may not emit (clients treat them as lifecycle events) and a client
/// may not send.
pub(crate) const RESERVED_EVENTS: &[&str] = &[
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// The frames of one event (text packet, then its binary attachments), or of one ack.
pub(crate) fn encode<T: Serialize + ?Sized>(
    parser: Parser,
    nsp: &str,
    event: Option<&str>,
    data: &T,
    id: Option<u64>,
) -> Result<Vec<Frame>, EmitError> {
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
) -> Result<Vec<Frame>, EmitError> {
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
    let kind = match (event.is_some(), bins.is_empty()) {
        (true, true) => PacketType::Event,
        (true, false) => PacketType::BinaryEvent,
        (false, true) => PacketType::Ack,
        (false, false) => PacketType::BinaryAck,
    };
    let packet = Packet {
        kind,
        nsp: nsp.to_owned(),
        id,
        data: Some(Value::Array(values)),
        attachments: bins.len(),
    };
    if parser == Parser::MsgPack {
        return Ok(vec![Frame::Binary(encode_msgpack(&packet, &bins))]);
    }
    let mut frames = Vec::with_capacity(1 + bins.len());
    frames.push(Frame::Text(packet.encode_engine_frame()));
    frames.extend(bins.into_iter().map(Frame::Binary));
    Ok(frames)
}

/// Like [`encode`] for an event, without the reserved-name check: for the server's own
/// `error` event to a client.
pub(crate) fn encode_unchecked<T: Serialize + ?Sized>(
    parser: Parser,
    nsp: &str,
    event: &str,
    data: &T,
) -> Result<Vec<Frame>, EmitError> {
    encode_inner(parser, nsp, Some(event), data, None)
}

/// Like [`encode`] for an event, with the recovery `offset` appended as its last argument.
pub(crate) fn encode_with_offset<T: Serialize + ?Sized>(
    parser: Parser,
    nsp: &str,
    event: &str,
    data: &T,
    offset: u64,
) -> Result<Vec<Frame>, EmitError> {
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
