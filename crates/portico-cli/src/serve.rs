//! `portico serve`: a Socket.IO server from flags and an optional TOML file, with a demo chat.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use clap::Args as ClapArgs;
use portico::{DisconnectReason, OriginPolicy, Server, Socket};
use serde::Deserialize;
use serde_json::json;

const DEMO_PAGE: &str = include_str!("demo/index.html");
const BUNDLE_ROUTE: &str = "/portico-demo/socket.io.min.js";

/// Arguments of `portico serve`. Flags override the config file; the file overrides defaults.
#[derive(Debug, Default, ClapArgs)]
pub(crate) struct ServeArgs {
    /// TOML config file (keys: host, port, path, ping_interval_ms, ping_timeout_ms,
    /// max_payload, demo, client_bundle).
    #[arg(long, short = 'c')]
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
    /// Trust X-Forwarded-Host/-Proto from this proxy address (repeatable).
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
}

/// The config file. Every key is optional.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    host: Option<String>,
    port: Option<u16>,
    path: Option<String>,
    ping_interval_ms: Option<u64>,
    ping_timeout_ms: Option<u64>,
    max_payload: Option<u64>,
    demo: Option<bool>,
    client_bundle: Option<PathBuf>,
    cors_origins: Option<Vec<String>>,
    cors_credentials: Option<bool>,
    cors_any_origin: Option<bool>,
    cors_allow_headers: Option<Vec<String>>,
    trusted_proxies: Option<Vec<std::net::IpAddr>>,
    demo_origin: Option<u16>,
    allow_eio3: Option<bool>,
}

/// The settings `serve` runs with, after merging flags, file and defaults.
#[derive(Debug, PartialEq)]
pub(crate) struct Settings {
    host: String,
    port: u16,
    path: String,
    ping_interval: Duration,
    ping_timeout: Duration,
    max_payload: u64,
    demo: bool,
    client_bundle: Option<PathBuf>,
    cors_origins: Vec<String>,
    cors_credentials: bool,
    cors_any_origin: bool,
    cors_allow_headers: Vec<String>,
    trusted_proxies: Vec<std::net::IpAddr>,
    demo_origin: Option<u16>,
    allow_eio3: bool,
}

impl Settings {
    fn resolve(args: &ServeArgs, file: FileConfig) -> Settings {
        let d = portico::ServerConfig::default();
        Settings {
            host: args
                .host
                .clone()
                .or(file.host)
                .unwrap_or_else(|| "127.0.0.1".into()),
            port: args.port.or(file.port).unwrap_or(3000),
            path: args.path.clone().or(file.path).unwrap_or(d.path),
            ping_interval: args
                .ping_interval
                .or(file.ping_interval_ms)
                .map(Duration::from_millis)
                .unwrap_or(d.ping_interval),
            ping_timeout: args
                .ping_timeout
                .or(file.ping_timeout_ms)
                .map(Duration::from_millis)
                .unwrap_or(d.ping_timeout),
            max_payload: args
                .max_payload
                .or(file.max_payload)
                .unwrap_or(d.max_payload),
            demo: !args.no_demo && file.demo.unwrap_or(true),
            client_bundle: args.client_bundle.clone().or(file.client_bundle),
            cors_origins: if args.cors_origins.is_empty() {
                file.cors_origins.unwrap_or_default()
            } else {
                args.cors_origins.clone()
            },
            cors_credentials: args.cors_credentials || file.cors_credentials.unwrap_or(false),
            cors_any_origin: args.cors_any_origin || file.cors_any_origin.unwrap_or(false),
            cors_allow_headers: if args.cors_allow_headers.is_empty() {
                file.cors_allow_headers.unwrap_or_default()
            } else {
                args.cors_allow_headers.clone()
            },
            trusted_proxies: if args.trusted_proxies.is_empty() {
                file.trusted_proxies.unwrap_or_default()
            } else {
                args.trusted_proxies.clone()
            },
            demo_origin: args.demo_origin.or(file.demo_origin),
            allow_eio3: args.allow_eio3 || file.allow_eio3.unwrap_or(false),
        }
    }

    /// The host to put in URLs (a wildcard listen address is reached via loopback).
    fn url_host(&self) -> &str {
        match self.host.as_str() {
            "0.0.0.0" | "::" | "[::]" => "127.0.0.1",
            h => h,
        }
    }

    /// The origin policy the flags describe. Errors say which flag to change.
    fn origin_policy(&self) -> anyhow::Result<OriginPolicy> {
        if self.cors_any_origin && !self.cors_origins.is_empty() {
            anyhow::bail!(
                "--cors-any-origin and --cors-origin contradict each other: keep the list of origins \
                 (recommended), or drop it to allow every origin"
            );
        }
        if self.cors_any_origin && self.cors_credentials {
            anyhow::bail!(
                "refusing to start: --cors-credentials cannot be combined with --cors-any-origin: browsers reject \
                 \"Access-Control-Allow-Origin: *\" on credentialed requests (cookies, withCredentials: true), so \
                 every such request would fail. Fix it one of two ways: list the origins that may send credentials \
                 (--cors-origin https://app.example.com --cors-credentials), or drop --cors-credentials and keep \
                 --cors-any-origin"
            );
        }
        let mut policy = if self.cors_any_origin {
            OriginPolicy::any_origin()
        } else if self.cors_origins.is_empty() {
            OriginPolicy::same_origin()
        } else {
            OriginPolicy::allow(&self.cors_origins)
                .map_err(|e| anyhow::anyhow!("--cors-origin: {e}"))?
        };
        if let Some(port) = self.demo_origin {
            let demo = format!("http://{}:{port}", self.url_host());
            policy = policy
                .also_allow([demo.as_str()])
                .map_err(|e| anyhow::anyhow!("--demo-origin: {e}"))?;
        }
        let policy = policy
            .credentials(self.cors_credentials)
            .allow_headers(&self.cors_allow_headers)
            .trusted_proxies(self.trusted_proxies.iter().copied());
        policy.validate().map_err(|e| {
            anyhow::anyhow!("refusing to start with this origin configuration:\n{e}")
        })?;
        Ok(policy)
    }
}

fn read_file_config(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
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

fn demo_chat(io: &Server) {
    let io2 = io.clone();
    io.of("/").on_connection(move |socket: Socket| {
        let io = io2.clone();
        async move {
            let count = io.of("/").sockets().len();
            let _ = io.emit(
                "presence",
                &json!({"event": "joined", "id": socket.id(), "online": count}),
            );
            let io_chat = io.clone();
            socket.on("chat", move |s: Socket, text: String| {
                let io = io_chat.clone();
                async move {
                    let text: String = text.chars().take(500).collect();
                    io.emit("chat", &json!({"from": s.id(), "text": text}))
                }
            });
            let io_left = io.clone();
            socket.on_disconnect(move |s: Socket, reason: DisconnectReason| {
                let io = io_left.clone();
                async move {
                    let online = io.of("/").sockets().len();
                    io.emit(
                        "presence",
                        &json!({"event": "left", "id": s.id(), "reason": reason, "online": online}),
                    )
                }
            });
        }
    });
}

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(p) => read_file_config(p)?,
        None => FileConfig::default(),
    };
    let s = Settings::resolve(&args, file);
    let policy = s.origin_policy()?;
    tracing::info!("origin policy: {}", policy.describe());
    let io = Server::builder()
        .origins(policy)
        .allow_eio3(s.allow_eio3)
        .path(s.path.clone())
        .ping_interval(s.ping_interval)
        .ping_timeout(s.ping_timeout)
        .max_payload(s.max_payload)
        .build()
        .context("invalid server configuration")?;
    let listener = portico::bind((s.host.as_str(), s.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", s.host, s.port))?;
    let addr = listener.local_addr()?;
    let path = io.config().path.clone();
    eprintln!("Portico listening on http://{addr} (Socket.IO path {path})");
    if !s.demo {
        return Ok(portico::serve_with_shutdown(listener, io, crate::shutdown_signal()).await?);
    }
    demo_chat(&io);
    let bundle = match find_bundle(s.client_bundle.as_deref()) {
        Some(p) => Some(
            std::fs::read(&p)
                .with_context(|| format!("cannot read the client bundle {}", p.display()))?,
        ),
        None => {
            tracing::warn!(
                "socket.io-client bundle not found: the demo page needs it. Run `npm ci --prefix tests/js` \
                 or pass --client-bundle path/to/socket.io.min.js"
            );
            None
        }
    };
    let Some(demo_port) = s.demo_origin else {
        let app = demo_app(&path, "", bundle).layer(io.layer());
        eprintln!("Demo chat: open http://{addr}/ in two browser tabs");
        portico::serve_app(listener, io, app, crate::shutdown_signal()).await?;
        return Ok(());
    };
    // Cross-origin demo: the page comes from a second port and connects to the first.
    let demo_listener = portico::bind((s.host.as_str(), demo_port))
        .await
        .with_context(|| format!("cannot listen on {}:{demo_port} for --demo-origin", s.host))?;
    let demo_addr = demo_listener.local_addr()?;
    let server_url = format!("http://{}:{}", s.url_host(), addr.port());
    let app = demo_app(&path, &server_url, bundle);
    eprintln!(
        "Demo chat (cross-origin): open http://{}:{}/ in two browser tabs; it connects to {server_url}",
        s.url_host(),
        demo_addr.port()
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        crate::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let (a, b) = tokio::join!(
        portico::serve_with_shutdown(listener, io.clone(), stopped(stop_rx.clone())),
        portico::serve_app(demo_listener, io, app, stopped(stop_rx)),
    );
    a?;
    b?;
    Ok(())
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_override_defaults() {
        let file: FileConfig =
            toml::from_str("port = 4000\npath = \"/io/\"\nping_interval_ms = 1000\ndemo = false")
                .unwrap();
        let args = ServeArgs {
            port: Some(5000),
            ..Default::default()
        };
        let s = Settings::resolve(&args, file);
        assert_eq!(s.port, 5000);
        assert_eq!(s.path, "/io/");
        assert_eq!(s.ping_interval, Duration::from_millis(1000));
        assert_eq!(s.ping_timeout, Duration::from_millis(20_000));
        assert_eq!(s.host, "127.0.0.1");
        assert!(!s.demo);
    }

    #[test]
    fn broken_origin_flags_refuse_to_start_with_the_fix() {
        let args = ServeArgs {
            cors_any_origin: true,
            cors_credentials: true,
            ..Default::default()
        };
        let err = Settings::resolve(&args, FileConfig::default())
            .origin_policy()
            .unwrap_err()
            .to_string();
        assert!(err.contains("credentials"), "{err}");
        let args = ServeArgs {
            cors_origins: vec!["https://app.example.com/".into()],
            ..Default::default()
        };
        let err = Settings::resolve(&args, FileConfig::default())
            .origin_policy()
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"https://app.example.com\""), "{err}");
        let args = ServeArgs {
            cors_any_origin: true,
            cors_origins: vec!["https://a.example.com".into()],
            ..Default::default()
        };
        assert!(Settings::resolve(&args, FileConfig::default())
            .origin_policy()
            .is_err());
        let args = ServeArgs {
            demo_origin: Some(5173),
            ..Default::default()
        };
        let policy = Settings::resolve(&args, FileConfig::default())
            .origin_policy()
            .unwrap();
        assert!(
            policy.describe().contains("http://127.0.0.1:5173"),
            "{}",
            policy.describe()
        );
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors() {
        assert!(toml::from_str::<FileConfig>("prot = 1").is_err());
    }
}
