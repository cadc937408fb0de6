//! Recipe: one node of a chat cluster. Every node shares its broadcasts through Redis (the
//! wire format of Node's `@socket.io/redis-adapter`, so Node socket.io nodes can join), and
//! nginx in front keeps each client on one node (sticky sessions).
//!
//! ```sh
//! node examples/cluster/run.mjs            # two nodes + nginx on loopback; prints the URL
//! ```
//!
//! Settings (environment):
//! - `PORT`: the port on 127.0.0.1 (default 3000; 0 picks a free one);
//! - `REDIS_URL`: the Redis server (default `redis://127.0.0.1:6379`);
//! - `KEY_PREFIX`: the Redis channel prefix, the same on every node (default `socket.io`,
//!   Node's default);
//! - `NODE_NAME`: the name this node gives itself in messages (default `rust-<port>`).

use axum::response::Html;
use axum::routing::get;
use portico::{Ack, ClientBundle, OriginPolicy, Server, Socket};
use serde_json::json;

/// The installed socket.io-client npm package, whose bundle the page loads.
const CLIENT_PACKAGE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/js/node_modules/socket.io-client"
);
/// The chat page (every node serves the same one).
const PAGE: &str = include_str!("../index.html");

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = {
        let v = env_or("PORT", "3000");
        v.parse()
            .map_err(|_| anyhow::anyhow!("PORT={v:?} is not a port number"))?
    };
    let redis_url = env_or("REDIS_URL", "redis://127.0.0.1:6379");
    let prefix = env_or("KEY_PREFIX", "socket.io");
    let redis = portico_redis::Redis::connect_with(
        &redis_url,
        portico_redis::RedisOptions::default().key_prefix(&prefix),
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot connect to Redis at {redis_url}: {e}"))?;

    let io = Server::builder()
        // nginx on this host is the proxy: clients' addresses and the public host come from it.
        .origins(OriginPolicy::same_origin().trusted_proxies(["127.0.0.1".parse()?]))
        .cluster(redis)
        .serve_client(ClientBundle::from_package_dir(CLIENT_PACKAGE)?)
        .build()?;

    let listener = portico::bind(("127.0.0.1", port)).await?;
    let addr = portico::local_addr(&listener)?;
    let name = std::env::var("NODE_NAME").unwrap_or_else(|_| format!("rust-{}", addr.port()));

    let node = name.clone();
    io.of("/").on_connection(move |socket: Socket, io: Server| {
        let node = node.clone();
        async move {
            socket.emit("welcome", &json!({ "node": node, "id": socket.id() }))?;
            // A chat line goes to every client of every node: io.emit through the adapter.
            socket.on("chat", move |_s: Socket, text: String, ack: Ack| {
                let io = io.clone();
                let node = node.clone();
                async move {
                    io.emit("chat", &json!({ "text": text, "via": node }))?;
                    ack.send(&true)
                }
            });
            Ok::<_, portico::EmitError>(())
        }
    });

    let app = axum::Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .layer(io.layer());
    io.cluster_ready().await?;
    println!("listening on http://{addr} (node {name}, Redis {redis_url}, prefix {prefix})");
    portico::serve_app(listener, io, app, portico::shutdown_signal()).await?;
    Ok(())
}
