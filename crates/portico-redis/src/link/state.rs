//! Whether a link is up, observable through a watch channel.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;
use tokio::time::Instant;

use super::RedisError;

/// The state of one Redis connection, as published by [`Publisher::state`](super::Publisher::state)
/// and [`Subscriber::state`](super::Subscriber::state).
///
/// It changes only on transitions: a link that keeps failing to reconnect stays in the same
/// `Down`, so a watcher logs one line when the link is lost and one when it is back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Connected and usable (for a subscriber: every remembered subscription is confirmed).
    Up,
    /// Not connected; reconnecting in the background.
    Down {
        /// When the link was lost.
        since: Instant,
        /// Why it was lost ([`RedisError::Lost`] or [`RedisError::Protocol`]).
        error: RedisError,
    },
}

impl LinkState {
    /// True for [`LinkState::Up`].
    pub fn is_up(&self) -> bool {
        matches!(self, LinkState::Up)
    }
}

/// The writer side of a link's state, shared by its handles and its task.
#[derive(Debug)]
pub(crate) struct StateCell {
    url: Arc<str>,
    tx: watch::Sender<LinkState>,
    /// Fast path for the fail-fast check of every call.
    up: AtomicBool,
    /// The short cause given to callers while down.
    cause: Mutex<Arc<str>>,
}

impl StateCell {
    /// A cell for a link that has just connected.
    pub(crate) fn new(url: Arc<str>) -> Self {
        StateCell {
            url,
            tx: watch::Sender::new(LinkState::Up),
            up: AtomicBool::new(true),
            cause: Mutex::new(Arc::from("")),
        }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<LinkState> {
        self.tx.subscribe()
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// The error for a call refused while the link is down.
    pub(crate) fn unavailable(&self) -> RedisError {
        let reason = self
            .cause
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        RedisError::Unavailable {
            url: self.url.clone(),
            reason,
        }
    }

    /// Marks the link down (a no-op when it already is).
    pub(crate) fn set_down(&self, error: RedisError) {
        *self.cause.lock().unwrap_or_else(PoisonError::into_inner) = error.cause();
        self.up.store(false, Ordering::Release);
        self.tx.send_if_modified(|state| {
            if state.is_up() {
                tracing::debug!(url = %self.url, %error, "redis link down");
                *state = LinkState::Down {
                    since: Instant::now(),
                    error,
                };
                true
            } else {
                false
            }
        });
    }

    /// Marks the link up (a no-op when it already is).
    pub(crate) fn set_up(&self) {
        self.up.store(true, Ordering::Release);
        self.tx.send_if_modified(|state| {
            if state.is_up() {
                false
            } else {
                tracing::debug!(url = %self.url, "redis link up");
                *state = LinkState::Up;
                true
            }
        });
    }
}
