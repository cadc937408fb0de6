//! The write side of the server's WebSockets: Engine.IO frames to WebSocket frames, without
//! going through tungstenite's `Message`.
//!
//! A server frame is never masked, so its bytes are a 2–10 byte header and the payload. Writing
//! them directly skips, per frame and per receiver, tungstenite's UTF-8 check of text that this
//! crate produced itself (a broadcast to 1,000 sockets would check the same bytes 1,000 times)
//! and its own buffering copy. [`Frame::Text`] is UTF-8 by construction: encoded here from
//! `serde_json` output, or copied from client text that was validated on the way in.

use bytes::Bytes;
use portico_proto::engine::session::Protocol;
use portico_proto::engine::Frame;
use portico_proto::ws;

/// Engine.IO v3 binary WebSocket messages start with the message packet type.
const V3_BINARY_TYPE: u8 = 4;

/// One frame ready to write: its header (with the v3 type byte, if any) and its payload.
pub(crate) struct Encoded {
    head: ws::Header,
    /// The payload, shared with every other receiver of the same frame.
    pub(crate) payload: Bytes,
}

impl Encoded {
    /// The header bytes (and the v3 binary type byte).
    #[inline]
    pub(crate) fn head(&self) -> &[u8] {
        self.head.as_bytes()
    }

    /// Header and payload size.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.head.as_bytes().len() + self.payload.len()
    }
}

/// The WebSocket frame of an Engine.IO frame.
#[inline]
pub(crate) fn encode(frame: Frame, protocol: Protocol) -> Encoded {
    match (frame, protocol) {
        (Frame::Text(payload), _) => Encoded {
            head: ws::header(ws::TEXT, payload.len(), None),
            payload,
        },
        (Frame::Binary(payload), Protocol::V4) => Encoded {
            head: ws::header(ws::BINARY, payload.len(), None),
            payload,
        },
        (Frame::Binary(payload), Protocol::V3 { .. }) => Encoded {
            head: ws::header(ws::BINARY, payload.len() + 1, None)
                .with_payload_prefix(V3_BINARY_TYPE),
            payload,
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

    use super::*;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;

    fn bytes_of(e: &Encoded) -> Vec<u8> {
        let mut v = e.head().to_vec();
        v.extend_from_slice(&e.payload);
        v
    }

    /// tungstenite (the client side of the interop tests' peers) reads back what we wrote.
    fn parse(wire: &[u8]) -> (FrameHeader, Vec<u8>) {
        let mut cur = std::io::Cursor::new(wire);
        let (header, len) = FrameHeader::parse(&mut cur).unwrap().unwrap();
        let start = usize::try_from(cur.position()).unwrap();
        let body = wire[start..].to_vec();
        assert_eq!(body.len() as u64, len, "declared length = payload length");
        (header, body)
    }

    #[test]
    fn every_length_class_round_trips_through_tungstenite() {
        for len in [0usize, 1, 125, 126, 127, 65_535, 65_536, 1 << 20] {
            let text = Frame::Text(Bytes::from(vec![b'a'; len]));
            let (h, body) = parse(&bytes_of(&encode(text, Protocol::V4)));
            assert!(h.is_final);
            assert!(h.mask.is_none(), "server frames are never masked");
            assert_eq!(h.opcode, OpCode::Data(Data::Text));
            assert_eq!(body.len(), len);

            let bin = Frame::Binary(Bytes::from(vec![7u8; len]));
            let (h, body) = parse(&bytes_of(&encode(bin, Protocol::V4)));
            assert_eq!(h.opcode, OpCode::Data(Data::Binary));
            assert_eq!(body, vec![7u8; len]);
        }
    }

    #[test]
    fn header_bytes_are_the_rfc_6455_ones() {
        let e = encode(Frame::Text(Bytes::from_static(b"42[\"a\"]")), Protocol::V4);
        assert_eq!(e.head(), &[0x81, 7]);
        assert_eq!(e.len(), 9);
        let e = encode(Frame::Binary(Bytes::from(vec![0u8; 300])), Protocol::V4);
        assert_eq!(e.head(), &[0x82, 126, 0x01, 0x2c]);
        let e = encode(Frame::Binary(Bytes::from(vec![0u8; 70_000])), Protocol::V4);
        assert_eq!(e.head(), &[0x82, 127, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70]);
    }

    #[test]
    fn v3_binary_messages_carry_the_type_byte_inside_the_length() {
        let e = encode(
            Frame::Binary(Bytes::from_static(&[1, 2, 3])),
            Protocol::V3 { b64: false },
        );
        let (h, body) = parse(&bytes_of(&e));
        assert_eq!(h.opcode, OpCode::Data(Data::Binary));
        assert_eq!(body, vec![4, 1, 2, 3]);
        // 125 bytes + the type byte no longer fit the short form.
        let e = encode(
            Frame::Binary(Bytes::from(vec![0u8; 125])),
            Protocol::V3 { b64: false },
        );
        assert_eq!(e.head(), &[0x82, 126, 0, 126, 4]);
    }
}
