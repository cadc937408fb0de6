//! The Engine.IO handshake: the data of the `open` packet.
//!
//! Spec: <https://github.com/socketio/engine.io-protocol#handshake>. v4 sends exactly
//! `{"sid":..,"upgrades":[..],"pingInterval":..,"pingTimeout":..,"maxPayload":..}` in this
//! order; v3 has no `maxPayload`.

use bytes::Bytes;

use super::packet::{Frame, Packet};

/// The handshake data the server sends in the `open` packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake<'a> {
    /// The session id.
    pub sid: &'a str,
    /// Transports the client may upgrade to: `["websocket"]` over polling, `[]` over WebSocket.
    pub upgrades: &'a [&'a str],
    /// Interval between server pings, in milliseconds (reference default 25000).
    pub ping_interval_ms: u64,
    /// How long to wait for a pong before closing, in milliseconds (reference default 20000).
    pub ping_timeout_ms: u64,
    /// Largest payload (polling body or WebSocket message) accepted, in bytes (reference
    /// default 1000000).
    pub max_payload: u64,
}

impl Handshake<'_> {
    /// The v4 handshake JSON, exactly
    /// `{"sid":..,"upgrades":[..],"pingInterval":..,"pingTimeout":..,"maxPayload":..}`
    /// in this key order, no spaces; strings escaped as serde_json escapes them.
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(self.json_len());
        self.write_json(&mut out, Some(self.max_payload));
        // Only valid UTF-8 was written: the strings given, ASCII around them.
        String::from_utf8(out).unwrap_or_default()
    }

    /// The v4 `open` packet: [`Packet::Open`] with [`Handshake::to_json`] as its data.
    pub fn to_packet(&self) -> Packet {
        Packet::Open(Bytes::from(self.to_json()))
    }

    /// The `open` packet's frame (`0` and the JSON), written in one buffer: v4's, or v3's
    /// (`v3`: without `maxPayload`). The same bytes as `to_packet().to_frame()`.
    pub fn to_open_frame(&self, v3: bool) -> Frame {
        let mut out = Vec::with_capacity(1 + self.json_len());
        out.push(b'0');
        self.write_json(&mut out, (!v3).then_some(self.max_payload));
        Frame::Text(Bytes::from(out))
    }

    /// The Engine.IO v3 handshake JSON: like [`Handshake::to_json`] without `maxPayload`.
    pub fn to_json_v3(&self) -> String {
        let mut out = Vec::with_capacity(self.json_len());
        self.write_json(&mut out, None);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Room for the JSON when no string needs an escape (every session id Portico makes).
    fn json_len(&self) -> usize {
        let upgrades: usize = self.upgrades.iter().map(|u| u.len() + 3).sum();
        96 + self.sid.len() + upgrades
    }

    /// The JSON, written by hand: this is every session's first packet, and serde_json's
    /// serializer cost about as much as the rest of the open packet (bench/profile
    /// connect-websocket).
    fn write_json(&self, out: &mut Vec<u8>, max_payload: Option<u64>) {
        out.extend_from_slice(b"{\"sid\":");
        crate::json::put_str(out, self.sid);
        out.extend_from_slice(b",\"upgrades\":[");
        for (i, u) in self.upgrades.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            crate::json::put_str(out, u);
        }
        out.extend_from_slice(b"],\"pingInterval\":");
        crate::decimal::put(out, self.ping_interval_ms);
        out.extend_from_slice(b",\"pingTimeout\":");
        crate::decimal::put(out, self.ping_timeout_ms);
        if let Some(max) = max_payload {
            out.extend_from_slice(b",\"maxPayload\":");
            crate::decimal::put(out, max);
        }
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
    use super::*;

    fn reference(sid: &str, upgrades: &'static [&'static str]) -> String {
        Handshake {
            sid,
            upgrades,
            ping_interval_ms: 25000,
            ping_timeout_ms: 20000,
            max_payload: 1_000_000,
        }
        .to_json()
    }

    #[test]
    fn golden_v4() {
        assert_eq!(
            reference("lv_VI97HAXpY6yYWAAAC", &["websocket"]),
            r#"{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
        );
        assert_eq!(
            reference("abc", &[]),
            r#"{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
        );
    }

    #[test]
    fn escapes_sid() {
        assert_eq!(
            reference("a\"b\\c\u{1}", &["websocket"]),
            r#"{"sid":"a\"b\\c\u0001","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
        );
    }

    #[test]
    fn writes_what_serde_json_writes() {
        // Every escape serde_json makes (the short ones, \u00XX for other control
        // characters), non-ASCII and DEL as they are, several upgrades.
        let odd: String = (0u8..0x80).map(char::from).chain("é✓😀".chars()).collect();
        for (sid, upgrades) in [
            (odd.as_str(), &["websocket", "polling"][..]),
            ("", &[][..]),
            ("x", &["a\"b"][..]),
        ] {
            let h = Handshake {
                sid,
                upgrades,
                ping_interval_ms: u64::MAX,
                ping_timeout_ms: 0,
                max_payload: 7,
            };
            let expected = serde_json::json!({
                "sid": sid,
                "upgrades": upgrades,
                "pingInterval": u64::MAX,
                "pingTimeout": 0,
                "maxPayload": 7,
            });
            let got: serde_json::Value = serde_json::from_str(&h.to_json()).unwrap();
            assert_eq!(got, expected);
            // Byte for byte too (key order, escapes): serde_json of the same fields in order.
            let order = format!(
                r#"{{"sid":{},"upgrades":{},"pingInterval":{},"pingTimeout":0,"maxPayload":7}}"#,
                serde_json::to_string(sid).unwrap(),
                serde_json::to_string(upgrades).unwrap(),
                u64::MAX
            );
            assert_eq!(h.to_json(), order);
        }
    }

    #[test]
    fn golden_v3() {
        let h = Handshake {
            sid: "lv_VI97HAXpY6yYWAAAC",
            upgrades: &["websocket"],
            ping_interval_ms: 25000,
            ping_timeout_ms: 5000,
            max_payload: 1_000_000,
        };
        assert_eq!(
            h.to_json_v3(),
            r#"{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}"#
        );
    }

    #[test]
    fn open_packet() {
        let h = Handshake {
            sid: "x",
            upgrades: &["websocket"],
            ping_interval_ms: 300,
            ping_timeout_ms: 200,
            max_payload: 1_000_000,
        };
        let frame = h.to_packet().to_frame();
        assert_eq!(h.to_open_frame(false), frame);
        assert_eq!(
            h.to_open_frame(true),
            Packet::Open(Bytes::from(h.to_json_v3())).to_frame()
        );
        assert_eq!(
            frame,
            crate::engine::Frame::Text(Bytes::from_static(
                br#"0{"sid":"x","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#
            ))
        );
    }
}
