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
//!
//! Sends held back ([`hold`]): under the same guard, the layer above may hold back a run of
//! sends to be delivered together (`crate::coalesce`: consecutive broadcasts to the same
//! selection reach each socket as one push, not one per emit). One such run is held at a time,
//! process-wide, and it is delivered before anything else reaches a session: every send,
//! close and membership change calls [`deliver_held`] first, on any thread, and waits while
//! another thread delivers one. So no frame can overtake a held one, from this thread or
//! another, and the held run is delivered at the latest when the guard that held it ends.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::task::Waker;

/// The wake-ups held back on this thread, and how many guards are alive.
#[derive(Default)]
struct Deferred {
    active: usize,
    wakers: Vec<Waker>,
    /// The key of the last [`repeats`] under the current outermost guard (0: none).
    last_key: u64,
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
        if DEFERRED.with(|d| d.borrow().active) == 1 {
            // The outermost guard: what this thread held is delivered while the wake-ups are
            // still held back, so each socket is still woken once.
            deliver_own();
        }
        let wakers = DEFERRED.with(|d| {
            let mut d = d.borrow_mut();
            d.active -= 1;
            if d.active == 0 {
                d.last_key = 0;
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

/// Whether a [`DeferGuard`] is alive on this thread and the previous call under it (since
/// its outermost guard began) was given the same `key`; records `key` for the next call. The
/// layer above holds a run back only from its second send on ([`hold`]): a lone send costs
/// no more than it did without a guard.
pub(crate) fn repeats(key: u64) -> bool {
    let key = key.max(1);
    DEFERRED.with(|d| {
        let mut d = d.borrow_mut();
        d.active > 0 && std::mem::replace(&mut d.last_key, key) == key
    })
}

/// Sends held back by the layer above, delivered as one ([`hold`]).
pub(crate) trait Held: Send + 'static {
    /// Deliver them. Runs no user code and takes no lock that a sender may hold.
    fn deliver(self: Box<Self>);
    /// For [`hold`] to add to a run of the same kind.
    fn as_any(&mut self) -> &mut dyn Any;
}

/// Where a run is held: one per process ([`HELD`]); tests make their own.
///
/// A run is delivered under the slot's lock: a send on another thread that finds a run held
/// or being delivered waits until it has been delivered, so it cannot overtake a frame of it
/// even while the run is reaching its sockets. The delivering thread's own sends do not wait
/// (see [`DELIVERING`]).
pub(crate) struct HeldSlot {
    /// Whether a run is held or being delivered: the one look every send takes (a load when
    /// nothing is).
    any: AtomicBool,
    /// The run, and the thread that holds it ([`thread_token`]).
    run: Mutex<Slot>,
}

/// The process's held run.
static HELD: HeldSlot = HeldSlot::new();

thread_local! {
    /// Its address tells this thread from the others that live (see [`thread_token`]).
    static TOKEN: u8 = const { 0 };
    /// This thread is delivering a run: its sends are the run's, they do not wait for it.
    static DELIVERING: Cell<bool> = const { Cell::new(false) };
}

/// This thread's token: unique among the threads alive (a held run never outlives its guard,
/// so no run can name a thread that has ended).
fn thread_token() -> usize {
    TOKEN.with(|t| std::ptr::from_ref(t) as usize)
}

/// Marks this thread as delivering while it lives (a panic in a delivery unmarks it too).
struct Delivering;

impl Delivering {
    fn enter() -> Delivering {
        DELIVERING.with(|d| d.set(true));
        Delivering
    }
}

impl Drop for Delivering {
    fn drop(&mut self) {
        DELIVERING.with(|d| d.set(false));
    }
}

type Slot = Option<(usize, Box<dyn Held>)>;

/// Clears a [`HeldSlot`]'s flag when dropped, a panic included.
struct Cleared<'a>(&'a AtomicBool);

impl Drop for Cleared<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl HeldSlot {
    pub(crate) const fn new() -> HeldSlot {
        HeldSlot {
            any: AtomicBool::new(false),
            run: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.run.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a run is held or being delivered.
    #[cfg(test)]
    fn is_busy(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    /// Deliver the held run, if any: any thread's, or only `owner`'s when given. Waits for a
    /// run another thread is delivering.
    #[inline]
    pub(crate) fn deliver(&self, owner: Option<usize>) {
        if self.any.load(Ordering::Acquire) && !DELIVERING.with(Cell::get) {
            self.deliver_slow(owner);
        }
    }

    #[cold]
    fn deliver_slow(&self, owner: Option<usize>) {
        // Waits here while another thread delivers (it holds the lock).
        let mut h = self.lock();
        if owner.is_some() && h.as_ref().map(|(t, _)| *t) != owner {
            return;
        }
        self.deliver_locked(&mut h);
    }

    /// Deliver what `h` holds, the lock kept throughout; then nothing is held (a panic in
    /// the delivery clears the flag too: what it did not deliver is dropped with it).
    fn deliver_locked(&self, h: &mut Slot) {
        let _clear = Cleared(&self.any);
        if let Some((_, run)) = h.take() {
            let _delivering = Delivering::enter();
            run.deliver();
        }
    }

    /// Hold for thread `me`: `add` to the run `me` holds when it is a `T` and `add` takes it
    /// (returns `true`); otherwise `start()` is made, outside the lock (it may read the
    /// namespace and the adapter, which a waiting sender may hold), whatever is held then
    /// (another kind, another selection, another thread's) is delivered, and the new run is
    /// held.
    pub(crate) fn hold<T: Held>(
        &self,
        me: usize,
        add: impl FnOnce(&mut T) -> bool,
        start: impl FnOnce() -> T,
    ) {
        {
            let mut h = self.lock();
            if let Some((owner, run)) = &mut *h {
                if *owner == me {
                    if let Some(run) = run.as_any().downcast_mut::<T>() {
                        if add(run) {
                            return;
                        }
                    }
                }
            }
        }
        let run = start();
        let mut h = self.lock();
        self.deliver_locked(&mut h);
        *h = Some((me, Box::new(run)));
        self.any.store(true, Ordering::Release);
    }
}

/// Deliver the run held back, if any (whichever thread holds it). Called before every send,
/// close and membership change, so that nothing overtakes a held send.
#[inline]
pub(crate) fn deliver_held() {
    HELD.deliver(None);
}

/// Deliver what this thread holds (the end of its outermost guard).
fn deliver_own() {
    HELD.deliver(Some(thread_token()));
}

/// Hold a send back instead of making it now, when a [`DeferGuard`] is alive on this thread
/// (see [`HeldSlot::hold`]); `false`, having held nothing, when none is: the caller sends at
/// once. On either runtime: a send on another worker waits for a run held or being
/// delivered, so it cannot overtake it.
pub(crate) fn hold<T: Held>(add: impl FnOnce(&mut T) -> bool, start: impl FnOnce() -> T) -> bool {
    if DEFERRED.with(|d| d.borrow().active) == 0 {
        return false;
    }
    HELD.hold(thread_token(), add, start);
    true
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
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

    /// A run of numbers that records where it went.
    struct Nums {
        key: u8,
        items: Vec<u32>,
        out: Out,
    }

    impl Held for Nums {
        fn deliver(self: Box<Self>) {
            self.out.lock().unwrap().push((self.key, self.items));
        }
        fn as_any(&mut self) -> &mut dyn Any {
            self
        }
    }

    type Out = Arc<std::sync::Mutex<Vec<(u8, Vec<u32>)>>>;

    /// Hold `n` under `key` for thread `me` in `slot`.
    fn hold_num(slot: &HeldSlot, me: usize, key: u8, n: u32, out: &Out) {
        slot.hold::<Nums>(
            me,
            |run| {
                let same = run.key == key;
                if same {
                    run.items.push(n);
                }
                same
            },
            || Nums {
                key,
                items: vec![n],
                out: out.clone(),
            },
        );
    }

    fn delivered(out: &Out) -> Vec<(u8, Vec<u32>)> {
        out.lock().unwrap().clone()
    }

    #[test]
    fn a_run_grows_while_its_key_holds_and_another_key_delivers_it_first() {
        let slot = HeldSlot::new();
        let out = Out::default();
        hold_num(&slot, 1, b'a', 1, &out);
        hold_num(&slot, 1, b'a', 2, &out);
        assert!(delivered(&out).is_empty(), "held, not delivered");
        hold_num(&slot, 1, b'b', 3, &out);
        assert_eq!(delivered(&out), vec![(b'a', vec![1, 2])]);
        slot.deliver(None);
        assert_eq!(delivered(&out), vec![(b'a', vec![1, 2]), (b'b', vec![3])]);
        // Nothing is left to deliver.
        slot.deliver(None);
        assert_eq!(delivered(&out).len(), 2);
    }

    #[test]
    fn another_thread_delivers_a_held_run_before_it_goes_on() {
        let slot = Arc::new(HeldSlot::new());
        let out = Out::default();
        hold_num(&slot, 1, b'a', 1, &out);
        // Another thread's send (deliver) or hold: this thread's run goes first.
        let (s2, o2) = (slot.clone(), out.clone());
        std::thread::spawn(move || {
            s2.deliver(None);
            o2.lock().unwrap().push((b'x', vec![]));
        })
        .join()
        .unwrap();
        assert_eq!(delivered(&out), vec![(b'a', vec![1]), (b'x', vec![])]);
        hold_num(&slot, 1, b'a', 2, &out);
        hold_num(&slot, 2, b'a', 3, &out);
        assert_eq!(
            delivered(&out)[2..],
            [(b'a', vec![2])],
            "the same key from another thread does not join this thread's run"
        );
        // Only the owner's end delivers its own run.
        slot.deliver(Some(1));
        assert_eq!(delivered(&out).len(), 3);
        slot.deliver(Some(2));
        assert_eq!(delivered(&out)[3..], [(b'a', vec![3])]);
    }

    /// A run whose delivery checks what other threads and this one see meanwhile.
    struct Probe {
        slot: Arc<HeldSlot>,
        seen: Arc<std::sync::Mutex<Vec<&'static str>>>,
    }

    impl Held for Probe {
        fn deliver(self: Box<Self>) {
            let mut seen = self.seen.lock().unwrap();
            if self.slot.is_busy() {
                seen.push("busy while delivering");
            }
            // Another thread cannot take the slot: its send would wait here.
            std::thread::scope(|s| {
                let locked = s
                    .spawn(|| self.slot.run.try_lock().is_err())
                    .join()
                    .unwrap();
                if locked {
                    seen.push("locked for other threads");
                }
            });
            // This thread's own sends go on (they are the run's).
            self.slot.deliver(None);
            seen.push("own send went on");
        }
        fn as_any(&mut self) -> &mut dyn Any {
            self
        }
    }

    #[test]
    fn a_run_is_delivered_under_the_lock_so_other_threads_wait_and_its_own_sends_do_not() {
        let slot = Arc::new(HeldSlot::new());
        let seen = Arc::default();
        slot.hold::<Probe>(
            1,
            |_| false,
            || Probe {
                slot: slot.clone(),
                seen: Arc::clone(&seen),
            },
        );
        assert!(slot.is_busy());
        slot.deliver(None);
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "busy while delivering",
                "locked for other threads",
                "own send went on"
            ]
        );
        assert!(!slot.is_busy(), "nothing held once delivered");
    }

    #[test]
    fn nothing_is_held_without_a_guard_and_the_guard_end_delivers() {
        assert!(!hold::<Nums>(
            |_| true,
            || unreachable!("no guard, nothing held")
        ));
        let out = Out::default();
        let me = thread_token();
        {
            let _guard = defer_wakes();
            assert!(hold::<Nums>(
                |_| false,
                || Nums {
                    key: 0,
                    items: vec![7],
                    out: out.clone(),
                },
            ));
            // The process-wide slot: another test's send may deliver it meanwhile (that is
            // what a send does), so only "delivered by the end" is asserted.
        }
        assert_eq!(delivered(&out), vec![(0, vec![7])]);
        assert_ne!(HELD.lock().as_ref().map(|(t, _)| *t), Some(me));
    }

    /// A run that panics while it is delivered.
    struct Bomb;

    impl Held for Bomb {
        fn deliver(self: Box<Self>) {
            panic!("a delivery that fails");
        }
        fn as_any(&mut self) -> &mut dyn Any {
            self
        }
    }

    #[test]
    fn a_panic_in_a_delivery_leaves_nothing_held() {
        let slot = HeldSlot::new();
        slot.hold::<Bomb>(1, |_| false, || Bomb);
        assert!(slot.is_busy());
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| slot.deliver(None)));
        assert!(caught.is_err());
        assert!(!slot.is_busy(), "the flag is cleared on the way out");
        // The slot still works.
        let out = Out::default();
        hold_num(&slot, 1, b'a', 1, &out);
        slot.deliver(None);
        assert_eq!(delivered(&out), vec![(b'a', vec![1])]);
    }

    #[test]
    fn repeats_tells_a_key_given_twice_in_a_row_under_one_guard() {
        assert!(!repeats(5), "no guard");
        assert!(!repeats(5), "no guard: nothing was recorded");
        {
            let _outer = defer_wakes();
            assert!(!repeats(5), "the first");
            assert!(repeats(5));
            {
                let _inner = defer_wakes();
                assert!(
                    repeats(5),
                    "a nested guard goes on with the outer one's key"
                );
                assert!(!repeats(6));
            }
            assert!(repeats(6));
            assert!(!repeats(5));
        }
        let _next = defer_wakes();
        assert!(!repeats(5), "a new outermost guard starts afresh");
        // 0 stands for "none": a key of 0 is still told apart from no key.
        assert!(!repeats(0));
        assert!(repeats(0));
    }
}
