//! The Portico bench server: the bench protocol's handlers (`echo`, `join`, `broadcast`), run
//! in-process by `smoke` without `--url`, or on its own by `portico bench serve` (what
//! bench/run measures).

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

/// `portico bench serve`: the bench server on 127.0.0.1:`port` until Ctrl-C or SIGTERM, on the
/// bench's one-thread runtime (every server in the comparison gets one core).
pub(crate) async fn serve(port: u16) -> anyhow::Result<()> {
    let io = Server::builder().build()?;
    install(&io);
    let listener = portico::bind(("127.0.0.1", port)).await?;
    println!("LISTENING {}", listener.local_addr()?.port());
    std::io::Write::flush(&mut std::io::stdout())?;
    portico::serve_with_shutdown(listener, io, portico::shutdown_signal()).await?;
    Ok(())
}
