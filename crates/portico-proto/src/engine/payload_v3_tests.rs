//! Tests of the Engine.IO v3 payloads: the spec's vectors, malformed input, round trips.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use super::*;
use crate::test_rng::Rng;

fn b(s: &'static [u8]) -> Bytes {
    Bytes::from_static(s)
}

fn msg(s: &'static str) -> Packet {
    Packet::Message(Bytes::from_static(s.as_bytes()))
}

fn frames(packets: &[Packet]) -> Vec<Frame> {
    packets.iter().map(Packet::to_frame).collect()
}

const OPEN: &str = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}"#;

/// String framing, both directions (with `b64` for the binary rows).
fn golden_string() -> Vec<(&'static str, Vec<Packet>)> {
    vec![
        ("6:4hello2:4€", vec![msg("hello"), msg("€")]),
        (
            "2:4€10:b4AQIDBA==",
            vec![msg("€"), Packet::Binary(b(&[1, 2, 3, 4]))],
        ),
        ("4:4hey", vec![msg("hey")]),
        ("6:4hello6:4world", vec![msg("hello"), msg("world")]),
        ("1:4", vec![msg("")]),
        (
            "1:21:31:11:51:6",
            vec![
                Packet::Ping(Bytes::new()),
                Packet::Pong(Bytes::new()),
                Packet::Close,
                Packet::Upgrade,
                Packet::Noop,
            ],
        ),
        (
            "6:2probe6:3probe",
            vec![Packet::Ping(b(b"probe")), Packet::Pong(b(b"probe"))],
        ),
        // U+1F600 is two UTF-16 code units.
        ("3:4😀4:4a😀", vec![msg("😀"), msg("a😀")]),
        ("2:b4", vec![Packet::Binary(Bytes::new())]),
        ("9:42[\"a\",1]", vec![msg("2[\"a\",1]")]),
    ]
}

#[test]
fn golden_string_decode() {
    for (wire, packets) in golden_string() {
        assert_eq!(
            decode_payload_v3(wire.as_bytes(), 16),
            Ok(packets),
            "{wire}"
        );
    }
    let open = format!("96:{OPEN}");
    assert_eq!(
        decode_payload_v3(open.as_bytes(), 1),
        Ok(vec![Packet::Open(Bytes::from(&OPEN[1..]))])
    );
}

#[test]
fn golden_string_encode() {
    for (wire, packets) in golden_string() {
        let frames = frames(&packets);
        assert_eq!(
            encode_payload_v3_string(&frames, true),
            Some(Bytes::from(wire))
        );
        let has_binary = packets.iter().any(|p| matches!(p, Packet::Binary(_)));
        if has_binary {
            assert_eq!(encode_payload_v3_string(&frames, false), None);
        } else {
            assert_eq!(
                encode_payload_v3_string(&frames, false),
                Some(Bytes::from(wire))
            );
            assert_eq!(encode_payload_v3(&frames, false), wire.as_bytes());
        }
        assert_eq!(encode_payload_v3(&frames, true), wire.as_bytes());
    }
    // The spec's handshake example: 96 characters.
    let open = Packet::Open(Bytes::from(&OPEN[1..])).to_frame();
    assert_eq!(
        encode_payload_v3_string([&open], false),
        Some(Bytes::from(format!("96:{OPEN}")))
    );
}

/// Binary framing, both directions.
fn golden_binary() -> Vec<(&'static [u8], Vec<Packet>)> {
    vec![
        // The spec's example ("€" then <01 02 03 04>), with the type byte 4 before the binary
        // data as the reference parser writes it, so the length is 5.
        (
            &[
                0x00, 0x04, 0xff, 0x34, 0xe2, 0x82, 0xac, 0x01, 0x05, 0xff, 0x04, 0x01, 0x02, 0x03,
                0x04,
            ],
            vec![msg("€"), Packet::Binary(b(&[1, 2, 3, 4]))],
        ),
        // Multi-digit length: "4hello world" is 12 bytes.
        (b"\x00\x01\x02\xff4hello world", vec![msg("hello world")]),
        (b"\x01\x01\xff\x04", vec![Packet::Binary(Bytes::new())]),
        (
            b"\x00\x01\xff2\x00\x01\xff6",
            vec![Packet::Ping(Bytes::new()), Packet::Noop],
        ),
    ]
}

#[test]
fn golden_binary_decode() {
    for (wire, packets) in golden_binary() {
        assert_eq!(decode_payload_v3(wire, 16), Ok(packets), "{wire:?}");
    }
    // A base64 item inside the binary framing is accepted, as the reference parser does.
    assert_eq!(
        decode_payload_v3(b"\x00\x06\xffb4AQI=", 1),
        Ok(vec![Packet::Binary(b(&[1, 2]))])
    );
}

#[test]
fn golden_binary_encode() {
    for (wire, packets) in golden_binary() {
        let frames = frames(&packets);
        assert_eq!(encode_payload_v3_binary(&frames), wire);
        let has_binary = packets.iter().any(|p| matches!(p, Packet::Binary(_)));
        let chosen = encode_payload_v3(&frames, false);
        assert_eq!(is_binary_payload_v3(&chosen), has_binary);
        if has_binary {
            assert_eq!(chosen, wire);
        }
    }
}

#[test]
fn websocket_binary_frames() {
    assert_eq!(encode_binary_frame_v3(&[1, 2, 3]), b(&[4, 1, 2, 3]));
    assert_eq!(
        decode_binary_frame_v3(b(&[4, 1, 2, 3])),
        Ok(Packet::Binary(b(&[1, 2, 3])))
    );
    assert_eq!(
        decode_binary_frame_v3(b(&[4])),
        Ok(Packet::Binary(Bytes::new()))
    );
    assert_eq!(
        decode_binary_frame_v3(Bytes::new()),
        Err(DecodeError::Empty)
    );
    assert_eq!(
        decode_binary_frame_v3(b(&[2, 1])),
        Err(DecodeError::UnknownType(2))
    );
}

#[test]
fn empty_items_are_skipped() {
    assert_eq!(
        decode_payload_v3(b"0:6:4hello0:", 4),
        Ok(vec![msg("hello")])
    );
    assert_eq!(decode_payload_v3(b"0:", 4), Err(DecodeError::Empty));
}

#[test]
fn max_packets() {
    assert_eq!(decode_payload_v3(b"1:41:4", 2).map(|v| v.len()), Ok(2));
    assert_eq!(
        decode_payload_v3(b"1:41:41:4", 2),
        Err(DecodeError::PayloadTooLarge)
    );
    assert_eq!(
        decode_payload_v3(b"\x00\x01\xff4\x00\x01\xff4", 1),
        Err(DecodeError::PayloadTooLarge)
    );
}

#[test]
fn malformed() {
    use DecodeError::*;
    let cases: &[(&[u8], DecodeError)] = &[
        (b"", Empty),
        (b"4hello", InvalidLength),
        (b":4hello", InvalidLength),
        (b"a:4", InvalidLength),
        (b"-1:4", InvalidLength),
        (b"6:4hell", InvalidLength),
        (b"5:4hello", InvalidLength),
        (b"6:4hello6", InvalidLength),
        ("2:4😀".as_bytes(), InvalidLength),
        (b"99999999999:4", InvalidLength),
        (b"18446744073709551617:4", InvalidLength),
        (b"1:7", UnknownType(b'7')),
        (b"1:b", Empty),
        (b"3:b2A", UnknownType(b'2')),
        (b"6:b4AQ!D", InvalidBase64),
        (b"2:4\xff", InvalidUtf8),
        (b"\x00", InvalidLength),
        (b"\x00\xff", InvalidLength),
        (b"\x00\x00\xff", Empty),
        (b"\x02\x01\xff4", InvalidUtf8),
        (b"\x02:4", InvalidLength),
        (b"\x00\x0a\xff4444444444", InvalidLength),
        (
            b"\x00\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\xff4",
            InvalidLength,
        ),
        (b"\x00\x05\xff4h", InvalidLength),
        (b"\x00\x02\xff4\xff", InvalidUtf8),
        (b"\x01\x02\xff\x03\x01", UnknownType(3)),
        (b"\x01\x00\xff", Empty),
        (b"\x00\x01\xff9", UnknownType(b'9')),
    ];
    for (wire, err) in cases {
        assert_eq!(decode_payload_v3(wire, 16).as_ref(), Err(err), "{wire:?}");
    }
}

fn gen_packet(rng: &mut Rng) -> Packet {
    const TEXTS: &[&str] = &[
        "", "hello", "€", "😀", "a:b", "12:", "b4AQ==", "\u{1e}", "2[\"x\"]",
    ];
    let t = |rng: &mut Rng| -> Bytes {
        let n = rng.below(4);
        (0..n).map(|_| *rng.pick(TEXTS)).collect::<String>().into()
    };
    match rng.below(8) {
        0 => Packet::Open(t(rng)),
        1 => Packet::Close,
        2 => Packet::Ping(t(rng)),
        3 => Packet::Pong(t(rng)),
        4 => Packet::Message(t(rng)),
        5 => Packet::Upgrade,
        6 => Packet::Noop,
        _ => {
            let n = rng.below(300);
            let data: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            Packet::Binary(data.into())
        }
    }
}

#[test]
fn round_trip_generated_payloads() {
    let mut rng = Rng::new(3);
    for _ in 0..500 {
        let packets: Vec<Packet> = (0..1 + rng.below(5))
            .map(|_| gen_packet(&mut rng))
            .collect();
        let frames = frames(&packets);
        let string = encode_payload_v3_string(&frames, true).unwrap();
        assert_eq!(decode_payload_v3(&string, 8), Ok(packets.clone()));
        let binary = encode_payload_v3_binary(&frames);
        assert_eq!(decode_payload_v3(&binary, 8), Ok(packets.clone()));
        assert_eq!(
            decode_payload_v3(&encode_payload_v3(&frames, false), 8),
            Ok(packets)
        );
    }
}

#[test]
fn mutated_inputs_never_panic_and_round_trip() {
    let mut rng = Rng::new(9);
    let mut seeds: Vec<Vec<u8>> = golden_string()
        .into_iter()
        .map(|(w, _)| w.as_bytes().to_vec())
        .collect();
    seeds.extend(golden_binary().into_iter().map(|(w, _)| w.to_vec()));
    let interesting = b"0123456789:b4\x00\x01\xff";
    let mut decoded = 0;
    for _ in 0..20_000 {
        let mut bytes = rng.pick(&seeds).clone();
        rng.mutate(&mut bytes, interesting);
        if let Ok(packets) = decode_payload_v3(&bytes, 16) {
            decoded += 1;
            let frames = frames(&packets);
            let string = encode_payload_v3_string(&frames, true).unwrap();
            assert_eq!(
                decode_payload_v3(&string, 16).as_ref(),
                Ok(&packets),
                "{bytes:?}"
            );
            let binary = encode_payload_v3_binary(&frames);
            assert_eq!(decode_payload_v3(&binary, 16), Ok(packets), "{bytes:?}");
        }
    }
    assert!(decoded > 500, "mutations too destructive: {decoded}");
}
