//! CONNECT floods: a client that repeats a CONNECT while the first is still being decided (a
//! middleware that waits) gets one socket and one answer, not one per packet.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{Client, SEPARATOR};
use portico::{Server, Socket};

#[tokio::test(start_paused = true)]
async fn repeated_connects_while_one_is_pending_make_one_socket() {
    let io = Server::builder().build().unwrap();
    common::echo_server(&io);
    let (started, done) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (s, d) = (started.clone(), done.clone());
    io.of("/").use_connect(move |_s: Socket| {
        let (s, d) = (s.clone(), d.clone());
        async move {
            s.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            d.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    });
    let client = Client::new(&io);
    let (sid, _) = client.handshake().await;
    let flood = vec!["40"; 1000].join(&SEPARATOR.to_string());
    client.post_ok(&sid, &flood).await;
    client.poll_until(&sid, |p| p.starts_with("40{")).await;
    common::until("every middleware run ends", || {
        done.load(Ordering::SeqCst) == started.load(Ordering::SeqCst)
    })
    .await;
    assert_eq!(started.load(Ordering::SeqCst), 1, "one CONNECT decided");
    assert_eq!(io.of("/").sockets().len(), 1);
    client.assert_alive(&sid, 1).await;
}

#[tokio::test(start_paused = true)]
async fn distinct_connects_being_decided_at_once_are_capped() {
    let io = Server::builder().build().unwrap();
    common::echo_server(&io);
    let parent = io.dynamic_namespace(|n| n.starts_with("/d-"));
    parent.use_connect(|_s: Socket| async move {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        Err(portico::ConnectError::new("no"))
    });
    let client = Client::new(&io);
    let sid = client.join().await;
    let names: Vec<String> = (0..300).map(|i| format!("/d-{i}")).collect();
    let flood: Vec<String> = names.iter().map(|n| format!("40{n},")).collect();
    client
        .post_ok(&sid, &flood.join(&SEPARATOR.to_string()))
        .await;
    let mut answers = Vec::new();
    while answers.len() < names.len() {
        for p in client.get_packets(&sid).await {
            if p == "2" {
                client.post_ok(&sid, "3").await;
            } else {
                answers.push(p);
            }
        }
    }
    let too_many = answers
        .iter()
        .filter(|a| a.ends_with(r#",{"message":"too many namespaces joining at once"}"#))
        .count();
    let refused = answers
        .iter()
        .filter(|a| a.ends_with(r#",{"message":"no"}"#))
        .count();
    assert_eq!((refused, too_many), (128, 172));
    assert!(parent.children().is_empty());
    assert_eq!(io.namespace_count(), 1);
    client.assert_alive(&sid, 1).await;
    // Once decided, the slots are free again.
    client.post_ok(&sid, "40/d-again,").await;
    client
        .poll_until(&sid, |p| p == r#"44/d-again,{"message":"no"}"#)
        .await;
}
