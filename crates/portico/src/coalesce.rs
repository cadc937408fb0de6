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
//! A run starts at the second consecutive emit to a selection: the first is sent at once, so a
//! handler that makes one broadcast pays nothing for this.
//!
//! Only plain events are held (one frame, no attachments, not volatile), only on an adapter
//! whose broadcast is its `for_each_target` ([`crate::Adapter::coalesces`]: the in-memory
//! one; a cluster adapter publishes each broadcast as it is made), only inside a handler's
//! poll. On the multi-thread runtime a send on another worker that finds a run held or being
//! delivered waits until it is delivered ([`crate::engine::defer::HeldSlot`]), so it cannot
//! overtake it either.

use std::any::Any;
use std::hash::{Hash, Hasher};

use portico_proto::engine::Frame;

use crate::adapter::BroadcastOptions;
use crate::engine::defer::{self, Held};
use crate::namespace::Namespace;
use crate::Socket;

/// Events for one selection of one namespace, in emit order, and the sockets the selection
/// named at the first of them (a membership change delivers the run first, so they are the
/// members at each of its emits).
struct Run {
    ns: Namespace,
    opts: BroadcastOptions,
    targets: Vec<Socket>,
    /// The payload bytes of `frames`.
    bytes: usize,
    frames: Vec<Frame>,
}

impl Held for Run {
    fn deliver(self: Box<Self>) {
        // No lock of the namespace or the adapter here: the run is delivered under the held
        // slot's lock, which a sender holding them may be waiting for.
        for socket in &self.targets {
            let _ = socket.send_each(&self.frames);
        }
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// The sockets `opts` selects in `ns` now.
fn targets(ns: &Namespace, opts: &BroadcastOptions) -> Vec<Socket> {
    let mut out = Vec::new();
    ns.with_sockets(|sockets| {
        ns.adapter().for_each_target(opts, &mut |sid| {
            if let Some(socket) = sockets.get(&sid) {
                out.push(socket.clone());
            }
        });
    });
    out
}

/// Most events a run holds before it is delivered and another starts: a handler that emits
/// without end in one poll holds a bounded run, as each socket's queue is bounded by its caps.
const MAX_RUN_EVENTS: usize = 4096;
/// Most payload bytes a run holds (the events' payloads, shared by every socket): a run of
/// large events is delivered early, so that sockets over their `max_buffer_bytes` are closed
/// and the payloads freed as they would be one emit at a time.
const MAX_RUN_BYTES: usize = 1 << 20;

/// A key for the selection `opts` of `ns` (equal for equal selections; two selections that
/// share one by chance only start a run that the first would not have).
fn selection_key(ns: &Namespace, opts: &BroadcastOptions) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    ns.addr().hash(&mut h);
    opts.hash(&mut h);
    h.finish()
}

/// Hold `frame`, an event to `opts` in `ns`, to be delivered with the events held before it
/// for the same selection; `false` (nothing held) when the caller must send it now.
///
/// A run is held from the second consecutive emit to a selection on: the first is sent at
/// once (`false`), so a handler that makes one broadcast (a chat message to a room) pays
/// nothing for runs, and one that makes many has all but the first delivered together.
pub(crate) fn hold(ns: &Namespace, opts: &BroadcastOptions, frame: &Frame) -> bool {
    if !defer::repeats(selection_key(ns, opts)) {
        return false;
    }
    defer::hold::<Run>(
        |run| run.add(ns, opts, frame),
        || Run {
            ns: ns.clone(),
            opts: opts.clone(),
            targets: targets(ns, opts),
            bytes: frame.payload_len(),
            frames: vec![frame.clone()],
        },
    )
}

impl Run {
    /// Add `frame` when it is for this run's selection and the run has room for it.
    fn add(&mut self, ns: &Namespace, opts: &BroadcastOptions, frame: &Frame) -> bool {
        let fits = self.frames.len() < MAX_RUN_EVENTS
            && self.bytes.saturating_add(frame.payload_len()) <= MAX_RUN_BYTES;
        let same = fits && self.ns.same(ns) && self.opts == *opts;
        if same {
            self.bytes += frame.payload_len();
            self.frames.push(frame.clone());
        }
        same
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use bytes::Bytes;

    #[test]
    fn a_lone_emit_is_sent_at_once_and_a_run_is_held_from_the_second() {
        let io = crate::Server::builder().build().unwrap();
        let (ns, other_ns) = (io.of("/"), io.of("/other"));
        let frame = Frame::Text(Bytes::from_static(b"42[\"n\",1]"));
        let all = BroadcastOptions::default();
        let mut room = BroadcastOptions::default();
        room.rooms.push("r".to_owned());
        assert!(!hold(&ns, &all, &frame), "no handler's poll: sent at once");
        {
            let _guard = defer::defer_wakes();
            assert!(!hold(&ns, &all, &frame), "the first emit is sent at once");
            assert!(hold(&ns, &all, &frame), "the second is held");
            assert!(hold(&ns, &all, &frame));
            assert!(!hold(&ns, &room, &frame), "another selection");
            assert!(!hold(&other_ns, &room, &frame), "another namespace");
            assert!(hold(&other_ns, &room, &frame));
        }
        let _guard = defer::defer_wakes();
        assert!(
            !hold(&other_ns, &room, &frame),
            "the next poll starts afresh"
        );
    }

    #[test]
    fn a_run_is_bounded_in_events_and_in_bytes() {
        let io = crate::Server::builder().build().unwrap();
        let ns = io.of("/");
        let small = Frame::Text(Bytes::from_static(b"42[\"n\",1]"));
        let mut run = Run {
            ns: ns.clone(),
            opts: BroadcastOptions::default(),
            targets: Vec::new(),
            bytes: 0,
            frames: Vec::new(),
        };
        let all = BroadcastOptions::default();
        let taken = (0..MAX_RUN_EVENTS + 10)
            .filter(|_| run.add(&ns, &all, &small))
            .count();
        assert_eq!(taken, MAX_RUN_EVENTS);
        // Another selection or namespace is not added.
        let mut other = BroadcastOptions::default();
        other.rooms.push("r".to_owned());
        let mut fresh = Run {
            frames: Vec::new(),
            bytes: 0,
            targets: Vec::new(),
            ns: ns.clone(),
            opts: BroadcastOptions::default(),
        };
        assert!(!fresh.add(&ns, &other, &small));
        assert!(!fresh.add(&io.of("/other"), &all, &small));
        assert!(fresh.add(&ns, &all, &small));
        let big = Frame::Text(Bytes::from(vec![b'4'; MAX_RUN_BYTES / 4]));
        let mut run = Run {
            frames: Vec::new(),
            bytes: 0,
            ..run
        };
        let taken = (0..10).filter(|_| run.add(&ns, &all, &big)).count();
        assert_eq!((taken, run.bytes), (4, MAX_RUN_BYTES));
    }
}
