//! Driver wake-ups held back while a handler is polled inline ([`crate::handler`]): a burst
//! of frames a handler queues in one poll (a room emit, many emits) reaches each socket's
//! driver as one batch.
//!
//! On the current-thread runtime that is what happens anyway: no driver runs before the
//! handler's poll returns. On the multi-thread runtime, a driver woken by the first frame runs
//! on another worker while the handler is still queuing, and writes the socket's frames in
//! several small writes instead of one (with two workers on one core, about eight writes per
//! socket instead of two for a 1,000-event burst: 1.3–1.6× the CPU per delivery). Deferring
//! the wake-up to the end of the poll makes both runtimes write the same way. The frames
//! themselves are queued at once (limits, order and refusals unchanged); only the wake-up
//! waits, and never longer than the poll that queued them.

use std::cell::RefCell;
use std::task::Waker;

/// The wake-ups held back on this thread, and how many guards are alive.
#[derive(Default)]
struct Deferred {
    active: usize,
    wakers: Vec<Waker>,
}

thread_local! {
    static DEFERRED: RefCell<Deferred> = RefCell::new(Deferred::default());
}

/// Hold back [`wake_or_defer`]'s wake-ups on this thread until the guard is dropped; nested
/// guards wake at the end of the outermost one. Synchronous scope only: never hold it across
/// an `.await`.
pub(crate) fn defer_wakes() -> DeferGuard {
    DEFERRED.with(|d| d.borrow_mut().active += 1);
    DeferGuard(())
}

/// See [`defer_wakes`]. Dropping it (on a panic too) wakes what was held back.
#[must_use = "the wake-ups are held back only while the guard lives"]
pub(crate) struct DeferGuard(());

impl Drop for DeferGuard {
    fn drop(&mut self) {
        let wakers = DEFERRED.with(|d| {
            let mut d = d.borrow_mut();
            d.active -= 1;
            if d.active == 0 {
                std::mem::take(&mut d.wakers)
            } else {
                Vec::new()
            }
        });
        // Outside the borrow: a waker may run code that queues more.
        for w in wakers {
            w.wake();
        }
    }
}

/// Wake `waker` now, or when this thread's [`DeferGuard`] ends if there is one.
pub(crate) fn wake_or_defer(waker: Waker) {
    let now = DEFERRED.with(|d| {
        let mut d = d.borrow_mut();
        if d.active > 0 {
            d.wakers.push(waker);
            None
        } else {
            Some(waker)
        }
    });
    if let Some(w) = now {
        w.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::conn::DriverWake;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake};

    /// A waker that counts its wake-ups.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn count() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    /// A driver waiting on `wake` with a counting waker.
    fn waiting(wake: &DriverWake) -> Arc<Count> {
        let (c, waker) = count();
        assert!(wake
            .poll_notified(&mut Context::from_waker(&waker))
            .is_pending());
        c
    }

    fn woken(c: &Count) -> usize {
        c.0.load(Ordering::SeqCst)
    }

    #[test]
    fn without_a_guard_the_driver_is_woken_at_once() {
        let wake = DriverWake::default();
        let c = waiting(&wake);
        wake.notify_one_deferred();
        assert_eq!(woken(&c), 1);
    }

    #[test]
    fn under_a_guard_the_driver_is_woken_once_when_the_outermost_guard_ends() {
        let (a, b) = (DriverWake::default(), DriverWake::default());
        let (ca, cb) = (waiting(&a), waiting(&b));
        let outer = defer_wakes();
        a.notify_one_deferred();
        {
            let _inner = defer_wakes();
            b.notify_one_deferred();
            // A second frame for `a`: its waker was taken by the first, nothing more to wake.
            a.notify_one_deferred();
        }
        assert_eq!(
            (woken(&ca), woken(&cb)),
            (0, 0),
            "woken before the outer guard ended"
        );
        drop(outer);
        assert_eq!((woken(&ca), woken(&cb)), (1, 1));
        // Nothing left behind for the next guard.
        drop(defer_wakes());
        assert_eq!((woken(&ca), woken(&cb)), (1, 1));
    }

    #[test]
    fn a_held_back_wake_up_is_not_lost_when_the_driver_looks_first() {
        let wake = DriverWake::default();
        let c = waiting(&wake);
        let guard = defer_wakes();
        wake.notify_one_deferred();
        // The driver polled again meanwhile (woken by something else): it sees the flag.
        let (_, other) = count();
        assert_eq!(
            wake.poll_notified(&mut Context::from_waker(&other)),
            Poll::Ready(())
        );
        drop(guard);
        assert_eq!(
            woken(&c),
            1,
            "the held-back wake-up is still delivered (spurious, harmless)"
        );
    }

    #[test]
    fn a_panic_under_the_guard_still_wakes() {
        let wake = DriverWake::default();
        let c = waiting(&wake);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _guard = defer_wakes();
            wake.notify_one_deferred();
            panic!("handler bug");
        }));
        assert!(r.is_err());
        assert_eq!(woken(&c), 1);
        // The thread is back to waking at once.
        let other = DriverWake::default();
        let c2 = waiting(&other);
        other.notify_one_deferred();
        assert_eq!(woken(&c2), 1);
    }
}
