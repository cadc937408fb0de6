//! `connect`: handshakes per second, with `--in-flight` handshakes at once, for each transport.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portico_client::{Client, Transport};
use serde_json::json;
use tokio::task::JoinSet;

use super::measure::Latencies;
use super::progress::Progress;
use super::report::{Phase, Report};
use super::Target;

/// Run the handshakes of each transport for `duration` (or until `cap` handshakes).
pub(crate) async fn run(
    target: &Target,
    transports: &[Transport],
    duration: Duration,
    cap: Option<usize>,
) -> Report {
    let mut report = Report::new(
        "connect",
        json!({
            "transports": transports.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            "duration_s": duration.as_secs(), "in_flight": target.in_flight, "cap": cap,
        }),
    );
    for &transport in transports {
        report
            .phases
            .push(phase(target, transport, duration, cap).await);
    }
    report
}

async fn phase(
    target: &Target,
    transport: Transport,
    duration: Duration,
    cap: Option<usize>,
) -> Phase {
    let progress = Progress::start(format!("connect {transport}"), 0);
    let started = Arc::new(AtomicU64::new(0));
    let cap = cap.map_or(u64::MAX, |c| c as u64);
    let before = target.probe.snapshot();
    let deadline = Instant::now() + duration;
    let mut workers = JoinSet::new();
    for _ in 0..target.in_flight {
        let config = target.config(transport);
        let progress = progress.clone();
        let started = started.clone();
        workers.spawn(async move {
            let mut latencies = Latencies::default();
            let (mut ok, mut failed) = (0u64, 0u64);
            let mut first_error = None;
            while Instant::now() < deadline && started.fetch_add(1, Ordering::Relaxed) < cap {
                let t0 = Instant::now();
                match Client::connect(config.clone()).await {
                    Ok((client, events)) => {
                        latencies.record(t0.elapsed());
                        ok += 1;
                        progress.add(1);
                        // Dropping every handle closes the connection in its task.
                        drop((client, events));
                    }
                    Err(e) => {
                        failed += 1;
                        progress.fail();
                        first_error.get_or_insert(e.to_string());
                    }
                }
            }
            (ok, failed, latencies, first_error)
        });
    }
    let (mut ok, mut failed, mut latencies) = (0u64, 0u64, Latencies::default());
    while let Some(done) = workers.join_next().await {
        match done {
            Ok((o, f, l, e)) => {
                ok += o;
                failed += f;
                latencies.merge(l);
                if let Some(e) = e {
                    eprintln!("connect {transport}: a handshake failed: {e}");
                }
            }
            Err(_) => failed += 1,
        }
    }
    let usage = target.probe.snapshot().usage_since(&before);
    progress.finish();
    let mut phase = Phase::new(format!("connect {transport}"), usage);
    phase.metric("handshakes/s", ok as f64 / usage.wall_s.max(1e-9), "/s");
    phase.metric("handshakes", ok as f64, "");
    if let Some(s) = latencies.summary() {
        phase.metric("handshake p50", s.p50_ms, "ms");
        phase.metric("handshake p99", s.p99_ms, "ms");
        phase.metric("handshake max", s.max_ms, "ms");
    }
    if let Some(cpu) = usage.server_cpu_s {
        phase.metric(
            "server CPU per handshake",
            cpu * 1e6 / ok.max(1) as f64,
            "µs",
        );
    }
    phase.received = ok;
    phase.expected = ok + failed;
    phase.failures = failed;
    phase
}
