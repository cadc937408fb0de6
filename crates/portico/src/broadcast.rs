//! Emitting to many sockets: `to`, `except`, `broadcast`.

use serde::Serialize;

use crate::adapter::BroadcastOptions;
use crate::emit;
use crate::errors::EmitError;
use crate::namespace::Namespace;
use crate::sid::Sid;
use crate::Socket;

/// A selection of sockets of one namespace. Built by `to`/`except` on the server, a
/// namespace or a socket; chain them, then [`BroadcastOperator::emit`].
#[derive(Debug, Clone)]
#[must_use = "a selection does nothing until you emit"]
pub struct BroadcastOperator {
    ns: Namespace,
    opts: BroadcastOptions,
}

impl BroadcastOperator {
    pub(crate) fn new(ns: Namespace) -> BroadcastOperator {
        BroadcastOperator {
            ns,
            opts: BroadcastOptions::default(),
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

    /// Emit to every selected socket. The packet is encoded once and shared by all of them.
    /// Sockets that went away meanwhile are skipped; the error is only about encoding.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        let frames = emit::encode(self.ns.name(), Some(event), data, None)?;
        self.ns.with_sockets(|sockets| {
            self.ns.adapter().for_each_target(&self.opts, &mut |sid| {
                if let Some(socket) = sockets.get(&sid) {
                    let _ = socket.send(&frames);
                }
            });
        });
        Ok(())
    }

    /// The selected sockets (on this node).
    pub fn sockets(&self) -> Vec<Socket> {
        let mut out = Vec::new();
        self.ns.adapter().for_each_target(&self.opts, &mut |sid| {
            if let Some(s) = self.ns.socket(sid) {
                out.push(s);
            }
        });
        out
    }

    /// Disconnect every selected socket (`server namespace disconnect`).
    pub fn disconnect(&self) {
        for s in self.sockets() {
            s.disconnect();
        }
    }
}
