//! The one task per Engine.IO session: timers, the WebSocket (reading and writing), the
//! upgrade probe, and the clean-up when the session ends.

use std::future::Future;
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use portico_proto::engine::session::{CloseReason, ProbeOutcome, Protocol};
use portico_proto::engine::{Frame, Packet};
use portico_proto::ws::{self, Message};
use tokio::io::{AsyncWrite, AsyncWriteExt, ReadBuf};

use super::admission::Slot;
use super::conn::{now, Conn, WsStream};
use super::ws::frame as ws_frame;
use super::ws::stream::{ReadError, Writer};
use super::ws::upgrade::Handed;
use super::ConnHandler;
use crate::refusal::Reason;

/// A WebSocket being accepted: the transport of a WebSocket-only session once its HTTP
/// upgrade completes (`None` if it failed).
pub(crate) type WsAccept = Pin<Box<dyn Future<Output = Option<WsStream>> + Send>>;

/// A WebSocket-only session whose driver is to run in its connection's own task, once that
/// connection's `101` is answered ([`crate::h1`] gives the stream over with it). Dropped
/// unrun (the connection ended first), it ends the session as a failed transport, as the
/// driver would.
pub(crate) struct Pending(Ending);

impl Pending {
    pub(crate) fn new(conn: Arc<Conn>, handler: Arc<dyn ConnHandler>, slot: Slot) -> Pending {
        Pending(Ending {
            conn,
            handler,
            _slot: slot,
        })
    }

    /// The session's driver, on the connection Portico's own HTTP/1 handed over.
    pub(crate) fn run(self, handed: Handed) -> impl Future<Output = ()> + Send {
        let ws = handed.into_ws(&self.0.conn.engine);
        drive(self.0, Some(ws), None)
    }
}

/// Run the session until it ends, then tell `handler` and give back its `slot` in the session
/// counts. `accept` is the transport of a WebSocket-only session hyper upgrades (none for
/// polling).
pub(crate) fn run(
    conn: Arc<Conn>,
    handler: Arc<dyn ConnHandler>,
    accept: Option<WsAccept>,
    slot: Slot,
) -> impl Future<Output = ()> + Send {
    // The clean-up runs however the driver stops: at the end of the future, or while a panic
    // unwinds through it (or the runtime drops the task).
    let ending = Ending {
        conn,
        handler,
        _slot: slot,
    };
    drive(ending, None, accept)
}

/// The driver itself, on the WebSocket `ws` (a session's, already open) or the one `accept`
/// gives (`None` for a polling session).
///
/// The future is what every connection holds while it is idle (it is its tokio task, whose
/// size is the future's, or the largest part of its connection's task), so what it keeps
/// across its wait is kept small on purpose:
/// - an `async` block, not an `async fn`: an `async fn` moves its arguments into locals and
///   keeps room for both; the WebSocket (the largest part) is the block's own captured `ws`,
///   used in place, never moved into a local of its own;
/// - the wait is one `poll_fn` over the wake-up, the sockets and the one timer, not a
///   `select!` of futures, and a local kept across several awaits is kept in every state of
///   the future: the loop keeps few;
/// - the cold awaits (accepting, the upgrade probe, the closes) and the writes that cannot
///   finish at once are boxed futures of their own.
///
/// `tests::the_driver_future_stays_small` holds it to that.
// An `async fn` would keep its arguments twice (see above).
#[allow(clippy::manual_async_fn)]
fn drive(
    ending: Ending,
    mut ws: Option<WsStream>,
    mut accept: Option<WsAccept>,
) -> impl Future<Output = ()> + Send {
    async move {
        if let Some(accept) = accept.take() {
            ws = accept.await;
        }
        let conn = &ending.conn;
        // A WebSocket upgrading the session; the session's upgrade_timeout (from its arrival)
        // is one of the session's deadlines.
        let mut probe: Option<Box<WsStream>> = None;
        // The layer above's deadline (Socket.IO's connect timeout), asked each turn until it
        // is gone for good.
        let mut handler_deadline = ending.handler.deadline();
        let mut out: Vec<Frame> = Vec::new();
        // The earlier of the session's next deadline (heartbeat, close) and the layer above's:
        // one timer, re-armed only when that moves, not on every message.
        let mut timer = std::pin::pin!(tokio::time::sleep_until(tokio::time::Instant::now()));
        let mut armed: Option<std::time::Instant> = None;
        loop {
            // One look at the session per turn (whether it ended, its next deadline) and, in
            // the same lock and the same poll, the write of what it queued for the WebSocket
            // when that goes in one `send` (no state kept across the await; see `look_and_write`);
            // then the timer is armed. Only what the rest of the turn needs leaves this block
            // (locals kept across several awaits take room in every state of the future).
            let (mut finished, protocol, session_due, handler_due, slow) = {
                let (look, written) = std::future::poll_fn(|cx| {
                    Poll::Ready(look_and_write(conn, ws.as_mut(), &mut out, cx))
                })
                .await;
                if handler_deadline.is_some() {
                    handler_deadline = ending.handler.deadline();
                }
                let earliest = match (look.deadline, handler_deadline) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                if earliest != armed {
                    if let Some(d) = earliest {
                        timer.as_mut().reset(tokio::time::Instant::from_std(d));
                        conn.driver_timer_rearmed();
                    }
                    armed = earliest;
                }
                let mut finished = look.finished;
                let slow = match written {
                    Ok(Now::Done) => None,
                    Ok(Now::Slow(rest)) => Some(rest),
                    Err(_) => {
                        finished = transport_failed(conn);
                        None
                    }
                };
                // What the timer stands for this turn.
                (
                    finished,
                    look.protocol,
                    armed.is_some() && armed == look.deadline,
                    armed.is_some() && armed == handler_deadline,
                    slow,
                )
            };
            // The rest of the write (a larger one, or what the socket did not take at once),
            // with a boxed future.
            if let Some(rest) = slow {
                if let Some(w) = ws.as_mut() {
                    if Box::pin(write_slow(w, &mut out, protocol, rest))
                        .await
                        .is_err()
                    {
                        finished = transport_failed(conn);
                    }
                }
            }
            if finished {
                break;
            }
            // A WebSocket asking to upgrade the session becomes the probe (one at a time).
            if probe.is_none() {
                if let Some(w) = conn.take_upgrade() {
                    if conn.session().handle_probe_start(now()) {
                        probe = Some(w);
                    } else {
                        Box::pin(close_ws(w, ws::CLOSE_NORMAL)).await;
                    }
                    continue;
                }
            }
            // Wait for the first of these, in this order: a wake-up, a message on the
            // WebSocket, one on the probe, the timer; and handle it. Only work for the probe
            // leaves the block.
            let probe_work = {
                let event = std::future::poll_fn(|cx| {
                    if conn.driver_wake.poll_notified(cx).is_ready() {
                        return Poll::Ready(Event::Woken);
                    }
                    if let Some(Poll::Ready(m)) = ws.as_mut().map(|w| w.poll_next(cx)) {
                        return Poll::Ready(Event::Message(m));
                    }
                    if let Some(Poll::Ready(m)) = probe.as_mut().map(|p| p.poll_next(cx)) {
                        return Poll::Ready(Event::Probe(m));
                    }
                    // Polled with the session's own waker, and only when that noted a firing
                    // (or after a re-arm): see `Conn::take_driver_timer`.
                    if armed.is_some()
                        && conn.take_driver_timer()
                        && timer
                            .as_mut()
                            .poll(&mut Context::from_waker(&Waker::from(Arc::clone(conn))))
                            .is_ready()
                    {
                        return Poll::Ready(Event::Timer);
                    }
                    Poll::Pending
                })
                .await;
                match event {
                    Event::Woken => None,
                    Event::Message(msg) => {
                        on_ws_messages(conn, &*ending.handler, msg, ws.as_mut());
                        None
                    }
                    Event::Probe(msg) => Some(ProbeWork::Message(msg)),
                    Event::Timer => {
                        // Fired: re-arm on the next turn even if the deadline did not move.
                        armed = None;
                        let timed_out = session_due && on_session_timeout(conn, probe.is_some());
                        if handler_due {
                            ending.handler.on_deadline();
                        }
                        timed_out.then_some(ProbeWork::TimedOut)
                    }
                }
            };
            // Boxed before the await, so that `probe_work` is not kept beside it.
            let upgraded = {
                let probe_fut = probe_work.map(|work| Box::pin(on_probe(conn, &mut probe, work)));
                match probe_fut {
                    Some(fut) => fut.await,
                    None => false,
                }
            };
            if upgraded {
                ws = probe.take().map(|p| *p);
                conn.get_wake.notify_one();
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
        Box::pin(close_all(conn, ws, probe, close_frame(reason))).await;
        drop(ending);
    }
}

/// Handle `msg` from the session's WebSocket, then the messages that came in the same read.
fn on_ws_messages(
    conn: &Arc<Conn>,
    handler: &dyn ConnHandler,
    msg: Option<Result<Message, ReadError>>,
    ws: Option<&mut WsStream>,
) {
    // The driver writes what handling them queues: no wake-up needed for that.
    conn.driving
        .store(true, std::sync::atomic::Ordering::Relaxed);
    on_ws_message(conn, handler, msg);
    // Messages that came in the same read are handled before anything is written, so that
    // their answers leave together (a server behind its clients then makes one write for a
    // read's worth of acks, not one each). The session is looked at only when there is such
    // a message: a lone one (the common case) costs nothing more here.
    if let Some(w) = ws {
        for _ in 0..READ_BATCH {
            let Some(m) = w.next_buffered_data() else {
                break;
            };
            if conn.session().is_finished(now()) {
                // Nothing more is read from a finished session.
                break;
            }
            on_ws_message(conn, handler, Some(Ok(m)));
        }
    }
    conn.driving
        .store(false, std::sync::atomic::Ordering::Relaxed);
}

/// The session's deadline passed; `true` when the probe (if `probing`) must be closed because
/// the upgrade did not complete within `upgrade_timeout`.
fn on_session_timeout(conn: &Conn, probing: bool) -> bool {
    let probe_ended = {
        let mut s = conn.session();
        s.handle_timeout(now());
        probing && !s.probe_active()
    };
    conn.get_wake.notify_one();
    if probe_ended && conn.engine.refusals.record(Reason::UpgradeTimeout) {
        tracing::warn!(sid = %conn.sid, refusal = Reason::UpgradeTimeout.as_str(), "WebSocket upgrade did not complete within upgrade_timeout: closing the WebSocket, the session goes on polling");
    }
    probe_ended
}

/// What the driver does with the probing WebSocket.
enum ProbeWork {
    /// It sent this (or ended).
    Message(Option<Result<Message, ReadError>>),
    /// The upgrade did not complete within `upgrade_timeout`: close it.
    TimedOut,
}

/// Do `work` on the probe; `true` when the probe completed the upgrade.
async fn on_probe(conn: &Arc<Conn>, probe: &mut Option<Box<WsStream>>, work: ProbeWork) -> bool {
    match work {
        ProbeWork::Message(msg) => on_probe_message(conn, probe, msg).await,
        ProbeWork::TimedOut => {
            if let Some(p) = probe.take() {
                close_ws(p, ws::CLOSE_NORMAL).await;
            }
            false
        }
    }
}

/// What ended the driver's wait.
enum Event {
    Woken,
    /// A message (or the end) on the session's WebSocket.
    Message(Option<Result<Message, ReadError>>),
    /// A message (or the end) on the probing WebSocket.
    Probe(Option<Result<Message, ReadError>>),
    Timer,
}

/// Close the session's WebSockets with `(code, reason)`, one after the other: its transport,
/// its probe, then one still waiting to upgrade (later ones are dropped).
async fn close_all(
    conn: &Conn,
    ws: Option<WsStream>,
    probe: Option<Box<WsStream>>,
    (code, why): (u16, &'static str),
) {
    if let Some(mut w) = ws {
        w.close(code, why).await;
    }
    if let Some(mut p) = probe {
        p.close(code, why).await;
    }
    if let Some(mut w) = conn.end_upgrades() {
        w.close(code, why).await;
    }
}

/// The end of a session: out of the engine's table, the handler told (`on_close`, which breaks
/// the layer above's references to the session) and released. In `Drop`, so that it runs even
/// when the driver unwinds from a panic; a panic inside it is caught (a second panic while
/// unwinding would abort the process).
struct Ending {
    conn: Arc<Conn>,
    handler: Arc<dyn ConnHandler>,
    /// The session holds its place in the session counts until its driver ends (given back
    /// after `on_close`).
    _slot: Slot,
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

fn frame_len(f: &Frame) -> usize {
    match f {
        Frame::Text(b) | Frame::Binary(b) => b.len(),
    }
}

/// Most messages already read that one turn handles before writing (and looking at its timers
/// and wake-ups again).
const READ_BATCH: usize = 64;

/// Bytes gathered before a write: a burst of small frames leaves in few syscalls, and a
/// connection never holds more than this (plus one frame header) in its own buffer.
const WRITE_CHUNK: usize = 16 * 1024;

/// The session's transport failed while writing: close it; whether the session is now
/// finished.
fn transport_failed(conn: &Conn) -> bool {
    let mut s = conn.session();
    s.handle_transport_closed(CloseReason::TransportError);
    s.is_finished(now())
}

/// What [`look_and_write`] did.
enum Now {
    /// Everything was written (or there was nothing to write).
    Done,
    /// The rest is for [`write_slow`]: these bytes, then the frames left in `out`.
    Slow(Vec<u8>),
}

/// The most header bytes a frame takes (a 10-byte WebSocket header and the v3 binary type
/// byte).
const MAX_HEAD: usize = 11;

/// What the driver reads from the session at the top of each turn.
struct Look {
    finished: bool,
    deadline: Option<std::time::Instant>,
    protocol: Protocol,
}

/// Look at the session and, when it has a WebSocket, write what it queued for it.
///
/// The frames are written within this call, keeping nothing past it, when that can be done:
/// they and the control frames waiting to go first (a pong; the `101` of a new session, which
/// waits for its open packet) surely fit in [`SMALL_WRITE`] bytes (an ack, an echo, a few
/// small events). They are then taken from the session's queue (no copy of the list, and the
/// queue keeps its buffer: an idle connection holds one), encoded into a buffer on the stack
/// after the control frames and written with one `send`; what the socket does not take at once (a
/// full socket buffer) is left, copied, for [`write_slow`]. Anything larger is moved to `out`
/// for [`write_slow`], a boxed future of its own. The common write thus adds nothing to the
/// driver's future, which every idle connection holds.
// Out of line: bench/profile reads the WebSocket write's cost by its name, which a build that
// inlines it into the driver's loop (fat LTO did, after 4547afb) does not keep. It runs once
// per turn of the driver.
#[inline(never)]
fn look_and_write(
    conn: &Conn,
    ws: Option<&mut WsStream>,
    out: &mut Vec<Frame>,
    cx: &mut Context<'_>,
) -> (Look, std::io::Result<Now>) {
    let mut s = conn.session();
    let look = Look {
        finished: s.is_finished(now()),
        deadline: s.poll_timeout(),
        protocol: s.protocol(),
    };
    let Some(w) = ws else {
        return (look, Ok(Now::Done));
    };
    if !s.has_output() && !w.has_control() && out.is_empty() {
        return (look, Ok(Now::Done));
    }
    let bound = s
        .queued_bytes()
        .saturating_add(s.queued_frames().saturating_mul(MAX_HEAD));
    if !out.is_empty() || bound.saturating_add(w.control_len()) > SMALL_WRITE {
        s.drain_transmit(out);
        return (look, Ok(Now::Slow(Vec::new())));
    }
    // Uninitialised: only the bytes copied in are ever read (no 1 KiB memset per write).
    let mut stack = [MaybeUninit::<u8>::uninit(); SMALL_WRITE];
    let mut buf = ReadBuf::uninit(&mut stack);
    // Control frames first (a pong; a new session's `101`, which leaves with its open packet
    // in this one `send`).
    if w.has_control() {
        buf.put_slice(&w.take_control());
    }
    while let Some(f) = s.poll_transmit() {
        let e = ws_frame::encode(f, look.protocol);
        buf.put_slice(e.head());
        buf.put_slice(&e.payload);
    }
    drop(s);
    if buf.filled().is_empty() {
        // Nothing for the WebSocket (what is queued waits for a polling GET).
        return (look, Ok(Now::Done));
    }
    let written = write_stack(w, buf.filled(), cx);
    (look, written)
}

/// Write `bytes` with one `send`: what the socket does not take is left for [`write_slow`].
fn write_stack(w: &mut WsStream, bytes: &[u8], cx: &mut Context<'_>) -> std::io::Result<Now> {
    let mut io = w.io();
    let n = match Pin::new(&mut io).poll_write(cx, bytes) {
        Poll::Ready(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
        Poll::Ready(Ok(n)) => n,
        Poll::Ready(Err(e)) => return Err(e),
        // The socket's buffer is full (the waker and the stall bound are set).
        Poll::Pending => 0,
    };
    let Some(rest) = bytes.get(n..).filter(|r| !r.is_empty()) else {
        return match Pin::new(&mut io).poll_flush(cx) {
            Poll::Ready(Ok(())) => Ok(Now::Done),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Ok(Now::Slow(Vec::new())),
        };
    };
    Ok(Now::Slow(rest.to_vec()))
}

/// Write `rest` (bytes [`look_and_write`] left), then `out`: small frames gathered into one
/// buffer, a large payload from its shared bytes without a copy; then flush.
async fn write_slow(
    w: &mut WsStream,
    out: &mut Vec<Frame>,
    protocol: Protocol,
    rest: Vec<u8>,
) -> std::io::Result<()> {
    // Control frames (the pong to a WebSocket ping) leave first. There are none when `rest`
    // holds part of a frame: `look_and_write` took them into its write, and nothing is read
    // (so nothing queued) while a write is under way.
    w.write_control().await?;
    let io = &mut w.io();
    if !rest.is_empty() {
        io.write_all(&rest).await?;
    }
    if out.len() == 1 {
        // One frame: header and payload without a copy.
        if let Some(f) = out.pop() {
            let e = ws_frame::encode(f, protocol);
            write_two(io, e.head(), &e.payload).await?;
        }
    } else if !out.is_empty() {
        let total: usize = out.iter().map(|f| frame_len(f) + 10).sum();
        let mut buf = Vec::with_capacity(total.min(WRITE_CHUNK));
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
    }
    io.flush().await?;
    // The list's buffer (the queue's, handed over by `drain_transmit`, grown by a burst) is
    // not kept: the queue has started another, and a connection keeps one between writes.
    *out = Vec::new();
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

async fn close_ws(mut w: Box<WsStream>, code: u16) {
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
                Some(w) => write_slow(w, &mut vec![frame], conn.protocol(), Vec::new())
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
            if let Some(w) = probe.take() {
                close_ws(w, ws::CLOSE_NORMAL).await;
            }
            false
        }
    }
}
