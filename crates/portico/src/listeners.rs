//! Catch-all listeners and per-socket event middleware (Node's `socket.onAny`,
//! `socket.onAnyOutgoing` and `socket.use`).

use std::fmt;
use std::future::Future;

use crate::args::Args;
use crate::handler::{BoxFuture, HandlerResult};
use crate::Socket;

/// A closure accepted by [`Socket::on_any`] and [`Socket::on_any_outgoing`]:
/// `|socket, event: String, args: Args| async {}`.
pub trait AnyHandler: Send + Sync + 'static {
    #[doc(hidden)]
    fn call(&self, socket: Socket, event: String, args: Args) -> BoxFuture<()>;
}

impl<F, Fut, R> AnyHandler for F
where
    F: Fn(Socket, String, Args) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: HandlerResult,
{
    fn call(&self, socket: Socket, event: String, args: Args) -> BoxFuture<()> {
        let fut = self(socket.clone(), event, args);
        Box::pin(async move { fut.await.report("any", &socket) })
    }
}

/// An incoming event as a middleware sees it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EventInfo {
    /// The event name.
    pub name: String,
    /// Its arguments.
    pub args: Args,
    /// Whether the client asked for an acknowledgement.
    pub wants_ack: bool,
}

/// Why a middleware stopped an event (see [`Socket::use_event`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    message: Option<String>,
}

impl EventError {
    /// Stop the event and tell the client: it receives an `error` event
    /// `{"event": name, "message": message}`, and its acknowledgement (if it asked for one)
    /// is answered with `{"error": message}`.
    pub fn new(message: impl Into<String>) -> EventError {
        EventError {
            message: Some(message.into()),
        }
    }

    /// Stop the event without telling the client.
    pub fn drop_silently() -> EventError {
        EventError { message: None }
    }

    /// The message sent to the client, if any.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            self.message
                .as_deref()
                .unwrap_or("event dropped by middleware"),
        )
    }
}

impl std::error::Error for EventError {}

/// A closure accepted by [`Socket::use_event`]:
/// `|socket, event: EventInfo| async { Ok::<(), EventError>(()) }`.
pub trait EventMiddleware: Send + Sync + 'static {
    #[doc(hidden)]
    fn call(&self, socket: Socket, event: EventInfo) -> BoxFuture<Result<(), EventError>>;
}

impl<F, Fut> EventMiddleware for F
where
    F: Fn(Socket, EventInfo) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), EventError>> + Send + 'static,
{
    fn call(&self, socket: Socket, event: EventInfo) -> BoxFuture<Result<(), EventError>> {
        Box::pin(self(socket, event))
    }
}
