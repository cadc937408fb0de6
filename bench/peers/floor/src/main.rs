//! The floor of the Portico bench: the least a server can do for the `polling`,
//! `connect-websocket`, `connect-upgrade` and `echo` cases (`echo-paced`, `echo-light` too) over
//! the same system calls as a real server: tokio's current-thread runtime on epoll, one `read` per readiness,
//! one `write` per answer, TCP_NODELAY set on the listener (accepted sockets inherit it on Linux, with no
//! `setsockopt` each, as Portico does), backlog 1024.
//!
//! Everything else is left out: HTTP is parsed by hand (request line, `Content-Length`,
//! `Sec-WebSocket-Key`), packets are matched by prefix and never parsed as JSON, and there are
//! no origin policy, namespaces, rooms, middleware, heartbeats, timers, limits beyond buffer
//! caps, or metrics. It answers exactly what the bench's clients send: an Engine.IO v4
//! handshake (polling or WebSocket), the upgrade of a polling session to WebSocket (the `101`
//! alone, `2probe` → `3probe` with a noop to a waiting poll, `5`), the Socket.IO CONNECT to `/`
//! and `echo` with an ack (`42N["echo",...]` → `43N[...]`). `bench/check-peer.mjs --only echo`
//! checks that with the official socket.io-client. It never pings, so a client gives up on it after 45 s
//! (pingInterval + pingTimeout): bench runs are 10 s.
//!
//! Its CPU per operation is what no server on this I/O model goes below on this machine; a
//! ratio to socketioxide's is the lowest any server could reach on the targets of issue 19.
//!
//! Usage: `floor-bench-peer --port N` (0 picks one); prints `LISTENING <port>` once bound.
//! Binds 127.0.0.1 only.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Notify;

/// Request heads over this many bytes close the connection.
const MAX_HEAD: usize = 16 * 1024;
/// POST bodies and WebSocket frames over this (the maxPayload announced) close the connection;
/// a polling session whose unread answers pass it is refused the POST (400) that would grow them.
const MAX_PAYLOAD: usize = 1_000_000;
/// Polling sessions at once; a handshake past it gets 503.
const MAX_SESSIONS: usize = 10_000;
/// The Engine.IO v4 open packet's settings after `upgrades`, as every bench server announces
/// them.
const OPEN_SETTINGS: &str = r#""pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
/// Engine.IO v4's packet separator in a polling payload.
const SEPARATOR: u8 = 0x1e;

fn main() {
    let port = match port_arg() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("floor-bench-peer: {e}; usage: floor-bench-peer --port N");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("a current-thread runtime");
    let local = tokio::task::LocalSet::new();
    let result: std::io::Result<()> = local.block_on(&runtime, async move {
        let socket = TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.set_nodelay(true)?;
        socket.bind(([127, 0, 0, 1], port).into())?;
        let listener = socket.listen(1024)?;
        println!("LISTENING {}", listener.local_addr()?.port());
        let state = Rc::new(State::default());
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                // Out of descriptors and the like: the next accept may work.
                Err(_) => continue,
            };
            tokio::task::spawn_local(connection(stream, state.clone()));
        }
    });
    if let Err(e) = result {
        eprintln!("floor-bench-peer: {e}");
        std::process::exit(1);
    }
}

fn port_arg() -> Result<u16, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(0),
        [flag, n] if flag == "--port" => n.parse().map_err(|_| format!("bad port {n:?}")),
        _ => Err(format!("unexpected arguments {args:?}")),
    }
}

/// The polling sessions and the counter their ids come from.
#[derive(Default)]
struct State {
    sessions: RefCell<HashMap<String, Rc<Session>>>,
    next_id: Cell<u64>,
}

impl State {
    fn new_sid(&self) -> String {
        let n = self.next_id.get() + 1;
        self.next_id.set(n);
        format!("floor{n:015}")
    }
}

/// A polling session: the packets waiting for the next GET, joined by [`SEPARATOR`].
#[derive(Default)]
struct Session {
    queue: RefCell<Vec<u8>>,
    closed: Cell<bool>,
    ready: Notify,
}

/// What the head of a request says, as far as the floor reads it.
struct Head {
    method: Method,
    sid: Option<String>,
    websocket: bool,
    ws_key: Option<String>,
    content_length: usize,
    chunked: bool,
    close: bool,
}

#[derive(PartialEq)]
enum Method {
    Get,
    Post,
    Other,
}

fn parse_head(head: &[u8]) -> Option<Head> {
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = match request_line.next()? {
        "GET" => Method::Get,
        "POST" => Method::Post,
        _ => Method::Other,
    };
    let target = request_line.next()?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/socket.io/" {
        return None;
    }
    let mut parsed = Head {
        method,
        sid: None,
        websocket: false,
        ws_key: None,
        content_length: 0,
        chunked: false,
        close: false,
    };
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("sid", v)) => parsed.sid = Some(v.to_owned()),
            Some(("transport", v)) => parsed.websocket = v == "websocket",
            _ => {}
        }
    }
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            parsed.content_length = value.parse().ok()?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            parsed.chunked = true;
        } else if name.eq_ignore_ascii_case("sec-websocket-key") {
            parsed.ws_key = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("connection") {
            parsed.close = value.eq_ignore_ascii_case("close");
        }
    }
    Some(parsed)
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Reads more into `buf`; `false` at the end of the stream or on an error.
async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    if buf.capacity() - buf.len() < 1024 {
        buf.reserve(4096);
    }
    matches!(stream.read_buf(buf).await, Ok(n) if n > 0)
}

async fn connection(mut stream: TcpStream, state: Rc<State>) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut out: Vec<u8> = Vec::with_capacity(512);
    loop {
        let head_end = loop {
            if let Some(end) = find_head_end(&buf) {
                break end;
            }
            if buf.len() > MAX_HEAD || !fill(&mut stream, &mut buf).await {
                return;
            }
        };
        let Some(head) = parse_head(&buf[..head_end]) else {
            let _ = stream.write_all(&response(b"404", b"")).await;
            return;
        };
        if head.chunked || head.content_length > MAX_PAYLOAD {
            let _ = stream.write_all(&response(b"400", b"")).await;
            return;
        }
        while buf.len() < head_end + head.content_length {
            if !fill(&mut stream, &mut buf).await {
                return;
            }
        }
        let body = buf[head_end..head_end + head.content_length].to_vec();
        buf.drain(..head_end + head.content_length);

        if head.websocket && head.method == Method::Get {
            let Some(key) = head.ws_key else {
                let _ = stream.write_all(&response(b"400", b"")).await;
                return;
            };
            return match head.sid {
                None => websocket(stream, buf, &key, &state).await,
                Some(sid) => upgrade(stream, buf, &key, sid, &state).await,
            };
        }
        let reply = match (&head.method, &head.sid) {
            (Method::Get, None) => {
                if state.sessions.borrow().len() >= MAX_SESSIONS {
                    let _ = stream.write_all(&response(b"503", b"")).await;
                    return;
                }
                let sid = state.new_sid();
                state
                    .sessions
                    .borrow_mut()
                    .insert(sid.clone(), Rc::default());
                open_packet(&sid, true)
            }
            (Method::Get, Some(sid)) => {
                let Some(session) = state.sessions.borrow().get(sid).cloned() else {
                    let _ = stream.write_all(&response(b"400", b"")).await;
                    return;
                };
                loop {
                    let ready = session.ready.notified();
                    let queued = std::mem::take(&mut *session.queue.borrow_mut());
                    if !queued.is_empty() {
                        break queued;
                    }
                    if session.closed.get() {
                        break b"1".to_vec();
                    }
                    ready.await;
                }
            }
            (Method::Post, Some(sid)) => {
                let Some(session) = state.sessions.borrow().get(sid).cloned() else {
                    let _ = stream.write_all(&response(b"400", b"")).await;
                    return;
                };
                if session.queue.borrow().len() > MAX_PAYLOAD {
                    let _ = stream.write_all(&response(b"400", b"")).await;
                    return;
                }
                for packet in body.split(|b| *b == SEPARATOR) {
                    if packet == b"1" {
                        session.closed.set(true);
                        state.sessions.borrow_mut().remove(sid);
                        continue;
                    }
                    let mut queue = session.queue.borrow_mut();
                    answer(packet, sid, |reply| {
                        if !queue.is_empty() {
                            queue.push(SEPARATOR);
                        }
                        queue.extend_from_slice(reply);
                    });
                }
                session.ready.notify_one();
                b"ok".to_vec()
            }
            _ => {
                let _ = stream.write_all(&response(b"400", b"")).await;
                return;
            }
        };
        out.clear();
        out.extend_from_slice(&response(b"200", &reply));
        if stream.write_all(&out).await.is_err() || head.close {
            return;
        }
    }
}

/// The open packet of session `sid`, offering the upgrade to WebSocket on polling.
fn open_packet(sid: &str, polling: bool) -> Vec<u8> {
    let upgrades = if polling { r#"["websocket"]"# } else { "[]" };
    format!(r#"0{{"sid":"{sid}","upgrades":{upgrades},{OPEN_SETTINGS}"#).into_bytes()
}

/// An HTTP/1.1 response with a plain-text body.
fn response(status: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + body.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status);
    out.extend_from_slice(b" \r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: ");
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
    out
}

/// The answer to one Engine.IO packet from a client, if any: the CONNECT reply to `40`, the
/// ack of an `echo` (`42N["echo",A,B]` → `43N[A,B]`). Everything else is ignored.
fn answer(packet: &[u8], sid: &str, mut reply: impl FnMut(&[u8])) {
    if packet.starts_with(b"40") {
        reply(format!(r#"40{{"sid":"s{sid}"}}"#).as_bytes());
    } else if let Some(rest) = packet.strip_prefix(b"42") {
        let open = rest.iter().position(|b| *b == b'[').unwrap_or(rest.len());
        let (id, args) = rest.split_at(open);
        if id.is_empty() || !id.iter().all(u8::is_ascii_digit) {
            return;
        }
        let args: &[u8] = if let Some(more) = args.strip_prefix(br#"["echo","#) {
            more
        } else if args == br#"["echo"]"# {
            b"]"
        } else {
            return;
        };
        let mut out = Vec::with_capacity(4 + id.len() + args.len());
        out.extend_from_slice(b"43");
        out.extend_from_slice(id);
        out.push(b'[');
        out.extend_from_slice(args);
        reply(&out);
    }
}

fn base64(data: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = u32::from(chunk[0]) << 16
            | u32::from(*chunk.get(1).unwrap_or(&0)) << 8
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A server frame (unmasked, unfragmented) of `opcode` around `payload`, appended to `out`.
fn frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

/// One whole client frame at the start of `buf`: its opcode, unmasked payload and length in
/// `buf`; `Ok(None)` while incomplete; `Err` for a frame the floor does not take (unmasked,
/// fragmented, over [`MAX_PAYLOAD`]).
fn client_frame(buf: &[u8]) -> Result<Option<(u8, Vec<u8>, usize)>, ()> {
    if buf.len() < 2 {
        return Ok(None);
    }
    if buf[0] & 0x80 == 0 || buf[1] & 0x80 == 0 {
        return Err(());
    }
    let opcode = buf[0] & 0x0f;
    let (len, at) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() >= 10 => {
            let mut n = [0u8; 8];
            n.copy_from_slice(&buf[2..10]);
            (
                usize::try_from(u64::from_be_bytes(n)).unwrap_or(usize::MAX),
                10,
            )
        }
        126 | 127 => return Ok(None),
        n => (usize::from(n), 2),
    };
    if len > MAX_PAYLOAD {
        return Err(());
    }
    if buf.len() < at + 4 + len {
        return Ok(None);
    }
    let mask = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
    let payload = buf[at + 4..at + 4 + len]
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i & 3])
        .collect();
    Ok(Some((opcode, payload, at + 4 + len)))
}

/// The `101` head that accepts a WebSocket with `key`.
fn accept_head(key: &str) -> Vec<u8> {
    let mut sha1 = sha1_smol::Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let accept = base64(&sha1.digest().bytes());
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes()
}

/// A WebSocket session from its first request: the 101 and the open packet in one write (as
/// Portico sends a new Engine.IO v4 session's), then every whole frame read answered in one
/// write.
async fn websocket(mut stream: TcpStream, buf: Vec<u8>, key: &str, state: &State) {
    let sid = state.new_sid();
    let mut out = accept_head(key);
    frame(&mut out, 1, &open_packet(&sid, false));
    if stream.write_all(&out).await.is_err() {
        return;
    }
    frames(stream, buf, &sid, None, state).await;
}

/// The upgrade of polling session `sid` to this WebSocket: the `101` alone (nothing is sent
/// before the client's probe), then [`frames`] with the probe and the upgrade answered.
async fn upgrade(mut stream: TcpStream, buf: Vec<u8>, key: &str, sid: String, state: &State) {
    let Some(session) = state.sessions.borrow().get(&sid).cloned() else {
        let _ = stream.write_all(&response(b"400", b"")).await;
        return;
    };
    if stream.write_all(&accept_head(key)).await.is_err() {
        return;
    }
    frames(stream, buf, &sid, Some(&session), state).await;
}

/// What an upgrading session's text packet asks, when it is one of the upgrade's own:
/// `2probe` is answered `3probe` and a poll waiting on the old transport gets a noop (the
/// official client waits for it to end before it sends `5`); `5` ends the polling session,
/// whose unread packets (not the noops) follow on this WebSocket.
fn upgrade_step(
    payload: &[u8],
    sid: &str,
    session: &Session,
    state: &State,
    out: &mut Vec<u8>,
) -> bool {
    match payload {
        b"2probe" => {
            frame(out, 1, b"3probe");
            let mut queue = session.queue.borrow_mut();
            if !queue.is_empty() {
                queue.push(SEPARATOR);
            }
            queue.push(b'6');
            drop(queue);
            session.ready.notify_one();
            true
        }
        b"5" => {
            let queued = std::mem::take(&mut *session.queue.borrow_mut());
            for packet in queued.split(|b| *b == SEPARATOR) {
                if !packet.is_empty() && packet != b"6" {
                    frame(out, 1, packet);
                }
            }
            session.closed.set(true);
            session.ready.notify_one();
            state.sessions.borrow_mut().remove(sid);
            true
        }
        _ => false,
    }
}

/// Every whole frame read answered in one write, until the connection ends; `upgrading` is the
/// polling session this WebSocket upgrades, if any.
async fn frames(
    mut stream: TcpStream,
    mut buf: Vec<u8>,
    sid: &str,
    upgrading: Option<&Session>,
    state: &State,
) {
    let mut out = Vec::with_capacity(512);
    loop {
        out.clear();
        let mut closing = false;
        loop {
            let Ok(next) = client_frame(&buf) else {
                frame(&mut out, 8, &1002u16.to_be_bytes());
                closing = true;
                break;
            };
            let Some((opcode, payload, used)) = next else {
                break;
            };
            buf.drain(..used);
            match opcode {
                1 => {
                    let step =
                        upgrading.is_some_and(|s| upgrade_step(&payload, sid, s, state, &mut out));
                    if !step {
                        answer(&payload, sid, |reply| frame(&mut out, 1, reply));
                    }
                }
                8 => {
                    frame(&mut out, 8, &payload[..payload.len().min(2)]);
                    closing = true;
                    break;
                }
                9 => frame(&mut out, 10, &payload),
                _ => {}
            }
        }
        if !out.is_empty() && stream.write_all(&out).await.is_err() {
            return;
        }
        if closing || !fill(&mut stream, &mut buf).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_key_of_rfc_6455() {
        let mut sha1 = sha1_smol::Sha1::new();
        sha1.update(b"dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
        assert_eq!(
            base64(&sha1.digest().bytes()),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
    }

    #[test]
    fn echo_acks_every_argument_and_ignores_the_rest() {
        let reply = |p: &[u8]| {
            let mut got = Vec::new();
            answer(p, "x", |r| got.push(String::from_utf8(r.to_vec()).unwrap()));
            got
        };
        assert_eq!(
            reply(br#"427["echo","a",{"b":[1]}]"#),
            [r#"437["a",{"b":[1]}]"#]
        );
        assert_eq!(reply(br#"4212["echo"]"#), ["4312[]"]);
        assert_eq!(reply(b"40"), [r#"40{"sid":"sx"}"#]);
        assert!(reply(br#"42["echo","no ack"]"#).is_empty());
        assert!(reply(br#"421["other"]"#).is_empty());
        assert!(reply(b"41").is_empty());
    }

    #[test]
    fn frames_over_the_cap_or_unmasked_are_refused() {
        assert_eq!(client_frame(&[0x81]), Ok(None));
        assert_eq!(client_frame(&[0x81, 0x85, 1, 2]), Ok(None));
        assert!(
            client_frame(&[0x81, 0x05, 1, 2, 3, 4, 5]).is_err(),
            "unmasked"
        );
        assert!(
            client_frame(&[0x01, 0x85, 1, 2, 3, 4, 5]).is_err(),
            "fragmented"
        );
        let mut big = vec![0x82, 0xff];
        big.extend_from_slice(&(MAX_PAYLOAD as u64 + 1).to_be_bytes());
        assert!(client_frame(&big).is_err());
        let masked = [0x81, 0x82, 1, 2, 3, 4, b'4' ^ 1, b'0' ^ 2];
        assert_eq!(client_frame(&masked), Ok(Some((1, b"40".to_vec(), 8))));
    }

    #[test]
    fn an_upgrade_answers_the_probe_ends_a_waiting_poll_and_moves_the_unread_packets() {
        let state = State::default();
        let sid = "s1".to_owned();
        let session = Rc::new(Session::default());
        session
            .queue
            .borrow_mut()
            .extend_from_slice(br#"40{"sid":"ss1"}"#);
        state
            .sessions
            .borrow_mut()
            .insert(sid.clone(), session.clone());
        let mut out = Vec::new();
        assert!(upgrade_step(b"2probe", &sid, &session, &state, &mut out));
        let mut want = Vec::new();
        frame(&mut want, 1, b"3probe");
        assert_eq!(out, want);
        assert_eq!(
            &session.queue.borrow()[..],
            &b"40{\"sid\":\"ss1\"}\x1e6"[..]
        );
        out.clear();
        assert!(upgrade_step(b"5", &sid, &session, &state, &mut out));
        want.clear();
        frame(&mut want, 1, br#"40{"sid":"ss1"}"#);
        assert_eq!(out, want, "the unread packet follows, the noop does not");
        assert!(session.closed.get() && session.queue.borrow().is_empty());
        assert!(
            state.sessions.borrow().is_empty(),
            "the polling session is gone"
        );
        assert!(!upgrade_step(
            br#"421["echo"]"#,
            &sid,
            &session,
            &state,
            &mut out
        ));
    }

    #[test]
    fn the_open_packet_offers_the_upgrade_on_polling_only() {
        let polling = String::from_utf8(open_packet("a", true)).unwrap();
        let websocket = String::from_utf8(open_packet("a", false)).unwrap();
        assert!(polling.starts_with(r#"0{"sid":"a","upgrades":["websocket"],"pingInterval""#));
        assert!(websocket.starts_with(r#"0{"sid":"a","upgrades":[],"pingInterval""#));
        assert!(polling.ends_with(r#""maxPayload":1000000}"#));
    }

    #[test]
    fn heads_outside_the_path_or_with_a_bad_length_are_not_taken() {
        assert!(parse_head(b"GET /other HTTP/1.1\r\n\r\n").is_none());
        assert!(
            parse_head(b"POST /socket.io/?sid=a HTTP/1.1\r\nContent-Length: x\r\n\r\n").is_none()
        );
        let h = parse_head(b"POST /socket.io/?EIO=4&transport=polling&sid=a HTTP/1.1\r\ncontent-length: 12\r\n\r\n").unwrap();
        assert!(
            h.method == Method::Post && h.sid.as_deref() == Some("a") && h.content_length == 12
        );
    }
}
