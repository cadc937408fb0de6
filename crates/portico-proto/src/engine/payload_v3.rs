//! Engine.IO v3 polling payloads and binary frames (socket.io-client 2.x).
//!
//! Spec: <https://github.com/socketio/engine.io-protocol/tree/v3#payload>. Two framings:
//!
//! - String: `<len>:<packet>` repeated, `len` counting UTF-16 code units (what JavaScript's
//!   `String.length` counts), not bytes: `6:4hello2:4€`. A binary packet is written
//!   `b4<base64>` (`b`, the type digit `4`, then base64): `10:b4AQIDBA==`.
//! - Binary (XHR2 clients): for each packet a header byte (`0x00` string, `0x01` binary), the
//!   decimal digits of its length in bytes, each as a byte `0..=9`, then `0xFF` and the
//!   packet. A string packet is its UTF-8 text; a binary packet is the type byte `4`
//!   followed by the data. (The spec's prose example omits that type byte; the reference
//!   parser, engine.io-parser 2.x, writes and expects it.)
//!
//! Over WebSocket, v3 binary frames also carry the leading type byte `4`
//! ([`decode_binary_frame_v3`], [`encode_binary_frame_v3`]).
//!
//! Packets and frames are the v4 types: [`Frame::Binary`] and [`Packet::Binary`] hold the data
//! without the type byte.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};

use super::packet::{DecodeError, Frame, Packet};
use super::payload::BASE64_LENIENT;

/// The type byte of a binary message in v3 (`message` = 4), in binary framing and
/// WebSocket frames.
const BINARY_TYPE: u8 = 4;
/// Most length digits accepted (10 digits already exceed any sane `maxPayload`).
const MAX_LEN_DIGITS: usize = 10;

/// Decode a v3 polling payload (a POST body), in either framing.
///
/// A body starting with `0x00` or `0x01` is the binary framing (those bytes cannot start a
/// string payload, which starts with a length digit); anything else is the string framing,
/// which must be UTF-8. Zero-length items of the string framing (`0:`) are skipped, as the
/// reference parser does, but a payload with no packet at all is [`DecodeError::Empty`]. `max_packets` caps the number of packets
/// ([`DecodeError::PayloadTooLarge`] past it).
///
/// # Errors
/// An empty body, a malformed or mismatched length ([`DecodeError::InvalidLength`]), an
/// unknown packet type, invalid UTF-8 or base64, or too many packets.
pub fn decode_payload_v3(body: &[u8], max_packets: usize) -> Result<Vec<Packet>, DecodeError> {
    match body.first() {
        None => Err(DecodeError::Empty),
        Some(0 | 1) => decode_binary(body, max_packets),
        Some(_) => {
            let text = std::str::from_utf8(body).map_err(|_| DecodeError::InvalidUtf8)?;
            decode_string(text, max_packets)
        }
    }
}

fn decode_string(mut rest: &str, max_packets: usize) -> Result<Vec<Packet>, DecodeError> {
    let mut packets = Vec::new();
    while !rest.is_empty() {
        let (len, after) = rest.split_once(':').ok_or(DecodeError::InvalidLength)?;
        let units = parse_len(len.bytes().map(|b| b.wrapping_sub(b'0')))?;
        let (item, after) = split_utf16(after, units).ok_or(DecodeError::InvalidLength)?;
        rest = after;
        if item.is_empty() {
            continue;
        }
        if packets.len() >= max_packets {
            return Err(DecodeError::PayloadTooLarge);
        }
        packets.push(decode_string_item(item)?);
    }
    if packets.is_empty() {
        return Err(DecodeError::Empty);
    }
    Ok(packets)
}

/// One string item: `b<type><base64>` or a text packet.
fn decode_string_item(item: &str) -> Result<Packet, DecodeError> {
    match item.strip_prefix('b') {
        Some(b64) => {
            let b64 = b64.as_bytes();
            match b64.first() {
                Some(b'4') => {}
                Some(&other) => return Err(DecodeError::UnknownType(other)),
                None => return Err(DecodeError::Empty),
            }
            let data = BASE64_LENIENT
                .decode(b64.get(1..).unwrap_or_default())
                .map_err(|_| DecodeError::InvalidBase64)?;
            Ok(Packet::Binary(Bytes::from(data)))
        }
        None => Packet::decode_text(Bytes::copy_from_slice(item.as_bytes())),
    }
}

/// Split `s` after `units` UTF-16 code units; `None` if `s` is shorter or the split would
/// fall inside a surrogate pair.
fn split_utf16(s: &str, units: usize) -> Option<(&str, &str)> {
    let mut count = 0;
    for (i, c) in s.char_indices() {
        if count == units {
            return s.split_at_checked(i);
        }
        count += c.len_utf16();
    }
    (count == units).then_some((s, ""))
}

fn decode_binary(body: &[u8], max_packets: usize) -> Result<Vec<Packet>, DecodeError> {
    let mut packets = Vec::new();
    let mut rest = body;
    while let Some((&header, after)) = rest.split_first() {
        let end = after
            .iter()
            .position(|&b| b == 0xFF)
            .ok_or(DecodeError::InvalidLength)?;
        let (digits, after) = after.split_at(end);
        let len = parse_len(digits.iter().copied())?;
        let after = after.get(1..).unwrap_or_default();
        let item = after.get(..len).ok_or(DecodeError::InvalidLength)?;
        rest = after.get(len..).unwrap_or_default();
        if packets.len() >= max_packets {
            return Err(DecodeError::PayloadTooLarge);
        }
        let packet = match header {
            0 => {
                let text = std::str::from_utf8(item).map_err(|_| DecodeError::InvalidUtf8)?;
                if text.is_empty() {
                    return Err(DecodeError::Empty);
                }
                decode_string_item(text)?
            }
            1 => decode_binary_frame_v3(Bytes::copy_from_slice(item))?,
            _ => return Err(DecodeError::InvalidLength),
        };
        packets.push(packet);
    }
    Ok(packets)
}

/// Parse a length from its digit values (each must be `0..=9`, at most
/// [`MAX_LEN_DIGITS`]).
fn parse_len(digits: impl ExactSizeIterator<Item = u8>) -> Result<usize, DecodeError> {
    if digits.len() == 0 || digits.len() > MAX_LEN_DIGITS {
        return Err(DecodeError::InvalidLength);
    }
    digits.into_iter().try_fold(0usize, |acc, d| {
        if d > 9 {
            return Err(DecodeError::InvalidLength);
        }
        acc.checked_mul(10)
            .and_then(|acc| acc.checked_add(usize::from(d)))
            .ok_or(DecodeError::InvalidLength)
    })
}

/// Decode a v3 binary frame (WebSocket binary message, or a binary item of a binary
/// payload): the type byte `4` followed by the data.
///
/// # Errors
/// [`DecodeError::Empty`] for an empty frame, [`DecodeError::UnknownType`] if the first byte
/// is not `4`.
pub fn decode_binary_frame_v3(frame: Bytes) -> Result<Packet, DecodeError> {
    match frame.first() {
        None => Err(DecodeError::Empty),
        Some(&BINARY_TYPE) => Ok(Packet::Binary(frame.slice(1..))),
        Some(&other) => Err(DecodeError::UnknownType(other)),
    }
}

/// Encode binary data as a v3 binary frame: the type byte `4` followed by `data`.
pub fn encode_binary_frame_v3(data: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(1 + data.len());
    buf.put_u8(BINARY_TYPE);
    buf.put_slice(data);
    buf.freeze()
}

/// Encode frames as a v3 payload the way the reference server picks the framing: the
/// binary framing if there is binary data and the client supports it (`b64` is false, i.e.
/// no `b64=1` in the query), else the string framing with binary as `b4<base64>`.
///
/// Send the binary framing as `application/octet-stream` and the string framing as
/// `text/plain; charset=UTF-8`; [`is_binary_payload_v3`] tells which one was chosen.
pub fn encode_payload_v3<'a>(frames: impl IntoIterator<Item = &'a Frame>, b64: bool) -> Bytes {
    let frames: Vec<&Frame> = frames.into_iter().collect();
    let has_binary = frames.iter().any(|f| matches!(f, Frame::Binary(_)));
    if has_binary && !b64 {
        encode_payload_v3_binary(frames)
    } else {
        encode_string(&frames)
    }
}

/// Whether a body from [`encode_payload_v3`] uses the binary framing.
pub fn is_binary_payload_v3(body: &[u8]) -> bool {
    matches!(body.first(), Some(0 | 1))
}

/// Encode frames in the v3 string framing: `<len>:<packet>`, `len` in UTF-16 code units.
///
/// With `b64` (the client sent `b64=1`), binary frames are written `b4<base64>`. Without
/// it the string framing cannot carry binary: the result is `None` if there is any binary
/// frame (use [`encode_payload_v3_binary`]). Text frames must be UTF-8.
pub fn encode_payload_v3_string<'a>(
    frames: impl IntoIterator<Item = &'a Frame>,
    b64: bool,
) -> Option<Bytes> {
    let frames: Vec<&Frame> = frames.into_iter().collect();
    if !b64 && frames.iter().any(|f| matches!(f, Frame::Binary(_))) {
        return None;
    }
    Some(encode_string(&frames))
}

fn encode_string(frames: &[&Frame]) -> Bytes {
    let size = frames
        .iter()
        .map(|f| f.payload_len().saturating_add(1 + MAX_LEN_DIGITS + 1));
    let mut buf = BytesMut::with_capacity(size.fold(0, usize::saturating_add));
    for frame in frames {
        match frame {
            Frame::Text(text) => {
                let units: usize = String::from_utf8_lossy(text)
                    .chars()
                    .map(char::len_utf16)
                    .sum();
                buf.put_slice(units.to_string().as_bytes());
                buf.put_u8(b':');
                buf.put_slice(text);
            }
            Frame::Binary(data) => {
                let b64 = STANDARD.encode(data);
                buf.put_slice((2 + b64.len()).to_string().as_bytes());
                buf.put_slice(b":b4");
                buf.put_slice(b64.as_bytes());
            }
        }
    }
    buf.freeze()
}

/// Encode frames in the v3 binary framing (for clients that support binary, i.e. without
/// `b64=1`): per frame `0x00|0x01`, the length digits as bytes, `0xFF`, then the UTF-8 text
/// or the type byte `4` and the data.
pub fn encode_payload_v3_binary<'a>(frames: impl IntoIterator<Item = &'a Frame>) -> Bytes {
    let frames: Vec<&Frame> = frames.into_iter().collect();
    let size = frames.iter().map(|f| match f {
        Frame::Text(t) | Frame::Binary(t) => t.len().saturating_add(2 + MAX_LEN_DIGITS + 1),
    });
    let mut buf = BytesMut::with_capacity(size.fold(0, usize::saturating_add));
    for frame in frames {
        let (header, len) = match frame {
            Frame::Text(text) => (0, text.len()),
            Frame::Binary(data) => (1, data.len().saturating_add(1)),
        };
        buf.put_u8(header);
        buf.extend(len.to_string().bytes().map(|d| d - b'0'));
        buf.put_u8(0xFF);
        match frame {
            Frame::Text(text) => buf.put_slice(text),
            Frame::Binary(data) => {
                buf.put_u8(BINARY_TYPE);
                buf.put_slice(data);
            }
        }
    }
    buf.freeze()
}

#[cfg(test)]
#[path = "payload_v3_tests.rs"]
mod tests;
