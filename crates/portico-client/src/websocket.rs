//! The WebSocket transport: a WebSocket-only session, the upgrade of a polling session, and
//! the connection task that drives either.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use http::header::{HeaderValue, ORIGIN};
use portico_proto::engine::Packet as EnginePacket;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use crate::client::Command;
use crate::config::Endpoint;
use crate::core::{Core, Open, Step};
use crate::error::ClientError;
use crate::event::DisconnectReason;

/// The WebSocket of one connection.
pub(crate) type Ws = WebSocketStream<TcpStream>;

/// WebSocket read buffer, in bytes: small, so that thousands of idle connections stay cheap
/// (tungstenite grows it for a larger frame).
const READ_BUFFER: usize = 4096;
/// Bytes of frames buffered before a write (a burst leaves in few syscalls).
const WRITE_BUFFER: usize = 16 * 1024;
/// Largest message accepted from the server, in bytes.
const MAX_MESSAGE: usize = 64 << 20;
/// How long the task waits for the server to acknowledge a close.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_MESSAGE.saturating_add(WRITE_BUFFER))
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// Open a WebSocket to the Engine.IO endpoint (`sid` for an upgrade).
async fn dial(endpoint: &Endpoint, sid: Option<&str>) -> Result<Ws, ClientError> {
    let tcp = TcpStream::connect(&endpoint.authority).await?;
    let _ = tcp.set_nodelay(true);
    let url = format!(
        "ws://{}{}",
        endpoint.authority,
        endpoint.target("websocket", sid)
    );
    let mut request = url.into_client_request().map_err(ws_error)?;
    if let Some(origin) = &endpoint.origin {
        let value = HeaderValue::from_str(origin)
            .map_err(|e| ClientError::InvalidConfig(format!("origin {origin:?}: {e}")))?;
        request.headers_mut().insert(ORIGIN, value);
    }
    let (ws, _response) =
        tokio_tungstenite::client_async_with_config(request, tcp, Some(ws_config()))
            .await
            .map_err(ws_error)?;
    Ok(ws)
}

/// Map a tungstenite error; a refused upgrade keeps its status and body.
fn ws_error(e: tungstenite::Error) -> ClientError {
    match e {
        tungstenite::Error::Http(response) => {
            let status = response.status().as_u16();
            ClientError::http(status, response.body().as_deref().unwrap_or_default())
        }
        tungstenite::Error::Io(e) => ClientError::Io(e),
        other => ClientError::WebSocket(other.to_string()),
    }
}

/// Read the next Engine.IO packet; `Err(Closed)` when the WebSocket ends.
async fn next_packet(ws: &mut Ws) -> Result<EnginePacket, ClientError> {
    loop {
        let packet = match ws.next().await {
            Some(Ok(Message::Text(text))) => EnginePacket::decode_websocket_text(Bytes::from(text)),
            Some(Ok(Message::Binary(data))) => Ok(EnginePacket::Binary(data)),
            Some(Ok(Message::Close(_))) | None => return Err(ClientError::Closed),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(ws_error(e)),
        };
        return packet.map_err(|e| ClientError::protocol(format!("bad engine.io frame: {e}")));
    }
}

async fn send_text(ws: &mut Ws, frame: Bytes) -> Result<(), ClientError> {
    let text = Utf8Bytes::try_from(frame)
        .map_err(|_| ClientError::protocol("a frame to send is not UTF-8"))?;
    ws.send(Message::Text(text)).await.map_err(ws_error)
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
        if !out.is_empty() && write_all(&mut ws, &mut out).await.is_err() {
            break DisconnectReason::TransportError;
        }
        if let Step::Closed(reason) = step {
            break reason;
        }
    };
    core.finish(reason);
    let _ = tokio::time::timeout(CLOSE_WAIT, ws.close(None)).await;
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
    for frame in out.drain(..) {
        let text = Utf8Bytes::try_from(frame)
            .map_err(|_| ClientError::protocol("a frame to send is not UTF-8"))?;
        ws.feed(Message::Text(text)).await.map_err(ws_error)?;
    }
    ws.flush().await.map_err(ws_error)
}
