//! Namespaces: `/` and any other the server defines with [`crate::Server::of`].

use std::fmt;
use std::sync::{Arc, RwLock};

use serde::Serialize;

use portico_cors::OriginPolicy;

use crate::adapter::{Adapter, LocalAdapter};
use crate::broadcast::BroadcastOperator;
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
    recovery: Option<RecoveryStore>,
    parser: Parser,
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
        let adapter: Arc<dyn Adapter> = match &config.adapter {
            Some(make) => (make.0)(&name),
            None => Arc::new(LocalAdapter::new()),
        };
        Namespace(Arc::new(NsInner {
            name: Arc::from(name),
            middlewares: RwLock::new(Vec::new()),
            on_connection: RwLock::new(None),
            sockets: RwLock::new(SidMap::default()),
            adapter,
            guard: RwLock::new(None),
            matcher,
            children: RwLock::new(Vec::new()),
            parent,
            recovery: config.recovery.map(RecoveryStore::new),
            parser: config.parser,
        }))
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
    pub async fn fetch_sockets(&self) -> Vec<crate::RemoteSocket> {
        self.all().fetch_sockets().await
    }

    /// Make every socket join `room`.
    pub fn sockets_join(&self, room: impl AsRef<str>) {
        self.all().sockets_join(room);
    }

    /// Make every socket leave `room`.
    pub fn sockets_leave(&self, room: impl AsRef<str>) {
        self.all().sockets_leave(room);
    }

    /// Disconnect every socket; with `close`, close their connections too.
    pub fn disconnect_sockets(&self, close: bool) {
        self.all().disconnect_sockets(close);
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

    pub(crate) fn add_socket(&self, socket: Socket) {
        self.0
            .sockets
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(socket.id(), socket);
    }

    pub(crate) fn remove_socket(&self, id: Sid) {
        self.0
            .sockets
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
}
