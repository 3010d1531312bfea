//! Exact in-flight counts: one counter per replica, moved only by a guard.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One replica's count of requests in flight. Only [`InFlight`] changes it:
/// making a guard adds one and dropping that guard takes the same one back, so
/// the count is the number of live guards and cannot go below zero.
#[derive(Debug, Default)]
pub(super) struct Load {
    count: AtomicU64,
}

impl Load {
    /// The requests in flight now.
    pub(super) fn get(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }
}

/// One request in flight to one replica: counted from the moment the replica is
/// chosen until the guard drops, which is when the response body has been
/// passed on whole, or failed, or timed out, or the client went away (the server
/// drops the body then), or the attempt failed before any response.
#[derive(Debug)]
pub(super) struct InFlight {
    load: Arc<Load>,
}

impl InFlight {
    /// Counts one more request on `load`.
    pub(super) fn new(load: &Arc<Load>) -> InFlight {
        // Live guards cannot number anywhere near u64::MAX; saturate regardless.
        let _ = load
            .count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_add(1))
            });
        InFlight { load: load.clone() }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // This guard's own increment is still in the count, so the subtraction
        // cannot underflow; it is checked all the same, so that a bug would leave
        // zero rather than wrap around.
        let _ = self
            .load
            .count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}
