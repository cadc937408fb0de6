//! The load generator's API: acknowledgements without a timer each ([`PendingAck`]) and events
//! received in batches ([`Events::recv_raw_many`]), over both transports. The bursts also cross
//! the server's write path with many frames per write and frames over its 16 KiB chunk.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

mod common;

use portico_client::{Client, ClientConfig, Event, RawEvent, Transport};
use serde_json::json;

use common::{bounded, start};

async fn pending_acks_and_batches(transport: Transport) {
    let server = start().await;
    let config = ClientConfig::new(&server.url).transport(transport);
    let (client, mut events) = bounded(Client::connect(config)).await.unwrap();

    // Many acknowledgements in flight at once, each answered with its own arguments.
    let pending: Vec<_> = (0..200)
        .map(|i| client.emit_with_ack_pending("echo", &[json!(i)]).unwrap())
        .collect();
    for (i, ack) in pending.into_iter().enumerate() {
        assert_eq!(bounded(ack).await.unwrap(), vec![json!(i)]);
    }
    // A dropped PendingAck is forgotten; the connection goes on.
    drop(
        client
            .emit_with_ack_pending("echo", &[json!("dropped")])
            .unwrap(),
    );
    let after = client
        .emit_with_ack_pending("echo", &[json!("after")])
        .unwrap();
    assert_eq!(bounded(after).await.unwrap(), vec![json!("after")]);

    // 1,000 small events and 3 of 40,000 characters, received in batches, in order, none lost.
    for (n, size) in [(1000u32, 16usize), (3, 40_000)] {
        let done = client
            .emit_with_ack_pending("burst", &[json!(n), json!(size)])
            .unwrap();
        let mut got = 0u32;
        let mut batch = Vec::new();
        let mut batches = 0;
        while got < n {
            batch.clear();
            let added = bounded(events.recv_raw_many(&mut batch, 128)).await;
            assert!(added > 0 && added <= 128, "{added} events in one batch");
            batches += 1;
            for e in batch.drain(..) {
                let RawEvent::Text(text) = e else {
                    panic!("unexpected {e:?}")
                };
                let m = events.parse(&text).unwrap();
                if m.name == "welcome" {
                    continue; // sent on connection, before anything else
                }
                assert_eq!(m.name, "b");
                assert_eq!(m.args, vec![json!("x".repeat(size))]);
                got += 1;
            }
        }
        assert_eq!(got, n);
        assert!(batches <= n as usize);
        assert_eq!(bounded(done).await.unwrap(), vec![json!(n)]);
    }

    // After the disconnection, a batch holds it and then the stream is over.
    client.emit("kick", &[]).unwrap();
    let mut batch = Vec::new();
    let mut reason = None;
    while reason.is_none() {
        batch.clear();
        assert!(bounded(events.recv_raw_many(&mut batch, 16)).await > 0);
        reason = batch.iter().find_map(|e| match e {
            RawEvent::Event(e) => match **e {
                Event::Disconnected(r) => Some(r.as_str()),
                _ => None,
            },
            _ => None,
        });
    }
    assert_eq!(reason, Some("io server disconnect"));
    assert_eq!(bounded(events.recv_raw_many(&mut batch, 16)).await, 0);
    // Pending acknowledgements of a closed connection fail instead of hanging.
    if let Ok(ack) = client.emit_with_ack_pending("echo", &[]) {
        let _ = bounded(ack).await;
    }
}

#[tokio::test]
async fn over_websocket() {
    pending_acks_and_batches(Transport::WebSocket).await;
}

#[tokio::test]
async fn over_polling() {
    pending_acks_and_batches(Transport::Polling).await;
}

#[tokio::test]
async fn after_an_upgrade() {
    pending_acks_and_batches(Transport::Upgrade).await;
}
