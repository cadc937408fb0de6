//! A server WebSocket on an upgraded HTTP connection: frames are read with
//! [`portico_proto::ws::Reader`] and written by the driver (see [`super::frame`]).
//!
//! Reading: each read lands in a 4 KiB buffer on the stack and a whole frame is decoded
//! straight from it; only the bytes of a frame that has not arrived whole are kept (capped at
//! `max_payload` plus a header). An idle connection holds no read buffer. A ping is answered
//! with a pong, a close with a close; a protocol error queues the close frame its code calls
//! for and ends the reading.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use portico_proto::ws::{self, Message, Reader, Role, WsError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// The byte stream under the WebSocket: the TCP stream itself when the connection came from
/// Portico's server (`portico::serve` and its siblings) or hyper-util's (`axum::serve`), so
/// reads and writes skip hyper's upgrade wrappers; hyper's `Upgraded` otherwise.
pub(crate) enum Io {
    Tcp(TcpStream),
    /// Boxed: the rarer case, and the larger stream (every idle connection holds an `Io`).
    Upgraded(Box<TokioIo<Upgraded>>),
}

impl Io {
    /// The stream of an upgraded connection, and bytes already read past the HTTP request.
    pub(crate) fn from_upgraded(up: Upgraded) -> (Io, Bytes) {
        use hyper_util::server::conn::auto::upgrade::downcast;
        // Portico's own server (hyper's HTTP/1 connection on a ServerIo).
        let up = match up.downcast::<TokioIo<super::server_io::ServerIo>>() {
            Ok(parts) => {
                let (tcp, unread) = parts.io.into_inner().into_parts();
                let read = if unread.is_empty() {
                    parts.read_buf
                } else {
                    // hyper read these bytes first: they come before what it did not read.
                    let mut all = bytes::BytesMut::from(parts.read_buf);
                    all.extend_from_slice(&unread);
                    all.freeze()
                };
                return (Io::Tcp(tcp), read);
            }
            Err(up) => up,
        };
        match downcast::<TokioIo<TcpStream>>(up) {
            Ok(parts) => (Io::Tcp(parts.io.into_inner()), parts.read_buf),
            Err(up) => (Io::Upgraded(Box::new(TokioIo::new(up))), Bytes::new()),
        }
    }
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Io::Upgraded(u) => Pin::new(&mut **u).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Io::Upgraded(u) => Pin::new(&mut **u).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Upgraded(u) => Pin::new(&mut **u).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Io::Tcp(s) => s.is_write_vectored(),
            Io::Upgraded(u) => u.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_flush(cx),
            Io::Upgraded(u) => Pin::new(&mut **u).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Io::Upgraded(u) => Pin::new(&mut **u).poll_shutdown(cx),
        }
    }
}

/// Bytes read from the socket at a time (on the stack).
const READ_CHUNK: usize = 4096;
/// How long a close may take to write before the connection is simply dropped.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Why reading ended with an error.
#[derive(Debug)]
pub(crate) enum ReadError {
    Io(io::Error),
    Protocol(WsError),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "i/o: {e}"),
            ReadError::Protocol(e) => write!(f, "websocket protocol: {e}"),
        }
    }
}

/// One server-side WebSocket.
pub(crate) struct WsConn {
    io: Io,
    /// Bounds the time a write may wait for the peer to read (see [`Writer`]).
    stall: Stall,
    reader: Reader,
    /// Control frames (pong, close) to write before anything else, after the `101` when
    /// that leaves with the first frame (see [`WsConn::on`]).
    control: Vec<u8>,
    /// Where the pong not yet written starts in `control`, if one is: a newer ping replaces
    /// it (RFC 6455 section 5.5.3 lets an endpoint answer only the most recent ping), so a
    /// ping flood that outruns the writes keeps one pong, not one per ping. (`control` holds
    /// at most a pong and a close, far below `u32::MAX` bytes.)
    pong_at: Option<u32>,
    /// No more messages will be read (close frame, end of stream or error).
    read_done: bool,
    /// A close frame was queued or written.
    close_sent: bool,
    /// The peer sends nothing more: its close frame came (RFC 6455 section 5.5.1: no frame
    /// follows it), or its end of the stream, or the stream failed.
    peer_done: bool,
    /// What [`WsConn::next_buffered_data`] decoded and left for [`WsConn::poll_next`]
    /// (rarely: boxed, as every idle connection holds a `WsConn`).
    held: Option<Box<Result<Message, WsError>>>,
}

impl WsConn {
    /// A WebSocket on an upgraded connection that refuses messages over `max_message` bytes
    /// and gives up a write that waits more than `max_stall` for the peer to read.
    pub(crate) fn new(up: Upgraded, max_message: usize, max_stall: Duration) -> Self {
        let (io, initial) = Io::from_upgraded(up);
        WsConn::on(io, &initial, Vec::new(), max_message, max_stall)
    }

    /// [`WsConn::new`] on a stream, with `initial`, the bytes read past the request (the first
    /// frames, when the client sent them at once), and `unwritten`, the `101`'s bytes when they
    /// are to leave ahead of the first frame, in the same write (empty when the `101` is
    /// written: see [`crate::http::Leaves`]). They are queued as control frames are, which
    /// leave before any other (and with a close frame, when the session ends first).
    pub(crate) fn on(
        io: Io,
        initial: &[u8],
        unwritten: Vec<u8>,
        max_message: usize,
        max_stall: Duration,
    ) -> Self {
        WsConn {
            io,
            stall: Stall {
                // Whole milliseconds, rounded up (at most 49 days).
                limit_ms: u32::try_from(max_stall.as_micros().div_ceil(1000)).unwrap_or(u32::MAX),
                timer: None,
                armed: false,
            },
            reader: Reader::new(Role::Server, max_message).with_initial(initial),
            control: unwritten,
            pong_at: None,
            read_done: false,
            close_sent: false,
            peer_done: false,
            held: None,
        }
    }

    /// The next text or binary message (pings are answered, pongs skipped); `None` once the
    /// peer closed or the stream ended.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Message, ReadError>>> {
        loop {
            if self.read_done {
                return Poll::Ready(None);
            }
            // What `next_buffered_data` left comes first.
            let buffered = match self.held.take() {
                Some(held) => (*held).map(Some),
                None => self.reader.next_buffered(),
            };
            let decoded = match buffered {
                Ok(Some(m)) => Ok(Some(m)),
                Ok(None) => {
                    let mut stack = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
                    let mut buf = ReadBuf::uninit(&mut stack);
                    if let Err(e) = ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf)) {
                        self.read_done = true;
                        self.peer_done = true;
                        return Poll::Ready(Some(Err(ReadError::Io(e))));
                    }
                    if buf.filled().is_empty() {
                        self.read_done = true;
                        self.peer_done = true;
                        return Poll::Ready(None);
                    }
                    self.reader.next_from(buf.filled())
                }
                Err(e) => Err(e),
            };
            match decoded {
                Ok(Some(m)) => {
                    if let Some(out) = self.on_message(m) {
                        return Poll::Ready(out);
                    }
                }
                Ok(None) => {}
                Err(e) => return Poll::Ready(Some(Err(self.fail(e)))),
            }
        }
    }

    /// The next text or binary message already decoded from earlier reads, without reading
    /// and without acting on anything else: a control frame or an error met on the way is held
    /// for [`WsConn::poll_next`], so that a close is answered only after the messages before it
    /// (and what they queued) were handled and written.
    pub(crate) fn next_buffered_data(&mut self) -> Option<Message> {
        if self.read_done || self.held.is_some() {
            return None;
        }
        match self.reader.next_buffered() {
            Ok(Some(m @ (Message::Text(_) | Message::Binary(_)))) => Some(m),
            Ok(Some(other)) => {
                self.held = Some(Box::new(Ok(other)));
                None
            }
            Ok(None) => None,
            Err(e) => {
                self.held = Some(Box::new(Err(e)));
                None
            }
        }
    }

    /// What a decoded message means for the reader: `Some` to hand it (or the end) out.
    fn on_message(&mut self, m: Message) -> Option<Option<Result<Message, ReadError>>> {
        match m {
            Message::Text(_) | Message::Binary(_) => Some(Some(Ok(m))),
            Message::Ping(payload) => {
                if !self.close_sent {
                    // A close is queued only with `close_sent`, so a pending pong is last.
                    if let Some(at) = self.pong_at {
                        self.control.truncate(at as usize);
                    }
                    self.pong_at = u32::try_from(self.control.len()).ok();
                    self.control
                        .extend(ws::control_frame(ws::PONG, &payload, None));
                }
                // Handed out so that the driver writes the pong now.
                Some(Some(Ok(Message::Ping(payload))))
            }
            Message::Pong(_) => None,
            Message::Close(frame) => {
                // Answer with the peer's code (RFC 6455 section 5.5.1).
                let code = frame.map_or(ws::CLOSE_NORMAL, |f| f.code);
                self.queue_close(code, "");
                self.read_done = true;
                self.peer_done = true;
                Some(None)
            }
        }
    }

    fn fail(&mut self, e: WsError) -> ReadError {
        self.queue_close(e.close_code(), &e.to_string());
        self.read_done = true;
        self.reader.clear();
        ReadError::Protocol(e)
    }

    fn queue_close(&mut self, code: u16, reason: &str) {
        if !self.close_sent {
            self.close_sent = true;
            self.control.extend(ws::control_frame(
                ws::CLOSE,
                &ws::close_payload(code, reason),
                None,
            ));
        }
    }

    /// The stream, for writing frames: a write that waits longer than the connection's
    /// `max_stall` for the peer to read fails (see [`Writer`]).
    pub(crate) fn io(&mut self) -> Writer<'_> {
        Writer {
            io: &mut self.io,
            stall: &mut self.stall,
        }
    }

    /// Write queued control frames (pongs, a close reply).
    pub(crate) async fn write_control(&mut self) -> io::Result<()> {
        if self.control.is_empty() {
            return Ok(());
        }
        let control = self.take_control();
        self.io().write_all(&control).await
    }

    /// The queued control frames, taken to be written ahead of the frames of the same write.
    pub(crate) fn take_control(&mut self) -> Vec<u8> {
        self.pong_at = None;
        std::mem::take(&mut self.control)
    }

    /// Control frames are waiting to be written.
    pub(crate) fn has_control(&self) -> bool {
        !self.control.is_empty()
    }

    /// Bytes of the control frames waiting to be written.
    pub(crate) fn control_len(&self) -> usize {
        self.control.len()
    }

    /// Whether the peer's close frame is among the bytes read and not decoded yet (the
    /// messages before it are dropped: the connection is closing).
    fn close_buffered(&mut self) -> bool {
        if let Some(held) = self.held.take() {
            if matches!(*held, Ok(Message::Close(_))) {
                return true;
            }
        }
        while let Ok(Some(m)) = self.reader.next_buffered() {
            if matches!(m, Message::Close(_)) {
                return true;
            }
        }
        false
    }

    /// Close: send a close frame with `code` and `reason` (unless one was sent), end the
    /// stream and wait for the peer's end; bounded in time, so a peer that stopped reading
    /// cannot hold the driver.
    ///
    /// When the peer is done already (its close frame came, even if not yet decoded, or its
    /// end of the stream), nothing can follow on the stream: once the close frame is written,
    /// a TCP stream is dropped at once, which closes it with a FIN (no unread bytes, so no
    /// reset), the server first, as RFC 6455 section 7.1.1 asks. No shutdown, no wait for the
    /// peer's end, and no timer: the write completes in its first poll unless the peer stopped
    /// reading. (A client that closes, the usual end of a session, costs three system calls
    /// and a wake-up less.)
    pub(crate) async fn close(&mut self, code: u16, reason: &str) {
        self.queue_close(code, reason);
        let peer_done = self.peer_done || self.close_buffered();
        let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, async {
            self.write_control().await?;
            self.io.flush().await?;
            if peer_done && matches!(self.io, Io::Tcp(_)) {
                return Ok(());
            }
            self.io.shutdown().await?;
            if peer_done {
                return Ok(());
            }
            // Read (and drop) what the client still sends until it closes too: closing a socket
            // with unread bytes resets the connection, and the client would lose the close
            // frame and its reason (a client closed for sending too fast has sent more).
            let mut sink = vec![0u8; 1024];
            while self.io.read(&mut sink).await? > 0 {}
            Ok::<(), io::Error>(())
        })
        .await;
    }
}

/// The time a write may wait for the peer to read.
struct Stall {
    /// The bound, in milliseconds (kept small: every idle connection holds a `Stall`).
    limit_ms: u32,
    /// Made on the first write that has to wait, then re-armed: a connection whose writes
    /// never wait (the usual case) never touches the timer wheel.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The timer runs for the write waiting now.
    armed: bool,
}

impl Stall {
    /// A write made progress (or finished): the next wait starts a new bound.
    fn progress(&mut self) {
        self.armed = false;
    }

    /// A write has to wait: `Ready(Err)` once it has waited `limit` since it first could not
    /// proceed, with no progress in between.
    fn poll_wait<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        if !self.armed {
            let limit = Duration::from_millis(u64::from(self.limit_ms));
            let deadline = tokio::time::Instant::now() + limit;
            match self.timer.as_mut() {
                Some(t) => t.as_mut().reset(deadline),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
            self.armed = true;
        }
        let expired = self
            .timer
            .as_mut()
            .is_some_and(|t| std::future::Future::poll(t.as_mut(), cx).is_ready());
        if !expired {
            return Poll::Pending;
        }
        self.armed = false;
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the peer stopped reading",
        )))
    }
}

/// The write half of a [`WsConn`]: its stream, with a bound on how long a write may wait for
/// the peer to read. Without it, a client that stops reading (and floods pings, or lets the
/// server's messages pile up) would hold its driver in a write forever: no heartbeat, no
/// close, no clean-up. Past the bound the write fails and the session closes with
/// `transport error`.
pub(crate) struct Writer<'a> {
    io: &'a mut Io,
    stall: &'a mut Stall,
}

impl Writer<'_> {
    fn done<T>(&mut self, r: Poll<io::Result<T>>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match r {
            Poll::Ready(r) => {
                self.stall.progress();
                Poll::Ready(r)
            }
            Poll::Pending => self.stall.poll_wait(cx),
        }
    }
}

impl AsyncWrite for Writer<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut *this.io).poll_write(cx, buf);
        this.done(r, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut *this.io).poll_write_vectored(cx, bufs);
        this.done(r, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut *this.io).poll_flush(cx);
        this.done(r, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().io).poll_shutdown(cx)
    }
}
