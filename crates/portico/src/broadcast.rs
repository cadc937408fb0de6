//! Emitting to many sockets: `to`, `except`, `broadcast`.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::adapter::{Broadcast, BroadcastOptions};
use crate::cluster::{Body, ClusterError, Flags, Opts};
use crate::emit;
use crate::errors::{AckError, EmitError};
use crate::namespace::Namespace;
use crate::remote::RemoteSocket;
use crate::sid::Sid;
use crate::Socket;

/// A selection of sockets of one namespace. Built by `to`/`except` on the server, a
/// namespace or a socket; chain them, then [`BroadcastOperator::emit`].
#[derive(Debug, Clone)]
#[must_use = "a selection does nothing until you emit"]
pub struct BroadcastOperator {
    ns: Namespace,
    opts: BroadcastOptions,
    volatile: bool,
    local: bool,
    timeout: Option<Duration>,
}

/// The acknowledgements of a broadcast ([`BroadcastOperator::emit_with_ack`]).
#[derive(Debug)]
pub struct BroadcastAcks<R> {
    /// This node's sockets: each one's answer, or why there is none
    /// ([`AckError::Timeout`] for a client that did not answer in time).
    pub local: Vec<(Sid, Result<R, AckError>)>,
    /// The other nodes' sockets' answers (the wire carries no socket ids), in arrival order.
    pub remote: Vec<R>,
    /// Why some of the other nodes' answers may be missing: `None` when every node reported
    /// and each socket it counted answered.
    pub remote_error: Option<ClusterError>,
}

impl<R> BroadcastAcks<R> {
    /// Whether every selected socket, on every node, answered.
    pub fn is_complete(&self) -> bool {
        self.remote_error.is_none() && self.local.iter().all(|(_, r)| r.is_ok())
    }

    /// Every answer that came, local ones first (Node's `responses`).
    pub fn replies(self) -> Vec<R> {
        let mut out: Vec<R> = self.local.into_iter().filter_map(|(_, r)| r.ok()).collect();
        out.extend(self.remote);
        out
    }
}

impl BroadcastOperator {
    pub(crate) fn new(ns: Namespace) -> BroadcastOperator {
        BroadcastOperator {
            ns,
            opts: BroadcastOptions::default(),
            volatile: false,
            local: false,
            timeout: None,
        }
    }

    pub(crate) fn exclude(mut self, sid: Sid) -> Self {
        self.opts.exclude = Some(sid);
        self
    }

    /// Also select the sockets in `room` (several `to` calls make a union).
    pub fn to(mut self, room: impl Into<String>) -> Self {
        self.opts.rooms.push(room.into());
        self
    }

    /// Same as [`BroadcastOperator::to`] (Node's `in`).
    pub fn within(self, room: impl Into<String>) -> Self {
        self.to(room)
    }

    /// Leave out the sockets in `room`.
    pub fn except(mut self, room: impl Into<String>) -> Self {
        self.opts.except.push(room.into());
        self
    }

    /// Drop the event for sockets whose transport cannot take it right now (Node's
    /// `volatile`).
    pub fn volatile(mut self) -> Self {
        self.volatile = true;
        self
    }

    /// Has no effect: Portico does not compress messages (no permessage-deflate). Accepted so
    /// that code ported from Node reads the same.
    pub fn compress(self, _compress: bool) -> Self {
        self
    }

    /// Only this node's sockets (Node's `local`): nothing is sent to the other nodes of a
    /// cluster. On a single node: every socket.
    pub fn local(mut self) -> Self {
        self.local = true;
        self
    }

    /// The cluster half, unless this selection is local.
    fn cluster(&self) -> Option<&std::sync::Arc<crate::cluster::Core>> {
        if self.local {
            None
        } else {
            self.ns.cluster()
        }
    }

    fn remote_opts(&self, flags: Flags) -> Opts {
        Opts::from_local(&self.opts, flags)
    }

    /// Bound the wait of [`BroadcastOperator::emit_with_ack`]. Default: no bound (wait
    /// until every socket answers or disconnects).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Emit to every selected socket. The packet is encoded once and shared by all of them.
    /// Sockets that went away meanwhile are skipped; the error is only about encoding.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        if self.ns.is_parent() {
            // A dynamic parent: the same selection in every child.
            for child in self.ns.children() {
                BroadcastOperator {
                    ns: child,
                    ..self.clone()
                }
                .emit(event, data)?;
            }
            return Ok(());
        }
        let volatile = self.volatile;
        let frames = match self.ns.recovery().filter(|_| !volatile) {
            Some(store) => {
                let offset = store.next_offset();
                let frames = emit::encode_with_offset(
                    self.ns.parser(),
                    self.ns.name(),
                    event,
                    data,
                    offset,
                )?;
                store.record(offset, &self.opts, &frames, crate::engine::conn::now());
                frames
            }
            None => emit::encode(self.ns.parser(), self.ns.name(), Some(event), data, None)?,
        };
        // A plain event to the in-memory adapter, inside a handler's poll: held back with the
        // events to the same selection that follow it, and delivered with them.
        if let [frame] = &frames[..] {
            if !volatile
                && self.ns.adapter().coalesces()
                && crate::coalesce::hold(&self.ns, &self.opts, frame)
            {
                return Ok(());
            }
        }
        let packet = || emit::packet(self.ns.name(), Some(event), data, None);
        let broadcast = Broadcast {
            opts: &self.opts,
            frames: &frames,
            volatile,
            local: self.local,
            packet: &packet,
        };
        self.ns.with_sockets(|sockets| {
            self.ns.adapter().broadcast(&broadcast, &mut |sid| {
                if let Some(socket) = sockets.get(&sid) {
                    if volatile {
                        let _ = socket.0.engine.send_volatile(&frames);
                    } else {
                        let _ = socket.send(&frames);
                    }
                }
            });
        });
        Ok(())
    }

    /// Emit to every selected socket and collect each one's acknowledgement (Node's
    /// broadcast with an ack): this node's sockets by id, the other nodes' sockets' answers
    /// without (see [`BroadcastAcks`]). On a cluster the wait is bounded by
    /// [`BroadcastOperator::timeout`], or by the cluster's requests timeout when none is set;
    /// when the other nodes cannot be reached it fails at once and nothing is sent.
    pub async fn emit_with_ack<T: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<BroadcastAcks<R>, EmitError> {
        if emit::RESERVED_EVENTS.contains(&event) {
            return Err(EmitError::ReservedEvent(event.to_owned()));
        }
        let remote = match self.cluster() {
            Some(core) => {
                let (args, bins) = crate::args::to_args(data)?;
                let mut wire = vec![crate::cluster::Value::from(event)];
                wire.extend(crate::cluster::to_wire(&args, &bins));
                let timeout = self.timeout.unwrap_or(core.timeout);
                let flags = Flags {
                    volatile: self.volatile,
                    timeout: Some(timeout.as_millis() as u64),
                    ..Flags::default()
                };
                let (id, collector) = core.broadcast_with_ack(wire, self.remote_opts(flags))?;
                Some((core.clone(), id, collector, timeout))
            }
            None => None,
        };
        // Each socket has its own ack ids, so each gets its own packet.
        let requests: Vec<_> = self
            .sockets()
            .into_iter()
            .map(|s| {
                let id = s.id();
                let fut = s.ack_request::<T, R>(event, data, self.timeout);
                async move { (id, fut.await) }
            })
            .collect();
        let local = futures_util::future::join_all(requests);
        let Some((core, id, collector, timeout)) = remote else {
            return Ok(BroadcastAcks {
                local: local.await,
                remote: Vec::new(),
                remote_error: None,
            });
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let remote = async {
            let nodes = match core.server_count().await {
                Ok(n) => n.saturating_sub(1),
                Err(e) => return (Vec::new(), Some(e)),
            };
            collector.wait(nodes, deadline).await
        };
        let (local, (values, error)) = futures_util::future::join(local, remote).await;
        core.forget(&id);
        let decoded = crate::cluster::Replies::<R>::decode(values, error);
        Ok(BroadcastAcks {
            local,
            remote: decoded.replies,
            remote_error: decoded.error,
        })
    }

    /// The selected sockets with their handshake, rooms and data (Node's `fetchSockets`): on
    /// a cluster, every node's.
    pub async fn fetch_sockets(&self) -> Result<Vec<RemoteSocket>, ClusterError> {
        let mut out: Vec<RemoteSocket> = self.sockets().iter().map(RemoteSocket::of).collect();
        if let Some(core) = self.cluster() {
            let opts = self.remote_opts(Flags::default());
            let remote = core
                .collect(|request_id| Body::FetchSockets { request_id, opts }, None)
                .await
                .map_err(|(e, _)| e)?;
            out.extend(
                remote
                    .iter()
                    .filter_map(|v| RemoteSocket::from_wire(&self.ns, v)),
            );
        }
        Ok(out)
    }

    /// Make every selected socket join `room` (Node's `socketsJoin`), on every node. This
    /// node's sockets join even when the other nodes cannot be reached (then the error says
    /// so).
    pub fn sockets_join(&self, room: impl AsRef<str>) -> Result<(), ClusterError> {
        for s in self.sockets() {
            s.join(room.as_ref());
        }
        match self.cluster() {
            Some(core) => core.publish(Body::SocketsJoin {
                opts: self.remote_opts(Flags::default()),
                rooms: vec![room.as_ref().to_owned()],
            }),
            None => Ok(()),
        }
    }

    /// Make every selected socket leave `room` (Node's `socketsLeave`), on every node.
    pub fn sockets_leave(&self, room: impl AsRef<str>) -> Result<(), ClusterError> {
        for s in self.sockets() {
            s.leave(room.as_ref());
        }
        match self.cluster() {
            Some(core) => core.publish(Body::SocketsLeave {
                opts: self.remote_opts(Flags::default()),
                rooms: vec![room.as_ref().to_owned()],
            }),
            None => Ok(()),
        }
    }

    /// Disconnect every selected socket, on every node (`server namespace disconnect`); with
    /// `close`, close their connections too (Node's `disconnectSockets`).
    pub fn disconnect_sockets(&self, close: bool) -> Result<(), ClusterError> {
        // Publish first: the selection may name rooms that this node's sockets leave as they
        // disconnect.
        let published = match self.cluster() {
            Some(core) => core.publish(Body::DisconnectSockets {
                opts: self.remote_opts(Flags::default()),
                close,
            }),
            None => Ok(()),
        };
        for s in self.sockets() {
            s.disconnect_with(close);
        }
        published
    }

    /// The selected sockets (on this node).
    pub fn sockets(&self) -> Vec<Socket> {
        if self.ns.is_parent() {
            return self
                .ns
                .children()
                .into_iter()
                .flat_map(|child| {
                    BroadcastOperator {
                        ns: child,
                        ..self.clone()
                    }
                    .sockets()
                })
                .collect();
        }
        let mut out = Vec::new();
        self.ns.with_sockets(|sockets| {
            self.ns.adapter().for_each_target(&self.opts, &mut |sid| {
                if let Some(s) = sockets.get(&sid) {
                    out.push(s.clone());
                }
            });
        });
        out
    }
}
