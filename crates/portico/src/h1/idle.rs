//! A keep-alive connection's wait for its next request, beside its two reasons to stop waiting:
//! the idle timeout (`header_read_timeout`) and the server's graceful shutdown.
//!
//! A `select!` of the three polls all three at every wake-up of the connection's task, and the
//! idle timer was reset for every wait: about 800 instructions a polling request
//! (`bench/profile polling`), for two events that almost never happen. Here neither costs a
//! request anything but a clock read:
//!
//! - the timer stays armed at the deadline it was last set for, and each wait only notes its
//!   own deadline (the time the wait began plus the timeout). When the timer fires before the
//!   current deadline (requests came meanwhile), it is moved to that deadline; when it fires at
//!   or after it, the wait ends. The connection is closed when it has been idle for the timeout,
//!   exactly as before;
//! - the timer and the shutdown's wait are polled with a waker of their own, which notes that
//!   it was woken before it wakes the task. They are polled again only after that (or on the
//!   first wait): a wake-up for the connection's bytes polls the read alone.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::on_wake::Flag;

/// How a wait for the next request ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Woke<T> {
    /// The read ended (with this).
    Read(T),
    /// Nothing came within the idle timeout.
    Idle,
    /// The server is shutting down (or its shutdown signal is gone).
    Stopping,
}

/// A connection's idle timer and shutdown wait, for its waits between requests (see the
/// module's doc).
pub(crate) struct IdleWatch<'a, S> {
    timeout: Duration,
    timer: Pin<&'a mut Sleep>,
    shutdown: Pin<&'a mut S>,
    flag: Arc<Flag>,
    /// `flag` as a waker, made once.
    waker: Waker,
}

impl<'a, S: Future> IdleWatch<'a, S> {
    /// Watch `shutdown` (a future that completes when the server shuts down) and close idle
    /// waits after `timeout`, with `timer` (armed at any deadline up to the first wait's).
    pub(crate) fn new(
        timeout: Duration,
        timer: Pin<&'a mut Sleep>,
        shutdown: Pin<&'a mut S>,
    ) -> Self {
        // Set: the first wait polls both, to arm them with the flag's waker.
        let flag = Flag::new();
        let waker = Waker::from(flag.clone());
        IdleWatch {
            timeout,
            timer,
            shutdown,
            flag,
            waker,
        }
    }

    /// Wait for `read`, for at most the idle timeout from now, and not past the server's
    /// shutdown. Once this has returned [`Woke::Stopping`], it must not be called again (the
    /// shutdown's future has completed).
    pub(crate) async fn wait<F: Future>(&mut self, read: F) -> Woke<F::Output> {
        let deadline = Instant::now() + self.timeout;
        let mut read = std::pin::pin!(read);
        poll_fn(|cx| {
            if let Poll::Ready(out) = read.as_mut().poll(cx) {
                return Poll::Ready(Woke::Read(out));
            }
            if self.flag.take(cx) {
                if let Some(woke) = self.poll_watched(deadline) {
                    return Poll::Ready(woke);
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Poll the shutdown's wait and the timer with the flag's waker; `Some` when the wait ends.
    fn poll_watched<T>(&mut self, deadline: Instant) -> Option<Woke<T>> {
        let mut cx = Context::from_waker(&self.waker);
        if self.shutdown.as_mut().poll(&mut cx).is_ready() {
            return Some(Woke::Stopping);
        }
        while self.timer.as_mut().poll(&mut cx).is_ready() {
            if self.timer.deadline() >= deadline {
                return Some(Woke::Idle);
            }
            // Set for an earlier wait: a request came since. On to this wait's deadline
            // (polled again, to arm it).
            self.timer.as_mut().reset(deadline);
        }
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(10);

    /// `wait` bounded by an hour of tokio's (paused) clock: a wait nothing wakes fails the
    /// test at once instead of hanging it.
    async fn wait<S: Future, F: Future>(watch: &mut IdleWatch<'_, S>, read: F) -> Woke<F::Output> {
        tokio::time::timeout(Duration::from_secs(3600), watch.wait(read))
            .await
            .expect("the wait was never woken")
    }

    /// A future that is ready once `at` is reached on tokio's clock (the bytes of a request
    /// coming in), polled as the read is.
    async fn read_at(at: Instant) -> &'static str {
        tokio::time::sleep_until(at).await;
        "request"
    }

    /// `let mut $watch`: an [`IdleWatch`] of [`TIMEOUT`] whose timer is first armed for
    /// [`TIMEOUT`] from now, as a connection's is, and which watches `$shutdown`.
    macro_rules! idle_watch {
        ($watch:ident, $shutdown:expr) => {
            let timer = std::pin::pin!(tokio::time::sleep(TIMEOUT));
            let shutdown = std::pin::pin!($shutdown);
            let mut $watch = IdleWatch::new(TIMEOUT, timer, shutdown);
        };
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_is_idle_only_once_the_timeout_has_passed_since_its_last_wait_began() {
        let start = Instant::now();
        idle_watch!(watch, std::future::pending::<()>());
        // Requests 8 s apart: each wait's deadline is 10 s from its own start, though the timer
        // was first armed for 10 s from the connection's start.
        for n in 1..=3u64 {
            let woke = wait(&mut watch, read_at(start + Duration::from_secs(8 * n))).await;
            assert_eq!(woke, Woke::Read("request"));
            assert_eq!(Instant::now(), start + Duration::from_secs(8 * n));
        }
        // Then nothing: the wait ends at 24 + 10 s, not at the timer's first deadline.
        let woke = wait(&mut watch, std::future::pending::<()>()).await;
        assert_eq!(woke, Woke::Idle);
        assert_eq!(Instant::now(), start + Duration::from_secs(34));
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_that_comes_just_before_the_deadline_wins_and_the_next_wait_starts_over() {
        let start = Instant::now();
        idle_watch!(watch, std::future::pending::<()>());
        let just_before = start + TIMEOUT - Duration::from_millis(1);
        assert_eq!(
            wait(&mut watch, read_at(just_before)).await,
            Woke::Read("request")
        );
        // The timer fires at 10 s during the next wait, and is moved to its deadline.
        let woke = wait(&mut watch, std::future::pending::<()>()).await;
        assert_eq!(woke, Woke::Idle);
        assert_eq!(Instant::now(), just_before + TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn the_shutdown_ends_a_wait_at_once_and_a_wait_before_it_is_unaffected() {
        let (tx, mut rx) = tokio::sync::watch::channel(false);
        let start = Instant::now();
        idle_watch!(watch, rx.changed());
        // Armed in a first wait, then not polled through the next one's read (a wake-up for
        // the bytes alone), and still heard when the shutdown comes in a later wait.
        assert_eq!(
            wait(&mut watch, read_at(start + Duration::from_secs(1))).await,
            Woke::Read("request")
        );
        assert_eq!(
            wait(&mut watch, read_at(start + Duration::from_secs(2))).await,
            Woke::Read("request")
        );
        let stop_at = start + Duration::from_secs(3);
        let stop = tokio::spawn(async move {
            tokio::time::sleep_until(stop_at).await;
            tx.send(true).unwrap();
            tx
        });
        let woke = wait(&mut watch, std::future::pending::<()>()).await;
        assert_eq!(woke, Woke::Stopping);
        assert_eq!(Instant::now(), stop_at);
        drop(stop.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn a_timer_that_fires_between_waits_is_moved_on_in_the_next_one() {
        let start = Instant::now();
        idle_watch!(watch, std::future::pending::<()>());
        assert_eq!(
            wait(&mut watch, read_at(start + Duration::from_secs(5))).await,
            Woke::Read("request")
        );
        // A long answer: the timer's 10 s pass while no wait is under way.
        tokio::time::sleep(Duration::from_secs(20)).await;
        let next = Instant::now() + Duration::from_secs(9);
        assert_eq!(wait(&mut watch, read_at(next)).await, Woke::Read("request"));
        let woke = wait(&mut watch, std::future::pending::<()>()).await;
        assert_eq!(woke, Woke::Idle);
        assert_eq!(Instant::now(), next + TIMEOUT);
    }
}
