//! The Admin UI's namespace over raw Engine.IO long-polling: what the Node tests
//! (tests/js/admin) do not reach through `portico serve`: production mode, `event_sent`,
//! `socket_updated`, a custom namespace and server id, and configuration errors.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use common::Client;
use portico::{AdminOptions, Server, Socket};
use serde_json::{json, Value};

/// `42/admin,["event",...]` → `["event",...]`.
fn admin_event(packet: &str, ns: &str) -> Option<Value> {
    let body = packet.strip_prefix(&format!("42{ns},"))?;
    serde_json::from_str(body).ok()
}

/// An admin connection over long-polling, keeping the events of every GET in order.
struct Admin<'a> {
    c: &'a Client,
    sid: String,
    ns: String,
    pending: std::collections::VecDeque<Value>,
}

impl Admin<'_> {
    async fn connect<'a>(c: &'a Client, ns: &str) -> Admin<'a> {
        let (sid, _) = c.handshake().await;
        c.post_ok(&sid, &format!("40{ns},")).await;
        let mut admin = Admin {
            c,
            sid,
            ns: ns.to_owned(),
            pending: Default::default(),
        };
        let connect = format!("40{ns},{{");
        let mut connected = false;
        while !connected {
            for p in admin.c.get_packets(&admin.sid).await {
                connected |= p.starts_with(&connect);
                admin.keep(&p).await;
            }
        }
        admin
    }

    async fn keep(&mut self, packet: &str) {
        if packet == "2" {
            self.c.post_ok(&self.sid, "3").await;
        } else if let Some(ev) = admin_event(packet, &self.ns) {
            self.pending.push_back(ev);
        }
    }

    /// The next admin event named `name`, and the events before it.
    async fn until(&mut self, name: &str) -> (Value, Vec<Value>) {
        common::bounded(name, async {
            let mut before = Vec::new();
            loop {
                while let Some(ev) = self.pending.pop_front() {
                    if ev[0] == name {
                        return (ev, before);
                    }
                    before.push(ev);
                }
                for p in self.c.get_packets(&self.sid).await {
                    self.keep(&p).await;
                }
            }
        })
        .await
    }
}

#[tokio::test]
async fn production_mode_sends_statistics_only() {
    let io = Server::builder()
        .admin_ui(AdminOptions::new().production(true).server_id("node-1"))
        .build()
        .unwrap();
    let c = Client::new(&io);
    let mut admin = Admin::connect(&c, "/admin").await;
    let (stats, before) = admin.until("server_stats").await;
    let names: Vec<&Value> = before.iter().map(|e| &e[0]).collect();
    assert_eq!(names, [&json!("config")], "no all_sockets before the stats");
    assert_eq!(
        before[0][1]["supportedFeatures"],
        json!([
            "EMIT",
            "JOIN",
            "LEAVE",
            "DISCONNECT",
            "MJOIN",
            "MLEAVE",
            "MDISCONNECT",
            "AGGREGATED_EVENTS"
        ])
    );
    assert_eq!(stats[1]["serverId"], "node-1");
    assert_eq!(stats[1]["pid"], std::process::id());
}

#[tokio::test]
async fn event_sent_and_socket_updated_are_reported() {
    let io = Server::builder()
        .admin_ui(AdminOptions::new().namespace("/ops"))
        .build()
        .unwrap();
    io.of("/").on_connection(|socket: Socket| async move {
        socket.set_data(&json!({"name": "ada"})).unwrap();
        socket.emit("welcome", &(1, "two")).unwrap();
    });
    let c = Client::new(&io);
    let mut admin = Admin::connect(&c, "/ops").await;
    admin.until("server_stats").await;
    c.join().await;
    let (updated, _) = admin.until("socket_updated").await;
    assert_eq!(updated[1]["nsp"], "/");
    assert_eq!(updated[1]["data"], json!({"name": "ada"}));
    let (sent, _) = admin.until("event_sent").await;
    assert_eq!(sent[1], "/");
    assert_eq!(sent[2], updated[1]["id"]);
    assert_eq!(sent[3], json!(["welcome", 1, "two"]));
    assert!(sent[4].as_str().unwrap().ends_with('Z'));
}

#[test]
fn bad_options_are_configuration_errors() {
    let err = Server::builder()
        .admin_ui(AdminOptions::new().namespace("admin"))
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("must start with '/'"), "{err}");
    let err = Server::builder()
        .admin_ui(AdminOptions::new().basic_auth("ops", "plain password"))
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("portico admin-ui-hash"), "{err}");
}
