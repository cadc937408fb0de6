//! Running a [`Server`] standalone on hyper.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpSocket, TcpStream, ToSocketAddrs};

use crate::engine::ws::server_io::ServerIo;
use crate::engine::ws::upgrade::{offer_probe, Handed, Start};
use crate::h1::{self, Served};
use crate::handshake::PeerAddr;
use crate::on_wake::OnWake;
use crate::refusal::Reason;
use crate::Server;

/// Listen backlog: tokio's default of 128 overflows under handshake bursts, and each
/// overflow costs the client a 1 s SYN retry.
const BACKLOG: u32 = 1024;

/// The least time in-flight HTTP requests get after the sessions are closed, even when the
/// session drain used up `shutdown_timeout`: a polling client's GET fetching its close packet.
const HTTP_DRAIN_MIN: Duration = Duration::from_millis(500);

/// The largest HTTP/1 request head (request line and headers) read, in bytes: past it the
/// client gets `431 Request Header Fields Too Large`. hyper's default (~400 KB) would let each
/// slow client hold that much until the header read timeout; browsers send a few KB.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Bind a listener the way Portico wants it: `SO_REUSEADDR` and a backlog of 1024.
pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
    let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to bind");
    for a in tokio::net::lookup_host(addr).await? {
        let socket = if a.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(a).and_then(|()| socket.listen(BACKLOG)) {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Serve `io` on `addr` until Ctrl-C (SIGINT) or SIGTERM, then shut down gracefully (see
/// [`serve_with_shutdown`]) and return `Ok(())`.
///
/// Logs a `listening on` line at startup. When no `tracing` subscriber is set, it installs
/// one that prints to stderr: `RUST_LOG` chooses what (default `portico=info`;
/// `RUST_LOG=portico=debug` shows each connection's life), colours only on a terminal
/// without `NO_COLOR`. Set your own subscriber before calling it to log your way.
pub async fn serve(addr: impl ToSocketAddrs, io: Server) -> io::Result<()> {
    crate::logging::init_default();
    let listener = bind(addr).await?;
    serve_with_shutdown(listener, io, shutdown_signal()).await
}

/// Completes when the process receives Ctrl-C (SIGINT) or, on Unix, SIGTERM (what
/// `docker stop`, systemd and Kubernetes send). Pass it to [`serve_with_shutdown`] or
/// [`serve_app`].
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received: shutting down gracefully"),
        () = term => tracing::info!("SIGTERM received: shutting down gracefully"),
    }
}

/// Serve `io` on `listener` until `shutdown` completes, then shut down gracefully and return:
///
/// 1. new sessions are refused (503) while the listener still accepts, so that polling
///    clients can fetch their close packet;
/// 2. [`Server::shutdown`]: connections with no pending acknowledgement are closed at once
///    (clients see `transport close` and reconnect), the others once their acknowledgements
///    are settled, all within [`ServerConfig::shutdown_timeout`](crate::ServerConfig)
///    (default 10 s);
/// 3. the listener is closed and in-flight HTTP requests finish (until the same deadline,
///    and at least 0.5 s);
/// 4. one log line says what was closed.
///
/// Logs (and installs a default subscriber) as [`serve`] does.
pub async fn serve_with_shutdown(
    listener: TcpListener,
    io: Server,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let app = io.service();
    serve_inner(listener, io, app, true, shutdown).await
}

/// Like [`serve_with_shutdown`], for an application that contains Portico (an axum
/// `Router` with [`Server::layer`], say): `app` answers every request, `io` is closed
/// gracefully on shutdown. Each request carries a [`PeerAddr`] extension.
///
/// ```no_run
/// use axum::routing::get;
/// # async fn run() -> anyhow::Result<()> {
/// let io = portico::Server::builder().build()?;
/// let app = axum::Router::new()
///     .route("/health", get(|| async { "ok" }))
///     .layer(io.layer()); // Socket.IO under /socket.io/, the rest to axum
/// let listener = portico::bind(("127.0.0.1", 3000)).await?;
/// portico::serve_app(listener, io, app, portico::shutdown_signal()).await?;
/// # Ok(()) }
/// ```
pub async fn serve_app<S, B>(
    listener: TcpListener,
    io: Server,
    app: S,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()>
where
    S: tower_service::Service<hyper::Request<hyper::body::Incoming>, Response = hyper::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    serve_inner(listener, io, app, false, shutdown).await
}

/// [`serve_app`], and with `fast` (when `app` is Portico's own service: `io.service()`) Engine.IO's plain
/// HTTP/1.1 requests answered by [`crate::h1`] instead of hyper.
async fn serve_inner<S, B>(
    listener: TcpListener,
    io: Server,
    app: S,
    fast: bool,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()>
where
    S: App<B>,
    B: ResBody,
{
    crate::logging::init_default();
    let inherits_nodelay = nodelay_on_listener(&listener);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            "listening on http://{addr}{} (origin policy: {})",
            io.config().path,
            io.config().origins.describe()
        );
    }
    // Tells connections that the server stops: those still waiting for their first request
    // end, the others shut down gracefully (keep-alive ends after the response in flight).
    // Each connection holds a receiver, so the receivers still open are the connections.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // A client that does not finish its request head in time is disconnected (hyper applies
    // no timeout without a timer); more than 100 headers, or a head over MAX_HEAD_BYTES, get
    // 431 (hyper's checks, before any of it reaches Portico).
    let mut h1 = http1::Builder::new();
    h1.timer(TokioTimer::new())
        .header_read_timeout(io.config().header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    let mut h2 = http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new());
    // What every connection needs from the server, shared: one reference per connection.
    let shared = Arc::new(Shared {
        app: std::sync::Mutex::new(app),
        h1,
        h2,
        io: io.clone(),
    });
    tokio::pin!(shutdown);
    // Once the signal comes, the Socket.IO connections are closed while the listener keeps
    // accepting: a polling client opens a new HTTP connection for each poll, and must be able
    // to fetch its close packet (new handshakes get 503 meanwhile).
    let closing = io.clone();
    let timeout = io.config().shutdown_timeout;
    let closed = async move {
        shutdown.await;
        let started = tokio::time::Instant::now();
        (started, closing.shutdown(timeout).await)
    };
    tokio::pin!(closed);
    // Polled only when the shutdown signal wakes the loop, not at every accepted connection
    // (see `on_wake`); first, so that a flood of connections cannot hold the shutdown off.
    let mut closed = OnWake::new(closed);
    let (started, report) = loop {
        let (stream, peer) = tokio::select! {
            biased;
            done = &mut closed => break done,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving the others.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        nodelay(&stream, inherits_nodelay);
        // Boxed: tokio moves a spawned future by value through its spawn and again into its
        // task, several copies of its ~600 bytes; a box is written once (`bench/profile
        // connect-websocket`: 726 instructions fewer per handshake).
        tokio::spawn(Box::pin(connection(
            stream,
            peer,
            shared.clone(),
            stop_rx.clone(),
            fast,
        )));
    };
    let _ = stop_tx.send(true);
    drop(stop_rx);
    drop(listener);
    drop(io);
    let http_open = stop_tx.receiver_count();
    let http_deadline = (started + timeout).max(tokio::time::Instant::now() + HTTP_DRAIN_MIN);
    let http_cut = tokio::time::timeout_at(http_deadline, stop_tx.closed())
        .await
        .is_err();
    let elapsed = started.elapsed();
    let cut = if http_cut {
        ", some cut at the deadline"
    } else {
        ""
    };
    tracing::info!(
        "shutdown complete in {elapsed:.1?}: closed {} sessions ({} after their pending \
         acknowledgements, {} left open) and {http_open} HTTP connections{cut}",
        report.sessions,
        report.waited_for_acks,
        report.left_open,
    );
    Ok(())
}

/// A body hyper can send for an application's response.
trait ResBody: http_body::Body<Data: Send, Error: Into<BoxError>> + Send + 'static {}

impl<T> ResBody for T where T: http_body::Body<Data: Send, Error: Into<BoxError>> + Send + 'static {}

/// An application hyper can serve: what `serve_app` takes.
trait App<B: ResBody>:
    tower_service::Service<
        hyper::Request<hyper::body::Incoming>,
        Response = hyper::Response<B>,
        Future: Send + 'static,
        Error: Into<BoxError>,
    > + Clone
    + Send
    + 'static
{
}

impl<S, B: ResBody> App<B> for S where
    S: tower_service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = hyper::Response<B>,
            Future: Send + 'static,
            Error: Into<BoxError>,
        > + Clone
        + Send
        + 'static
{
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What every connection of a server needs from it.
struct Shared<S> {
    /// Cloned for each connection hyper serves. In a lock so that `S` need not be `Sync` (the
    /// bound `serve_app` has always had).
    app: std::sync::Mutex<S>,
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
    io: Server,
}

/// One connection, from its first bytes to its end: Portico's own HTTP/1 while it takes the
/// requests, hyper for the rest, and a WebSocket's session (its driver, or the probe of a
/// polling session's upgrade) in this same task once a request is answered `101`.
///
/// The future is what an idle WebSocket connection holds (in a box, beside its task), so
/// the HTTP handling ([`http_connection`]: about 4.4 KiB, most of it the request handling
/// `h1::serve` holds while a request is answered) is boxed apart, made before the task runs
/// (all the future keeps of it is the box), and let go before the WebSocket runs.
/// `tests::the_connection_future_stays_small` holds it to that.
fn connection<S, B>(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared<S>>,
    stopping: tokio::sync::watch::Receiver<bool>,
    fast: bool,
) -> impl Future<Output = ()> + Send
where
    S: App<B>,
    B: ResBody,
{
    let http = Box::pin(http_connection(stream, peer, shared, stopping, fast));
    async move {
        // The box is let go here, once the HTTP part is done.
        let Some((handed, start)) = { http }.await else {
            return;
        };
        match start {
            Start::Session(session) => session.run(handed).await,
            // Boxed: a short wait, and the driver is the state to keep small.
            Start::Probe(conn) => Box::pin(offer_probe(conn, handed)).await,
        }
    }
}

/// A connection's HTTP part: Portico's own HTTP/1 while it takes the requests, then hyper.
/// Ends with what is to run on the connection when a request was answered `101` by Portico's
/// own HTTP/1. (hyper's upgrades run in tasks of their own.) Its `stopping` is let go with
/// it: a WebSocket is no longer an HTTP connection a shutdown waits for (the shutdown closes
/// its session).
async fn http_connection<S, B>(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared<S>>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
    fast: bool,
) -> Option<(Handed, Start)>
where
    S: App<B>,
    B: ResBody,
{
    let head_timeout = shared.io.config().header_read_timeout;
    let first = tokio::select! {
        first = first_bytes(&stream, head_timeout) => first,
        _ = stopping.changed() => return None,
    };
    let Some(first) = first else {
        tracing::debug!(client = %peer, "connection closed before it sent a request (or not within header_read_timeout)");
        return None;
    };
    let is_h2 = first.starts_with(H2_PREFACE);
    let (stream, first) = if fast && !is_h2 {
        let path = shared.io.config().path.as_str();
        let served = h1::serve(
            stream,
            first,
            peer,
            &shared.io,
            path,
            head_timeout,
            &mut stopping,
        );
        match served.await {
            Served::Closed => return None,
            Served::WebSocket(handed, start) => return Some((handed, start)),
            Served::ToHyper(stream, rest) => (stream, rest),
        }
    } else {
        (stream, first.freeze())
    };
    hyper_connection(&shared, stream, first, peer, is_h2, stopping).await;
    None
}

/// A connection hyper serves (HTTP/2, or from a request `h1::serve` does not take), from its
/// first bytes, `first`.
async fn hyper_connection<S, B>(
    shared: &Shared<S>,
    stream: TcpStream,
    first: bytes::Bytes,
    peer: SocketAddr,
    is_h2: bool,
    stopping: tokio::sync::watch::Receiver<bool>,
) where
    S: App<B>,
    B: ResBody,
{
    let head_timeout = shared.io.config().header_read_timeout;
    let (stream, unanswered) = ServerIo::new(stream, first);
    let answered = unanswered.clone();
    let svc = shared.app.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(PeerAddr(peer));
            let mut svc = svc.clone();
            let fut = tower_service::Service::call(&mut svc, req);
            let answered = answered.clone();
            async move {
                let res = fut.await;
                answered.answered();
                res
            }
        });
    let served = if is_h2 {
        let conn = shared.h2.serve_connection(TokioIo::new(stream), service);
        until_stopped(conn, stopping).await
    } else {
        let conn = shared
            .h1
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        until_stopped(conn, stopping).await
    };
    if let Err(e) = served {
        // A timeout with nothing unanswered is an idle keep-alive connection closed.
        let stalled = unanswered.is_set() && e.is_timeout();
        if !stalled {
            tracing::trace!(error = %e, "connection ended with an error");
        } else if shared.io.0.engine.refusals.record(Reason::HeaderTimeout) {
            tracing::warn!(
                client = %peer,
                refusal = Reason::HeaderTimeout.as_str(),
                "request headers not received within header_read_timeout ({head_timeout:?}): connection closed"
            );
        }
    }
}

/// The first bytes of an HTTP/2 connection with prior knowledge.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The most read before the connection is handed to hyper (which reads the rest of the
/// request itself, from the same stream).
const FIRST_READ: usize = 4096;

/// Read the first bytes of a connection, within `timeout`: all 24 of an HTTP/2 preface
/// when that is how it starts (to tell HTTP/2 from HTTP/1), else whatever the first read
/// brings. `None` on timeout, end of stream or error.
///
/// One read where hyper-util's protocol detection cost three system calls (a peek that kept
/// the header timeout, a read of 24 bytes, then hyper's read of the rest); hyper's own header
/// read timeout starts once these bytes are in, as before.
async fn first_bytes(stream: &TcpStream, timeout: Duration) -> Option<BytesMut> {
    tokio::time::timeout(timeout, next_bytes(stream, BytesMut::new()))
        .await
        .ok()
        .flatten()
}

/// What [`first_bytes`] reads, with no timeout, into `buf` (empty; its room is reused when it
/// has at least 1 KiB, else made [`FIRST_READ`]).
pub(crate) async fn next_bytes(stream: &TcpStream, mut buf: BytesMut) -> Option<BytesMut> {
    if buf.capacity() - buf.len() < 1024 {
        buf.reserve(FIRST_READ);
    }
    loop {
        // The reader slot, as in `h1::serve` (cheaper than `readable()`'s waiter list).
        std::future::poll_fn(|cx| stream.poll_read_ready(cx))
            .await
            .ok()?;
        let room = buf.capacity() - buf.len();
        // A short read drained the socket: the closure then says so to tokio as a
        // `WouldBlock` would, so that hyper's next read waits for the next bytes instead
        // of trying (a system call that fails with EAGAIN). `try_io` takes its readiness
        // snapshot before the read and clears only that: readiness the I/O driver (on
        // another worker) records after it, for bytes that came after the read, is kept.
        let mut read = None;
        let res = stream.try_io(tokio::io::Interest::READABLE, || {
            let n = stream.try_read_buf(&mut buf)?;
            read = Some(n);
            if n > 0 && n < room {
                Err(io::ErrorKind::WouldBlock.into())
            } else {
                Ok(())
            }
        });
        match (read, res) {
            (Some(0), _) => return None,
            (Some(_), _) => {}
            (None, Err(e)) if e.kind() == io::ErrorKind::WouldBlock => continue,
            (None, _) => return None,
        }
        // Part of a preface: wait for the rest of it before deciding.
        if buf.len() >= H2_PREFACE.len() || !H2_PREFACE.starts_with(&buf) {
            return Some(buf);
        }
    }
}

/// A hyper connection that can be asked to finish gracefully.
trait Graceful: Future<Output = Result<(), hyper::Error>> {
    fn begin_graceful(self: Pin<&mut Self>);
}

impl<I, S, B> Graceful for http1::UpgradeableConnection<I, S>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn begin_graceful(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, B, E> Graceful for http2::Connection<I, S, E>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    fn begin_graceful(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Drive `conn` to its end; once `stopping` says so, ask it to finish gracefully (and keep
/// driving it: the response in flight is completed).
async fn until_stopped<C: Graceful>(
    conn: C,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> Result<(), hyper::Error> {
    tokio::pin!(conn);
    if *stopping.borrow_and_update() {
        conn.as_mut().begin_graceful();
        return conn.await;
    }
    tokio::select! {
        biased;
        done = conn.as_mut() => done,
        _ = stopping.changed() => {
            conn.as_mut().begin_graceful();
            conn.await
        }
    }
}

/// Sets `TCP_NODELAY` on the listening socket itself, whoever bound it (`bind` or the
/// application), and says whether the connections it accepts have it from there. On Linux
/// (and Android) an accepted socket inherits the option from its listener: one `setsockopt`
/// fewer per connection, two per polling + upgrade handshake. Elsewhere each connection still
/// sets it. The listener's own option changes nothing else.
fn nodelay_on_listener(listener: &TcpListener) -> bool {
    cfg!(any(target_os = "linux", target_os = "android"))
        && socket2::SockRef::from(listener)
            .set_tcp_nodelay(true)
            .is_ok()
}

/// Every connection is sent without Nagle's delay: Engine.IO's small packets (a `3probe`, an
/// ack) must not wait for the peer's delayed ACK.
fn nodelay(stream: &TcpStream, inherited: bool) {
    if !inherited {
        let _ = stream.set_nodelay(true);
    }
}

/// The local address a listener is bound to (handy with port 0).
pub fn local_addr(listener: &TcpListener) -> io::Result<SocketAddr> {
    listener.local_addr()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// What an idle WebSocket connection holds is its task and `connection`'s future, whose
    /// largest state is the session's driver (`engine::tests::the_driver_future_stays_small`
    /// holds that to 544 bytes). The HTTP handling (`h1::serve`'s 4.4 KiB, hyper's) is boxed
    /// apart and let go before the WebSocket runs; kept inline, every idle WebSocket would hold
    /// it. 704 bytes leaves the driver's 544 and 160 for the rest (592 when this was written);
    /// the bench's idle case measures what a connection holds in all.
    #[tokio::test]
    async fn the_connection_future_stays_small() {
        let io = crate::Server::builder().build().unwrap();
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let (_client, stream) = accept_one(&listener).await;
        let shared = Arc::new(Shared {
            app: std::sync::Mutex::new(io.service()),
            h1: http1::Builder::new(),
            h2: http2::Builder::new(TokioExecutor::new()),
            io: io.clone(),
        });
        let (_stop, stopping) = tokio::sync::watch::channel(false);
        let peer = stream.peer_addr().unwrap();
        let fut = connection(stream, peer, shared, stopping, true);
        let size = std::mem::size_of_val(&fut);
        assert!(
            size <= 704,
            "the connection's future is {size} bytes (at most 704)"
        );
    }

    /// A connection to `listener` and its server side.
    async fn accept_one(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (client.unwrap(), accepted.unwrap().0)
    }

    #[tokio::test]
    async fn every_accepted_connection_has_nodelay_whoever_bound_the_listener() {
        // The listener `bind` makes, and one the application bound itself.
        let ours = bind(("127.0.0.1", 0)).await.unwrap();
        let theirs = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        for listener in [ours, theirs] {
            let inherited = nodelay_on_listener(&listener);
            let (_client, stream) = accept_one(&listener).await;
            if cfg!(target_os = "linux") {
                // What skipping the per-connection `setsockopt` relies on: the kernel gave
                // the accepted socket the listener's option.
                assert!(inherited);
                assert!(stream.nodelay().unwrap(), "inherited from the listener");
            }
            nodelay(&stream, inherited);
            assert!(stream.nodelay().unwrap());
        }
        // The check can tell: a listener left alone accepts sockets without it.
        let plain = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let (_client, stream) = accept_one(&plain).await;
        assert!(!stream.nodelay().unwrap());
    }
}
