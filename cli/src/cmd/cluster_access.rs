//! Shared by the commands that work on an existing cluster: the state database and
//! the head node's agent of a named cluster.

use aloft::runtime::head::{ClusterHandle, Head};
use aloft::state::{ClusterRecord, StateDb};

use crate::config::aloft_home;
use crate::exit::CliError;

/// Opens `$ALOFT_HOME/state.db`.
pub fn state() -> Result<StateDb, CliError> {
    StateDb::open(&aloft_home().join("state.db")).map_err(|e| CliError::failure(e.to_string()))
}

/// The record of cluster `name`, or a clear error listing what exists.
pub fn cluster(db: &StateDb, name: &str) -> Result<ClusterRecord, CliError> {
    match db
        .cluster(name)
        .map_err(|e| CliError::failure(e.to_string()))?
    {
        Some(record) => Ok(record),
        None => {
            let names: Vec<String> = db
                .clusters()
                .map_err(|e| CliError::failure(e.to_string()))?
                .into_iter()
                .map(|c| c.name)
                .collect();
            let known = if names.is_empty() {
                "there are no clusters".to_string()
            } else {
                format!("clusters: {}", names.join(", "))
            };
            Err(CliError::failure(format!(
                "no cluster named `{name}` ({known})"
            )))
        }
    }
}

/// What state knows about the cluster's nodes.
pub fn handle(record: &ClusterRecord) -> Result<ClusterHandle, CliError> {
    serde_json::from_str(&record.nodes_json).map_err(|_| {
        CliError::failure(format!(
            "cluster `{}` has no reachable head recorded yet (status {}); try `aloft status -r`",
            record.name, record.status
        ))
    })
}

/// The head node's agent of `record`.
pub fn head(record: &ClusterRecord) -> Result<Head, CliError> {
    Ok(Head::new(handle(record)?.head, aloft_home().join("ssh")))
}
