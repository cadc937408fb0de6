//! The TCP stream of a connection accepted by [`crate::serve`] and its siblings, marking when
//! request bytes arrived that no response has answered yet: when hyper's header read timeout
//! closes the connection, that mark tells a client that stalled in the middle of a request
//! head (a refusal, counted and logged) from an idle keep-alive connection (closed quietly).
//!
//! A WebSocket upgrade takes the bare [`TcpStream`] back out ([`super::stream::Io`]), so the
//! mark costs nothing per WebSocket read.
//!
//! The `101 Switching Protocols` of a new WebSocket session is held back
//! ([`Unanswered::hold_next_head`]) and handed over with the stream: the session's open packet
//! follows it at once, and both leave in one write ([`poll_write_after`]) instead of two, a
//! system call and a TCP segment less per handshake.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A [`TcpStream`] that sets its [`Unanswered`] mark on each read that brings bytes, after
/// giving out the bytes read before hyper took the connection.
#[derive(Debug)]
pub(crate) struct ServerIo {
    pub(crate) io: TcpStream,
    /// Bytes read from `io` before hyper took it (the server's first read): read first.
    first: Bytes,
    unanswered: Unanswered,
    /// A response head held back (see [`Unanswered::hold_next_head`]): written before anything
    /// else, with it.
    held: Vec<u8>,
}

/// Bytes came in since the last response: set by each read, cleared when a response is ready.
/// And whether the next response head is to be held back.
#[derive(Debug, Clone, Default)]
pub(crate) struct Unanswered(Arc<Marks>);

#[derive(Debug, Default)]
struct Marks {
    unanswered: AtomicBool,
    hold_head: AtomicBool,
}

impl Unanswered {
    /// A response is ready: what was read so far is answered.
    pub(crate) fn answered(&self) {
        self.0.unanswered.store(false, Ordering::Relaxed);
    }

    /// Bytes came in that no response answered yet.
    pub(crate) fn is_set(&self) -> bool {
        self.0.unanswered.load(Ordering::Relaxed)
    }

    /// The next write (the head of the response just made: a new WebSocket session's `101`)
    /// is kept instead of sent, and leaves with the first bytes written after it: the session's
    /// open packet. Only for a response after which the server writes at once (a `101` after
    /// which the server waits for the client, as a polling session's probe does, would wait
    /// forever).
    pub(crate) fn hold_next_head(&self) {
        self.0.hold_head.store(true, Ordering::Relaxed);
    }
}

impl ServerIo {
    /// `first`: bytes already read from `io`, the start of what the client sent.
    pub(crate) fn new(io: TcpStream, first: Bytes) -> (ServerIo, Unanswered) {
        let unanswered = Unanswered::default();
        if !first.is_empty() {
            unanswered.0.unanswered.store(true, Ordering::Relaxed);
        }
        (
            ServerIo {
                io,
                first,
                unanswered: unanswered.clone(),
                held: Vec::new(),
            },
            unanswered,
        )
    }

    /// The stream, the bytes read before hyper took it that hyper has not read yet (none,
    /// unless hyper read less than one read brought), and a held response head not yet
    /// written (to write before anything else).
    pub(crate) fn into_parts(self) -> (TcpStream, Bytes, Vec<u8>) {
        (self.io, self.first, self.held)
    }

    /// Keep `bufs` instead of writing them if the head is to be held.
    fn hold(&mut self, bufs: &[io::IoSlice<'_>]) -> Option<usize> {
        // A load first: the store (and its cache line) only on the one write that holds.
        let hold = &self.unanswered.0.hold_head;
        if !hold.load(Ordering::Relaxed) {
            return None;
        }
        hold.store(false, Ordering::Relaxed);
        for b in bufs {
            self.held.extend_from_slice(b);
        }
        Some(bufs.iter().map(|b| b.len()).sum())
    }
}

/// Write `prefix` (bytes held back) and then `bufs` in one vectored write when the socket
/// takes both; `Ok(n)` counts only the bytes of `bufs`, as a write of `bufs` alone would.
/// `prefix` is emptied (and its memory freed) once written.
pub(crate) fn poll_write_after(
    io: &mut TcpStream,
    prefix: &mut Vec<u8>,
    cx: &mut Context<'_>,
    bufs: &[io::IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    while !prefix.is_empty() {
        let mut all = [io::IoSlice::new(&[]); 4];
        all[0] = io::IoSlice::new(prefix);
        let k = bufs.len().min(all.len() - 1);
        all[1..=k].copy_from_slice(&bufs[..k]);
        let n = match Pin::new(&mut *io).poll_write_vectored(cx, &all[..=k]) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(n)) => n,
            other => return other,
        };
        if n < prefix.len() {
            prefix.drain(..n);
            continue;
        }
        let of_bufs = n - prefix.len();
        *prefix = Vec::new();
        if of_bufs > 0 || bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(of_bufs));
        }
    }
    Pin::new(io).poll_write_vectored(cx, bufs)
}

/// Write what is left of `prefix`; ready once it is all written.
pub(crate) fn poll_write_prefix(
    io: &mut TcpStream,
    prefix: &mut Vec<u8>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    while !prefix.is_empty() {
        match Pin::new(&mut *io).poll_write(cx, prefix) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(n)) if n >= prefix.len() => *prefix = Vec::new(),
            Poll::Ready(Ok(n)) => {
                prefix.drain(..n);
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    }
    Poll::Ready(Ok(()))
}

impl AsyncRead for ServerIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if !me.first.is_empty() {
            let n = me.first.len().min(buf.remaining());
            buf.put_slice(&me.first.split_to(n));
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let res = Pin::new(&mut me.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            me.unanswered.0.unanswered.store(true, Ordering::Relaxed);
        }
        res
    }
}

impl AsyncWrite for ServerIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        let bufs = [io::IoSlice::new(buf)];
        if let Some(n) = me.hold(&bufs) {
            return Poll::Ready(Ok(n));
        }
        if me.held.is_empty() {
            return Pin::new(&mut me.io).poll_write(cx, buf);
        }
        poll_write_after(&mut me.io, &mut me.held, cx, &bufs)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        if let Some(n) = me.hold(bufs) {
            return Poll::Ready(Ok(n));
        }
        poll_write_after(&mut me.io, &mut me.held, cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    /// A held head stays held (hyper flushes the `101` before handing the stream over): it
    /// leaves with the next write, or at shutdown.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        std::task::ready!(poll_write_prefix(&mut me.io, &mut me.held, cx))?;
        Pin::new(&mut me.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
    use super::*;
    use crate::engine::ws::stream::Io;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A connected pair on loopback: (the server's end, the client's end).
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        (accepted.unwrap().0, client.unwrap())
    }

    const HEAD: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
    const OPEN: &[u8] = b"\x81\x020x";

    #[tokio::test]
    async fn a_held_head_is_not_sent_and_leaves_with_the_first_frame() {
        let (server, mut client) = pair().await;
        let (mut io, marks) = ServerIo::new(server, Bytes::new());
        marks.hold_next_head();
        // hyper writes the head (vectored, in two parts here) and flushes it.
        let parts = [io::IoSlice::new(&HEAD[..10]), io::IoSlice::new(&HEAD[10..])];
        assert_eq!(io.write_vectored(&parts).await.unwrap(), HEAD.len());
        io.flush().await.unwrap();
        let (tcp, unread, held) = io.into_parts();
        assert!(unread.is_empty());
        assert_eq!(held, HEAD, "the head was kept, not written");
        let mut ws = Io::Held(Box::new((tcp, held)));
        // The first frame: its own length is what the write reports.
        assert_eq!(ws.write(OPEN).await.unwrap(), OPEN.len());
        assert!(
            matches!(ws, Io::Tcp(_)),
            "the box is freed once the head is out"
        );
        ws.write_all(b"next").await.unwrap();
        ws.shutdown().await.unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, [HEAD, OPEN, b"next"].concat());
    }

    #[tokio::test]
    async fn only_the_next_write_is_held_and_a_shutdown_sends_what_is_held() {
        let (server, mut client) = pair().await;
        let (mut io, marks) = ServerIo::new(server, Bytes::new());
        // Without the mark, writes go out as they come.
        io.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        let mut first = [0u8; 19];
        client.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200 OK\r\n\r\n");
        marks.hold_next_head();
        assert_eq!(io.write(HEAD).await.unwrap(), HEAD.len());
        // The write after the held one carries it.
        io.write_all(b"after").await.unwrap();
        let (tcp, _, held) = io.into_parts();
        assert!(held.is_empty(), "written with the next write");
        drop(tcp);
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, [HEAD, b"after"].concat());

        // A WebSocket that ends before writing anything still sends the 101 first.
        let (server, mut client) = pair().await;
        let mut ws = Io::Held(Box::new((server, HEAD.to_vec())));
        ws.shutdown().await.unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, HEAD);
    }
}
