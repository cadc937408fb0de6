//! A long-poll kept open on the session while the other checks run, as the official client
//! keeps one: it takes the server's pings and answers them at once (a ping that waits for the
//! next poll can outlast a short `pingTimeout` and close the session), and reports what else
//! arrives.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use portico_proto::engine::Packet;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::args::Options;
use super::engine::{self, Answer};
use super::http::{self, ProbeError};
use super::run::{polling_query, xhr};

/// What the long-poll saw.
#[derive(Debug)]
pub(crate) enum Event {
    /// A server ping, already answered with a pong (Engine.IO v4).
    Ping,
    /// Packets (pings included), and the request and response lines of the poll.
    Packets(Vec<Packet>, Vec<String>),
    /// The long-poll ended: the reason, the evidence, and the Engine.IO error code if any.
    Ended {
        why: String,
        evidence: Vec<String>,
        code: Option<u8>,
    },
}

/// The background long-poll of a session; aborted when dropped.
pub(crate) struct Poller {
    task: JoinHandle<()>,
    events: mpsc::UnboundedReceiver<Event>,
    stop: Arc<AtomicBool>,
}

impl Poller {
    /// Starts polling session `sid` at `path`; each GET waits at most `wait`, each pong POST
    /// at most `timeout`.
    pub fn start(
        options: &Options,
        path: &str,
        sid: &str,
        wait: Duration,
        timeout: Duration,
    ) -> Poller {
        let (tx, events) = mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(poll(
            options.clone(),
            path.to_string(),
            sid.to_string(),
            wait,
            timeout,
            tx,
            stop.clone(),
        ));
        Poller { task, events, stop }
    }

    /// Makes no new GET after the one in flight (which the server ends with a noop when an
    /// upgrade is probed).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Waits until the GET in flight has returned, at most until `until`; `true` if it has.
    pub async fn finished(&mut self, until: Instant) -> bool {
        tokio::time::timeout_at(until, &mut self.task).await.is_ok()
    }

    /// The next event, waiting at most until `until`.
    pub async fn next(&mut self, until: Instant) -> Option<Event> {
        tokio::time::timeout_at(until, self.events.recv())
            .await
            .ok()
            .flatten()
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn poll(
    options: Options,
    path: String,
    sid: String,
    wait: Duration,
    timeout: Duration,
    tx: mpsc::UnboundedSender<Event>,
    stop: Arc<AtomicBool>,
) {
    let eio = options.eio;
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let req = xhr(
            &options,
            "GET",
            &polling_query(&path, eio, Some(&sid)),
            Vec::new(),
        );
        let resp = match http::send(&options.target, &req, wait).await {
            Err(ProbeError::Timeout) => continue,
            Err(e) => {
                let evidence = req
                    .evidence()
                    .into_iter()
                    .chain([format!("! {e}")])
                    .collect();
                let _ = tx.send(Event::Ended {
                    why: e.to_string(),
                    evidence,
                    code: None,
                });
                return;
            }
            Ok(resp) => resp,
        };
        match engine::classify(&resp, eio) {
            Answer::Packets { packets, .. } => {
                let ping = packets
                    .iter()
                    .any(|p| matches!(p, Packet::Ping(d) if d.is_empty()));
                if ping && eio == 4 {
                    let pong = xhr(
                        &options,
                        "POST",
                        &polling_query(&path, eio, Some(&sid)),
                        b"3".to_vec(),
                    );
                    // A pong that fails shows in the next GET.
                    let _ = http::send(&options.target, &pong, timeout).await;
                    let _ = tx.send(Event::Ping);
                }
                let closed = packets.iter().any(|p| matches!(p, Packet::Close));
                let evidence = req.evidence().into_iter().chain(resp.evidence()).collect();
                let _ = tx.send(Event::Packets(packets, evidence));
                if closed {
                    let evidence = req.evidence().into_iter().chain(resp.evidence()).collect();
                    let why = "the server closed the session (close packet)".to_string();
                    let _ = tx.send(Event::Ended {
                        why,
                        evidence,
                        code: None,
                    });
                    return;
                }
            }
            answer => {
                let code = match answer {
                    Answer::Error { code, .. } => Some(code),
                    _ => None,
                };
                let evidence = req.evidence().into_iter().chain(resp.evidence()).collect();
                let why = format!("a poll got {} {}", resp.status, resp.reason);
                let _ = tx.send(Event::Ended {
                    why,
                    evidence,
                    code,
                });
                return;
            }
        }
    }
}
