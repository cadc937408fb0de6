//! Socket.IO packet text (the Engine.IO message data).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portico_proto::sio::{Limits, Packet};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = Limits::default();
    if let Ok(packet) = Packet::decode(text, &limits) {
        let encoded = packet.encode();
        let again = Packet::decode(&encoded, &limits).expect("re-encoded packet must decode");
        assert_eq!(again, packet);
        assert_eq!(&packet.encode_engine_frame()[1..], encoded.as_bytes());
    }
});
