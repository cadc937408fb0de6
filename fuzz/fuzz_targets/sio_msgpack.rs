//! Socket.IO packets in the msgpack encoding (socket.io-msgpack-parser).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portico_proto::sio::{decode_msgpack, encode_msgpack, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok((packet, bins)) = decode_msgpack(data, &limits) {
        let encoded = encode_msgpack(&packet, &bins);
        let (again, again_bins) =
            decode_msgpack(&encoded, &limits).expect("re-encoded packet must decode");
        assert_eq!(again, packet);
        assert_eq!(again_bins, bins);
    }
});
