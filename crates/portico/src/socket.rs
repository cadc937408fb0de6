//! A client's connection to one namespace.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
use crate::broadcast::BroadcastOperator;
use crate::emit::{self, RESERVED_EVENTS};
use crate::engine::Conn;
use crate::errors::{AckError, EmitError};
use crate::handler::{
    run_inline, DisconnectHandler, Erased, ErasedEventHandler, EventHandler, IncomingEvent,
};
use crate::handshake::Handshake;
use crate::namespace::Namespace;
use crate::reason::DisconnectReason;
use crate::sid::Sid;

type AckSender = oneshot::Sender<(Vec<Value>, Vec<Bytes>)>;

/// A client connected to one namespace (Node's `socket`). Cheap to clone; every clone is the
/// same socket.
#[derive(Clone)]
pub struct Socket(pub(crate) Arc<SocketInner>);

pub(crate) struct SocketInner {
    id: Sid,
    ns: Namespace,
    pub(crate) conn: Arc<Conn>,
    handshake: Handshake,
    handlers: RwLock<HashMap<String, Arc<dyn ErasedEventHandler>>>,
    on_disconnect: Mutex<Vec<Arc<dyn DisconnectHandler>>>,
    acks: Mutex<HashMap<u64, AckSender>>,
    next_ack: AtomicU64,
    gate: Mutex<Gate>,
    connected: AtomicBool,
}

/// Events that arrive before the connection handler has had its first run are held here, so
/// that handlers it registers see them.
#[derive(Default)]
struct Gate {
    ready: bool,
    early: Vec<(Value, Option<u64>, Vec<Bytes>)>,
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
    pub(crate) fn new(ns: Namespace, conn: Arc<Conn>, handshake: Handshake) -> Socket {
        Socket(Arc::new(SocketInner {
            id: Sid::new(),
            ns,
            conn,
            handshake,
            handlers: RwLock::new(HashMap::new()),
            on_disconnect: Mutex::new(Vec::new()),
            acks: Mutex::new(HashMap::new()),
            next_ack: AtomicU64::new(0),
            gate: Mutex::new(Gate::default()),
            connected: AtomicBool::new(false),
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

    /// The handshake: headers, query, address of the first request, and this namespace's
    /// `auth` payload.
    pub fn handshake(&self) -> &Handshake {
        &self.0.handshake
    }

    /// Whether the socket is connected.
    pub fn connected(&self) -> bool {
        self.0.connected.load(Ordering::Acquire)
    }

    /// The transport in use now: `"polling"` or `"websocket"`.
    pub fn transport(&self) -> &'static str {
        self.0.conn.transport().as_str()
    }

    /// Handle an event from the client. Replaces an earlier handler for the same event.
    /// See [`crate::handler`] for the closure shapes.
    pub fn on<H, M>(&self, event: impl Into<String>, handler: H)
    where
        H: EventHandler<M>,
        M: 'static,
    {
        let h: Arc<dyn ErasedEventHandler> = Arc::new(Erased(handler, PhantomData));
        self.0
            .handlers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(event.into(), h);
    }

    /// Run `handler` when the socket disconnects, with the reason.
    pub fn on_disconnect<H: DisconnectHandler>(&self, handler: H) {
        lock(&self.0.on_disconnect).push(Arc::new(handler));
    }

    /// Send an event to this client. `data` maps to arguments as in [`crate::args`].
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        let frames = emit::encode(self.ns(), Some(event), data, None)?;
        self.send(&frames)
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
        if self.connected() {
            let _ = self
                .0
                .conn
                .send(&emit::control(&Packet::disconnect(self.ns())));
        }
        self.finish(DisconnectReason::ServerNamespaceDisconnect);
    }

    /// Close the whole underlying connection without a Socket.IO disconnect: the client sees
    /// `transport close` and reconnects on its own. Every socket of the connection
    /// disconnects with `forced close`.
    pub fn close_connection(&self) {
        self.0.conn.close(CloseReason::ForcedClose);
    }

    // ----- crate-internal --------------------------------------------------------------

    pub(crate) fn send(&self, frames: &[Frame]) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        self.0.conn.send(frames).map_err(|e| match e {
            SendError::Closed => EmitError::Disconnected,
            SendError::Full => EmitError::BufferFull,
        })
    }

    pub(crate) fn send_ack<T: Serialize + ?Sized>(
        &self,
        id: u64,
        data: &T,
    ) -> Result<(), EmitError> {
        let frames = emit::encode(self.ns(), None, data, Some(id))?;
        self.send(&frames)
    }

    fn ack_request<T: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        event: &str,
        data: &T,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<R, AckError>> + Send + 'static {
        let id = self.0.next_ack.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let sent = emit::encode(self.ns(), Some(event), data, Some(id)).and_then(|frames| {
            lock(&self.0.acks).insert(id, tx);
            self.send(&frames)
        });
        let socket = self.clone();
        async move {
            sent?;
            let reply = match timeout {
                Some(d) => match tokio::time::timeout(d, rx).await {
                    Ok(r) => r,
                    Err(_) => {
                        lock(&socket.0.acks).remove(&id);
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
            for (data, id, bins) in early {
                self.dispatch_event(data, id, bins);
            }
        }
    }

    pub(crate) fn on_event(&self, data: Value, id: Option<u64>, bins: Vec<Bytes>) {
        {
            let mut g = lock(&self.0.gate);
            if !g.ready {
                g.early.push((data, id, bins));
                return;
            }
        }
        self.dispatch_event(data, id, bins);
    }

    fn dispatch_event(&self, data: Value, id: Option<u64>, bins: Vec<Bytes>) {
        let Value::Array(mut items) = data else {
            return;
        };
        if items.is_empty() {
            return;
        }
        let name = match items.remove(0) {
            Value::String(s) => s,
            _ => return,
        };
        if RESERVED_EVENTS.contains(&name.as_str()) {
            tracing::warn!(sid = %self.id(), nsp = self.ns(), event = %name, "client sent a reserved event name: dropped");
            return;
        }
        let handler = self
            .0
            .handlers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&name)
            .cloned();
        let Some(handler) = handler else {
            tracing::debug!(sid = %self.id(), nsp = self.ns(), event = %name, "no handler for event");
            return;
        };
        let event = IncomingEvent {
            name,
            args: items,
            binary: bins,
            ack: Ack::new(self.clone(), id),
        };
        run_inline(handler.call(self.clone(), event));
    }

    pub(crate) fn on_ack(&self, id: Option<u64>, data: Option<Value>, bins: Vec<Bytes>) {
        let Some(id) = id else { return };
        let Some(tx) = lock(&self.0.acks).remove(&id) else {
            tracing::debug!(sid = %self.id(), id, "acknowledgement for an unknown or expired id");
            return;
        };
        let args = match data {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        let _ = tx.send((args, bins));
    }

    /// Leave the namespace for `reason` (once): rooms, pending acks, then the handlers.
    pub(crate) fn finish(&self, reason: DisconnectReason) {
        if !self.0.connected.swap(false, Ordering::AcqRel) {
            return;
        }
        crate::sio::client::forget_socket(&self.0.conn, self.ns(), self.0.id);
        self.0.ns.remove_socket(self.0.id);
        self.0.ns.adapter().leave_all(self.0.id);
        lock(&self.0.acks).clear();
        let handlers: Vec<_> = lock(&self.0.on_disconnect).drain(..).collect();
        self.0
            .handlers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        tracing::debug!(sid = %self.id(), nsp = self.ns(), %reason, "socket disconnected");
        for h in handlers {
            run_inline(h.call(self.clone(), reason));
        }
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
