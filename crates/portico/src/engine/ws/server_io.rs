//! The TCP stream of a connection accepted by [`crate::serve`] and its siblings, marking when
//! request bytes arrived that no response has answered yet: when hyper's header read timeout
//! closes the connection, that mark tells a client that stalled in the middle of a request
//! head (a refusal, counted and logged) from an idle keep-alive connection (closed quietly).
//!
//! A WebSocket upgrade takes the bare [`TcpStream`] back out ([`super::stream::Io`]), so the
//! mark costs nothing per WebSocket read.

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
}

/// Bytes came in since the last response: set by each read, cleared when a response is ready.
#[derive(Debug, Clone, Default)]
pub(crate) struct Unanswered(Arc<AtomicBool>);

impl Unanswered {
    /// A response is ready: what was read so far is answered.
    pub(crate) fn answered(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    /// Bytes came in that no response answered yet.
    pub(crate) fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl ServerIo {
    /// `first`: bytes already read from `io`, the start of what the client sent.
    pub(crate) fn new(io: TcpStream, first: Bytes) -> (ServerIo, Unanswered) {
        let unanswered = Unanswered::default();
        if !first.is_empty() {
            unanswered.0.store(true, Ordering::Relaxed);
        }
        (
            ServerIo {
                io,
                first,
                unanswered: unanswered.clone(),
            },
            unanswered,
        )
    }

    /// The stream, and the bytes read before hyper took it that hyper has not read yet
    /// (none, unless hyper read less than one read brought).
    pub(crate) fn into_parts(self) -> (TcpStream, Bytes) {
        (self.io, self.first)
    }
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
            me.unanswered.0.store(true, Ordering::Relaxed);
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
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
