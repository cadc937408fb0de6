//! A whole app on one port: static files, an HTTP route and a Socket.IO chat, with app state
//! given once to the server and a nickname kept with each socket.
//!
//! ```sh
//! npm ci --prefix tests/js        # the socket.io-client package whose bundle the page loads
//! cargo run -p portico --example axum_chat
//! ```
//!
//! Then open <http://127.0.0.1:3000/?nick=ada> and <http://127.0.0.1:3000/?nick=bob>.
//! `/` and other files come from `examples/chat/`, `/socket.io/socket.io.min.js` from the npm
//! package, `/api/stats` from axum, and the rest of `/socket.io/` is Portico.

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use portico::{Ack, ClientBundle, DisconnectReason, Server, Socket, State};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tower_http::services::ServeDir;

/// Your static files (the chat page).
const PUBLIC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/chat");
/// The installed socket.io-client npm package (`npm install socket.io-client`).
const CLIENT_PACKAGE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/js/node_modules/socket.io-client"
);

/// App state: given once to the server, taken by any handler as `State<Chat>`.
#[derive(Clone, Default)]
struct Chat {
    history: Arc<Mutex<Vec<Message>>>,
}

/// Per-socket state, typed: kept in the socket's extensions, never serialized.
struct Nick(String);

#[derive(Clone, Serialize, Deserialize)]
struct Message {
    from: String,
    text: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port = match std::env::args().skip_while(|a| a != "--port").nth(1) {
        Some(p) => p.parse()?,
        None => 3000,
    };
    let chat = Chat::default();
    let io = Server::builder()
        .state(chat.clone())
        .serve_client(ClientBundle::from_package_dir(CLIENT_PACKAGE)?)
        .build()?;

    io.of("/")
        .on_connection(|socket: Socket, State(chat): State<Chat>| async move {
            let nick = socket.handshake().auth_value()["nick"]
                .as_str()
                .unwrap_or("anonymous");
            socket.extensions().insert(Nick(nick.to_owned()));
            socket.emit("history", &*chat.history.lock().await)?;
            socket.on("chat", on_chat);
            socket.on_disconnect(
                |socket: Socket, io: Server, reason: DisconnectReason| async move {
                    let nick = socket.extensions().get::<Nick>().map(|n| n.0.clone());
                    io.emit("left", &(nick, reason.to_string()))
                },
            );
            Ok::<_, portico::EmitError>(())
        });

    let app = Router::new()
        .route(
            "/api/stats",
            get(|| async move {
                Json(serde_json::json!({ "messages": chat.history.lock().await.len() }))
            }),
        )
        .fallback_service(ServeDir::new(PUBLIC_DIR))
        .layer(io.layer());

    let listener = portico::bind(("127.0.0.1", port)).await?;
    portico::serve_app(listener, io, app, portico::shutdown_signal()).await?;
    Ok(())
}

/// A chat message from a client: kept, sent to everyone (the sender included), and
/// acknowledged with the number of messages so far.
async fn on_chat(
    socket: Socket,
    io: Server,
    State(chat): State<Chat>,
    text: String,
    ack: Ack,
) -> Result<(), portico::EmitError> {
    let from = socket
        .extensions()
        .get::<Nick>()
        .map(|n| n.0.clone())
        .unwrap_or_default();
    let message = Message { from, text };
    let count = {
        let mut history = chat.history.lock().await;
        history.push(message.clone());
        history.len()
    };
    io.emit("chat", &message)?;
    ack.send(&count)
}
