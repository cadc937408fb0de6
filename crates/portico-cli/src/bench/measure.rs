//! What the bench measures besides its own timings: CPU and memory of a process from
//! `/proc` (Linux), and latency percentiles.

use std::time::{Duration, Instant};

use serde::Serialize;

/// Clock ticks per second for `/proc/PID/stat` times: `getconf CLK_TCK`, read once; 100 (the
/// value on every Linux this runs on) if that fails. `sysconf` is out of reach without libc.
pub(crate) fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// CPU seconds (user + system) used so far by `pid` (`"self"` for this process).
pub(crate) fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) in parentheses; utime and
    // stime are fields 14 and 15, i.e. the 12th and 13th after the ')'.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// Resident memory of `pid`, in KiB (`VmRSS` of `/proc/PID/status`).
pub(crate) fn rss_kb(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU seconds the hypervisor has taken from this machine's cores so far (`steal` of the
/// `cpu` line of `/proc/stat`, all cores summed); `None` where there is no such file.
pub(crate) fn steal_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    // user nice system idle iowait irq softirq steal ...
    let steal: f64 = line.split_whitespace().nth(8)?.parse().ok()?;
    Some(steal / clock_ticks())
}

/// One reading of the client and the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Snapshot {
    at: Instant,
    client_cpu: Option<f64>,
    server_cpu: Option<f64>,
    server_rss_kb: Option<u64>,
    steal: Option<f64>,
}

/// Reads the client (this process) and, when their pids are known, the server's processes
/// (one, or the nodes of a cluster: CPU and RSS are their sums, and `None` if any of them
/// cannot be read).
#[derive(Debug, Clone, Default)]
pub(crate) struct Probe {
    pub server_pids: Vec<u32>,
}

/// The sum of `read` over `pids`; `None` when there are none or one fails.
fn sum_over<T: std::iter::Sum<T>>(pids: &[u32], read: fn(&str) -> Option<T>) -> Option<T> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|p| read(&p.to_string())).sum()
}

impl Probe {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            client_cpu: cpu_seconds("self"),
            server_cpu: sum_over(&self.server_pids, cpu_seconds),
            server_rss_kb: sum_over(&self.server_pids, rss_kb),
            steal: steal_seconds(),
        }
    }

    /// Whether a server pid was given.
    pub fn has_server(&self) -> bool {
        !self.server_pids.is_empty()
    }

    /// The server's RSS now, in KiB.
    pub fn server_rss_kb(&self) -> Option<u64> {
        sum_over(&self.server_pids, rss_kb)
    }
}

/// What a phase cost, between two snapshots.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub(crate) struct Usage {
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// CPU seconds of this (client) process.
    pub client_cpu_s: f64,
    /// The client's CPU as a share of one core (1.0 = one full core).
    pub client_cores: f64,
    /// CPU seconds of the server, with --server-pid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_s: Option<f64>,
    /// Server RSS at the start, KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_kb_before: Option<u64>,
    /// Server RSS at the end, KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_kb_after: Option<u64>,
    /// Milliseconds of CPU the hypervisor took from the machine's cores over the phase (all
    /// cores summed). On a virtual machine this is what stalls a server or the client for
    /// milliseconds at a time and lengthens the latency tail, whatever the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steal_ms: Option<f64>,
}

impl Snapshot {
    pub fn usage_since(&self, start: &Snapshot) -> Usage {
        let wall_s = self.at.duration_since(start.at).as_secs_f64();
        let client_cpu_s = match (self.client_cpu, start.client_cpu) {
            (Some(b), Some(a)) => b - a,
            _ => 0.0,
        };
        Usage {
            wall_s,
            client_cpu_s,
            client_cores: if wall_s > 0.0 {
                client_cpu_s / wall_s
            } else {
                0.0
            },
            server_cpu_s: match (self.server_cpu, start.server_cpu) {
                (Some(b), Some(a)) => Some(b - a),
                _ => None,
            },
            server_rss_kb_before: start.server_rss_kb,
            server_rss_kb_after: self.server_rss_kb,
            steal_ms: match (self.steal, start.steal) {
                (Some(b), Some(a)) => Some(((b - a).max(0.0) * 1e3).round()),
                _ => None,
            },
        }
    }
}

/// Latencies, in microseconds; percentiles by sorting (exact, fine for millions of samples).
#[derive(Debug, Default)]
pub(crate) struct Latencies {
    samples: Vec<u32>,
}

/// Percentiles of a [`Latencies`], in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct LatencySummary {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latencies {
    /// Room for `n` samples (capped at 16M), so recording never reallocates in a run.
    pub fn with_capacity(n: u64) -> Latencies {
        Latencies {
            samples: Vec::with_capacity(usize::try_from(n.min(1 << 24)).unwrap_or(0)),
        }
    }

    pub fn record(&mut self, d: Duration) {
        self.samples
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
    }

    pub fn merge(&mut self, other: Latencies) {
        self.samples.extend(other.samples);
    }

    pub fn summary(&mut self) -> Option<LatencySummary> {
        if self.samples.is_empty() {
            return None;
        }
        self.samples.sort_unstable();
        let n = self.samples.len();
        let at = |q: f64| {
            // Nearest rank.
            let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
            f64::from(self.samples[rank - 1]) / 1000.0
        };
        Some(LatencySummary {
            count: n,
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

    use super::*;

    #[test]
    fn reads_own_process() {
        assert!(steal_seconds().unwrap() >= 0.0);
        assert!(cpu_seconds("self").unwrap() >= 0.0);
        assert!(rss_kb("self").unwrap() > 0);
        assert!(cpu_seconds("999999999").is_none());
    }

    #[test]
    fn probe_sums_over_server_pids() {
        let one = Probe {
            server_pids: vec![std::process::id()],
        };
        let two = Probe {
            server_pids: vec![std::process::id(); 2],
        };
        let (a, b) = (one.server_rss_kb().unwrap(), two.server_rss_kb().unwrap());
        assert!(b > a + a / 2, "one read {a} KiB, the sum of two {b} KiB");
        let gone = Probe {
            server_pids: vec![std::process::id(), 999_999_999],
        };
        assert!(gone.snapshot().server_cpu.is_none());
        assert!(Probe::default().snapshot().server_cpu.is_none());
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut l = Latencies::default();
        for us in 1..=100 {
            l.record(Duration::from_micros(us * 1000));
        }
        let s = l.summary().unwrap();
        assert_eq!(
            (s.count, s.p50_ms, s.p99_ms, s.max_ms),
            (100, 50.0, 99.0, 100.0)
        );
        assert!(Latencies::default().summary().is_none());
    }
}
