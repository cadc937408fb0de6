//! `broadcast`: clients join room `bench`, one asks the server to emit `--emits` events `b`
//! to the room; deliveries per second, server CPU per delivery, and always received vs
//! expected.

use std::time::Duration;

use futures_util::future::join_all;
use portico_client::{Event, Events, RawEvent, Transport};
use serde_json::json;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::pool::connect_many;
use super::progress::Progress;
use super::report::{Phase, Report};
use super::Target;

/// Longest wait for a `join` or `broadcast` acknowledgement.
pub(crate) const ACK_TIMEOUT: Duration = Duration::from_secs(30);
/// The room every client joins.
pub(crate) const ROOM: &str = "bench";

/// Parameters of a broadcast run.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub clients: usize,
    pub emits: u32,
    pub size: usize,
    /// Longest wait for every delivery after the trigger.
    pub timeout: Duration,
    pub transport: Transport,
}

/// Run broadcast as a whole scenario.
pub(crate) async fn run(target: &Target, params: &Params) -> Report {
    let mut report = Report::new(
        "broadcast",
        json!({
            "clients": params.clients, "emits": params.emits, "size": params.size,
            "timeout_s": params.timeout.as_secs_f64(), "transport": params.transport.as_str(),
        }),
    );
    report.phases.push(phase(target, "broadcast", params).await);
    report
}

/// Whether raw event text is the bench's `b` event (on the default namespace).
fn is_b(text: &[u8]) -> bool {
    text.starts_with(br#"2["b""#)
}

/// Count `b` events until `want` or `deadline`; returns the count and when the first and the
/// last arrived.
pub(crate) async fn count(
    events: &mut Events,
    want: u64,
    deadline: Instant,
) -> (u64, Option<Instant>, Option<Instant>) {
    let mut got = 0u64;
    let (mut first, mut last) = (None, None);
    let mut batch = Vec::with_capacity(256);
    let mut ended = false;
    // One timer for the whole count: a `timeout_at` per batch would add and remove a timer
    // entry for every few events (7 % of the client's CPU in a 1M-delivery run, perf).
    let expiry = tokio::time::sleep_until(deadline);
    tokio::pin!(expiry);
    while got < want && !ended {
        batch.clear();
        tokio::select! {
            biased;
            n = events.recv_raw_many(&mut batch, 256) => if n == 0 { break },
            () = &mut expiry => break,
        }
        let before = got;
        for event in batch.drain(..) {
            match event {
                RawEvent::Text(text) if is_b(&text) => got += 1,
                RawEvent::Event(e) => {
                    if let Event::Disconnected(reason) = *e {
                        eprintln!("broadcast: a client was disconnected: {reason}");
                        ended = true;
                    }
                }
                _ => {}
            }
        }
        if got > before {
            let now = Instant::now();
            first.get_or_insert(now);
            last = Some(now);
        }
    }
    (got, first, last)
}

/// One broadcast phase.
/// Every client joins the bench room; the number that could not (reported on stderr).
pub(crate) async fn join_room(clients: &[portico_client::Client], scenario: &str) -> u64 {
    let room = [json!(ROOM)];
    let joins = join_all(
        clients
            .iter()
            .map(|c| c.emit_with_ack("join", &room, ACK_TIMEOUT)),
    )
    .await;
    let failures = joins.iter().filter(|r| r.is_err()).count() as u64;
    if failures > 0 {
        eprintln!("{scenario}: {failures} clients could not join the room");
    }
    failures
}

pub(crate) async fn phase(target: &Target, name: &str, params: &Params) -> Phase {
    let transport = params.transport;
    let progress = Progress::start(format!("{name}: connecting"), params.clients as u64);
    let pool = connect_many(target, params.clients, transport, &progress).await;
    progress.finish();
    let (clients, streams): (Vec<_>, Vec<_>) = pool.clients.into_iter().unzip();

    // Everyone joins the room.
    let join_failures = join_room(&clients, "broadcast").await;

    let want = u64::from(params.emits);
    let expected = want * clients.len() as u64;
    let progress = Progress::start(format!("{name}: deliveries"), expected);
    let before = target.probe.snapshot();
    let trigger_at = Instant::now();
    let deadline = trigger_at + params.timeout;
    let mut counters = JoinSet::new();
    for events in streams {
        let progress = progress.clone();
        counters.spawn(async move {
            let mut events = events;
            let r = count(&mut events, want, deadline).await;
            progress.add(r.0);
            r
        });
    }
    let trigger = match clients.first() {
        Some(c) => c
            .emit_with_ack(
                "broadcast",
                &[json!({"room": ROOM, "count": params.emits, "size": params.size})],
                ACK_TIMEOUT.min(params.timeout),
            )
            .await
            .map(|_| ()),
        None => Ok(()),
    };
    if let Err(e) = &trigger {
        eprintln!("broadcast: the trigger failed: {e}");
    }
    let (mut received, mut first, mut last) = (0u64, None::<Instant>, None::<Instant>);
    while let Some(done) = counters.join_next().await {
        if let Ok((got, f, at)) = done {
            received += got;
            first = match (first, f) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            last = last.max(at);
        }
    }
    let usage = target.probe.snapshot().usage_since(&before);
    progress.finish();
    drop(clients);

    let mut phase = Phase::new(format!("{name} ({transport})"), usage);
    let window = last.map_or(0.0, |l| l.duration_since(trigger_at).as_secs_f64());
    phase.metric("clients", (expected / want.max(1)) as f64, "");
    phase.metric("emits", want as f64, "");
    phase.metric("deliveries/s", received as f64 / window.max(1e-9), "/s");
    phase.metric("time to last delivery", window * 1000.0, "ms");
    if let Some(f) = first {
        phase.metric(
            "time to first delivery",
            f.duration_since(trigger_at).as_secs_f64() * 1000.0,
            "ms",
        );
    }
    if let Some(cpu) = usage.server_cpu_s {
        phase.metric(
            "server CPU per delivery",
            cpu * 1e6 / received.max(1) as f64,
            "µs",
        );
    }
    if received != expected {
        eprintln!(
            "broadcast: LOST DELIVERIES: received {received} of {expected} ({:.1}%)",
            received as f64 * 100.0 / expected.max(1) as f64
        );
    }
    phase.received = received;
    phase.expected = expected;
    phase.failures = pool.failures + join_failures + u64::from(trigger.is_err());
    phase
}
