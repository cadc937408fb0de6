//! Recipe "debugging" (docs/recipes/debugging.md): a server that tells you why a client does
//! not connect.
//!
//! ```sh
//! RUST_LOG=portico=debug cargo run -p debugging
//! ```
//!
//! - The log (stderr, `RUST_LOG`): `info` (the default) shows the listening line and every
//!   refusal an operator acts on; `debug` adds each handshake, socket, preflight and
//!   refusal with its reason; `trace` adds every request whose origin was allowed.
//! - `connection_error`: each refused request, printed on stdout as one line.
//! - Hooks: `headers` adds `x-served-by` to every response (which node answered, behind a
//!   load balancer), `initial_headers` adds `x-handshake-origin` to the handshake response
//!   (the `Origin` the server saw).
//!
//! Options: `--port N` (default 3000; 0 picks one), `--origin O` (repeatable, default
//! `http://localhost:5173`), `--instance NAME` (default `node-a`). Prints `listening on
//! http://127.0.0.1:PORT/socket.io/` on stdout once bound.

use http::header::{HeaderValue, ORIGIN};
use http::HeaderMap;
use portico::{ConnectError, ConnectionError, OriginPolicy, RequestParts, Server, Socket};
use serde_json::Value;

fn arg(name: &str) -> Option<String> {
    std::env::args().skip_while(|a| a != name).nth(1)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = arg("--port")
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(3000);
    let all: Vec<String> = std::env::args().collect();
    let mut origins: Vec<String> = all
        .windows(2)
        .filter(|w| w[0] == "--origin")
        .map(|w| w[1].clone())
        .collect();
    if origins.is_empty() {
        origins.push("http://localhost:5173".to_owned());
    }
    let instance = HeaderValue::from_str(&arg("--instance").unwrap_or_else(|| "node-a".into()))?;

    let io = Server::builder()
        // The pages may send `Authorization` (socket.io-client's `extraHeaders`): a header
        // that makes the browser send a preflight first.
        .origins(OriginPolicy::allow(&origins)?.allow_headers(["authorization"]))
        // Every response, errors and preflights included: which node answered.
        .headers(move |_req: &RequestParts, headers: &mut HeaderMap| {
            headers.insert("x-served-by", instance.clone());
        })
        // The handshake response only: the Origin the server judged.
        .initial_headers(|req: &RequestParts, headers: &mut HeaderMap| {
            let seen = req
                .headers
                .get(ORIGIN)
                .cloned()
                .unwrap_or(HeaderValue::from_static("(none)"));
            headers.insert("x-handshake-origin", seen);
        })
        .build()?;

    // Every refused request (bad origin, unknown session, unsupported protocol...), with why.
    io.on_connection_error(|err: &ConnectionError| {
        let c = &err.context;
        println!(
            "connection_error: code={} message={:?} method={} url={} origin={} transport={} reason={}",
            err.code,
            err.message,
            c.method,
            c.url,
            c.origin.as_deref().unwrap_or("-"),
            c.transport.as_deref().unwrap_or("-"),
            c.reason.as_deref().unwrap_or("-"),
        );
    });

    io.of("/").on_connection(|socket: Socket| async move {
        socket.on("ping?", |socket: Socket| async move {
            socket.emit("pong!", &())
        });
    });
    // A namespace whose middleware refuses clients without a token: at debug, the log says
    // `connect refused by middleware` with the reason.
    io.of("/private").use_connect(|socket: Socket| async move {
        match socket
            .handshake()
            .auth_value()
            .get("token")
            .and_then(Value::as_str)
        {
            Some(_) => Ok(()),
            None => Err(ConnectError::new("token required")),
        }
    });

    let listener = portico::bind(("127.0.0.1", port)).await?;
    println!(
        "listening on http://{}{}",
        portico::local_addr(&listener)?,
        io.config().path
    );
    portico::serve_with_shutdown(listener, io, portico::shutdown_signal()).await?;
    Ok(())
}
