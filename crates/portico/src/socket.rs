//! A client's connection to one namespace.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use portico_proto::engine::session::{CloseReason, SendError};
use portico_proto::engine::Frame;
use portico_proto::sio::Packet;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::ack::Ack;
use crate::args::Args;
use crate::broadcast::BroadcastOperator;
use crate::emit;
use crate::errors::{AckError, EmitError};
use crate::extract::Extensions;
use crate::handler::{
    run_event, run_inline, DisconnectHandler, Erased, ErasedDisconnectHandler, ErasedEventHandler,
    EventHandler, EventName, HandlerMap, IncomingEvent,
};
use crate::handshake::Handshake;
use crate::listeners::{AnyHandler, EventError, EventInfo, EventMiddleware};
use crate::namespace::Namespace;
use crate::reason::DisconnectReason;
use crate::sid::Sid;
use crate::sio::SioConn;

type AckSender = oneshot::Sender<(Vec<Value>, Vec<Bytes>)>;

/// Acknowledgements awaited from the client, by id. The ids are this socket's own sequence
/// numbers (a client only looks them up), so they need no keyed hash; the map is 16 bytes
/// smaller without `RandomState`'s keys, on every socket.
type AckMap = HashMap<u64, AckSender, std::hash::BuildHasherDefault<crate::sid::SidHasher>>;

/// A client connected to one namespace (Node's `socket`). Cheap to clone; every clone is the
/// same socket.
#[derive(Clone)]
pub struct Socket(pub(crate) Arc<SocketInner>);

pub(crate) struct SocketInner {
    id: Sid,
    ns: Namespace,
    /// The Socket.IO side of the connection.
    pub(crate) conn: Arc<SioConn>,
    /// Its Engine.IO session, held here too: every send goes to it without a hop through
    /// `conn` (one cache line less per emit and ack).
    pub(crate) engine: Arc<crate::engine::Conn>,
    handshake: Handshake,
    handlers: RwLock<HandlerMap>,
    on_disconnect: Mutex<Vec<Arc<dyn ErasedDisconnectHandler>>>,
    acks: Mutex<AckMap>,
    /// Work a graceful shutdown waits for: acknowledgements the client asked for that no
    /// handler has sent or dropped yet, and event handlers that had to wait and are still
    /// running. Per socket: no other connection touches it.
    work: AtomicUsize,
    next_ack: AtomicU64,
    gate: Mutex<Gate>,
    connected: AtomicBool,
    /// Boxed, and only once one is added: most sockets have none.
    listeners: RwLock<Option<Box<Listeners>>>,
    /// `socket.data`; `None` is `null` (boxed: most sockets have none).
    data: Mutex<Option<Box<Value>>>,
    extensions: Extensions,
    /// Connection state recovery: the private id, where replay would start, and whether this
    /// socket was recovered.
    pid: Option<Box<str>>,
    since: u64,
    recovered: bool,
}

/// Optional per-socket listeners; empty (and never allocated) unless used.
#[derive(Default)]
struct Listeners {
    any: Vec<Arc<dyn AnyHandler>>,
    any_outgoing: Vec<Arc<dyn AnyHandler>>,
    middlewares: Vec<Arc<dyn EventMiddleware>>,
    disconnecting: Vec<Arc<dyn ErasedDisconnectHandler>>,
}

/// An event held by the [`Gate`]: name, arguments, ack id, attachments.
type EarlyEvent = (String, Vec<Value>, Option<u64>, Vec<Bytes>);

/// Events that arrive before the connection handler has had its first run are held here, so
/// that handlers it registers see them.
#[derive(Default)]
struct Gate {
    ready: bool,
    early: Vec<EarlyEvent>,
}

/// `socket.data` as kept: `null` takes no allocation.
fn boxed_data(data: Value) -> Option<Box<Value>> {
    (!data.is_null()).then(|| Box::new(data))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.0.id)
            .field("nsp", &self.ns())
            .finish()
    }
}

impl Socket {
    pub(crate) fn new(ns: Namespace, conn: Arc<SioConn>, handshake: Handshake) -> Socket {
        Socket::build(ns, conn, handshake, Sid::new(), None, Value::Null)
    }

    /// A socket that takes over a recovered session's id, private id and data.
    pub(crate) fn recovered_from(
        ns: Namespace,
        conn: Arc<SioConn>,
        handshake: Handshake,
        (sid, pid, data): (Sid, String, Value),
    ) -> Socket {
        Socket::build(ns, conn, handshake, sid, Some(pid), data)
    }

    fn build(
        ns: Namespace,
        conn: Arc<SioConn>,
        handshake: Handshake,
        id: Sid,
        recovered_pid: Option<String>,
        data: Value,
    ) -> Socket {
        let recovered = recovered_pid.is_some();
        let (pid, since) = match ns.recovery() {
            Some(store) => (
                Some(
                    recovered_pid
                        .unwrap_or_else(|| Sid::new().to_string())
                        .into_boxed_str(),
                ),
                store.current_offset(),
            ),
            None => (None, 0),
        };
        Socket(Arc::new(SocketInner {
            id,
            ns,
            engine: conn.engine.clone(),
            conn,
            handshake,
            handlers: RwLock::new(HandlerMap::default()),
            on_disconnect: Mutex::new(Vec::new()),
            acks: Mutex::new(AckMap::default()),
            work: AtomicUsize::new(0),
            next_ack: AtomicU64::new(0),
            gate: Mutex::new(Gate::default()),
            connected: AtomicBool::new(false),
            listeners: RwLock::new(None),
            data: Mutex::new(boxed_data(data)),
            extensions: Extensions::default(),
            pid,
            since,
            recovered,
        }))
    }

    /// The socket id (differs from the Engine.IO session id, which is never exposed).
    pub fn id(&self) -> Sid {
        self.0.id
    }

    /// The namespace's name, e.g. `/` or `/admin`.
    pub fn ns(&self) -> &str {
        self.0.ns.name()
    }

    /// The namespace.
    pub fn namespace(&self) -> &Namespace {
        &self.0.ns
    }

    /// The server this socket belongs to (Node's `socket.nsp.server`); handlers can also take
    /// it as a [`Server`](crate::Server) argument.
    pub fn server(&self) -> crate::Server {
        crate::Server(self.0.conn.server.clone())
    }

    /// Typed values kept with this socket, for this server only: see [`Extensions`].
    pub fn extensions(&self) -> &Extensions {
        &self.0.extensions
    }

    /// The handshake: headers, query, address of the first request, and this namespace's
    /// `auth` payload.
    pub fn handshake(&self) -> &Handshake {
        &self.0.handshake
    }

    /// Whether this socket recovered an earlier session (connection state recovery): same id,
    /// rooms and data, and the missed events were delivered after the connection handler's
    /// first run.
    pub fn recovered(&self) -> bool {
        self.0.recovered
    }

    pub(crate) fn pid(&self) -> Option<&str> {
        self.0.pid.as_deref()
    }

    /// Whether the socket is connected.
    pub fn connected(&self) -> bool {
        self.0.connected.load(Ordering::Acquire)
    }

    /// The transport in use now: `"polling"` or `"websocket"`.
    pub fn transport(&self) -> &'static str {
        self.0.engine.transport().as_str()
    }

    /// Handle an event from the client. Replaces an earlier handler for the same event.
    /// See [`crate::handler`] for the closure shapes.
    ///
    /// # Panics
    ///
    /// On a reserved name (`connect`, `connect_error`, `disconnect`, `disconnecting`,
    /// `newListener`, `removeListener`): no client can send those, so such a handler would
    /// never run. The message says what to use instead ([`Socket::on_disconnect`],
    /// [`Socket::on_disconnecting`], [`crate::Namespace::on_connection`]). The panic stays
    /// inside the handler that called `on` (the server keeps serving) and is printed.
    #[track_caller]
    pub fn on<H, M>(&self, event: impl AsRef<str>, handler: H)
    where
        H: EventHandler<M>,
        M: 'static,
    {
        // Borrowed: the map's key holds a short name inline (`EventName`), so a `&str` name
        // costs no allocation of its own.
        let event = event.as_ref();
        if let Some(fix) = reserved_name_fix(event) {
            panic!(
                "socket.on({event:?}, ..) would never run: {event:?} is a reserved Socket.IO \
                 event name that no client can send. {fix}"
            );
        }
        let h: Arc<dyn ErasedEventHandler> = Arc::new(Erased(handler, PhantomData));
        self.0
            .handlers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(EventName::new(event), h);
    }

    /// Run `handler` when the socket disconnects, with the reason.
    pub fn on_disconnect<H: DisconnectHandler<M>, M: 'static>(&self, handler: H) {
        lock(&self.0.on_disconnect).push(Arc::new(Erased(handler, PhantomData)));
    }

    /// Run `handler` while the socket is disconnecting, before it leaves its rooms
    /// (Node's `disconnecting`): [`Socket::rooms`] still lists them until the handler's
    /// first `.await`.
    pub fn on_disconnecting<H: DisconnectHandler<M>, M: 'static>(&self, handler: H) {
        self.add_listener(|l| l.disconnecting.push(Arc::new(Erased(handler, PhantomData))));
    }

    /// Run `handler` for every incoming event, before its own handler (Node's `onAny`).
    pub fn on_any<H: AnyHandler>(&self, handler: H) {
        self.add_listener(|l| l.any.push(Arc::new(handler)));
    }

    /// Run `handler` for every event this socket emits (Node's `onAnyOutgoing`;
    /// broadcasts are not included).
    pub fn on_any_outgoing<H: AnyHandler>(&self, handler: H) {
        self.add_listener(|l| l.any_outgoing.push(Arc::new(handler)));
    }

    /// Add an event middleware (Node's `socket.use`): middlewares run in order before any
    /// handler; an `Err(EventError)` stops the event (see [`EventError`] for what the client
    /// is told).
    pub fn use_event<M: EventMiddleware>(&self, middleware: M) {
        self.add_listener(|l| l.middlewares.push(Arc::new(middleware)));
    }

    /// Attach data to the socket (Node's `socket.data`): any serde value, visible to
    /// [`crate::BroadcastOperator::fetch_sockets`].
    pub fn set_data<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), serde_json::Error> {
        *lock(&self.0.data) = boxed_data(serde_json::to_value(data)?);
        if let Some(hub) = &self.0.conn.server.config.admin {
            hub.data_changed(self);
        }
        Ok(())
    }

    /// The socket's data as your type (`null` until [`Socket::set_data`]).
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(lock(&self.0.data).as_deref().unwrap_or(&Value::Null))
    }

    /// The socket's data as JSON.
    pub fn data_value(&self) -> Value {
        lock(&self.0.data)
            .as_deref()
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// Send an event to this client. `data` maps to arguments as in [`crate::args`].
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        if self.0.ns.recovery().is_some() {
            // With recovery, an emit gets an offset and is kept for replay, like a broadcast to
            // this socket's own room.
            if !self.connected() {
                return Err(EmitError::Disconnected);
            }
            BroadcastOperator::new(self.0.ns.clone())
                .to(self.0.id.to_string())
                .emit(event, data)?;
            self.notify_outgoing(event, data);
            return Ok(());
        }
        let frames = emit::encode(self.0.ns.parser(), self.ns(), Some(event), data, None)?;
        self.notify_outgoing(event, data);
        self.send_vec(frames)
    }

    /// Send an event only if the transport can take it now; otherwise drop it (Node's
    /// `volatile`): for data that is stale by the time it could be delivered. Returns whether
    /// it was sent.
    pub fn emit_volatile<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<bool, EmitError> {
        let frames = emit::encode(self.0.ns.parser(), self.ns(), Some(event), data, None)?;
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        let sent = self.0.engine.send_volatile(&frames);
        if sent {
            self.notify_outgoing(event, data);
        }
        Ok(sent)
    }

    /// Send an event and wait for the client's acknowledgement, however long it takes (or
    /// until the socket disconnects). See [`Socket::timeout`] for a bounded wait.
    pub fn emit_with_ack<T: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        event: &str,
        data: &T,
    ) -> impl Future<Output = Result<R, AckError>> + Send + 'static {
        self.ack_request(event, data, None)
    }

    /// Bound the wait of the next [`TimedSocket::emit_with_ack`].
    pub fn timeout(&self, timeout: Duration) -> TimedSocket<'_> {
        TimedSocket {
            socket: self,
            timeout,
        }
    }

    /// Join a room.
    pub fn join(&self, room: impl AsRef<str>) {
        self.0.ns.adapter().join(self.0.id, &[room.as_ref()]);
    }

    /// Leave a room.
    pub fn leave(&self, room: impl AsRef<str>) {
        self.0.ns.adapter().leave(self.0.id, room.as_ref());
    }

    /// The rooms this socket is in (its own id included), sorted.
    pub fn rooms(&self) -> Vec<String> {
        self.0.ns.adapter().rooms_of(self.0.id)
    }

    /// Emit to the sockets in `room`, except this one.
    pub fn to(&self, room: impl Into<String>) -> BroadcastOperator {
        self.broadcast().to(room)
    }

    /// Emit to every socket of the namespace except those in `room` and this one.
    pub fn except(&self, room: impl Into<String>) -> BroadcastOperator {
        self.broadcast().except(room)
    }

    /// Emit to every socket of the namespace except this one.
    pub fn broadcast(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.0.ns.clone()).exclude(self.0.id)
    }

    /// Disconnect from this namespace (the client sees `io server disconnect` and does not
    /// reconnect on its own). The Engine.IO connection stays open for other namespaces.
    pub fn disconnect(&self) {
        self.disconnect_with(false);
    }

    /// Like [`Socket::disconnect`]; with `close`, also close the whole connection: the
    /// connection's other namespaces disconnect with `forced server close` (Node's
    /// `disconnect(true)`).
    pub fn disconnect_with(&self, close: bool) {
        if self.connected() {
            let _ = self.0.engine.send(&emit::control(
                self.0.ns.parser(),
                &Packet::disconnect(self.ns()),
            ));
        }
        self.finish(DisconnectReason::ServerNamespaceDisconnect);
        if close {
            crate::sio::conn::finish_all(&self.0.conn, DisconnectReason::ForcedServerClose);
            self.0.engine.close(CloseReason::ForcedClose);
        }
    }

    /// Close the whole underlying connection without a Socket.IO disconnect: the client sees
    /// `transport close` and reconnects on its own. Every socket of the connection
    /// disconnects with `forced close`.
    pub fn close_connection(&self) {
        self.0.engine.close(CloseReason::ForcedClose);
    }

    // ----- crate-internal --------------------------------------------------------------

    fn listeners_mut(&self) -> std::sync::RwLockWriteGuard<'_, Option<Box<Listeners>>> {
        self.0.listeners.write().unwrap_or_else(|e| e.into_inner())
    }

    fn listeners(&self) -> std::sync::RwLockReadGuard<'_, Option<Box<Listeners>>> {
        self.0.listeners.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Add a listener with `add` (the listeners are allocated on the first).
    fn add_listener(&self, add: impl FnOnce(&mut Listeners)) {
        add(self.listeners_mut().get_or_insert_with(Box::default));
    }

    fn notify_outgoing<T: Serialize + ?Sized>(&self, event: &str, data: &T) {
        let outgoing = match &*self.listeners() {
            Some(l) => l.any_outgoing.clone(),
            None => return,
        };
        if outgoing.is_empty() {
            return;
        }
        if let Ok((values, binary)) = crate::args::to_args(data) {
            for h in outgoing {
                let args = Args {
                    values: values.clone(),
                    binary: binary.clone(),
                };
                run_inline(|| h.call(self.clone(), event.to_owned(), args));
            }
        }
    }

    pub(crate) fn send(&self, frames: &[Frame]) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        self.0.engine.send(frames).map_err(emit_error)
    }

    /// Frames, each an event of its own, queued in one push ([`crate::coalesce`]).
    pub(crate) fn send_each(&self, frames: &[Frame]) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        self.0.engine.send_each(frames).map_err(emit_error)
    }

    /// [`Socket::send`] taking the frames (nothing cloned).
    pub(crate) fn send_vec(&self, frames: emit::Frames) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        self.0.engine.send_vec(frames).map_err(emit_error)
    }

    pub(crate) fn send_ack<T: Serialize + ?Sized>(
        &self,
        id: u64,
        data: &T,
    ) -> Result<(), EmitError> {
        let frames = emit::encode(self.0.ns.parser(), self.ns(), None, data, Some(id))?;
        self.send_vec(frames)
    }

    pub(crate) fn ack_request<T: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        event: &str,
        data: &T,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<R, AckError>> + Send + 'static {
        let id = self.0.next_ack.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let sent = emit::encode(self.0.ns.parser(), self.ns(), Some(event), data, Some(id))
            .and_then(|frames| {
                lock(&self.0.acks).insert(id, tx);
                self.send_vec(frames)
            });
        let socket = self.clone();
        async move {
            sent?;
            let reply = match timeout {
                Some(d) => match tokio::time::timeout(d, rx).await {
                    Ok(r) => r,
                    Err(_) => {
                        lock(&socket.0.acks).remove(&id);
                        socket.0.conn.ack_settled();
                        return Err(AckError::Timeout);
                    }
                },
                None => rx.await,
            };
            let (args, bins) = reply.map_err(|_| AckError::Disconnected)?;
            crate::args::from_args(args, &bins).map_err(AckError::Decode)
        }
    }

    /// Add the socket to its namespace: called once the middlewares accepted it.
    pub(crate) fn mark_connected(&self) {
        // No held broadcast can name this socket before it joins its own room (and `join`
        // delivers what is held first).
        self.0.connected.store(true, Ordering::Release);
        self.0.ns.adapter().join(self.0.id, &[self.0.id.as_str()]);
    }

    /// The connection handler had its first run: deliver the events that came meanwhile.
    pub(crate) fn open_gate(&self) {
        loop {
            let early = {
                let mut g = lock(&self.0.gate);
                if g.early.is_empty() {
                    g.ready = true;
                    return;
                }
                std::mem::take(&mut g.early)
            };
            for (name, args, id, bins) in early {
                self.dispatch_event(&name, args, id, bins);
            }
        }
    }

    /// An event named `name` with its arguments: handled now, or held until the connection
    /// handler has had its first run.
    pub(crate) fn on_event(&self, name: &str, args: Vec<Value>, id: Option<u64>, bins: Vec<Bytes>) {
        {
            let mut g = lock(&self.0.gate);
            if !g.ready {
                g.early.push((name.to_owned(), args, id, bins));
                return;
            }
        }
        self.dispatch_event(name, args, id, bins);
    }

    /// `name` is never a reserved one: every decoder refuses those (and closes the connection).
    fn dispatch_event(&self, name: &str, items: Vec<Value>, id: Option<u64>, bins: Vec<Bytes>) {
        let handler = self
            .0
            .handlers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get_key_value(name.as_bytes())
            .map(|(k, h)| (k.clone(), h.clone()));
        // The catch-all listeners and middlewares, when the socket has any (copied out of the
        // lock: they run after it is released). Most sockets have none: then nothing is copied
        // or dropped per event.
        let listeners = match &*self.listeners() {
            Some(l) if !(l.any.is_empty() && l.middlewares.is_empty()) => {
                Some((l.any.clone(), l.middlewares.clone()))
            }
            _ => None,
        };
        let Some((any, middlewares)) = listeners else {
            let Some((name, handler)) = handler else {
                tracing::debug!(sid = %self.id(), nsp = self.ns(), event = %name, "no handler for event");
                return;
            };
            let event = IncomingEvent {
                name,
                args: items,
                binary: bins,
                ack: Ack::new(self.clone(), id),
            };
            run_event(|| handler.call(self.clone(), event), self);
            return;
        };
        let socket = self.clone();
        let name = name.to_owned();
        run_event(
            || {
                Box::pin(async move {
                    let args = Args {
                        values: items,
                        binary: bins,
                    };
                    for mw in middlewares {
                        let info = EventInfo {
                            name: name.clone(),
                            args: args.clone(),
                            wants_ack: id.is_some(),
                        };
                        if let Err(e) = mw.call(socket.clone(), info).await {
                            socket.refuse_event(&name, id, &e);
                            return;
                        }
                    }
                    for h in any {
                        run_inline(|| h.call(socket.clone(), name.clone(), args.clone()));
                    }
                    match handler {
                        Some((key, handler)) => {
                            let event = IncomingEvent {
                                name: key,
                                args: args.values,
                                binary: args.binary,
                                ack: Ack::new(socket.clone(), id),
                            };
                            handler.call(socket, event).await;
                        }
                        None => {
                            tracing::debug!(sid = %socket.id(), nsp = socket.ns(), event = %name, "no handler for event")
                        }
                    }
                })
            },
            self,
        );
    }

    fn refuse_event(&self, name: &str, id: Option<u64>, e: &EventError) {
        tracing::debug!(sid = %self.id(), nsp = self.ns(), event = name, error = %e, "event stopped by middleware");
        let Some(message) = e.message() else { return };
        if let Some(id) = id {
            let _ = self.send_ack(id, &serde_json::json!({ "error": message }));
        }
        if let Ok(frames) = emit::encode_unchecked(
            self.0.ns.parser(),
            self.ns(),
            "error",
            &serde_json::json!({ "event": name, "message": message }),
        ) {
            let _ = self.send_vec(frames);
        }
    }

    pub(crate) fn on_ack(&self, id: u64, args: Vec<Value>, bins: Vec<Bytes>) {
        let Some(tx) = lock(&self.0.acks).remove(&id) else {
            tracing::debug!(sid = %self.id(), id, "acknowledgement for an unknown or expired id");
            return;
        };
        let _ = tx.send((args, bins));
        self.0.conn.ack_settled();
    }

    /// Work begins (an owed acknowledgement, a handler that waits); it ends when the guard
    /// is dropped.
    pub(crate) fn begin_work(&self) -> Work {
        self.add_work();
        Work(self.clone())
    }

    /// Count work that [`Socket::end_work`] will end.
    pub(crate) fn add_work(&self) {
        self.0.work.fetch_add(1, Ordering::Relaxed);
    }

    /// Work counted by [`Socket::begin_work`] ended.
    pub(crate) fn end_work(&self) {
        self.0.work.fetch_sub(1, Ordering::Relaxed);
        self.0.conn.ack_settled();
    }

    /// Work is pending: acknowledgements owed to the client or awaited from it, handlers
    /// still running.
    pub(crate) fn has_pending_work(&self) -> bool {
        self.0.work.load(Ordering::Relaxed) > 0 || !lock(&self.0.acks).is_empty()
    }

    /// Leave the namespace for `reason` (once): rooms, pending acks, then the handlers.
    pub(crate) fn finish(&self, reason: DisconnectReason) {
        // Broadcasts held back reach this socket if it was a member when they were made.
        crate::engine::defer::deliver_held();
        if !self.0.connected.swap(false, Ordering::AcqRel) {
            return;
        }
        let disconnecting = self
            .listeners_mut()
            .as_mut()
            .map(|l| std::mem::take(&mut l.disconnecting))
            .unwrap_or_default();
        for h in disconnecting {
            run_inline(|| h.call(self.clone(), reason));
        }
        if let (Some(store), Some(pid)) = (self.0.ns.recovery(), self.0.pid.as_deref()) {
            if crate::recovery::recoverable(reason) {
                let state = (self.0.id, self.rooms(), self.data_value(), self.0.since);
                store.save(pid.to_owned(), state, crate::engine::conn::now());
            }
        }
        crate::sio::conn::forget_socket(&self.0.conn, self.ns(), self.0.id);
        self.0.ns.remove_socket(self.0.id);
        self.0.ns.adapter().leave_all(self.0.id);
        self.0.conn.server.maybe_cleanup_child(&self.0.ns);
        lock(&self.0.acks).clear();
        let handlers: Vec<_> = lock(&self.0.on_disconnect).drain(..).collect();
        self.0
            .handlers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        *self.listeners_mut() = None;
        tracing::debug!(sid = %self.id(), nsp = self.ns(), %reason, "socket disconnected");
        for h in handlers {
            run_inline(|| h.call(self.clone(), reason));
        }
        // After the handlers' first run: values that hold the socket would keep it alive.
        self.0.extensions.clear();
    }
}

/// Work in progress on a socket (see [`Socket::begin_work`]): ends when dropped.
pub(crate) struct Work(Socket);

impl Drop for Work {
    fn drop(&mut self) {
        self.0.end_work();
    }
}

/// A socket with a bound on the next acknowledgement wait. From [`Socket::timeout`].
#[derive(Debug)]
pub struct TimedSocket<'a> {
    socket: &'a Socket,
    timeout: Duration,
}

impl TimedSocket<'_> {
    /// Send an event and wait at most the timeout for the acknowledgement
    /// ([`AckError::Timeout`] after it).
    pub fn emit_with_ack<T: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        event: &str,
        data: &T,
    ) -> impl Future<Output = Result<R, AckError>> + Send + 'static {
        self.socket.ack_request(event, data, Some(self.timeout))
    }
}

/// What to use instead of `socket.on(name, ..)` for a reserved `name`, or `None` when
/// `name` is not reserved.
fn reserved_name_fix(name: &str) -> Option<&'static str> {
    if !portico_proto::sio::packet::is_reserved_event(name) {
        return None;
    }
    Some(match name {
        "disconnect" => {
            "Use socket.on_disconnect(|socket: Socket, reason: DisconnectReason| async move { .. })."
        }
        "disconnecting" => {
            "Use socket.on_disconnecting(|socket: Socket, reason: DisconnectReason| async move { .. }) \
             (the socket's rooms are still listed there)."
        }
        "connect" => {
            "A socket is already connected when its handlers are registered: put that code in \
             io.of(nsp).on_connection(..)."
        }
        "connect_error" => {
            "A refused connection is reported to the client; on the server, refuse in \
             io.of(nsp).use_connect(..) and see io.on_connection_error(..) for refused requests."
        }
        _ => "These are Node EventEmitter events; Portico has no equivalent to listen for.",
    })
}

fn emit_error(e: SendError) -> EmitError {
    match e {
        SendError::Closed => EmitError::Disconnected,
        SendError::Full => EmitError::BufferFull,
    }
}
