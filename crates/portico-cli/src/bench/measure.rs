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

/// CPU time used so far by a process, read two ways: the kernel's total over every thread
/// that ever ran (`/proc/PID/stat`, in clock ticks: 10 ms) and each live thread's own time in
/// nanoseconds (`/proc/PID/task/TID/schedstat`). The first alone rounds a 90 ms burst to
/// within ±20 ms; [`CpuReading::since`] uses the second where the first confirms it.
#[derive(Debug, Clone, Default)]
pub(crate) struct CpuReading {
    /// utime + stime of the whole process, in seconds (each rounded down to a tick).
    ticks_s: f64,
    /// (thread id, nanoseconds on a CPU), sorted by thread id; empty where schedstat is not
    /// available.
    threads: Vec<(u32, u64)>,
}

/// A reading of `pid`'s CPU time (`"self"` for this process); `None` if it cannot be read.
pub(crate) fn cpu_reading(pid: &str) -> Option<CpuReading> {
    let ticks_s = cpu_seconds(pid)?;
    let mut threads = Vec::new();
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for entry in dir.flatten() {
            let Some(tid) = entry
                .file_name()
                .to_str()
                .and_then(|t| t.parse::<u32>().ok())
            else {
                continue;
            };
            // Its first field: the thread's time on a CPU, in nanoseconds. A thread that ended
            // since the directory was listed is left out (and the reading falls back to ticks).
            let ns = std::fs::read_to_string(entry.path().join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
            if let Some(ns) = ns {
                threads.push((tid, ns));
            }
        }
    }
    threads.sort_unstable();
    Some(CpuReading { ticks_s, threads })
}

impl CpuReading {
    /// CPU seconds used between `start` and this reading. The threads' nanoseconds when they
    /// account for all of it: every thread of `start` is still there, and the total in ticks
    /// grew by no more than theirs plus its own rounding (each reading of the total is rounded
    /// down twice, user and system time: within 2 ticks either way). Otherwise a thread ended
    /// in between, taking its time out of the threads' sum: the total in ticks.
    pub fn since(&self, start: &CpuReading) -> f64 {
        let coarse = self.ticks_s - start.ticks_s;
        let all_alive = start
            .threads
            .iter()
            .all(|&(t, _)| self.thread_ns(t).is_some());
        if self.threads.is_empty() || !all_alive {
            return coarse;
        }
        let fine_ns: u64 = self
            .threads
            .iter()
            .map(|&(tid, ns)| ns.saturating_sub(start.thread_ns(tid).unwrap_or(0)))
            .sum();
        let fine = fine_ns as f64 / 1e9;
        if coarse - fine > 2.0 / clock_ticks() {
            coarse
        } else {
            fine
        }
    }

    /// Thread `tid`'s nanoseconds on a CPU in this reading, if it was running then.
    fn thread_ns(&self, tid: u32) -> Option<u64> {
        self.threads
            .binary_search_by_key(&tid, |&(t, _)| t)
            .ok()
            .map(|i| self.threads[i].1)
    }
}

/// CPU seconds (user + system) used so far by `pid` (`"self"` for this process), in whole
/// clock ticks (see [`CpuReading`] for nanoseconds).
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
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    at: Instant,
    client_cpu: Option<CpuReading>,
    /// One reading per server process; `None` if any of them cannot be read.
    server_cpu: Option<Vec<CpuReading>>,
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
            client_cpu: cpu_reading("self"),
            server_cpu: if self.server_pids.is_empty() {
                None
            } else {
                self.server_pids
                    .iter()
                    .map(|p| cpu_reading(&p.to_string()))
                    .collect()
            },
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
        let client_cpu_s = match (&self.client_cpu, &start.client_cpu) {
            (Some(b), Some(a)) => b.since(a),
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
            server_cpu_s: match (&self.server_cpu, &start.server_cpu) {
                (Some(b), Some(a)) if a.len() == b.len() => {
                    Some(b.iter().zip(a).map(|(b, a)| b.since(a)).sum())
                }
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

    fn reading(ticks: u32, threads: &[(u32, u64)]) -> CpuReading {
        CpuReading {
            ticks_s: f64::from(ticks) / clock_ticks(),
            threads: threads.to_vec(),
        }
    }

    #[test]
    fn cpu_since_uses_the_threads_nanoseconds_when_the_ticks_agree() {
        let start = reading(10, &[(1, 100), (2, 200)]);
        // Thread 3 started in between: all its time is in the window.
        let end = reading(11, &[(1, 3_000_100), (2, 200), (3, 500)]);
        assert!((end.since(&start) - 0.003_000_5).abs() < 1e-12);
        // Two ticks more than the threads' time is still rounding.
        let end = reading(12, &[(1, 100), (2, 200)]);
        assert_eq!(end.since(&start), 0.0);
    }

    #[test]
    fn cpu_since_falls_back_to_ticks_when_a_thread_ended() {
        let start = reading(10, &[(1, 100), (2, 200)]);
        // Thread 2 ended: its time in the window is not in any schedstat any more.
        let end = reading(15, &[(1, 1_000_100)]);
        assert!((end.since(&start) - 5.0 / clock_ticks()).abs() < 1e-12);
        // A thread that started and ended in between shows only in the ticks.
        let end = reading(15, &[(1, 1_000_100), (2, 200)]);
        assert!((end.since(&start) - 5.0 / clock_ticks()).abs() < 1e-12);
        // Without schedstat, ticks.
        assert!((reading(15, &[]).since(&reading(10, &[])) - 5.0 / clock_ticks()).abs() < 1e-12);
    }

    /// This thread's own CPU time so far, in nanoseconds.
    fn own_thread_ns() -> u64 {
        let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
        s.split_whitespace().next().unwrap().parse().unwrap()
    }

    /// Spins until this thread has used `ms` more of CPU (by its own clock, not the wall's).
    fn spin_cpu(ms: u64) {
        let until = own_thread_ns() + ms * 1_000_000;
        let mut x = 0u64;
        while own_thread_ns() < until {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }

    #[test]
    fn cpu_reading_of_this_process_counts_live_and_ended_threads() {
        // This thread's id, as /proc names it.
        let me: u32 = std::fs::read_link("/proc/thread-self")
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let ns_of = |r: &CpuReading| r.thread_ns(me).unwrap();
        let start = cpu_reading("self").unwrap();
        spin_cpu(30);
        let live = cpu_reading("self").unwrap();
        assert!(
            ns_of(&live) - ns_of(&start) >= 30_000_000,
            "this thread's nanoseconds"
        );
        // The other tests' threads may end meanwhile (then the figure is the ticks'): within
        // the ticks' rounding of 30 ms either way.
        let spent = live.since(&start);
        assert!(
            spent >= 0.030 - 2.0 / clock_ticks(),
            "{spent} s for 30 ms of spinning"
        );
        // A thread that spins 50 ms and ends before the next reading.
        std::thread::spawn(|| spin_cpu(50)).join().unwrap();
        let end = cpu_reading("self").unwrap();
        let spent = end.since(&live);
        assert!(
            spent >= 0.050 - 2.0 / clock_ticks(),
            "{spent} s after a thread spun 50 ms"
        );
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
