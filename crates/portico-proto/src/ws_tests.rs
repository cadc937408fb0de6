#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use super::*;
use crate::test_rng::Rng;

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Decode every frame of `wire` in one go; the messages, in order.
fn decode_all(d: &mut Decoder, wire: &[u8]) -> Result<Vec<Message>, WsError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < wire.len() {
        match d.decode(&wire[at..])? {
            Decoded::Frame { consumed, message } => {
                assert!(consumed > 0);
                at += consumed;
                out.extend(message);
            }
            Decoded::Incomplete { needed } => panic!("incomplete at {at}: needs {needed}"),
        }
    }
    Ok(out)
}

fn client() -> Decoder {
    Decoder::new(Role::Client, 1 << 20)
}

fn server() -> Decoder {
    Decoder::new(Role::Server, 1 << 20)
}

/// A masked (client) frame with `first` as its first header byte.
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = header(first & 0x0F, payload.len(), Some(MASK))
        .as_bytes()
        .to_vec();
    h[0] = first;
    let start = h.len();
    h.extend_from_slice(payload);
    apply_mask(&mut h[start..], MASK);
    h
}

/// An unmasked (server) frame with `first` as its first header byte.
fn unmasked(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = header(first & 0x0F, payload.len(), None)
        .as_bytes()
        .to_vec();
    h[0] = first;
    h.extend_from_slice(payload);
    h
}

// --- the examples of RFC 6455 section 5.7 --------------------------------------------------------

#[test]
fn rfc_single_frame_unmasked_text() {
    let wire = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(
        decode_all(&mut client(), &wire).unwrap(),
        vec![Message::Text(Bytes::from_static(b"Hello"))]
    );
    // A server refuses it: client frames must be masked.
    assert_eq!(server().decode(&wire), Err(WsError::Unmasked));
}

#[test]
fn rfc_single_frame_masked_text() {
    let wire = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        decode_all(&mut server(), &wire).unwrap(),
        vec![Message::Text(Bytes::from_static(b"Hello"))]
    );
    assert_eq!(client().decode(&wire), Err(WsError::Masked));
    // And the same bytes are what this module's encoder produces.
    assert_eq!(masked(0x81, b"Hello"), wire.to_vec());
}

#[test]
fn rfc_fragmented_unmasked_text() {
    let mut d = client();
    let first = [0x01, 0x03, 0x48, 0x65, 0x6c];
    let last = [0x80, 0x02, 0x6c, 0x6f];
    assert_eq!(
        d.decode(&first).unwrap(),
        Decoded::Frame {
            consumed: 5,
            message: None
        }
    );
    assert_eq!(d.buffered(), 3);
    assert_eq!(
        d.decode(&last).unwrap(),
        Decoded::Frame {
            consumed: 4,
            message: Some(Message::Text(Bytes::from_static(b"Hello")))
        }
    );
    assert_eq!(d.buffered(), 0);
}

#[test]
fn rfc_ping_and_pong() {
    let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(
        decode_all(&mut client(), &ping).unwrap(),
        vec![Message::Ping(Bytes::from_static(b"Hello"))]
    );
    let pong = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        decode_all(&mut server(), &pong).unwrap(),
        vec![Message::Pong(Bytes::from_static(b"Hello"))]
    );
}

#[test]
fn rfc_extended_lengths() {
    let body = vec![9u8; 256];
    let mut wire = vec![0x82, 0x7E, 0x01, 0x00];
    wire.extend_from_slice(&body);
    assert_eq!(header(BINARY, 256, None).as_bytes(), &wire[..4]);
    assert_eq!(
        decode_all(&mut client(), &wire).unwrap(),
        vec![Message::Binary(Bytes::from(body))]
    );

    let body = vec![1u8; 65_536];
    let mut wire = vec![0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0];
    wire.extend_from_slice(&body);
    assert_eq!(header(BINARY, 65_536, None).as_bytes(), &wire[..10]);
    assert_eq!(
        decode_all(&mut client(), &wire).unwrap(),
        vec![Message::Binary(Bytes::from(body))]
    );
}

// --- every length class, both roles, split at every byte -----------------------------------------

#[test]
fn every_length_class_round_trips_masked_and_unmasked() {
    for len in [0usize, 1, 7, 8, 9, 125, 126, 127, 65_535, 65_536, 70_000] {
        let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let m = decode_all(&mut server(), &masked(0x82, &body)).unwrap();
        assert_eq!(
            m,
            vec![Message::Binary(Bytes::from(body.clone()))],
            "len {len}"
        );
        let m = decode_all(&mut client(), &unmasked(0x82, &body)).unwrap();
        assert_eq!(m, vec![Message::Binary(Bytes::from(body))], "len {len}");
    }
}

#[test]
fn a_frame_split_anywhere_says_what_it_still_needs() {
    let wire = masked(0x81, "42[\"echo\",\"héllo\"]".as_bytes());
    for cut in 0..wire.len() {
        let mut d = server();
        match d.decode(&wire[..cut]).unwrap() {
            Decoded::Incomplete { needed } => {
                assert!(needed > cut, "cut {cut}: needs {needed}");
                assert!(needed <= wire.len(), "cut {cut}: needs {needed}");
            }
            other => panic!("cut {cut}: {other:?}"),
        }
        // Nothing was consumed or remembered: the whole frame decodes afterwards.
        assert_eq!(d.buffered(), 0);
        assert!(matches!(
            d.decode(&wire).unwrap(),
            Decoded::Frame { consumed, message: Some(Message::Text(_)) } if consumed == wire.len()
        ));
    }
}

#[test]
fn frames_back_to_back_decode_one_at_a_time() {
    let mut wire = masked(0x81, b"4hello");
    wire.extend(masked(0x89, b"p"));
    wire.extend(masked(0x82, &[1, 2, 3]));
    assert_eq!(
        decode_all(&mut server(), &wire).unwrap(),
        vec![
            Message::Text(Bytes::from_static(b"4hello")),
            Message::Ping(Bytes::from_static(b"p")),
            Message::Binary(Bytes::from_static(&[1, 2, 3])),
        ]
    );
}

#[test]
fn control_frames_may_interleave_a_fragmented_message() {
    let mut wire = masked(0x02, &[1, 2]);
    wire.extend(masked(0x89, b""));
    wire.extend(masked(0x00, &[3]));
    wire.extend(masked(0x80, &[4]));
    assert_eq!(
        decode_all(&mut server(), &wire).unwrap(),
        vec![
            Message::Ping(Bytes::new()),
            Message::Binary(Bytes::from_static(&[1, 2, 3, 4])),
        ]
    );
}

// --- what a peer must not send ------------------------------------------------------------------

#[test]
fn protocol_violations_are_errors_with_their_close_code() {
    let cases: Vec<(&str, Vec<u8>, WsError, u16)> = vec![
        ("rsv1", masked(0xC1, b"x"), WsError::ReservedBits, 1002),
        ("rsv3", masked(0x91, b"x"), WsError::ReservedBits, 1002),
        (
            "opcode 3",
            masked(0x83, b"x"),
            WsError::UnknownOpcode(3),
            1002,
        ),
        (
            "opcode 0xB",
            masked(0x8B, b""),
            WsError::UnknownOpcode(0xB),
            1002,
        ),
        (
            "fragmented ping",
            masked(0x09, b""),
            WsError::BadControlFrame,
            1002,
        ),
        (
            "long ping",
            masked(0x89, &[0; 126]),
            WsError::BadControlFrame,
            1002,
        ),
        (
            "lone continuation",
            masked(0x80, b"x"),
            WsError::UnexpectedContinuation,
            1002,
        ),
        (
            "not utf-8",
            masked(0x81, &[0xff, 0xfe]),
            WsError::InvalidUtf8,
            1007,
        ),
        (
            "close code 1005",
            masked(0x88, &1005u16.to_be_bytes()),
            WsError::InvalidCloseCode(1005),
            1002,
        ),
        (
            "close code 999",
            masked(0x88, &999u16.to_be_bytes()),
            WsError::InvalidCloseCode(999),
            1002,
        ),
        (
            "close code 2000",
            masked(0x88, &2000u16.to_be_bytes()),
            WsError::InvalidCloseCode(2000),
            1002,
        ),
        (
            "close of one byte",
            masked(0x88, &[3]),
            WsError::InvalidCloseCode(0),
            1002,
        ),
        (
            "close reason not utf-8",
            masked(0x88, &[0x03, 0xe8, 0xff]),
            WsError::InvalidUtf8,
            1007,
        ),
    ];
    for (name, wire, err, code) in cases {
        let got = decode_all(&mut server(), &wire);
        assert_eq!(got, Err(err.clone()), "{name}");
        assert_eq!(err.close_code(), code, "{name}");
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn a_new_message_inside_a_fragmented_one_is_an_error() {
    let mut d = server();
    decode_all(&mut d, &masked(0x01, b"ab")).unwrap();
    assert_eq!(
        d.decode(&masked(0x81, b"c")),
        Err(WsError::InterruptedMessage)
    );
}

#[test]
fn a_top_bit_64_bit_length_is_an_error() {
    let wire = [0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1];
    assert_eq!(client().decode(&wire), Err(WsError::BadLength));
}

#[test]
fn valid_close_frames_decode_with_code_and_reason() {
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice("bye ✓".as_bytes());
    assert_eq!(
        decode_all(&mut server(), &masked(0x88, &payload)).unwrap(),
        vec![Message::Close(Some(CloseFrame {
            code: 1000,
            reason: "bye ✓".into()
        }))]
    );
    assert_eq!(
        decode_all(&mut server(), &masked(0x88, b"")).unwrap(),
        vec![Message::Close(None)]
    );
    for code in [1001u16, 1011, 1014, 3000, 4999] {
        let m = decode_all(&mut server(), &masked(0x88, &code.to_be_bytes())).unwrap();
        assert!(matches!(&m[..], [Message::Close(Some(c))] if c.code == code));
    }
}

// --- the size limit holds before the payload arrives ---------------------------------------------

#[test]
fn an_oversized_frame_is_refused_from_its_header_alone() {
    let mut d = Decoder::new(Role::Server, 1000);
    // Only the header of a 1001-byte frame has arrived.
    let wire = masked(0x82, &[0; 1001]);
    assert_eq!(d.decode(&wire[..8]), Err(WsError::TooLarge { limit: 1000 }));
    // A 64-bit length the machine could never hold, same.
    let huge = [0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
    assert_eq!(d.decode(&huge), Err(WsError::TooLarge { limit: 1000 }));
    // Exactly at the limit is fine.
    let ok = masked(0x82, &[0; 1000]);
    assert!(matches!(
        Decoder::new(Role::Server, 1000).decode(&ok),
        Ok(Decoded::Frame { .. })
    ));
}

#[test]
fn the_limit_counts_every_fragment_of_a_message() {
    let mut d = Decoder::new(Role::Server, 10);
    decode_all(&mut d, &masked(0x02, &[0; 6])).unwrap();
    let next = masked(0x80, &[0; 5]);
    assert_eq!(d.decode(&next[..2]), Err(WsError::TooLarge { limit: 10 }));
}

// --- encoders -----------------------------------------------------------------------------------

#[test]
fn masking_is_its_own_inverse_and_matches_the_definition() {
    let mut rng = Rng::new(7);
    for len in 0..100 {
        let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let mask = (rng.next_u64() as u32).to_be_bytes();
        let mut fast = data.clone();
        apply_mask(&mut fast, mask);
        let slow: Vec<u8> = data
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        assert_eq!(fast, slow, "len {len}");
        apply_mask(&mut fast, mask);
        assert_eq!(fast, data);
    }
}

#[test]
fn control_frames_and_close_payloads() {
    assert_eq!(control_frame(PONG, b"hi", None), vec![0x8A, 2, b'h', b'i']);
    let f = control_frame(CLOSE, &close_payload(1000, ""), Some(MASK));
    assert_eq!(
        decode_all(&mut server(), &f).unwrap(),
        vec![Message::Close(Some(CloseFrame {
            code: 1000,
            reason: String::new()
        }))]
    );
    // A long reason is cut to fit 125 bytes, on a character boundary.
    let p = close_payload(1001, &"é".repeat(100));
    assert!(p.len() <= 125);
    assert!(std::str::from_utf8(&p[2..]).is_ok());
    // A control frame never exceeds 125 bytes of payload.
    assert_eq!(control_frame(PING, &[0; 200], None).len(), 2 + 125);
}

// --- hostile input ------------------------------------------------------------------------------

#[test]
fn mutated_streams_never_panic_and_never_overrun_the_limit() {
    let mut rng = Rng::new(0x5EED);
    let mut seed = masked(0x01, b"42[\"a\",");
    seed.extend(masked(0x89, b"ping"));
    seed.extend(masked(0x80, b"1]"));
    seed.extend(masked(0x82, &[0; 300]));
    seed.extend(masked(0x88, &1000u16.to_be_bytes()));
    for _ in 0..20_000 {
        let mut wire = seed.clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(wire.len());
            match rng.below(3) {
                0 => wire[i] = rng.next_u64() as u8,
                1 => wire.truncate(i),
                _ => wire.insert(i, rng.next_u64() as u8),
            }
            if wire.is_empty() {
                break;
            }
        }
        for role in [Role::Server, Role::Client] {
            let mut d = Decoder::new(role, 512);
            let mut at = 0;
            while at < wire.len() {
                match d.decode(&wire[at..]) {
                    Ok(Decoded::Frame { consumed, .. }) => {
                        assert!(consumed > 0 && at + consumed <= wire.len());
                        at += consumed;
                    }
                    Ok(Decoded::Incomplete { needed }) => {
                        assert!(needed > wire.len() - at);
                        // A frame the decoder waits for fits the limit (plus its header).
                        assert!(needed <= 512 + 14, "needed {needed}");
                        break;
                    }
                    Err(_) => break,
                }
                assert!(d.buffered() <= 512);
            }
        }
    }
}

// --- Reader: frames across reads ------------------------------------------------------------------

/// Feed `wire` to a reader in reads of `chunk` bytes; every message, in order.
fn read_in_chunks(wire: &[u8], chunk: usize, role: Role) -> Result<Vec<Message>, WsError> {
    let mut r = Reader::new(role, 1 << 20);
    let mut out = Vec::new();
    for piece in wire.chunks(chunk) {
        if let Some(m) = r.next_from(piece)? {
            out.push(m);
        }
        while let Some(m) = r.next_buffered()? {
            out.push(m);
        }
        assert!(r.buffered() <= wire.len());
    }
    assert_eq!(r.buffered(), 0, "nothing left over");
    Ok(out)
}

#[test]
fn the_reader_gives_the_same_messages_however_the_bytes_are_cut() {
    let mut wire = Vec::new();
    let mut want = Vec::new();
    for i in 0..40usize {
        let body: Vec<u8> = (0..(i * 37) % 300).map(|j| b'a' + (j % 26) as u8).collect();
        wire.extend(masked(0x81, &body));
        want.push(Message::Text(Bytes::from(body)));
    }
    wire.extend(masked(0x02, b"ab"));
    wire.extend(masked(0x89, b"!"));
    wire.extend(masked(0x80, b"cd"));
    want.push(Message::Ping(Bytes::from_static(b"!")));
    want.push(Message::Binary(Bytes::from_static(b"abcd")));
    for chunk in [1, 2, 3, 7, 64, 100, 4096, wire.len()] {
        assert_eq!(
            read_in_chunks(&wire, chunk, Role::Server).unwrap(),
            want,
            "chunk {chunk}"
        );
    }
}

#[test]
fn initial_bytes_start_the_stream() {
    let mut wire = unmasked(0x81, b"0{}");
    wire.extend(unmasked(0x81, b"40"));
    let mut r = Reader::new(Role::Client, 100).with_initial(&wire[..4]);
    assert_eq!(r.next_buffered().unwrap(), None);
    assert_eq!(
        r.next_from(&wire[4..]).unwrap(),
        Some(Message::Text(Bytes::from_static(b"0{}")))
    );
    assert_eq!(
        r.next_buffered().unwrap(),
        Some(Message::Text(Bytes::from_static(b"40")))
    );
    assert_eq!(r.next_buffered().unwrap(), None);
}

#[test]
fn the_reader_reports_errors_and_caps_what_it_keeps() {
    let mut r = Reader::new(Role::Server, 100);
    // Half of a frame over the limit: refused from its header, nothing kept.
    let big = masked(0x82, &[0; 101]);
    assert_eq!(
        r.next_from(&big[..50]),
        Err(WsError::TooLarge { limit: 100 })
    );
    r.clear();
    assert_eq!(r.buffered(), 0);
    assert_eq!(
        read_in_chunks(&unmasked(0x81, b"x"), 1, Role::Server),
        Err(WsError::Unmasked)
    );
}

#[test]
fn the_accept_key_of_the_rfc_example() {
    // RFC 6455 section 1.3.
    assert_eq!(
        accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    let key = AcceptKey::of(b"dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(key.as_str(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(key.as_bytes(), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(
        format!("{key:?}"),
        "AcceptKey(\"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\")"
    );
}
