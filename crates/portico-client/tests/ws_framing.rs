//! The client's own WebSocket framing against an independent implementation (tungstenite as
//! the server): masking, pings, fragmented and large messages, the close handshake, and a
//! handshake answer that must be refused.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

mod common;

use futures_util::{SinkExt, StreamExt};
use portico_client::{Client, ClientConfig, ClientError, Event, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::{Bytes, Message};

use common::{bounded, WAIT};

const OPEN: &str =
    r#"0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;

/// Next text message from the client (tungstenite checks it was masked: a server must).
async fn text<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match bounded(ws.next()).await.unwrap().unwrap() {
            Message::Text(t) => return t.to_string(),
            Message::Pong(_) | Message::Ping(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn frames_from_an_independent_server_and_masked_frames_back() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        ws.send(Message::text(OPEN)).await.unwrap();
        assert_eq!(text(&mut ws).await, "40");
        ws.send(Message::text(r#"40{"sid":"x"}"#)).await.unwrap();

        // A WebSocket ping is answered with a masked pong carrying the same payload.
        ws.send(Message::Ping(Bytes::from_static(b"are you there")))
            .await
            .unwrap();
        // A message in three fragments, with a ping between them.
        let part = |data: &'static [u8], op, fin| Frame::message(Bytes::from_static(data), op, fin);
        ws.send(Message::Frame(part(
            b"42[\"frag",
            OpCode::Data(Data::Text),
            false,
        )))
        .await
        .unwrap();
        ws.send(Message::Ping(Bytes::from_static(b"2")))
            .await
            .unwrap();
        ws.send(Message::Frame(part(
            b"mented\",",
            OpCode::Data(Data::Continue),
            false,
        )))
        .await
        .unwrap();
        ws.send(Message::Frame(part(
            b"1]",
            OpCode::Data(Data::Continue),
            true,
        )))
        .await
        .unwrap();
        // A large message (64-bit length form).
        let big = format!("42[\"big\",\"{}\"]", "y".repeat(100_000));
        ws.send(Message::text(big)).await.unwrap();

        // What the client sends back arrives masked and whole.
        let mut pongs = Vec::new();
        let reply = loop {
            match bounded(ws.next()).await.unwrap().unwrap() {
                Message::Pong(p) => pongs.push(p),
                Message::Text(t) => break t.to_string(),
                other => panic!("unexpected {other:?}"),
            }
        };
        assert_eq!(reply, r#"42["done",100000]"#);
        // Let the pongs that may follow the text arrive too.
        while pongs.len() < 2 {
            match bounded(ws.next()).await.unwrap().unwrap() {
                Message::Pong(p) => pongs.push(p),
                other => panic!("unexpected {other:?} after {pongs:?}"),
            }
        }
        assert_eq!(
            pongs,
            vec![
                Bytes::from_static(b"are you there"),
                Bytes::from_static(b"2")
            ]
        );
        // The client's close: a close frame, then the end of the stream.
        let mut closed = false;
        while let Some(m) = bounded(ws.next()).await {
            match m {
                Ok(Message::Close(_)) => closed = true,
                // Socket.IO and Engine.IO close packets.
                Ok(Message::Text(t)) if matches!(t.as_str(), "41" | "1") => {}
                Ok(other) => panic!("unexpected {other:?}"),
                Err(_) => break,
            }
        }
        assert!(closed, "the client sent a close frame");
    });

    let config = ClientConfig::new(&url).transport(Transport::WebSocket);
    let (client, mut events) = bounded(Client::connect(config)).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        match bounded(events.recv()).await.unwrap() {
            Event::Message(m) => got.push((m.name.clone(), m.args.clone())),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got[0].0, "fragmented");
    assert_eq!(got[0].1, vec![serde_json::json!(1)]);
    assert_eq!(got[1].0, "big");
    let len = got[1].1[0].as_str().unwrap().len();
    client.emit("done", &[serde_json::json!(len)]).unwrap();
    bounded(client.close()).await;
    tokio::time::timeout(WAIT, server).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_wrong_accept_key_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 2048];
        let _ = tcp.read(&mut buf).await.unwrap();
        let answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                      Connection: Upgrade\r\nSec-WebSocket-Accept: d3Jvbmc=\r\n\r\n";
        tcp.write_all(answer.as_bytes()).await.unwrap();
        let _ = tcp.read(&mut buf).await;
    });
    let config = ClientConfig::new(&url).transport(Transport::WebSocket);
    let err = bounded(Client::connect(config)).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::WebSocket(m) if m.contains("Sec-WebSocket-Accept")),
        "{err}"
    );
}
