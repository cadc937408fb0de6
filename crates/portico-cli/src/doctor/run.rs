//! One run of `doctor`: the state shared by the checks (options, clock, findings, checks
//! done), the requests as a browser sends them, and the checks every flow starts with
//! (reachability, the path).

use std::time::Duration;

use tokio::time::Instant;

use super::args::Options;
use super::cors;
use super::engine::{self, Answer};
use super::findings::{Facts, Finding, Id, Severity};
use super::http::{self, ProbeError, Request, Response};
use super::report::{Check, Report, Status};

/// Time kept back at the end of the run to write the report.
const MARGIN: Duration = Duration::from_millis(150);

/// The state of a run.
pub(crate) struct Doctor {
    pub o: Options,
    /// When the run started and when it must end.
    pub start: Instant,
    pub end: Instant,
    pub findings: Vec<Finding>,
    pub checks: Vec<Check>,
    /// Check names this run means to do, in order; those never done are reported skipped.
    planned: Vec<&'static str>,
    /// Progress lines on stderr.
    progress: bool,
    /// The path in use (the client's, or the one found to answer).
    pub path: String,
    /// A proxy seen in an answer (`Server`/`Via`), to name when a proxy is the cause.
    pub proxy: Option<String>,
}

/// Runs every check and returns the report; never longer than `--deadline-ms`.
pub(crate) async fn run(o: Options, progress: bool) -> Report {
    let mut d = Doctor::new(o, progress);
    // Each step is bounded by the deadline already; this is the backstop.
    let backstop = d.end + MARGIN;
    let _ = tokio::time::timeout_at(backstop, d.go()).await;
    d.finish()
}

impl Doctor {
    fn new(o: Options, progress: bool) -> Doctor {
        let start = Instant::now();
        let end = start + o.deadline;
        let path = o.path.clone();
        Doctor {
            o,
            start,
            end,
            findings: Vec::new(),
            checks: Vec::new(),
            planned: Vec::new(),
            progress,
            path,
            proxy: None,
        }
    }

    async fn go(&mut self) {
        if self.o.polling_first() {
            self.polling_flow().await;
        } else {
            self.websocket_flow(false).await;
        }
    }

    fn finish(mut self) -> Report {
        let planned_order = std::mem::take(&mut self.planned);
        for &name in &planned_order {
            if !self.checks.iter().any(|c| c.name == name) {
                let reason = if Instant::now() + MARGIN >= self.end {
                    "not reached: --deadline-ms ran out"
                } else {
                    "not reached: an earlier check failed"
                };
                self.checks.push(Check::skip(name, reason));
            }
        }
        // Checks in the order planned (the CORS verdict is recorded last, shown early).
        let order = |name: &str| {
            planned_order
                .iter()
                .position(|n| *n == name)
                .unwrap_or(usize::MAX)
        };
        self.checks.sort_by_key(|c| order(c.name));
        let mut findings = self.findings;
        findings.sort_by_key(|f| (f.severity, f.id));
        Report {
            target: self.o.url.clone(),
            origin: self.o.origin.clone(),
            path: self.o.path.clone(),
            namespace: self.o.namespace.clone(),
            findings,
            checks: self.checks,
        }
    }

    /// Adds check names to the plan.
    pub fn plan(&mut self, names: &[&'static str]) {
        for n in names {
            if !self.planned.contains(n) {
                self.planned.push(n);
            }
        }
    }

    /// A progress line on stderr (only on a terminal).
    pub fn step(&self, line: &str) {
        if self.progress {
            eprintln!("\x1b[2m… {line}\x1b[0m");
        }
    }

    /// Records a check's outcome (the first record of a name wins).
    pub fn record(
        &mut self,
        name: &'static str,
        status: Status,
        since: Instant,
        reason: Option<String>,
    ) {
        if self.checks.iter().any(|c| c.name == name) {
            return;
        }
        let ms = u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.checks.push(Check {
            name,
            status,
            ms,
            reason,
        });
    }

    /// Records checks as skipped, with the reason.
    pub fn skip(&mut self, names: &[&'static str], reason: &str) {
        for name in names {
            self.record(name, Status::Skip, Instant::now(), Some(reason.to_string()));
        }
    }

    /// Adds a finding (one per id: the first, with its evidence, is kept).
    pub fn add(&mut self, finding: Finding) {
        if !self.findings.iter().any(|f| f.id == finding.id) {
            self.findings.push(finding);
        }
    }

    /// Whether a finding with this id was made.
    pub fn has(&self, id: Id) -> bool {
        self.findings.iter().any(|f| f.id == id)
    }

    /// The facts the catalogue's texts are filled with.
    pub fn facts(&self, detail: Option<String>) -> Facts {
        Facts {
            origin: self.o.origin.clone(),
            path: self.path.clone(),
            namespace: self.o.namespace.clone(),
            credentials: self.o.credentials,
            auth: self.o.auth.is_some(),
            detail,
        }
    }

    /// A catalogue finding with an observed detail (`why` starts with it).
    pub fn finding(&self, id: Id, why_detail: impl Into<String>) -> Finding {
        Finding::new(id, &self.facts(None), why_detail)
    }

    /// Like [`Doctor::finding`], with a detail the fixes are filled with.
    pub fn finding_with(&self, id: Id, fix_detail: &str, why_detail: impl Into<String>) -> Finding {
        Finding::new(id, &self.facts(Some(fix_detail.to_string())), why_detail)
    }

    /// Time left before the deadline, less the margin.
    pub fn left(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now() + MARGIN)
    }

    /// Whether the deadline has (nearly) passed.
    pub fn out_of_time(&self) -> bool {
        self.left() < Duration::from_millis(20)
    }

    /// The time one request may take: `--timeout-ms`, within the deadline.
    pub fn budget(&self) -> Duration {
        self.o.timeout.min(self.left())
    }

    /// The query of a polling request.
    pub fn polling_query(&self, sid: Option<&str>) -> String {
        polling_query(&self.path, self.o.eio, sid)
    }

    /// A polling request as the browser sends it (see [`xhr`]).
    pub fn xhr(&self, method: &'static str, path_and_query: &str, body: Vec<u8>) -> Request {
        xhr(&self.o, method, path_and_query, body)
    }

    /// Sends a request within the per-request budget.
    pub async fn http(&self, req: &Request) -> Result<Response, ProbeError> {
        let budget = self.budget();
        if budget.is_zero() {
            return Err(ProbeError::Timeout);
        }
        http::send(&self.o.target, req, budget).await
    }

    /// The preflight the browser sends before a polling request with non-safelisted extra
    /// headers; `true` when none is needed or it passes. Records the `preflight` check.
    pub async fn preflight(&mut self, method: &'static str, path_and_query: &str) -> bool {
        let requested = cors::unsafe_headers(&self.o.headers);
        if requested.is_empty() || self.o.same_origin() {
            let why = if requested.is_empty() {
                "no header that needs one (only CORS-safelisted headers)"
            } else {
                "same origin: no CORS"
            };
            self.skip(&["preflight"], why);
            return true;
        }
        let t0 = Instant::now();
        self.step(&format!("preflight OPTIONS {path_and_query}"));
        let req = Request::new("OPTIONS", path_and_query)
            .header("Accept", "*/*")
            .header("Origin", self.o.origin.clone())
            .header("Access-Control-Request-Method", method)
            .header("Access-Control-Request-Headers", requested.join(","))
            .header("User-Agent", super::USER_AGENT)
            .header("Connection", "close");
        let url = self.o.target.url(path_and_query);
        let result = match self.http(&req).await {
            Err(e) => Err((format!("the preflight got no answer: {e}."), None)),
            Ok(resp) => {
                match cors::check_preflight(&self.o.origin, self.o.credentials, &requested, &resp) {
                    Ok(()) => Ok(()),
                    Err(f) => {
                        let detail = match &f {
                            cors::Failure::HeaderNotAllowed(h) => h.clone(),
                            _ => requested.first().cloned().unwrap_or_default(),
                        };
                        let why = format!(
                            "The preflight for {method} (asking for {}) answered {} {}: {}",
                            requested.join(", "),
                            resp.status,
                            resp.reason,
                            f.chrome_reason(true)
                        );
                        let finding = self
                            .finding_with(Id::CorsPreflightFailed, &detail, why)
                            .console(f.chrome_line(&url, &self.o.origin, true))
                            .evidence(req.evidence().into_iter().chain(resp.evidence()));
                        Err((String::new(), Some(finding)))
                    }
                }
            }
        };
        match result {
            Ok(()) => {
                self.record("preflight", Status::Pass, t0, None);
                true
            }
            Err((why, finding)) => {
                let finding = finding.unwrap_or_else(|| {
                    let header = requested.first().cloned().unwrap_or_default();
                    self.finding_with(Id::CorsPreflightFailed, &header, why)
                        .evidence(req.evidence())
                });
                let client = if method == "POST" {
                    "xhr post error"
                } else {
                    "xhr poll error"
                };
                self.add(finding.client(client));
                self.record("preflight", Status::Fail, t0, None);
                false
            }
        }
    }

    /// Applies the browser's CORS check to a polling response; `true` when the page may
    /// read it (or no CORS applies). A failure becomes a `cors.*` finding.
    pub fn cors_check(&mut self, req: &Request, resp: &Response) -> bool {
        if self.o.same_origin() {
            return true;
        }
        match cors::check(&self.o.origin, self.o.credentials, resp) {
            Ok(()) => true,
            Err(f) => {
                let url = self.o.target.url(&req.path);
                let client = if req.method == "POST" {
                    "xhr post error"
                } else {
                    "xhr poll error"
                };
                let what = match req.method {
                    "POST" => "The polling POST's answer",
                    _ => "The polling GET's answer",
                };
                let why = format!(
                    "{what} fails the browser's CORS check: {}",
                    f.chrome_reason(false)
                );
                let mut evidence = req.evidence();
                evidence.extend(resp.evidence());
                if let cors::Failure::MultipleAllowOrigin(joined) = &f {
                    evidence.push(format!("= access-control-allow-origin: {joined} (the lines as the browser joins them)"));
                }
                let finding = self
                    .finding(f.id(false), why)
                    .client(client)
                    .console(f.chrome_line(&url, &self.o.origin, false))
                    .evidence(evidence);
                self.add(finding);
                false
            }
        }
    }

    /// Records the `cors` check from the findings made.
    pub fn record_cors(&mut self) {
        if self.o.same_origin() {
            self.skip(
                &["cors"],
                "the page and the server share an origin: no CORS",
            );
            return;
        }
        let failed = self
            .findings
            .iter()
            .any(|f| f.id.as_str().starts_with("cors.") || f.id == Id::OriginRefused);
        let handshake = self
            .checks
            .iter()
            .any(|c| c.name == "handshake" && c.status == Status::Pass);
        if failed {
            self.record("cors", Status::Fail, Instant::now(), None);
        } else if handshake {
            self.record("cors", Status::Pass, Instant::now(), None);
        } else {
            self.skip(&["cors"], "no Socket.IO answer to check");
        }
    }

    /// A finding for a request that got no HTTP answer.
    pub fn unreachable(&self, e: &ProbeError, req: &Request, websocket: bool) -> Finding {
        let url = if websocket {
            self.o.target.ws_url(&req.path)
        } else {
            self.o.target.url(&req.path)
        };
        let client = if websocket {
            "websocket error"
        } else {
            "xhr poll error"
        };
        let console = |code: &str| {
            if websocket {
                format!("WebSocket connection to '{url}' failed: {code}")
            } else {
                format!("GET {url} net::{code}")
            }
        };
        let target = format!("{}:{}", self.o.target.host, self.o.target.port);
        let ms = self.o.timeout.as_millis();
        let evidence = req.evidence().into_iter().chain([format!("! {e}")]);
        let (id, why, client, console) = match e {
            ProbeError::Dns(msg) => (
                Id::UnreachableDns,
                format!("\"{}\" does not resolve ({msg}).", self.o.target.host),
                client,
                Some(console("ERR_NAME_NOT_RESOLVED")),
            ),
            ProbeError::Refused(msg) => (
                Id::UnreachableRefused,
                format!("{target} refused the connection ({msg})."),
                client,
                Some(console("ERR_CONNECTION_REFUSED")),
            ),
            ProbeError::ConnectTimeout => (
                Id::UnreachableTimeout,
                format!("No TCP connection to {target} within {ms} ms."),
                client,
                Some(console("ERR_CONNECTION_TIMED_OUT")),
            ),
            ProbeError::Timeout => (
                Id::UnreachableTimeout,
                format!("{target} accepted the connection but sent no answer within {ms} ms."),
                "timeout",
                None,
            ),
            ProbeError::Tls(msg) => {
                let code = if msg.contains("UnknownIssuer") {
                    "ERR_CERT_AUTHORITY_INVALID"
                } else if msg.contains("NotValidForName") {
                    "ERR_CERT_COMMON_NAME_INVALID"
                } else if msg.contains("Expired") {
                    "ERR_CERT_DATE_INVALID"
                } else {
                    "ERR_SSL_PROTOCOL_ERROR"
                };
                (Id::TlsError, format!("TLS with {target} failed: {msg}."), client, Some(console(code)))
            }
            ProbeError::Malformed(msg) if msg.contains("\\u0015\\u0003") || msg.contains("\\u0016\\u0003") => (
                Id::TlsError,
                format!("{target} answered with TLS bytes to plain HTTP: the port speaks TLS, use https://."),
                client,
                Some(console("ERR_EMPTY_RESPONSE")),
            ),
            ProbeError::Closed | ProbeError::Malformed(_) | ProbeError::Io(_) => (
                Id::HttpUnexpectedStatus,
                format!("{target} gave no usable HTTP answer: {e}."),
                client,
                Some(console("ERR_EMPTY_RESPONSE")),
            ),
        };
        self.finding(id, why)
            .client(client)
            .evidence(evidence)
            .console_opt(console)
    }

    /// Looks for the path a Socket.IO server answers at, after the client's path did not
    /// answer as Engine.IO: `/socket.io/`, then a path the answer hints at (a redirect's
    /// `Location`). Returns the path that answers and the evidence of each try.
    pub async fn find_path(&mut self, first: Option<&Response>) -> (Option<String>, Vec<String>) {
        let mut candidates: Vec<String> = vec!["/socket.io/".to_string()];
        if let Some(location) = first.and_then(|r| r.header("location")) {
            let own = self.o.target.origin();
            let path = location.strip_prefix(own.as_str()).unwrap_or(location);
            if path.starts_with('/') {
                let path = path.split('?').next().unwrap_or(path);
                let path = if path.ends_with('/') {
                    path.to_string()
                } else {
                    format!("{path}/")
                };
                candidates.push(path);
            }
        }
        candidates.retain(|c| *c != self.o.path);
        candidates.dedup();
        let mut evidence = Vec::new();
        for candidate in candidates {
            if self.out_of_time() {
                break;
            }
            self.step(&format!("trying path {candidate}"));
            let query = format!(
                "{candidate}?EIO={}&transport=polling&t={}",
                self.o.eio,
                engine::cache_buster()
            );
            let req = self.xhr("GET", &query, Vec::new());
            match self.http(&req).await {
                Err(e) => evidence.push(format!("tried {candidate}: {e}")),
                Ok(resp) => {
                    let answers = !matches!(engine::classify(&resp, self.o.eio), Answer::Other);
                    evidence.push(format!(
                        "tried {candidate}: {} {}{}",
                        resp.status,
                        resp.reason,
                        if answers {
                            " (Engine.IO answers here)"
                        } else {
                            ""
                        }
                    ));
                    if answers {
                        return (Some(candidate), evidence);
                    }
                }
            }
        }
        (None, evidence)
    }

    /// Reports `path.not-found` after the client's path got `first` (or no answer): the
    /// path that answers instead, if any. Returns it.
    pub async fn path_not_found(
        &mut self,
        req: &Request,
        first: Result<&Response, &ProbeError>,
    ) -> Option<String> {
        let (found, tries) = self.find_path(first.ok()).await;
        let what = match first {
            Ok(r) => format!("{} {}", r.status, r.reason),
            Err(e) => e.to_string(),
        };
        let given = self.o.path.clone();
        let why = match &found {
            Some(p) => {
                format!("{given} answers {what}, not Engine.IO; a Socket.IO server answers at {p}.")
            }
            None => format!(
                "{given} answers {what}, not Engine.IO, and no other path tried answers either."
            ),
        };
        let url = self.o.target.url(&req.path);
        let console = match first {
            Ok(r) if !self.o.same_origin() && r.header("access-control-allow-origin").is_none() => {
                Some(cors::Failure::MissingAllowOrigin.chrome_line(&url, &self.o.origin, false))
            }
            Ok(r) => Some(format!("GET {url} {} ({})", r.status, r.reason)),
            Err(_) => None,
        };
        let mut evidence = req.evidence();
        match first {
            Ok(r) => evidence.extend(r.evidence()),
            Err(e) => evidence.push(format!("! {e}")),
        }
        evidence.extend(tries);
        let client = if matches!(first, Err(ProbeError::Timeout)) {
            "timeout"
        } else {
            "xhr poll error"
        };
        let finding = Finding::new(
            Id::PathNotFound,
            &Facts {
                path: given,
                ..self.facts(found.clone())
            },
            why,
        )
        .client(client)
        .evidence(evidence)
        .console_opt(console);
        self.add(finding);
        found
    }

    /// The severity of a WebSocket finding: a warning when the client starts with polling
    /// (it stays on polling), an error when it uses WebSocket only.
    pub fn ws_severity(&self) -> Severity {
        if self.o.polling_first() {
            Severity::Warning
        } else {
            Severity::Error
        }
    }
}

impl Request {
    /// Sets the body.
    pub fn with_body(mut self, body: Vec<u8>) -> Request {
        self.body = body;
        self
    }
}

impl Finding {
    /// Sets the Chrome console line when there is one.
    pub fn console_opt(self, line: Option<String>) -> Finding {
        match line {
            Some(l) => self.console(l),
            None => self,
        }
    }
}

/// The path and query of a polling request: `{path}?EIO=4&transport=polling[&sid=..]&t=..`.
pub(crate) fn polling_query(path: &str, eio: u8, sid: Option<&str>) -> String {
    let sid = sid.map(|s| format!("&sid={s}")).unwrap_or_default();
    format!(
        "{path}?EIO={eio}&transport=polling{sid}&t={}",
        engine::cache_buster()
    )
}

/// A polling request as the browser sends it for the official client: `Origin` on
/// cross-origin requests (and on every POST), the client's extra headers, the POST's
/// `text/plain;charset=UTF-8`.
pub(crate) fn xhr(
    o: &Options,
    method: &'static str,
    path_and_query: &str,
    body: Vec<u8>,
) -> Request {
    let mut req = Request::new(method, path_and_query)
        .header("Accept", "*/*")
        .header("User-Agent", super::USER_AGENT);
    if !o.same_origin() || method == "POST" {
        req = req.header("Origin", o.origin.clone());
    }
    for (name, value) in &o.headers {
        req = req.header(name, value.clone());
    }
    if method == "POST" {
        req = req.header("Content-Type", "text/plain;charset=UTF-8");
    }
    req.header("Connection", "close").with_body(body)
}
