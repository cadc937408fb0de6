//! Server configuration: one builder, validated by [`ServerBuilder::build`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use std::future::Future;

use http::HeaderMap;
use portico_cors::OriginPolicy;

use crate::adapter::Adapter;
use crate::client_bundle::ClientBundle;
use crate::cookie::CookieOptions;
use crate::engine::EngineConfig;
use crate::extract::TypeMap;
use crate::hooks::{Hooks, RequestParts};
use crate::recovery::RecoveryConfig;
use crate::Server;

/// How Socket.IO packets are encoded on the wire. Chosen at runtime; every client of the
/// server must use the same (the JavaScript client's `parser` option).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Parser {
    /// The default JSON encoding (socket.io-parser), binary as attachments.
    #[default]
    Json,
    /// The encoding of `socket.io-msgpack-parser`: one msgpack binary message per packet.
    MsgPack,
}

/// Every setting of a [`Server`], with its default. Built through [`Server::builder`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Path prefix the server answers under, with a leading and trailing `/`.
    /// Default: `/socket.io/`.
    pub path: String,
    /// Time between heartbeats. Default: 25 s.
    pub ping_interval: Duration,
    /// Time a client has to answer a ping. Default: 20 s.
    pub ping_timeout: Duration,
    /// Time a probing WebSocket has to complete an upgrade. Default: 10 s.
    pub upgrade_timeout: Duration,
    /// Largest message (WebSocket) or POST body (polling) a client may send, in bytes.
    /// Advertised in the handshake. Default: 1,000,000 (1 MB), as Node.
    pub max_payload: u64,
    /// Bytes of outgoing data a connection may have waiting before it is closed with
    /// `send buffer full` (instead of growing without bound). Default: 8 MiB.
    pub max_buffer_bytes: usize,
    /// Outgoing packets (Engine.IO frames) a connection may have waiting before it is closed
    /// with `send buffer full`: bounds the per-frame bookkeeping that `max_buffer_bytes`
    /// does not count (a flood of tiny packets). Default: 16,384.
    pub max_buffer_packets: usize,
    /// Engine.IO sessions the server holds at once; a handshake past it gets
    /// `503 {"code":4,"message":"Server full: too many sessions"}`. Bounds memory and file
    /// descriptors when a flood of handshakes arrives. Default: 100,000 (a few hundred MB of
    /// idle sessions: raise it on a larger machine, after measuring).
    pub max_sessions: usize,
    /// Sessions one client address may hold at once (behind a trusted proxy, the address it
    /// forwards: see [`OriginPolicy::trusted_proxies`]); a handshake past it gets
    /// `429 {"code":4,"message":"Too many sessions from this address"}`. `0` turns it off.
    /// Default: `0` (off): many users share one address behind NAT or a corporate proxy,
    /// and behind a proxy that is not declared trusted every client has the proxy's address,
    /// so no cap is safe to ship without knowing the deployment.
    pub max_sessions_per_ip: usize,
    /// Socket.IO packets (events, acks, connects) one connection may send per second, on
    /// average, across its namespaces; past [`ServerConfig::event_burst`] the connection is
    /// closed (`event rate exceeded`: WebSocket close code 1008 with that reason, and a
    /// logged warning), never throttled silently. `0` turns it off. Default: 1,000.
    pub event_rate: u32,
    /// Packets a connection may send at once above [`ServerConfig::event_rate`] (the bucket
    /// size). Default: 2,000.
    pub event_burst: u32,
    /// Time a client has to send its complete request headers (HTTP/1) once it starts a
    /// request, with [`crate::serve`] and its siblings; a slow or stalled client is
    /// disconnected. Default: 10 s.
    pub header_read_timeout: Duration,
    /// Time an Engine.IO connection may stay open without joining a namespace. Default: 45 s.
    pub connect_timeout: Duration,
    /// Binary attachments one Socket.IO packet may announce. Default: 10.
    pub max_attachments: usize,
    /// How long a graceful shutdown ([`crate::serve`], [`crate::Server::shutdown`]) waits for
    /// pending acknowledgements and in-flight HTTP requests before it closes what is left.
    /// Default: 10 s.
    pub shutdown_timeout: Duration,
    /// Accept HTTP long-polling. Default: `true`.
    pub polling: bool,
    /// Accept WebSocket (directly, and as an upgrade). Default: `true`.
    pub websocket: bool,
    /// Offer polling clients the upgrade to WebSocket. Default: `true`.
    pub allow_upgrades: bool,
    /// Engine.IO only: echo every message back instead of speaking Socket.IO. For the
    /// Engine.IO conformance server; not for applications. Default: `false`.
    #[doc(hidden)]
    pub engine_echo: bool,
    /// Which origins may use the server, and the CORS headers they get. Checked on every
    /// request (polling, preflight, WebSocket upgrade); a refused origin gets 403.
    /// Default: [`OriginPolicy::same_origin`] (requests without `Origin` are served).
    pub origins: OriginPolicy,
    /// Forget a dynamic child namespace when its last socket leaves. Default: `false`.
    pub cleanup_empty_child_namespaces: bool,
    /// The packet encoding. Default: [`Parser::Json`].
    pub parser: Parser,
    /// Accept Engine.IO v3 / Socket.IO v4 clients (socket.io-client 2.x). Without it they get
    /// `400 {"code":5,"message":"Unsupported protocol version"}`. Default: `false`.
    pub allow_eio3: bool,
    /// Connection state recovery. Default: off.
    pub recovery: Option<RecoveryConfig>,
    /// Sticky-session cookie set on handshake responses. Default: none.
    pub cookie: Option<CookieOptions>,
    /// The client bundle served under the path. Default: none.
    pub client_bundle: Option<ClientBundle>,
    pub(crate) hooks: Hooks,
    /// App state for [`crate::State`] handler arguments, by type.
    pub(crate) state: TypeMap,
    /// Makes each namespace's adapter (default: a [`crate::LocalAdapter`] each).
    pub(crate) adapter: Option<AdapterFactory>,
    /// The cluster transport, when this server is one node of several. Default: none.
    pub(crate) cluster: Option<ClusterConfig>,
    /// The Admin UI's side ([`ServerBuilder::admin_ui`]). Default: none.
    pub(crate) admin: Option<Arc<crate::admin::Hub>>,
}

/// A node's cluster settings (see [`ServerBuilder::cluster`]).
#[derive(Clone)]
pub(crate) struct ClusterConfig {
    pub(crate) transport: crate::cluster::SharedTransport,
    /// How long requests that expect answers from the other nodes wait.
    pub(crate) requests_timeout: Duration,
}

impl fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("transport", &self.transport.describe())
            .field("requests_timeout", &self.requests_timeout)
            .finish()
    }
}

/// Makes the adapter of the namespace it is given the name of.
#[derive(Clone)]
pub(crate) struct AdapterFactory(pub(crate) Arc<MakeAdapter>);

type MakeAdapter = dyn Fn(&str) -> Arc<dyn Adapter> + Send + Sync;

impl fmt::Debug for AdapterFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdapterFactory")
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            path: "/socket.io/".to_owned(),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            upgrade_timeout: Duration::from_millis(10_000),
            max_payload: 1_000_000,
            max_buffer_bytes: 8 * 1024 * 1024,
            max_buffer_packets: 16 * 1024,
            max_sessions: 100_000,
            max_sessions_per_ip: 0,
            event_rate: 1_000,
            event_burst: 2_000,
            header_read_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_millis(45_000),
            max_attachments: 10,
            shutdown_timeout: Duration::from_secs(10),
            polling: true,
            websocket: true,
            allow_upgrades: true,
            engine_echo: false,
            origins: OriginPolicy::same_origin(),
            cleanup_empty_child_namespaces: false,
            parser: Parser::Json,
            allow_eio3: false,
            recovery: None,
            cookie: None,
            client_bundle: None,
            hooks: Hooks::default(),
            state: TypeMap::default(),
            adapter: None,
            cluster: None,
            admin: None,
        }
    }
}

impl ServerConfig {
    /// The Engine.IO layer's part of the configuration.
    pub(crate) fn engine(&self) -> EngineConfig {
        EngineConfig {
            ping_interval: self.ping_interval,
            ping_timeout: self.ping_timeout,
            upgrade_timeout: self.upgrade_timeout,
            max_buffer_bytes: self.max_buffer_bytes,
            max_buffer_packets: self.max_buffer_packets,
            max_sessions: self.max_sessions,
            max_sessions_per_ip: self.max_sessions_per_ip,
            max_payload: self.max_payload,
            polling: self.polling,
            websocket: self.websocket,
            allow_upgrades: self.allow_upgrades,
            allow_eio3: self.allow_eio3,
            allow_request: self.hooks.allow_request.clone(),
            mark_handshakes: self.cookie.is_some() || !self.hooks.initial_headers.is_empty(),
        }
    }
}

/// A configuration the server refuses to start with. The message says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> ConfigError {
        ConfigError {
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Builds a [`Server`]. Every setter documents its default; [`ServerBuilder::build`] checks
/// the whole configuration.
#[derive(Debug, Default)]
#[must_use]
pub struct ServerBuilder {
    admin: Option<crate::admin::AdminOptions>,
    config: ServerConfig,
}

impl ServerBuilder {
    /// Path prefix of the Socket.IO endpoint (the client's `path` option). A trailing `/` is
    /// added when missing. Default: `/socket.io/`.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.config.path = path.into();
        self
    }
    /// Time between heartbeats. Default: 25 s.
    pub fn ping_interval(mut self, d: Duration) -> Self {
        self.config.ping_interval = d;
        self
    }
    /// Time a client has to answer a ping. Default: 20 s.
    pub fn ping_timeout(mut self, d: Duration) -> Self {
        self.config.ping_timeout = d;
        self
    }
    /// Time a WebSocket that upgrades a polling session has to complete the upgrade (`2probe`
    /// then `5`) from its arrival; past it the WebSocket is closed and the session goes on
    /// polling. Default: 10 s.
    pub fn upgrade_timeout(mut self, d: Duration) -> Self {
        self.config.upgrade_timeout = d;
        self
    }
    /// Largest message or POST body a client may send, in bytes. Default: 1,000,000.
    pub fn max_payload(mut self, bytes: u64) -> Self {
        self.config.max_payload = bytes;
        self
    }
    /// Outgoing bytes a connection may have waiting before it is closed. Default: 8 MiB.
    pub fn max_buffer_bytes(mut self, bytes: usize) -> Self {
        self.config.max_buffer_bytes = bytes;
        self
    }
    /// Outgoing packets a connection may have waiting before it is closed with `send buffer
    /// full`. Default: 16,384.
    pub fn max_buffer_packets(mut self, packets: usize) -> Self {
        self.config.max_buffer_packets = packets;
        self
    }
    /// Sessions the server holds at once; more handshakes get 503. Default: 100,000.
    pub fn max_sessions(mut self, sessions: usize) -> Self {
        self.config.max_sessions = sessions;
        self
    }
    /// Sessions one client address may hold at once (`0`: no limit); more handshakes from it
    /// get 429. Behind a reverse proxy, declare it with [`OriginPolicy::trusted_proxies`] so
    /// the address counted is the one it forwards. Default: `0` (no limit).
    pub fn max_sessions_per_ip(mut self, sessions: usize) -> Self {
        self.config.max_sessions_per_ip = sessions;
        self
    }
    /// Socket.IO packets per second one connection may send on average (`0`: no limit), and
    /// how many at once above that (`burst`); past it the connection is closed with `event
    /// rate exceeded`. Default: 1,000 per second, bursts of 2,000.
    pub fn event_rate(mut self, per_second: u32, burst: u32) -> Self {
        self.config.event_rate = per_second;
        self.config.event_burst = burst;
        self
    }
    /// Time a client has to send its request headers (with [`crate::serve`] and its
    /// siblings). Default: 10 s.
    pub fn header_read_timeout(mut self, d: Duration) -> Self {
        self.config.header_read_timeout = d;
        self
    }
    /// Time a connection may stay without joining a namespace. Default: 45 s.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.config.connect_timeout = d;
        self
    }
    /// How long a graceful shutdown waits for pending acknowledgements and in-flight HTTP
    /// requests (see [`crate::serve`]). Default: 10 s.
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.config.shutdown_timeout = d;
        self
    }
    /// Binary attachments one packet may announce. Default: 10.
    pub fn max_attachments(mut self, n: usize) -> Self {
        self.config.max_attachments = n;
        self
    }
    /// Accept HTTP long-polling. Default: `true`.
    pub fn polling(mut self, on: bool) -> Self {
        self.config.polling = on;
        self
    }
    /// Accept WebSocket. Default: `true`.
    pub fn websocket(mut self, on: bool) -> Self {
        self.config.websocket = on;
        self
    }
    /// Offer the upgrade from polling to WebSocket. Default: `true`.
    pub fn allow_upgrades(mut self, on: bool) -> Self {
        self.config.allow_upgrades = on;
        self
    }

    /// The origin policy: who may connect, and the CORS headers they get. Checked on every
    /// request; see [`portico_cors::OriginPolicy`]. Default: same origin only.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use portico::{OriginPolicy, Server};
    /// let io = Server::builder()
    ///     .origins(OriginPolicy::allow(["https://app.example.com", "https://*.example.com"])?.credentials(true))
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn origins(mut self, policy: OriginPolicy) -> Self {
        self.config.origins = policy;
        self
    }

    /// Decide whether a handshake is served, after the origin check (Node's `allowRequest`).
    /// `Err(reason)` answers 403 `{"code":4,"message":reason}`. Default: none.
    pub fn allow_request<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(RequestParts) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.config.hooks.set_allow_request(hook);
        self
    }

    /// Add headers to the handshake response (polling `200` or WebSocket `101`), e.g. a
    /// cookie (Node's `initial_headers`). Several hooks run in the order they were added.
    /// Default: none.
    pub fn initial_headers<F>(mut self, hook: F) -> Self
    where
        F: Fn(&RequestParts, &mut HeaderMap) + Send + Sync + 'static,
    {
        self.config
            .hooks
            .initial_headers
            .push(std::sync::Arc::new(hook));
        self
    }

    /// Add headers to every response (Node's `headers`). Several hooks run in the order they
    /// were added, after the CORS headers. Default: none.
    pub fn headers<F>(mut self, hook: F) -> Self
    where
        F: Fn(&RequestParts, &mut HeaderMap) + Send + Sync + 'static,
    {
        self.config.hooks.headers.push(std::sync::Arc::new(hook));
        self
    }

    /// Forget a dynamic child namespace (see [`Server::dynamic_namespace`]) when its last
    /// socket leaves. Default: `false`.
    pub fn cleanup_empty_child_namespaces(mut self, on: bool) -> Self {
        self.config.cleanup_empty_child_namespaces = on;
        self
    }

    /// The packet encoding; clients must use the same one (socket.io-client's `parser`
    /// option, e.g. `socket.io-msgpack-parser`). Default: [`Parser::Json`].
    pub fn parser(mut self, parser: Parser) -> Self {
        self.config.parser = parser;
        self
    }

    /// Accept socket.io-client 2.x (Engine.IO v3, Socket.IO protocol v4) beside 3.x/4.x. Its
    /// sockets join `/` implicitly and get ids of their own (never the engine session id, which
    /// would let a third party hijack a polling session). Default: `false`.
    pub fn allow_eio3(mut self, on: bool) -> Self {
        self.config.allow_eio3 = on;
        self
    }

    /// Turn on connection state recovery: a client that reconnects within
    /// [`RecoveryConfig::max_disconnection_duration`] keeps its socket id, rooms and data and
    /// receives the events it missed ([`crate::Socket::recovered`] tells the handler).
    /// Default: off.
    pub fn connection_state_recovery(mut self, config: RecoveryConfig) -> Self {
        self.config.recovery = Some(config);
        self
    }

    /// Set a sticky-session cookie (`io=<sid>; Path=/; HttpOnly; SameSite=Lax` with
    /// [`CookieOptions::default`]) on handshake responses, for load balancers that route by
    /// cookie. Default: none.
    pub fn cookie(mut self, cookie: CookieOptions) -> Self {
        self.config.cookie = Some(cookie);
        self
    }

    /// Serve the socket.io-client bundle at `<path>socket.io.js` (and its siblings), from an
    /// installed npm package: see [`ClientBundle::from_package_dir`]. Default: not served.
    pub fn serve_client(mut self, bundle: ClientBundle) -> Self {
        self.config.client_bundle = Some(bundle);
        self
    }

    /// App state that handlers take as a [`crate::State`] argument (axum's `with_state`):
    /// `State(app): State<App>` in any handler is a clone of `state`. Call it once per type;
    /// a second value of the same type replaces the first. Default: no state.
    pub fn state<S: Clone + Send + Sync + 'static>(mut self, state: S) -> Self {
        self.config.state.insert(state);
        self
    }

    /// The room adapter of each namespace: `make(nsp)` is called once per namespace as it is
    /// created (Node's `adapter` option). Default: an in-memory [`crate::LocalAdapter`] each.
    pub fn adapter<F>(mut self, make: F) -> Self
    where
        F: Fn(&str) -> Arc<dyn Adapter> + Send + Sync + 'static,
    {
        self.config.adapter = Some(AdapterFactory(Arc::new(make)));
        self
    }

    /// Make this server one node of a cluster: broadcasts, room operations, `fetch_sockets`,
    /// server-side emits and the server count reach every node that shares `transport` (e.g.
    /// `portico_redis::Redis`). Each namespace keeps its local rooms in its adapter (see
    /// [`ServerBuilder::adapter`]) and gets the cluster half around it. Build the server inside
    /// a Tokio runtime: each namespace subscribes as it is created.
    pub fn cluster<T: crate::cluster::Transport>(mut self, transport: T) -> Self {
        self.config.cluster = Some(ClusterConfig {
            transport: Arc::new(transport),
            requests_timeout: Duration::from_secs(5),
        });
        self
    }

    /// How long cluster requests that expect answers (fetch sockets, server count, server-side
    /// emit with acks, broadcast acks without a timeout of their own) wait for the other
    /// nodes (Node's `requestsTimeout`). Default: 5 s. Only with [`ServerBuilder::cluster`].
    pub fn cluster_requests_timeout(mut self, timeout: Duration) -> Self {
        if let Some(c) = &mut self.config.cluster {
            c.requests_timeout = timeout;
        }
        self
    }

    /// Engine.IO only: echo every message back (the Engine.IO conformance server).
    #[doc(hidden)]
    pub fn engine_echo(mut self, on: bool) -> Self {
        self.config.engine_echo = on;
        self
    }

    /// Serve the official Socket.IO Admin UI (`@socket.io/admin-ui`) on its namespace
    /// (`/admin` by default): statistics, sockets, rooms, live events and actions, on every
    /// node of a cluster. See [`crate::admin`] and docs/admin-ui.md.
    ///
    /// ```
    /// use portico::{AdminOptions, Server};
    /// # fn run() -> Result<(), portico::ConfigError> {
    /// let io = Server::builder()
    ///     .admin_ui(AdminOptions::new().readonly(true).server_id("eu-1"))
    ///     .build()?;
    /// # let _ = io; Ok(()) }
    /// ```
    pub fn admin_ui(mut self, options: crate::admin::AdminOptions) -> Self {
        self.admin = Some(options);
        self
    }

    /// Check the configuration and build the server.
    pub fn build(mut self) -> Result<Server, ConfigError> {
        let c = &mut self.config;
        if !c.path.starts_with('/') {
            return Err(ConfigError::new(format!(
                "path {:?} must start with '/': use {:?} (it must also match the client's `path` option)",
                c.path,
                format!("/{}", c.path)
            )));
        }
        if !c.path.ends_with('/') {
            c.path.push('/');
        }
        if c.path.contains(['?', '#']) {
            return Err(ConfigError::new(format!(
                "path {:?} must not contain '?' or '#'",
                c.path
            )));
        }
        if c.ping_interval.is_zero() || c.ping_timeout.is_zero() {
            return Err(ConfigError::new(
                "ping_interval and ping_timeout must be greater than zero (defaults: 25 s and 20 s)",
            ));
        }
        if c.max_payload == 0 {
            return Err(ConfigError::new(
                "max_payload must be at least 1 byte (default: 1,000,000)",
            ));
        }
        if !c.polling && !c.websocket {
            return Err(ConfigError::new(
                "both transports are disabled: enable polling, websocket, or both",
            ));
        }
        if (c.max_buffer_bytes as u64) < c.max_payload.min(64 * 1024) {
            return Err(ConfigError::new(format!(
                "max_buffer_bytes ({}) is too small to hold even one message: use at least {}",
                c.max_buffer_bytes,
                c.max_payload.min(64 * 1024)
            )));
        }
        if c.max_buffer_packets == 0 {
            return Err(ConfigError::new(
                "max_buffer_packets must be at least 1 (default: 16384)",
            ));
        }
        if c.max_sessions == 0 {
            return Err(ConfigError::new(
                "max_sessions must be at least 1 (default: 100000)",
            ));
        }
        if c.event_rate > 0 && c.event_burst == 0 {
            return Err(ConfigError::new(format!(
                "event_burst must be at least 1 when event_rate is on ({} per second): use at \
                 least the rate (default: 2000), or an event_rate of 0 to turn the limit off",
                c.event_rate
            )));
        }
        if c.upgrade_timeout.is_zero() || c.header_read_timeout.is_zero() {
            return Err(ConfigError::new(
                "upgrade_timeout and header_read_timeout must be greater than zero (defaults: \
                 10 s each)",
            ));
        }
        if let Some(cookie) = &c.cookie {
            cookie.validate().map_err(ConfigError::new)?;
        }
        c.origins
            .validate()
            .map_err(|e| ConfigError::new(format!("invalid origin policy: {e}")))?;
        let hub = match self.admin.take() {
            Some(opts) => {
                opts.validate()?;
                Some(Arc::new(crate::admin::Hub::new(opts)))
            }
            None => None,
        };
        self.config.admin = hub.clone();
        let io = Server::from_config(self.config);
        if let Some(hub) = hub {
            hub.install(&io);
        }
        Ok(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_is_normalised_and_checked() {
        let io = Server::builder().path("/custom").build();
        assert!(io.is_ok());
        let err = Server::builder()
            .path("custom/")
            .build()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("\"/custom/\""), "{err}");
        assert!(Server::builder()
            .polling(false)
            .websocket(false)
            .build()
            .is_err());
        assert!(Server::builder()
            .ping_interval(Duration::ZERO)
            .build()
            .is_err());
    }
}
