//! The Portico side of the `portico bench` protocol, the same one every peer server (Node,
//! socketioxide) implements:
//! - `echo` (args..., ack) → ack(args...)
//! - `join` (room, ack) → join the room, ack(true)
//! - `broadcast` ({room, count, size}, ack) → emit `count` events `b` with a string of `size`
//!   chars to the room (sender included), then ack(true)
//!
//! Usage: `bench_server [--port N]` (0, the default, picks a free port); prints
//! `LISTENING <port>` once bound on 127.0.0.1. Runs on a one-worker runtime
//! (`new_current_thread`), so the server uses one core, as Node does. The `portico bench
//! smoke` command runs a copy of these handlers in-process (crates/portico-cli/src/bench/server.rs):
//! keep the two in step.

use portico::{Ack, Args, Server, Socket};
use serde::Deserialize;

/// The argument of `broadcast`.
#[derive(Deserialize)]
struct Broadcast {
    room: String,
    count: u32,
    size: usize,
}

fn install(io: &Server) {
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

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let io = Server::builder().build()?;
        install(&io);
        let listener = portico::bind(("127.0.0.1", port)).await?;
        println!("LISTENING {}", listener.local_addr()?.port());
        let shutdown = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
        };
        portico::serve_with_shutdown(listener, io, shutdown).await?;
        Ok(())
    })
}
