//! The server's own WebSocket reader against an independent client (tungstenite): fragments,
//! pings, the close handshake, and frames a client must not send.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

mod common;

use common::tcp::{connect, next_text, serve_echo, within};
use futures_util::{SinkExt, StreamExt};
use portico::{Ack, Args, Server, Socket};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::{Bytes, Message};

/// A server with an `echo` handler (acks its arguments), max payload 1000 bytes.
async fn start() -> String {
    serve_echo(Server::builder().max_payload(1000).build().unwrap()).await
}

fn part(data: &'static [u8], op: OpCode, fin: bool) -> Message {
    Message::Frame(Frame::message(Bytes::from_static(data), op, fin))
}

#[tokio::test]
async fn fragments_pings_and_the_close_handshake() {
    let url = start().await;
    let mut ws = connect(&url).await;

    // A ping is answered with a pong carrying the same payload.
    ws.send(Message::Ping(Bytes::from_static(b"hello?")))
        .await
        .unwrap();
    let pong = match within(ws.next()).await.unwrap().unwrap() {
        Message::Pong(p) => p,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(pong, Bytes::from_static(b"hello?"));

    // An event in three fragments, a ping between two of them.
    ws.send(part(b"421[\"ec", OpCode::Data(Data::Text), false))
        .await
        .unwrap();
    ws.send(Message::Ping(Bytes::new())).await.unwrap();
    ws.send(part(b"ho\",\"fr", OpCode::Data(Data::Continue), false))
        .await
        .unwrap();
    ws.send(part(b"ag\"]", OpCode::Data(Data::Continue), true))
        .await
        .unwrap();
    assert_eq!(next_text(&mut ws).await, r#"431["frag"]"#);

    // Back-to-back events in one write are all answered, in order.
    let mut burst = Vec::new();
    for i in 0..50 {
        burst.push(Message::text(format!("42{i}[\"echo\",{i}]")));
    }
    for m in burst {
        ws.feed(m).await.unwrap();
    }
    ws.flush().await.unwrap();
    for i in 0..50 {
        assert_eq!(next_text(&mut ws).await, format!("43{i}[{i}]"));
    }

    // The client's close is answered with a close carrying its code, then the stream ends.
    ws.send(Message::Close(Some(
        tokio_tungstenite::tungstenite::protocol::CloseFrame {
            code: CloseCode::Away,
            reason: "".into(),
        },
    )))
    .await
    .unwrap();
    let mut reply = None;
    while let Some(m) = within(ws.next()).await {
        match m {
            Ok(Message::Close(c)) => reply = c,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert_eq!(reply.map(|c| c.code), Some(CloseCode::Away));
}

/// A masked client frame (mask key 0: the payload as it is).
fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    f.extend_from_slice(payload);
    f
}

#[tokio::test]
async fn events_read_together_are_all_answered_in_order_then_the_close() {
    let url = start().await;
    let mut ws = connect(&url).await;
    // Twenty events, a ping and a close in one write: the server handles what one read
    // brought before writing, and must still answer each, in order, then the close.
    let mut raw = Vec::new();
    for i in 0..20 {
        raw.extend(masked(0x1, format!("42{i}[\"echo\",{i}]").as_bytes()));
        if i == 10 {
            raw.extend(masked(0x9, b"mid"));
        }
    }
    raw.extend(masked(0x8, &1000u16.to_be_bytes()));
    ws.get_mut().write_all(&raw).await.unwrap();
    let mut texts = Vec::new();
    let (mut pong, mut close) = (false, None);
    while let Some(m) = within(ws.next()).await {
        match m {
            Ok(Message::Text(t)) => texts.push(t.to_string()),
            Ok(Message::Pong(p)) => pong = p == Bytes::from_static(b"mid"),
            Ok(Message::Close(c)) => close = c.map(|c| c.code),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let want: Vec<String> = (0..20).map(|i| format!("43{i}[{i}]")).collect();
    assert_eq!(texts, want);
    assert!(pong, "the ping inside the burst is answered");
    assert_eq!(close, Some(CloseCode::Normal));
}

/// After `raw` bytes the server closes with `code` and ends the stream.
async fn closes_with(raw: &[u8], code: CloseCode) {
    let url = start().await;
    let mut ws = connect(&url).await;
    ws.get_mut().write_all(raw).await.unwrap();
    let mut got = None;
    while let Some(m) = within(ws.next()).await {
        match m {
            Ok(Message::Close(c)) => got = c.map(|c| c.code),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert_eq!(got, Some(code), "after {raw:?}");
}

#[tokio::test]
async fn frames_a_client_must_not_send_close_the_connection_with_their_code() {
    // Unmasked text frame "42[]".
    closes_with(&[0x81, 4, b'4', b'2', b'[', b']'], CloseCode::Protocol).await;
    // RSV1 set without an extension.
    closes_with(&[0xC1, 0x80, 0, 0, 0, 0], CloseCode::Protocol).await;
    // Masked text that is not UTF-8 (mask 0: bytes as they are).
    closes_with(&[0x81, 0x82, 0, 0, 0, 0, 0xff, 0xfe], CloseCode::Invalid).await;
    // A frame over max_payload (1000), refused from its header.
    closes_with(&[0x82, 0xFE, 0x07, 0xD0, 0, 0, 0, 0], CloseCode::Size).await;
}

/// Served by hyper's own HTTP/1 connection (not hyper-util's server), the upgraded connection
/// is hyper's `Upgraded`, not the TCP stream: the same WebSocket behaviour over it.
#[tokio::test]
async fn over_hypers_upgraded_stream_too() {
    let io = Server::builder().build().unwrap();
    io.of("/").on_connection(|socket: Socket| async move {
        socket.on("echo", |_s: Socket, args: Args, ack: Ack| async move {
            ack.send(&args)
        });
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let service = hyper_util::service::TowerToHyperService::new(io.service());
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
            .with_upgrades()
            .await;
    });
    let mut ws = connect(&addr).await;
    ws.send(Message::Ping(Bytes::from_static(b"p")))
        .await
        .unwrap();
    let pong = match within(ws.next()).await.unwrap().unwrap() {
        Message::Pong(p) => p,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(pong, Bytes::from_static(b"p"));
    ws.send(part(b"427[\"echo\",", OpCode::Data(Data::Text), false))
        .await
        .unwrap();
    ws.send(part(b"\"up\"]", OpCode::Data(Data::Continue), true))
        .await
        .unwrap();
    assert_eq!(next_text(&mut ws).await, r#"437["up"]"#);
    ws.send(Message::Close(None)).await.unwrap();
    let mut closed = false;
    while let Some(m) = within(ws.next()).await {
        match m {
            Ok(Message::Close(_)) => closed = true,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert!(closed, "the server answered the close");
}

/// A new Engine.IO v4 WebSocket session's upgrade request, as a client writes it.
const V4_UPGRADE: &[u8] = b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n\
    Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// A new Engine.IO v4 WebSocket session's `101`, handed over unwritten to leave with the open
/// packet (`http::Leaves`), is written, whole and first: the client's first read holds the
/// `101` and the whole open packet (one write is read whole). That it is one write, the
/// engine's tests (which `101` waits) and the bench's system-call test
/// (tests/js/bench/profile.test.js, against the floor) hold. The same with a sticky-session
/// cookie, whose handshake is a `Response` with its `Set-Cookie`.
#[tokio::test]
async fn a_new_v4_sessions_101_leaves_with_its_open_packet() {
    use tokio::io::AsyncReadExt;
    let plain = start().await;
    let with_cookie = serve_echo(
        Server::builder()
            .cookie(portico::CookieOptions::default())
            .build()
            .unwrap(),
    )
    .await;
    for (url, cookie) in [(plain, false), (with_cookie, true)] {
        let mut tcp = tokio::net::TcpStream::connect(&url).await.unwrap();
        tcp.write_all(V4_UPGRADE).await.unwrap();
        let mut buf = [0u8; 4096];
        let n = within(tcp.read(&mut buf)).await.unwrap();
        let got = &buf[..n];
        let head_end = got
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|at| at + 4)
            .expect("the 101's whole head in the first read");
        assert!(got.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
        let head = String::from_utf8_lossy(&got[..head_end]).to_ascii_lowercase();
        assert_eq!(head.contains("\r\nset-cookie: io="), cookie, "{head}");
        let frame = &got[head_end..];
        // A text frame, whole: its header, then `0{...}`.
        assert!(
            frame.len() > 2,
            "the open packet in the 101's read: {got:?}"
        );
        assert_eq!(frame[0], 0x81, "{frame:?}");
        let len = usize::from(frame[1]);
        assert!(len < 126, "{frame:?}");
        assert_eq!(frame.len(), 2 + len, "{:?}", String::from_utf8_lossy(frame));
        assert!(frame[2..].starts_with(b"0{\"sid\":"), "{frame:?}");
    }
}

/// A client that closes (its close frame, alone or behind Engine.IO's close packet in the same
/// write) gets the close reply and then the end of the stream, and the server has let the
/// connection go by then: it closed first (RFC 6455 section 7.1.1) and does not wait for the
/// client's end. The proof: a byte the client sends afterwards meets a closed socket, which
/// resets the connection (a server still waiting for the client's end would read it
/// quietly).
#[tokio::test]
async fn a_client_that_closes_gets_the_reply_and_the_server_lets_go_first() {
    use tokio::io::{AsyncReadExt, Interest};
    let url = start().await;
    for with_close_packet in [false, true] {
        let mut tcp = tokio::net::TcpStream::connect(&url).await.unwrap();
        tcp.write_all(V4_UPGRADE).await.unwrap();
        // The 101, then the open packet (a text frame starting `0{`).
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.windows(2).any(|w| w == b"0{") {
            let n = within(tcp.read(&mut buf)).await.unwrap();
            assert!(n > 0, "closed before the open packet");
            got.extend_from_slice(&buf[..n]);
        }
        let mut bye = Vec::new();
        if with_close_packet {
            bye.extend(masked(0x1, b"1"));
        }
        bye.extend(masked(0x8, &1000u16.to_be_bytes()));
        tcp.write_all(&bye).await.unwrap();
        // Everything up to the end of the stream: it ends with the close reply (1000).
        let mut rest = Vec::new();
        loop {
            let n = within(tcp.read(&mut buf))
                .await
                .expect("the stream ends cleanly, not with a reset");
            if n == 0 {
                break;
            }
            rest.extend_from_slice(&buf[..n]);
        }
        assert!(
            rest.ends_with(&[0x88, 0x02, 0x03, 0xE8]),
            "close packet {with_close_packet}: {rest:?}"
        );
        // The server's socket is closed: what the client sends now is answered with a reset.
        tcp.write_all(b"x").await.unwrap();
        within(tcp.ready(Interest::ERROR)).await.unwrap();
        // The reset, as Linux words it for a socket whose peer had ended its side (EPIPE).
        let err = tcp.take_error().unwrap().expect("the socket's error");
        assert!(
            matches!(
                err.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ),
            "{err}"
        );
    }
}
