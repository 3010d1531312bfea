//! Recovery as pure logic: which strategy a task asked for, and what to do next
//! given what the controller observed. No I/O here, so every rule is testable as a
//! table.
//!
//! The rules are SkyPilot's (`sky/jobs/recovery_strategy.py`):
//! - `EAGER_NEXT_REGION` (default): on preemption tear down at once and relaunch
//!   with the region just lost blocked (unless the task pinned a region), then
//!   unconstrained.
//! - `FAILOVER`: relaunch in the same cloud and region first, then anywhere.
//! - A user failure (cluster up, job failed) restarts when an exit code is in
//!   `recover_on_exit_codes` (not counted), or while the restarts so far are fewer
//!   than `max_restarts_on_errors`; otherwise the job ends `FAILED` (`FAILED_SETUP`
//!   when setup failed). A restart relaunches through the strategy, as SkyPilot's
//!   `recover()` does.
//! - Launch failures back off; at the attempt limit the job ends
//!   `FAILED_NO_RESOURCE`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::status::ManagedJobStatus;
use crate::task::JobRecovery;

/// A place a cluster ran (or may not run): cloud and region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Location {
    /// Lower-case cloud (provider) name.
    pub cloud: String,
    /// Region.
    pub region: String,
    /// Zone, when the cloud has zones and one is known.
    pub zone: Option<String>,
}

impl Location {
    /// A location without a zone.
    pub fn new(cloud: impl Into<String>, region: impl Into<String>) -> Location {
        Location {
            cloud: cloud.into(),
            region: region.into(),
            zone: None,
        }
    }

    /// The same cloud and region, zone dropped (what strategies block or pin).
    pub fn region_only(&self) -> Location {
        Location::new(self.cloud.clone(), self.region.clone())
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.cloud, self.region)?;
        if let Some(z) = &self.zone {
            write!(f, "/{z}")?;
        }
        Ok(())
    }
}

/// Extra placement constraints for one launch, on top of the task's own resources.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchConstraints {
    /// Do not launch in these cloud+regions.
    pub blocked: Vec<Location>,
    /// Launch only in this cloud+region (any zone).
    pub pinned: Option<Location>,
}

impl LaunchConstraints {
    /// No constraint beyond the task's resources.
    pub fn is_unconstrained(&self) -> bool {
        self.blocked.is_empty() && self.pinned.is_none()
    }
}

impl fmt::Display for LaunchConstraints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_unconstrained() {
            return f.write_str("anywhere the task allows");
        }
        if let Some(p) = &self.pinned {
            write!(f, "only in {p}")?;
        }
        if !self.blocked.is_empty() {
            let b: Vec<String> = self.blocked.iter().map(ToString::to_string).collect();
            if self.pinned.is_some() {
                f.write_str(", ")?;
            }
            write!(f, "not in {}", b.join(", "))?;
        }
        Ok(())
    }
}

/// A recovery strategy (`job_recovery.strategy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecoveryStrategy {
    /// Relaunch in another region first (the default).
    #[default]
    EagerNextRegion,
    /// Relaunch in the same region first.
    Failover,
}

impl RecoveryStrategy {
    /// The upper-case name used in task files.
    pub fn as_str(self) -> &'static str {
        match self {
            RecoveryStrategy::EagerNextRegion => "EAGER_NEXT_REGION",
            RecoveryStrategy::Failover => "FAILOVER",
        }
    }
}

impl fmt::Display for RecoveryStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RecoveryStrategy {
    type Err = RecoveryError;

    /// Parses a strategy name, case-insensitively (SkyPilot upper-cases it).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "EAGER_NEXT_REGION" => Ok(RecoveryStrategy::EagerNextRegion),
            "FAILOVER" => Ok(RecoveryStrategy::Failover),
            _ => Err(RecoveryError::UnknownStrategy(s.to_string())),
        }
    }
}

/// A recovery setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecoveryError {
    /// Not `EAGER_NEXT_REGION` or `FAILOVER`.
    #[error("unknown job recovery strategy `{0}`; expected EAGER_NEXT_REGION or FAILOVER")]
    UnknownStrategy(String),
    /// A count below zero.
    #[error("`{what}` must be 0 or more, got {value}")]
    Negative {
        /// Which setting.
        what: &'static str,
        /// The value given.
        value: i64,
    },
    /// An exit code outside 0..=255.
    #[error("recover_on_exit_codes: {0} is not an exit code (0-255)")]
    ExitCode(i64),
}

/// How one task recovers: the strategy and the restart rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryPolicy {
    /// How to relaunch.
    pub strategy: RecoveryStrategy,
    /// Restarts allowed after the user's code failed.
    pub max_restarts_on_errors: u32,
    /// Exit codes that always restart (without counting against the limit).
    pub recover_on_exit_codes: Vec<u8>,
}

impl RecoveryPolicy {
    /// The policy of a parsed `job_recovery` block (`None`: the defaults).
    pub fn from_job_recovery(jr: Option<&JobRecovery>) -> Result<RecoveryPolicy, RecoveryError> {
        let Some(jr) = jr else {
            return Ok(RecoveryPolicy::default());
        };
        Ok(RecoveryPolicy {
            strategy: match &jr.strategy {
                Some(s) => s.parse()?,
                None => RecoveryStrategy::default(),
            },
            max_restarts_on_errors: jr.max_restarts_on_errors,
            recover_on_exit_codes: jr.recover_on_exit_codes.clone(),
        })
    }

    /// A policy from raw values (a CLI flag, an API request): checks the strategy
    /// name, that the restart count is not negative and that exit codes are 0-255.
    pub fn from_parts(
        strategy: Option<&str>,
        max_restarts_on_errors: i64,
        recover_on_exit_codes: &[i64],
    ) -> Result<RecoveryPolicy, RecoveryError> {
        let strategy = match strategy {
            Some(s) => s.parse()?,
            None => RecoveryStrategy::default(),
        };
        let max_restarts_on_errors = if max_restarts_on_errors < 0 {
            return Err(RecoveryError::Negative {
                what: "max_restarts_on_errors",
                value: max_restarts_on_errors,
            });
        } else {
            u32::try_from(max_restarts_on_errors).unwrap_or(u32::MAX)
        };
        let recover_on_exit_codes = recover_on_exit_codes
            .iter()
            .map(|&c| u8::try_from(c).map_err(|_| RecoveryError::ExitCode(c)))
            .collect::<Result<Vec<u8>, _>>()?;
        Ok(RecoveryPolicy {
            strategy,
            max_restarts_on_errors,
            recover_on_exit_codes,
        })
    }
}

/// How launch attempts are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchRetry {
    /// Wait after the first failed unconstrained attempt; doubles per attempt.
    pub initial_backoff: Duration,
    /// The wait never grows beyond this.
    pub max_backoff: Duration,
    /// Failed attempts in one launch sequence before the job ends
    /// `FAILED_NO_RESOURCE` (at least 1).
    pub max_attempts: u32,
}

impl Default for LaunchRetry {
    /// SkyPilot's numbers: a 60 s gap, 240 attempts (about four hours).
    fn default() -> Self {
        LaunchRetry {
            initial_backoff: Duration::from_secs(60),
            max_backoff: Duration::from_secs(60),
            max_attempts: 240,
        }
    }
}

impl LaunchRetry {
    /// The wait before retry number `n` (1 = the first retry).
    pub fn backoff(&self, n: u32) -> Duration {
        let factor = 1u32 << n.saturating_sub(1).min(16);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// What the controller observed about a task's cluster and job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// The cluster is gone or no longer up while the job was running: preemption
    /// (or a cloud-side failure, which is recovered the same way).
    Preempted,
    /// The cluster is up and the user's job failed.
    JobFailed {
        /// Exit codes of the job's processes (one per node; may be empty when
        /// unknown).
        exit_codes: Vec<i32>,
        /// The failure was in `setup`, not `run`.
        in_setup: bool,
    },
}

/// Why a task is launched again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelaunchReason {
    /// The cluster was preempted.
    Preemption,
    /// The user's code failed and a restart was left (counted).
    RestartOnError,
    /// The user's code exited with one of `recover_on_exit_codes` (not counted).
    RecoverOnExitCode(i32),
}

/// What to do after an [`Observation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Tear the cluster down and launch the task again, through the strategy.
    Relaunch(RelaunchReason),
    /// Tear the cluster down and end the job.
    End {
        /// The final status.
        status: ManagedJobStatus,
        /// Why, for the user.
        reason: String,
    },
}

/// Decides what follows an observation, given the task's policy and how many
/// counted restarts it already had.
pub fn decide(policy: &RecoveryPolicy, restarts_so_far: u32, observed: &Observation) -> Decision {
    match observed {
        Observation::Preempted => Decision::Relaunch(RelaunchReason::Preemption),
        Observation::JobFailed {
            exit_codes,
            in_setup,
        } => {
            if let Some(&code) = exit_codes.iter().find(|&&c| {
                u8::try_from(c).is_ok_and(|c| policy.recover_on_exit_codes.contains(&c))
            }) {
                return Decision::Relaunch(RelaunchReason::RecoverOnExitCode(code));
            }
            if restarts_so_far < policy.max_restarts_on_errors {
                return Decision::Relaunch(RelaunchReason::RestartOnError);
            }
            let what = if *in_setup { "setup" } else { "run" };
            let codes = if exit_codes.is_empty() {
                String::new()
            } else {
                let c: Vec<String> = exit_codes.iter().map(ToString::to_string).collect();
                format!(" with exit code {}", c.join(", "))
            };
            let restarts = if policy.max_restarts_on_errors > 0 {
                format!(" after {restarts_so_far} restart(s)")
            } else {
                String::new()
            };
            Decision::End {
                status: if *in_setup {
                    ManagedJobStatus::FailedSetup
                } else {
                    ManagedJobStatus::Failed
                },
                reason: format!("the task's {what} failed{codes}{restarts}"),
            }
        }
    }
}

/// The next launch attempt of a sequence: where, and after how long a wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchPlan {
    /// Constraints for this attempt.
    pub constraints: LaunchConstraints,
    /// Wait this long before launching.
    pub delay: Duration,
}

/// Plans attempt `failed_so_far` (0 = the first) of a launch sequence.
///
/// `lost` is where the task ran before, when this sequence recovers it (`None` for
/// a first launch); `region_pinned` is true when the task itself names a region,
/// which EAGER_NEXT_REGION then never blocks. Returns `None` when the attempts are
/// used up: the job ends `FAILED_NO_RESOURCE`.
pub fn plan_launch(
    strategy: RecoveryStrategy,
    lost: Option<&Location>,
    region_pinned: bool,
    failed_so_far: u32,
    retry: &LaunchRetry,
) -> Option<LaunchPlan> {
    if failed_so_far >= retry.max_attempts.max(1) {
        return None;
    }
    let first = strategy_constraints(strategy, lost, region_pinned);
    let constrained_first = !first.is_unconstrained();
    if failed_so_far == 0 {
        return Some(LaunchPlan {
            constraints: first,
            delay: Duration::ZERO,
        });
    }
    // The constrained attempt failing says nothing about the unconstrained one, so
    // that one goes at once; only failures of the unconstrained request back off.
    let unconstrained_failures = failed_so_far - u32::from(constrained_first);
    Some(LaunchPlan {
        constraints: LaunchConstraints::default(),
        delay: if unconstrained_failures == 0 {
            Duration::ZERO
        } else {
            retry.backoff(unconstrained_failures)
        },
    })
}

fn strategy_constraints(
    strategy: RecoveryStrategy,
    lost: Option<&Location>,
    region_pinned: bool,
) -> LaunchConstraints {
    let Some(lost) = lost else {
        return LaunchConstraints::default();
    };
    match strategy {
        RecoveryStrategy::EagerNextRegion if region_pinned => LaunchConstraints::default(),
        RecoveryStrategy::EagerNextRegion => LaunchConstraints {
            blocked: vec![lost.region_only()],
            pinned: None,
        },
        RecoveryStrategy::Failover => LaunchConstraints {
            blocked: Vec::new(),
            pinned: Some(lost.region_only()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max: u32, codes: &[u8]) -> RecoveryPolicy {
        RecoveryPolicy {
            strategy: RecoveryStrategy::EagerNextRegion,
            max_restarts_on_errors: max,
            recover_on_exit_codes: codes.to_vec(),
        }
    }

    fn failed(codes: &[i32], in_setup: bool) -> Observation {
        Observation::JobFailed {
            exit_codes: codes.to_vec(),
            in_setup,
        }
    }

    #[test]
    fn decisions_table() {
        use ManagedJobStatus as S;
        use RelaunchReason as R;
        // (policy, restarts so far, observation, expected relaunch reason or end status)
        let cases: Vec<(RecoveryPolicy, u32, Observation, Result<R, S>)> = vec![
            (policy(0, &[]), 0, Observation::Preempted, Ok(R::Preemption)),
            (policy(0, &[]), 9, Observation::Preempted, Ok(R::Preemption)),
            (policy(0, &[]), 0, failed(&[1], false), Err(S::Failed)),
            (policy(0, &[]), 0, failed(&[1], true), Err(S::FailedSetup)),
            (
                policy(2, &[]),
                0,
                failed(&[1], false),
                Ok(R::RestartOnError),
            ),
            (
                policy(2, &[]),
                1,
                failed(&[1], false),
                Ok(R::RestartOnError),
            ),
            (policy(2, &[]), 2, failed(&[1], false), Err(S::Failed)),
            (policy(2, &[]), 2, failed(&[1], true), Err(S::FailedSetup)),
            (
                policy(0, &[33]),
                0,
                failed(&[33], false),
                Ok(R::RecoverOnExitCode(33)),
            ),
            // exit-code restarts are not limited by the counter
            (
                policy(1, &[33]),
                50,
                failed(&[0, 33], false),
                Ok(R::RecoverOnExitCode(33)),
            ),
            (policy(0, &[33]), 0, failed(&[34], false), Err(S::Failed)),
            (policy(0, &[33]), 0, failed(&[], false), Err(S::Failed)),
            // a code outside 0-255 (a signal as reported by some runners) never matches
            (policy(0, &[1]), 0, failed(&[257], false), Err(S::Failed)),
        ];
        for (i, (p, restarts, obs, want)) in cases.into_iter().enumerate() {
            let got = decide(&p, restarts, &obs);
            match (want, &got) {
                (Ok(r), Decision::Relaunch(g)) => assert_eq!(r, *g, "case {i}"),
                (Err(s), Decision::End { status, reason }) => {
                    assert_eq!(s, *status, "case {i}");
                    assert!(reason.contains("failed"), "case {i}: {reason}");
                }
                (want, got) => panic!("case {i}: want {want:?}, got {got:?}"),
            }
        }
    }

    /// (strategy, lost, region pinned by task, failed so far, expected plan)
    type Case<'a> = (
        RecoveryStrategy,
        Option<&'a Location>,
        bool,
        u32,
        Option<(LaunchConstraints, Duration)>,
    );

    #[test]
    fn launch_plan_table() {
        let lost = Location {
            cloud: "aws".into(),
            region: "us-east-1".into(),
            zone: Some("us-east-1a".into()),
        };
        let region = Location::new("aws", "us-east-1");
        let retry = LaunchRetry {
            initial_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(25),
            max_attempts: 5,
        };
        let blocked = LaunchConstraints {
            blocked: vec![region.clone()],
            pinned: None,
        };
        let pinned = LaunchConstraints {
            blocked: vec![],
            pinned: Some(region.clone()),
        };
        let free = LaunchConstraints::default();
        let s = |n| Duration::from_secs(n);
        use RecoveryStrategy::{EagerNextRegion as Eager, Failover};
        // (strategy, lost, region pinned by task, failed so far, expected plan)
        let cases: Vec<Case> = vec![
            // first launch: nothing to block or pin
            (Eager, None, false, 0, Some((free.clone(), s(0)))),
            (Eager, None, false, 1, Some((free.clone(), s(10)))),
            (Eager, None, false, 2, Some((free.clone(), s(20)))),
            (Eager, None, false, 3, Some((free.clone(), s(25)))),
            (Eager, None, false, 5, None),
            // EAGER_NEXT_REGION: block the lost region, then anywhere at once, then back off
            (Eager, Some(&lost), false, 0, Some((blocked.clone(), s(0)))),
            (Eager, Some(&lost), false, 1, Some((free.clone(), s(0)))),
            (Eager, Some(&lost), false, 2, Some((free.clone(), s(10)))),
            (Eager, Some(&lost), false, 5, None),
            // ... unless the task pinned the region
            (Eager, Some(&lost), true, 0, Some((free.clone(), s(0)))),
            (Eager, Some(&lost), true, 1, Some((free.clone(), s(10)))),
            // FAILOVER: the same region first
            (
                Failover,
                Some(&lost),
                false,
                0,
                Some((pinned.clone(), s(0))),
            ),
            (Failover, Some(&lost), true, 0, Some((pinned.clone(), s(0)))),
            (Failover, Some(&lost), false, 1, Some((free.clone(), s(0)))),
            (Failover, Some(&lost), false, 3, Some((free.clone(), s(20)))),
        ];
        for (i, (st, lost, pin, n, want)) in cases.into_iter().enumerate() {
            let got = plan_launch(st, lost, pin, n, &retry).map(|p| (p.constraints, p.delay));
            assert_eq!(got, want, "case {i}");
        }
    }

    #[test]
    fn policy_parsing() {
        assert_eq!(
            "failover".parse::<RecoveryStrategy>(),
            Ok(RecoveryStrategy::Failover)
        );
        assert_eq!(
            "NEXT".parse::<RecoveryStrategy>(),
            Err(RecoveryError::UnknownStrategy("NEXT".into()))
        );
        assert_eq!(
            RecoveryPolicy::from_parts(None, -1, &[]),
            Err(RecoveryError::Negative {
                what: "max_restarts_on_errors",
                value: -1
            })
        );
        assert_eq!(
            RecoveryPolicy::from_parts(None, 0, &[256]),
            Err(RecoveryError::ExitCode(256))
        );
        let p = RecoveryPolicy::from_parts(Some("FAILOVER"), 3, &[33, 34]);
        assert_eq!(
            p,
            Ok(RecoveryPolicy {
                strategy: RecoveryStrategy::Failover,
                max_restarts_on_errors: 3,
                recover_on_exit_codes: vec![33, 34],
            })
        );
        let jr = JobRecovery {
            strategy: Some("BOGUS".into()),
            max_restarts_on_errors: 1,
            recover_on_exit_codes: vec![],
        };
        assert!(RecoveryPolicy::from_job_recovery(Some(&jr)).is_err());
        assert_eq!(
            RecoveryPolicy::from_job_recovery(None),
            Ok(RecoveryPolicy::default())
        );
        let msg = RecoveryError::UnknownStrategy("x".into()).to_string();
        assert!(msg.contains("EAGER_NEXT_REGION"), "{msg}");
    }
}
