//! Engine.IO v4 polling payload (POST body).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use portico_proto::engine::{decode_payload_v4, encode_payload_v4, Frame, Packet};

const MAX_PACKETS: usize = 64;

fuzz_target!(|data: &[u8]| {
    if let Ok(packets) = decode_payload_v4(Bytes::copy_from_slice(data), MAX_PACKETS) {
        let frames: Vec<Frame> = packets.iter().map(Packet::to_frame).collect();
        let body = encode_payload_v4(&frames);
        let again = decode_payload_v4(body, MAX_PACKETS).expect("re-encoded payload must decode");
        assert_eq!(again, packets);
    }
});
