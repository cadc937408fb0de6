//! The tower `Service` and `Layer` that put Portico on an HTTP server.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::SystemTime;

use http::{Request, Response, StatusCode};
use http_body_util::Either;
use portico_proto::engine::ErrorCode;

use portico_cors::{self as cors, CorsHeaders, RequestHeaders, RequestInfo, Verdict};

use crate::connection_error::{ConnectionError, ErrorContext};
use crate::engine::ws::upgrade::Upgrading;
use crate::h1::head::RawHead;
use crate::handshake::{client_addr, ClientAddr, ConnInfo, PeerAddr};
use crate::http::{error, status, Answer, Body, HandshakeResponse, Query, Refusal, RequestHead};
use crate::refusal::Reason;
use crate::Server;

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Portico as a tower `Service`: requests under the configured path are Socket.IO, any
/// other path gets 404. From [`Server::service`].
#[derive(Debug, Clone)]
pub struct PorticoService {
    server: Server,
}

impl PorticoService {
    pub(crate) fn new(server: Server) -> PorticoService {
        PorticoService { server }
    }
}

impl<B> tower_service::Service<Request<B>> for PorticoService
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFut<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let server = self.server.clone();
        started(Box::pin(async move {
            if !req.uri().path().starts_with(server.0.config.path.as_str()) {
                return Ok(status(StatusCode::NOT_FOUND));
            }
            Ok(handle(server, req).await)
        }))
    }
}

/// Runs the start of a request's handling now, in `call`, as Node's engine.io does when the
/// request is parsed, and returns what is left of it.
///
/// hyper calls the service as soon as it has read a request head, but polls the future only
/// after it has read on: when the client's end of the connection came in the same read (a
/// request aborted right after it was sent), it drops the future without polling it
/// (`connection closed before message completed`). A long-polling `GET` aborted that way must
/// still close its session, as one aborted later does (the session's pending-GET guard is set
/// in the first poll); otherwise the client's next `GET` is served as if nothing happened.
///
/// The first poll uses a no-op waker: a future that waits registers again with the caller's
/// waker when the caller polls it, as every future must allow.
fn started<T: Send + 'static>(mut fut: BoxFut<T>) -> BoxFut<T> {
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(out) => Box::pin(std::future::ready(out)),
        Poll::Pending => fut,
    }
}

/// Portico as a tower `Layer`: wraps a service, answering under the configured path and
/// passing every other request through. From [`Server::layer`].
#[derive(Debug, Clone)]
pub struct PorticoLayer {
    server: Server,
}

impl PorticoLayer {
    pub(crate) fn new(server: Server) -> PorticoLayer {
        PorticoLayer { server }
    }
}

impl<S> tower_layer::Layer<S> for PorticoLayer {
    type Service = PorticoMiddleware<S>;
    fn layer(&self, inner: S) -> PorticoMiddleware<S> {
        PorticoMiddleware {
            server: self.server.clone(),
            inner,
        }
    }
}

/// The service made by [`PorticoLayer`].
#[derive(Debug, Clone)]
pub struct PorticoMiddleware<S> {
    server: Server,
    inner: S,
}

impl<S, B, ResBody> tower_service::Service<Request<B>> for PorticoMiddleware<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Either<Body, ResBody>>;
    type Error = S::Error;
    type Future = BoxFut<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if req
            .uri()
            .path()
            .starts_with(self.server.0.config.path.as_str())
        {
            let server = self.server.clone();
            let fut = started(Box::pin(handle(server, req)));
            Box::pin(async move { Ok(fut.await.map(Either::Left)) })
        } else {
            let fut = self.inner.call(req);
            Box::pin(async move { fut.await.map(|r| r.map(Either::Right)) })
        }
    }
}

/// What a new session keeps of its handshake's request. Out of line: bench/profile reads its
/// cost by its name (inlined, it was part of the routing's).
#[inline(never)]
fn conn_info<R: RequestHead + ?Sized>(req: &R, client: Option<SocketAddr>) -> Arc<ConnInfo> {
    Arc::new(ConnInfo::packed(
        req.packed(),
        client,
        SystemTime::now(),
        req.is_https(),
    ))
}

/// Answer one request under the Socket.IO path: the origin policy first (preflights answered,
/// refused origins stopped here, before any session or upgrade), then the engine, then the
/// CORS and hook headers on whatever the response is (errors included).
pub(crate) async fn handle<B>(server: Server, req: Request<B>) -> Response<Body>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let peer = req.extensions().get::<PeerAddr>().map(|p| p.0);
    let (mut parts, body) = req.into_parts();
    // What `hyper::upgrade::on` takes from a whole request; from its parts, by hand.
    let on_upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    handle_from(
        &server,
        &parts,
        body,
        peer,
        Upgrading::Undecided(on_upgrade),
        None,
    )
    .await
    .into_response()
}

/// [`handle`] a request from `peer` (what its [`PeerAddr`] extension would say), its head
/// borrowed and its body apart. Portico's own HTTP/1 path gives it here: an extension costs
/// each request allocations, so the peer is a parameter (and the handshake's addresses, for
/// its hooks and [`crate::Handshake::address`], are handed to the engine the same way); and
/// the head stays in the caller's future, where it was parsed, rather than be copied into
/// each future of the chain (see [`crate::engine::route`]).
///
/// `upgrade`: whether the request is a WebSocket upgrade, when the caller's parse decided it,
/// and then how its stream comes (see [`crate::engine::route`]).
///
/// With `cors_apart`, the origin policy's headers are put there (when no hook may see or change
/// them), for the caller to write with the response's own; a response header map they are
/// inserted into grows and hashes per request. Otherwise they are in the response; either way
/// `Vary` adds to the response's own and the others replace theirs. (Put in the caller's
/// slot, not returned: the future's output is moved on each level of its callers' futures.)
pub(crate) async fn handle_from<B, R>(
    server: &Server,
    req: &R,
    body: B,
    peer: Option<SocketAddr>,
    upgrade: Upgrading<'_>,
    cors_apart: Option<&mut Option<CorsHeaders>>,
) -> Answer
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    R: RequestHead + ?Sized,
{
    let config = &server.0.config;
    let url = req.url();
    let query = req.query();
    let client =
        peer.map(|p| client_addr(p, req.headers(), |ip| config.origins.is_trusted_proxy(ip)));
    // What a handshake is admitted by, remembers and shows its `allow_request` hook (a request
    // of a session needs neither); handed to the engine, not put in the request's extensions
    // (an extension costs a request allocations and a hash).
    let handshake_addr = match (client, peer, query.sid()) {
        (Some(client), Some(peer), None) => Some(ClientAddr { client, peer }),
        _ => None,
    };
    let transport = cors_transport(&query);
    let decision = {
        let mut info = RequestInfo::new(req.method(), req.headers())
            .with_transport(transport)
            .with_tls(req.is_https());
        if let Some(peer) = peer {
            info = info.with_peer(peer.ip());
        }
        if let Some(authority) = req.authority() {
            info = info.with_authority(authority);
        }
        config.origins.evaluate(&info)
    };
    let hook_parts = config.hooks.any_headers().then(|| req.hook_parts(peer));
    let path = url.split_once('?').map_or(url, |(path, _)| path);
    let file = path.strip_prefix(config.path.as_str()).unwrap_or_default();
    let bundle = config
        .client_bundle
        .as_ref()
        .and_then(|b| b.serve(file, req.method(), req.headers()));
    log_decision(
        &decision.verdict,
        req.method(),
        req.headers(),
        transport,
        || client,
    );
    let mut answer: Answer = match (&decision.verdict, bundle) {
        (Verdict::Preflight, _) => status(StatusCode::NO_CONTENT).into(),
        // The client bundle is a public script. A page's `<script src>` sends no `Origin`
        // (Chromium marks it `Sec-Fetch-Site: cross-site`), so no policy can tell an allowed
        // page from another there: it is served, as Node's `serveClient` serves it. A CORS
        // request (fetch, a module script) from a refused origin is still refused.
        (Verdict::Deny(_), Some(res)) if !req.headers().contains_key(&http::header::ORIGIN) => {
            res.into()
        }
        (Verdict::Allow, Some(res)) => res.into(),
        (Verdict::Deny(reason), _) => refused_origin(reason).into(),
        (Verdict::Allow, None) => {
            crate::engine::route(
                &server.0.engine,
                req,
                body,
                query,
                upgrade,
                handshake_addr,
                |req| conn_info(req, handshake_addr.map(|a| a.client)),
            )
            .await
        }
    };
    if let Answer::Response(res) = &mut answer {
        report_refusal(
            server,
            res,
            req.method(),
            req.headers(),
            url,
            transport,
            || client,
        );
    }
    let cookie = config.cookie.as_ref().zip(answer.handshake());
    let mut res = match cors_apart.filter(|_| hook_parts.is_none()) {
        Some(apart) => {
            *apart = Some(decision.headers);
            // Nothing else to add: the answer stays what it is (a small answer, a `101`,
            // written without a header map).
            if cookie.is_none() {
                return answer;
            }
            answer.into_response()
        }
        None => {
            let mut res = answer.into_response();
            decision.apply_to(res.headers_mut());
            res
        }
    };
    if let Some((cookie, sid)) = cookie {
        if let Ok(v) = http::HeaderValue::from_str(&cookie.header(sid.as_str())) {
            res.headers_mut().append(http::header::SET_COOKIE, v);
        }
    }
    if let Some(parts) = &hook_parts {
        if res.extensions().get::<HandshakeResponse>().is_some() {
            for h in &config.hooks.initial_headers {
                h(parts, res.headers_mut());
            }
        }
        for h in &config.hooks.headers {
            h(parts, res.headers_mut());
        }
    }
    res.into()
}

/// [`handle_from`] for a request of a session (a polling `GET` or `POST`) that [`crate::h1`]
/// kept as read, from `peer`; the origin policy's headers are put in `cors`, as
/// [`handle_from`]'s `cors_apart`.
///
/// What the request needs of its head (the origin policy's headers, `Content-Type` and
/// `Content-Length`) is read off the list; its handling is [`handle_from`]'s, step for step,
/// for the requests it can be. `h1` keeps a request as read only when no hook is to see its
/// headers, and when its target names no file (the client bundle's); a session's request is
/// no handshake, so no cookie either.
pub(crate) async fn handle_raw<B>(
    server: &Server,
    req: &RawHead<'_>,
    body: B,
    peer: SocketAddr,
    cors: &mut Option<CorsHeaders>,
) -> Answer
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let config = &server.0.config;
    // Only a log line or a refusal's report names the client: read when one does.
    let client = || {
        Some(client_addr(peer, &req.headers, |ip| {
            config.origins.is_trusted_proxy(ip)
        }))
    };
    let transport = cors_transport(&req.query);
    // The policy's headers are written where `h1` reads them, not moved there.
    let verdict = config.origins.evaluate_into(
        &RequestInfo::new(&req.method, &req.headers)
            .with_transport(transport)
            .with_peer(peer.ip()),
        cors.insert(CorsHeaders::default()),
    );
    log_decision(&verdict, &req.method, &req.headers, transport, client);
    let mut answer = match &verdict {
        Verdict::Allow => {
            crate::engine::route_session(
                &server.0.engine,
                &req.method,
                &req.headers,
                body,
                &req.query,
            )
            .await
        }
        Verdict::Deny(reason) => refused_origin(reason).into(),
        // A preflight is an `OPTIONS`, which `h1` does not keep as read.
        Verdict::Preflight => status(StatusCode::NO_CONTENT).into(),
    };
    // Every refusal is a `Response` (the small answers are a session's usual ones).
    let Answer::Response(res) = &mut answer else {
        return answer;
    };
    report_refusal(
        server,
        res,
        &req.method,
        &req.headers,
        req.target,
        transport,
        client,
    );
    answer
}

/// The transport a request's query names, as the origin policy's messages say it.
fn cors_transport(query: &Query<'_>) -> cors::Transport {
    match query.transport() {
        Some("polling") => cors::Transport::Polling,
        Some("websocket") => cors::Transport::WebSocket,
        _ => cors::Transport::Other,
    }
}

/// The origin policy's decision, in the log: a preflight at debug, an allowed request at trace
/// (a refusal is logged with its report).
fn log_decision<H: RequestHeaders + ?Sized>(
    verdict: &Verdict,
    method: &http::Method,
    headers: &H,
    transport: cors::Transport,
    client: impl FnOnce() -> Option<SocketAddr>,
) {
    match verdict {
        Verdict::Preflight => tracing::debug!(
            origin = origin_of(headers).map(tracing::field::display),
            client = client().map(tracing::field::display),
            "preflight answered: 204 with the allow headers"
        ),
        Verdict::Allow => tracing::trace!(
            origin = origin_of(headers).map(tracing::field::display),
            %method,
            %transport,
            "origin allowed"
        ),
        Verdict::Deny(_) => {}
    }
}

/// The answer to a request the origin policy refused: 403, with the refusal for the report.
fn refused_origin(reason: &cors::DenyReason) -> Response<Body> {
    let mut res = error(ErrorCode::Forbidden);
    res.extensions_mut().insert(Refusal {
        code: ErrorCode::Forbidden,
        message: ErrorCode::Forbidden.message().to_owned(),
        reason: Some(reason.message()),
        kind: Reason::Origin,
    });
    res
}

/// When `res` refuses the request (it carries a [`Refusal`]), [`report`] it, with the
/// request's origin, method and URL (`url`: its path and query).
fn report_refusal<H: RequestHeaders + ?Sized>(
    server: &Server,
    res: &mut Response<Body>,
    method: &http::Method,
    headers: &H,
    url: &str,
    transport: cors::Transport,
    client: impl FnOnce() -> Option<SocketAddr>,
) {
    let Some(refusal) = res.extensions_mut().remove::<Refusal>() else {
        return;
    };
    let context = ErrorContext {
        origin: origin_of(headers).map(str::to_owned),
        transport: Some(transport.to_string()),
        method: method.to_string(),
        url: url.to_owned(),
        reason: refusal.reason,
    };
    let err = ConnectionError {
        code: refusal.code.code(),
        message: refusal.message,
        context,
    };
    report(server, refusal.kind, &err, client());
}

/// The request's `Origin`, as text. Looked up where a log line or a refusal needs it, not
/// for every request (the origin policy has read it already, for its decision).
fn origin_of<H: RequestHeaders + ?Sized>(headers: &H) -> Option<&str> {
    headers
        .get(&http::header::ORIGIN)
        .and_then(|o| o.to_str().ok())
}

/// Count a refusal, log it (a warning, rate-limited per reason, for refusals an operator acts
/// on: origins and limits; debug for malformed requests), and report it as a
/// `connection_error` (not a POST over `max_payload`: the session goes on, nothing was
/// refused a connection).
fn report(server: &Server, kind: Reason, err: &ConnectionError, client: Option<SocketAddr>) {
    let warn = match kind {
        // Malformed requests and unknown session ids are what a restarted server sees from
        // its previous run's clients: at debug. Every other reason, a client of another
        // protocol version included (socket.io-client 2.x against a server without
        // `allow_eio3`), is one an operator acts on: a warning.
        Reason::BadRequest | Reason::UnknownSid => {
            server.0.engine.refusals.count_quietly(kind);
            false
        }
        _ => server.0.engine.refusals.record(kind),
    };
    let origin = err.context.origin.as_deref().map(tracing::field::display);
    let transport = err
        .context
        .transport
        .as_deref()
        .map(tracing::field::display);
    let client = client.map(tracing::field::display);
    if warn {
        tracing::warn!(
            refusal = kind.as_str(),
            client,
            origin,
            transport,
            "refused: {err}"
        );
    } else {
        tracing::debug!(
            refusal = kind.as_str(),
            client,
            origin,
            transport,
            "refused: {err}"
        );
    }
    if kind != Reason::PayloadTooLarge {
        server.0.connection_error(err);
    }
}
