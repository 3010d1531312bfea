//! How many replicas a service wants: SkyServe's request-rate autoscaler
//! (`ceil(qps / target_qps_per_replica)` within `[min, max]`, plus
//! `num_overprovision`) with its hysteresis: a higher target must hold for the
//! upscale delay and a lower one for the downscale delay before the count moves.
//! With `min_replicas: 0` a quiet service scales to zero, and the first requests
//! (answered 503 meanwhile) bring a replica up at once.

use std::time::{Duration, Instant};

use super::ServicePlan;

/// The autoscaler of one service.
#[derive(Debug, Clone)]
pub struct Autoscaler {
    min: u32,
    max: u32,
    overprovision: u32,
    target_qps: Option<f64>,
    upscale_delay: Duration,
    downscale_delay: Duration,
    current: u32,
    /// The target that differs from `current` and since when it has held.
    pending: Option<(u32, Instant)>,
}

impl Autoscaler {
    /// Starts at `min_replicas` (plus overprovision).
    pub fn new(plan: &ServicePlan) -> Autoscaler {
        Autoscaler {
            min: plan.min_replicas,
            max: plan.max_replicas,
            overprovision: plan.num_overprovision,
            target_qps: plan.target_qps_per_replica,
            upscale_delay: plan.upscale_delay,
            downscale_delay: plan.downscale_delay,
            current: plan.min_replicas + plan.num_overprovision,
            pending: None,
        }
    }

    /// The replica count asked for right now, without hysteresis.
    pub fn raw_target(&self, qps: f64) -> u32 {
        let wanted = match self.target_qps {
            Some(per_replica) if qps.is_finite() && qps > 0.0 => {
                let n = (qps / per_replica).ceil();
                if n >= f64::from(self.max) {
                    self.max
                } else {
                    // In range [0, max), so the cast is exact.
                    n as u32
                }
            }
            _ => self.min,
        };
        wanted.clamp(self.min, self.max) + self.overprovision
    }

    /// Feeds the request rate measured `now`; returns the replica count to keep.
    pub fn decide(&mut self, qps: f64, now: Instant) -> u32 {
        let raw = self.raw_target(qps);
        if raw == self.current {
            self.pending = None;
            return self.current;
        }
        // From no replica at all (scaled to zero), a request waits on a cold
        // start: scale up at once, as SkyServe does.
        if self.current == 0 && raw > 0 {
            self.current = raw;
            self.pending = None;
            return self.current;
        }
        let since = match self.pending {
            Some((target, since)) if (target > self.current) == (raw > self.current) => since,
            _ => now,
        };
        self.pending = Some((raw, since));
        let delay = if raw > self.current {
            self.upscale_delay
        } else {
            self.downscale_delay
        };
        if now.duration_since(since) >= delay {
            self.current = raw;
            self.pending = None;
        }
        self.current
    }

    /// The count kept now.
    pub fn current(&self) -> u32 {
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::Probe;

    fn plan(min: u32, max: u32, qps: Option<f64>) -> ServicePlan {
        ServicePlan {
            probe: Probe {
                path: "/".into(),
                post_data: None,
                headers: Default::default(),
                initial_delay: Duration::from_secs(1),
                timeout: Duration::from_secs(1),
                interval: Duration::from_secs(1),
                failure_timeout: Duration::from_secs(1),
            },
            min_replicas: min,
            max_replicas: max,
            num_overprovision: 0,
            target_qps_per_replica: qps,
            upscale_delay: Duration::from_secs(10),
            downscale_delay: Duration::from_secs(30),
            base_ondemand_fallback_replicas: 0,
            dynamic_ondemand_fallback: false,
            load_balancing_policy: "least_load".into(),
            replica_port: 8080,
            tls: None,
            stream_timeout: Duration::from_secs(120),
            use_spot: false,
        }
    }

    #[test]
    fn the_target_follows_the_rate_within_bounds() {
        let a = Autoscaler::new(&plan(1, 3, Some(2.0)));
        assert_eq!(a.raw_target(0.0), 1);
        assert_eq!(a.raw_target(3.9), 2);
        assert_eq!(a.raw_target(4.1), 3);
        assert_eq!(a.raw_target(1e9), 3);
        assert_eq!(a.raw_target(f64::NAN), 1);
    }

    #[test]
    fn a_change_waits_for_its_delay_and_a_blip_resets_it() {
        let t0 = Instant::now();
        let mut a = Autoscaler::new(&plan(1, 3, Some(2.0)));
        assert_eq!(a.decide(10.0, t0), 1);
        assert_eq!(a.decide(10.0, t0 + Duration::from_secs(9)), 1);
        // The rate drops for a moment: the upscale clock starts again.
        assert_eq!(a.decide(0.0, t0 + Duration::from_secs(9)), 1);
        assert_eq!(a.decide(10.0, t0 + Duration::from_secs(12)), 1);
        assert_eq!(a.decide(10.0, t0 + Duration::from_secs(22)), 3);
        assert_eq!(a.decide(0.0, t0 + Duration::from_secs(30)), 3);
        assert_eq!(a.decide(0.0, t0 + Duration::from_secs(59)), 3);
        assert_eq!(a.decide(0.0, t0 + Duration::from_secs(60)), 1);
    }

    #[test]
    fn a_fixed_count_never_moves() {
        let t0 = Instant::now();
        let mut a = Autoscaler::new(&plan(2, 2, None));
        assert_eq!(a.decide(1000.0, t0), 2);
        assert_eq!(a.decide(1000.0, t0 + Duration::from_secs(3600)), 2);
    }

    #[test]
    fn from_zero_the_first_requests_scale_up_at_once_and_quiet_goes_back_to_zero() {
        let mut a = Autoscaler::new(&plan(0, 2, Some(5.0)));
        let t0 = Instant::now();
        assert_eq!(a.decide(0.0, t0), 0, "a quiet service keeps no replica");
        assert_eq!(a.decide(0.2, t0), 1, "no upscale delay from zero");
        // Quiet again from t0 + 1 s: down to zero once the 30 s delay has passed.
        assert_eq!(a.decide(0.0, t0 + Duration::from_secs(1)), 1);
        assert_eq!(a.decide(0.0, t0 + Duration::from_secs(30)), 1);
        assert_eq!(
            a.decide(0.0, t0 + Duration::from_secs(31)),
            0,
            "after the downscale delay"
        );
    }
}
