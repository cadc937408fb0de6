//! `smoke`: a few connections for a second, echo over WebSocket and polling, a broadcast;
//! fails on any loss or error. Keeps the bench working in CI (timing never gates).

use std::time::Duration;

use portico_client::Transport;
use serde_json::json;

use super::report::Report;
use super::{broadcast, echo, Target};

/// Clients per phase.
const CLIENTS: usize = 5;

/// Run the smoke phases.
pub(crate) async fn run(target: &Target) -> Report {
    let mut report = Report::new("smoke", json!({"clients": CLIENTS}));
    let ws = echo::Params {
        clients: CLIENTS,
        rate: 200.0,
        duration: Duration::from_secs(1),
        size: 16,
        transport: Transport::WebSocket,
        pace: None,
    };
    report.phases.push(echo::phase(target, "echo", &ws).await);
    // The same through the pacer thread (`--pace`).
    let paced = echo::Params {
        pace: Some(Duration::from_micros(200)),
        ..ws.clone()
    };
    report
        .phases
        .push(echo::phase(target, "echo paced", &paced).await);
    let polling = echo::Params {
        rate: 50.0,
        transport: Transport::Polling,
        ..ws.clone()
    };
    report
        .phases
        .push(echo::phase(target, "echo", &polling).await);
    let upgrade = echo::Params {
        rate: 50.0,
        transport: Transport::Upgrade,
        ..ws
    };
    report
        .phases
        .push(echo::phase(target, "echo", &upgrade).await);
    let params = broadcast::Params {
        clients: CLIENTS,
        emits: 100,
        size: 16,
        timeout: Duration::from_secs(10),
        transport: Transport::WebSocket,
    };
    report
        .phases
        .push(broadcast::phase(target, "broadcast", &params).await);
    report
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)] // tests: a failed expect is a failed test

    use super::super::measure::Probe;
    use super::super::server::start_in_process;
    use super::*;

    /// The smoke run against the in-process server passes: nothing lost, nothing failed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn smoke_passes_in_process() {
        let (url, _server) = start_in_process().await.expect("server starts");
        let target = Target {
            url,
            path: "/socket.io/".into(),
            probe: Probe {
                server_pids: vec![std::process::id()],
            },
            in_flight: 10,
            headers: Vec::new(),
        };
        let report = tokio::time::timeout(Duration::from_secs(30), run(&target))
            .await
            .expect("smoke finishes in time");
        assert!(report.ok(), "{}", report.table());
        assert_eq!(report.phases.len(), 5);
        assert!(report.received() > 0);
        let json = report.to_json();
        assert_eq!(json["ok"], true);
        assert!(json["server"]["cpu_s"].is_number());
    }
}
