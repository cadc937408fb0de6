//! Engine.IO packet: text frames and binary frames.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use portico_proto::engine::{Frame, Packet};

fuzz_target!(|data: &[u8]| {
    let frame = Bytes::copy_from_slice(data);
    for frame in [Frame::Text(frame.clone()), Frame::Binary(frame)] {
        if let Ok(packet) = Packet::from_frame(frame) {
            let again =
                Packet::from_frame(packet.to_frame()).expect("re-encoded packet must decode");
            assert_eq!(again, packet);
        }
    }
});
