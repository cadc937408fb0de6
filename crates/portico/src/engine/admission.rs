//! Admission of new sessions: `max_sessions` and `max_sessions_per_ip`, reserved at the
//! handshake (before the session exists, so concurrent handshakes cannot overshoot) and
//! released when the session's driver ends.
//!
//! The total is one atomic; the per-address table is touched only when
//! `max_sessions_per_ip` is on, and only at handshakes and closes, never per packet.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Why a handshake was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `max_sessions` sessions are open.
    Full,
    /// The client's address holds `max_sessions_per_ip` sessions.
    PerIp,
}

/// The session counts of one engine.
#[derive(Debug)]
pub(crate) struct Admission {
    max_sessions: usize,
    /// `0`: no per-address limit.
    max_per_ip: usize,
    open: AtomicUsize,
    per_ip: Mutex<HashMap<IpKey, usize>>,
}

/// What the per-address limit counts: an IPv4 address, or the /64 prefix of an IPv6 one (one
/// host usually holds a whole /64, so counting single IPv6 addresses would limit nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum IpKey {
    V4([u8; 4]),
    V6Prefix([u8; 8]),
}

impl IpKey {
    pub(crate) fn of(ip: IpAddr) -> IpKey {
        match ip.to_canonical() {
            IpAddr::V4(v4) => IpKey::V4(v4.octets()),
            IpAddr::V6(v6) => {
                let o = v6.octets();
                IpKey::V6Prefix([o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]])
            }
        }
    }
}

/// One admitted session's place in the counts; dropping it gives the place back.
#[derive(Debug)]
pub(crate) struct Slot {
    admission: Arc<Admission>,
    ip: Option<IpKey>,
}

impl Admission {
    pub(crate) fn new(max_sessions: usize, max_per_ip: usize) -> Admission {
        Admission {
            max_sessions,
            max_per_ip,
            open: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
        }
    }

    /// Reserve a place for a new session from `ip` (unknown: only the total applies).
    pub(crate) fn admit(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<Slot, Refused> {
        let max = self.max_sessions;
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| Refused::Full)?;
        let key = match ip {
            Some(ip) if self.max_per_ip > 0 => {
                let key = IpKey::of(ip);
                let mut table = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
                let n = table.entry(key).or_insert(0);
                if *n >= self.max_per_ip {
                    drop(table);
                    self.open.fetch_sub(1, Ordering::AcqRel);
                    return Err(Refused::PerIp);
                }
                *n += 1;
                Some(key)
            }
            _ => None,
        };
        Ok(Slot {
            admission: self.clone(),
            ip: key,
        })
    }

    /// Sessions holding a place.
    #[cfg(test)]
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(key) = self.ip {
            let mut table = self
                .admission
                .per_ip
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(n) = table.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    table.remove(&key);
                }
            }
        }
        self.admission.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn totals_and_addresses_are_counted_and_released() {
        let a = Arc::new(Admission::new(3, 2));
        let ip1: IpAddr = "10.0.0.1".parse().unwrap();
        let ip2: IpAddr = "10.0.0.2".parse().unwrap();
        let s1 = a.admit(Some(ip1)).unwrap();
        let s2 = a.admit(Some(ip1)).unwrap();
        assert_eq!(a.admit(Some(ip1)).unwrap_err(), Refused::PerIp);
        assert_eq!(a.open(), 2, "a refused handshake holds no place");
        let s3 = a.admit(Some(ip2)).unwrap();
        assert_eq!(a.admit(None).unwrap_err(), Refused::Full);
        drop(s1);
        let s4 = a.admit(Some(ip1)).unwrap();
        drop((s2, s3, s4));
        assert_eq!(a.open(), 0);
        assert!(a.per_ip.lock().unwrap().is_empty(), "no entry left behind");
    }

    #[test]
    fn ipv6_is_counted_per_64_prefix_and_mapped_ipv4_as_ipv4() {
        let a = Arc::new(Admission::new(10, 1));
        let _s = a.admit(Some("2001:db8::1".parse().unwrap())).unwrap();
        assert_eq!(
            a.admit(Some("2001:db8::2".parse().unwrap())).unwrap_err(),
            Refused::PerIp
        );
        let _t = a.admit(Some("192.0.2.1".parse().unwrap())).unwrap();
        assert_eq!(
            a.admit(Some("::ffff:192.0.2.1".parse().unwrap()))
                .unwrap_err(),
            Refused::PerIp
        );
    }
}
