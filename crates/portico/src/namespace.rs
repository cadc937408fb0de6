//! Namespaces: `/` and any other the server defines with [`crate::Server::of`].

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use serde::de::DeserializeOwned;
use serde::Serialize;

use portico_cors::OriginPolicy;

use crate::adapter::{Adapter, BroadcastOptions, LocalAdapter};
use crate::broadcast::BroadcastOperator;
use crate::cluster::{ClusterAdapter, ClusterError, Core, ServerSideEvent, ServerSideHandler};
use crate::config::ConfigError;
use crate::config::{Parser, ServerConfig};
use crate::errors::EmitError;
use crate::handler::{
    ConnectMiddleware, ConnectionHandler, Erased, ErasedConnectMiddleware, ErasedConnectionHandler,
};
use crate::recovery::RecoveryStore;
use crate::sid::{Sid, SidMap};
use crate::Socket;

/// A namespace (Node's `io.of(name)`). Cheap to clone.
#[derive(Clone)]
pub struct Namespace(pub(crate) Arc<NsInner>);

pub(crate) struct NsInner {
    /// Shared with every connection's list of joined namespaces (see `sio::conn`), so
    /// finding a packet's namespace reads these bytes from one place, not one copy per socket.
    name: Arc<str>,
    middlewares: RwLock<Vec<Arc<dyn ErasedConnectMiddleware>>>,
    on_connection: RwLock<Option<Arc<dyn ErasedConnectionHandler>>>,
    sockets: RwLock<SidMap<Socket>>,
    adapter: Arc<dyn Adapter>,
    guard: RwLock<Option<OriginPolicy>>,
    /// For a dynamic parent: which names it creates children for, and the children.
    matcher: Option<Box<Matcher>>,
    children: RwLock<Vec<Namespace>>,
    /// For a dynamic child: its parent (whose middlewares, handler and guard it uses).
    parent: Option<Namespace>,
    /// For a dynamic child: CONNECTs under way into it (see `server::JoinClaim`), changed
    /// only under the server's namespace lock.
    pub(crate) joining: AtomicUsize,
    /// A socket was ever accepted into it: a child no CONNECT ever got into is removed when
    /// the last refused one ends.
    pub(crate) ever_joined: AtomicBool,
    recovery: Option<RecoveryStore>,
    parser: Parser,
    /// The cluster half of the adapter, when the server is one node of a cluster.
    cluster: Option<Arc<Core>>,
    /// Server-side event handlers ([`Namespace::on_server_side`]).
    server_side: RwLock<HashMap<String, Arc<ServerSideHandler>>>,
    /// Set once the cluster transport can reach this namespace on the other nodes.
    attached: tokio::sync::watch::Sender<Option<Result<(), ClusterError>>>,
}

/// `[event, ...args]` of a server-side event, checked.
fn server_side_data<T: Serialize + ?Sized>(
    event: &str,
    data: &T,
) -> Result<Vec<crate::cluster::Value>, EmitError> {
    if crate::emit::RESERVED_EVENTS.contains(&event) {
        return Err(EmitError::ReservedEvent(event.to_owned()));
    }
    let (args, bins) = crate::args::to_args(data)?;
    let mut wire = vec![crate::cluster::Value::from(event)];
    wire.extend(crate::cluster::to_wire(&args, &bins));
    Ok(wire)
}

pub(crate) type Matcher = dyn Fn(&str) -> bool + Send + Sync;

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.0.name)
            .finish()
    }
}

impl Namespace {
    pub(crate) fn new(name: String, config: &ServerConfig) -> Namespace {
        Namespace::build(name, None, None, config)
    }

    pub(crate) fn new_parent(
        name: String,
        matcher: Box<Matcher>,
        config: &ServerConfig,
    ) -> Namespace {
        Namespace::build(name, Some(matcher), None, config)
    }

    pub(crate) fn new_child(name: String, parent: &Namespace, config: &ServerConfig) -> Namespace {
        let child = Namespace::build(name, None, Some(parent.clone()), config);
        parent
            .0
            .children
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(child.clone());
        child
    }

    fn build(
        name: String,
        matcher: Option<Box<Matcher>>,
        parent: Option<Namespace>,
        config: &ServerConfig,
    ) -> Namespace {
        let mut adapter: Arc<dyn Adapter> = match &config.adapter {
            Some(make) => (make.0)(&name),
            None => Arc::new(LocalAdapter::new()),
        };
        if let Some(hub) = &config.admin {
            adapter = hub.observe(&name, adapter);
        }
        let mut cluster = None;
        if let (Some(c), None) = (&config.cluster, &matcher) {
            let wrapped =
                ClusterAdapter::new(&name, adapter, c.transport.clone(), c.requests_timeout);
            cluster = Some(wrapped.core.clone());
            adapter = Arc::new(wrapped);
        }
        let ns = Namespace(Arc::new(NsInner {
            name: Arc::from(name),
            middlewares: RwLock::new(Vec::new()),
            on_connection: RwLock::new(None),
            sockets: RwLock::new(SidMap::default()),
            adapter,
            guard: RwLock::new(None),
            matcher,
            children: RwLock::new(Vec::new()),
            parent,
            joining: AtomicUsize::new(0),
            ever_joined: AtomicBool::new(false),
            recovery: config.recovery.map(RecoveryStore::new),
            parser: config.parser,
            cluster,
            server_side: RwLock::new(HashMap::new()),
            attached: tokio::sync::watch::channel(None).0,
        }));
        if let Some(core) = &ns.0.cluster {
            core.bind(&ns);
            ns.attach(core);
        }
        ns
    }

    /// Subscribe to the cluster for this namespace, in the background.
    fn attach(&self, core: &Arc<Core>) {
        let attach = core.transport.attach(self.name(), core.inbox());
        let weak = Arc::downgrade(&self.0);
        let name = self.name().to_owned();
        let describe = core.transport.describe();
        let task = async move {
            let res = attach.await;
            if let Err(e) = &res {
                tracing::warn!(nsp = %name, "cluster: {describe}: cannot subscribe: {e}");
            }
            if let Some(ns) = weak.upgrade() {
                ns.attached.send_replace(Some(res));
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(task);
            }
            Err(_) => {
                let err = ClusterError::Unavailable(
                    "the server was built outside a Tokio runtime, so namespace \
                     subscriptions could not start: build it inside the runtime"
                        .to_owned(),
                );
                tracing::error!(nsp = %self.name(), "cluster: {err}");
                self.0.attached.send_replace(Some(Err(err)));
            }
        }
    }

    /// The cluster half of this namespace's adapter (`None` on a single node).
    pub(crate) fn cluster(&self) -> Option<&Arc<Core>> {
        self.0.cluster.as_ref()
    }

    /// Wait until the other nodes of the cluster can reach this namespace (its subscriptions
    /// are in place). Returns at once on a single node.
    pub async fn cluster_ready(&self) -> Result<(), ClusterError> {
        if self.0.cluster.is_none() {
            return Ok(());
        }
        let mut rx = self.0.attached.subscribe();
        let res = rx.wait_for(Option::is_some).await;
        match res {
            Ok(v) => v.clone().unwrap_or(Ok(())),
            Err(_) => Err(ClusterError::Unavailable(
                "the namespace is gone".to_owned(),
            )),
        }
    }

    /// Run `handler` for every server-side event `event` another node sends to this
    /// namespace ([`crate::Server::server_side_emit`], Node's `io.serverSideEmit`). One
    /// handler per event; a later call replaces it. Handlers of a dynamic parent apply to its
    /// children.
    pub fn on_server_side<F, Fut>(&self, event: impl Into<String>, handler: F) -> &Self
    where
        F: Fn(ServerSideEvent) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.0
            .server_side
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(event.into(), crate::cluster::erase(handler));
        self
    }

    fn server_side_handler(&self, event: &str) -> Option<Arc<ServerSideHandler>> {
        let own = self
            .0
            .server_side
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(event)
            .cloned();
        own.or_else(|| {
            self.0
                .parent
                .as_ref()
                .and_then(|p| p.server_side_handler(event))
        })
    }

    /// A server-side event from another node: run its handler on a task of its own.
    pub(crate) fn on_server_side_emit(
        &self,
        data: &[crate::cluster::Value],
        from: Option<String>,
        responder: Option<crate::cluster::Responder>,
    ) {
        let Some((event, args)) = crate::cluster::event_of(data) else {
            return;
        };
        let Some(handler) = self.server_side_handler(&event) else {
            tracing::debug!(nsp = %self.name(), "server-side event {event:?} has no handler");
            return;
        };
        let ev = ServerSideEvent {
            event,
            args,
            from,
            responder,
        };
        tokio::spawn(handler(ev));
    }

    /// This node's sockets that `opts` selects.
    pub(crate) fn local_targets(&self, opts: &BroadcastOptions) -> Vec<Socket> {
        let mut out = Vec::new();
        self.with_sockets(|sockets| {
            self.0.adapter.for_each_target(opts, &mut |sid| {
                if let Some(s) = sockets.get(&sid) {
                    out.push(s.clone());
                }
            });
        });
        out
    }

    /// A broadcast from another node: deliver it to this node's sockets.
    pub(crate) fn deliver_remote(
        &self,
        data: &[crate::cluster::Value],
        opts: &crate::cluster::Opts,
    ) {
        let Some((event, args)) = crate::cluster::event_of(data) else {
            return;
        };
        let frames = match crate::emit::encode(
            self.parser(),
            self.name(),
            Some(&event),
            &args,
            None,
        ) {
            Ok(frames) => frames,
            Err(e) => {
                tracing::debug!(nsp = %self.name(), "cluster: broadcast {event:?} not delivered: {e}");
                return;
            }
        };
        let local = opts.to_local();
        let volatile = opts.flags.volatile;
        self.with_sockets(|sockets| {
            self.0.adapter.for_each_target(&local, &mut |sid| {
                if let Some(socket) = sockets.get(&sid) {
                    if volatile {
                        let _ = socket.0.engine.send_volatile(&frames);
                    } else {
                        let _ = socket.send(&frames);
                    }
                }
            });
        });
    }

    /// The packet encoding.
    pub(crate) fn parser(&self) -> Parser {
        self.0.parser
    }

    /// Connection state recovery of this namespace, when enabled.
    pub(crate) fn recovery(&self) -> Option<&RecoveryStore> {
        self.0.recovery.as_ref()
    }

    /// Whether a dynamic parent creates a child for `name`.
    pub(crate) fn matches(&self, name: &str) -> bool {
        self.0.matcher.as_ref().is_some_and(|m| m(name))
    }

    /// The children of a dynamic parent (empty for any other namespace).
    pub fn children(&self) -> Vec<Namespace> {
        self.0
            .children
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The parent of a dynamic child.
    pub fn parent(&self) -> Option<&Namespace> {
        self.0.parent.as_ref()
    }

    pub(crate) fn is_parent(&self) -> bool {
        self.0.matcher.is_some()
    }

    pub(crate) fn forget_child(&self, child: &Namespace) {
        self.0
            .children
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|c| !Arc::ptr_eq(&c.0, &child.0));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0
            .sockets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// The name, e.g. `/admin`.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The name, shared.
    pub(crate) fn name_arc(&self) -> &Arc<str> {
        &self.0.name
    }

    /// Add a connect middleware. Middlewares run in order when a client joins the namespace;
    /// the first `Err(ConnectError)` refuses the client, which sees `connect_error` with the
    /// error's message and data.
    pub fn use_connect<H: ConnectMiddleware<M>, M: 'static>(&self, middleware: H) -> &Self {
        self.0
            .middlewares
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::new(Erased(middleware, std::marker::PhantomData)));
        self
    }

    /// Limit this namespace to some origins (on top of the server's policy), e.g. `/admin`
    /// only from the admin app. A client from another origin is refused at CONNECT with a
    /// `connect_error` that says so; its other namespaces are unaffected. Checked against
    /// the `Origin` header of the connection's first request; a connection without one is
    /// refused unless the policy serves requests without `Origin`.
    pub fn origins(&self, policy: OriginPolicy) -> Result<&Self, ConfigError> {
        policy.validate().map_err(|e| {
            ConfigError::new(format!(
                "invalid origin policy for namespace {}: {e}",
                self.name()
            ))
        })?;
        *self.0.guard.write().unwrap_or_else(|e| e.into_inner()) = Some(policy);
        Ok(self)
    }

    pub(crate) fn origin_guard(&self) -> Option<OriginPolicy> {
        let own = self
            .0
            .guard
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        own.or_else(|| self.0.parent.as_ref().and_then(Namespace::origin_guard))
    }

    /// Run `handler` for every socket that joins the namespace (Node's `on("connection")`).
    /// Register the socket's event handlers in it, before its first `.await`, so that no
    /// event is missed.
    pub fn on_connection<H: ConnectionHandler<M>, M: 'static>(&self, handler: H) -> &Self {
        *self
            .0
            .on_connection
            .write()
            .unwrap_or_else(|e| e.into_inner()) =
            Some(Arc::new(Erased(handler, std::marker::PhantomData)));
        self
    }

    /// Emit to every socket of the namespace.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        BroadcastOperator::new(self.clone()).emit(event, data)
    }

    /// Select the sockets in `room`.
    pub fn to(&self, room: impl Into<String>) -> BroadcastOperator {
        BroadcastOperator::new(self.clone()).to(room)
    }

    /// Select every socket except those in `room`.
    pub fn except(&self, room: impl Into<String>) -> BroadcastOperator {
        BroadcastOperator::new(self.clone()).except(room)
    }

    /// Select every socket, for the operations of [`BroadcastOperator`].
    pub fn all(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.clone())
    }

    /// Every socket, dropping the event where the transport cannot take it now.
    pub fn volatile(&self) -> BroadcastOperator {
        self.all().volatile()
    }

    /// Every socket, with a bound on [`BroadcastOperator::emit_with_ack`].
    pub fn timeout(&self, timeout: std::time::Duration) -> BroadcastOperator {
        self.all().timeout(timeout)
    }

    /// Every socket of this node (on a single node, every socket).
    pub fn local(&self) -> BroadcastOperator {
        self.all().local()
    }

    /// Every socket with its handshake, rooms and data (Node's `fetchSockets`).
    pub async fn fetch_sockets(&self) -> Result<Vec<crate::RemoteSocket>, ClusterError> {
        self.all().fetch_sockets().await
    }

    /// Make every socket join `room` (on every node of a cluster).
    pub fn sockets_join(&self, room: impl AsRef<str>) -> Result<(), ClusterError> {
        self.all().sockets_join(room)
    }

    /// Make every socket leave `room` (on every node of a cluster).
    pub fn sockets_leave(&self, room: impl AsRef<str>) -> Result<(), ClusterError> {
        self.all().sockets_leave(room)
    }

    /// Disconnect every socket (on every node of a cluster); with `close`, close their
    /// connections too.
    pub fn disconnect_sockets(&self, close: bool) -> Result<(), ClusterError> {
        self.all().disconnect_sockets(close)
    }

    /// Number of server nodes serving this namespace, this one included (Node's
    /// `serverCount`). A single node answers 1.
    pub async fn server_count(&self) -> Result<usize, ClusterError> {
        match &self.0.cluster {
            Some(core) => core.server_count().await,
            None => Ok(1),
        }
    }

    /// Every room with members, on every node (Node's `adapter.allRooms()`; a socket's own
    /// room counts), sorted. Not available with sharded Redis, whose wire format has no such
    /// request.
    pub async fn all_rooms(&self) -> Result<Vec<String>, ClusterError> {
        let mut rooms: std::collections::BTreeSet<String> = self.rooms().into_iter().collect();
        if let Some(core) = &self.0.cluster {
            if !core.transport.supports_all_rooms() {
                return Err(ClusterError::Unsupported(format!(
                    "all_rooms is not available with {}: its wire format has no such request",
                    core.transport.describe()
                )));
            }
            let remote = core
                .collect(
                    |request_id| crate::cluster::Body::AllRooms { request_id },
                    None,
                )
                .await
                .map_err(|(e, _)| e)?;
            rooms.extend(remote.iter().filter_map(|v| v.as_str().map(str::to_owned)));
        }
        Ok(rooms.into_iter().collect())
    }

    /// Send a server-side event to the other nodes of this namespace (Node's
    /// `serverSideEmit`); never to this node. On a single node there is no other node: the
    /// data is checked and nothing is sent.
    pub fn server_side_emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        let wire = server_side_data(event, data)?;
        if let Some(core) = &self.0.cluster {
            core.publish(crate::cluster::Body::ServerSideEmit {
                request_id: None,
                data: wire,
            })?;
        }
        Ok(())
    }

    /// Send a server-side event to the other nodes and collect one answer from each (Node's
    /// `serverSideEmit` with a callback). `timeout` defaults to the cluster's requests
    /// timeout; on a timeout the answers received so far come with the error.
    pub async fn server_side_emit_with_ack<T: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        event: &str,
        data: &T,
        timeout: Option<std::time::Duration>,
    ) -> Result<crate::cluster::Replies<R>, EmitError> {
        let wire = server_side_data(event, data)?;
        let Some(core) = &self.0.cluster else {
            return Ok(crate::cluster::Replies {
                replies: Vec::new(),
                error: None,
            });
        };
        let res = core
            .collect(
                |request_id| crate::cluster::Body::ServerSideEmit {
                    request_id: Some(request_id),
                    data: wire,
                },
                timeout,
            )
            .await;
        match res {
            Ok(values) => Ok(crate::cluster::Replies::decode(values, None)),
            Err((e @ ClusterError::Timeout { .. }, values)) => {
                Ok(crate::cluster::Replies::decode(values, Some(e)))
            }
            Err((e, _)) => Err(EmitError::Cluster(e)),
        }
    }

    /// The connected sockets of this namespace (on this node).
    pub fn sockets(&self) -> Vec<Socket> {
        self.0
            .sockets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// One connected socket by id.
    pub fn socket(&self, id: Sid) -> Option<Socket> {
        self.0
            .sockets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    /// Rooms that have members.
    pub fn rooms(&self) -> Vec<String> {
        self.0.adapter.rooms()
    }

    /// Number of connected sockets (on this node).
    pub(crate) fn socket_count(&self) -> usize {
        self.0
            .sockets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    pub(crate) fn adapter(&self) -> &Arc<dyn Adapter> {
        &self.0.adapter
    }

    /// The parent's middlewares (for a dynamic child) then its own.
    pub(crate) fn middlewares(&self) -> Vec<Arc<dyn ErasedConnectMiddleware>> {
        let mut all = self
            .0
            .parent
            .as_ref()
            .map(Namespace::middlewares)
            .unwrap_or_default();
        all.extend(
            self.0
                .middlewares
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned(),
        );
        all
    }

    /// Its own connection handler, or (for a dynamic child) the parent's.
    pub(crate) fn connection_handler(&self) -> Option<Arc<dyn ErasedConnectionHandler>> {
        let own = self
            .0
            .on_connection
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        own.or_else(|| {
            self.0
                .parent
                .as_ref()
                .and_then(Namespace::connection_handler)
        })
    }

    /// Run `f` with the socket map read-locked once (a broadcast's hot path).
    pub(crate) fn with_sockets<R>(&self, f: impl FnOnce(&SidMap<Socket>) -> R) -> R {
        f(&self.0.sockets.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Whether `other` is this namespace (not a copy of its name).
    pub(crate) fn same(&self, other: &Namespace) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// What tells this namespace from the others alive (what [`Namespace::same`] compares).
    pub(crate) fn addr(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    pub(crate) fn add_socket(&self, socket: Socket) {
        crate::engine::defer::deliver_held();
        self.0.ever_joined.store(true, Ordering::Relaxed);
        self.0
            .sockets
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(socket.id(), socket);
    }

    pub(crate) fn remove_socket(&self, id: Sid) {
        crate::engine::defer::deliver_held();
        self.0
            .sockets
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
}
