//! The limits of `portico serve` (docs/limits.md): their flags, their checks (naming the flag
//! or file key to change) and how they reach the server builder. Their file keys live in
//! [`super::settings::FileConfig`] with the others.

use std::time::Duration;

use clap::Args as ClapArgs;

use super::settings::{
    Name, Settings, EVENT_BURST, EVENT_RATE, HEADER_READ_TIMEOUT, MAX_BUFFER_BYTES,
    MAX_BUFFER_PACKETS, MAX_SESSIONS, UPGRADE_TIMEOUT,
};

/// The limit flags of `portico serve` (every default as `portico::ServerConfig`'s).
#[derive(Debug, Default, ClapArgs)]
pub(crate) struct LimitArgs {
    /// Sessions the server holds at once; more handshakes get 503. Default: 100000.
    #[arg(long, value_name = "N")]
    pub(crate) max_sessions: Option<usize>,
    /// Sessions one client address may hold (behind a --trusted-proxy, the address it
    /// forwards); more get 429. 0 = no limit. Default: 0.
    #[arg(long, value_name = "N")]
    pub(crate) max_sessions_per_ip: Option<usize>,
    /// Outgoing bytes a connection may have waiting before it is closed with `send buffer
    /// full`. Default: 8388608 (8 MiB).
    #[arg(long, value_name = "BYTES")]
    pub(crate) max_buffer_bytes: Option<usize>,
    /// Outgoing packets a connection may have waiting before it is closed with `send buffer
    /// full`. Default: 16384.
    #[arg(long, value_name = "N")]
    pub(crate) max_buffer_packets: Option<usize>,
    /// Packets per second one connection may send on average; faster, it is closed with
    /// `event rate exceeded`. 0 = no limit. Default: 1000.
    #[arg(long, value_name = "PER_SECOND")]
    pub(crate) event_rate: Option<u32>,
    /// Packets one connection may send at once above --event-rate. Default: 2000.
    #[arg(long, value_name = "N")]
    pub(crate) event_burst: Option<u32>,
    /// Binary attachments one packet may announce; more closes the connection. Default: 10.
    #[arg(long, value_name = "N")]
    pub(crate) max_attachments: Option<usize>,
    /// Milliseconds a client has to send its request headers. Default: 10000.
    #[arg(long, value_name = "MS")]
    pub(crate) header_read_timeout: Option<u64>,
    /// Milliseconds a WebSocket has to complete the upgrade of a polling session.
    /// Default: 10000.
    #[arg(long, value_name = "MS")]
    pub(crate) upgrade_timeout: Option<u64>,
}

/// The limits `serve` runs with, after merging flags, file and defaults.
#[derive(Debug, PartialEq)]
pub(crate) struct Limits {
    pub(crate) max_sessions: usize,
    pub(crate) max_sessions_per_ip: usize,
    pub(crate) max_buffer_bytes: usize,
    pub(crate) max_buffer_packets: usize,
    pub(crate) event_rate: u32,
    pub(crate) event_burst: u32,
    pub(crate) max_attachments: usize,
    pub(crate) header_read_timeout: Duration,
    pub(crate) upgrade_timeout: Duration,
}

impl Limits {
    /// Checks what the server builder would refuse, naming the flag or file key.
    pub(crate) fn check(&self, s: &Settings) -> anyhow::Result<()> {
        let at_least_one: [(Name, u64, &str); 3] = [
            (MAX_SESSIONS, self.max_sessions as u64, "100000"),
            (MAX_BUFFER_PACKETS, self.max_buffer_packets as u64, "16384"),
            (
                HEADER_READ_TIMEOUT,
                self.header_read_timeout.as_millis() as u64,
                "10000",
            ),
        ];
        for (name, value, default) in at_least_one.into_iter().chain([(
            UPGRADE_TIMEOUT,
            self.upgrade_timeout.as_millis() as u64,
            "10000",
        )]) {
            if value == 0 {
                anyhow::bail!("{}: must be at least 1 (default: {default})", s.name(name));
            }
        }
        if self.event_rate > 0 && self.event_burst == 0 {
            anyhow::bail!(
                "{}: must be at least 1 while {} is on (default: 2000); to turn the limit off, \
                 set {} to 0",
                s.name(EVENT_BURST),
                s.name(EVENT_RATE),
                s.name(EVENT_RATE)
            );
        }
        let least = (64 * 1024).min(s.max_payload) as usize;
        if self.max_buffer_bytes < least {
            anyhow::bail!(
                "{}: {} cannot hold even one message: use at least {least} (default: 8388608)",
                s.name(MAX_BUFFER_BYTES),
                self.max_buffer_bytes
            );
        }
        Ok(())
    }

    /// Set every limit on `builder`.
    pub(crate) fn apply(&self, builder: portico::ServerBuilder) -> portico::ServerBuilder {
        builder
            .max_sessions(self.max_sessions)
            .max_sessions_per_ip(self.max_sessions_per_ip)
            .max_buffer_bytes(self.max_buffer_bytes)
            .max_buffer_packets(self.max_buffer_packets)
            .event_rate(self.event_rate, self.event_burst)
            .max_attachments(self.max_attachments)
            .header_read_timeout(self.header_read_timeout)
            .upgrade_timeout(self.upgrade_timeout)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::super::ServeArgs;
    use super::*;

    fn settings(toml: &str, limits: LimitArgs) -> Settings {
        let args = ServeArgs {
            config: Some("portico.toml".into()),
            limits,
            ..Default::default()
        };
        Settings::resolve(&args, toml::from_str(toml).unwrap())
    }

    #[test]
    fn limits_come_from_flags_over_the_file_over_the_defaults() {
        let s = settings(
            "max_sessions = 50\nevent_rate = 5\nheader_read_timeout_ms = 2500",
            LimitArgs {
                event_rate: Some(7),
                ..Default::default()
            },
        );
        let d = portico::ServerConfig::default();
        assert_eq!(s.limits.max_sessions, 50);
        assert_eq!(s.limits.event_rate, 7);
        assert_eq!(s.limits.event_burst, d.event_burst);
        assert_eq!(s.limits.header_read_timeout, Duration::from_millis(2500));
        assert_eq!(s.limits.upgrade_timeout, d.upgrade_timeout);
        let io = s.limits.apply(portico::Server::builder()).build().unwrap();
        assert_eq!(io.config().max_sessions, 50);
        assert_eq!(io.config().event_rate, 7);
    }

    #[test]
    fn bad_limits_name_their_flag_or_key() {
        let err =
            |toml: &str, args: LimitArgs| settings(toml, args).check().unwrap_err().to_string();
        assert_eq!(
            err("max_sessions = 0", LimitArgs::default()),
            "max_sessions in portico.toml: must be at least 1 (default: 100000)"
        );
        assert_eq!(
            err(
                "",
                LimitArgs {
                    event_burst: Some(0),
                    ..Default::default()
                }
            ),
            "--event-burst: must be at least 1 while --event-rate is on (default: 2000); to turn \
             the limit off, set --event-rate to 0"
        );
        assert!(err("max_buffer_bytes = 10", LimitArgs::default())
            .starts_with("max_buffer_bytes in portico.toml: 10 cannot hold even one message"));
        assert!(
            settings("event_rate = 0\nevent_burst = 0", LimitArgs::default())
                .check()
                .is_ok()
        );
    }
}
