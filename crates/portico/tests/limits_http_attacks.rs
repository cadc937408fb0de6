//! Hostile HTTP input against `portico::serve_with_shutdown` over real TCP: each is answered
//! by a clean error or a close, and afterwards a fresh client still connects, emits and gets
//! its ack. Timeouts are set short (hundreds of ms) so each case waits only for the server's
//! own timer; no test sleeps.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use std::time::Duration;

mod common;

use common::tcp::{connect, next_text, serve_echo, within};
use futures_util::{SinkExt, StreamExt};
use portico::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const SHORT: Duration = Duration::from_millis(300);

/// A server with an `echo` handler (acks its arguments): max payload 1000 bytes, header read
/// and upgrade timeouts of 300 ms.
async fn start() -> (String, Server) {
    let io = Server::builder()
        .max_payload(1000)
        .header_read_timeout(SHORT)
        .upgrade_timeout(SHORT)
        .build()
        .unwrap();
    (serve_echo(io.clone()).await, io)
}

fn count(io: &Server, reason: &str) -> u64 {
    io.refusals()
        .into_iter()
        .find(|(r, _)| *r == reason)
        .map(|(_, n)| n)
        .unwrap()
}

/// A fresh client connects, emits `echo` and gets its ack: the server still serves.
async fn fresh_client_works(addr: &str) {
    let mut ws = connect(addr).await;
    ws.send(Message::text("421[\"echo\",\"still here\"]"))
        .await
        .unwrap();
    assert_eq!(next_text(&mut ws).await, "431[\"still here\"]");
}

/// Send `request` on a new connection; the response head and what followed, read until the
/// server closes (or `until` is in what was read).
async fn exchange(addr: &str, request: &[u8], until: Option<&str>) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before the whole request was written.
    let _ = tcp.write_all(request).await;
    read_reply(&mut tcp, until).await
}

async fn read_reply(tcp: &mut TcpStream, until: Option<&str>) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match within(tcp.read(&mut buf)).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&got);
        if until.is_some_and(|u| text.contains(u)) {
            break;
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn upgrade_request(query: &str, extra: &str) -> Vec<u8> {
    format!(
        "GET /socket.io/?{query} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// A polling session's sid, from a handshake on its own connection.
async fn polling_session(addr: &str) -> String {
    let reply = exchange(
        addr,
        b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        None,
    )
    .await;
    let body = reply.split("\r\n\r\n").nth(1).unwrap();
    let open: serde_json::Value = serde_json::from_str(&body[1..]).unwrap();
    open["sid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn unknown_and_prototype_transports_in_an_upgrade_get_code_0() {
    let (addr, io) = start().await;
    for transport in ["foo", "__proto__", "constructor", "websocket%00"] {
        let reply = exchange(
            &addr,
            &upgrade_request(
                &format!("EIO=4&transport={transport}"),
                "Connection: close\r\n",
            ),
            None,
        )
        .await;
        assert!(reply.starts_with("HTTP/1.1 400"), "{transport}: {reply}");
        assert!(
            reply.ends_with(r#"{"code":0,"message":"Transport unknown"}"#),
            "{transport}: {reply}"
        );
    }
    assert_eq!(count(&io, "bad_request"), 4);
    fresh_client_works(&addr).await;
}

#[tokio::test]
async fn an_upgrade_request_with_a_body_is_refused() {
    let (addr, io) = start().await;
    for framing in [
        "Content-Length: 5\r\n\r\nhello",
        "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    ] {
        let request = format!(
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n\
             Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{framing}"
        );
        let reply = exchange(&addr, request.as_bytes(), Some("}")).await;
        assert!(reply.starts_with("HTTP/1.1 400"), "{framing}: {reply}");
        assert!(
            reply.contains(r#"{"code":3,"message":"Bad request"}"#),
            "{reply}"
        );
    }
    assert_eq!(io.connection_count(), 0, "no session was opened");
    fresh_client_works(&addr).await;
}

#[tokio::test]
async fn an_h2c_upgrade_then_a_reset_leaves_the_server_serving() {
    let (addr, _io) = start().await;
    let request = "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n\
                   Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\
                   HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";
    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let reply = read_reply(&mut tcp, Some("}")).await;
    // Not a WebSocket upgrade: the Engine.IO error, no protocol switch.
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains(r#""code":3"#), "{reply}");
    // The HTTP/2 preface on the same connection, then a reset (RST, not FIN).
    let _ = tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
    tcp.set_zero_linger().unwrap();
    drop(tcp);
    // The same on a polling request (a handshake that is then abandoned).
    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    tcp.write_all(
        b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\
          Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQ\r\n\r\n",
    )
    .await
    .unwrap();
    tcp.set_zero_linger().unwrap();
    drop(tcp);
    fresh_client_works(&addr).await;
}

#[tokio::test]
async fn a_streamed_post_far_over_max_payload_is_cut_at_the_limit() {
    let (addr, io) = start().await;
    let sid = polling_session(&addr).await;
    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\
         Content-Type: text/plain;charset=UTF-8\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    // 4 KB of a body announced as endless (chunked, no length): the answer comes without the
    // rest ever being sent, so the server cannot have waited for (or buffered) all of it.
    let chunk = format!("1000\r\n{}\r\n", "4".repeat(0x1000));
    tcp.write_all(chunk.as_bytes()).await.unwrap();
    let reply = read_reply(&mut tcp, Some("\r\n\r\n")).await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    // Declared too large up front: refused before reading a byte of it.
    let reply = exchange(
        &addr,
        format!(
            "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\
             Content-Length: 100000000\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
        Some("\r\n\r\n"),
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert_eq!(count(&io, "payload_too_large"), 2);
    fresh_client_works(&addr).await;
}

#[tokio::test]
async fn thousands_of_headers_and_huge_header_lines_get_431() {
    let (addr, _io) = start().await;
    let many: String = (0..5000).map(|i| format!("X-H{i}: v\r\n")).collect();
    let huge = format!("X-Huge: {}\r\n", "a".repeat(200 * 1024));
    for extra in [many, huge] {
        let request =
            format!("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
        let reply = exchange(&addr, request.as_bytes(), Some("\r\n\r\n")).await;
        assert!(
            reply.starts_with("HTTP/1.1 431"),
            "{}",
            &reply[..reply.len().min(200)]
        );
    }
    fresh_client_works(&addr).await;
}

#[tokio::test]
async fn a_long_sec_websocket_protocol_is_not_echoed_or_refused_with_431() {
    let (addr, _io) = start().await;
    // Long, but within the request head limit: the upgrade is served, no subprotocol chosen.
    let protocols: Vec<String> = (0..2000).map(|i| format!("p{i}")).collect();
    let long = format!("Sec-WebSocket-Protocol: {}\r\n", protocols.join(", "));
    let reply = exchange(
        &addr,
        &upgrade_request("EIO=4&transport=websocket", &long),
        Some("\r\n\r\n"),
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 101"), "{reply}");
    assert!(
        !reply
            .to_ascii_lowercase()
            .contains("sec-websocket-protocol"),
        "{reply}"
    );
    // Over it: 431 before any upgrade.
    let longer = format!("Sec-WebSocket-Protocol: {}\r\n", "p,".repeat(40 * 1024));
    let reply = exchange(
        &addr,
        &upgrade_request("EIO=4&transport=websocket", &longer),
        Some("\r\n\r\n"),
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply}");
    fresh_client_works(&addr).await;
}

#[tokio::test]
async fn request_headers_never_finished_are_cut_at_header_read_timeout() {
    let (addr, io) = start().await;
    // An upgrade started, its headers never finished.
    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    tcp.write_all(
        b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: webs",
    )
    .await
    .unwrap();
    let started = tokio::time::Instant::now();
    let reply = read_reply(&mut tcp, None).await;
    assert!(!reply.starts_with("HTTP/1.1 101"), "{reply}");
    assert!(started.elapsed() >= SHORT - Duration::from_millis(50));
    // An idle connection (no request at all) is closed too, but is no refusal.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    read_reply(&mut idle, None).await;
    within(async {
        while count(&io, "header_read_timeout") == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(count(&io, "header_read_timeout"), 1);
    fresh_client_works(&addr).await;
}

#[tokio::test]
async fn a_websocket_probe_that_never_completes_is_closed_and_polling_goes_on() {
    let (addr, io) = start().await;
    let sid = polling_session(&addr).await;
    // Join `/` over polling.
    let post = |body: &'static str| {
        format!(
            "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\
             Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let get = format!(
        "GET /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    assert!(exchange(&addr, post("40").as_bytes(), None)
        .await
        .ends_with("ok"));
    assert!(exchange(&addr, get.as_bytes(), None).await.contains("40{"));
    // Two upgrades that never finish: one sends nothing after the 101, one sends `2probe`
    // and never `5`.
    for (probe, event, ack) in [
        (None, "421[\"echo\",\"poll\"]", "431[\"poll\"]"),
        (Some("2probe"), "422[\"echo\",\"poll\"]", "432[\"poll\"]"),
    ] {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket&sid={sid}");
        let tcp = TcpStream::connect(&addr).await.unwrap();
        let (mut ws, _) = within(tokio_tungstenite::client_async(url, tcp))
            .await
            .unwrap();
        if let Some(p) = probe {
            ws.send(Message::text(p)).await.unwrap();
            assert_eq!(next_text(&mut ws).await, "3probe");
        }
        // The server closes the WebSocket once upgrade_timeout passes.
        let end = within(async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                }
            }
        });
        end.await;
        // The polling session still works.
        let reply = exchange(&addr, post(event).as_bytes(), None).await;
        assert!(reply.ends_with("ok"), "{reply}");
        let reply = exchange(&addr, get.as_bytes(), Some(ack)).await;
        assert!(reply.contains(ack), "{reply}");
    }
    assert_eq!(count(&io, "upgrade_timeout"), 2);
    fresh_client_works(&addr).await;
}
