//! Cluster messages from Redis (Node's @socket.io/redis-adapter formats): decoding any bytes
//! never panics, and a decoded message encodes again without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portico_redis::codec::{self, ClassicChannels, Sharded, SubscriptionMode};

fuzz_target!(|data: &[u8]| {
    let ch = ClassicChannels::new("socket.io", "/", "abcdef");
    if let Ok(msg) = codec::classic_decode_broadcast("/", data) {
        let _ = codec::classic_encode(&ch, "/", "abcdef", &msg);
    }
    if let Ok(Some(msg)) = codec::classic_decode_request(data) {
        let _ = codec::classic_encode(&ch, "/", "abcdef", &msg);
        let _ = codec::sharded_encode("socket.io", "/", "abcdef", SubscriptionMode::Dynamic, &msg);
    }
    if let Ok(Some(resp)) = codec::classic_decode_response(data) {
        let _ = codec::classic_encode_response(&ch, &resp);
    }
    match codec::sharded_decode("/", data) {
        Ok(Some(Sharded::Message(msg))) => {
            let _ = codec::sharded_encode("socket.io", "/", "abcdef", SubscriptionMode::Static, &msg);
        }
        Ok(Some(Sharded::Response(resp))) => {
            let _ = codec::sharded_encode_response("socket.io", "/", "abcdef", "req", &resp);
        }
        _ => {}
    }
});
