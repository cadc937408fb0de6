//! Server-to-client acknowledgements with a timeout, on the paused clock:
//! `socket.timeout(d).emit_with_ack(..)` ends with `AckError::Timeout` after `d` when the
//! client never answers, and with the decoded reply when it answers (`43<id>[..]`).
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::time::Duration;

use common::{bounded, since, Client};
use portico::{AckError, Server, Socket};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;

const ACK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Deserialize, PartialEq)]
struct Answer {
    n: u32,
}

/// A server whose `ask` handler asks the client `question` (with an ack, bounded by
/// ACK_TIMEOUT) and reports the outcome.
fn server() -> (Server, mpsc::UnboundedReceiver<Result<Answer, AckError>>) {
    let io = Server::builder().build().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    io.of("/").on_connection(move |socket: Socket| {
        let tx = tx.clone();
        async move {
            socket.on("ask", move |socket: Socket| {
                let tx = tx.clone();
                async move {
                    let outcome = socket
                        .timeout(ACK_TIMEOUT)
                        .emit_with_ack::<_, Answer>("question", &json!({"q": "n?"}))
                        .await;
                    let _ = tx.send(outcome);
                }
            });
        }
    });
    (io, rx)
}

/// Poll until the `question` event arrives; returns its ack id.
async fn question_id(client: &Client, sid: &str) -> u64 {
    let packet = client
        .poll_until(sid, |p| p.contains("[\"question\""))
        .await;
    let (id, args) = packet
        .strip_prefix("42")
        .and_then(|rest| rest.split_once('['))
        .unwrap_or_else(|| panic!("not an event with an ack id: {packet}"));
    assert_eq!(args, "\"question\",{\"q\":\"n?\"}]");
    id.parse()
        .unwrap_or_else(|_| panic!("no ack id in {packet}"))
}

#[tokio::test(start_paused = true)]
async fn no_answer_times_out_after_the_timeout() {
    let (io, mut outcomes) = server();
    let client = Client::new(&io);
    let sid = client.join().await;
    let asked = Instant::now();
    client.post_ok(&sid, "42[\"ask\"]").await;
    let id = question_id(&client, &sid).await;

    let outcome = bounded("ack outcome", outcomes.recv()).await.unwrap();
    assert!(matches!(outcome, Err(AckError::Timeout)), "{outcome:?}");
    let elapsed = since(asked);
    assert!(
        elapsed >= ACK_TIMEOUT && elapsed < ACK_TIMEOUT + Duration::from_millis(5),
        "timed out after {elapsed:?}"
    );

    // A late answer is ignored, and the connection carries on.
    client.post_ok(&sid, &format!("43{id}[{{\"n\":1}}]")).await;
    assert!(outcomes.try_recv().is_err());
    client.post_ok(&sid, "42[\"ask\"]").await;
    let second = question_id(&client, &sid).await;
    assert_ne!(second, id, "ack ids are not reused");
    client
        .post_ok(&sid, &format!("43{second}[{{\"n\":2}}]"))
        .await;
    let outcome = bounded("ack outcome", outcomes.recv()).await.unwrap();
    assert_eq!(outcome.unwrap(), Answer { n: 2 });
}

#[tokio::test(start_paused = true)]
async fn an_answer_within_the_timeout_is_the_reply() {
    let (io, mut outcomes) = server();
    let client = Client::new(&io);
    let sid = client.join().await;
    client.post_ok(&sid, "42[\"ask\"]").await;
    let id = question_id(&client, &sid).await;
    let asked = Instant::now();
    // Answer late within the timeout (virtual time).
    tokio::time::sleep(ACK_TIMEOUT - Duration::from_millis(100)).await;
    client.post_ok(&sid, &format!("43{id}[{{\"n\":42}}]")).await;

    let outcome = bounded("ack outcome", outcomes.recv()).await.unwrap();
    assert_eq!(outcome.unwrap(), Answer { n: 42 });
    assert!(since(asked) < ACK_TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn an_answer_that_does_not_decode_is_a_decode_error() {
    let (io, mut outcomes) = server();
    let client = Client::new(&io);
    let sid = client.join().await;
    client.post_ok(&sid, "42[\"ask\"]").await;
    let id = question_id(&client, &sid).await;
    client
        .post_ok(&sid, &format!("43{id}[{{\"n\":\"not a number\"}}]"))
        .await;
    let outcome = bounded("ack outcome", outcomes.recv()).await.unwrap();
    assert!(matches!(outcome, Err(AckError::Decode(_))), "{outcome:?}");
}
