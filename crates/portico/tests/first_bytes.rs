//! `portico::serve` reads a connection's first bytes itself (to tell HTTP/2 with prior
//! knowledge from HTTP/1, within the header read timeout) and hands them to hyper: whatever
//! way those bytes arrive, the request they start is served whole, and bytes that follow a
//! WebSocket upgrade request in the same read are the start of the WebSocket stream.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

mod common;

use common::tcp::{serve_echo, within};
use portico::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start() -> String {
    serve_echo(Server::builder().build().unwrap()).await
}

/// Read until `needle` has arrived; returns everything read.
async fn read_until(tcp: &mut TcpStream, needle: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(needle) {
        let n = within(tcp.read(&mut buf)).await.unwrap();
        assert!(
            n > 0,
            "closed before {needle:?}: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn handshake_request(extra_headers: &str) -> String {
    format!("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n{extra_headers}\r\n")
}

#[tokio::test]
async fn a_request_sent_a_byte_at_a_time_is_served() {
    let addr = start().await;
    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    // "P" could start an HTTP/2 preface: the server waits for more before it decides.
    let req =
        "POST /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    for b in req.as_bytes() {
        tcp.write_all(&[*b]).await.unwrap();
        tcp.flush().await.unwrap();
    }
    // A POST without a session: the engine's own answer, so the request reached it whole.
    let res = read_until(&mut tcp, "\r\n\r\n").await;
    assert!(res.starts_with("HTTP/1.1 400"), "{res}");
}

#[tokio::test]
async fn a_request_head_longer_than_the_first_read_is_served() {
    let addr = start().await;
    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    let padding = format!("X-Padding: {}\r\n", "a".repeat(9000));
    tcp.write_all(handshake_request(&padding).as_bytes())
        .await
        .unwrap();
    let res = read_until(&mut tcp, "\"pingInterval\"").await;
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
}

#[tokio::test]
async fn keep_alive_requests_after_the_first_are_served() {
    let addr = start().await;
    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    for _ in 0..3 {
        tcp.write_all(handshake_request("").as_bytes())
            .await
            .unwrap();
        let res = read_until(&mut tcp, "\"maxPayload\":1000000}").await;
        assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    }
}

#[tokio::test]
async fn websocket_frames_in_the_same_read_as_the_upgrade_request_are_not_lost() {
    let addr = start().await;
    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    let mut bytes = "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n\
        Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        .as_bytes()
        .to_vec();
    // The Socket.IO CONNECT ("40"), a masked text frame, right behind the request.
    let mask = [1u8, 2, 3, 4];
    bytes.extend_from_slice(&[0x81, 0x80 | 2]);
    bytes.extend_from_slice(&mask);
    bytes.extend(b"40".iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    tcp.write_all(&bytes).await.unwrap();
    let got = read_until(&mut tcp, "40{\"sid\":").await;
    assert!(got.starts_with("HTTP/1.1 101"), "{got}");
}

#[tokio::test]
async fn an_http2_preface_gets_http2() {
    let addr = start().await;
    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    // The preface in two writes (a partial preface is waited for), then an empty SETTINGS.
    tcp.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    tcp.flush().await.unwrap();
    tcp.write_all(b"\r\nSM\r\n\r\n").await.unwrap();
    tcp.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    // The server's first frame is its own SETTINGS (type 4 on stream 0).
    let mut head = [0u8; 9];
    within(tcp.read_exact(&mut head)).await.unwrap();
    assert_eq!(head[3], 4, "frame type: {head:?}");
    assert_eq!(&head[5..9], &[0, 0, 0, 0], "stream id: {head:?}");
}
