//! Consecutive broadcasts to one selection, made within one handler poll, delivered together.
//!
//! A handler that emits many events to a room in a loop (`io.to(room).emit(..)` a thousand
//! times) would otherwise lock and push into every member's queue once per event: for a
//! thousand events to a thousand sockets, a million lock/push/unlock rounds walking every
//! socket's state a thousand times, the handler's whole poll spent before the first byte is
//! written. Held back ([`crate::engine::defer::hold`]), the run is one push of all its
//! events per socket, each socket's state and queue touched once.
//!
//! What stays the same:
//! - Each socket gets exactly the events it would have got, in the same order. The run is
//!   delivered before anything else reaches any session (every send, close and membership
//!   change, on any thread, delivers it first), so the selection's members at delivery are
//!   its members at each emit, and no frame overtakes a held one.
//! - It is delivered at the latest when the handler's poll ends (the guard of
//!   [`crate::engine::defer`]), on either runtime.
//! - The caps: a socket whose queue cannot take them all is closed with `send buffer full`
//!   at the first event that does not fit, as one emit at a time would
//!   ([`crate::engine::conn::Conn::send_each`]).
//!
//! Only plain events are held (one frame, no attachments, not volatile), only on an adapter
//! whose broadcast is its `for_each_target` ([`crate::Adapter::coalesces`]: the in-memory
//! one; a cluster adapter publishes each broadcast as it is made), only inside a handler's
//! poll, and only on tokio's current-thread runtime (see [`crate::engine::defer::hold`]: on
//! the multi-thread runtime another worker's task could make a send that overtakes a held
//! one, so each emit is pushed at once there, as before).

use std::any::Any;

use portico_proto::engine::Frame;

use crate::adapter::BroadcastOptions;
use crate::engine::defer::{self, Held};
use crate::namespace::Namespace;

/// Events for one selection of one namespace, in emit order.
struct Run {
    ns: Namespace,
    opts: BroadcastOptions,
    frames: Vec<Frame>,
}

impl Held for Run {
    fn deliver(self: Box<Self>) {
        let Run { ns, opts, frames } = *self;
        // The members first, then the sends outside the namespace's and the adapter's locks: a
        // send delivers another thread's held run first, which may read the same locks.
        let mut targets = Vec::new();
        ns.with_sockets(|sockets| {
            ns.adapter().for_each_target(&opts, &mut |sid| {
                if let Some(socket) = sockets.get(&sid) {
                    targets.push(socket.clone());
                }
            });
        });
        for socket in targets {
            let _ = socket.send_each(&frames);
        }
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// Hold `frame`, an event to `opts` in `ns`, to be delivered with the events held before it
/// for the same selection; `false` (nothing held) when the caller must send it now.
pub(crate) fn hold(ns: &Namespace, opts: &BroadcastOptions, frame: &Frame) -> bool {
    defer::hold::<Run>(
        |run| {
            let same = run.ns.same(ns) && run.opts == *opts;
            if same {
                run.frames.push(frame.clone());
            }
            same
        },
        || Run {
            ns: ns.clone(),
            opts: opts.clone(),
            frames: vec![frame.clone()],
        },
    )
}
