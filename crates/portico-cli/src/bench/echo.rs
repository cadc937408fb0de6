//! `echo` and `polling`: clients emit `echo` with an ack at a fixed aggregate rate; round-trip
//! percentiles and server CPU per message (and, over polling, HTTP requests per second).

use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use portico_client::{Client, Transport};
use serde_json::{json, Value};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use super::measure::Latencies;
use super::pool::connect_many;
use super::progress::Progress;
use super::report::{Phase, Report};
use super::Target;

/// How long a round trip may take before it counts as lost.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Parameters of an echo run.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub clients: usize,
    /// Aggregate messages per second.
    pub rate: f64,
    pub duration: Duration,
    pub size: usize,
    pub transport: Transport,
}

/// Run echo as scenario `name` (`echo`, `polling`, or a smoke phase).
pub(crate) async fn run(target: &Target, name: &str, params: &Params) -> Report {
    let mut report = Report::new(
        name,
        json!({
            "clients": params.clients, "rate": params.rate,
            "duration_s": params.duration.as_secs_f64(), "size": params.size,
            "transport": params.transport.as_str(),
        }),
    );
    report.phases.push(phase(target, name, params).await);
    report
}

/// One echo phase.
pub(crate) async fn phase(target: &Target, name: &str, params: &Params) -> Phase {
    let transport = params.transport;
    let progress = Progress::start(format!("{name}: connecting"), params.clients as u64);
    let pool = connect_many(target, params.clients, transport, &progress).await;
    progress.finish();
    let clients: Vec<Client> = pool.clients.into_iter().map(|(c, _events)| c).collect();
    let n = clients.len().max(1);
    let period = Duration::from_secs_f64(n as f64 / params.rate);
    let payload = Value::String("x".repeat(params.size));
    let requests_before: u64 = clients.iter().map(Client::http_requests).sum();

    let progress = Progress::start(
        format!(
            "{name}: {} msg/s over {} clients",
            params.rate,
            clients.len()
        ),
        0,
    );
    let before = target.probe.snapshot();
    let start = tokio::time::Instant::now();
    let end = start + params.duration;
    let mut tasks = JoinSet::new();
    for (i, client) in clients.iter().cloned().enumerate() {
        let payload = payload.clone();
        let progress = progress.clone();
        // Spread the clients' first sends over one period.
        let first = start + period.mul_f64(i as f64 / n as f64);
        tasks.spawn(async move {
            let mut tick = tokio::time::interval_at(first, period);
            tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
            // No timer per message: every round trip still open at `end + ACK_TIMEOUT` fails.
            let give_up = tokio::time::sleep_until(end + ACK_TIMEOUT);
            tokio::pin!(give_up);
            let mut pending = FuturesUnordered::new();
            let mut latencies = Latencies::default();
            let (mut sent, mut acked, mut failed) = (0u64, 0u64, 0u64);
            let args = [payload];
            loop {
                tokio::select! {
                    biased;
                    Some((result, took)) = pending.next(), if !pending.is_empty() => {
                        match result {
                            Ok(_) => {
                                acked += 1;
                                latencies.record(took);
                                progress.add(1);
                            }
                            Err(_) => {
                                failed += 1;
                                progress.fail();
                            }
                        }
                    }
                    at = tick.tick(), if tokio::time::Instant::now() < end => {
                        if at >= end {
                            continue;
                        }
                        sent += 1;
                        let t0 = Instant::now();
                        match client.emit_with_ack_pending("echo", &args) {
                            Ok(ack) => pending.push(async move { (ack.await, t0.elapsed()) }),
                            Err(_) => {
                                failed += 1;
                                progress.fail();
                            }
                        }
                    }
                    () = &mut give_up, if !pending.is_empty() => {
                        failed += pending.len() as u64;
                        break;
                    }
                    else => break,
                }
            }
            (sent, acked, failed, latencies)
        });
    }
    let (mut sent, mut acked, mut failed) = (0u64, 0u64, 0u64);
    let mut latencies = Latencies::default();
    while let Some(done) = tasks.join_next().await {
        if let Ok((s, a, f, l)) = done {
            sent += s;
            acked += a;
            failed += f;
            latencies.merge(l);
        }
    }
    let usage = target.probe.snapshot().usage_since(&before);
    progress.finish();
    let requests: u64 = clients.iter().map(Client::http_requests).sum::<u64>() - requests_before;
    drop(clients);

    let mut phase = Phase::new(format!("{name} ({transport})"), usage);
    phase.metric("clients", n as f64, "");
    phase.metric(
        "achieved rate",
        acked as f64 / params.duration.as_secs_f64(),
        "msg/s",
    );
    if let Some(s) = latencies.summary() {
        phase.metric("round trip p50", s.p50_ms, "ms");
        phase.metric("round trip p99", s.p99_ms, "ms");
        phase.metric("round trip max", s.max_ms, "ms");
    }
    if let Some(cpu) = usage.server_cpu_s {
        phase.metric(
            "server CPU per 100k messages",
            cpu * 1e5 / acked.max(1) as f64,
            "s",
        );
        phase.metric(
            "server CPU per message",
            cpu * 1e6 / acked.max(1) as f64,
            "µs",
        );
    }
    if transport == Transport::Polling {
        phase.metric(
            "HTTP requests/s",
            requests as f64 / usage.wall_s.max(1e-9),
            "/s",
        );
        phase.metric("HTTP requests", requests as f64, "");
        if let Some(cpu) = usage.server_cpu_s {
            phase.metric(
                "server CPU per request",
                cpu * 1e6 / requests.max(1) as f64,
                "µs",
            );
        }
    }
    phase.received = acked;
    phase.expected = sent;
    phase.failures = failed + pool.failures;
    phase
}
