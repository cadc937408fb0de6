//! `portico::serve` holds a new WebSocket session's `101 Switching Protocols` back until the
//! session's open packet follows it, and sends both in one write (a system call and a TCP
//! segment less per handshake). The client sees the `101` and then the open packet, as before.
//! The `101` that upgrades a polling session is not held: the server writes nothing after it
//! until the client's probe, so it goes out at once.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

mod common;

use common::tcp::{read_until, serve_echo};
use portico::Server;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn upgrade_request(query: &str) -> String {
    format!(
        "GET /socket.io/?{query} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
}

#[tokio::test]
async fn a_new_websocket_session_gets_its_101_then_its_open_packet() {
    let addr = serve_echo(Server::builder().build().unwrap()).await;
    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    tcp.write_all(upgrade_request("EIO=4&transport=websocket").as_bytes())
        .await
        .unwrap();
    let got = read_until(&mut tcp, b"\"maxPayload\":1000000}").await;
    let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&got[..head_end]).to_lowercase();
    assert!(
        head.starts_with("http/1.1 101 switching protocols\r\n"),
        "{head}"
    );
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=\r\n"),
        "{head}"
    );
    // Right after the head: the open packet, one unmasked text frame.
    let frame = &got[head_end..];
    assert_eq!(frame[0], 0x81, "{frame:?}");
    let len = usize::from(frame[1]);
    assert_eq!(
        frame.len(),
        2 + len,
        "nothing else before the client speaks"
    );
    assert!(frame[2..].starts_with(b"0{\"sid\":\""), "{frame:?}");
    // The session works: CONNECT to / (a masked frame, as a client sends) is answered.
    let payload = b"40";
    let mask = [1u8, 2, 3, 4];
    let mut connect = vec![0x81, 0x80 | payload.len() as u8];
    connect.extend_from_slice(&mask);
    connect.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    tcp.write_all(&connect).await.unwrap();
    read_until(&mut tcp, b"40{\"sid\":\"").await;
}

#[tokio::test]
async fn the_101_upgrading_a_polling_session_is_not_held() {
    let addr = serve_echo(Server::builder().build().unwrap()).await;
    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    tcp.write_all(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let reply = String::from_utf8(read_until(&mut tcp, b"\"maxPayload\":1000000}").await).unwrap();
    let sid = reply
        .split("\"sid\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let mut ws = TcpStream::connect(&addr).await.unwrap();
    ws.write_all(upgrade_request(&format!("EIO=4&transport=websocket&sid={sid}")).as_bytes())
        .await
        .unwrap();
    // The client sends nothing more (no probe) until it has the 101: it must come alone.
    let got = read_until(&mut ws, b"\r\n\r\n").await;
    assert!(
        got.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(got.ends_with(b"\r\n\r\n"), "nothing after the head");
}
