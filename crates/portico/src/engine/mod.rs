//! Engine.IO over HTTP: sessions, the polling and WebSocket transports, heartbeats and the
//! upgrade. One [`Conn`] per session, driven by one task ([`driver`]); the request side lives
//! in [`polling`] and [`ws`].
//!
//! The engine knows nothing of Socket.IO. It calls one [`Handler`] when a session opens, and
//! that session's [`ConnHandler`] for each message, its deadline and its close — as Node's
//! engine.io calls socket.io. The Socket.IO layer (`crate::sio`) is one handler, the
//! Engine.IO conformance echo ([`echo`]) another. Nothing under `engine/` imports the
//! Socket.IO layer, the namespaces or the server (`tests/layering.rs` checks it).

pub(crate) mod admission;
pub(crate) mod conn;
pub(crate) mod defer;
pub(crate) mod driver;
pub(crate) mod echo;
pub(crate) mod polling;
pub(crate) mod ws;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Method, Response, StatusCode};
use portico_cors::RequestHeaders;
use portico_proto::engine::session::{CloseReason, Incoming, Protocol, SessionConfig, Transport};
use portico_proto::engine::{ErrorCode, Traffic};
use tokio::sync::Notify;

pub(crate) use conn::Conn;

use crate::handshake::{ClientAddr, ConnInfo};
use crate::hooks::AllowFn;
use crate::http::{
    error, error_because, forbidden, has_body, is_websocket_upgrade, limit_refusal, status, Answer,
    Body, Query, RequestHead,
};
use crate::refusal::{Reason, Refusals};
use crate::sid::{Sid, SidMap};
use admission::{Admission, Refused, Slot};
use ws::upgrade::Upgrading;

/// What the engine calls when a session opens: the layer above (Socket.IO, or the echo).
pub(crate) trait Handler: Send + Sync + 'static {
    /// A session opened (its open packet is queued). Returns what receives its messages.
    fn on_open(&self, conn: &Arc<Conn>) -> Arc<dyn ConnHandler>;
}

/// What the engine calls for one session. Every call comes after [`Handler::on_open`] and
/// none after [`ConnHandler::on_close`].
pub(crate) trait ConnHandler: Send + Sync + 'static {
    /// A message from the client.
    fn on_message(&self, msg: Incoming);

    /// The session ended; it is no longer in the engine's table.
    fn on_close(&self, reason: CloseReason);

    /// The session moved from long-polling to WebSocket. Default: nothing.
    fn on_upgrade(&self) {}

    /// A deadline of the layer above (Socket.IO's connect timeout): the driver calls
    /// [`ConnHandler::on_deadline`] once it passes. The driver asks again each turn until
    /// the answer is `None`, then never again (a one-shot timer).
    fn deadline(&self) -> Option<Instant> {
        None
    }

    /// The [`ConnHandler::deadline`] passed.
    fn on_deadline(&self) {}

    /// Work is pending that a graceful shutdown waits for (acknowledgements, for Socket.IO):
    /// the engine does not close the session at the start of the shutdown, and the layer
    /// above closes it once the work is done (or the deadline does). Default: `false`.
    fn is_busy(&self) -> bool {
        false
    }
}

/// The engine's settings, taken from the server's configuration.
#[derive(Clone)]
pub(crate) struct EngineConfig {
    /// Heartbeats, buffers and the protocol of each session.
    pub(crate) ping_interval: Duration,
    pub(crate) ping_timeout: Duration,
    pub(crate) upgrade_timeout: Duration,
    pub(crate) max_buffer_bytes: usize,
    pub(crate) max_buffer_packets: usize,
    pub(crate) max_sessions: usize,
    pub(crate) max_sessions_per_ip: usize,
    pub(crate) max_payload: u64,
    pub(crate) polling: bool,
    pub(crate) websocket: bool,
    pub(crate) allow_upgrades: bool,
    pub(crate) allow_eio3: bool,
    pub(crate) allow_request: Option<Arc<AllowFn>>,
    /// Whether a handshake's response is marked as one ([`crate::http::HandshakeResponse`]):
    /// only the session cookie and the `initial_headers` hooks read the mark, and an extension
    /// costs a response three allocations.
    pub(crate) mark_handshakes: bool,
}

impl EngineConfig {
    pub(crate) fn session(&self, protocol: Protocol) -> SessionConfig {
        SessionConfig {
            ping_interval: self.ping_interval,
            ping_timeout: self.ping_timeout,
            upgrade_timeout: self.upgrade_timeout,
            max_buffer_bytes: self.max_buffer_bytes,
            max_buffer_packets: self.max_buffer_packets,
            close_linger: self.ping_timeout,
            protocol,
        }
    }
}

/// How long the id of a polling session the client closed itself is kept for the one `GET`
/// it may still have in flight (see [`Engine::remember_client_close`]).
const LATE_GET_GRACE: Duration = Duration::from_secs(5);

/// At most this many such ids are kept (the oldest go first): a client opening and closing
/// sessions in a loop cannot grow the list.
const LATE_GET_MAX: usize = 1024;
/// A snapshot of the engine for `Server::stats`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct EngineStats {
    pub(crate) polling: usize,
    pub(crate) websocket: usize,
    /// Polling sessions with a WebSocket upgrade under way (also counted in `polling`).
    pub(crate) upgrading: usize,
    pub(crate) traffic: Traffic,
    /// Sessions opened and closed since the start.
    pub(crate) opened: u64,
    pub(crate) closed: u64,
}

/// The Engine.IO server: its settings, its sessions and the handler above it.
pub(crate) struct Engine {
    pub(crate) config: EngineConfig,
    /// By [`SidHasher`](crate::sid::SidHasher), not SipHash: every request of a session looks
    /// its id up here, and the ids are the server's own random ones (a peer's id only looks
    /// one up, so it cannot make the map's chains long).
    sessions: Mutex<SidMap<Arc<Conn>>>,
    /// Polling sessions the client closed with its close packet while no `GET` was pending,
    /// with when they may be forgotten: their late `GET` gets a noop, not a 400.
    closed_by_client: Mutex<VecDeque<(Sid, Instant, Protocol)>>,
    /// The traffic of the sessions that have closed, added when each leaves `sessions`
    /// (under that lock, so that a snapshot never counts a session twice or not at all).
    closed_traffic: Mutex<Traffic>,
    /// Sessions opened and closed since the start (once per session, never per packet).
    opened: std::sync::atomic::AtomicU64,
    closed: std::sync::atomic::AtomicU64,
    sessions_changed: Notify,
    shutting_down: AtomicBool,
    handler: Arc<dyn Handler>,
    /// `max_sessions` and `max_sessions_per_ip`.
    admission: Arc<Admission>,
    /// Every refusal, counted by reason; its warnings rate-limited.
    pub(crate) refusals: Refusals,
    /// The session settings for each protocol (v4, v3, v3 with base64), shared by every
    /// session rather than copied into each.
    session_configs: [Arc<SessionConfig>; 3],
}

impl Engine {
    pub(crate) fn new(config: EngineConfig, handler: Arc<dyn Handler>) -> Engine {
        Engine {
            sessions: Mutex::new(SidMap::default()),
            closed_by_client: Mutex::new(VecDeque::new()),
            closed_traffic: Mutex::new(Traffic::default()),
            opened: std::sync::atomic::AtomicU64::new(0),
            closed: std::sync::atomic::AtomicU64::new(0),
            sessions_changed: Notify::new(),
            shutting_down: AtomicBool::new(false),
            handler,
            admission: Arc::new(Admission::new(
                config.max_sessions,
                config.max_sessions_per_ip,
            )),
            refusals: Refusals::default(),
            session_configs: [
                Arc::new(config.session(Protocol::V4)),
                Arc::new(config.session(Protocol::V3 { b64: false })),
                Arc::new(config.session(Protocol::V3 { b64: true })),
            ],
            config,
        }
    }

    /// The settings of a session speaking `protocol`.
    pub(crate) fn session_config(&self, protocol: Protocol) -> Arc<SessionConfig> {
        let [v4, v3, v3_b64] = &self.session_configs;
        match protocol {
            Protocol::V4 => v4.clone(),
            Protocol::V3 { b64: false } => v3.clone(),
            Protocol::V3 { b64: true } => v3_b64.clone(),
        }
    }

    pub(crate) fn handler(&self) -> &dyn Handler {
        &*self.handler
    }

    /// Open sessions.
    pub(crate) fn connection_count(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Refuse new sessions (503) from now on; returns whether this call started it.
    pub(crate) fn begin_shutdown(&self) -> bool {
        !self.shutting_down.swap(true, Ordering::AcqRel)
    }

    /// Close every session for `reason` and wait until all are gone.
    pub(crate) async fn close_all(&self, reason: CloseReason) {
        let conns: Vec<Arc<Conn>> = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for c in conns {
            c.close(reason);
        }
        loop {
            let changed = self.sessions_changed.notified();
            if self.connection_count() == 0 {
                return;
            }
            changed.await;
        }
    }

    /// Close, for `reason`, every session whose handler is not busy; returns how many were
    /// left open because they were.
    pub(crate) fn close_idle(&self, reason: CloseReason) -> usize {
        let mut busy = 0;
        for c in self.conns() {
            if c.is_busy() {
                busy += 1;
            } else {
                c.close(reason);
            }
        }
        busy
    }

    /// Close every session for `reason`, busy or not, without waiting.
    pub(crate) fn close_idle_or_busy(&self, reason: CloseReason) {
        for c in self.conns() {
            c.close(reason);
        }
    }

    /// Wait until no session is left, or until `deadline`; `false` if some were left.
    pub(crate) async fn wait_closed(&self, deadline: tokio::time::Instant) -> bool {
        self.wait_until(deadline, || self.connection_count() == 0)
            .await
    }

    /// Wait until every session left is closed (their close is under way: a polling client
    /// may still have to collect its close packet), or until `deadline`; `false` if some were
    /// still open.
    pub(crate) async fn wait_all_closing(&self, deadline: tokio::time::Instant) -> bool {
        self.wait_until(deadline, || self.conns().iter().all(|c| c.is_closed()))
            .await
    }

    /// Wait until `done()`, checked again whenever a session closes or leaves, or until
    /// `deadline`; returns the last `done()`.
    async fn wait_until(&self, deadline: tokio::time::Instant, done: impl Fn() -> bool) -> bool {
        loop {
            let changed = self.sessions_changed.notified();
            if done() {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return done();
            }
        }
    }

    /// A session closed (it may not have left the table yet): wake the shutdown's waits.
    /// Only while shutting down, so that closing costs nothing more otherwise.
    pub(crate) fn session_closed(&self) {
        if self.is_shutting_down() {
            self.sessions_changed.notify_waiters();
        }
    }

    fn conns(&self) -> Vec<Arc<Conn>> {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub(crate) fn insert_session(&self, conn: Arc<Conn>) {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(conn.sid, conn);
        self.opened.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn remove_session(&self, sid: &Sid) {
        {
            let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(conn) = sessions.remove(sid) {
                let traffic = conn.session().traffic();
                let mut closed = self
                    .closed_traffic
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                *closed += traffic;
                self.closed.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sessions_changed.notify_waiters();
    }

    /// A polling client closed session `sid` with its close packet, and the `GET` it may
    /// have sent just before has not reached the server yet (the two travel on different
    /// connections, and may be read in either order). Keep the id for [`LATE_GET_GRACE`] so
    /// that this `GET` gets the noop it would have had, instead of `Session ID unknown`.
    pub(crate) fn remember_client_close(&self, sid: Sid, protocol: Protocol) {
        let now = conn::now();
        let mut closed = self
            .closed_by_client
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        while closed.len() >= LATE_GET_MAX || closed.front().is_some_and(|(_, t, _)| *t <= now) {
            closed.pop_front();
        }
        closed.push_back((sid, now + LATE_GET_GRACE, protocol));
    }

    /// Whether `sid` is a session the client closed a moment ago whose late `GET` is still
    /// owed its noop; it is owed only once.
    pub(crate) fn take_client_close(&self, sid: &Sid) -> Option<Protocol> {
        let mut closed = self
            .closed_by_client
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if closed.is_empty() {
            return None;
        }
        let now = conn::now();
        while closed.front().is_some_and(|(_, t, _)| *t <= now) {
            closed.pop_front();
        }
        let i = closed.iter().position(|(s, _, _)| s == sid)?;
        closed.remove(i).map(|(_, _, protocol)| protocol)
    }

    /// Sessions by transport and the traffic of every session since the start: the open
    /// ones are looked at one by one (each under its own lock, briefly), the closed ones were
    /// added up as they closed. Costs one lock per open session: for scrapes, not hot paths.
    pub(crate) fn stats(&self) -> EngineStats {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let mut stats = EngineStats::default();
        for conn in sessions.values() {
            let s = conn.session();
            match s.transport() {
                Transport::Polling => stats.polling += 1,
                Transport::WebSocket => stats.websocket += 1,
            }
            if s.probe_active() {
                stats.upgrading += 1;
            }
            stats.traffic += s.traffic();
        }
        let closed = *self
            .closed_traffic
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        stats.traffic += closed;
        stats.opened = self.opened.load(Ordering::Relaxed);
        stats.closed = self.closed.load(Ordering::Relaxed);
        stats
    }

    pub(crate) fn session(&self, sid: &Sid) -> Option<Arc<Conn>> {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sid)
            .cloned()
    }
}

/// What a WebSocket upgrade request is for.
pub(crate) enum WsTarget {
    /// A new WebSocket-only session, with its place in the session counts.
    New(Slot),
    /// The upgrade of this polling session.
    Upgrade(Arc<Conn>),
}

/// The answer to a handshake refused by `max_sessions` or `max_sessions_per_ip`.
fn refuse(engine: &Engine, refused: Refused) -> Response<Body> {
    match refused {
        Refused::Full => limit_refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "Server full: too many sessions (max_sessions {})",
                engine.config.max_sessions
            ),
            Reason::MaxSessions,
        ),
        Refused::PerIp => limit_refusal(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "Too many sessions from this address (max_sessions_per_ip {})",
                engine.config.max_sessions_per_ip
            ),
            Reason::MaxSessionsPerIp,
        ),
    }
}

/// Why a handshake's `EIO` is refused, and what to do about it.
fn unsupported_eio(eio: Option<&str>, allow_eio3: bool) -> String {
    let speaks = if allow_eio3 {
        "EIO=4 and EIO=3"
    } else {
        "EIO=4"
    };
    match eio {
        Some("3") => "EIO=3 is socket.io-client 2.x (Engine.IO v3), off by default: \
                      enable ServerBuilder::allow_eio3(true) (portico serve --allow-eio3), \
                      or upgrade the client to socket.io-client 4.x"
            .to_owned(),
        Some(v) => format!(
            "EIO={} is not a protocol this server speaks ({speaks})",
            v.chars().take(16).collect::<String>()
        ),
        None => format!("the query has no EIO parameter (this server speaks {speaks})"),
    }
}

/// Route an Engine.IO request by the reference server's order of checks: transport, session
/// id, then (for a handshake) method, upgrade, protocol version and `allow_request`.
/// `info` makes the handshake's view of the request (only called for a new session);
/// `client`: the handshake's addresses (what `max_sessions_per_ip` counts and the
/// `allow_request` hook sees), when the request came from a peer.
///
/// `upgrade`: whether the request is a WebSocket upgrade, when the caller's parse has decided
/// it already (Portico's own HTTP/1 path, which takes an upgrade only without a body, and
/// hands its stream over itself: [`Upgrading::Direct`]); [`Upgrading::Undecided`] looks at
/// the headers (`Upgrade`, `Connection` and the body's).
///
/// The request's head is borrowed, not moved: it stays where the caller put it, and only the
/// body (a polling POST's) moves on, rather than copy about 250 bytes (the `HeaderMap` and
/// `Uri` with it) into each future of the chain. (Those copies were a third of a polling
/// request's simulated data write misses; bench/README.md found them cost no measurable time.)
pub(crate) async fn route<B, R>(
    engine: &Arc<Engine>,
    req: &R,
    body: B,
    query: Query<'_>,
    upgrade: Upgrading<'_>,
    client: Option<ClientAddr>,
    info: impl FnOnce(&R) -> Arc<ConnInfo>,
) -> Answer
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    R: RequestHead + ?Sized,
{
    let config = &engine.config;
    let Some(transport) = served_transport(engine, &query) else {
        return error(ErrorCode::TransportUnknown).into();
    };
    let (upgrade, stream) = match upgrade {
        Upgrading::No => (false, None),
        Upgrading::Direct(handover) => (true, Some(ws::upgrade::Upgrade::Direct(handover))),
        Upgrading::Undecided(on_upgrade) => {
            let upgrade = is_websocket_upgrade(req);
            if upgrade && has_body(req) {
                // An upgrade request carries no body: what would follow it is not WebSocket
                // frames.
                return error(ErrorCode::BadRequest).into();
            }
            (
                upgrade,
                upgrade.then(|| ws::upgrade::Upgrade::hyper(on_upgrade)),
            )
        }
    };
    if let Some(sid) = query.sid() {
        return match session(engine, sid, transport, req.method(), upgrade) {
            Err(none) => none.answer(),
            Ok(conn) if transport == Transport::WebSocket => {
                let info = conn.info.clone();
                let protocol = conn.protocol();
                let target = WsTarget::Upgrade(conn);
                ws::upgrade::accept(engine, req.headers(), target, info, protocol, stream)
            }
            Ok(conn) => polling_request(conn, req.method(), req.headers(), body).await,
        };
    }
    if *req.method() != Method::GET {
        return error(ErrorCode::BadHandshakeMethod).into();
    }
    if transport == Transport::WebSocket && !upgrade {
        return error(ErrorCode::BadRequest).into();
    }
    let protocol = match query.eio() {
        Some("4") => Protocol::V4,
        Some("3") if config.allow_eio3 => Protocol::V3 {
            b64: matches!(query.b64(), Some("1" | "true")),
        },
        other => {
            return error_because(
                ErrorCode::UnsupportedProtocolVersion,
                unsupported_eio(other, config.allow_eio3),
            )
            .into()
        }
    };
    if engine.is_shutting_down() {
        return status(StatusCode::SERVICE_UNAVAILABLE).into();
    }
    if let Some(allow) = &config.allow_request {
        let peer = client.map(|a| a.peer);
        if let Err(message) = allow(req.hook_parts(peer)).await {
            return forbidden(&message).into();
        }
    }
    let address = client.map(|a| a.client);
    let slot = match engine.admission.admit(address.map(|a| a.ip())) {
        Ok(slot) => slot,
        Err(refused) => return refuse(engine, refused).into(),
    };
    let info = info(req);
    match transport {
        Transport::Polling => polling::handshake(engine, info, protocol, slot),
        Transport::WebSocket => {
            let target = WsTarget::New(slot);
            ws::upgrade::accept(engine, req.headers(), target, info, protocol, stream)
        }
    }
}

/// [`route`] for a request of a session (its query has a `sid`) that is no WebSocket upgrade,
/// read by [`crate::h1`] without `http`'s types (see [`crate::service::handle_raw`]).
pub(crate) async fn route_session<B, H>(
    engine: &Arc<Engine>,
    method: &Method,
    headers: &H,
    body: B,
    query: &Query<'_>,
) -> Answer
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    H: RequestHeaders + Sync + ?Sized,
{
    let Some(transport) = served_transport(engine, query) else {
        return error(ErrorCode::TransportUnknown).into();
    };
    let Some(sid) = query.sid() else {
        return error(ErrorCode::BadRequest).into();
    };
    match session(engine, sid, transport, method, false) {
        Err(none) => none.answer(),
        // Not an upgrade: `session` answers a WebSocket request without one.
        Ok(conn) => polling_request(conn, method, headers, body).await,
    }
}

/// The transport a request's query names, when the server has it on.
fn served_transport(engine: &Engine, query: &Query<'_>) -> Option<Transport> {
    match query.transport() {
        Some("polling") if engine.config.polling => Some(Transport::Polling),
        Some("websocket") if engine.config.websocket => Some(Transport::WebSocket),
        _ => None,
    }
}

/// The session a request with `sid` belongs to, or why the request gets none: an unknown
/// id, a WebSocket request that is no upgrade, a polling request of a session that has moved
/// to WebSocket.
fn session(
    engine: &Arc<Engine>,
    sid: &str,
    transport: Transport,
    method: &Method,
    upgrade: bool,
) -> Result<Arc<Conn>, NoSession> {
    let sid = Sid::parse(sid);
    let Some(conn) = sid.as_ref().and_then(|s| engine.session(s)) else {
        if transport == Transport::Polling && *method == Method::GET && !upgrade {
            if let Some(protocol) = sid.and_then(|s| engine.take_client_close(&s)) {
                return Err(NoSession::ClosedByClient(protocol));
            }
        }
        return Err(NoSession::Refused(ErrorCode::UnknownSid));
    };
    match transport {
        Transport::WebSocket if !upgrade => Err(NoSession::Refused(ErrorCode::BadRequest)),
        Transport::WebSocket => Ok(conn),
        _ if conn.transport() != Transport::Polling => {
            Err(NoSession::Refused(ErrorCode::BadRequest))
        }
        _ => Ok(conn),
    }
}

/// Why [`session`] found none for a request.
enum NoSession {
    /// The late `GET` of a session the client closed itself: answered with a noop.
    ClosedByClient(Protocol),
    /// Refused with this code.
    Refused(ErrorCode),
}

impl NoSession {
    fn answer(self) -> Answer {
        match self {
            NoSession::ClosedByClient(protocol) => polling::late_noop(protocol),
            NoSession::Refused(code) => error(code).into(),
        }
    }
}

/// A polling `GET` or `POST` of `conn`'s session.
async fn polling_request<B, H>(conn: Arc<Conn>, method: &Method, headers: &H, body: B) -> Answer
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    H: RequestHeaders + Sync + ?Sized,
{
    match *method {
        Method::GET => polling::get(conn).await,
        Method::POST => polling::post(conn, headers, body).await,
        _ => error(ErrorCode::BadRequest).into(),
    }
}

#[cfg(test)]
mod tests;
