//! Smoke tests: `doctor` against in-process Portico servers on loopback (configured right,
//! and wrong in the ways Portico allows), and against scripted fake servers for what only a
//! proxy or another server produces (a duplicated header, a dropped upgrade, another node).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser as _;
use portico::{ConnectError, OriginPolicy, ServerBuilder, Socket};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::args::{check, DoctorArgs};
use super::findings::{Id, Severity};
use super::report::{Report, Status};

const PAGE: &str = "http://localhost:5173";

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    args: DoctorArgs,
}

/// Runs doctor with these arguments (after the URL).
async fn doctor(url: &str, argv: &[&str]) -> Report {
    let argv = ["doctor", url].into_iter().chain(argv.iter().copied());
    let options = check(Cli::try_parse_from(argv).unwrap().args).unwrap();
    super::run::run(options, false).await
}

/// The ids of the problems (errors and warnings; the tests' short heartbeats make notes).
fn ids(report: &Report) -> Vec<&'static str> {
    report
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .map(|f| f.id.as_str())
        .collect()
}

fn status(report: &Report, name: &str) -> Status {
    report
        .checks
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.status)
        .unwrap_or_else(|| {
            panic!("no check {name} in {:?}", report.checks);
        })
}

/// A Portico server on an ephemeral loopback port; `setup` adds namespaces and middlewares.
async fn portico(
    builder: ServerBuilder,
    setup: impl FnOnce(&portico::Server),
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let io = builder.build().unwrap();
    io.of("/")
        .on_connection(|_socket: Socket| async move { Ok::<_, portico::EmitError>(()) });
    setup(&io);
    let listener = portico::bind(("127.0.0.1", 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(portico::serve_with_shutdown(listener, io, async move {
        let _ = stopped.await;
    }));
    (format!("http://{addr}"), stop)
}

/// Allows the page, with heartbeats short enough for the tests' deadline.
fn right() -> ServerBuilder {
    portico::Server::builder()
        .origins(OriginPolicy::allow([PAGE]).unwrap())
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portico_configured_right_is_healthy() {
    let (url, _stop) = portico(right(), |_| {}).await;
    for transports in ["polling,websocket", "websocket", "polling"] {
        let r = doctor(
            &url,
            &[
                "--origin",
                PAGE,
                "--transports",
                transports,
                "--deadline-ms",
                "5000",
            ],
        )
        .await;
        let problems: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.severity != Severity::Info)
            .collect();
        assert!(problems.is_empty(), "{transports}: {problems:#?}");
        assert!(
            r.healthy() && r.exit_code() == 0,
            "{transports}: {}",
            r.summary()
        );
        assert_eq!(
            status(&r, "heartbeat"),
            Status::Pass,
            "{transports}: {:?}",
            r.checks
        );
        assert_eq!(status(&r, "connect"), Status::Pass);
    }
    let r = doctor(&url, &["--origin", PAGE]).await;
    for check in ["handshake", "cors", "connect", "sticky", "upgrade"] {
        assert_eq!(status(&r, check), Status::Pass, "{check}");
    }
    assert!(r.summary().starts_with("healthy: "));
    // The page on the server's own origin: no CORS at all.
    let r = doctor(&url, &["--origin", &url]).await;
    assert!(ids(&r).is_empty(), "{:#?}", r.findings);
    assert_eq!(status(&r, "cors"), Status::Skip);
    // The short heartbeat is noted, and a note keeps the run healthy.
    assert!(r
        .findings
        .iter()
        .any(|f| f.id == Id::HandshakeUnusual && f.severity == Severity::Info));
    assert!(r.healthy());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portico_refusing_the_origin() {
    let (url, _stop) = portico(right(), |_| {}).await;
    let r = doctor(&url, &["--origin", "http://localhost:5174"]).await;
    assert_eq!(ids(&r), ["origin.refused"]);
    assert_eq!(r.exit_code(), 1);
    let f = &r.findings[0];
    assert_eq!(f.client_error, "xhr poll error");
    assert!(f.browser_console.as_deref().unwrap().ends_with(
        "No 'Access-Control-Allow-Origin' header is present on the requested resource."
    ));
    assert!(f.evidence.iter().any(|l| l == "< HTTP/1.1 403 Forbidden"));
    assert!(f
        .evidence
        .iter()
        .any(|l| l == r#"< {"code":4,"message":"Forbidden"}"#));
    assert!(f
        .fix
        .portico
        .contains("--cors-origin http://localhost:5174"));
    assert_eq!(status(&r, "cors"), Status::Fail);
    // A WebSocket-only client: refused before 101.
    let r = doctor(
        &url,
        &[
            "--origin",
            "http://localhost:5174",
            "--transports",
            "websocket",
        ],
    )
    .await;
    assert_eq!(ids(&r), ["websocket.origin-refused"]);
    assert_eq!(r.findings[0].severity, Severity::Error);
    assert!(r.findings[0]
        .browser_console
        .as_deref()
        .unwrap()
        .ends_with("Unexpected response code: 403"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_and_wildcards() {
    // any_origin answers *: fine without credentials, blocked with them.
    let (url, _stop) = portico(
        portico::Server::builder().origins(OriginPolicy::any_origin()),
        |_| {},
    )
    .await;
    let r = doctor(&url, &["--origin", PAGE, "--deadline-ms", "3000"]).await;
    assert!(r.healthy(), "{}", r.summary());
    let r = doctor(
        &url,
        &["--origin", PAGE, "--credentials", "--deadline-ms", "3000"],
    )
    .await;
    assert_eq!(ids(&r), ["cors.wildcard-with-credentials"]);
    assert!(r.findings[0]
        .browser_console
        .as_deref()
        .unwrap()
        .contains("must not be the wildcard '*'"));
    // An allowed origin without credentials(true): no Access-Control-Allow-Credentials.
    let (url, _stop2) = portico(right(), |_| {}).await;
    let r = doctor(&url, &["--origin", PAGE, "--credentials"]).await;
    assert_eq!(ids(&r), ["cors.missing-allow-credentials"]);
    assert!(r.findings[0].fix.portico.contains("--cors-credentials"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflights_for_extra_headers() {
    let (url, _stop) = portico(right(), |_| {}).await;
    let r = doctor(&url, &["--origin", PAGE, "--header", "X-Token: abc"]).await;
    assert_eq!(ids(&r), ["cors.preflight-failed"]);
    let f = &r.findings[0];
    assert!(
        f.fix.portico.contains("--cors-allow-header x-token"),
        "{}",
        f.fix.portico
    );
    assert!(f
        .evidence
        .iter()
        .any(|l| l == "> Access-Control-Request-Headers: x-token"));
    assert_eq!(status(&r, "preflight"), Status::Fail);
    let (url, _stop2) = portico(
        portico::Server::builder().origins(
            OriginPolicy::allow([PAGE])
                .unwrap()
                .allow_headers(["x-token"]),
        ),
        |_| {},
    )
    .await;
    let r = doctor(
        &url,
        &[
            "--origin",
            PAGE,
            "--header",
            "X-Token: abc",
            "--deadline-ms",
            "3000",
        ],
    )
    .await;
    assert!(r.healthy(), "{:#?}", r.findings);
    assert_eq!(status(&r, "preflight"), Status::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces() {
    let (url, _stop) = portico(right(), |io| {
        io.of("/admin")
            .use_connect(|_socket: Socket| async move { Err(ConnectError::new("invalid token")) })
            .on_connection(|_socket: Socket| async move { Ok::<_, portico::EmitError>(()) });
    })
    .await;
    for transports in ["polling,websocket", "websocket"] {
        let r = doctor(
            &url,
            &[
                "--origin",
                PAGE,
                "--namespace",
                "/nope",
                "--transports",
                transports,
            ],
        )
        .await;
        assert_eq!(ids(&r), ["namespace.invalid"], "{transports}");
        assert_eq!(r.findings[0].client_error, "Invalid namespace");
        let r = doctor(
            &format!("{url}/admin"),
            &["--origin", PAGE, "--transports", transports],
        )
        .await;
        assert_eq!(ids(&r), ["namespace.rejected"], "{transports}");
        let f = &r.findings[0];
        assert_eq!(f.client_error, "invalid token");
        assert!(
            f.why.contains("\"invalid token\"") && f.why.contains("--auth"),
            "{}",
            f.why
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_and_paths() {
    let (url, _stop) = portico(right().path("/realtime/"), |_| {}).await;
    let r = doctor(
        &url,
        &["--origin", PAGE, "--path", "/realtime", "--eio", "3"],
    )
    .await;
    assert_eq!(ids(&r), ["eio.version-mismatch"]);
    assert!(r.findings[0].fix.portico.contains("--allow-eio3"));
    assert!(r.findings[0].why.contains("Unsupported protocol version"));
    // The default path: 404, and the path that answers is found.
    let r = doctor(&url, &["--origin", PAGE]).await;
    assert_eq!(ids(&r), ["path.not-found"]);
    assert!(
        r.findings[0]
            .evidence
            .iter()
            .any(|l| l == "< HTTP/1.1 404 Not Found"),
        "{:#?}",
        r.findings[0].evidence
    );
    assert!(
        r.findings[0].why.contains("no other path tried answers"),
        "{}",
        r.findings[0].why
    );
    let (url, _stop2) = portico(right().allow_eio3(true), |_| {}).await;
    for transports in ["polling,websocket", "websocket"] {
        let r = doctor(
            &url,
            &["--origin", PAGE, "--eio", "3", "--transports", transports],
        )
        .await;
        assert!(r.healthy(), "{transports}: {:#?}", r.findings);
        assert_eq!(status(&r, "heartbeat"), Status::Pass);
    }
    let r = doctor(&url, &["--origin", PAGE, "--path", "/other/"]).await;
    assert_eq!(ids(&r), ["path.not-found"]);
    assert!(
        r.findings[0].why.contains("answers at /socket.io/"),
        "{}",
        r.findings[0].why
    );
    // It goes on with the path that answers.
    assert_eq!(status(&r, "connect"), Status::Pass);
}

#[tokio::test]
async fn unreachable_and_deadlines() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let r = doctor(&format!("http://{addr}"), &["--origin", PAGE]).await;
    assert_eq!(ids(&r), ["unreachable.refused"]);
    let r = doctor(
        "http://portico-doctor-test.invalid:3000",
        &["--origin", PAGE, "--timeout-ms", "2000"],
    )
    .await;
    assert!(
        matches!(ids(&r)[..], ["unreachable.dns"] | ["unreachable.timeout"]),
        "{:?}",
        ids(&r)
    );
    assert!(r.findings[0]
        .evidence
        .iter()
        .any(|l| l.contains("portico-doctor-test.invalid")));
    // A server that accepts and never answers: bounded by --timeout-ms, whole run by the deadline.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let t0 = std::time::Instant::now();
    let r = doctor(
        &format!("http://{addr}"),
        &[
            "--origin",
            PAGE,
            "--timeout-ms",
            "200",
            "--deadline-ms",
            "1000",
        ],
    )
    .await;
    assert!(
        t0.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(ids(&r), ["unreachable.timeout"]);
    assert_eq!(r.findings[0].client_error, "timeout");
}

/// A scripted HTTP server: `answer(request head, body)` gives the raw response.
async fn fake(answer: fn(&str, &str) -> String) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    let Some(end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let head = &text[..end];
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0usize);
                    if text.len() < end + 4 + len {
                        continue;
                    }
                    let response = answer(head, &text[end + 4..end + 4 + len]);
                    let _ = s.write_all(response.as_bytes()).await;
                    return;
                }
            });
        }
    });
    addr
}

fn respond(status: &str, headers: &[&str], body: &str) -> String {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for h in headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(body);
    out
}

const OPEN: &str = r#"0{"sid":"s1","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#;

#[tokio::test]
async fn proxy_adding_a_second_allow_origin() {
    let addr = fake(|head, _| {
        let cors = [
            "Access-Control-Allow-Origin: http://localhost:5173",
            "Access-Control-Allow-Origin: *",
        ];
        if head.starts_with("POST") {
            respond("200 OK", &cors, "ok")
        } else if head.contains("sid=") {
            respond("200 OK", &cors, "40{\"sid\":\"x\"}\u{1e}2")
        } else {
            respond("200 OK", &cors, OPEN)
        }
    })
    .await;
    let r = doctor(
        &format!("http://{addr}"),
        &["--origin", PAGE, "--transports", "polling"],
    )
    .await;
    assert_eq!(ids(&r), ["cors.multiple-allow-origin"]);
    let f = &r.findings[0];
    assert!(f
        .browser_console
        .as_deref()
        .unwrap()
        .contains("contains multiple values 'http://localhost:5173, *'"));
    assert!(f
        .fix
        .nginx
        .as_deref()
        .unwrap()
        .contains("add_header Access-Control-Allow-Origin"));
}

#[tokio::test]
async fn nginx_dropping_the_upgrade_headers() {
    let addr = fake(|head, _| {
        let cors = [
            "Access-Control-Allow-Origin: http://localhost:5173",
            "Server: nginx/1.22.1",
        ];
        if head.contains("transport=websocket") {
            respond(
                "400 Bad Request",
                &["Server: nginx/1.22.1", "Content-Type: application/json"],
                r#"{"code":3,"message":"Bad request"}"#,
            )
        } else if head.starts_with("POST") {
            respond("200 OK", &cors, "ok")
        } else if head.contains("sid=") {
            respond("200 OK", &cors, "40{\"sid\":\"x\"}\u{1e}2")
        } else {
            respond("200 OK", &cors, OPEN)
        }
    })
    .await;
    let r = doctor(&format!("http://{addr}"), &["--origin", PAGE]).await;
    assert_eq!(ids(&r), ["websocket.proxy-dropped-upgrade"]);
    let f = &r.findings[0];
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.why.contains("nginx/1.22.1"), "{}", f.why);
    assert!(f
        .browser_console
        .as_deref()
        .unwrap()
        .ends_with("Unexpected response code: 400"));
    assert!(f
        .fix
        .nginx
        .as_deref()
        .unwrap()
        .contains("proxy_set_header Upgrade $http_upgrade;"));
    assert_eq!(status(&r, "heartbeat"), Status::Pass);
    assert_eq!(r.exit_code(), 1);
}

#[tokio::test]
async fn requests_reaching_another_node() {
    let addr = fake(|head, _| {
        let cors = ["Access-Control-Allow-Origin: http://localhost:5173"];
        if head.contains("sid=") {
            respond(
                "400 Bad Request",
                &cors,
                r#"{"code":1,"message":"Session ID unknown"}"#,
            )
        } else {
            respond("200 OK", &cors, OPEN)
        }
    })
    .await;
    let r = doctor(&format!("http://{addr}"), &["--origin", PAGE]).await;
    assert_eq!(ids(&r), ["sticky.session-unknown"]);
    assert_eq!(
        r.findings[0].client_error,
        super::polling::STICKY_CLIENT_ERROR
    );
    assert!(r.findings[0].client_error.contains("xhr post error"));
    assert!(r.findings[0].client_error.contains("xhr poll error"));
    assert!(r.findings[0]
        .fix
        .nginx
        .as_deref()
        .unwrap()
        .contains("ip_hash;"));
}

#[tokio::test]
async fn a_socket_io_2_server() {
    let addr = fake(|_, _| {
        let open =
            r#"0{"sid":"s1","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}"#;
        respond(
            "200 OK",
            &["Access-Control-Allow-Origin: http://localhost:5173"],
            &format!("{}:{open}2:40", open.len()),
        )
    })
    .await;
    let r = doctor(&format!("http://{addr}"), &["--origin", PAGE]).await;
    assert_eq!(ids(&r), ["eio.version-mismatch"]);
    assert_eq!(r.findings[0].client_error, "server error");
}

#[tokio::test]
async fn a_server_without_heartbeat() {
    let addr = fake(|head, _| {
        let cors = ["Access-Control-Allow-Origin: http://localhost:5173"];
        if head.starts_with("POST") {
            respond("200 OK", &cors, "ok")
        } else if head.contains("sid=") {
            respond("200 OK", &cors, "40{\"sid\":\"x\"}\u{1e}6")
        } else {
            respond("200 OK", &cors, OPEN)
        }
    })
    .await;
    let r = doctor(
        &format!("http://{addr}"),
        &[
            "--origin",
            PAGE,
            "--transports",
            "polling",
            "--deadline-ms",
            "4000",
        ],
    )
    .await;
    assert_eq!(ids(&r), ["heartbeat.missing"], "{:?}", r.checks);
    assert_eq!(status(&r, "heartbeat"), Status::Fail);
    assert!(r.findings[0]
        .evidence
        .last()
        .unwrap()
        .starts_with("! no ping (2) within"));
}
