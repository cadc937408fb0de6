//! One Engine.IO connection: the session state machine behind a lock, plus what the HTTP
//! handlers, the driver and the layer above need to reach it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Instant;

use portico_proto::engine::session::{
    CloseReason, Incoming, Protocol, SendError, Session, Transport,
};
use portico_proto::engine::Frame;

use super::{ConnHandler, Engine};
use crate::handshake::ConnInfo;
use crate::refusal::Reason;
use crate::sid::Sid;

/// The WebSocket type every transport uses.
pub(crate) use super::ws::stream::WsConn as WsStream;

pub(crate) struct Conn {
    pub(crate) sid: Sid,
    pub(crate) engine: Arc<Engine>,
    session: Mutex<Session>,
    /// Wakes the driver task: output for the WebSocket, a close, a new deadline.
    pub(crate) driver_wake: DriverWake,
    /// Wakes the pending polling GET (a session has one at most: a second is refused).
    pub(crate) get_wake: OneWaiter,
    /// Hands a probing WebSocket to the driver (then woken with `driver_wake`). A slot, not a
    /// channel: a tokio channel allocates ~700 bytes up front, for every session, for a hand-off
    /// that happens at most once.
    upgrade: Mutex<UpgradeSlot>,
    /// A polling POST is being read (a second one at the same time is an error).
    pub(crate) post_busy: AtomicBool,
    /// The driver's timer fired (or was re-armed) since the driver last polled it (see
    /// [`Conn::take_driver_timer`]). Here, beside the other flags, not in [`DriverWake`]: a
    /// flag there would add a word of padding to every session.
    driver_timer: AtomicBool,
    /// The driver is handling a message it read: what is queued meanwhile (an ack from a
    /// handler that ran inline) is written when it is done, without waking it.
    pub(crate) driving: AtomicBool,
    pub(crate) info: Arc<ConnInfo>,
    /// The layer above, for messages that arrive outside the driver (polling POSTs). Weak:
    /// the driver holds it while the session lives, and the layer above holds this `Conn`.
    handler: OnceLock<Weak<dyn ConnHandler>>,
}

/// Wakes the one task that waits on it: a flag and a waker instead of a `Notify`. With one
/// waiter, a wake-up is an atomic store and a waker call, and a wait registers no list entry
/// (a `Notify` locks its list to add the waiter and again to wake or drop it: for the polling
/// GET, about 210 instructions and 30 lines of code per polling request, `bench/profile
/// polling`).
///
/// A wake-up with no task waiting is kept: the next wait returns at once, as `Notify`'s
/// `notify_one` leaves a permit.
#[derive(Default)]
pub(crate) struct OneWaiter {
    woken: AtomicBool,
    waker: futures_util::task::AtomicWaker,
}

impl OneWaiter {
    /// Wake the waiting task (or make its next wait return at once).
    pub(crate) fn notify_one(&self) {
        self.woken.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// [`OneWaiter::notify_one`], but while a handler is being polled on this thread
    /// ([`super::defer::defer_wakes`]) the task is woken only when that poll ends. The flag is
    /// set at once: a task that looks meanwhile sees it (no wake-up is lost).
    pub(crate) fn notify_one_deferred(&self) {
        self.woken.store(true, Ordering::Release);
        if let Some(w) = self.waker.take() {
            super::defer::wake_or_defer(w);
        }
    }

    /// Whether woken (the wake-up is consumed); if not, `cx` is woken by the next one.
    pub(crate) fn poll_notified(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.woken.swap(false, Ordering::AcqRel) {
            return std::task::Poll::Ready(());
        }
        self.waker.register(cx.waker());
        // A wake-up between the check and the registration is not lost.
        if self.woken.swap(false, Ordering::AcqRel) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }
}

/// Wakes the one driver task of a session ([`OneWaiter`]; the test build counts the
/// wake-ups). It wakes the driver for its timer too: see [`Conn::take_driver_timer`].
#[derive(Default)]
pub(crate) struct DriverWake {
    wake: OneWaiter,
}

// The wake-ups this thread sent to drivers, for tests that count them (a current-thread
// runtime runs a test's tasks on its thread, so parallel tests do not add to each other's).
#[cfg(test)]
thread_local! {
    pub(crate) static DRIVER_WAKES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl DriverWake {
    /// Wake the driver (or make its next wait return at once).
    pub(crate) fn notify_one(&self) {
        #[cfg(test)]
        DRIVER_WAKES.with(|n| n.set(n.get() + 1));
        self.wake.notify_one();
    }

    /// [`OneWaiter::notify_one_deferred`] for the driver.
    pub(crate) fn notify_one_deferred(&self) {
        #[cfg(test)]
        DRIVER_WAKES.with(|n| n.set(n.get() + 1));
        self.wake.notify_one_deferred();
    }

    /// Whether woken (the wake-up is consumed); if not, `cx` is woken by the next one.
    pub(crate) fn poll_notified(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        self.wake.poll_notified(cx)
    }

    /// Wake the driver's task without a wake-up of its wait: for its timer, whose firing is
    /// noted apart ([`Conn::take_driver_timer`]).
    fn wake_task(&self) {
        self.wake.waker.wake();
    }
}

/// The waker the driver polls its timer with (see [`Conn::take_driver_timer`]): a firing is
/// noted, then the driver's task is woken.
impl std::task::Wake for Conn {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.driver_timer.store(true, Ordering::Release);
        self.driver_wake.wake_task();
    }
}

/// The WebSocket hand-off from the upgrade request to the session's driver.
enum UpgradeSlot {
    Empty,
    Waiting(Box<WsStream>),
    /// The driver has ended.
    Ended,
}

/// Current time on tokio's clock (paused in tests), as the `std` instant the state machine uses.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl Conn {
    pub(crate) fn new(
        engine: Arc<Engine>,
        transport: Transport,
        protocol: Protocol,
        info: Arc<ConnInfo>,
    ) -> Arc<Conn> {
        let session = Session::new(now(), transport, engine.session_config(protocol));
        Arc::new(Conn {
            sid: Sid::new(),
            session: Mutex::new(session),
            driver_wake: DriverWake::default(),
            get_wake: OneWaiter::default(),
            upgrade: Mutex::new(UpgradeSlot::Empty),
            post_busy: AtomicBool::new(false),
            driving: AtomicBool::new(false),
            driver_timer: AtomicBool::new(false),
            info,
            handler: OnceLock::new(),
            engine,
        })
    }

    /// Whether the driver is to poll its timer: it fired since the last look, or was re-armed
    /// ([`Conn::driver_timer_rearmed`]). The timer is polled with the session's own waker (the
    /// `Wake` of [`Conn`]), which sets this flag and wakes the driver, so that the driver polls
    /// its timer only then (and once after re-arming it), not at every wait (a message on the
    /// WebSocket is one wait: the poll was about 120 instructions of each, `bench/profile
    /// echo`). This is [`crate::on_wake::Flag`]'s scheme, kept in the session's own allocation
    /// (a `Flag` is an `Arc` of its own: one allocation more per session). The driver's waker
    /// is registered by its [`DriverWake::poll_notified`] in the same wait, before this: a
    /// firing after that wakes it.
    pub(crate) fn take_driver_timer(&self) -> bool {
        self.driver_timer.swap(false, Ordering::AcqRel)
    }

    /// The driver re-armed its timer: its next wait polls it (which registers the new
    /// deadline's waker).
    pub(crate) fn driver_timer_rearmed(&self) {
        self.driver_timer.store(true, Ordering::Release);
    }

    /// Open the session to the layer above: its handler receives the messages from now on.
    /// Returns the handler, which the session's driver keeps until the session ends.
    pub(crate) fn open(self: &Arc<Conn>) -> Arc<dyn ConnHandler> {
        let handler = self.engine.handler().on_open(self);
        let _ = self.handler.set(Arc::downgrade(&handler));
        handler
    }

    /// Hand a message to the layer above (dropped once the session has ended).
    pub(crate) fn deliver(&self, msg: Incoming) {
        if let Some(h) = self.handler.get().and_then(Weak::upgrade) {
            deliver_to(&self.sid, &*h, msg);
        }
    }

    /// Tell the layer above that the session now runs on WebSocket.
    pub(crate) fn upgraded(&self) {
        if let Some(h) = self.handler.get().and_then(Weak::upgrade) {
            h.on_upgrade();
        }
    }

    /// Whether the layer above has work a graceful shutdown waits for (see
    /// [`ConnHandler::is_busy`]).
    pub(crate) fn is_busy(&self) -> bool {
        self.handler
            .get()
            .and_then(Weak::upgrade)
            .is_some_and(|h| h.is_busy())
    }

    /// Offer a WebSocket that asks to upgrade this session. It is handed back, for the caller
    /// to close, if another one is already waiting or the session's driver has ended.
    pub(crate) fn offer_upgrade(&self, ws: Box<WsStream>) -> Result<(), Box<WsStream>> {
        {
            let mut slot = self.upgrade.lock().unwrap_or_else(|e| e.into_inner());
            match *slot {
                UpgradeSlot::Empty => *slot = UpgradeSlot::Waiting(ws),
                UpgradeSlot::Waiting(_) | UpgradeSlot::Ended => {
                    tracing::debug!(sid = %self.sid, "upgrade refused: one is already under way or the session ended");
                    return Err(ws);
                }
            }
        }
        self.driver_wake.notify_one();
        Ok(())
    }

    /// The driver takes the WebSocket waiting to upgrade, if any.
    pub(crate) fn take_upgrade(&self) -> Option<Box<WsStream>> {
        let mut slot = self.upgrade.lock().unwrap_or_else(|e| e.into_inner());
        match std::mem::replace(&mut *slot, UpgradeSlot::Empty) {
            UpgradeSlot::Waiting(ws) => Some(ws),
            other => {
                *slot = other;
                None
            }
        }
    }

    /// The driver has ended: later upgrades are dropped; returns one that was still waiting.
    pub(crate) fn end_upgrades(&self) -> Option<Box<WsStream>> {
        let mut slot = self.upgrade.lock().unwrap_or_else(|e| e.into_inner());
        match std::mem::replace(&mut *slot, UpgradeSlot::Ended) {
            UpgradeSlot::Waiting(ws) => Some(ws),
            UpgradeSlot::Empty | UpgradeSlot::Ended => None,
        }
    }

    /// The session state. Never held across an `.await` or a call into user code.
    pub(crate) fn session(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue frames (atomically) and wake whoever writes them.
    pub(crate) fn send(&self, frames: &[Frame]) -> Result<(), SendError> {
        self.send_with(|s| s.send_all(frames))
    }

    /// [`Conn::send`] taking the frames (nothing cloned).
    pub(crate) fn send_vec<F>(&self, frames: F) -> Result<(), SendError>
    where
        F: AsRef<[Frame]> + IntoIterator<Item = Frame>,
    {
        self.send_with(move |s| s.send_all_owned(frames))
    }

    /// Queue `frames`, each a packet of its own, in order: those that fit the session's
    /// buffer caps are queued, and the first that does not closes it (`send buffer full`),
    /// as that many [`Conn::send`]s would; one lock for all of them.
    pub(crate) fn send_each(&self, frames: &[Frame]) -> Result<(), SendError> {
        self.send_with(|s| s.send_each(frames))
    }

    /// Queue with `push`, then wake whoever writes what was queued.
    #[inline(always)]
    fn send_with(
        &self,
        push: impl FnOnce(&mut Session) -> Result<(), SendError>,
    ) -> Result<(), SendError> {
        // Sends held back (a run of broadcasts, `super::defer::hold`) go first.
        super::defer::deliver_held();
        let (res, transport, was_idle) = {
            let mut s = self.session();
            let was_idle = !s.has_output();
            (push(&mut s), s.transport(), was_idle)
        };
        match (&res, transport) {
            (Ok(()), Transport::Polling) => self.get_wake.notify_one(),
            // The driver drains the whole queue at the top of every turn, so frames behind
            // others are written with them: only the first frame of a batch wakes it (a
            // broadcast burst then costs one wake-up per socket, not one per frame).
            (Ok(()), Transport::WebSocket) if was_idle && !self.driving.load(Ordering::Relaxed) => {
                self.driver_wake.notify_one_deferred()
            }
            (Ok(()), Transport::WebSocket) => {}
            (Err(SendError::Full), _) => {
                if self.engine.refusals.record(Reason::SendBufferFull) {
                    let s = self.engine.config.max_buffer_bytes;
                    let p = self.engine.config.max_buffer_packets;
                    tracing::warn!(sid = %self.sid, client = self.info.address.map(tracing::field::display), refusal = Reason::SendBufferFull.as_str(), "client does not read fast enough (over max_buffer_bytes {s} or max_buffer_packets {p}): closing with `send buffer full`");
                }
                self.wake_all();
            }
            (Err(SendError::Closed), _) => {}
        }
        res
    }

    /// Queue frames only if the transport can write them now (a pending GET, or an idle
    /// WebSocket); `false` when they were dropped.
    pub(crate) fn send_volatile(&self, frames: &[Frame]) -> bool {
        super::defer::deliver_held();
        let transport = {
            let mut s = self.session();
            if !s.is_writable() || s.send_all(frames).is_err() {
                return false;
            }
            s.transport()
        };
        match transport {
            Transport::Polling => self.get_wake.notify_one(),
            Transport::WebSocket => self.driver_wake.notify_one(),
        }
        true
    }

    /// Close the connection. Frames queued before a server-decided close are still sent.
    pub(crate) fn close(&self, reason: CloseReason) {
        // Frames held back before the close are queued before it.
        super::defer::deliver_held();
        self.session().close_at(reason, Some(now()));
        self.wake_all();
        self.engine.session_closed();
    }

    pub(crate) fn wake_all(&self) {
        self.driver_wake.notify_one();
        self.get_wake.notify_one();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.session().is_closed()
    }

    pub(crate) fn protocol(&self) -> Protocol {
        self.session().protocol()
    }

    pub(crate) fn transport(&self) -> Transport {
        self.session().transport()
    }

    /// The debug line of a new session: its id, the client's address and origin, and the
    /// Engine.IO version it speaks (`eio=3` is socket.io-client 2.x).
    pub(crate) fn log_opened(&self) {
        // The fields are worked out inside the macro: only when the event is enabled (the
        // origin is a header lookup, a few hundred instructions a handshake otherwise).
        tracing::debug!(
            sid = %self.sid,
            client = self.info.address.map(tracing::field::display),
            origin = self.info.header_str("origin").map(tracing::field::display),
            eio = match self.protocol() {
                Protocol::V4 => 4,
                Protocol::V3 { .. } => 3,
            },
            "new {} session",
            match self.transport() {
                Transport::Polling => "polling",
                Transport::WebSocket => "websocket",
            }
        );
    }

    /// Mark a POST as in progress; `false` if one already is.
    pub(crate) fn begin_post(&self) -> bool {
        !self.post_busy.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn end_post(&self) {
        self.post_busy.store(false, Ordering::Release);
    }
}

/// Hand `msg` to `handler`. A panic in the layer above stays with that message (logged, the
/// message lost): the session and its driver go on.
pub(crate) fn deliver_to(sid: &Sid, handler: &dyn ConnHandler, msg: Incoming) {
    let delivered =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler.on_message(msg)));
    if let Err(panic) = delivered {
        tracing::error!(sid = %sid, panic = panic_message(&*panic), "message handler panicked: message dropped");
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::task::{Context, Poll, Wake, Waker};

    use super::*;

    /// A waker that counts its wake-ups.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// `Notify`'s `notify_one` semantics, which the polling GET relies on: a wake-up given
    /// while nobody waits is kept for the next wait (once), and a waiting task is woken once
    /// per wake-up.
    #[test]
    fn one_waiter_keeps_a_wake_up_and_wakes_the_waiting_task() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let w = OneWaiter::default();

        // Nobody waits: the wake-up is kept, and consumed by the next wait.
        w.notify_one();
        assert_eq!(w.poll_notified(&mut cx), Poll::Ready(()));
        assert_eq!(w.poll_notified(&mut cx), Poll::Pending);
        assert_eq!(count.0.load(Ordering::SeqCst), 0);

        // A task waits: it is woken, and its next poll sees the wake-up.
        w.notify_one();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(w.poll_notified(&mut cx), Poll::Ready(()));

        // Deferred outside a handler's poll: the same, at once.
        assert_eq!(w.poll_notified(&mut cx), Poll::Pending);
        w.notify_one_deferred();
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert_eq!(w.poll_notified(&mut cx), Poll::Ready(()));
        assert_eq!(w.poll_notified(&mut cx), Poll::Pending);
    }
}
