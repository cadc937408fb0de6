//! Inputs the `redis_codec` fuzz target (fuzz/) found, each exactly as found, with what it
//! broke. Run as plain tests so that `cargo test` keeps them fixed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use portico::cluster::{Body, Value};
use portico_redis::codec::{self, ClassicChannels};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// crash-95d743f55f4f3b52af140caece5d70c36b994a16: a classic broadcast (Node's golden
/// `io.volatile.compress(false).emit('flags')`, mutated) whose event name is the MessagePack
/// string `70 74 90 a5 66`, not UTF-8. It was kept as an invalid string, which sockets saw as
/// `""` and which encoded again as binary. It now reads lossily, as a string.
#[test]
fn msgpack_string_that_is_not_utf8_reads_as_a_string() {
    let input = hex(
        "93a64f645a72673283a47479706502a46461746191a5707490a5666c61677382a8766f6c6174696c65c3a8636f6d7072657373c2",
    );
    let m = codec::classic_decode_broadcast("/", &input).unwrap();
    let Body::Broadcast { data, .. } = &m.body else {
        panic!("{m:?}");
    };
    assert_eq!(data, &vec![Value::from("pt\u{fffd}\u{fffd}f")]);
    let ch = ClassicChannels::new("socket.io", "/", "abcdef");
    let out = codec::classic_encode(&ch, "/", "abcdef", &m);
    assert_eq!(
        codec::classic_decode_broadcast("/", &out.payload).unwrap(),
        m
    );
}
