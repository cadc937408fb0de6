//! The Socket.IO layer over an engine connection with no HTTP and no driver: messages go in
//! through the engine's `ConnHandler` seam, and what the layer answers is read from the
//! session's queue.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::sync::Arc;

use bytes::Bytes;
use portico_proto::engine::session::{CloseReason, Incoming, Protocol, Transport};

use crate::engine::{self, ConnHandler};
use crate::handshake::ConnInfo;
use crate::{ConnectError, Server, Socket};

fn info() -> Arc<ConnInfo> {
    Arc::new(ConnInfo::new(
        "/socket.io/",
        &http::HeaderMap::new(),
        None,
        std::time::SystemTime::now(),
        false,
    ))
}

/// A connection of `io` opened as the engine opens one, and its Socket.IO handler.
fn open(io: &Server, protocol: Protocol) -> (Arc<engine::Conn>, Arc<dyn ConnHandler>) {
    let conn = engine::Conn::new(io.0.engine.clone(), Transport::Polling, protocol, info());
    let handler = conn.open();
    (conn, handler)
}

/// What the layer queued for the client, as polling payload text (v4 framing).
fn sent(conn: &engine::Conn) -> String {
    let mut s = conn.session();
    if s.poll_get_begin().is_err() {
        return String::new();
    }
    let body = s.poll_get_take().unwrap_or_default();
    String::from_utf8(body.to_vec()).unwrap()
}

fn text(t: &str) -> Incoming {
    Incoming::Text(Bytes::from(t.to_owned()))
}

#[tokio::test(start_paused = true)]
async fn connect_then_events_and_the_connect_timeout_disarms() {
    let io = Server::builder().build().unwrap();
    io.of("/").on_connection(|socket: Socket| async move {
        socket.on("ping", |s: Socket| async move { s.emit("pong", &1) });
    });
    let (conn, h) = open(&io, Protocol::V4);
    assert!(h.deadline().is_some(), "armed until a namespace is joined");
    h.on_message(text("0"));
    let reply = sent(&conn);
    assert!(reply.starts_with("40{\"sid\":\""), "{reply}");
    assert!(
        h.deadline().is_none(),
        "joined: the connect timeout is gone"
    );
    h.on_message(text("2[\"ping\"]"));
    assert_eq!(sent(&conn), "42[\"pong\",1]");
    // An unknown namespace and a refusing middleware answer with CONNECT_ERROR (v5 shape).
    io.of("/locked")
        .use_connect(|_s: Socket| async move { Err(ConnectError::new("no")) });
    h.on_message(text("0/nope,"));
    assert_eq!(sent(&conn), "44/nope,{\"message\":\"Invalid namespace\"}");
    h.on_message(text("0/locked,"));
    assert_eq!(sent(&conn), "44/locked,{\"message\":\"no\"}");
    h.on_close(CloseReason::TransportClose);
    assert!(
        io.of("/").sockets().is_empty(),
        "the socket left with the connection"
    );
}

#[tokio::test(start_paused = true)]
async fn a_v3_client_joins_slash_on_open_with_the_v4_shapes() {
    let io = Server::builder().allow_eio3(true).build().unwrap();
    io.of("/").on_connection(|_s: Socket| async move {});
    let (conn, h) = open(&io, Protocol::V3 { b64: false });
    // v3 polling framing is `<length>:<packet>`; the CONNECT reply carries no data.
    assert_eq!(sent(&conn), "2:40");
    assert!(h.deadline().is_none());
    h.on_message(text("0/nope?token=x,"));
    assert_eq!(sent(&conn), "27:44/nope,\"Invalid namespace\"");
}

#[tokio::test(start_paused = true)]
async fn protocol_errors_close_the_connection_and_a_missed_join_times_out() {
    let io = Server::builder().build().unwrap();
    let (conn, h) = open(&io, Protocol::V4);
    h.on_message(text("4{\"message\":\"from a client\"}"));
    assert!(
        conn.is_closed(),
        "CONNECT_ERROR from a client is a protocol error"
    );
    let (conn, h) = open(&io, Protocol::V4);
    h.on_deadline();
    assert!(conn.is_closed(), "no namespace joined by the deadline");
    assert!(h.deadline().is_none(), "the timeout is not armed again");
}

/// What each connected socket holds in the Socket.IO layer, at its size today (64-bit): the
/// connection's state and the socket, whose rarely used parts (listeners, data, auth) are
/// boxed on use. A field added to one of them is added to every connection: raise a bound
/// only knowing that.
#[test]
fn the_per_socket_structs_stay_small() {
    use std::mem::size_of;
    let sizes = [
        ("SioConn", size_of::<super::SioConn>(), 176),
        ("SocketInner", size_of::<crate::socket::SocketInner>(), 320),
    ];
    for (name, size, max) in sizes {
        assert!(size <= max, "{name} is {size} bytes (at most {max})");
    }
}
