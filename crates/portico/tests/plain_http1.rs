//! `portico::serve` answers Engine.IO's plain HTTP/1.1 requests (polling, preflights,
//! WebSocket upgrades) itself, not through hyper (`src/h1.rs`), and hands a connection to hyper
//! at the first request it does not take. Over real TCP: keep-alive and pipelining, the
//! hand-over, `Connection: close`, an aborted long-polling `GET`, the idle timeout, the headers
//! hyper would add, and an upgrade that takes the stream with the frames sent after it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::tcp::{serve, within};
use portico::{DisconnectReason, OriginPolicy, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response read off a keep-alive connection.
#[derive(Debug)]
struct Reply {
    head: String,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.split("\r\n").skip(1).find_map(|l| {
            let (n, v) = l.split_once(": ")?;
            n.eq_ignore_ascii_case(name).then_some(v)
        })
    }
}

/// A client connection that reads responses one at a time (by their `content-length`).
struct Conn {
    tcp: TcpStream,
    read: Vec<u8>,
}

impl Conn {
    async fn open(addr: &str) -> Conn {
        Conn {
            tcp: TcpStream::connect(addr).await.unwrap(),
            read: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &str) {
        self.tcp.write_all(bytes.as_bytes()).await.unwrap();
    }

    /// Read more; `false` at the end of the stream.
    async fn fill(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        let n = within(self.tcp.read(&mut buf)).await.unwrap();
        self.read.extend_from_slice(&buf[..n]);
        n > 0
    }

    async fn reply(&mut self) -> Reply {
        loop {
            if let Some(end) = self.read.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(self.read[..end].to_vec()).unwrap();
                let len: usize = head
                    .split("\r\n")
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(|v| v.parse().unwrap())
                    })
                    .unwrap_or(0);
                if self.read.len() >= end + 4 + len {
                    let body =
                        String::from_utf8(self.read[end + 4..end + 4 + len].to_vec()).unwrap();
                    self.read.drain(..end + 4 + len);
                    return Reply { head, body };
                }
            }
            assert!(
                self.fill().await,
                "closed mid-reply: {:?}",
                String::from_utf8_lossy(&self.read)
            );
        }
    }

    /// Open a polling session and join `/` over this connection; returns the session id.
    async fn join(&mut self) -> String {
        self.send(&get("")).await;
        let sid = sid_of(&self.reply().await.body);
        self.send(&post(&sid, "40")).await;
        assert_eq!(self.reply().await.body, "ok");
        self.send(&get(&format!("&sid={sid}"))).await;
        assert!(self.reply().await.body.starts_with("40{"));
        sid
    }

    /// Wait for the server to close the connection (nothing more to read).
    async fn closed(&mut self) {
        while self.fill().await {}
        assert!(
            self.read.is_empty(),
            "{:?}",
            String::from_utf8_lossy(&self.read)
        );
    }
}

fn get(query: &str) -> String {
    format!("GET /socket.io/?EIO=4&transport=polling{query} HTTP/1.1\r\nHost: x\r\n\r\n")
}

fn post(sid: &str, body: &str) -> String {
    format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\
         Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The session id of an open packet.
fn sid_of(open: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(open.strip_prefix('0').unwrap()).unwrap();
    v["sid"].as_str().unwrap().to_owned()
}

async fn start() -> (String, Server) {
    let io = Server::builder()
        .header_read_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let disconnects = common::echo_server(&io);
    std::mem::forget(disconnects);
    (serve(io.clone()).await, io)
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let (addr, _io) = start().await;
    let mut c = Conn::open(&addr).await;
    c.send(&get("")).await;
    let open = c.reply().await;
    assert!(open.head.starts_with("HTTP/1.1 200 OK"), "{open:?}");
    // What hyper adds: the length and the date.
    assert_eq!(
        open.header("content-length"),
        Some(open.body.len().to_string().as_str())
    );
    assert!(
        open.header("date").is_some_and(|d| d.ends_with(" GMT")),
        "{open:?}"
    );
    assert_eq!(open.header("connection"), None);
    let sid = sid_of(&open.body);
    // Three requests in one write: join, emit with an ack, then fetch what came back.
    c.send(&format!(
        "{}{}{}",
        post(&sid, "40"),
        post(&sid, "421[\"echo\",\"hi\"]"),
        get(&format!("&sid={sid}"))
    ))
    .await;
    assert_eq!(c.reply().await.body, "ok");
    assert_eq!(c.reply().await.body, "ok");
    let mut got = c.reply().await.body;
    while !got.contains("431[\"hi\"]") {
        c.send(&get(&format!("&sid={sid}"))).await;
        got.push_str(&c.reply().await.body);
    }
    assert!(got.starts_with("40{"), "{got}");
}

#[tokio::test]
async fn a_request_it_does_not_take_hands_the_connection_to_hyper_which_serves_on() {
    let (addr, _io) = start().await;
    let mut c = Conn::open(&addr).await;
    c.send(&get("")).await;
    let sid = sid_of(&c.reply().await.body);
    // A chunked POST is hyper's; so is everything after it on this connection.
    c.send(&format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\
         Transfer-Encoding: chunked\r\n\r\n2\r\n40\r\n0\r\n\r\n"
    ))
    .await;
    let r = c.reply().await;
    assert_eq!(r.body, "ok", "{r:?}");
    c.send(&get(&format!("&sid={sid}"))).await;
    assert!(c.reply().await.body.starts_with("40{"));
    // A path that is not Socket.IO's: hyper routes it (404), and the connection goes on.
    c.send("GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(c.reply().await.head.starts_with("HTTP/1.1 404"));
    c.send(&post(&sid, "421[\"echo\",1]")).await;
    assert_eq!(c.reply().await.body, "ok");
}

#[tokio::test]
async fn connection_close_ends_the_connection_after_the_answer() {
    let (addr, _io) = start().await;
    let mut c = Conn::open(&addr).await;
    c.send(
        "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let r = c.reply().await;
    assert!(r.body.starts_with("0{"), "{r:?}");
    assert_eq!(r.header("connection"), Some("close"));
    c.closed().await;
}

#[tokio::test]
async fn a_long_polling_get_whose_client_closes_its_end_closes_the_session() {
    let io = Server::builder().build().unwrap();
    let mut disconnects = common::echo_server(&io);
    let addr = serve(io.clone()).await;
    let mut c = Conn::open(&addr).await;
    let sid = c.join().await;
    // Nothing to send: this GET waits; the client gives it up.
    c.send(&get(&format!("&sid={sid}"))).await;
    c.tcp.shutdown().await.unwrap();
    let (_, reason) = common::next_disconnect(&mut disconnects).await;
    assert_eq!(reason, DisconnectReason::TransportError);
    assert_eq!(io.connection_count(), 0);
    c.closed().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_header_read_timeout_quietly() {
    let (addr, io) = start().await;
    let mut c = Conn::open(&addr).await;
    c.send(&get("")).await;
    assert!(c.reply().await.body.starts_with("0{"));
    // No next request: the server closes the connection once header_read_timeout passes.
    c.closed().await;
    let timeouts = io
        .refusals()
        .into_iter()
        .find(|(r, _)| *r == "header_read_timeout")
        .map(|(_, n)| n);
    assert_eq!(timeouts, Some(0));
}

#[tokio::test]
async fn the_servers_shutdown_closes_an_idle_keep_alive_connection_at_once() {
    // An idle timeout far past the test's wait: only the shutdown can close the connection.
    // Preflights open no session, so the shutdown has none to drain first (a session's
    // connections stay open while it collects its close packet).
    let io = Server::builder()
        .origins(OriginPolicy::allow(["http://a.test"]).unwrap())
        .header_read_timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    let listener = portico::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(portico::serve_with_shutdown(listener, io, async {
        let _ = stopped.await;
    }));
    let mut c = Conn::open(&addr).await;
    // Two requests, so that the connection has waited once and is in its second wait.
    for _ in 0..2 {
        c.send(
            "OPTIONS /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\
             Origin: http://a.test\r\nAccess-Control-Request-Method: POST\r\n\r\n",
        )
        .await;
        assert!(c.reply().await.head.starts_with("HTTP/1.1 204"));
    }
    stop.send(()).unwrap();
    c.closed().await;
    within(served).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_preflight_is_answered_with_the_allow_headers_and_no_body() {
    let io = Server::builder()
        .origins(OriginPolicy::allow(["http://a.test"]).unwrap())
        .build()
        .unwrap();
    let addr = serve(io).await;
    let mut c = Conn::open(&addr).await;
    c.send(
        "OPTIONS /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nOrigin: http://a.test\r\n\
         Access-Control-Request-Method: POST\r\n\r\n",
    )
    .await;
    let r = c.reply().await;
    assert!(r.head.starts_with("HTTP/1.1 204 No Content"), "{r:?}");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://a.test")
    );
    assert_eq!(r.header("content-length"), None);
    // The connection goes on: the next request's answer is the next thing read.
    c.send(&get("")).await;
    assert!(c.reply().await.body.starts_with("0{"));
}

#[tokio::test]
async fn a_websocket_upgrade_after_polling_requests_on_one_connection_takes_the_stream() {
    let (addr, _io) = start().await;
    let mut c = Conn::open(&addr).await;
    let sid = c.join().await;
    // The upgrade, on the same keep-alive connection, with the probe in the same write (a
    // masked text frame "2probe"): it reaches the WebSocket, which answers "3probe".
    let mut upgrade = format!(
        "GET /socket.io/?EIO=4&transport=websocket&sid={sid} HTTP/1.1\r\nHost: x\r\n\
         Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    .into_bytes();
    upgrade.extend_from_slice(&masked_text("2probe"));
    c.tcp.write_all(&upgrade).await.unwrap();
    let r = c.reply().await;
    assert!(
        r.head.starts_with("HTTP/1.1 101 Switching Protocols"),
        "{r:?}"
    );
    assert_eq!(
        r.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    assert_eq!(r.header("content-length"), None);
    // The answer to the probe: an unmasked text frame.
    while c.read.len() < 8 {
        assert!(c.fill().await);
    }
    assert_eq!(&c.read[..8], b"\x81\x063probe");
}

/// A client's text frame (masked, as clients must).
fn masked_text(text: &str) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | u8::try_from(text.len()).unwrap()];
    frame.extend_from_slice(&mask);
    frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

#[tokio::test]
async fn the_hooks_and_the_handshake_see_the_peer_of_every_request() {
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};
    // What each hook saw: (which hook, the request's path and query, its peer).
    type Seen = Vec<(&'static str, String, Option<SocketAddr>)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let (allow_seen, headers_seen) = (seen.clone(), seen.clone());
    let io = Server::builder()
        .allow_request(move |parts| {
            let url = parts.uri.to_string();
            allow_seen.lock().unwrap().push(("allow", url, parts.peer));
            async { Ok(()) }
        })
        .headers(move |parts, _| {
            let url = parts.uri.to_string();
            headers_seen
                .lock()
                .unwrap()
                .push(("headers", url, parts.peer));
        })
        .build()
        .unwrap();
    let (addr_tx, mut addr_rx) = tokio::sync::mpsc::unbounded_channel();
    io.of("/").on_connection(move |socket: portico::Socket| {
        let _ = addr_tx.send(socket.handshake().address());
        async {}
    });
    let addr = serve(io).await;
    let mut c = Conn::open(&addr).await;
    let me = c.tcp.local_addr().unwrap();
    let sid = c.join().await;
    assert_eq!(within(addr_rx.recv()).await.unwrap(), Some(me));
    let seen = seen.lock().unwrap().clone();
    // The handshake's allow hook, then the headers hook of each of the three requests.
    let kinds: Vec<_> = seen.iter().map(|(k, _, _)| *k).collect();
    assert_eq!(
        kinds,
        ["allow", "headers", "headers", "headers"],
        "{seen:?}"
    );
    assert!(seen[3].1.contains(&format!("sid={sid}")), "{seen:?}");
    for (kind, url, peer) in &seen {
        assert_eq!(*peer, Some(me), "{kind} of {url}");
    }
}

#[tokio::test]
async fn a_handshake_read_as_it_came_shows_the_hooks_and_the_socket_what_http_types_would() {
    // Without header hooks a handshake is read as it came (`src/h1/head.rs`) and its
    // headers are built only for what reads them; with one (here a headers hook that does
    // nothing) it is built in `http`'s types. The `allow_request` hook and the socket's
    // handshake see the same request either way: the URL, every header under its lowercase
    // name, repeated ones in order, whatever case the request spelled them in.
    type Seen = (String, Vec<(String, String)>);
    async fn seen(hooked: bool, upgrade: bool) -> (Seen, Seen) {
        let allowed: Arc<Mutex<Option<Seen>>> = Arc::default();
        let allow_seen = allowed.clone();
        let mut builder = Server::builder().allow_request(move |parts| {
            let headers = parts
                .headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
                .collect();
            *allow_seen.lock().unwrap() = Some((parts.uri.to_string(), headers));
            // Refused when the client says so: the hook's answer is the handshake's.
            let refuse = parts.headers.contains_key("x-refuse");
            async move {
                if refuse {
                    Err("refused by the hook".to_owned())
                } else {
                    Ok(())
                }
            }
        });
        if hooked {
            builder = builder.headers(|_, _| {});
        }
        let io = builder.build().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        io.of("/").on_connection(move |socket: portico::Socket| {
            let hs = socket.handshake();
            let headers = hs
                .headers()
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
                .collect();
            let _ = tx.send((hs.url().to_owned(), headers));
            async {}
        });
        let addr = serve(io).await;
        let mut c = Conn::open(&addr).await;
        let head = "Host: x\r\nX-Twice: 1\r\nUser-Agent: Mozilla/5.0 (X11)\r\nx-TWICE: 2\r\n\
                    Accept-Language: en;q=0.9\r\n";
        if upgrade {
            c.send(&format!(
                "GET /socket.io/?EIO=4&transport=websocket&q=%C3%A9 HTTP/1.1\r\n{head}\
                 Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            ))
            .await;
            // The 101, then the open packet and the CONNECT reply in frames (read to the
            // socket's handshake: the 101's head is enough here).
            let mut buf = Vec::new();
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                assert!(c.fill().await);
                buf = c.read.clone();
            }
            let text = String::from_utf8_lossy(&buf).into_owned();
            assert!(text.starts_with("HTTP/1.1 101"), "{text}");
            assert!(
                text.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
                "{text}"
            );
            // A masked CONNECT to `/` ("40"), once the open packet is there.
            let frame = [0x81u8, 0x82, 0, 0, 0, 0, b'4', b'0'];
            c.tcp.write_all(&frame).await.unwrap();
        } else {
            c.send(&format!(
                "GET /socket.io/?EIO=4&transport=polling&q=%C3%A9 HTTP/1.1\r\n{head}\r\n"
            ))
            .await;
            let sid = sid_of(&c.reply().await.body);
            c.send(&post(&sid, "40")).await;
            assert_eq!(c.reply().await.body, "ok");
        }
        let socket = within(rx.recv()).await.unwrap();
        let allow = allowed.lock().unwrap().clone().unwrap();
        // A refusal by the hook, on a new connection.
        let mut c = Conn::open(&addr).await;
        c.send(&format!(
            "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n{head}X-Refuse: 1\r\n\r\n"
        ))
        .await;
        let refused = c.reply().await;
        assert!(refused.head.starts_with("HTTP/1.1 403"), "{refused:?}");
        assert!(refused.body.contains("refused by the hook"), "{refused:?}");
        (allow, socket)
    }
    for upgrade in [false, true] {
        let (allow, socket) = seen(false, upgrade).await;
        let (hooked_allow, hooked_socket) = seen(true, upgrade).await;
        assert_eq!((&allow, &socket), (&hooked_allow, &hooked_socket));
        let transport = if upgrade { "websocket" } else { "polling" };
        let url = format!("/socket.io/?EIO=4&transport={transport}&q=%C3%A9");
        assert_eq!(allow.0, url);
        assert_eq!(socket.0, url);
        let named = |list: &[(String, String)], name: &str| -> Vec<String> {
            list.iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .collect()
        };
        for list in [&allow.1, &socket.1] {
            assert_eq!(named(list, "x-twice"), ["1", "2"], "{list:?}");
            assert_eq!(named(list, "user-agent"), ["Mozilla/5.0 (X11)"], "{list:?}");
            assert_eq!(named(list, "accept-language"), ["en;q=0.9"], "{list:?}");
            assert_eq!(named(list, "host"), ["x"], "{list:?}");
        }
    }
}

#[tokio::test]
async fn a_sessions_requests_are_answered_alike_read_as_they_came_or_as_http_types() {
    // Without header hooks, `portico::serve` handles a session's polling requests as it read
    // them (`src/h1/head.rs`); a server with a hook (here one that does nothing) builds
    // `http`'s request types for every request. Both answer each request alike, refusals and
    // their reports included.
    async fn answers(hooked: bool) -> (Vec<String>, Vec<String>) {
        let mut builder = Server::builder().origins(
            OriginPolicy::allow(["http://a.test"])
                .unwrap()
                .credentials(true),
        );
        if hooked {
            builder = builder.headers(|_, _| {});
        }
        let io = builder.build().unwrap();
        let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = errors.clone();
        io.on_connection_error(move |e| {
            seen.lock()
                .unwrap()
                .push(format!("{} {:?}", e.message, e.context));
        });
        std::mem::forget(common::echo_server(&io));
        let addr = serve(io).await;
        let mut c = Conn::open(&addr).await;
        let origin = "Origin: http://a.test\r\n";
        let open = |q: &str, method: &str, extra: &str, body: &str| {
            format!(
                "{method} /socket.io/?EIO=4&transport={q} HTTP/1.1\r\nHost: x\r\n{extra}\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        c.send(&open("polling", "GET", origin, "")).await;
        let sid = sid_of(&c.reply().await.body);
        let mut out = Vec::new();
        let requests = [
            open(&format!("polling&sid={sid}"), "POST", origin, "40"),
            open(&format!("polling&sid={sid}"), "GET", origin, ""),
            open(
                &format!("polling&sid={sid}"),
                "POST",
                origin,
                "421[\"echo\",\"hi\"]",
            ),
            open(&format!("polling&sid={sid}"), "GET", origin, ""),
            // A refused origin, none (served, without allow headers), an unknown session, a
            // WebSocket request that is no upgrade, an unknown transport.
            open(
                &format!("polling&sid={sid}"),
                "GET",
                "Origin: http://b.test\r\n",
                "",
            ),
            open(&format!("polling&sid={sid}"), "POST", "", "3"),
            open("polling&sid=AAAAAAAAAAAAAAAAAAAA", "POST", origin, "3"),
            open(&format!("websocket&sid={sid}"), "GET", origin, ""),
            open(&format!("flash&sid={sid}"), "GET", origin, ""),
            // Binary in a v4 session: refused, and the session closed.
            open(
                &format!("polling&sid={sid}"),
                "POST",
                "Content-Type: application/octet-stream\r\nOrigin: http://a.test\r\n",
                "3",
            ),
            open(&format!("polling&sid={sid}"), "GET", origin, ""),
        ];
        for req in requests {
            c.send(&req).await;
            let reply = c.reply().await;
            let mut headers: Vec<_> = reply
                .head
                .split("\r\n")
                .filter(|l| !l.starts_with("date: "))
                .map(str::to_owned)
                .collect();
            headers[1..].sort();
            // The socket's id in the CONNECT reply differs from run to run too.
            let body = match reply.body.strip_prefix("40{\"sid\":\"") {
                Some(rest) => format!("40{{\"sid\":\"…{}", &rest[20..]),
                None => reply.body.replace(&sid, "SID"),
            };
            out.push(format!("{headers:?} {body}"));
        }
        let errors = errors.lock().unwrap().clone();
        (
            out,
            errors.into_iter().map(|e| e.replace(&sid, "SID")).collect(),
        )
    }
    let (read, read_errors) = answers(false).await;
    let (typed, typed_errors) = answers(true).await;
    assert_eq!(read, typed);
    assert_eq!(read_errors, typed_errors);
    // The answers are the ones meant: the echo, then each refusal.
    assert!(read[3].ends_with(" 431[\"hi\"]"), "{read:#?}");
    for (i, status) in [(4, "403"), (6, "400"), (7, "400"), (8, "400"), (9, "400")] {
        assert!(
            read[i].starts_with(&format!("[\"HTTP/1.1 {status} ")),
            "{i}: {read:#?}"
        );
    }
    assert!(read[4].contains("vary: Origin") && !read[4].contains("access-control-allow-origin"));
    assert!(read[5].starts_with("[\"HTTP/1.1 200 ") && !read[5].contains("access-control"));
    assert!(
        read[1].contains("access-control-allow-credentials: true"),
        "{read:#?}"
    );
    assert_eq!(read_errors.len(), 6, "{read_errors:#?}");
}
