//! Handlers are plain async closures. These traits say which closure shapes are accepted;
//! you never implement or name them.
//!
//! | where | closure |
//! |---|---|
//! | [`crate::Socket::on`] | `\|socket\| async {}`, `\|socket, data: T\| async {}`, `\|socket, data: T, ack: Ack\| async {}` |
//! | [`crate::Namespace::on_connection`] | `\|socket\| async {}` |
//! | [`crate::Namespace::use_connect`] | `\|socket\| async { Ok::<(), ConnectError>(()) }` |
//! | [`crate::Socket::on_disconnect`] | `\|socket, reason\| async {}` |
//!
//! `T` is any `serde::de::DeserializeOwned` type (see [`crate::args`] for how arguments map
//! to it). A handler returns `()` or `Result<(), E>` with `E: Display`; an `Err` is logged with
//! the event name and socket id.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Waker};

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ack::Ack;
use crate::args::Args;
use crate::errors::ConnectError;
use crate::reason::DisconnectReason;
use crate::Socket;

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Poll `fut` once on the calling task; spawn it only if it is not finished. Keeps handlers in
/// the order their packets arrived and saves a task for handlers that never wait.
pub(crate) fn run_inline(fut: BoxFuture<()>) {
    let mut fut = fut;
    let mut cx = Context::from_waker(Waker::noop());
    if fut.as_mut().poll(&mut cx).is_pending() {
        tokio::spawn(fut);
    }
}

/// What a handler may return.
pub trait HandlerResult: Send + 'static {
    /// Log a failure.
    #[doc(hidden)]
    fn report(self, what: &str, socket: &Socket);
}

impl HandlerResult for () {
    fn report(self, _: &str, _: &Socket) {}
}

impl<E: Display + Send + 'static> HandlerResult for Result<(), E> {
    fn report(self, what: &str, socket: &Socket) {
        if let Err(e) = self {
            tracing::warn!(sid = %socket.id(), nsp = socket.ns(), handler = what, error = %e, "handler returned an error");
        }
    }
}

/// A socket's event handlers by event name.
pub(crate) type HandlerMap =
    HashMap<Arc<str>, Arc<dyn ErasedEventHandler>, BuildHasherDefault<NameHasher>>;

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
    /// The name, shared with the handler map's key (no copy per event).
    pub(crate) name: Arc<str>,
    pub(crate) args: Vec<Value>,
    pub(crate) binary: Vec<Bytes>,
    pub(crate) ack: Ack,
}

/// A closure accepted by [`crate::Socket::on`]. `M` only tells the shapes apart.
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

#[doc(hidden)]
pub struct NoArgs;
#[doc(hidden)]
pub struct WithData<T>(PhantomData<fn() -> T>);
#[doc(hidden)]
pub struct WithDataAck<T>(PhantomData<fn() -> T>);

impl<F, Fut, R> EventHandler<NoArgs> for F
where
    F: Fn(Socket) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: HandlerResult,
{
    fn call(&self, socket: Socket, event: IncomingEvent) -> BoxFuture<()> {
        let fut = self(socket.clone());
        Box::pin(async move { fut.await.report(&event.name, &socket) })
    }
}

impl<F, Fut, R, T> EventHandler<WithData<T>> for F
where
    F: Fn(Socket, T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: HandlerResult,
    T: DeserializeOwned + Send + 'static,
{
    fn call(&self, socket: Socket, mut event: IncomingEvent) -> BoxFuture<()> {
        let Some(data) = decode_or_report::<T>(&socket, &mut event) else {
            return Box::pin(async {});
        };
        let fut = self(socket.clone(), data);
        Box::pin(async move { fut.await.report(&event.name, &socket) })
    }
}

impl<F, Fut, R, T> EventHandler<WithDataAck<T>> for F
where
    F: Fn(Socket, T, Ack) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: HandlerResult,
    T: DeserializeOwned + Send + 'static,
{
    fn call(&self, socket: Socket, mut event: IncomingEvent) -> BoxFuture<()> {
        let Some(data) = decode_or_report::<T>(&socket, &mut event) else {
            return Box::pin(async {});
        };
        let ack = std::mem::replace(&mut event.ack, Ack::none(socket.clone()));
        let fut = self(socket.clone(), data, ack);
        Box::pin(async move { fut.await.report(&event.name, &socket) })
    }
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

/// A closure accepted by [`crate::Namespace::on_connection`].
pub trait ConnectionHandler: Send + Sync + 'static {
    #[doc(hidden)]
    fn call(&self, socket: Socket) -> BoxFuture<()>;
}

impl<F, Fut, R> ConnectionHandler for F
where
    F: Fn(Socket) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: HandlerResult,
{
    fn call(&self, socket: Socket) -> BoxFuture<()> {
        let fut = self(socket.clone());
        Box::pin(async move { fut.await.report("connection", &socket) })
    }
}

/// A closure accepted by [`crate::Namespace::use_connect`]: runs before the socket joins the
/// namespace; an `Err` refuses it with `connect_error`.
pub trait ConnectMiddleware: Send + Sync + 'static {
    #[doc(hidden)]
    fn call(&self, socket: Socket) -> BoxFuture<Result<(), ConnectError>>;
}

impl<F, Fut> ConnectMiddleware for F
where
    F: Fn(Socket) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
{
    fn call(&self, socket: Socket) -> BoxFuture<Result<(), ConnectError>> {
        Box::pin(self(socket))
    }
}

/// A closure accepted by [`crate::Socket::on_disconnect`].
pub trait DisconnectHandler: Send + Sync + 'static {
    #[doc(hidden)]
    fn call(&self, socket: Socket, reason: DisconnectReason) -> BoxFuture<()>;
}

impl<F, Fut, R> DisconnectHandler for F
where
    F: Fn(Socket, DisconnectReason) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: HandlerResult,
{
    fn call(&self, socket: Socket, reason: DisconnectReason) -> BoxFuture<()> {
        let fut = self(socket.clone(), reason);
        Box::pin(async move { fut.await.report("disconnect", &socket) })
    }
}
