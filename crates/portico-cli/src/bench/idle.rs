//! `idle`: server RSS per idle connection, as the slope between stages (so the server's
//! baseline does not count).

use std::time::{Duration, Instant};

use portico_client::Transport;
use serde_json::json;

use super::pool::connect_many;
use super::progress::Progress;
use super::report::{Phase, Report};
use super::Target;

/// How long RSS may take to settle after a stage, at most.
const SETTLE_MAX: Duration = Duration::from_secs(5);
/// Interval between RSS readings while settling.
const SETTLE_STEP: Duration = Duration::from_millis(250);

/// Connect up to each stage's count, settle, read the server's RSS.
pub(crate) async fn run(target: &Target, transport: Transport, stages: &[usize]) -> Report {
    let mut report = Report::new(
        "idle",
        json!({"transport": transport.as_str(), "stages": stages, "in_flight": target.in_flight}),
    );
    if !target.probe.has_server() {
        report
            .warnings
            .push("no --server-pid: server RSS is not measured".into());
    }
    let mut held = Vec::new();
    let mut points: Vec<(usize, u64)> = Vec::new();
    let baseline = settle(target).await;
    if let Some(rss) = baseline {
        points.push((0, rss));
    }
    for &stage in stages {
        let before = target.probe.snapshot();
        let progress = Progress::start(format!("idle: connecting to {stage}"), stage as u64);
        progress.add(held.len() as u64);
        let pool = connect_many(
            target,
            stage.saturating_sub(held.len()),
            transport,
            &progress,
        )
        .await;
        progress.finish();
        // Events are not read: dropping them makes the connections discard what arrives.
        held.extend(pool.clients.into_iter().map(|(client, _events)| client));
        let rss = settle(target).await;
        let usage = target.probe.snapshot().usage_since(&before);
        let mut phase = Phase::new(format!("{stage} connections"), usage);
        phase.metric("connected", held.len() as f64, "");
        if let Some(rss) = rss {
            phase.metric("server RSS", rss as f64, "KiB");
            if let Some(&(n0, rss0)) = points.last() {
                let slope = (rss as f64 - rss0 as f64) / (held.len() - n0).max(1) as f64;
                let label = if n0 == 0 {
                    format!("KiB per connection (0 -> {}, includes warm-up)", held.len())
                } else {
                    format!("KiB per connection ({n0} -> {})", held.len())
                };
                phase.metric(label, slope, "KiB");
            }
            points.push((held.len(), rss));
        }
        phase.received = held.len() as u64;
        phase.expected = stage as u64;
        phase.failures = pool.failures;
        report.phases.push(phase);
        if held.len() < stage {
            break;
        }
    }
    // Overall slope between the first and last stage.
    let staged: Vec<&(usize, u64)> = points.iter().filter(|(n, _)| *n > 0).collect();
    if let (Some(first), Some(last)) = (staged.first(), staged.last()) {
        if last.0 > first.0 {
            let slope = (last.1 as f64 - first.1 as f64) / (last.0 - first.0) as f64;
            if let Some(phase) = report.phases.last_mut() {
                phase.metric(
                    format!("KiB per connection, slope {} -> {}", first.0, last.0),
                    slope,
                    "KiB",
                );
            }
        }
    }
    // Dropping every handle closes each connection in its own task.
    drop(held);
    report
}

/// Wait until the server's RSS stops moving (two equal readings in a row), at most
/// [`SETTLE_MAX`]; returns the last reading.
async fn settle(target: &Target) -> Option<u64> {
    let deadline = Instant::now() + SETTLE_MAX;
    let mut last = target.probe.server_rss_kb()?;
    while Instant::now() < deadline {
        tokio::time::sleep(SETTLE_STEP).await;
        let now = target.probe.server_rss_kb()?;
        if now == last {
            return Some(now);
        }
        last = now;
    }
    Some(last)
}
