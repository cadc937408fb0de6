//! Reading what a Socket.IO server answers: Engine.IO payloads (v4, or v3 from a
//! socket.io 2.x server), error bodies (Engine.IO's JSON, or the plain text Node writes when
//! it aborts an upgrade), the handshake, and Socket.IO CONNECT answers.

use bytes::Bytes;
use portico_proto::engine::payload_v3::decode_payload_v3;
use portico_proto::engine::{decode_payload_v4, ErrorCode, Packet};
use serde::Deserialize;

use super::http::Response;

/// Most packets decoded from one polling body.
const MAX_PACKETS: usize = 256;

/// The handshake data of an `open` packet.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Open {
    pub sid: String,
    #[serde(default)]
    pub upgrades: Vec<String>,
    #[serde(default)]
    pub ping_interval: u64,
    #[serde(default)]
    pub ping_timeout: u64,
    #[serde(default)]
    pub max_payload: Option<u64>,
}

impl Open {
    /// Parses the data of an `open` packet.
    pub fn parse(data: &[u8]) -> Option<Open> {
        serde_json::from_slice(data).ok()
    }
}

/// What a response is, as Engine.IO goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Packets of a polling payload; `v3` when they came in v3 framing (`<len>:<packet>`).
    Packets { packets: Vec<Packet>, v3: bool },
    /// An Engine.IO error, with the code (0..=5) and message.
    Error { code: u8, message: String },
    /// Not an Engine.IO answer (a web server's 404 page, a proxy's error, ...).
    Other,
}

/// Classifies a response to a polling request made with protocol `eio` (3 or 4).
pub(crate) fn classify(response: &Response, eio: u8) -> Answer {
    if let Some((code, message)) = error_body(&response.body) {
        if !(200..=299).contains(&response.status) {
            return Answer::Error { code, message };
        }
    }
    if response.status != 200 || response.body.is_empty() {
        return Answer::Other;
    }
    let body = Bytes::from(response.body.clone());
    let v4 = || {
        decode_payload_v4(body.clone(), MAX_PACKETS)
            .ok()
            .filter(|p| plausible(p))
    };
    let v3 = || {
        decode_payload_v3(&body, MAX_PACKETS)
            .ok()
            .filter(|p| plausible(p))
    };
    let decoded = if eio == 3 {
        v3().map(|p| (p, true)).or_else(|| v4().map(|p| (p, false)))
    } else {
        v4().map(|p| (p, false)).or_else(|| v3().map(|p| (p, true)))
    };
    match decoded {
        Some((packets, v3)) => Answer::Packets { packets, v3 },
        None => Answer::Other,
    }
}

/// A payload that looks like Engine.IO: an HTML page can decode as one text "packet" whose
/// type digit happens to fit (`<` does not, but `4 Not Found` would).
fn plausible(packets: &[Packet]) -> bool {
    packets.iter().all(|p| match p {
        Packet::Open(data) => Open::parse(data).is_some(),
        Packet::Message(data) => !data.starts_with(b" "),
        _ => true,
    })
}

/// An Engine.IO error body: `{"code":N,"message":".."}` (N in 0..=5), or the bare message
/// (Node's engine.io answers an aborted WebSocket upgrade with the text alone).
pub(crate) fn error_body(body: &[u8]) -> Option<(u8, String)> {
    #[derive(Deserialize)]
    struct Wire {
        code: u8,
        message: String,
    }
    if let Ok(w) = serde_json::from_slice::<Wire>(body) {
        if ErrorCode::from_code(w.code).is_some() {
            return Some((w.code, w.message));
        }
    }
    let text = std::str::from_utf8(body).ok()?.trim();
    ErrorCode::ALL
        .iter()
        .find(|c| c.message() == text)
        .map(|c| (c.code(), text.to_string()))
}

/// A Socket.IO packet, read as far as `doctor` needs: type digit, namespace, JSON data.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SioPacket {
    pub kind: u8,
    pub nsp: String,
    pub data: Option<serde_json::Value>,
}

/// Parses the text of an Engine.IO message as a Socket.IO packet
/// (`<type>[<nsp>,][<id>][<json>]`); binary events and acks are not needed here.
pub(crate) fn parse_sio(text: &str) -> Option<SioPacket> {
    let kind = text.bytes().next().filter(u8::is_ascii_digit)? - b'0';
    let mut rest = text.get(1..)?;
    let mut nsp = "/".to_string();
    if rest.starts_with('/') {
        let end = rest.find(',').unwrap_or(rest.len());
        nsp = rest[..end].to_string();
        rest = rest.get(end + 1..).unwrap_or_default();
    }
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let data = if rest.is_empty() {
        None
    } else {
        serde_json::from_str(rest).ok()
    };
    // A namespace with a query (v3 clients) answers without it.
    let nsp = nsp.split('?').next().unwrap_or("/").to_string();
    Some(SioPacket { kind, nsp, data })
}

/// The answer to a CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConnectAnswer {
    /// `40` for the namespace.
    Connected,
    /// `44`: the message (`{"message":..}` in v5, a plain string in v4), and its data.
    Refused {
        message: String,
        data: Option<String>,
    },
}

/// The CONNECT answer for `nsp` in a Socket.IO packet, if it is one.
pub(crate) fn connect_answer(packet: &SioPacket, nsp: &str) -> Option<ConnectAnswer> {
    if packet.nsp != nsp {
        return None;
    }
    match packet.kind {
        0 => Some(ConnectAnswer::Connected),
        4 => {
            let (message, data) = match &packet.data {
                Some(serde_json::Value::String(s)) => (s.clone(), None),
                Some(serde_json::Value::Object(o)) => (
                    o.get("message")
                        .and_then(|m| m.as_str())
                        .unwrap_or_default()
                        .to_string(),
                    o.get("data").map(|d| d.to_string()),
                ),
                Some(other) => (other.to_string(), None),
                None => (String::new(), None),
            };
            Some(ConnectAnswer::Refused { message, data })
        }
        _ => None,
    }
}

/// The CONNECT packet a client sends: `0[/nsp,][auth json]` (protocol v5; the v4 protocol of
/// socket.io-client 2.x has no auth payload and connects `/` implicitly).
pub(crate) fn connect_packet(nsp: &str, auth: Option<&serde_json::Value>, eio: u8) -> String {
    let mut out = String::from("0");
    if nsp != "/" {
        out.push_str(nsp);
        out.push(',');
    }
    if eio == 4 {
        if let Some(auth) = auth {
            out.push_str(&auth.to_string());
        }
    }
    out
}

/// One packet (its text, type digit included) as a polling POST body: as is in v4, as
/// `<len>:<packet>` in v3 (the length in UTF-16 code units).
pub(crate) fn post_body(packet: &str, eio: u8) -> Vec<u8> {
    if eio == 3 {
        format!("{}:{packet}", packet.encode_utf16().count()).into_bytes()
    } else {
        packet.as_bytes().to_vec()
    }
}

/// The text of a packet (type digit included).
#[cfg(test)]
pub(crate) fn packet_text(packet: &Packet) -> String {
    match packet {
        Packet::Binary(b) => format!("<{} bytes of binary>", b.len()),
        other => match other.to_frame() {
            portico_proto::engine::Frame::Text(t) => String::from_utf8_lossy(&t).into_owned(),
            portico_proto::engine::Frame::Binary(b) => format!("<{} bytes of binary>", b.len()),
        },
    }
}

/// A random string for the `t` query parameter (the client's cache buster).
pub(crate) fn cache_buster() -> String {
    use rand::Rng as _;
    let mut rng = rand::thread_rng();
    (0..8)
        .map(|_| {
            let i = rng.gen_range(0..62u8);
            char::from(match i {
                0..=9 => b'0' + i,
                10..=35 => b'a' + i - 10,
                _ => b'A' + i - 36,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

    use super::*;

    fn ok(body: &[u8]) -> Response {
        Response {
            status: 200,
            reason: "OK".into(),
            headers: vec![],
            body: body.to_vec(),
        }
    }

    #[test]
    fn v4_handshake() {
        let body = br#"0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        let Answer::Packets { packets, v3 } = classify(&ok(body), 4) else {
            panic!()
        };
        assert!(!v3);
        let Packet::Open(data) = &packets[0] else {
            panic!()
        };
        let open = Open::parse(data).unwrap();
        assert_eq!(open.sid, "abc");
        assert_eq!(open.upgrades, ["websocket"]);
        assert_eq!(
            (open.ping_interval, open.ping_timeout, open.max_payload),
            (25000, 20000, Some(1_000_000))
        );
    }

    #[test]
    fn v3_answer_to_a_v4_request() {
        // socket.io 2.x: v3 framing, no maxPayload, and the implicit connect of "/".
        let json =
            r#"0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}"#;
        let body = format!("{}:{json}2:40", json.len());
        let Answer::Packets { packets, v3 } = classify(&ok(body.as_bytes()), 4) else {
            panic!()
        };
        assert!(v3);
        assert_eq!(packets.len(), 2);
        assert_eq!(packet_text(&packets[1]), "40");
    }

    #[test]
    fn errors_json_and_plain() {
        let r = Response {
            status: 400,
            body: br#"{"code":5,"message":"Unsupported protocol version"}"#.to_vec(),
            ..ok(b"")
        };
        assert_eq!(
            classify(&r, 3),
            Answer::Error {
                code: 5,
                message: "Unsupported protocol version".into()
            }
        );
        let r = Response {
            status: 400,
            body: b"Transport unknown".to_vec(),
            ..ok(b"")
        };
        assert_eq!(
            classify(&r, 4),
            Answer::Error {
                code: 0,
                message: "Transport unknown".into()
            }
        );
        let r = Response {
            status: 404,
            body: b"Cannot GET /x".to_vec(),
            ..ok(b"")
        };
        assert_eq!(classify(&r, 4), Answer::Other);
        assert_eq!(
            classify(&ok(b"<!doctype html><p>app</p>"), 4),
            Answer::Other
        );
        assert_eq!(classify(&ok(b"4 Not Found"), 4), Answer::Other);
    }

    #[test]
    fn connect_answers() {
        let p = parse_sio(r#"0{"sid":"x"}"#).unwrap();
        assert_eq!(connect_answer(&p, "/"), Some(ConnectAnswer::Connected));
        let p = parse_sio(r#"4/admin,{"message":"Invalid namespace"}"#).unwrap();
        assert_eq!(p.nsp, "/admin");
        assert_eq!(
            connect_answer(&p, "/admin"),
            Some(ConnectAnswer::Refused {
                message: "Invalid namespace".into(),
                data: None
            })
        );
        assert_eq!(connect_answer(&p, "/"), None);
        let p = parse_sio(r#"4{"message":"no","data":{"a":1}}"#).unwrap();
        assert_eq!(
            connect_answer(&p, "/"),
            Some(ConnectAnswer::Refused {
                message: "no".into(),
                data: Some(r#"{"a":1}"#.into())
            })
        );
        // Protocol v4 (socket.io 2.x): a plain string, and "40/admin" without a comma.
        let p = parse_sio(r#"4"Not authorized""#).unwrap();
        assert_eq!(
            connect_answer(&p, "/"),
            Some(ConnectAnswer::Refused {
                message: "Not authorized".into(),
                data: None
            })
        );
        assert_eq!(
            connect_answer(&parse_sio("0/admin").unwrap(), "/admin"),
            Some(ConnectAnswer::Connected)
        );
    }

    #[test]
    fn packets_the_client_sends() {
        let auth = serde_json::json!({"token":"x"});
        assert_eq!(connect_packet("/", None, 4), "0");
        assert_eq!(connect_packet("/", Some(&auth), 4), r#"0{"token":"x"}"#);
        assert_eq!(
            connect_packet("/admin", Some(&auth), 4),
            r#"0/admin,{"token":"x"}"#
        );
        assert_eq!(connect_packet("/admin", Some(&auth), 3), "0/admin,");
        assert_eq!(post_body("40", 4), b"40");
        assert_eq!(post_body("40/a,", 3), b"5:40/a,");
        assert_eq!(post_body("4€", 3), "2:4€".as_bytes());
        let t = cache_buster();
        assert_eq!(t.len(), 8);
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
