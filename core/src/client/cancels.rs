//! A cancel across the clusters a name or glob pattern means, cluster by cluster
//! (the CLI's `aloft cancel 'dev-*'`): one rule for which failures skip a cluster
//! and which end the cancel.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use super::{CancelTargets, Cancellation, Client, ClientError, ClientResult, is_cluster_pattern};

/// One cluster's part of [`CancelOutcomes`].
#[derive(Debug)]
pub enum ClusterCancel {
    /// What was cancelled there, and the named jobs found already ended.
    Done(Vec<Cancellation>),
    /// A cluster the glob pattern matched that is not UP: nothing was cancelled
    /// there, and why.
    Skipped(ClientError),
}

/// [`Client::cancel_all`]: what a cancel did, cluster by cluster. As JSON it is
/// the cluster's list of [`Cancellation`]s when [`CancelOutcomes::single`], else
/// an object of such lists by cluster name (skipped clusters left out).
#[derive(Debug)]
pub struct CancelOutcomes {
    /// The cluster was named plainly (not a glob pattern): the answer is its
    /// list, and its lines need not name it.
    pub single: bool,
    /// Each cluster's outcome, in the order of the [`CancelTargets`].
    pub clusters: Vec<(String, ClusterCancel)>,
    /// The failure that ended the cancel, on the cluster after the last of
    /// [`CancelOutcomes::clusters`]; what was cancelled before it stands.
    pub failure: Option<ClientError>,
}

impl CancelOutcomes {
    /// The outcomes by cluster name, skipped clusters left out.
    pub fn by_cluster(&self) -> BTreeMap<&str, &[Cancellation]> {
        self.clusters
            .iter()
            .filter_map(|(name, part)| match part {
                ClusterCancel::Done(done) => Some((name.as_str(), done.as_slice())),
                ClusterCancel::Skipped(_) => None,
            })
            .collect()
    }

    /// Why each skipped cluster was skipped, in order.
    pub fn skipped(&self) -> impl Iterator<Item = &ClientError> {
        self.clusters.iter().filter_map(|(_, part)| match part {
            ClusterCancel::Skipped(err) => Some(err),
            ClusterCancel::Done(_) => None,
        })
    }

    /// The outcomes, or their [`CancelOutcomes::failure`] as an `Err`.
    pub fn into_result(mut self) -> ClientResult<Self> {
        match self.failure.take() {
            Some(err) => Err(err),
            None => Ok(self),
        }
    }
}

impl Serialize for CancelOutcomes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let by_cluster = self.by_cluster();
        if self.single {
            let done = by_cluster.into_values().next().unwrap_or_default();
            return done.serialize(serializer);
        }
        by_cluster.serialize(serializer)
    }
}

impl Client {
    /// Cancels what `targets` ([`Client::cancel_targets`] of `target`, with the
    /// same `all`) names, cluster by cluster in order. A cluster that a glob
    /// pattern matched and that is not UP is [`ClusterCancel::Skipped`]; a
    /// cluster named plainly that is not UP, or any other failure, ends the
    /// cancel as its [`CancelOutcomes::failure`] (what was cancelled on the
    /// clusters before it stands).
    pub fn cancel_all(&self, target: &str, targets: &CancelTargets, all: bool) -> CancelOutcomes {
        let pattern = is_cluster_pattern(target);
        let mut out = CancelOutcomes {
            single: !pattern,
            clusters: Vec::new(),
            failure: None,
        };
        for (name, ids) in &targets.clusters {
            let part = match self.cancel(name, ids, all) {
                Ok(cancelled) => ClusterCancel::Done(cancelled),
                Err(err @ ClientError::ClusterNotUp { .. }) if pattern => {
                    ClusterCancel::Skipped(err)
                }
                Err(err) => {
                    out.failure = Some(err);
                    break;
                }
            };
            out.clusters.push((name.clone(), part));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{ClusterRecord, ClusterStatus};

    fn record(name: &str) -> ClusterRecord {
        ClusterRecord::sample(name, ClusterStatus::Stopped)
    }

    #[test]
    fn a_stopped_cluster_is_skipped_for_a_pattern_and_fails_a_plain_name() {
        let home = tempfile::tempdir().unwrap();
        let client = Client::builder().home(home.path()).open().unwrap();
        client.state.upsert_cluster(&record("dev-1")).unwrap();
        client.state.upsert_cluster(&record("dev-2")).unwrap();

        let targets = client.cancel_targets("dev-*", &[], true).unwrap();
        let outcomes = client.cancel_all("dev-*", &targets, true);
        assert!(!outcomes.single && outcomes.failure.is_none());
        let names: Vec<&str> = outcomes.clusters.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["dev-1", "dev-2"]);
        for (_, outcome) in &outcomes.clusters {
            assert!(
                matches!(
                    outcome,
                    ClusterCancel::Skipped(ClientError::ClusterNotUp { .. })
                ),
                "{outcome:?}"
            );
        }
        assert_eq!(outcomes.skipped().count(), 2);
        assert_eq!(serde_json::to_string(&outcomes).unwrap(), "{}");

        let targets = client.cancel_targets("dev-1", &[3], false).unwrap();
        let outcomes = client.cancel_all("dev-1", &targets, false);
        assert!(outcomes.single && outcomes.clusters.is_empty());
        let err = outcomes.into_result().unwrap_err();
        assert!(matches!(err, ClientError::ClusterNotUp { .. }), "{err}");
    }

    #[test]
    fn outcomes_are_one_list_when_single_else_lists_by_cluster() {
        let job = |id| crate::runtime::queue::JobRecord {
            id,
            spec: crate::runtime::queue::JobSpec {
                name: None,
                demand: crate::runtime::scheduler::Demand {
                    cpus: 1.0,
                    gpus: 0.0,
                    num_nodes: 1,
                },
                accelerator: None,
                setup: None,
                run: "true".into(),
                env: Vec::new(),
            },
            status: crate::runtime::queue::JobStatus::Cancelled,
            submitted_at: 1,
            started_at: None,
            ended_at: None,
            placement: Vec::new(),
            exit_codes: Vec::new(),
        };
        let single = CancelOutcomes {
            single: true,
            clusters: vec![(
                "dev".into(),
                ClusterCancel::Done(vec![Cancellation::Requested(job(1))]),
            )],
            failure: None,
        };
        let job1 = serde_json::to_string(&job(1)).unwrap();
        assert_eq!(
            serde_json::to_string(&single).unwrap(),
            format!(r#"[{{"outcome":"requested","job":{job1}}}]"#)
        );
        let several = CancelOutcomes {
            single: false,
            clusters: vec![
                (
                    "b".into(),
                    ClusterCancel::Done(vec![Cancellation::AlreadyEnded(job(1))]),
                ),
                ("a".into(), ClusterCancel::Done(Vec::new())),
                (
                    "c".into(),
                    ClusterCancel::Skipped(ClientError::Other("not up".into())),
                ),
            ],
            failure: Some(ClientError::Other("boom".into())),
        };
        assert_eq!(
            serde_json::to_string(&several).unwrap(),
            format!(r#"{{"a":[],"b":[{{"outcome":"already_ended","job":{job1}}}]}}"#)
        );
        assert_eq!(several.into_result().unwrap_err().to_string(), "boom");
    }
}
