//! The result of a bench run: a table on stdout, JSON for `--json FILE`.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use super::measure::Usage;

/// Share of one core above which the client, not the server, limits the numbers.
const CLIENT_BOUND: f64 = 0.9;

/// One measured number.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Metric {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
}

/// One phase of a scenario (a transport of `connect`, a stage of `idle`, ...).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Phase {
    pub name: String,
    pub metrics: Vec<Metric>,
    pub usage: Usage,
    pub received: u64,
    pub expected: u64,
    pub failures: u64,
}

impl Phase {
    pub fn new(name: impl Into<String>, usage: Usage) -> Phase {
        Phase {
            name: name.into(),
            metrics: Vec::new(),
            usage,
            received: 0,
            expected: 0,
            failures: 0,
        }
    }

    pub fn metric(&mut self, name: impl Into<String>, value: f64, unit: &'static str) {
        self.metrics.push(Metric {
            name: name.into(),
            value,
            unit,
        });
    }

    /// Whether anything was lost or failed.
    pub fn lossy(&self) -> bool {
        self.received != self.expected || self.failures > 0
    }
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub scenario: String,
    pub params: Value,
    pub phases: Vec<Phase>,
    pub warnings: Vec<String>,
}

#[derive(Serialize)]
struct Totals<'a> {
    scenario: &'a str,
    params: &'a Value,
    client: Value,
    server: Value,
    received: u64,
    expected: u64,
    failures: u64,
    ok: bool,
    phases: &'a [Phase],
    warnings: &'a [String],
}

impl Report {
    pub fn new(scenario: &str, params: Value) -> Report {
        Report {
            scenario: scenario.to_owned(),
            params,
            phases: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub fn received(&self) -> u64 {
        self.phases.iter().map(|p| p.received).sum()
    }

    pub fn expected(&self) -> u64 {
        self.phases.iter().map(|p| p.expected).sum()
    }

    pub fn failures(&self) -> u64 {
        self.phases.iter().map(|p| p.failures).sum()
    }

    /// Whether everything expected arrived and nothing failed.
    pub fn ok(&self) -> bool {
        !self.phases.iter().any(Phase::lossy)
    }

    /// Add warnings derived from the numbers (client-bound phases).
    pub fn check(&mut self) {
        for phase in &self.phases {
            if phase.usage.client_cores > CLIENT_BOUND {
                self.warnings.push(format!(
                    "{}: the client used {:.0}% of a core: the numbers are client-bound; compare \
                     server CPU per operation instead",
                    phase.name,
                    phase.usage.client_cores * 100.0
                ));
            }
        }
    }

    /// The machine-readable result.
    pub fn to_json(&self) -> Value {
        let sum = |f: fn(&Usage) -> Option<f64>| -> Option<f64> {
            let values: Vec<f64> = self.phases.iter().filter_map(|p| f(&p.usage)).collect();
            (!values.is_empty()).then(|| values.iter().sum())
        };
        let rss_before = self
            .phases
            .first()
            .and_then(|p| p.usage.server_rss_kb_before);
        let rss_after = self.phases.last().and_then(|p| p.usage.server_rss_kb_after);
        let client_cpu = sum(|u| Some(u.client_cpu_s));
        let wall = sum(|u| Some(u.wall_s));
        let totals = Totals {
            scenario: &self.scenario,
            params: &self.params,
            client: serde_json::json!({"cpu_s": client_cpu, "wall_s": wall}),
            server: serde_json::json!({
                "cpu_s": sum(|u| u.server_cpu_s),
                "rss_kb_before": rss_before,
                "rss_kb_after": rss_after,
            }),
            received: self.received(),
            expected: self.expected(),
            failures: self.failures(),
            ok: self.ok(),
            phases: &self.phases,
            warnings: &self.warnings,
        };
        serde_json::to_value(&totals).unwrap_or(Value::Null)
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "portico bench {}  {}", self.scenario, self.params);
        for phase in &self.phases {
            let _ = writeln!(out, "\n  {}", phase.name);
            let mut rows: Vec<(String, String)> = phase
                .metrics
                .iter()
                .map(|m| {
                    (
                        m.name.clone(),
                        format!("{} {}", format_value(m.value), m.unit),
                    )
                })
                .collect();
            let u = &phase.usage;
            rows.push((
                "client CPU".into(),
                format!(
                    "{:.2} s ({:.0}% of a core over {:.1} s)",
                    u.client_cpu_s,
                    u.client_cores * 100.0,
                    u.wall_s
                ),
            ));
            if let Some(cpu) = u.server_cpu_s {
                rows.push(("server CPU".into(), format!("{cpu:.3} s")));
            }
            if let (Some(a), Some(b)) = (u.server_rss_kb_before, u.server_rss_kb_after) {
                rows.push(("server RSS".into(), format!("{a} KiB -> {b} KiB")));
            }
            if let Some(steal) = u.steal_ms {
                rows.push((
                    "CPU stolen by the hypervisor".into(),
                    format!("{steal:.0} ms (all cores)"),
                ));
            }
            let status = if phase.lossy() {
                "  <-- LOSS/FAILURE"
            } else {
                ""
            };
            rows.push((
                "received / expected".into(),
                format!(
                    "{} / {}  (failures {}){status}",
                    phase.received, phase.expected, phase.failures
                ),
            ));
            let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            for (k, v) in rows {
                let _ = writeln!(out, "    {k:<width$}  {v}");
            }
        }
        for w in &self.warnings {
            let _ = writeln!(out, "\nWARNING: {w}");
        }
        if !self.ok() {
            let _ = writeln!(
                out,
                "\nFAILED: received {} of {} expected, {} failures",
                self.received(),
                self.expected(),
                self.failures()
            );
        }
        out
    }
}

fn format_value(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_is_loud() {
        let mut report = Report::new("broadcast", serde_json::json!({}));
        let mut phase = Phase::new("ws", Usage::default());
        phase.received = 9;
        phase.expected = 10;
        report.phases.push(phase);
        assert!(!report.ok());
        assert!(report.table().contains("FAILED: received 9 of 10"));
        assert_eq!(report.to_json()["ok"], false);
        assert_eq!(report.to_json()["expected"], 10);
    }
}
