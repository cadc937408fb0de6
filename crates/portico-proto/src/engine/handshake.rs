//! The Engine.IO handshake: the data of the `open` packet.
//!
//! Spec: <https://github.com/socketio/engine.io-protocol#handshake>. v4 sends exactly
//! `{"sid":..,"upgrades":[..],"pingInterval":..,"pingTimeout":..,"maxPayload":..}` in this
//! order; v3 has no `maxPayload`.

use bytes::Bytes;
use serde::Serialize;

use super::packet::Packet;

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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    sid: &'a str,
    upgrades: &'a [&'a str],
    ping_interval: u64,
    ping_timeout: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_payload: Option<u64>,
}

impl Handshake<'_> {
    /// The v4 handshake JSON, exactly
    /// `{"sid":..,"upgrades":[..],"pingInterval":..,"pingTimeout":..,"maxPayload":..}`
    /// in this key order, no spaces; strings escaped by serde_json.
    pub fn to_json(&self) -> String {
        self.json(Some(self.max_payload))
    }

    /// The v4 `open` packet: [`Packet::Open`] with [`Handshake::to_json`] as its data.
    pub fn to_packet(&self) -> Packet {
        Packet::Open(Bytes::from(self.to_json()))
    }

    /// The Engine.IO v3 handshake JSON: like [`Handshake::to_json`] without `maxPayload`.
    pub fn to_json_v3(&self) -> String {
        self.json(None)
    }

    fn json(&self, max_payload: Option<u64>) -> String {
        let wire = Wire {
            sid: self.sid,
            upgrades: self.upgrades,
            ping_interval: self.ping_interval_ms,
            ping_timeout: self.ping_timeout_ms,
            max_payload,
        };
        // Serializing strings and integers into a String cannot fail.
        serde_json::to_string(&wire).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(
            frame,
            crate::engine::Frame::Text(Bytes::from_static(
                br#"0{"sid":"x","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#
            ))
        );
    }
}
