//! Helpers of the tests that talk to `portico::serve_with_shutdown` over real TCP, on the real
//! clock: a server with an `echo` handler on a free loopback port, and a WebSocket client
//! (tungstenite, an implementation independent of Portico's) connected to it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use std::future::Future;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use portico::{Ack, Args, Server, Socket};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The longest any step of a real-TCP test may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// A client WebSocket over plain TCP.
pub type Ws = WebSocketStream<TcpStream>;

/// Await `f`, failing the test after [`WAIT`].
pub async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(WAIT, f).await.expect("timed out")
}

/// Give `io`'s `/` an `echo` handler (it acknowledges its arguments) and [`serve`] it.
pub async fn serve_echo(io: Server) -> String {
    io.of("/").on_connection(|socket: Socket| async move {
        socket.on("echo", |_s: Socket, args: Args, ack: Ack| async move {
            ack.send(&args)
        });
    });
    serve(io).await
}

/// Serve `io` (with the handlers it has) on a free port of 127.0.0.1 for the rest of the
/// test; returns `host:port`.
pub async fn serve(io: Server) -> String {
    let listener = portico::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(portico::serve_with_shutdown(
        listener,
        io,
        std::future::pending(),
    ));
    addr.to_string()
}

/// The next text message; the server's Engine.IO pings on the way are answered, WebSocket
/// pings and pongs skipped.
pub async fn next_text(ws: &mut Ws) -> String {
    loop {
        match within(ws.next()).await.unwrap().unwrap() {
            Message::Text(t) if t.as_str() == "2" => ws.send(Message::text("3")).await.unwrap(),
            Message::Text(t) => return t.to_string(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// A Socket.IO session on `/` over a WebSocket-only Engine.IO v4 connection.
pub async fn connect(addr: &str) -> Ws {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut ws, _) = within(tokio_tungstenite::client_async(url, tcp))
        .await
        .unwrap();
    assert!(next_text(&mut ws).await.starts_with("0{"));
    ws.send(Message::text("40")).await.unwrap();
    assert!(next_text(&mut ws).await.starts_with("40{"));
    ws
}
