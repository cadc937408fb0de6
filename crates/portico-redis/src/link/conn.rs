//! One TCP connection to Redis: connect and log in, read replies, reconnect with backoff.

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::{LinkOptions, RedisError, RedisUrl};
use crate::resp::{encode_command, Decoder, Value};

/// Bytes reserved in the read buffer before each read.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// The writer stops taking commands off the queue while this many bytes wait for the socket.
pub(crate) const WRITE_HIGH_WATER: usize = 256 * 1024;

/// A logged-in connection with its read buffer and decoder.
/// How a connection's session ended (for the publisher's and the subscriber's tasks).
pub(crate) enum Exit {
    /// Every handle is gone.
    Shutdown,
    /// The connection failed.
    Lost(RedisError),
}

pub(crate) struct Conn {
    pub(crate) stream: TcpStream,
    pub(crate) rbuf: BytesMut,
    pub(crate) decoder: Decoder,
}

/// Connects and runs the handshake (`AUTH`, `SELECT`, `PING`), all within `connect_timeout`.
pub(crate) async fn open(url: &RedisUrl, opts: &LinkOptions) -> Result<Conn, RedisError> {
    let connect_error = |reason: String| RedisError::Connect {
        url: url.shown(),
        reason: reason.into(),
    };
    match tokio::time::timeout(opts.connect_timeout, handshake(url, opts)).await {
        Ok(result) => result,
        Err(_) => Err(connect_error(format!(
            "no answer within {:?}",
            opts.connect_timeout
        ))),
    }
}

async fn handshake(url: &RedisUrl, opts: &LinkOptions) -> Result<Conn, RedisError> {
    let connect_error = |reason: String| RedisError::Connect {
        url: url.shown(),
        reason: reason.into(),
    };
    let stream = TcpStream::connect((url.host(), url.port()))
        .await
        .map_err(|e| connect_error(e.to_string()))?;
    // Small commands must not wait for Nagle; failing to set it only costs latency.
    let _ = stream.set_nodelay(true);
    let mut conn = Conn {
        stream,
        rbuf: BytesMut::with_capacity(4096),
        decoder: Decoder::new(opts.limits.clone()),
    };

    let mut out = BytesMut::new();
    let mut expect: Vec<(&'static str, &'static str)> = Vec::new();
    if let Some(password) = url.password() {
        match url.username() {
            Some(user) => {
                encode_command(&mut out, &[b"AUTH", user.as_bytes(), password.as_bytes()])
            }
            None => encode_command(&mut out, &[b"AUTH", password.as_bytes()]),
        }
        expect.push(("AUTH", "check the user name and password in the URL"));
    }
    let db = url.db().to_string();
    if url.db() != 0 {
        encode_command(&mut out, &[b"SELECT", db.as_bytes()]);
        expect.push((
            "SELECT",
            "check the database number in the URL (the server's `databases` setting bounds it)",
        ));
    }
    encode_command(&mut out, &[b"PING"]);
    expect.push(("PING", "is this a Redis server?"));
    conn.stream
        .write_all(&out)
        .await
        .map_err(|e| connect_error(e.to_string()))?;

    for (command, hint) in expect {
        let reply = match conn.read_reply().await {
            Ok(reply) => reply,
            Err(ReadError::Closed) => {
                return Err(connect_error(
                    "the server closed the connection during the handshake".into(),
                ))
            }
            Err(ReadError::Io(e)) => return Err(connect_error(e.to_string())),
            Err(ReadError::Protocol(e)) => {
                return Err(connect_error(format!(
                    "the server does not answer like Redis ({e})"
                )))
            }
        };
        match reply {
            Value::Error(message) => {
                let reply: std::sync::Arc<str> = String::from_utf8_lossy(&message).into();
                let hint = if reply.starts_with("NOAUTH") {
                    "this server requires a password: put it in the URL, as redis://:password@host:port"
                } else {
                    hint
                };
                return Err(RedisError::Handshake {
                    url: url.shown(),
                    command,
                    reply,
                    hint,
                });
            }
            Value::Simple(_) => {}
            other => {
                return Err(connect_error(format!(
                    "the server does not answer like Redis ({command} got {other:?})"
                )))
            }
        }
    }
    Ok(conn)
}

/// Why reading a reply failed.
pub(crate) enum ReadError {
    Closed,
    Io(std::io::Error),
    Protocol(crate::resp::ProtocolError),
}

impl ReadError {
    /// The error a link goes down with.
    pub(crate) fn into_lost(self, url: &RedisUrl) -> RedisError {
        match self {
            ReadError::Closed => RedisError::Lost {
                url: url.shown(),
                reason: "connection closed by the server".into(),
            },
            ReadError::Io(e) => RedisError::Lost {
                url: url.shown(),
                reason: e.to_string().into(),
            },
            ReadError::Protocol(error) => RedisError::Protocol {
                url: url.shown(),
                error,
            },
        }
    }
}

/// The outcome of one read on a session socket: end of stream and errors take the link down.
pub(crate) fn check_read(read: std::io::Result<usize>, url: &RedisUrl) -> Result<(), RedisError> {
    match read {
        Ok(0) => Err(ReadError::Closed.into_lost(url)),
        Ok(_) => Ok(()),
        Err(e) => Err(ReadError::Io(e).into_lost(url)),
    }
}

/// The outcome of one write on a session socket.
pub(crate) fn check_write(
    written: std::io::Result<usize>,
    url: &RedisUrl,
) -> Result<(), RedisError> {
    match written {
        Ok(0) => Err(RedisError::Lost {
            url: url.shown(),
            reason: "the socket accepts no more bytes".into(),
        }),
        Ok(_) => Ok(()),
        Err(e) => Err(ReadError::Io(e).into_lost(url)),
    }
}

impl Conn {
    /// Reads until one reply is complete.
    async fn read_reply(&mut self) -> Result<Value, ReadError> {
        loop {
            if let Some(v) = self
                .decoder
                .decode(&mut self.rbuf)
                .map_err(ReadError::Protocol)?
            {
                return Ok(v);
            }
            self.rbuf.reserve(READ_CHUNK);
            match self.stream.read_buf(&mut self.rbuf).await {
                Ok(0) => return Err(ReadError::Closed),
                Ok(_) => {}
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
    }
}

/// Reconnect delays: doubling from `reconnect_min` to `reconnect_max`.
pub(crate) struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(opts: &LinkOptions) -> Self {
        Backoff {
            next: opts.reconnect_min,
            min: opts.reconnect_min,
            max: opts.reconnect_max,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }

    fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = delay.saturating_mul(2).min(self.max);
        delay
    }
}

/// Reconnects after the backoff delays, forever, while serving the command queue: each
/// command that arrives meanwhile goes to `stale` (to be refused). Returns `None` once every
/// handle is gone.
pub(crate) async fn reconnect<M>(
    url: &RedisUrl,
    opts: &LinkOptions,
    backoff: &mut Backoff,
    rx: &mut mpsc::Receiver<M>,
    mut stale: impl FnMut(M),
) -> Option<Conn> {
    loop {
        let delay = backoff.next_delay();
        let attempt = async {
            tokio::time::sleep(delay).await;
            open(url, opts).await
        };
        tokio::pin!(attempt);
        loop {
            tokio::select! {
                result = &mut attempt => match result {
                    Ok(conn) => return Some(conn),
                    Err(error) => {
                        tracing::debug!(%error, "redis reconnect attempt failed");
                        break;
                    }
                },
                message = rx.recv() => match message {
                    Some(message) => stale(message),
                    None => return None,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let opts = LinkOptions {
            reconnect_max: Duration::from_millis(300),
            ..LinkOptions::default()
        };
        let mut b = Backoff::new(&opts);
        let delays: Vec<u128> = (0..5).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, [50, 100, 200, 300, 300]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(50));
    }
}
