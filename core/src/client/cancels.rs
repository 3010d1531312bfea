//! A cancel across the clusters a name or glob pattern means, cluster by cluster
//! (the CLI's `aloft cancel 'dev-*'`): one rule for which failures skip a cluster
//! and which end the cancel.

use super::per_cluster::PerCluster;
use super::{CancelTargets, Cancellation, Client, ClientError, is_cluster_pattern};

/// [`Client::cancel_all`]: what a cancel did, cluster by cluster (the
/// cancellations and the named jobs found already ended).
pub type CancelOutcomes = PerCluster<Vec<Cancellation>>;

impl Client {
    /// Cancels what `targets` ([`Client::cancel_targets`] of `target`, with the
    /// same `all`) names, cluster by cluster in order. A cluster that a glob
    /// pattern matched and that is not UP is [`super::ClusterPart::Skipped`]; a
    /// cluster named plainly that is not UP, or any other failure, ends the
    /// cancel as its [`CancelOutcomes::failure`] (what was cancelled on the
    /// clusters before it stands).
    pub fn cancel_all(&self, target: &str, targets: &CancelTargets, all: bool) -> CancelOutcomes {
        let pattern = is_cluster_pattern(target);
        let parts = (targets.clusters.iter())
            .map(|(name, ids)| (name.clone(), self.cancel(name, ids, all)));
        let not_up = |err: &ClientError| matches!(err, ClientError::ClusterNotUp { .. });
        PerCluster::gather(!pattern, parts, |err| pattern && not_up(err))
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
                    crate::client::ClusterPart::Skipped(ClientError::ClusterNotUp { .. })
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
        let job = |id| {
            let cancelled = crate::runtime::queue::JobStatus::Cancelled;
            crate::runtime::queue::JobRecord::sample(id, cancelled)
        };
        let single = CancelOutcomes {
            single: true,
            clusters: vec![(
                "dev".into(),
                crate::client::ClusterPart::Done(vec![Cancellation::Requested(job(1))]),
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
                    crate::client::ClusterPart::Done(vec![Cancellation::AlreadyEnded(job(1))]),
                ),
                ("a".into(), crate::client::ClusterPart::Done(Vec::new())),
                (
                    "c".into(),
                    crate::client::ClusterPart::Skipped(ClientError::Other("not up".into())),
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
