//! Per-connection limits: `event_rate` (a client sending faster is disconnected with `event
//! rate exceeded`), `max_buffer_packets` (a client that does not read is disconnected with
//! `send buffer full`), `max_attachments`, and the warnings about refusals: one line each, at
//! most 20 per reason per 10 s, then a `suppressed N similar warnings` line. Every other
//! session keeps working.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::Client;
use http::{Method, StatusCode};
use portico::{DisconnectReason, OriginPolicy, Server};

fn count(io: &Server, reason: &str) -> u64 {
    io.refusals()
        .into_iter()
        .find(|(r, _)| *r == reason)
        .map(|(_, n)| n)
        .unwrap()
}

/// Everything logged (warnings and up) while the guard lives, on this thread.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn capture() -> (Log, tracing::subscriber::DefaultGuard) {
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (log, tracing::subscriber::set_default(subscriber))
    }

    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

#[tokio::test(start_paused = true)]
async fn a_client_over_the_event_rate_is_disconnected_with_a_reason() {
    let (log, _guard) = Log::capture();
    let io = Server::builder().event_rate(10, 20).build().unwrap();
    let mut disconnects = common::echo_server(&io);
    let client = Client::new(&io);
    let witness = client.join().await;
    let flooder = client.join().await;
    // The burst (20 packets, the CONNECT included) is allowed...
    let burst: Vec<String> = (0..19).map(|i| format!("42[\"noop\",{i}]")).collect();
    client.post_ok(&flooder, &burst.join("\x1e")).await;
    // ...after a second, ten more are too...
    tokio::time::advance(Duration::from_secs(1)).await;
    let more: Vec<String> = (0..10).map(|i| format!("42[\"noop\",{i}]")).collect();
    client.post_ok(&flooder, &more.join("\x1e")).await;
    assert!(disconnects.is_empty());
    // ...but not an eleventh within that second.
    client.post_ok(&flooder, "42[\"noop\",\"over\"]").await;
    let (_, reason) = common::next_disconnect(&mut disconnects).await;
    assert_eq!(reason, DisconnectReason::EventRateExceeded);
    assert_eq!(reason.as_str(), "event rate exceeded");
    assert_eq!(count(&io, "event_rate"), 1);
    let lines = log.lines();
    assert!(
        lines.iter().any(|l| l.contains("WARN")
            && l.contains("refusal=\"event_rate\"")
            && l.contains("faster than event_rate (10 per second, bursts of 20)")),
        "{lines:#?}"
    );
    // The witness and a new client are untouched; the witness has its own bucket.
    client.assert_alive(&witness, 1).await;
    let fresh = client.join().await;
    client.assert_alive(&fresh, 1).await;
}

#[tokio::test(start_paused = true)]
async fn a_client_that_does_not_read_is_disconnected_at_max_buffer_packets() {
    let io = Server::builder().max_buffer_packets(50).build().unwrap();
    let mut disconnects = common::echo_server(&io);
    let client = Client::new(&io);
    let reader = client.join().await;
    let sleeper = client.join().await;
    // 100 tiny packets: far under max_buffer_bytes, over max_buffer_packets for a client
    // that never polls.
    for i in 0..100 {
        let _ = io.emit("tick", &i);
        // The reader keeps up.
        if i % 10 == 9 {
            client.get_packets(&reader).await;
        }
    }
    let (sid, reason) = common::next_disconnect(&mut disconnects).await;
    assert_eq!(reason, DisconnectReason::SendBufferFull);
    assert_ne!(sid.as_str(), "");
    assert_eq!(count(&io, "send_buffer_full"), 1);
    // Its polls now get an error, never a silently shortened stream.
    let res = client.get(&sleeper).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text());
    client.assert_alive(&reader, 1).await;
}

#[tokio::test(start_paused = true)]
async fn refusal_warnings_are_rate_limited_and_counted() {
    let (log, _guard) = Log::capture();
    let io = Server::builder()
        .origins(OriginPolicy::allow(["https://app.example.com"]).unwrap())
        .build()
        .unwrap();
    common::echo_server(&io);
    let client = Client::new(&io);
    let hostile = [("origin", "https://evil.example")];
    for _ in 0..50 {
        let res = client
            .request(
                Method::GET,
                &client.url("EIO=4&transport=polling"),
                &hostile,
                Bytes::new(),
            )
            .await;
        res.assert_error(StatusCode::FORBIDDEN, 4);
    }
    assert_eq!(count(&io, "origin"), 50);
    let warnings = |log: &Log| {
        log.lines()
            .into_iter()
            .filter(|l| l.contains("refusal=\"origin\""))
            .count()
    };
    assert_eq!(warnings(&log), 20, "{:#?}", log.lines());
    let line = log.lines().into_iter().next().unwrap();
    assert!(
        line.contains("WARN") && line.contains("origin=https://evil.example"),
        "{line}"
    );
    // Ten seconds later: the next refusal is logged, after a summary of the ones skipped.
    tokio::time::advance(Duration::from_secs(10)).await;
    client
        .request(
            Method::GET,
            &client.url("EIO=4&transport=polling"),
            &hostile,
            Bytes::new(),
        )
        .await
        .assert_error(StatusCode::FORBIDDEN, 4);
    assert_eq!(warnings(&log), 21);
    let lines = log.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("suppressed 30 similar warnings (origin) in the previous 10s")),
        "{lines:#?}"
    );
    assert_eq!(count(&io, "origin"), 51);
    // Allowed origins are still served.
    let ok = client
        .request(
            Method::GET,
            &client.url("EIO=4&transport=polling"),
            &[("origin", "https://app.example.com")],
            Bytes::new(),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn a_packet_over_max_attachments_closes_its_connection_and_is_counted() {
    let (log, _guard) = Log::capture();
    let io = Server::builder().max_attachments(2).build().unwrap();
    let mut disconnects = common::echo_server(&io);
    let client = Client::new(&io);
    let witness = client.join().await;
    let sender = client.join().await;
    // Two attachments are allowed; three are refused before any is buffered.
    client
        .post_ok(&sender, r#"453-["echo",{"_placeholder":true,"num":0}]"#)
        .await;
    let (_, reason) = common::next_disconnect(&mut disconnects).await;
    assert_eq!(reason, DisconnectReason::ParseError);
    assert_eq!(count(&io, "max_attachments"), 1);
    let lines = log.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("refusal=\"max_attachments\"") && l.contains("max_attachments (2)")),
        "{lines:#?}"
    );
    client.assert_alive(&witness, 1).await;
}
