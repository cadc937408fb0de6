//! Engine.IO v3 polling payload (POST body), both framings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portico_proto::engine::payload_v3::{
    decode_payload_v3, encode_payload_v3_binary, encode_payload_v3_string,
};
use portico_proto::engine::{Frame, Packet};

const MAX_PACKETS: usize = 64;

fuzz_target!(|data: &[u8]| {
    if let Ok(packets) = decode_payload_v3(data, MAX_PACKETS) {
        let frames: Vec<Frame> = packets.iter().map(Packet::to_frame).collect();
        let string = encode_payload_v3_string(&frames, true).expect("b64 carries binary");
        assert_eq!(
            decode_payload_v3(&string, MAX_PACKETS).as_ref(),
            Ok(&packets)
        );
        let binary = encode_payload_v3_binary(&frames);
        assert_eq!(decode_payload_v3(&binary, MAX_PACKETS), Ok(packets));
    }
});
