//! HTTP long-polling: the handshake, `GET` (server to client) and `POST` (client to server).

use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::Response;
use http_body_util::{BodyExt, Limited};
use portico_cors::RequestHeaders;
use portico_proto::engine::payload_v3::{
    decode_payload_v3, encode_payload_v3, is_binary_payload_v3,
};
use portico_proto::engine::session::{CloseReason, Protocol, Session, Transport};
use portico_proto::engine::{
    decode_payload_v4, encode_payload_v4, ErrorCode, Frame, Handshake, Packet,
};

use super::admission::Slot;
use super::conn::{now, Conn};
use super::{driver, Engine};
use crate::handshake::ConnInfo;
use crate::http::{error, payload, payload_too_large, Answer, Body};

/// Packets one POST may carry (a client batches what it buffered; far more is an attack).
const MAX_PACKETS_PER_POST: usize = 16 * 1024;

/// The open packet of a new session on `transport`.
pub(crate) fn open_frame(
    engine: &Engine,
    conn: &Conn,
    transport: Transport,
    protocol: Protocol,
) -> Frame {
    let c = &engine.config;
    let upgrades: &[&str] = if transport == Transport::Polling && c.websocket && c.allow_upgrades {
        &["websocket"]
    } else {
        &[]
    };
    let handshake = Handshake {
        sid: conn.sid.as_str(),
        upgrades,
        ping_interval_ms: c.ping_interval.as_millis() as u64,
        ping_timeout_ms: c.ping_timeout.as_millis() as u64,
        max_payload: c.max_payload,
    };
    handshake.to_open_frame(matches!(protocol, Protocol::V3 { .. }))
}

pub(crate) fn handshake(
    engine: &Arc<Engine>,
    info: Arc<ConnInfo>,
    protocol: Protocol,
    slot: Slot,
) -> Response<Body> {
    let conn = Conn::new(engine.clone(), Transport::Polling, protocol, info);
    let open = open_frame(engine, &conn, Transport::Polling, protocol);
    conn.session().note_sent(&open);
    let body = match protocol {
        Protocol::V4 => encode_payload_v4([&open]),
        Protocol::V3 { b64 } => encode_payload_v3([&open], b64),
    };
    let handler = conn.open();
    engine.insert_session(conn.clone());
    conn.log_opened();
    let sid = conn.sid;
    tokio::spawn(driver::run(conn, handler, None, slot));
    let mut res = payload(body);
    res.extensions_mut()
        .insert(crate::http::HandshakeResponse(sid));
    res
}

/// The answer to the late `GET` of a session the client closed itself (see
/// [`Engine::remember_client_close`]): a noop, as if it had been pending at the close.
pub(crate) fn late_noop(protocol: Protocol) -> Answer {
    let noop = Packet::Noop.to_frame();
    Answer::Payload(match protocol {
        Protocol::V4 => encode_payload_v4([&noop]),
        Protocol::V3 { b64 } => encode_payload_v3([&noop], b64),
    })
}

/// Ends the session if the pending GET is dropped before it was answered (client abort).
struct PendingGet {
    conn: Arc<Conn>,
    armed: bool,
}

impl Drop for PendingGet {
    fn drop(&mut self) {
        if self.armed {
            self.conn.session().poll_get_abort();
            self.conn.wake_all();
        }
    }
}

pub(crate) async fn get(conn: Arc<Conn>) -> Answer {
    if let Some(refused) = begin_get(&conn) {
        return refused;
    }
    let mut guard = PendingGet { conn, armed: true };
    loop {
        let notified = guard.conn.get_wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(res) = take_get(&guard.conn) {
            guard.armed = false;
            return res;
        }
        notified.await;
    }
}

/// The start of a `GET`: the session's request time, and its mark that a `GET` is pending;
/// `Some` answer when the `GET` is refused.
// Out of line, as `take_get`: bench/profile reads the GET's cost by their names, which a
// build that inlines `get`'s future into its caller would not keep.
#[inline(never)]
fn begin_get(conn: &Conn) -> Option<Answer> {
    let begun = {
        let mut s = conn.session();
        s.handle_request_time(now());
        s.poll_get_begin()
    };
    let code = begun.err()?;
    conn.wake_all();
    if code == ErrorCode::UnknownSid {
        if let Some(protocol) = conn.engine.take_client_close(&conn.sid) {
            return Some(late_noop(protocol));
        }
    }
    Some(error(code).into())
}

/// The answer of a pending `GET`, when the session has one: its packets (or the noop or
/// close that ends it), encoded as one payload.
#[inline(never)]
fn take_get(conn: &Conn) -> Option<Answer> {
    let (body, driver_concerned, protocol) = {
        let mut s = conn.session();
        let body = s.poll_get_take()?;
        (body, driver_concerned(&s), s.protocol())
    };
    if driver_concerned {
        // The driver may now be able to forget a closed session, or go on with an upgrade.
        conn.driver_wake.notify_one();
    }
    if matches!(protocol, Protocol::V3 { .. }) && is_binary_payload_v3(&body) {
        return Some(Answer::BinaryPayload(body));
    }
    Some(Answer::Payload(body))
}

/// Marks the end of a POST's read when dropped; closes the session if the read never ended.
struct PostBusy<'a> {
    conn: &'a Conn,
    read: bool,
}

impl Drop for PostBusy<'_> {
    fn drop(&mut self) {
        self.conn.end_post();
        if !self.read {
            self.conn
                .session()
                .handle_transport_closed(CloseReason::TransportError);
            self.conn.wake_all();
        }
    }
}

/// A polling `POST`: `headers` are the request's, borrowed; `body` its body.
pub(crate) async fn post<B, H>(conn: Arc<Conn>, headers: &H, body: B) -> Answer
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    H: RequestHeaders + Sync + ?Sized,
{
    let max = conn.engine.config.max_payload;
    let binary_body = headers
        .get(&CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/octet-stream"));
    let v3 = matches!(conn.protocol(), Protocol::V3 { .. });
    if binary_body && !v3 {
        // Engine.IO v4 polling is text only: this is not a v4 client.
        conn.close(CloseReason::TransportError);
        return error(ErrorCode::BadRequest).into();
    }
    let declared = headers
        .get(&http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return payload_too_large(max).into();
    }
    let expired = {
        // A POST after the heartbeat's deadline finds the session closed, even if its timer
        // has not fired yet (see Session::handle_request_time).
        let mut s = conn.session();
        !s.is_closed() && s.handle_request_time(now())
    };
    if expired {
        conn.wake_all();
        return error(ErrorCode::UnknownSid).into();
    }
    if !conn.begin_post() {
        conn.close(CloseReason::TransportError);
        return error(ErrorCode::BadRequest).into();
    }
    let limit = usize::try_from(max).unwrap_or(usize::MAX);
    let collected = {
        // Ends the POST however the read ends. A request dropped mid-body (the client gave up
        // the upload) closes the session with `transport error`, as Node does ("data request
        // connection closed prematurely"), rather than leave it refusing every later POST.
        let mut busy = PostBusy {
            conn: &conn,
            read: false,
        };
        let collected = Limited::new(body, limit).collect().await;
        busy.read = true;
        collected
    };
    let body: Bytes = match collected {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return payload_too_large(max).into();
            }
            return error(ErrorCode::BadRequest).into();
        }
    };
    let decoded = if v3 {
        decode_payload_v3(&body, MAX_PACKETS_PER_POST)
    } else {
        decode_payload_v4(body, MAX_PACKETS_PER_POST)
    };
    let packets = match decoded {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(sid = %conn.sid, error = %e, "invalid polling payload: closing the session");
            conn.session().handle_decode_error();
            conn.wake_all();
            return error(ErrorCode::BadRequest).into();
        }
    };
    let deadline = conn.session().poll_timeout();
    for p in packets {
        let incoming = conn.session().handle_packet(now(), p);
        if let Some(msg) = incoming {
            conn.deliver(msg);
        }
    }
    // The driver is woken only when its next look would differ: the session closed, a
    // heartbeat packet moved the deadline it armed its timer for, or an upgrade is under way.
    // A message alone (the common POST) then costs no turn of the driver's task. The pending
    // GET is woken when anything waits for it (the handlers' sends woke it already; a v3 pong
    // is queued by the session itself).
    let (driver, output) = {
        let s = conn.session();
        (
            driver_concerned(&s) || s.poll_timeout() != deadline,
            s.has_output(),
        )
    };
    if driver {
        conn.wake_all();
    } else if output {
        conn.get_wake.notify_one();
    }
    Answer::PostOk
}

/// Whether the driver watches the session for what a polling request may change: its end,
/// or an upgrade under way (the probe, the `GET` an upgrade waits to release).
fn driver_concerned(s: &Session) -> bool {
    s.is_closed() || s.transport() != Transport::Polling || s.probe_active()
}
