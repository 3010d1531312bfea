//! [`ManagedJobStatus`]: SkyPilot's managed-job lifecycle.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a managed job is in its life. Names and meanings follow SkyPilot's
/// `ManagedJobStatus` (`sky/jobs/state.py`); the stored and displayed form is the
/// upper-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ManagedJobStatus {
    /// Submitted, waiting for the controller to launch it.
    Pending,
    /// Its cluster is being launched for the first time (or for the next task of a
    /// pipeline).
    Starting,
    /// The job runs on its cluster.
    Running,
    /// The cluster was preempted or the job is restarted after a failure: a new
    /// cluster is being launched.
    Recovering,
    /// Cancel was asked for; the controller tears the cluster down.
    Cancelling,
    /// Every task finished with exit code 0.
    Succeeded,
    /// Cancelled by the user.
    Cancelled,
    /// The user's `run` failed and no restart was left.
    Failed,
    /// The user's `setup` failed and no restart was left.
    FailedSetup,
    /// The task could not be launched at all (invalid for every cloud, bad
    /// credentials, ...).
    FailedPrechecks,
    /// No resources were found within the launch retry limit.
    FailedNoResource,
    /// The controller itself failed while managing the job.
    FailedController,
}

impl ManagedJobStatus {
    /// Every status, non-terminal ones first.
    pub const ALL: [ManagedJobStatus; 12] = [
        ManagedJobStatus::Pending,
        ManagedJobStatus::Starting,
        ManagedJobStatus::Running,
        ManagedJobStatus::Recovering,
        ManagedJobStatus::Cancelling,
        ManagedJobStatus::Succeeded,
        ManagedJobStatus::Cancelled,
        ManagedJobStatus::Failed,
        ManagedJobStatus::FailedSetup,
        ManagedJobStatus::FailedPrechecks,
        ManagedJobStatus::FailedNoResource,
        ManagedJobStatus::FailedController,
    ];

    /// The job is over: the controller will never act on it again.
    pub fn is_terminal(self) -> bool {
        !matches!(
            self,
            ManagedJobStatus::Pending
                | ManagedJobStatus::Starting
                | ManagedJobStatus::Running
                | ManagedJobStatus::Recovering
                | ManagedJobStatus::Cancelling
        )
    }

    /// The job ended in one of the `FAILED*` statuses.
    pub fn is_failed(self) -> bool {
        matches!(
            self,
            ManagedJobStatus::Failed
                | ManagedJobStatus::FailedSetup
                | ManagedJobStatus::FailedPrechecks
                | ManagedJobStatus::FailedNoResource
                | ManagedJobStatus::FailedController
        )
    }

    /// The failure is the user's code (as opposed to resources or the controller).
    pub fn is_user_failure(self) -> bool {
        matches!(
            self,
            ManagedJobStatus::Failed | ManagedJobStatus::FailedSetup
        )
    }

    /// A cluster may exist for the job right now (a launch may be in flight).
    pub fn may_hold_cluster(self) -> bool {
        matches!(
            self,
            ManagedJobStatus::Starting
                | ManagedJobStatus::Running
                | ManagedJobStatus::Recovering
                | ManagedJobStatus::Cancelling
        )
    }

    /// The upper-case name (`FAILED_NO_RESOURCE`).
    pub fn as_str(self) -> &'static str {
        match self {
            ManagedJobStatus::Pending => "PENDING",
            ManagedJobStatus::Starting => "STARTING",
            ManagedJobStatus::Running => "RUNNING",
            ManagedJobStatus::Recovering => "RECOVERING",
            ManagedJobStatus::Cancelling => "CANCELLING",
            ManagedJobStatus::Succeeded => "SUCCEEDED",
            ManagedJobStatus::Cancelled => "CANCELLED",
            ManagedJobStatus::Failed => "FAILED",
            ManagedJobStatus::FailedSetup => "FAILED_SETUP",
            ManagedJobStatus::FailedPrechecks => "FAILED_PRECHECKS",
            ManagedJobStatus::FailedNoResource => "FAILED_NO_RESOURCE",
            ManagedJobStatus::FailedController => "FAILED_CONTROLLER",
        }
    }
}

impl fmt::Display for ManagedJobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ManagedJobStatus {
    type Err = String;

    /// Parses the upper-case name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ManagedJobStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown managed job status `{s}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_terminal_split() {
        for st in ManagedJobStatus::ALL {
            assert_eq!(st.as_str().parse::<ManagedJobStatus>(), Ok(st));
            assert_eq!(
                serde_json::to_string(&st).ok(),
                Some(format!("\"{}\"", st.as_str()))
            );
        }
        let terminal: Vec<_> = ManagedJobStatus::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(terminal.len(), 7);
        assert!(ManagedJobStatus::FailedNoResource.is_failed());
        assert!(!ManagedJobStatus::Cancelled.is_failed());
        assert!(!ManagedJobStatus::Cancelling.is_terminal());
        assert!("RUNNIN".parse::<ManagedJobStatus>().is_err());
    }
}
