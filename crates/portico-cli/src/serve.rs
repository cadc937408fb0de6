//! `portico serve`: a Socket.IO server from flags and an optional TOML file, with a demo chat.

pub(crate) mod admin_ui;
mod limits;
mod metrics;
mod origins;
mod settings;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use clap::Args as ClapArgs;
use portico::{Ack, DisconnectReason, Server, Socket};
use serde_json::json;

use settings::{FileConfig, Settings, CLIENT_BUNDLE, HOST, PORT};

const DEMO_PAGE: &str = include_str!("demo/index.html");
const BUNDLE_ROUTE: &str = "/portico-demo/socket.io.min.js";

/// Arguments of `portico serve`. Flags override the config file; the file overrides defaults.
#[derive(Debug, Default, ClapArgs)]
pub(crate) struct ServeArgs {
    /// TOML config file; flags override it. Keys (all optional): host, port, path,
    /// ping_interval_ms, ping_timeout_ms, max_payload, demo (false = --no-demo), client_bundle,
    /// cors_origins (a list), cors_credentials, cors_any_origin, cors_allow_headers (a list),
    /// trusted_proxies (a list), demo_origin, allow_eio3, redis, redis_key_prefix,
    /// redis_sharded, redis_subscription_mode, metrics, shutdown_timeout_ms, and the limits
    /// (docs/limits.md): max_sessions, max_sessions_per_ip, max_buffer_bytes,
    /// max_buffer_packets, event_rate, event_burst, max_attachments, header_read_timeout_ms,
    /// upgrade_timeout_ms. Unknown keys are errors.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on. Default: 127.0.0.1.
    #[arg(long)]
    host: Option<String>,
    /// Port to listen on. Default: 3000.
    #[arg(long, short = 'p')]
    port: Option<u16>,
    /// Socket.IO path (the client's `path` option). Default: /socket.io/.
    #[arg(long)]
    path: Option<String>,
    /// Milliseconds between heartbeats. Default: 25000.
    #[arg(long, value_name = "MS")]
    ping_interval: Option<u64>,
    /// Milliseconds a client has to answer a ping. Default: 20000.
    #[arg(long, value_name = "MS")]
    ping_timeout: Option<u64>,
    /// Largest message or POST body a client may send, in bytes. Default: 1000000.
    #[arg(long, value_name = "BYTES")]
    max_payload: Option<u64>,
    /// Allow this origin (repeatable): `https://app.example.com`, or a subdomain pattern
    /// `https://*.example.com`. Default: same origin only.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// Allow credentials (cookies) from the allowed origins. Not with --cors-any-origin.
    #[arg(long)]
    cors_credentials: bool,
    /// Allow every origin (`Access-Control-Allow-Origin: *`). Not with credentials.
    #[arg(long)]
    cors_any_origin: bool,
    /// Allow this request header in preflights (repeatable), e.g. `authorization` for a
    /// client's `extraHeaders`. Default: none beyond the CORS-safelisted ones.
    #[arg(long = "cors-allow-header", value_name = "NAME")]
    cors_allow_headers: Vec<String>,
    /// Trust X-Forwarded-Host/-Proto/-For from this proxy address (repeatable); the client
    /// address is then the one it forwards.
    #[arg(long = "trusted-proxy", value_name = "IP")]
    trusted_proxies: Vec<std::net::IpAddr>,
    /// Serve the demo page from this second port and allow exactly that origin, so the
    /// demo is cross-origin by construction.
    #[arg(long, value_name = "PORT")]
    demo_origin: Option<u16>,
    /// Also accept socket.io-client 2.x (Engine.IO v3). Default: refused with code 5.
    #[arg(long)]
    allow_eio3: bool,
    /// Serve only Socket.IO, without the demo chat page.
    #[arg(long)]
    no_demo: bool,
    /// The socket.io-client browser bundle the demo page loads. Default: looked up in
    /// node_modules (npm ci --prefix tests/js installs it).
    #[arg(long, value_name = "FILE")]
    client_bundle: Option<PathBuf>,
    /// Share sockets with the other nodes through this Redis server (redis://HOST:PORT),
    /// in the wire format of Node's @socket.io/redis-adapter. Default: one node, in memory.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// The Redis channel prefix; must match the Node nodes' `key` (classic) or
    /// `channelPrefix` (sharded) option. Default: socket.io.
    #[arg(long, value_name = "PREFIX")]
    redis_key_prefix: Option<String>,
    /// Sharded pub/sub (SPUBLISH, Redis 7), like Node's createShardedAdapter. Default:
    /// classic (PUBLISH).
    #[arg(long)]
    redis_sharded: bool,
    /// With --redis-sharded: static, dynamic or dynamic-private, as the Node nodes'
    /// `subscriptionMode` (every node must use the same). Default: dynamic.
    #[arg(long, value_name = "MODE")]
    redis_subscription_mode: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464), on a listener
    /// of their own; see docs/operations.md. Default: no metrics endpoint.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
    /// Milliseconds a graceful shutdown (SIGTERM, Ctrl-C) waits for pending acknowledgements
    /// and in-flight requests before closing what is left; a second signal exits at once.
    /// Default: 10000.
    #[arg(long, value_name = "MS")]
    shutdown_timeout: Option<u64>,
    #[command(flatten)]
    limits: limits::LimitArgs,
    #[command(flatten)]
    admin_ui: admin_ui::AdminUiArgs,
}

fn find_bundle(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    let rel = "socket.io-client/dist/socket.io.min.js";
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(p) = std::env::var("PORTICO_CLIENT_BUNDLE") {
        candidates.push(p.into());
    }
    candidates.push(Path::new("node_modules").join(rel));
    candidates.push(Path::new("tests/js/node_modules").join(rel));
    candidates.into_iter().find(|p| p.is_file())
}

/// Sockets online, on every node of a cluster (this node's alone if the others cannot be
/// reached).
async fn online(io: &Server) -> usize {
    match io.fetch_sockets().await {
        Ok(all) => all.len(),
        Err(_) => io.of("/").sockets().len(),
    }
}

/// Rooms a demo client may join (`join`), and the longest room name: bounded, whatever the
/// client sends.
const MAX_ROOMS: usize = 8;
const MAX_ROOM_NAME: usize = 64;

/// The demo chat: presence and messages for everyone, and `join` (a room name; the ack says
/// whether it was joined) so that rooms can be tried out (tests/js/ops/leak.test.js joins
/// them). Handlers take the server as an argument (`io: Server`), so nothing is cloned into
/// them.
fn demo_chat(io: &Server) {
    io.of("/")
        .on_connection(|socket: Socket, io: Server| async move {
            let count = online(&io).await;
            let _ = io.emit(
                "presence",
                &json!({"event": "joined", "id": socket.id(), "online": count}),
            );
            socket.on("chat", |s: Socket, io: Server, text: String| async move {
                let text: String = text.chars().take(500).collect();
                io.emit("chat", &json!({"from": s.id(), "text": text}))
            });
            socket.on("join", |s: Socket, room: String, ack: Ack| async move {
                // Its own room (named after its id) counts among the socket's rooms.
                let ok = room.len() <= MAX_ROOM_NAME && s.rooms().len() <= MAX_ROOMS;
                if ok {
                    s.join(room);
                }
                ack.send(&ok)
            });
            socket.on_disconnect(
                |s: Socket, io: Server, reason: DisconnectReason| async move {
                    let online = online(&io).await;
                    io.emit(
                        "presence",
                        &json!({"event": "left", "id": s.id(), "reason": reason, "online": online}),
                    )
                },
            );
        });
}

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(p) => FileConfig::read(p)?,
        None => FileConfig::default(),
    };
    let mut s = Settings::resolve(&args, file);
    s.check()?;
    let admin = args.admin_ui.resolve()?;
    // --demo-origin 0: the page's port is known once bound, and the origin policy needs it.
    let early_demo = match s.demo_origin {
        Some(0) if s.demo => {
            let l = bind_demo(&s, 0).await?;
            s.demo_origin = Some(l.local_addr()?.port());
            Some(l)
        }
        _ => None,
    };
    let policy = s.origin_policy()?;
    tracing::info!("origin policy: {}", policy.describe());
    let mut builder = Server::builder();
    if let Some(url) = &s.redis {
        let mut opts = portico_redis::RedisOptions::default().key_prefix(&s.redis_key_prefix);
        if s.redis_sharded {
            opts = opts.sharded(s.subscription_mode()?);
        }
        let redis = portico_redis::Redis::connect_with(url, opts)
            .await
            .with_context(|| format!("{}: cannot use Redis", s.name(settings::REDIS)))?;
        tracing::info!("cluster: {redis:?}");
        builder = builder.cluster(redis);
    }
    let readonly = args.admin_ui.readonly();
    if let Some((opts, _)) = &admin {
        builder = builder.admin_ui(opts.clone());
    }
    let admin = admin.map(|(_, ui)| ui);
    let io = s
        .limits
        .apply(builder)
        .origins(policy)
        .allow_eio3(s.allow_eio3)
        .path(s.path.clone())
        .ping_interval(s.ping_interval)
        .ping_timeout(s.ping_timeout)
        .max_payload(s.max_payload)
        .shutdown_timeout(s.shutdown_timeout)
        .build()
        .context("invalid server configuration")?;
    io.cluster_ready()
        .await
        .with_context(|| format!("{}: cannot subscribe on Redis", s.name(settings::REDIS)))?;
    let listener = portico::bind((s.host.as_str(), s.port))
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}:{} (host from {}, port from {})",
                s.host,
                s.port,
                s.source(HOST),
                s.source(PORT)
            )
        })?;
    let addr = listener.local_addr()?;
    let path = io.config().path.clone();
    if let Some(at) = s.metrics {
        let metrics_listener = portico::bind(at)
            .await
            .with_context(|| format!("{}: cannot listen on {at}", s.name(settings::METRICS)))?;
        let metrics_addr = metrics_listener.local_addr()?;
        let app = metrics::app(io.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(metrics_listener, app).await {
                tracing::error!("the metrics endpoint failed: {e}");
            }
        });
        eprintln!("Metrics on http://{metrics_addr}/metrics");
    }
    eprintln!("Portico listening on http://{addr} (Socket.IO path {path})");
    let admin_router = admin.as_ref().map(|ui| {
        ui.announce(
            &format!("http://{}:{}", s.url_host(), addr.port()),
            &path,
            readonly,
        );
        ui.router()
    });
    let stop = stop_on_signals();
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    if !s.demo {
        return Ok(serve_main(listener, io, admin_router, stopped(stop)).await?);
    }
    demo_chat(&io);
    let bundle = match find_bundle(s.client_bundle.as_deref()) {
        Some(p) => Some(std::fs::read(&p).with_context(|| {
            let from = match s.client_bundle {
                Some(_) => s.name(CLIENT_BUNDLE),
                None => "found in $PORTICO_CLIENT_BUNDLE or node_modules".into(),
            };
            format!("cannot read the client bundle {} ({from})", p.display())
        })?),
        None => {
            tracing::warn!(
                "socket.io-client bundle not found: the demo page needs it. Run `npm ci --prefix tests/js` \
                 or pass --client-bundle path/to/socket.io.min.js"
            );
            None
        }
    };
    let Some(demo_port) = s.demo_origin else {
        let mut app = demo_app(&path, "", bundle);
        if let Some(r) = admin_router {
            app = app.merge(r);
        }
        let app = app.layer(io.layer());
        eprintln!("Demo chat: open http://{addr}/ in two browser tabs");
        portico::serve_app(listener, io, app, stopped(stop)).await?;
        return Ok(());
    };
    // Cross-origin demo: the page comes from a second port and connects to the first.
    let demo_listener = match early_demo {
        Some(l) => l,
        None => bind_demo(&s, demo_port).await?,
    };
    let demo_addr = demo_listener.local_addr()?;
    let server_url = format!("http://{}:{}", s.url_host(), addr.port());
    let app = demo_app(&path, &server_url, bundle);
    eprintln!(
        "Demo chat (cross-origin): open http://{}:{}/ in two browser tabs; it connects to {server_url}",
        s.url_host(),
        demo_addr.port()
    );
    let stop_rx = stop;
    // The demo page's port serves no Socket.IO: plain axum, so that the shutdown of `io` (and
    // its log line) happens once, on the main port.
    let (a, b) = tokio::join!(
        serve_main(listener, io, admin_router, stopped(stop_rx.clone())),
        async {
            axum::serve(demo_listener, app)
                .with_graceful_shutdown(stopped(stop_rx))
                .await
        },
    );
    a?;
    b.context("the demo page's server failed")?;
    Ok(())
}

/// The demo page's listener, for --demo-origin.
async fn bind_demo(s: &Settings, port: u16) -> anyhow::Result<tokio::net::TcpListener> {
    portico::bind((s.host.as_str(), port))
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}:{port} for {}",
                s.host,
                s.name(settings::DEMO_ORIGIN)
            )
        })
}

/// The main port: Socket.IO, and the Admin UI's page when it is on.
async fn serve_main(
    listener: tokio::net::TcpListener,
    io: Server,
    admin: Option<axum::Router>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match admin {
        Some(router) => {
            let app = router.layer(io.layer());
            portico::serve_app(listener, io, app, stop).await
        }
        None => portico::serve_with_shutdown(listener, io, stop).await,
    }
}

/// `true` once the first SIGINT or SIGTERM arrived (the graceful shutdown starts); a second
/// one during the shutdown exits at once, with status 1.
fn stop_on_signals() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        // One listener for both signals, made once: a second signal cannot fall between two.
        let mut signals = match Signals::new() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot listen for signals ({e}): Ctrl-C only");
                portico::shutdown_signal().await;
                let _ = tx.send(true);
                return;
            }
        };
        let first = signals.next().await;
        tracing::info!("{first} received: shutting down gracefully (send it again to exit now)");
        let _ = tx.send(true);
        let second = signals.next().await;
        tracing::warn!("{second} received during the graceful shutdown: exiting now");
        std::process::exit(1);
    });
    rx
}

/// SIGINT and SIGTERM (Ctrl-C only on other systems).
struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    #[cfg(not(unix))]
    fn new() -> std::io::Result<Signals> {
        Ok(Signals {})
    }

    /// The name of the next signal received.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => "SIGINT",
                _ = self.term.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

/// The demo page and the client bundle. `server_url` is where the page connects ("" for its
/// own origin).
fn demo_app(path: &str, server_url: &str, bundle: Option<Vec<u8>>) -> axum::Router {
    let page = DEMO_PAGE
        .replace("{{PATH}}", path)
        .replace("{{URL}}", server_url)
        .replace("{{BUNDLE}}", BUNDLE_ROUTE);
    axum::Router::new()
        .route("/", get(move || async move { Html(page) }))
        .route(
            BUNDLE_ROUTE,
            get(move || async move {
                match bundle {
                    Some(b) => ([(http::header::CONTENT_TYPE, "application/javascript")], b)
                        .into_response(),
                    None => (
                        http::StatusCode::NOT_FOUND,
                        "socket.io-client bundle not installed",
                    )
                        .into_response(),
                }
            }),
        )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
pub(crate) mod tests {
    use clap::CommandFactory as _;

    use super::settings::ALL;
    use super::*;

    /// The keys of the config file, in declaration order.
    pub(crate) fn file_keys() -> Vec<String> {
        let value = serde_json::to_value(FileConfig::default()).unwrap();
        let keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        // Each of them is accepted in a file.
        for key in &keys {
            let err = toml::from_str::<FileConfig>(&format!("{key} = {{ not_a_value = 1 }}"))
                .unwrap_err()
                .to_string();
            assert!(!err.contains("unknown field"), "{key}: {err}");
        }
        keys
    }

    fn serve_command() -> clap::Command {
        crate::Cli::command()
            .find_subcommand("serve")
            .unwrap()
            .clone()
    }

    #[test]
    fn config_help_lists_every_file_key() {
        let serve = serve_command();
        let config = serve
            .get_arguments()
            .find(|a| a.get_long() == Some("config"))
            .unwrap();
        let help = config.get_help().unwrap().to_string();
        let words: Vec<&str> = help
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .collect();
        let keys = file_keys();
        assert_eq!(keys.len(), 30, "{keys:?}");
        for key in &keys {
            assert!(
                words.contains(&key.as_str()),
                "--config help lacks {key}: {help}"
            );
        }
    }

    #[test]
    fn every_setting_has_its_flag() {
        let serve = serve_command();
        for name in ALL {
            let long = name.flag.trim_start_matches("--");
            assert!(
                serve.get_arguments().any(|a| a.get_long() == Some(long)),
                "portico serve has no {}",
                name.flag
            );
        }
    }
}
