//! Futures that are polled again only once they woke their task, for what a task watches
//! beside its work and that almost never happens: the server's shutdown, an idle timer.
//!
//! A `select!` polls every branch at every wake-up of its task, whatever woke it. The accept
//! loop's shutdown signal (the SIGINT and SIGTERM streams behind it) was polled once per
//! accepted connection that way: about 350 instructions of each WebSocket handshake
//! (`bench/profile connect-websocket`). Polled with a waker of its own ([`Flag`]), which notes
//! that it was woken before it wakes the task, such a future is polled on its first poll and
//! after its own wake-ups only.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// The waker a watched future is polled with: it notes that it was woken, then wakes the
/// task.
#[derive(Debug)]
pub(crate) struct Flag {
    /// Set when a watched future woke; the next look polls it.
    woken: AtomicBool,
    /// The task.
    task: AtomicWaker,
}

impl Flag {
    /// A flag that is set: the first look polls what it watches (which arms it with the
    /// flag's waker).
    pub(crate) fn new() -> Arc<Flag> {
        Arc::new(Flag {
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        })
    }

    /// Whether what the flag watches is to be polled now: it woke since the last look (or
    /// was never polled). The task's waker is taken from `cx` first, so a wake-up between the
    /// two wakes the task again.
    pub(crate) fn take(&self, cx: &Context<'_>) -> bool {
        self.task.register(cx.waker());
        self.woken.swap(false, Ordering::AcqRel)
    }
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// `fut`, polled on the first poll and then only after it woke the task (see the module's
/// doc). Its output is `fut`'s; once it is ready, it is not to be polled again.
pub(crate) struct OnWake<'a, F> {
    fut: Pin<&'a mut F>,
    flag: Arc<Flag>,
    /// `flag` as a waker, made once.
    waker: Waker,
}

impl<'a, F: Future> OnWake<'a, F> {
    pub(crate) fn new(fut: Pin<&'a mut F>) -> Self {
        let flag = Flag::new();
        let waker = Waker::from(flag.clone());
        OnWake { fut, flag, waker }
    }
}

impl<F: Future> Future for OnWake<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        if !this.flag.take(cx) {
            return Poll::Pending;
        }
        this.fut
            .as_mut()
            .poll(&mut Context::from_waker(&this.waker))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A future that counts its polls and is ready once `ready` is sent (which wakes the
    /// waker it was last polled with).
    struct Counted<'a> {
        polls: &'a AtomicUsize,
        ready: tokio::sync::oneshot::Receiver<()>,
    }

    impl Future for Counted<'_> {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            Pin::new(&mut self.ready).poll(cx).map(|_| ())
        }
    }

    #[tokio::test]
    async fn a_watched_future_is_polled_first_and_then_only_when_it_woke() {
        let polls = AtomicUsize::new(0);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let fut = std::pin::pin!(Counted {
            polls: &polls,
            ready: rx,
        });
        let mut watched = OnWake::new(fut);
        let (other_tx, mut other_rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
        // Wake-ups for something else: three messages, each its own wake-up of the task.
        let feed = tokio::spawn(async move {
            for n in 0..3 {
                other_tx.send(n).unwrap();
                tokio::task::yield_now().await;
            }
            other_tx
        });
        let mut got = Vec::new();
        while got.len() < 3 {
            tokio::select! {
                biased;
                () = &mut watched => panic!("the watched future completed on its own"),
                Some(n) = other_rx.recv() => got.push(n),
            }
        }
        assert_eq!(got, [0, 1, 2]);
        // Polled once, to arm it: the three wake-ups for the messages did not poll it.
        assert_eq!(polls.load(Ordering::SeqCst), 1);
        let _keep = feed.await.unwrap();
        tx.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(3600), &mut watched)
            .await
            .expect("its own wake-up polled it");
        assert_eq!(polls.load(Ordering::SeqCst), 2);
    }
}
