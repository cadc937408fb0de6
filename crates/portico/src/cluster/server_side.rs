//! Events between server nodes: [`crate::Server::server_side_emit`] and
//! [`crate::Namespace::on_server_side`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::core::Responder;
use super::{ClusterError, Value};
use crate::errors::EmitError;

/// One server-side event from another node (Node's `io.on(event, ...args, [callback])` on the
/// server side).
pub struct ServerSideEvent {
    pub(crate) event: String,
    pub(crate) args: crate::Args,
    pub(crate) from: Option<String>,
    pub(crate) responder: Option<Responder>,
}

impl std::fmt::Debug for ServerSideEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSideEvent")
            .field("event", &self.event)
            .field("args", &self.args)
            .field("from", &self.from)
            .field("wants_ack", &self.responder.is_some())
            .finish()
    }
}

impl ServerSideEvent {
    /// The event name.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The sending node's id, when the wire format carries it.
    pub fn from(&self) -> Option<&str> {
        self.from.as_deref()
    }

    /// The arguments as your type (a tuple for several; see [`crate::args`]).
    pub fn args<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        crate::args::from_args(self.args.values.clone(), &self.args.binary)
    }

    /// The arguments as JSON, with their binary attachments.
    pub fn raw_args(&self) -> &crate::Args {
        &self.args
    }

    /// Whether the sender waits for an answer.
    pub fn wants_ack(&self) -> bool {
        self.responder.is_some()
    }

    /// Answer the sender (once; Node passes the answer's first argument only). Without a
    /// waiting sender this does nothing.
    pub fn ack<T: Serialize + ?Sized>(mut self, value: &T) -> Result<(), EmitError> {
        let Some(responder) = self.responder.take() else {
            return Ok(());
        };
        let (json, bins) = crate::binary::collect(|| serde_json::to_value(value));
        let json = json?;
        let wire = super::to_wire(std::slice::from_ref(&json), &bins);
        responder.send(wire.into_iter().next().unwrap_or(Value::Nil));
        Ok(())
    }
}

/// What [`crate::Namespace::on_server_side`] stores.
pub(crate) type ServerSideHandler =
    dyn Fn(ServerSideEvent) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync;

pub(crate) fn erase<F, Fut>(handler: F) -> Arc<ServerSideHandler>
where
    F: Fn(ServerSideEvent) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move |ev| Box::pin(handler(ev)))
}

/// Answers gathered from the other nodes (or their sockets), and why some may be missing.
#[derive(Debug, Clone)]
pub struct Replies<R> {
    /// The answers that came, in arrival order.
    pub replies: Vec<R>,
    /// `None` when every expected answer came; otherwise why some did not (a timeout, the
    /// cluster unavailable, an answer that did not decode as `R`).
    pub error: Option<ClusterError>,
}

impl<R> Replies<R> {
    /// Whether every expected answer came.
    pub fn is_complete(&self) -> bool {
        self.error.is_none()
    }
}

impl<R: DeserializeOwned> Replies<R> {
    pub(crate) fn decode(values: Vec<Value>, mut error: Option<ClusterError>) -> Replies<R> {
        let mut replies = Vec::with_capacity(values.len());
        for v in &values {
            let args = super::from_wire(std::slice::from_ref(v));
            match crate::args::from_args::<R>(args.values, &args.binary) {
                Ok(r) => replies.push(r),
                Err(e) => {
                    error.get_or_insert(ClusterError::Encode(format!(
                        "an answer does not decode as the expected type: {e}"
                    )));
                }
            }
        }
        Replies { replies, error }
    }
}
