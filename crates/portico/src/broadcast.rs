//! Emitting to many sockets: `to`, `except`, `broadcast`.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::adapter::{Broadcast, BroadcastOptions};
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
    timeout: Option<Duration>,
}

impl BroadcastOperator {
    pub(crate) fn new(ns: Namespace) -> BroadcastOperator {
        BroadcastOperator {
            ns,
            opts: BroadcastOptions::default(),
            volatile: false,
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

    /// Only this node's sockets (Node's `local`). On a single node: every socket.
    pub fn local(self) -> Self {
        self
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
        let packet = || emit::packet(self.ns.name(), Some(event), data, None);
        let broadcast = Broadcast {
            opts: &self.opts,
            frames: &frames,
            volatile,
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
    /// broadcast with an ack). Each entry is the socket's id and its reply, or why there was
    /// none ([`AckError::Timeout`] for a client that did not answer in time).
    pub async fn emit_with_ack<T: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<Vec<(Sid, Result<R, AckError>)>, EmitError> {
        if emit::RESERVED_EVENTS.contains(&event) {
            return Err(EmitError::ReservedEvent(event.to_owned()));
        }
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
        Ok(futures_util::future::join_all(requests).await)
    }

    /// The selected sockets with their handshake, rooms and data (Node's `fetchSockets`).
    /// Async because on a cluster it will ask the other nodes.
    pub async fn fetch_sockets(&self) -> Vec<RemoteSocket> {
        self.sockets().iter().map(RemoteSocket::of).collect()
    }

    /// Make every selected socket join `room` (Node's `socketsJoin`).
    pub fn sockets_join(&self, room: impl AsRef<str>) {
        for s in self.sockets() {
            s.join(room.as_ref());
        }
    }

    /// Make every selected socket leave `room` (Node's `socketsLeave`).
    pub fn sockets_leave(&self, room: impl AsRef<str>) {
        for s in self.sockets() {
            s.leave(room.as_ref());
        }
    }

    /// Disconnect every selected socket (`server namespace disconnect`); with `close`, close
    /// their connections too (Node's `disconnectSockets`).
    pub fn disconnect_sockets(&self, close: bool) {
        for s in self.sockets() {
            s.disconnect_with(close);
        }
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
