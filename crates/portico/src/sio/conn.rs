//! Socket.IO packets of one Engine.IO connection: decode, reassemble binary, dispatch to the
//! namespace sockets.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use portico_proto::engine::session::{CloseReason, Incoming, Protocol};
use portico_proto::engine::{Frame, Packet as EnginePacket};
use portico_proto::sio::{BinaryAssembler, Limits, Packet, PacketType};
use serde_json::{json, Value};
use smallvec::SmallVec;

use crate::emit;
use crate::engine::Conn;
use crate::handler::run_inline;
use crate::handshake::Handshake;
use crate::reason::DisconnectReason;
use crate::sid::Sid;
use crate::Socket;

/// Socket.IO state of one connection.
#[derive(Default)]
pub(crate) struct ClientState {
    /// Connected namespaces, each with its namespace's shared name. Few per connection: a
    /// vector beats a map, and the first one is held inline (no pointer to chase per packet).
    sockets: SmallVec<[(Arc<str>, Socket); 1]>,
    /// A binary packet waiting for its attachments.
    assembler: Option<BinaryAssembler>,
    /// Whether any namespace was ever joined (ends the connect timeout).
    joined: bool,
}

impl Conn {
    fn sio_state(&self) -> std::sync::MutexGuard<'_, ClientState> {
        self.sio.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn socket_for(&self, nsp: &str) -> Option<Socket> {
        self.sio_state()
            .sockets
            .iter()
            .find(|(n, _)| &**n == nsp)
            .map(|(_, s)| s.clone())
    }

    pub(crate) fn sio_joined(&self) -> bool {
        self.sio_state().joined
    }
}

pub(crate) fn forget_socket(conn: &Conn, nsp: &str, id: Sid) {
    conn.sio_state()
        .sockets
        .retain(|(n, s)| !(&**n == nsp && s.id() == id));
}

fn protocol_error(conn: &Conn, what: &str) {
    tracing::debug!(sid = %conn.sid, what, "invalid Socket.IO packet: closing the connection");
    conn.session().handle_decode_error();
    conn.wake_all();
}

/// A message arrived on the Engine.IO connection.
pub(crate) fn on_message(conn: &Arc<Conn>, msg: Incoming) {
    if conn.server.config.engine_echo {
        let frame = match msg {
            Incoming::Text(t) => EnginePacket::Message(t).to_frame(),
            Incoming::Binary(b) => Frame::Binary(b),
        };
        let _ = conn.send(&[frame]);
        return;
    }
    if conn.server.config.parser == crate::Parser::MsgPack {
        let limits = Limits {
            max_attachments: conn.server.config.max_attachments,
        };
        return match msg {
            Incoming::Binary(bytes) => match portico_proto::sio::decode_msgpack(&bytes, &limits) {
                Ok((packet, bins)) => dispatch(conn, packet, bins),
                Err(e) => protocol_error(conn, &e.to_string()),
            },
            Incoming::Text(_) => protocol_error(conn, "text packet on a msgpack connection"),
        };
    }
    match msg {
        Incoming::Text(text) => {
            if conn.sio_state().assembler.is_some() {
                return protocol_error(conn, "text packet while binary attachments were expected");
            }
            let Ok(text) = std::str::from_utf8(&text) else {
                return protocol_error(conn, "text packet is not UTF-8");
            };
            let limits = Limits {
                max_attachments: conn.server.config.max_attachments,
            };
            // A plain event (the usual packet) skips building its `[name, args..]` array.
            if let Some(event) = portico_proto::sio::decode_event(text, &limits) {
                return match event {
                    Ok(ev) => on_event(conn, ev.nsp, &ev.name, ev.args, ev.id, Vec::new()),
                    Err(e) => protocol_error(conn, &e.to_string()),
                };
            }
            match Packet::decode(text, &limits) {
                Ok(p)
                    if matches!(p.kind, PacketType::BinaryEvent | PacketType::BinaryAck)
                        && p.attachments > 0 =>
                {
                    conn.sio_state().assembler = Some(BinaryAssembler::new(p));
                }
                Ok(p) => dispatch(conn, p, Vec::new()),
                Err(e) => protocol_error(conn, &e.to_string()),
            }
        }
        Incoming::Binary(bin) => {
            let done = {
                let mut st = conn.sio_state();
                let Some(asm) = st.assembler.as_mut() else {
                    drop(st);
                    return protocol_error(conn, "binary data without a binary packet");
                };
                match asm.push(bin) {
                    Ok(Some(done)) => {
                        st.assembler = None;
                        Ok(Some(done))
                    }
                    Ok(None) => Ok(None),
                    Err(e) => Err(e),
                }
            };
            match done {
                Ok(Some((packet, bins))) => dispatch(conn, packet, bins),
                Ok(None) => {}
                Err(e) => protocol_error(conn, &e.to_string()),
            }
        }
    }
}

fn dispatch(conn: &Arc<Conn>, packet: Packet, bins: Vec<Bytes>) {
    match packet.kind {
        PacketType::Connect => connect(conn, packet.nsp, packet.data),
        PacketType::Disconnect => {
            if let Some(s) = conn.socket_for(&packet.nsp) {
                s.finish(DisconnectReason::ClientNamespaceDisconnect);
            }
        }
        PacketType::Event | PacketType::BinaryEvent => {
            // Decoding checked the shape: an array whose first element is the name.
            let Some(Value::Array(mut items)) = packet.data else {
                return;
            };
            if items.is_empty() {
                return;
            }
            if let Value::String(name) = items.remove(0) {
                on_event(conn, &packet.nsp, &name, items, packet.id, bins);
            }
        }
        PacketType::Ack | PacketType::BinaryAck => {
            if let Some(s) = conn.socket_for(&packet.nsp) {
                s.on_ack(packet.id, packet.data, bins);
            }
        }
        PacketType::ConnectError => protocol_error(conn, "CONNECT_ERROR from a client"),
    }
}

/// An event for the socket of namespace `nsp`, from whichever decoder read it.
fn on_event(
    conn: &Conn,
    nsp: &str,
    name: &str,
    args: Vec<Value>,
    id: Option<u64>,
    bins: Vec<Bytes>,
) {
    match conn.socket_for(nsp) {
        Some(s) => s.on_event(name, args, id, bins),
        None => {
            tracing::debug!(sid = %conn.sid, nsp = %nsp, "event for a namespace not joined: dropped")
        }
    }
}

/// A new Engine.IO connection: a socket.io-client 2.x (Engine.IO v3) joins `/` implicitly.
pub(crate) fn on_open(conn: &Arc<Conn>) {
    if is_v3(conn) && !conn.server.config.engine_echo {
        connect(conn, "/".to_owned(), None);
    }
}

fn is_v3(conn: &Conn) -> bool {
    matches!(conn.protocol(), Protocol::V3 { .. })
}

/// CONNECT_ERROR in the client's protocol: v5 sends `{message, data}`; v4 (client 2.x) sends
/// the data, or else the message, as Node does.
fn connect_error(conn: &Conn, nsp: &str, message: &str, data: Option<Value>) -> Packet {
    if is_v3(conn) {
        let mut p = Packet::connect_error(nsp, message, None);
        p.data = Some(data.unwrap_or_else(|| Value::String(message.to_owned())));
        return p;
    }
    Packet::connect_error(nsp, message, data)
}

/// Socket.IO v4 (client 2.x) puts the namespace's query after the name (`/admin?token=x`);
/// it plays the part of `auth`.
fn split_v3_query(nsp: String) -> (String, Option<Value>) {
    let Some((name, query)) = nsp.split_once('?') else {
        return (nsp, None);
    };
    let pairs = crate::http::Query::parse(Some(query)).0;
    let auth: serde_json::Map<String, Value> = pairs
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    (name.to_owned(), Some(Value::Object(auth)))
}

fn connect(conn: &Arc<Conn>, nsp: String, auth: Option<Value>) {
    let (nsp, auth) = if is_v3(conn) {
        let (nsp, query) = split_v3_query(nsp);
        (nsp, query.or(auth))
    } else {
        (nsp, auth)
    };
    let Some(ns) = conn.server.namespace_for_connect(&nsp) else {
        tracing::debug!(sid = %conn.sid, %nsp, "connect to an unknown namespace");
        let p = connect_error(conn, &nsp, "Invalid namespace", None);
        let _ = conn.send(&emit::control(conn.server.config.parser, &p));
        return;
    };
    if let Some(guard) = ns.origin_guard() {
        let origin = conn
            .info
            .headers
            .get(http::header::ORIGIN)
            .and_then(|v| v.to_str().ok());
        if let Err(reason) = guard.check_namespace(ns.name(), origin) {
            tracing::warn!(sid = %conn.sid, nsp = ns.name(), "{}", reason.message());
            let p = connect_error(conn, &nsp, &reason.public_message(), None);
            let _ = conn.send(&emit::control(conn.server.config.parser, &p));
            return;
        }
    }
    if conn.socket_for(&nsp).is_some() {
        tracing::debug!(sid = %conn.sid, %nsp, "second CONNECT for a joined namespace: ignored");
        return;
    }
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
    let handshake = Handshake {
        info: conn.info.clone(),
        auth,
    };
    let (socket, missed, skip_middlewares) = match restored {
        Some((pid, saved, missed)) => {
            let socket = Socket::recovered_from(
                ns.clone(),
                conn.clone(),
                handshake,
                (saved.sid, pid, saved.data.clone()),
            );
            let rooms: Vec<&str> = saved.rooms.iter().map(String::as_str).collect();
            ns.adapter().join(socket.id(), &rooms);
            let skip = ns.recovery().is_some_and(|r| r.config().skip_middlewares);
            (socket, missed, skip)
        }
        None => (
            Socket::new(ns.clone(), conn.clone(), handshake),
            Vec::new(),
            false,
        ),
    };
    let conn = conn.clone();
    run_inline(Box::pin(async move {
        let middlewares = if skip_middlewares {
            Vec::new()
        } else {
            ns.middlewares()
        };
        for mw in middlewares {
            if let Err(e) = mw.call(socket.clone()).await {
                tracing::debug!(sid = %conn.sid, nsp = ns.name(), message = e.message(), "connect refused by middleware");
                let p = connect_error(&conn, ns.name(), e.message(), e.data().cloned());
                let _ = conn.send(&emit::control(conn.server.config.parser, &p));
                return;
            }
        }
        if conn.is_closed() {
            return;
        }
        {
            let mut st = conn.sio_state();
            st.sockets.push((ns.name_arc().clone(), socket.clone()));
            st.joined = true;
        }
        ns.add_socket(socket.clone());
        socket.mark_connected();
        let reply = match socket.pid() {
            _ if is_v3(&conn) => None,
            Some(pid) => Some(json!({ "sid": socket.id(), "pid": pid })),
            None => Some(json!({ "sid": socket.id() })),
        };
        let reply = Packet::connect(ns.name(), reply);
        if conn
            .send(&emit::control(conn.server.config.parser, &reply))
            .is_err()
        {
            socket.finish(DisconnectReason::TransportClose);
            return;
        }
        tracing::debug!(sid = %conn.sid, socket = %socket.id(), nsp = ns.name(), "socket connected");
        let mut handler = ns.connection_handler().map(|h| h.call(socket.clone()));
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
    }));
}

/// Disconnect every socket of the connection for `reason` (the connection stays).
pub(crate) fn finish_all(conn: &Conn, reason: DisconnectReason) {
    let sockets: Vec<Socket> = conn.sio_state().sockets.drain(..).map(|(_, s)| s).collect();
    for s in sockets {
        s.finish(reason);
    }
}

/// The Engine.IO connection closed: every socket on it disconnects.
pub(crate) fn on_close(conn: &Conn, reason: CloseReason) {
    let sockets: Vec<Socket> = {
        let mut st = conn.sio_state();
        st.assembler = None;
        st.sockets.drain(..).map(|(_, s)| s).collect()
    };
    let reason = DisconnectReason::from(reason);
    for s in sockets {
        s.finish(reason);
    }
}
