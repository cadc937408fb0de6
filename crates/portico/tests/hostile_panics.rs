//! A panicking handler fails its own event only: the socket, its connection and the server go
//! on, and when the connection ends it is cleaned up as any other (no session, socket or
//! namespace entry left behind). Client input chooses which handler runs, so a handler's bug
//! is reachable by any client.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use common::Client;
use portico::{
    Ack, Args, DisconnectReason, EventError, EventInfo, ExtractError, FromSocket, Server, Sid,
    Socket,
};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use tokio::sync::mpsc;

/// A bug in a handler (a function, so that a handler that panics still returns `()`).
fn boom(what: &str) {
    panic!("{what}")
}

/// An extractor whose code panics.
struct PanickingExtractor;

impl FromSocket for PanickingExtractor {
    fn from_socket(_: &Socket) -> Result<Self, ExtractError> {
        panic!("extractor bug")
    }
}

/// A payload type whose `Deserialize` panics.
struct PanickingPayload;

impl<'de> Deserialize<'de> for PanickingPayload {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        panic!("payload bug")
    }
}

type Disconnects = mpsc::UnboundedReceiver<(String, Sid, DisconnectReason)>;

/// Handlers that panic in every place a handler runs, next to ones that work.
fn server() -> (Server, Disconnects) {
    let io = Server::builder().build().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let echo = |socket: &Socket| {
        socket.on("echo", |_s: Socket, v: Value, ack: Ack| async move {
            ack.send(&v)
        });
    };
    let on_disconnect = move |socket: &Socket| {
        // The first one panics; the second still runs and reports.
        socket.on_disconnect(|_s: Socket| async move { boom("disconnect handler bug") });
        let tx = tx.clone();
        socket.on_disconnect(move |s: Socket, reason: DisconnectReason| {
            let _ = tx.send((s.ns().to_owned(), s.id(), reason));
            async {}
        });
    };
    let d = on_disconnect.clone();
    io.of("/").on_connection(move |socket: Socket| {
        echo(&socket);
        d(&socket);
        socket.on("sync-part", |_s: Socket| {
            panic!("handler bug before its future");
            #[allow(unreachable_code)]
            async {}
        });
        socket.on(
            "first-poll",
            |_s: Socket| async move { boom("handler bug") },
        );
        socket.on("after-await", |_s: Socket| async move {
            tokio::task::yield_now().await;
            boom("handler bug after an await")
        });
        socket.on("payload", |_s: Socket, _p: PanickingPayload| async move {});
        socket.on(
            "extractor",
            |_s: Socket, _e: PanickingExtractor| async move {},
        );
        socket.on("ask", |s: Socket| async move {
            let answer: Value = s.emit_with_ack("question", &1).await.unwrap();
            boom(&format!(
                "bug in the code after the client's answer {answer}"
            ))
        });
        async {}
    });
    let d = on_disconnect.clone();
    io.of("/conn-sync").on_connection(move |socket: Socket| {
        d(&socket);
        panic!("connection handler bug before its future");
        #[allow(unreachable_code)]
        async {}
    });
    let d = on_disconnect.clone();
    io.of("/conn-async").on_connection(move |socket: Socket| {
        echo(&socket);
        d(&socket);
        async move {
            tokio::task::yield_now().await;
            boom("connection handler bug after an await")
        }
    });
    io.of("/mw").use_connect(|socket: Socket| async move {
        if socket.handshake().auth_value()["when"] == "sync" {
            panic!("middleware bug");
        }
        tokio::task::yield_now().await;
        boom("middleware bug after an await");
        Ok(())
    });
    let d = on_disconnect;
    io.of("/listeners").on_connection(move |socket: Socket| {
        echo(&socket);
        d(&socket);
        socket.on_any(|_s: Socket, event: String, _a: Args| async move {
            if event == "any-panics" {
                panic!("on_any bug");
            }
        });
        socket.use_event(|_s: Socket, e: EventInfo| async move {
            if e.name == "mw-panics" {
                panic!("event middleware bug");
            }
            Ok::<(), EventError>(())
        });
        async {}
    });
    (io, rx)
}

/// `nsp,` for a packet header (`""` for `/`).
fn prefix(nsp: &str) -> String {
    if nsp == "/" {
        String::new()
    } else {
        format!("{nsp},")
    }
}

/// The socket on `nsp` still answers `echo`.
async fn alive(client: &Client, sid: &str, nsp: &str, id: u64) {
    let p = prefix(nsp);
    client
        .post_ok(sid, &format!(r#"42{p}{id}["echo","still here"]"#))
        .await;
    let want = format!(r#"43{p}{id}["still here"]"#);
    client.poll_until(sid, |got| got == want).await;
}

/// Close the connection and wait until everything is gone: the disconnects of its sockets
/// are reported (by the handler after the panicking one), no session is left, and no socket
/// in any namespace.
async fn close_and_check_clean(
    io: &Server,
    client: &Client,
    sid: &str,
    rx: &mut Disconnects,
    sockets: usize,
) {
    let before = io.connection_count();
    client.post_ok(sid, "1").await;
    let mut left = Vec::new();
    for _ in 0..sockets {
        let (nsp, id, reason) = common::bounded("disconnect", rx.recv()).await.unwrap();
        assert_eq!(reason, DisconnectReason::TransportClose);
        left.push((nsp, id));
    }
    assert_eq!(io.connection_count(), before - 1, "the session is gone");
    // A GET that crossed the close is owed its noop once; then the sid is unknown.
    let late = client.get(sid).await;
    assert_eq!((late.status, late.text()), (http::StatusCode::OK, "6"));
    client
        .get(sid)
        .await
        .assert_error(http::StatusCode::BAD_REQUEST, 1);
    for (nsp, id) in left {
        assert!(
            io.of(&nsp).sockets().iter().all(|s| s.id() != id),
            "socket {id} left in {nsp}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_event_handler_fails_that_event_only() {
    let (io, mut rx) = server();
    let client = Client::new(&io);
    let sid = client.join().await;
    let other = client.join().await;
    for (i, event) in [
        "sync-part",
        "first-poll",
        "after-await",
        "payload",
        "extractor",
    ]
    .into_iter()
    .enumerate()
    {
        // With and without an ack id: no answer comes for that event, but the next works.
        client.post_ok(&sid, &format!(r#"42["{event}"]"#)).await;
        client
            .post_ok(&sid, &format!(r#"42{}["{event}",1]"#, 100 + i))
            .await;
        alive(&client, &sid, "/", i as u64).await;
    }
    // A panic in the code that runs on the client's answer to an emit_with_ack.
    client.post_ok(&sid, r#"42["ask"]"#).await;
    client
        .poll_until(&sid, |p| p == r#"420["question",1]"#)
        .await;
    client.post_ok(&sid, r#"430["yes"]"#).await;
    alive(&client, &sid, "/", 50).await;
    alive(&client, &other, "/", 51).await;

    close_and_check_clean(&io, &client, &sid, &mut rx, 1).await;
    alive(&client, &other, "/", 52).await;
    close_and_check_clean(&io, &client, &other, &mut rx, 1).await;
    let fresh = client.join().await;
    alive(&client, &fresh, "/", 53).await;
}

#[tokio::test(start_paused = true)]
async fn a_panicking_connection_handler_or_middleware_fails_that_connect_only() {
    let (io, mut rx) = server();
    let client = Client::new(&io);
    let sid = client.join().await;

    // The connection handler's panic comes after the CONNECT was accepted: the socket is
    // there, with what the handler registered before panicking, and its events flow.
    for nsp in ["/conn-sync", "/conn-async"] {
        client.post_ok(&sid, &format!("40{nsp},")).await;
        client
            .poll_until(&sid, |p| p.starts_with(&format!(r#"40{nsp},{{"sid":"#)))
            .await;
        assert_eq!(io.of(nsp).sockets().len(), 1, "{nsp}");
    }
    alive(&client, &sid, "/conn-async", 1).await;
    // No handler on /conn-sync (it panicked first): events are dropped, not held.
    client.post_ok(&sid, r#"42/conn-sync,["nobody"]"#).await;

    // A middleware's panic refuses the socket as a server error.
    for when in ["sync", "async"] {
        client
            .post_ok(&sid, &format!(r#"40/mw,{{"when":"{when}"}}"#))
            .await;
        client
            .poll_until(&sid, |p| p == r#"44/mw,{"message":"server error"}"#)
            .await;
    }
    assert!(io.of("/mw").sockets().is_empty());

    // One namespace leaves cleanly, the rest with the connection.
    client.post_ok(&sid, "41/conn-sync,").await;
    let (nsp, _, reason) = common::bounded("disconnect", rx.recv()).await.unwrap();
    assert_eq!(
        (nsp.as_str(), reason),
        ("/conn-sync", DisconnectReason::ClientNamespaceDisconnect)
    );
    alive(&client, &sid, "/", 2).await;
    close_and_check_clean(&io, &client, &sid, &mut rx, 2).await;
}

#[tokio::test(start_paused = true)]
async fn panicking_listeners_and_event_middlewares_fail_that_event_only() {
    let (io, mut rx) = server();
    let client = Client::new(&io);
    let sid = client.join().await;
    client.post_ok(&sid, "40/listeners,").await;
    client
        .poll_until(&sid, |p| p.starts_with(r#"40/listeners,{"sid":"#))
        .await;
    for (i, event) in ["any-panics", "mw-panics"].into_iter().enumerate() {
        client
            .post_ok(&sid, &format!(r#"42/listeners,{}["{event}"]"#, 10 + i))
            .await;
        alive(&client, &sid, "/listeners", i as u64).await;
    }
    close_and_check_clean(&io, &client, &sid, &mut rx, 2).await;
}
