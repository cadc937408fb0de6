//! The one task per Engine.IO session: timers, the WebSocket (reading and writing), the
//! upgrade probe, and the clean-up when the session ends.

use std::future::pending;
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;

use portico_proto::engine::session::{CloseReason, ProbeOutcome, Protocol};
use portico_proto::engine::{Frame, Packet};
use portico_proto::ws::{self, Message};
use tokio::io::{AsyncWrite, AsyncWriteExt, ReadBuf};

use super::conn::{now, Conn, WsStream};
use super::ws::frame as ws_frame;
use super::ws::stream::{ReadError, Writer};
use super::ConnHandler;
use crate::refusal::Reason;

/// Run the session until it ends, then tell `handler`. `ws` is the transport of a
/// WebSocket-only session.
pub(crate) async fn run(conn: Arc<Conn>, handler: Arc<dyn ConnHandler>, mut ws: Option<WsStream>) {
    // The clean-up runs however the driver stops: at the end of this function, or while a
    // panic unwinds through it (or the runtime drops the task).
    let ending = Ending {
        conn: conn.clone(),
        handler,
    };
    let handler = &*ending.handler;
    // A WebSocket upgrading the session; the session's upgrade_timeout (from its arrival)
    // is one of the session's deadlines.
    let mut probe: Option<Box<WsStream>> = None;
    // The layer above's deadline (Socket.IO's connect timeout), asked each turn until it is
    // gone for good.
    let mut handler_deadline = handler.deadline();
    let mut out: Vec<Frame> = Vec::new();
    // The session's next deadline (heartbeat, close): one timer, re-armed only when the
    // deadline moves, not on every message.
    let heartbeat = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(heartbeat);
    let mut armed: Option<std::time::Instant> = None;
    loop {
        // One look at the session per turn: what to write, whether it ended, its next deadline.
        let (mut finished, deadline) = {
            let mut s = conn.session();
            if ws.is_some() {
                s.drain_transmit(&mut out);
            }
            (s.is_finished(now()), s.poll_timeout())
        };
        // Write whatever the WebSocket transport has to send (a finished session's last
        // frames too).
        if let Some(w) = ws.as_mut() {
            if (!out.is_empty() || w.has_control())
                && write_all(w, &mut out, conn.protocol()).await.is_err()
            {
                let mut s = conn.session();
                s.handle_transport_closed(CloseReason::TransportError);
                finished = s.is_finished(now());
            }
        }
        if finished {
            break;
        }
        if deadline != armed {
            if let Some(d) = deadline {
                heartbeat.as_mut().reset(tokio::time::Instant::from_std(d));
            }
            armed = deadline;
        }
        // A WebSocket asking to upgrade the session becomes the probe (one at a time).
        if probe.is_none() {
            if let Some(mut w) = conn.take_upgrade() {
                if conn.session().handle_probe_start(now()) {
                    probe = Some(w);
                } else {
                    close_ws(&mut w, ws::CLOSE_NORMAL).await;
                }
                continue;
            }
        }
        if handler_deadline.is_some() {
            handler_deadline = handler.deadline();
        }
        tokio::select! {
            biased;
            () = conn.driver_wake.notified() => {}
            msg = next(&mut ws) => {
                // The loop writes what handling it queues: no wake-up needed for that.
                conn.driving.store(true, std::sync::atomic::Ordering::Relaxed);
                on_ws_message(&conn, handler, msg);
                // Messages that came in the same read are handled before anything is written,
                // so that their answers leave together (a server behind its clients then makes
                // one write for a read's worth of acks, not one each).
                // The session is looked at only when there is such a message: a lone one (the
                // common case) costs nothing more here.
                if let Some(w) = ws.as_mut() {
                    for _ in 0..READ_BATCH {
                        let Some(m) = w.next_buffered_data() else {
                            break;
                        };
                        if conn.session().is_finished(now()) {
                            // Nothing more is read from a finished session.
                            break;
                        }
                        on_ws_message(&conn, handler, Some(Ok(m)));
                    }
                }
                conn.driving.store(false, std::sync::atomic::Ordering::Relaxed);
            }
            msg = next(&mut probe), if probe.is_some() => {
                if on_probe_message(&conn, &mut probe, msg).await {
                    ws = probe.take().map(|p| *p);
                    conn.get_wake.notify_one();
                }
            }
            () = &mut heartbeat, if armed.is_some() => {
                // Fired: re-arm on the next turn even if the deadline did not move.
                armed = None;
                let probe_ended = {
                    let mut s = conn.session();
                    s.handle_timeout(now());
                    probe.is_some() && !s.probe_active()
                };
                conn.get_wake.notify_one();
                if probe_ended {
                    if conn.engine.refusals.record(Reason::UpgradeTimeout) {
                        tracing::warn!(sid = %conn.sid, refusal = Reason::UpgradeTimeout.as_str(), "WebSocket upgrade did not complete within upgrade_timeout: closing the WebSocket, the session goes on polling");
                    }
                    if let Some(mut p) = probe.take() {
                        close_ws(&mut p, ws::CLOSE_NORMAL).await;
                    }
                }
            }
            () = sleep_until(handler_deadline), if handler_deadline.is_some() => {
                handler.on_deadline();
            }
        }
    }
    let reason = conn
        .session()
        .close_reason()
        .unwrap_or(CloseReason::TransportClose);
    conn.get_wake.notify_one();
    conn.engine.remove_session(&conn.sid);
    {
        // Under the session's lock: a `GET` that still reaches the session either got its
        // noop already, or is told the sid is unknown and finds it remembered here.
        let mut s = conn.session();
        if s.take_late_noop() {
            conn.engine.remember_client_close(conn.sid, s.protocol());
        }
    }
    let (code, why) = close_frame(reason);
    if let Some(mut w) = ws {
        w.close(code, why).await;
    }
    if let Some(mut p) = probe {
        p.close(code, why).await;
    }
    if let Some(mut w) = conn.end_upgrades() {
        w.close(code, why).await;
    }
    drop(ending);
}

/// The end of a session: out of the engine's table, the handler told (`on_close`, which breaks
/// the layer above's references to the session) and released. In `Drop`, so that it runs even
/// when the driver unwinds from a panic; a panic inside it is caught (a second panic while
/// unwinding would abort the process).
struct Ending {
    conn: Arc<Conn>,
    handler: Arc<dyn ConnHandler>,
}

impl Drop for Ending {
    fn drop(&mut self) {
        let conn = &self.conn;
        let reason = {
            let mut s = conn.session();
            // Only when the driver stops early (a panic): the session cannot go on without it.
            s.close(CloseReason::TransportError);
            s.close_reason().unwrap_or(CloseReason::TransportError)
        };
        conn.engine.remove_session(&conn.sid);
        conn.get_wake.notify_one();
        // A WebSocket still waiting to upgrade is dropped (its connection closes).
        drop(conn.end_upgrades());
        tracing::debug!(sid = %conn.sid, %reason, "engine session closed");
        let handler = &self.handler;
        if let Err(panic) =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler.on_close(reason)))
        {
            tracing::error!(sid = %conn.sid, panic = super::conn::panic_message(&*panic), "session close handler panicked");
        }
    }
}

async fn next<W: std::borrow::BorrowMut<WsStream>>(
    ws: &mut Option<W>,
) -> Option<Result<Message, ReadError>> {
    match ws.as_mut() {
        Some(w) => w.borrow_mut().next().await,
        None => pending().await,
    }
}

async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => pending().await,
    }
}

fn frame_len(f: &Frame) -> usize {
    match f {
        Frame::Text(b) | Frame::Binary(b) => b.len(),
    }
}

/// Most messages already read that one turn handles before writing (and looking at its timers
/// and wake-ups again).
const READ_BATCH: usize = 64;

/// Capacity (frames) the driver's list of frames to write keeps between turns.
const OUT_KEEP: usize = 16;

/// Bytes gathered before a write: a burst of small frames leaves in few syscalls, and a
/// connection never holds more than this (plus one frame header) in its own buffer.
const WRITE_CHUNK: usize = 16 * 1024;

/// Write `out` as WebSocket frames straight to the socket (see [`ws_frame`]): small frames are
/// gathered into one buffer, a large payload is written from its shared bytes without a copy.
async fn write_all(
    w: &mut WsStream,
    out: &mut Vec<Frame>,
    protocol: Protocol,
) -> std::io::Result<()> {
    // Control frames (the pong to a WebSocket ping) leave first.
    w.write_control().await?;
    if out.len() == 1 {
        // One frame (an ack, an echo): header and payload in one vectored write, no copy.
        if let Some(f) = out.pop() {
            let e = ws_frame::encode(f, protocol);
            write_two(&mut w.io(), e.head(), &e.payload).await?;
        }
        return Ok(());
    }
    let total: usize = out.iter().map(|f| frame_len(f) + 10).sum();
    let mut buf = Vec::with_capacity(total.min(WRITE_CHUNK));
    let io = &mut w.io();
    for f in out.drain(..) {
        let e = ws_frame::encode(f, protocol);
        if buf.len() + e.len() <= WRITE_CHUNK {
            buf.extend_from_slice(e.head());
            buf.extend_from_slice(&e.payload);
            continue;
        }
        if !buf.is_empty() {
            io.write_all(&buf).await?;
            buf.clear();
        }
        if e.len() <= WRITE_CHUNK {
            buf.extend_from_slice(e.head());
            buf.extend_from_slice(&e.payload);
        } else {
            write_two(io, e.head(), &e.payload).await?;
        }
    }
    if !buf.is_empty() {
        io.write_all(&buf).await?;
    }
    io.flush().await?;
    // A burst grew the list of frames to write: give the capacity back once written.
    if out.capacity() > OUT_KEEP {
        *out = Vec::new();
    }
    Ok(())
}

/// Frames up to this size (header included) are copied into one buffer and sent with a plain
/// `send`: on Linux a vectored write costs the kernel more (its iovec import and the
/// `readv_writev` path, ~5 % of the server's CPU in an echo, perf) than copying a few hundred
/// bytes.
const SMALL_WRITE: usize = 1024;

/// Write `head` then `payload` in as few syscalls as the socket takes: one copy into a stack
/// buffer for a small frame, vectored (no copy) for a larger one.
async fn write_two(
    io: &mut Writer<'_>,
    mut head: &[u8],
    mut payload: &[u8],
) -> std::io::Result<()> {
    let total = head.len() + payload.len();
    if total <= SMALL_WRITE {
        // The buffer lives only inside one poll, not across an await: the driver's future (and
        // so every idle connection) does not grow by it.
        let n = std::future::poll_fn(|cx| {
            // Uninitialised: only the bytes copied in are ever read (no 1 KiB memset per write).
            let mut stack = [MaybeUninit::<u8>::uninit(); SMALL_WRITE];
            let mut buf = ReadBuf::uninit(&mut stack);
            buf.put_slice(head);
            buf.put_slice(payload);
            Pin::new(&mut *io).poll_write(cx, buf.filled())
        })
        .await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        if n == total {
            return Ok(());
        }
        // A short write (a full socket buffer): the rest goes the general way.
        match head.get(n..) {
            Some(rest) => head = rest,
            None => {
                payload = payload.get(n - head.len()..).unwrap_or_default();
                head = &[];
            }
        }
    }
    while !head.is_empty() {
        let n = io
            .write_vectored(&[IoSlice::new(head), IoSlice::new(payload)])
            .await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        match head.get(n..) {
            Some(rest) => head = rest,
            None => {
                payload = payload.get(n - head.len()..).unwrap_or_default();
                head = &[];
            }
        }
    }
    if !payload.is_empty() {
        io.write_all(payload).await?;
    }
    Ok(())
}

async fn close_ws(w: &mut WsStream, code: u16) {
    w.close(code, "").await;
}

/// The WebSocket close frame of a session that ended for `reason`: a server shutting down
/// says so with 1001 (going away); a limit closes with 1008 (policy violation) and its reason,
/// which the client sees (socket.io-client: the `disconnect` event's details); anything else
/// is a plain 1000.
fn close_frame(reason: CloseReason) -> (u16, &'static str) {
    match reason {
        CloseReason::ServerShutdown => (ws::CLOSE_GOING_AWAY, ""),
        CloseReason::BufferFull | CloseReason::RateLimited => (CLOSE_POLICY, reason.as_str()),
        _ => (ws::CLOSE_NORMAL, ""),
    }
}

/// RFC 6455 close code 1008: the endpoint received a message that violates its policy.
const CLOSE_POLICY: u16 = 1008;

fn decode(msg: Message, protocol: Protocol) -> Result<Option<Packet>, ()> {
    match msg {
        Message::Text(t) => Packet::decode_websocket_text(t).map(Some).map_err(|_| ()),
        Message::Binary(b) => protocol
            .decode_websocket_binary(b)
            .map(Some)
            .map_err(|_| ()),
        Message::Ping(_) | Message::Pong(_) => Ok(None),
        Message::Close(_) => Err(()),
    }
}

fn on_ws_message(
    conn: &Arc<Conn>,
    handler: &dyn ConnHandler,
    msg: Option<Result<Message, ReadError>>,
) {
    let packet = match msg {
        Some(Ok(Message::Close(_))) | None => {
            conn.session()
                .handle_transport_closed(CloseReason::TransportClose);
            return;
        }
        Some(Err(e)) => {
            tracing::debug!(sid = %conn.sid, error = %e, "websocket error");
            conn.session()
                .handle_transport_closed(CloseReason::TransportError);
            return;
        }
        Some(Ok(m)) => match decode(m, conn.protocol()) {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(()) => {
                conn.session().handle_decode_error();
                return;
            }
        },
    };
    let incoming = conn.session().handle_packet(now(), packet);
    if let Some(msg) = incoming {
        super::conn::deliver_to(&conn.sid, handler, msg);
    }
}

/// Returns `true` when the probe completed the upgrade.
async fn on_probe_message(
    conn: &Arc<Conn>,
    probe: &mut Option<Box<WsStream>>,
    msg: Option<Result<Message, ReadError>>,
) -> bool {
    let packet = match msg {
        Some(Ok(Message::Ping(_))) => {
            // The probe is read here, not by the main loop that writes pongs: answer now.
            let written = match probe.as_mut() {
                Some(w) => w.write_control().await.is_ok(),
                None => true,
            };
            if written {
                return false;
            }
            None
        }
        Some(Ok(m)) => match decode(m, conn.protocol()) {
            Ok(Some(p)) => Some(p),
            Ok(None) => return false,
            Err(()) => None,
        },
        _ => None,
    };
    let outcome = match packet {
        Some(p) => conn.session().handle_probe_packet(now(), p),
        None => ProbeOutcome::Abort,
    };
    match outcome {
        ProbeOutcome::Reply(frame) => {
            // The pending GET (if any) is released with a noop.
            conn.get_wake.notify_one();
            let ok = match probe.as_mut() {
                Some(w) => write_all(w, &mut vec![frame], conn.protocol())
                    .await
                    .is_ok(),
                None => false,
            };
            if !ok {
                conn.session().handle_probe_closed();
                *probe = None;
            }
            false
        }
        ProbeOutcome::Upgraded => {
            tracing::debug!(sid = %conn.sid, "upgraded to websocket");
            conn.upgraded();
            true
        }
        ProbeOutcome::Ignore => false,
        ProbeOutcome::Abort => {
            conn.session().handle_probe_closed();
            if let Some(mut w) = probe.take() {
                close_ws(&mut w, ws::CLOSE_NORMAL).await;
            }
            false
        }
    }
}
