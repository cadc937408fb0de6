//! Recipe: Portico behind a reverse proxy (nginx or Caddy).
//!
//! The server trusts the proxy's address, so `handshake.address` is the client's (from
//! `X-Forwarded-For`) and the same-origin check uses the public host (from
//! `X-Forwarded-Host`). It serves a page at `/` and tells every client what it saw.
//!
//! ```sh
//! cargo run -p reverse-proxy            # then start nginx or Caddy with the configs beside it
//! ```
//!
//! Settings (environment):
//! - `PORT`: the port on 127.0.0.1 (default 3000; 0 picks a free one);
//! - `TRUSTED_PROXIES`: comma-separated proxy addresses (default `127.0.0.1`, `none` for none);
//! - `ALLOWED_ORIGINS`: comma-separated origins allowed besides the page's own (default none);
//! - `PING_INTERVAL_MS` / `PING_TIMEOUT_MS`: the heartbeat (default 25000 / 20000).

use std::net::IpAddr;
use std::time::Duration;

use axum::response::Html;
use axum::routing::get;
use portico::{Ack, ClientBundle, OriginPolicy, Server, Socket};
use serde_json::json;

/// The installed socket.io-client npm package, whose bundle the page loads.
const CLIENT_PACKAGE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/js/node_modules/socket.io-client"
);

/// The page: connects to its own origin (through the proxy) and shows what the server saw.
const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>Portico behind a proxy</title>
<p>transport: <b id="transport">-</b>, address seen by the server: <b id="address">-</b></p>
<script src="/socket.io/socket.io.min.js"></script>
<script>
  const socket = io();
  socket.on("whoami", (me) => {
    document.getElementById("address").textContent = me.address;
    window.whoami = me;
  });
  socket.on("connect", () => {
    const show = () => (document.getElementById("transport").textContent = socket.io.engine.transport.name);
    show();
    socket.io.engine.on("upgrade", show);
  });
</script>
"#;

/// An environment variable, or `default` when it is unset.
fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// A comma-separated list, without empty entries.
fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn millis(name: &str, default: u64) -> anyhow::Result<Duration> {
    let v = env_or(name, &default.to_string());
    let ms = v
        .parse()
        .map_err(|_| anyhow::anyhow!("{name}={v:?} is not a number of milliseconds"))?;
    Ok(Duration::from_millis(ms))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = {
        let v = env_or("PORT", "3000");
        v.parse()
            .map_err(|_| anyhow::anyhow!("PORT={v:?} is not a port number"))?
    };
    let proxies = env_or("TRUSTED_PROXIES", "127.0.0.1");
    let proxies: Vec<IpAddr> = if proxies == "none" {
        Vec::new()
    } else {
        list(&proxies)
            .iter()
            .map(|p| {
                p.parse()
                    .map_err(|_| anyhow::anyhow!("TRUSTED_PROXIES: {p:?} is not an IP address"))
            })
            .collect::<anyhow::Result<_>>()?
    };

    // Same origin (the page's, as the proxy forwards it) plus any listed origins, and the
    // proxy trusted for X-Forwarded-For / -Host / -Proto.
    let origins = OriginPolicy::allow(list(&env_or("ALLOWED_ORIGINS", "")))?
        .trusted_proxies(proxies.iter().copied());

    let io = Server::builder()
        .origins(origins)
        .ping_interval(millis("PING_INTERVAL_MS", 25_000)?)
        .ping_timeout(millis("PING_TIMEOUT_MS", 20_000)?)
        .serve_client(ClientBundle::from_package_dir(CLIENT_PACKAGE)?)
        .build()?;

    io.of("/").on_connection(|socket: Socket| async move {
        let hs = socket.handshake();
        let header = |name: &str| {
            hs.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        socket.emit(
            "whoami",
            &json!({
                "address": hs.address().map(|a| a.ip().to_string()),
                "host": header("host"),
                "forwardedFor": header("x-forwarded-for"),
                "forwardedHost": header("x-forwarded-host"),
            }),
        )?;
        socket.on("echo", |_s: Socket, text: String, ack: Ack| async move {
            ack.send(&text)
        });
        Ok::<_, portico::EmitError>(())
    });

    let app = axum::Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .layer(io.layer());
    let listener = portico::bind(("127.0.0.1", port)).await?;
    let addr = portico::local_addr(&listener)?;
    let trusted: Vec<String> = proxies.iter().map(ToString::to_string).collect();
    println!(
        "listening on http://{addr} (trusted proxies: {})",
        if trusted.is_empty() {
            "none".to_owned()
        } else {
            trusted.join(", ")
        }
    );
    portico::serve_app(listener, io, app, portico::shutdown_signal()).await?;
    Ok(())
}
