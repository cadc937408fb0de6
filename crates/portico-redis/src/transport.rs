//! [`Redis`]: the [`portico::cluster::Transport`] over Redis pub/sub, in the wire format of
//! Node's `@socket.io/redis-adapter` 8.x (classic or sharded).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use portico::cluster::{BoxFuture, ClusterError, Inbox, Message, Response, Transport};

use crate::codec::{self, ClassicChannels, Sharded, SubscriptionMode};
use crate::link::{
    Kind, LinkOptions, LinkState, PubSubMessage, Publisher, RedisError, RedisUrl, Subscriber,
};

/// Which of Node's adapters to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// `createAdapter`: PUBLISH/PSUBSCRIBE, any Redis.
    #[default]
    Classic,
    /// `createShardedAdapter`: SPUBLISH/SSUBSCRIBE (Redis 7), with its subscription mode.
    Sharded(SubscriptionMode),
}

/// Settings of [`Redis::connect_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisOptions {
    /// The channel prefix (Node's `key` option in classic mode, `channelPrefix` in sharded
    /// mode); must match the Node nodes' to share a cluster. Default: `socket.io`.
    pub key_prefix: String,
    /// Classic or sharded. Default: classic.
    pub mode: Mode,
    /// Connection timeouts, reconnect backoff and queue bounds.
    pub link: LinkOptions,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            key_prefix: "socket.io".to_owned(),
            mode: Mode::Classic,
            link: LinkOptions::default(),
        }
    }
}

impl RedisOptions {
    /// Classic mode with this key prefix.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Sharded mode (Redis 7) with this subscription mode.
    pub fn sharded(mut self, mode: SubscriptionMode) -> Self {
        self.mode = Mode::Sharded(mode);
        self
    }
}

/// A node's link to the cluster through Redis. Give it to
/// [`portico::ServerBuilder::cluster`]:
///
/// ```no_run
/// # async fn f() -> anyhow::Result<()> {
/// let redis = portico_redis::Redis::connect("redis://127.0.0.1:6379").await?;
/// let io = portico::Server::builder().cluster(redis).build()?;
/// # Ok(()) }
/// ```
///
/// Two connections: one publishes and asks (`PUBSUB NUMSUB`), one is subscribed. While Redis
/// is away this node keeps serving its own sockets, cluster operations fail at once with
/// [`ClusterError::Unavailable`], one warning is logged, and nothing is queued; when Redis is
/// back the subscriptions are restored by themselves (and one line says so).
#[derive(Clone)]
pub struct Redis(Arc<Inner>);

struct Inner {
    url: RedisUrl,
    prefix: String,
    mode: Mode,
    uid: String,
    publisher: Publisher,
    subscriber: Subscriber,
    routes: Arc<Routes>,
    /// Room channel (un)subscriptions, applied in order by one task.
    room_ops: tokio::sync::mpsc::UnboundedSender<(bool, String)>,
}

/// Where an incoming channel's messages go.
#[derive(Default)]
struct Routes {
    /// Classic: pattern `<key>#<nsp>#*` → (nsp, inbox).
    patterns: RwLock<HashMap<Bytes, (String, Inbox)>>,
    /// Exact channels → what they carry.
    channels: RwLock<HashMap<Bytes, Route>>,
}

#[derive(Clone)]
struct Route {
    nsp: String,
    inbox: Inbox,
    kind: RouteKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RouteKind {
    ClassicRequest,
    ClassicResponse,
    /// Sharded: the namespace channel and room channels.
    ShardedMain,
    /// Sharded: this node's response channel.
    ShardedResponse,
}

fn lock_read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn lock_write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

fn unavailable(e: RedisError) -> ClusterError {
    ClusterError::Unavailable(e.to_string())
}

fn random_uid(mode: Mode) -> String {
    use rand::RngCore;
    let mut raw = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut raw);
    match mode {
        // Node's classic uids are 6 characters (uid2(6)), sharded ones 16 hex digits.
        Mode::Classic => {
            const ALPHABET: &[u8] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
            raw[..6]
                .iter()
                .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
                .collect()
        }
        Mode::Sharded(_) => raw.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

impl Redis {
    /// Connect in classic mode with the default prefix `socket.io`. Fails at once, with an
    /// error naming the URL, when Redis does not answer.
    pub async fn connect(url: &str) -> Result<Redis, RedisError> {
        Redis::connect_with(url, RedisOptions::default()).await
    }

    /// Connect with options.
    pub async fn connect_with(url: &str, opts: RedisOptions) -> Result<Redis, RedisError> {
        let url = RedisUrl::parse(url)?;
        let routes = Arc::new(Routes::default());
        let publisher = Publisher::connect(&url, opts.link.clone()).await?;
        let sub_routes = routes.clone();
        let subscriber = Subscriber::connect(
            &url,
            move |m: PubSubMessage| sub_routes.dispatch(m),
            opts.link.clone(),
        )
        .await?;
        let (room_ops, mut room_rx) = tokio::sync::mpsc::unbounded_channel::<(bool, String)>();
        let room_sub = subscriber.clone();
        tokio::spawn(async move {
            while let Some((subscribe, channel)) = room_rx.recv().await {
                let res = if subscribe {
                    room_sub
                        .subscribe(Kind::Shard, std::slice::from_ref(&channel))
                        .await
                } else {
                    room_sub
                        .unsubscribe(Kind::Shard, std::slice::from_ref(&channel))
                        .await
                };
                if let Err(e) = res {
                    tracing::debug!("cluster: room channel {channel}: {e}");
                }
            }
        });
        let inner = Arc::new(Inner {
            room_ops,
            uid: random_uid(opts.mode),
            prefix: opts.key_prefix,
            mode: opts.mode,
            url,
            publisher,
            subscriber,
            routes,
        });
        watch_links(&inner);
        Ok(Redis(inner))
    }

    /// The URL (without its password).
    pub fn url(&self) -> &RedisUrl {
        &self.0.url
    }

    /// Classic or sharded.
    pub fn mode(&self) -> Mode {
        self.0.mode
    }
}

/// Log one warning when Redis is lost (whichever of the two connections notices first) and
/// one line when both connections are back.
fn watch_links(inner: &Arc<Inner>) {
    let describe = describe(inner);
    let mut publisher = inner.publisher.state();
    let mut subscriber = inner.subscriber.state();
    tokio::spawn(async move {
        let mut up = true;
        loop {
            tokio::select! {
                changed = publisher.changed() => if changed.is_err() { return },
                changed = subscriber.changed() => if changed.is_err() { return },
            }
            let (p, s) = (
                publisher.borrow_and_update().clone(),
                subscriber.borrow_and_update().clone(),
            );
            match (&p, &s) {
                (LinkState::Up, LinkState::Up) if !up => {
                    up = true;
                    tracing::info!("cluster: {describe}: Redis is back, subscriptions restored");
                }
                (LinkState::Down { error, .. }, _) | (_, LinkState::Down { error, .. }) if up => {
                    up = false;
                    tracing::warn!(
                        "cluster: {describe}: lost Redis ({error}); this node keeps serving its \
                         own sockets, cluster operations fail until Redis is back (reconnecting)"
                    );
                }
                _ => {}
            }
        }
    });
}

fn describe(inner: &Inner) -> String {
    let mode = match inner.mode {
        Mode::Classic => "classic".to_owned(),
        Mode::Sharded(m) => format!("sharded, {m:?}").to_lowercase(),
    };
    format!("redis ({mode}, prefix {:?}) at {}", inner.prefix, inner.url)
}

impl Routes {
    fn dispatch(&self, m: PubSubMessage) {
        match m.kind {
            Kind::Pattern => {
                let Some(pattern) = &m.pattern else { return };
                let Some((nsp, inbox)) = lock_read(&self.patterns).get(pattern).cloned() else {
                    return;
                };
                // `<key>#<nsp>#` then an optional `<room>#`.
                let prefix_len = pattern.len().saturating_sub(1);
                let room = m
                    .channel
                    .get(prefix_len..m.channel.len().saturating_sub(1))
                    .unwrap_or_default();
                if !room.is_empty() {
                    let room = String::from_utf8_lossy(room);
                    if !inbox.has_room(&room) {
                        return;
                    }
                }
                match codec::classic_decode_broadcast(&nsp, &m.payload) {
                    Ok(msg) => inbox.message(msg),
                    Err(e) => tracing::debug!(nsp = %nsp, "cluster: ignored a broadcast: {e}"),
                }
            }
            Kind::Channel | Kind::Shard => {
                let Some(route) = lock_read(&self.channels).get(&m.channel).cloned() else {
                    return;
                };
                route.deliver(&m.payload);
            }
        }
    }
}

impl Route {
    fn deliver(&self, payload: &[u8]) {
        let nsp = &self.nsp;
        match self.kind {
            RouteKind::ClassicRequest => match codec::classic_decode_request(payload) {
                Ok(Some(msg)) => self.inbox.message(msg),
                Ok(None) => {}
                Err(e) => tracing::debug!(nsp = %nsp, "cluster: ignored a request: {e}"),
            },
            RouteKind::ClassicResponse => match codec::classic_decode_response(payload) {
                Ok(Some(r)) => self.inbox.response(r),
                Ok(None) => {}
                Err(e) => tracing::debug!(nsp = %nsp, "cluster: ignored a response: {e}"),
            },
            RouteKind::ShardedMain | RouteKind::ShardedResponse => {
                match codec::sharded_decode(nsp, payload) {
                    Ok(Some(Sharded::Message(msg))) => self.inbox.message(msg),
                    Ok(Some(Sharded::Response(r))) => self.inbox.response(r),
                    Ok(None) => {}
                    Err(e) => tracing::debug!(nsp = %nsp, "cluster: ignored a message: {e}"),
                }
            }
        }
    }
}

impl Transport for Redis {
    fn uid(&self) -> &str {
        &self.0.uid
    }

    fn attach(&self, nsp: &str, inbox: Inbox) -> BoxFuture<Result<(), ClusterError>> {
        let inner = self.0.clone();
        let nsp = nsp.to_owned();
        Box::pin(async move {
            let route = |kind| Route {
                nsp: nsp.clone(),
                inbox: inbox.clone(),
                kind,
            };
            match inner.mode {
                Mode::Classic => {
                    let ch = ClassicChannels::new(&inner.prefix, &nsp, &inner.uid);
                    let pattern = format!("{}*", ch.broadcast);
                    lock_write(&inner.routes.patterns)
                        .insert(Bytes::from(pattern.clone()), (nsp.clone(), inbox.clone()));
                    {
                        let mut channels = lock_write(&inner.routes.channels);
                        channels.insert(
                            Bytes::from(ch.response.clone()),
                            route(RouteKind::ClassicResponse),
                        );
                        channels.insert(
                            Bytes::from(ch.own_response.clone()),
                            route(RouteKind::ClassicResponse),
                        );
                        channels.insert(
                            Bytes::from(ch.request.clone()),
                            route(RouteKind::ClassicRequest),
                        );
                    }
                    inner
                        .subscriber
                        .subscribe(Kind::Pattern, &[pattern])
                        .await
                        .map_err(unavailable)?;
                    // The request channel last: `PUBSUB NUMSUB` counts this node once it is
                    // subscribed, and by then it receives everything.
                    inner
                        .subscriber
                        .subscribe(Kind::Channel, &[ch.response, ch.own_response, ch.request])
                        .await
                        .map_err(unavailable)?;
                }
                Mode::Sharded(_) => {
                    let main = format!("{}#{}#", inner.prefix, nsp);
                    let own = format!("{main}{}#", inner.uid);
                    {
                        let mut channels = lock_write(&inner.routes.channels);
                        channels
                            .insert(Bytes::from(own.clone()), route(RouteKind::ShardedResponse));
                        channels.insert(Bytes::from(main.clone()), route(RouteKind::ShardedMain));
                    }
                    inner
                        .subscriber
                        .subscribe(Kind::Shard, &[own, main])
                        .await
                        .map_err(unavailable)?;
                }
            }
            Ok(())
        })
    }

    fn publish(&self, nsp: &str, message: &Message) -> Result<(), ClusterError> {
        let inner = &self.0;
        match inner.mode {
            Mode::Classic => {
                let ch = ClassicChannels::new(&inner.prefix, nsp, &inner.uid);
                let out = codec::classic_encode(&ch, nsp, &inner.uid, message);
                inner
                    .publisher
                    .publish(out.channel, out.payload)
                    .map_err(unavailable)
            }
            Mode::Sharded(mode) => {
                let out = codec::sharded_encode(&inner.prefix, nsp, &inner.uid, mode, message);
                inner
                    .publisher
                    .spublish(out.channel, out.payload)
                    .map_err(unavailable)
            }
        }
    }

    fn respond(&self, nsp: &str, requester: &str, response: &Response) -> Result<(), ClusterError> {
        let inner = &self.0;
        match inner.mode {
            Mode::Classic => {
                let ch = ClassicChannels::new(&inner.prefix, nsp, &inner.uid);
                let out = codec::classic_encode_response(&ch, response);
                inner
                    .publisher
                    .publish(out.channel, out.payload)
                    .map_err(unavailable)
            }
            Mode::Sharded(_) => {
                let out = codec::sharded_encode_response(
                    &inner.prefix,
                    nsp,
                    &inner.uid,
                    requester,
                    response,
                );
                inner
                    .publisher
                    .spublish(out.channel, out.payload)
                    .map_err(unavailable)
            }
        }
    }

    fn server_count(&self, nsp: &str) -> BoxFuture<Result<usize, ClusterError>> {
        let inner = self.0.clone();
        let nsp = nsp.to_owned();
        Box::pin(async move {
            match inner.mode {
                Mode::Classic => {
                    let ch = ClassicChannels::new(&inner.prefix, &nsp, &inner.uid);
                    inner
                        .publisher
                        .numsub(ch.request)
                        .await
                        .map_err(unavailable)
                }
                Mode::Sharded(_) => {
                    let main = format!("{}#{}#", inner.prefix, nsp);
                    inner.publisher.shardnumsub(main).await.map_err(unavailable)
                }
            }
        })
    }

    fn wants_room_events(&self) -> bool {
        matches!(
            self.0.mode,
            Mode::Sharded(SubscriptionMode::Dynamic | SubscriptionMode::DynamicPrivate)
        )
    }

    fn room_created(&self, nsp: &str, room: &str, private: bool) {
        let Mode::Sharded(mode) = self.0.mode else {
            return;
        };
        if !mode.room_channel(private) {
            return;
        }
        let channel = codec::sharded_room_channel(&self.0.prefix, nsp, room);
        let main = Bytes::from(format!("{}#{}#", self.0.prefix, nsp));
        let route = lock_read(&self.0.routes.channels).get(&main).cloned();
        if let Some(route) = route {
            lock_write(&self.0.routes.channels).insert(Bytes::from(channel.clone()), route);
        }
        let _ = self.0.room_ops.send((true, channel));
    }

    fn room_deleted(&self, nsp: &str, room: &str, private: bool) {
        let Mode::Sharded(mode) = self.0.mode else {
            return;
        };
        if !mode.room_channel(private) {
            return;
        }
        let channel = codec::sharded_room_channel(&self.0.prefix, nsp, room);
        lock_write(&self.0.routes.channels).remove(channel.as_bytes());
        let _ = self.0.room_ops.send((false, channel));
    }

    fn supports_all_rooms(&self) -> bool {
        self.0.mode == Mode::Classic
    }

    fn describe(&self) -> String {
        describe(&self.0)
    }
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&describe(&self.0))
    }
}
