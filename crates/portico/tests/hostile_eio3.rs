//! Engine.IO v3 polling bodies (behind `allow_eio3`) whose length prefixes lie: longer or
//! shorter than the packet, huge, not digits, cutting a character in two, and the same in the
//! binary framing. Each is `400` code 3 and closes that session (`parse error`); Node closes
//! it the same way but still answers the POST `200 ok` (Portico answers every malformed
//! payload, v3 or v4, with the error).
//! Client pings are v3's heartbeat and are answered, but their pongs count against
//! `max_buffer_bytes` like any frame; a client pong is the wrong direction.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use bytes::Bytes;
use common::{Client, Reply};
use http::{Method, StatusCode};
use portico::proto::engine::payload_v3::decode_payload_v3;
use portico::proto::engine::{Frame, Packet};
use portico::{DisconnectReason, Server};

/// The smallest `max_buffer_bytes` the builder takes.
const MAX_BUFFER: usize = 65_536;

struct V3 {
    io: Server,
    client: Client,
    disconnects: tokio::sync::mpsc::UnboundedReceiver<(portico::Sid, DisconnectReason)>,
    witness: String,
}

impl V3 {
    async fn new() -> V3 {
        let io = Server::builder()
            .allow_eio3(true)
            .max_buffer_bytes(MAX_BUFFER)
            .build()
            .unwrap();
        let disconnects = common::echo_server(&io);
        let client = Client::new(&io);
        let mut v3 = V3 {
            io,
            client,
            disconnects,
            witness: String::new(),
        };
        v3.witness = v3.join().await;
        v3
    }

    fn query(sid: &str) -> String {
        format!("EIO=3&transport=polling&b64=1&sid={sid}")
    }

    /// A v3 session, joined to `/` (implicitly, as socket.io-client 2.x is).
    async fn join(&self) -> String {
        let res = self
            .client
            .request(
                Method::GET,
                &self.client.url("EIO=3&transport=polling&b64=1"),
                &[],
                Bytes::new(),
            )
            .await;
        let packets = decode_payload_v3(&res.body, 100).unwrap();
        let Some(Packet::Open(open)) = packets.first() else {
            panic!("no open packet: {}", res.text());
        };
        let open: serde_json::Value = serde_json::from_slice(open).unwrap();
        let sid = open["sid"].as_str().unwrap().to_owned();
        // The `/` CONNECT reply follows (in this body or the next).
        if packets.len() < 2 {
            self.packets(&sid).await;
        }
        sid
    }

    async fn post(&self, sid: &str, content_type: &str, body: impl Into<Bytes>) -> Reply {
        self.client
            .request(
                Method::POST,
                &self.client.url(&V3::query(sid)),
                &[("content-type", content_type)],
                body,
            )
            .await
    }

    async fn post_ok(&self, sid: &str, body: &str) {
        let res = self
            .post(sid, "text/plain;charset=UTF-8", body.to_owned())
            .await;
        assert_eq!((res.status, res.text()), (StatusCode::OK, "ok"), "{body:?}");
    }

    async fn get(&self, sid: &str) -> Reply {
        self.client
            .request(
                Method::GET,
                &self.client.url(&V3::query(sid)),
                &[],
                Bytes::new(),
            )
            .await
    }

    /// The packets of the next GET, as text.
    async fn packets(&self, sid: &str) -> Vec<String> {
        let res = self.get(sid).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        decode_payload_v3(&res.body, 10_000)
            .unwrap()
            .into_iter()
            .map(|p| match p.to_frame() {
                Frame::Text(t) | Frame::Binary(t) => String::from_utf8_lossy(&t).into_owned(),
            })
            .collect()
    }

    /// Whether `sid` still echoes (its own ping keeps it alive meanwhile).
    async fn assert_alive(&self, sid: &str, id: u64) {
        let event = format!(r#"42{id}["echo","v3-{id}"]"#);
        self.post_ok(sid, &format!("{}:{event}", event.len())).await;
        let want = format!(r#"43{id}["v3-{id}"]"#);
        common::bounded("v3 echo", async {
            while !self.packets(sid).await.contains(&want) {}
        })
        .await;
    }

    /// A fresh session sends `body`: `400` code 3, and the session closes with `reason`.
    async fn victim_refused(&mut self, content_type: &str, body: &[u8], reason: DisconnectReason) {
        let victim = self.join().await;
        self.post(&victim, content_type, Bytes::copy_from_slice(body))
            .await
            .assert_error(StatusCode::BAD_REQUEST, 3);
        let (_, got) = common::next_disconnect(&mut self.disconnects).await;
        assert_eq!(got, reason, "after {body:?}");
        self.get(&victim)
            .await
            .assert_error(StatusCode::BAD_REQUEST, 1);
    }

    async fn others_still_work(&mut self, id: u64) {
        assert!(
            self.disconnects.is_empty(),
            "{:?}",
            self.disconnects.try_recv()
        );
        self.assert_alive(&self.witness.clone(), id).await;
        let fresh = self.join().await;
        self.assert_alive(&fresh, id).await;
        self.post_ok(&fresh, "1:1").await;
        common::next_disconnect(&mut self.disconnects).await;
    }
}

#[tokio::test(start_paused = true)]
async fn string_framing_lengths_that_lie_are_refused() {
    let mut v3 = V3::new().await;
    for body in [
        r#"99:42["echo","x"]"#,
        r#"3:42["echo","x"]"#,
        r#"16:42["echo","x"]16:42["echo","x"]"#,
        "9999999999:4x",
        "99999999999:4x",
        "18446744073709551616:4x",
        "a:4x",
        "-1:4x",
        "+2:4x",
        "0x2:4x",
        ":4x",
        "2",
        "2:4",
        // UTF-16 units, not bytes: "4€€" is 3 units, 7 bytes; "4😀" is 3 units (a pair).
        "7:4€€",
        "2:4😀",
        "4:4😀",
    ] {
        v3.victim_refused(
            "text/plain;charset=UTF-8",
            body.as_bytes(),
            DisconnectReason::ParseError,
        )
        .await;
    }
    v3.others_still_work(1).await;
    // The honest lengths of the same characters are fine: 17 UTF-16 units in 21 bytes.
    let w = v3.witness.clone();
    v3.post_ok(&w, r#"17:421["echo","€😀"]"#).await;
    let want = r#"431["€😀"]"#.to_owned();
    common::bounded("multibyte echo", async {
        while !v3.packets(&w).await.contains(&want) {}
    })
    .await;
    v3.others_still_work(2).await;
}

#[tokio::test(start_paused = true)]
async fn binary_framing_lengths_that_lie_are_refused() {
    let mut v3 = V3::new().await;
    let bodies: [&[u8]; 9] = [
        // Longer than what follows.
        &[0x00, 9, 9, 0xff, b'4', b'x'],
        // Length digits as ASCII instead of byte values 0..=9.
        &[0x00, b'2', 0xff, b'4', b'x'],
        // No 0xff after the digits.
        &[0x00, 2, b'4', b'x'],
        // Eleven digits.
        &[0x00, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 0xff, b'4'],
        // A zero-length string packet.
        &[0x00, 0, 0xff],
        // A binary packet without the message type byte 4.
        &[0x01, 2, 0xff, b'5', 1],
        // An unknown packet kind after a good packet.
        &[0x00, 2, 0xff, b'4', b'x', 0x02, 1, 0xff, 1],
        // Truncated UTF-8 inside a string packet.
        &[0x00, 3, 0xff, b'4', 0xe2, 0x82],
        // Nothing but the kind.
        &[0x01],
    ];
    for body in bodies {
        v3.victim_refused(
            "application/octet-stream",
            body,
            DisconnectReason::ParseError,
        )
        .await;
    }
    v3.others_still_work(1).await;
}

#[tokio::test(start_paused = true)]
async fn pings_are_answered_within_the_buffer_cap_and_a_client_pong_closes() {
    let mut v3 = V3::new().await;
    let sid = v3.join().await;
    v3.post_ok(&sid, "1:21:2").await;
    assert_eq!(v3.packets(&sid).await, vec!["3", "3"]);
    // A client that pings and never reads: the pongs fill max_buffer_bytes, then the session
    // closes with `send buffer full` rather than grow.
    // Pings of 100 bytes of data: each pong is 101 bytes.
    let ping = format!("101:2{}", "x".repeat(100));
    let flood = ping.repeat(MAX_BUFFER / 101 + 1);
    v3.post_ok(&sid, &flood).await;
    let (_, reason) = common::next_disconnect(&mut v3.disconnects).await;
    assert_eq!(reason, DisconnectReason::SendBufferFull);
    v3.get(&sid).await.assert_error(StatusCode::BAD_REQUEST, 1);
    // The heartbeat runs the other way in v3: a pong from the client closes its session.
    let victim = v3.join().await;
    v3.post_ok(&victim, "1:3").await;
    let (_, reason) = common::next_disconnect(&mut v3.disconnects).await;
    assert_eq!(reason, DisconnectReason::TransportError);
    v3.others_still_work(1).await;
    assert_eq!(v3.io.connection_count(), 1);
}
