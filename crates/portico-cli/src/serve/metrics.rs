//! `portico serve --metrics ADDR`: the server's [`Stats`] in the Prometheus (OpenMetrics)
//! text format, on a listener of its own, at `GET /metrics`.
//!
//! Each scrape builds a fresh registry from [`Server::stats`] with the `prometheus-client`
//! crate (the Prometheus project's Rust client): no metric lives between scrapes, so nothing is
//! counted on the server's hot path for them (see `portico::stats`). Every metric is listed,
//! with its meaning, in docs/operations.md.

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use portico::{Server, Stats};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

/// The content type of the OpenMetrics text format, which Prometheus asks for and reads.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The refusal reasons of [`Server::refusals`] that are a configured limit being hit, with
/// the name of that limit (the `limit` label of `portico_limit_hits_total`).
const LIMITS: [(&str, &str); 8] = [
    ("max_sessions", "max_sessions"),
    ("max_sessions_per_ip", "max_sessions_per_ip"),
    ("payload_too_large", "max_payload"),
    ("send_buffer_full", "max_buffer"),
    ("event_rate", "event_rate"),
    ("max_attachments", "max_attachments"),
    ("header_read_timeout", "header_read_timeout"),
    ("upgrade_timeout", "upgrade_timeout"),
];

type Labels = Vec<(&'static str, String)>;

fn gauge_family(registry: &mut Registry, name: &str, help: &str) -> Family<Labels, Gauge> {
    let family = Family::<Labels, Gauge>::default();
    registry.register(name, help, family.clone());
    family
}

fn counter(registry: &mut Registry, name: &str, help: &str, unit: Option<Unit>, value: u64) {
    let c: Counter = Counter::default();
    c.inc_by(value);
    match unit {
        Some(unit) => registry.register_with_unit(name, help, unit, c),
        None => registry.register(name, help, c),
    }
}

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The exposition for one scrape: `stats` and the refusals by reason ([`Server::refusals`]).
pub(crate) fn render(stats: &Stats, refusals: &[(&'static str, u64)]) -> String {
    let mut r = Registry::default();
    let sessions = gauge_family(
        &mut r,
        "portico_sessions",
        "Open Engine.IO sessions by transport (polling includes those upgrading)",
    );
    for (transport, n) in [
        ("polling", stats.sessions_polling),
        ("websocket", stats.sessions_websocket),
    ] {
        sessions
            .get_or_create(&vec![("transport", transport.to_owned())])
            .set(gauge_value(n));
    }
    let upgrading: Gauge = Gauge::default();
    upgrading.set(gauge_value(stats.sessions_upgrading));
    r.register(
        "portico_sessions_upgrading",
        "Polling sessions with a WebSocket upgrade under way",
        upgrading,
    );
    let sockets = gauge_family(
        &mut r,
        "portico_sockets",
        "Connected Socket.IO sockets by namespace",
    );
    let rooms = gauge_family(
        &mut r,
        "portico_rooms",
        "Rooms with members by namespace (each socket's own room included, as in Node)",
    );
    for (nsp, ns) in &stats.namespaces {
        let labels = vec![("namespace", nsp.clone())];
        sockets.get_or_create(&labels).set(gauge_value(ns.sockets));
        rooms.get_or_create(&labels).set(gauge_value(ns.rooms));
    }
    let t = &stats.traffic;
    counter(
        &mut r,
        "portico_packets_received",
        "Engine.IO packets received from clients (heartbeats included)",
        None,
        t.packets_in,
    );
    counter(
        &mut r,
        "portico_packets_sent",
        "Engine.IO packets handed to the transports for clients (heartbeats included)",
        None,
        t.packets_out,
    );
    counter(
        &mut r,
        "portico_received",
        "Bytes of the Engine.IO packets received (no HTTP or WebSocket framing)",
        Some(Unit::Bytes),
        t.bytes_in,
    );
    counter(
        &mut r,
        "portico_sent",
        "Bytes of the Engine.IO packets sent (no HTTP or WebSocket framing)",
        Some(Unit::Bytes),
        t.bytes_out,
    );
    let refused = Family::<Labels, Counter>::default();
    r.register(
        "portico_refusals",
        "Clients turned away or cut off by the server, by reason",
        refused.clone(),
    );
    let limits = Family::<Labels, Counter>::default();
    r.register(
        "portico_limit_hits",
        "Times a configured limit turned a client away or closed its connection, by limit",
        limits.clone(),
    );
    for (reason, n) in refusals {
        refused
            .get_or_create(&vec![("reason", (*reason).to_owned())])
            .inc_by(*n);
        if let Some((_, limit)) = LIMITS.iter().find(|(r, _)| r == reason) {
            limits
                .get_or_create(&vec![("limit", (*limit).to_owned())])
                .inc_by(*n);
        }
    }
    counter(
        &mut r,
        "portico_adapter_errors",
        "Cluster operations that failed (publish, answer, server count, request timeout)",
        None,
        stats.adapter_errors,
    );
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut out, &r);
    out
}

/// The metrics endpoint: `GET /metrics`, 404 for anything else.
pub(crate) fn app(io: Server) -> axum::Router {
    axum::Router::new()
        .route(
            "/metrics",
            get(move || async move {
                let body = render(&io.stats(), &io.refusals());
                ([(header::CONTENT_TYPE, CONTENT_TYPE)], body)
            }),
        )
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "not found: metrics are at /metrics\n",
            )
                .into_response()
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric_with_help_and_units() {
        let mut stats = Stats::default();
        stats.sessions_polling = 2;
        stats.sessions_websocket = 3;
        stats.sessions_upgrading = 1;
        let mut ns = portico::NamespaceStats::default();
        ns.sockets = 4;
        ns.rooms = 5;
        stats.namespaces.insert("/chat".into(), ns);
        stats.traffic = traffic(10, 200, 11, 300);
        stats.adapter_errors = 7;
        let text = render(
            &stats,
            &[("origin", 2), ("unknown_sid", 0), ("event_rate", 3)],
        );
        let expected = "\
# HELP portico_sessions Open Engine.IO sessions by transport (polling includes those upgrading).
# TYPE portico_sessions gauge
portico_sessions{transport=\"polling\"} 2
portico_sessions{transport=\"websocket\"} 3
# HELP portico_sessions_upgrading Polling sessions with a WebSocket upgrade under way.
# TYPE portico_sessions_upgrading gauge
portico_sessions_upgrading 1
# HELP portico_sockets Connected Socket.IO sockets by namespace.
# TYPE portico_sockets gauge
portico_sockets{namespace=\"/chat\"} 4
# HELP portico_rooms Rooms with members by namespace (each socket's own room included, as in Node).
# TYPE portico_rooms gauge
portico_rooms{namespace=\"/chat\"} 5
# HELP portico_packets_received Engine.IO packets received from clients (heartbeats included).
# TYPE portico_packets_received counter
portico_packets_received_total 10
# HELP portico_packets_sent Engine.IO packets handed to the transports for clients (heartbeats included).
# TYPE portico_packets_sent counter
portico_packets_sent_total 11
# HELP portico_received_bytes Bytes of the Engine.IO packets received (no HTTP or WebSocket framing).
# TYPE portico_received_bytes counter
# UNIT portico_received_bytes bytes
portico_received_bytes_total 200
# HELP portico_sent_bytes Bytes of the Engine.IO packets sent (no HTTP or WebSocket framing).
# TYPE portico_sent_bytes counter
# UNIT portico_sent_bytes bytes
portico_sent_bytes_total 300
# HELP portico_refusals Clients turned away or cut off by the server, by reason.
# TYPE portico_refusals counter
portico_refusals_total{reason=\"origin\"} 2
portico_refusals_total{reason=\"unknown_sid\"} 0
portico_refusals_total{reason=\"event_rate\"} 3
# HELP portico_limit_hits Times a configured limit turned a client away or closed its connection, by limit.
# TYPE portico_limit_hits counter
portico_limit_hits_total{limit=\"event_rate\"} 3
# HELP portico_adapter_errors Cluster operations that failed (publish, answer, server count, request timeout).
# TYPE portico_adapter_errors counter
portico_adapter_errors_total 7
# EOF
";
        // Families keep their label sets in a hash map: compare line sets per family.
        let mut got: Vec<&str> = text.lines().collect();
        let mut want: Vec<&str> = expected.lines().collect();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "{text}");
    }

    fn traffic(
        packets_in: u64,
        bytes_in: u64,
        packets_out: u64,
        bytes_out: u64,
    ) -> portico::proto::engine::Traffic {
        let mut t = portico::proto::engine::Traffic::default();
        t.packets_in = packets_in;
        t.bytes_in = bytes_in;
        t.packets_out = packets_out;
        t.bytes_out = bytes_out;
        t
    }
}
