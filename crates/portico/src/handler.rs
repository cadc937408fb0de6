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
        let name = event.name;
        let fut = self(socket.clone());
        Box::pin(async move { fut.await.report(&name, &socket) })
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
        let name = event.name;
        let fut = self(socket.clone(), data);
        Box::pin(async move { fut.await.report(&name, &socket) })
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
        let IncomingEvent { name, ack, .. } = event;
        let fut = self(socket.clone(), data, ack);
        Box::pin(async move { fut.await.report(&name, &socket) })
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
