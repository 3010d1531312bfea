//! Which clusters a multi-cluster verb works on, as SkyPilot's commands take
//! them (`down -a`, `stop 'exp-*'`, `queue` with no name), and the job queues of
//! several clusters at once.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use crate::runtime::queue::JobRecord;
use crate::state::ClusterStatus;

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
    /// [`ClusterQueue::Skipped`] beside the others' queues, and any other failure
    /// ends the answer ([`Queues::failure`]).
    pub fn queues_for(&self, patterns: &[String], skip_finished: bool) -> ClientResult<Queues> {
        if let [name] = patterns
            && !is_cluster_pattern(name)
        {
            let jobs = self.queue(name, skip_finished)?;
            return Ok(Queues {
                single: true,
                clusters: vec![(name.clone(), ClusterQueue::Jobs(jobs))],
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
        let mut queues = Queues {
            single: false,
            clusters: Vec::new(),
            failure: None,
        };
        for name in names {
            let part = match self.queue(&name, skip_finished) {
                Ok(jobs) => ClusterQueue::Jobs(jobs),
                // A pattern may match stopped clusters: they have no queue to show.
                Err(err @ ClientError::ClusterNotUp { .. }) => ClusterQueue::Skipped(err),
                Err(err) => {
                    queues.failure = Some(err);
                    break;
                }
            };
            queues.clusters.push((name, part));
        }
        Ok(queues)
    }
}

/// One cluster's part of [`Queues`].
#[derive(Debug)]
pub enum ClusterQueue {
    /// The cluster's jobs.
    Jobs(Vec<JobRecord>),
    /// A cluster that is not UP: it has no queue to show, and why.
    Skipped(ClientError),
}

/// [`Client::queues_for`]: the job queues of one cluster or several. As JSON
/// it is the one cluster's job list when [`Queues::single`], else an object of
/// job lists by cluster name (skipped clusters left out).
#[derive(Debug)]
pub struct Queues {
    /// One cluster was named plainly (not a pattern): the answer is its list.
    pub single: bool,
    /// Each cluster asked, in the order named (or of the cluster list).
    pub clusters: Vec<(String, ClusterQueue)>,
    /// The failure that ended the answer, on the cluster after the last of
    /// [`Queues::clusters`]; the queues before it stand.
    pub failure: Option<ClientError>,
}

impl Queues {
    /// The job lists by cluster name, skipped clusters left out.
    pub fn by_cluster(&self) -> BTreeMap<&str, &[JobRecord]> {
        self.clusters
            .iter()
            .filter_map(|(name, part)| match part {
                ClusterQueue::Jobs(jobs) => Some((name.as_str(), jobs.as_slice())),
                ClusterQueue::Skipped(_) => None,
            })
            .collect()
    }

    /// Why each skipped cluster was skipped, in order.
    pub fn skipped(&self) -> impl Iterator<Item = &ClientError> {
        self.clusters.iter().filter_map(|(_, part)| match part {
            ClusterQueue::Skipped(err) => Some(err),
            ClusterQueue::Jobs(_) => None,
        })
    }

    /// The answer, or its [`Queues::failure`] as an `Err`.
    pub fn into_result(mut self) -> ClientResult<Self> {
        match self.failure.take() {
            Some(err) => Err(err),
            None => Ok(self),
        }
    }
}

impl Serialize for Queues {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let by_cluster = self.by_cluster();
        if self.single {
            let jobs = by_cluster.into_values().next().unwrap_or_default();
            return jobs.serialize(serializer);
        }
        by_cluster.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::queue::{JobSpec, JobStatus};
    use crate::runtime::scheduler::Demand;
    use crate::state::ClusterRecord;

    fn job(id: u64) -> JobRecord {
        JobRecord {
            id,
            spec: JobSpec {
                name: None,
                demand: Demand {
                    cpus: 1.0,
                    gpus: 0.0,
                    num_nodes: 1,
                },
                accelerator: None,
                setup: None,
                run: "true".into(),
                env: Vec::new(),
            },
            status: JobStatus::Succeeded,
            submitted_at: 1,
            started_at: None,
            ended_at: None,
            placement: Vec::new(),
            exit_codes: Vec::new(),
        }
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
            clusters: vec![("dev".into(), ClusterQueue::Jobs(vec![job(1)]))],
            failure: None,
        };
        assert_eq!(
            serde_json::to_value(&single).unwrap(),
            serde_json::to_value([job(1)]).unwrap()
        );
        let several = Queues {
            single: false,
            clusters: vec![
                ("b".into(), ClusterQueue::Jobs(vec![job(2)])),
                ("c".into(), ClusterQueue::Skipped(not_up("c"))),
                ("a".into(), ClusterQueue::Jobs(Vec::new())),
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
