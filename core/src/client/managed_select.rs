//! Which managed jobs a caller means: the queue as filtered for showing, the
//! newest unfinished job (what `jobs logs` follows without an id), the jobs a
//! cancel would touch (what a confirmation names), and how a followed job's end
//! reads as a result ([`managed_job_end_result`]).

use crate::jobs::{CancelTarget, JobId, JobSummary, ManagedJobStatus};

use super::{Client, ClientError, ClientResult};

/// Which managed jobs [`Client::managed_queue`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManagedQueueFilter {
    /// Leave out finished jobs.
    pub skip_finished: bool,
    /// Only jobs with this name.
    pub name: Option<String>,
}

impl ManagedQueueFilter {
    /// Whether `job` passes the filter.
    pub fn matches(&self, job: &JobSummary) -> bool {
        (!self.skip_finished || !job.status.is_terminal())
            && self.name.as_ref().is_none_or(|n| &job.name == n)
    }
}

impl Client {
    /// The managed jobs `filter` lets through, newest first. Filtered here as well
    /// as asked for: a remote controller's own default decides what it answers.
    pub fn managed_queue(&self, filter: &ManagedQueueFilter) -> ClientResult<Vec<JobSummary>> {
        Ok(self
            .managed_jobs(!filter.skip_finished)?
            .into_iter()
            .filter(|j| filter.matches(j))
            .collect())
    }

    /// The newest managed job that has not finished (the latest submitted).
    pub fn newest_unfinished_managed_job(&self) -> ClientResult<JobId> {
        newest_unfinished(&self.managed_jobs(false)?)
            .ok_or_else(|| ClientError::Other("no managed job to show; give an id".into()))
    }

    /// The ids of the unfinished jobs a cancel of `target` would touch, for a
    /// confirmation to name. Empty when none matches, or when `target` names an
    /// id that does not exist: the cancel itself then refuses, saying why.
    pub fn managed_jobs_to_cancel(&self, target: &CancelTarget) -> ClientResult<Vec<JobId>> {
        Ok(to_cancel(&self.managed_jobs(true)?, target))
    }
}

fn newest_unfinished(jobs: &[JobSummary]) -> Option<JobId> {
    jobs.iter()
        .filter(|j| !j.status.is_terminal())
        .max_by_key(|j| (j.submitted_at, j.id))
        .map(|j| j.id)
}

fn to_cancel(jobs: &[JobSummary], target: &CancelTarget) -> Vec<JobId> {
    if let CancelTarget::Ids(ids) = target
        && ids.iter().any(|id| !jobs.iter().any(|j| j.id == *id))
    {
        return Vec::new();
    }
    jobs.iter()
        .filter(|j| !j.status.is_terminal())
        .filter(|j| match target {
            CancelTarget::All => true,
            CancelTarget::Name(name) => &j.name == name,
            CancelTarget::Ids(ids) => ids.contains(&j.id),
        })
        .map(|j| j.id)
        .collect()
}

/// How managed job `job`'s end reads as a result: `Ok` when it succeeded;
/// [`ClientError::NoResources`] (its reason) when no resources were found;
/// [`ClientError::ManagedJobEnded`] otherwise (of class
/// [`ErrorClass::JobCancelled`](super::ErrorClass::JobCancelled) when it was
/// cancelled, [`ErrorClass::JobFailed`](super::ErrorClass::JobFailed) else).
pub fn managed_job_end_result(job: &JobSummary) -> ClientResult<()> {
    match job.status {
        ManagedJobStatus::Succeeded => Ok(()),
        ManagedJobStatus::FailedNoResource => Err(ClientError::NoResources {
            message: job.failure_reason.clone().unwrap_or_default(),
            reasons: String::new(),
        }),
        status => Err(ClientError::ManagedJobEnded { id: job.id, status }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ErrorClass;

    fn job(id: JobId, name: &str, status: ManagedJobStatus, submitted_at: i64) -> JobSummary {
        JobSummary {
            id,
            name: name.into(),
            resources: String::new(),
            status,
            submitted_at,
            started_at: None,
            ended_at: None,
            task_index: 0,
            task_count: 1,
            recovery_count: 0,
            restarts_on_errors: 0,
            cluster_name: None,
            location: None,
            failure_reason: None,
        }
    }

    fn jobs() -> Vec<JobSummary> {
        vec![
            job(1, "a", ManagedJobStatus::Running, 10),
            job(2, "b", ManagedJobStatus::Pending, 30),
            job(3, "a", ManagedJobStatus::Succeeded, 40),
            job(4, "a", ManagedJobStatus::Pending, 20),
        ]
    }

    #[test]
    fn the_newest_unfinished_job_is_the_latest_submitted_that_runs() {
        assert_eq!(newest_unfinished(&jobs()), Some(2));
        assert_eq!(newest_unfinished(&jobs()[2..3]), None);
    }

    #[test]
    fn a_cancel_names_the_unfinished_jobs_it_touches() {
        let all = jobs();
        assert_eq!(to_cancel(&all, &CancelTarget::All), vec![1, 2, 4]);
        assert_eq!(to_cancel(&all, &CancelTarget::Name("a".into())), vec![1, 4]);
        assert_eq!(to_cancel(&all, &CancelTarget::Ids(vec![3, 4])), vec![4]);
        assert!(to_cancel(&all, &CancelTarget::Ids(vec![4, 9])).is_empty());
    }

    #[test]
    fn the_queue_filter_keeps_names_and_unfinished_jobs() {
        let filter = ManagedQueueFilter {
            skip_finished: true,
            name: Some("a".into()),
        };
        let kept: Vec<JobId> = jobs()
            .iter()
            .filter(|j| filter.matches(j))
            .map(|j| j.id)
            .collect();
        assert_eq!(kept, vec![1, 4]);
        assert!(
            jobs()
                .iter()
                .all(|j| ManagedQueueFilter::default().matches(j))
        );
    }

    #[test]
    fn a_managed_jobs_end_has_its_own_class() {
        let mut j = job(7, "a", ManagedJobStatus::Succeeded, 0);
        assert!(managed_job_end_result(&j).is_ok());
        j.status = ManagedJobStatus::Cancelled;
        let err = managed_job_end_result(&j).unwrap_err();
        assert_eq!(err.class(), ErrorClass::JobCancelled);
        assert_eq!(err.to_string(), "managed job 7 was cancelled");
        j.status = ManagedJobStatus::FailedSetup;
        let err = managed_job_end_result(&j).unwrap_err();
        assert_eq!(err.class(), ErrorClass::JobFailed);
        assert_eq!(err.to_string(), "managed job 7 ended FAILED_SETUP");
        j.status = ManagedJobStatus::FailedNoResource;
        j.failure_reason = Some("no offer".into());
        let err = managed_job_end_result(&j).unwrap_err();
        assert_eq!(err.class(), ErrorClass::NoResources);
        assert_eq!(err.to_string(), "no offer");
    }
}
