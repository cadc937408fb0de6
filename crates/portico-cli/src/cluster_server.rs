//! `portico conformance cluster`: the reference server of the cluster tests
//! (tests/js/cluster), with the same behaviour as tests/js/cluster/node-cluster-server.js (a
//! Node socket.io server on @socket.io/redis-adapter), so that the tests can mix both kinds.

use std::time::Duration;

use portico::{Ack, Args, BroadcastOperator, Server, Socket};
use serde_json::{json, Value};

/// Settings of the cluster reference server.
pub(crate) struct ClusterServer {
    pub(crate) port: u16,
    pub(crate) redis: String,
    pub(crate) sharded: bool,
    pub(crate) subscription_mode: portico_redis::SubscriptionMode,
    pub(crate) key_prefix: String,
    pub(crate) name: Option<String>,
    pub(crate) requests_timeout: Duration,
}

/// A string, an array of strings, or nothing.
fn list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn select(io: &Server, rooms: Option<&Value>, except: Option<&Value>) -> BroadcastOperator {
    let mut op = io.all();
    for r in list(rooms) {
        op = op.to(r);
    }
    for e in list(except) {
        op = op.except(e);
    }
    op
}

/// Values sorted by their JSON text (how the Node server sorts them).
fn by_json(mut values: Vec<Value>) -> Vec<Value> {
    values.sort_by_cached_key(|v| v.to_string());
    values
}

/// The request object (first argument) and the event arguments inside it, binary kept.
fn request(args: &Args) -> (Value, Args) {
    let req = args.values.first().cloned().unwrap_or(Value::Null);
    let inner = Args {
        values: req
            .get("args")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        binary: args.binary.clone(),
    };
    (req, inner)
}

fn error_reply(e: impl std::fmt::Display) -> Value {
    json!({ "error": e.to_string() })
}

pub(crate) async fn run(opts: ClusterServer) -> anyhow::Result<()> {
    let mut redis_opts = portico_redis::RedisOptions::default().key_prefix(&opts.key_prefix);
    if opts.sharded {
        redis_opts = redis_opts.sharded(opts.subscription_mode);
    }
    let redis = portico_redis::Redis::connect_with(&opts.redis, redis_opts).await?;
    let io = Server::builder()
        .origins(portico::OriginPolicy::any_origin())
        .cluster(redis)
        .cluster_requests_timeout(opts.requests_timeout)
        .build()?;

    io.of("/").on_connection(|socket: Socket, io: Server| async move {
        let name = socket
            .handshake()
            .auth_value()
            .get("name")
            .cloned()
            .unwrap_or(Value::Null);
        socket.set_data(&json!({ "name": name }))?;
        socket.on("join", |s: Socket, room: String, ack: Ack| async move {
            s.join(room);
            ack.send(&true)
        });
        socket.on("leave", |s: Socket, room: String, ack: Ack| async move {
            s.leave(room);
            ack.send(&true)
        });
        let io2 = io.clone();
        socket.on("emit", move |_s: Socket, args: Args, ack: Ack| {
            let io = io2.clone();
            async move {
                let (req, data) = request(&args);
                let event = req["event"].as_str().unwrap_or_default();
                let op = select(&io, req.get("rooms"), req.get("except"));
                match op.emit(event, &data) {
                    Ok(()) => ack.send(&true),
                    Err(e) => ack.send(&error_reply(e)),
                }
            }
        });
        let io2 = io.clone();
        socket.on("emit-with-ack", move |_s: Socket, args: Args, ack: Ack| {
            let io = io2.clone();
            async move {
                let (req, data) = request(&args);
                let event = req["event"].as_str().unwrap_or_default().to_owned();
                let mut op = select(&io, req.get("rooms"), None);
                if let Some(ms) = req.get("timeout").and_then(Value::as_u64) {
                    op = op.timeout(Duration::from_millis(ms));
                }
                match op.emit_with_ack::<_, Value>(&event, &data).await {
                    Ok(acks) => {
                        let err = (!acks.is_complete()).then_some("operation has timed out");
                        ack.send(&json!({ "err": err, "responses": by_json(acks.replies()) }))
                    }
                    Err(e) => ack.send(&error_reply(e)),
                }
            }
        });
        let io2 = io.clone();
        socket.on("fetch", move |_s: Socket, req: Value, ack: Ack| {
            let io = io2.clone();
            async move {
                match select(&io, req.get("rooms"), None).fetch_sockets().await {
                    Ok(sockets) => {
                        let mut out: Vec<Value> = sockets
                            .iter()
                            .map(|s| {
                                json!({
                                    "id": s.id(),
                                    "rooms": s.rooms(),
                                    "name": s.data_value().get("name").cloned().unwrap_or(Value::Null),
                                    "auth": s.handshake().auth_value(),
                                })
                            })
                            .collect();
                        out.sort_by_cached_key(|v| {
                            let name = match &v["name"] {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            (name, v["id"].as_str().unwrap_or_default().to_owned())
                        });
                        ack.send(&out)
                    }
                    Err(e) => ack.send(&error_reply(e)),
                }
            }
        });
        let io2 = io.clone();
        socket.on("sockets-join", move |_s: Socket, req: Value, ack: Ack| {
            let io = io2.clone();
            async move {
                let op = select(&io, req.get("rooms"), None);
                let mut res = Ok(());
                for room in list(req.get("join")) {
                    res = res.and(op.sockets_join(room));
                }
                match res {
                    Ok(()) => ack.send(&true),
                    Err(e) => ack.send(&error_reply(e)),
                }
            }
        });
        let io2 = io.clone();
        socket.on("sockets-leave", move |_s: Socket, req: Value, ack: Ack| {
            let io = io2.clone();
            async move {
                let op = select(&io, req.get("rooms"), None);
                let mut res = Ok(());
                for room in list(req.get("leave")) {
                    res = res.and(op.sockets_leave(room));
                }
                match res {
                    Ok(()) => ack.send(&true),
                    Err(e) => ack.send(&error_reply(e)),
                }
            }
        });
        let io2 = io.clone();
        socket.on("disconnect-sockets", move |_s: Socket, req: Value, ack: Ack| {
            let io = io2.clone();
            async move {
                ack.send(&true)?;
                if let Err(e) = select(&io, req.get("rooms"), None).disconnect_sockets(true) {
                    tracing::warn!("disconnect-sockets: {e}");
                }
                Ok::<(), portico::EmitError>(())
            }
        });
        let io2 = io.clone();
        socket.on("server-side-emit", move |_s: Socket, args: Args, ack: Ack| {
            let io = io2.clone();
            async move {
                let (req, data) = request(&args);
                let event = req["event"].as_str().unwrap_or_default().to_owned();
                let timeout = req.get("timeout").and_then(Value::as_u64).map(Duration::from_millis);
                match io.server_side_emit_with_ack::<_, Value>(&event, &data, timeout).await {
                    Ok(replies) => {
                        let err = replies.error.as_ref().map(ToString::to_string);
                        ack.send(&json!({ "err": err, "responses": by_json(replies.replies) }))
                    }
                    Err(e) => ack.send(&error_reply(e)),
                }
            }
        });
        let io2 = io.clone();
        socket.on("server-count", move |_s: Socket, ack: Ack| {
            let io = io2.clone();
            async move {
                match io.server_count().await {
                    Ok(n) => ack.send(&n),
                    Err(e) => ack.send(&error_reply(e)),
                }
            }
        });
        let io2 = io.clone();
        socket.on("all-rooms", move |_s: Socket, ack: Ack| {
            let io = io2.clone();
            async move {
                match io.all_rooms().await {
                    Ok(rooms) => ack.send(&rooms),
                    Err(e) => ack.send(&error_reply(e)),
                }
            }
        });
        Ok::<(), portico::EmitError>(())
    });

    let listener = portico::bind(("127.0.0.1", opts.port)).await?;
    let port = portico::local_addr(&listener)?.port();
    let name = opts.name.clone().unwrap_or_else(|| port.to_string());
    io.on_server_side("hello", move |ev: portico::ServerSideEvent| {
        let name = name.clone();
        async move {
            let args = serde_json::to_string(&ev.raw_args().values).unwrap_or_default();
            if let Err(e) = ev.ack(&format!("hello from {name} {args}")) {
                tracing::warn!("hello: {e}");
            }
        }
    });
    io.cluster_ready().await?;
    println!("IMPLEMENTATION portico");
    println!("LISTENING {port}");
    portico::serve_with_shutdown(listener, io, portico::shutdown_signal()).await?;
    Ok(())
}
