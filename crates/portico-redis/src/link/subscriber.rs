//! The subscribe-mode connection: `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE`, restored after
//! every reconnect.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};

use super::conn::{self, Backoff, Conn, Exit, ReadError, READ_CHUNK, WRITE_HIGH_WATER};
use super::state::StateCell;
use super::subscriptions::Subscriptions;
use super::{LinkOptions, LinkState, RedisError, RedisUrl};
use crate::resp::{encode_array_header, encode_bulk, Value};

/// Channels per command when subscriptions are restored after a reconnect.
const RESTORE_CHUNK: usize = 1024;

/// The three kinds of Redis subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `SUBSCRIBE`: one exact channel; deliveries are `message` pushes.
    Channel,
    /// `PSUBSCRIBE`: a glob pattern; deliveries are `pmessage` pushes.
    Pattern,
    /// `SSUBSCRIBE`: one sharded channel (Redis 7, fed by `SPUBLISH`); `smessage` pushes.
    Shard,
}

impl Kind {
    fn command(self, unsubscribe: bool) -> &'static [u8] {
        match (self, unsubscribe) {
            (Kind::Channel, false) => b"SUBSCRIBE",
            (Kind::Pattern, false) => b"PSUBSCRIBE",
            (Kind::Shard, false) => b"SSUBSCRIBE",
            (Kind::Channel, true) => b"UNSUBSCRIBE",
            (Kind::Pattern, true) => b"PUNSUBSCRIBE",
            (Kind::Shard, true) => b"SUNSUBSCRIBE",
        }
    }

    /// The push that confirms one channel of [`command`](Self::command).
    fn ack(self, unsubscribe: bool) -> &'static [u8] {
        match (self, unsubscribe) {
            (Kind::Channel, false) => b"subscribe",
            (Kind::Pattern, false) => b"psubscribe",
            (Kind::Shard, false) => b"ssubscribe",
            (Kind::Channel, true) => b"unsubscribe",
            (Kind::Pattern, true) => b"punsubscribe",
            (Kind::Shard, true) => b"sunsubscribe",
        }
    }
}

/// One message delivered to a subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PubSubMessage {
    /// Which kind of subscription matched.
    pub kind: Kind,
    /// The pattern that matched, for [`Kind::Pattern`]; `None` otherwise.
    pub pattern: Option<Bytes>,
    /// The channel the message was published to.
    pub channel: Bytes,
    /// The published bytes.
    pub payload: Bytes,
}

/// A cheap-to-clone handle on one Redis connection in subscribe mode.
///
/// Subscriptions are remembered and restored after every reconnect, in the order they were
/// first made, before [`state`](Self::state) reports `Up` again. Messages published while the
/// link was down are lost (Redis pub/sub keeps nothing). The background task ends when the
/// last clone is dropped.
///
/// Redis Cluster is out of scope: `SSUBSCRIBE` works against one Redis 7 server (or a proxy),
/// and `MOVED` redirections or slot migrations are not followed.
#[derive(Clone)]
pub struct Subscriber {
    inner: Arc<Handle>,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("url", &self.inner.shared.url)
            .finish_non_exhaustive()
    }
}

struct Handle {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Command>,
    _alive: oneshot::Sender<()>,
}

type OnMessage = dyn Fn(PubSubMessage) + Send + Sync;

struct Shared {
    url: RedisUrl,
    opts: LinkOptions,
    state: StateCell,
    wishes: Mutex<Wishes>,
    on_message: Box<OnMessage>,
}

impl Shared {
    fn wishes(&self) -> MutexGuard<'_, Wishes> {
        self.wishes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the subscriber wants, and whether commands may be sent now. One lock, so that a
/// reconnect's snapshot and a concurrent `subscribe` never miss each other.
struct Wishes {
    connected: bool,
    set: Subscriptions,
}

type Done = oneshot::Sender<Result<(), RedisError>>;

/// A (un)subscribe command for the task.
struct Command {
    kind: Kind,
    unsubscribe: bool,
    channels: Vec<Bytes>,
    done: Option<Done>,
}

impl Subscriber {
    /// Connects to Redis and logs in like [`Publisher::connect`](super::Publisher::connect)
    /// (same errors), then delivers every message of this connection's subscriptions to
    /// `on_message`.
    ///
    /// `on_message` runs on the connection's reader task: it must be quick and must not block
    /// (hand the message to a channel or spawn). A panic in it is caught and logged, and the
    /// message is dropped.
    pub async fn connect(
        url: &RedisUrl,
        on_message: impl Fn(PubSubMessage) + Send + Sync + 'static,
        opts: LinkOptions,
    ) -> Result<Subscriber, RedisError> {
        opts.check()?;
        let conn = conn::open(url, &opts).await?;
        let (tx, rx) = mpsc::channel(opts.max_queued_commands);
        let (alive, gone) = oneshot::channel();
        let shared = Arc::new(Shared {
            url: url.clone(),
            state: StateCell::new(url.shown()),
            wishes: Mutex::new(Wishes {
                connected: true,
                set: Subscriptions::default(),
            }),
            on_message: Box::new(on_message),
            opts,
        });
        tokio::spawn(run(conn, rx, gone, shared.clone()));
        Ok(Subscriber {
            inner: Arc::new(Handle {
                shared,
                tx,
                _alive: alive,
            }),
        })
    }

    /// Subscribes to `channels` (patterns for [`Kind::Pattern`]) and resolves once Redis has
    /// confirmed every one, within [`LinkOptions::command_timeout`].
    ///
    /// The subscriptions are remembered first: while the link is down this returns
    /// [`RedisError::Unavailable`] and they are made at the reconnect. Because Redis confirms
    /// in order and restores happen in order, once a subscription is confirmed every earlier
    /// one is too. When Redis refuses the command (an error reply) they are forgotten.
    pub async fn subscribe(
        &self,
        kind: Kind,
        channels: &[impl AsRef<[u8]>],
    ) -> Result<(), RedisError> {
        self.send(kind, false, channels).await
    }

    /// Unsubscribes from `channels` and forgets them (they are not restored after a
    /// reconnect). Succeeds at once while the link is down. A message already on its way may
    /// still be delivered after this returns.
    pub async fn unsubscribe(
        &self,
        kind: Kind,
        channels: &[impl AsRef<[u8]>],
    ) -> Result<(), RedisError> {
        match self.send(kind, true, channels).await {
            // Forgotten, and the connection that had them is gone.
            Err(RedisError::Unavailable { .. }) => Ok(()),
            other => other,
        }
    }

    /// The link's state; `Up` only once every remembered subscription is confirmed.
    pub fn state(&self) -> watch::Receiver<LinkState> {
        self.inner.shared.state.subscribe()
    }

    /// The URL this subscriber connects to.
    pub fn url(&self) -> &RedisUrl {
        &self.inner.shared.url
    }

    async fn send(
        &self,
        kind: Kind,
        unsubscribe: bool,
        channels: &[impl AsRef<[u8]>],
    ) -> Result<(), RedisError> {
        if channels.is_empty() {
            return Ok(());
        }
        let shared = &self.inner.shared;
        let channels: Vec<Bytes> = channels
            .iter()
            .map(|c| Bytes::copy_from_slice(c.as_ref()))
            .collect();
        let (done, answer) = oneshot::channel();
        {
            let mut wishes = shared.wishes();
            let mut added = Vec::new();
            for channel in &channels {
                if unsubscribe {
                    wishes.set.remove(kind, channel);
                } else if wishes.set.insert(kind, channel.clone()) {
                    added.push(channel.clone());
                }
            }
            if !wishes.connected {
                return Err(shared.state.unavailable());
            }
            let command = Command {
                kind,
                unsubscribe,
                channels,
                done: Some(done),
            };
            match self.inner.tx.try_send(command) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    for channel in &added {
                        wishes.set.remove(kind, channel);
                    }
                    let max_commands = shared.opts.max_queued_commands;
                    return Err(RedisError::QueueFull {
                        max_bytes: shared.opts.max_queued_bytes,
                        max_commands,
                    });
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    return Err(shared.state.unavailable())
                }
            }
        }
        match tokio::time::timeout(shared.opts.command_timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(shared.state.unavailable()),
            Err(_) => Err(RedisError::Timeout {
                after: shared.opts.command_timeout,
            }),
        }
    }
}

/// A command written to Redis and not yet fully confirmed.
struct InFlight {
    kind: Kind,
    unsubscribe: bool,
    left: VecDeque<Bytes>,
    done: Option<Done>,
    /// Sent by the task itself to restore subscriptions after a reconnect.
    restore: bool,
}

async fn run(
    mut conn: Conn,
    mut rx: mpsc::Receiver<Command>,
    mut gone: oneshot::Receiver<()>,
    shared: Arc<Shared>,
) {
    let mut backoff = Backoff::new(&shared.opts);
    let mut restore = Vec::new();
    loop {
        let mut in_flight = VecDeque::new();
        let exit = session(
            &mut conn,
            &mut rx,
            &mut gone,
            &shared,
            restore,
            &mut in_flight,
        )
        .await;
        let Exit::Lost(error) = exit else { return };
        shared.state.set_down(error);
        shared.wishes().connected = false;
        for command in in_flight {
            if let Some(done) = command.done {
                let _ = done.send(Err(shared.state.unavailable()));
            }
        }
        let refuse = |command: Command| {
            if let Some(done) = command.done {
                let _ = done.send(Err(shared.state.unavailable()));
            }
        };
        match conn::reconnect(&shared.url, &shared.opts, &mut backoff, &mut rx, refuse).await {
            None => return,
            Some(next) => conn = next,
        }
        backoff.reset();
        let mut wishes = shared.wishes();
        wishes.connected = true;
        restore = wishes.set.batches(RESTORE_CHUNK);
    }
}

async fn session(
    conn: &mut Conn,
    rx: &mut mpsc::Receiver<Command>,
    gone: &mut oneshot::Receiver<()>,
    shared: &Shared,
    restore: Vec<(Kind, Vec<Bytes>)>,
    in_flight: &mut VecDeque<InFlight>,
) -> Exit {
    let Conn {
        stream,
        rbuf,
        decoder,
    } = conn;
    let (mut reader, mut writer) = stream.split();
    let mut wbuf = BytesMut::new();
    let mut restoring = restore.len();
    for (kind, channels) in restore {
        append(
            &mut wbuf,
            Command {
                kind,
                unsubscribe: false,
                channels,
                done: None,
            },
            true,
            in_flight,
        );
    }
    if restoring == 0 {
        shared.state.set_up();
    }
    let max = shared.opts.max_queued_commands;
    loop {
        rbuf.reserve(READ_CHUNK);
        tokio::select! {
            read = reader.read_buf(rbuf) => {
                if let Err(error) = conn::check_read(read, &shared.url) {
                    return Exit::Lost(error);
                }
                loop {
                    match decoder.decode(rbuf) {
                        Ok(Some(value)) => on_value(value, in_flight, &mut restoring, shared),
                        Ok(None) => break,
                        Err(e) => return Exit::Lost(ReadError::Protocol(e).into_lost(&shared.url)),
                    }
                }
            }
            written = writer.write_buf(&mut wbuf), if !wbuf.is_empty() => {
                if let Err(error) = conn::check_write(written, &shared.url) {
                    return Exit::Lost(error);
                }
            }
            _ = &mut *gone => return Exit::Shutdown,
            command = rx.recv(), if wbuf.len() < WRITE_HIGH_WATER && in_flight.len() < max => {
                let Some(command) = command else { return Exit::Shutdown };
                append(&mut wbuf, command, false, in_flight);
            }
        }
    }
}

/// Encodes a command into the write buffer and records the confirmations it awaits.
fn append(
    wbuf: &mut BytesMut,
    command: Command,
    restore: bool,
    in_flight: &mut VecDeque<InFlight>,
) {
    encode_array_header(wbuf, 1 + command.channels.len());
    encode_bulk(wbuf, command.kind.command(command.unsubscribe));
    for channel in &command.channels {
        encode_bulk(wbuf, channel);
    }
    in_flight.push_back(InFlight {
        kind: command.kind,
        unsubscribe: command.unsubscribe,
        left: command.channels.into(),
        done: command.done,
        restore,
    });
}

/// Handles one value from Redis: a message, a confirmation or an error reply.
fn on_value(
    value: Value,
    in_flight: &mut VecDeque<InFlight>,
    restoring: &mut usize,
    shared: &Shared,
) {
    let items = match value {
        Value::Array(Some(items)) => items,
        Value::Error(message) => {
            let message: Arc<str> = String::from_utf8_lossy(&message).into();
            match in_flight.pop_front() {
                Some(command) => finish(
                    command,
                    Err(RedisError::Reply { message }),
                    restoring,
                    shared,
                ),
                None => {
                    tracing::debug!(%message, "unsolicited error reply on the redis subscriber")
                }
            }
            return;
        }
        other => {
            tracing::debug!(value = ?other, "unexpected value on the redis subscriber");
            return;
        }
    };
    let bulk = |i: usize| items.get(i).and_then(Value::as_bytes).cloned();
    let Some(name) = bulk(0) else {
        tracing::debug!(?items, "unexpected push on the redis subscriber");
        return;
    };
    let message = match &name[..] {
        b"message" | b"smessage" if items.len() == 3 => {
            bulk(1)
                .zip(bulk(2))
                .map(|(channel, payload)| PubSubMessage {
                    kind: if &name[..] == b"message" {
                        Kind::Channel
                    } else {
                        Kind::Shard
                    },
                    pattern: None,
                    channel,
                    payload,
                })
        }
        b"pmessage" if items.len() == 4 => {
            bulk(1)
                .zip(bulk(2))
                .zip(bulk(3))
                .map(|((pattern, channel), payload)| PubSubMessage {
                    kind: Kind::Pattern,
                    pattern: Some(pattern),
                    channel,
                    payload,
                })
        }
        b"pong" => return,
        ack => {
            confirm(ack, bulk(1), in_flight, restoring, shared);
            return;
        }
    };
    match message {
        Some(message) => {
            if catch_unwind(AssertUnwindSafe(|| (shared.on_message)(message))).is_err() {
                tracing::error!("the redis on_message callback panicked; the message was dropped");
            }
        }
        None => tracing::debug!(?items, "malformed message push on the redis subscriber"),
    }
}

/// Counts a `subscribe`-like confirmation against the oldest command in flight.
fn confirm(
    ack: &[u8],
    channel: Option<Bytes>,
    in_flight: &mut VecDeque<InFlight>,
    restoring: &mut usize,
    shared: &Shared,
) {
    let Some(front) = in_flight.front_mut() else {
        let ack = String::from_utf8_lossy(ack);
        tracing::debug!(%ack, "unsolicited confirmation on the redis subscriber");
        return;
    };
    if front.kind.ack(front.unsubscribe) != ack || front.left.front() != channel.as_ref() {
        let ack = String::from_utf8_lossy(ack);
        tracing::debug!(%ack, "unexpected confirmation on the redis subscriber");
        return;
    }
    front.left.pop_front();
    if front.left.is_empty() {
        if let Some(command) = in_flight.pop_front() {
            finish(command, Ok(()), restoring, shared);
        }
    }
}

/// Reports the outcome of a command; a refused subscribe is forgotten.
fn finish(
    command: InFlight,
    result: Result<(), RedisError>,
    restoring: &mut usize,
    shared: &Shared,
) {
    if let Err(error) = &result {
        if !command.unsubscribe {
            let mut wishes = shared.wishes();
            for channel in &command.left {
                wishes.set.remove(command.kind, channel);
            }
        }
        if command.restore {
            let url = &shared.url;
            tracing::warn!(%error, %url, "Redis refused to restore subscriptions; they are dropped");
        }
    }
    if command.restore {
        *restoring = restoring.saturating_sub(1);
        if *restoring == 0 {
            shared.state.set_up();
        }
    }
    if let Some(done) = command.done {
        let _ = done.send(result);
    }
}
