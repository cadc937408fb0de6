//! The reference servers of the official protocol test suites
//! (socketio/socket.io `docs/engine.io-protocol/v4-test-suite`,
//! `docs/socket.io-protocol/v5-test-suite`), configured exactly as their READMEs say.

use std::time::Duration;

use clap::{Args as ClapArgs, ValueEnum};
use portico::{Ack, Args, Server, Socket};

/// Arguments of `portico conformance`.
#[derive(Debug, ClapArgs)]
pub(crate) struct ConformanceArgs {
    /// Which reference server to run.
    #[arg(value_enum)]
    suite: Suite,
    /// Port to listen on (127.0.0.1).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Also accept Engine.IO v3 clients (for the official v3 test suite).
    #[arg(long)]
    allow_eio3: bool,
    /// cluster: the Redis server shared by the nodes.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// cluster: sharded mode (SPUBLISH/SSUBSCRIBE, Redis 7), like Node's createShardedAdapter.
    #[arg(long)]
    sharded: bool,
    /// cluster: the sharded subscription mode (static, dynamic, dynamic-private).
    #[arg(long, default_value = "dynamic")]
    subscription_mode: String,
    /// cluster: the channel prefix (Node's `key` / `channelPrefix`).
    #[arg(long, default_value = "socket.io")]
    key_prefix: String,
    /// cluster: this node's name in answers to the server-side event `hello` (default: the
    /// port).
    #[arg(long)]
    name: Option<String>,
    /// cluster: how long requests to the other nodes wait, in ms.
    #[arg(long, default_value_t = 2000)]
    requests_timeout: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Suite {
    /// Engine.IO echo server on /engine.io/.
    Engineio,
    /// Socket.IO test server on /socket.io/ (namespaces / and /custom).
    Socketio,
    /// Cluster test server on /socket.io/ over Redis (tests/js/cluster); prints
    /// `LISTENING <port>` once bound (`--port 0` picks a free port).
    Cluster,
}

fn base() -> portico::ServerBuilder {
    // The reference servers allow any origin (`cors: { origin: "*" }`).
    Server::builder()
        .origins(portico::OriginPolicy::any_origin())
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .max_payload(1_000_000)
}

fn emit_auth(socket: &Socket) -> Result<(), portico::EmitError> {
    socket.emit("auth", socket.handshake().auth_value())
}

pub(crate) async fn run(args: ConformanceArgs) -> anyhow::Result<()> {
    let io = match args.suite {
        Suite::Cluster => {
            let subscription_mode = match args.subscription_mode.as_str() {
                "static" => portico_redis::SubscriptionMode::Static,
                "dynamic" => portico_redis::SubscriptionMode::Dynamic,
                "dynamic-private" => portico_redis::SubscriptionMode::DynamicPrivate,
                other => anyhow::bail!(
                    "--subscription-mode must be static, dynamic or dynamic-private, not {other:?}"
                ),
            };
            return crate::cluster_server::run(crate::cluster_server::ClusterServer {
                port: args.port,
                redis: args.redis,
                sharded: args.sharded,
                subscription_mode,
                key_prefix: args.key_prefix,
                name: args.name,
                requests_timeout: Duration::from_millis(args.requests_timeout),
            })
            .await;
        }
        Suite::Engineio => base()
            .path("/engine.io/")
            .engine_echo(true)
            .allow_eio3(args.allow_eio3)
            .build()?,
        Suite::Socketio => {
            let io = base()
                .connect_timeout(Duration::from_millis(1000))
                .build()?;
            io.of("/").on_connection(|socket: Socket| async move {
                socket.on("message", |s: Socket, args: Args| async move {
                    s.emit("message-back", &args)
                });
                socket.on(
                    "message-with-ack",
                    |_s: Socket, args: Args, ack: Ack| async move { ack.send(&args) },
                );
                emit_auth(&socket)
            });
            io.of("/custom")
                .on_connection(|socket: Socket| async move { emit_auth(&socket) });
            io
        }
    };
    let listener = portico::bind(("127.0.0.1", args.port)).await?;
    tracing::info!(
        "{:?} conformance server on http://127.0.0.1:{}{}",
        args.suite,
        args.port,
        io.config().path
    );
    portico::serve_with_shutdown(listener, io, portico::shutdown_signal()).await?;
    Ok(())
}
