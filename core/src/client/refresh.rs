//! `status -r`: ask each cluster's provider what really exists (one batched
//! `query-instances` per provider, providers concurrently) and bring local state in
//! line.

use std::collections::BTreeMap;

use crate::plugin::{ClusterInstances, ClusterRef, InstanceStatus};
use crate::runtime::agent::unix_now;
use crate::state::{ClusterRecord, ClusterStatus};

use super::lifecycle::{Action, cluster_ref};
use super::{Client, ClientResult};

/// What refresh found for one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Truth {
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

/// What reconciling one cluster's record came to.
enum Reconciled {
    /// The record was brought in line (with a note when it changed).
    Note(Option<RefreshNote>),
    /// The provider holds no instances: the cluster is torn down and forgotten.
    Gone,
}

/// One change (or trouble) found by a refresh, for the user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RefreshNote {
    /// The cluster, or the provider when a whole provider could not be asked.
    pub subject: String,
    /// What happened.
    pub message: String,
}

impl std::fmt::Display for RefreshNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.subject, self.message)
    }
}

impl Client {
    /// Refreshes the clusters named in `names` (every cluster when empty) against
    /// their providers and updates local state. A cluster whose provider did not
    /// answer for it keeps its record; only an answer with no instances removes one.
    pub fn refresh(&self, names: &[String]) -> ClientResult<Vec<RefreshNote>> {
        let mut records = self.state.clusters()?;
        if !names.is_empty() {
            let wanted: std::collections::HashSet<&String> = names.iter().collect();
            records.retain(|r| wanted.contains(&r.name));
        }
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let mut by_provider: BTreeMap<String, Vec<ClusterRecord>> = BTreeMap::new();
        for r in records {
            by_provider.entry(r.provider.clone()).or_default().push(r);
        }
        let providers = self.providers()?;
        let answers = self.block_on(futures::future::join_all(by_provider.iter().map(
            |(provider, clusters)| async move {
                let refs: Vec<ClusterRef> = clusters.iter().map(cluster_ref).collect();
                let mut instance = providers.instance(provider).await?;
                instance
                    .query_instances(&refs)
                    .await
                    .map_err(super::ClientError::other)
            },
        )));
        let mut notes = Vec::new();
        let mut gone = Vec::new();
        for ((provider, clusters), answer) in by_provider.into_iter().zip(answers) {
            match answer {
                Ok(answer) => {
                    for record in clusters {
                        match self.reconcile(&record, &answer)? {
                            Reconciled::Note(note) => {
                                notes.extend(note);
                                notes.extend(self.autostop_note(&record));
                            }
                            Reconciled::Gone => gone.push(record),
                        }
                    }
                }
                Err(err) => notes.push(RefreshNote {
                    subject: provider,
                    message: format!("cannot refresh: {err}"),
                }),
            }
        }
        notes.extend(self.remove_gone(gone));
        self.refresh_ssh_config();
        Ok(notes)
    }

    /// Clusters with no instances left go from status, but only through the same
    /// teardown as `down`: a launch killed before its first instance leaves what it
    /// created beside them (a security group, a key, a bucket), which only the
    /// provider's terminate and the local clean-up remove. A cluster whose lock
    /// another command holds (a launch that has not created its instances yet) is
    /// left as it is.
    fn remove_gone(&self, gone: Vec<ClusterRecord>) -> Vec<RefreshNote> {
        let mut notes = Vec::new();
        let mut work = Vec::new();
        for record in gone {
            match self.try_lock(&record.name, "status --refresh") {
                Ok(lock) => work.push((record, lock)),
                Err(err) => notes.push(RefreshNote {
                    subject: record.name,
                    message: format!("no instances yet; its record is kept ({err})"),
                }),
            }
        }
        let now = unix_now();
        for (name, outcome) in self.stop_or_down_locked(work, Action::Down, false) {
            let message = match outcome {
                Ok(()) => {
                    let _ = self.state.add_event(&name, now, "refresh", "gone");
                    "no instances left; removed from status".to_string()
                }
                Err(err) => format!(
                    "no instances left, but removing what its provider still holds failed \
                     ({err}); the record is kept for `aloft down`"
                ),
            };
            notes.push(RefreshNote {
                subject: name,
                message,
            });
        }
        notes
    }

    /// A cluster whose autostop command keeps failing on its head says so; the
    /// message stays in local state (shown by `status`) until autostop works or is
    /// set again.
    fn autostop_note(&self, record: &ClusterRecord) -> Option<RefreshNote> {
        let current = self.state.cluster(&record.name).ok()??;
        if current.status != ClusterStatus::Up || current.autostop_minutes.is_none() {
            return None;
        }
        // An unreachable head is refresh's business elsewhere, not autostop's.
        let failure = self.head_of(&current).ok()?.autostop_failure().ok()?;
        let key = super::autostop::failure_key(&record.name);
        let Some(failure) = failure else {
            let _ = self.state.kv_delete(super::autostop::KV_OWNER, &key);
            return None;
        };
        // The head's words are untrusted: no control characters reach a terminal.
        let reason =
            crate::plugin::display_safe(&failure.reason.chars().take(400).collect::<String>());
        // No attempt yet: autostop cannot work as it stands (a stop kit the head's
        // agent lost when it restarted), said before the idle time is up.
        let message = if failure.attempts == 0 {
            format!("autostop cannot stop the cluster: {reason}")
        } else {
            format!(
                "autostop failed ({} time(s), last at {}): {reason}; the head tries again",
                failure.attempts, failure.at
            )
        };
        let _ = self.state.kv_set(super::autostop::KV_OWNER, &key, &message);
        let _ = self
            .state
            .add_event(&record.name, unix_now(), "autostop-failed", &message);
        Some(RefreshNote {
            subject: record.name.clone(),
            message,
        })
    }

    fn reconcile(
        &self,
        record: &ClusterRecord,
        answer: &[ClusterInstances],
    ) -> ClientResult<Reconciled> {
        let note = |message: String| {
            Reconciled::Note(Some(RefreshNote {
                subject: record.name.clone(),
                message,
            }))
        };
        let Some(found) = answer.iter().find(|a| a.cluster.cluster == record.name) else {
            return Ok(note(format!(
                "provider {} did not answer for this cluster; its record is kept",
                record.provider
            )));
        };
        let statuses: Vec<InstanceStatus> = found.instances.iter().map(|i| i.status).collect();
        let mut found = truth(&statuses, record.num_nodes);
        // An autodown cluster whose head terminated it: the provider may call
        // instances it did not see aloft terminate "preempted"; they are gone.
        if record.autostop_down
            && statuses.iter().all(|s| {
                matches!(
                    s,
                    InstanceStatus::Terminated
                        | InstanceStatus::Terminating
                        | InstanceStatus::Preempted
                )
            })
        {
            found = Truth::Gone;
        }
        // Hosts that outlive an autodown (a node pool's) keep answering as running:
        // the head's mark says the cluster tore itself down, and the launcher
        // finishes the job (the hosts go back to the pool, the cluster key goes).
        if record.autostop_down
            && found == Truth::Up
            && self
                .head_of(record)
                .and_then(|h| Ok(h.self_stopped()?))
                .is_ok_and(|done| done.as_deref() == Some("down"))
        {
            self.down(&record.name, false)?;
            return Ok(note(
                "its head tore it down (autodown); the hosts are released".into(),
            ));
        }
        // An autodown cluster that powered itself off on a cloud that stops, rather
        // than deletes, such nodes (Compute Engine): the launcher deletes it now. A
        // cluster aloft stopped is already STOPPED in its record and stays.
        if record.autostop_down && found == Truth::Stopped && record.status == ClusterStatus::Up {
            self.down(&record.name, false)?;
            return Ok(note(
                "its nodes powered off for autodown; they are deleted".into(),
            ));
        }
        if found == Truth::Gone {
            return Ok(Reconciled::Gone);
        }
        let now = unix_now();
        let mut status = match found {
            Truth::Up => ClusterStatus::Up,
            Truth::Stopped => ClusterStatus::Stopped,
            _ => ClusterStatus::Init,
        };
        // Running instances are a cluster only once its runtime answers: an
        // interrupted launch stays INIT until `launch` finishes its set-up.
        if status == ClusterStatus::Up && record.status != ClusterStatus::Up {
            let answers = self
                .head_of(record)
                .and_then(|h| Ok(h.queue(true)?))
                .is_ok();
            if !answers {
                status = ClusterStatus::Init;
            }
        }
        if status == record.status && found != Truth::Preempted {
            return Ok(Reconciled::Note(None));
        }
        self.state.set_status(&record.name, status, now)?;
        match status {
            ClusterStatus::Up => self.state.start_usage(record, now)?,
            _ => self.state.end_usage(&record.name, now)?,
        }
        let what = match found {
            Truth::Preempted => "PREEMPTED (nodes reclaimed or missing)".to_string(),
            Truth::Abnormal => "INIT (nodes in mixed states)".to_string(),
            Truth::Up if status == ClusterStatus::Init => {
                "INIT (instances run, the agent does not answer: `aloft launch` of the same name finishes the set-up)".to_string()
            }
            _ => status.to_string(),
        };
        let _ = self.state.add_event(&record.name, now, "refresh", &what);
        Ok(note(format!("{} -> {what}", record.status)))
    }
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
