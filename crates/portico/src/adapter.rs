//! Room membership: the [`Adapter`] trait and the in-memory [`LocalAdapter`].
//!
//! An adapter answers "which sockets of this namespace are in these rooms". The in-memory
//! one serves a single node; a cluster adapter (Redis) wraps it and also forwards broadcasts
//! to the other nodes.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use crate::sid::{Sid, SidMap, SidSet};

/// Which sockets a broadcast reaches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// Call `f` once for every socket the options select.
    fn for_each_target(&self, opts: &BroadcastOptions, f: &mut dyn FnMut(Sid));
}

/// The in-memory adapter (one node).
#[derive(Debug, Default)]
pub struct LocalAdapter {
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    rooms: HashMap<String, SidSet>,
    sids: SidMap<HashSet<String>>,
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
    fn join(&self, sid: Sid, rooms: &[&str]) {
        let mut st = self.write();
        for room in rooms {
            st.rooms.entry((*room).to_owned()).or_default().insert(sid);
            st.sids.entry(sid).or_default().insert((*room).to_owned());
        }
    }

    fn leave(&self, sid: Sid, room: &str) {
        let mut st = self.write();
        if let Some(members) = st.rooms.get_mut(room) {
            members.remove(&sid);
            if members.is_empty() {
                st.rooms.remove(room);
            }
        }
        if let Some(rooms) = st.sids.get_mut(&sid) {
            rooms.remove(room);
        }
    }

    fn leave_all(&self, sid: Sid) {
        let mut st = self.write();
        if let Some(rooms) = st.sids.remove(&sid) {
            for room in rooms {
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
        let mut v: Vec<String> = self
            .read()
            .sids
            .get(&sid)
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    fn rooms(&self) -> Vec<String> {
        let mut v: Vec<String> = self.read().rooms.keys().cloned().collect();
        v.sort();
        v
    }

    fn for_each_target(&self, opts: &BroadcastOptions, f: &mut dyn FnMut(Sid)) {
        let st = self.read();
        let excluded = |sid: &Sid| {
            opts.exclude.as_ref() == Some(sid)
                || opts
                    .except
                    .iter()
                    .any(|r| st.rooms.get(r).is_some_and(|m| m.contains(sid)))
        };
        match opts.rooms.as_slice() {
            [] => st.sids.keys().filter(|s| !excluded(s)).for_each(|s| f(*s)),
            [room] => {
                if let Some(members) = st.rooms.get(room) {
                    members.iter().filter(|s| !excluded(s)).for_each(|s| f(*s));
                }
            }
            rooms => {
                let mut seen = SidSet::default();
                for room in rooms {
                    if let Some(members) = st.rooms.get(room) {
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
}
