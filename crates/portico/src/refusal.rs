//! Refusals: every request, connection or socket the server turned away, counted by reason,
//! and the warnings about them rate-limited, so that a hostile client cannot flood the log.
//!
//! Each reason keeps a counter (read by [`crate::Server::refusals`]) and a log window: at most
//! [`WARN_BURST`] warnings per [`WARN_INTERVAL`]; past that they are counted, and the first
//! refusal of a later window logs `suppressed K similar warnings` before its own line. All of
//! it is atomics: no lock and no allocation per refusal.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Warnings logged per reason in one [`WARN_INTERVAL`].
/// Enough for every refusal of a normal day to be seen (a misconfigured origin, a client
/// retrying), few enough that a flood writes 2 lines a second per reason.
pub(crate) const WARN_BURST: u64 = 20;

/// The window of [`WARN_BURST`].
pub(crate) const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Why the server turned a client away. The set is fixed, so counters can be exported as
/// metrics with a stable label per reason ([`Reason::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The origin policy refused the request (403, code 4).
    Origin,
    /// The `allow_request` hook refused the handshake (403, code 4).
    AllowRequest,
    /// A malformed request: unknown transport, bad method, bad upgrade (400, codes 0, 2, 3).
    BadRequest,
    /// A client of a protocol version the server does not speak (400, code 5): `EIO=3`
    /// (socket.io-client 2.x) without `allow_eio3`, or a version no server speaks.
    UnsupportedVersion,
    /// A session id the server does not know (400, code 1).
    UnknownSid,
    /// `max_sessions` reached (503, code 4).
    MaxSessions,
    /// `max_sessions_per_ip` reached for the client's address (429, code 4).
    MaxSessionsPerIp,
    /// A polling POST over `max_payload` (413).
    PayloadTooLarge,
    /// A connection sent events faster than `event_rate` allows: closed.
    EventRate,
    /// A connection did not read and its queue passed `max_buffer_bytes` or
    /// `max_buffer_packets`: closed with `send buffer full`.
    SendBufferFull,
    /// An HTTP connection did not finish its request headers within `header_read_timeout`.
    HeaderTimeout,
    /// A WebSocket upgrade of a polling session did not complete within `upgrade_timeout`.
    UpgradeTimeout,
    /// A packet announced more binary attachments than `max_attachments`: closed.
    Attachments,
}

impl Reason {
    /// Every reason, in the order [`Refusals::snapshot`] reports them.
    pub(crate) const ALL: [Reason; 13] = [
        Reason::Origin,
        Reason::AllowRequest,
        Reason::BadRequest,
        Reason::UnsupportedVersion,
        Reason::UnknownSid,
        Reason::MaxSessions,
        Reason::MaxSessionsPerIp,
        Reason::PayloadTooLarge,
        Reason::EventRate,
        Reason::SendBufferFull,
        Reason::HeaderTimeout,
        Reason::UpgradeTimeout,
        Reason::Attachments,
    ];

    /// The reason's name: a stable, lowercase label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::Origin => "origin",
            Reason::AllowRequest => "allow_request",
            Reason::BadRequest => "bad_request",
            Reason::UnsupportedVersion => "unsupported_version",
            Reason::UnknownSid => "unknown_sid",
            Reason::MaxSessions => "max_sessions",
            Reason::MaxSessionsPerIp => "max_sessions_per_ip",
            Reason::PayloadTooLarge => "payload_too_large",
            Reason::EventRate => "event_rate",
            Reason::SendBufferFull => "send_buffer_full",
            Reason::HeaderTimeout => "header_read_timeout",
            Reason::UpgradeTimeout => "upgrade_timeout",
            Reason::Attachments => "max_attachments",
        }
    }

    fn index(self) -> usize {
        Reason::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// The counters and log windows of every [`Reason`].
#[derive(Debug)]
pub(crate) struct Refusals {
    /// When the counters started, for the log windows (tokio's clock: paused in tests).
    start: tokio::time::Instant,
    slots: [Slot; Reason::ALL.len()],
}

#[derive(Debug, Default)]
struct Slot {
    /// Refusals since the server started.
    total: AtomicU64,
    /// The current log window: its number (milliseconds since `start` / interval), and the
    /// refusals counted in it, packed as `window << 20 | count` (the count saturates).
    window: AtomicU64,
    /// Warnings not logged since the last line that was.
    suppressed: AtomicU64,
}

const COUNT_BITS: u32 = 20;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

impl Default for Refusals {
    fn default() -> Self {
        Refusals {
            start: tokio::time::Instant::now(),
            slots: Default::default(),
        }
    }
}

impl Refusals {
    /// Count one refusal for `reason`; `true` when its warning should be logged now. When
    /// earlier warnings were suppressed, logs how many first (`suppressed K similar
    /// warnings`).
    pub(crate) fn record(&self, reason: Reason) -> bool {
        let slot = &self.slots[reason.index()];
        slot.total.fetch_add(1, Ordering::Relaxed);
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.start);
        let window = (elapsed.as_millis() / WARN_INTERVAL.as_millis().max(1)) as u64;
        let mut seen = slot.window.load(Ordering::Relaxed);
        let count = loop {
            let (w, c) = (seen >> COUNT_BITS, seen & COUNT_MASK);
            let next = if w == window {
                (w << COUNT_BITS) | (c + 1).min(COUNT_MASK)
            } else {
                (window << COUNT_BITS) | 1
            };
            match slot.window.compare_exchange_weak(
                seen,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break next & COUNT_MASK,
                Err(now) => seen = now,
            }
        };
        if count > WARN_BURST {
            slot.suppressed.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        if count == 1 {
            let skipped = slot.suppressed.swap(0, Ordering::Relaxed);
            if skipped > 0 {
                tracing::warn!(
                    reason = reason.as_str(),
                    suppressed = skipped,
                    "suppressed {skipped} similar warnings ({}) in the previous {}s",
                    reason.as_str(),
                    WARN_INTERVAL.as_secs()
                );
            }
        }
        true
    }

    /// Count one refusal for `reason` that is logged at debug level only: it takes no part in
    /// the warnings' rate limit.
    pub(crate) fn count_quietly(&self, reason: Reason) {
        self.slots[reason.index()]
            .total
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Refusals since the server started, by reason (every reason, zeros included).
    pub(crate) fn snapshot(&self) -> Vec<(&'static str, u64)> {
        Reason::ALL
            .iter()
            .map(|r| {
                (
                    r.as_str(),
                    self.slots[r.index()].total.load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    /// Refusals counted for `reason`.
    #[cfg(test)]
    pub(crate) fn count(&self, reason: Reason) -> u64 {
        self.slots[reason.index()].total.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn warnings_are_limited_per_window_and_reason() {
        let r = Refusals::default();
        let logged = (0..100).filter(|_| r.record(Reason::Origin)).count();
        assert_eq!(logged as u64, WARN_BURST);
        // Another reason has its own budget.
        assert!(r.record(Reason::MaxSessions));
        assert_eq!(r.count(Reason::Origin), 100);
        assert_eq!(
            r.slots[Reason::Origin.index()]
                .suppressed
                .load(Ordering::Relaxed),
            100 - WARN_BURST
        );
        tokio::time::advance(WARN_INTERVAL).await;
        // A new window: logged again, and the suppressed count is reported and reset.
        assert!(r.record(Reason::Origin));
        assert_eq!(
            r.slots[Reason::Origin.index()]
                .suppressed
                .load(Ordering::Relaxed),
            0
        );
        let snap = r.snapshot();
        assert_eq!(snap.len(), Reason::ALL.len());
        assert!(snap.contains(&("origin", 101)));
        assert!(snap.contains(&("max_sessions", 1)));
        assert!(snap.contains(&("event_rate", 0)));
    }

    #[tokio::test(start_paused = true)]
    async fn refusals_counted_quietly_leave_the_warnings_budget_alone() {
        let r = Refusals::default();
        for _ in 0..100 {
            r.count_quietly(Reason::BadRequest);
        }
        // Malformed requests (at debug) do not use up the warnings of another reason, nor of
        // their own.
        let logged = (0..100).filter(|_| r.record(Reason::BadRequest)).count();
        assert_eq!(logged as u64, WARN_BURST);
        assert_eq!(r.count(Reason::BadRequest), 200);
        let logged = (0..100)
            .filter(|_| r.record(Reason::UnsupportedVersion))
            .count();
        assert_eq!(logged as u64, WARN_BURST);
        assert_eq!(r.count(Reason::UnsupportedVersion), 100);
    }
}
