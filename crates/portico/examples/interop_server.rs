//! The server the Node interop tests (tests/js) run against: every behaviour they check has a
//! handler here. Usage: `interop_server --port 0 [--ping-interval MS] [--ping-timeout MS]
//! [--max-payload BYTES] [--upgrade-timeout MS] [--path P] [--cors-origin O]... [--cors-any-origin]
//! [--cors-credentials] [--cookie NAME=VALUE] [--guard-origin O]`; prints `LISTENING <port>`
//! once bound on 127.0.0.1.
//!
//! CORS options: `--cors-origin` (repeatable, patterns allowed), `--cors-any-origin`,
//! `--cors-credentials`; `--cookie` sets a cookie on the handshake response (initial_headers
//! hook) and counts the requests that send it back (`cookie-count`); `--guard-origin`
//! limits the `/guarded` namespace to that origin (repeatable). `connection-errors` (ack)
//! returns every refused request so far; `handshake-count` (ack) the Engine.IO handshakes that succeeded so far.
//! `--allow-eio3` accepts socket.io-client 2.x.
//! `--msgpack` selects the msgpack parser (socket.io-msgpack-parser).
//! `--recovery` turns on connection state recovery (`recovered` acks `socket.recovered()`).
//! `--sticky-cookie` sets `io=<sid>` on handshakes; `--serve-client DIR` serves the
//! socket.io-client package in DIR under the path.
//! Hooks: a handshake with `?deny=<reason>` is refused by `allow_request`;
//! `--extra-header NAME=VALUE` is added to every response by the `headers` hook.
//! Limits: `--max-buffer-bytes BYTES`, `--event-rate N --event-burst N`; `flood` ([count,
//! size]) emits `flood` events of `size` bytes from a task, one per millisecond, until
//! `count` or until the connection's queue is full; `refusals` (ack) returns
//! `io.refusals()`.

use std::time::Duration;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http::header::{HeaderValue, COOKIE, SET_COOKIE};
use http::HeaderMap;
use portico::{
    Ack, Args, ConnectError, ConnectionError, DisconnectReason, EventError, EventInfo,
    OriginPolicy, RequestParts, Server, Socket,
};
use serde::Deserialize;
use serde_json::{json, Value};

fn all(args: &[String], name: &str) -> Vec<String> {
    args.iter()
        .enumerate()
        .filter(|(_, a)| *a == name)
        .filter_map(|(i, _)| args.get(i + 1).cloned())
        .collect()
}

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
    let origins = all(&args, "--cors-origin");
    let credentials = args.iter().any(|a| a == "--cors-credentials");
    let policy = if args.iter().any(|a| a == "--cors-any-origin") {
        OriginPolicy::any_origin()
    } else if origins.is_empty() {
        OriginPolicy::same_origin()
    } else {
        OriginPolicy::allow(&origins)?
    }
    .credentials(credentials);
    let cookie = arg(&args, "--cookie");
    let cookie_seen = Arc::new(AtomicUsize::new(0));
    // Every successful Engine.IO handshake, ever: tests assert "no session was created" on this
    // monotonic count, not on the open-connection count, which earlier tests' closing
    // connections can lower at any moment.
    let handshakes = Arc::new(AtomicUsize::new(0));
    let counted = handshakes.clone();
    let mut builder = Server::builder().origins(policy).initial_headers(
        move |_req: &RequestParts, _headers: &mut HeaderMap| {
            counted.fetch_add(1, Ordering::Relaxed);
        },
    );
    if let Some(cookie) = cookie.clone() {
        let set = HeaderValue::from_str(&format!("{cookie}; Path=/; SameSite=Lax"))?;
        builder = builder.initial_headers(move |_req: &RequestParts, headers: &mut HeaderMap| {
            headers.append(SET_COOKIE, set.clone());
        });
        let seen = cookie_seen.clone();
        builder = builder.headers(move |req: &RequestParts, _headers: &mut HeaderMap| {
            let sent = req.headers.get_all(COOKIE).iter().any(|v| {
                v.to_str()
                    .is_ok_and(|v| v.split(';').any(|c| c.trim() == cookie))
            });
            if sent {
                seen.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    // Hooks: `?deny=<reason>` on a handshake is refused by allow_request with that reason;
    // `--extra-header NAME=VALUE` is added to every response by the headers hook (together with
    // the cookie hook above, if any).
    builder = builder.allow_request(|req: RequestParts| async move {
        let query = req.uri.query().unwrap_or_default().to_owned();
        match query.split('&').find_map(|kv| kv.strip_prefix("deny=")) {
            Some(reason) => Err(reason.replace(['+'], " ").replace("%20", " ")),
            None => Ok(()),
        }
    });
    if let Some((name, value)) = arg(&args, "--extra-header")
        .as_deref()
        .and_then(|h| h.split_once('='))
    {
        let name = http::HeaderName::from_bytes(name.as_bytes())?;
        let value = HeaderValue::from_str(value)?;
        builder = builder.headers(move |_req: &RequestParts, headers: &mut HeaderMap| {
            headers.insert(name.clone(), value.clone());
        });
    }
    builder =
        builder.cleanup_empty_child_namespaces(args.iter().any(|a| a == "--cleanup-children"));
    builder = builder.allow_eio3(args.iter().any(|a| a == "--allow-eio3"));
    if args.iter().any(|a| a == "--msgpack") {
        builder = builder.parser(portico::Parser::MsgPack);
    }
    if args.iter().any(|a| a == "--recovery") {
        builder = builder.connection_state_recovery(portico::RecoveryConfig::default());
    }
    if args.iter().any(|a| a == "--sticky-cookie") {
        builder = builder.cookie(portico::CookieOptions::default());
    }
    if let Some(dir) = arg(&args, "--serve-client") {
        builder = builder.serve_client(portico::ClientBundle::from_package_dir(dir)?);
    }
    let io = builder
        .path(arg(&args, "--path").unwrap_or_else(|| "/socket.io/".into()))
        .ping_interval(ms(&args, "--ping-interval", 25_000))
        .ping_timeout(ms(&args, "--ping-timeout", 20_000))
        .upgrade_timeout(ms(&args, "--upgrade-timeout", 10_000))
        .max_buffer_bytes(
            arg(&args, "--max-buffer-bytes")
                .and_then(|v| v.parse().ok())
                .unwrap_or(8 * 1024 * 1024),
        )
        .event_rate(
            arg(&args, "--event-rate")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1_000),
            arg(&args, "--event-burst")
                .and_then(|v| v.parse().ok())
                .unwrap_or(2_000),
        )
        .max_payload(
            arg(&args, "--max-payload")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1_000_000),
        )
        .build()?;

    let refused: Arc<Mutex<Vec<Value>>> = Arc::default();
    let log = refused.clone();
    io.on_connection_error(move |err: &ConnectionError| {
        let entry = json!({
            "code": err.code, "message": err.message, "origin": err.context.origin,
            "transport": err.context.transport, "reason": err.context.reason,
        });
        log.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
    });
    let guard_origins = all(&args, "--guard-origin");
    if !guard_origins.is_empty() {
        io.of("/guarded")
            .origins(OriginPolicy::allow(&guard_origins)?)?
            .on_connection(|socket: Socket| async move { socket.emit("welcome", "guarded") });
    }

    // Dynamic namespaces `/dyn-<digits>`: the parent's middleware refuses auth.token "bad";
    // each child greets with its own name.
    let dynamic = io.dynamic_namespace(|name: &str| {
        name.strip_prefix("/dyn-")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    });
    dynamic
        .use_connect(|socket: Socket| async move {
            match socket
                .handshake()
                .auth_value()
                .get("token")
                .and_then(Value::as_str)
            {
                Some("bad") => Err(ConnectError::new("bad token")),
                _ => Ok(()),
            }
        })
        .on_connection(|socket: Socket| async move {
            let name = socket.ns().to_owned();
            socket.emit("welcome-dyn", &name)
        });

    let root = io.of("/");
    let io2 = io.clone();
    root.on_connection(move |socket: Socket| {
        let io = io2.clone();
        let refused = refused.clone();
        let cookie_seen = cookie_seen.clone();
        let handshakes = handshakes.clone();
        let dynamic = dynamic.clone();
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
            socket.on("flood", |s: Socket, (count, size): (usize, usize)| async move {
                let payload = "f".repeat(size.min(1 << 20));
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(Duration::from_millis(1));
                    for _ in 0..count {
                        tick.tick().await;
                        if s.emit("flood", &payload).is_err() {
                            break;
                        }
                    }
                });
            });
            let io_refusals = io.clone();
            socket.on("refusals", move |_s: Socket, _: Value, ack: Ack| {
                let counts: serde_json::Map<String, Value> = io_refusals
                    .refusals()
                    .into_iter()
                    .map(|(reason, n)| (reason.to_owned(), json!(n)))
                    .collect();
                async move { ack.send(&counts) }
            });
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
            let refused = refused.clone();
            socket.on("connection-errors", move |_s: Socket, _: Value, ack: Ack| {
                let list = refused.lock().unwrap_or_else(|e| e.into_inner()).clone();
                async move { ack.send(&list) }
            });
            let seen = cookie_seen.clone();
            socket.on("cookie-count", move |_s: Socket, _: Value, ack: Ack| {
                let n = seen.load(Ordering::Relaxed);
                async move { ack.send(&n) }
            });
            let opened = handshakes.clone();
            socket.on("handshake-count", move |_s: Socket, _: Value, ack: Ack| {
                let n = opened.load(Ordering::Relaxed);
                async move { ack.send(&n) }
            });
            // --- the server API beyond the basics -----------------------------------------
            let incoming = Arc::new(Mutex::new(Vec::<String>::new()));
            let outgoing = Arc::new(Mutex::new(Vec::<String>::new()));
            let log_in = incoming.clone();
            socket.on_any(move |_s: Socket, event: String, _args: Args| {
                log_in.lock().unwrap_or_else(|e| e.into_inner()).push(event);
                async {}
            });
            let log_out = outgoing.clone();
            socket.on_any_outgoing(move |_s: Socket, event: String, _args: Args| {
                log_out.lock().unwrap_or_else(|e| e.into_inner()).push(event);
                async {}
            });
            socket.on("any-log", move |_s: Socket, _: Value, ack: Ack| {
                let log = json!({
                    "incoming": *incoming.lock().unwrap_or_else(|e| e.into_inner()),
                    "outgoing": *outgoing.lock().unwrap_or_else(|e| e.into_inner()),
                });
                async move { ack.send(&log) }
            });
            socket.use_event(|_s: Socket, event: EventInfo| async move {
                match event.name.as_str() {
                    "forbidden" => Err(EventError::new("not allowed")),
                    "silently-dropped" => Err(EventError::drop_silently()),
                    _ => Ok(()),
                }
            });
            let watchers_disconnecting = io.clone();
            socket.on_disconnecting(move |s: Socket, reason: DisconnectReason| {
                let io = watchers_disconnecting.clone();
                let rooms = s.rooms();
                async move {
                    io.to("watchers")
                        .emit("peer-disconnecting", &json!({"sid": s.id(), "reason": reason, "rooms": rooms}))
                }
            });
            socket.on("set-data", |s: Socket, data: Value, ack: Ack| async move {
                s.set_data(&data).map_err(|e| e.to_string())?;
                ack.send(&true).map_err(|e| e.to_string())
            });
            let io_fetch = io.clone();
            socket.on("fetch", move |_s: Socket, room: Option<String>, ack: Ack| {
                let io = io_fetch.clone();
                async move {
                    let selection = match room {
                        Some(r) => io.to(r),
                        None => io.all(),
                    };
                    let sockets = selection.fetch_sockets().await.map_err(|e| e.to_string())?;
                    let mut list: Vec<Value> = sockets
                        .iter()
                        .map(|r| json!({"id": r.id(), "rooms": r.rooms(), "data": r.data_value()}))
                        .collect();
                    list.sort_by_key(|v| v["id"].as_str().unwrap_or_default().to_owned());
                    ack.send(&list).map_err(|e| e.to_string())
                }
            });
            let io_join = io.clone();
            socket.on("sockets-join", move |_s: Socket, (from, to): (String, String), ack: Ack| {
                let joined = io_join.to(from).sockets_join(&to);
                async move { ack.send(&joined.is_ok()) }
            });
            let io_leave = io.clone();
            socket.on("sockets-leave", move |_s: Socket, (from, room): (String, String), ack: Ack| {
                let left = io_leave.to(from).sockets_leave(&room);
                async move { ack.send(&left.is_ok()) }
            });
            let io_disc = io.clone();
            socket.on("disconnect-room", move |_s: Socket, (room, close): (String, bool), ack: Ack| {
                let done = io_disc.to(room).disconnect_sockets(close);
                async move { ack.send(&done.is_ok()) }
            });
            let io_bcast = io.clone();
            socket.on("broadcast-ack", move |_s: Socket, (room, timeout_ms): (String, u64), ack: Ack| {
                let io = io_bcast.clone();
                async move {
                    let replies = io
                        .to(room)
                        .timeout(Duration::from_millis(timeout_ms))
                        .emit_with_ack::<_, Value>("poll", &json!({"q": "ready?"}))
                        .await
                        .map_err(|e| e.to_string())?;
                    let mut out: Vec<Value> = replies
                        .local
                        .into_iter()
                        .map(|(sid, r)| match r {
                            Ok(v) => json!({"sid": sid, "ok": true, "reply": v}),
                            Err(e) => json!({"sid": sid, "ok": false, "error": e.to_string()}),
                        })
                        .collect();
                    out.sort_by_key(|v| v["sid"].as_str().unwrap_or_default().to_owned());
                    ack.send(&out).map_err(|e| e.to_string())
                }
            });
            socket.on("volatile-burst", |s: Socket, count: u32, ack: Ack| async move {
                let mut sent = 0u32;
                for i in 0..count {
                    if s.emit_volatile("v", &i).map_err(|e| e.to_string())? {
                        sent += 1;
                    }
                }
                ack.send(&sent).map_err(|e| e.to_string())
            });
            let io_count = io.clone();
            socket.on("recovered", |s: Socket, _: Value, ack: Ack| async move { ack.send(&s.recovered()) });
            socket.on("server-count", move |_s: Socket, _: Value, ack: Ack| {
                let io = io_count.clone();
                async move { ack.send(&io.server_count().await.unwrap_or(0)) }
            });
            let dyn_parent = dynamic.clone();
            socket.on("dyn-broadcast", move |_s: Socket, msg: Value, ack: Ack| {
                let sent = dyn_parent.emit("dyn-all", &msg).map_err(|e| e.to_string());
                async move { sent.and_then(|()| ack.send(&true).map_err(|e| e.to_string())) }
            });
            let dyn_children = dynamic.clone();
            socket.on("dyn-children", move |_s: Socket, _: Value, ack: Ack| {
                let mut names: Vec<String> = dyn_children.children().iter().map(|c| c.name().to_owned()).collect();
                names.sort();
                async move { ack.send(&names) }
            });
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
