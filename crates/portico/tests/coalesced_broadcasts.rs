//! Broadcasts a handler makes in one poll are delivered together (`src/coalesce.rs`): each
//! socket still gets exactly what one emit at a time would give it, in the same order, with
//! the membership of each emit's moment.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use common::{bounded, Client};
use portico::{Ack, Server, Socket};
use serde_json::{json, Value};

/// The `/` handlers: `join` (the room `r`, acknowledged) and `burst` (the sequence below,
/// `ids` = [B's id, C's id]).
fn serve(io: &Server) {
    let io2 = io.clone();
    io.of("/").on_connection(move |socket: Socket| {
        let io = io2.clone();
        async move {
            socket.on("join", |s: Socket, ack: Ack| async move {
                s.join("r");
                ack.send(&true)
            });
            socket.on("burst", move |s: Socket, ids: Value| {
                let io = io.clone();
                async move {
                    let find = |i: usize| {
                        let id = ids[i].as_str().unwrap().to_owned();
                        io.of("/")
                            .sockets()
                            .into_iter()
                            .find(|x| x.id().as_str() == id)
                            .unwrap()
                    };
                    let (b, c) = (find(0), find(1));
                    io.to("r").emit("n", &1).unwrap();
                    io.to("r").emit("n", &2).unwrap();
                    // A direct emit between two room emits.
                    s.emit("direct", &3).unwrap();
                    io.to("r").emit("n", &4).unwrap();
                    // B leaves, then C joins, between room emits.
                    b.leave("r");
                    io.to("r").emit("n", &5).unwrap();
                    c.join("r");
                    io.to("r").emit("n", &6).unwrap();
                    // Another selection: everyone.
                    io.emit("all", &7).unwrap();
                    io.to("r").emit("n", &8).unwrap();
                    // The sender left out (socket.to): A does not get 9.
                    s.to("r").emit("n", &9).unwrap();
                    io.to("r").emit("n", &10).unwrap();
                    b.disconnect();
                    io.to("r").emit("end", &()).unwrap();
                    io.emit("end", &()).unwrap();
                }
            });
        }
    });
}

/// The events session `sid` gets until its first `end`, as `name:arg` (pings answered).
async fn events_until_end(client: &Client, sid: &str) -> Vec<String> {
    bounded("events until end", async {
        let mut out = Vec::new();
        loop {
            for p in client.get_packets(sid).await {
                if p == "2" {
                    client.post_ok(sid, "3").await;
                    continue;
                }
                if p == "41" {
                    out.push("disconnected".to_owned());
                    return out;
                }
                let Some(body) = p.strip_prefix("42") else {
                    continue;
                };
                let v: Value = serde_json::from_str(body).unwrap();
                let name = v[0].as_str().unwrap().to_owned();
                if name == "end" {
                    return out;
                }
                out.push(format!("{name}:{}", v[1]));
            }
        }
    })
    .await
}

/// A new session connected to `/`: its Engine.IO sid and its socket's id.
async fn connect(client: &Client) -> (String, String) {
    let (sid, _) = client.handshake().await;
    client.post_ok(&sid, "40").await;
    let reply = client.poll_until(&sid, |p| p.starts_with("40{")).await;
    let v: Value = serde_json::from_str(&reply[2..]).unwrap();
    (sid, v["sid"].as_str().unwrap().to_owned())
}

#[tokio::test(start_paused = true)]
async fn a_run_of_broadcasts_keeps_each_sockets_order_and_the_membership_of_each_emit() {
    run_of_broadcasts().await;
}

/// The same on the multi-thread runtime (the handler and the sessions' tasks on two workers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_on_the_multi_thread_runtime() {
    run_of_broadcasts().await;
}

async fn run_of_broadcasts() {
    let io = Server::builder().build().unwrap();
    serve(&io);
    let client = Client::new(&io);
    let (a, _) = connect(&client).await;
    let (b, b_id) = connect(&client).await;
    let (c, c_id) = connect(&client).await;
    // A and B are in `r`, C is not.
    for (sid, ack) in [(&a, 1), (&b, 2)] {
        client.post_ok(sid, &format!("42{ack}[\"join\"]")).await;
        let want = format!("43{ack}[true]");
        client.poll_until(sid, |p| p == want).await;
    }
    let burst = format!("42{}", json!(["burst", [b_id, c_id]]));
    client.post_ok(&a, &burst).await;
    assert_eq!(
        events_until_end(&client, &a).await,
        ["n:1", "n:2", "direct:3", "n:4", "n:5", "n:6", "all:7", "n:8", "n:10"]
    );
    assert_eq!(
        events_until_end(&client, &b).await,
        ["n:1", "n:2", "n:4", "all:7", "disconnected"]
    );
    assert_eq!(
        events_until_end(&client, &c).await,
        ["n:6", "all:7", "n:8", "n:9", "n:10"]
    );
}
