//! Requests received per second, over a sliding window of bounded memory.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The width of one bucket of arrivals.
const BUCKET: Duration = Duration::from_millis(100);
/// How many buckets are kept: five minutes of history (48 KiB).
const BUCKETS: usize = 3000;

/// Arrivals counted per 100 ms bucket in a ring covering the last five minutes,
/// and in total.
#[derive(Debug)]
pub(super) struct RequestRate {
    start: Instant,
    total: AtomicU64,
    /// `(bucket number since start, arrivals in it)`, at index number % BUCKETS; a
    /// slot holding an older number is stale and counts as empty.
    ring: Mutex<Vec<(u64, u64)>>,
}

impl RequestRate {
    pub(super) fn new() -> RequestRate {
        RequestRate {
            start: Instant::now(),
            total: AtomicU64::new(0),
            ring: Mutex::new(vec![(0, 0); BUCKETS]),
        }
    }

    fn bucket(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.start).as_nanos() / BUCKET.as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX)
    }

    /// Counts one arrival now.
    pub(super) fn record(&self) {
        self.record_at(Instant::now());
    }

    /// Counts one arrival at `at`.
    pub(super) fn record_at(&self, at: Instant) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let bucket = self.bucket(at);
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let slot = &mut ring[(bucket % BUCKETS as u64) as usize];
        if slot.0 != bucket {
            *slot = (bucket, 0);
        }
        slot.1 = slot.1.saturating_add(1);
    }

    /// Arrivals since the start.
    pub(super) fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Arrivals per second over the `window` before now.
    pub(super) fn per_second(&self, window: Duration) -> f64 {
        self.per_second_at(Instant::now(), window)
    }

    /// Arrivals per second over the `window` ending at `at`: the arrivals in the
    /// last ⌈window / 100 ms⌉ buckets (the current, partial one included) divided
    /// by that many buckets' time. A window over five minutes counts five
    /// minutes; a zero window has no rate.
    pub(super) fn per_second_at(&self, at: Instant, window: Duration) -> f64 {
        let buckets = window
            .as_nanos()
            .div_ceil(BUCKET.as_nanos())
            .min(BUCKETS as u128) as u64;
        if buckets == 0 {
            return 0.0;
        }
        let now = self.bucket(at);
        let oldest = now.saturating_sub(buckets - 1);
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let arrivals: u64 = ring
            .iter()
            .filter(|(bucket, _)| (oldest..=now).contains(bucket))
            .map(|(_, count)| count)
            .sum();
        arrivals as f64 * 1e9 / (buckets as f64 * BUCKET.as_nanos() as f64)
    }
}
