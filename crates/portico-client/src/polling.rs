//! The HTTP long-polling transport: the handshake, the namespace `CONNECT` over polling, and
//! the connection task (one pending GET on one HTTP/1.1 connection, POSTs on another).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, ORIGIN};
use http::{Method, Request};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use portico_proto::engine::{decode_payload_v4, encode_payload_v4, Frame, Packet as EnginePacket};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

use crate::client::Command;
use crate::config::Endpoint;
use crate::core::{Core, Open, Step};
use crate::error::ClientError;
use crate::event::DisconnectReason;

/// Largest polling response body accepted, in bytes.
const MAX_BODY: usize = 64 << 20;
/// Most packets accepted in one polling response.
const MAX_PACKETS: usize = 1 << 20;
/// How long the task waits for the goodbye POST.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// One HTTP/1.1 connection to the server, driven by whoever awaits a request on it.
pub(crate) struct HttpConn {
    sender: http1::SendRequest<Full<Bytes>>,
    conn: http1::Connection<TokioIo<TcpStream>, Full<Bytes>>,
}

impl HttpConn {
    async fn open(authority: &str) -> Result<HttpConn, ClientError> {
        let tcp = TcpStream::connect(authority).await?;
        let _ = tcp.set_nodelay(true);
        let (sender, conn) = http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| ClientError::Io(std::io::Error::other(e)))?;
        Ok(HttpConn { sender, conn })
    }

    /// Send `request` and read the whole response: `(status, body)`.
    async fn request(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> Result<(u16, Bytes), ClientError> {
        let io_error = |e: hyper::Error| ClientError::Io(std::io::Error::other(e));
        let closed = || ClientError::Io(std::io::ErrorKind::ConnectionAborted.into());
        tokio::select! {
            ready = self.sender.ready() => ready.map_err(io_error)?,
            _ = &mut self.conn => return Err(closed()),
        }
        let response = self.sender.send_request(request);
        let exchange = async {
            let response = response.await.map_err(io_error)?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| ClientError::Io(std::io::Error::other(e)))?
                .to_bytes();
            Ok((status, body))
        };
        tokio::select! {
            result = exchange => result,
            _ = &mut self.conn => Err(closed()),
        }
    }
}

/// The polling side of one session: where to send requests.
pub(crate) struct Session {
    endpoint: Endpoint,
    sid: String,
    max_payload: usize,
    requests: Arc<AtomicU64>,
}

impl Session {
    fn request(&self, method: Method, body: Bytes) -> Result<Request<Full<Bytes>>, ClientError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        build_request(&self.endpoint, method, Some(&self.sid), body)
    }

    async fn get(&self, http: &mut HttpConn) -> Result<Vec<EnginePacket>, ClientError> {
        let (status, body) = http
            .request(self.request(Method::GET, Bytes::new())?)
            .await?;
        if status != 200 {
            return Err(ClientError::http(status, &body));
        }
        decode_payload_v4(body, MAX_PACKETS)
            .map_err(|e| ClientError::protocol(format!("bad polling payload: {e}")))
    }

    async fn post(&self, http: &mut HttpConn, frames: &[Frame]) -> Result<(), ClientError> {
        let body = encode_payload_v4(frames);
        let (status, body) = http.request(self.request(Method::POST, body)?).await?;
        if status != 200 {
            return Err(ClientError::http(status, &body));
        }
        Ok(())
    }
}

fn build_request(
    endpoint: &Endpoint,
    method: Method,
    sid: Option<&str>,
    body: Bytes,
) -> Result<Request<Full<Bytes>>, ClientError> {
    let mut builder = Request::builder()
        .method(method.clone())
        .uri(endpoint.target("polling", sid))
        .header(HOST, &endpoint.authority);
    if method == Method::POST {
        builder = builder.header(CONTENT_TYPE, "text/plain;charset=UTF-8");
    }
    if let Some(origin) = &endpoint.origin {
        builder = builder.header(ORIGIN, origin);
    }
    for (name, value) in &endpoint.extra_headers {
        builder = builder.header(name, value);
    }
    builder
        .body(Full::new(body))
        .map_err(|e| ClientError::InvalidConfig(format!("cannot build a request: {e}")))
}

/// The polling handshake: returns the HTTP connection, the session and the open packet.
pub(crate) async fn open(
    endpoint: &Endpoint,
    requests: Arc<AtomicU64>,
) -> Result<(HttpConn, Session, Open), ClientError> {
    let mut http = HttpConn::open(&endpoint.authority).await?;
    requests.fetch_add(1, Ordering::Relaxed);
    let request = build_request(endpoint, Method::GET, None, Bytes::new())?;
    let (status, body) = http.request(request).await?;
    if status != 200 {
        return Err(ClientError::http(status, &body));
    }
    let packets = decode_payload_v4(body, MAX_PACKETS)
        .map_err(|e| ClientError::protocol(format!("bad handshake payload: {e}")))?;
    let first = packets
        .first()
        .ok_or_else(|| ClientError::protocol("empty handshake"))?;
    let open = Open::parse(first)?;
    let session = Session {
        endpoint: endpoint.clone(),
        sid: open.sid.clone(),
        max_payload: open
            .max_payload
            .and_then(|m| usize::try_from(m).ok())
            .unwrap_or(1_000_000),
        requests,
    };
    Ok((http, session, open))
}

/// Send the namespace `CONNECT` over polling and poll until the answer; returns the socket id.
pub(crate) async fn connect_namespace(
    http: &mut HttpConn,
    session: &Session,
    core: &mut Core,
    auth: Option<Value>,
) -> Result<String, ClientError> {
    session
        .post(http, &[Frame::Text(core.connect_frame(auth))])
        .await?;
    let mut out = Vec::new();
    loop {
        let mut connected = None;
        for packet in session.get(http).await? {
            match core.on_packet(packet, &mut out) {
                Step::Continue => {}
                Step::Connected(id) => connected = Some(id),
                Step::Refused(e) => return Err(e),
                Step::Closed(_) => return Err(ClientError::Closed),
            }
        }
        if !out.is_empty() {
            let frames: Vec<Frame> = out.drain(..).map(Frame::Text).collect();
            session.post(http, &frames).await?;
        }
        if let Some(id) = connected {
            return Ok(id);
        }
    }
}

/// State the lanes of the polling task share (never locked across an await).
struct Lanes {
    core: Mutex<Core>,
    outbox: Mutex<Vec<Frame>>,
    wake: Notify,
    /// Milliseconds since `start` at which the server counts as gone without a ping.
    deadline_ms: AtomicU64,
    start: Instant,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The connection task over polling: a GET lane (one pending GET, incoming packets), a POST
/// lane (queued frames, batched), a command lane and the ping deadline, all in one task.
pub(crate) async fn run(
    mut get_http: HttpConn,
    session: Session,
    open: Open,
    core: Core,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let ping_deadline = open.ping_deadline();
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let lanes = Lanes {
        core: Mutex::new(core),
        outbox: Mutex::new(Vec::new()),
        wake: Notify::new(),
        deadline_ms: AtomicU64::new(millis(ping_deadline)),
        start: Instant::now(),
    };
    let mut post_http: Option<HttpConn> = None;
    let mut closer = None;

    let get_lane = async {
        let mut out = Vec::new();
        loop {
            let packets = match session.get(&mut get_http).await {
                Ok(p) => p,
                Err(ClientError::Protocol(_)) => return DisconnectReason::ParseError,
                Err(ClientError::Http { .. }) => return DisconnectReason::TransportClose,
                Err(_) => return DisconnectReason::TransportError,
            };
            {
                let mut core = lock(&lanes.core);
                for packet in packets {
                    if matches!(packet, EnginePacket::Ping(_)) {
                        let at = millis(lanes.start.elapsed() + ping_deadline);
                        lanes.deadline_ms.store(at, Ordering::Relaxed);
                    }
                    if let Step::Closed(reason) = core.on_packet(packet, &mut out) {
                        return reason;
                    }
                }
            }
            if !out.is_empty() {
                lock(&lanes.outbox).extend(out.drain(..).map(Frame::Text));
                lanes.wake.notify_one();
            }
        }
    };
    let post_lane = async {
        loop {
            lanes.wake.notified().await;
            loop {
                let batch = take_batch(&mut lock(&lanes.outbox), session.max_payload);
                if batch.is_empty() {
                    break;
                }
                let http = match post_http.as_mut() {
                    Some(http) => http,
                    None => match HttpConn::open(&session.endpoint.authority).await {
                        Ok(http) => post_http.insert(http),
                        Err(_) => return DisconnectReason::TransportError,
                    },
                };
                match session.post(http, &batch).await {
                    Ok(()) => {}
                    Err(ClientError::Http { .. }) => return DisconnectReason::TransportClose,
                    Err(_) => return DisconnectReason::TransportError,
                }
            }
        }
    };
    let command_lane = async {
        loop {
            let command = commands.recv().await;
            match command {
                Some(Command::Send(frame)) => lock(&lanes.outbox).push(Frame::Text(frame)),
                Some(Command::SendWithAck { frame, id, waiter }) => {
                    lock(&lanes.core).add_ack(id, waiter);
                    lock(&lanes.outbox).push(Frame::Text(frame));
                }
                Some(Command::ForgetAck(id)) => lock(&lanes.core).forget_ack(id),
                Some(Command::Close(done)) => {
                    closer = Some(done);
                    return DisconnectReason::ClientDisconnect;
                }
                None => return DisconnectReason::ClientDisconnect,
            }
            lanes.wake.notify_one();
        }
    };
    let ping_lane = async {
        loop {
            let at = lanes.deadline_ms.load(Ordering::Relaxed);
            tokio::time::sleep_until(lanes.start + Duration::from_millis(at)).await;
            if lanes.deadline_ms.load(Ordering::Relaxed) <= at {
                return DisconnectReason::PingTimeout;
            }
        }
    };
    let reason = tokio::select! {
        r = get_lane => r,
        r = post_lane => r,
        r = command_lane => r,
        r = ping_lane => r,
    };
    if reason == DisconnectReason::ClientDisconnect {
        // Say goodbye on a fresh connection (the others may be mid-request).
        let goodbye = async {
            let mut http = HttpConn::open(&session.endpoint.authority).await?;
            session
                .post(&mut http, &[Frame::Text(Bytes::from_static(b"1"))])
                .await
        };
        let _ = tokio::time::timeout(CLOSE_WAIT, goodbye).await;
    }
    lock(&lanes.core).finish(reason);
    if let Some(done) = closer {
        let _ = done.send(());
    }
}

/// Take queued frames up to `max_payload` bytes (at least one frame).
fn take_batch(outbox: &mut Vec<Frame>, max_payload: usize) -> Vec<Frame> {
    let mut size = 0usize;
    let mut n = 0;
    for frame in outbox.iter() {
        size = size.saturating_add(frame.payload_len() + 1);
        if n > 0 && size > max_payload {
            break;
        }
        n += 1;
    }
    outbox.drain(..n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_max_payload() {
        let frame = || Frame::Text(Bytes::from_static(b"4xxxxxxxxx")); // 10 bytes + separator
        let mut outbox: Vec<Frame> = (0..5).map(|_| frame()).collect();
        assert_eq!(take_batch(&mut outbox, 25).len(), 2);
        assert_eq!(take_batch(&mut outbox, 5).len(), 1);
        assert_eq!(take_batch(&mut outbox, 1000).len(), 2);
        assert!(take_batch(&mut outbox, 1000).is_empty());
    }
}
