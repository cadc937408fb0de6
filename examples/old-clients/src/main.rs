//! Recipe "old clients" (docs/recipes/old-clients.md): pages that still load
//! socket.io-client 2.x (Engine.IO v3, Socket.IO protocol v4) and 3.x/4.x clients, on one
//! server.
//!
//! ```sh
//! npm ci --prefix tests/js      # installs socket.io-client 2.5.0 (as socket.io-client-v2)
//! cargo run -p old-clients      # then open http://127.0.0.1:3000/
//! ```
//!
//! `/` is a 2.x page (`page/index.html`) that loads `/socket.io/socket.io.js`: the 2.x
//! bundle, served from the npm package by Portico as Node's socket.io 2.x served it.
//!
//! Options: `--port N` (default 3000; 0 picks one), `--origin O` (repeatable: other pages
//! allowed to connect, with credentials, as 2.x sends them), `--client-package DIR` (the
//! socket.io-client 2.x package; default `tests/js/node_modules/socket.io-client-v2`).
//! To see the symptoms this recipe fixes: `--without-eio3` (no `allow_eio3`),
//! `--without-credentials` (no `Access-Control-Allow-Credentials` for other origins).
//! Prints `listening on http://127.0.0.1:PORT/` on stdout once bound.

use axum::response::Html;
use axum::routing::get;
use axum::Router;
use portico::{Ack, ClientBundle, OriginPolicy, Server, Socket};
use serde_json::{json, Value};

/// socket.io-client 2.5.0, installed by `npm ci` in tests/js under the alias
/// `socket.io-client-v2`.
const CLIENT_PACKAGE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/js/node_modules/socket.io-client-v2"
);

const PAGE: &str = include_str!("../page/index.html");

fn arg(name: &str) -> Option<String> {
    std::env::args().skip_while(|a| a != name).nth(1)
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = arg("--port")
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(3000);
    let all: Vec<String> = std::env::args().collect();
    let origins: Vec<String> = all
        .windows(2)
        .filter(|w| w[0] == "--origin")
        .map(|w| w[1].clone())
        .collect();
    let package = arg("--client-package").unwrap_or_else(|| CLIENT_PACKAGE.to_owned());

    // The page's own origin is always allowed. Other pages: socket.io-client 2.x sends
    // cookies (`withCredentials: true` is its default), so the browser wants
    // `Access-Control-Allow-Credentials: true` on every answer.
    let mut policy = OriginPolicy::same_origin();
    if !origins.is_empty() {
        policy = OriginPolicy::allow(&origins)?
            .allow_same_origin(true)
            .credentials(!flag("--without-credentials"));
    }
    let io = Server::builder()
        .allow_eio3(!flag("--without-eio3"))
        .origins(policy)
        .serve_client(ClientBundle::from_package_dir(&package)?)
        .build()?;

    // 2.x clients join `/` implicitly; 4.x clients connect to it. Both get the same events.
    io.of("/").on_connection(|socket: Socket| async move {
        socket.on(
            "hello",
            |socket: Socket, text: String, ack: Ack| async move {
                // The handshake's `EIO` query parameter: "3" for 2.x clients, "4" for 3.x/4.x.
                let eio = socket.handshake().query("EIO").unwrap_or("?").to_owned();
                ack.send(&json!({ "echo": text, "eio": eio }))
            },
        );
        socket.on("chat", |io: Server, msg: Value| async move {
            io.emit("chat", &msg)
        });
    });

    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .layer(io.layer());
    let listener = portico::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}/", portico::local_addr(&listener)?);
    portico::serve_app(listener, io, app, portico::shutdown_signal()).await?;
    Ok(())
}
