//! An answer that spans several clusters (`queue` with no name or a glob
//! pattern, `cancel 'dev-*'`): each cluster's part in order, the clusters passed
//! over and why, and the failure that ended it.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use super::{ClientError, ClientResult};

/// One cluster's part of a [`PerCluster`] answer.
#[derive(Debug)]
pub enum ClusterPart<T> {
    /// What the cluster answered.
    Done(T),
    /// A cluster passed over (one a pattern matched that is not UP), and why.
    Skipped(ClientError),
}

/// A verb's answer, cluster by cluster. As JSON it is the one cluster's part
/// when [`PerCluster::single`], else an object of parts by cluster name
/// (skipped clusters left out).
#[derive(Debug)]
pub struct PerCluster<T> {
    /// One cluster was named plainly (not a glob pattern): the answer is its
    /// part, and lines about it need not name it.
    pub single: bool,
    /// Each cluster's part, in the order asked.
    pub clusters: Vec<(String, ClusterPart<T>)>,
    /// The failure that ended the answer, on the cluster after the last of
    /// [`PerCluster::clusters`]; what was done before it stands.
    pub failure: Option<ClientError>,
}

impl<T> PerCluster<T> {
    /// Takes each cluster's outcome in order: an error `skip` accepts passes the
    /// cluster over, any other ends the answer (later outcomes are not asked
    /// for: `parts` is read lazily).
    pub(crate) fn gather(
        single: bool,
        parts: impl IntoIterator<Item = (String, ClientResult<T>)>,
        skip: impl Fn(&ClientError) -> bool,
    ) -> Self {
        let mut answer = PerCluster {
            single,
            clusters: Vec::new(),
            failure: None,
        };
        for (name, outcome) in parts {
            let part = match outcome {
                Ok(done) => ClusterPart::Done(done),
                Err(err) if skip(&err) => ClusterPart::Skipped(err),
                Err(err) => {
                    answer.failure = Some(err);
                    break;
                }
            };
            answer.clusters.push((name, part));
        }
        answer
    }

    /// The parts by cluster name, skipped clusters left out.
    pub fn by_cluster(&self) -> BTreeMap<&str, &T> {
        self.clusters
            .iter()
            .filter_map(|(name, part)| match part {
                ClusterPart::Done(done) => Some((name.as_str(), done)),
                ClusterPart::Skipped(_) => None,
            })
            .collect()
    }

    /// Why each skipped cluster was skipped, in order.
    pub fn skipped(&self) -> impl Iterator<Item = &ClientError> {
        self.clusters.iter().filter_map(|(_, part)| match part {
            ClusterPart::Skipped(err) => Some(err),
            ClusterPart::Done(_) => None,
        })
    }

    /// The answer, or its [`PerCluster::failure`] as an `Err`.
    pub fn into_result(mut self) -> ClientResult<Self> {
        match self.failure.take() {
            Some(err) => Err(err),
            None => Ok(self),
        }
    }
}

impl<T: Serialize + Default> Serialize for PerCluster<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let by_cluster = self.by_cluster();
        if self.single {
            return match by_cluster.into_values().next() {
                Some(part) => part.serialize(serializer),
                None => T::default().serialize(serializer),
            };
        }
        by_cluster.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn a_skipped_cluster_is_passed_over_and_a_failure_ends_the_answer_unasked_after() {
        let asked = Cell::new(0);
        let outcomes: Vec<(&str, ClientResult<u32>)> = vec![
            ("a", Ok(1)),
            ("b", Err(ClientError::Other("skip me".into()))),
            ("c", Err(ClientError::Other("boom".into()))),
            ("d", Ok(4)),
        ];
        let parts = outcomes.into_iter().map(|(name, outcome)| {
            asked.set(asked.get() + 1);
            (name.to_string(), outcome)
        });
        let answer = PerCluster::gather(false, parts, |err| err.to_string() == "skip me");
        assert_eq!(asked.get(), 3, "`d` was asked after the failure");
        assert_eq!(answer.by_cluster(), BTreeMap::from([("a", &1)]));
        assert_eq!(
            answer.skipped().map(|e| e.to_string()).collect::<Vec<_>>(),
            ["skip me"]
        );
        assert_eq!(serde_json::to_string(&answer).unwrap(), r#"{"a":1}"#);
        let err = answer.into_result().unwrap_err();
        assert_eq!(err.to_string(), "boom");

        let single = PerCluster::<Vec<u32>>::gather(true, [], |_| false);
        assert_eq!(serde_json::to_string(&single).unwrap(), "[]");
    }
}
