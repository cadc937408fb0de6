//! Test helpers: a private redis-server per test (killable, restartable on the same port) and
//! a fake server for the faults a real one does not produce.
#![allow(dead_code, reason = "each test binary uses a subset")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers")]

use std::process::Stdio;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use portico_redis::link::{LinkState, PubSubMessage, RedisUrl};
use portico_redis::resp::{Decoder, Limits, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};

/// The bound on every wait in these tests.
pub const WAIT: Duration = Duration::from_secs(10);

const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// One redis-server owned by a test, killed when dropped.
pub struct Redis {
    port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl Redis {
    /// Starts redis-server on a free 127.0.0.1 port with `extra` arguments.
    pub async fn start(extra: &[&str]) -> Redis {
        let mut redis = Redis {
            port: free_port().await,
            args: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        redis.restart().await;
        redis
    }

    /// `redis://127.0.0.1:<port>` with `userinfo` (like `:pw@`) in front of the host.
    pub fn url_with(&self, userinfo: &str, path: &str) -> RedisUrl {
        RedisUrl::parse(&format!("redis://{userinfo}127.0.0.1:{}{path}", self.port)).unwrap()
    }

    pub fn url(&self) -> RedisUrl {
        self.url_with("", "")
    }

    /// SIGKILL, and wait until the process is gone (its sockets closed).
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }

    /// Starts it again on the same port, and waits until it accepts connections.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "kill() first");
        let port = self.port.to_string();
        let child = Command::new(REDIS_SERVER)
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {REDIS_SERVER}: {e}"));
        self.child = Some(child);
        // Readiness of a freshly spawned external process cannot be awaited on any channel:
        // poll with a bounded number of connect attempts instead.
        for _ in 0..500 {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)).await {
                // Any reply (PONG or NOAUTH) means it is serving.
                if s.write_all(b"PING\r\n").await.is_ok()
                    && s.read(&mut [0u8; 64]).await.is_ok_and(|n| n > 0)
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("redis-server did not start on port {}", self.port);
    }
}

/// A port nothing listens on (bound then released).
pub async fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A callback that forwards messages to a channel the test reads.
pub fn collector() -> (
    impl Fn(PubSubMessage) + Send + Sync + 'static,
    mpsc::UnboundedReceiver<PubSubMessage>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    (move |m| drop(tx.send(m)), rx)
}

/// The next message, within [`WAIT`].
pub async fn next(rx: &mut mpsc::UnboundedReceiver<PubSubMessage>) -> PubSubMessage {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("no message within the wait")
        .expect("callback dropped")
}

/// Waits for the next state change and returns the new state.
pub async fn changed(state: &mut watch::Receiver<LinkState>) -> LinkState {
    tokio::time::timeout(WAIT, state.changed())
        .await
        .expect("no state change within the wait")
        .expect("link task ended");
    state.borrow_and_update().clone()
}

pub fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// A TCP listener that speaks just enough Redis for a test to script a fault.
pub struct Fake {
    listener: TcpListener,
    url: RedisUrl,
}

impl Fake {
    pub async fn bind() -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = RedisUrl::parse(&format!("redis://127.0.0.1:{port}")).unwrap();
        Fake { listener, url }
    }

    pub fn url(&self) -> &RedisUrl {
        &self.url
    }

    /// The next client connection, within [`WAIT`].
    pub async fn accept(&self) -> FakeConn {
        let (stream, _) = tokio::time::timeout(WAIT, self.listener.accept())
            .await
            .expect("no connection within the wait")
            .unwrap();
        FakeConn {
            stream,
            buf: BytesMut::new(),
            decoder: Decoder::new(Limits::default()),
        }
    }

    /// Accepts a connection and answers its handshake `PING`.
    pub async fn accept_redis(&self) -> FakeConn {
        let mut conn = self.accept().await;
        assert_eq!(conn.command().await, Some(vec![b("PING")]));
        conn.send(b"+PONG\r\n").await;
        conn
    }
}

pub struct FakeConn {
    stream: TcpStream,
    buf: BytesMut,
    decoder: Decoder,
}

impl FakeConn {
    /// The next command from the client as its arguments; `None` when the client closed.
    pub async fn command(&mut self) -> Option<Vec<Bytes>> {
        loop {
            if let Some(value) = self.decoder.decode(&mut self.buf).unwrap() {
                let Value::Array(Some(items)) = value else {
                    panic!("not a command: {value:?}")
                };
                return Some(
                    items
                        .iter()
                        .map(|v| v.as_bytes().unwrap().clone())
                        .collect(),
                );
            }
            let n = tokio::time::timeout(WAIT, self.stream.read_buf(&mut self.buf))
                .await
                .expect("client silent")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }
}
