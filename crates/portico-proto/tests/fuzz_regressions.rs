//! Inputs that broke a check of a fuzz target (fuzz/), each exactly as the target reads it,
//! with what it broke. Run as plain tests so that `cargo test` keeps them fixed.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use bytes::Bytes;
use std::borrow::Cow;

use portico_proto::sio::{
    decode_msgpack, encode_msgpack, Connection, DecodeError, Encoding, Limits, PacketType,
    ProtocolError, Received, Role, Version,
};
use serde_json::json;

/// `sio_connection` input: config byte `0x04` (server, v5, msgpack), then one binary
/// record (tag `0x01`, length `0x002c`) holding
/// `{type: 2, nsp: "/", data: ["e", {"_placeholder": true, "num": 0}, <bin 07>]}`.
///
/// The map shaped like a placeholder was taken for the packet's one attachment: the server
/// read the event as `["e", <bin 07>, <bin 07>]`, and writing it again gave another packet
/// (the round-trip check failed). Such a packet is now refused.
const FAKE_PLACEHOLDER_NEXT_TO_BINARY: &str =
    "0401002c83a47479706502a36e7370a12fa46461746193a16582ac5f706c616365686f6c646572c3a36e756d00c40107";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn msgpack_map_shaped_like_a_placeholder_next_to_binary_is_refused() {
    let input = hex(FAKE_PLACEHOLDER_NEXT_TO_BINARY);
    let message = &input[4..];
    assert_eq!(
        usize::from(u16::from_be_bytes([input[2], input[3]])),
        message.len()
    );
    let mut c = Connection::new(
        Role::Server,
        Version::V5,
        Encoding::MsgPack,
        Limits::default(),
    );
    assert_eq!(
        c.handle_binary(Bytes::copy_from_slice(message)),
        Err(ProtocolError::Decode(DecodeError::InvalidPlaceholder))
    );
}

#[test]
fn msgpack_placeholder_shaped_map_without_binary_is_plain_data() {
    // Without inline binary there is nothing to confuse it with: it stays an object, and
    // round-trips.
    let bytes: &[u8] =
        b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa1e\x82\xac_placeholder\xc3\xa3num\x00";
    let (packet, bins) = decode_msgpack(bytes, &Limits::default()).unwrap();
    assert!(bins.is_empty());
    let again = decode_msgpack(&encode_msgpack(&packet, &bins), &Limits::default()).unwrap();
    assert_eq!(again, (packet.clone(), bins));
    let mut c = Connection::new(
        Role::Server,
        Version::V5,
        Encoding::MsgPack,
        Limits::default(),
    );
    let got = c.handle_binary(Bytes::copy_from_slice(bytes)).unwrap();
    assert!(
        matches!(got, Some(Received::Event { ref binary, .. }) if binary.is_empty()),
        "{got:?}"
    );
}

/// `sio_msgpack` crash-e280dda5547efeefc72d2fc467da353fec24da56:
/// `{type: 6, nsp: "/", data: ["max"], id: 18446744073709551615}`, a BINARY_ACK without
/// binary inside. It decoded as a BINARY_ACK with no attachments, which encodes as an ACK
/// (type 3) and so decoded again as another packet. The type now says whether there is
/// binary: a 5 or 6 without binary is a plain event or ack.
#[test]
fn msgpack_binary_type_without_binary_is_a_plain_packet() {
    let input = hex("84a47479706506a36e7370a12fa46461746191a36d6178a26964cfffffffffffffffff");
    let (packet, bins) = decode_msgpack(&input, &Limits::default()).unwrap();
    assert_eq!(packet.kind, PacketType::Ack);
    assert_eq!((packet.attachments, bins.len()), (0, 0));
    let again = decode_msgpack(&encode_msgpack(&packet, &bins), &Limits::default()).unwrap();
    assert_eq!(again, (packet, bins));
}

/// `sio_connection` crash-ce1b976683994c5a2389d22a791e66759189a304: config `0x67` (client,
/// v4, msgpack), then one binary record holding
/// `{type: 4, nsp: "/", data: {message: "m", data: 120}, {code: 401}: "id"}` (and one stray
/// byte). A v4 server writing this refusal again wrote the data alone, `120`, which no
/// CONNECT_ERROR may carry: its own client refused the packet. A v4 CONNECT_ERROR now carries
/// the data only when it is an object or a string, else the message.
#[test]
fn v4_connect_error_with_data_that_is_not_an_object_or_string_carries_the_message() {
    let input = hex(concat!(
        "67010031",                                     // config, record: binary, 49 bytes
        "84a47479706504a36e7370a12f",                   // {type: 4, nsp: "/",
        "a46461746182a76d657373616765a16da46461746178", //  data: {message: "m", data: 120},
        "81a4636f6465ce00000191a26964",                 //  {code: 401}: "id"}
        "04",                                           // a stray byte
    ));
    let len = usize::from(u16::from_be_bytes([input[2], input[3]]));
    let message = &input[4..4 + len];
    let client = || {
        Connection::new(
            Role::Client,
            Version::V4,
            Encoding::MsgPack,
            Limits::default(),
        )
    };
    let got = client()
        .handle_binary(Bytes::copy_from_slice(message))
        .unwrap();
    let want = Received::ConnectError {
        nsp: Cow::Borrowed("/"),
        message: "m".to_owned(),
        data: Some(json!(120)),
    };
    assert_eq!(got, Some(want));

    // Written again by a v4 server, and read by a v4 client.
    let packet = client().connect_error("/", "m", Some(json!(120)));
    assert_eq!(packet.data, Some(json!("m")));
    let again = client()
        .handle_binary(encode_msgpack(&packet, &[]))
        .unwrap();
    let want = Received::ConnectError {
        nsp: Cow::Borrowed("/"),
        message: "m".to_owned(),
        data: None,
    };
    assert_eq!(again, Some(want));
    for data in [json!(null), json!([1]), json!(1.5), json!(true)] {
        let text = client().connect_error("/admin", "no", Some(data)).encode();
        assert_eq!(text, r#"4/admin,"no""#);
    }
    let text = client()
        .connect_error("/", "no", Some(json!({"code": 1})))
        .encode();
    assert_eq!(text, r#"4{"code":1}"#);
}
