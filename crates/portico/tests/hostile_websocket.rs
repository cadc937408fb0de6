//! WebSocket input shaped to hurt, over real TCP: fragment floods, ping floods (WebSocket and
//! Engine.IO), heartbeat packets the wrong way, truncated UTF-8. Each gets its close code (or
//! is handled), and a second connection is served throughout.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use std::time::Duration;

mod common;

use common::tcp::{connect, next_text, serve, serve_echo, within, Ws};
use futures_util::{SinkExt, StreamExt};
use portico::DisconnectReason;
use portico::Server;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Bytes, Message};

const MAX_PAYLOAD: usize = 1000;

async fn start() -> String {
    let io = Server::builder()
        .max_payload(MAX_PAYLOAD as u64)
        .build()
        .unwrap();
    serve_echo(io).await
}

/// `ws` still answers an `echo` with ack `id`.
async fn alive(ws: &mut Ws, id: u64) {
    ws.send(Message::text(format!(r#"42{id}["echo","ok"]"#)))
        .await
        .unwrap();
    assert_eq!(next_text(ws).await, format!(r#"43{id}["ok"]"#));
}

/// A masked client frame (mask key 0: the payload as it is).
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        n @ 0..=125 => f.push(0x80 | n as u8),
        n @ 126..=65535 => {
            f.push(0x80 | 126);
            f.extend((n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend((n as u64).to_be_bytes());
        }
    }
    f.extend([0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// Read until the server's close; returns its code (and the pongs seen on the way).
async fn close_code(ws: &mut Ws) -> (Option<CloseCode>, usize) {
    let (mut code, mut pongs) = (None, 0);
    while let Some(m) = within(ws.next()).await {
        match m {
            Ok(Message::Close(c)) => code = c.map(|c| c.code),
            Ok(Message::Pong(_)) => pongs += 1,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    (code, pongs)
}

#[tokio::test]
async fn fragment_floods_are_bounded_by_max_payload_not_by_frame_count() {
    let addr = start().await;
    let mut witness = connect(&addr).await;

    // Ten thousand empty fragments cost nothing kept: the message they end is delivered.
    let mut ws = connect(&addr).await;
    let mut raw = frame(false, 0x1, br#"421["echo","#);
    for _ in 0..10_000 {
        raw.extend(frame(false, 0x0, b""));
    }
    raw.extend(frame(true, 0x0, br#""frag"]"#));
    ws.get_mut().write_all(&raw).await.unwrap();
    assert_eq!(next_text(&mut ws).await, r#"431["frag"]"#);

    // One-byte fragments without FIN: refused (1009) once they pass max_payload in all,
    // before the message ends.
    let mut ws = connect(&addr).await;
    let mut raw = frame(false, 0x1, b"4");
    for _ in 0..MAX_PAYLOAD {
        raw.extend(frame(false, 0x0, b"x"));
    }
    ws.get_mut().write_all(&raw).await.unwrap();
    assert_eq!(close_code(&mut ws).await.0, Some(CloseCode::Size));

    // A fragment that announces more than max_payload is refused from its header.
    let mut ws = connect(&addr).await;
    let mut raw = frame(false, 0x1, &[b'4'; 600]);
    raw.extend(&frame(true, 0x0, &[b'x'; 600])[..8]);
    ws.get_mut().write_all(&raw).await.unwrap();
    assert_eq!(close_code(&mut ws).await.0, Some(CloseCode::Size));

    alive(&mut witness, 1).await;
}

#[tokio::test]
async fn ping_floods_are_answered_and_change_nothing_else() {
    let addr = start().await;
    let mut witness = connect(&addr).await;
    let mut ws = connect(&addr).await;
    // WebSocket pings, one write: every one gets its pong, then the event after them works.
    let mut raw = Vec::new();
    for i in 0..2000u32 {
        raw.extend(frame(true, 0x9, &i.to_be_bytes()));
    }
    raw.extend(frame(true, 0x1, br#"427["echo","after"]"#));
    ws.get_mut().write_all(&raw).await.unwrap();
    let mut pongs = 0;
    loop {
        match within(ws.next()).await.unwrap().unwrap() {
            Message::Pong(p) => {
                assert_eq!(p, Bytes::copy_from_slice(&(pongs as u32).to_be_bytes()));
                pongs += 1;
            }
            Message::Text(t) => {
                assert_eq!(t.as_str(), r#"437["after"]"#);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(pongs, 2000, "each ping answered, in order, before the ack");
    // Unsolicited WebSocket pongs and Engine.IO pongs/noops: ignored.
    let mut raw = Vec::new();
    for _ in 0..2000 {
        raw.extend(frame(true, 0xA, b"p"));
        raw.extend(frame(true, 0x1, b"3"));
        raw.extend(frame(true, 0x1, b"6"));
    }
    ws.get_mut().write_all(&raw).await.unwrap();
    alive(&mut ws, 8).await;
    alive(&mut witness, 1).await;
}

#[tokio::test]
async fn an_engine_io_ping_from_a_v4_client_closes_that_connection() {
    let addr = start().await;
    let mut witness = connect(&addr).await;
    for ping in ["2", "2probe", "2anything"] {
        let mut ws = connect(&addr).await;
        ws.send(Message::text(ping)).await.unwrap();
        // No pong: the server closes (a normal WebSocket close; the session ended with
        // `transport error`, as Node's "invalid heartbeat direction").
        let mut texts = Vec::new();
        while let Some(m) = within(ws.next()).await {
            match m {
                Ok(Message::Text(t)) => texts.push(t.to_string()),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        assert!(texts.is_empty(), "answered {texts:?}");
    }
    alive(&mut witness, 1).await;
}

#[tokio::test]
async fn truncated_utf8_in_text_frames() {
    let addr = start().await;
    let mut witness = connect(&addr).await;
    // "€" is e2 82 ac: split across two fragments it is whole once reassembled.
    let mut ws = connect(&addr).await;
    let mut raw = frame(false, 0x1, b"423[\"echo\",\"\xe2\x82");
    raw.extend(frame(true, 0x0, b"\xac\"]"));
    ws.get_mut().write_all(&raw).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "433[\"€\"]");
    // A message that ends inside a character, whole or fragmented: 1007.
    for raw in [
        frame(true, 0x1, b"42[\"echo\",\"\xe2\x82\"]"),
        frame(true, 0x1, b"42[\"echo\",\"x\xe2\x82"),
        [
            frame(false, 0x1, b"42[\"echo\",\"x"),
            frame(true, 0x0, b"\xf0\x9f\x98"),
        ]
        .concat(),
    ] {
        let mut ws = connect(&addr).await;
        ws.get_mut().write_all(&raw).await.unwrap();
        assert_eq!(close_code(&mut ws).await.0, Some(CloseCode::Invalid));
    }
    alive(&mut witness, 1).await;
}

#[tokio::test]
async fn a_client_that_floods_pings_and_never_reads_is_closed() {
    // The server gives up a write that waits a whole heartbeat round (interval + timeout)
    // for the peer to read.
    let io = Server::builder()
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    // `echo`, and each disconnect of a `/` socket with its reason.
    let mut gone = common::echo_server(&io);
    let addr = serve(io.clone()).await;
    let mut ws = connect(&addr).await;
    assert_eq!(io.connection_count(), 1);
    // Pings of 125 bytes, written until the server stops taking them (its pongs, never read,
    // fill both ends' buffers); the connection is then held open, unread. Each chunk ends
    // with an Engine.IO pong (`3`), so that the heartbeat stays answered for as long as the
    // server reads: the session can then end only by the stalled write, however long the
    // buffers take to fill on this machine (without it, a machine slow to fill them met the
    // ping timeout first, and the reason was `ping timeout`).
    let chunk: Vec<u8> = (0..512)
        .flat_map(|_| frame(true, 0x9, &[7; 125]))
        .chain(frame(true, 0x1, b"3"))
        .collect();
    let tcp = ws.get_mut();
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            if tcp.write_all(&chunk).await.is_err() {
                break;
            }
        }
    })
    .await;
    // The session is removed before its socket's disconnect handlers run.
    let (_, reason) = within(gone.recv()).await.unwrap();
    assert_eq!(reason, DisconnectReason::TransportError);
    assert_eq!(io.connection_count(), 0);
    let mut fresh = connect(&addr).await;
    alive(&mut fresh, 1).await;
    drop(ws);
}

/// A polling handshake over plain HTTP/1.1; returns the sid.
async fn polling_sid(addr: &str) -> String {
    use tokio::io::AsyncReadExt;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut res = String::new();
    within(tcp.read_to_string(&mut res)).await.unwrap();
    let at = res.find("\"sid\":\"").expect("a sid") + 7;
    res[at..at + 20].to_owned()
}

#[tokio::test]
async fn a_ping_flood_on_an_upgrading_websocket_is_answered_as_it_comes() {
    // A probe may last a minute: its pongs must not wait for its end.
    let io = Server::builder()
        .upgrade_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let addr = serve_echo(io).await;
    let mut witness = connect(&addr).await;
    let sid = polling_sid(&addr).await;
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket&sid={sid}");
    let tcp = TcpStream::connect(&addr).await.unwrap();
    let (mut probe, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    // The probe's pongs are written as its pings are read (they were once kept, unwritten,
    // for as long as the probe lasted: memory a client could fill at line rate).
    let mut raw = Vec::new();
    for i in 0..2000u32 {
        raw.extend(frame(true, 0x9, &i.to_be_bytes()));
    }
    probe.get_mut().write_all(&raw).await.unwrap();
    let last = Bytes::copy_from_slice(&1999u32.to_be_bytes());
    loop {
        match within(probe.next()).await.unwrap().unwrap() {
            Message::Pong(p) if p == last => break,
            Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    probe.send(Message::text("2probe")).await.unwrap();
    assert_eq!(next_text(&mut probe).await, "3probe");
    // The upgrade completes and the session works over it.
    probe.send(Message::text("5")).await.unwrap();
    probe.send(Message::text("40")).await.unwrap();
    assert!(next_text(&mut probe).await.starts_with("40{"));
    alive(&mut probe, 3).await;
    alive(&mut witness, 1).await;
}
