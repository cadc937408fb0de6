//! Every handshake decision is visible in the log at the level `docs/recipes/debugging.md`
//! promises: a new session at debug (with the client's origin and Engine.IO version), a
//! refusal at debug with its fields (warning for origins, limits and unsupported protocol
//! versions), a preflight at debug, an allowed origin at trace, a middleware refusal at debug
//! with `reason=`; the EIO=3 refusal is a warning whose reason names `allow_eio3`.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::Client;
use http::{Method, StatusCode};
use portico::{ConnectError, ConnectionError, OriginPolicy, Server, Socket};

/// Everything logged at `level` and up while the guard lives, on this thread.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn capture(level: tracing::Level) -> (Log, tracing::subscriber::DefaultGuard) {
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (log, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// The one line containing every one of `parts`.
    fn line(&self, parts: &[&str]) -> String {
        let text = self.text();
        let found: Vec<&str> = text
            .lines()
            .filter(|l| parts.iter().all(|p| l.contains(p)))
            .collect();
        assert_eq!(found.len(), 1, "one line with {parts:?} in:\n{text}");
        found[0].to_owned()
    }
}

const PAGE: &str = "http://localhost:5173";

/// `GET <path>?query` with `headers`.
async fn get(client: &Client, query: &str, headers: &[(&str, &str)]) -> common::Reply {
    client
        .request(Method::GET, &client.url(query), headers, Bytes::new())
        .await
}

fn server(allow_eio3: bool) -> Server {
    Server::builder()
        .origins(OriginPolicy::allow([PAGE]).unwrap())
        .allow_eio3(allow_eio3)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_new_session_is_logged_at_debug_with_origin_and_eio_version() {
    let (log, _guard) = Log::capture(tracing::Level::DEBUG);
    let io = server(true);
    let client = Client::new(&io);
    for (eio, query) in [
        ("eio=4", "EIO=4&transport=polling"),
        ("eio=3", "EIO=3&transport=polling"),
    ] {
        let res = get(&client, query, &[("origin", PAGE)]).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        let line = log.line(&["new polling session", eio]);
        assert!(line.contains(" DEBUG "), "{line}");
        assert!(line.contains(&format!("origin={PAGE}")), "{line}");
    }
    assert!(
        !log.text().contains("origin allowed"),
        "allowed origins only at trace"
    );
}

#[tokio::test]
async fn eio3_is_refused_with_a_reason_naming_allow_eio3_and_logged_as_a_warning() {
    let (log, _guard) = Log::capture(tracing::Level::DEBUG);
    let io = server(false);
    let errors = Arc::new(Mutex::new(Vec::<ConnectionError>::new()));
    let seen = errors.clone();
    io.on_connection_error(move |e| seen.lock().unwrap().push(e.clone()));
    let client = Client::new(&io);
    let res = get(&client, "EIO=3&transport=polling", &[("origin", PAGE)]).await;
    res.assert_error(StatusCode::BAD_REQUEST, 5);
    assert_eq!(
        res.json()["message"],
        "Unsupported protocol version",
        "the body stays the reference one"
    );
    let reason = errors.lock().unwrap()[0].context.reason.clone().unwrap();
    assert!(reason.contains("allow_eio3(true)"), "{reason}");
    let line = log.line(&["refused: Unsupported protocol version"]);
    assert!(line.contains(" WARN "), "{line}");
    for part in [
        "refusal=\"unsupported_version\"",
        &format!("origin={PAGE}"),
        "transport=polling",
        "allow_eio3",
    ] {
        assert!(line.contains(part), "{part} in {line}");
    }
    // Other versions say what the server speaks.
    let res = get(&client, "EIO=5&transport=polling", &[]).await;
    res.assert_error(StatusCode::BAD_REQUEST, 5);
    let line = log.line(&["EIO=5 is not a protocol this server speaks (EIO=4)"]);
    assert!(line.contains(" WARN "), "{line}");
    // Other malformed requests stay at debug.
    let res = get(&client, "EIO=4&transport=carrier-pigeon", &[]).await;
    res.assert_error(StatusCode::BAD_REQUEST, 0);
    let line = log.line(&["refused: Transport unknown"]);
    assert!(line.contains(" DEBUG "), "{line}");
    let count = |reason: &str| {
        io.refusals()
            .into_iter()
            .find(|(r, _)| *r == reason)
            .map(|(_, n)| n)
    };
    assert_eq!(
        (count("unsupported_version"), count("bad_request")),
        (Some(2), Some(1)),
        "every refusal is counted, warned or not"
    );
}

#[tokio::test]
async fn preflights_at_debug_and_allowed_origins_at_trace() {
    let (log, _guard) = Log::capture(tracing::Level::TRACE);
    let io = server(false);
    let client = Client::new(&io);
    let res = client
        .request(
            Method::OPTIONS,
            &client.url("EIO=4&transport=polling"),
            &[("origin", PAGE), ("access-control-request-method", "POST")],
            Bytes::new(),
        )
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    let line = log.line(&["preflight answered"]);
    assert!(
        line.contains(" DEBUG ") && line.contains(&format!("origin={PAGE}")),
        "{line}"
    );
    let res = get(&client, "EIO=4&transport=polling", &[("origin", PAGE)]).await;
    assert_eq!(res.status, StatusCode::OK);
    let line = log.line(&["origin allowed"]);
    assert!(
        line.contains(" TRACE ")
            && line.contains("method=GET")
            && line.contains("transport=polling"),
        "{line}"
    );
}

#[tokio::test]
async fn a_middleware_refusal_is_logged_at_debug_with_its_reason() {
    let (log, _guard) = Log::capture(tracing::Level::DEBUG);
    let io = server(false);
    io.of("/admin").use_connect(|_: Socket| async {
        Err::<(), _>(ConnectError::new("admin: token required"))
    });
    let client = Client::new(&io);
    let (sid, _) = client.handshake().await;
    client.post_ok(&sid, "40/admin,").await;
    client
        .poll_until(&sid, |p| p.starts_with("44/admin,"))
        .await;
    let line = log.line(&["connect refused by middleware"]);
    assert!(
        line.contains(" DEBUG ")
            && line.contains("reason=\"admin: token required\"")
            && line.contains("nsp=\"/admin\""),
        "{line}"
    );
}
