//! The WebSocket checks: the upgrade of a polling session (`2probe`, `3probe`, `5`), a
//! WebSocket-only connection (`--transports websocket`), and the heartbeat over either
//! transport.

use std::time::Duration;

use tokio::time::Instant;

use super::engine::{self, Answer, ConnectAnswer, Open};
use super::findings::{Id, Severity};
use super::http::{self, ProbeError, Request, Response};
use super::polling::Session;
use super::report::Status;
use super::run::Doctor;
use super::ws::{self, Incoming, WsConn};

/// Slack given to the server's timers.
const SLACK: Duration = Duration::from_millis(500);

impl Doctor {
    /// Opens a WebSocket; the `101` connection, or `Err` after the finding is made.
    async fn open_ws(
        &mut self,
        query: &str,
        check: &'static str,
        t0: Instant,
    ) -> Result<(WsConn, Vec<String>), ()> {
        let (req, key) = ws::upgrade_request(query, &self.o.origin);
        let mut evidence = req.evidence();
        let budget = self.budget();
        let result = if budget.is_zero() {
            Err(ProbeError::Timeout)
        } else {
            http::upgrade(&self.o.target, &req, budget).await
        };
        match result {
            Err(e) => {
                let finding = match &e {
                    _ if self.o.polling_first() => {
                        self.ws_failed(&req, &format!("no answer to the upgrade: {e}"), None)
                    }
                    // Node's engine.io destroys upgrades outside its path without an answer.
                    ProbeError::Closed => match self.path_not_found_ws(&req, &e).await {
                        Some(f) => f,
                        None => {
                            self.ws_failed(&req, &format!("no answer to the upgrade: {e}"), None)
                        }
                    },
                    ProbeError::Timeout => {
                        self.ws_failed(&req, &format!("no answer to the upgrade: {e}"), None)
                    }
                    _ => self.unreachable(&e, &req, true),
                };
                self.add(finding);
                self.record(check, Status::Fail, t0, None);
                Err(())
            }
            Ok((resp, None)) => {
                evidence.extend(resp.evidence());
                let finding = self.ws_refused(&req, &resp, evidence).await;
                self.add(finding);
                self.record(check, Status::Fail, t0, None);
                Err(())
            }
            Ok((resp, Some((io, rest)))) => {
                evidence.extend(resp.evidence());
                if let Err(why) = ws::check_101(&resp, &key) {
                    let finding = self.ws_failed(&req, &why, Some(&resp));
                    self.add(finding);
                    self.record(check, Status::Fail, t0, None);
                    return Err(());
                }
                Ok((WsConn::new(io, &rest), evidence))
            }
        }
    }

    /// The Chrome console line for a failed WebSocket handshake.
    fn ws_console(&self, req: &Request, resp: Option<&Response>) -> String {
        let url = self.o.target.ws_url(&req.path);
        match resp {
            Some(r) if r.status != 101 => format!(
                "WebSocket connection to '{url}' failed: Error during WebSocket handshake: Unexpected response code: {}",
                r.status
            ),
            Some(_) => format!("WebSocket connection to '{url}' failed: Error during WebSocket handshake"),
            None => format!("WebSocket connection to '{url}' failed: "),
        }
    }

    /// The client's words for a WebSocket failure.
    fn ws_client(&self) -> &'static str {
        if self.o.polling_first() {
            "none: the client stays on HTTP long-polling (the upgrade fails silently)"
        } else {
            "websocket error"
        }
    }

    /// `websocket.failed` with a reason.
    fn ws_failed(
        &self,
        req: &Request,
        why: &str,
        resp: Option<&Response>,
    ) -> super::findings::Finding {
        let mut evidence = req.evidence();
        if let Some(r) = resp {
            evidence.extend(r.evidence());
        }
        self.finding(Id::WebsocketFailed, format!("The WebSocket failed: {why}."))
            .severity(self.ws_severity())
            .client(self.ws_client())
            .console(self.ws_console(req, resp))
            .evidence(evidence)
    }

    /// A non-101 answer to an upgrade, explained by its Engine.IO code.
    async fn ws_refused(
        &mut self,
        req: &Request,
        resp: &Response,
        evidence: Vec<String>,
    ) -> super::findings::Finding {
        let console = self.ws_console(req, Some(resp));
        let client = self.ws_client();
        let severity = self.ws_severity();
        let answer = engine::classify(resp, self.o.eio);
        let (id, why) = match &answer {
            Answer::Error { code: 3, message } => {
                let proxy = resp
                    .proxy_name()
                    .or_else(|| self.proxy.clone())
                    .unwrap_or_else(|| "a proxy in front of the server (no Server or Via header names it)".into());
                let why = format!(
                    "The upgrade, sent with `Upgrade: websocket` and `Connection: Upgrade`, got {} \
                     {{\"code\":3,\"message\":\"{message}\"}}: the answer of a Socket.IO server that saw a plain GET. \
                     The proxy: {proxy}.",
                    resp.status
                );
                return self
                    .finding_with(Id::WebsocketProxyDroppedUpgrade, &proxy, why)
                    .severity(severity)
                    .client(client)
                    .console(console)
                    .evidence(evidence);
            }
            Answer::Error { code: 0, message } => (
                Id::WebsocketDisabled,
                format!("The upgrade got {} {{\"code\":0,\"message\":\"{message}\"}}.", resp.status),
            ),
            Answer::Error { code: 4, message } => (
                Id::WebsocketOriginRefused,
                format!(
                    "The WebSocket from origin \"{}\" got {} {{\"code\":4,\"message\":\"{message}\"}}.",
                    self.o.origin, resp.status
                ),
            ),
            Answer::Error { code: 1, .. } => (
                Id::StickySessionUnknown,
                format!(
                    "The upgrade of the session got {} {{\"code\":1,\"message\":\"Session ID unknown\"}}: it reached \
                     another instance than the polling requests.",
                    resp.status
                ),
            ),
            Answer::Error { code: 5, message } => (
                Id::EioVersionMismatch,
                format!(
                    "The WebSocket with EIO={} got {} {{\"code\":5,\"message\":\"{message}\"}}.",
                    self.o.eio, resp.status
                ),
            ),
            _ if resp.status == 403 => (
                Id::WebsocketOriginRefused,
                format!("The WebSocket from origin \"{}\" got 403 {}.", self.o.origin, resp.reason),
            ),
            _ if resp.status == 404 && !self.o.polling_first() => {
                if let Some(f) = self.path_not_found_ws(req, &ProbeError::Closed).await {
                    return f.console(console).evidence(evidence);
                }
                (Id::WebsocketFailed, format!("The upgrade got {} {}.", resp.status, resp.reason))
            }
            _ => (Id::WebsocketFailed, format!("The upgrade got {} {}, not 101.", resp.status, resp.reason)),
        };
        let severity = match id {
            Id::StickySessionUnknown | Id::EioVersionMismatch => Severity::Error,
            _ => severity,
        };
        self.finding(id, why)
            .severity(severity)
            .client(client)
            .console(console)
            .evidence(evidence)
    }

    /// For a WebSocket-only client whose upgrade got a 404 or no answer: the path search.
    async fn path_not_found_ws(
        &mut self,
        req: &Request,
        e: &ProbeError,
    ) -> Option<super::findings::Finding> {
        let before = self.findings.len();
        let found = self.path_not_found(req, Err(e)).await;
        // `path_not_found` added the finding; hand it back to the caller instead.
        let finding = (self.findings.len() > before).then(|| self.findings.remove(before));
        let finding = finding?;
        if found.is_none() && matches!(e, ProbeError::Closed) {
            // Nothing answers anywhere: not a path problem after all.
            return None;
        }
        Some(finding.client("websocket error"))
    }

    /// Upgrades the polling session to WebSocket, as the client does after connecting.
    pub(crate) async fn upgrade(&mut self, s: &mut Session) -> Option<WsConn> {
        let t0 = Instant::now();
        let query = format!(
            "{}?EIO={}&transport=websocket&sid={}",
            self.path, self.o.eio, s.sid
        );
        self.step(&format!("upgrade GET {query}"));
        let (mut conn, mut evidence) = self.open_ws(&query, "upgrade", t0).await.ok()?;
        let budget = self.budget();
        let probe = async {
            conn.send_text("2probe", budget).await?;
            loop {
                match conn.next(budget).await? {
                    Some(Incoming::Text(t)) if t == "3probe" => return Ok(None),
                    Some(Incoming::Text(_) | Incoming::Binary(_)) => {}
                    Some(Incoming::Closed(why)) => return Ok(Some(why)),
                    None => return Ok(Some(format!("no 3probe within {} ms", budget.as_millis()))),
                }
            }
        };
        let outcome: Result<Option<String>, String> = probe.await;
        let failure = match outcome {
            Ok(None) => {
                // As the client: pause polling (the server ends the poll in flight with a
                // noop), then complete the upgrade.
                if let Some(poller) = s.poller.as_mut() {
                    poller.stop();
                    poller.finished(Instant::now() + budget).await;
                }
                self.drain_poller(s, Instant::now()).await;
                s.poller = None;
                conn.send_text("5", budget).await.err()
            }
            Ok(Some(why)) | Err(why) => Some(why),
        };
        evidence.push("> 2probe".into());
        if let Some(why) = failure {
            evidence.push(format!("! {why}"));
            let (req, _) = ws::upgrade_request(&query, &self.o.origin);
            let finding = self
                .finding(
                    Id::WebsocketFailed,
                    format!("The upgrade opened, but the probe failed: {why}."),
                )
                .severity(self.ws_severity())
                .client(self.ws_client())
                .console(self.ws_console(&req, None))
                .evidence(evidence);
            self.add(finding);
            self.record("upgrade", Status::Fail, t0, None);
            return None;
        }
        evidence.extend(["< 3probe".to_string(), "> 5".to_string()]);
        self.record("upgrade", Status::Pass, t0, None);
        Some(conn)
    }

    /// A WebSocket-only client (`--transports websocket`), or, after polling was refused,
    /// whether one would work.
    pub(crate) async fn websocket_flow(&mut self, after_polling: bool) {
        let checks: &[&'static str] = if after_polling {
            &["websocket"]
        } else {
            &[
                "handshake",
                "cors",
                "sticky",
                "websocket",
                "connect",
                "heartbeat",
            ]
        };
        self.plan(checks);
        if !after_polling {
            self.skip(
                &["cors"],
                "WebSocket only: browsers apply no CORS to WebSockets",
            );
            self.skip(
                &["sticky"],
                "WebSocket only: one connection, no stickiness needed",
            );
        }
        let t0 = Instant::now();
        let query = format!("{}?EIO={}&transport=websocket", self.path, self.o.eio);
        self.step(&format!("WebSocket GET {query}"));
        let Ok((mut conn, mut evidence)) = self.open_ws(&query, "websocket", t0).await else {
            if !after_polling {
                self.skip(&["handshake"], "the WebSocket did not open");
            }
            return;
        };
        let budget = self.budget();
        let open = match conn.next(budget).await {
            Ok(Some(Incoming::Text(t))) => {
                evidence.push(format!("< {}", http::printable(t.as_bytes(), 200)));
                t.strip_prefix('0').and_then(|d| Open::parse(d.as_bytes()))
            }
            Ok(other) => {
                evidence.push(format!("! {other:?}"));
                None
            }
            Err(e) => {
                evidence.push(format!("! {e}"));
                None
            }
        };
        let Some(open) = open else {
            let (req, _) = ws::upgrade_request(&query, &self.o.origin);
            let finding = self
                .finding(
                    Id::WebsocketFailed,
                    "The WebSocket opened, but no Engine.IO open packet came first.",
                )
                .severity(if after_polling {
                    Severity::Warning
                } else {
                    Severity::Error
                })
                .client("websocket error")
                .console(self.ws_console(&req, None))
                .evidence(evidence);
            self.add(finding);
            self.record("websocket", Status::Fail, t0, None);
            return;
        };
        self.record("websocket", Status::Pass, t0, None);
        if after_polling {
            // Say in polling.disabled that a WebSocket-only client works.
            if let Some(f) = self
                .findings
                .iter_mut()
                .find(|f| f.id == Id::PollingDisabled)
            {
                f.why.push_str(
                    " A WebSocket-only client connects: io(URL, { transports: [\"websocket\"] }).",
                );
            }
            conn.close().await;
            return;
        }
        self.record("handshake", Status::Pass, t0, None);
        self.check_open(&open, &evidence);
        let mut s = Session {
            sid: open.sid.clone(),
            open,
            opened: Instant::now(),
            queued: Vec::new(),
            dead: None,
            heartbeat: false,
            poller: None,
            poll_log: Vec::new(),
        };
        self.connect_ws(&mut s, &mut conn, evidence).await;
        if s.dead.is_none() {
            self.heartbeat(&mut s, Some(conn)).await;
        } else {
            self.skip(&["heartbeat"], "the connection is gone");
        }
    }

    /// CONNECT over the WebSocket and its answer.
    async fn connect_ws(&mut self, s: &mut Session, conn: &mut WsConn, mut evidence: Vec<String>) {
        let t0 = Instant::now();
        let nsp = self.o.namespace.clone();
        let eio = self.o.eio;
        let budget = self.budget();
        if eio == 4 || nsp != "/" {
            let packet = format!(
                "4{}",
                engine::connect_packet(&nsp, self.o.auth.as_ref(), eio)
            );
            evidence.push(format!("> {packet}"));
            if let Err(e) = conn.send_text(&packet, budget).await {
                s.dead = Some(e);
                self.record("connect", Status::Fail, t0, s.dead.clone());
                return;
            }
        }
        let until = Instant::now() + budget;
        loop {
            let wait = until.saturating_duration_since(Instant::now());
            match conn.next(wait).await {
                Ok(Some(Incoming::Text(t))) => {
                    evidence.push(format!("< {}", http::printable(t.as_bytes(), 200)));
                    if let Some(answer) = self.on_ws_text(s, conn, &t).await {
                        match answer {
                            ConnectAnswer::Connected => {
                                self.record("connect", Status::Pass, t0, None)
                            }
                            ConnectAnswer::Refused { message, data } => {
                                self.refused(&message, data.as_deref(), evidence, true);
                                self.record("connect", Status::Fail, t0, None);
                            }
                        }
                        return;
                    }
                }
                Ok(Some(Incoming::Binary(_))) => {}
                Ok(Some(Incoming::Closed(why))) | Err(why) => {
                    evidence.push(format!("! {why}"));
                    s.dead = Some(why);
                    break;
                }
                Ok(None) => {
                    self.connect_unanswered(&nsp, budget, evidence, t0);
                    return;
                }
            }
        }
        self.record("connect", Status::Fail, t0, s.dead.clone());
    }

    /// Handles a text message on the WebSocket: answers pings, notes pongs and closes,
    /// returns the CONNECT answer for our namespace.
    async fn on_ws_text(
        &mut self,
        s: &mut Session,
        conn: &mut WsConn,
        text: &str,
    ) -> Option<ConnectAnswer> {
        match text.as_bytes().first() {
            Some(b'2') if self.o.eio == 4 && text.len() == 1 => {
                s.heartbeat = true;
                let _ = conn
                    .send_text("3", self.budget().max(Duration::from_millis(50)))
                    .await;
                None
            }
            Some(b'3') if self.o.eio == 3 && text.len() == 1 => {
                s.heartbeat = true;
                None
            }
            Some(b'1') => {
                s.dead = Some("the server closed the session (close packet)".into());
                None
            }
            Some(b'4') => {
                let sio = engine::parse_sio(text.get(1..)?)?;
                engine::connect_answer(&sio, &self.o.namespace)
            }
            _ => None,
        }
    }

    /// The heartbeat, over the WebSocket when there is one, else over polling.
    pub(crate) async fn heartbeat(&mut self, s: &mut Session, ws: Option<WsConn>) {
        let Some(mut conn) = ws else {
            self.heartbeat_polling(s).await;
            return;
        };
        let t0 = Instant::now();
        if s.heartbeat {
            self.record("heartbeat", Status::Pass, t0, None);
            conn.close().await;
            return;
        }
        let mut evidence = Vec::new();
        if self.o.eio == 3 {
            evidence.push("> 2".to_string());
            if let Err(e) = conn.send_text("2", self.budget()).await {
                evidence.push(format!("! {e}"));
            }
        }
        let Some((until, conclusive)) = self.heartbeat_window(s) else {
            conn.close().await;
            return;
        };
        self.step("heartbeat: waiting for the server's ping");
        loop {
            let wait = until.saturating_duration_since(Instant::now());
            match conn.next(wait).await {
                Ok(Some(Incoming::Text(t))) => {
                    self.on_ws_text(s, &mut conn, &t).await;
                    if s.heartbeat {
                        self.record("heartbeat", Status::Pass, t0, None);
                        conn.close().await;
                        return;
                    }
                }
                Ok(Some(Incoming::Binary(_))) => {}
                Ok(Some(Incoming::Closed(why))) | Err(why) => {
                    evidence.push(format!("! {why}"));
                    s.dead = Some(why);
                    break;
                }
                Ok(None) => break,
            }
        }
        conn.close().await;
        self.heartbeat_missing(s, t0, conclusive, evidence);
    }

    /// How long to wait for the heartbeat: until `pingInterval + pingTimeout` after the
    /// handshake (conclusive), or, when that is past the deadline but the first ping is
    /// due before it, until the deadline (a ping proves it; none proves nothing). `None`
    /// after recording the check as skipped.
    pub(crate) fn heartbeat_window(&mut self, s: &Session) -> Option<(Instant, bool)> {
        if self.o.eio == 3 {
            // The client pings; the pong comes at once.
            return Some((Instant::now() + self.budget(), true));
        }
        let interval = Duration::from_millis(s.open.ping_interval);
        let full = interval + Duration::from_millis(s.open.ping_timeout);
        let stop = Instant::now() + self.left();
        if s.opened + full + SLACK <= stop {
            return Some((s.opened + full + SLACK, true));
        }
        if s.opened + interval + SLACK <= stop {
            return Some((stop, false));
        }
        let needed = (s.opened + interval + SLACK)
            .saturating_duration_since(self.start)
            .as_millis()
            + 500;
        let reason = format!(
            "the server pings every {} ms (pingInterval) and waits {} ms more (pingTimeout); waiting for the first \
             ping would pass --deadline-ms {}: run with --deadline-ms {} or more to check it",
            s.open.ping_interval,
            s.open.ping_timeout,
            self.o.deadline.as_millis(),
            needed
        );
        self.skip(&["heartbeat"], &reason);
        None
    }

    /// No ping arrived: a finding when the wait covered `pingInterval + pingTimeout`, a
    /// skipped check when the deadline cut it short.
    pub(crate) fn heartbeat_missing(
        &mut self,
        s: &Session,
        t0: Instant,
        conclusive: bool,
        evidence: Vec<String>,
    ) {
        let waited = s.opened.elapsed().as_millis();
        if let Some(why) = &s.dead {
            if !conclusive || self.has(Id::StickySessionUnknown) {
                self.record(
                    "heartbeat",
                    Status::Skip,
                    t0,
                    Some(format!("the session ended first: {why}")),
                );
                return;
            }
        }
        if !conclusive {
            let reason = format!(
                "no ping in the {waited} ms --deadline-ms left; the server's pingInterval + pingTimeout is {} ms",
                s.open.ping_interval + s.open.ping_timeout
            );
            self.record("heartbeat", Status::Skip, t0, Some(reason));
            return;
        }
        let mut evidence = evidence;
        evidence.push(if self.o.eio == 3 {
            format!("! no pong (3) to the client's ping (2) within {waited} ms")
        } else {
            format!(
                "! no ping (2) within {waited} ms of the handshake (pingInterval {} + pingTimeout {} ms)",
                s.open.ping_interval, s.open.ping_timeout
            )
        });
        let why = if self.o.eio == 3 {
            format!("The client's ping got no pong within {waited} ms.")
        } else {
            format!(
                "No ping within {waited} ms of the handshake, although pingInterval is {} ms and pingTimeout {} ms{}.",
                s.open.ping_interval,
                s.open.ping_timeout,
                s.dead.as_ref().map(|d| format!(" ({d})")).unwrap_or_default()
            )
        };
        let finding = self
            .finding(Id::HeartbeatMissing, why)
            .client("ping timeout (a disconnect reason)")
            .evidence(evidence);
        self.add(finding);
        self.record("heartbeat", Status::Fail, t0, None);
    }
}
