//! The WebSocket transport: a WebSocket-only session, the upgrade of a polling session, and
//! the connection task that drives either.

use std::future::Future;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::FutureExt;
use portico_proto::engine::Packet as EnginePacket;
use portico_proto::ws::{self, Message, Reader, Role, WsError};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::client::Command;
use crate::config::Endpoint;
use crate::core::{Core, Open, Step};
use crate::error::ClientError;
use crate::event::DisconnectReason;

/// Largest message accepted from the server, in bytes.
const MAX_MESSAGE: usize = 64 << 20;
/// Bytes read from the socket at a time during a burst.
const READ_CHUNK: usize = 16 * 1024;
/// Bytes read at a time otherwise (one or a few messages).
const SMALL_READ: usize = 1024;
/// Largest HTTP response head accepted during the handshake.
const MAX_HEAD: usize = 16 * 1024;
/// Largest error body read from a refused upgrade (more is not needed to show it).
const MAX_ERROR_BODY: usize = 4096;
/// How long the task waits for the server to acknowledge a close.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// The WebSocket of one connection: frames read with [`Reader`] straight from the socket,
/// frames written masked, as a client must.
pub(crate) struct Ws {
    tcp: TcpStream,
    reader: Reader,
    /// Control frames (pong, close) to write before anything else.
    control: Vec<u8>,
    /// No more messages will be read.
    read_done: bool,
    /// A close frame was queued or written.
    close_sent: bool,
    /// The last read filled all the room it had: a burst is arriving.
    last_read_full: bool,
}

/// Open a WebSocket to the Engine.IO endpoint (`sid` for an upgrade).
async fn dial(endpoint: &Endpoint, sid: Option<&str>) -> Result<Ws, ClientError> {
    let mut tcp = TcpStream::connect(&endpoint.authority).await?;
    let _ = tcp.set_nodelay(true);
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
    let mut request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n",
        endpoint.target("websocket", sid),
        endpoint.authority,
    );
    if let Some(origin) = &endpoint.origin {
        if origin.bytes().any(|b| b.is_ascii_control()) {
            return Err(ClientError::InvalidConfig(format!(
                "origin {origin:?}: control characters are not allowed in a header"
            )));
        }
        request.push_str("Origin: ");
        request.push_str(origin);
        request.push_str("\r\n");
    }
    for (name, value) in &endpoint.extra_headers {
        // Checked by `Endpoint::parse`: no line break in either; the value came from a `str`,
        // so the lossy conversion leaves it as it is.
        request.push_str(name.as_str());
        request.push_str(": ");
        request.push_str(&String::from_utf8_lossy(value.as_bytes()));
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes()).await?;

    // The response head, and whatever followed it in the same reads.
    let mut head = Vec::with_capacity(512);
    let end = loop {
        let mut chunk = [0u8; 1024];
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Err(ClientError::WebSocket(
                "the server closed the connection during the WebSocket handshake".into(),
            ));
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if head.len() > MAX_HEAD {
            return Err(ClientError::WebSocket(format!(
                "WebSocket handshake response headers over {MAX_HEAD} bytes"
            )));
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(&head[..end]) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) | Err(_) => {
            return Err(ClientError::WebSocket(
                "the WebSocket handshake response is not valid HTTP".into(),
            ))
        }
    }
    let status = response.code.unwrap_or(0);
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    if status != 101 {
        // A refusal: keep its status and body (what `doctor` shows).
        let length = header("content-length")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0)
            .min(MAX_ERROR_BODY);
        let mut body = head[end..].to_vec();
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            while body.len() < length {
                let mut chunk = [0u8; 1024];
                match tcp.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => body.extend_from_slice(&chunk[..n]),
                }
            }
        })
        .await;
        body.truncate(length.max(body.len().min(MAX_ERROR_BODY)));
        return Err(ClientError::http(status, &body));
    }
    let upgrade_ok = header("upgrade").is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    let connection_ok = header("connection").is_some_and(|v| {
        v.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
    });
    if !upgrade_ok || !connection_ok {
        return Err(ClientError::WebSocket(
            "the 101 response lacks `Upgrade: websocket` or `Connection: Upgrade`".into(),
        ));
    }
    if header("sec-websocket-accept").as_deref().map(str::trim)
        != Some(ws::accept_key(key.as_bytes()).as_str())
    {
        return Err(ClientError::WebSocket(
            "the 101 response has a wrong Sec-WebSocket-Accept".into(),
        ));
    }
    Ok(Ws {
        tcp,
        reader: Reader::new(Role::Client, MAX_MESSAGE).with_initial(&head[end..]),
        control: Vec::new(),
        read_done: false,
        close_sent: false,
        last_read_full: false,
    })
}

impl Ws {
    /// The next text or binary message (pings are answered, pongs skipped); `None` once the
    /// server closed or the stream ended. Cancel-safe: all state lives in `self`.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, ClientError>>> {
        loop {
            if self.read_done {
                return Poll::Ready(None);
            }
            let decoded = match self.reader.next_buffered() {
                Ok(Some(m)) => Ok(Some(m)),
                Ok(None) => {
                    // Read in bulk straight into the reader's buffer: the messages of a burst
                    // are then split off it without a copy or an allocation each.
                    // Room for a burst after a read that filled its buffer; otherwise a
                    // small buffer (an allocation the allocator serves from its cache).
                    let want = if self.last_read_full {
                        READ_CHUNK
                    } else {
                        SMALL_READ
                    };
                    let buf = self.reader.buffer_mut();
                    buf.reserve(want);
                    let room = buf.capacity() - buf.len();
                    let read = {
                        let mut fut = std::pin::pin!(self.tcp.read_buf(buf));
                        ready!(fut.as_mut().poll(cx))
                    };
                    self.last_read_full = matches!(read, Ok(n) if n == room);
                    match read {
                        Err(e) => {
                            self.read_done = true;
                            return Poll::Ready(Some(Err(ClientError::Io(e))));
                        }
                        Ok(0) => {
                            self.read_done = true;
                            return Poll::Ready(None);
                        }
                        Ok(_) => self.reader.next_buffered(),
                    }
                }
                Err(e) => Err(e),
            };
            match decoded {
                Ok(Some(Message::Ping(payload))) => {
                    if !self.close_sent {
                        self.control.extend(ws::control_frame(
                            ws::PONG,
                            &payload,
                            Some(rand::random()),
                        ));
                    }
                    return Poll::Ready(Some(Ok(Message::Ping(payload))));
                }
                Ok(Some(Message::Pong(_))) | Ok(None) => {}
                Ok(Some(Message::Close(frame))) => {
                    self.queue_close(frame.map_or(ws::CLOSE_NORMAL, |f| f.code));
                    self.read_done = true;
                    return Poll::Ready(None);
                }
                Ok(Some(m)) => return Poll::Ready(Some(Ok(m))),
                Err(e) => return Poll::Ready(Some(Err(self.fail(e)))),
            }
        }
    }

    async fn next(&mut self) -> Option<Result<Message, ClientError>> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    fn fail(&mut self, e: WsError) -> ClientError {
        self.queue_close(e.close_code());
        self.read_done = true;
        self.reader.clear();
        ClientError::WebSocket(format!("the server broke the WebSocket protocol: {e}"))
    }

    fn queue_close(&mut self, code: u16) {
        if !self.close_sent {
            self.close_sent = true;
            self.control.extend(ws::control_frame(
                ws::CLOSE,
                &ws::close_payload(code, ""),
                Some(rand::random()),
            ));
        }
    }

    fn has_control(&self) -> bool {
        !self.control.is_empty()
    }

    /// Write `frames` as masked text frames, after any control frame, in one write.
    async fn write_text(&mut self, frames: &[Bytes]) -> Result<(), ClientError> {
        let total: usize = self.control.len() + frames.iter().map(|f| f.len() + 14).sum::<usize>();
        let mut buf = Vec::with_capacity(total);
        buf.append(&mut self.control);
        for frame in frames {
            let mask: [u8; 4] = rand::random();
            buf.extend_from_slice(ws::header(ws::TEXT, frame.len(), Some(mask)).as_bytes());
            let start = buf.len();
            buf.extend_from_slice(frame);
            ws::apply_mask(&mut buf[start..], mask);
        }
        if buf.is_empty() {
            return Ok(());
        }
        self.tcp.write_all(&buf).await?;
        Ok(())
    }

    /// Send a close frame (unless one was sent) and wait, within [`CLOSE_WAIT`], for the
    /// server to end the connection.
    async fn close(&mut self) {
        self.queue_close(ws::CLOSE_NORMAL);
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            if self.write_text(&[]).await.is_err() {
                return;
            }
            while let Some(Ok(_)) = self.next().await {}
        })
        .await;
        let _ = self.tcp.shutdown().await;
    }
}

/// Read the next Engine.IO packet; `Err(Closed)` when the WebSocket ends.
async fn next_packet(ws: &mut Ws) -> Result<EnginePacket, ClientError> {
    loop {
        let packet = match ws.next().await {
            Some(Ok(Message::Text(text))) => EnginePacket::decode_websocket_text(text),
            Some(Ok(Message::Binary(data))) => Ok(EnginePacket::Binary(data)),
            // The pong is written with the next frames the connection sends (never from here:
            // this future may be dropped half-way, a write must not be).
            Some(Ok(_)) => continue,
            None => return Err(ClientError::Closed),
            Some(Err(e)) => return Err(e),
        };
        return packet.map_err(|e| ClientError::protocol(format!("bad engine.io frame: {e}")));
    }
}

async fn send_text(ws: &mut Ws, frame: Bytes) -> Result<(), ClientError> {
    ws.write_text(&[frame]).await
}

/// Start a WebSocket-only session: returns the WebSocket and the open packet.
pub(crate) async fn open(endpoint: &Endpoint) -> Result<(Ws, Open), ClientError> {
    let mut ws = dial(endpoint, None).await?;
    let open = Open::parse(&next_packet(&mut ws).await?)?;
    Ok((ws, open))
}

/// Send the namespace `CONNECT` and wait for the answer; returns the socket id.
pub(crate) async fn connect_namespace(
    mut ws: Ws,
    core: &mut Core,
    auth: Option<Value>,
) -> Result<(Ws, String), ClientError> {
    send_text(&mut ws, core.connect_frame(auth)).await?;
    let mut out = Vec::new();
    loop {
        let step = core.on_packet(next_packet(&mut ws).await?, &mut out);
        for frame in out.drain(..) {
            send_text(&mut ws, frame).await?;
        }
        match step {
            Step::Continue => {}
            Step::Connected(id) => return Ok((ws, id)),
            Step::Refused(e) => return Err(e),
            Step::Closed(_) => return Err(ClientError::Closed),
        }
    }
}

/// Upgrade polling session `sid` to WebSocket: `2probe`, `3probe`, `5`.
pub(crate) async fn upgrade(endpoint: &Endpoint, sid: &str) -> Result<Ws, ClientError> {
    let mut ws = dial(endpoint, Some(sid)).await?;
    send_text(&mut ws, Bytes::from_static(b"2probe")).await?;
    loop {
        match next_packet(&mut ws).await? {
            EnginePacket::Pong(data) if &data[..] == b"probe" => break,
            EnginePacket::Noop => {}
            other => {
                return Err(ClientError::protocol(format!(
                    "expected 3probe during the upgrade, got {other:?}"
                )))
            }
        }
    }
    send_text(&mut ws, Bytes::from_static(b"5")).await?;
    Ok(ws)
}

/// The connection task over a WebSocket: read frames, answer pings, send what the handles
/// ask, until the connection ends.
pub(crate) async fn run(
    mut ws: Ws,
    mut core: Core,
    mut commands: mpsc::UnboundedReceiver<Command>,
    ping_deadline: Duration,
) {
    let mut out: Vec<Bytes> = Vec::new();
    let mut closer = None;
    let timer = tokio::time::sleep(ping_deadline);
    tokio::pin!(timer);
    let reason = loop {
        let step = tokio::select! {
            packet = next_packet(&mut ws) => {
                core.begin_batch();
                let mut step = on_read(packet, &mut core, &mut out, timer.as_mut(), ping_deadline);
                // Take what has already arrived without another turn of the select (a burst
                // of small events then costs one wake-up, not one per event).
                for _ in 0..READ_BATCH {
                    if !matches!(step, Step::Continue) {
                        break;
                    }
                    match next_packet(&mut ws).now_or_never() {
                        Some(packet) => {
                            step = on_read(packet, &mut core, &mut out, timer.as_mut(), ping_deadline);
                        }
                        None => break,
                    }
                }
                core.end_batch();
                step
            }
            command = commands.recv() => {
                let mut command = command;
                let mut ended = false;
                loop {
                    match command {
                        Some(Command::Send(frame)) => out.push(frame),
                        Some(Command::SendWithAck { frame, id, waiter }) => {
                            core.add_ack(id, waiter);
                            out.push(frame);
                        }
                        Some(Command::ForgetAck(id)) => core.forget_ack(id),
                        Some(Command::Close(done)) => {
                            closer = Some(done);
                            ended = true;
                            break;
                        }
                        None => {
                            ended = true;
                            break;
                        }
                    }
                    // Take everything queued, so that it leaves in one write.
                    command = match commands.try_recv() {
                        Ok(c) => Some(c),
                        Err(_) => break,
                    };
                }
                if ended {
                    out.push(Bytes::from_static(b"1"));
                    Step::Closed(DisconnectReason::ClientDisconnect)
                } else {
                    Step::Continue
                }
            }
            () = &mut timer => Step::Closed(DisconnectReason::PingTimeout),
        };
        if (!out.is_empty() || ws.has_control()) && write_all(&mut ws, &mut out).await.is_err() {
            break DisconnectReason::TransportError;
        }
        if let Step::Closed(reason) = step {
            break reason;
        }
    };
    core.finish(reason);
    ws.close().await;
    if let Some(done) = closer {
        let _ = done.send(());
    }
}

/// Most packets handled from one wake-up of the connection task before it looks at its
/// commands and timer again.
const READ_BATCH: usize = 256;

/// Handle the outcome of reading one packet.
fn on_read(
    packet: Result<EnginePacket, ClientError>,
    core: &mut Core,
    out: &mut Vec<Bytes>,
    timer: std::pin::Pin<&mut tokio::time::Sleep>,
    ping_deadline: Duration,
) -> Step {
    match packet {
        Ok(packet) => {
            if matches!(packet, EnginePacket::Ping(_)) {
                timer.reset(Instant::now() + ping_deadline);
            }
            core.on_packet(packet, out)
        }
        Err(ClientError::Closed) => Step::Closed(DisconnectReason::TransportClose),
        Err(ClientError::Protocol(_)) => Step::Closed(DisconnectReason::ParseError),
        Err(_) => Step::Closed(DisconnectReason::TransportError),
    }
}

async fn write_all(ws: &mut Ws, out: &mut Vec<Bytes>) -> Result<(), ClientError> {
    let res = ws.write_text(out).await;
    out.clear();
    res
}
