//! Request hooks: decide whether a handshake is served (`allow_request`) and add response
//! headers (`initial_headers`, `headers`) — Node's `allowRequest`, `initial_headers` and
//! `headers`.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{HeaderMap, Method, Uri};

/// What a hook sees of a request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequestParts {
    /// The method.
    pub method: Method,
    /// The URI (path and query).
    pub uri: Uri,
    /// The headers.
    pub headers: HeaderMap,
    /// The peer's address, when known (see [`crate::PeerAddr`]).
    pub peer: Option<SocketAddr>,
}

impl RequestParts {
    /// The parts of `req`, from `peer`.
    pub(crate) fn of(req: &http::request::Parts, peer: Option<SocketAddr>) -> RequestParts {
        RequestParts {
            method: req.method.clone(),
            uri: req.uri.clone(),
            headers: req.headers.clone(),
            peer,
        }
    }
}

/// A boxed future (the hooks' own, so this module depends on no other of the crate).
type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'static>>;

pub(crate) type AllowFn = dyn Fn(RequestParts) -> BoxFuture<Result<(), String>> + Send + Sync;
type HeadersFn = dyn Fn(&RequestParts, &mut HeaderMap) + Send + Sync;

/// The hooks of a server. Empty by default.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub(crate) allow_request: Option<Arc<AllowFn>>,
    pub(crate) initial_headers: Vec<Arc<HeadersFn>>,
    pub(crate) headers: Vec<Arc<HeadersFn>>,
}

impl Hooks {
    pub(crate) fn any_headers(&self) -> bool {
        !self.initial_headers.is_empty() || !self.headers.is_empty()
    }

    pub(crate) fn set_allow_request<F, Fut>(&mut self, f: F)
    where
        F: Fn(RequestParts) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.allow_request = Some(Arc::new(move |r| Box::pin(f(r))));
    }
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("allow_request", &self.allow_request.is_some())
            .field("initial_headers", &self.initial_headers.len())
            .field("headers", &self.headers.len())
            .finish()
    }
}
