//! Shared helpers of the in-process integration tests: a raw Engine.IO v4 polling client that
//! calls the server's tower `Service` directly (no sockets), for tests on tokio's paused clock.
//!
//! Every wait is bounded by [`bounded`]: on the paused clock a test that would hang instead
//! reaches the bound in virtual time and fails at once.
#![allow(dead_code)] // each test binary uses its own subset of these helpers

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use portico::{Ack, DisconnectReason, Sid, Socket};
use serde_json::Value;
use tokio::sync::mpsc;

pub mod tcp;

/// The Engine.IO v4 polling payload separator.
pub const SEPARATOR: char = '\x1e';

/// The longest any single step of a test may take, in virtual time.
pub const STEP_BOUND: Duration = Duration::from_secs(600);

/// Await `fut`, failing the test if it takes longer than [`STEP_BOUND`] (virtual time).
pub async fn bounded<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(STEP_BOUND, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no result within {STEP_BOUND:?}"),
    }
}

/// A response with its body read.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("<not UTF-8>")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }

    /// The packets of a polling payload.
    pub fn packets(&self) -> Vec<String> {
        match self.text() {
            "" => Vec::new(),
            t => t.split(SEPARATOR).map(str::to_owned).collect(),
        }
    }

    /// Assert an Engine.IO error response: `400 {"code":code,...}` (or the status given).
    #[track_caller]
    pub fn assert_error(&self, status: StatusCode, code: u64) {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert_eq!(self.json()["code"], code, "body: {}", self.text());
    }
}

type CallFn =
    dyn Fn(Request<Full<Bytes>>) -> Pin<Box<dyn Future<Output = Reply> + Send>> + Send + Sync;

/// Sends requests to a tower service in-process.
#[derive(Clone)]
pub struct Client {
    call: Arc<CallFn>,
    path: String,
}

impl Client {
    /// A client of Portico's own service (`io.service()`).
    pub fn new(io: &portico::Server) -> Client {
        Client::over(io.service(), &io.config().path)
    }

    /// A client of any service (an axum `Router` with Portico as a layer, say); Socket.IO
    /// requests go under `path`.
    pub fn over<S, B>(svc: S, path: &str) -> Client
    where
        S: tower_service::Service<Request<Full<Bytes>>, Response = Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send,
        S::Error: std::fmt::Debug,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: std::fmt::Debug,
    {
        let call = move |req: Request<Full<Bytes>>| {
            let mut svc = svc.clone();
            Box::pin(async move {
                poll_fn(|cx| svc.poll_ready(cx))
                    .await
                    .unwrap_or_else(|e| panic!("service not ready: {e:?}"));
                let res = svc
                    .call(req)
                    .await
                    .unwrap_or_else(|e| panic!("service failed: {e:?}"));
                let (parts, body) = res.into_parts();
                let body = body
                    .collect()
                    .await
                    .unwrap_or_else(|e| panic!("response body failed: {e:?}"))
                    .to_bytes();
                Reply {
                    status: parts.status,
                    headers: parts.headers,
                    body,
                }
            }) as Pin<Box<dyn Future<Output = Reply> + Send>>
        };
        Client {
            call: Arc::new(call),
            path: path.to_owned(),
        }
    }

    /// Send `method uri` with `body` (no `Content-Length` unless given in `headers`).
    pub async fn request(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(body.into()))
            .unwrap_or_else(|e| panic!("bad test request {uri}: {e}"));
        bounded(uri, (self.call)(req)).await
    }

    /// The Engine.IO URL with `query` (e.g. `EIO=4&transport=polling`).
    pub fn url(&self, query: &str) -> String {
        format!("{}?{query}", self.path)
    }

    /// `GET <path>?EIO=4&transport=polling`: a new session. Returns its sid and open packet.
    pub async fn handshake(&self) -> (String, Value) {
        let res = self
            .request(
                Method::GET,
                &self.url("EIO=4&transport=polling"),
                &[],
                Bytes::new(),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "handshake: {}", res.text());
        let open = res
            .text()
            .strip_prefix('0')
            .unwrap_or_else(|| panic!("not an open packet: {}", res.text()));
        let open: Value = serde_json::from_str(open).unwrap_or_else(|e| panic!("open packet: {e}"));
        let sid = open["sid"]
            .as_str()
            .unwrap_or_else(|| panic!("no sid in {open}"))
            .to_owned();
        (sid, open)
    }

    /// A handshake, then a Socket.IO CONNECT to `/`; returns once the CONNECT reply arrived.
    pub async fn join(&self) -> String {
        let (sid, _) = self.handshake().await;
        self.post_ok(&sid, "40").await;
        self.poll_until(&sid, |p| p.starts_with("40{")).await;
        sid
    }

    /// A long-polling `GET` for session `sid`.
    pub async fn get(&self, sid: &str) -> Reply {
        self.request(
            Method::GET,
            &self.url(&format!("EIO=4&transport=polling&sid={sid}")),
            &[],
            Bytes::new(),
        )
        .await
    }

    /// A `POST` of `body` to session `sid`.
    pub async fn post(&self, sid: &str, body: impl Into<Bytes>) -> Reply {
        self.request(
            Method::POST,
            &self.url(&format!("EIO=4&transport=polling&sid={sid}")),
            &[("content-type", "text/plain;charset=UTF-8")],
            body,
        )
        .await
    }

    /// A `POST` that must be accepted (`200 ok`).
    pub async fn post_ok(&self, sid: &str, body: &str) {
        let res = self.post(sid, body.to_owned()).await;
        assert_eq!(
            (res.status, res.text()),
            (StatusCode::OK, "ok"),
            "POST {body:?}"
        );
    }

    /// A `GET` that must succeed; returns its packets.
    pub async fn get_packets(&self, sid: &str) -> Vec<String> {
        let res = self.get(sid).await;
        assert_eq!(res.status, StatusCode::OK, "GET: {}", res.text());
        res.packets()
    }

    /// Poll until a packet satisfies `pred`, answering pings; returns that packet.
    pub async fn poll_until(&self, sid: &str, pred: impl Fn(&str) -> bool) -> String {
        bounded("poll_until", async {
            loop {
                for p in self.get_packets(sid).await {
                    if p == "2" {
                        self.post_ok(sid, "3").await;
                    }
                    if pred(&p) {
                        return p;
                    }
                }
            }
        })
        .await
    }

    /// Whether session `sid` still works: an `echo` event (the server must register an
    /// `echo` handler that acknowledges its argument) comes back as its ack.
    pub async fn assert_alive(&self, sid: &str, ack_id: u64) {
        let token = format!("alive-{ack_id}");
        self.post_ok(sid, &format!("42{ack_id}[\"echo\",\"{token}\"]"))
            .await;
        let expected = format!("43{ack_id}[\"{token}\"]");
        self.poll_until(sid, |p| p == expected).await;
    }
}

/// The `/` handlers [`Client::assert_alive`] relies on (`echo` acknowledges its argument).
/// Returns every disconnect of a `/` socket, with its reason.
pub fn echo_server(io: &portico::Server) -> mpsc::UnboundedReceiver<(Sid, DisconnectReason)> {
    let (tx, rx) = mpsc::unbounded_channel();
    io.of("/").on_connection(move |socket: Socket| {
        let tx = tx.clone();
        async move {
            socket.on("echo", |_s: Socket, v: Value, ack: Ack| async move {
                ack.send(&v)
            });
            socket.on_disconnect(move |s: Socket, reason: DisconnectReason| {
                let _ = tx.send((s.id(), reason));
                async {}
            });
        }
    });
    rx
}

/// The next disconnect reported by [`echo_server`].
pub async fn next_disconnect(
    rx: &mut mpsc::UnboundedReceiver<(Sid, DisconnectReason)>,
) -> (Sid, DisconnectReason) {
    bounded("disconnect", rx.recv())
        .await
        .unwrap_or_else(|| panic!("disconnect channel closed"))
}

/// Virtual time elapsed since `start`.
pub fn since(start: tokio::time::Instant) -> Duration {
    tokio::time::Instant::now() - start
}

/// A server under attack from one session at a time, with a witness session that must survive
/// every attack: [`Fixture::victim_closes`] sends the attack, [`Fixture::others_still_work`]
/// checks the rest of the server.
pub struct Fixture {
    pub io: portico::Server,
    pub client: Client,
    /// A session that must survive every bad input of the test.
    pub witness: String,
    next_ack: u64,
    pub disconnects: mpsc::UnboundedReceiver<(Sid, DisconnectReason)>,
}

impl Fixture {
    /// `io` gets the [`echo_server`] handlers on `/`; the witness joins.
    pub async fn new(io: portico::Server) -> Fixture {
        let disconnects = echo_server(&io);
        let client = Client::new(&io);
        let witness = client.join().await;
        Fixture {
            io,
            client,
            witness,
            next_ack: 0,
            disconnects,
        }
    }

    /// A fresh session joined to `/` POSTs `body`: the Engine.IO payload is taken (`200 ok`),
    /// then the session closes: its socket disconnects for `reason` and its sid is unknown
    /// from then on.
    pub async fn victim_closes(&mut self, body: &str, reason: DisconnectReason) {
        let victim = self.client.join().await;
        self.client.post_ok(&victim, body).await;
        let (_, got) = next_disconnect(&mut self.disconnects).await;
        assert_eq!(got, reason, "after {body:?}");
        self.client
            .get(&victim)
            .await
            .assert_error(StatusCode::BAD_REQUEST, 1);
    }

    /// The witness still works, and so does a new session; no other socket disconnected.
    pub async fn others_still_work(&mut self) {
        assert!(
            self.disconnects.is_empty(),
            "a socket disconnected: {:?}",
            self.disconnects.try_recv()
        );
        self.next_ack += 1;
        self.client.assert_alive(&self.witness, self.next_ack).await;
        let fresh = self.client.join().await;
        self.client.assert_alive(&fresh, 1).await;
        // That fresh session leaves (its disconnect is not news).
        self.client.post_ok(&fresh, "1").await;
        next_disconnect(&mut self.disconnects).await;
    }
}

/// Wait until `done()` holds, letting the server's tasks run (a yield at a time; no clock):
/// for what a driver task finishes after the answer a test saw.
pub async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{what}: not after 10000 yields");
}
