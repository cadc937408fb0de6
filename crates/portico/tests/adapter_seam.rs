//! The adapter seam: `ServerBuilder::adapter` gives each namespace its adapter, and every
//! broadcast reaches the adapter with its structured packet (what a cluster adapter would
//! publish), while the local sockets still get the shared frames.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::Client;
use portico::{Adapter, Binary, Broadcast, BroadcastOptions, LocalAdapter, Server, Sid, Socket};
use portico_proto::sio::{Packet, PacketType};
use serde_json::json;

/// What one broadcast would publish: packet, attachments, selection, local frame count.
type Published = (Packet, Vec<Bytes>, BroadcastOptions, usize);
/// The adapters made, by namespace.
type Made = Arc<Mutex<Vec<(String, Arc<Recording>)>>>;

/// Keeps rooms locally and records what each broadcast would publish.
#[derive(Default)]
struct Recording {
    local: LocalAdapter,
    published: Mutex<Vec<Published>>,
}

impl Adapter for Recording {
    fn join(&self, sid: Sid, rooms: &[&str]) {
        self.local.join(sid, rooms);
    }
    fn leave(&self, sid: Sid, room: &str) {
        self.local.leave(sid, room);
    }
    fn leave_all(&self, sid: Sid) {
        self.local.leave_all(sid);
    }
    fn rooms_of(&self, sid: Sid) -> Vec<String> {
        self.local.rooms_of(sid)
    }
    fn rooms(&self) -> Vec<String> {
        self.local.rooms()
    }
    fn for_each_target(&self, opts: &BroadcastOptions, f: &mut dyn FnMut(Sid)) {
        self.local.for_each_target(opts, f);
    }
    fn broadcast(&self, b: &Broadcast<'_>, deliver: &mut dyn FnMut(Sid)) {
        let (packet, binary) = b.packet().unwrap();
        self.published
            .lock()
            .unwrap()
            .push((packet, binary, b.opts().clone(), b.frames().len()));
        self.local.for_each_target(b.opts(), deliver);
    }
}

#[tokio::test(start_paused = true)]
async fn each_namespace_gets_its_adapter_and_broadcasts_reach_it_as_packets() {
    let made: Made = Arc::default();
    let made2 = made.clone();
    let io = Server::builder()
        .adapter(move |nsp| {
            let a = Arc::new(Recording::default());
            made2.lock().unwrap().push((nsp.to_owned(), a.clone()));
            a
        })
        .build()
        .unwrap();
    io.of("/").on_connection(|socket: Socket| async move {
        socket.join("news");
    });
    io.of("/admin");
    let names: Vec<String> = made
        .lock()
        .unwrap()
        .iter()
        .map(|(n, _)| n.clone())
        .collect();
    assert_eq!(
        names,
        ["/", "/admin"],
        "one adapter per namespace, made as it is created"
    );

    let client = Client::new(&io);
    let sid = client.join().await;
    io.to("news")
        .emit("headline", &("hi", Binary::from(&b"\x01\x02"[..])))
        .unwrap();

    // The local socket got the frames: the binary event's text, then its attachment.
    let text = client.poll_until(&sid, |p| p.starts_with("451-")).await;
    assert_eq!(
        text,
        r#"451-["headline","hi",{"_placeholder":true,"num":0}]"#
    );

    let root = made.lock().unwrap()[0].1.clone();
    let published = root.published.lock().unwrap();
    assert_eq!(published.len(), 1);
    let (packet, binary, opts, frames) = &published[0];
    assert_eq!(packet.kind, PacketType::BinaryEvent);
    assert_eq!(packet.nsp, "/");
    assert_eq!(packet.attachments, 1);
    assert_eq!(
        packet.data,
        Some(json!(["headline", "hi", {"_placeholder": true, "num": 0}]))
    );
    assert_eq!(binary, &[Bytes::from_static(b"\x01\x02")]);
    assert_eq!(opts.rooms, ["news"]);
    assert_eq!(*frames, 2, "the shared frames: text and one attachment");
}
