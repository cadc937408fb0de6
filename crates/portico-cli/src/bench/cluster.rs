//! `cluster`: the broadcast of `broadcast.rs` across the nodes of a cluster. `--clients` are
//! spread round-robin over the `--url` nodes (client i on node i mod n) and join room `bench`;
//! a first, unmeasured broadcast of `--ready-emits` events must reach every client (every node
//! is subscribed and relays); then one client of the first node asks for `--emits` events.
//! Deliveries per second over all clients, time to the last one, server CPU per delivery
//! summed over the nodes' `--server-pid`, and always received vs expected.

use portico_client::{Client, Events};
use serde_json::json;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::broadcast::{self, count, ACK_TIMEOUT, ROOM};
use super::measure::cpu_seconds;
use super::pool::connect_many;
use super::progress::Progress;
use super::report::{Phase, Report};
use super::Target;

/// Parameters of a cluster run.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    /// Clients (over all nodes), emits, size, timeout, transport.
    pub broadcast: broadcast::Params,
    /// One URL per node; the trigger is on the first.
    pub urls: Vec<String>,
    /// Events of the readiness broadcast.
    pub ready_emits: u32,
    /// Redis, to report its CPU beside the servers'.
    pub redis_pid: Option<u32>,
}

/// Run cluster as a whole scenario.
pub(crate) async fn run(target: &Target, params: &Params) -> Report {
    let b = &params.broadcast;
    let mut report = Report::new(
        "cluster",
        json!({
            "nodes": params.urls.len(), "clients": b.clients, "emits": b.emits,
            "ready_emits": params.ready_emits, "size": b.size,
            "timeout_s": b.timeout.as_secs_f64(), "transport": b.transport.as_str(),
        }),
    );
    report.phases.push(phase(target, params).await);
    report
}

/// Count `want` `b` events on every stream (each in its own task) until `deadline`; gives the
/// streams back, in their order, with what each received and when its last event came.
async fn count_all(
    streams: Vec<Events>,
    want: u64,
    deadline: Instant,
    progress: &Progress,
) -> Vec<(Events, u64, Option<Instant>)> {
    let n = streams.len();
    let mut set = JoinSet::new();
    for (i, mut events) in streams.into_iter().enumerate() {
        let progress = progress.clone();
        set.spawn(async move {
            let (got, _first, last) = count(&mut events, want, deadline).await;
            progress.add(got);
            (i, events, got, last)
        });
    }
    let mut out: Vec<Option<(Events, u64, Option<Instant>)>> = (0..n).map(|_| None).collect();
    while let Some(done) = set.join_next().await {
        match done {
            Ok((i, events, got, last)) => out[i] = Some((events, got, last)),
            Err(e) => eprintln!("cluster: a counter failed: {e}"),
        }
    }
    out.into_iter().flatten().collect()
}

/// Ask `client` (on the first node) for `emits` events to the room.
async fn trigger(client: Option<&Client>, params: &Params, emits: u32) -> Result<(), String> {
    let Some(client) = client else {
        return Err("no client on the first node".to_owned());
    };
    client
        .emit_with_ack(
            "broadcast",
            &[json!({"room": ROOM, "count": emits, "size": params.broadcast.size})],
            ACK_TIMEOUT.min(params.broadcast.timeout),
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Connect, join, check readiness, then the measured broadcast.
async fn phase(target: &Target, params: &Params) -> Phase {
    let b = &params.broadcast;
    let nodes = params.urls.len();
    let transport = b.transport;

    // Node k gets the clients i < clients with i mod nodes == k.
    let progress = Progress::start("cluster: connecting".to_owned(), b.clients as u64);
    let mut failures = 0u64;
    let mut by_node = Vec::with_capacity(nodes);
    for (k, url) in params.urls.iter().enumerate() {
        let node = Target {
            url: url.clone(),
            ..target.clone()
        };
        let n = b.clients / nodes + usize::from(k < b.clients % nodes);
        let pool = connect_many(&node, n, transport, &progress).await;
        failures += pool.failures;
        by_node.push(pool.clients.into_iter());
    }
    progress.finish();
    // Round-robin order: the first client is the first node's (the trigger).
    let (mut clients, mut streams, mut node_of) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        let before = clients.len();
        for (node, pool) in by_node.iter_mut().enumerate() {
            if let Some((client, events)) = pool.next() {
                clients.push(client);
                streams.push(events);
                node_of.push(node);
            }
        }
        if clients.len() == before {
            break;
        }
    }
    let first = clients.first().filter(|_| node_of.first() == Some(&0));

    failures += broadcast::join_room(&clients, "cluster").await;

    let want = u64::from(b.emits);
    let expected = want * b.clients as u64;

    // Readiness: every client, on every node, gets the whole unmeasured broadcast.
    let ready = u64::from(params.ready_emits);
    let progress = Progress::start(
        format!("cluster: ready broadcast ({ready} events)"),
        ready * streams.len() as u64,
    );
    let (counted, ready_trigger) = tokio::join!(
        count_all(streams, ready, Instant::now() + b.timeout, &progress),
        trigger(first, params, params.ready_emits),
    );
    progress.finish();
    let mut missing = vec![0u64; nodes];
    for ((_, got, _), &node) in counted.iter().zip(&node_of) {
        missing[node] += ready - got;
    }
    let streams: Vec<Events> = counted.into_iter().map(|(e, _, _)| e).collect();
    let not_ready = ready_trigger.is_err() || missing.iter().any(|&m| m > 0);
    if not_ready {
        eprintln!(
            "cluster: NOT READY: the ready broadcast ({ready} events) did not reach every \
             client (trigger: {ready_trigger:?}; events missing per node: {missing:?}); no \
             measurement"
        );
        let mut phase = Phase::new(
            format!("cluster of {nodes} nodes ({transport})"),
            Default::default(),
        );
        phase.expected = expected;
        phase.failures = failures + 1;
        return phase;
    }

    let progress = Progress::start("cluster: deliveries".to_owned(), expected);
    let redis_before = params.redis_pid.and_then(|p| cpu_seconds(&p.to_string()));
    let before = target.probe.snapshot();
    let trigger_at = Instant::now();
    let (counted, measured_trigger) = tokio::join!(
        count_all(streams, want, trigger_at + b.timeout, &progress),
        trigger(first, params, b.emits),
    );
    let usage = target.probe.snapshot().usage_since(&before);
    let redis_after = params.redis_pid.and_then(|p| cpu_seconds(&p.to_string()));
    progress.finish();
    if let Err(e) = &measured_trigger {
        eprintln!("cluster: the trigger failed: {e}");
    }
    drop(clients);

    let mut received = 0u64;
    let mut last = None::<Instant>;
    let mut per_node = vec![(0u64, None::<Instant>); nodes];
    for ((_, got, at), &node) in counted.iter().zip(&node_of) {
        received += got;
        last = last.max(*at);
        per_node[node].0 += got;
        per_node[node].1 = per_node[node].1.max(*at);
    }
    let since =
        |at: Option<Instant>| at.map_or(0.0, |l| l.duration_since(trigger_at).as_secs_f64());
    let window = since(last);

    let mut phase = Phase::new(format!("cluster of {nodes} nodes ({transport})"), usage);
    phase.metric("nodes", nodes as f64, "");
    phase.metric("clients", b.clients as f64, "");
    phase.metric("emits", want as f64, "");
    phase.metric("deliveries/s", received as f64 / window.max(1e-9), "/s");
    phase.metric("time to last delivery", window * 1000.0, "ms");
    for (k, (got, at)) in per_node.iter().enumerate() {
        phase.metric(format!("node {k}: deliveries"), *got as f64, "");
        phase.metric(
            format!("node {k}: time to last delivery"),
            since(*at) * 1000.0,
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
    if let (Some(a), Some(z)) = (redis_before, redis_after) {
        phase.metric("Redis CPU", z - a, "s");
        phase.metric(
            "Redis CPU per delivery",
            (z - a) * 1e6 / received.max(1) as f64,
            "µs",
        );
    }
    if received != expected {
        eprintln!(
            "cluster: LOST DELIVERIES: received {received} of {expected} ({:.1}%), per node {:?}",
            received as f64 * 100.0 / expected.max(1) as f64,
            per_node.iter().map(|p| p.0).collect::<Vec<_>>()
        );
    }
    phase.received = received;
    phase.expected = expected;
    phase.failures = failures + u64::from(measured_trigger.is_err());
    phase
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)] // tests: a failed expect is a failed test

    use std::time::Duration;

    use super::*;
    use crate::bench::measure::Probe;
    use portico_client::Transport;

    /// Without Redis, two single-node servers are not a cluster: the ready broadcast reaches
    /// only the first node's clients, and the run says so instead of measuring.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unconnected_nodes_are_not_ready() {
        let (a, _ga) = crate::bench::server::start_in_process().await.expect("a");
        let (b, _gb) = crate::bench::server::start_in_process().await.expect("b");
        let target = Target {
            url: a.clone(),
            path: "/socket.io/".into(),
            probe: Probe::default(),
            in_flight: 10,
            headers: Vec::new(),
        };
        let params = Params {
            broadcast: broadcast::Params {
                clients: 4,
                emits: 5,
                size: 8,
                timeout: Duration::from_secs(1),
                transport: Transport::WebSocket,
            },
            urls: vec![a, b],
            ready_emits: 2,
            redis_pid: None,
        };
        let report = tokio::time::timeout(Duration::from_secs(20), run(&target, &params))
            .await
            .expect("finishes");
        assert!(!report.ok());
        assert_eq!(report.expected(), 20);
        assert_eq!(report.received(), 0);
    }
}
