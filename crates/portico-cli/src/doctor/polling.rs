//! The official client's long-polling sequence: handshake GET, CONNECT by POST, the GET that
//! reads the answer, a few more requests on the session (sticky sessions), then the upgrade
//! and the heartbeat.

use std::time::Duration;

use portico_proto::engine::Packet;
use tokio::time::Instant;

use super::args::Transport;
use super::engine::{self, Answer, ConnectAnswer, Open};
use super::findings::{Id, Severity};
use super::http::{ProbeError, Request, Response};
use super::poller::{Event, Poller};
use super::report::Status;
use super::run::Doctor;

/// What the official client shows for `sticky.session-unknown`: its GET and its POST race to
/// the other instance, and the first to get `Session ID unknown` names the error.
pub(crate) const STICKY_CLIENT_ERROR: &str =
    "xhr poll error or xhr post error (whichever of the session's requests reaches another instance first)";

/// Requests made on the session after the CONNECT, to catch requests reaching other nodes.
const STICKY_POSTS: usize = 3;
/// Most GETs made while waiting for the CONNECT answer.
const CONNECT_POLLS: usize = 4;

/// A polling session after its handshake.
pub(crate) struct Session {
    pub sid: String,
    pub open: Open,
    pub opened: Instant,
    /// Packets that arrived before anyone read them (a v3 handshake carries `40`).
    pub queued: Vec<Packet>,
    /// Why the session is gone, if it is.
    pub dead: Option<String>,
    /// A server ping was seen and answered (v4), or a pong (v3).
    pub heartbeat: bool,
    /// The long-poll kept open while the other checks run.
    pub poller: Option<Poller>,
    /// The request and response lines of its last polls.
    pub poll_log: Vec<String>,
}

/// What one polling GET brought.
enum Polled {
    Packets(Vec<Packet>),
    /// Nothing within the time given.
    Nothing,
    /// The session is unusable (the finding, if any, is made).
    Failed,
}

impl Doctor {
    /// The CONNECT got no answer within `budget` (either transport): `namespace.no-answer`,
    /// and the connect check fails.
    pub(crate) fn connect_unanswered(
        &mut self,
        nsp: &str,
        budget: Duration,
        evidence: Vec<String>,
        t0: Instant,
    ) {
        let ms = budget.as_millis();
        let why = format!("No answer to the CONNECT for \"{nsp}\" within {ms} ms.");
        let finding = self
            .finding(Id::NamespaceNoAnswer, why)
            .client("timeout")
            .evidence(evidence);
        self.add(finding);
        self.record("connect", Status::Fail, t0, None);
    }

    /// Polling first, as the official client does by default.
    pub(crate) async fn polling_flow(&mut self) {
        self.plan(&[
            "preflight",
            "handshake",
            "cors",
            "connect",
            "sticky",
            "upgrade",
            "heartbeat",
        ]);
        let Some(mut s) = self.polling_handshake().await else {
            self.record_cors();
            return;
        };
        self.connect_polling(&mut s).await;
        if s.dead.is_none() {
            self.start_poller(&mut s);
            self.sticky(&mut s).await;
        }
        let mut ws = None;
        if let Some(why) = s.dead.clone() {
            self.skip(
                &["sticky", "upgrade", "heartbeat"],
                &format!("the session is gone: {why}"),
            );
        } else if !self.o.wants(Transport::Websocket) {
            self.skip(&["upgrade"], "websocket is not in --transports");
        } else if !s.open.upgrades.iter().any(|u| u == "websocket") {
            self.skip(&["upgrade"], "the server offers no upgrade to websocket");
        } else {
            ws = self.upgrade(&mut s).await;
        }
        if s.dead.is_none() {
            self.heartbeat(&mut s, ws).await;
        }
        self.record_cors();
    }

    /// The handshake GET (after its preflight), and the path search when it is not answered
    /// by Engine.IO. `None` when there is no session to go on with.
    async fn polling_handshake(&mut self) -> Option<Session> {
        let t0 = Instant::now();
        for attempt in 0..2 {
            let query = self.polling_query(None);
            self.step(&format!("handshake GET {query}"));
            self.preflight("GET", &query).await;
            let req = self.xhr("GET", &query, Vec::new());
            let resp = match self.http(&req).await {
                Ok(r) => r,
                Err(e) => {
                    // Connected but not answered, or closed: a server that does not route this
                    // path (Node's bare http server leaves such requests hanging).
                    let connected = matches!(e, ProbeError::Timeout | ProbeError::Closed);
                    if connected && attempt == 0 && !self.out_of_time() {
                        if let Some(path) = self.path_not_found(&req, Err(&e)).await {
                            self.path = path;
                            continue;
                        }
                        self.findings.retain(|f| f.id != Id::PathNotFound);
                    }
                    let finding = self.unreachable(&e, &req, false);
                    self.add(finding);
                    self.record("handshake", Status::Fail, t0, None);
                    return None;
                }
            };
            if self.proxy.is_none() {
                self.proxy = resp.proxy_name();
            }
            match engine::classify(&resp, self.o.eio) {
                Answer::Packets { packets, v3 } => {
                    return self.opened(t0, &req, &resp, packets, v3);
                }
                Answer::Error { code, message } => {
                    self.handshake_refused(&req, &resp, code, &message).await;
                    self.record("handshake", Status::Fail, t0, None);
                    return None;
                }
                Answer::Other => {
                    if attempt == 0 {
                        if let Some(path) = self.path_not_found(&req, Ok(&resp)).await {
                            self.path = path;
                            continue;
                        }
                        let not_found = matches!(resp.status, 200..=399 | 404 | 405);
                        if !not_found {
                            self.findings.retain(|f| f.id != Id::PathNotFound);
                            self.unexpected(&req, &resp, "The handshake");
                        }
                    } else {
                        self.unexpected(&req, &resp, "The handshake");
                    }
                    self.record("handshake", Status::Fail, t0, None);
                    return None;
                }
            }
        }
        self.record("handshake", Status::Fail, t0, None);
        None
    }

    /// An answer that is neither Engine.IO nor a 404: `http.unexpected-status`.
    pub(crate) fn unexpected(&mut self, req: &Request, resp: &Response, what: &str) {
        let proxy = resp
            .proxy_name()
            .map(|p| format!(" (answered by {p})"))
            .unwrap_or_default();
        let why = format!(
            "{what} got {} {}{proxy}, which is not an Engine.IO answer.",
            resp.status, resp.reason
        );
        let url = self.o.target.url(&req.path);
        let finding = self
            .finding(Id::HttpUnexpectedStatus, why)
            .client("xhr poll error")
            .console(format!("GET {url} {} ({})", resp.status, resp.reason))
            .evidence(req.evidence().into_iter().chain(resp.evidence()));
        self.add(finding);
    }

    /// The handshake got an Engine.IO error.
    async fn handshake_refused(&mut self, req: &Request, resp: &Response, code: u8, message: &str) {
        let evidence: Vec<String> = req.evidence().into_iter().chain(resp.evidence()).collect();
        let url = self.o.target.url(&req.path);
        let plain_console = format!("GET {url} {} ({})", resp.status, resp.reason);
        let cors_console = (!self.o.same_origin()
            && resp.header("access-control-allow-origin").is_none())
        .then(|| super::cors::Failure::MissingAllowOrigin.chrome_line(&url, &self.o.origin, false));
        let eio = self.o.eio;
        let finding = match code {
            5 => {
                let why = format!(
                    "The server refused the Engine.IO v{eio} handshake: {} {{\"code\":5,\"message\":\"{message}\"}}.{}",
                    resp.status,
                    if eio == 3 {
                        " It does not accept socket.io-client 2.x (allowEIO3 / allow_eio3 is off)."
                    } else {
                        ""
                    }
                );
                self.finding(Id::EioVersionMismatch, why)
            }
            4 => {
                let why = format!(
                    "The handshake from origin \"{}\" got {} {{\"code\":4,\"message\":\"{message}\"}}.",
                    self.o.origin, resp.status
                );
                self.finding(Id::OriginRefused, why)
            }
            0 => {
                let why = format!(
                    "The polling handshake got {} {{\"code\":0,\"message\":\"{message}\"}}.",
                    resp.status
                );
                self.finding(Id::PollingDisabled, why)
            }
            _ => {
                let why = format!(
                    "The handshake got {} {{\"code\":{code},\"message\":\"{message}\"}}, which a handshake should never get.",
                    resp.status
                );
                self.finding(Id::HttpUnexpectedStatus, why)
            }
        };
        let console = cors_console.unwrap_or(plain_console);
        self.add(
            finding
                .client("xhr poll error")
                .console(console)
                .evidence(evidence),
        );
        if code == 0 && self.o.wants(Transport::Websocket) {
            // The default client fails here; say whether a WebSocket-only client would work.
            self.websocket_flow(true).await;
        }
    }

    /// The handshake was answered with packets: the session, after the checks of its data.
    fn opened(
        &mut self,
        t0: Instant,
        req: &Request,
        resp: &Response,
        packets: Vec<Packet>,
        v3: bool,
    ) -> Option<Session> {
        let evidence: Vec<String> = req.evidence().into_iter().chain(resp.evidence()).collect();
        let mut packets = packets.into_iter();
        let open = match packets.next() {
            Some(Packet::Open(data)) => Open::parse(&data),
            _ => None,
        };
        let Some(open) = open else {
            self.unexpected(
                req,
                resp,
                "The handshake (packets, but no open packet first)",
            );
            self.record("handshake", Status::Fail, t0, None);
            return None;
        };
        if self.o.eio == 4 && v3 {
            let why = "The server answered the Engine.IO v4 handshake in v3 framing (`<length>:<packet>`): it \
                       speaks only Engine.IO v3, as socket.io 2.x does.";
            let finding = self
                .finding(Id::EioVersionMismatch, why)
                .client("server error")
                .evidence(evidence);
            self.add(finding);
            self.record("handshake", Status::Fail, t0, None);
            return None;
        }
        self.cors_check(req, resp);
        self.record("handshake", Status::Pass, t0, None);
        self.check_open(&open, &evidence);
        Some(Session {
            sid: open.sid.clone(),
            open,
            opened: Instant::now(),
            queued: packets.collect(),
            dead: None,
            heartbeat: false,
            poller: None,
            poll_log: Vec::new(),
        })
    }

    /// `handshake.unusual` and `websocket.disabled` from the handshake's data.
    pub(crate) fn check_open(&mut self, open: &Open, evidence: &[String]) {
        let mut notes = Vec::new();
        let mut severity = Severity::Info;
        let sum = open.ping_interval + open.ping_timeout;
        if sum > 60_000 {
            notes.push(format!(
                "pingInterval + pingTimeout is {sum} ms, above the 60 s after which proxies close an idle \
                 connection by default (nginx proxy_read_timeout)"
            ));
            if self.proxy.is_some() {
                severity = Severity::Warning;
            }
        }
        if open.ping_interval < 1000 || open.ping_timeout < 1000 {
            notes.push(format!(
                "pingInterval {} ms / pingTimeout {} ms: clients on slow networks will see `ping timeout`",
                open.ping_interval, open.ping_timeout
            ));
        }
        if let Some(max) = open.max_payload.filter(|m| *m < 1024) {
            notes.push(format!(
                "maxPayload is {max} bytes: a bigger message closes the connection"
            ));
            severity = Severity::Warning;
        }
        if !notes.is_empty() {
            let why = format!("{}.", notes.join("; "));
            let finding = self
                .finding(Id::HandshakeUnusual, why)
                .severity(severity)
                .client("none")
                .evidence(evidence.iter().cloned());
            self.add(finding);
        }
        let websocket_wanted = self.o.wants(Transport::Websocket) && self.o.polling_first();
        if websocket_wanted && !open.upgrades.iter().any(|u| u == "websocket") {
            let why = format!(
                "The handshake offers upgrades {:?}: the client never tries WebSocket.",
                open.upgrades
            );
            let finding = self
                .finding(Id::WebsocketDisabled, why)
                .client("none: the client stays on HTTP long-polling")
                .evidence(evidence.iter().cloned());
            self.add(finding);
        }
    }

    /// The CONNECT by POST and the GET(s) that read its answer.
    async fn connect_polling(&mut self, s: &mut Session) {
        let t0 = Instant::now();
        let nsp = self.o.namespace.clone();
        let eio = self.o.eio;
        let mut evidence = Vec::new();
        // socket.io-client 2.x connects "/" implicitly: the server sends `40` unasked.
        if eio == 4 || nsp != "/" {
            let packet = format!(
                "4{}",
                engine::connect_packet(&nsp, self.o.auth.as_ref(), eio)
            );
            let query = self.polling_query(Some(&s.sid));
            self.step(&format!("CONNECT {nsp}: POST {packet}"));
            self.preflight("POST", &query).await;
            let req = self.xhr("POST", &query, engine::post_body(&packet, eio));
            if !self.post(s, &req, &mut evidence).await {
                self.record("connect", Status::Fail, t0, s.dead.clone());
                return;
            }
        }
        let mut queued = std::mem::take(&mut s.queued);
        for _ in 0..=CONNECT_POLLS {
            for packet in queued.drain(..) {
                match self.on_packet(s, &packet).await {
                    None => {}
                    Some(ConnectAnswer::Connected) => {
                        self.record("connect", Status::Pass, t0, None);
                        return;
                    }
                    Some(ConnectAnswer::Refused { message, data }) => {
                        self.refused(&message, data.as_deref(), evidence, false);
                        self.record("connect", Status::Fail, t0, None);
                        return;
                    }
                }
            }
            if s.dead.is_some() || self.out_of_time() {
                break;
            }
            let budget = self.budget();
            match self.get(s, budget, &mut evidence).await {
                Polled::Packets(p) => queued = p,
                Polled::Nothing => {
                    self.connect_unanswered(&nsp, budget, evidence, t0);
                    return;
                }
                Polled::Failed => break,
            }
        }
        if s.dead.is_none() && !self.out_of_time() {
            let why = format!("The server kept answering without a CONNECT answer for \"{nsp}\".");
            let finding = self
                .finding(Id::NamespaceNoAnswer, why)
                .client("timeout")
                .evidence(evidence);
            self.add(finding);
        }
        self.record("connect", Status::Fail, t0, s.dead.clone());
    }

    /// A CONNECT refusal: `namespace.invalid` or `namespace.rejected`.
    pub(crate) fn refused(
        &mut self,
        message: &str,
        data: Option<&str>,
        evidence: Vec<String>,
        ws: bool,
    ) {
        let nsp = self.o.namespace.clone();
        let finding = if message == "Invalid namespace" {
            self.finding(
                Id::NamespaceInvalid,
                format!("The CONNECT to \"{nsp}\" got connect_error \"Invalid namespace\"."),
            )
        } else {
            let data = data.map(|d| format!(" (data: {d})")).unwrap_or_default();
            self.finding(
                Id::NamespaceRejected,
                format!("The CONNECT to \"{nsp}\" got connect_error \"{message}\"{data}."),
            )
        };
        let _ = ws;
        self.add(finding.client(message.to_string()).evidence(evidence));
    }

    /// Handles a packet read on the session: answers pings, notes a close, returns the
    /// CONNECT answer for our namespace if it is one.
    async fn on_packet(&mut self, s: &mut Session, packet: &Packet) -> Option<ConnectAnswer> {
        match packet {
            Packet::Ping(data) if self.o.eio == 4 && data.is_empty() => {
                s.heartbeat = true;
                let query = self.polling_query(Some(&s.sid));
                let req = self.xhr("POST", &query, b"3".to_vec());
                let mut ignored = Vec::new();
                self.post(s, &req, &mut ignored).await;
                None
            }
            Packet::Pong(_) if self.o.eio == 3 => {
                s.heartbeat = true;
                None
            }
            Packet::Close => {
                s.dead = Some("the server closed the session (close packet)".into());
                None
            }
            Packet::Message(text) => {
                let sio = engine::parse_sio(&String::from_utf8_lossy(text))?;
                engine::connect_answer(&sio, &self.o.namespace)
            }
            _ => None,
        }
    }

    /// A POST on the session; `true` when answered 200. A `Session ID unknown` makes the
    /// sticky-session finding; other failures kill the session.
    async fn post(&mut self, s: &mut Session, req: &Request, evidence: &mut Vec<String>) -> bool {
        evidence.extend(req.evidence());
        match self.http(req).await {
            Err(e) => {
                evidence.push(format!("! {e}"));
                s.dead = Some(format!("a POST got no answer: {e}"));
                false
            }
            Ok(resp) => {
                evidence.extend(resp.evidence());
                self.cors_check(req, &resp);
                if resp.status == 200 {
                    return true;
                }
                self.session_error(s, req, &resp, evidence);
                false
            }
        }
    }

    /// One polling GET on the session, waiting at most `wait`.
    async fn get(
        &mut self,
        s: &mut Session,
        wait: std::time::Duration,
        evidence: &mut Vec<String>,
    ) -> Polled {
        let query = self.polling_query(Some(&s.sid));
        let req = self.xhr("GET", &query, Vec::new());
        evidence.extend(req.evidence());
        let result = if wait.is_zero() {
            Err(ProbeError::Timeout)
        } else {
            super::http::send(&self.o.target, &req, wait).await
        };
        match result {
            Err(ProbeError::Timeout) => {
                evidence.push(format!("! no answer within {} ms", wait.as_millis()));
                Polled::Nothing
            }
            Err(e) => {
                evidence.push(format!("! {e}"));
                s.dead = Some(format!("a GET got no answer: {e}"));
                Polled::Failed
            }
            Ok(resp) => {
                evidence.extend(resp.evidence());
                self.cors_check(&req, &resp);
                match engine::classify(&resp, self.o.eio) {
                    Answer::Packets { packets, .. } => Polled::Packets(packets),
                    _ => {
                        self.session_error(s, &req, &resp, evidence);
                        Polled::Failed
                    }
                }
            }
        }
    }

    /// A request on the session got an error: code 1 is `sticky.session-unknown`.
    fn session_error(
        &mut self,
        s: &mut Session,
        req: &Request,
        resp: &Response,
        evidence: &[String],
    ) {
        let client = if req.method == "POST" {
            "xhr post error"
        } else {
            "xhr poll error"
        };
        let url = self.o.target.url(&req.path);
        match engine::classify(resp, self.o.eio) {
            Answer::Error { code: 1, .. } => {
                let why = format!(
                    "A {} on session {} got {} {{\"code\":1,\"message\":\"Session ID unknown\"}} right after the \
                     handshake{}.",
                    req.method,
                    s.sid,
                    resp.status,
                    self.proxy.as_ref().map(|p| format!(" (through {p})")).unwrap_or_default()
                );
                // Which of the client's requests reaches another instance first (its GET or
                // its POST) depends on timing, and so does the message it shows.
                let finding = self
                    .finding(Id::StickySessionUnknown, why)
                    .client(STICKY_CLIENT_ERROR)
                    .console(format!(
                        "{} {url} {} ({})",
                        req.method, resp.status, resp.reason
                    ))
                    .evidence(evidence.iter().cloned());
                self.add(finding);
                s.dead = Some("Session ID unknown".into());
            }
            Answer::Error { code, message } => {
                s.dead = Some(format!(
                    "{} {{\"code\":{code},\"message\":\"{message}\"}}",
                    resp.status
                ));
                let why = format!(
                    "A {} on the session got {} {{\"code\":{code},\"message\":\"{message}\"}}.",
                    req.method, resp.status
                );
                let finding = self
                    .finding(Id::HttpUnexpectedStatus, why)
                    .client(client)
                    .evidence(evidence.iter().cloned());
                self.add(finding);
            }
            _ => {
                s.dead = Some(format!("{} {}", resp.status, resp.reason));
                self.unexpected(req, resp, &format!("A {} on the session", req.method));
            }
        }
    }

    /// A few more requests on the session: each must reach the node that holds it.
    async fn sticky(&mut self, s: &mut Session) {
        let t0 = Instant::now();
        self.step("sticky sessions: POSTs on the session");
        let eio = self.o.eio;
        for _ in 0..STICKY_POSTS {
            if self.out_of_time() {
                break;
            }
            let query = self.polling_query(Some(&s.sid));
            // A noop: every server ignores it.
            let req = self.xhr("POST", &query, engine::post_body("6", eio));
            let mut evidence = Vec::new();
            if !self.post(s, &req, &mut evidence).await {
                self.record("sticky", Status::Fail, t0, s.dead.clone());
                return;
            }
        }
        // The long-poll's requests count too: give it a moment to report.
        self.drain_poller(s, Instant::now() + std::time::Duration::from_millis(50))
            .await;
        let status = if self.has(Id::StickySessionUnknown) {
            Status::Fail
        } else {
            Status::Pass
        };
        self.record("sticky", status, t0, s.dead.clone());
    }

    /// Starts the long-poll of the session.
    pub(crate) fn start_poller(&mut self, s: &mut Session) {
        let wait = std::time::Duration::from_millis(s.open.ping_interval + s.open.ping_timeout)
            + std::time::Duration::from_secs(1);
        s.poller = Some(Poller::start(
            &self.o,
            &self.path,
            &s.sid,
            wait,
            self.o.timeout,
        ));
    }

    /// Takes the long-poll's events until `until` (only those already there when `until`
    /// is now).
    pub(crate) async fn drain_poller(&mut self, s: &mut Session, until: Instant) {
        loop {
            let Some(poller) = s.poller.as_mut() else {
                return;
            };
            match poller.next(until).await {
                Some(event) => self.on_event(s, event),
                None => return,
            }
        }
    }

    /// One event of the long-poll.
    pub(crate) fn on_event(&mut self, s: &mut Session, event: Event) {
        match event {
            Event::Ping => s.heartbeat = true,
            Event::Packets(packets, evidence) => {
                // Keep the last few polls for the evidence.
                s.poll_log.extend(evidence);
                let excess = s.poll_log.len().saturating_sub(40);
                s.poll_log.drain(..excess);
                for p in packets {
                    match p {
                        Packet::Pong(_) if self.o.eio == 3 => s.heartbeat = true,
                        Packet::Close => {
                            s.dead = Some("the server closed the session (close packet)".into())
                        }
                        _ => {}
                    }
                }
            }
            Event::Ended {
                why,
                evidence,
                code,
            } => {
                s.poller = None;
                if s.dead.is_some() {
                    return;
                }
                if code == Some(1) {
                    let why = format!(
                        "A long-poll on session {} got 400 {{\"code\":1,\"message\":\"Session ID unknown\"}}{}.",
                        s.sid,
                        self.proxy.as_ref().map(|p| format!(" (through {p})")).unwrap_or_default()
                    );
                    let finding = self
                        .finding(Id::StickySessionUnknown, why)
                        .client("xhr poll error")
                        .evidence(evidence);
                    self.add(finding);
                    s.dead = Some("Session ID unknown".into());
                } else {
                    s.dead = Some(why);
                }
            }
        }
    }

    /// The heartbeat over polling: v4 waits for the server's ping (the long-poll answers
    /// it), v3 sends the client's ping and waits for the pong.
    pub(crate) async fn heartbeat_polling(&mut self, s: &mut Session) {
        let t0 = Instant::now();
        self.drain_poller(s, Instant::now()).await;
        if s.heartbeat {
            self.record("heartbeat", Status::Pass, t0, None);
            return;
        }
        if let Some(why) = s.dead.clone() {
            self.record(
                "heartbeat",
                Status::Skip,
                t0,
                Some(format!("the session is gone: {why}")),
            );
            return;
        }
        let eio = self.o.eio;
        let mut evidence = Vec::new();
        if eio == 3 {
            let query = self.polling_query(Some(&s.sid));
            let req = self.xhr("POST", &query, engine::post_body("2", 3));
            if !self.post(s, &req, &mut evidence).await {
                self.record("heartbeat", Status::Fail, t0, s.dead.clone());
                return;
            }
        }
        let Some((until, conclusive)) = self.heartbeat_window(s) else {
            return;
        };
        if s.poller.is_none() {
            self.start_poller(s);
        }
        self.step("heartbeat: waiting for the server's ping");
        while !s.heartbeat && s.dead.is_none() {
            let Some(poller) = s.poller.as_mut() else {
                break;
            };
            match poller.next(until).await {
                Some(event) => self.on_event(s, event),
                None => break,
            }
        }
        if s.heartbeat {
            self.record("heartbeat", Status::Pass, t0, None);
            return;
        }
        evidence.append(&mut s.poll_log);
        evidence.push(format!(
            "! no answer within {} ms to the long-poll GET {}?EIO={eio}&transport=polling&sid={}",
            t0.elapsed().as_millis(),
            self.path,
            s.sid
        ));
        self.heartbeat_missing(s, t0, conclusive, evidence);
    }
}
