//! The report: the summary line, each finding with its evidence and fixes (for people), and
//! the JSON object of `--json` (for tools; the schema is in docs/doctor.md).

use serde::Serialize;
use serde_json::json;

use super::findings::{Finding, Severity};

/// The JSON schema version.
pub(crate) const JSON_VERSION: u32 = 1;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Pass,
    Fail,
    Skip,
}

/// One check done (or skipped), with the time it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Check {
    pub name: &'static str,
    pub status: Status,
    pub ms: u64,
    /// Why it was skipped (or failed), when that is not a finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Check {
    /// A skipped check.
    pub fn skip(name: &'static str, reason: &str) -> Check {
        Check {
            name,
            status: Status::Skip,
            ms: 0,
            reason: Some(reason.to_string()),
        }
    }
}

/// Everything a run found.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    pub target: String,
    pub origin: String,
    pub path: String,
    pub namespace: String,
    /// Sorted: errors, then warnings, then notes.
    pub findings: Vec<Finding>,
    pub checks: Vec<Check>,
}

impl Report {
    /// No finding of severity error or warning.
    pub fn healthy(&self) -> bool {
        self.findings.iter().all(|f| f.severity == Severity::Info)
    }

    /// The process exit code: 0 healthy, 1 problems found.
    pub fn exit_code(&self) -> u8 {
        if self.healthy() {
            0
        } else {
            1
        }
    }

    /// One line: `2 problems: a, b` or `healthy: ...`.
    pub fn summary(&self) -> String {
        let ids = |pred: &dyn Fn(&Finding) -> bool| {
            self.findings
                .iter()
                .filter(|f| pred(f))
                .map(|f| f.id.as_str())
                .collect::<Vec<_>>()
        };
        let problems = ids(&|f| f.severity != Severity::Info);
        let notes = ids(&|f| f.severity == Severity::Info);
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!("; notes: {}", notes.join(", "))
        };
        if !problems.is_empty() {
            let s = if problems.len() == 1 { "" } else { "s" };
            return format!(
                "{} problem{s}: {}{notes}",
                problems.len(),
                problems.join(", ")
            );
        }
        let passed: Vec<&str> = self
            .checks
            .iter()
            .filter(|c| c.status == Status::Pass)
            .map(|c| c.name)
            .collect();
        let skipped: Vec<&str> = self
            .checks
            .iter()
            .filter(|c| c.status == Status::Skip)
            .map(|c| c.name)
            .collect();
        let skipped = if skipped.is_empty() {
            String::new()
        } else {
            format!("; skipped: {}", skipped.join(", "))
        };
        format!("healthy: {} passed{skipped}{notes}", passed.join(", "))
    }

    /// The `--json` object.
    pub fn to_json(&self) -> serde_json::Value {
        let findings: Vec<serde_json::Value> = self
            .findings
            .iter()
            .map(|f| {
                json!({
                    "id": f.id.as_str(),
                    "severity": f.severity,
                    "title": f.title,
                    "client_error": f.client_error,
                    "browser_console": f.browser_console,
                    "evidence": f.evidence,
                    "why": f.why,
                    "fix": f.fix,
                })
            })
            .collect();
        json!({
            "version": JSON_VERSION,
            "target": self.target,
            "origin": self.origin,
            "path": self.path,
            "namespace": self.namespace,
            "healthy": self.healthy(),
            "summary": self.summary(),
            "findings": findings,
            "checks": self.checks,
        })
    }

    /// The report for people; ANSI colours when `colour`.
    pub fn render(&self, colour: bool) -> String {
        let paint = |code: &str, text: &str| {
            if colour {
                format!("\x1b[{code}m{text}\x1b[0m")
            } else {
                text.to_string()
            }
        };
        let mut out = String::new();
        let mark = if self.healthy() {
            paint("1;32", "✔")
        } else {
            paint("1;31", "✖")
        };
        out.push_str(&format!("{mark} {}\n", paint("1", &self.summary())));
        out.push_str(&format!(
            "  {} as a page on {} would connect (path {}, namespace {})\n",
            self.target, self.origin, self.path, self.namespace
        ));
        for f in &self.findings {
            let (label, code) = match f.severity {
                Severity::Error => ("error", "1;31"),
                Severity::Warning => ("warning", "1;33"),
                Severity::Info => ("note", "1;34"),
            };
            out.push('\n');
            out.push_str(&format!(
                "{} {}: {}\n",
                paint(code, label),
                paint("1", f.id.as_str()),
                f.title
            ));
            out.push_str(&format!("  The client shows: {}\n", f.client_error));
            if let Some(line) = &f.browser_console {
                out.push_str(&format!("  Browser console: {line}\n"));
            }
            if !f.evidence.is_empty() {
                out.push_str("  Evidence:\n");
                for line in &f.evidence {
                    out.push_str(&format!("    {}\n", paint("2", line)));
                }
            }
            out.push_str(&format!("  Why: {}\n", f.why));
            out.push_str("  Fix:\n");
            let mut fix = |who: &str, snippet: &str| {
                out.push_str(&format!("    {}\n", paint("1", who)));
                for line in snippet.lines() {
                    out.push_str(&format!("      {}\n", paint("36", line)));
                }
            };
            fix("Portico:", &f.fix.portico);
            fix("Node's socket.io:", &f.fix.node);
            if let Some(nginx) = &f.fix.nginx {
                fix("nginx:", nginx);
            }
        }
        out.push_str("\nChecks:\n");
        for c in &self.checks {
            let status = match c.status {
                Status::Pass => paint("32", "pass"),
                Status::Fail => paint("31", "fail"),
                Status::Skip => paint("2", "skip"),
            };
            let reason = c
                .reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            out.push_str(&format!(
                "  {status} {:<10} {:>6} ms{reason}\n",
                c.name, c.ms
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

    use super::*;
    use crate::doctor::findings::{Facts, Id};

    fn report(findings: Vec<Finding>) -> Report {
        Report {
            target: "http://localhost:3000".into(),
            origin: "http://localhost:5173".into(),
            path: "/socket.io/".into(),
            namespace: "/".into(),
            findings,
            checks: vec![
                Check {
                    name: "handshake",
                    status: Status::Pass,
                    ms: 3,
                    reason: None,
                },
                Check::skip("heartbeat", "too long"),
            ],
        }
    }

    fn finding(id: Id) -> Finding {
        Finding::new(
            id,
            &Facts {
                origin: "http://localhost:5173".into(),
                ..Facts::default()
            },
            "seen.",
        )
        .client("xhr poll error")
        .evidence(["> GET /socket.io/?EIO=4&transport=polling HTTP/1.1".to_string()])
    }

    #[test]
    fn healthy_report() {
        let r = report(vec![]);
        assert!(r.healthy());
        assert_eq!(r.exit_code(), 0);
        assert_eq!(r.summary(), "healthy: handshake passed; skipped: heartbeat");
        let text = r.render(false);
        assert!(text.starts_with("✔ healthy: "));
        assert!(!text.contains('\x1b'));
        assert!(r.render(true).contains("\x1b["));
        // Notes keep it healthy.
        let r = report(vec![finding(Id::HandshakeUnusual)]);
        assert!(r.healthy());
        assert!(r.summary().ends_with("; notes: handshake.unusual"));
    }

    #[test]
    fn problems_report() {
        let r = report(vec![
            finding(Id::CorsOriginMismatch),
            finding(Id::WebsocketProxyDroppedUpgrade),
        ]);
        assert!(!r.healthy());
        assert_eq!(r.exit_code(), 1);
        assert_eq!(
            r.summary(),
            "2 problems: cors.origin-mismatch, websocket.proxy-dropped-upgrade"
        );
        let text = r.render(false);
        assert!(text
            .starts_with("✖ 2 problems: cors.origin-mismatch, websocket.proxy-dropped-upgrade\n"));
        for part in [
            "error cors.origin-mismatch:",
            "warning websocket.proxy-dropped-upgrade:",
            "The client shows: xhr poll error",
            "Evidence:",
            "Why: seen.",
            "Portico:",
            "Node's socket.io:",
            "nginx:",
        ] {
            assert!(text.contains(part), "{part} missing in\n{text}");
        }
        assert_eq!(
            report(vec![finding(Id::OriginRefused)]).summary(),
            "1 problem: origin.refused"
        );
    }

    #[test]
    fn json_shape() {
        let r = report(vec![
            finding(Id::CorsMissingAllowOrigin).console("Access to XMLHttpRequest ...")
        ]);
        let v = r.to_json();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "version",
                "target",
                "origin",
                "path",
                "namespace",
                "healthy",
                "summary",
                "findings",
                "checks"
            ]
        );
        assert_eq!(v["version"], 1);
        assert_eq!(v["healthy"], false);
        let f = &v["findings"][0];
        let keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "id",
                "severity",
                "title",
                "client_error",
                "browser_console",
                "evidence",
                "why",
                "fix"
            ]
        );
        assert_eq!(f["id"], "cors.missing-allow-origin");
        assert_eq!(f["severity"], "error");
        assert!(f["evidence"][0].as_str().unwrap().starts_with("> GET "));
        let fix_keys: Vec<&str> = f["fix"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(fix_keys, ["portico", "node", "nginx"]);
        assert!(f["fix"]["nginx"].is_null());
        assert_eq!(
            v["checks"][0],
            json!({"name": "handshake", "status": "pass", "ms": 3})
        );
        assert_eq!(v["checks"][1]["status"], "skip");
        assert_eq!(v["checks"][1]["reason"], "too long");
        // browser_console is null when there is none.
        let v = report(vec![finding(Id::HandshakeUnusual)]).to_json();
        assert!(v["findings"][0]["browser_console"].is_null());
        assert_eq!(v["findings"][0]["severity"], "info");
        assert_eq!(v["healthy"], true);
    }
}
