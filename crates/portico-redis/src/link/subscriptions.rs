//! The subscriptions a subscriber wants, in the order they were first asked for.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

use super::Kind;

/// An insertion-ordered set of `(kind, channel)`: O(log n) insert and remove, ordered replay.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    next: u64,
    order: BTreeMap<u64, (Kind, Bytes)>,
    index: HashMap<(Kind, Bytes), u64>,
}

impl Subscriptions {
    /// Adds a subscription at the end; false (and no move) when it is already there.
    pub(crate) fn insert(&mut self, kind: Kind, channel: Bytes) -> bool {
        if self.index.contains_key(&(kind, channel.clone())) {
            return false;
        }
        let seq = self.next;
        self.next += 1;
        self.order.insert(seq, (kind, channel.clone()));
        self.index.insert((kind, channel), seq);
        true
    }

    /// Forgets a subscription; false when it was not there.
    pub(crate) fn remove(&mut self, kind: Kind, channel: &Bytes) -> bool {
        match self.index.remove(&(kind, channel.clone())) {
            Some(seq) => self.order.remove(&seq).is_some(),
            None => false,
        }
    }

    /// Every subscription, oldest first, in runs of one kind of at most `chunk` channels: the
    /// commands that restore them in order.
    pub(crate) fn batches(&self, chunk: usize) -> Vec<(Kind, Vec<Bytes>)> {
        let mut out: Vec<(Kind, Vec<Bytes>)> = Vec::new();
        for (kind, channel) in self.order.values() {
            match out.last_mut() {
                Some((k, channels)) if k == kind && channels.len() < chunk => {
                    channels.push(channel.clone())
                }
                _ => out.push((*kind, vec![channel.clone()])),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn replays_in_first_insertion_order_grouped_by_kind() {
        let mut s = Subscriptions::default();
        assert!(s.insert(Kind::Channel, b("a")));
        assert!(s.insert(Kind::Channel, b("b")));
        assert!(s.insert(Kind::Pattern, b("p*")));
        assert!(s.insert(Kind::Channel, b("c")));
        assert!(
            !s.insert(Kind::Channel, b("a")),
            "a duplicate keeps its place"
        );
        assert!(
            s.insert(Kind::Shard, b("a")),
            "the same name in another kind is another subscription"
        );
        assert_eq!(
            s.batches(10),
            vec![
                (Kind::Channel, vec![b("a"), b("b")]),
                (Kind::Pattern, vec![b("p*")]),
                (Kind::Channel, vec![b("c")]),
                (Kind::Shard, vec![b("a")]),
            ]
        );
        assert!(s.remove(Kind::Channel, &b("b")));
        assert!(!s.remove(Kind::Channel, &b("b")));
        assert!(s.insert(Kind::Channel, b("b")), "re-added at the end");
        assert_eq!(s.batches(1).len(), 5);
        assert_eq!(s.batches(1).last(), Some(&(Kind::Channel, vec![b("b")])));
    }
}
