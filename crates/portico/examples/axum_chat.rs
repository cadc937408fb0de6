//! Portico inside an axum app: ordinary routes beside a Socket.IO chat.
//!
//! ```sh
//! npm ci --prefix tests/js                         # the client bundle the page loads
//! cargo run -p portico --example axum_chat -- --port 3000
//! ```
//!
//! Then open <http://127.0.0.1:3000/> in two tabs. `/health` answers `ok`; everything under
//! `/socket.io/` is Portico; any other path falls through to axum (404).

use axum::http::header::CONTENT_TYPE;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use portico::{Server, Socket};
use serde::{Deserialize, Serialize};

/// The browser bundle of socket.io-client, served at `/socket.io-client.min.js` when installed.
const BUNDLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/js/node_modules/socket.io-client/dist/socket.io.min.js"
);

/// A chat message: clients send `{text}`, everyone receives `{from, text}`.
#[derive(Debug, Serialize, Deserialize)]
struct Chat {
    /// The sender's socket id, set by the server (a client cannot claim another's).
    #[serde(default, skip_deserializing)]
    from: String,
    text: String,
}

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>Portico chat</title>
<ul id="log"></ul>
<form id="form"><input id="text" autocomplete="off" autofocus><button>Send</button></form>
<script src="/socket.io-client.min.js"></script>
<script>
  const socket = io();
  const log = (line) => {
    const li = document.createElement("li");
    li.textContent = line;
    document.getElementById("log").append(li);
  };
  socket.on("connect", () => log(`connected as ${socket.id}`));
  socket.on("chat", (msg) => log(`${msg.from}: ${msg.text}`));
  document.getElementById("form").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = document.getElementById("text");
    socket.emit("chat", { text: input.value });
    input.value = "";
  });
</script>
"#;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let port: u16 = match std::env::args().skip_while(|a| a != "--port").nth(1) {
        Some(p) => p.parse()?,
        None => 3000,
    };

    let io = Server::builder().build()?;
    let chat_io = io.clone();
    io.of("/").on_connection(move |socket: Socket| {
        let io = chat_io.clone();
        async move {
            socket.on("chat", move |socket: Socket, mut msg: Chat| {
                let io = io.clone();
                async move {
                    msg.from = socket.id().to_string();
                    io.emit("chat", &msg) // to everyone, the sender included
                }
            });
        }
    });

    let bundle = std::fs::read(BUNDLE).ok();
    if bundle.is_none() {
        eprintln!("{BUNDLE} not found: run `npm ci --prefix tests/js` for the chat page");
    }
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/socket.io-client.min.js",
            get(move || async move {
                match bundle {
                    Some(js) => ([(CONTENT_TYPE, "application/javascript")], js).into_response(),
                    None => axum::http::StatusCode::NOT_FOUND.into_response(),
                }
            }),
        )
        .layer(io.layer());

    let listener = portico::bind(("127.0.0.1", port)).await?;
    println!("LISTENING {}", listener.local_addr()?.port());
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    portico::serve_app(listener, io, app, shutdown).await?;
    Ok(())
}
