//! Engine.IO v4 HTTP long-polling payloads.
//!
//! Spec: <https://github.com/socketio/engine.io-protocol#http-long-polling-1>. A payload is
//! the packets of one poll joined by the record separator `0x1E`; a binary packet is written
//! as `b` followed by its base64 (standard alphabet, padded):
//! `4hello` `0x1E` `4€` `0x1E` `bAQIDBA==`.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};

use super::packet::{decode_text_utf8, DecodeError, Frame, Packet};

/// The byte that separates packets in a v4 polling payload (ASCII record separator).
pub const SEPARATOR: u8 = 0x1E;

/// Decodes base64 with the standard alphabet, accepting it with or without padding (the
/// reference client pads; some clients do not).
pub(crate) const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decode a v4 polling payload (a POST body).
///
/// The body is split on `0x1E`; an item starting with `b` is a base64 binary message
/// (standard alphabet; padding optional), every other item is decoded with
/// [`Packet::decode_text`]. Text items are zero-copy slices of `body`.
///
/// `max_packets` caps the number of packets: past it the result is
/// [`DecodeError::PayloadTooLarge`], checked before anything is allocated. (The byte size of
/// the body is the caller's to cap, with the handshake's `maxPayload`.)
///
/// # Errors
/// An empty body or empty item ([`DecodeError::Empty`]), a body that is not UTF-8, an unknown
/// type digit, invalid base64, or too many packets.
pub fn decode_payload_v4(body: Bytes, max_packets: usize) -> Result<Vec<Packet>, DecodeError> {
    if body.is_empty() {
        return Err(DecodeError::Empty);
    }
    let count = body
        .iter()
        .filter(|&&b| b == SEPARATOR)
        .count()
        .saturating_add(1);
    if count > max_packets {
        return Err(DecodeError::PayloadTooLarge);
    }
    // The separator is ASCII, so every item of a UTF-8 body is UTF-8: validate once.
    std::str::from_utf8(&body).map_err(|_| DecodeError::InvalidUtf8)?;
    if count == 1 {
        // One packet (a client's usual POST): the body is the item, not searched again.
        return Ok(vec![decode_item(body)?]);
    }

    let mut packets = Vec::with_capacity(count);
    let mut start = 0;
    while start <= body.len() {
        let end = body
            .get(start..)
            .and_then(|rest| rest.iter().position(|&b| b == SEPARATOR))
            .map_or(body.len(), |i| start + i);
        packets.push(decode_item(body.slice(start..end))?);
        start = end + 1;
    }
    Ok(packets)
}

fn decode_item(item: Bytes) -> Result<Packet, DecodeError> {
    match item.first() {
        None => Err(DecodeError::Empty),
        Some(b'b') => {
            let b64 = item.get(1..).unwrap_or_default();
            BASE64_LENIENT
                .decode(b64)
                .map(|data| Packet::Binary(Bytes::from(data)))
                .map_err(|_| DecodeError::InvalidBase64)
        }
        Some(_) => decode_text_utf8(item),
    }
}

/// Encode frames as a v4 polling payload (a GET response body).
///
/// Frames are joined with `0x1E`; [`Frame::Binary`] becomes `b` + base64 (standard alphabet,
/// padded). The buffer is allocated once, pre-sized from [`Frame::payload_len`].
pub fn encode_payload_v4<'a>(frames: impl IntoIterator<Item = &'a Frame>) -> Bytes {
    let frames: Vec<&Frame> = frames.into_iter().collect();
    let size = frames
        .iter()
        .map(|f| f.payload_len())
        .fold(frames.len().saturating_sub(1), usize::saturating_add);
    let mut buf = BytesMut::with_capacity(size);
    for (i, frame) in frames.into_iter().enumerate() {
        if i > 0 {
            buf.put_u8(SEPARATOR);
        }
        match frame {
            Frame::Text(text) => buf.put_slice(text),
            Frame::Binary(data) => {
                buf.put_u8(b'b');
                let start = buf.len();
                let len = base64::encoded_len(data.len(), true).unwrap_or(0);
                buf.resize(start + len, 0);
                // The slice has exactly the encoded length, so this cannot fail.
                let _ = STANDARD.encode_slice(data, &mut buf[start..]);
            }
        }
    }
    buf.freeze()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

    use super::*;

    fn b(s: &'static [u8]) -> Bytes {
        Bytes::from_static(s)
    }

    /// Golden payloads: (wire, packets), valid in both directions.
    fn golden() -> Vec<(&'static [u8], Vec<Packet>)> {
        vec![
            (b"4", vec![Packet::Message(Bytes::new())]),
            (b"4hello", vec![Packet::Message(b(b"hello"))]),
            // The spec example: "hello", "€" and binary <01 02 03 04>.
            (
                "4hello\x1e4€\x1ebAQIDBA==".as_bytes(),
                vec![
                    Packet::Message(b(b"hello")),
                    Packet::Message(Bytes::from("€")),
                    Packet::Binary(b(&[1, 2, 3, 4])),
                ],
            ),
            (
                b"42[\"hello\"]\x1e42[\"world\"]",
                vec![
                    Packet::Message(b(b"2[\"hello\"]")),
                    Packet::Message(b(b"2[\"world\"]")),
                ],
            ),
            (
                b"4\x1e4",
                vec![Packet::Message(Bytes::new()), Packet::Message(Bytes::new())],
            ),
            (
                b"2\x1e6\x1e1",
                vec![Packet::Ping(Bytes::new()), Packet::Noop, Packet::Close],
            ),
            (
                b"3probe\x1e5",
                vec![Packet::Pong(b(b"probe")), Packet::Upgrade],
            ),
            (b"b", vec![Packet::Binary(Bytes::new())]),
            (
                b"bAQ==\x1ebAQI=\x1ebAQID",
                vec![
                    Packet::Binary(b(&[1])),
                    Packet::Binary(b(&[1, 2])),
                    Packet::Binary(b(&[1, 2, 3])),
                ],
            ),
            (
                "4😀 \u{1F600}\x1e451-[\"x\",{\"_placeholder\":true,\"num\":0}]\x1eb/w=="
                    .as_bytes(),
                vec![
                    Packet::Message(Bytes::from("😀 😀")),
                    Packet::Message(b(b"51-[\"x\",{\"_placeholder\":true,\"num\":0}]")),
                    Packet::Binary(b(&[0xff])),
                ],
            ),
        ]
    }

    #[test]
    fn golden_decode() {
        for (wire, packets) in golden() {
            assert_eq!(
                decode_payload_v4(b(wire), 16),
                Ok(packets),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
    }

    #[test]
    fn golden_encode() {
        for (wire, packets) in golden() {
            let frames: Vec<Frame> = packets.iter().map(Packet::to_frame).collect();
            let body = encode_payload_v4(&frames);
            assert_eq!(body, b(wire));
            let expected_len: usize =
                frames.iter().map(Frame::payload_len).sum::<usize>() + frames.len() - 1;
            assert_eq!(body.len(), expected_len);
        }
    }

    #[test]
    fn encode_empty_iterator_is_empty_body() {
        assert_eq!(encode_payload_v4(&[]), Bytes::new());
    }

    #[test]
    fn unpadded_base64_is_accepted() {
        assert_eq!(
            decode_payload_v4(b(b"bAQIDBA"), 1),
            Ok(vec![Packet::Binary(b(&[1, 2, 3, 4]))])
        );
    }

    #[test]
    fn max_packets() {
        assert_eq!(decode_payload_v4(b(b"4a\x1e4b"), 2).map(|v| v.len()), Ok(2));
        assert_eq!(
            decode_payload_v4(b(b"4a\x1e4b\x1e4c"), 2),
            Err(DecodeError::PayloadTooLarge)
        );
        assert_eq!(
            decode_payload_v4(b(b"4"), 0),
            Err(DecodeError::PayloadTooLarge)
        );
    }

    #[test]
    fn malformed() {
        let cases: &[(&[u8], DecodeError)] = &[
            (b"", DecodeError::Empty),
            (b"\x1e", DecodeError::Empty),
            (b"4a\x1e", DecodeError::Empty),
            (b"\x1e4a", DecodeError::Empty),
            (b"4a\x1e\x1e4b", DecodeError::Empty),
            (b"7", DecodeError::UnknownType(b'7')),
            (b"4a\x1e9", DecodeError::UnknownType(b'9')),
            (b"b!!!!", DecodeError::InvalidBase64),
            (b"bAQIDBA===", DecodeError::InvalidBase64),
            (b"bA", DecodeError::InvalidBase64),
            (b"b AQID", DecodeError::InvalidBase64),
            (b"bAQ-_", DecodeError::InvalidBase64),
            (b"4\xff", DecodeError::InvalidUtf8),
            (b"4ok\x1e4\xff\xfe", DecodeError::InvalidUtf8),
            (b"b\xff", DecodeError::InvalidUtf8),
        ];
        for (wire, err) in cases {
            assert_eq!(
                decode_payload_v4(b(wire), 16).as_ref(),
                Err(err),
                "{wire:?}"
            );
        }
    }

    #[test]
    fn text_items_are_zero_copy() {
        let body = Bytes::from(b"4hello\x1e4world".to_vec());
        let packets = decode_payload_v4(body.clone(), 4).unwrap();
        let Packet::Message(second) = &packets[1] else {
            panic!("not a message")
        };
        assert_eq!(second.as_ptr(), body[8..].as_ptr());
    }

    /// Mutated golden payloads: decode never panics, and whatever decodes round-trips.
    #[test]
    fn mutated_inputs_never_panic_and_round_trip() {
        let mut rng = crate::test_rng::Rng::new(7);
        let seeds: Vec<&[u8]> = golden().into_iter().map(|(w, _)| w).collect();
        let mut decoded = 0;
        for _ in 0..20_000 {
            let mut bytes = rng.pick(&seeds).to_vec();
            rng.mutate(&mut bytes, b"0123456b\x1e=+/A");
            if let Ok(packets) = decode_payload_v4(Bytes::from(bytes), 16) {
                decoded += 1;
                let frames: Vec<Frame> = packets.iter().map(Packet::to_frame).collect();
                assert_eq!(
                    decode_payload_v4(encode_payload_v4(&frames), 16),
                    Ok(packets)
                );
            }
        }
        assert!(decoded > 1000, "mutations too destructive: {decoded}");
    }
}
