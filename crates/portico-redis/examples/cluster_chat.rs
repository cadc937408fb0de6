//! One node of a chat served by several processes: run it twice on two ports with the same
//! Redis, and a message sent on one node reaches the clients of both (Node's socket.io nodes
//! with `@socket.io/redis-adapter` on the same Redis join the same chat).
//!
//! ```sh
//! PORT=3000 cargo run -p portico-redis --example cluster_chat
//! PORT=3001 cargo run -p portico-redis --example cluster_chat
//! ```

use portico::{Server, Socket};
use portico_redis::{Redis, RedisOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = std::env::var("PORT").map_or(Ok(3000), |p| p.parse())?;
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());

    // Fails at once, naming the URL, when Redis does not answer.
    let redis = Redis::connect_with(&url, RedisOptions::default().key_prefix("socket.io")).await?;
    let io = Server::builder().cluster(redis).build()?;

    io.of("/")
        .on_connection(|socket: Socket, io: Server| async move {
            // Every node's sockets, not only this node's.
            let online = io.fetch_sockets().await.map_or(0, |all| all.len());
            socket.emit("online", &online)?;
            socket.on(
                "chat",
                |socket: Socket, io: Server, text: String| async move {
                    // Reaches the clients of every node.
                    io.emit("chat", &(socket.id(), text))
                },
            );
            Ok::<_, portico::EmitError>(())
        });
    // Another node asks this one something (Node's `io.serverSideEmit` with a callback).
    io.on_server_side("who", move |ev: portico::ServerSideEvent| async move {
        let _ = ev.ack(&format!("node on port {port}"));
    });

    portico::serve(("127.0.0.1", port), io).await?;
    Ok(())
}
