//! Deeply nested arguments, JSON and msgpack: past the decoders' depth limit (128, serde_json's
//! own and the one Portico gives rmpv, which has none worth the name by default) the packet
//! does not decode and that connection closes with `parse error`; no stack overflow on the
//! way in, and within the limit the same value is echoed back (encoded again without
//! overflowing either).
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use base64::Engine as _;
use common::{Client, Fixture};
use portico::proto::sio::{decode_msgpack, encode_msgpack, Limits, Packet, PacketType};
use portico::{Ack, Args, DisconnectReason, Parser, Server, Socket};
use serde_json::{json, Value};

fn nested(depth: usize) -> (String, Value) {
    let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let mut v = Value::Array(Vec::new());
    for _ in 1..depth {
        v = Value::Array(vec![v]);
    }
    (text, v)
}

#[tokio::test(start_paused = true)]
async fn json_nesting_past_the_limit_closes_within_it_echoes() {
    let mut f = Fixture::new(Server::builder().build().unwrap()).await;
    for body in [
        format!(r#"42["echo",{}]"#, "[".repeat(100_000)),
        format!(
            r#"42["echo",{}0{}]"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        ),
        format!(r#"42["echo",{}1"#, r#"{"a":"#.repeat(100_000)),
        format!(r#"421-["echo",{}]"#, "[".repeat(100_000)),
        format!(r#"43["echo",{}]"#, "[".repeat(100_000)),
        format!("40{}", r#"{"a":"#.repeat(100_000)),
        // Just past the limit: the event's own array plus 127 levels.
        format!(r#"42["echo",{}]"#, nested(127).0),
    ] {
        f.victim_closes(&body, DisconnectReason::ParseError).await;
    }
    // At the limit: the event's array plus 126 levels, echoed back whole.
    let sid = f.client.join().await;
    let (text, _) = nested(126);
    f.client
        .post_ok(&sid, &format!(r#"421["echo",{text}]"#))
        .await;
    let want = format!("431[{text}]");
    f.client.poll_until(&sid, |p| p == want).await;
    f.others_still_work().await;
}

/// A msgpack server with an `echo` handler on `/`, and a session joined to it.
async fn msgpack_session() -> (Server, Client, String) {
    let io = Server::builder().parser(Parser::MsgPack).build().unwrap();
    io.of("/").on_connection(|socket: Socket| async move {
        socket.on("echo", |_s: Socket, args: Args, ack: Ack| async move {
            ack.send(&args)
        });
    });
    let client = Client::new(&io);
    let (sid, _) = client.handshake().await;
    post_msgpack(
        &client,
        &sid,
        &encode_msgpack(&Packet::connect("/", None), &[]),
    )
    .await;
    let reply = next_msgpack(&client, &sid).await;
    assert_eq!(reply.kind, PacketType::Connect);
    (io, client, sid)
}

async fn post_msgpack(client: &Client, sid: &str, bytes: &[u8]) {
    let body = format!(
        "b{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    );
    client.post_ok(sid, &body).await;
}

/// The next msgpack packet the server sends (pings answered on the way).
async fn next_msgpack(client: &Client, sid: &str) -> Packet {
    let p = client.poll_until(sid, |p| p.starts_with('b')).await;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&p[1..])
        .unwrap();
    decode_msgpack(&bytes, &Limits::default()).unwrap().0
}

/// `{type: 2, nsp: "/", id: 1, data: ["echo", <depth nested arrays>]}` written by hand.
fn deep_msgpack(depth: usize) -> Vec<u8> {
    let mut b = vec![0x84];
    b.extend(b"\xa4type\x02\xa3nsp\xa1/\xa2id\x01\xa4data\x92\xa4echo");
    b.extend(std::iter::repeat_n(0x91, depth - 1));
    b.push(0x90);
    b
}

#[tokio::test(start_paused = true)]
async fn msgpack_nesting_past_the_limit_closes_within_it_echoes() {
    for depth in [100_000, 127, 128] {
        let (io, client, sid) = msgpack_session().await;
        let witness = msgpack_session_on(&io).await;
        post_msgpack(&client, &sid, &deep_msgpack(depth)).await;
        // The data array and 127 more levels inside it: one past what JSON takes.
        client
            .get(&sid)
            .await
            .assert_error(http::StatusCode::BAD_REQUEST, 1);
        common::until("the session leaves", || io.connection_count() == 1).await;
        let (client, sid) = witness;
        // The witness is served, with arguments nested as deep as the limit allows.
        post_msgpack(&client, &sid, &deep_msgpack(126)).await;
        let ack = next_msgpack(&client, &sid).await;
        assert_eq!((ack.kind, ack.id), (PacketType::Ack, Some(1)));
        let (_, want) = nested(126);
        assert_eq!(ack.data, Some(json!([want])));
    }
}

/// Another msgpack session on the same server.
async fn msgpack_session_on(io: &Server) -> (Client, String) {
    let client = Client::new(io);
    let (sid, _) = client.handshake().await;
    post_msgpack(
        &client,
        &sid,
        &encode_msgpack(&Packet::connect("/", None), &[]),
    )
    .await;
    assert_eq!(next_msgpack(&client, &sid).await.kind, PacketType::Connect);
    (client, sid)
}
