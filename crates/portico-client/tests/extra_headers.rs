//! `ClientConfig::extra_headers` go out on every request of each transport: the polling
//! handshake, GETs and POSTs, the WebSocket handshake and the upgrade; names the client sets
//! itself are refused before anything is sent.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

mod common;

use std::sync::{Arc, Mutex};

use portico::{Ack, Args, Server, Socket};
use portico_client::{Client, ClientConfig, ClientError, Transport};
use serde_json::json;

use common::{bounded, WAIT};

/// What the server saw of each request: its transport and its `X-Token` values.
type Seen = Arc<Mutex<Vec<(String, Vec<String>)>>>;

/// A server whose `echo` acks its args, recording every request it answers in `seen`.
async fn start(seen: Seen) -> (String, tokio::sync::oneshot::Sender<()>) {
    let io = Server::builder()
        .headers(move |req, _res| {
            let transport = req
                .uri
                .query()
                .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("transport=")))
                .unwrap_or("")
                .to_owned();
            let tokens = req
                .headers
                .get_all("x-token")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect();
            seen.lock().unwrap().push((transport, tokens));
        })
        .build()
        .unwrap();
    io.of("/").on_connection(|socket: Socket| async move {
        socket.on("echo", |_s: Socket, args: Args, ack: Ack| async move {
            ack.send(&args)
        });
    });
    let listener = portico::bind(("127.0.0.1", 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(portico::serve_with_shutdown(listener, io, async {
        let _ = rx.await;
    }));
    (format!("http://127.0.0.1:{port}"), tx)
}

#[tokio::test]
async fn go_out_on_every_request_of_each_transport() {
    for (transport, expected) in [
        (Transport::Polling, Transport::Polling),
        (Transport::WebSocket, Transport::WebSocket),
        (Transport::Upgrade, Transport::WebSocket),
    ] {
        let seen = Seen::default();
        let (url, _stop) = start(seen.clone()).await;
        let config = ClientConfig::new(&url)
            .transport(transport)
            .extra_header("X-Token", "t0k3n")
            .extra_header("User-Agent", "portico-test/1.0");
        let (client, _events) = bounded(Client::connect(config)).await.unwrap();
        assert_eq!(client.transport(), expected);
        let reply = client
            .emit_with_ack("echo", &[json!(1)], WAIT)
            .await
            .unwrap();
        assert_eq!(reply, vec![json!(1)]);
        client.close().await;

        let seen = seen.lock().unwrap().clone();
        let transports: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
        match transport {
            // The handshake, the namespace's CONNECT (a POST), GETs, the event's POST.
            Transport::Polling => assert!(
                seen.len() >= 4 && transports.iter().all(|t| *t == "polling"),
                "{transports:?}"
            ),
            Transport::WebSocket => assert_eq!(transports, ["websocket"]),
            _ => assert!(
                transports.first() == Some(&"polling") && transports.contains(&"websocket"),
                "{transports:?}"
            ),
        }
        for (t, tokens) in &seen {
            assert_eq!(tokens, &["t0k3n"], "a {t} request of {transport:?}");
        }
    }
}

#[tokio::test]
async fn names_the_client_sets_itself_and_bad_values_are_refused() {
    let (url, _stop) = start(Seen::default()).await;
    for (name, value, why) in [
        ("Host", "a.test", "sets it itself"),
        ("origin", "http://a.test", "ClientConfig::origin"),
        ("Content-Length", "3", "sets it itself"),
        ("Sec-WebSocket-Protocol", "chat", "sets it itself"),
        ("Upgrade", "h2c", "sets it itself"),
        ("X Token", "a", "not a valid header name"),
        ("X-Token", "a\r\nX-Evil: 1", "control characters"),
    ] {
        let config = ClientConfig::new(&url).extra_header(name, value);
        match bounded(Client::connect(config)).await {
            Err(ClientError::InvalidConfig(message)) => {
                assert!(message.contains(why), "{name}: {message}");
            }
            other => panic!("{name}: {:?}", other.map(|_| ())),
        }
    }
}
