//! Recipe `auth-token`: a JWT in the Socket.IO handshake (docs/recipes/auth-token.md).
//!
//! - `POST /token` with `{"user":"ada"}` answers `{"token":..., "expiresAt":...}`: a
//!   short-lived HS256 JWT. A real app would check a session cookie or a password here.
//! - A connect middleware reads `auth.token` from the handshake, verifies it and refuses with
//!   a reason the client gets as `connect_error` (`err.message`, and `err.data.code`).
//! - A connected socket is disconnected when its token expires (after a `token_expired`
//!   event), so nobody stays connected on a dead token; the client connects again with a
//!   fresh one.
//! - The page (examples/auth-token/web, `npm run dev` on `http://localhost:5173`) is on
//!   another origin: the same origin policy guards Socket.IO and the `/token` route.
//!
//! ```sh
//! cargo run -p auth-token                  # listening on http://127.0.0.1:3000
//! cd examples/auth-token/web && npm ci && npm run dev
//! ```
//!
//! Settings (environment): `PORT` or `--port N` (default 3000, `0` for any free port),
//! `AUTH_TOKEN_SECRET` (the HS256 key; default: random at each start), `AUTH_TOKEN_TTL`
//! (token lifetime in seconds, default 300), `AUTH_ALLOWED_ORIGINS` (comma-separated page
//! origins, default the Vite dev server's `http://localhost:5173,http://127.0.0.1:5173`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use portico::cors::{RequestInfo, Verdict};
use portico::{Ack, ConnectError, DisconnectReason, OriginPolicy, Server, Socket};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// What the token says: who, until when, and a number that makes each token unique.
/// `sub` and `exp` are required by the validation (a token without them is an `invalid
/// token`, not a decoding error: hence the defaults here).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    #[serde(default)]
    sub: String,
    #[serde(default)]
    iat: u64,
    exp: u64,
    #[serde(default)]
    jti: String,
}

/// Keys, lifetime and the validation rules, shared by the route and the middleware.
struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    issued: AtomicU64,
}

/// The longest token read: the handshake's `auth` is peer input.
const MAX_TOKEN_LEN: usize = 4096;
/// The longest user name `/token` accepts.
const MAX_USER_LEN: usize = 64;

impl Auth {
    fn new(secret: &[u8], ttl: Duration) -> Auth {
        let mut validation = Validation::new(Algorithm::HS256);
        // jsonwebtoken allows 60 s past `exp` by default; expiry here is exact.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Auth {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
            issued: AtomicU64::new(0),
        }
    }

    fn issue(&self, user: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let iat = unix_now();
        Ok(Claims {
            sub: user.to_owned(),
            iat,
            exp: iat + self.ttl.as_secs().max(1),
            jti: self.issued.fetch_add(1, Ordering::Relaxed).to_string(),
        })
    }

    /// Verifies the handshake's `auth.token`; the error is the refusal the client sees.
    fn verify(&self, auth: &serde_json::Value) -> Result<Claims, ConnectError> {
        let token = match auth.get("token") {
            None | Some(serde_json::Value::Null) => return Err(refuse(Refusal::Missing)),
            Some(serde_json::Value::String(t)) if t.is_empty() => {
                return Err(refuse(Refusal::Missing))
            }
            Some(serde_json::Value::String(t)) if t.len() <= MAX_TOKEN_LEN => t,
            Some(_) => return Err(refuse(Refusal::Malformed)),
        };
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| refuse(Refusal::of(e.kind())))?
            .claims;
        // jsonwebtoken accepts a token during the second of its `exp`; RFC 7519 wants "now"
        // before `exp`, and the expiry timer below disconnects at `exp`: refuse from then on.
        if claims.exp <= unix_now() {
            return Err(refuse(Refusal::Expired));
        }
        Ok(claims)
    }
}

/// Why a handshake is refused: the client's `err.message` and `err.data.code`.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// No `auth.token` (or an empty one).
    Missing,
    /// Not a JWT: not three base64url parts, bad JSON, an unknown `alg`, not a string.
    Malformed,
    /// A good signature, but `exp` has passed: get a new token.
    Expired,
    /// Anything else: wrong signature or algorithm, a required claim missing.
    Invalid,
}

impl Refusal {
    fn of(kind: &ErrorKind) -> Refusal {
        match kind {
            ErrorKind::InvalidToken
            | ErrorKind::Base64(_)
            | ErrorKind::Json(_)
            | ErrorKind::Utf8(_)
            | ErrorKind::InvalidAlgorithmName => Refusal::Malformed,
            ErrorKind::ExpiredSignature => Refusal::Expired,
            _ => Refusal::Invalid,
        }
    }
    fn message(self) -> &'static str {
        match self {
            Refusal::Missing => "missing token",
            Refusal::Malformed => "malformed token",
            Refusal::Expired => "token expired",
            Refusal::Invalid => "invalid token",
        }
    }
    fn code(self) -> &'static str {
        match self {
            Refusal::Missing => "missing_token",
            Refusal::Malformed => "malformed_token",
            Refusal::Expired => "token_expired",
            Refusal::Invalid => "invalid_token",
        }
    }
}

fn refuse(why: Refusal) -> ConnectError {
    ConnectError::new(why.message()).with_data(serde_json::json!({ "code": why.code() }))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = match std::env::args().skip_while(|a| a != "--port").nth(1) {
        Some(p) => p.parse()?,
        None => std::env::var("PORT").ok().map_or(Ok(3000), |p| p.parse())?,
    };
    let secret = match std::env::var("AUTH_TOKEN_SECRET") {
        Ok(s) if !s.is_empty() => s.into_bytes(),
        _ => rand::random::<[u8; 32]>().to_vec(),
    };
    let ttl = match std::env::var("AUTH_TOKEN_TTL") {
        Ok(s) => Duration::from_secs(s.parse().map_err(|e| {
            anyhow::anyhow!("AUTH_TOKEN_TTL={s:?} is not a number of seconds: {e}")
        })?),
        Err(_) => Duration::from_secs(300),
    };
    let origins = std::env::var("AUTH_ALLOWED_ORIGINS")
        .unwrap_or_else(|_| "http://localhost:5173,http://127.0.0.1:5173".to_owned());
    // One policy for both doors: the Socket.IO endpoint and the `/token` route. The page
    // posts JSON, so its preflight asks for `content-type`.
    let policy = OriginPolicy::allow(origins.split(',').map(str::trim).filter(|o| !o.is_empty()))?
        .allow_headers(["content-type"])
        .build()?;

    let auth = Arc::new(Auth::new(&secret, ttl));
    let io = Server::builder().origins(policy.clone()).build()?;

    let verifier = auth.clone();
    io.of("/")
        .use_connect(move |socket: Socket| {
            let auth = verifier.clone();
            async move {
                let claims = auth.verify(socket.handshake().auth_value())?;
                socket.extensions().insert(claims);
                Ok(())
            }
        })
        .on_connection(|socket: Socket| async move {
            let Some(claims) = socket.extensions().get::<Claims>() else {
                return;
            };
            // `whoami` answers what the token said (the tests and the page read it).
            socket.on("whoami", |socket: Socket, ack: Ack| async move {
                let claims = socket.extensions().get::<Claims>();
                ack.send(&claims.as_deref())
            });
            // Disconnect at expiry, unless the socket went away first. The time left is read
            // on the wall clock now and counted down on the monotonic clock.
            let gone = Arc::new(Notify::new());
            let on_gone = gone.clone();
            socket.on_disconnect(move |_: Socket, _: DisconnectReason| {
                let gone = on_gone.clone();
                async move { gone.notify_one() }
            });
            let expiry = UNIX_EPOCH + Duration::from_secs(claims.exp);
            let left = expiry
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            tokio::spawn(async move {
                tokio::select! {
                    () = tokio::time::sleep(left) => {
                        let _ = socket.emit("token_expired", &serde_json::json!({ "code": "token_expired" }));
                        socket.disconnect();
                    }
                    () = gone.notified() => {}
                }
            });
        });

    let app = Router::new()
        .route("/token", post(issue_token))
        .with_state(auth)
        .layer(middleware::from_fn_with_state(Arc::new(policy), cors))
        .layer(io.layer());

    let listener = portico::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    portico::serve_app(listener, io, app, portico::shutdown_signal()).await?;
    Ok(())
}

#[derive(Deserialize)]
struct TokenRequest {
    user: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenResponse {
    token: String,
    /// Seconds since the Unix epoch.
    expires_at: u64,
}

/// `POST /token`: a fresh token for `user`. A real app authenticates the caller first.
async fn issue_token(State(auth): State<Arc<Auth>>, Json(req): Json<TokenRequest>) -> Response {
    let user = req.user.trim();
    if user.is_empty() || user.len() > MAX_USER_LEN {
        let msg = format!("user must be 1 to {MAX_USER_LEN} bytes");
        return (StatusCode::BAD_REQUEST, msg).into_response();
    }
    let signed = auth.issue(user).and_then(|claims| {
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &auth.encoding)?;
        Ok(TokenResponse {
            token,
            expires_at: claims.exp,
        })
    });
    match signed {
        Ok(body) => Json(body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// CORS for the app's own routes. Portico answers CORS for its endpoint only (there is no
/// `Server::cors_layer()`), so the same [`OriginPolicy`] is evaluated here: preflights are
/// answered, refused origins get 403 with the reason, and every answer gets the headers.
async fn cors(State(policy): State<Arc<OriginPolicy>>, req: Request, next: Next) -> Response {
    let decision = policy.evaluate(&RequestInfo::new(req.method(), req.headers()));
    let mut res = match &decision.verdict {
        Verdict::Preflight => StatusCode::NO_CONTENT.into_response(),
        Verdict::Deny(reason) => (StatusCode::FORBIDDEN, reason.message()).into_response(),
        Verdict::Allow => next.run(req).await,
    };
    decision.apply_to(res.headers_mut());
    res
}
