//! The server the Node interop tests (tests/js) run against: every behaviour they check has a
//! handler here. Usage: `interop_server --port 0 [--ping-interval MS] [--ping-timeout MS]
//! [--max-payload BYTES] [--path P]`; prints `LISTENING <port>` once bound on 127.0.0.1.

use std::time::Duration;

use portico::{Ack, Args, ConnectError, DisconnectReason, Server, Socket};
use serde::Deserialize;
use serde_json::{json, Value};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn ms(args: &[String], name: &str, default: u64) -> Duration {
    Duration::from_millis(
        arg(args, name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

#[derive(Deserialize)]
struct AckRequest {
    #[serde(rename = "timeoutMs")]
    timeout_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = arg(&args, "--port")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let io = Server::builder()
        .path(arg(&args, "--path").unwrap_or_else(|| "/socket.io/".into()))
        .ping_interval(ms(&args, "--ping-interval", 25_000))
        .ping_timeout(ms(&args, "--ping-timeout", 20_000))
        .max_payload(
            arg(&args, "--max-payload")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1_000_000),
        )
        .build()?;

    let root = io.of("/");
    let io2 = io.clone();
    root.on_connection(move |socket: Socket| {
        let io = io2.clone();
        async move {
            let watchers = io.clone();
            socket.on_disconnect(move |s: Socket, reason: DisconnectReason| {
                let watchers = watchers.clone();
                async move { watchers.to("watchers").emit("peer-disconnect", &json!({"sid": s.id(), "reason": reason})) }
            });
            socket.on("echo", |s: Socket, args: Args, ack: Ack| async move {
                if ack.requested() {
                    ack.send(&args)
                } else {
                    s.emit("echo", &args)
                }
            });
            socket.on("id", |s: Socket, _: Value, ack: Ack| async move { ack.send(&s.id()) });
            socket.on("join", |s: Socket, room: String, ack: Ack| async move {
                s.join(&room);
                ack.send(&s.rooms())
            });
            socket.on("leave", |s: Socket, room: String, ack: Ack| async move {
                s.leave(&room);
                ack.send(&s.rooms())
            });
            let io_room = io.clone();
            socket.on("to-room", move |_s: Socket, (room, payload): (String, Value)| {
                let io = io_room.clone();
                async move { io.to(room).emit("room-message", &payload) }
            });
            socket.on("broadcast", |s: Socket, payload: Value| async move { s.broadcast().emit("broadcast", &payload) });
            let io_except = io.clone();
            socket.on("except-room", move |_s: Socket, (room, payload): (String, Value)| {
                let io = io_except.clone();
                async move { io.except(room).emit("except-message", &payload) }
            });
            socket.on("request-ack", |s: Socket, req: AckRequest| async move {
                let reply = s.timeout(Duration::from_millis(req.timeout_ms)).emit_with_ack::<_, Value>("need-ack", &json!({"n": 1})).await;
                let result = match reply {
                    Ok(v) => json!({"ok": true, "reply": v}),
                    Err(e) => json!({"ok": false, "error": if matches!(e, portico::AckError::Timeout) { "timeout".to_string() } else { e.to_string() }}),
                };
                s.emit("request-ack-result", &result)
            });
            socket.on("never-ack", |_s: Socket, _args: Args, ack: Ack| async move {
                // Never answered, on purpose: dropping an Ack sends nothing.
                drop(ack);
            });
            socket.on("server-disconnect", |s: Socket| async move { s.disconnect() });
            socket.on("kill-transport", |s: Socket| async move { s.close_connection() });
            socket.on("handshake", |s: Socket, _: Value, ack: Ack| async move { ack.send(s.handshake()) });
            socket.on("watch-disconnects", |s: Socket, _: Value, ack: Ack| async move {
                s.join("watchers");
                ack.send(&true)
            });
        }
    });

    io.of("/admin")
        .use_connect(|socket: Socket| async move {
            match socket
                .handshake()
                .auth_value()
                .get("token")
                .and_then(Value::as_str)
            {
                Some("secret") => Ok(()),
                _ => Err(ConnectError::new("not authorized").with_data(json!({"code": 401}))),
            }
        })
        .on_connection(|socket: Socket| async move { socket.emit("welcome", "admin") });

    io.of("/custom").on_connection(|socket: Socket| async move {
        let auth = socket.handshake().auth_value().clone();
        socket.emit("auth", &auth)
    });

    let listener = portico::bind(("127.0.0.1", port)).await?;
    println!("LISTENING {}", listener.local_addr()?.port());
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    portico::serve_with_shutdown(listener, io, shutdown).await?;
    Ok(())
}
