//! `aloft status -r`: ask each cluster's provider what really exists (one batched
//! `query-instances` per provider) and bring local state in line.

use std::collections::BTreeMap;

use aloft::plugin::{ClusterRef, InstanceStatus};
use aloft::runtime::agent::unix_now;
use aloft::state::{ClusterRecord, ClusterStatus, StateDb};

use crate::config::{Config, aloft_home};
use crate::exit::CliError;
use crate::providers;

/// What refresh found for one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Truth {
    /// Every node runs.
    Up,
    /// Every node is stopped.
    Stopped,
    /// Some node was reclaimed (spot) or vanished.
    Preempted,
    /// Nothing exists any more.
    Gone,
    /// A mix (nodes starting, stopping, some missing).
    Abnormal,
}

fn truth(statuses: &[InstanceStatus], expected: u32) -> Truth {
    use InstanceStatus::*;
    let live: Vec<&InstanceStatus> = statuses
        .iter()
        .filter(|s| !matches!(s, Terminated | Terminating))
        .collect();
    if live.is_empty() {
        return Truth::Gone;
    }
    if live.iter().any(|s| matches!(s, Preempted)) {
        return Truth::Preempted;
    }
    if live.len() < expected as usize {
        return Truth::Preempted;
    }
    if live.iter().all(|s| matches!(s, Running)) {
        return Truth::Up;
    }
    if live.iter().all(|s| matches!(s, Stopped)) {
        return Truth::Stopped;
    }
    Truth::Abnormal
}

/// Refreshes `records` against their providers and updates `state`. Returns notes
/// for the user (one line per change).
pub fn refresh(state: &StateDb, records: &[ClusterRecord]) -> Result<Vec<String>, CliError> {
    let config = Config::load(&aloft_home())?;
    let rt = providers::runtime()?;
    let providers = rt.block_on(providers::load(&config))?;
    let mut by_provider: BTreeMap<&str, Vec<&ClusterRecord>> = BTreeMap::new();
    for r in records {
        by_provider.entry(r.provider.as_str()).or_default().push(r);
    }
    let mut notes = Vec::new();
    let now = unix_now();
    for (provider, clusters) in by_provider {
        let refs: Vec<ClusterRef> = clusters
            .iter()
            .map(|c| ClusterRef {
                cluster: c.name.clone(),
                region: c.region.clone(),
                zone: c.zone.clone(),
            })
            .collect();
        let answer = rt.block_on(async {
            let mut instance = providers.instance(provider).await?;
            instance
                .query_instances(&refs)
                .await
                .map_err(|e| CliError::failure(e.to_string()))
        });
        let answer = match answer {
            Ok(a) => a,
            Err(err) => {
                notes.push(format!("{provider}: cannot refresh: {err}"));
                continue;
            }
        };
        for record in clusters {
            let statuses: Vec<InstanceStatus> = answer
                .iter()
                .find(|a| a.cluster.cluster == record.name)
                .map(|a| a.instances.iter().map(|i| i.status).collect())
                .unwrap_or_default();
            let found = truth(&statuses, record.num_nodes);
            let fail = |e: aloft::state::StateError| CliError::failure(e.to_string());
            match found {
                Truth::Gone => {
                    crate::cmd::lifecycle::stop_agent(record);
                    state.end_usage(&record.name, now).map_err(fail)?;
                    state.remove_cluster(&record.name).map_err(fail)?;
                    let _ = state.add_event(&record.name, now, "refresh", "gone");
                    notes.push(format!(
                        "{}: no instances left; removed from status",
                        record.name
                    ));
                }
                Truth::Up | Truth::Stopped | Truth::Preempted | Truth::Abnormal => {
                    let status = match found {
                        Truth::Up => ClusterStatus::Up,
                        Truth::Stopped => ClusterStatus::Stopped,
                        _ => ClusterStatus::Init,
                    };
                    if status != record.status || found == Truth::Preempted {
                        state.set_status(&record.name, status, now).map_err(fail)?;
                        match status {
                            ClusterStatus::Up => state.start_usage(record, now).map_err(fail)?,
                            _ => state.end_usage(&record.name, now).map_err(fail)?,
                        }
                        let what = match found {
                            Truth::Preempted => {
                                "PREEMPTED (nodes reclaimed or missing)".to_string()
                            }
                            Truth::Abnormal => "INIT (nodes in mixed states)".to_string(),
                            _ => status.to_string(),
                        };
                        let _ = state.add_event(&record.name, now, "refresh", &what);
                        notes.push(format!("{}: {} -> {what}", record.name, record.status));
                    }
                }
            }
        }
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use InstanceStatus::*;

    #[test]
    fn truth_from_instance_states() {
        assert_eq!(truth(&[Running, Running], 2), Truth::Up);
        assert_eq!(truth(&[Stopped, Stopped], 2), Truth::Stopped);
        assert_eq!(truth(&[Running, Preempted], 2), Truth::Preempted);
        assert_eq!(truth(&[Running], 2), Truth::Preempted, "a node vanished");
        assert_eq!(truth(&[], 2), Truth::Gone);
        assert_eq!(truth(&[Terminated, Terminated], 2), Truth::Gone);
        assert_eq!(truth(&[Running, Stopping], 2), Truth::Abnormal);
    }
}
