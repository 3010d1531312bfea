//! Choices every front end makes the same way, decided here once: which managed
//! jobs a cancel means, which log of a service is read, whether a job's status is
//! a success, whether a reviewed component may be installed, what a launch with no
//! task does on an existing cluster, and a volume from its fields instead of a file.
//!
//! Where a choice names nothing (no job, no log), the answer is `None` and the
//! caller says, in its own words, what to name.

use crate::jobs::{CancelTarget, JobId};
use crate::runtime::queue::JobStatus;
use crate::state::ClusterRecord;
use crate::task::TaskSource;
use crate::volumes::{Volume, VolumeConfig, VolumeSpec};

use super::{Client, ClientError, ClientResult, ComponentReview, ServeLogs};

impl CancelTarget {
    /// The managed jobs a cancel means: every unfinished one with `all`, else
    /// those named `name`, else the `ids`; `None` when nothing is named.
    pub fn choose(ids: Vec<JobId>, name: Option<String>, all: bool) -> Option<CancelTarget> {
        match (ids.is_empty(), name, all) {
            (_, _, true) => Some(CancelTarget::All),
            (_, Some(name), false) => Some(CancelTarget::Name(name)),
            (false, None, false) => Some(CancelTarget::Ids(ids)),
            (true, None, false) => None,
        }
    }
}

impl ServeLogs {
    /// The log of a service a caller means: the replica's when one is named, else
    /// the load balancer's, else (with `controller`) the controller's history;
    /// `None` when nothing is named.
    pub fn choose(
        replica: Option<u64>,
        load_balancer: bool,
        controller: bool,
    ) -> Option<ServeLogs> {
        match (replica, load_balancer) {
            (Some(id), _) => Some(ServeLogs::Replica(id)),
            (None, true) => Some(ServeLogs::LoadBalancer),
            (None, false) if controller => Some(ServeLogs::Controller),
            (None, false) => None,
        }
    }
}

impl ComponentReview {
    /// Whether the reviewed component may be installed with `replace` (the user's
    /// word that it may replace the bundled provider of its name): refused with
    /// [`ClientError::ReplacesBundled`] when it would replace one without it. Asked
    /// before the user is asked to grant anything, so that nobody agrees to an
    /// install that is then refused.
    pub fn check_replace(&self, replace: bool) -> ClientResult<()> {
        if self.replaces_bundled && !replace {
            return Err(ClientError::ReplacesBundled {
                name: self.manifest.name.clone(),
            });
        }
        Ok(())
    }
}

/// A job's status read as a result: success only when it SUCCEEDED; a job still
/// pending or running, or one that ended otherwise, is
/// [`ClientError::JobNotSucceeded`] (class [`super::ErrorClass::JobFailed`]). For
/// a caller that asks "did it succeed?" without waiting (the CLI's `logs
/// --status`); [`super::job_end_result`] is the reading of a job being followed.
pub fn job_status_result(job: u64, status: JobStatus) -> ClientResult<()> {
    match status {
        JobStatus::Succeeded => Ok(()),
        other => Err(ClientError::JobNotSucceeded {
            job,
            status: other.to_string(),
        }),
    }
}

/// A volume from its fields, as a volume file would give them (no `config`, no
/// labels, not adopting an existing one); checked as a file is.
pub fn volume_from_fields(
    name: String,
    kind: String,
    infra: Option<String>,
    size: Option<String>,
) -> ClientResult<Volume> {
    Ok(Volume::from_spec(VolumeSpec {
        name,
        kind,
        infra,
        size: size.map(serde_yaml::Value::String),
        use_existing: None,
        config: VolumeConfig::default(),
        labels: Default::default(),
    })?)
}

impl Client {
    /// A launch given no task and the name of a cluster that exists has nothing to
    /// provision or run: that cluster's record, so that the caller says so instead
    /// of launching. `None` when there is a task, no name, or no such cluster.
    pub fn nothing_to_launch(
        &self,
        source: &TaskSource,
        cluster: Option<&str>,
    ) -> Option<ClusterRecord> {
        match (source, cluster) {
            (TaskSource::Nothing, Some(name)) => self.cluster(name).ok(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_managed_cancel_means_all_then_a_name_then_ids() {
        let pick = CancelTarget::choose;
        assert_eq!(
            pick(vec![3], Some("x".into()), true),
            Some(CancelTarget::All)
        );
        assert_eq!(
            pick(vec![3], Some("x".into()), false),
            Some(CancelTarget::Name("x".into()))
        );
        assert_eq!(
            pick(vec![3, 4], None, false),
            Some(CancelTarget::Ids(vec![3, 4]))
        );
        assert_eq!(pick(vec![], None, false), None);
    }

    #[test]
    fn a_service_log_is_a_replica_then_the_balancer_then_the_controller() {
        assert_eq!(
            ServeLogs::choose(Some(2), true, true),
            Some(ServeLogs::Replica(2))
        );
        assert_eq!(
            ServeLogs::choose(None, true, true),
            Some(ServeLogs::LoadBalancer)
        );
        assert_eq!(
            ServeLogs::choose(None, false, true),
            Some(ServeLogs::Controller)
        );
        assert_eq!(ServeLogs::choose(None, false, false), None);
    }

    #[test]
    fn only_a_succeeded_job_is_a_success() {
        assert!(job_status_result(7, JobStatus::Succeeded).is_ok());
        for status in [JobStatus::Running, JobStatus::Failed, JobStatus::Cancelled] {
            let err = job_status_result(7, status).unwrap_err();
            assert_eq!(err.class(), super::super::ErrorClass::JobFailed);
            assert_eq!(err.to_string(), format!("job 7 is {status}"));
        }
    }

    #[test]
    fn a_volume_from_fields_is_checked_as_a_file_is() {
        let volume = volume_from_fields(
            "data".into(),
            "k8s-pvc".into(),
            Some("k8s".into()),
            Some("10Gi".into()),
        )
        .unwrap();
        assert_eq!(volume.spec.name, "data");
        assert!(volume_from_fields("data".into(), "floppy".into(), None, None).is_err());
    }

    #[test]
    fn nothing_to_launch_only_without_a_task_on_an_existing_cluster() {
        let home = tempfile::tempdir().unwrap();
        let client = Client::builder().home(home.path()).open().unwrap();
        let record = ClusterRecord::sample("dev", crate::state::ClusterStatus::Up);
        client.state.upsert_cluster(&record).unwrap();
        let nothing = TaskSource::Nothing;
        assert_eq!(
            client
                .nothing_to_launch(&nothing, Some("dev"))
                .map(|r| r.name),
            Some("dev".to_string())
        );
        assert!(client.nothing_to_launch(&nothing, Some("other")).is_none());
        assert!(client.nothing_to_launch(&nothing, None).is_none());
        let command = TaskSource::Command("echo hi".into());
        assert!(client.nothing_to_launch(&command, Some("dev")).is_none());
    }
}
