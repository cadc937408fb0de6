//! `max_sessions` and `max_sessions_per_ip`: a handshake past either limit gets its JSON
//! refusal (503 / 429, code 4), is reported as a `connection_error` and counted; the sessions
//! already open keep working, and a place frees up when a session ends. Behind a trusted proxy
//! the address counted (and shown as `handshake.address`) is the one it forwards.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use common::Client;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use portico::{Body, ConnectionError, OriginPolicy, PeerAddr, Server, Socket};

/// Portico's service, with each request's peer address taken from the test header
/// `x-test-peer` (what `portico::serve` puts in the extensions).
#[derive(Clone)]
struct WithPeer(portico::PorticoService);

impl tower_service::Service<Request<Full<Bytes>>> for WithPeer {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Full<Bytes>>) -> Self::Future {
        if let Some(peer) = req
            .headers()
            .get("x-test-peer")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<SocketAddr>().ok())
        {
            req.extensions_mut().insert(PeerAddr(peer));
        }
        let fut = tower_service::Service::call(&mut self.0, req);
        Box::pin(fut)
    }
}

async fn handshake_from(client: &Client, headers: &[(&str, &str)]) -> common::Reply {
    client
        .request(
            Method::GET,
            &client.url("EIO=4&transport=polling"),
            headers,
            Bytes::new(),
        )
        .await
}

fn count(io: &Server, reason: &str) -> u64 {
    io.refusals()
        .into_iter()
        .find(|(r, _)| *r == reason)
        .map(|(_, n)| n)
        .unwrap()
}

fn errors(io: &Server) -> Arc<Mutex<Vec<ConnectionError>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    io.on_connection_error(move |e| s.lock().unwrap().push(e.clone()));
    seen
}

#[tokio::test(start_paused = true)]
async fn max_sessions_refuses_with_503_and_frees_places_as_sessions_end() {
    let io = Server::builder().max_sessions(2).build().unwrap();
    let mut disconnects = common::echo_server(&io);
    let seen = errors(&io);
    let client = Client::new(&io);
    let a = client.join().await;
    let b = client.join().await;
    let refused = handshake_from(&client, &[]).await;
    refused.assert_error(StatusCode::SERVICE_UNAVAILABLE, 4);
    assert_eq!(
        refused.json()["message"],
        "Server full: too many sessions (max_sessions 2)"
    );
    // A WebSocket handshake is refused the same way, before the upgrade.
    let ws = client
        .request(
            Method::GET,
            &client.url("EIO=4&transport=websocket"),
            &[
                ("connection", "Upgrade"),
                ("upgrade", "websocket"),
                ("sec-websocket-version", "13"),
                ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ],
            Bytes::new(),
        )
        .await;
    ws.assert_error(StatusCode::SERVICE_UNAVAILABLE, 4);
    assert_eq!(count(&io, "max_sessions"), 2);
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].code, 4);
        assert!(seen[0].message.starts_with("Server full"), "{}", seen[0]);
    }
    // The open sessions are untouched.
    client.assert_alive(&a, 1).await;
    client.assert_alive(&b, 1).await;
    // One leaves: its place is free again.
    client.post_ok(&a, "1").await;
    common::next_disconnect(&mut disconnects).await;
    common::bounded("the place is released", async {
        while io.connection_count() > 1 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let c = client.join().await;
    client.assert_alive(&c, 1).await;
}

#[tokio::test(start_paused = true)]
async fn max_sessions_per_ip_counts_the_forwarded_address_of_a_trusted_proxy() {
    let io = Server::builder()
        .max_sessions_per_ip(2)
        .origins(OriginPolicy::same_origin().trusted_proxies(["10.0.0.1".parse().unwrap()]))
        .build()
        .unwrap();
    let (addr_tx, mut addr_rx) = tokio::sync::mpsc::unbounded_channel();
    io.of("/").on_connection(move |socket: Socket| {
        let _ = addr_tx.send(socket.handshake().address());
        async {}
    });
    let client = Client::over(WithPeer(io.service()), &io.config().path);
    let direct = [("x-test-peer", "198.51.100.9:4000")];
    let via_proxy_a = [
        ("x-test-peer", "10.0.0.1:5000"),
        ("x-forwarded-for", "203.0.113.1"),
    ];
    let via_proxy_b = [
        ("x-test-peer", "10.0.0.1:5001"),
        ("x-forwarded-for", "203.0.113.2"),
    ];
    for _ in 0..2 {
        assert_eq!(
            handshake_from(&client, &direct).await.status,
            StatusCode::OK
        );
        assert_eq!(
            handshake_from(&client, &via_proxy_a).await.status,
            StatusCode::OK
        );
    }
    let refused = handshake_from(&client, &direct).await;
    refused.assert_error(StatusCode::TOO_MANY_REQUESTS, 4);
    assert_eq!(
        refused.json()["message"],
        "Too many sessions from this address (max_sessions_per_ip 2)"
    );
    handshake_from(&client, &via_proxy_a)
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, 4);
    // Another client behind the same proxy is another address.
    let ok = handshake_from(&client, &via_proxy_b).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    // A client that is not a trusted proxy cannot pick its address.
    let spoofed = [
        ("x-test-peer", "198.51.100.9:4001"),
        ("x-forwarded-for", "192.0.2.77"),
    ];
    handshake_from(&client, &spoofed)
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, 4);
    assert_eq!(count(&io, "max_sessions_per_ip"), 3);
    assert_eq!(count(&io, "max_sessions"), 0);
    // handshake.address is the same forwarded address.
    let sid = ok.text()[1..].to_owned();
    let sid: serde_json::Value = serde_json::from_str(&sid).unwrap();
    let sid = sid["sid"].as_str().unwrap();
    let res = client
        .request(
            Method::POST,
            &client.url(&format!("EIO=4&transport=polling&sid={sid}")),
            &[("content-type", "text/plain;charset=UTF-8")],
            Bytes::from_static(b"40"),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let address = common::bounded("connection", addr_rx.recv()).await.unwrap();
    assert_eq!(address, Some("203.0.113.2:0".parse().unwrap()));
}

#[test]
fn limits_have_documented_defaults_and_checked_values() {
    let c = portico::ServerConfig::default();
    assert_eq!(c.max_sessions, 100_000);
    assert_eq!(c.max_sessions_per_ip, 0);
    assert_eq!(c.max_buffer_packets, 16 * 1024);
    assert_eq!((c.event_rate, c.event_burst), (1_000, 2_000));
    assert_eq!(c.header_read_timeout, std::time::Duration::from_secs(10));
    let err = |b: portico::ServerBuilder| b.build().err().map(|e| e.to_string()).unwrap();
    assert!(err(Server::builder().max_sessions(0)).contains("max_sessions must be at least 1"));
    assert!(err(Server::builder().event_rate(10, 0)).contains("event_burst must be at least 1"));
    assert!(
        Server::builder().event_rate(0, 0).build().is_ok(),
        "0: the limit is off"
    );
    assert!(err(Server::builder().max_buffer_packets(0)).contains("max_buffer_packets"));
}
