//! Recipe "paths and namespaces" (docs/recipes/paths-namespaces.md).
//!
//! One axum app: ordinary routes under `/api/` and `/`, Socket.IO under a path of your
//! choice, and an `/admin` namespace that only the admin app may join, with a token.
//!
//! ```sh
//! cargo run -p paths-namespaces                          # Socket.IO under /ws/
//! cargo run -p paths-namespaces -- --path /api/socket    # Next.js style, beside /api/health
//! ```
//!
//! Options: `--port N` (default 3000; 0 picks one), `--path P` (default `/ws`),
//! `--app-origin O` (repeatable, default `http://localhost:5173`), `--admin-origin O`
//! (default `http://localhost:5174`); the admin token comes from `ADMIN_TOKEN` (default
//! `change-me`). Prints `listening on http://127.0.0.1:PORT<path>` on stdout once bound.

use axum::routing::get;
use axum::{Json, Router};
use portico::{ConnectError, OriginPolicy, Server, Socket};
use serde_json::{json, Value};

fn arg(name: &str) -> Option<String> {
    std::env::args().skip_while(|a| a != name).nth(1)
}

fn args(name: &str) -> Vec<String> {
    let all: Vec<String> = std::env::args().collect();
    all.windows(2)
        .filter(|w| w[0] == name)
        .map(|w| w[1].clone())
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = arg("--port")
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(3000);
    // The client's `path` option must be the same string: io(url, { path: "/ws" }).
    let path = arg("--path").unwrap_or_else(|| "/ws".to_owned());
    let mut app_origins = args("--app-origin");
    if app_origins.is_empty() {
        app_origins.push("http://localhost:5173".to_owned());
    }
    let admin_origin = arg("--admin-origin").unwrap_or_else(|| "http://localhost:5174".to_owned());
    let admin_token = std::env::var("ADMIN_TOKEN").unwrap_or_else(|_| "change-me".to_owned());

    // The server's policy: every page that may open a connection at all (both apps).
    let io = Server::builder()
        .path(&path)
        .origins(OriginPolicy::allow(
            app_origins.iter().chain([&admin_origin]),
        )?)
        .build()?;

    io.of("/").on_connection(|socket: Socket| async move {
        socket.emit(
            "welcome",
            &json!({ "nsp": "/", "id": socket.id().as_str() }),
        )
    });

    // `/admin`: only the admin app's origin (on top of the server's policy), and only with
    // the token. Both refusals reach the client as `connect_error`; the connection stays up
    // for the other namespaces.
    let admin = io.of("/admin");
    admin.origins(OriginPolicy::allow([&admin_origin])?)?;
    admin.use_connect(move |socket: Socket| {
        let expected = admin_token.clone();
        async move {
            let token = socket
                .handshake()
                .auth_value()
                .get("token")
                .and_then(Value::as_str);
            match token {
                Some(t) if t == expected => Ok(()),
                Some(_) => Err(ConnectError::new("admin: wrong token")),
                None => Err(ConnectError::new("admin: token required")
                    .with_data(json!({ "hint": "io(url + \"/admin\", { auth: { token } })" }))),
            }
        }
    });
    admin.on_connection(|socket: Socket| async move {
        socket.emit(
            "welcome",
            &json!({ "nsp": "/admin", "id": socket.id().as_str() }),
        )
    });

    // Other routes of the app, beside Socket.IO: the layer answers only under `path`.
    let app = Router::new()
        .route("/api/health", get(|| async { Json(json!({ "ok": true })) }))
        .route(
            "/api/socket-info",
            get({
                let io = io.clone();
                move || async move {
                    Json(json!({
                        "path": io.config().path,
                        "connections": io.connection_count(),
                    }))
                }
            }),
        )
        .route(
            "/",
            get(|| async { "paths-namespaces recipe: see docs/recipes/paths-namespaces.md\n" }),
        )
        .layer(io.layer());

    let listener = portico::bind(("127.0.0.1", port)).await?;
    let addr = portico::local_addr(&listener)?;
    println!("listening on http://{addr}{}", io.config().path);
    portico::serve_app(listener, io, app, portico::shutdown_signal()).await?;
    Ok(())
}
