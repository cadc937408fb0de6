//! `portico serve`: a Socket.IO server from flags and an optional TOML file, with a demo chat.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use clap::Args as ClapArgs;
use portico::{DisconnectReason, Server, Socket};
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
        }
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
    let io = Server::builder()
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
    let page = DEMO_PAGE
        .replace("{{PATH}}", &path)
        .replace("{{BUNDLE}}", BUNDLE_ROUTE);
    let app = axum::Router::new()
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
        .layer(io.layer());
    eprintln!("Demo chat: open http://{addr}/ in two browser tabs");
    portico::serve_app(listener, io, app, crate::shutdown_signal()).await?;
    Ok(())
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
    fn unknown_keys_in_the_file_are_errors() {
        assert!(toml::from_str::<FileConfig>("prot = 1").is_err());
    }
}
