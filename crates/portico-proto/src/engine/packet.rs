//! One Engine.IO packet and its wire form.
//!
//! Spec: <https://github.com/socketio/engine.io-protocol#packet-encoding>. A text packet is a
//! type digit followed by UTF-8 data (`4hello`, `2probe`, `6`); in Engine.IO v4 a binary packet
//! is the raw bytes with no type byte (over WebSocket) or `b` + base64 (inside a polling
//! payload, see [`super::payload`]).

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

/// An Engine.IO packet.
///
/// Text-carrying variants hold the UTF-8 data after the type character (possibly empty): the
/// text frame `4hello` is `Message("hello")`, `2probe` is `Ping("probe")`. [`Packet::Binary`]
/// is a binary message (an Engine.IO `message` whose data is bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// `0`: the handshake, sent by the server; data is the JSON handshake
    /// (see [`super::Handshake`]).
    Open(Bytes),
    /// `1`: close the session. Any data after the type digit is ignored.
    Close,
    /// `2`: ping (sent by the server in v4, by the client in v3; `2probe` during upgrade).
    Ping(Bytes),
    /// `3`: pong, the answer to a ping, echoing its data (`3probe`).
    Pong(Bytes),
    /// `4`: a text message; data is UTF-8 (for Socket.IO, an encoded Socket.IO packet).
    Message(Bytes),
    /// A binary message: the raw bytes, no type byte.
    Binary(Bytes),
    /// `5`: completes a transport upgrade. Any data after the type digit is ignored.
    Upgrade,
    /// `6`: no-op, used to end a pending poll during an upgrade. Any data is ignored.
    Noop,
}

/// What goes on the wire for one packet.
///
/// Over WebSocket a frame is one WebSocket message of the same kind; in a polling payload
/// frames are joined (see [`super::encode_payload_v4`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text frame: the FULL engine text, type character included, e.g. `b"42[\"a\"]"`.
    /// Always UTF-8 when produced by this crate.
    Text(Bytes),
    /// Raw binary data (Engine.IO v4: no type byte).
    Binary(Bytes),
}

/// Why bytes from the peer are not a valid Engine.IO packet or payload.
///
/// Compare variants in tests; the [`fmt::Display`] text is not API.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame, payload or one payload item is empty.
    Empty,
    /// The first byte is not a known packet type (`'0'..='6'`); holds that byte.
    UnknownType(u8),
    /// Text data is not valid UTF-8.
    InvalidUtf8,
    /// A `b`-prefixed payload item is not valid base64 (standard alphabet).
    InvalidBase64,
    /// The payload holds more packets (or larger items) than the caller allows.
    PayloadTooLarge,
    /// An Engine.IO v3 payload's length prefix is missing, malformed or does not match the data.
    InvalidLength,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Empty => f.write_str("empty engine.io packet"),
            DecodeError::UnknownType(b) => write!(f, "unknown engine.io packet type byte {b:#04x}"),
            DecodeError::InvalidUtf8 => f.write_str("engine.io text is not valid UTF-8"),
            DecodeError::InvalidBase64 => f.write_str("invalid base64 in engine.io payload"),
            DecodeError::PayloadTooLarge => f.write_str("engine.io payload too large"),
            DecodeError::InvalidLength => f.write_str("invalid engine.io v3 payload length"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl Packet {
    /// Decode a text frame or one polling payload item: the first byte is the type digit
    /// `'0'..='6'`, the rest is the data.
    ///
    /// The whole input must be UTF-8 (it is validated). The data is a zero-copy slice of
    /// `frame`. `b`-prefixed base64 items are handled by the payload decoders, not here.
    pub fn decode_text(frame: Bytes) -> Result<Packet, DecodeError> {
        std::str::from_utf8(&frame).map_err(|_| DecodeError::InvalidUtf8)?;
        decode_text_utf8(frame)
    }

    /// Decode the text of a WebSocket text message, which the WebSocket layer has already
    /// checked is UTF-8 (RFC 6455 requires it): [`Packet::decode_text`] without checking a
    /// second time. Bytes that are not UTF-8 still decode without panicking; the Socket.IO
    /// decoder rejects such data later.
    pub fn decode_websocket_text(frame: Bytes) -> Result<Packet, DecodeError> {
        decode_text_utf8(frame)
    }

    /// Decode any frame: [`Frame::Text`] via [`Packet::decode_text`], [`Frame::Binary`] as
    /// [`Packet::Binary`] (Engine.IO v4 binary frames have no type byte).
    pub fn from_frame(frame: Frame) -> Result<Packet, DecodeError> {
        match frame {
            Frame::Text(text) => Packet::decode_text(text),
            Frame::Binary(data) => Ok(Packet::Binary(data)),
        }
    }

    /// The type digit of this packet (`b'0'..=b'6'`); [`Packet::Binary`] is a message (`b'4'`).
    pub fn type_char(&self) -> u8 {
        match self {
            Packet::Open(_) => b'0',
            Packet::Close => b'1',
            Packet::Ping(_) => b'2',
            Packet::Pong(_) => b'3',
            Packet::Message(_) | Packet::Binary(_) => b'4',
            Packet::Upgrade => b'5',
            Packet::Noop => b'6',
        }
    }

    /// Encode to a [`Frame`] (Engine.IO v4): [`Packet::Binary`] becomes [`Frame::Binary`] with
    /// the raw bytes (no copy); every other packet becomes [`Frame::Text`] with the type
    /// character followed by the data (one allocation).
    pub fn to_frame(&self) -> Frame {
        let data: &[u8] = match self {
            Packet::Binary(data) => return Frame::Binary(data.clone()),
            Packet::Open(d) | Packet::Ping(d) | Packet::Pong(d) | Packet::Message(d) => d,
            Packet::Close | Packet::Upgrade | Packet::Noop => &[],
        };
        let mut buf = BytesMut::with_capacity(1 + data.len());
        buf.put_u8(self.type_char());
        buf.put_slice(data);
        Frame::Text(buf.freeze())
    }
}

/// Decode a text packet already known to be UTF-8 (so any slice after the ASCII type digit
/// is UTF-8 too).
pub(crate) fn decode_text_utf8(mut frame: Bytes) -> Result<Packet, DecodeError> {
    let first = *frame.first().ok_or(DecodeError::Empty)?;
    // Advancing the owned `Bytes` moves its start; slicing would clone it, which allocates
    // for bytes that came from a `Vec`.
    let data = move || {
        bytes::Buf::advance(&mut frame, 1);
        frame
    };
    Ok(match first {
        b'0' => Packet::Open(data()),
        b'1' => Packet::Close,
        b'2' => Packet::Ping(data()),
        b'3' => Packet::Pong(data()),
        b'4' => Packet::Message(data()),
        b'5' => Packet::Upgrade,
        b'6' => Packet::Noop,
        other => return Err(DecodeError::UnknownType(other)),
    })
}

impl Frame {
    /// Length in bytes of this frame's contribution to an Engine.IO v4 polling payload,
    /// separators excluded: the text length, or for binary `1 + ` the padded base64 length.
    pub fn payload_len(&self) -> usize {
        match self {
            Frame::Text(text) => text.len(),
            Frame::Binary(data) => {
                base64::encoded_len(data.len(), true).map_or(usize::MAX, |n| n.saturating_add(1))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

    use super::*;

    fn b(s: &'static [u8]) -> Bytes {
        Bytes::from_static(s)
    }

    /// Golden vectors: (wire text, packet), valid in both directions.
    fn golden() -> Vec<(&'static [u8], Packet)> {
        vec![
            (
                br#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}"#,
                Packet::Open(b(br#"{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}"#)),
            ),
            (b"1", Packet::Close),
            (b"2", Packet::Ping(Bytes::new())),
            (b"2probe", Packet::Ping(b(b"probe"))),
            (b"3", Packet::Pong(Bytes::new())),
            (b"3probe", Packet::Pong(b(b"probe"))),
            (b"4", Packet::Message(Bytes::new())),
            (b"4hello", Packet::Message(b(b"hello"))),
            ("4€".as_bytes(), Packet::Message(Bytes::from("€"))),
            (b"4HelloWorld", Packet::Message(b(b"HelloWorld"))),
            (br#"42["hey","Jude"]"#, Packet::Message(b(br#"2["hey","Jude"]"#))),
            (b"5", Packet::Upgrade),
            (b"6", Packet::Noop),
        ]
    }

    #[test]
    fn golden_decode() {
        for (wire, packet) in golden() {
            assert_eq!(
                Packet::decode_text(b(wire)),
                Ok(packet),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
    }

    #[test]
    fn golden_encode() {
        for (wire, packet) in golden() {
            assert_eq!(packet.to_frame(), Frame::Text(b(wire)));
            assert_eq!(packet.to_frame().payload_len(), wire.len());
        }
    }

    #[test]
    fn binary_is_raw_without_type_byte() {
        let p = Packet::Binary(b(&[1, 2, 3, 4]));
        assert_eq!(p.to_frame(), Frame::Binary(b(&[1, 2, 3, 4])));
        assert_eq!(Packet::from_frame(Frame::Binary(b(&[1, 2, 3, 4]))), Ok(p));
        // 'b' + "AQIDBA=="
        assert_eq!(Frame::Binary(b(&[1, 2, 3, 4])).payload_len(), 9);
        assert_eq!(Frame::Binary(Bytes::new()).payload_len(), 1);
        assert_eq!(Frame::Binary(b(&[1, 2, 3])).payload_len(), 5);
    }

    #[test]
    fn data_on_dataless_types_is_ignored() {
        assert_eq!(Packet::decode_text(b(b"1x")), Ok(Packet::Close));
        assert_eq!(Packet::decode_text(b(b"5probe")), Ok(Packet::Upgrade));
        assert_eq!(Packet::decode_text(b(b"6abc")), Ok(Packet::Noop));
    }

    #[test]
    fn malformed() {
        let cases: &[(&[u8], DecodeError)] = &[
            (b"", DecodeError::Empty),
            (b"7", DecodeError::UnknownType(b'7')),
            (b"9hello", DecodeError::UnknownType(b'9')),
            (b"x", DecodeError::UnknownType(b'x')),
            (b"bAQID", DecodeError::UnknownType(b'b')),
            (b"\x1e", DecodeError::UnknownType(0x1e)),
            (b"4\xff", DecodeError::InvalidUtf8),
            (b"\xff", DecodeError::InvalidUtf8),
            (b"4\xe2\x82", DecodeError::InvalidUtf8),
        ];
        for (wire, err) in cases {
            assert_eq!(Packet::decode_text(b(wire)).as_ref(), Err(err), "{wire:?}");
        }
    }

    #[test]
    fn decode_is_zero_copy() {
        let frame = Bytes::from(b"4hello".to_vec());
        let Ok(Packet::Message(data)) = Packet::decode_text(frame.clone()) else {
            panic!("not a message")
        };
        assert_eq!(data.as_ptr(), frame[1..].as_ptr());
    }

    #[test]
    fn websocket_text_decodes_like_text_and_never_panics() {
        for wire in [
            &b"4hello"[..],
            b"2probe",
            b"3",
            br#"42["a",1]"#,
            "4\u{20ac}".as_bytes(),
        ] {
            let b = Bytes::copy_from_slice(wire);
            assert_eq!(
                Packet::decode_websocket_text(b.clone()).unwrap(),
                Packet::decode_text(b).unwrap()
            );
        }
        // Not UTF-8 (a WebSocket layer would have refused it): no panic, and the same
        // errors where the type digit is what is wrong.
        let _ = Packet::decode_websocket_text(Bytes::from_static(b"4\xff\xfe"));
        assert_eq!(
            Packet::decode_websocket_text(Bytes::new()),
            Err(DecodeError::Empty)
        );
    }
}
