//! Heartbeat over polling, on the paused clock: the server pings `ping_interval` after the
//! handshake (and after each pong); a client that does not answer within `ping_timeout` is
//! gone, one that answers stays.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::time::Duration;

use common::{since, Client};
use http::StatusCode;
use portico::{DisconnectReason, Server};
use tokio::time::Instant;

const PING_INTERVAL: Duration = Duration::from_secs(25);
const PING_TIMEOUT: Duration = Duration::from_secs(20);
/// Timer resolution of tokio's clock.
const SLACK: Duration = Duration::from_millis(2);

type Disconnects = tokio::sync::mpsc::UnboundedReceiver<(portico::Sid, DisconnectReason)>;

fn server() -> (Server, Disconnects) {
    let io = Server::builder()
        .ping_interval(PING_INTERVAL)
        .ping_timeout(PING_TIMEOUT)
        .build()
        .unwrap();
    let disconnects = common::echo_server(&io);
    (io, disconnects)
}

#[track_caller]
fn assert_about(elapsed: Duration, expected: Duration) {
    assert!(
        elapsed >= expected && elapsed <= expected + SLACK,
        "elapsed {elapsed:?}, expected {expected:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn no_pong_closes_the_session_after_ping_interval_plus_ping_timeout() {
    let (io, mut disconnects) = server();
    let client = Client::new(&io);
    let start = Instant::now();
    let (sid, open) = client.handshake().await;
    assert_eq!(open["pingInterval"], PING_INTERVAL.as_millis() as u64);
    assert_eq!(open["pingTimeout"], PING_TIMEOUT.as_millis() as u64);
    client.post_ok(&sid, "40").await;
    let connect = client.get_packets(&sid).await;
    assert!(connect[0].starts_with("40{"), "{connect:?}");

    // The pending GET is answered with the ping, ping_interval after the handshake.
    assert_eq!(client.get_packets(&sid).await, ["2"]);
    assert_about(since(start), PING_INTERVAL);

    // No pong: the next pending GET gets the close packet when ping_timeout runs out.
    assert_eq!(client.get_packets(&sid).await, ["1"]);
    assert_about(since(start), PING_INTERVAL + PING_TIMEOUT);

    // ... and the session is gone.
    client
        .get(&sid)
        .await
        .assert_error(StatusCode::BAD_REQUEST, 1);
    client
        .post(&sid, "3")
        .await
        .assert_error(StatusCode::BAD_REQUEST, 1);
    assert_eq!(io.connection_count(), 0);
    let (_, reason) = common::next_disconnect(&mut disconnects).await;
    assert_eq!(reason, DisconnectReason::PingTimeout);
}

#[tokio::test(start_paused = true)]
async fn a_session_that_pongs_stays() {
    let (io, disconnects) = server();
    let client = Client::new(&io);
    let sid = client.join().await;
    let mut last_pong = Instant::now();
    // Well past ping_interval + ping_timeout in total: each pong starts a new interval.
    for _ in 0..4 {
        assert_eq!(client.get_packets(&sid).await, ["2"]);
        assert_about(since(last_pong), PING_INTERVAL);
        client.post_ok(&sid, "3").await;
        last_pong = Instant::now();
    }
    assert!(since(last_pong) < PING_TIMEOUT);
    assert_eq!(io.connection_count(), 1);
    assert_eq!(io.of("/").sockets().len(), 1);
    client.assert_alive(&sid, 7).await;
    assert!(disconnects.is_empty());
}

#[tokio::test(start_paused = true)]
async fn with_no_get_pending_the_session_closes_on_its_own_clock() {
    let (io, mut disconnects) = server();
    let client = Client::new(&io);
    let sid = client.join().await;
    assert_eq!(client.get_packets(&sid).await, ["2"]);
    let ping = Instant::now();
    // Nobody polls: the server ends the session when ping_timeout runs out.
    let (_, reason) = common::next_disconnect(&mut disconnects).await;
    assert_eq!(reason, DisconnectReason::PingTimeout);
    assert_about(since(ping), PING_TIMEOUT);
    assert_eq!(io.connection_count(), 0);
    // A late pong does not bring it back.
    client
        .post(&sid, "3")
        .await
        .assert_error(StatusCode::BAD_REQUEST, 1);
}
