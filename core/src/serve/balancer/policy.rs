//! Which ready replica gets the next request.

/// How the balancer chooses among a service's ready replicas (the service spec's
/// `load_balancing_policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Each replica in turn.
    RoundRobin,
    /// The replica with the fewest requests in flight; replicas tied on that count
    /// take turns.
    LeastLoad,
}

impl Policy {
    /// The policy a service spec names: `round_robin` or `least_load`.
    /// SkyPilot's `instance_aware_least_load` weighs replicas by their accelerator;
    /// every replica of an aloft service runs the same resources, so it is
    /// `least_load` here. `None` for any other name.
    pub fn from_name(name: &str) -> Option<Policy> {
        match name {
            "round_robin" => Some(Policy::RoundRobin),
            "least_load" | "instance_aware_least_load" => Some(Policy::LeastLoad),
            _ => None,
        }
    }

    /// Picks one of `n` replicas, index `i` eligible when `eligible(i)` and
    /// carrying `load(i)` requests. `cursor` is where the round starts: it
    /// advances past each pick, so round robin visits every replica in turn and
    /// least load rotates among the replicas tied for the fewest requests.
    ///
    /// Each load is read once: counts go down while this runs (requests end
    /// without the replica set's lock), and a second reading could disagree with
    /// the first.
    pub(super) fn pick(
        self,
        n: usize,
        cursor: &mut usize,
        eligible: impl Fn(usize) -> bool,
        load: impl Fn(usize) -> u64,
    ) -> Option<usize> {
        if n == 0 {
            return None;
        }
        let start = *cursor % n;
        let mut rotation = (0..n)
            .map(|step| (start + step) % n)
            .filter(|&i| eligible(i));
        let chosen = match self {
            Policy::RoundRobin => rotation.next()?,
            // The first in rotation order among the least loaded.
            Policy::LeastLoad => {
                rotation
                    .map(|i| (load(i), i))
                    .min_by_key(|(load, _)| *load)?
                    .1
            }
        };
        *cursor = (chosen + 1) % n;
        Some(chosen)
    }
}
