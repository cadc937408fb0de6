//! A client cannot make the server keep dynamic namespaces it refuses: a child namespace
//! exists only once a CONNECT into it is accepted (origin guard and middlewares passed), and a
//! refused CONNECT leaves nothing behind, however many distinct names a client tries.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use common::{Client, SEPARATOR};
use portico::{ConnectError, Namespace, OriginPolicy, Server, Socket};
use serde_json::Value;

/// A server with the `/` echo handlers and a dynamic parent for `/room-*` whose middleware
/// accepts only `auth.token == "ok"` (after a wait, so that the decision is asynchronous).
fn server() -> (Server, Namespace) {
    // What the namespace code does with thousands of CONNECTs from one connection: the
    // per-connection packet rate limit (docs/limits.md) would close that connection first.
    let io = Server::builder().event_rate(0, 0).build().unwrap();
    common::echo_server(&io);
    let parent = io.dynamic_namespace(|name| name.starts_with("/room-"));
    parent.use_connect(|socket: Socket| async move {
        tokio::task::yield_now().await;
        match socket
            .handshake()
            .auth_value()
            .get("token")
            .and_then(Value::as_str)
        {
            Some("ok") => Ok(()),
            _ => Err(ConnectError::new("nope")),
        }
    });
    parent.on_connection(|socket: Socket| async move {
        socket.on(
            "echo",
            |_s: Socket, v: Value, ack: portico::Ack| async move { ack.send(&v) },
        );
    });
    (io, parent)
}

/// POST the CONNECTs of `names` (with `auth`) in one payload and wait for every answer;
/// returns the answers in order of arrival.
async fn connect_all(client: &Client, sid: &str, names: &[String], auth: &str) -> Vec<String> {
    let body: Vec<String> = names.iter().map(|n| format!("40{n},{auth}")).collect();
    client
        .post_ok(sid, &body.join(&SEPARATOR.to_string()))
        .await;
    let mut answers = Vec::new();
    while answers.len() < names.len() {
        for p in client.get_packets(sid).await {
            if p == "2" {
                client.post_ok(sid, "3").await;
            } else {
                answers.push(p);
            }
        }
    }
    answers
}

#[tokio::test(start_paused = true)]
async fn refused_connects_leave_no_namespace_behind() {
    let (io, parent) = server();
    let client = Client::new(&io);
    let sid = client.join().await;
    assert_eq!(io.namespace_count(), 1);

    // Thousands of distinct names, all refused by the middleware.
    let names: Vec<String> = (0..3000).map(|i| format!("/room-{i}")).collect();
    // In rounds of 100: at most 128 CONNECTs are decided at once (see hostile_connect.rs).
    for chunk in names.chunks(100) {
        let answers = connect_all(&client, &sid, chunk, r#"{"token":"bad"}"#).await;
        let want: Vec<String> = chunk
            .iter()
            .map(|n| format!(r#"44{n},{{"message":"nope"}}"#))
            .collect();
        assert_eq!(answers, want);
        assert!(parent.children().is_empty(), "children left behind");
        assert_eq!(io.namespace_count(), 1, "namespaces left behind");
    }
    client.assert_alive(&sid, 1).await;

    // An accepted CONNECT creates the child; a refused one to the same name leaves it alone.
    let room = vec!["/room-7".to_owned()];
    let ok = connect_all(&client, &sid, &room, r#"{"token":"ok"}"#).await;
    assert!(ok[0].starts_with(r#"40/room-7,{"sid":""#), "{ok:?}");
    assert_eq!(parent.children().len(), 1);
    let other = client.join().await;
    let refused = connect_all(&client, &other, &room, "{}").await;
    assert_eq!(refused, vec![r#"44/room-7,{"message":"nope"}"#.to_owned()]);
    assert_eq!(parent.children().len(), 1, "the joined child stays");
    assert_eq!(io.namespace_count(), 2);
    // The accepted socket works.
    client.post_ok(&sid, r#"42/room-7,5["echo","in"]"#).await;
    client
        .poll_until(&sid, |p| p == r#"43/room-7,5["in"]"#)
        .await;
}

#[tokio::test(start_paused = true)]
async fn a_connect_refused_by_the_origin_guard_creates_nothing() {
    let io = Server::builder().build().unwrap();
    common::echo_server(&io);
    let parent = io.dynamic_namespace(|name| name.starts_with("/admin-"));
    // Only the admin app's origin; these requests carry no Origin at all.
    parent
        .origins(
            OriginPolicy::allow(["https://admin.example"])
                .unwrap()
                .serve_requests_without_origin(false),
        )
        .unwrap();
    let client = Client::new(&io);
    let sid = client.join().await;
    let names: Vec<String> = (0..200).map(|i| format!("/admin-{i}")).collect();
    let answers = connect_all(&client, &sid, &names, "{}").await;
    for (name, answer) in names.iter().zip(&answers) {
        assert!(
            answer.starts_with(&format!(r#"44{name},{{"message":"#)),
            "{answer}"
        );
    }
    assert!(parent.children().is_empty());
    assert_eq!(io.namespace_count(), 1);
    client.assert_alive(&sid, 1).await;
}

#[tokio::test(start_paused = true)]
async fn a_panicking_middleware_leaves_no_namespace_behind_either() {
    let io = Server::builder().build().unwrap();
    common::echo_server(&io);
    let parent = io.dynamic_namespace(|name| name.starts_with("/p-"));
    parent.use_connect(|socket: Socket| async move {
        if socket.ns() == "/p-sync" {
            panic!("middleware bug (before any await)");
        }
        tokio::task::yield_now().await;
        panic!("middleware bug (after an await)");
        #[allow(unreachable_code)]
        Ok(())
    });
    let client = Client::new(&io);
    let sid = client.join().await;
    for name in ["/p-sync", "/p-async"] {
        client.post_ok(&sid, &format!("40{name},")).await;
        // Refused as a server error; the session goes on.
        let want = format!(r#"44{name},{{"message":"server error"}}"#);
        client.poll_until(&sid, |p| p == want).await;
        client.assert_alive(&sid, 1).await;
        assert!(parent.children().is_empty(), "{name} left behind");
        assert_eq!(io.namespace_count(), 1);
    }
}
