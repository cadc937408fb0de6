//! An in-process Portico server for the client tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // test helpers

use std::future::Future;
use std::time::Duration;

use portico::{Ack, Args, ConnectError, OriginPolicy, Server, Socket};
use portico_client::{Event, Events, Message};
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// Every wait in the tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(10);

/// The origin the server accepts; any other is refused.
pub const GOOD_ORIGIN: &str = "http://good.example";

/// A running server; dropped, it shuts down.
pub struct TestServer {
    pub url: String,
    _shutdown: oneshot::Sender<()>,
}

/// Start a server with: `/` greets with `welcome`, `echo` acks its args, `ask` asks the client
/// `question` (with ack) and acks what the client answered, `kick` disconnects the socket,
/// `burst` [n, size] emits n events `b` of `size` characters then acks n;
/// `/admin` refuses without `auth.token == "secret"`.
pub async fn start() -> TestServer {
    let io = Server::builder()
        .origins(OriginPolicy::allow([GOOD_ORIGIN]).unwrap())
        .build()
        .unwrap();
    io.of("/").on_connection(|socket: Socket| async move {
        socket.on("echo", |_s: Socket, args: Args, ack: Ack| async move {
            ack.send(&args)
        });
        socket.on("ask", |s: Socket, q: Value, ack: Ack| async move {
            let answer: Result<Value, _> = s.timeout(WAIT).emit_with_ack("question", &q).await;
            ack.send(&answer.map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())
        });
        socket.on("kick", |s: Socket| async move { s.disconnect() });
        // `burst` [n, size]: n events `b` carrying `size` characters each, then the ack.
        socket.on(
            "burst",
            |s: Socket, (n, size): (u32, usize), ack: Ack| async move {
                let payload = "x".repeat(size);
                for _ in 0..n {
                    s.emit("b", &payload)?;
                }
                ack.send(&n)
            },
        );
        socket.emit("welcome", &json!({"hello": "client"}))
    });
    io.of("/admin")
        .use_connect(|socket: Socket| async move {
            match socket
                .handshake()
                .auth_value()
                .get("token")
                .and_then(Value::as_str)
            {
                Some("secret") => Ok(()),
                _ => Err(ConnectError::new("not authorized").with_data(json!({"code": 401}))),
            }
        })
        .on_connection(|_socket: Socket| async {});
    let listener = portico::bind(("127.0.0.1", 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(portico::serve_with_shutdown(listener, io, async {
        let _ = rx.await;
    }));
    TestServer {
        url: format!("http://127.0.0.1:{port}"),
        _shutdown: tx,
    }
}

/// `fut`, or a panic after [`WAIT`].
pub async fn bounded<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(WAIT, fut).await.expect("timed out")
}

/// The next event that is a message named `name` (others are skipped).
pub async fn next_named(events: &mut Events, name: &str) -> Message {
    bounded(async {
        loop {
            match events.recv().await {
                Some(Event::Message(m)) if m.name == name => return m,
                Some(Event::Message(_)) => {}
                other => panic!("expected {name}, got {other:?}"),
            }
        }
    })
    .await
}
