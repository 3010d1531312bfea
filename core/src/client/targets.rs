//! Which clusters a multi-cluster verb works on, as SkyPilot's commands take
//! them (`down -a`, `stop 'exp-*'`, `queue` with no name), and the job queues of
//! several clusters at once.

use crate::runtime::queue::JobRecord;
use crate::state::ClusterStatus;

use super::per_cluster::{ClusterPart, PerCluster};
use super::{Client, ClientError, ClientResult, is_cluster_pattern};

impl Client {
    /// The clusters a command such as `stop`, `start` or `down` works on: every
    /// cluster in local state with `all`, else the names and glob patterns given
    /// ([`Client::expand_cluster_names`]); neither is an error.
    pub fn cluster_targets(&self, patterns: &[String], all: bool) -> ClientResult<Vec<String>> {
        if all {
            return Ok(self
                .status(&[])?
                .into_iter()
                .map(|v| v.record.name)
                .collect());
        }
        if patterns.is_empty() {
            return Err(ClientError::Other(
                "name the clusters (glob patterns work), or pass --all".into(),
            ));
        }
        self.expand_cluster_names(patterns)
    }

    /// `aloft queue`'s answer: each cluster's job queue (finished jobs left out
    /// with `skip_finished`), for the clusters `patterns` name
    /// ([`Client::expand_cluster_names`]), or every UP cluster when none is given.
    /// One plain name is a [`Queues::single`] answer, and that cluster not being
    /// UP is an `Err`. Otherwise a cluster that is not UP is
    /// [`ClusterPart::Skipped`] beside the others' queues, and any other failure
    /// ends the answer ([`Queues::failure`]).
    pub fn queues_for(&self, patterns: &[String], skip_finished: bool) -> ClientResult<Queues> {
        if let [name] = patterns
            && !is_cluster_pattern(name)
        {
            let jobs = self.queue(name, skip_finished)?;
            return Ok(Queues {
                single: true,
                clusters: vec![(name.clone(), ClusterPart::Done(jobs))],
                failure: None,
            });
        }
        let names = if patterns.is_empty() {
            self.status(&[])?
                .into_iter()
                .filter(|v| v.record.status == ClusterStatus::Up)
                .map(|v| v.record.name)
                .collect()
        } else {
            self.expand_cluster_names(patterns)?
        };
        let parts = names.into_iter().map(|name| {
            let queue = self.queue(&name, skip_finished);
            (name, queue)
        });
        // A pattern may match stopped clusters: they have no queue to show.
        let not_up = |err: &ClientError| matches!(err, ClientError::ClusterNotUp { .. });
        Ok(PerCluster::gather(false, parts, not_up))
    }
}

/// [`Client::queues_for`]: the job queues of one cluster or several.
pub type Queues = PerCluster<Vec<JobRecord>>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::queue::JobStatus;
    use crate::state::ClusterRecord;

    fn job(id: u64) -> JobRecord {
        JobRecord::sample(id, JobStatus::Succeeded)
    }

    fn not_up(name: &str) -> ClientError {
        ClientError::ClusterNotUp {
            name: name.into(),
            status: ClusterStatus::Stopped,
            hint: "start it".into(),
        }
    }

    #[test]
    fn targets_need_a_name_or_all_and_queues_default_to_up_clusters() {
        let home = tempfile::tempdir().unwrap();
        let client = Client::builder().home(home.path()).open().unwrap();
        let err = client.cluster_targets(&[], false).unwrap_err();
        assert!(err.to_string().contains("or pass --all"), "{err}");
        assert!(client.cluster_targets(&[], true).unwrap().is_empty());
        let queues = client.queues_for(&[], false).unwrap();
        assert!(!queues.single && queues.clusters.is_empty());
        assert_eq!(serde_json::to_string(&queues).unwrap(), "{}");
        let err = client
            .queues_for(&["dev-*".to_string()], false)
            .unwrap_err();
        assert!(matches!(err, ClientError::NoClusterMatches { .. }), "{err}");
    }

    #[test]
    fn a_stopped_cluster_is_skipped_for_a_pattern_and_fails_a_plain_name() {
        let home = tempfile::tempdir().unwrap();
        let client = Client::builder().home(home.path()).open().unwrap();
        for name in ["dev-1", "dev-2"] {
            let record = ClusterRecord::sample(name, ClusterStatus::Stopped);
            client.state.upsert_cluster(&record).unwrap();
        }
        let queues = client.queues_for(&["dev-*".into()], false).unwrap();
        assert!(!queues.single && queues.failure.is_none());
        assert_eq!(queues.skipped().count(), 2);
        assert_eq!(serde_json::to_string(&queues).unwrap(), "{}");
        let err = client.queues_for(&["dev-1".into()], false).unwrap_err();
        assert!(matches!(err, ClientError::ClusterNotUp { .. }), "{err}");
    }

    #[test]
    fn queues_are_one_list_when_single_else_lists_by_cluster() {
        let single = Queues {
            single: true,
            clusters: vec![("dev".into(), ClusterPart::Done(vec![job(1)]))],
            failure: None,
        };
        assert_eq!(
            serde_json::to_value(&single).unwrap(),
            serde_json::to_value([job(1)]).unwrap()
        );
        let several = Queues {
            single: false,
            clusters: vec![
                ("b".into(), ClusterPart::Done(vec![job(2)])),
                ("c".into(), ClusterPart::Skipped(not_up("c"))),
                ("a".into(), ClusterPart::Done(Vec::new())),
            ],
            failure: None,
        };
        let job2 = serde_json::to_string(&job(2)).unwrap();
        assert_eq!(
            serde_json::to_string(&several).unwrap(),
            format!(r#"{{"a":[],"b":[{job2}]}}"#)
        );
        let skipped: Vec<String> = several.skipped().map(ToString::to_string).collect();
        assert_eq!(skipped, [not_up("c").to_string()]);
        assert!(several.into_result().is_ok());
        let failed = Queues {
            single: false,
            clusters: Vec::new(),
            failure: Some(ClientError::Other("boom".into())),
        };
        assert_eq!(failed.into_result().unwrap_err().to_string(), "boom");
    }
}
