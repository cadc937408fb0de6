//! The cluster logic, written once: publish, answer, count, match, time out, merge.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use tokio::sync::{oneshot, Notify};

use super::{
    wire_to_plain_json, Body, ClusterError, Flags, Inbox, Message, Opts, Response, ResponseBody,
    SharedTransport, Value,
};
use crate::adapter::{Adapter, Broadcast, BroadcastOptions};
use crate::namespace::{Namespace, NsInner};
use crate::sid::Sid;

/// Answers a node keeps for one request at most (a peer that floods answers cannot make it
/// grow without bound).
const MAX_ANSWERS: usize = 1 << 20;

/// A namespace's adapter on a cluster: the local rooms of any [`Adapter`] plus the cluster
/// half ([`crate::cluster`]). Made by the server for each namespace when
/// [`crate::ServerBuilder::cluster`] is set.
pub struct ClusterAdapter {
    local: Arc<dyn Adapter>,
    pub(crate) core: Arc<Core>,
    /// Serializes membership changes when the transport wants room events, so that "first
    /// member" and "last member" are seen exactly once.
    membership: Option<Mutex<()>>,
}

impl std::fmt::Debug for ClusterAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterAdapter")
            .field("nsp", &self.core.nsp)
            .field("transport", &self.core.transport.describe())
            .finish()
    }
}

pub(crate) struct Core {
    pub(crate) nsp: String,
    pub(crate) transport: SharedTransport,
    pub(crate) timeout: Duration,
    local: Arc<dyn Adapter>,
    ns: OnceLock<Weak<NsInner>>,
    pending: Mutex<HashMap<String, Pending>>,
    /// Operations that failed (publish, answer, server count, a request timing out): for
    /// `Server::stats`. Touched only on failure.
    errors: AtomicU64,
}

enum Pending {
    /// Fetch sockets, all rooms, server-side emit with acks: one answer (or list) per node.
    Collect {
        expected: usize,
        received: usize,
        items: Vec<Value>,
        done: Option<oneshot::Sender<()>>,
    },
    /// A broadcast with acks: client counts then acks, from any number of nodes.
    Acks(Arc<AckCollector>),
}

/// What other nodes answered to one broadcast with acks.
#[derive(Default)]
pub(crate) struct AckCollector {
    state: Mutex<AckState>,
    notify: Notify,
}

#[derive(Default)]
pub(crate) struct AckState {
    pub(crate) nodes: usize,
    pub(crate) clients: u64,
    pub(crate) values: Vec<Value>,
}

impl AckCollector {
    /// Wait until `nodes` nodes reported and every socket they counted answered, or until
    /// `deadline`: the answers so far, and `None` when complete or else what is missing.
    pub(crate) async fn wait(
        &self,
        nodes: usize,
        deadline: tokio::time::Instant,
    ) -> (Vec<Value>, Option<ClusterError>) {
        let missing = |st: &AckState| {
            if st.nodes < nodes {
                Some(ClusterError::Timeout {
                    received: st.nodes,
                    expected: nodes,
                })
            } else if (st.values.len() as u64) < st.clients {
                Some(ClusterError::Timeout {
                    received: st.values.len(),
                    expected: usize::try_from(st.clients).unwrap_or(usize::MAX),
                })
            } else {
                None
            }
        };
        loop {
            let notified = self.notify.notified();
            {
                let st = lock(&self.state);
                if missing(&st).is_none() {
                    return (st.values.clone(), None);
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let st = lock(&self.state);
                return (st.values.clone(), missing(&st));
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn request_id() -> String {
    use rand::RngCore;
    let mut raw = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

impl ClusterAdapter {
    /// Cluster operations of this namespace that failed since it was created (see
    /// [`crate::Stats::adapter_errors`]).
    pub fn errors(&self) -> u64 {
        self.core.errors.load(Ordering::Relaxed)
    }

    pub(crate) fn new(
        nsp: &str,
        local: Arc<dyn Adapter>,
        transport: SharedTransport,
        timeout: Duration,
    ) -> ClusterAdapter {
        let membership = transport.wants_room_events().then(|| Mutex::new(()));
        let core = Arc::new(Core {
            nsp: nsp.to_owned(),
            transport,
            timeout,
            local: local.clone(),
            ns: OnceLock::new(),
            pending: Mutex::new(HashMap::new()),
            errors: AtomicU64::new(0),
        });
        ClusterAdapter {
            local,
            core,
            membership,
        }
    }

    /// This namespace's transport.
    pub fn transport(&self) -> &dyn super::Transport {
        &*self.core.transport
    }

    fn room_is_private(room: &str, sid: Sid) -> bool {
        room == sid.as_str()
    }
}

impl Adapter for ClusterAdapter {
    fn join(&self, sid: Sid, rooms: &[&str]) {
        let Some(m) = &self.membership else {
            return self.local.join(sid, rooms);
        };
        let _g = lock(m);
        let fresh: Vec<&str> = rooms
            .iter()
            .copied()
            .filter(|r| !self.local.has_room(r))
            .collect();
        self.local.join(sid, rooms);
        for room in fresh {
            let private = Self::room_is_private(room, sid);
            self.core
                .transport
                .room_created(&self.core.nsp, room, private);
        }
    }

    fn leave(&self, sid: Sid, room: &str) {
        let Some(m) = &self.membership else {
            return self.local.leave(sid, room);
        };
        let _g = lock(m);
        let had = self.local.has_room(room);
        self.local.leave(sid, room);
        if had && !self.local.has_room(room) {
            let private = Self::room_is_private(room, sid);
            self.core
                .transport
                .room_deleted(&self.core.nsp, room, private);
        }
    }

    fn leave_all(&self, sid: Sid) {
        let Some(m) = &self.membership else {
            return self.local.leave_all(sid);
        };
        let _g = lock(m);
        let rooms = self.local.rooms_of(sid);
        self.local.leave_all(sid);
        for room in rooms {
            if !self.local.has_room(&room) {
                let private = Self::room_is_private(&room, sid);
                self.core
                    .transport
                    .room_deleted(&self.core.nsp, &room, private);
            }
        }
    }

    fn rooms_of(&self, sid: Sid) -> Vec<String> {
        self.local.rooms_of(sid)
    }

    fn rooms(&self) -> Vec<String> {
        self.local.rooms()
    }

    fn has_room(&self, room: &str) -> bool {
        self.local.has_room(room)
    }

    fn for_each_target(&self, opts: &BroadcastOptions, f: &mut dyn FnMut(Sid)) {
        self.local.for_each_target(opts, f)
    }

    fn broadcast(&self, broadcast: &Broadcast<'_>, deliver: &mut dyn FnMut(Sid)) {
        if !broadcast.local {
            match broadcast.packet() {
                Ok((packet, bins)) => {
                    let data = match &packet.data {
                        Some(serde_json::Value::Array(values)) => super::to_wire(values, &bins),
                        _ => Vec::new(),
                    };
                    let flags = Flags {
                        volatile: broadcast.volatile,
                        ..Flags::default()
                    };
                    let opts = Opts::from_local(broadcast.opts, flags);
                    let _ = self.core.publish(Body::Broadcast { data, opts });
                }
                Err(e) => {
                    tracing::debug!(nsp = %self.core.nsp, "cluster: broadcast not published: {e}")
                }
            }
        }
        self.local.broadcast(broadcast, deliver);
    }

    fn cluster(&self) -> Option<&ClusterAdapter> {
        Some(self)
    }
}

impl Core {
    fn count_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn bind(&self, ns: &Namespace) {
        let _ = self.ns.set(Arc::downgrade(&ns.0));
    }

    pub(crate) fn inbox(self: &Arc<Self>) -> Inbox {
        Inbox(Arc::downgrade(self))
    }

    fn namespace(&self) -> Option<Namespace> {
        self.ns.get().and_then(Weak::upgrade).map(Namespace)
    }

    pub(crate) fn has_room(&self, room: &str) -> bool {
        self.local.has_room(room)
    }

    fn message(&self, body: Body) -> Message {
        Message {
            uid: Some(self.transport.uid().to_owned()),
            body,
        }
    }

    /// Publish a fire-and-forget operation; a failure is the transport's to report (it logs
    /// one warning per outage), and is returned for callers that want it.
    pub(crate) fn publish(&self, body: Body) -> Result<(), ClusterError> {
        let res = self.transport.publish(&self.nsp, &self.message(body));
        if let Err(e) = &res {
            self.count_error();
            tracing::debug!(nsp = %self.nsp, "cluster: not published: {e}");
        }
        res
    }

    fn respond(&self, requester: Option<&str>, body: ResponseBody) {
        let response = Response {
            uid: Some(self.transport.uid().to_owned()),
            body,
        };
        if let Err(e) = self
            .transport
            .respond(&self.nsp, requester.unwrap_or_default(), &response)
        {
            self.count_error();
            tracing::debug!(nsp = %self.nsp, "cluster: answer not sent: {e}");
        }
    }

    /// Number of nodes, this one included.
    pub(crate) async fn server_count(&self) -> Result<usize, ClusterError> {
        let res = match tokio::time::timeout(self.timeout, self.transport.server_count(&self.nsp))
            .await
        {
            Ok(res) => res.map(|n| n.max(1)),
            Err(_) => Err(ClusterError::Unavailable(format!(
                "no server count from {} within {:?}",
                self.transport.describe(),
                self.timeout
            ))),
        };
        if res.is_err() {
            self.count_error();
        }
        res
    }

    /// Send a request that every other node answers once (fetch, all rooms, server-side emit
    /// with acks) and collect the answers; `Err(Timeout)` carries no partial answers, the
    /// `Ok` side is complete.
    pub(crate) async fn collect(
        &self,
        make: impl FnOnce(String) -> Body,
        timeout: Option<Duration>,
    ) -> Result<Vec<Value>, (ClusterError, Vec<Value>)> {
        let expected = self
            .server_count()
            .await
            .map_err(|e| (e, Vec::new()))?
            .saturating_sub(1);
        if expected == 0 {
            return Ok(Vec::new());
        }
        let id = request_id();
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(
            id.clone(),
            Pending::Collect {
                expected,
                received: 0,
                items: Vec::new(),
                done: Some(tx),
            },
        );
        if let Err(e) = self.publish(make(id.clone())) {
            lock(&self.pending).remove(&id);
            return Err((e, Vec::new()));
        }
        let waited = tokio::time::timeout(timeout.unwrap_or(self.timeout), rx).await;
        let entry = lock(&self.pending).remove(&id);
        if waited.is_err() {
            self.count_error();
        }
        match (waited, entry) {
            (Ok(_), Some(Pending::Collect { items, .. })) => Ok(items),
            (
                _,
                Some(Pending::Collect {
                    items, received, ..
                }),
            ) => Err((ClusterError::Timeout { received, expected }, items)),
            _ => Err((
                ClusterError::Timeout {
                    received: 0,
                    expected,
                },
                Vec::new(),
            )),
        }
    }

    /// Publish a broadcast with acks; the collector fills as the other nodes answer.
    pub(crate) fn broadcast_with_ack(
        &self,
        data: Vec<Value>,
        opts: Opts,
    ) -> Result<(String, Arc<AckCollector>), ClusterError> {
        let id = request_id();
        let collector = Arc::new(AckCollector::default());
        lock(&self.pending).insert(id.clone(), Pending::Acks(collector.clone()));
        let body = Body::BroadcastWithAck {
            request_id: id.clone(),
            data,
            opts,
        };
        if let Err(e) = self.publish(body) {
            lock(&self.pending).remove(&id);
            return Err(e);
        }
        Ok((id, collector))
    }

    pub(crate) fn forget(&self, id: &str) {
        lock(&self.pending).remove(id);
    }

    pub(crate) fn on_response(&self, response: Response) {
        let id = response.body.request_id().to_owned();
        let mut pending = lock(&self.pending);
        let Some(entry) = pending.get_mut(&id) else {
            return;
        };
        match (entry, response.body) {
            (Pending::Acks(c), ResponseBody::BroadcastClientCount { client_count, .. }) => {
                let mut st = lock(&c.state);
                st.nodes += 1;
                st.clients = st.clients.saturating_add(client_count);
                drop(st);
                c.notify.notify_waiters();
            }
            (Pending::Acks(c), ResponseBody::BroadcastAck { value, .. }) => {
                let mut st = lock(&c.state);
                if st.values.len() < MAX_ANSWERS {
                    st.values.push(value);
                }
                drop(st);
                c.notify.notify_waiters();
            }
            (
                Pending::Collect {
                    expected,
                    received,
                    items,
                    done,
                },
                body,
            ) => {
                match body {
                    ResponseBody::FetchSockets { sockets, .. } => {
                        let room = MAX_ANSWERS.saturating_sub(items.len());
                        items.extend(sockets.into_iter().take(room));
                    }
                    ResponseBody::AllRooms { rooms, .. } => {
                        let room = MAX_ANSWERS.saturating_sub(items.len());
                        items.extend(rooms.into_iter().take(room).map(Value::from));
                    }
                    ResponseBody::ServerSideEmit { value, .. } => {
                        if items.len() < MAX_ANSWERS {
                            items.push(value);
                        }
                    }
                    _ => return,
                }
                *received += 1;
                if *received >= *expected {
                    if let Some(tx) = done.take() {
                        let _ = tx.send(());
                    }
                }
            }
            _ => {}
        }
    }

    pub(crate) fn on_message(self: &Arc<Self>, message: Message) {
        let own = self.transport.uid();
        if message.uid.as_deref() == Some(own) {
            return;
        }
        let Some(ns) = self.namespace() else { return };
        let from = message.uid;
        match message.body {
            Body::Broadcast { data, opts } => ns.deliver_remote(&data, &opts),
            Body::BroadcastWithAck {
                request_id,
                data,
                opts,
            } => {
                let timeout = opts.flags.timeout.map(Duration::from_millis);
                let targets = ns.local_targets(&opts.to_local());
                let Some((event, args)) = event_of(&data) else {
                    return;
                };
                self.respond(
                    from.as_deref(),
                    ResponseBody::BroadcastClientCount {
                        request_id: request_id.clone(),
                        client_count: targets.len() as u64,
                    },
                );
                for socket in targets {
                    let fut = socket.ack_request::<_, crate::Args>(&event, &args, timeout);
                    let core = self.clone();
                    let from = from.clone();
                    let request_id = request_id.clone();
                    tokio::spawn(async move {
                        if let Ok(reply) = fut.await {
                            let value = super::to_wire(&reply.values, &reply.binary)
                                .into_iter()
                                .next()
                                .unwrap_or(Value::Nil);
                            core.respond(
                                from.as_deref(),
                                ResponseBody::BroadcastAck { request_id, value },
                            );
                        }
                    });
                }
            }
            Body::SocketsJoin { opts, rooms } => {
                for s in ns.local_targets(&opts.to_local()) {
                    for r in &rooms {
                        s.join(r);
                    }
                }
            }
            Body::SocketsLeave { opts, rooms } => {
                for s in ns.local_targets(&opts.to_local()) {
                    for r in &rooms {
                        s.leave(r);
                    }
                }
            }
            Body::DisconnectSockets { opts, close } => {
                for s in ns.local_targets(&opts.to_local()) {
                    s.disconnect_with(close);
                }
            }
            Body::FetchSockets { request_id, opts } => {
                let sockets = ns
                    .local_targets(&opts.to_local())
                    .iter()
                    .map(describe_socket)
                    .collect();
                self.respond(
                    from.as_deref(),
                    ResponseBody::FetchSockets {
                        request_id,
                        sockets,
                    },
                );
            }
            Body::ServerSideEmit { request_id, data } => {
                let responder = request_id.map(|request_id| Responder {
                    core: self.clone(),
                    requester: from.clone(),
                    request_id,
                });
                ns.on_server_side_emit(&data, from, responder);
            }
            Body::AllRooms { request_id } => {
                let rooms = self.local.rooms();
                self.respond(
                    from.as_deref(),
                    ResponseBody::AllRooms { request_id, rooms },
                );
            }
        }
    }
}

/// Answers one node's server-side emit, once.
pub(crate) struct Responder {
    core: Arc<Core>,
    requester: Option<String>,
    request_id: String,
}

impl Responder {
    pub(crate) fn send(self, value: Value) {
        self.core.respond(
            self.requester.as_deref(),
            ResponseBody::ServerSideEmit {
                request_id: self.request_id,
                value,
            },
        );
    }
}

/// `[event, ...args]` → the event name and its arguments.
pub(crate) fn event_of(data: &[Value]) -> Option<(String, crate::Args)> {
    let (first, rest) = data.split_first()?;
    let event = first.as_str()?.to_owned();
    Some((event, super::from_wire(rest)))
}

/// A local socket as other nodes' `fetchSockets` see it: `{id, handshake, rooms, data}`.
fn describe_socket(s: &crate::Socket) -> Value {
    let handshake = serde_json::to_value(s.handshake()).unwrap_or(serde_json::Value::Null);
    let json = serde_json::json!({
        "id": s.id().as_str(),
        "handshake": handshake,
        "rooms": s.rooms(),
        "data": s.data_value(),
    });
    super::json_to_value(&json)
}

/// The parts of a remote socket description, for [`crate::RemoteSocket`].
pub(crate) fn plain(v: &Value) -> serde_json::Value {
    wire_to_plain_json(v)
}
