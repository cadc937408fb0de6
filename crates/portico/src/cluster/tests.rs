//! The cluster logic on an in-process transport: counting, matching, merging, timeouts and
//! failures, without Redis (tests/js/cluster covers Redis and Node's nodes).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::Server;

/// Nodes in one process. A message goes to every other attached node, in order, on a task
/// (as a network would); `deaf` nodes receive nothing and `down` makes publishing fail.
#[derive(Default)]
struct Bus {
    nodes: Mutex<Vec<(String, String, Inbox)>>,
    deaf: Mutex<Vec<String>>,
    down: std::sync::atomic::AtomicBool,
    published: std::sync::atomic::AtomicUsize,
}

struct Node {
    uid: String,
    bus: Arc<Bus>,
    tx: tokio::sync::mpsc::UnboundedSender<Box<dyn FnOnce() + Send>>,
}

impl Node {
    fn new(bus: &Arc<Bus>, uid: &str) -> Node {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Box<dyn FnOnce() + Send>>();
        tokio::spawn(async move {
            while let Some(f) = rx.recv().await {
                f();
            }
        });
        Node {
            uid: uid.to_owned(),
            bus: bus.clone(),
            tx,
        }
    }

    fn others(&self, nsp: &str) -> Vec<(String, Inbox)> {
        let deaf = self.bus.deaf.lock().unwrap().clone();
        self.bus
            .nodes
            .lock()
            .unwrap()
            .iter()
            .filter(|(uid, n, _)| uid != &self.uid && n == nsp && !deaf.contains(uid))
            .map(|(uid, _, inbox)| (uid.clone(), inbox.clone()))
            .collect()
    }

    fn check(&self) -> Result<(), ClusterError> {
        if self.bus.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(ClusterError::Unavailable("the bus is down".into()));
        }
        self.bus
            .published
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

impl Transport for Node {
    fn uid(&self) -> &str {
        &self.uid
    }

    fn attach(&self, nsp: &str, inbox: Inbox) -> BoxFuture<Result<(), ClusterError>> {
        self.bus
            .nodes
            .lock()
            .unwrap()
            .push((self.uid.clone(), nsp.to_owned(), inbox));
        Box::pin(async { Ok(()) })
    }

    fn publish(&self, nsp: &str, message: &Message) -> Result<(), ClusterError> {
        self.check()?;
        for (_, inbox) in self.others(nsp) {
            let m = message.clone();
            let _ = self.tx.send(Box::new(move || inbox.message(m)));
        }
        Ok(())
    }

    fn respond(&self, nsp: &str, requester: &str, response: &Response) -> Result<(), ClusterError> {
        self.check()?;
        for (uid, inbox) in self.others(nsp) {
            if uid == requester {
                let r = response.clone();
                let _ = self.tx.send(Box::new(move || inbox.response(r)));
            }
        }
        Ok(())
    }

    fn server_count(&self, nsp: &str) -> BoxFuture<Result<usize, ClusterError>> {
        let res = if self.bus.down.load(std::sync::atomic::Ordering::SeqCst) {
            Err(ClusterError::Unavailable("the bus is down".into()))
        } else {
            Ok(self
                .bus
                .nodes
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, n, _)| n == nsp)
                .count())
        };
        Box::pin(async move { res })
    }

    fn describe(&self) -> String {
        format!("test bus node {}", self.uid)
    }
}

async fn cluster(n: usize) -> (Arc<Bus>, Vec<Server>) {
    let bus = Arc::new(Bus::default());
    let mut servers = Vec::new();
    for i in 0..n {
        let io = Server::builder()
            .cluster(Node::new(&bus, &format!("node{i}")))
            .cluster_requests_timeout(Duration::from_millis(500))
            .build()
            .unwrap();
        io.cluster_ready().await.unwrap();
        let name = format!("node{i}");
        io.on_server_side("hello", move |ev: ServerSideEvent| {
            let name = name.clone();
            async move {
                let (n,): (u32,) = ev.args().unwrap();
                ev.ack(&format!("{name} got {n}")).unwrap();
            }
        });
        servers.push(io);
    }
    (bus, servers)
}

#[tokio::test]
async fn server_count_and_server_side_emit_reach_every_other_node() {
    let (_bus, nodes) = cluster(3).await;
    assert_eq!(nodes[0].server_count().await.unwrap(), 3);
    let replies = nodes[1]
        .server_side_emit_with_ack::<_, String>("hello", &(7,), None)
        .await
        .unwrap();
    assert!(replies.is_complete(), "{:?}", replies.error);
    let mut got = replies.replies;
    got.sort();
    assert_eq!(got, vec!["node0 got 7", "node2 got 7"]);
}

#[tokio::test]
async fn a_single_node_cluster_answers_at_once() {
    let (_bus, nodes) = cluster(1).await;
    assert_eq!(nodes[0].server_count().await.unwrap(), 1);
    let replies = nodes[0]
        .server_side_emit_with_ack::<_, String>("hello", &(1,), None)
        .await
        .unwrap();
    assert!(replies.is_complete() && replies.replies.is_empty());
    assert_eq!(nodes[0].fetch_sockets().await.unwrap().len(), 0);
    assert!(nodes[0].all_rooms().await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_node_that_does_not_answer_times_out_with_the_answers_so_far() {
    let (bus, nodes) = cluster(3).await;
    bus.deaf.lock().unwrap().push("node2".into());
    let replies = nodes[0]
        .server_side_emit_with_ack::<_, String>("hello", &(3,), Some(Duration::from_millis(200)))
        .await
        .unwrap();
    assert_eq!(replies.replies, vec!["node1 got 3"]);
    assert_eq!(
        replies.error,
        Some(ClusterError::Timeout {
            received: 1,
            expected: 2
        })
    );
    assert_eq!(
        replies.error.unwrap().to_string(),
        "timeout reached: only 1 responses received out of 2"
    );
    // fetch_sockets and all_rooms fail on a timeout (as Node's reject) after the requests
    // timeout (500 ms here).
    let err = nodes[0].fetch_sockets().await.unwrap_err();
    assert!(matches!(err, ClusterError::Timeout { .. }), "{err}");
    let err = nodes[0].all_rooms().await.unwrap_err();
    assert!(matches!(err, ClusterError::Timeout { .. }), "{err}");
}

#[tokio::test]
async fn when_the_transport_is_down_cluster_operations_fail_fast_and_nothing_waits() {
    let (bus, nodes) = cluster(2).await;
    bus.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let io = &nodes[0];
    assert!(matches!(
        io.server_count().await,
        Err(ClusterError::Unavailable(_))
    ));
    assert!(matches!(
        io.fetch_sockets().await,
        Err(ClusterError::Unavailable(_))
    ));
    assert!(matches!(
        io.server_side_emit("hello", &(1,)),
        Err(crate::EmitError::Cluster(ClusterError::Unavailable(_)))
    ));
    assert!(matches!(
        io.sockets_join("r"),
        Err(ClusterError::Unavailable(_))
    ));
    // A broadcast still succeeds: this node's sockets get it; the failure is the transport's
    // to report (one warning per outage), not one error per emit.
    io.emit("ev", &1).unwrap();
    // A broadcast with acks fails before anything is sent.
    assert!(matches!(
        io.all()
            .emit_with_ack::<_, serde_json::Value>("ev", &1)
            .await,
        Err(crate::EmitError::Cluster(ClusterError::Unavailable(_)))
    ));
}

#[tokio::test]
async fn local_selections_and_single_nodes_publish_nothing() {
    let (bus, nodes) = cluster(2).await;
    let before = bus.published.load(std::sync::atomic::Ordering::SeqCst);
    nodes[0].local().emit("ev", &1).unwrap();
    nodes[0].local().sockets_join("r").unwrap();
    assert_eq!(nodes[0].local().fetch_sockets().await.unwrap().len(), 0);
    assert_eq!(
        bus.published.load(std::sync::atomic::Ordering::SeqCst),
        before
    );
    nodes[0].emit("ev", &1).unwrap();
    assert_eq!(
        bus.published.load(std::sync::atomic::Ordering::SeqCst),
        before + 1
    );
    // Without a cluster there is no cluster half at all.
    let single = Server::builder().build().unwrap();
    assert!(single.of("/").cluster().is_none());
    assert!(single.of("/").adapter().cluster().is_none());
}

#[test]
fn wire_values_round_trip_with_binary() {
    let args = crate::Args {
        values: vec![
            serde_json::json!("x"),
            serde_json::json!({"_placeholder": true, "num": 0}),
            serde_json::json!({"n": [1, -2, 1.5, null, true], "b": {"_placeholder": true, "num": 1}}),
        ],
        binary: vec![
            bytes::Bytes::from_static(b"\x01\x02"),
            bytes::Bytes::from_static(b"\x03"),
        ],
    };
    let wire = to_wire(&args.values, &args.binary);
    assert_eq!(wire[1], Value::Binary(vec![1, 2]));
    let back = from_wire(&wire);
    assert_eq!(back, args);
    assert_eq!(
        wire_to_plain_json(&Value::Binary(vec![9])),
        serde_json::json!({"type": "Buffer", "data": [9]})
    );
}
