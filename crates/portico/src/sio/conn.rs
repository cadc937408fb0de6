//! The Socket.IO side of one Engine.IO connection (Node's `Client`): decode its packets,
//! reassemble binary ones, join namespaces, dispatch to the sockets, and close a connection
//! that joins none within `connect_timeout`. It is the engine's [`ConnHandler`].

use std::future::poll_fn;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::Poll;
use std::time::Instant;

use bytes::Bytes;
use futures_util::FutureExt as _;
use portico_proto::engine::session::{CloseReason, Incoming, Protocol};
use portico_proto::sio::{
    Connection, DecodeError, Encoding, Limits, Packet, ProtocolError, Received, Role, Version,
};
use serde_json::{json, Value};
use smallvec::SmallVec;

use super::rate::Bucket;
use crate::emit;
use crate::engine::{self, ConnHandler, Handler};
use crate::handler::run_inline;
use crate::handshake::Handshake;
use crate::reason::DisconnectReason;
use crate::refusal::Reason;
use crate::server::ServerInner;
use crate::sid::Sid;
use crate::Socket;

/// The Socket.IO layer as the engine's [`Handler`]: one [`SioConn`] per session.
pub(crate) struct Layer {
    server: Weak<ServerInner>,
}

impl Layer {
    pub(crate) fn new(server: Weak<ServerInner>) -> Layer {
        Layer { server }
    }
}

impl Handler for Layer {
    fn on_open(&self, conn: &Arc<engine::Conn>) -> Arc<dyn ConnHandler> {
        let Some(server) = self.server.upgrade() else {
            // The server is being dropped: nothing can join.
            conn.close(CloseReason::ServerShutdown);
            return Arc::new(Gone);
        };
        let connect_deadline = engine::conn::now() + server.config.connect_timeout;
        let protocol = protocol_state(conn, &server);
        let rate = Bucket::new(
            engine::conn::now(),
            server.config.event_rate,
            server.config.event_burst,
        );
        let sio = Arc::new_cyclic(|me| SioConn {
            me: me.clone(),
            engine: conn.clone(),
            server,
            state: Mutex::new(ClientState {
                sockets: SmallVec::new(),
                protocol,
                rate,
                joined: false,
                joining: Vec::new(),
                timed_out: false,
            }),
            connect_deadline,
        });
        // A socket.io-client 2.x (Engine.IO v3) joins `/` without asking.
        if matches!(conn.protocol(), Protocol::V3 { .. }) {
            connect(&sio, "/", None);
        }
        sio
    }
}

/// The Socket.IO protocol state of a new connection: v4 for an Engine.IO v3 client.
fn protocol_state(conn: &engine::Conn, server: &ServerInner) -> Connection {
    let version = match conn.protocol() {
        Protocol::V3 { .. } => Version::V4,
        Protocol::V4 => Version::V5,
    };
    let encoding = match server.config.parser {
        crate::Parser::Json => Encoding::Json,
        crate::Parser::MsgPack => Encoding::MsgPack,
    };
    let limits = Limits {
        max_attachments: server.config.max_attachments,
    };
    Connection::new(Role::Server, version, encoding, limits)
}

/// The handler of a session opened while the server was going away.
struct Gone;

impl ConnHandler for Gone {
    fn on_message(&self, _: Incoming) {}
    fn on_close(&self, _: CloseReason) {}
}

/// The Socket.IO side of one Engine.IO connection.
pub(crate) struct SioConn {
    /// Itself, for the sockets that join (each holds the connection).
    me: Weak<SioConn>,
    /// The Engine.IO session under it.
    pub(crate) engine: Arc<engine::Conn>,
    pub(crate) server: Arc<ServerInner>,
    state: Mutex<ClientState>,
    /// When a connection that joined no namespace is closed.
    connect_deadline: Instant,
}

/// Socket.IO state of one connection.
struct ClientState {
    /// Connected namespaces, each with its namespace's shared name. Few per connection: a
    /// vector beats a map, and the first one is held inline (no pointer to chase per packet).
    sockets: SmallVec<[(Arc<str>, Socket); 1]>,
    /// The protocol state: decoding, binary reassembly, the shapes of this client's version.
    protocol: Connection,
    /// `event_rate`: one token per packet received.
    rate: Bucket,
    /// Whether any namespace was ever joined (ends the connect timeout).
    joined: bool,
    /// Namespaces whose CONNECT is being decided (their middlewares run): a repeated CONNECT
    /// for one of them is ignored, and at most [`MAX_JOINING`] are decided at once.
    joining: Vec<Arc<str>>,
    /// The connect timeout passed (it is not armed again).
    timed_out: bool,
}

impl ConnHandler for SioConn {
    fn on_message(&self, msg: Incoming) {
        on_message(self, msg);
    }

    fn on_close(&self, reason: CloseReason) {
        on_close(self, reason);
    }

    fn on_upgrade(&self) {
        if let Some(hub) = &self.server.config.admin {
            let sockets: SmallVec<[Socket; 1]> = self
                .state()
                .sockets
                .iter()
                .map(|(_, s)| s.clone())
                .collect();
            for socket in &sockets {
                hub.transport_changed(socket);
            }
        }
    }

    fn deadline(&self) -> Option<Instant> {
        let st = self.state();
        (!st.joined && !st.timed_out).then_some(self.connect_deadline)
    }

    fn is_busy(&self) -> bool {
        let sockets: SmallVec<[Socket; 1]> = self
            .state()
            .sockets
            .iter()
            .map(|(_, s)| s.clone())
            .collect();
        sockets.iter().any(Socket::has_pending_work)
    }

    fn on_deadline(&self) {
        let join_missed = {
            let mut st = self.state();
            st.timed_out = true;
            !st.joined
        };
        if join_missed {
            tracing::debug!(sid = %self.engine.sid, "no namespace joined within connect_timeout: closing");
            self.engine.close(CloseReason::ForcedClose);
        }
    }
}

impl SioConn {
    /// CONNECT_ERROR for `nsp` in this client's protocol version.
    fn connect_error(&self, nsp: &str, message: &str, data: Option<Value>) -> Packet {
        self.state().protocol.connect_error(nsp, message, data)
    }

    fn state(&self) -> MutexGuard<'_, ClientState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn socket_for(&self, nsp: &str) -> Option<Socket> {
        self.state()
            .sockets
            .iter()
            .find(|(n, _)| &**n == nsp)
            .map(|(_, s)| s.clone())
    }
}

pub(crate) fn forget_socket(conn: &SioConn, nsp: &str, id: Sid) {
    conn.state()
        .sockets
        .retain(|(n, s)| !(&**n == nsp && s.id() == id));
}

fn protocol_error(conn: &SioConn, what: &str) {
    tracing::debug!(sid = %conn.engine.sid, what, "invalid Socket.IO packet: closing the connection");
    conn.engine.session().handle_decode_error();
    conn.engine.wake_all();
}

/// A message arrived on the Engine.IO connection: read by the connection's protocol state
/// (`portico_proto::sio::Connection`), then handed to the namespace's socket.
fn on_message(conn: &SioConn, msg: Incoming) {
    // The state lock is held only while reading the message, not while dispatching it.
    // Each complete packet takes a token of `event_rate` (a decrement while tokens remain).
    match msg {
        Incoming::Text(text) => {
            let (received, allowed) = {
                let mut st = conn.state();
                let received = st.protocol.handle_text(&text);
                let allowed = !matches!(received, Ok(Some(_))) || st.rate.take(engine::conn::now);
                (received, allowed)
            };
            if allowed {
                on_received(conn, received);
            } else {
                rate_exceeded(conn);
            }
        }
        Incoming::Binary(bytes) => {
            let (received, allowed) = {
                let mut st = conn.state();
                let received = st.protocol.handle_binary(bytes);
                let allowed = !matches!(received, Ok(Some(_))) || st.rate.take(engine::conn::now);
                (received, allowed)
            };
            if allowed {
                on_received(conn, received);
            } else {
                rate_exceeded(conn);
            }
        }
    }
}

/// The connection sent packets faster than `event_rate` allows: it is closed (`event rate
/// exceeded`), and the packet that went over is not handled.
fn rate_exceeded(conn: &SioConn) {
    if conn.engine.is_closed() {
        return;
    }
    if conn.engine.engine.refusals.record(Reason::EventRate) {
        let c = &conn.server.config;
        tracing::warn!(
            sid = %conn.engine.sid,
            client = conn.engine.info.address.map(tracing::field::display),
            refusal = Reason::EventRate.as_str(),
            "client sends packets faster than event_rate ({} per second, bursts of {}): closing with `event rate exceeded`",
            c.event_rate,
            c.event_burst
        );
    }
    conn.engine.close(CloseReason::RateLimited);
}

fn on_received(conn: &SioConn, received: Result<Option<Received<'_>>, ProtocolError>) {
    match received {
        Ok(Some(r)) => dispatch(conn, r),
        Ok(None) => {}
        Err(e) => {
            if matches!(e, ProtocolError::Decode(DecodeError::TooManyAttachments))
                && conn.engine.engine.refusals.record(Reason::Attachments)
            {
                tracing::warn!(
                    sid = %conn.engine.sid,
                    client = conn.engine.info.address.map(tracing::field::display),
                    refusal = Reason::Attachments.as_str(),
                    "a packet announced more than max_attachments ({}) binary attachments: closing the connection (parse error)",
                    conn.server.config.max_attachments
                );
            }
            protocol_error(conn, &e.to_string())
        }
    }
}

fn dispatch(conn: &SioConn, received: Received<'_>) {
    match received {
        Received::Connect { nsp, auth } => connect(conn, &nsp, auth),
        Received::Disconnect { nsp } => {
            if let Some(s) = conn.socket_for(&nsp) {
                s.finish(DisconnectReason::ClientNamespaceDisconnect);
            }
        }
        Received::Event {
            nsp,
            name,
            args,
            id,
            binary,
        } => on_event(conn, &nsp, &name, args, id, binary),
        Received::Ack {
            nsp,
            id,
            args,
            binary,
        } => {
            if let Some(s) = conn.socket_for(&nsp) {
                s.on_ack(id, args, binary);
            }
        }
        // A server's connection never reads these (the protocol state refuses them).
        Received::Connected { .. } | Received::ConnectError { .. } => {
            protocol_error(conn, "a server-side packet from a client")
        }
    }
}

/// An event for the socket of namespace `nsp`, from whichever decoder read it.
fn on_event(
    conn: &SioConn,
    nsp: &str,
    name: &str,
    args: Vec<Value>,
    id: Option<u64>,
    bins: Vec<Bytes>,
) {
    match conn.socket_for(nsp) {
        Some(s) => s.on_event(name, args, id, bins),
        None => {
            tracing::debug!(sid = %conn.engine.sid, nsp = %nsp, "event for a namespace not joined: dropped")
        }
    }
}

fn connect(conn: &SioConn, nsp: &str, auth: Option<Value>) {
    let Some(me) = conn.me.upgrade() else {
        return; // the connection is being dropped
    };
    let Some(target) = conn.server.namespace_for_connect(nsp) else {
        tracing::debug!(sid = %conn.engine.sid, %nsp, "connect to an unknown namespace");
        let p = conn.connect_error(nsp, "Invalid namespace", None);
        let _ = conn
            .engine
            .send(&emit::control(conn.server.config.parser, &p));
        return;
    };
    if let Some(guard) = target.origin_guard() {
        let origin = conn.engine.info.header_str("origin");
        if let Err(reason) = guard.check_namespace(nsp, origin) {
            tracing::warn!(sid = %conn.engine.sid, %nsp, "{}", reason.message());
            let p = conn.connect_error(nsp, &reason.public_message(), None);
            let _ = conn
                .engine
                .send(&emit::control(conn.server.config.parser, &p));
            return;
        }
    }
    let name = {
        let mut st = conn.state();
        if st.sockets.iter().any(|(n, _)| **n == *nsp) || st.joining.iter().any(|n| **n == *nsp) {
            drop(st);
            tracing::debug!(sid = %conn.engine.sid, %nsp, "second CONNECT for a joined or joining namespace: ignored");
            return;
        }
        if st.joining.len() >= MAX_JOINING {
            drop(st);
            tracing::debug!(sid = %conn.engine.sid, %nsp, "too many CONNECTs being decided at once: refused");
            let p = conn.connect_error(nsp, "too many namespaces joining at once", None);
            let _ = conn
                .engine
                .send(&emit::control(conn.server.config.parser, &p));
            return;
        }
        // One name for the list and the guard below.
        let name: Arc<str> = Arc::from(nsp);
        st.joining.push(name.clone());
        name
    };
    // Takes `nsp` off the joining list however the CONNECT ends.
    let joining = Joining {
        conn: me.clone(),
        nsp: name,
    };
    // A dynamic child exists from here; `claim` (held until the CONNECT is decided) removes
    // it again if no socket gets in.
    let (ns, claim) = conn.server.join_target(target, nsp);
    let mut auth = auth.unwrap_or_else(|| json!({}));
    // Connection state recovery: the client sends back its private id and last offset.
    let restored = match (ns.recovery(), auth.as_object_mut()) {
        (Some(store), Some(obj)) => {
            let pid = obj.remove("pid");
            let offset = obj.remove("offset");
            match pid.as_ref().and_then(Value::as_str) {
                Some(pid) => store
                    .restore(
                        pid,
                        offset.as_ref().and_then(Value::as_str),
                        crate::engine::conn::now(),
                    )
                    .map(|(saved, missed)| (pid.to_owned(), saved, missed)),
                None => None,
            }
        }
        _ => None,
    };
    let handshake = Handshake::new(conn.engine.info.clone(), auth);
    let (socket, missed, skip_middlewares) = match restored {
        Some((pid, saved, missed)) => {
            let socket = Socket::recovered_from(
                ns.clone(),
                me.clone(),
                handshake,
                (saved.sid, pid, saved.data.clone()),
            );
            let rooms: Vec<&str> = saved.rooms.iter().map(String::as_str).collect();
            ns.adapter().join(socket.id(), &rooms);
            let skip = ns.recovery().is_some_and(|r| r.config().skip_middlewares);
            (socket, missed, skip)
        }
        None => (
            Socket::new(ns.clone(), me.clone(), handshake),
            Vec::new(),
            false,
        ),
    };
    let conn = me;
    run_inline(move || {
        Box::pin(async move {
            // Dropped on every refusal below (and with the future, if it never finishes).
            let claim = claim;
            let joining = joining;
            let middlewares = if skip_middlewares {
                Vec::new()
            } else {
                ns.middlewares()
            };
            for mw in middlewares {
                // A middleware that panics refuses the socket as one whose argument is missing
                // does ("server error"): the client hears an answer, the connection goes on.
                let decided = AssertUnwindSafe(async { mw.call(socket.clone()).await })
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|panic| {
                        tracing::error!(sid = %conn.engine.sid, nsp = ns.name(), panic = crate::engine::conn::panic_message(&*panic), "connect middleware panicked: the socket is refused");
                        Err(crate::ConnectError::new("server error"))
                    });
                if let Err(e) = decided {
                    tracing::debug!(sid = %conn.engine.sid, nsp = ns.name(), reason = e.message(), "connect refused by middleware");
                    let p = conn.connect_error(ns.name(), e.message(), e.data().cloned());
                    let _ = conn
                        .engine
                        .send(&emit::control(conn.server.config.parser, &p));
                    return;
                }
            }
            if conn.engine.is_closed() {
                return;
            }
            {
                let mut st = conn.state();
                st.sockets.push((ns.name_arc().clone(), socket.clone()));
                st.joined = true;
            }
            drop(joining);
            ns.add_socket(socket.clone());
            drop(claim);
            socket.mark_connected();
            let reply = {
                let st = conn.state();
                let id = socket.id();
                let (nsp, sid, pid) = (ns.name(), id.as_str(), socket.pid());
                emit::connect_reply(conn.server.config.parser, &st.protocol, nsp, sid, pid)
            };
            if conn.engine.send(&reply).is_err() {
                socket.finish(DisconnectReason::TransportClose);
                return;
            }
            tracing::debug!(sid = %conn.engine.sid, socket = %socket.id(), nsp = ns.name(), "socket connected");
            if let Some(hub) = &conn.server.config.admin {
                hub.socket_connected(&socket);
            }
            // A panic in the handler's synchronous part (an extractor, the closure before its
            // future) stays here: the gate below must still open, or the socket's events would
            // be held forever. Its future catches its own panics (`handler::contained`).
            let mut handler = ns.connection_handler().and_then(|h| {
                std::panic::catch_unwind(AssertUnwindSafe(|| h.call(socket.clone())))
                    .map_err(|panic| {
                        tracing::error!(sid = %conn.engine.sid, socket = %socket.id(), nsp = ns.name(), panic = crate::engine::conn::panic_message(&*panic), "connection handler panicked");
                    })
                    .ok()
            });
            let pending = match handler.as_mut() {
                Some(fut) => poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx)))
                    .await
                    .is_pending(),
                None => false,
            };
            socket.open_gate();
            // A recovered socket gets the events it missed, in order, once its handlers exist.
            for frames in &missed {
                let _ = socket.send(frames);
            }
            if let (true, Some(fut)) = (pending, handler) {
                fut.await;
            }
        })
    });
}

/// Most CONNECTs one connection may have being decided at once (each holds a socket, its
/// middlewares' future and, for a dynamic namespace, a child namespace). Node has no such
/// bound; more is answered with a CONNECT_ERROR.
const MAX_JOINING: usize = 128;

/// A CONNECT being decided: its namespace leaves the connection's joining list when this is
/// dropped (accepted, refused, or the future dropped).
struct Joining {
    conn: Arc<SioConn>,
    nsp: Arc<str>,
}

impl Drop for Joining {
    fn drop(&mut self) {
        let mut st = self.conn.state();
        st.joining.retain(|n| *n != self.nsp);
        if st.joining.is_empty() {
            // Joining is over for now: the list's buffer is not kept for the connection's life.
            st.joining = Vec::new();
        }
    }
}

/// Disconnect every socket of the connection for `reason` (the connection stays).
pub(crate) fn finish_all(conn: &SioConn, reason: DisconnectReason) {
    // Taken out of the lock first (each socket's finish runs handlers). Inline: nearly every
    // connection has one.
    let sockets: SmallVec<[Socket; 1]> = conn.state().sockets.drain(..).map(|(_, s)| s).collect();
    for s in sockets {
        s.finish(reason);
    }
}

impl SioConn {
    /// Work ended (an acknowledgement sent, answered, dropped or timed out; a handler that
    /// waited finished): during a graceful shutdown, a connection with none left pending
    /// closes now (the client sees `transport close` and reconnects elsewhere). One atomic
    /// load otherwise.
    pub(crate) fn ack_settled(&self) {
        if self.server.engine.is_shutting_down() && !ConnHandler::is_busy(self) {
            self.engine.close(CloseReason::ServerShutdown);
        }
    }
}

/// The Engine.IO connection closed: every socket on it disconnects.
fn on_close(conn: &SioConn, reason: CloseReason) {
    finish_all(conn, DisconnectReason::from(reason));
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
