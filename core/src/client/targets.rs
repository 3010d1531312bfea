//! Which clusters a multi-cluster verb works on, as SkyPilot's commands take
//! them (`down -a`, `stop 'exp-*'`, `queue` with no name), and the job queues of
//! several clusters at once.

use crate::runtime::queue::JobRecord;
use crate::state::ClusterStatus;

use super::{Client, ClientError, ClientResult};

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

    /// Each cluster's job queue (finished jobs left out with `skip_finished`), for
    /// the clusters `patterns` name ([`Client::expand_cluster_names`]), or every UP
    /// cluster when none is given. Each cluster has its own outcome: a pattern may
    /// match a stopped cluster, whose [`ClientError::ClusterNotUp`] is then its
    /// answer, beside the others' queues.
    pub fn queues(
        &self,
        patterns: &[String],
        skip_finished: bool,
    ) -> ClientResult<Vec<(String, ClientResult<Vec<JobRecord>>)>> {
        let names = if patterns.is_empty() {
            self.status(&[])?
                .into_iter()
                .filter(|v| v.record.status == ClusterStatus::Up)
                .map(|v| v.record.name)
                .collect()
        } else {
            self.expand_cluster_names(patterns)?
        };
        Ok(names
            .into_iter()
            .map(|name| {
                let queue = self.queue(&name, skip_finished);
                (name, queue)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_need_a_name_or_all_and_queues_default_to_up_clusters() {
        let home = tempfile::tempdir().unwrap();
        let client = Client::builder().home(home.path()).open().unwrap();
        let err = client.cluster_targets(&[], false).unwrap_err();
        assert!(err.to_string().contains("or pass --all"), "{err}");
        assert!(client.cluster_targets(&[], true).unwrap().is_empty());
        assert!(client.queues(&[], false).unwrap().is_empty());
        let err = client.queues(&["dev-*".to_string()], false).unwrap_err();
        assert!(matches!(err, ClientError::NoClusterMatches { .. }), "{err}");
    }
}
