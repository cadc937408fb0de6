//! [`Server::stats`]: what the server holds and what it carried, for metrics.
//!
//! # How counting stays cheap
//!
//! Nothing on the path of a packet touches a counter shared between sessions. Each Engine.IO
//! session counts its own packets and bytes as plain integers inside its
//! [`Session`](portico_proto::engine::session::Session) — under the lock every packet takes
//! anyway — and when a session closes its counts are added to the engine's totals (one lock,
//! once per session). A snapshot adds the totals to the counts of the open sessions, visiting
//! each once. Sessions, sockets and rooms are not counted at all: they are the lengths of the
//! tables the server keeps anyway, read when asked.
//!
//! So a snapshot costs one short lock per open session and per namespace (a scrape every few
//! seconds is nothing); a broadcast to 1,000 clients costs no extra atomic operation.

use std::collections::BTreeMap;

use portico_proto::engine::Traffic;

use crate::Server;

/// A snapshot of a [`Server`]: open sessions and sockets now, traffic since the start. From
/// [`Server::stats`]; export it to any metrics system (`portico serve --metrics` renders it
/// for Prometheus).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Open Engine.IO sessions on HTTP long-polling (including those upgrading).
    pub sessions_polling: usize,
    /// Open Engine.IO sessions on WebSocket.
    pub sessions_websocket: usize,
    /// Polling sessions with a WebSocket upgrade under way (also in `sessions_polling`).
    pub sessions_upgrading: usize,
    /// Every namespace on this node (dynamic children included) with its sockets and rooms.
    pub namespaces: BTreeMap<String, NamespaceStats>,
    /// Engine.IO packets and bytes received and sent since the server started, by every
    /// session (see [`Traffic`] for what counts).
    pub traffic: Traffic,
    /// Cluster operations that failed since the server started: messages or answers that
    /// could not be published, and requests that timed out or found the cluster unreachable.
    /// Always 0 on a single node.
    pub adapter_errors: u64,
    /// Engine.IO sessions opened since the server started.
    pub sessions_opened: u64,
    /// Engine.IO sessions closed since the server started.
    pub sessions_closed: u64,
}

/// One namespace in [`Stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NamespaceStats {
    /// Connected sockets (on this node).
    pub sockets: usize,
    /// Rooms with members on this node, as the adapter lists them: each socket's own room
    /// (named after its id, as in Node) counts too.
    pub rooms: usize,
}

impl Stats {
    /// Open Engine.IO sessions, every transport.
    pub fn sessions(&self) -> usize {
        self.sessions_polling + self.sessions_websocket
    }

    /// Connected sockets, every namespace.
    pub fn sockets(&self) -> usize {
        self.namespaces.values().map(|n| n.sockets).sum()
    }

    /// Rooms with members, every namespace.
    pub fn rooms(&self) -> usize {
        self.namespaces.values().map(|n| n.rooms).sum()
    }
}

impl Server {
    /// A snapshot of the server for metrics: sessions by transport, sockets and rooms by
    /// namespace, packets and bytes in and out, cluster errors. Costs one short lock per open
    /// session and per namespace; no counter is shared on the packet path (see the
    /// [module](crate::stats) docs).
    ///
    /// ```
    /// # async fn run() -> anyhow::Result<()> {
    /// let io = portico::Server::builder().build()?;
    /// let stats = io.stats();
    /// assert_eq!(stats.sessions(), 0);
    /// assert_eq!(stats.namespaces["/"].sockets, 0);
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> Stats {
        let engine = self.0.engine.stats();
        let mut stats = Stats {
            sessions_polling: engine.polling,
            sessions_websocket: engine.websocket,
            sessions_upgrading: engine.upgrading,
            traffic: engine.traffic,
            sessions_opened: engine.opened,
            sessions_closed: engine.closed,
            ..Stats::default()
        };
        for ns in self.0.namespaces_now() {
            stats.namespaces.insert(
                ns.name().to_owned(),
                NamespaceStats {
                    sockets: ns.socket_count(),
                    rooms: ns.adapter().rooms().len(),
                },
            );
            if let Some(cluster) = ns.adapter().cluster() {
                stats.adapter_errors = stats.adapter_errors.saturating_add(cluster.errors());
            }
        }
        stats
    }
}
