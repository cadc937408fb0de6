//! The per-connection packet rate limit (`event_rate`, `event_burst`): a token bucket that
//! reads the clock only when it runs dry, so a packet costs a decrement and a compare.

use std::time::Instant;

/// A token bucket of `burst` tokens refilled at `rate` per second. Refilled lazily: only when
/// empty, from the time of the last refill, which is the same as refilling continuously.
#[derive(Debug)]
pub(crate) struct Bucket {
    tokens: u32,
    /// When the bucket was last refilled (or created).
    since: Instant,
    rate: u32,
    burst: u32,
}

impl Bucket {
    /// A full bucket; `rate == 0` means no limit.
    pub(crate) fn new(now: Instant, rate: u32, burst: u32) -> Bucket {
        Bucket {
            tokens: burst,
            since: now,
            rate,
            burst,
        }
    }

    /// Take one token; `false` when the rate is exceeded. `now` is asked for only when the
    /// bucket is empty.
    pub(crate) fn take(&mut self, now: impl FnOnce() -> Instant) -> bool {
        if self.rate == 0 {
            return true;
        }
        if self.tokens == 0 {
            let now = now();
            let earned =
                now.saturating_duration_since(self.since).as_secs_f64() * f64::from(self.rate);
            if earned < 1.0 {
                return false;
            }
            // Whole tokens only; the time of a fraction is kept for the next refill.
            let whole = earned.floor().min(f64::from(self.burst));
            self.tokens = whole as u32;
            self.since = if whole >= f64::from(self.burst) {
                now
            } else {
                self.since + std::time::Duration::from_secs_f64(whole / f64::from(self.rate))
            };
        }
        self.tokens -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(t0, 10, 20);
        let mut clock_reads = 0;
        let at = |t: Instant| move || t;
        for _ in 0..20 {
            assert!(b.take(|| {
                clock_reads += 1;
                t0
            }));
        }
        assert_eq!(clock_reads, 0, "a full bucket never reads the clock");
        assert!(!b.take(at(t0 + Duration::from_millis(50))));
        // 10 per second: one token per 100 ms.
        assert!(b.take(at(t0 + Duration::from_millis(100))));
        assert!(!b.take(at(t0 + Duration::from_millis(150))));
        assert!(b.take(at(t0 + Duration::from_millis(200))));
        // A long pause refills up to the burst, not more.
        let later = t0 + Duration::from_secs(60);
        let taken = (0..100).filter(|_| b.take(at(later))).count();
        assert_eq!(taken, 20);
        assert!(Bucket::new(t0, 0, 0).take(|| t0), "rate 0: no limit");
    }
}
