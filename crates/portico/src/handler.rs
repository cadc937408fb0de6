//! Handlers are plain async closures. These traits say which closure shapes are accepted;
//! you never implement or name them.
//!
//! Every handler starts with one to four *extractors*: arguments taken from the socket or the
//! server rather than from the client ([`crate::Socket`], [`crate::Server`],
//! [`crate::State`]`<S>` for app state given to [`crate::ServerBuilder::state`], or your own
//! [`crate::FromSocket`] types). Then, by handler:
//!
//! | where | after the extractors | example |
//! |---|---|---|
//! | [`crate::Socket::on`] | nothing, the payload `T`, `T` then [`crate::Ack`], or [`crate::Ack`] alone | `\|socket: Socket, msg: Chat, ack: Ack\| async move {}` |
//! | [`crate::Namespace::on_connection`] | nothing | `\|socket: Socket, State(app): State<App>\| async move {}` |
//! | [`crate::Namespace::use_connect`] | nothing; returns `Result<(), ConnectError>` | `\|socket: Socket\| async move { Ok(()) }` |
//! | [`crate::Socket::on_disconnect`], [`crate::Socket::on_disconnecting`] | optionally the [`crate::DisconnectReason`] | `\|socket: Socket, reason: DisconnectReason\| async move {}` |
//!
//! `T` is any `serde::de::DeserializeOwned` type (see [`crate::args`] for how arguments map
//! to it). A handler returns `()` or `Result<(), E>` with `E: Display`; an `Err` is logged with
//! the event name and socket id.
//!
//! Give every closure parameter its type (`|socket: Socket|`, not `|socket|`): the shapes
//! are told apart by the types, as in axum. A value captured from outside must be cloned
//! into each closure (`move` plus a `clone()` per level), or given once as
//! [`crate::State`], which needs no cloning at all.
//!
//! A handler that panics ends there: the panic is printed and logged, and the socket and the
//! server go on.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_util::FutureExt as _;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ack::Ack;
use crate::args::Args;
use crate::engine::conn::panic_message;
use crate::errors::ConnectError;
use crate::extract::{ExtractError, FromSocket};
use crate::reason::DisconnectReason;
use crate::Socket;

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Make a handler's future and poll it once on the calling task; spawn it only if it is not
/// finished. Keeps handlers in the order their packets arrived and saves a task for handlers
/// that never wait.
///
/// A panic while making the future (an extractor, the payload's `Deserialize`, the closure's
/// synchronous part) or in that first poll stays here (it is logged, the future dropped), as a
/// panic in a spawned task stays in its task: a handler's bug fails its own event only, never
/// the connection that delivered it.
pub(crate) fn run_inline(make: impl FnOnce() -> BoxFuture<()>) {
    if let Some(fut) = poll_once(make) {
        tokio::spawn(fut);
    }
}

/// [`run_inline`] for an event handler of `socket`: if it has to wait, the socket counts it
/// as work in progress until it ends (a graceful shutdown waits for it). A handler that
/// finishes in its first poll costs nothing more.
pub(crate) fn run_event(make: impl FnOnce() -> BoxFuture<()>, socket: &Socket) {
    if let Some(fut) = poll_once(make) {
        let work = socket.begin_work();
        tokio::spawn(async move {
            let _work = work;
            fut.await;
        });
    }
}

/// Make the future and poll it once on this task; the future back if it has to wait.
fn poll_once(make: impl FnOnce() -> BoxFuture<()>) -> Option<BoxFuture<()>> {
    let mut fut: Option<BoxFuture<()>> = None;
    let mut cx = Context::from_waker(Waker::noop());
    let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
        // What the handler queues in this poll is written as one batch per socket, on either
        // runtime (crate::engine::defer).
        let _deferred = crate::engine::defer::defer_wakes();
        fut.insert(make()).as_mut().poll(&mut cx)
    }));
    match polled {
        Ok(Poll::Ready(())) => None,
        Ok(Poll::Pending) => fut,
        Err(panic) => {
            tracing::error!(panic = panic_message(&*panic), "handler panicked");
            // Whatever the future holds is dropped here too, its own panics included.
            let _ = std::panic::catch_unwind(AssertUnwindSafe(move || drop(fut)));
            None
        }
    }
}

/// What a handler may return.
pub trait HandlerResult: Send + 'static {
    /// Log a failure.
    #[doc(hidden)]
    fn report<W: Display>(self, what: W, socket: &Socket);
}

impl HandlerResult for () {
    fn report<W: Display>(self, _: W, _: &Socket) {}
}

impl<E: Display + Send + 'static> HandlerResult for Result<(), E> {
    fn report<W: Display>(self, what: W, socket: &Socket) {
        if let Err(e) = self {
            tracing::warn!(sid = %socket.id(), nsp = socket.ns(), handler = %what, error = %e, "handler returned an error");
        }
    }
}

/// A socket's event handlers by event name (looked up with the name's bytes).
pub(crate) type HandlerMap =
    HashMap<EventName, Arc<dyn ErasedEventHandler>, BuildHasherDefault<NameHasher>>;

/// Longest name [`EventName`] holds inline.
const INLINE_NAME: usize = 22;

/// An event name as a handler map key: short names (nearly all) inline, so comparing an
/// incoming name with the key reads the map's own memory instead of following a pointer to a
/// separate allocation per socket and per name (a cache miss on every event). Cloning it
/// copies 24 bytes or bumps a count; it is what a handler's [`IncomingEvent`] carries.
#[derive(Clone)]
pub(crate) enum EventName {
    /// Built from a `&str`, so these bytes are UTF-8.
    Inline {
        len: u8,
        bytes: [u8; INLINE_NAME],
    },
    Shared(Arc<str>),
}

impl EventName {
    pub(crate) fn new(name: &str) -> EventName {
        if name.len() > INLINE_NAME {
            return EventName::Shared(Arc::from(name));
        }
        let mut bytes = [0; INLINE_NAME];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        // At most INLINE_NAME (22): fits a u8.
        let len = name.len() as u8;
        EventName::Inline { len, bytes }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            EventName::Inline { len, bytes } => &bytes[..usize::from(*len)],
            EventName::Shared(s) => s.as_bytes(),
        }
    }

    /// For display and logs (an inline name is checked as UTF-8 again here).
    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Cannot fail: an inline name was copied whole from a `&str` (see `new`).
            EventName::Inline { .. } => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            EventName::Shared(s) => s,
        }
    }
}

// Hash, Eq and Borrow agree with `[u8]`'s, so the map is searched with a name's bytes.
impl std::hash::Hash for EventName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialEq for EventName {
    fn eq(&self, other: &EventName) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for EventName {}

impl std::borrow::Borrow<[u8]> for EventName {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Display for EventName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// FNV-1a over an event name: a few instructions per byte where the default SipHash costs
/// ~70 per lookup. Hash flooding needs many keys in one map, and only the server's own code
/// adds keys here; a peer's names are only looked up.
pub(crate) struct NameHasher(u64);

impl Default for NameHasher {
    fn default() -> Self {
        // The FNV-1a 64-bit offset basis.
        NameHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for NameHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// One incoming event, as handed to an [`EventHandler`].
#[doc(hidden)]
pub struct IncomingEvent {
    /// The name: a copy of the handler map's key (no allocation per event).
    pub(crate) name: EventName,
    pub(crate) args: Vec<Value>,
    pub(crate) binary: Vec<Bytes>,
    pub(crate) ack: Ack,
}

/// A closure accepted by [`crate::Socket::on`]. `M` only tells the shapes apart.
#[diagnostic::on_unimplemented(
    message = "this closure is not an event handler",
    label = "expected `|socket: Socket, data: T, ack: Ack| async move {{ .. }}` (data and ack are optional; extractors such as `State<App>` or `Server` may follow `socket`)",
    note = "give every closure parameter its type; `T` must implement `serde::Deserialize`; captured values must be cloned into the closure (or use `State`)"
)]
pub trait EventHandler<M>: Send + Sync + 'static {
    #[doc(hidden)]
    fn call(&self, socket: Socket, event: IncomingEvent) -> BoxFuture<()>;
}

fn decode_or_report<T: DeserializeOwned + 'static>(
    socket: &Socket,
    event: &mut IncomingEvent,
) -> Option<T> {
    if TypeId::of::<T>() == TypeId::of::<Args>() {
        // `Args` is what arrived: hand it over as it is, without a serde round trip.
        let mut args = Some(Args {
            values: std::mem::take(&mut event.args),
            binary: event.binary.clone(),
        });
        return (&mut args as &mut dyn Any)
            .downcast_mut::<Option<T>>()
            .and_then(Option::take);
    }
    match crate::args::from_args::<T>(std::mem::take(&mut event.args), &event.binary) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(
                sid = %socket.id(), nsp = socket.ns(), event = %event.name, error = %e,
                "event payload does not decode into the handler's type; handler not called"
            );
            let ack = std::mem::replace(&mut event.ack, Ack::none(socket.clone()));
            if ack.requested() {
                let msg = format!("invalid payload for event \"{}\": {e}", event.name);
                let _ = ack.send(&serde_json::json!({ "error": msg }));
            }
            None
        }
    }
}

/// Marker of a handler whose arguments are all [`FromSocket`] extractors.
#[doc(hidden)]
pub struct Parts<E>(PhantomData<fn() -> E>);
/// Marker of a handler taking extractors, then the payload `T`.
#[doc(hidden)]
pub struct WithData<E, T>(PhantomData<fn() -> (E, T)>);
/// Marker of a handler taking extractors, then the [`Ack`] (no payload).
#[doc(hidden)]
pub struct WithAck<E>(PhantomData<fn() -> E>);
/// Marker of a handler taking extractors, the payload `T`, then the [`Ack`].
#[doc(hidden)]
pub struct WithDataAck<E, T>(PhantomData<fn() -> (E, T)>);
/// Marker of a disconnect handler taking extractors, then the reason.
#[doc(hidden)]
pub struct WithReason<E>(PhantomData<fn() -> E>);

/// A handler argument could not be extracted: logged (with the fix) and answered when the
/// client asked for an acknowledgement; the handler is not called.
fn extract_failed(socket: &Socket, event: IncomingEvent, e: ExtractError) -> BoxFuture<()> {
    tracing::error!(
        sid = %socket.id(), nsp = socket.ns(), event = %event.name, error = %e,
        "a handler argument is unavailable; handler not called"
    );
    if event.ack.requested() {
        let msg = format!("server error in event \"{}\"", event.name);
        let _ = event.ack.send(&serde_json::json!({ "error": msg }));
    }
    Box::pin(async {})
}

/// Extract each argument (`$E` names both a type and the variable holding its value), or
/// run `$fail` with the error.
macro_rules! extract_all {
    ($socket:expr, $fail:expr, $($E:ident),+) => {
        $(
            #[allow(non_snake_case)]
            let $E = match $E::from_socket($socket) {
                Ok(v) => v,
                Err(e) => return $fail(e),
            };
        )+
    };
}

/// The handler impls for one count of leading extractors.
macro_rules! handler_impls {
    ($($E:ident),+) => {
        impl<F, Fut, R, $($E,)+> EventHandler<Parts<($($E,)+)>> for F
        where
            F: Fn($($E,)+) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: HandlerResult,
            $($E: FromSocket,)+
        {
            #[allow(non_snake_case)]
            fn call(&self, socket: Socket, event: IncomingEvent) -> BoxFuture<()> {
                extract_all!(&socket, |e| extract_failed(&socket, event, e), $($E),+);
                let name = event.name;
                let fut = self($($E,)+);
                reported(fut, name, socket)
            }
        }

        impl<F, Fut, R, T, $($E,)+> EventHandler<WithData<($($E,)+), T>> for F
        where
            F: Fn($($E,)+ T) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: HandlerResult,
            T: DeserializeOwned + Send + 'static,
            $($E: FromSocket,)+
        {
            #[allow(non_snake_case)]
            fn call(&self, socket: Socket, mut event: IncomingEvent) -> BoxFuture<()> {
                extract_all!(&socket, |e| extract_failed(&socket, event, e), $($E),+);
                let Some(data) = decode_or_report::<T>(&socket, &mut event) else {
                    return Box::pin(async {});
                };
                let name = event.name;
                let fut = self($($E,)+ data);
                reported(fut, name, socket)
            }
        }

        impl<F, Fut, R, $($E,)+> EventHandler<WithAck<($($E,)+)>> for F
        where
            F: Fn($($E,)+ Ack) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: HandlerResult,
            $($E: FromSocket,)+
        {
            #[allow(non_snake_case)]
            fn call(&self, socket: Socket, event: IncomingEvent) -> BoxFuture<()> {
                extract_all!(&socket, |e| extract_failed(&socket, event, e), $($E),+);
                let IncomingEvent { name, ack, .. } = event;
                let fut = self($($E,)+ ack);
                reported(fut, name, socket)
            }
        }

        impl<F, Fut, R, T, $($E,)+> EventHandler<WithDataAck<($($E,)+), T>> for F
        where
            F: Fn($($E,)+ T, Ack) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: HandlerResult,
            T: DeserializeOwned + Send + 'static,
            $($E: FromSocket,)+
        {
            #[allow(non_snake_case)]
            fn call(&self, socket: Socket, mut event: IncomingEvent) -> BoxFuture<()> {
                extract_all!(&socket, |e| extract_failed(&socket, event, e), $($E),+);
                let Some(data) = decode_or_report::<T>(&socket, &mut event) else {
                    return Box::pin(async {});
                };
                let IncomingEvent { name, ack, .. } = event;
                let fut = self($($E,)+ data, ack);
                reported(fut, name, socket)
            }
        }

        impl<F, Fut, R, $($E,)+> ConnectionHandler<Parts<($($E,)+)>> for F
        where
            F: Fn($($E,)+) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: HandlerResult,
            $($E: FromSocket,)+
        {
            #[allow(non_snake_case)]
            fn call(&self, socket: Socket) -> BoxFuture<()> {
                extract_all!(&socket, |e| setup_failed(&socket, "connection", e), $($E),+);
                let fut = self($($E,)+);
                contained("connection", socket, fut)
            }
        }

        impl<F, Fut, $($E,)+> ConnectMiddleware<Parts<($($E,)+)>> for F
        where
            F: Fn($($E,)+) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
            $($E: FromSocket,)+
        {
            #[allow(non_snake_case)]
            fn call(&self, socket: Socket) -> BoxFuture<Result<(), ConnectError>> {
                let fail = |e: ExtractError| -> BoxFuture<Result<(), ConnectError>> {
                    tracing::error!(sid = %socket.id(), nsp = socket.ns(), error = %e,
                        "a connect middleware argument is unavailable; the socket is refused");
                    Box::pin(async { Err(ConnectError::new("server error")) })
                };
                extract_all!(&socket, fail, $($E),+);
                Box::pin(self($($E,)+))
            }
        }

        impl<F, Fut, R, $($E,)+> DisconnectHandler<Parts<($($E,)+)>> for F
        where
            F: Fn($($E,)+) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: HandlerResult,
            $($E: FromSocket,)+
        {
            #[allow(non_snake_case)]
            fn call(&self, socket: Socket, _reason: DisconnectReason) -> BoxFuture<()> {
                extract_all!(&socket, |e| setup_failed(&socket, "disconnect", e), $($E),+);
                let fut = self($($E,)+);
                reported(fut, "disconnect", socket)
            }
        }

        impl<F, Fut, R, $($E,)+> DisconnectHandler<WithReason<($($E,)+)>> for F
        where
            F: Fn($($E,)+ DisconnectReason) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: HandlerResult,
            $($E: FromSocket,)+
        {
            #[allow(non_snake_case)]
            fn call(&self, socket: Socket, reason: DisconnectReason) -> BoxFuture<()> {
                extract_all!(&socket, |e| setup_failed(&socket, "disconnect", e), $($E),+);
                let fut = self($($E,)+ reason);
                reported(fut, "disconnect", socket)
            }
        }
    };
}

handler_impls!(E1);
handler_impls!(E1, E2);
handler_impls!(E1, E2, E3);
handler_impls!(E1, E2, E3, E4);

/// Run a handler's future, then log its `Err` (if any) with `what` it handled.
fn reported<Fut, R, W>(fut: Fut, what: W, socket: Socket) -> BoxFuture<()>
where
    Fut: Future<Output = R> + Send + 'static,
    R: HandlerResult,
    W: Display + Send + 'static,
{
    Box::pin(async move { fut.await.report(&what, &socket) })
}

/// A connection or disconnect handler's argument is unavailable: logged with the fix.
fn setup_failed(socket: &Socket, handler: &str, e: ExtractError) -> BoxFuture<()> {
    tracing::error!(sid = %socket.id(), nsp = socket.ns(), handler, error = %e,
        "a handler argument is unavailable; handler not called");
    Box::pin(async {})
}

/// Run a connection handler so that a panic in it stays inside it: logged, and the socket
/// goes on (its events are still delivered to the handlers registered before the panic).
fn contained<Fut, R>(what: &'static str, socket: Socket, fut: Fut) -> BoxFuture<()>
where
    Fut: Future<Output = R> + Send + 'static,
    R: HandlerResult,
{
    Box::pin(async move {
        match AssertUnwindSafe(fut).catch_unwind().await {
            Ok(r) => r.report(what, &socket),
            Err(panic) => tracing::error!(
                sid = %socket.id(), nsp = socket.ns(), handler = what, panic = panic_message(&*panic),
                "handler panicked"
            ),
        }
    })
}

/// Type-erased event handler.
pub(crate) trait ErasedEventHandler: Send + Sync + 'static {
    fn call(&self, socket: Socket, event: IncomingEvent) -> BoxFuture<()>;
}

pub(crate) struct Erased<H, M>(pub(crate) H, pub(crate) PhantomData<fn() -> M>);

impl<H: EventHandler<M>, M: 'static> ErasedEventHandler for Erased<H, M> {
    fn call(&self, socket: Socket, event: IncomingEvent) -> BoxFuture<()> {
        self.0.call(socket, event)
    }
}

impl<H: ConnectionHandler<M>, M: 'static> ErasedConnectionHandler for Erased<H, M> {
    fn call(&self, socket: Socket) -> BoxFuture<()> {
        self.0.call(socket)
    }
}

impl<H: ConnectMiddleware<M>, M: 'static> ErasedConnectMiddleware for Erased<H, M> {
    fn call(&self, socket: Socket) -> BoxFuture<Result<(), ConnectError>> {
        self.0.call(socket)
    }
}

impl<H: DisconnectHandler<M>, M: 'static> ErasedDisconnectHandler for Erased<H, M> {
    fn call(&self, socket: Socket, reason: DisconnectReason) -> BoxFuture<()> {
        self.0.call(socket, reason)
    }
}

/// A closure accepted by [`crate::Namespace::on_connection`]: extractors only, e.g.
/// `|socket: Socket| async {}` or `|socket: Socket, State(app): State<App>| async {}`.
#[diagnostic::on_unimplemented(
    message = "this closure is not a connection handler",
    label = "expected `|socket: Socket| async move {{ .. }}` (more extractor arguments such as `State<App>` or `Server` may follow)",
    note = "give every closure parameter its type; captured values must be cloned into the closure (or use `State`)"
)]
pub trait ConnectionHandler<M>: Send + Sync + 'static {
    #[doc(hidden)]
    fn call(&self, socket: Socket) -> BoxFuture<()>;
}

/// A closure accepted by [`crate::Namespace::use_connect`]: runs before the socket joins the
/// namespace; an `Err` refuses it with `connect_error`.
#[diagnostic::on_unimplemented(
    message = "this closure is not a connect middleware",
    label = "expected `|socket: Socket| async move {{ Ok::<(), ConnectError>(()) }}` (extractors such as `State<App>` may follow `socket`)",
    note = "give every closure parameter its type; the future must return `Result<(), ConnectError>`"
)]
pub trait ConnectMiddleware<M>: Send + Sync + 'static {
    #[doc(hidden)]
    fn call(&self, socket: Socket) -> BoxFuture<Result<(), ConnectError>>;
}

/// A closure accepted by [`crate::Socket::on_disconnect`]: extractors, then optionally the
/// [`DisconnectReason`].
#[diagnostic::on_unimplemented(
    message = "this closure is not a disconnect handler",
    label = "expected `|socket: Socket, reason: DisconnectReason| async move {{ .. }}`",
    note = "give every closure parameter its type"
)]
pub trait DisconnectHandler<M>: Send + Sync + 'static {
    #[doc(hidden)]
    fn call(&self, socket: Socket, reason: DisconnectReason) -> BoxFuture<()>;
}

pub(crate) trait ErasedConnectionHandler: Send + Sync + 'static {
    fn call(&self, socket: Socket) -> BoxFuture<()>;
}

pub(crate) trait ErasedConnectMiddleware: Send + Sync + 'static {
    fn call(&self, socket: Socket) -> BoxFuture<Result<(), ConnectError>>;
}

pub(crate) trait ErasedDisconnectHandler: Send + Sync + 'static {
    fn call(&self, socket: Socket, reason: DisconnectReason) -> BoxFuture<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_are_found_by_their_bytes_inline_or_shared() {
        // Around the inline limit, empty, and multi-byte UTF-8 (22 bytes in 11 characters).
        let names = [
            String::new(),
            "echo".to_owned(),
            "a".repeat(INLINE_NAME),
            "b".repeat(INLINE_NAME + 1),
            "é".repeat(INLINE_NAME / 2),
            "ü".repeat(INLINE_NAME / 2 + 1),
        ];
        let mut map: HashMap<EventName, usize, BuildHasherDefault<NameHasher>> = HashMap::default();
        for (i, n) in names.iter().enumerate() {
            let key = EventName::new(n);
            let inline = matches!(key, EventName::Inline { .. });
            assert_eq!(inline, n.len() <= INLINE_NAME, "{n:?}");
            assert_eq!(key.as_str(), n);
            assert_eq!(key.to_string(), *n);
            map.insert(key, i);
        }
        for (i, n) in names.iter().enumerate() {
            assert_eq!(map.get(n.as_bytes()), Some(&i), "{n:?}");
        }
        // A prefix or an extension of a key is another name.
        assert_eq!(map.get(&b"ech"[..]), None);
        assert_eq!(map.get(&b"echo "[..]), None);
        assert_eq!(map.get("a".repeat(INLINE_NAME - 1).as_bytes()), None);
    }
}
