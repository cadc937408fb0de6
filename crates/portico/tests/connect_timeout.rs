//! `connect_timeout`, on the paused clock: an Engine.IO session that never joins a namespace
//! (never sends `40`) is closed once it runs out; a session that joined stays.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::time::Duration;

use common::{since, Client};
use http::StatusCode;
use portico::Server;
use tokio::time::Instant;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const PING_INTERVAL: Duration = Duration::from_secs(5);

#[tokio::test(start_paused = true)]
async fn a_session_that_never_joins_is_closed_and_one_that_joined_stays() {
    let io = Server::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .ping_interval(PING_INTERVAL)
        .build()
        .unwrap();
    let mut disconnects = common::echo_server(&io);
    let client = Client::new(&io);
    let start = Instant::now();
    let (idle, _) = client.handshake().await;
    let joined = client.join().await;
    assert_eq!(io.connection_count(), 2);

    // The idle session's pending GET gets the close packet at connect_timeout.
    assert_eq!(client.get_packets(&idle).await, ["1"]);
    let elapsed = since(start);
    assert!(
        elapsed >= CONNECT_TIMEOUT && elapsed < CONNECT_TIMEOUT + Duration::from_millis(5),
        "closed after {elapsed:?}"
    );
    client
        .get(&idle)
        .await
        .assert_error(StatusCode::BAD_REQUEST, 1);

    // The joined one is still there well after connect_timeout: its next GET is the ping.
    assert_eq!(client.get_packets(&joined).await, ["2"]);
    assert!(since(start) >= PING_INTERVAL);
    client.post_ok(&joined, "3").await;
    client.assert_alive(&joined, 1).await;
    assert_eq!(io.connection_count(), 1);
    assert_eq!(io.of("/").sockets().len(), 1);
    assert!(
        disconnects.try_recv().is_err(),
        "a joined socket disconnected"
    );
}

#[tokio::test(start_paused = true)]
async fn joining_just_before_the_deadline_is_in_time() {
    let io = Server::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .ping_interval(PING_INTERVAL)
        .build()
        .unwrap();
    let _disconnects = common::echo_server(&io);
    let client = Client::new(&io);
    let (sid, _) = client.handshake().await;
    // Virtual time: the session's own timer decides, not this test's scheduling.
    tokio::time::sleep(CONNECT_TIMEOUT - Duration::from_millis(10)).await;
    client.post_ok(&sid, "40").await;
    client.poll_until(&sid, |p| p.starts_with("40{")).await;
    // Past the deadline now, and past a ping: still connected.
    assert_eq!(client.get_packets(&sid).await, ["2"]);
    client.post_ok(&sid, "3").await;
    client.assert_alive(&sid, 2).await;
    assert_eq!(io.connection_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_join_that_completes_after_a_slow_connect_middleware_stays() {
    let io = Server::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .ping_interval(PING_INTERVAL)
        .build()
        .unwrap();
    let _disconnects = common::echo_server(&io);
    io.of("/").use_connect(|_socket: portico::Socket| async {
        tokio::time::sleep(CONNECT_TIMEOUT / 2).await;
        Ok(())
    });
    let client = Client::new(&io);
    let start = Instant::now();
    let sid = client.join().await;
    assert!(since(start) >= CONNECT_TIMEOUT / 2);
    assert_eq!(client.get_packets(&sid).await, ["2"]);
    client.post_ok(&sid, "3").await;
    client.assert_alive(&sid, 3).await;
}
