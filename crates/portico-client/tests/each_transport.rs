//! Each transport connects, exchanges events and acks both ways, and closes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

mod common;

use portico_client::{Client, ClientConfig, Event, Transport};
use serde_json::json;

use common::{bounded, next_named, start, WAIT};

async fn exercise(transport: Transport, expected: Transport) {
    let server = start().await;
    let config = ClientConfig::new(&server.url).transport(transport);
    let (client, mut events) = bounded(Client::connect(config)).await.unwrap();
    assert!(!client.id().is_empty());
    assert_eq!(client.transport(), expected);

    // A server event emitted in the connection handler.
    let welcome = next_named(&mut events, "welcome").await;
    assert_eq!(welcome.args, vec![json!({"hello": "client"})]);

    // Client → server with ack.
    let reply = client
        .emit_with_ack("echo", &[json!("a"), json!({"n": 1})], WAIT)
        .await
        .unwrap();
    assert_eq!(reply, vec![json!("a"), json!({"n": 1})]);

    // Server → client with ack: the server asks, the client answers, the server reports.
    let asking = {
        let client = client.clone();
        tokio::spawn(async move { client.emit_with_ack("ask", &[json!("q?")], WAIT).await })
    };
    let question = next_named(&mut events, "question").await;
    assert!(question.wants_ack());
    assert_eq!(question.args, vec![json!("q?")]);
    question.ack(&[json!("answer")]).unwrap();
    let reported = bounded(asking).await.unwrap().unwrap();
    assert_eq!(reported, vec![json!("answer")]);

    // Raw frames go out as they are.
    client.emit_raw(bytes_frame()).unwrap();

    // The server disconnects the socket: the client sees it, with the reason.
    client.emit("kick", &[]).unwrap();
    let reason = bounded(async {
        loop {
            match events.recv().await {
                Some(Event::Disconnected(reason)) => return reason,
                Some(_) => {}
                None => panic!("stream ended without a reason"),
            }
        }
    })
    .await;
    assert_eq!(reason.as_str(), "io server disconnect");
    client.close().await;
}

fn bytes_frame() -> portico::Bytes {
    portico::Bytes::from_static(br#"42["echo","raw"]"#)
}

#[tokio::test]
async fn websocket() {
    exercise(Transport::WebSocket, Transport::WebSocket).await;
}

#[tokio::test]
async fn polling() {
    exercise(Transport::Polling, Transport::Polling).await;
}

#[tokio::test]
async fn upgrade() {
    exercise(Transport::Upgrade, Transport::WebSocket).await;
}
