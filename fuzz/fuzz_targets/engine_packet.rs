//! Engine.IO packet: text frames, binary frames (v4: raw bytes; v3: a `4` type byte first), and
//! WebSocket text messages.
//!
//! Checks: no panic; decode -> encode -> decode gives the same packet, for each form.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use portico_proto::engine::payload_v3::{decode_binary_frame_v3, encode_binary_frame_v3};
use portico_proto::engine::session::Protocol;
use portico_proto::engine::{Frame, Packet};

fuzz_target!(|data: &[u8]| {
    let frame = Bytes::copy_from_slice(data);
    for frame in [Frame::Text(frame.clone()), Frame::Binary(frame.clone())] {
        if let Ok(packet) = Packet::from_frame(frame) {
            let again =
                Packet::from_frame(packet.to_frame()).expect("re-encoded packet must decode");
            assert_eq!(again, packet);
        }
    }
    // What the WebSocket layer hands over is UTF-8; anything else must not panic either.
    if let Ok(packet) = Packet::decode_websocket_text(frame.clone()) {
        if std::str::from_utf8(data).is_ok() {
            assert_eq!(Packet::decode_text(frame.clone()).as_ref(), Ok(&packet));
        }
        let Frame::Text(text) = packet.to_frame() else {
            panic!("{packet:?} is not a text frame");
        };
        assert_eq!(Packet::decode_websocket_text(text), Ok(packet));
    }
    if let Ok(packet) = decode_binary_frame_v3(frame.clone()) {
        let Packet::Binary(bytes) = &packet else {
            panic!("a v3 binary frame decoded as {packet:?}");
        };
        assert_eq!(
            decode_binary_frame_v3(encode_binary_frame_v3(bytes)),
            Ok(packet.clone())
        );
        let v3 = Protocol::V3 { b64: false };
        assert_eq!(v3.decode_websocket_binary(frame), Ok(packet));
    }
});
