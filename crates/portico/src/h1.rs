//! Engine.IO's plain HTTP/1.1 requests, answered without hyper's connection machinery.
//!
//! [`crate::serve_with_shutdown`] (and [`crate::serve`]) read a connection's bytes and, while
//! each request is one this module takes, answer it here: a `GET`, `POST` or `OPTIONS` under
//! the Socket.IO path, in HTTP/1.1, whose head and whole body (`Content-Length`, at most
//! [`MAX_BODY`] bytes) are already read, with no `Transfer-Encoding` or `Expect`; a WebSocket
//! upgrade too (a `GET` with `Upgrade: websocket` and `Connection: upgrade`, no body). That is
//! every polling request, preflight and WebSocket handshake of the official clients. The
//! request goes through the same handling ([`crate::service`]) as hyper's would (the origin
//! policy, the engine, every limit); only the HTTP/1 framing differs, and it is parsed by
//! `httparse`, hyper's own parser. An upgrade answered `101` hands the stream, with any bytes
//! read past the request, to the WebSocket (`engine::ws::upgrade::Upgrading::Direct`).
//!
//! Any other request (HTTP/1.0, a chunked or larger body, a head not read whole, another
//! upgrade, a malformed one) hands the connection to hyper with the bytes read so far, and
//! hyper serves the rest of that connection as before: its answers (400, 431, the header read
//! timeout, 100-continue) stay the ones users see.
//!
//! What hyper does around a request, this does too: a request whose client closes its end
//! before the answer is dropped (a long-polling `GET` aborted that way closes its session);
//! pipelined requests are answered in order; `Connection: close` and the server's graceful
//! shutdown end the connection after the answer (with `connection: close`); an idle
//! keep-alive connection is closed after `header_read_timeout`; each answer carries
//! `content-length` (none on `101`, `204` and `304`) and `date`.

use std::cell::RefCell;
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use bytes::{BufMut, Bytes, BytesMut};
use http::header::CONTENT_TYPE;
use http::{HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::Full;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::engine::ws::upgrade::{Handed, Start, Upgrading};
use crate::http::{eq_lower, has_token, Answer, Body, Large, Leaves, Query};
use crate::serve::next_bytes;
use crate::Server;
use head::{RawHead, RawHeaders};
use idle::{IdleWatch, Woke};
use portico_cors::CorsHeaders;

/// Headers past this many: the request goes to hyper (which answers 431, as its limit is 100).
const MAX_HEADERS: usize = 100;

/// The largest body answered here: larger ones go to hyper, which reads them as they come
/// (under `max_payload`). Polling payloads are small; one read brings at most 4 KiB anyway.
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// A body up to this size leaves in the same write as the head; a larger one (the client
/// bundle) is written after it, without a copy.
const MERGE_BODY: usize = 16 * 1024;

/// How a connection left this module.
#[derive(Debug)]
pub(crate) enum Served {
    /// The connection is done: closed by either side, timed out, or shut down.
    Closed,
    /// A request this module does not take: hyper serves the connection from here, starting
    /// with these bytes.
    ToHyper(TcpStream, Bytes),
    /// Answered `101`: the connection is a WebSocket, and what is to run on it runs in this
    /// connection's task (`serve::connection`), once this module's state is let go.
    WebSocket(Handed, Start),
}

/// Answer the requests of `stream` (whose first bytes, already read, are `buf`) while they are
/// ones this module takes.
pub(crate) async fn serve(
    mut stream: TcpStream,
    mut buf: BytesMut,
    peer: SocketAddr,
    server: &Server,
    path: &str,
    idle_timeout: Duration,
    stopping: &mut watch::Receiver<bool>,
) -> Served {
    let mut out = BytesMut::new();
    // One timer for the connection's idle waits, and one wait for the shutdown, made once (a
    // new `changed()` per idle wait registers and unregisters a waiter under the watch's lock
    // each time), and polled only when they fire (see `idle`).
    let timer = std::pin::pin!(tokio::time::sleep(idle_timeout));
    let mut shutdown = stopping.clone();
    let shutdown = std::pin::pin!(shutdown.changed());
    let mut watch = IdleWatch::new(idle_timeout, timer, shutdown);
    // A session's requests are handled as read, unless a hook is to see their headers.
    let raw = !server.0.config.hooks.any_headers();
    loop {
        let bytes = buf.split().freeze();
        let Some(Taken {
            head,
            body,
            len,
            close,
            upgrade,
        }) = take(&bytes, path, raw)
        else {
            return Served::ToHyper(stream, bytes);
        };
        if bytes.len() > len {
            // Pipelined: the next request's bytes, for after this answer (rare: copied).
            buf.extend_from_slice(&bytes[len..]);
        }
        // An upgrade's stream goes to the WebSocket once its `101` is written: what is to
        // run on it is left here, and this task runs it.
        let mut start = None;
        let upgrading = match &head {
            Head::Parts(_) | Head::Raw(_) if upgrade => Upgrading::Direct(&mut start),
            _ => Upgrading::No,
        };
        // The origin policy's headers, put here by the handling (see `handle_from`).
        let mut cors = None;
        let answer = {
            // Polled at once (by the `select!` below): what hyper's path needs
            // `service::started` for holds here without it, and the future needs no box. The
            // request's head stays here, borrowed by the handling, not copied into its future.
            // Whether it is an upgrade, `take` has decided (and took none with a body).
            let fut = async {
                use crate::service::{handle_from, handle_raw};
                let (body, cors) = (Full::new(body), &mut cors);
                match &head {
                    Head::Parts(req) => {
                        handle_from(server, req, body, Some(peer), upgrading, Some(cors)).await
                    }
                    Head::Raw(req) => {
                        handle_from(server, req, body, Some(peer), upgrading, Some(cors)).await
                    }
                    Head::Session(req) => handle_raw(server, req, body, peer, cors).await,
                }
            };
            tokio::pin!(fut);
            let mut fut = OutOfLine(fut);
            // Drive the answer; meanwhile watch the connection: a client that closes its end
            // before the answer gave up the request, and the request is dropped (hyper's
            // behaviour; a long-polling GET dropped that way closes its session).
            loop {
                tokio::select! {
                    biased;
                    res = &mut fut => break res,
                    // The stream's own reader slot (`poll_read_ready`), not `readable()`,
                    // whose future joins and leaves a list of waiters under its lock each time
                    // this loop polls it: one task reads this stream.
                    ready = std::future::poll_fn(|cx| stream.poll_read_ready(cx)), if buf.is_empty() => {
                        if ready.is_err() {
                            return Served::Closed;
                        }
                        buf.reserve(4096);
                        match stream.try_read_buf(&mut buf) {
                            // Pipelined bytes stay in `buf`, for after this answer.
                            Ok(n) if n > 0 => {}
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                            _ => return Served::Closed,
                        }
                    }
                }
            }
        };
        // The request's bytes are let go before the next read, which can then reuse them.
        drop(head);
        drop(bytes);
        let switching = answer.is_switching();
        if let Some(start) = start.take().filter(|_| switching) {
            // The `101`, then the stream and what was read past the request, with what is to
            // run on them. The `101` is written here, alone, or handed over unwritten to leave
            // with the session's first frame (see `Leaves`). Dropped unrun (the connection
            // failed), `start` ends its session.
            let leaves = answer.leaves();
            if encode(answer, cors.as_ref(), true, &mut out).is_some() {
                return Served::Closed;
            }
            let unwritten = match leaves {
                Leaves::Alone => {
                    if stream.write_all(&out).await.is_err() {
                        return Served::Closed;
                    }
                    Vec::new()
                }
                // The buffer's own allocation, as it is (nothing else holds it).
                Leaves::WithOpenPacket => Vec::from(out),
            };
            let handed = Handed {
                stream,
                read: buf.freeze(),
                unwritten,
            };
            return Served::WebSocket(handed, start);
        }
        let keep_alive = !close && !is_stopping(stopping);
        let body = encode(answer, cors.as_ref(), keep_alive, &mut out);
        let written = match body {
            Some(body) => match stream.write_all(&out).await {
                Ok(()) => stream.write_all(&body).await,
                Err(e) => Err(e),
            },
            None => stream.write_all(&out).await,
        };
        out.clear();
        if written.is_err() {
            return Served::Closed;
        }
        if !keep_alive {
            let _ = stream.shutdown().await;
            return Served::Closed;
        }
        if buf.is_empty() {
            if is_stopping(stopping) {
                return Served::Closed;
            }
            match watch
                .wait(next_bytes(&stream, std::mem::take(&mut buf)))
                .await
            {
                Woke::Read(Some(next)) => buf = next,
                // Closed by the client, idle past `header_read_timeout`, or shutting down.
                Woke::Read(None) | Woke::Idle | Woke::Stopping => return Served::Closed,
            }
        }
    }
}

/// Whether the server is stopping. Its watch is sent `true` once, at shutdown, and never
/// back; `stopping` (a clone of the server's own receiver, which never marks a value seen) has
/// seen no value until then, and this reader marks none: a change seen is the shutdown.
/// `has_changed` reads the channel's version without its lock, where `borrow` takes it (a
/// read lock and its release per check, twice per request). A channel whose sender is gone
/// (the server is done) reads as stopping.
fn is_stopping(stopping: &watch::Receiver<bool>) -> bool {
    stopping.has_changed().unwrap_or(true)
}

/// A request's handling, polled through a function the compiler keeps out of line: inlined
/// into `serve`'s own, bench/profile could not tell its cost (Portico's handling of a request,
/// the origin policy and the engine) from the HTTP/1 around it.
struct OutOfLine<'a, F>(Pin<&'a mut F>);

impl<F: std::future::Future> std::future::Future for OutOfLine<'_, F> {
    type Output = F::Output;

    #[inline(never)]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.0.as_mut().poll(cx)
    }
}

/// A request this module takes, read off the front of a buffer.
#[derive(Debug)]
struct Taken<'a> {
    /// The request's head.
    head: Head<'a>,
    /// Its whole body.
    body: Bytes,
    /// Bytes of the request (head and body).
    len: usize,
    /// The client asked to close after the answer (`Connection: close`).
    close: bool,
    /// A WebSocket upgrade request.
    upgrade: bool,
}

/// A request's head, as the handling is given it.
#[derive(Debug)]
enum Head<'a> {
    /// In `http`'s types.
    Parts(http::request::Parts),
    /// As read: a polling `GET` or `POST` of a session (see [`head`]).
    Session(RawHead<'a>),
    /// As read: any other request under the path whose target `http` takes as it is (a
    /// handshake, an upgrade, a preflight), handled as `http`'s parts would be.
    Raw(RawHead<'a>),
}

/// Read the request at the start of `bytes`: `Some` when it is one this module takes and its
/// whole body is there too. The URL, the header values and the body share `bytes`.
///
/// With `raw`, a request whose target has none of the characters `http` handles apart is kept
/// as read: a `GET` or `POST` of a session (a `sid` in its query) as [`Head::Session`], any
/// other (a handshake, an upgrade, a preflight) as [`Head::Raw`]. Every request of the official
/// clients is one.
// Out of line: bench/profile reads its cost by its name (it runs once per request either way).
#[inline(never)]
fn take<'a>(bytes: &'a Bytes, path: &str, raw: bool) -> Option<Taken<'a>> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut []);
    let head = match parsed.parse_with_uninit_headers(bytes, &mut slots) {
        Ok(httparse::Status::Complete(len)) => len,
        // Incomplete, malformed, or over MAX_HEADERS headers: hyper's to answer.
        _ => return None,
    };
    if parsed.version != Some(1) {
        return None;
    }
    let method = match parsed.method? {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "OPTIONS" => Method::OPTIONS,
        _ => return None,
    };
    let target = parsed.path?;
    if !target.starts_with(path) {
        return None;
    }
    let mut body = None;
    let mut close = false;
    // `Upgrade: websocket`, and `upgrade` among the `Connection` tokens.
    let (mut websocket, mut conn_upgrade) = (false, false);
    for h in parsed.headers.iter() {
        let name = h.name.as_bytes();
        if eq_lower(name, b"content-length") {
            if body.is_some() {
                return None;
            }
            body = Some(content_length(h.value)?);
        } else if eq_lower(name, b"transfer-encoding") || eq_lower(name, b"expect") {
            return None;
        } else if eq_lower(name, b"upgrade") {
            // Another protocol (h2c, say), or a second `Upgrade`: hyper's.
            if websocket || !has_token(h.value, b"websocket") {
                return None;
            }
            websocket = true;
        } else if eq_lower(name, b"connection") {
            close |= has_token(h.value, b"close");
            conn_upgrade |= has_token(h.value, b"upgrade");
        }
    }
    let body = body.unwrap_or(0);
    if body > MAX_BODY || bytes.len() - head < body {
        return None;
    }
    // A WebSocket upgrade: a GET with no body. Half of one (`Upgrade` without the
    // `Connection` token, or the reverse) is hyper's, as before.
    let upgrade = websocket || conn_upgrade;
    if upgrade && !(websocket && conn_upgrade && method == Method::GET && body == 0) {
        return None;
    }
    // A request whose target `http` takes as it is: its query is read here, once, to tell a
    // session's request from the others. Either way its values are built as they are looked
    // up.
    let query =
        (raw && raw_target(target, path)).then(|| Query::parse(target.get(path.len() + 1..)));
    let head_kept = if let Some(query) = query {
        let session = !upgrade && method != Method::OPTIONS && query.sid().is_some();
        let head = RawHead {
            method,
            target,
            query,
            headers: RawHeaders::new(bytes, parsed.headers),
        };
        if session {
            Head::Session(head)
        } else {
            Head::Raw(head)
        }
    } else {
        // Every value httparse takes is one `http` takes (the same bytes: tab, visible ASCII,
        // 0x80 and up; `tests` checks it); the check stays for a parser that one day takes more.
        let headers = parsed.headers.iter().map(|h| {
            let value = HeaderValue::from_maybe_shared(bytes.slice_ref(h.value));
            Some((h.name, value.ok()?))
        });
        Head::Parts(head::parts(method, target, bytes, headers)?)
    };
    Some(Taken {
        head: head_kept,
        body: bytes.slice(head..head + body),
        len: head + body,
        close,
        upgrade,
    })
}

/// Whether a target (under `path`) is one `http` takes as it is, without a look at its bytes:
/// a query right after `path` (no file under it: the client bundle is served by name), ASCII,
/// no fragment, and none of the characters `http`'s URI parser refuses in a path or a query
/// (`<`, `>`, and `` ` `` in a path, `"` in a query; httparse takes them all). Every target of
/// the official clients' polling requests is one.
fn raw_target(target: &str, path: &str) -> bool {
    let bytes = target.as_bytes();
    // No early return in the loop (of the forms tried, the fewest instructions per byte).
    let odd = bytes.iter().fold(false, |odd, &b| {
        odd | (b >= 0x80) | (b == b'#') | (b == b'<') | (b == b'>') | (b == b'`') | (b == b'"')
    });
    !odd && bytes.get(path.len()) == Some(&b'?') && bytes.len() < usize::from(u16::MAX - 1)
}

/// A `Content-Length` value: digits only (hyper's rule), at most [`MAX_BODY`]'s worth.
fn content_length(value: &[u8]) -> Option<usize> {
    if value.is_empty() || value.len() > 9 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0usize, |n, d| {
        n.checked_mul(10)?.checked_add(usize::from(d - b'0'))
    })
}

/// Write an answer's status line and headers into `out`, with `content-length`, `date` and
/// (when the connection ends after it) `connection: close` as hyper adds them; its body too
/// when it is small. Returns the body when it is to be written after `out`.
///
/// `cors`: the origin policy's headers, when they were kept apart from the response's (see
/// [`crate::service::handle_from`]), written as `Decision::apply_to` would have put them in:
/// `Vary` beside the response's own, the others in place of a header of the same name.
///
/// A small answer (not [`Answer::Response`]) is written as its `Response` would be, without
/// one ([`Answer::into_response`]).
// Out of line, as `take`.
#[inline(never)]
fn encode(
    answer: Answer,
    cors: Option<&CorsHeaders>,
    keep_alive: bool,
    out: &mut BytesMut,
) -> Option<Bytes> {
    let (content_type, body) = match answer.small() {
        Ok(small) => small,
        Err(Large::Switching(accept)) => {
            let own = crate::http::switching_headers(&accept).into_iter();
            return write_head(
                StatusCode::SWITCHING_PROTOCOLS,
                own,
                cors,
                keep_alive,
                Bytes::new(),
                out,
            );
        }
        Err(Large::Response(res)) => {
            let (parts, body) = res.into_parts();
            let body = body_bytes(body);
            return write_head(
                parts.status,
                parts.headers.iter().map(|(n, v)| (n, v.as_bytes())),
                cors,
                keep_alive,
                body,
                out,
            );
        }
    };
    let own = std::iter::once((&CONTENT_TYPE, content_type.as_bytes()));
    write_head(StatusCode::OK, own, cors, keep_alive, body, out)
}

/// [`encode`]'s writing: `own` are the answer's headers.
fn write_head<'h>(
    status: StatusCode,
    own: impl Iterator<Item = (&'h HeaderName, &'h [u8])>,
    cors: Option<&'h CorsHeaders>,
    keep_alive: bool,
    body: Bytes,
    out: &mut BytesMut,
) -> Option<Bytes> {
    out.reserve(256 + body.len().min(MERGE_BODY));
    out.put_slice(b"HTTP/1.1 ");
    out.put_slice(status.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
    out.put_slice(b"\r\n");
    // Which of the headers added below the answer has already (one look at each name as it
    // is written, not a lookup in the map per header).
    let (mut has_length, mut has_connection, mut has_date) = (false, false, false);
    // The response's own headers, less those the policy's replace; then the policy's.
    let own = own.filter(|(name, _)| {
        // Every CORS header but `Vary` is `access-control-*`: one cheap look at the name
        // first, as almost no response has one of its own.
        !cors.is_some_and(|c| name.as_str().starts_with("access-control-") && c.contains_key(name))
    });
    let cors_headers = cors.into_iter().flat_map(CorsHeaders::iter);
    for (name, value) in own.chain(cors_headers.map(|(n, v)| (n, v.as_bytes()))) {
        if name == http::header::CONTENT_LENGTH {
            has_length = true;
        } else if name == http::header::CONNECTION {
            has_connection = true;
        } else if name == http::header::DATE {
            has_date = true;
        }
        out.put_slice(name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(value);
        out.put_slice(b"\r\n");
    }
    // No body, and no length, in the answers that cannot have one.
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if !bodiless && !has_length {
        out.put_slice(b"content-length: ");
        portico_proto::decimal::put(out, body.len() as u64);
        out.put_slice(b"\r\n");
    }
    if !keep_alive && !has_connection {
        out.put_slice(b"connection: close\r\n");
    }
    if !has_date {
        out.put_slice(b"date: ");
        put_date(out);
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
    if bodiless || body.is_empty() {
        None
    } else if body.len() <= MERGE_BODY {
        out.put_slice(&body);
        None
    } else {
        Some(body)
    }
}

/// The bytes of a complete body (every body Portico makes is one `Full`).
fn body_bytes(body: Body) -> Bytes {
    let mut body = body;
    let mut cx = Context::from_waker(Waker::noop());
    let mut all = Bytes::new();
    while let Poll::Ready(Some(Ok(frame))) =
        http_body::Body::poll_frame(Pin::new(&mut body), &mut cx)
    {
        if let Ok(data) = frame.into_data() {
            if all.is_empty() {
                all = data;
            } else {
                let mut joined = BytesMut::from(all);
                joined.extend_from_slice(&data);
                all = joined.freeze();
            }
        }
    }
    all
}

/// The `date` header's value (IMF-fixdate), formatted once per second per thread.
fn put_date(out: &mut BytesMut) {
    thread_local! {
        static DATE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with_borrow_mut(|(at, text)| {
        if *at != secs {
            *at = secs;
            *text = httpdate::fmt_http_date(now);
        }
        out.put_slice(text.as_bytes());
    });
}

pub(crate) mod head;
mod idle;
#[cfg(test)]
mod tests;
