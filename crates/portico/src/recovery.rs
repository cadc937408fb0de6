//! Connection state recovery (Node's `connectionStateRecovery`), in memory: a client that
//! reconnects within `max_disconnection_duration` gets its socket id, rooms and data back, and
//! the events it missed.
//!
//! How it works on the wire: the CONNECT reply carries a private id (`pid`); every event
//! emitted to sockets (not acks, not volatile) carries an offset as its last argument; a
//! reconnecting client sends `{pid, offset}` in its CONNECT `auth`. The server keeps, per
//! namespace, the sessions of sockets that dropped for a recoverable reason and the packets
//! emitted in the last `max_disconnection_duration` (at most `max_packets` of them).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use portico_proto::engine::Frame;
use serde_json::Value;

use crate::adapter::BroadcastOptions;
use crate::reason::DisconnectReason;
use crate::sid::Sid;

/// Settings of connection state recovery. Off unless set with
/// [`crate::ServerBuilder::connection_state_recovery`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryConfig {
    /// How long a disconnected socket's state is kept. Default: 2 minutes (as Node).
    pub max_disconnection_duration: Duration,
    /// Skip the connect middlewares when a socket is recovered. Default: `true` (as Node).
    pub skip_middlewares: bool,
    /// Packets kept per namespace for missed-event replay; older ones are dropped first, and
    /// a client that missed a dropped packet gets a fresh session instead. Default: 10,000.
    pub max_packets: usize,
    /// Disconnected sessions kept per namespace; past it a dropped socket is not kept (its
    /// client reconnects as a new socket) rather than let a reconnect flood grow memory.
    /// Default: 100,000.
    pub max_sessions: usize,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            max_disconnection_duration: Duration::from_secs(120),
            skip_middlewares: true,
            max_packets: 10_000,
            max_sessions: 100_000,
        }
    }
}

impl RecoveryConfig {
    /// Change how long a disconnected socket's state is kept.
    #[must_use]
    pub fn max_disconnection_duration(mut self, d: Duration) -> Self {
        self.max_disconnection_duration = d;
        self
    }
    /// Run (`false`) or skip (`true`) the connect middlewares for recovered sockets.
    #[must_use]
    pub fn skip_middlewares(mut self, skip: bool) -> Self {
        self.skip_middlewares = skip;
        self
    }
    /// Change the number of disconnected sessions kept per namespace.
    #[must_use]
    pub fn max_sessions(mut self, n: usize) -> Self {
        self.max_sessions = n;
        self
    }

    /// Change the number of packets kept per namespace.
    #[must_use]
    pub fn max_packets(mut self, n: usize) -> Self {
        self.max_packets = n;
        self
    }
}

/// Whether a socket that disconnected for `reason` may be recovered (the client did not
/// leave on purpose and the server did not send it away).
pub(crate) fn recoverable(reason: DisconnectReason) -> bool {
    !matches!(
        reason,
        DisconnectReason::ClientNamespaceDisconnect | DisconnectReason::ServerNamespaceDisconnect
    )
}

/// A disconnected socket's state.
#[derive(Debug, Clone)]
pub(crate) struct Saved {
    pub(crate) sid: Sid,
    pub(crate) rooms: Vec<String>,
    pub(crate) data: Value,
    /// The last offset emitted before the socket connected: where replay starts for a client
    /// that never received an event (it has no offset to send).
    since: u64,
    at: Instant,
}

struct Stored {
    offset: u64,
    at: Instant,
    opts: BroadcastOptions,
    frames: Vec<Frame>,
}

#[derive(Default)]
struct Store {
    next_offset: u64,
    packets: VecDeque<Stored>,
    sessions: HashMap<String, Saved>,
}

/// One namespace's recovery state.
pub(crate) struct RecoveryStore {
    config: RecoveryConfig,
    store: Mutex<Store>,
}

impl RecoveryStore {
    pub(crate) fn new(config: RecoveryConfig) -> RecoveryStore {
        RecoveryStore {
            config,
            store: Mutex::new(Store {
                next_offset: 1,
                ..Store::default()
            }),
        }
    }

    pub(crate) fn config(&self) -> &RecoveryConfig {
        &self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn prune(&self, st: &mut Store, now: Instant) {
        let max = self.config.max_disconnection_duration;
        while st.packets.front().is_some_and(|p| {
            now.duration_since(p.at) > max || st.packets.len() > self.config.max_packets
        }) {
            st.packets.pop_front();
        }
        st.sessions.retain(|_, s| now.duration_since(s.at) <= max);
    }

    /// The last offset emitted so far.
    pub(crate) fn current_offset(&self) -> u64 {
        self.lock().next_offset - 1
    }

    /// A new offset for a packet about to be emitted.
    pub(crate) fn next_offset(&self) -> u64 {
        let mut st = self.lock();
        let o = st.next_offset;
        st.next_offset += 1;
        o
    }

    /// Keep an emitted packet for replay.
    pub(crate) fn record(
        &self,
        offset: u64,
        opts: &BroadcastOptions,
        frames: &[Frame],
        now: Instant,
    ) {
        let mut st = self.lock();
        st.packets.push_back(Stored {
            offset,
            at: now,
            opts: opts.clone(),
            frames: frames.to_vec(),
        });
        self.prune(&mut st, now);
    }

    /// Keep a disconnected socket's state under its private id.
    pub(crate) fn save(&self, pid: String, saved: (Sid, Vec<String>, Value, u64), now: Instant) {
        let (sid, rooms, data, since) = saved;
        let mut st = self.lock();
        self.prune(&mut st, now);
        if st.sessions.len() >= self.config.max_sessions {
            tracing::debug!(%sid, "recovery store full: the session is not kept");
            return;
        }
        st.sessions.insert(
            pid,
            Saved {
                sid,
                rooms,
                data,
                since,
                at: now,
            },
        );
        self.prune(&mut st, now);
    }

    /// Take the state saved under `pid` and the packets it missed after `offset`, if it can
    /// be recovered: saved, not expired, and no missed packet already dropped.
    pub(crate) fn restore(
        &self,
        pid: &str,
        offset: Option<&str>,
        now: Instant,
    ) -> Option<(Saved, Vec<Vec<Frame>>)> {
        let mut st = self.lock();
        self.prune(&mut st, now);
        let saved = st.sessions.remove(pid)?;
        let offset: u64 = match offset {
            Some(o) => o.parse().ok()?,
            None => saved.since,
        };
        if offset >= st.next_offset {
            return None;
        }
        let oldest = st.packets.front().map_or(st.next_offset, |p| p.offset);
        if oldest > offset + 1 {
            // Something after `offset` was already dropped: the client cannot be made whole.
            return None;
        }
        let in_rooms = |rooms: &[String]| rooms.iter().any(|r| saved.rooms.contains(r));
        let missed = st
            .packets
            .iter()
            .filter(|p| p.offset > offset)
            .filter(|p| p.opts.rooms.is_empty() || in_rooms(&p.opts.rooms))
            .filter(|p| !in_rooms(&p.opts.except) && p.opts.exclude != Some(saved.sid))
            .map(|p| p.frames.clone())
            .collect();
        Some((saved, missed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn frame(s: &'static str) -> Vec<Frame> {
        vec![Frame::Text(Bytes::from_static(s.as_bytes()))]
    }

    #[test]
    fn restores_rooms_and_missed_packets_in_order() {
        let store = RecoveryStore::new(RecoveryConfig::default());
        let t0 = Instant::now();
        let sid = Sid::new();
        let o1 = store.next_offset();
        store.record(o1, &BroadcastOptions::default(), &frame("a"), t0);
        store.save(
            "pid".into(),
            (sid, vec![sid.to_string(), "r".into()], Value::Null, 0),
            t0,
        );
        let o2 = store.next_offset();
        store.record(
            o2,
            &BroadcastOptions {
                rooms: vec!["r".into()],
                ..Default::default()
            },
            &frame("b"),
            t0,
        );
        let o3 = store.next_offset();
        store.record(
            o3,
            &BroadcastOptions {
                rooms: vec!["other".into()],
                ..Default::default()
            },
            &frame("c"),
            t0,
        );
        let o4 = store.next_offset();
        store.record(
            o4,
            &BroadcastOptions {
                exclude: Some(sid),
                ..Default::default()
            },
            &frame("d"),
            t0,
        );
        let (saved, missed) = store
            .restore("pid", Some(&o1.to_string()), t0)
            .unwrap_or_else(|| panic!("restorable"));
        assert_eq!(saved.sid, sid);
        assert_eq!(missed, vec![frame("b")]);
        // Restoring consumes the session.
        assert!(store.restore("pid", Some(&o1.to_string()), t0).is_none());
    }

    #[test]
    fn expired_or_pruned_sessions_are_not_restored() {
        let config = RecoveryConfig::default()
            .max_disconnection_duration(Duration::from_secs(1))
            .max_packets(2);
        let store = RecoveryStore::new(config);
        let t0 = Instant::now();
        store.save("old".into(), (Sid::new(), vec![], Value::Null, 0), t0);
        assert!(store
            .restore("old", None, t0 + Duration::from_secs(2))
            .is_none());
        store.save("p".into(), (Sid::new(), vec![], Value::Null, 0), t0);
        for _ in 0..5 {
            let o = store.next_offset();
            store.record(o, &BroadcastOptions::default(), &frame("x"), t0);
        }
        // Offset 1 was dropped (only 2 packets kept): the client missed something unrecoverable.
        assert!(store.restore("p", Some("1"), t0).is_none());
    }

    #[test]
    fn the_session_store_is_bounded() {
        let store = RecoveryStore::new(RecoveryConfig::default().max_sessions(2));
        let t0 = Instant::now();
        for pid in ["a", "b", "c"] {
            store.save(pid.into(), (Sid::new(), vec![], Value::Null, 0), t0);
        }
        assert!(store.restore("a", None, t0).is_some());
        assert!(store.restore("b", None, t0).is_some());
        assert!(
            store.restore("c", None, t0).is_none(),
            "past the cap, nothing is kept"
        );
    }

    #[test]
    fn a_client_without_offset_replays_from_its_connection() {
        let store = RecoveryStore::new(RecoveryConfig::default());
        let t0 = Instant::now();
        let before = store.next_offset();
        store.record(before, &BroadcastOptions::default(), &frame("before"), t0);
        let since = store.current_offset();
        let sid = Sid::new();
        store.save(
            "p".into(),
            (sid, vec![sid.to_string()], Value::Null, since),
            t0,
        );
        let after = store.next_offset();
        store.record(after, &BroadcastOptions::default(), &frame("after"), t0);
        let (_, missed) = store
            .restore("p", None, t0)
            .unwrap_or_else(|| panic!("restorable"));
        assert_eq!(missed, vec![frame("after")]);
    }
}
