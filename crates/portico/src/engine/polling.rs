//! HTTP long-polling: the handshake, `GET` (server to client) and `POST` (client to server).

use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::header::CONTENT_TYPE;
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
use crate::http::{error, payload_too_large, Answer};

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
) -> Answer {
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
    Answer::Payload(body).marked(engine.config.mark_handshakes.then_some(sid))
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
        // A wake-up after this look is kept for the wait below (`OneWaiter`).
        if let Some(res) = take_get(&guard.conn) {
            guard.armed = false;
            return res;
        }
        std::future::poll_fn(|cx| guard.conn.get_wake.poll_notified(cx)).await;
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

/// Why a POST's body was not read whole.
#[derive(Debug, PartialEq, Eq)]
enum BodyError {
    /// More than the limit (`maxHttpBufferSize`): 413.
    TooLarge,
    /// The body's stream failed (the connection broke mid-body): 400.
    Read,
}

/// A request's whole body, at most `limit` bytes (trailers are ignored). The first data frame
/// is kept as it came: a body read whole before its request was handled (`h1` hands every
/// POST so) costs no copy and no list of frames. Later frames are appended to one buffer.
async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, BodyError>
where
    B: http_body::Body,
{
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    let mut len = 0usize;
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let Ok(mut data) = frame.map_err(|_| BodyError::Read)?.into_data() else {
            continue;
        };
        let n = data.remaining();
        len = len
            .checked_add(n)
            .filter(|&len| len <= limit)
            .ok_or(BodyError::TooLarge)?;
        if let Some(all) = &mut joined {
            all.put(data);
        } else if let Some(before) = first.take() {
            let mut all = BytesMut::with_capacity(len);
            all.put(before);
            all.put(data);
            joined = Some(all);
        } else {
            first = Some(data.copy_to_bytes(n));
        }
    }
    Ok(match joined {
        Some(all) => all.freeze(),
        None => first.unwrap_or_default(),
    })
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
    // The media type is read off the value's bytes: a `to_str` first would check every byte
    // of it (parameters included) for nothing.
    let binary_body = headers
        .get_bytes(&CONTENT_TYPE)
        .is_some_and(|v| v.starts_with(b"application/octet-stream"));
    let v3 = matches!(conn.protocol(), Protocol::V3 { .. });
    if binary_body && !v3 {
        // Engine.IO v4 polling is text only: this is not a v4 client.
        conn.close(CloseReason::TransportError);
        return error(ErrorCode::BadRequest).into();
    }
    // The number `to_str` then `parse` would read: a byte `to_str` refuses is no digit either.
    let declared = headers
        .get_bytes(&http::header::CONTENT_LENGTH)
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return payload_too_large(max).into();
    }
    // `deadline`: the heartbeat deadline the driver armed its timer for, read under the same
    // lock (a change while the body is read, by the driver's own ping, costs one needless
    // wake-up of the driver below, nothing else).
    let (expired, deadline) = {
        // A POST after the heartbeat's deadline finds the session closed, even if its timer
        // has not fired yet (see Session::handle_request_time).
        let mut s = conn.session();
        let expired = !s.is_closed() && s.handle_request_time(now());
        (expired, s.poll_timeout())
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
        let collected = read_body(body, limit).await;
        busy.read = true;
        collected
    };
    let body = match collected {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return payload_too_large(max).into(),
        Err(BodyError::Read) => return error(ErrorCode::BadRequest).into(),
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use http_body::Frame;

    use super::{read_body, BodyError};

    /// A body that yields these frames, one a poll.
    struct Frames(VecDeque<Result<Frame<Bytes>, std::io::Error>>);

    impl Frames {
        fn data(parts: &[&'static str]) -> Frames {
            Frames(
                parts
                    .iter()
                    .map(|p| Ok(Frame::data(Bytes::from_static(p.as_bytes()))))
                    .collect(),
            )
        }
    }

    impl http_body::Body for Frames {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            Poll::Ready(self.0.pop_front())
        }
    }

    #[tokio::test]
    async fn a_body_in_one_frame_is_that_frame_not_a_copy() {
        let sent = Bytes::from(b"4hello\x1e4world".to_vec());
        let body = http_body_util::Full::new(sent.clone());
        let read = read_body(body, 1_000).await.unwrap();
        assert_eq!(read, sent);
        assert_eq!(read.as_ptr(), sent.as_ptr(), "the same bytes, not copied");
        assert_eq!(read_body(Frames::data(&[]), 10).await.unwrap(), "");
    }

    #[tokio::test]
    async fn frames_are_joined_in_order_and_trailers_are_skipped() {
        let mut body = Frames::data(&["4he", "llo", "\x1e4wo", "", "rld"]);
        body.0
            .insert(3, Ok(Frame::trailers(http::HeaderMap::new())));
        assert_eq!(read_body(body, 1_000).await.unwrap(), "4hello\x1e4world");
    }

    #[tokio::test]
    async fn the_limit_counts_every_frame_and_holds_at_its_exact_size() {
        // 13 bytes in all.
        let parts = ["4hello", "\x1e4", "world"];
        assert_eq!(read_body(Frames::data(&parts), 13).await.unwrap().len(), 13);
        assert_eq!(
            read_body(Frames::data(&parts), 12).await,
            Err(BodyError::TooLarge)
        );
        // Over it in the first frame alone, too.
        assert_eq!(
            read_body(Frames::data(&["4hello"]), 5).await,
            Err(BodyError::TooLarge)
        );
    }

    #[tokio::test]
    async fn a_stream_that_fails_mid_body_is_a_read_error() {
        let mut body = Frames::data(&["4hel"]);
        body.0
            .push_back(Err(std::io::ErrorKind::ConnectionReset.into()));
        assert_eq!(read_body(body, 1_000).await, Err(BodyError::Read));
    }
}
