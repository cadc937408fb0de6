//! Timeouts, backoff and bounds of a link.

use std::time::Duration;

use super::RedisError;
use crate::resp::Limits;

/// Settings shared by [`Publisher`](super::Publisher) and [`Subscriber`](super::Subscriber).
///
/// Start from `LinkOptions::default()` and assign the fields to change; values are checked by
/// `connect`, which refuses out-of-range ones with [`RedisError::InvalidOptions`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkOptions {
    /// Bound on one connection attempt: TCP connect plus `AUTH`, `SELECT` and `PING`.
    /// Must be above zero. Default: 5 s.
    pub connect_timeout: Duration,
    /// Default bound on a request/response call (`command`, `numsub`, and the confirmation
    /// awaited by `subscribe`). Must be above zero. Default: 5 s.
    pub command_timeout: Duration,
    /// First delay before reconnecting after the link is lost; doubled after each failed
    /// attempt. Must be above zero. Default: 50 ms.
    pub reconnect_min: Duration,
    /// Cap on the reconnect delay; reconnecting never stops while a handle exists.
    /// Must be at least `reconnect_min`. Default: 2 s.
    pub reconnect_max: Duration,
    /// Bound on the bytes of commands queued for the writer and not yet handed to the socket;
    /// beyond it calls fail with [`RedisError::QueueFull`]. Must be above zero. Default: 16 MiB.
    pub max_queued_bytes: usize,
    /// Bound on the commands queued for the writer, and separately on the commands written
    /// but not yet answered; beyond it calls fail with [`RedisError::QueueFull`].
    /// Must be from 1 to 2^30. Default: 65 536.
    pub max_queued_commands: usize,
    /// What the reply decoder accepts from the server. Default: [`Limits::default`].
    pub limits: Limits,
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions {
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(5),
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(2),
            max_queued_bytes: 16 * 1024 * 1024,
            max_queued_commands: 65_536,
            limits: Limits::default(),
        }
    }
}

impl LinkOptions {
    pub(crate) fn check(&self) -> Result<(), RedisError> {
        let bad = |reason: &str| {
            Err(RedisError::InvalidOptions {
                reason: reason.into(),
            })
        };
        if self.connect_timeout.is_zero() {
            return bad("connect_timeout must be above zero (default 5 s)");
        }
        if self.command_timeout.is_zero() {
            return bad("command_timeout must be above zero (default 5 s)");
        }
        if self.reconnect_min.is_zero() {
            return bad("reconnect_min must be above zero (default 50 ms)");
        }
        if self.reconnect_max < self.reconnect_min {
            return bad("reconnect_max must be at least reconnect_min (defaults 2 s and 50 ms)");
        }
        if self.max_queued_bytes == 0 {
            return bad("max_queued_bytes must be above zero (default 16 MiB)");
        }
        if self.max_queued_commands == 0 || self.max_queued_commands > 1 << 30 {
            return bad("max_queued_commands must be from 1 to 2^30 (default 65536)");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Change = fn(&mut LinkOptions);

    #[test]
    fn defaults_pass_and_out_of_range_values_say_how_to_fix_them() {
        assert_eq!(LinkOptions::default().check(), Ok(()));
        let cases: [(Change, &str); 5] = [
            (|o| o.connect_timeout = Duration::ZERO, "connect_timeout"),
            (|o| o.reconnect_min = Duration::ZERO, "reconnect_min"),
            (
                |o| o.reconnect_max = Duration::from_millis(1),
                "reconnect_max",
            ),
            (|o| o.max_queued_bytes = 0, "max_queued_bytes"),
            (
                |o| o.max_queued_commands = usize::MAX,
                "max_queued_commands",
            ),
        ];
        for (change, name) in cases {
            let mut o = LinkOptions::default();
            change(&mut o);
            let err = o.check().map_err(|e| e.to_string());
            assert!(
                matches!(&err, Err(e) if e.contains(name) && e.contains("default")),
                "{err:?}"
            );
        }
    }
}
