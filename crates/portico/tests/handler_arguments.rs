//! What handlers take and what they may not do, over the in-process polling client:
//! app state given once to the builder (`State<S>`), the server (`Server`), typed per-socket
//! values (`Socket::extensions`), a missing state (logged, answered as an error, nothing
//! else stops), and `socket.on("disconnect", ..)`, which panics with the fix inside the
//! connection handler while the server keeps serving.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::Client;
use portico::{Ack, DisconnectReason, Server, Socket, State};
use serde_json::Value;
use tokio::sync::mpsc;

#[derive(Clone, Default)]
struct App {
    chats: Arc<AtomicUsize>,
}

/// Not given to the builder in any test.
#[derive(Clone)]
struct Missing;

/// A user kept with the socket; deliberately not `Clone` nor serde.
struct User {
    name: String,
}

#[tokio::test(start_paused = true)]
async fn state_server_and_extensions_reach_every_kind_of_handler() {
    let app = App::default();
    let io = Server::builder().state(app.clone()).build().unwrap();
    let (left_tx, mut left_rx) = mpsc::unbounded_channel();
    io.of("/")
        .use_connect(|socket: Socket, State(app): State<App>| async move {
            // The middleware sees the same shared state and can attach typed values.
            socket.extensions().insert(User {
                name: format!("user-{}", app.chats.load(Ordering::SeqCst)),
            });
            Ok(())
        })
        .on_connection(move |socket: Socket, io: Server, State(app): State<App>| {
            let left_tx = left_tx.clone();
            async move {
                assert_eq!(io.of("/").name(), "/");
                socket.on(
                    "chat",
                    |_s: Socket, State(app): State<App>, text: String, ack: Ack| async move {
                        let n = app.chats.fetch_add(1, Ordering::SeqCst) + 1;
                        ack.send(&format!("{text} #{n}"))
                    },
                );
                socket.on("whoami", |s: Socket, ack: Ack| async move {
                    let user = s.extensions().get::<User>().unwrap();
                    ack.send(&user.name)
                });
                socket.on(
                    "count",
                    |_s: Socket, io: Server, _v: Value, ack: Ack| async move {
                        ack.send(&io.of("/").sockets().len())
                    },
                );
                socket.on_disconnect(
                    move |s: Socket, State(app): State<App>, reason: DisconnectReason| {
                        let user = s.extensions().get::<User>().map(|u| u.name.clone());
                        let _ = left_tx.send((user, app.chats.load(Ordering::SeqCst), reason));
                        async {}
                    },
                );
                let _ = app; // taken to prove connection handlers extract state too
            }
        });

    let client = Client::new(&io);
    let sid = client.join().await;
    client.post_ok(&sid, "421[\"whoami\"]").await;
    client.poll_until(&sid, |p| p == "431[\"user-0\"]").await;
    client.post_ok(&sid, "422[\"chat\",\"hi\"]").await;
    client.poll_until(&sid, |p| p == "432[\"hi #1\"]").await;
    client.post_ok(&sid, "423[\"chat\",\"again\"]").await;
    client.poll_until(&sid, |p| p == "433[\"again #2\"]").await;
    client.post_ok(&sid, "424[\"count\",null]").await;
    client.poll_until(&sid, |p| p == "434[1]").await;
    assert_eq!(
        app.chats.load(Ordering::SeqCst),
        2,
        "the builder's state is shared"
    );

    client.post_ok(&sid, "41").await;
    let (user, chats, reason) = common::bounded("disconnect", left_rx.recv()).await.unwrap();
    assert_eq!(
        user.as_deref(),
        Some("user-0"),
        "extensions are readable on disconnect"
    );
    assert_eq!(chats, 2);
    assert_eq!(reason, DisconnectReason::ClientNamespaceDisconnect);
}

#[tokio::test(start_paused = true)]
async fn a_missing_state_skips_the_handler_and_answers_its_ack_with_an_error() {
    let io = Server::builder().build().unwrap();
    let called = Arc::new(AtomicUsize::new(0));
    let called2 = called.clone();
    io.of("/").on_connection(move |socket: Socket| {
        let called = called2.clone();
        async move {
            socket.on("needs", move |_s: Socket, _m: State<Missing>, ack: Ack| {
                called.fetch_add(1, Ordering::SeqCst);
                async move { ack.send(&"unreachable") }
            });
            socket.on("echo", |_s: Socket, v: Value, ack: Ack| async move {
                ack.send(&v)
            });
        }
    });
    assert!(io.state::<Missing>().is_none());
    let client = Client::new(&io);
    let sid = client.join().await;
    client.post_ok(&sid, "421[\"needs\",1]").await;
    let reply = client.poll_until(&sid, |p| p.starts_with("431")).await;
    assert_eq!(
        reply,
        "431[{\"error\":\"server error in event \\\"needs\\\"\"}]"
    );
    assert_eq!(called.load(Ordering::SeqCst), 0);
    client.assert_alive(&sid, 2).await;
}

#[tokio::test(start_paused = true)]
async fn registering_a_reserved_event_name_panics_with_the_fix_and_the_server_keeps_serving() {
    let io = Server::builder().build().unwrap();
    let (panic_tx, mut panic_rx) = mpsc::unbounded_channel::<String>();
    io.of("/").on_connection(move |socket: Socket| {
        let panic_tx = panic_tx.clone();
        async move {
            socket.on("echo", |_s: Socket, v: Value, ack: Ack| async move {
                ack.send(&v)
            });
            // What Node code writes. Caught here only to read the message; unguarded, the
            // same panic stays inside this handler (the second connection below).
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                socket.on("disconnect", |_s: Socket| async {});
            }));
            if let Err(p) = caught {
                let text = p.downcast_ref::<String>().cloned().unwrap_or_default();
                let _ = panic_tx.send(text);
                socket.on("disconnecting", |_s: Socket| async {});
            }
        }
    });
    let client = Client::new(&io);
    let sid = client.join().await;
    let message = common::bounded("panic", panic_rx.recv()).await.unwrap();
    assert!(
        message.contains("\"disconnect\" is a reserved"),
        "{message}"
    );
    assert!(message.contains("socket.on_disconnect("), "{message}");
    // The uncaught panic (for "disconnecting") ended only the connection handler: the
    // handler registered before it still answers, and new clients are served.
    client.assert_alive(&sid, 1).await;
    let other = client.join().await;
    client.assert_alive(&other, 2).await;
}

#[test]
fn every_reserved_name_is_refused_with_a_fix() {
    for &name in portico::proto::sio::packet::RESERVED_EVENTS {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        let message = rt.block_on(async move {
            let io = Server::builder().build().unwrap();
            let (tx, mut rx) = mpsc::unbounded_channel::<String>();
            io.of("/").on_connection(move |socket: Socket| {
                let tx = tx.clone();
                async move {
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        socket.on(name, |_s: Socket| async {});
                    }));
                    let text = r
                        .err()
                        .and_then(|p| p.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    let _ = tx.send(text);
                }
            });
            Client::new(&io).join().await;
            common::bounded("panic", rx.recv()).await.unwrap()
        });
        assert!(
            message.contains(&format!("socket.on({name:?}")),
            "{name}: {message}"
        );
        assert!(message.contains("reserved"), "{name}: {message}");
    }
}

/// `Socket::on` takes an event name as any string type (`&str`, `String`, `&String`,
/// `Cow<str>`, `Arc<str>`, `Box<str>`), borrowed: each registered name is the one an event
/// must carry, a name longer than the inline key (22 bytes) included, and a later `on` for the
/// same name, given as another type, replaces the handler.
#[tokio::test(start_paused = true)]
async fn an_event_name_of_any_string_type_reaches_its_handler() {
    let io = Server::builder().build().unwrap();
    io.of("/").on_connection(|socket: Socket| async move {
        let long = "a-name-longer-than-twenty-two-bytes".to_string();
        socket.on(
            "str",
            |_s: Socket, ack: Ack| async move { ack.send(&"str") },
        );
        socket.on(String::from("string"), |_s: Socket, ack: Ack| async move {
            ack.send(&"string")
        });
        socket.on(
            &long,
            |_s: Socket, ack: Ack| async move { ack.send(&"long") },
        );
        socket.on(Cow::Borrowed("cow"), |_s: Socket, ack: Ack| async move {
            ack.send(&"cow")
        });
        socket.on(Arc::<str>::from("arc"), |_s: Socket, ack: Ack| async move {
            ack.send(&"arc")
        });
        socket.on(Box::<str>::from("str"), |_s: Socket, ack: Ack| async move {
            ack.send(&"replaced")
        });
    });
    let client = Client::new(&io);
    let sid = client.join().await;
    let cases = [
        ("str", "replaced"),
        ("string", "string"),
        ("a-name-longer-than-twenty-two-bytes", "long"),
        ("cow", "cow"),
        ("arc", "arc"),
    ];
    for (id, (event, expected)) in cases.iter().enumerate() {
        client.post_ok(&sid, &format!("42{id}[\"{event}\"]")).await;
        let prefix = format!("43{id}[");
        let reply = client.poll_until(&sid, |p| p.starts_with(&prefix)).await;
        assert_eq!(reply, format!("43{id}[\"{expected}\"]"), "event {event}");
    }
}
