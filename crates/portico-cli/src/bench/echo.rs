//! `echo` and `polling`: clients emit `echo` with an ack at a fixed aggregate rate; round-trip
//! percentiles and server CPU per message (and, over polling, HTTP requests per second).

use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use portico_client::{Client, Transport};
use serde_json::{json, Value};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{Receiver, Sender};
use tokio::time::MissedTickBehavior;

use super::measure::Latencies;
use super::pool::connect_many;
use super::progress::Progress;
use super::report::{Phase, Report};
use super::Target;

/// How long a round trip may take before it counts as lost.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// The sender's step without `--pace`: tokio's timer, whose resolution is 1 ms.
const TIMER_STEP: Duration = Duration::from_millis(1);

/// Sends that leave together before the sender lets the connection tasks run.
const SEND_GROUP: u64 = 4;

/// Parameters of an echo run.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub clients: usize,
    /// Aggregate messages per second.
    pub rate: f64,
    pub duration: Duration,
    pub size: usize,
    pub transport: Transport,
    /// The step of a pacer thread (finer than tokio's timer); `None`: steps of 1 ms from
    /// tokio's timer.
    pub pace: Option<Duration>,
}

/// Run echo as scenario `name` (`echo`, `polling`, or a smoke phase).
pub(crate) async fn run(target: &Target, name: &str, params: &Params) -> Report {
    let mut report = Report::new(
        name,
        json!({
            "clients": params.clients, "rate": params.rate,
            "duration_s": params.duration.as_secs_f64(), "size": params.size,
            "transport": params.transport.as_str(),
            "pace_us": params.pace.unwrap_or(TIMER_STEP).as_micros() as u64,
            "pacer": if params.pace.is_some() { "thread" } else { "tokio timer" },
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
    let (sent, acked, failed, mut latencies) = drive(&clients, params, &payload, &progress).await;
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

/// Send at `params.rate` over `clients` in turn and wait for every acknowledgement: one task
/// for the whole load (not one task and one timer per client), so that the load generator's
/// own scheduling costs little and its core stays free to read the answers on time. Each step
/// sends what is due by then (`elapsed × rate`), so a late step catches up instead of lowering
/// the rate. Steps come from tokio's timer (1 ms: at 30k msg/s, 30 sends per step) or, with
/// `params.pace`, from [`pacer`]; a step's sends leave [`SEND_GROUP`] at a time, interleaved
/// with the reading of answers.
/// Returns (sent, acknowledged, failed, latencies).
async fn drive(
    clients: &[Client],
    params: &Params,
    payload: &Value,
    progress: &Progress,
) -> (u64, u64, u64, Latencies) {
    let total = (params.rate * params.duration.as_secs_f64()).round() as u64;
    let mut latencies = Latencies::with_capacity(total);
    let (mut sent, mut acked, mut failed) = (0u64, 0u64, 0u64);
    if clients.is_empty() {
        return (sent, acked, failed, latencies);
    }
    let Ok(mut steps) = Steps::start(params, total) else {
        // No pacer thread: nothing was sent, everything failed.
        progress.fail();
        return (sent, acked, total, latencies);
    };
    // No timer per message: every round trip still open `ACK_TIMEOUT` after the last send is
    // due fails.
    let give_up = tokio::time::sleep(params.duration + ACK_TIMEOUT);
    tokio::pin!(give_up);
    let mut pending = FuturesUnordered::new();
    let args = [payload.clone()];
    let mut next = 0usize;
    let (mut due, mut stepping) = (0u64, true);
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
            // What is due leaves a few at a time, each group after the connection tasks have
            // written the one before and the answers already in were taken (a yield puts
            // this task behind them): a 1 ms step of 30 sends does not hold up the reading of
            // answers until the last of them is written.
            () = tokio::task::yield_now(), if sent < due => {
                for _ in 0..SEND_GROUP.min(due - sent) {
                    let client = &clients[next];
                    next = (next + 1) % clients.len();
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
            }
            next_due = steps.next(), if stepping => {
                match next_due {
                    Some(d) => due = d,
                    None => stepping = false,
                }
                stepping = stepping && due < total;
            }
            () = &mut give_up, if !pending.is_empty() => {
                failed += pending.len() as u64;
                break;
            }
            else => break,
        }
    }
    (sent, acked, failed, latencies)
}

/// Where the sender's steps come from; each step says how many sends are due so far.
enum Steps {
    /// tokio's timer, every [`TIMER_STEP`].
    Timer {
        tick: tokio::time::Interval,
        start: tokio::time::Instant,
        duration: Duration,
        rate: f64,
        total: u64,
    },
    /// A [`pacer`] thread.
    Pacer(Receiver<u64>),
}

impl Steps {
    fn start(params: &Params, total: u64) -> std::io::Result<Steps> {
        let (rate, duration) = (params.rate, params.duration);
        let Some(pace) = params.pace else {
            let start = tokio::time::Instant::now();
            let mut tick = tokio::time::interval_at(start, TIMER_STEP);
            tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
            return Ok(Steps::Timer {
                tick,
                start,
                duration,
                rate,
                total,
            });
        };
        let (due_tx, due_rx) = tokio::sync::mpsc::channel(PACER_QUEUE);
        std::thread::Builder::new()
            .name("bench-pacer".into())
            .spawn(move || pacer(rate, duration, total, pace, &due_tx))?;
        Ok(Steps::Pacer(due_rx))
    }

    /// The count of sends due at the next step; `None` when the steps are over.
    async fn next(&mut self) -> Option<u64> {
        match self {
            Steps::Timer {
                tick,
                start,
                duration,
                rate,
                total,
            } => {
                tick.tick().await;
                Some(due(start.elapsed(), *duration, *rate, *total))
            }
            Steps::Pacer(rx) => rx.recv().await,
        }
    }
}

/// Sends due `elapsed` into a run of `duration` at `rate`: all `total` once it is over.
fn due(elapsed: Duration, duration: Duration, rate: f64, total: u64) -> u64 {
    if elapsed >= duration {
        total
    } else {
        ((elapsed.as_secs_f64() * rate) as u64).min(total)
    }
}

/// Counts the pacer may have queued before the sender reads them. A count is cumulative, so
/// when the queue is full the pacer tries again at its next step instead of queueing more.
const PACER_QUEUE: usize = 4;

/// The pacer thread (`--pace`): every `pace`, sends the running count of messages due when it
/// went up, until all `total` are due or the sender is gone. A thread, because tokio's timer
/// cannot wake more finely than 1 ms; the OS's sleep overshoots by up to its timer slack
/// (50 µs on Linux), and what is due is computed from the clock, so the rate holds.
fn pacer(rate: f64, duration: Duration, total: u64, pace: Duration, due_tx: &Sender<u64>) {
    let start = Instant::now();
    let mut told = 0;
    while told < total {
        let Some(t) = offer(due_tx, due(start.elapsed(), duration, rate, total), told) else {
            return;
        };
        told = t;
        if told < total {
            std::thread::sleep(pace);
        }
    }
}

/// Offer the count `now_due` to the sender, `told` having been sent so far: the count told
/// afterwards (unchanged when nothing new is due or the queue is full, so that it is offered
/// again), `None` once the sender is gone.
fn offer(due_tx: &Sender<u64>, now_due: u64, told: u64) -> Option<u64> {
    if now_due <= told {
        return Some(told);
    }
    match due_tx.try_send(now_due) {
        Ok(()) => Some(now_due),
        Err(TrySendError::Full(_)) => Some(told),
        Err(TrySendError::Closed(_)) => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

    use super::*;

    #[test]
    fn due_follows_the_clock_and_ends_at_the_total() {
        let d = Duration::from_secs(10);
        assert_eq!(due(Duration::ZERO, d, 30_000.0, 300_000), 0);
        assert_eq!(due(Duration::from_millis(1), d, 30_000.0, 300_000), 30);
        assert_eq!(
            due(Duration::from_millis(9_999), d, 30_000.0, 300_000),
            299_970
        );
        assert_eq!(due(d, d, 30_000.0, 300_000), 300_000);
        assert_eq!(due(Duration::from_secs(60), d, 30_000.0, 300_000), 300_000);
    }

    /// Run the pacer on its own thread, as `Steps` does; the counts it sent, in order.
    fn paced(rate: f64, duration: Duration, total: u64, pace: Duration) -> Vec<u64> {
        let (tx, mut rx) = tokio::sync::mpsc::channel(PACER_QUEUE);
        let thread = std::thread::spawn(move || pacer(rate, duration, total, pace, &tx));
        let mut seen = Vec::new();
        while let Some(n) = rx.blocking_recv() {
            seen.push(n);
        }
        thread.join().unwrap();
        seen
    }

    #[test]
    fn pacer_counts_up_to_the_total_then_stops() {
        // 20 messages over 20 ms in steps of 100 µs.
        let seen = paced(
            1000.0,
            Duration::from_millis(20),
            20,
            Duration::from_micros(100),
        );
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
        assert_eq!(seen.last(), Some(&20));
        // With the receiver gone, the pacer returns at once.
        let (tx, rx) = tokio::sync::mpsc::channel(PACER_QUEUE);
        drop(rx);
        pacer(
            1000.0,
            Duration::from_secs(3600),
            3_600_000,
            Duration::from_millis(1),
            &tx,
        );
    }

    #[test]
    fn a_count_the_full_queue_refused_is_offered_again() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        assert_eq!(offer(&tx, 0, 0), Some(0), "nothing new is due");
        assert_eq!(offer(&tx, 5, 0), Some(5));
        // The queue is full: 7 is not told, so the next step offers it again.
        assert_eq!(offer(&tx, 7, 5), Some(5));
        assert_eq!(rx.try_recv().unwrap(), 5);
        assert_eq!(offer(&tx, 7, 5), Some(7));
        assert_eq!(rx.try_recv().unwrap(), 7);
        drop(rx);
        assert_eq!(offer(&tx, 9, 7), None, "the sender is gone");
    }
}
