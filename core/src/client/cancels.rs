//! A cancel across the clusters a name or glob pattern means, cluster by cluster
//! (the CLI's `aloft cancel 'dev-*'`): one rule for which failures skip a cluster
//! and which end the cancel.

use super::{CancelTargets, Cancellation, Client, ClientError, ClientResult, is_cluster_pattern};

/// One cluster's part of [`Client::cancel_each`].
#[derive(Debug)]
pub enum ClusterCancel {
    /// What was cancelled there, and the named jobs found already ended.
    Done(Vec<Cancellation>),
    /// A cluster the glob pattern matched that is not UP: nothing was cancelled
    /// there, and why.
    Skipped(ClientError),
}

impl Client {
    /// Cancels what `targets` ([`Client::cancel_targets`] of `target`, with the
    /// same `all`) names, cluster by cluster in order, and returns each cluster's
    /// outcome. A cluster that a glob pattern matched and that is not UP is
    /// [`ClusterCancel::Skipped`]; a cluster named plainly that is not UP, or any
    /// other failure, is an `Err` and the last entry (what was cancelled on the
    /// clusters before it stands).
    pub fn cancel_each(
        &self,
        target: &str,
        targets: &CancelTargets,
        all: bool,
    ) -> Vec<(String, ClientResult<ClusterCancel>)> {
        let pattern = is_cluster_pattern(target);
        let mut out = Vec::new();
        for (name, ids) in &targets.clusters {
            let outcome = match self.cancel(name, ids, all) {
                Ok(cancelled) => Ok(ClusterCancel::Done(cancelled)),
                Err(err @ ClientError::ClusterNotUp { .. }) if pattern => {
                    Ok(ClusterCancel::Skipped(err))
                }
                Err(err) => Err(err),
            };
            let failed = outcome.is_err();
            out.push((name.clone(), outcome));
            if failed {
                break;
            }
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
        let outcomes = client.cancel_each("dev-*", &targets, true);
        let names: Vec<&str> = outcomes.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["dev-1", "dev-2"]);
        for (_, outcome) in &outcomes {
            assert!(
                matches!(
                    outcome,
                    Ok(ClusterCancel::Skipped(ClientError::ClusterNotUp { .. }))
                ),
                "{outcome:?}"
            );
        }

        let targets = client.cancel_targets("dev-1", &[3], false).unwrap();
        let outcomes = client.cancel_each("dev-1", &targets, false);
        assert_eq!(outcomes.len(), 1);
        assert!(
            matches!(outcomes[0].1, Err(ClientError::ClusterNotUp { .. })),
            "{:?}",
            outcomes[0].1
        );
    }
}
