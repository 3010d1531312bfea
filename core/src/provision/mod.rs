//! The failover engine: walk the optimizer's ranked candidates, ask the provider for
//! instances, and on a typed error block what the error says (a zone, a region for
//! an instance type, a whole provider), re-optimize and try again.
//!
//! Failover is data: a provider answers with an error *kind*, and this module maps
//! each kind to what gets blocked — never by matching message text.
//!
//! | kind | what happens |
//! | --- | --- |
//! | `capacity` | block the zone (the region when the offer has no zone) |
//! | `quota` | block the region for that instance type |
//! | `auth` | block the whole provider |
//! | `transient` | retry the same candidate with backoff, then block its zone |
//! | `unsupported`, `other` | block that exact candidate |
//! | `invalid` | stop: the request itself is wrong |

use std::time::Duration;

use serde::Serialize;
use thiserror::Error;

use crate::catalog::Catalog;
use crate::optimizer::{
    BlockedSpec, Candidate, OptTask, OptimizeError, OptimizeOptions, optimize_task,
};

/// What kind of failure a provider reported (mirrors the WIT `error-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureKind {
    /// No capacity in the zone.
    Capacity,
    /// A quota or limit was hit.
    Quota,
    /// Credentials missing, wrong or expired.
    Auth,
    /// The provider cannot do this.
    Unsupported,
    /// Try again later.
    Transient,
    /// The request is wrong.
    Invalid,
    /// Anything else.
    Other,
}

impl FailureKind {
    /// The WIT name (`capacity`, `quota`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Capacity => "capacity",
            FailureKind::Quota => "quota",
            FailureKind::Auth => "auth",
            FailureKind::Unsupported => "unsupported",
            FailureKind::Transient => "transient",
            FailureKind::Invalid => "invalid",
            FailureKind::Other => "other",
        }
    }
}

/// A provider's typed failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// What kind.
    pub kind: FailureKind,
    /// The cloud's own code.
    pub code: String,
    /// The cloud's message (never holds secrets).
    pub message: String,
}

/// Creates and destroys a cluster's instances on some provider.
pub trait Provisioner {
    /// What a successful launch returns (instances, IPs, ...).
    type Nodes;

    /// Creates (or resumes) the cluster's nodes on `candidate` and returns them
    /// once they accept connections: nodes that never do are this candidate's
    /// failure (so failover moves on), and the launch does not wait for them again.
    fn run(&mut self, candidate: &Candidate, num_nodes: u32) -> Result<Self::Nodes, Failure>;

    /// Destroys whatever a failed `run` on `candidate` left behind.
    fn clean_up(&mut self, candidate: &Candidate) -> Result<(), Failure>;
}

/// One try on one candidate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    /// Where.
    pub candidate: Candidate,
    /// Why it failed (`None`: it succeeded).
    pub failure: Option<Failure>,
}

impl Attempt {
    /// `aws us-east-1/use1-az1 p4d.24xlarge: capacity (InsufficientInstanceCapacity: ...)`
    pub fn summary(&self) -> String {
        let c = &self.candidate;
        let place = match &c.zone {
            Some(zone) => format!("{}/{zone}", c.region),
            None => c.region.clone(),
        };
        let outcome = match &self.failure {
            None => "ok".to_string(),
            Some(f) => format!("{} ({}: {})", f.kind.as_str(), f.code, f.message),
        };
        let market = if c.use_spot { " [spot]" } else { "" };
        format!("{} {place} {}{market}: {outcome}", c.cloud, c.instance_type)
    }
}

/// Why provisioning gave up.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ProvisionError {
    /// Every candidate failed (or none was left); each attempt and why.
    #[error("could not provision: every candidate failed\n{}", attempts_text(.attempts, .last))]
    Exhausted {
        /// The attempts, in order.
        attempts: Vec<Attempt>,
        /// What the optimizer said when nothing was left.
        last: Option<OptimizeError>,
    },
    /// A provider said the request itself is invalid: retrying elsewhere is useless.
    #[error("the provider rejected the request: {code}: {message}\n{}", attempts_text(.attempts, &None))]
    Invalid {
        /// The provider's code.
        code: String,
        /// Its message.
        message: String,
        /// The attempts so far.
        attempts: Vec<Attempt>,
    },
    /// The optimizer found nothing before any attempt.
    #[error(transparent)]
    Optimize(#[from] OptimizeError),
}

fn attempts_text(attempts: &[Attempt], last: &Option<OptimizeError>) -> String {
    let mut lines: Vec<String> = attempts
        .iter()
        .enumerate()
        .map(|(i, a)| format!("  {}. {}", i + 1, a.summary()))
        .collect();
    if attempts.is_empty() {
        lines.push("  (no attempt was made)".into());
    }
    if let Some(err) = last {
        lines.push(format!("  then: {err}"));
    }
    lines.join("\n")
}

/// How hard to try.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries of one candidate after transient errors.
    pub transient_retries: u32,
    /// First backoff; doubles each retry.
    pub backoff: Duration,
    /// Upper bound on the attempts of one launch.
    pub max_attempts: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            transient_retries: 3,
            backoff: Duration::from_secs(2),
            max_attempts: 50,
        }
    }
}

/// A launch that succeeded.
#[derive(Debug)]
pub struct Provisioned<N> {
    /// Where it landed.
    pub candidate: Candidate,
    /// What the provider returned.
    pub nodes: N,
    /// Every attempt, the successful last.
    pub attempts: Vec<Attempt>,
}

/// Provisions `task`: optimize, try the best candidate, learn from its failure,
/// repeat. `on_attempt` sees each attempt as it ends (for progress and state).
pub fn provision<P: Provisioner>(
    catalog: &Catalog,
    task: &OptTask,
    options: &OptimizeOptions,
    provisioner: &mut P,
    policy: &RetryPolicy,
    mut on_attempt: impl FnMut(&Attempt),
) -> Result<Provisioned<P::Nodes>, ProvisionError> {
    let mut options = options.clone();
    let mut attempts: Vec<Attempt> = Vec::new();
    loop {
        let plan = match optimize_task(catalog, task, &options) {
            Ok(plan) => plan,
            Err(err) if attempts.is_empty() => return Err(err.into()),
            Err(err) => {
                return Err(ProvisionError::Exhausted {
                    attempts,
                    last: Some(err),
                });
            }
        };
        if attempts.len() >= policy.max_attempts {
            return Err(ProvisionError::Exhausted {
                attempts,
                last: None,
            });
        }
        let candidate = plan.chosen;
        let mut tries = 0;
        let failure = loop {
            match provisioner.run(&candidate, task.num_nodes) {
                Ok(nodes) => {
                    let attempt = Attempt {
                        candidate: candidate.clone(),
                        failure: None,
                    };
                    on_attempt(&attempt);
                    attempts.push(attempt);
                    return Ok(Provisioned {
                        candidate,
                        nodes,
                        attempts,
                    });
                }
                Err(f) if f.kind == FailureKind::Transient && tries < policy.transient_retries => {
                    std::thread::sleep(policy.backoff * 2u32.saturating_pow(tries));
                    tries += 1;
                }
                Err(f) => break f,
            }
        };
        // Partial success (some nodes created) must not leak: clean up before moving
        // on. A failing clean-up is recorded but does not stop failover.
        let cleanup = provisioner.clean_up(&candidate).err();
        let attempt = Attempt {
            candidate: candidate.clone(),
            failure: Some(match cleanup {
                None => failure.clone(),
                Some(c) => Failure {
                    message: format!("{}; clean-up also failed: {}", failure.message, c.message),
                    ..failure.clone()
                },
            }),
        };
        on_attempt(&attempt);
        attempts.push(attempt);
        if failure.kind == FailureKind::Invalid {
            return Err(ProvisionError::Invalid {
                code: failure.code,
                message: failure.message,
                attempts,
            });
        }
        options.blocklist.block(block_for(&candidate, failure.kind));
    }
}

/// What a failure of `kind` on `c` rules out.
pub fn block_for(c: &Candidate, kind: FailureKind) -> BlockedSpec {
    let cloud = Some(c.cloud.clone());
    match kind {
        FailureKind::Auth => BlockedSpec {
            cloud,
            ..BlockedSpec::default()
        },
        FailureKind::Quota => BlockedSpec {
            cloud,
            region: Some(c.region.clone()),
            instance_type: Some(c.instance_type.clone()),
            ..BlockedSpec::default()
        },
        FailureKind::Capacity | FailureKind::Transient => BlockedSpec {
            cloud,
            region: Some(c.region.clone()),
            zone: c.zone.clone(),
            ..BlockedSpec::default()
        },
        FailureKind::Unsupported | FailureKind::Other | FailureKind::Invalid => BlockedSpec {
            cloud,
            region: Some(c.region.clone()),
            zone: c.zone.clone(),
            instance_type: Some(c.instance_type.clone()),
            use_spot: Some(c.use_spot),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::task::{AcceleratorSpec, Infra, ResourceSet, Resources};

    /// Answers each run from a script keyed by zone (default: success), and counts
    /// clean-ups. Stands in for a cloud; the real `local` provider drives the
    /// end-to-end tests.
    #[derive(Default)]
    struct Scripted {
        by_zone: BTreeMap<String, Vec<Failure>>,
        by_cloud: BTreeMap<String, Failure>,
        runs: Vec<String>,
        cleanups: usize,
    }

    impl Provisioner for Scripted {
        type Nodes = String;

        fn run(&mut self, c: &Candidate, _: u32) -> Result<String, Failure> {
            let zone = c.zone.clone().unwrap_or_else(|| c.region.clone());
            self.runs.push(format!("{}:{zone}", c.cloud));
            if let Some(f) = self.by_cloud.get(&c.cloud) {
                return Err(f.clone());
            }
            match self
                .by_zone
                .get_mut(&zone)
                .and_then(|v| (!v.is_empty()).then(|| v.remove(0)))
            {
                Some(f) => Err(f),
                None => Ok(zone),
            }
        }

        fn clean_up(&mut self, _: &Candidate) -> Result<(), Failure> {
            self.cleanups += 1;
            Ok(())
        }
    }

    fn fail(kind: FailureKind) -> Failure {
        Failure {
            kind,
            code: format!("{kind:?}Code"),
            message: "nope".into(),
        }
    }

    fn t4_in_us_west_2() -> OptTask {
        OptTask {
            name: None,
            num_nodes: 1,
            resources: ResourceSet::AnyOf(vec![Resources {
                infra: Infra {
                    cloud: Some("aws".into()),
                    region: Some("us-west-2".into()),
                    zone: None,
                },
                accelerators: Some(AcceleratorSpec::Named {
                    name: "T4".into(),
                    count: 1.0,
                }),
                ..Resources::default()
            }]),
            estimated_hours: None,
        }
    }

    fn options(catalog: &Catalog) -> OptimizeOptions {
        OptimizeOptions {
            enabled_clouds: catalog.clouds(),
            ..OptimizeOptions::default()
        }
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            transient_retries: 2,
            backoff: Duration::from_millis(1),
            max_attempts: 20,
        }
    }

    #[test]
    fn capacity_errors_move_to_the_next_zone_and_are_reported() {
        let catalog = Catalog::embedded().unwrap();
        let mut p = Scripted::default();
        p.by_zone
            .insert("usw2-az1".into(), vec![fail(FailureKind::Capacity)]);
        p.by_zone
            .insert("usw2-az2".into(), vec![fail(FailureKind::Capacity)]);
        let mut seen = Vec::new();
        let done = provision(
            &catalog,
            &t4_in_us_west_2(),
            &options(&catalog),
            &mut p,
            &fast(),
            |a| seen.push(a.summary()),
        )
        .unwrap();
        assert_eq!(done.nodes, "usw2-az3");
        assert_eq!(p.runs, ["aws:usw2-az1", "aws:usw2-az2", "aws:usw2-az3"]);
        assert_eq!(p.cleanups, 2, "each failed attempt is cleaned up");
        assert_eq!(seen.len(), 3);
        assert!(
            seen[0].starts_with("aws us-west-2/usw2-az1 g4dn.xlarge: capacity (CapacityCode"),
            "{}",
            seen[0]
        );
        assert!(seen[2].ends_with(": ok"));
    }

    #[test]
    fn transient_errors_are_retried_in_place() {
        let catalog = Catalog::embedded().unwrap();
        let mut p = Scripted::default();
        p.by_zone.insert(
            "usw2-az1".into(),
            vec![fail(FailureKind::Transient), fail(FailureKind::Transient)],
        );
        let done = provision(
            &catalog,
            &t4_in_us_west_2(),
            &options(&catalog),
            &mut p,
            &fast(),
            |_| {},
        )
        .unwrap();
        assert_eq!(done.nodes, "usw2-az1");
        assert_eq!(p.runs.len(), 3);
        assert_eq!(done.attempts.len(), 1);
    }

    #[test]
    fn an_auth_error_blocks_the_provider_and_exhaustion_lists_every_attempt() {
        let catalog = Catalog::embedded().unwrap();
        let mut p = Scripted::default();
        p.by_cloud.insert("aws".into(), fail(FailureKind::Auth));
        let err = provision(
            &catalog,
            &t4_in_us_west_2(),
            &options(&catalog),
            &mut p,
            &fast(),
            |_| {},
        )
        .unwrap_err();
        assert_eq!(p.runs.len(), 1, "one auth failure rules out all of aws");
        let text = err.to_string();
        assert!(
            text.starts_with("could not provision: every candidate failed"),
            "{text}"
        );
        assert!(
            text.contains("1. aws us-west-2/usw2-az1 g4dn.xlarge: auth (AuthCode: nope)"),
            "{text}"
        );
        assert!(text.contains("the failover blocklist"), "{text}");
    }

    #[test]
    fn an_invalid_request_stops_at_once() {
        let catalog = Catalog::embedded().unwrap();
        let mut p = Scripted::default();
        p.by_zone
            .insert("usw2-az1".into(), vec![fail(FailureKind::Invalid)]);
        let err = provision(
            &catalog,
            &t4_in_us_west_2(),
            &options(&catalog),
            &mut p,
            &fast(),
            |_| {},
        )
        .unwrap_err();
        assert!(matches!(err, ProvisionError::Invalid { ref attempts, .. } if attempts.len() == 1));
        assert_eq!(p.runs.len(), 1);
    }

    #[test]
    fn quota_blocks_the_region_for_that_instance_type_only() {
        let c = Candidate {
            cloud: "aws".into(),
            region: "us-west-2".into(),
            zone: Some("usw2-az1".into()),
            instance_type: "p4d.24xlarge".into(),
            accelerators: BTreeMap::new(),
            use_spot: false,
            vcpus: 96.0,
            memory_gib: 1152.0,
            hourly_price: 30.0,
        };
        let spec = block_for(&c, FailureKind::Quota);
        assert_eq!(spec.zone, None);
        assert_eq!(spec.instance_type.as_deref(), Some("p4d.24xlarge"));
        let other_zone = Candidate {
            zone: Some("usw2-az2".into()),
            ..c.clone()
        };
        assert!(spec.matches(&other_zone));
        let other_type = Candidate {
            instance_type: "g5.xlarge".into(),
            ..c
        };
        assert!(!spec.matches(&other_type));
    }
}
