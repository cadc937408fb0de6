//! Room membership: the [`Adapter`] trait and the in-memory [`LocalAdapter`].
//!
//! An adapter answers "which sockets of this namespace are in these rooms", and is handed
//! every broadcast ([`Adapter::broadcast`]). The in-memory one serves a single node and is
//! the default; another is given per namespace with [`crate::ServerBuilder::adapter`]. On a
//! cluster ([`crate::ServerBuilder::cluster`]) each namespace's adapter is a
//! [`crate::cluster::ClusterAdapter`] around the local one: it keeps the local rooms here and
//! adds the cluster operations, async and fallible, that reach the other nodes.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::RwLock;

use bytes::Bytes;
use portico_proto::engine::Frame;
use portico_proto::sio::Packet;

use crate::errors::EmitError;
use crate::sid::{Sid, SidMap, SidSet};

/// One broadcast as an adapter sees it: where it goes, its frames as this node's sockets
/// get them, and (built only when asked) the structured packet a cluster adapter publishes.
pub struct Broadcast<'a> {
    pub(crate) opts: &'a BroadcastOptions,
    pub(crate) frames: &'a [Frame],
    pub(crate) volatile: bool,
    pub(crate) local: bool,
    pub(crate) packet: &'a dyn Fn() -> Result<(Packet, Vec<Bytes>), EmitError>,
}

impl Broadcast<'_> {
    /// Which sockets it reaches.
    pub fn opts(&self) -> &BroadcastOptions {
        self.opts
    }

    /// The encoded frames (the text packet, then its attachments), shared by every local
    /// socket.
    pub fn frames(&self) -> &[Frame] {
        self.frames
    }

    /// Dropped where a transport cannot take it now (Node's `volatile` flag).
    pub fn volatile(&self) -> bool {
        self.volatile
    }

    /// Only this node's sockets (Node's `local` flag): a cluster adapter does not publish it.
    pub fn local(&self) -> bool {
        self.local
    }

    /// The Socket.IO packet (`["event", ...args]`, binary values as placeholders) and its
    /// attachments: built on this call, so an adapter that does not publish pays nothing.
    pub fn packet(&self) -> Result<(Packet, Vec<Bytes>), EmitError> {
        (self.packet)()
    }
}

impl fmt::Debug for Broadcast<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broadcast")
            .field("opts", self.opts)
            .field("frames", &self.frames.len())
            .field("volatile", &self.volatile)
            .finish()
    }
}

/// Which sockets a broadcast reaches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct BroadcastOptions {
    /// Rooms to reach; empty means every socket of the namespace.
    pub rooms: Vec<String>,
    /// Rooms whose members are left out.
    pub except: Vec<String>,
    /// One socket left out (the sender of a `socket.broadcast`/`socket.to`).
    pub exclude: Option<Sid>,
}

/// Room membership for one namespace. Implementations must be cheap to call concurrently.
pub trait Adapter: Send + Sync + 'static {
    /// Add a socket to rooms.
    fn join(&self, sid: Sid, rooms: &[&str]);
    /// Remove a socket from one room.
    fn leave(&self, sid: Sid, room: &str);
    /// Remove a socket from every room (it disconnected).
    fn leave_all(&self, sid: Sid);
    /// The rooms a socket is in.
    fn rooms_of(&self, sid: Sid) -> Vec<String>;
    /// Every room that has members.
    fn rooms(&self) -> Vec<String>;
    /// Whether `room` has members. The default looks through [`Adapter::rooms`]; override it
    /// when you can answer faster.
    fn has_room(&self, room: &str) -> bool {
        self.rooms().iter().any(|r| r == room)
    }
    /// Call `f` once for every socket the options select.
    fn for_each_target(&self, opts: &BroadcastOptions, f: &mut dyn FnMut(Sid));
    /// Deliver `broadcast`: call `deliver` for every local socket it reaches (what the
    /// default does). A cluster adapter also publishes [`Broadcast::packet`] here.
    fn broadcast(&self, broadcast: &Broadcast<'_>, deliver: &mut dyn FnMut(Sid)) {
        self.for_each_target(broadcast.opts, deliver);
    }
    /// The cluster half, when this adapter is a cluster's. Default: `None` (one node).
    fn cluster(&self) -> Option<&crate::cluster::ClusterAdapter> {
        None
    }
    /// Whether consecutive broadcasts to the same selection, made within one handler poll,
    /// may be delivered together, computing the selection once (`true` for the in-memory
    /// adapter). Only an adapter whose [`Adapter::broadcast`] is the default may say so. Its
    /// membership must change only through [`Adapter::join`], [`Adapter::leave`] and
    /// [`Adapter::leave_all`], each delivering what is held first. Default: `false` (each
    /// broadcast reaches [`Adapter::broadcast`] as it is made).
    #[doc(hidden)]
    fn coalesces(&self) -> bool {
        false
    }
}

/// The in-memory adapter (one node).
///
/// Every socket is in the room named by its own id (Node's default, what `io.to(id)` sends
/// to). That membership is kept as a flag on the socket rather than as a room of its own:
/// a room entry, its member set and two copies of the name would cost every connected
/// socket some 400 bytes for a room that has one member by construction. Another socket can
/// still join a room named like an id; it is then stored as any room is, and both are
/// members.
#[derive(Debug, Default)]
pub struct LocalAdapter {
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The rooms and their members, but for each socket's own room.
    rooms: HashMap<String, SidSet>,
    sids: SidMap<Rooms>,
}

/// The rooms of one socket.
#[derive(Debug, Default)]
struct Rooms {
    /// In the room named by its own id.
    own: bool,
    /// The others.
    others: HashSet<String>,
}

impl State {
    /// The socket whose own room `room` is, when it is in it.
    fn own_room_member(&self, room: &str) -> Option<Sid> {
        let sid = Sid::parse(room)?;
        self.sids.get(&sid).is_some_and(|r| r.own).then_some(sid)
    }

    /// Whether `sid` is in `room`.
    fn is_member(&self, sid: &Sid, room: &str) -> bool {
        self.rooms.get(room).is_some_and(|m| m.contains(sid))
            || (room == sid.as_str() && self.sids.get(sid).is_some_and(|r| r.own))
    }
}

impl LocalAdapter {
    /// An empty adapter.
    pub fn new() -> LocalAdapter {
        LocalAdapter::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl Adapter for LocalAdapter {
    fn coalesces(&self) -> bool {
        true
    }

    fn join(&self, sid: Sid, rooms: &[&str]) {
        crate::engine::defer::deliver_held();
        let mut st = self.write();
        for room in rooms {
            if *room == sid.as_str() {
                st.sids.entry(sid).or_default().own = true;
                continue;
            }
            st.rooms.entry((*room).to_owned()).or_default().insert(sid);
            st.sids
                .entry(sid)
                .or_default()
                .others
                .insert((*room).to_owned());
        }
    }

    fn leave(&self, sid: Sid, room: &str) {
        crate::engine::defer::deliver_held();
        let mut st = self.write();
        if room == sid.as_str() {
            if let Some(rooms) = st.sids.get_mut(&sid) {
                rooms.own = false;
            }
            return;
        }
        if let Some(members) = st.rooms.get_mut(room) {
            members.remove(&sid);
            if members.is_empty() {
                st.rooms.remove(room);
            }
        }
        if let Some(rooms) = st.sids.get_mut(&sid) {
            rooms.others.remove(room);
        }
    }

    fn leave_all(&self, sid: Sid) {
        crate::engine::defer::deliver_held();
        let mut st = self.write();
        if let Some(rooms) = st.sids.remove(&sid) {
            for room in rooms.others {
                if let Some(members) = st.rooms.get_mut(&room) {
                    members.remove(&sid);
                    if members.is_empty() {
                        st.rooms.remove(&room);
                    }
                }
            }
        }
    }

    fn rooms_of(&self, sid: Sid) -> Vec<String> {
        let mut v: Vec<String> = match self.read().sids.get(&sid) {
            Some(r) => {
                let own = r.own.then(|| sid.to_string());
                r.others.iter().cloned().chain(own).collect()
            }
            None => Vec::new(),
        };
        v.sort();
        v
    }

    fn rooms(&self) -> Vec<String> {
        let st = self.read();
        let own = st
            .sids
            .iter()
            .filter(|(_, r)| r.own)
            .map(|(sid, _)| sid.to_string());
        let mut v: Vec<String> = st.rooms.keys().cloned().chain(own).collect();
        v.sort();
        // An own room that another socket joined too is in both.
        v.dedup();
        v
    }

    fn has_room(&self, room: &str) -> bool {
        let st = self.read();
        st.rooms.contains_key(room) || st.own_room_member(room).is_some()
    }

    fn for_each_target(&self, opts: &BroadcastOptions, f: &mut dyn FnMut(Sid)) {
        let st = self.read();
        let excluded = |sid: &Sid| {
            opts.exclude.as_ref() == Some(sid) || opts.except.iter().any(|r| st.is_member(sid, r))
        };
        match opts.rooms.as_slice() {
            [] => st.sids.keys().filter(|s| !excluded(s)).for_each(|s| f(*s)),
            [room] => {
                if let Some(members) = st.rooms.get(room) {
                    members.iter().filter(|s| !excluded(s)).for_each(|s| f(*s));
                }
                // Not among the stored members: own rooms are not stored.
                if let Some(sid) = st.own_room_member(room).filter(|s| !excluded(s)) {
                    f(sid);
                }
            }
            rooms => {
                let mut seen = SidSet::default();
                for room in rooms {
                    let own = st.own_room_member(room);
                    let members = st.rooms.get(room).into_iter().flatten().chain(own.as_ref());
                    for s in members {
                        if !excluded(s) && seen.insert(*s) {
                            f(*s);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(
        a: &LocalAdapter,
        rooms: &[&str],
        except: &[&str],
        exclude: Option<Sid>,
    ) -> HashSet<Sid> {
        let opts = BroadcastOptions {
            rooms: rooms.iter().map(|s| s.to_string()).collect(),
            except: except.iter().map(|s| s.to_string()).collect(),
            exclude,
        };
        let mut out = HashSet::new();
        a.for_each_target(&opts, &mut |s| {
            assert!(out.insert(s), "delivered twice");
        });
        out
    }

    #[test]
    fn rooms_select_and_except_and_exclude() {
        let a = LocalAdapter::new();
        let (s1, s2, s3) = (Sid::new(), Sid::new(), Sid::new());
        a.join(s1, &[s1.as_str(), "r1", "r2"]);
        a.join(s2, &[s2.as_str(), "r1"]);
        a.join(s3, &[s3.as_str()]);
        assert_eq!(targets(&a, &[], &[], None), HashSet::from([s1, s2, s3]));
        assert_eq!(targets(&a, &["r1"], &[], None), HashSet::from([s1, s2]));
        assert_eq!(
            targets(&a, &["r1", "r2"], &[], None),
            HashSet::from([s1, s2])
        );
        assert_eq!(targets(&a, &[], &["r2"], None), HashSet::from([s2, s3]));
        assert_eq!(targets(&a, &["r1"], &[], Some(s1)), HashSet::from([s2]));
        assert_eq!(targets(&a, &["nope"], &[], None), HashSet::new());
        a.leave(s1, "r1");
        assert_eq!(targets(&a, &["r1"], &[], None), HashSet::from([s2]));
        a.leave_all(s2);
        assert_eq!(targets(&a, &["r1"], &[], None), HashSet::new());
        assert_eq!(a.rooms_of(s1), {
            let mut v = vec![s1.to_string(), "r2".to_string()];
            v.sort();
            v
        });
        assert!(!a.rooms().contains(&"r1".to_string()));
    }

    #[test]
    fn own_rooms_behave_as_stored_rooms() {
        let a = LocalAdapter::new();
        let (s1, s2, s3) = (Sid::new(), Sid::new(), Sid::new());
        a.join(s1, &[s1.as_str(), "r"]);
        a.join(s2, &[s2.as_str()]);
        a.join(s3, &[s3.as_str(), "r"]);
        let own1 = s1.to_string();
        // An own room reaches its socket, alone or with other rooms, minus except/exclude.
        assert_eq!(targets(&a, &[&own1], &[], None), HashSet::from([s1]));
        assert_eq!(
            targets(&a, &[&own1, "r", s2.as_str()], &[], None),
            HashSet::from([s1, s2, s3])
        );
        assert_eq!(targets(&a, &["r"], &[&own1], None), HashSet::from([s3]));
        assert_eq!(targets(&a, &[&own1], &[], Some(s1)), HashSet::new());
        assert!(a.has_room(&own1));
        assert_eq!(a.rooms_of(s1), {
            let mut v = vec![own1.clone(), "r".to_string()];
            v.sort();
            v
        });
        // Another socket can join a room named like an id: both are in it, listed once.
        a.join(s2, &[&own1]);
        assert_eq!(targets(&a, &[&own1], &[], None), HashSet::from([s1, s2]));
        assert_eq!(targets(&a, &[], &[&own1], None), HashSet::from([s3]));
        assert_eq!(a.rooms().iter().filter(|r| **r == own1).count(), 1);
        assert!(a.rooms_of(s2).contains(&own1));
        // Leaving one's own room; the other member stays.
        a.leave(s1, &own1);
        assert_eq!(targets(&a, &[&own1], &[], None), HashSet::from([s2]));
        assert!(!a.rooms_of(s1).contains(&own1));
        assert_eq!(targets(&a, &[], &[], None), HashSet::from([s1, s2, s3]));
        a.leave(s2, &own1);
        assert!(!a.has_room(&own1));
        assert!(!a.rooms().contains(&own1));
        // Joining it again; then leaving everything.
        a.join(s1, &[&own1]);
        assert_eq!(targets(&a, &[&own1], &[], None), HashSet::from([s1]));
        a.leave_all(s1);
        assert!(!a.has_room(&own1));
        assert_eq!(targets(&a, &["r"], &[], None), HashSet::from([s3]));
        assert_eq!(targets(&a, &[], &[], None), HashSet::from([s2, s3]));
        assert!(a.rooms_of(s1).is_empty());
        // A name that is only shaped like an id is an ordinary room.
        let stranger = Sid::new();
        assert!(!a.has_room(stranger.as_str()));
        a.join(s3, &[stranger.as_str()]);
        assert_eq!(
            targets(&a, &[stranger.as_str()], &[], None),
            HashSet::from([s3])
        );
    }
}
