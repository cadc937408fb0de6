//! The server handle users hold (`io`).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use portico_proto::engine::session::CloseReason;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::broadcast::BroadcastOperator;
use crate::cluster::ClusterError;
use crate::config::{ServerBuilder, ServerConfig};
use crate::connection_error::ConnectionError;
use crate::engine::Engine;
use crate::errors::EmitError;
use crate::namespace::Namespace;
use crate::service::{PorticoLayer, PorticoService};

/// A Socket.IO server (Node's `io`). Cheap to clone: every clone is the same server.
///
/// Build it with [`Server::builder`], define namespaces with [`Server::of`], then serve it
/// with [`crate::serve`], or mount [`Server::service`] / [`Server::layer`] in any tower stack
/// (axum, hyper).
#[derive(Clone)]
pub struct Server(pub(crate) Arc<ServerInner>);

pub(crate) struct ServerInner {
    pub(crate) config: ServerConfig,
    /// The Engine.IO layer under this server; its handler is `crate::sio::Layer`.
    pub(crate) engine: Arc<Engine>,
    namespaces: RwLock<HashMap<String, Namespace>>,
    error_handlers: RwLock<Vec<Arc<ErrorHandler>>>,
    parents: RwLock<Vec<Namespace>>,
}

type ErrorHandler = dyn Fn(&ConnectionError) + Send + Sync;

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("path", &self.0.config.path)
            .finish()
    }
}

impl Server {
    /// Start configuring a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    pub(crate) fn from_config(config: ServerConfig) -> Server {
        let mut namespaces = HashMap::new();
        namespaces.insert("/".to_owned(), Namespace::new("/".to_owned(), &config));
        Server(Arc::new_cyclic(|server| {
            // The Engine.IO conformance server echoes instead of speaking Socket.IO.
            let handler: Arc<dyn crate::engine::Handler> = if config.engine_echo {
                Arc::new(crate::engine::echo::Echo)
            } else {
                Arc::new(crate::sio::Layer::new(server.clone()))
            };
            ServerInner {
                engine: Arc::new(Engine::new(config.engine(), handler)),
                config,
                namespaces: RwLock::new(namespaces),
                error_handlers: RwLock::new(Vec::new()),
                parents: RwLock::new(Vec::new()),
            }
        }))
    }

    /// The app state of type `S` given to [`ServerBuilder::state`], cloned.
    pub fn state<S: Clone + Send + Sync + 'static>(&self) -> Option<S> {
        self.0.config.state.get::<S>().map(|s| S::clone(&s))
    }

    /// The configuration the server was built with.
    pub fn config(&self) -> &ServerConfig {
        &self.0.config
    }

    /// The namespace `name` (a leading `/` is added when missing), created on first use.
    /// Clients connecting to a namespace that was never defined get `Invalid namespace`.
    pub fn of(&self, name: impl AsRef<str>) -> Namespace {
        let name = name.as_ref();
        let name = if name.starts_with('/') {
            name.to_owned()
        } else {
            format!("/{name}")
        };
        if let Some(ns) = self.0.namespace(&name) {
            return ns;
        }
        let mut map = self.0.namespaces.write().unwrap_or_else(|e| e.into_inner());
        map.entry(name.clone())
            .or_insert_with(|| Namespace::new(name, &self.0.config))
            .clone()
    }

    /// A dynamic namespace (Node's `io.of(regex or function)`): a client connecting to a name
    /// no static namespace has, for which `matcher` returns `true`, gets a child namespace
    /// created on the spot. Configure the returned parent like any namespace — its
    /// middlewares, connection handler and origin guard apply to every child — and emit on it
    /// to reach every child.
    pub fn dynamic_namespace<F>(&self, matcher: F) -> Namespace
    where
        F: Fn(&str) -> bool + Send + Sync + 'static,
    {
        let mut parents = self.0.parents.write().unwrap_or_else(|e| e.into_inner());
        let parent = Namespace::new_parent(
            format!("/_{}", parents.len() + 1),
            Box::new(matcher),
            &self.0.config,
        );
        parents.push(parent.clone());
        parent
    }

    /// Emit to every socket of the `/` namespace.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.of("/").emit(event, data)
    }

    /// Select the sockets of `/` in `room`.
    pub fn to(&self, room: impl Into<String>) -> BroadcastOperator {
        self.of("/").to(room)
    }

    /// Select every socket of `/` except those in `room`.
    pub fn except(&self, room: impl Into<String>) -> BroadcastOperator {
        self.of("/").except(room)
    }

    /// Every socket of `/`, for the operations of [`BroadcastOperator`] (fetch, join, leave,
    /// disconnect, emit with acks).
    pub fn all(&self) -> BroadcastOperator {
        self.of("/").all()
    }

    /// Every socket of `/`, dropping the event where the transport cannot take it now.
    pub fn volatile(&self) -> BroadcastOperator {
        self.of("/").volatile()
    }

    /// Every socket of `/`, with a bound on [`BroadcastOperator::emit_with_ack`].
    pub fn timeout(&self, timeout: std::time::Duration) -> BroadcastOperator {
        self.of("/").timeout(timeout)
    }

    /// Every socket of `/` on this node.
    pub fn local(&self) -> BroadcastOperator {
        self.of("/").local()
    }

    /// Every socket of `/` with its handshake, rooms and data (Node's `fetchSockets`), on
    /// every node of a cluster.
    pub async fn fetch_sockets(&self) -> Result<Vec<crate::RemoteSocket>, ClusterError> {
        self.of("/").fetch_sockets().await
    }

    /// Make every socket of `/` join `room` (on every node of a cluster).
    pub fn sockets_join(&self, room: impl AsRef<str>) -> Result<(), ClusterError> {
        self.of("/").sockets_join(room)
    }

    /// Make every socket of `/` leave `room` (on every node of a cluster).
    pub fn sockets_leave(&self, room: impl AsRef<str>) -> Result<(), ClusterError> {
        self.of("/").sockets_leave(room)
    }

    /// Disconnect every socket of `/` (on every node of a cluster); with `close`, close their
    /// connections too.
    pub fn disconnect_sockets(&self, close: bool) -> Result<(), ClusterError> {
        self.of("/").disconnect_sockets(close)
    }

    /// Number of server nodes sharing the sockets, this one included (Node's `serverCount`).
    /// A single node answers 1.
    pub async fn server_count(&self) -> Result<usize, ClusterError> {
        self.of("/").server_count().await
    }

    /// Every room of `/` with members, on every node (see [`Namespace::all_rooms`]).
    pub async fn all_rooms(&self) -> Result<Vec<String>, ClusterError> {
        self.of("/").all_rooms().await
    }

    /// Send an event to the other server nodes (Node's `serverSideEmit`); never to this one.
    /// On a single node there is no other node: the data is checked and nothing is sent.
    pub fn server_side_emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        self.of("/").server_side_emit(event, data)
    }

    /// Send an event to the other server nodes and collect one answer from each (see
    /// [`Namespace::server_side_emit_with_ack`]).
    pub async fn server_side_emit_with_ack<T: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        event: &str,
        data: &T,
        timeout: Option<std::time::Duration>,
    ) -> Result<crate::cluster::Replies<R>, EmitError> {
        self.of("/")
            .server_side_emit_with_ack(event, data, timeout)
            .await
    }

    /// Run `handler` for the server-side event `event` sent to `/` by another node (see
    /// [`Namespace::on_server_side`]).
    pub fn on_server_side<F, Fut>(&self, event: impl Into<String>, handler: F)
    where
        F: Fn(crate::cluster::ServerSideEvent) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.of("/").on_server_side(event, handler);
    }

    /// Wait until the other nodes of the cluster can reach this server's `/` namespace (its
    /// subscriptions are in place). Returns at once on a single node.
    pub async fn cluster_ready(&self) -> Result<(), ClusterError> {
        self.of("/").cluster_ready().await
    }

    /// The server as a tower `Service`: answers requests under the configured path and 404
    /// for any other path. Use it as axum's `fallback_service`, or with hyper directly.
    pub fn service(&self) -> PorticoService {
        PorticoService::new(self.clone())
    }

    /// The server as a tower `Layer`: requests under the configured path are answered by
    /// Portico, every other request goes to the wrapped service (e.g. your axum routes).
    pub fn layer(&self) -> PorticoLayer {
        PorticoLayer::new(self.clone())
    }

    /// Run `handler` for every request the server refuses (Node's `connection_error`):
    /// disallowed origins, unknown sessions, bad requests. It runs on the request's task:
    /// keep it quick.
    pub fn on_connection_error<F>(&self, handler: F)
    where
        F: Fn(&ConnectionError) + Send + Sync + 'static,
    {
        self.0
            .error_handlers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::new(handler));
    }

    /// Number of open Engine.IO connections.
    pub fn connection_count(&self) -> usize {
        self.0.engine.connection_count()
    }

    /// Namespaces the server holds now: static ones and dynamic children (not the dynamic
    /// parents). For tests that check nothing is left behind.
    #[doc(hidden)]
    pub fn namespace_count(&self) -> usize {
        self.0
            .namespaces
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// How many times the server turned a client away since it started, by reason: every
    /// reason, in a fixed order, zeros included, so each can be exported as one metric
    /// series. The reasons are `origin`, `allow_request`, `bad_request`,
    /// `unsupported_version`, `unknown_sid`, `max_sessions`, `max_sessions_per_ip`, `payload_too_large`, `event_rate`,
    /// `send_buffer_full`, `header_read_timeout`, `upgrade_timeout` and `max_attachments`
    /// (see docs/limits.md); later versions may add reasons. Counting is a few atomic
    /// operations per refusal; warnings about refusals are logged at most 20 per reason per
    /// 10 s, then summed up in one `suppressed N similar warnings` line.
    ///
    /// ```
    /// # fn main() -> Result<(), portico::ConfigError> {
    /// let io = portico::Server::builder().build()?;
    /// let refused: u64 = io.refusals().iter().map(|(_, n)| n).sum();
    /// assert_eq!(refused, 0);
    /// # Ok(()) }
    /// ```
    pub fn refusals(&self) -> Vec<(&'static str, u64)> {
        self.0.engine.refusals.snapshot()
    }

    /// Close every connection (sockets disconnect with `server shutting down`; polling
    /// clients receive the close packet) and wait until all are gone, or at most 2 s for
    /// polling clients that do not come back for their close packet. New connections are
    /// refused from the start of the call.
    pub async fn close(&self) {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.close_all()).await;
    }

    /// Shut down gracefully within `timeout` (see the [`Shutdown`] it returns): new sessions are refused (503) from the start of
    /// the call; every connection with no acknowledgement pending is closed at once, the others
    /// as soon as theirs are settled (an acknowledgement the client asked for is sent or
    /// dropped, one the server asked for is answered or times out). Closing sends the
    /// Engine.IO close (the close packet to a polling client, a 1001 close to a WebSocket): the
    /// official client disconnects with `transport close` and reconnects, to another node if
    /// the address now leads there; server-side, sockets disconnect with `server shutting
    /// down`. Returns when every session is gone, or at the deadline with what is left; a
    /// polling client that does not come back for its close packet is waited for 2 s at
    /// most (within the deadline).
    ///
    /// [`crate::serve`] calls it on SIGINT/SIGTERM with [`ServerConfig::shutdown_timeout`].
    pub async fn shutdown(&self, timeout: std::time::Duration) -> Shutdown {
        let deadline = tokio::time::Instant::now() + timeout;
        let engine = &self.0.engine;
        engine.begin_shutdown();
        let sessions = engine.connection_count();
        let busy = engine.close_idle(CloseReason::ServerShutdown);
        tracing::info!(
            "shutting down: {sessions} sessions, {busy} waiting for pending acknowledgements \
             (at most {timeout:?})"
        );
        if !engine.wait_all_closing(deadline).await {
            // The deadline: close what is still busy.
            engine.close_idle_or_busy(CloseReason::ServerShutdown);
        }
        // Polling clients fetch their close packet on their next poll, which comes at once
        // from a live client; one that does not come back is not waited for long.
        let grace = (tokio::time::Instant::now() + CLOSE_PACKET_GRACE).min(deadline);
        engine.wait_closed(grace).await;
        let left_open = engine.connection_count();
        Shutdown {
            sessions,
            waited_for_acks: busy,
            left_open,
        }
    }

    async fn close_all(&self) {
        if self.0.engine.begin_shutdown() {
            tracing::info!("shutting down: closing Socket.IO connections");
        }
        self.0.engine.close_all(CloseReason::ServerShutdown).await;
    }
}

/// How long [`Server::shutdown`] waits for polling clients to collect their close packet.
const CLOSE_PACKET_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// What [`Server::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Shutdown {
    /// Sessions open when the shutdown began.
    pub sessions: usize,
    /// Of those, the sessions that had acknowledgements pending (closed once settled).
    pub waited_for_acks: usize,
    /// Sessions still open when it returned: busy at the deadline (closed then), or polling
    /// sessions whose client did not come back for its close packet within 2 s.
    pub left_open: usize,
}

impl ServerInner {
    /// Where a CONNECT to `name` goes: an existing namespace, or a dynamic parent that would
    /// create a child for it. Nothing is created here: a child is made only once the
    /// namespace's origin guard let the client in ([`ServerInner::join_target`]).
    pub(crate) fn namespace_for_connect(&self, name: &str) -> Option<ConnectTarget> {
        if let Some(ns) = self.namespace(name) {
            return Some(ConnectTarget(ns));
        }
        self.parents
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|p| p.matches(name))
            .cloned()
            .map(ConnectTarget)
    }

    /// The namespace a CONNECT to `name` joins (`target` from
    /// [`ServerInner::namespace_for_connect`]): a dynamic child is created now if it does not
    /// exist, and claimed until the CONNECT is decided. Node creates the child before its
    /// middlewares run and keeps it whatever they say; here a child that no CONNECT got into
    /// is removed again when the claim of the last refused one is dropped, so a client
    /// cannot make the server keep namespaces it refused.
    pub(crate) fn join_target(
        self: &Arc<Self>,
        target: ConnectTarget,
        name: &str,
    ) -> (Namespace, Option<JoinClaim>) {
        let ConnectTarget(found) = target;
        if !found.is_parent() && found.parent().is_none() {
            return (found, None); // a static namespace
        }
        let mut map = self.namespaces.write().unwrap_or_else(|e| e.into_inner());
        let ns = match map.get(name) {
            Some(ns) => ns.clone(),
            None => {
                let parent = if found.is_parent() {
                    found
                } else {
                    match found.parent() {
                        Some(p) => p.clone(),
                        None => return (found, None),
                    }
                };
                let child = Namespace::new_child(name.to_owned(), &parent, &self.config);
                map.insert(name.to_owned(), child.clone());
                child
            }
        };
        if ns.parent().is_none() {
            return (ns, None);
        }
        ns.0.joining.fetch_add(1, Ordering::Relaxed);
        let claim = JoinClaim {
            server: self.clone(),
            ns: ns.clone(),
        };
        (ns, Some(claim))
    }

    /// A dynamic child lost its last socket: forget it if the configuration says so.
    pub(crate) fn maybe_cleanup_child(&self, ns: &Namespace) {
        let Some(parent) = ns.parent() else { return };
        if !self.config.cleanup_empty_child_namespaces || !ns.is_empty() {
            return;
        }
        let mut map = self.namespaces.write().unwrap_or_else(|e| e.into_inner());
        // Not while a CONNECT into it is under way: that socket would join a namespace the
        // server no longer knows.
        if ns.0.joining.load(Ordering::Relaxed) == 0
            && map
                .get(ns.name())
                .is_some_and(|n| Arc::ptr_eq(&n.0, &ns.0) && n.is_empty())
        {
            map.remove(ns.name());
            parent.forget_child(ns);
        }
    }

    /// Every namespace now (static ones and dynamic children), cloned out of the lock.
    pub(crate) fn namespaces_now(&self) -> Vec<Namespace> {
        self.namespaces
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub(crate) fn namespace(&self, name: &str) -> Option<Namespace> {
        self.namespaces
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    pub(crate) fn connection_error(&self, err: &ConnectionError) {
        let handlers = self
            .error_handlers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for h in handlers {
            h(err);
        }
    }
}

/// Where a CONNECT goes: an existing namespace, or a dynamic parent (see
/// [`ServerInner::namespace_for_connect`]).
pub(crate) struct ConnectTarget(Namespace);

impl ConnectTarget {
    /// The origin guard the CONNECT must pass: the namespace's, or the parent's (which every
    /// child it creates uses).
    pub(crate) fn origin_guard(&self) -> Option<portico_cors::OriginPolicy> {
        self.0.origin_guard()
    }
}

/// A CONNECT under way into a dynamic child: while one is, the child stays. Dropped (accepted,
/// refused by a middleware, the connection gone, a middleware that panicked), the last claim of
/// a child that never accepted a socket removes it again.
pub(crate) struct JoinClaim {
    server: Arc<ServerInner>,
    ns: Namespace,
}

impl Drop for JoinClaim {
    fn drop(&mut self) {
        let mut map = self
            .server
            .namespaces
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let last = self.ns.0.joining.fetch_sub(1, Ordering::Relaxed) == 1;
        if !last || self.ns.0.ever_joined.load(Ordering::Relaxed) || !self.ns.is_empty() {
            return;
        }
        if map
            .get(self.ns.name())
            .is_some_and(|n| Arc::ptr_eq(&n.0, &self.ns.0))
        {
            map.remove(self.ns.name());
            if let Some(parent) = self.ns.parent() {
                parent.forget_child(&self.ns);
            }
            tracing::debug!(
                nsp = self.ns.name(),
                "dynamic namespace no socket joined: removed"
            );
        }
    }
}
