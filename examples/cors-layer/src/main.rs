//! Recipe: an axum app that already has CORS (tower-http's `CorsLayer` on its REST routes)
//! with Portico mounted beside it, both answering from **one** [`OriginPolicy`]. The Rust
//! form of "Express `cors()` does not apply to Socket.IO". See docs/recipes/cors-layer.md.
//!
//! ```sh
//! APP_ORIGINS=http://localhost:5173 cargo run -p cors-layer -- --port 3000
//! ```
//!
//! - `GET /api/items`, `POST /api/items` (JSON), `GET /api/whoami` (reads the custom
//!   `X-Token` header): the REST routes, under a `CorsLayer` whose allowed origins are
//!   decided by the same `OriginPolicy` Portico uses.
//! - `/socket.io/`: Portico, which answers CORS for itself from that policy (and refuses
//!   other origins with 403: no session, no WebSocket).
//!
//! Environment: `PORT` (or `--port N`; default 0, any free port), `APP_ORIGINS`
//! (comma-separated; default `http://localhost:5173`), and `MISTAKE` to reproduce a classic
//! mistake: `cors-outside` (the `CorsLayer` wraps Portico too), `no-allow-headers` (the
//! `CorsLayer` does not list `x-token`), `portico-default` (Portico keeps its default,
//! same-origin policy), `no-credentials` (the policy does not allow credentials),
//! `wildcard` (`CorsLayer` with `allow_origin(Any)`), `append-header` (a hand-written
//! middleware appends `Access-Control-Allow-Origin` to every response).

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use portico::cors::RequestInfo;
use portico::{Ack, OriginPolicy, Server, Socket};
use serde_json::{json, Value};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

/// The classic mistakes this example can reproduce (`MISTAKE=`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mistake {
    None,
    CorsOutside,
    NoAllowHeaders,
    PorticoDefault,
    NoCredentials,
    Wildcard,
    AppendHeader,
}

impl Mistake {
    fn from_env() -> anyhow::Result<Mistake> {
        Ok(match std::env::var("MISTAKE").as_deref() {
            Err(_) | Ok("") => Mistake::None,
            Ok("cors-outside") => Mistake::CorsOutside,
            Ok("no-allow-headers") => Mistake::NoAllowHeaders,
            Ok("portico-default") => Mistake::PorticoDefault,
            Ok("no-credentials") => Mistake::NoCredentials,
            Ok("wildcard") => Mistake::Wildcard,
            Ok("append-header") => Mistake::AppendHeader,
            Ok(other) => anyhow::bail!(
                "MISTAKE={other:?}: expected cors-outside, no-allow-headers, portico-default, \
                 no-credentials, wildcard or append-header"
            ),
        })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = match std::env::args().skip_while(|a| a != "--port").nth(1) {
        Some(p) => p.parse()?,
        None => std::env::var("PORT").ok().map_or(Ok(0), |p| p.parse())?,
    };
    let origins: Vec<String> = std::env::var("APP_ORIGINS")
        .unwrap_or_else(|_| "http://localhost:5173".into())
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let mistake = Mistake::from_env()?;

    // The one policy: which origins, with or without credentials, which request headers.
    let credentials = mistake != Mistake::NoCredentials;
    let policy = OriginPolicy::allow(&origins)?
        .credentials(credentials)
        .allow_headers(["x-token"])
        .build()?;

    let io = Server::builder()
        .origins(if mistake == Mistake::PorticoDefault {
            OriginPolicy::same_origin()
        } else {
            policy.clone()
        })
        .build()?;
    io.of("/").on_connection(|socket: Socket| async move {
        socket.on("hello", |_socket: Socket, ack: Ack| async move {
            ack.send("hi")
        });
    });

    let cors = match mistake {
        Mistake::Wildcard => CorsLayer::new()
            .allow_origin(Any)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::CONTENT_TYPE, "x-token".parse()?]),
        _ => cors_layer(policy, credentials, mistake != Mistake::NoAllowHeaders),
    };

    let api = Router::new()
        .route("/api/items", get(list_items).post(add_item))
        .route("/api/whoami", get(whoami));
    let app = match mistake {
        // The CorsLayer answers /socket.io/ too: it replaces Portico's CORS headers and
        // answers its preflights itself.
        Mistake::CorsOutside => api.layer(io.layer()).layer(cors),
        Mistake::AppendHeader => api
            .layer(cors)
            .layer(io.layer())
            .layer(middleware::from_fn(append_allow_origin)),
        // Right: the CorsLayer on the REST routes only, Portico beside (outermost).
        _ => api.layer(cors).layer(io.layer()),
    };

    let listener = portico::bind(("127.0.0.1", port)).await?;
    let addr = portico::local_addr(&listener)?;
    println!("listening on http://{addr}");
    portico::serve_app(listener, io, app, portico::shutdown_signal()).await?;
    Ok(())
}

/// tower-http's `CorsLayer` for the REST routes, its origins decided by Portico's policy: an
/// origin is allowed when the policy would serve a plain GET from it.
fn cors_layer(policy: OriginPolicy, credentials: bool, list_x_token: bool) -> CorsLayer {
    let mut headers = vec![header::CONTENT_TYPE];
    if list_x_token {
        headers.push(header::HeaderName::from_static("x-token"));
    }
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |_origin, parts| {
            let request = RequestInfo::new(&Method::GET, &parts.headers);
            policy.evaluate(&request).is_allowed()
        }))
        .allow_credentials(credentials)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(headers)
}

/// MISTAKE=append-header: CORS "by hand", appending to whatever the inner service set.
async fn append_allow_origin(request: Request, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    let mut response = next.run(request).await;
    if let Some(origin) = origin {
        response
            .headers_mut()
            .append(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    response
}

async fn list_items() -> Json<Value> {
    Json(json!({ "items": ["apple", "pear"] }))
}

async fn add_item(Json(item): Json<Value>) -> Json<Value> {
    Json(json!({ "added": item }))
}

async fn whoami(headers: HeaderMap) -> Json<Value> {
    let token = headers
        .get("x-token")
        .and_then(|v: &HeaderValue| v.to_str().ok());
    Json(json!({ "token": token }))
}
