//! The Engine.IO session state machine: heartbeat, polling, upgrade and close, with no I/O.
//!
//! One [`Session`] per Engine.IO connection. The driver (the server's per-session task, or a
//! test on a virtual clock) feeds it what happened — a packet arrived, a polling `GET` came in
//! or went away, time passed — and takes back what to do: frames to write
//! ([`Session::poll_transmit`], [`Session::poll_get_take`]) and the next deadline
//! ([`Session::poll_timeout`]). Time only ever enters as a `now` argument.
//!
//! Heartbeat (Engine.IO v4): the server sends a ping `pingInterval` after the handshake and
//! after every pong; a pong must arrive within `pingTimeout` of the ping, or the session closes
//! with [`CloseReason::PingTimeout`]. Spec:
//! <https://github.com/socketio/engine.io-protocol#heartbeat>.
//!
//! Upgrade: a WebSocket carrying the session id sends `2probe`, the server answers `3probe`
//! on that WebSocket, any pending or new polling `GET` is answered with a noop (`6`), and the
//! client's `5` switches the session to the WebSocket. Spec:
//! <https://github.com/socketio/engine.io-protocol#upgrade>.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::error::ErrorCode;
use super::packet::{DecodeError, Frame, Packet};
use super::payload::encode_payload_v4;
use super::payload_v3::encode_payload_v3;
use super::traffic::Traffic;

/// Queue capacity (frames) a drained session keeps; more is released after a burst.
const QUEUE_KEEP: usize = 16;

/// Queue capacity (frames) past which a session is in a burst (see [`Session::make_room`]).
const BURST_FROM: usize = 64;

/// The queue's room (frames, 32 KiB) once a session is in a burst.
const BURST_ROOM: usize = 1024;

/// Limits and timers of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Time between a pong (or the handshake) and the next ping. Default: 25 s.
    pub ping_interval: Duration,
    /// Time the client has to answer a ping. Default: 20 s.
    pub ping_timeout: Duration,
    /// Time a probing WebSocket has to send `5` after `2probe`. Default: 10 s.
    pub upgrade_timeout: Duration,
    /// Bytes of outgoing frames a session may hold while its transport is not writing
    /// (measured as in a polling payload). Past it the session closes with
    /// [`CloseReason::BufferFull`] rather than grow without bound or drop packets silently.
    /// Default: 8 MiB.
    pub max_buffer_bytes: usize,
    /// Frames a session may hold while its transport is not writing: bounds the bookkeeping
    /// of each frame, which [`SessionConfig::max_buffer_bytes`] does not count (a flood of
    /// tiny frames). Past it the session closes with [`CloseReason::BufferFull`].
    /// Default: 16,384.
    pub max_buffer_packets: usize,
    /// How long a session closed by the server stays around so that a polling client can fetch
    /// the frames queued before the close (e.g. a Socket.IO disconnect packet). Default: 5 s.
    pub close_linger: Duration,
    /// The Engine.IO protocol the client speaks. Default: v4.
    pub protocol: Protocol,
}

/// Engine.IO protocol revision of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Engine.IO v4 (socket.io-client 3.x/4.x): the server pings.
    #[default]
    V4,
    /// Engine.IO v3 (socket.io-client 2.x): the client pings and the server answers; polling
    /// payloads are length-prefixed, with binary as `b4<base64>` when `b64` (the client asked
    /// with `b64=1`) and in the binary framing otherwise.
    V3 {
        /// The client cannot receive binary polling bodies.
        b64: bool,
    },
}

impl Protocol {
    /// The packet a WebSocket binary message carries in this revision: the data itself (v4),
    /// or a type byte `4` and the data (v3).
    ///
    /// # Errors
    /// For v3, as [`decode_binary_frame_v3`](super::payload_v3::decode_binary_frame_v3).
    pub fn decode_websocket_binary(self, message: Bytes) -> Result<Packet, DecodeError> {
        match self {
            Protocol::V4 => Ok(Packet::Binary(message)),
            Protocol::V3 { .. } => super::payload_v3::decode_binary_frame_v3(message),
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            upgrade_timeout: Duration::from_millis(10_000),
            max_buffer_bytes: 8 * 1024 * 1024,
            max_buffer_packets: 16 * 1024,
            close_linger: Duration::from_millis(5_000),
            protocol: Protocol::V4,
        }
    }
}

/// The transport a session currently writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// HTTP long-polling.
    Polling,
    /// WebSocket (from the start, or after an upgrade).
    WebSocket,
}

impl Transport {
    /// The name used on the wire (`transport=` query parameter).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Polling => "polling",
            Transport::WebSocket => "websocket",
        }
    }
}

/// Why a session closed. [`fmt::Display`] gives the reference implementation's reason strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client closed the transport or sent a close packet: `transport close`.
    TransportClose,
    /// The transport failed (aborted poll, duplicate poll, bad frame): `transport error`.
    TransportError,
    /// No pong within `pingTimeout`: `ping timeout`.
    PingTimeout,
    /// The client sent bytes that are not a valid packet: `parse error`.
    ParseError,
    /// The server closed the session: `forced close`.
    ForcedClose,
    /// The server is shutting down: `server shutting down`.
    ServerShutdown,
    /// The outgoing buffer passed [`SessionConfig::max_buffer_bytes`] or
    /// [`SessionConfig::max_buffer_packets`]: `send buffer full`.
    BufferFull,
    /// The client sent messages faster than the server's rate limit: `event rate exceeded`.
    RateLimited,
}

impl CloseReason {
    /// The reason string, as Node's engine.io spells it where it has one.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::TransportClose => "transport close",
            CloseReason::TransportError => "transport error",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::ParseError => "parse error",
            CloseReason::ForcedClose => "forced close",
            CloseReason::ServerShutdown => "server shutting down",
            CloseReason::BufferFull => "send buffer full",
            CloseReason::RateLimited => "event rate exceeded",
        }
    }

    /// Whether the server decided this close, so frames queued before it are still delivered.
    pub fn is_graceful(self) -> bool {
        matches!(self, CloseReason::ForcedClose | CloseReason::ServerShutdown)
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message for the layer above (Socket.IO).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A text message (UTF-8 data without the engine type digit).
    Text(Bytes),
    /// A binary message.
    Binary(Bytes),
}

/// Why a frame could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The session is closed.
    Closed,
    /// The buffer is full; the session is now closed with [`CloseReason::BufferFull`].
    Full,
}

/// What the driver should do with a frame that arrived on a probing WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// Write this frame on the probing WebSocket (`3probe`).
    Reply(Frame),
    /// The upgrade completed: the WebSocket is now the session's transport.
    Upgraded,
    /// Nothing to do.
    Ignore,
    /// The probe failed: close the probing WebSocket (the session itself goes on polling).
    Abort,
}

/// The state of one Engine.IO connection. See the [module docs](self).
#[derive(Debug)]
pub struct Session {
    /// Shared: every session of a server (and protocol) has the same, and an idle session
    /// should not carry its own copy of 88 bytes.
    config: Arc<SessionConfig>,
    transport: Transport,
    queue: VecDeque<Frame>,
    queued_bytes: usize,
    next_ping: Instant,
    pong_deadline: Option<Instant>,
    /// While a WebSocket asks to upgrade: when it must have completed (upgrade_timeout after
    /// it arrived, or after its `2probe` if its arrival was not reported).
    probe_deadline: Option<Instant>,
    /// The probing WebSocket sent `2probe`.
    probe_pinged: bool,
    get_pending: bool,
    closed: Option<CloseReason>,
    /// For a graceful close over polling: when the session may be dropped even if no GET
    /// came to collect the last frames.
    linger_until: Option<Instant>,
    close_delivered: bool,
    /// Packets and bytes in and out, counted under the caller's lock (no atomics).
    traffic: Traffic,
}

impl Session {
    /// A new session, opened at `now` on `transport`. The caller sends the handshake itself
    /// (it is the first frame of the first response or WebSocket message). `config` may be
    /// shared by many sessions (an `Arc`) or given by value.
    pub fn new(
        now: Instant,
        transport: Transport,
        config: impl Into<Arc<SessionConfig>>,
    ) -> Session {
        let config: Arc<SessionConfig> = config.into();
        // v3: the deadline for the client's next ping; v4: when to send ours.
        let next_ping = match config.protocol {
            Protocol::V4 => now + config.ping_interval,
            Protocol::V3 { .. } => now + config.ping_interval + config.ping_timeout,
        };
        Session {
            config,
            transport,
            queue: VecDeque::new(),
            queued_bytes: 0,
            next_ping,
            pong_deadline: None,
            probe_deadline: None,
            probe_pinged: false,
            get_pending: false,
            closed: None,
            linger_until: None,
            close_delivered: false,
            traffic: Traffic::default(),
        }
    }

    /// The session's limits and timers.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Packets and bytes this session received and sent so far (see [`Traffic`]).
    pub fn traffic(&self) -> Traffic {
        self.traffic
    }

    /// Count a frame the caller wrote outside the queue (the open packet of a polling
    /// handshake, which is the body of its HTTP response) in [`Session::traffic`].
    pub fn note_sent(&mut self, frame: &Frame) {
        self.traffic.sent([frame]);
    }

    /// The transport frames are written to.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Why the session closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.closed
    }

    /// Whether the session is closed (no more frames are accepted).
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// Whether a WebSocket is probing (between `2probe` and `5`).
    pub fn is_probing(&self) -> bool {
        self.probe_deadline.is_some() && self.probe_pinged
    }

    /// Whether a WebSocket upgrade is under way (from its arrival until it completes, fails
    /// or times out): a driver holding a probing WebSocket closes it once this is `false`.
    pub fn probe_active(&self) -> bool {
        self.probe_deadline.is_some()
    }

    /// A WebSocket asking to upgrade this session arrived at `now`: it has `upgrade_timeout`
    /// from now to complete. `false` when it cannot probe (the session is closed, not on
    /// polling, or another probe is under way): close it.
    pub fn handle_probe_start(&mut self, now: Instant) -> bool {
        if self.closed.is_some() || self.transport != Transport::Polling || self.probe_active() {
            return false;
        }
        self.probe_deadline = Some(now + self.config.upgrade_timeout);
        self.probe_pinged = false;
        true
    }

    fn end_probe(&mut self) {
        self.probe_deadline = None;
        self.probe_pinged = false;
    }

    /// Whether the driver may forget the session: it is closed and nothing remains to hand
    /// to the client (or the linger time for that has passed).
    pub fn is_finished(&self, now: Instant) -> bool {
        match self.closed {
            None => false,
            Some(_) if self.transport == Transport::WebSocket => true,
            Some(_) => self.close_delivered || self.linger_until.is_none_or(|t| now >= t),
        }
    }

    /// Queue a frame for the client. Frames are written in order by the current transport.
    pub fn send(&mut self, frame: Frame) -> Result<(), SendError> {
        self.send_all(std::slice::from_ref(&frame))
    }

    /// Queue several frames atomically (a Socket.IO binary packet and its attachments): all or
    /// none.
    pub fn send_all(&mut self, frames: &[Frame]) -> Result<(), SendError> {
        self.admit(frames)?;
        match frames {
            [one] => self.queue.push_back(one.clone()),
            many => self.queue.extend(many.iter().cloned()),
        }
        Ok(())
    }

    /// Queue `frames`, each a packet of its own (no attachments), in order: the same as a
    /// [`Session::send_all`] of each in turn, in one call. Those that fit the caps are queued;
    /// the first that does not closes the session with `BufferFull` (`SendError::Full`), and
    /// the rest are not queued.
    ///
    /// # Errors
    /// `Closed` when the session was closed before; `Full` as said.
    pub fn send_each(&mut self, frames: &[Frame]) -> Result<(), SendError> {
        if self.closed.is_some() {
            return Err(SendError::Closed);
        }
        let bytes: usize = frames.iter().map(Frame::payload_len).sum();
        if self.queued_bytes.saturating_add(bytes) <= self.config.max_buffer_bytes
            && self.queue.len().saturating_add(frames.len()) <= self.config.max_buffer_packets
        {
            self.queued_bytes += bytes;
            self.make_room(frames.len());
            self.queue.extend(frames.iter().cloned());
            return Ok(());
        }
        // Some do not fit: one at a time, up to the first that does not.
        for f in frames {
            self.send_all(std::slice::from_ref(f))?;
        }
        Ok(())
    }

    /// [`Session::send_all`] taking the frames: nothing is cloned (a clone of bytes that came
    /// from a `Vec` allocates).
    ///
    /// # Errors
    /// As [`Session::send_all`].
    pub fn send_all_owned<F>(&mut self, frames: F) -> Result<(), SendError>
    where
        F: AsRef<[Frame]> + IntoIterator<Item = Frame>,
    {
        self.admit(frames.as_ref())?;
        self.queue.extend(frames);
        Ok(())
    }

    /// Count `frames` against the buffer cap (closing with `BufferFull` when they do not fit),
    /// and make room for them in the queue (see [`Session::make_room`]).
    fn admit(&mut self, frames: &[Frame]) -> Result<(), SendError> {
        if self.closed.is_some() {
            return Err(SendError::Closed);
        }
        let bytes: usize = frames.iter().map(Frame::payload_len).sum();
        if self.queued_bytes.saturating_add(bytes) > self.config.max_buffer_bytes
            || self.queue.len().saturating_add(frames.len()) > self.config.max_buffer_packets
        {
            self.close(CloseReason::BufferFull);
            return Err(SendError::Full);
        }
        self.queued_bytes += bytes;
        self.make_room(frames.len());
        Ok(())
    }

    /// Room in the queue for `n` more frames. Up to [`BURST_FROM`] frames the queue grows as a
    /// `VecDeque` does (doubling); past that the session is in a burst (a broadcast, a handler
    /// emitting in a loop), and it gets room for [`BURST_ROOM`] frames at once, then doubles.
    ///
    /// Each doubling copies the queue and frees the old buffer; in a broadcast burst every
    /// session's queue grows at the same time, so no session reuses another's freed smaller
    /// buffer. Growing 64 → 1,024 in one step, a queue of 1,000 frames has copied 124 frames
    /// and freed 5 buffers on the way instead of 1,020 and 8, and the server touched ~9 MB
    /// less fresh memory in a 1,000 × 1,000 broadcast (2,200 fewer page faults, a few µs of
    /// the kernel's time each; bench/README.md, "Fresh memory in a burst"). Room not used is
    /// not touched, so it costs address space, not resident memory.
    #[inline]
    fn make_room(&mut self, n: usize) {
        let need = self.queue.len() + n;
        let cap = self.queue.capacity();
        if need > cap && (BURST_FROM..BURST_ROOM).contains(&cap) {
            self.queue
                .reserve_exact(BURST_ROOM.max(need) - self.queue.len());
        }
    }

    /// Whether the transport can take a frame now without queueing behind others: a polling
    /// `GET` is waiting, or nothing is queued for the WebSocket. Volatile packets are sent
    /// only then.
    pub fn is_writable(&self) -> bool {
        self.closed.is_none()
            && match self.transport {
                Transport::Polling => {
                    self.get_pending && self.queue.is_empty() && !self.is_probing()
                }
                Transport::WebSocket => self.queue.is_empty(),
            }
    }

    /// Whether frames are waiting to be written.
    pub fn has_output(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Frames waiting to be written.
    pub fn queued_frames(&self) -> usize {
        self.queue.len()
    }

    /// Bytes of frames waiting to be written (as counted for [`SessionConfig::max_buffer_bytes`]).
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// The next frame to write on the WebSocket transport. `None` while polling.
    pub fn poll_transmit(&mut self) -> Option<Frame> {
        if self.transport != Transport::WebSocket {
            return None;
        }
        let frame = self.queue.pop_front()?;
        self.traffic.sent([&frame]);
        self.queued_bytes = self.queued_bytes.saturating_sub(frame.payload_len());
        if self.queue.is_empty() {
            self.release_queue();
        }
        Some(frame)
    }

    /// Every frame waiting for the WebSocket transport, appended to `out` in order (nothing
    /// while polling): one call for a whole burst instead of one per frame.
    ///
    /// The queue and the writer's `out` share one buffer between them: when `out` is empty
    /// the queue's buffer is handed over whole (no copy) and `out`'s taken in exchange; once
    /// the writer has emptied `out`, the next call with nothing queued takes its buffer back
    /// (the next frame queued then allocates nothing). A session whose writer calls this each
    /// turn thus holds one buffer, not one on each side, however long it stays idle.
    // Out of line: bench/profile reads the drain's cost by its name, which the release build's
    // fat LTO would otherwise inline away (it runs once per write either way).
    #[inline(never)]
    pub fn drain_transmit(&mut self, out: &mut Vec<Frame>) {
        if self.transport != Transport::WebSocket {
            return;
        }
        if self.queue.is_empty() {
            if out.is_empty() && out.capacity() > 0 {
                if self.queue.capacity() == 0 {
                    self.queue = VecDeque::from(std::mem::take(out));
                } else {
                    *out = Vec::new();
                }
            }
            return;
        }
        self.traffic.sent(&self.queue);
        if out.is_empty() {
            let spare = VecDeque::from(std::mem::take(out));
            *out = Vec::from(std::mem::replace(&mut self.queue, spare));
        } else {
            out.extend(self.queue.drain(..));
        }
        self.queued_bytes = 0;
        self.release_queue();
    }

    /// After a burst the queue is empty but keeps its grown capacity (32 bytes per frame it
    /// once held): give that back, so a session costs little again once it has written.
    fn release_queue(&mut self) {
        if self.queue.capacity() > QUEUE_KEEP {
            self.queue = VecDeque::new();
        }
    }

    /// A frame arrived on the session's current transport (polling POST or WebSocket).
    ///
    /// Returns the message for the layer above, if the packet was one.
    pub fn handle_packet(&mut self, now: Instant, packet: Packet) -> Option<Incoming> {
        if self.closed.is_some() {
            return None;
        }
        self.traffic.received(&packet);
        match packet {
            Packet::Message(data) => return Some(Incoming::Text(data)),
            Packet::Binary(data) => return Some(Incoming::Binary(data)),
            // The heartbeat runs one way per revision: in v4 the server pings and the client
            // pongs, in v3 the reverse. A heartbeat packet the wrong way closes the session
            // with `transport error`, as Node's engine.io does ("invalid heartbeat
            // direction"): answering a v4 client's pings would let a polling client that
            // POSTs them and never GETs grow the queue. (`2probe` on a WebSocket that upgrades
            // the session is the probe's business: `handle_probe_packet`.)
            Packet::Pong(_) => match self.config.protocol {
                Protocol::V4 => {
                    if self.pong_deadline.take().is_some() {
                        self.next_ping = now + self.config.ping_interval;
                    }
                }
                Protocol::V3 { .. } => self.close(CloseReason::TransportError),
            },
            Packet::Ping(data) => match self.config.protocol {
                Protocol::V4 => self.close(CloseReason::TransportError),
                Protocol::V3 { .. } => {
                    self.next_ping = now + self.config.ping_interval + self.config.ping_timeout;
                    // The pong counts against the buffer cap like any frame: a v3 client that
                    // pings and never reads is closed with `send buffer full`.
                    let _ = self.send(Packet::Pong(data).to_frame());
                }
            },
            Packet::Close => self.close(CloseReason::TransportClose),
            Packet::Noop | Packet::Upgrade => {}
            Packet::Open(_) => self.close(CloseReason::ParseError),
        }
        None
    }

    /// Bytes from the client could not be decoded: the session closes with `parse error`.
    pub fn handle_decode_error(&mut self) {
        self.close(CloseReason::ParseError);
    }

    /// The session's transport went away (WebSocket closed or failed).
    pub fn handle_transport_closed(&mut self, reason: CloseReason) {
        self.close(reason);
    }

    /// A polling `GET` arrived. `Ok` means: wait (or answer at once) with
    /// [`Session::poll_get_take`]. `Err` is the error to answer with.
    ///
    /// A second `GET` while one is pending closes the session: the first gets the close
    /// packet, the second the error (as the reference server does).
    pub fn poll_get_begin(&mut self) -> Result<(), ErrorCode> {
        if self.transport != Transport::Polling {
            return Err(ErrorCode::BadRequest);
        }
        if self.closed.is_some() && (self.close_delivered || !self.answers_late_get()) {
            return Err(ErrorCode::UnknownSid);
        }
        if self.get_pending {
            self.close(CloseReason::TransportError);
            return Err(ErrorCode::BadRequest);
        }
        self.get_pending = true;
        Ok(())
    }

    /// The body for the pending `GET`, if it should be answered now: the queued frames, a
    /// noop during an upgrade, or the close packet. `None`: keep waiting.
    pub fn poll_get_take(&mut self) -> Option<Bytes> {
        if !self.get_pending {
            return None;
        }
        let body = if self.transport == Transport::WebSocket {
            // Upgraded while this GET waited: release it.
            Some(self.single(Packet::Noop))
        } else if let Some(reason) = self.closed {
            if reason == CloseReason::TransportClose {
                // The client closed the session itself (close packet): its pending GET is
                // released with a noop, as the reference server does.
                self.queue.clear();
                self.queue.push_back(Packet::Noop.to_frame());
            } else if reason.is_graceful() {
                if !self.queue.is_empty() {
                    // Frames queued before the close go in one response and the close packet
                    // in the next, as Node's server does (it waits for the drain): the
                    // official client handles a decoded Socket.IO packet on the next tick, so
                    // a close packet in the same payload would overtake, e.g., the
                    // DISCONNECT of `disconnect(true)` (`transport close` instead of
                    // `io server disconnect`).
                    self.get_pending = false;
                    return Some(self.drain_payload());
                }
                self.queue.push_back(Packet::Close.to_frame());
            } else {
                self.queue.clear();
                self.queue.push_back(Packet::Close.to_frame());
            }
            self.close_delivered = true;
            Some(self.drain_payload())
        } else if !self.queue.is_empty() {
            Some(self.drain_payload())
        } else if self.is_probing() {
            Some(self.single(Packet::Noop))
        } else {
            None
        };
        if body.is_some() {
            self.get_pending = false;
        }
        body
    }

    /// The pending `GET` went away before it was answered (the client aborted it): the
    /// session closes with `transport error`, as in the reference server.
    pub fn poll_get_abort(&mut self) {
        if self.get_pending {
            self.get_pending = false;
            self.close(CloseReason::TransportError);
        }
    }

    /// A frame arrived on a WebSocket that carries this session's id and is not (yet) its
    /// transport.
    pub fn handle_probe_packet(&mut self, now: Instant, packet: Packet) -> ProbeOutcome {
        if self.closed.is_some() || self.transport != Transport::Polling {
            return ProbeOutcome::Abort;
        }
        match packet {
            Packet::Ping(data) if data.as_ref() == b"probe" && !self.probe_pinged => {
                if self.probe_deadline.is_none() {
                    self.probe_deadline = Some(now + self.config.upgrade_timeout);
                }
                self.probe_pinged = true;
                ProbeOutcome::Reply(Packet::Pong(data).to_frame())
            }
            Packet::Upgrade if self.is_probing() => {
                self.end_probe();
                self.transport = Transport::WebSocket;
                ProbeOutcome::Upgraded
            }
            Packet::Noop => ProbeOutcome::Ignore,
            _ => {
                self.end_probe();
                ProbeOutcome::Abort
            }
        }
    }

    /// The probing WebSocket went away before the upgrade completed.
    pub fn handle_probe_closed(&mut self) {
        self.end_probe();
    }

    /// The next instant [`Session::handle_timeout`] must be called at, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed.is_some() {
            return if self.close_delivered {
                None
            } else {
                self.linger_until
            };
        }
        let heartbeat = self.pong_deadline.unwrap_or(self.next_ping);
        Some(match self.probe_deadline {
            Some(p) => p.min(heartbeat),
            None => heartbeat,
        })
    }

    /// A request of the client arrived at `now`: if the heartbeat's deadline has passed (a
    /// missed pong in v4, a missed ping in v3), the session closes now with `PingTimeout`,
    /// even though the timer that calls [`Session::handle_timeout`] has not fired yet (a timer
    /// fires a little late, up to a millisecond or more on a busy machine). So a request that
    /// comes after the deadline is refused whatever the scheduling, as the protocol says.
    /// Returns whether the session is closed.
    pub fn handle_request_time(&mut self, now: Instant) -> bool {
        if self.closed.is_none() {
            let missed = match self.config.protocol {
                Protocol::V3 { .. } => now >= self.next_ping,
                Protocol::V4 => self.pong_deadline.is_some_and(|d| now >= d),
            };
            if missed {
                self.close(CloseReason::PingTimeout);
            }
        }
        self.closed.is_some()
    }

    /// Time passed: send the next ping, close on a missed pong, give up a slow probe.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed.is_some() {
            return;
        }
        if self.probe_deadline.is_some_and(|t| now >= t) {
            self.end_probe();
        }
        if let Protocol::V3 { .. } = self.config.protocol {
            if now >= self.next_ping {
                self.close(CloseReason::PingTimeout);
            }
            return;
        }
        match self.pong_deadline {
            Some(deadline) if now >= deadline => self.close(CloseReason::PingTimeout),
            Some(_) => {}
            None if now >= self.next_ping => {
                let ping = Packet::Ping(Bytes::new()).to_frame();
                self.queued_bytes += ping.payload_len();
                self.queue.push_back(ping);
                self.pong_deadline = Some(now + self.config.ping_timeout);
            }
            None => {}
        }
    }

    /// Close the session for `reason`. Frames queued before a server-decided close are still
    /// delivered (see [`CloseReason::is_graceful`]); otherwise they are dropped.
    /// Closing twice keeps the first reason.
    pub fn close(&mut self, reason: CloseReason) {
        self.close_at(reason, None);
    }

    /// Like [`Session::close`], starting the linger time of a graceful polling close at `now`.
    pub fn close_at(&mut self, reason: CloseReason, now: Option<Instant>) {
        if self.closed.is_some() {
            return;
        }
        self.closed = Some(reason);
        self.end_probe();
        self.pong_deadline = None;
        if !reason.is_graceful() {
            self.queue.clear();
            self.queued_bytes = 0;
        } else if self.transport == Transport::Polling {
            // A polling client collects the frames queued before the close (and the close
            // packet) on its next poll, if it comes within `close_linger`.
            self.linger_until = now.map(|n| n + self.config.close_linger);
        }
    }

    fn closed_gracefully(&self) -> bool {
        self.closed.is_some_and(CloseReason::is_graceful)
    }

    /// Whether a `GET` that arrives after the close is still answered (once): after a
    /// graceful close (it collects the last frames and the close packet), and after the
    /// client's own close packet (a noop, as its pending `GET` would have had). A client
    /// sends its close packet in a `POST` while its `GET` is pending, on two connections: the
    /// server may well read the `POST` first, and that `GET` deserves its noop, not a 400
    /// that the browser logs as an error.
    fn answers_late_get(&self) -> bool {
        self.closed_gracefully() || self.closed == Some(CloseReason::TransportClose)
    }

    /// Whether a polling client closed this session with its close packet and no `GET` was
    /// pending or has come since (one late `GET` is owed a noop, see [`Session::poll_get_begin`]);
    /// if so, the session hands that debt over to the caller, which answers that `GET` once
    /// the session is gone: from now on a `GET` reaching the session gets `UnknownSid`.
    pub fn take_late_noop(&mut self) -> bool {
        let owes = self.transport == Transport::Polling
            && self.closed == Some(CloseReason::TransportClose)
            && !self.close_delivered
            && !self.get_pending;
        if owes {
            self.close_delivered = true;
        }
        owes
    }

    /// The protocol of this session.
    pub fn protocol(&self) -> Protocol {
        self.config.protocol
    }

    /// One packet as a polling body of this session's protocol.
    fn single(&self, packet: Packet) -> Bytes {
        self.body_of(packet.to_frame())
    }

    /// One frame as a polling body: a v4 text frame is its own bytes, taken as they are
    /// (no buffer, no copy).
    fn body_of(&self, frame: Frame) -> Bytes {
        match (self.config.protocol, frame) {
            (Protocol::V4, Frame::Text(text)) => text,
            (Protocol::V4, frame) => encode_payload_v4([&frame]),
            (Protocol::V3 { b64 }, frame) => encode_payload_v3([&frame], b64),
        }
    }

    fn drain_payload(&mut self) -> Bytes {
        self.traffic.sent(&self.queue);
        // One frame (the usual `GET`: one packet waited for) is taken out of the queue.
        let one = if self.queue.len() == 1 {
            self.queue.pop_front()
        } else {
            None
        };
        let body = match (one, self.config.protocol) {
            (Some(frame), _) => self.body_of(frame),
            (None, Protocol::V4) => encode_payload_v4(self.queue.iter()),
            (None, Protocol::V3 { b64 }) => encode_payload_v3(self.queue.iter(), b64),
        };
        self.queue.clear();
        self.queued_bytes = 0;
        self.release_queue();
        body
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cfg() -> SessionConfig {
        SessionConfig {
            ping_interval: Duration::from_millis(300),
            ping_timeout: Duration::from_millis(200),
            upgrade_timeout: Duration::from_millis(1000),
            max_buffer_bytes: 64,
            max_buffer_packets: 8,
            close_linger: Duration::from_millis(500),
            protocol: Protocol::V4,
        }
    }

    fn ms(base: Instant, n: u64) -> Instant {
        base + Duration::from_millis(n)
    }

    fn text(s: &'static str) -> Frame {
        Frame::Text(Bytes::from_static(s.as_bytes()))
    }

    #[test]
    fn send_each_queues_what_fits_one_at_a_time_and_closes_at_the_first_that_does_not() {
        let t0 = Instant::now();
        // Everything fits: all queued, in order.
        let mut s = Session::new(t0, Transport::WebSocket, cfg());
        let frames: Vec<Frame> = ["4a", "4b", "4c"].into_iter().map(text).collect();
        assert_eq!(s.send_each(&frames), Ok(()));
        assert_eq!(s.queued_frames(), 3);
        assert_eq!(s.queued_bytes(), 6);
        // The cap is 8 packets: of 7 more, 5 fit, then the session closes (buffer full).
        let more: Vec<Frame> = (0..7).map(|_| text("4x")).collect();
        assert_eq!(s.send_each(&more), Err(SendError::Full));
        assert_eq!(s.close_reason(), Some(CloseReason::BufferFull));
        // What a send of each in turn gives.
        let mut one_by_one = Session::new(t0, Transport::WebSocket, cfg());
        for f in frames.iter().chain(&more) {
            if one_by_one.send_all(std::slice::from_ref(f)).is_err() {
                break;
            }
        }
        assert_eq!(one_by_one.close_reason(), Some(CloseReason::BufferFull));
        assert_eq!(one_by_one.queued_frames(), s.queued_frames());
        assert_eq!(one_by_one.queued_bytes(), s.queued_bytes());
        let drained =
            |s: &mut Session| std::iter::from_fn(|| s.poll_transmit()).collect::<Vec<_>>();
        assert_eq!(drained(&mut s), drained(&mut one_by_one));
        // Closed: nothing more is queued.
        assert_eq!(s.send_each(&frames), Err(SendError::Closed));
        // The byte cap (64) counts the same way.
        let mut b = Session::new(t0, Transport::WebSocket, cfg());
        let big = Frame::Text(Bytes::from(vec![b'4'; 30]));
        let bigs = [big.clone(), big.clone(), big];
        assert_eq!(b.send_each(&bigs), Err(SendError::Full));
        assert_eq!(b.close_reason(), Some(CloseReason::BufferFull));
        let mut b1 = Session::new(t0, Transport::WebSocket, cfg());
        let results: Vec<_> = bigs
            .iter()
            .map(|f| b1.send_all(std::slice::from_ref(f)))
            .collect();
        assert_eq!(results, [Ok(()), Ok(()), Err(SendError::Full)]);
        assert_eq!(
            (b.queued_frames(), b.queued_bytes()),
            (b1.queued_frames(), b1.queued_bytes())
        );
        assert_eq!(drained(&mut b), drained(&mut b1));
    }

    #[test]
    fn heartbeat_pings_after_interval_and_times_out_without_pong() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::WebSocket, cfg());
        assert_eq!(s.poll_timeout(), Some(ms(t0, 300)));
        s.handle_timeout(ms(t0, 299));
        assert_eq!(s.poll_transmit(), None);
        s.handle_timeout(ms(t0, 300));
        assert_eq!(s.poll_transmit(), Some(text("2")));
        assert_eq!(s.poll_timeout(), Some(ms(t0, 500)));
        s.handle_timeout(ms(t0, 499));
        assert!(!s.is_closed());
        s.handle_timeout(ms(t0, 500));
        assert_eq!(s.close_reason(), Some(CloseReason::PingTimeout));
        assert!(s.is_finished(ms(t0, 500)));
    }

    #[test]
    fn pong_reschedules_next_ping_from_its_arrival() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::WebSocket, cfg());
        s.handle_timeout(ms(t0, 300));
        assert_eq!(s.poll_transmit(), Some(text("2")));
        assert_eq!(
            s.handle_packet(ms(t0, 350), Packet::Pong(Bytes::new())),
            None
        );
        assert_eq!(s.poll_timeout(), Some(ms(t0, 650)));
        s.handle_timeout(ms(t0, 600));
        assert!(!s.is_closed());
        assert_eq!(s.poll_transmit(), None);
        s.handle_timeout(ms(t0, 650));
        assert_eq!(s.poll_transmit(), Some(text("2")));
    }

    #[test]
    fn unsolicited_pong_does_not_move_the_schedule() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::WebSocket, cfg());
        s.handle_packet(ms(t0, 100), Packet::Pong(Bytes::new()));
        assert_eq!(s.poll_timeout(), Some(ms(t0, 300)));
    }

    #[test]
    fn messages_pass_up() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::Polling, cfg());
        let m = s.handle_packet(t0, Packet::Message(Bytes::from_static(b"2[\"a\"]")));
        assert_eq!(m, Some(Incoming::Text(Bytes::from_static(b"2[\"a\"]"))));
        let b = s.handle_packet(t0, Packet::Binary(Bytes::from_static(&[1, 2])));
        assert_eq!(b, Some(Incoming::Binary(Bytes::from_static(&[1, 2]))));
    }

    #[test]
    fn polling_get_waits_then_takes_all_queued_frames() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::Polling, cfg());
        s.poll_get_begin().unwrap();
        assert_eq!(s.poll_get_take(), None);
        s.send(text("4a")).unwrap();
        s.send(Frame::Binary(Bytes::from_static(&[1, 2, 3])))
            .unwrap();
        assert_eq!(
            s.poll_get_take().unwrap(),
            Bytes::from_static(b"4a\x1ebAQID")
        );
        assert_eq!(s.queued_bytes(), 0);
        // A GET that arrives with frames queued is answered at once.
        s.send(text("4b")).unwrap();
        s.poll_get_begin().unwrap();
        assert_eq!(s.poll_get_take().unwrap(), Bytes::from_static(b"4b"));
        // Polling frames are never handed to the WebSocket writer.
        s.send(text("4c")).unwrap();
        assert_eq!(s.poll_transmit(), None);
    }

    #[test]
    fn a_get_of_one_frame_is_that_frame_and_the_queue_is_left_empty() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::Polling, cfg());
        // One text frame: its own bytes, not a copy.
        let sent = Bytes::from(b"42[\"echo\"]".to_vec());
        s.send(Frame::Text(sent.clone())).unwrap();
        s.poll_get_begin().unwrap();
        let body = s.poll_get_take().unwrap();
        assert_eq!(body, sent);
        assert_eq!(body.as_ptr(), sent.as_ptr());
        assert_eq!((s.queued_frames(), s.queued_bytes()), (0, 0));
        // One binary frame: still `b` + base64.
        s.send(Frame::Binary(Bytes::from_static(&[1, 2, 3])))
            .unwrap();
        s.poll_get_begin().unwrap();
        assert_eq!(s.poll_get_take().unwrap(), Bytes::from_static(b"bAQID"));
        assert_eq!((s.queued_frames(), s.queued_bytes()), (0, 0));
        // Both are counted as sent.
        assert_eq!(s.traffic().packets_out, 2);
        // The frame after them goes alone in the next GET.
        s.send(text("4c")).unwrap();
        s.poll_get_begin().unwrap();
        assert_eq!(s.poll_get_take().unwrap(), Bytes::from_static(b"4c"));
    }

    #[test]
    fn writability_for_volatile_packets() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::Polling, cfg());
        assert!(!s.is_writable(), "no GET waiting");
        s.poll_get_begin().unwrap();
        assert!(s.is_writable());
        s.send(text("4a")).unwrap();
        assert!(
            !s.is_writable(),
            "the waiting GET already has a frame to take"
        );
        let mut w = Session::new(t0, Transport::WebSocket, cfg());
        assert!(w.is_writable());
        w.send(text("4a")).unwrap();
        assert!(!w.is_writable(), "frames already queued");
        w.poll_transmit();
        assert!(w.is_writable());
        w.close(CloseReason::TransportClose);
        assert!(!w.is_writable());
    }

    #[test]
    fn duplicate_get_closes_the_session_first_gets_close_second_error() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::Polling, cfg());
        s.poll_get_begin().unwrap();
        assert_eq!(s.poll_get_begin(), Err(ErrorCode::BadRequest));
        assert_eq!(s.close_reason(), Some(CloseReason::TransportError));
        assert_eq!(s.poll_get_take().unwrap(), Bytes::from_static(b"1"));
        assert!(s.is_finished(t0));
        assert_eq!(s.poll_get_begin(), Err(ErrorCode::UnknownSid));
    }

    #[test]
    fn aborted_get_closes_the_session() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::Polling, cfg());
        s.poll_get_begin().unwrap();
        s.poll_get_abort();
        assert_eq!(s.close_reason(), Some(CloseReason::TransportError));
        // Aborting after the answer was taken changes nothing.
        let mut s = Session::new(t0, Transport::Polling, cfg());
        s.send(text("4a")).unwrap();
        s.poll_get_begin().unwrap();
        s.poll_get_take().unwrap();
        s.poll_get_abort();
        assert!(!s.is_closed());
    }

    #[test]
    fn heartbeat_over_polling_is_delivered_to_the_pending_get() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::Polling, cfg());
        s.poll_get_begin().unwrap();
        s.handle_timeout(ms(t0, 300));
        assert_eq!(s.poll_get_take().unwrap(), Bytes::from_static(b"2"));
        s.handle_packet(ms(t0, 320), Packet::Pong(Bytes::new()));
        assert_eq!(s.poll_timeout(), Some(ms(t0, 620)));
    }

    #[test]
    fn websocket_binary_messages_per_revision() {
        let data = Bytes::from_static(b"\x04ab");
        assert_eq!(
            Protocol::V4.decode_websocket_binary(data.clone()),
            Ok(Packet::Binary(data.clone()))
        );
        let v3 = Protocol::V3 { b64: false };
        assert_eq!(
            v3.decode_websocket_binary(data),
            Ok(Packet::Binary(Bytes::from_static(b"ab")))
        );
        assert_eq!(
            v3.decode_websocket_binary(Bytes::new()),
            Err(DecodeError::Empty)
        );
        assert_eq!(
            v3.decode_websocket_binary(Bytes::from_static(b"x")),
            Err(DecodeError::UnknownType(b'x'))
        );
    }

    #[test]
    fn upgrade_timeout_runs_from_the_websockets_arrival() {
        // (The driver once kept its own timer for this; it is the session's deadline now.)
        let t0 = Instant::now();
        let slow_heartbeat = SessionConfig {
            ping_interval: Duration::from_secs(60),
            ping_timeout: Duration::from_secs(60),
            ..cfg()
        };
        let mut s = Session::new(t0, Transport::Polling, slow_heartbeat);
        assert!(s.handle_probe_start(t0));
        assert!(!s.handle_probe_start(t0), "one probe at a time");
        assert!(
            s.probe_active() && !s.is_probing(),
            "arrived, no 2probe yet"
        );
        assert_eq!(
            s.poll_timeout(),
            Some(ms(t0, 1000)),
            "the upgrade deadline comes first"
        );
        // 2probe later does not move the deadline.
        let out = s.handle_probe_packet(ms(t0, 600), Packet::Ping(Bytes::from_static(b"probe")));
        assert_eq!(out, ProbeOutcome::Reply(text("3probe")));
        assert!(s.is_probing());
        s.handle_timeout(ms(t0, 999));
        assert!(s.probe_active());
        s.handle_timeout(ms(t0, 1000));
        assert!(
            !s.probe_active() && !s.is_probing(),
            "given up at arrival + upgrade_timeout"
        );
        assert_eq!(s.transport(), Transport::Polling);
        assert!(!s.is_closed(), "the session goes on polling");
        // A WebSocket that never sends 2probe times out the same way.
        assert!(s.handle_probe_start(ms(t0, 2000)));
        s.handle_timeout(ms(t0, 3000));
        assert!(!s.probe_active());
        // No probe on a closed session, nor on one already upgraded.
        s.close(CloseReason::ForcedClose);
        assert!(!s.handle_probe_start(ms(t0, 3001)));
    }

    #[test]
    fn upgrade_probe_noop_then_switch() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::Polling, cfg());
        s.poll_get_begin().unwrap();
        assert_eq!(s.poll_get_take(), None);
        let out = s.handle_probe_packet(ms(t0, 10), Packet::Ping(Bytes::from_static(b"probe")));
        assert_eq!(out, ProbeOutcome::Reply(text("3probe")));
        // The pending GET is released with a noop.
        assert_eq!(s.poll_get_take().unwrap(), Bytes::from_static(b"6"));
        // Frames sent meanwhile wait for whichever transport wins.
        s.send(text("4x")).unwrap();
        assert_eq!(
            s.handle_probe_packet(ms(t0, 20), Packet::Upgrade),
            ProbeOutcome::Upgraded
        );
        assert_eq!(s.transport(), Transport::WebSocket);
        assert_eq!(s.poll_transmit(), Some(text("4x")));
        // Polling is over for this session.
        assert_eq!(s.poll_get_begin(), Err(ErrorCode::BadRequest));
        // A second WebSocket for the same session is refused.
        let again = s.handle_probe_packet(ms(t0, 30), Packet::Ping(Bytes::from_static(b"probe")));
        assert_eq!(again, ProbeOutcome::Abort);
    }

    #[test]
    fn upgrade_releases_a_get_pending_at_the_switch() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::Polling, cfg());
        s.handle_probe_packet(t0, Packet::Ping(Bytes::from_static(b"probe")));
        s.handle_probe_packet(t0, Packet::Upgrade);
        // A GET that was pending (begun before the switch) is released with a noop.
        let mut s2 = Session::new(t0, Transport::Polling, cfg());
        s2.poll_get_begin().unwrap();
        s2.handle_probe_packet(t0, Packet::Ping(Bytes::from_static(b"probe")));
        assert_eq!(s2.poll_get_take().unwrap(), Bytes::from_static(b"6"));
        s2.poll_get_begin().unwrap();
        s2.handle_probe_packet(t0, Packet::Upgrade);
        assert_eq!(s2.poll_get_take().unwrap(), Bytes::from_static(b"6"));
        assert!(!s.is_closed());
    }

    #[test]
    fn upgrade_without_probe_or_wrong_packet_aborts() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::Polling, cfg());
        assert_eq!(
            s.handle_probe_packet(t0, Packet::Upgrade),
            ProbeOutcome::Abort
        );
        assert_eq!(
            s.handle_probe_packet(t0, Packet::Message(Bytes::from_static(b"x"))),
            ProbeOutcome::Abort
        );
        assert_eq!(s.transport(), Transport::Polling);
        assert!(!s.is_closed());
    }

    #[test]
    fn probe_times_out_and_session_keeps_polling() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::Polling, cfg());
        s.handle_probe_packet(t0, Packet::Ping(Bytes::from_static(b"probe")));
        assert!(s.is_probing());
        // Heartbeat (300) comes before the upgrade deadline (1000).
        assert_eq!(s.poll_timeout(), Some(ms(t0, 300)));
        s.handle_timeout(ms(t0, 300));
        s.handle_packet(ms(t0, 310), Packet::Pong(Bytes::new()));
        s.handle_timeout(ms(t0, 610));
        s.handle_packet(ms(t0, 620), Packet::Pong(Bytes::new()));
        s.handle_timeout(ms(t0, 920));
        s.handle_packet(ms(t0, 930), Packet::Pong(Bytes::new()));
        assert_eq!(s.poll_timeout(), Some(ms(t0, 1000)));
        s.handle_timeout(ms(t0, 1000));
        assert!(!s.is_probing());
        assert!(!s.is_closed());
        assert_eq!(
            s.handle_probe_packet(ms(t0, 1001), Packet::Upgrade),
            ProbeOutcome::Abort
        );
    }

    #[test]
    fn buffer_cap_closes_instead_of_growing() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::Polling, cfg());
        let big = Frame::Text(Bytes::from(vec![b'4'; 40]));
        s.send(big.clone()).unwrap();
        assert_eq!(s.send(big.clone()), Err(SendError::Full));
        assert_eq!(s.close_reason(), Some(CloseReason::BufferFull));
        assert_eq!(s.send(text("4a")), Err(SendError::Closed));
        // send_all is all-or-nothing.
        let mut s = Session::new(t0, Transport::Polling, cfg());
        assert_eq!(
            s.send_all(&[big.clone(), big.clone()]),
            Err(SendError::Full)
        );
        assert_eq!(s.queued_bytes(), 0);
        // The owned variant behaves the same.
        let mut s = Session::new(t0, Transport::Polling, cfg());
        s.send_all_owned(vec![text("4a"), text("4b")]).unwrap();
        assert_eq!(s.queued_bytes(), 4);
        assert_eq!(
            s.send_all_owned(vec![big.clone(), big]),
            Err(SendError::Full)
        );
        assert_eq!(s.close_reason(), Some(CloseReason::BufferFull));
        assert_eq!(s.send_all_owned(vec![text("4c")]), Err(SendError::Closed));
    }

    #[test]
    fn packet_cap_closes_a_flood_of_tiny_frames() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::Polling, cfg());
        for _ in 0..8 {
            s.send(text("4")).unwrap();
        }
        assert!(s.queued_bytes() < s.config().max_buffer_bytes);
        assert_eq!(s.send(text("4")), Err(SendError::Full));
        assert_eq!(s.close_reason(), Some(CloseReason::BufferFull));
    }

    #[test]
    fn graceful_close_over_polling_delivers_queued_frames_then_close() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::Polling, cfg());
        s.send(text("41")).unwrap();
        s.close_at(CloseReason::ForcedClose, Some(t0));
        assert!(!s.is_finished(ms(t0, 100)));
        assert_eq!(s.poll_timeout(), Some(ms(t0, 500)));
        // The queued frames first, the close packet in the next response (Node's order: a
        // close in the same payload would overtake the client's handling of the DISCONNECT).
        s.poll_get_begin().unwrap();
        assert_eq!(s.poll_get_take().unwrap(), Bytes::from_static(b"41"));
        assert!(!s.is_finished(ms(t0, 100)));
        s.poll_get_begin().unwrap();
        assert_eq!(s.poll_get_take().unwrap(), Bytes::from_static(b"1"));
        assert!(s.is_finished(ms(t0, 100)));
        // Nobody came: the linger ends it.
        let mut s = Session::new(t0, Transport::Polling, cfg());
        s.close_at(CloseReason::ForcedClose, Some(t0));
        assert!(s.is_finished(ms(t0, 500)));
    }

    #[test]
    fn abrupt_close_drops_queue_and_pending_get_gets_close() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::Polling, cfg());
        s.poll_get_begin().unwrap();
        s.send(text("4a")).unwrap();
        s.close(CloseReason::PingTimeout);
        assert_eq!(s.poll_get_take().unwrap(), Bytes::from_static(b"1"));
    }

    #[test]
    fn client_close_packet_releases_pending_get_with_noop() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::Polling, cfg());
        s.poll_get_begin().unwrap();
        s.handle_packet(t0, Packet::Close);
        assert_eq!(s.poll_get_take().unwrap(), Bytes::from_static(b"6"));
        assert!(s.is_finished(t0));
    }

    #[test]
    fn a_request_after_the_heartbeat_deadline_finds_the_session_closed() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::Polling, cfg());
        // v4: nothing is missed before a ping was sent and its pong is late.
        assert!(!s.handle_request_time(ms(t0, 10_000)));
        s.handle_timeout(ms(t0, 300)); // the ping goes out (cfg: 300 ms interval)
        let deadline = s.poll_timeout().unwrap();
        assert!(!s.handle_request_time(deadline - Duration::from_millis(1)));
        // The timer has not fired yet; the request's own time says the pong is late.
        assert!(s.handle_request_time(deadline));
        assert_eq!(s.close_reason(), Some(CloseReason::PingTimeout));
        assert_eq!(s.poll_get_begin(), Err(ErrorCode::UnknownSid));

        let config = SessionConfig {
            protocol: Protocol::V3 { b64: false },
            ..cfg()
        };
        let mut s = Session::new(t0, Transport::Polling, config);
        let deadline = s.poll_timeout().unwrap();
        assert!(!s.handle_request_time(deadline - Duration::from_millis(1)));
        assert!(s.handle_request_time(deadline));
        assert_eq!(s.close_reason(), Some(CloseReason::PingTimeout));
    }

    #[test]
    fn client_close_packet_then_late_get_gets_one_noop() {
        // The close packet's POST was read before the GET the client had sent first.
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::Polling, cfg());
        s.handle_packet(t0, Packet::Close);
        assert!(
            s.is_finished(t0),
            "the close is not held up waiting for that GET"
        );
        s.poll_get_begin().unwrap();
        assert_eq!(s.poll_get_take().unwrap(), Bytes::from_static(b"6"));
        assert!(!s.take_late_noop(), "that GET had its noop");
        assert_eq!(s.poll_get_begin(), Err(ErrorCode::UnknownSid));
    }

    #[test]
    fn late_noop_is_handed_over_once_and_never_with_a_get_pending() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::Polling, cfg());
        s.handle_packet(t0, Packet::Close);
        assert!(s.take_late_noop());
        assert!(!s.take_late_noop());
        // Handed over: a GET still reaching the session is told the sid is unknown (whoever
        // took the debt answers it).
        assert_eq!(s.poll_get_begin(), Err(ErrorCode::UnknownSid));

        let mut s = Session::new(t0, Transport::Polling, cfg());
        s.poll_get_begin().unwrap();
        s.handle_packet(t0, Packet::Close);
        assert!(!s.take_late_noop(), "the pending GET gets the noop itself");
        assert_eq!(s.poll_get_take().unwrap(), Bytes::from_static(b"6"));

        // Only the client's own close is owed a noop.
        let mut s = Session::new(t0, Transport::Polling, cfg());
        s.close(CloseReason::PingTimeout);
        assert!(!s.take_late_noop());
        let mut s = Session::new(t0, Transport::WebSocket, cfg());
        s.handle_packet(t0, Packet::Close);
        assert!(!s.take_late_noop());
    }

    #[test]
    fn v3_heartbeat_is_driven_by_client_pings_and_v3_framing() {
        let t0 = Instant::now();
        let config = SessionConfig {
            protocol: Protocol::V3 { b64: false },
            ..cfg()
        };
        let mut s = Session::new(t0, Transport::Polling, config);
        // No server pings: the deadline is interval + timeout after the handshake.
        assert_eq!(s.poll_timeout(), Some(ms(t0, 500)));
        s.handle_packet(ms(t0, 400), Packet::Ping(Bytes::new()));
        assert_eq!(s.poll_timeout(), Some(ms(t0, 900)));
        s.poll_get_begin().unwrap();
        assert_eq!(s.poll_get_take().unwrap(), Bytes::from_static(b"1:3"));
        s.send(Frame::Binary(Bytes::from_static(&[1, 2]))).unwrap();
        s.poll_get_begin().unwrap();
        // Binary framing: 0x01, length digits as bytes, 0xff, type byte 4, data.
        assert_eq!(
            s.poll_get_take().unwrap(),
            Bytes::from_static(&[1, 3, 255, 4, 1, 2])
        );
        s.handle_timeout(ms(t0, 899));
        assert!(!s.is_closed());
        s.handle_timeout(ms(t0, 900));
        assert_eq!(s.close_reason(), Some(CloseReason::PingTimeout));
        // b64 mode: binary as b4<base64> in the string framing.
        let config = SessionConfig {
            protocol: Protocol::V3 { b64: true },
            ..cfg()
        };
        let mut s = Session::new(t0, Transport::Polling, config);
        s.send(Frame::Binary(Bytes::from_static(&[1, 2]))).unwrap();
        s.poll_get_begin().unwrap();
        assert_eq!(s.poll_get_take().unwrap(), Bytes::from_static(b"6:b4AQI="));
    }

    #[test]
    fn client_close_packet_and_v3_ping() {
        let t0 = Instant::now();
        let v3 = SessionConfig {
            protocol: Protocol::V3 { b64: true },
            ..cfg()
        };
        let mut s = Session::new(t0, Transport::WebSocket, v3);
        s.handle_packet(t0, Packet::Ping(Bytes::from_static(b"x")));
        assert_eq!(s.poll_transmit(), Some(text("3x")));
        s.handle_packet(t0, Packet::Close);
        assert_eq!(s.close_reason(), Some(CloseReason::TransportClose));
        assert_eq!(s.poll_timeout(), None);
        // Closed sessions accept nothing more.
        assert_eq!(
            s.handle_packet(t0, Packet::Message(Bytes::from_static(b"a"))),
            None
        );
    }

    #[test]
    fn a_v4_client_ping_closes_the_session_with_transport_error() {
        let t0 = Instant::now();
        for transport in [Transport::Polling, Transport::WebSocket] {
            let mut s = Session::new(t0, transport, cfg());
            assert_eq!(s.handle_packet(t0, Packet::Ping(Bytes::new())), None);
            assert_eq!(s.close_reason(), Some(CloseReason::TransportError));
            assert_eq!(s.queued_bytes(), 0, "nothing answered");
            assert_eq!(s.poll_transmit(), None);
        }
        // `2probe` on the session's own transport is no probe either.
        let mut s = Session::new(t0, Transport::Polling, cfg());
        s.handle_packet(t0, Packet::Ping(Bytes::from_static(b"probe")));
        assert_eq!(s.close_reason(), Some(CloseReason::TransportError));
    }

    #[test]
    fn a_v3_client_pong_closes_and_its_pings_are_capped() {
        let t0 = Instant::now();
        let v3 = SessionConfig {
            protocol: Protocol::V3 { b64: true },
            ..cfg()
        };
        let mut s = Session::new(t0, Transport::Polling, v3);
        s.handle_packet(t0, Packet::Pong(Bytes::new()));
        assert_eq!(s.close_reason(), Some(CloseReason::TransportError));
        // Pings that are never collected: the pongs fill the cap (64 bytes), then the session
        // closes with `send buffer full` instead of growing.
        let mut s = Session::new(t0, Transport::Polling, v3);
        let mut answered = 0;
        while !s.is_closed() {
            s.handle_packet(t0, Packet::Ping(Bytes::from_static(b"0123456789")));
            answered += 1;
            assert!(answered < 100, "never closed");
            assert!(s.queued_bytes() <= 64);
        }
        assert_eq!(s.close_reason(), Some(CloseReason::BufferFull));
        assert_eq!(answered, 64 / 11 + 1);
    }

    #[test]
    fn a_queue_in_a_burst_gets_its_room_at_once() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::WebSocket, SessionConfig::default());
        let f = text("42[\"b\"]");
        let mut caps = Vec::new();
        for _ in 0..1100 {
            s.send(f.clone()).unwrap();
            if caps.last() != Some(&s.queue.capacity()) {
                caps.push(s.queue.capacity());
            }
        }
        // Doubling up to BURST_FROM, then BURST_ROOM in one step, then doubling again.
        let at_burst = caps.iter().position(|&c| c >= BURST_ROOM).unwrap();
        assert!(
            caps[at_burst - 1] >= BURST_FROM && caps[at_burst - 1] < 2 * BURST_FROM,
            "{caps:?}"
        );
        assert_eq!(caps[at_burst], BURST_ROOM, "{caps:?}");
        assert!(
            caps[..at_burst].windows(2).all(|w| w[1] <= 2 * w[0]),
            "{caps:?}"
        );
        assert!(*caps.last().unwrap() >= 1100);
        // Every frame still leaves, in order, and the room goes back.
        let mut n = 0;
        while s.poll_transmit().is_some() {
            n += 1;
        }
        assert_eq!(n, 1100);
        assert!(s.queue.capacity() <= QUEUE_KEEP);
    }

    #[test]
    fn a_drained_queue_gives_back_what_a_burst_grew() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::WebSocket, SessionConfig::default());
        let frames: Vec<Frame> = (0..1000).map(|_| text("42[\"b\"]")).collect();
        s.send_all(&frames).unwrap();
        assert!(s.queue.capacity() >= 1000);
        let mut n = 0;
        while s.poll_transmit().is_some() {
            n += 1;
        }
        assert!(n >= 1000, "every frame leaves (after the open packet)");
        assert!(
            s.queue.capacity() <= QUEUE_KEEP,
            "capacity {} kept",
            s.queue.capacity()
        );
        assert_eq!(s.queued_bytes(), 0);
    }

    #[test]
    fn drain_transmit_takes_everything_in_order_and_only_for_websocket() {
        let t0 = Instant::now();
        let mut ws = Session::new(t0, Transport::WebSocket, SessionConfig::default());
        let mut polling = Session::new(t0, Transport::Polling, SessionConfig::default());
        let frames = [text("42[\"a\"]"), text("42[\"b\"]")];
        for s in [&mut ws, &mut polling] {
            s.send_all(&frames).unwrap();
            s.send_all(&frames[..1]).unwrap();
        }
        let mut out = Vec::new();
        polling.drain_transmit(&mut out);
        assert!(out.is_empty(), "polling frames wait for a GET");
        assert!(polling.queued_bytes() > 0);
        ws.drain_transmit(&mut out);
        let tail: Vec<_> = out.iter().rev().take(3).rev().cloned().collect();
        assert_eq!(
            tail,
            vec![frames[0].clone(), frames[1].clone(), frames[0].clone()]
        );
        assert_eq!(ws.queued_bytes(), 0);
        assert!(ws.poll_transmit().is_none());
    }

    #[test]
    fn the_queue_and_the_writer_share_one_buffer() {
        let t0 = Instant::now();
        let mut s = Session::new(t0, Transport::WebSocket, SessionConfig::default());
        let mut out = Vec::new();
        for round in 0..3 {
            s.send(text("42[\"a\"]")).unwrap();
            s.send(text("42[\"b\"]")).unwrap();
            let queued = s.queue.as_slices().0.as_ptr();
            s.drain_transmit(&mut out);
            assert_eq!(out, [text("42[\"a\"]"), text("42[\"b\"]")], "round {round}");
            assert_eq!(out.as_ptr(), queued, "handed over, not copied");
            assert_eq!(s.queue.capacity(), 0, "one buffer in all");
            out.clear(); // the writer wrote them
                         // Idle again: the buffer goes back to the queue.
            s.drain_transmit(&mut out);
            assert_eq!(out.capacity(), 0);
            assert!(s.queue.capacity() >= 2);
            assert_eq!(s.queued_bytes(), 0);
        }
        // Frames queued while `out` still holds some are appended after them, in order.
        s.send(text("1")).unwrap();
        s.drain_transmit(&mut out);
        s.send(text("2")).unwrap();
        s.drain_transmit(&mut out);
        assert_eq!(out, [text("1"), text("2")]);
        // Both sides holding a buffer (a writer that kept one): the spare one is freed.
        out.clear();
        s.send(text("3")).unwrap();
        s.drain_transmit(&mut out);
        out.clear();
        s.send(text("4")).unwrap();
        s.queue.clear();
        s.queued_bytes = 0;
        assert!(s.queue.capacity() > 0 && out.capacity() > 0);
        s.drain_transmit(&mut out);
        assert_eq!(out.capacity(), 0);
    }
}
