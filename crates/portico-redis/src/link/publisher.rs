//! The command connection: fire-and-forget `PUBLISH`/`SPUBLISH` and pipelined requests.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};

use super::conn::{self, Backoff, Conn, Exit, ReadError, READ_CHUNK, WRITE_HIGH_WATER};
use super::state::StateCell;
use super::{LinkOptions, LinkState, RedisError, RedisUrl};
use crate::resp::{encode_array_header, encode_bulk, encode_bulk_header, encode_command, Value};

/// A cheap-to-clone handle on one Redis connection used for commands.
///
/// Nothing is queued while Redis is away: every call made while the link is down fails at
/// once with [`RedisError::Unavailable`], and nothing is replayed when it comes back. A
/// background task reconnects (see [`LinkOptions::reconnect_min`]) until the last clone is
/// dropped; then it flushes what was already queued and ends.
#[derive(Clone, Debug)]
pub struct Publisher {
    inner: Arc<Handle>,
}

#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
    /// The only sender: when the last handle goes, the task sees the queue close.
    tx: mpsc::Sender<Outbound>,
    /// Dropped with the last handle: stops the task even while it is not reading the queue.
    _alive: oneshot::Sender<()>,
}

#[derive(Debug)]
struct Shared {
    url: RedisUrl,
    opts: LinkOptions,
    state: StateCell,
    /// Bytes in the queue, bounded by `opts.max_queued_bytes`.
    queued_bytes: AtomicUsize,
}

#[derive(Debug)]
enum Outbound {
    /// A command whose reply is discarded: `head`, then `payload` and CRLF (one bulk body).
    Fire { head: Bytes, payload: Bytes },
    /// A whole command whose reply is awaited.
    Request {
        frame: Bytes,
        reply: oneshot::Sender<Result<Value, RedisError>>,
    },
}

impl Outbound {
    fn len(&self) -> usize {
        match self {
            Outbound::Fire { head, payload } => head.len() + payload.len() + 2,
            Outbound::Request { frame, .. } => frame.len(),
        }
    }
}

/// What the reader does with the next reply.
enum Pending {
    Discard,
    Reply(oneshot::Sender<Result<Value, RedisError>>),
}

impl Publisher {
    /// Connects to Redis and logs in (`AUTH` and `SELECT` when the URL says so, then `PING`).
    ///
    /// Fails when Redis does not answer within [`LinkOptions::connect_timeout`], refuses the
    /// connection or the password; the error names the URL and what to check. After this
    /// succeeds the link reconnects by itself. Must be called within a tokio runtime.
    pub async fn connect(url: &RedisUrl, opts: LinkOptions) -> Result<Publisher, RedisError> {
        opts.check()?;
        let conn = conn::open(url, &opts).await?;
        let (tx, rx) = mpsc::channel(opts.max_queued_commands);
        let (alive, gone) = oneshot::channel();
        let shared = Arc::new(Shared {
            url: url.clone(),
            state: StateCell::new(url.shown()),
            queued_bytes: AtomicUsize::new(0),
            opts,
        });
        tokio::spawn(run(conn, rx, gone, shared.clone()));
        Ok(Publisher {
            inner: Arc::new(Handle {
                shared,
                tx,
                _alive: alive,
            }),
        })
    }

    /// Queues `PUBLISH channel payload` and returns at once; the reply (the receiver count) is
    /// discarded. Fails with [`RedisError::Unavailable`] while the link is down and with
    /// [`RedisError::QueueFull`] when the queue is at its bound.
    pub fn publish(&self, channel: impl AsRef<[u8]>, payload: Bytes) -> Result<(), RedisError> {
        self.fire(b"PUBLISH", channel.as_ref(), payload)
    }

    /// Like [`publish`](Self::publish) with `SPUBLISH` (sharded pub/sub, Redis 7 or later).
    pub fn spublish(&self, channel: impl AsRef<[u8]>, payload: Bytes) -> Result<(), RedisError> {
        self.fire(b"SPUBLISH", channel.as_ref(), payload)
    }

    /// Sends a command and awaits its reply, within [`LinkOptions::command_timeout`]. Commands
    /// are pipelined: replies come back in order. An error reply becomes
    /// [`RedisError::Reply`]. Do not send commands that change the connection's mode
    /// (`SUBSCRIBE`, `MONITOR`, ...): use a [`Subscriber`](super::Subscriber).
    pub async fn command(&self, args: &[&[u8]]) -> Result<Value, RedisError> {
        self.command_with_timeout(args, self.inner.shared.opts.command_timeout)
            .await
    }

    /// [`command`](Self::command) with its own timeout. A command that times out may still
    /// run on Redis; its late reply is discarded.
    pub async fn command_with_timeout(
        &self,
        args: &[&[u8]],
        timeout: Duration,
    ) -> Result<Value, RedisError> {
        let shared = &self.inner.shared;
        if !shared.state.is_up() {
            return Err(shared.state.unavailable());
        }
        let mut frame = BytesMut::new();
        encode_command(&mut frame, args);
        let (reply, answer) = oneshot::channel();
        self.enqueue(Outbound::Request {
            frame: frame.freeze(),
            reply,
        })?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(shared.state.unavailable()),
            Err(_) => Err(RedisError::Timeout { after: timeout }),
        }
    }

    /// The number of subscribers of `channel` over the whole Redis server
    /// (`PUBSUB NUMSUB channel`; pattern subscriptions are not counted).
    pub async fn numsub(&self, channel: impl AsRef<[u8]>) -> Result<usize, RedisError> {
        self.count("PUBSUB NUMSUB", b"NUMSUB", channel.as_ref())
            .await
    }

    /// The number of sharded subscribers of `channel` (`PUBSUB SHARDNUMSUB channel`, Redis 7).
    pub async fn shardnumsub(&self, channel: impl AsRef<[u8]>) -> Result<usize, RedisError> {
        self.count("PUBSUB SHARDNUMSUB", b"SHARDNUMSUB", channel.as_ref())
            .await
    }

    /// The link's state; it changes only between `Up` and `Down`.
    pub fn state(&self) -> watch::Receiver<LinkState> {
        self.inner.shared.state.subscribe()
    }

    /// The URL this publisher connects to.
    pub fn url(&self) -> &RedisUrl {
        &self.inner.shared.url
    }

    async fn count(
        &self,
        command: &'static str,
        sub: &[u8],
        channel: &[u8],
    ) -> Result<usize, RedisError> {
        let reply = self.command(&[b"PUBSUB", sub, channel]).await?;
        // The reply is a flat [channel, count] array.
        if let Value::Array(Some(items)) = &reply {
            if let [_, Value::Int(n)] = items.as_slice() {
                if let Ok(n) = usize::try_from(*n) {
                    return Ok(n);
                }
            }
        }
        Err(RedisError::UnexpectedReply {
            command,
            reply: format!("{reply:?}").into(),
        })
    }

    fn fire(&self, command: &[u8], channel: &[u8], payload: Bytes) -> Result<(), RedisError> {
        let shared = &self.inner.shared;
        if !shared.state.is_up() {
            return Err(shared.state.unavailable());
        }
        let mut head = BytesMut::with_capacity(40 + channel.len());
        encode_array_header(&mut head, 3);
        encode_bulk(&mut head, command);
        encode_bulk(&mut head, channel);
        encode_bulk_header(&mut head, payload.len());
        self.enqueue(Outbound::Fire {
            head: head.freeze(),
            payload,
        })
    }

    /// Counts `message` against the byte bound and queues it, or refuses it.
    fn enqueue(&self, message: Outbound) -> Result<(), RedisError> {
        let shared = &self.inner.shared;
        let len = message.len();
        let max = shared.opts.max_queued_bytes;
        let full = || RedisError::QueueFull {
            max_bytes: max,
            max_commands: shared.opts.max_queued_commands,
        };
        shared
            .queued_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                queued.checked_add(len).filter(|&n| n <= max)
            })
            .map_err(|_| full())?;
        match self.inner.tx.try_send(message) {
            Ok(()) => Ok(()),
            Err(error) => {
                shared.queued_bytes.fetch_sub(len, Ordering::AcqRel);
                match error {
                    mpsc::error::TrySendError::Full(_) => Err(full()),
                    mpsc::error::TrySendError::Closed(_) => Err(shared.state.unavailable()),
                }
            }
        }
    }
}

/// The connection task: sessions, and reconnects between them, until the handles are gone.
async fn run(
    mut conn: Conn,
    mut rx: mpsc::Receiver<Outbound>,
    mut gone: oneshot::Receiver<()>,
    shared: Arc<Shared>,
) {
    let mut backoff = Backoff::new(&shared.opts);
    loop {
        let mut pending = VecDeque::new();
        let exit = session(&mut conn, &mut rx, &mut gone, &shared, &mut pending).await;
        let Exit::Lost(error) = exit else { return };
        shared.state.set_down(error);
        for p in pending {
            if let Pending::Reply(reply) = p {
                let _ = reply.send(Err(shared.state.unavailable()));
            }
        }
        let refuse = |message: Outbound| {
            shared
                .queued_bytes
                .fetch_sub(message.len(), Ordering::AcqRel);
            if let Outbound::Request { reply, .. } = message {
                let _ = reply.send(Err(shared.state.unavailable()));
            }
        };
        match conn::reconnect(&shared.url, &shared.opts, &mut backoff, &mut rx, refuse).await {
            None => return,
            Some(next) => conn = next,
        }
        backoff.reset();
        shared.state.set_up();
    }
}

/// Moves commands to the socket and replies to their callers until the connection fails or
/// the handles are gone.
async fn session(
    conn: &mut Conn,
    rx: &mut mpsc::Receiver<Outbound>,
    gone: &mut oneshot::Receiver<()>,
    shared: &Shared,
    pending: &mut VecDeque<Pending>,
) -> Exit {
    let Conn {
        stream,
        rbuf,
        decoder,
    } = conn;
    let (mut reader, mut writer) = stream.split();
    let mut wbuf = BytesMut::new();
    // Bound on commands written and not yet answered.
    let max = shared.opts.max_queued_commands;
    loop {
        rbuf.reserve(READ_CHUNK);
        tokio::select! {
            read = reader.read_buf(rbuf) => {
                if let Err(error) = conn::check_read(read, &shared.url) {
                    return Exit::Lost(error);
                }
                loop {
                    let value = match decoder.decode(rbuf) {
                        Ok(Some(value)) => value,
                        Ok(None) => break,
                        Err(e) => return Exit::Lost(ReadError::Protocol(e).into_lost(&shared.url)),
                    };
                    if let Err(error) = on_reply(value, pending, &shared.url) {
                        return Exit::Lost(error);
                    }
                }
            }
            written = writer.write_buf(&mut wbuf), if !wbuf.is_empty() => {
                if let Err(error) = conn::check_write(written, &shared.url) {
                    return Exit::Lost(error);
                }
            }
            _ = &mut *gone => break,
            message = rx.recv(), if wbuf.len() < WRITE_HIGH_WATER && pending.len() < max => {
                let Some(mut message) = message else { break };
                loop {
                    shared.queued_bytes.fetch_sub(message.len(), Ordering::AcqRel);
                    append(&mut wbuf, message, pending);
                    if wbuf.len() >= WRITE_HIGH_WATER || pending.len() >= max {
                        break;
                    }
                    match rx.try_recv() {
                        Ok(next) => message = next,
                        Err(_) => break,
                    }
                }
            }
        }
    }
    // Every handle is gone: hand what is already queued to the socket, within a bound (the
    // queue itself is bounded), and stop.
    while let Ok(message) = rx.try_recv() {
        append(&mut wbuf, message, pending);
    }
    let _ = tokio::time::timeout(shared.opts.command_timeout, writer.write_all(&wbuf)).await;
    Exit::Shutdown
}

/// Hands one reply to the oldest command in flight.
fn on_reply(
    value: Value,
    pending: &mut VecDeque<Pending>,
    url: &RedisUrl,
) -> Result<(), RedisError> {
    match pending.pop_front() {
        Some(Pending::Reply(reply)) => {
            let result = match value {
                Value::Error(message) => Err(RedisError::Reply {
                    message: String::from_utf8_lossy(&message).into(),
                }),
                value => Ok(value),
            };
            let _ = reply.send(result);
        }
        Some(Pending::Discard) => {
            if let Value::Error(message) = value {
                let message = String::from_utf8_lossy(&message);
                tracing::debug!(error = %message, "redis refused a publish");
            }
        }
        None => {
            let reason = format!("reply with no command pending: {value:?}");
            return Err(RedisError::Lost {
                url: url.shown(),
                reason: reason.into(),
            });
        }
    }
    Ok(())
}

/// Moves one command into the write buffer and remembers what to do with its reply.
fn append(wbuf: &mut BytesMut, message: Outbound, pending: &mut VecDeque<Pending>) {
    match message {
        Outbound::Fire { head, payload } => {
            wbuf.extend_from_slice(&head);
            wbuf.extend_from_slice(&payload);
            wbuf.extend_from_slice(b"\r\n");
            pending.push_back(Pending::Discard);
        }
        Outbound::Request { frame, reply } => {
            wbuf.extend_from_slice(&frame);
            pending.push_back(Pending::Reply(reply));
        }
    }
}
