//! The server side of the official Socket.IO Admin UI (`@socket.io/admin-ui`).
//!
//! [`ServerBuilder::admin_ui`](crate::ServerBuilder::admin_ui) opens a namespace (`/admin` by
//! default) that the UI connects to. It speaks the UI's protocol:
//!
//! - on connection: `config` (the features this server supports), then, in development mode,
//!   `all_sockets` (every socket of every namespace, on every node of a cluster);
//! - every 2 s: `server_stats` (server id, hostname, pid, uptime, Engine.IO clients, polling
//!   clients, namespaces with their socket counts, and the events of each second: raw
//!   connections and disconnections, packets and bytes in and out);
//! - in development mode, live: `socket_connected`, `socket_updated` (on
//!   [`Socket::set_data`]), `socket_disconnected`, `room_joined`, `room_left`,
//!   `event_received`, `event_sent`;
//! - the UI's actions `emit`, `join`, `leave` and `_disconnect` on any selection (a namespace,
//!   optionally a room or a socket id), through the adapter, so that they reach every node;
//!   none of them in read-only mode;
//! - basic auth: a user name and a bcrypt hash of the password; a login gets a session id
//!   (event `session`), which the UI sends instead of the password when it reconnects.
//!
//! Unlike Node's server, which emits `session` from its middleware, before the CONNECT reply,
//! so that the UI drops it, Portico sends it once the socket is connected: the UI keeps the
//! login across page reloads.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::adapter::{Adapter, Broadcast, BroadcastOptions};
use crate::server::ServerInner;
use crate::sid::Sid;
use crate::{Args, ConfigError, ConnectError, DisconnectReason, Namespace, RemoteSocket, Server};
use crate::{BroadcastOperator, Socket};

/// At most this many login sessions are remembered (the oldest are forgotten first).
const MAX_SESSIONS: usize = 1024;

/// Settings of the Admin UI's namespace ([`crate::ServerBuilder::admin_ui`]).
#[derive(Debug, Clone)]
#[must_use]
pub struct AdminOptions {
    namespace: String,
    auth: Option<(String, String)>,
    readonly: bool,
    server_id: Option<String>,
    production: bool,
}

impl Default for AdminOptions {
    fn default() -> AdminOptions {
        AdminOptions::new()
    }
}

impl AdminOptions {
    /// Namespace `/admin`, no authentication, every action allowed, development mode.
    pub fn new() -> AdminOptions {
        AdminOptions {
            namespace: "/admin".to_owned(),
            auth: None,
            readonly: false,
            server_id: None,
            production: false,
        }
    }

    /// The namespace the UI connects to (default `/admin`; the UI's "Admin namespace" field).
    pub fn namespace(mut self, name: impl Into<String>) -> AdminOptions {
        self.namespace = name.into();
        self
    }

    /// Require a user name and password; `bcrypt_hash` is the password's bcrypt hash (e.g.
    /// from `portico admin-ui-hash`), never the password itself.
    pub fn basic_auth(
        mut self,
        username: impl Into<String>,
        bcrypt_hash: impl Into<String>,
    ) -> AdminOptions {
        self.auth = Some((username.into(), bcrypt_hash.into()));
        self
    }

    /// Read-only: the UI shows everything but can act on nothing (no emit, join, leave or
    /// disconnect).
    pub fn readonly(mut self, on: bool) -> AdminOptions {
        self.readonly = on;
        self
    }

    /// The id of this node in the UI's server list (default: the host name).
    pub fn server_id(mut self, id: impl Into<String>) -> AdminOptions {
        self.server_id = Some(id.into());
        self
    }

    /// Production mode: statistics only, no socket list and no live events (they cost a
    /// message to the admin namespace for every event of every socket).
    pub fn production(mut self, on: bool) -> AdminOptions {
        self.production = on;
        self
    }

    /// Whether a user name and password are required.
    pub fn has_auth(&self) -> bool {
        self.auth.is_some()
    }

    /// The namespace's name.
    pub fn namespace_name(&self) -> &str {
        &self.namespace
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !self.namespace.starts_with('/') {
            return Err(ConfigError::new(format!(
                "admin UI namespace {:?} must start with '/'",
                self.namespace
            )));
        }
        if let Some((_, hash)) = &self.auth {
            if hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(ConfigError::new(
                    "the admin UI password must be a bcrypt hash ($2b$...), not the password \
                     itself: make one with `portico admin-ui-hash`",
                ));
            }
        }
        Ok(())
    }
}

/// A bcrypt hash of `password` (cost 10, as the UI's documentation uses).
pub fn hash_password(password: &str) -> Result<String, bcrypt::BcryptError> {
    bcrypt::hash(password, 10)
}

/// The admin side of a server: shared by the hooks in sockets and adapters.
pub(crate) struct Hub {
    opts: AdminOptions,
    admin: OnceLock<Namespace>,
    server: OnceLock<Weak<ServerInner>>,
    started: AtomicBool,
    start: Instant,
    sessions: Mutex<VecDeque<String>>,
    hostname: String,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("opts", &self.opts).finish()
    }
}

/// A login's session id, kept in the admin socket's extensions until it is sent.
struct NewSession(String);

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// `SystemTime` as JavaScript's `Date.toJSON()` writes it.
pub(crate) fn iso(t: SystemTime) -> String {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let secs = (ms / 1000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

fn now() -> String {
    iso(SystemTime::now())
}

impl Hub {
    pub(crate) fn new(opts: AdminOptions) -> Hub {
        Hub {
            opts,
            admin: OnceLock::new(),
            server: OnceLock::new(),
            started: AtomicBool::new(false),
            start: Instant::now(),
            sessions: Mutex::new(VecDeque::new()),
            hostname: hostname(),
        }
    }

    fn development(&self) -> bool {
        !self.opts.production
    }

    fn emit<T: serde::Serialize + ?Sized>(&self, event: &str, data: &T) {
        if let Some(ns) = self.admin.get() {
            if let Err(e) = ns.emit(event, data) {
                tracing::debug!(event, error = %e, "admin UI: emit failed");
            }
        }
    }

    fn server(&self) -> Option<Server> {
        self.server.get()?.upgrade().map(Server)
    }

    /// Open the admin namespace on a freshly built server.
    pub(crate) fn install(self: &Arc<Hub>, io: &Server) {
        let _ = self.server.set(Arc::downgrade(&io.0));
        let ns = io.of(self.opts.namespace.clone());
        let _ = self.admin.set(ns.clone());
        if self.opts.auth.is_some() {
            let hub = self.clone();
            ns.use_connect(move |socket: Socket| {
                let hub = hub.clone();
                async move { hub.authenticate(&socket).await }
            });
        }
        let hub = self.clone();
        ns.on_connection(move |socket: Socket| {
            let hub = hub.clone();
            async move { hub.on_admin_connection(socket).await }
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            self.start_ticker();
        }
    }

    async fn authenticate(&self, socket: &Socket) -> Result<(), ConnectError> {
        let Some((user, hash)) = &self.opts.auth else {
            return Ok(());
        };
        let auth = socket.handshake().auth_value();
        if let Some(id) = auth.get("sessionId").and_then(Value::as_str) {
            let known = self
                .sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .any(|s| s == id);
            if known {
                return Ok(());
            }
        }
        let given_user = auth.get("username").and_then(Value::as_str);
        let password = auth.get("password").and_then(Value::as_str);
        if let (Some(u), Some(p)) = (given_user, password) {
            if u == user {
                let (p, hash) = (p.to_owned(), hash.clone());
                // bcrypt takes tens of milliseconds by design: off the async workers.
                let ok = tokio::task::spawn_blocking(move || bcrypt::verify(p, &hash))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or(false);
                if ok {
                    let id = format!("{:016x}", rand::random::<u64>());
                    {
                        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
                        if s.len() >= MAX_SESSIONS {
                            s.pop_front();
                        }
                        s.push_back(id.clone());
                    }
                    socket.extensions().insert(NewSession(id));
                    return Ok(());
                }
            }
        }
        tracing::info!("admin UI: login refused (invalid credentials)");
        Err(ConnectError::new("invalid credentials"))
    }

    fn features(&self) -> Vec<&'static str> {
        let mut f = if self.opts.readonly {
            Vec::new()
        } else {
            vec![
                "EMIT",
                "JOIN",
                "LEAVE",
                "DISCONNECT",
                "MJOIN",
                "MLEAVE",
                "MDISCONNECT",
            ]
        };
        f.push("AGGREGATED_EVENTS");
        if self.development() {
            f.push("ALL_EVENTS");
        }
        f
    }

    async fn on_admin_connection(self: Arc<Hub>, socket: Socket) {
        // After the CONNECT reply (Node sends it before, and the UI drops it).
        if let Some(s) = socket.extensions().remove::<NewSession>() {
            let _ = socket.emit("session", &s.0);
        }
        if !self.opts.readonly {
            for action in ["emit", "join", "leave", "_disconnect"] {
                socket.on(action, move |io: Server, args: Args| async move {
                    act(&io, action, args);
                });
            }
        }
        let _ = socket.emit("config", &json!({ "supportedFeatures": self.features() }));
        if let Some(io) = self.server() {
            if self.development() {
                let all = all_sockets(&io).await;
                let _ = socket.emit("all_sockets", &all);
            }
            // At once, not in up to 2 s: the UI shows the server as soon as it connects.
            let _ = socket.emit("server_stats", &self.stats(&io, Vec::new()));
        }
    }

    fn start_ticker(self: &Arc<Hub>) {
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let hub = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut prev: Option<[u64; 6]> = None;
            let mut pending: Vec<Value> = Vec::new();
            let mut n: u64 = 0;
            loop {
                tick.tick().await;
                let Some(hub) = hub.upgrade() else { return };
                let Some(io) = hub.server() else { return };
                let s = io.stats();
                let now = [
                    s.sessions_opened,
                    s.sessions_closed,
                    s.traffic.packets_in,
                    s.traffic.packets_out,
                    s.traffic.bytes_in,
                    s.traffic.bytes_out,
                ];
                let second = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs() * 1000)
                    .unwrap_or(0);
                if let Some(p) = prev {
                    let names = [
                        "rawConnection",
                        "rawDisconnection",
                        "packetsIn",
                        "packetsOut",
                        "bytesIn",
                        "bytesOut",
                    ];
                    for i in 0..6 {
                        let count = now[i].saturating_sub(p[i]);
                        if count > 0 {
                            pending.push(
                                json!({"timestamp": second, "type": names[i], "count": count}),
                            );
                        }
                    }
                }
                prev = Some(now);
                n += 1;
                if n % 2 == 0 {
                    let events = std::mem::take(&mut pending);
                    hub.emit("server_stats", &hub.stats(&io, events));
                }
            }
        });
    }

    /// The row of this node in the UI: the given id, else the host name, with the process id
    /// in a cluster (where several nodes may share a host).
    fn server_id(&self, io: &Server) -> String {
        match &self.opts.server_id {
            Some(id) => id.clone(),
            None if io.0.config.cluster.is_some() => {
                format!("{}#{}", self.hostname, std::process::id())
            }
            None => self.hostname.clone(),
        }
    }

    fn stats(&self, io: &Server, events: Vec<Value>) -> Value {
        let s = io.stats();
        let namespaces: Vec<Value> = s
            .namespaces
            .iter()
            .map(|(name, n)| json!({"name": name, "socketsCount": n.sockets}))
            .collect();
        json!({
            "serverId": self.server_id(io),
            "hostname": self.hostname,
            "pid": std::process::id(),
            "uptime": self.start.elapsed().as_secs_f64(),
            "clientsCount": s.sessions(),
            "pollingClientsCount": s.sessions_polling.saturating_sub(s.sessions_upgrading),
            "aggregatedEvents": events,
            "namespaces": namespaces,
        })
    }

    /// A socket joined namespace `socket.ns()` (called after its CONNECT reply, before its
    /// connection handler).
    pub(crate) fn socket_connected(self: &Arc<Hub>, socket: &Socket) {
        self.start_ticker();
        if !self.development() {
            return;
        }
        self.emit(
            "socket_connected",
            &(serialize(&RemoteSocket::of(socket)), now()),
        );
        let nsp = socket.ns().to_owned();
        if nsp != self.opts.namespace {
            let hub = self.clone();
            socket.on_any(move |s: Socket, event: String, args: Args| {
                let hub = hub.clone();
                async move {
                    let mut all = vec![Value::String(event)];
                    all.extend(args.values);
                    hub.emit("event_received", &(s.ns(), s.id().as_str(), all, now()));
                }
            });
            let hub = self.clone();
            socket.on_any_outgoing(move |s: Socket, event: String, args: Args| {
                let hub = hub.clone();
                async move {
                    let mut all = vec![Value::String(event)];
                    all.extend(args.values);
                    hub.emit("event_sent", &(s.ns(), s.id().as_str(), all, now()));
                }
            });
        }
        let hub = self.clone();
        socket.on_disconnect(move |s: Socket, reason: DisconnectReason| {
            let hub = hub.clone();
            async move {
                hub.emit(
                    "socket_disconnected",
                    &(s.ns(), s.id().as_str(), reason.as_str(), now()),
                );
            }
        });
    }

    /// [`Socket::set_data`] changed a socket's data.
    pub(crate) fn data_changed(&self, socket: &Socket) {
        if self.development() && socket.connected() {
            self.emit(
                "socket_updated",
                &json!({"id": socket.id().as_str(), "nsp": socket.ns(), "data": data_of(&socket.data_value())}),
            );
        }
    }

    /// A socket's connection moved to WebSocket.
    pub(crate) fn transport_changed(&self, socket: &Socket) {
        if self.development() && socket.connected() {
            self.emit(
                "socket_updated",
                &json!({"id": socket.id().as_str(), "nsp": socket.ns(), "transport": socket.transport()}),
            );
        }
    }

    /// Wrap a namespace's adapter to report room changes (development mode only).
    pub(crate) fn observe(self: &Arc<Hub>, nsp: &str, inner: Arc<dyn Adapter>) -> Arc<dyn Adapter> {
        if !self.development() {
            return inner;
        }
        Arc::new(Observed {
            inner,
            nsp: nsp.to_owned(),
            hub: self.clone(),
        })
    }
}

/// One of the UI's actions: `[nsp, ...]` as the UI sends them. Malformed ones are ignored.
fn act(io: &Server, action: &str, args: Args) {
    let v = &args.values;
    let Some(ns) = v
        .first()
        .and_then(Value::as_str)
        .and_then(|n| io.0.namespace(n))
    else {
        tracing::debug!(action, "admin UI: action for an unknown namespace ignored");
        return;
    };
    let select = |filter: Option<&Value>| -> BroadcastOperator {
        match filter.and_then(Value::as_str).filter(|f| !f.is_empty()) {
            Some(f) => ns.to(f.to_owned()),
            None => ns.all(),
        }
    };
    let result = match action {
        "emit" => {
            let Some(event) = v.get(2).and_then(Value::as_str) else {
                return;
            };
            let rest = Args {
                values: v.get(3..).map(<[Value]>::to_vec).unwrap_or_default(),
                binary: args.binary.clone(),
            };
            select(v.get(1))
                .emit(event, &rest)
                .map_err(|e| e.to_string())
        }
        "join" | "leave" => {
            let Some(room) = v.get(1).and_then(Value::as_str) else {
                return;
            };
            let op = select(v.get(2));
            if action == "join" {
                op.sockets_join(room).map_err(|e| e.to_string())
            } else {
                op.sockets_leave(room).map_err(|e| e.to_string())
            }
        }
        "_disconnect" => {
            let close = v.get(1).and_then(Value::as_bool).unwrap_or(false);
            select(v.get(2))
                .disconnect_sockets(close)
                .map_err(|e| e.to_string())
        }
        _ => Ok(()),
    };
    match result {
        Ok(()) => tracing::info!(action, nsp = ns.name(), "admin UI action"),
        Err(e) => tracing::warn!(action, nsp = ns.name(), error = %e, "admin UI action failed"),
    }
}

/// Every socket of every namespace, on every node.
async fn all_sockets(io: &Server) -> Vec<Value> {
    let mut out = Vec::new();
    for ns in io.0.namespaces_now() {
        match ns.fetch_sockets().await {
            Ok(sockets) => out.extend(sockets.iter().map(serialize)),
            Err(e) => tracing::warn!(nsp = ns.name(), error = %e, "admin UI: fetch_sockets failed"),
        }
    }
    out
}

/// `socket.data` as the UI shows it: an object (Node's starts as `{}`).
fn data_of(data: &Value) -> Value {
    match data {
        Value::Null => Value::Object(Map::new()),
        other => other.clone(),
    }
}

/// A socket as the UI's `SerializedSocket`.
fn serialize(s: &RemoteSocket) -> Value {
    let h = s.handshake();
    let header = |name: &str| h.headers().get(name).and_then(|v| v.to_str().ok());
    let address = header("cf-connecting-ip")
        .or_else(|| header("x-forwarded-for"))
        .map(str::to_owned)
        .or_else(|| h.address().map(|a| a.ip().to_string()));
    let mut headers = Map::new();
    for (k, v) in h.headers() {
        if let Ok(v) = v.to_str() {
            headers.insert(k.as_str().to_owned(), Value::String(v.to_owned()));
        }
    }
    let mut query = Map::new();
    for (k, v) in h.query_pairs() {
        query.insert(k.clone(), Value::String(v.clone()));
    }
    let mut out = json!({
        "id": s.id().as_str(),
        "nsp": s.ns(),
        "data": data_of(s.data_value()),
        "handshake": {
            "address": address,
            "headers": headers,
            "query": query,
            "issued": h.issued(),
            "secure": h.secure(),
            "time": iso(h.time()),
            "url": h.url(),
            "xdomain": h.xdomain(),
        },
        "rooms": s.rooms(),
    });
    if let Some(local) = s.local() {
        let sid = local.0.engine.sid.to_string();
        out["clientId"] = Value::String(sid.chars().take(12).collect());
        out["transport"] = Value::String(local.transport().to_owned());
    }
    out
}

/// A namespace's adapter, reporting joins and leaves to the admin namespace.
struct Observed {
    inner: Arc<dyn Adapter>,
    nsp: String,
    hub: Arc<Hub>,
}

impl Observed {
    fn report(&self, event: &str, room: &str, sid: Sid) {
        self.hub
            .emit(event, &(self.nsp.as_str(), room, sid.as_str(), now()));
    }
}

impl Adapter for Observed {
    fn join(&self, sid: Sid, rooms: &[&str]) {
        self.inner.join(sid, rooms);
        for room in rooms {
            self.report("room_joined", room, sid);
        }
    }

    fn leave(&self, sid: Sid, room: &str) {
        self.inner.leave(sid, room);
        self.report("room_left", room, sid);
    }

    fn leave_all(&self, sid: Sid) {
        let rooms = self.inner.rooms_of(sid);
        self.inner.leave_all(sid);
        for room in &rooms {
            self.report("room_left", room, sid);
        }
    }

    fn rooms_of(&self, sid: Sid) -> Vec<String> {
        self.inner.rooms_of(sid)
    }

    fn rooms(&self) -> Vec<String> {
        self.inner.rooms()
    }

    fn has_room(&self, room: &str) -> bool {
        self.inner.has_room(room)
    }

    fn for_each_target(&self, opts: &BroadcastOptions, f: &mut dyn FnMut(Sid)) {
        self.inner.for_each_target(opts, f);
    }

    fn broadcast(&self, broadcast: &Broadcast<'_>, deliver: &mut dyn FnMut(Sid)) {
        self.inner.broadcast(broadcast, deliver);
    }

    fn cluster(&self) -> Option<&crate::cluster::ClusterAdapter> {
        self.inner.cluster()
    }

    fn coalesces(&self) -> bool {
        // Its broadcast is the inner one's, and its membership changes go through the inner
        // adapter's.
        self.inner.coalesces()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_match_javascript() {
        assert_eq!(iso(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_251_199_123);
        assert_eq!(iso(t), "2024-02-29T23:59:59.123Z");
    }

    #[test]
    fn a_password_is_not_a_hash() {
        assert!(AdminOptions::new()
            .basic_auth("admin", "secret")
            .validate()
            .is_err());
        let hash = hash_password("secret").unwrap_or_default();
        assert!(AdminOptions::new()
            .basic_auth("admin", hash)
            .validate()
            .is_ok());
    }
}
