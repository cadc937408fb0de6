//! The Portico bench server: the bench protocol's handlers (`echo`, `join`, `broadcast`), run
//! in-process by `smoke` without `--url`, or on its own by `portico bench serve` (what
//! bench/run measures). With `--redis URL` the server is one node of a cluster
//! ([`portico_redis`], Node's classic `@socket.io/redis-adapter` format): the `broadcast`
//! handler's room emit then reaches every node (bench/run's `cluster` case).

use portico::{Ack, Args, Server, Socket};
use serde::Deserialize;
use tokio::sync::oneshot;

/// The argument of `broadcast`.
#[derive(Deserialize)]
struct Broadcast {
    room: String,
    count: u32,
    size: usize,
}

/// Install the bench protocol: `echo`, `join`, `broadcast`.
pub(crate) fn install(io: &Server) {
    io.of("/").on_connection(|socket: Socket| async move {
        socket.on("echo", |_s: Socket, args: Args, ack: Ack| async move {
            ack.send(&args)
        });
        socket.on("join", |s: Socket, room: String, ack: Ack| async move {
            s.join(&room);
            ack.send(&true)
        });
        socket.on(
            "broadcast",
            |s: Socket, req: Broadcast, ack: Ack| async move {
                let payload = "x".repeat(req.size);
                let to_room = s.namespace().to(req.room);
                for _ in 0..req.count {
                    to_room.emit("b", &payload)?;
                }
                ack.send(&true)
            },
        );
    });
}

/// Keeps the in-process server running; dropped, it shuts down.
#[derive(Debug)]
pub(crate) struct Running {
    _shutdown: oneshot::Sender<()>,
}

/// Start the bench server on 127.0.0.1 (a free port); returns its URL.
pub(crate) async fn start_in_process() -> anyhow::Result<(String, Running)> {
    let io = Server::builder().build()?;
    install(&io);
    let listener = portico::bind(("127.0.0.1", 0)).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(portico::serve_with_shutdown(listener, io, async {
        let _ = rx.await;
    }));
    Ok((url, Running { _shutdown: tx }))
}

/// The cluster side of `portico bench serve`: a Redis URL and the channel prefix.
#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    pub url: String,
    pub key_prefix: String,
}

/// `portico bench serve`: the bench server on 127.0.0.1:`port` until Ctrl-C or SIGTERM, on the
/// runtime `main` built: the bench's one-thread runtime (every server in the comparison gets
/// one core), or with `--workers N` tokio's multi-thread one (bench/run's `echo-mt` and
/// `broadcast-mt` cases: the cost of cross-thread wake-ups). With `cluster`,
/// one node of a cluster on Redis; `LISTENING` is printed once its subscriptions are in place.
pub(crate) async fn serve(port: u16, cluster: Option<Cluster>) -> anyhow::Result<()> {
    let io = match &cluster {
        None => Server::builder().build()?,
        Some(c) => {
            let opts = portico_redis::RedisOptions::default().key_prefix(&c.key_prefix);
            let redis = portico_redis::Redis::connect_with(&c.url, opts).await?;
            Server::builder().cluster(redis).build()?
        }
    };
    install(&io);
    io.cluster_ready().await?;
    let listener = portico::bind(("127.0.0.1", port)).await?;
    println!("LISTENING {}", listener.local_addr()?.port());
    std::io::Write::flush(&mut std::io::stdout())?;
    portico::serve_with_shutdown(listener, io, portico::shutdown_signal()).await?;
    Ok(())
}
