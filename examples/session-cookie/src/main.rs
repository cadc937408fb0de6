//! Recipe: the HTTP app's login session authenticates Socket.IO connections (Node's
//! `io.engine.use(sessionMiddleware)`). See docs/recipes/session-cookie.md.
//!
//! axum serves `POST /login`, `POST /logout` and `GET /me` under a tower-sessions layer
//! (a `MemoryStore`: use a persistent store in production). Portico sits beside them. Its
//! connect middleware reads the session cookie from the handshake request
//! ([`portico::Handshake::cookie`]), looks the session up in the same store, and refuses a
//! socket without a logged-in session with `connect_error` "not logged in: …".
//!
//! ```sh
//! npm ci --prefix tests/js    # the socket.io-client package whose bundle the page loads
//! cargo run -p session-cookie -- --port 3000
//! ```
//!
//! Then open <http://127.0.0.1:3000/>.
//!
//! Environment:
//! - `PORT` (or `--port N`): the port on 127.0.0.1, default 0 (any free port).
//! - `ALLOWED_ORIGINS`: comma-separated origins of a web app on another origin (e.g.
//!   `http://localhost:5173`). They are allowed with credentials, by Portico and by a
//!   `CorsLayer` on the REST routes, so that such a page can log in with
//!   `fetch(…, { credentials: "include" })` and connect with `withCredentials: true`.
//! - `COOKIE_SAMESITE`: `lax` (default: the page and the server are the same site, e.g.
//!   `localhost:5173` and `localhost:3000`), `strict`, or `none` (cross-site: the cookie is
//!   sent as `SameSite=None; Secure`, which browsers accept only over HTTPS or on localhost).

use std::sync::Arc;

use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use portico::{Ack, ClientBundle, ConnectError, OriginPolicy, Server, Socket, State};
use serde::Deserialize;
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_sessions::cookie::SameSite;
use tower_sessions::session::Id;
use tower_sessions::{MemoryStore, Session, SessionManagerLayer, SessionStore};

/// The session cookie's name (tower-sessions' default, spelled out because the middleware
/// reads it too).
const SESSION_COOKIE: &str = "id";
/// The key of the logged-in user's name in the session.
const USER_KEY: &str = "user";
/// The page of this recipe.
const INDEX_HTML: &str = include_str!("../static/index.html");
/// The installed socket.io-client npm package, whose browser bundle Portico serves at
/// `/socket.io/socket.io.min.js`.
const CLIENT_PACKAGE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/js/node_modules/socket.io-client"
);

/// The logged-in user of a socket, put in its extensions by the connect middleware.
#[derive(Clone)]
struct User(Arc<str>);

#[derive(Deserialize)]
struct Login {
    user: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = match std::env::args().skip_while(|a| a != "--port").nth(1) {
        Some(p) => p.parse()?,
        None => std::env::var("PORT").ok().map_or(Ok(0), |p| p.parse())?,
    };
    let allowed: Vec<String> = std::env::var("ALLOWED_ORIGINS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let same_site = match std::env::var("COOKIE_SAMESITE").as_deref() {
        Err(_) | Ok("lax") => SameSite::Lax,
        Ok("strict") => SameSite::Strict,
        Ok("none") => SameSite::None,
        Ok(other) => anyhow::bail!("COOKIE_SAMESITE={other:?}: expected lax, strict or none"),
    };

    // The sessions of the HTTP app. `SameSite=None` is only accepted with `Secure`.
    let store = MemoryStore::default();
    let sessions = SessionManagerLayer::new(store.clone())
        .with_name(SESSION_COOKIE)
        .with_same_site(same_site)
        .with_secure(same_site == SameSite::None)
        .with_http_only(true);

    // Portico: the same origins as the REST routes, with credentials (cookies).
    let origins = if allowed.is_empty() {
        OriginPolicy::same_origin()
    } else {
        OriginPolicy::allow(&allowed)?.credentials(true)
    };
    let io = Server::builder()
        .origins(origins)
        .state(store)
        .serve_client(ClientBundle::from_package_dir(CLIENT_PACKAGE)?)
        .build()?;
    io.of("/").use_connect(require_login);
    io.of("/").on_connection(|socket: Socket| async move {
        socket.on("whoami", |socket: Socket, ack: Ack| async move {
            let user = socket.extensions().get::<User>().map(|u| u.0.to_string());
            ack.send(&user)
        });
    });

    let mut api = Router::new()
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/me", get(me))
        .layer(sessions);
    if !allowed.is_empty() {
        // A page on another origin calls these routes with `credentials: "include"`.
        let list = allowed
            .iter()
            .map(|o| HeaderValue::from_str(o))
            .collect::<Result<Vec<_>, _>>()?;
        api = api.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(list))
                .allow_credentials(true)
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([header::CONTENT_TYPE]),
        );
    }
    // Portico outermost: `/socket.io/` never reaches the session or CORS layers.
    let app = Router::new()
        .route("/", get(|| async { axum::response::Html(INDEX_HTML) }))
        .merge(api)
        .layer(io.layer());

    let listener = portico::bind(("127.0.0.1", port)).await?;
    let addr = portico::local_addr(&listener)?;
    println!("listening on http://{addr}");
    portico::serve_app(listener, io, app, portico::shutdown_signal()).await?;
    Ok(())
}

/// Connect middleware: the session cookie of the handshake request must name a session of
/// the store in which a user logged in.
async fn require_login(
    socket: Socket,
    State(store): State<MemoryStore>,
) -> Result<(), ConnectError> {
    let Some(cookie) = socket.handshake().cookie(SESSION_COOKIE) else {
        return Err(ConnectError::new(format!(
            "not logged in: the handshake carried no \"{SESSION_COOKIE}\" cookie (log in first; \
             from another origin, connect with withCredentials: true)"
        )));
    };
    let unknown = || ConnectError::new("not logged in: unknown or expired session");
    let id: Id = cookie.parse().map_err(|_| unknown())?;
    let record = store
        .load(&id)
        .await
        .map_err(|_| ConnectError::new("session store unavailable"))?
        .ok_or_else(unknown)?;
    let user = record
        .data
        .get(USER_KEY)
        .and_then(|v| v.as_str())
        .ok_or_else(|| ConnectError::new("not logged in: the session has no user"))?;
    socket.extensions().insert(User(user.into()));
    Ok(())
}

/// `POST /login {"user": "ada"}`: starts a session (a new id, against session fixation).
async fn login(session: Session, Json(body): Json<Login>) -> (StatusCode, Json<serde_json::Value>) {
    let user = body.user.trim();
    if user.is_empty() || user.len() > 64 {
        let error = json!({ "error": "user must be 1 to 64 bytes" });
        return (StatusCode::BAD_REQUEST, Json(error));
    }
    let saved = async {
        session.cycle_id().await?;
        session.insert(USER_KEY, user).await
    };
    match saved.await {
        Ok(()) => (StatusCode::OK, Json(json!({ "user": user }))),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": e.to_string() })),
        ),
    }
}

/// `POST /logout`: deletes the session; sockets connected with it stay connected, new ones
/// are refused.
async fn logout(session: Session) -> StatusCode {
    match session.flush().await {
        Ok(()) => StatusCode::NO_CONTENT,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `GET /me`: the logged-in user, or `null`.
async fn me(session: Session) -> Json<serde_json::Value> {
    let user: Option<String> = session.get(USER_KEY).await.ok().flatten();
    Json(json!({ "user": user }))
}
