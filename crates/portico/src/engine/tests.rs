//! The engine alone, under a small recording [`Handler`] on tokio's paused clock: what it
//! calls, in which order, with what; the handler's one-shot deadline; and that nothing
//! reaches a handler after its `on_close`.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use portico_proto::engine::session::{CloseReason, Incoming};

use super::*;
use crate::engine::ws::upgrade::{Start, Upgrading};
use crate::handshake::ConnInfo;

#[derive(Debug, Clone, PartialEq)]
enum Call {
    Open,
    Message(String),
    Deadline,
    Close(CloseReason),
}

#[derive(Default)]
struct Recorder {
    calls: Arc<Mutex<Vec<Call>>>,
    deadline_after: Option<Duration>,
    /// `on_deadline` panics (a bug in the layer above, met by the driver itself).
    deadline_panics: bool,
    /// The handlers made, to check that the driver lets go of them.
    made: Arc<Mutex<Vec<std::sync::Weak<RecConn>>>>,
}

struct RecConn {
    calls: Arc<Mutex<Vec<Call>>>,
    deadline: Mutex<Option<Instant>>,
    deadline_panics: bool,
    conn: Arc<Conn>,
}

impl Handler for Recorder {
    fn on_open(&self, conn: &Arc<Conn>) -> Arc<dyn ConnHandler> {
        self.calls.lock().unwrap().push(Call::Open);
        let h = Arc::new(RecConn {
            calls: self.calls.clone(),
            deadline: Mutex::new(self.deadline_after.map(|d| conn::now() + d)),
            deadline_panics: self.deadline_panics,
            conn: conn.clone(),
        });
        self.made.lock().unwrap().push(Arc::downgrade(&h));
        h
    }
}

impl ConnHandler for RecConn {
    fn on_message(&self, msg: Incoming) {
        let Incoming::Text(t) = msg else { return };
        let text = String::from_utf8(t.to_vec()).unwrap();
        if text == "boom" {
            panic!("the layer above fails on this message");
        }
        // Answer on the same session, as a layer above does.
        let _ = self.conn.send(
            &[
                portico_proto::engine::Packet::Message(Bytes::from(format!("re:{text}")))
                    .to_frame(),
            ],
        );
        self.calls.lock().unwrap().push(Call::Message(text));
    }
    fn on_close(&self, reason: CloseReason) {
        self.calls.lock().unwrap().push(Call::Close(reason));
    }
    fn deadline(&self) -> Option<Instant> {
        *self.deadline.lock().unwrap()
    }
    fn on_deadline(&self) {
        *self.deadline.lock().unwrap() = None;
        self.calls.lock().unwrap().push(Call::Deadline);
        if self.deadline_panics {
            panic!("the layer above fails in the driver's own task");
        }
        self.conn.close(CloseReason::ForcedClose);
    }
}

fn engine(handler: Recorder) -> Arc<Engine> {
    Arc::new(Engine::new(config(), Arc::new(handler)))
}

fn config() -> EngineConfig {
    EngineConfig {
        ping_interval: Duration::from_secs(25),
        ping_timeout: Duration::from_secs(20),
        upgrade_timeout: Duration::from_secs(10),
        max_buffer_bytes: 1 << 20,
        max_buffer_packets: 1 << 14,
        max_sessions: 100_000,
        max_sessions_per_ip: 0,
        max_payload: 1_000_000,
        polling: true,
        websocket: true,
        allow_upgrades: true,
        allow_eio3: false,
        allow_request: None,
        mark_handshakes: true,
    }
}

fn info(req: &http::request::Parts) -> Arc<ConnInfo> {
    Arc::new(ConnInfo::new(
        &req.uri.to_string(),
        &req.headers,
        None,
        std::time::SystemTime::now(),
        false,
    ))
}

async fn request(
    engine: &Arc<Engine>,
    method: Method,
    query: &str,
    body: &str,
) -> (StatusCode, String) {
    let uri = format!("/socket.io/?{query}");
    let req = Request::builder()
        .method(method)
        .uri(&uri)
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let q = Query::parse(Some(query));
    let (head, body) = req.into_parts();
    let res = route(
        engine,
        &head,
        body,
        q,
        Upgrading::Undecided(None),
        None,
        info,
    )
    .await
    .into_response();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Wait (in virtual time, bounded) until the engine has no session left.
async fn until_no_session(engine: &Engine) {
    tokio::time::timeout(Duration::from_secs(600), async {
        while engine.connection_count() > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap();
}

async fn handshake(engine: &Arc<Engine>) -> String {
    let (status, body) = request(engine, Method::GET, "EIO=4&transport=polling", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let open: serde_json::Value = serde_json::from_str(body.strip_prefix('0').unwrap()).unwrap();
    open["sid"].as_str().unwrap().to_owned()
}

#[tokio::test(start_paused = true)]
async fn a_session_opens_delivers_and_closes_through_the_handler() {
    let rec = Recorder::default();
    let calls = rec.calls.clone();
    let engine = engine(rec);
    let sid = handshake(&engine).await;
    assert_eq!(engine.connection_count(), 1);
    let q = format!("EIO=4&transport=polling&sid={sid}");
    let (status, body) = request(&engine, Method::POST, &q, "4hello\u{1e}4world").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    let (_, body) = request(&engine, Method::GET, &q, "").await;
    assert_eq!(
        body, "4re:hello\u{1e}4re:world",
        "the handler's answers, in order"
    );
    // The client closes: the handler hears it once, and the session is gone.
    request(&engine, Method::POST, &q, "1").await;
    until_no_session(&engine).await;
    assert_eq!(
        *calls.lock().unwrap(),
        vec![
            Call::Open,
            Call::Message("hello".into()),
            Call::Message("world".into()),
            Call::Close(CloseReason::TransportClose),
        ]
    );
    // Nothing reaches the handler after its close: the sid is unknown now.
    let (status, _) = request(&engine, Method::POST, &q, "4late").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(calls.lock().unwrap().len(), 4);
}

/// A polling POST of messages and the GETs that take their answers leave the session's driver
/// asleep (nothing it watches changed: the POST wakes the pending GET itself); a POST that
/// closes the session, or moves its heartbeat deadline, wakes it.
#[tokio::test(start_paused = true)]
async fn polling_messages_do_not_wake_the_driver_and_a_close_or_pong_does() {
    use super::conn::DRIVER_WAKES;
    let wakes = || DRIVER_WAKES.with(std::cell::Cell::get);
    let engine = engine(Recorder::default());
    let sid = handshake(&engine).await;
    let q = format!("EIO=4&transport=polling&sid={sid}");
    let before = wakes();
    for i in 0..10 {
        let (status, _) = request(&engine, Method::POST, &q, &format!("4m{i}\u{1e}4n{i}")).await;
        assert_eq!(status, StatusCode::OK);
        let (_, body) = request(&engine, Method::GET, &q, "").await;
        assert_eq!(body, format!("4re:m{i}\u{1e}4re:n{i}"));
    }
    assert_eq!(
        wakes() - before,
        0,
        "driver wake-ups for 10 POSTs of messages and their GETs"
    );

    // The first ping (after ping_interval, virtual time); its pong moves the deadline.
    let (_, body) = request(&engine, Method::GET, &q, "").await;
    assert_eq!(body, "2");
    let before = wakes();
    let (status, _) = request(&engine, Method::POST, &q, "3").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        wakes() > before,
        "the pong wakes the driver, to re-arm its timer"
    );

    let before = wakes();
    request(&engine, Method::POST, &q, "1").await;
    assert!(wakes() > before, "the close wakes the driver");
    until_no_session(&engine).await;
}

#[tokio::test(start_paused = true)]
async fn the_handlers_deadline_fires_once_on_the_virtual_clock() {
    let rec = Recorder {
        deadline_after: Some(Duration::from_secs(10)),
        ..Recorder::default()
    };
    let calls = rec.calls.clone();
    let engine = engine(rec);
    let start = tokio::time::Instant::now();
    handshake(&engine).await;
    let fired = tokio::time::timeout(Duration::from_secs(600), async {
        loop {
            if calls.lock().unwrap().contains(&Call::Deadline) {
                return tokio::time::Instant::now() - start;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap();
    assert!(
        fired >= Duration::from_secs(10) && fired <= Duration::from_millis(10_100),
        "{fired:?}"
    );
    // The handler closed the session from on_deadline; its close comes after, once.
    until_no_session(&engine).await;
    assert_eq!(
        *calls.lock().unwrap(),
        vec![
            Call::Open,
            Call::Deadline,
            Call::Close(CloseReason::ForcedClose)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn shutting_down_refuses_new_sessions_and_closes_the_open_ones() {
    let rec = Recorder::default();
    let calls = rec.calls.clone();
    let engine = engine(rec);
    handshake(&engine).await;
    assert!(engine.begin_shutdown());
    assert!(!engine.begin_shutdown(), "once");
    let (status, _) = request(&engine, Method::GET, "EIO=4&transport=polling", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    tokio::time::timeout(
        Duration::from_secs(600),
        engine.close_all(CloseReason::ServerShutdown),
    )
    .await
    .unwrap();
    assert_eq!(engine.connection_count(), 0);
    assert_eq!(
        calls.lock().unwrap().last(),
        Some(&Call::Close(CloseReason::ServerShutdown))
    );
}

#[tokio::test(start_paused = true)]
async fn a_get_read_after_the_clients_close_gets_the_noop_it_was_owed_once() {
    let engine = engine(Recorder::default());
    // The client's GET and its close POST race on two connections; the POST won.
    let sid = handshake(&engine).await;
    let q = format!("EIO=4&transport=polling&sid={sid}");
    request(&engine, Method::POST, &q, "1").await;
    until_no_session(&engine).await;
    assert_eq!(
        request(&engine, Method::GET, &q, "").await,
        (StatusCode::OK, "6".to_owned()),
        "the late GET is released as a pending one would have been"
    );
    let (status, body) = request(&engine, Method::GET, &q, "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "only once: {body}");

    // Only for a short while: after LATE_GET_GRACE the sid is unknown as usual.
    let sid = handshake(&engine).await;
    let q = format!("EIO=4&transport=polling&sid={sid}");
    request(&engine, Method::POST, &q, "1").await;
    until_no_session(&engine).await;
    tokio::time::advance(LATE_GET_GRACE).await;
    let (status, _) = request(&engine, Method::GET, &q, "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(start_paused = true)]
async fn sids_kept_for_late_gets_are_capped() {
    let engine = engine(Recorder::default());
    let mut queries = Vec::new();
    for _ in 0..LATE_GET_MAX + 10 {
        let sid = handshake(&engine).await;
        let q = format!("EIO=4&transport=polling&sid={sid}");
        request(&engine, Method::POST, &q, "1").await;
        queries.push(q);
    }
    until_no_session(&engine).await;
    assert_eq!(
        engine.closed_by_client.lock().unwrap().len(),
        LATE_GET_MAX,
        "never more than the cap"
    );
    let (status, _) = request(&engine, Method::GET, &queries[0], "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the oldest went first");
    let last = queries.last().unwrap();
    assert_eq!(
        request(&engine, Method::GET, last, "").await,
        (StatusCode::OK, "6".to_owned())
    );
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_the_layer_above_loses_its_message_only() {
    let rec = Recorder::default();
    let calls = rec.calls.clone();
    let engine = engine(rec);
    let sid = handshake(&engine).await;
    let q = format!("EIO=4&transport=polling&sid={sid}");
    let (status, body) = request(&engine, Method::POST, &q, "4boom\u{1e}4after").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    let (_, body) = request(&engine, Method::GET, &q, "").await;
    assert_eq!(body, "4re:after", "the message after the panic is handled");
    assert_eq!(engine.connection_count(), 1);
    request(&engine, Method::POST, &q, "1").await;
    until_no_session(&engine).await;
    assert_eq!(
        calls.lock().unwrap().last(),
        Some(&Call::Close(CloseReason::TransportClose))
    );
}

#[tokio::test(start_paused = true)]
async fn a_driver_that_unwinds_still_ends_the_session() {
    let rec = Recorder {
        deadline_after: Some(Duration::from_secs(1)),
        deadline_panics: true,
        ..Recorder::default()
    };
    let (calls, made) = (rec.calls.clone(), rec.made.clone());
    let engine = engine(rec);
    let sid = handshake(&engine).await;
    // The deadline's panic unwinds through the driver task: the session still leaves the
    // table, its handler hears the close once and is let go of (no cycle kept alive).
    until_no_session(&engine).await;
    assert_eq!(
        *calls.lock().unwrap(),
        vec![
            Call::Open,
            Call::Deadline,
            Call::Close(CloseReason::TransportError)
        ]
    );
    let q = format!("EIO=4&transport=polling&sid={sid}");
    let (status, _) = request(&engine, Method::GET, &q, "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let made = made.lock().unwrap();
    assert_eq!(made.len(), 1);
    assert!(made[0].upgrade().is_none(), "the handler is released");
}

/// A request body that never ends (a client that stops sending mid-POST).
struct EndlessBody;

impl http_body::Body for EndlessBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

#[tokio::test(start_paused = true)]
async fn a_post_dropped_mid_body_closes_the_session_with_transport_error() {
    let rec = Recorder::default();
    let calls = rec.calls.clone();
    let engine = engine(rec);
    let sid = handshake(&engine).await;
    let q = format!("EIO=4&transport=polling&sid={sid}");
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("/socket.io/?{q}"))
        .body(EndlessBody)
        .unwrap();
    let (head, body) = req.into_parts();
    let pending = route(
        &engine,
        &head,
        body,
        Query::parse(Some(&q)),
        Upgrading::Undecided(None),
        None,
        info,
    );
    // The client gives up the upload: the request future is dropped while reading the body.
    assert!(tokio::time::timeout(Duration::from_secs(1), pending)
        .await
        .is_err());
    // As Node: the session closes at once (it used to linger, refusing every later POST as a
    // concurrent one).
    until_no_session(&engine).await;
    assert_eq!(
        *calls.lock().unwrap(),
        vec![Call::Open, Call::Close(CloseReason::TransportError)]
    );
    let (status, _) = request(&engine, Method::POST, &q, "4next").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(start_paused = true)]
async fn stats_count_open_sessions_and_keep_the_traffic_of_closed_ones() {
    let engine = engine(Recorder::default());
    let sid = handshake(&engine).await;
    let q = format!("EIO=4&transport=polling&sid={sid}");
    request(&engine, Method::POST, &q, "4hello\u{1e}4world").await;
    request(&engine, Method::GET, &q, "").await;
    let open = engine.stats();
    assert_eq!((open.polling, open.websocket, open.upgrading), (1, 0, 0));
    let open_frame = format!("0{{\"sid\":\"{sid}\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}}");
    let t = open.traffic;
    assert_eq!((t.packets_in, t.bytes_in), (2, 12));
    assert_eq!(
        (t.packets_out, t.bytes_out),
        (3, open_frame.len() as u64 + 18)
    );
    // The client closes: the session leaves the table, its traffic stays in the totals.
    request(&engine, Method::POST, &q, "1").await;
    until_no_session(&engine).await;
    let closed = engine.stats();
    assert_eq!((closed.polling, closed.websocket), (0, 0));
    assert_eq!(closed.traffic.packets_in, 3);
    assert_eq!(closed.traffic.packets_out, 3);
}

#[tokio::test(start_paused = true)]
async fn close_idle_leaves_busy_sessions_open_until_the_deadline() {
    struct Busy;
    impl Handler for Busy {
        fn on_open(&self, _: &Arc<Conn>) -> Arc<dyn ConnHandler> {
            Arc::new(Busy)
        }
    }
    impl ConnHandler for Busy {
        fn on_message(&self, _: Incoming) {}
        fn on_close(&self, _: CloseReason) {}
        fn is_busy(&self) -> bool {
            true
        }
    }
    let e = engine(Recorder::default());
    let config = e.config.clone();
    let engine = Arc::new(Engine::new(config, Arc::new(Busy)));
    handshake(&engine).await;
    engine.begin_shutdown();
    assert_eq!(engine.close_idle(CloseReason::ServerShutdown), 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    assert!(!engine.wait_closed(deadline).await, "busy: still open");
    assert_eq!(engine.connection_count(), 1);
    engine.close_idle_or_busy(CloseReason::ServerShutdown);
    // A polling session closed gracefully lingers (up to ping_timeout) for its close packet.
    assert!(engine.wait_closed(deadline + Duration::from_secs(60)).await);
}

/// Every idle connection holds its driver's future (as its tokio task, whose cell is the
/// future plus 96 bytes of task header and trailer, rounded up to 128 bytes), so the future's
/// size is most of what an idle WebSocket connection costs. It was 1,576 bytes (a 1,792-byte
/// cell) with a `select!` over futures, the WebSocket counted twice and the cold paths inline;
/// see `driver::run` for what keeps it small. 544 bytes is a 640-byte cell: a change that
/// grows the future past it grows every connection by a 128-byte step. Look at
/// `-Zprint-type-sizes` (nightly) before raising it.
#[test]
fn the_driver_future_stays_small() {
    let engine = engine(Recorder::default());
    let info = Arc::new(ConnInfo::new(
        "/",
        &http::HeaderMap::new(),
        None,
        std::time::SystemTime::now(),
        false,
    ));
    let conn = Conn::new(
        engine.clone(),
        portico_proto::engine::session::Transport::WebSocket,
        portico_proto::engine::session::Protocol::V4,
        info,
    );
    let handler = conn.open();
    let slot = engine.admission.admit(None).ok().unwrap();
    let driver = driver::run(conn, handler, None, slot);
    let size = std::mem::size_of_val(&driver);
    assert!(
        size <= 544,
        "the driver's future is {size} bytes (at most 544)"
    );
    // The WebSocket is the largest part of it.
    let ws = std::mem::size_of::<ws::stream::WsConn>();
    assert!(ws <= 192, "the WebSocket is {ws} bytes (at most 192)");
}

/// What else each idle connection holds once in the engine, at its size today (64-bit): the
/// session (one `SessionConfig` shared per protocol, not a copy each), its `Conn` and the
/// request info (the headers packed, a `HeaderMap` built only on use). A field added to one
/// of them is added to every connection: raise a bound only knowing that.
#[test]
fn the_per_session_structs_stay_small() {
    use std::mem::size_of;
    let sizes = [
        ("Conn", size_of::<Conn>(), 312),
        (
            "Session",
            size_of::<portico_proto::engine::session::Session>(),
            152,
        ),
        ("ConnInfo", size_of::<ConnInfo>(), 136),
    ];
    for (name, size, max) in sizes {
        assert!(size <= max, "{name} is {size} bytes (at most {max})");
    }
}

/// A WebSocket upgrade as Portico's own HTTP/1 routes it (`Upgrading::Direct`): the answer,
/// and what it left to run on the connection.
async fn direct_upgrade(engine: &Arc<Engine>, query: &str) -> (crate::http::Answer, Option<Start>) {
    let (head, ()) = Request::builder()
        .uri(format!("/socket.io/?{query}"))
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .body(())
        .unwrap()
        .into_parts();
    let mut start = None;
    let answer = route(
        engine,
        &head,
        Full::new(Bytes::new()),
        Query::parse(Some(query)),
        Upgrading::Direct(&mut start),
        None,
        info,
    )
    .await;
    (answer, start)
}

/// Which `101` waits to leave with its session's first frame, in one write (`http::Leaves`):
/// a new v4 WebSocket session's, whose open packet is queued with it. Not a new v3 session's
/// (the official v3 suite's client listens for frames only once it has the `101`), not the
/// `101` of a polling session's upgrade (the client sends its probe once it has it). A marked
/// handshake's (a `Response`, for a cookie or an `initial_headers` hook) waits too.
#[tokio::test(start_paused = true)]
async fn only_a_new_v4_websocket_sessions_101_waits_for_its_open_packet() {
    use crate::http::Leaves;
    let mut starts = Vec::new();
    let upgrade = |engine: &Arc<Engine>, query: &str| {
        let (engine, query) = (engine.clone(), query.to_owned());
        async move {
            let (answer, start) = direct_upgrade(&engine, &query).await;
            assert!(answer.is_switching(), "{query}: {answer:?}");
            // What runs on the connection once its `101` is written.
            (answer.leaves(), start.unwrap())
        }
    };
    for mark in [false, true] {
        let mut config = config();
        config.allow_eio3 = true;
        config.mark_handshakes = mark;
        let engine = Arc::new(Engine::new(config, Arc::new(Recorder::default())));
        let (new_v4, start) = upgrade(&engine, "EIO=4&transport=websocket").await;
        assert_eq!(
            new_v4,
            Leaves::WithOpenPacket,
            "a new v4 session, marked: {mark}"
        );
        assert!(matches!(start, Start::Session(_)), "{start:?}");
        // Held: a start dropped unrun ends its session as a failed connection.
        starts.push(start);
        let (new_v3, start) = upgrade(&engine, "EIO=3&transport=websocket").await;
        assert_eq!(new_v3, Leaves::Alone, "a new v3 session, marked: {mark}");
        starts.push(start);
        let sid = handshake(&engine).await;
        let query = format!("EIO=4&transport=websocket&sid={sid}");
        let (probe, start) = upgrade(&engine, &query).await;
        assert_eq!(probe, Leaves::Alone, "a polling session's upgrade");
        assert!(
            matches!(&start, Start::Probe(c) if c.sid.to_string() == sid),
            "{start:?}"
        );
    }
}

/// What Portico's own HTTP/1 is left to run on a `101`'d connection (`Start`) ends its session
/// when it is dropped unrun (the `101` could not be written): the session leaves the engine
/// and its handler hears the close once, as when the driver's WebSocket fails. A polling
/// session's upgrade dropped that way leaves the session as it was.
#[tokio::test(start_paused = true)]
async fn a_websocket_start_dropped_unrun_ends_its_session() {
    let rec = Recorder::default();
    let calls = rec.calls.clone();
    let engine = engine(rec);
    let (answer, start) = direct_upgrade(&engine, "EIO=4&transport=websocket").await;
    assert!(answer.is_switching());
    assert_eq!(engine.connection_count(), 1);
    assert_eq!(*calls.lock().unwrap(), vec![Call::Open]);
    drop(start.unwrap());
    assert_eq!(engine.connection_count(), 0, "the session left the engine");
    assert_eq!(
        *calls.lock().unwrap(),
        vec![Call::Open, Call::Close(CloseReason::TransportError)]
    );

    let sid = handshake(&engine).await;
    let query = format!("EIO=4&transport=websocket&sid={sid}");
    let (answer, start) = direct_upgrade(&engine, &query).await;
    assert!(answer.is_switching());
    drop(start.unwrap());
    // The polling session goes on: a message posted still reaches its handler.
    let q = format!("EIO=4&transport=polling&sid={sid}");
    let (status, body) = request(&engine, Method::POST, &q, "4still").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    assert_eq!(engine.connection_count(), 1);
    assert_eq!(
        calls.lock().unwrap().last(),
        Some(&Call::Message("still".into()))
    );
}
