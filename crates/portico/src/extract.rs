//! Handler arguments taken from the socket or the server: [`Socket`], [`Server`],
//! [`State`] (app state given once to [`crate::ServerBuilder::state`]), and your own types
//! through [`FromSocket`].
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//! use portico::{Server, Socket, State};
//!
//! #[derive(Clone, Default)]
//! struct App { messages: Arc<AtomicUsize> }
//!
//! # fn main() -> Result<(), portico::ConfigError> {
//! let io = Server::builder().state(App::default()).build()?;
//! io.of("/").on_connection(|socket: Socket, State(app): State<App>| async move {
//!     let seen = app.messages.load(Ordering::Relaxed);
//!     socket.emit("welcome", &seen).ok();
//!     socket.on("chat", |_socket: Socket, io: Server, State(app): State<App>, text: String| async move {
//!         app.messages.fetch_add(1, Ordering::Relaxed);
//!         io.emit("chat", &text)
//!     });
//! });
//! # Ok(()) }
//! ```

use std::any::{type_name, Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use crate::{Server, Socket};

/// A handler argument that is taken from the socket (or its server) rather than from the
/// client's payload. Implement it for your own types to extract them in any handler, e.g. a
/// user read from the socket's [`Extensions`].
///
/// [`Socket`], [`Server`] and [`State`] implement it. In an event handler the extractors come
/// first, then the payload type, then [`crate::Ack`] (see [`crate::handler`]).
pub trait FromSocket: Sized + Send + 'static {
    /// Take the value; an `Err` skips the handler and is logged with the reason (and answered
    /// with an error when the client asked for an acknowledgement).
    fn from_socket(socket: &Socket) -> Result<Self, ExtractError>;
}

/// Why a [`FromSocket`] argument could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractError {
    message: String,
}

impl ExtractError {
    /// An error with this message (say what is missing and how to provide it).
    pub fn new(message: impl Into<String>) -> ExtractError {
        ExtractError {
            message: message.into(),
        }
    }
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExtractError {}

impl FromSocket for Socket {
    fn from_socket(socket: &Socket) -> Result<Self, ExtractError> {
        Ok(socket.clone())
    }
}

impl FromSocket for Server {
    fn from_socket(socket: &Socket) -> Result<Self, ExtractError> {
        Ok(socket.server())
    }
}

/// App state given once to [`crate::ServerBuilder::state`], taken by handlers as an argument
/// (axum's `State`): `State(app): State<App>`. It is a clone of what was given, so share
/// mutable parts through an `Arc` (or make `App` an `Arc<...>`).
#[derive(Debug, Clone, Copy, Default)]
pub struct State<S>(pub S);

impl<S: Clone + Send + Sync + 'static> FromSocket for State<S> {
    fn from_socket(socket: &Socket) -> Result<Self, ExtractError> {
        socket.server().state::<S>().map(State).ok_or_else(|| {
            ExtractError::new(format!(
                "no state of type {0} was given to the server: add `.state(value)` (a {0}) to \
                 Server::builder()",
                type_name::<S>()
            ))
        })
    }
}

/// Values by type: the server's state and each socket's [`Extensions`].
#[derive(Clone, Default)]
pub(crate) struct TypeMap(HashMap<TypeId, Arc<dyn Any + Send + Sync>>);

impl TypeMap {
    pub(crate) fn insert<T: Send + Sync + 'static>(
        &mut self,
        value: T,
    ) -> Option<Arc<dyn Any + Send + Sync>> {
        self.0.insert(TypeId::of::<T>(), Arc::new(value))
    }

    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.0
            .get(&TypeId::of::<T>())
            .and_then(|v| Arc::clone(v).downcast::<T>().ok())
    }

    pub(crate) fn remove<T: Send + Sync + 'static>(&mut self) -> Option<Arc<T>> {
        self.0
            .remove(&TypeId::of::<T>())
            .and_then(|v| v.downcast::<T>().ok())
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Debug for TypeMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TypeMap({} values)", self.0.len())
    }
}

/// Typed per-socket values (socketioxide's and http's `Extensions`): any
/// `T: Send + Sync + 'static`, one value per type, local to this server and never serialized.
/// For data that other nodes and [`crate::BroadcastOperator::fetch_sockets`] see, use
/// [`Socket::set_data`] (Node's `socket.data`).
///
/// ```
/// # use portico::{Server, Socket};
/// struct User { name: String }
///
/// # fn main() -> Result<(), portico::ConfigError> {
/// # let io = Server::builder().build()?;
/// io.of("/").on_connection(|socket: Socket| async move {
///     socket.extensions().insert(User { name: "ada".into() });
///     socket.on("whoami", |socket: Socket| async move {
///         let user = socket.extensions().get::<User>(); // Option<Arc<User>>
///         socket.emit("you", &user.map(|u| u.name.clone()))
///     });
/// });
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct Extensions(Mutex<Option<Box<TypeMap>>>);

impl Extensions {
    fn with<R>(&self, f: impl FnOnce(&mut Option<Box<TypeMap>>) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Store `value`, replacing (and returning) the value of the same type.
    pub fn insert<T: Send + Sync + 'static>(&self, value: T) -> Option<Arc<T>> {
        self.with(|m| {
            m.get_or_insert_with(Box::default)
                .insert(value)
                .and_then(|old| old.downcast::<T>().ok())
        })
    }

    /// The value of type `T`, shared (no clone of `T`; put a `Mutex` inside to change it).
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.with(|m| m.as_ref().and_then(|m| m.get::<T>()))
    }

    /// Whether a value of type `T` is stored.
    pub fn contains<T: Send + Sync + 'static>(&self) -> bool {
        self.get::<T>().is_some()
    }

    /// Take the value of type `T` out.
    pub fn remove<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.with(|m| m.as_mut().and_then(|m| m.remove::<T>()))
    }

    /// Drop every value (done when the socket disconnects, after its disconnect handlers).
    pub(crate) fn clear(&self) {
        self.with(|m| *m = None);
    }
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.with(|m| m.as_ref().map_or(0, |m| m.len()));
        write!(f, "Extensions({n} values)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_hold_one_value_per_type_without_cloning() {
        struct NotClone(u32);
        let ext = Extensions::default();
        assert!(ext.get::<NotClone>().is_none());
        assert!(ext.insert(NotClone(1)).is_none());
        assert_eq!(ext.insert(NotClone(2)).map(|v| v.0), Some(1));
        ext.insert(7_u64);
        assert_eq!(ext.get::<NotClone>().map(|v| v.0), Some(2));
        assert_eq!(ext.get::<u64>().as_deref(), Some(&7));
        assert!(ext.contains::<u64>());
        assert_eq!(ext.remove::<u64>().as_deref(), Some(&7));
        assert!(!ext.contains::<u64>());
        assert_eq!(format!("{ext:?}"), "Extensions(1 values)");
        ext.clear();
        assert!(ext.get::<NotClone>().is_none());
    }

    #[test]
    fn a_type_map_gives_back_what_went_in_by_type() {
        let mut m = TypeMap::default();
        m.insert(String::from("a"));
        m.insert(3_i32);
        assert_eq!(m.get::<String>().as_deref().map(String::as_str), Some("a"));
        assert_eq!(m.get::<i32>().as_deref(), Some(&3));
        assert!(m.get::<u32>().is_none());
        assert_eq!(m.len(), 2);
    }
}
