//! The link layer's one error type.

use std::sync::Arc;
use std::time::Duration;

use crate::resp::ProtocolError;

/// Everything that can go wrong between Portico and Redis. Every message that concerns a
/// server names its URL (password hidden); the `Display` text is for people, not an API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedisError {
    /// The URL could not be parsed or uses something unsupported.
    #[error("invalid Redis URL {reason}")]
    InvalidUrl {
        /// The URL (password hidden) and what is wrong with it.
        reason: Arc<str>,
    },
    /// A [`LinkOptions`](super::LinkOptions) value is out of range.
    #[error("invalid Redis link options: {reason}")]
    InvalidOptions {
        /// Which option, and what it must be.
        reason: Arc<str>,
    },
    /// Redis could not be reached, or did not answer like Redis, when connecting.
    #[error(
        "cannot connect to Redis at {url}: {reason}; check that redis-server is running and \
         reachable at that host and port, and that the URL is right"
    )]
    Connect {
        /// The URL, password hidden.
        url: Arc<str>,
        /// What failed: refused, timed out, closed, not Redis.
        reason: Arc<str>,
    },
    /// Redis refused `AUTH`, `SELECT` or (without a password) the first `PING`.
    #[error("Redis at {url} refused {command}: {reply}; {hint}")]
    Handshake {
        /// The URL, password hidden.
        url: Arc<str>,
        /// The refused command.
        command: &'static str,
        /// Redis' error reply.
        reply: Arc<str>,
        /// What to fix.
        hint: &'static str,
    },
    /// The connection was lost; the error in [`LinkState::Down`](super::LinkState::Down).
    #[error("lost the connection to Redis at {url}: {reason}")]
    Lost {
        /// The URL, password hidden.
        url: Arc<str>,
        /// Why: closed by the server, reset, protocol error.
        reason: Arc<str>,
    },
    /// The link is down right now: the call was refused without queueing anything.
    #[error("Redis at {url} is unavailable ({reason}); nothing was sent")]
    Unavailable {
        /// The URL, password hidden.
        url: Arc<str>,
        /// Why the link is down.
        reason: Arc<str>,
    },
    /// The bounded outbound queue is full (Redis is slower than the callers), or the command
    /// alone is larger than the byte bound.
    #[error(
        "the outbound Redis queue is full (limits: {max_bytes} bytes, {max_commands} commands); \
         nothing was sent"
    )]
    QueueFull {
        /// [`LinkOptions::max_queued_bytes`](super::LinkOptions::max_queued_bytes).
        max_bytes: usize,
        /// [`LinkOptions::max_queued_commands`](super::LinkOptions::max_queued_commands).
        max_commands: usize,
    },
    /// No answer within the timeout. The command may still run on Redis.
    #[error("Redis did not answer within {after:?}")]
    Timeout {
        /// The timeout that expired.
        after: Duration,
    },
    /// Redis answered the command with an error reply.
    #[error("Redis replied with an error: {message}")]
    Reply {
        /// The error reply, e.g. `ERR unknown command`.
        message: Arc<str>,
    },
    /// Redis answered with a reply of an unexpected shape.
    #[error("unexpected reply from Redis to {command}: {reply}")]
    UnexpectedReply {
        /// The command.
        command: &'static str,
        /// The reply, in debug form.
        reply: Arc<str>,
    },
    /// Bytes from the server that are not RESP2 within the configured limits.
    #[error("protocol error from Redis at {url}: {error}")]
    Protocol {
        /// The URL, password hidden.
        url: Arc<str>,
        /// The decoder's complaint.
        error: ProtocolError,
    },
}

impl RedisError {
    /// True for [`RedisError::Unavailable`]: the link is down and the call did nothing.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, RedisError::Unavailable { .. })
    }

    /// The short cause this error gives a link that goes down (used in `Unavailable`).
    pub(crate) fn cause(&self) -> Arc<str> {
        match self {
            RedisError::Lost { reason, .. } | RedisError::Connect { reason, .. } => reason.clone(),
            RedisError::Protocol { error, .. } => format!("protocol error: {error}").into(),
            other => other.to_string().into(),
        }
    }
}
