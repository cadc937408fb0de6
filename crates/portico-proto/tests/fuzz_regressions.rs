//! Inputs that broke a check of a fuzz target (fuzz/), each exactly as the target reads it,
//! with what it broke. Run as plain tests so that `cargo test` keeps them fixed.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use bytes::Bytes;
use portico_proto::sio::{
    decode_msgpack, encode_msgpack, Connection, DecodeError, Encoding, Limits, PacketType,
    ProtocolError, Received, Role, Version,
};

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
