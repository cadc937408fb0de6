//! A one-line progress display on stderr, redrawn in place (only when stderr is a terminal).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counts work done; a ticker task redraws `label done/total elapsed` every 200 ms.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    done: AtomicU64,
    failed: AtomicU64,
    stop: AtomicBool,
}

impl Progress {
    /// Start showing `label` with `total` units (0: no total known).
    pub fn start(label: String, total: u64) -> Progress {
        let inner = Arc::new(Inner {
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let show = std::io::stderr().is_terminal();
        if !show {
            eprintln!("{label} ...");
        }
        let ticker = Arc::downgrade(&inner);
        tokio::spawn(async move {
            let start = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                // Every handle dropped: stop.
                let Some(ticker) = ticker.upgrade() else {
                    break;
                };
                let stop = ticker.stop.load(Ordering::Relaxed);
                if show {
                    let done = ticker.done.load(Ordering::Relaxed);
                    let failed = ticker.failed.load(Ordering::Relaxed);
                    let total = if total > 0 {
                        format!("/{total}")
                    } else {
                        String::new()
                    };
                    let failed = if failed > 0 {
                        format!("  FAILED {failed}")
                    } else {
                        String::new()
                    };
                    let mut err = std::io::stderr().lock();
                    let _ = write!(
                        err,
                        "\r\x1b[2K{label}: {done}{total}{failed}  {:.1}s",
                        start.elapsed().as_secs_f64()
                    );
                    if stop {
                        let _ = writeln!(err);
                    }
                    let _ = err.flush();
                }
                if stop {
                    break;
                }
            }
        });
        Progress { inner }
    }

    pub fn add(&self, n: u64) {
        self.inner.done.fetch_add(n, Ordering::Relaxed);
    }

    pub fn fail(&self) {
        self.inner.failed.fetch_add(1, Ordering::Relaxed);
    }

    /// Stop redrawing (the last state stays on screen).
    pub fn finish(&self) {
        self.inner.stop.store(true, Ordering::Relaxed);
    }
}
