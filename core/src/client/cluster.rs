//! Verbs on an existing cluster: `status`, `exec`, `queue`, `logs`, `cancel`,
//! `autostop`, and the cost report.

use std::path::Path;

use serde::Serialize;

use crate::launch::{NodeAddress, job_demand, job_spec};
use crate::runtime::agent::unix_now;
use crate::runtime::queue::{JobRecord, JobStatus};
use crate::state::{ClusterRecord, ClusterStatus, CostRow};
use crate::task::Task;

use super::lifecycle::handle;
use super::{Client, ClientError, ClientResult};

/// A cluster as `status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterView {
    /// The record in local state.
    #[serde(flatten)]
    pub record: ClusterRecord,
    /// The head node's address as SSH reaches it, once known.
    pub head_ip: Option<String>,
    /// The cluster's autostop keeps failing on its head: the last failure the
    /// last `refresh` saw (the head retries it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autostop_failure: Option<String>,
}

/// One row of the cost report.
pub type CostEntry = CostRow;

/// What [`Client::cancel`] did to one job.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", content = "job", rename_all = "snake_case")]
pub enum Cancellation {
    /// Cancellation was requested; the job as it is now.
    Requested(JobRecord),
    /// The job had already ended: nothing was cancelled.
    AlreadyEnded(JobRecord),
}

/// How `ssh CLUSTER` reaches a cluster's head (see [`Client::head_access`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadAccess {
    /// Over SSH: the cluster has host entries in aloft's SSH config.
    Ssh,
    /// A `local` cluster: its nodes are folders on this machine (no SSH entry);
    /// the head's folder.
    Folder(std::path::PathBuf),
    /// No head recorded yet (a launch in progress or stopped half way).
    Unknown,
}

impl Client {
    /// The clusters `patterns` name, in order and without duplicates, as SkyPilot's
    /// cluster commands (`stop`, `down`, `cancel`, `status`, ...) take them: a plain
    /// name as it is (one not in local state is [`ClientError::UnknownCluster`],
    /// with a did-you-mean), a glob pattern (`*`, `?`, `[a-z]`, `[!0-9]`) replaced by
    /// the clusters it matches (one that matches none is
    /// [`ClientError::NoClusterMatches`], listing what exists). Every pattern is
    /// checked before the caller does anything to any cluster.
    pub fn expand_cluster_names(&self, patterns: &[String]) -> ClientResult<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        let mut known: Option<Vec<String>> = None;
        for pattern in patterns {
            let names = match &known {
                Some(names) => names,
                None => known.insert(self.state.clusters()?.into_iter().map(|c| c.name).collect()),
            };
            if !is_cluster_pattern(pattern) {
                if !names.contains(pattern) {
                    self.cluster(pattern)?;
                }
                if !out.contains(pattern) {
                    out.push(pattern.clone());
                }
                continue;
            }
            let mut matched = false;
            for name in names {
                if glob_matches(pattern, name)
                    .map_err(|e| ClientError::InvalidInput(format!("pattern `{pattern}`: {e}")))?
                {
                    matched = true;
                    if !out.contains(name) {
                        out.push(name.clone());
                    }
                }
            }
            if !matched {
                return Err(ClientError::NoClusterMatches {
                    pattern: pattern.clone(),
                    known: if names.is_empty() {
                        "there are no clusters".to_string()
                    } else {
                        format!("clusters: {}", names.join(", "))
                    },
                });
            }
        }
        Ok(out)
    }

    /// The clusters in local state (no provider call); only `names` when given
    /// (each must exist).
    pub fn status(&self, names: &[String]) -> ClientResult<Vec<ClusterView>> {
        let mut records = self.state.clusters()?;
        if !names.is_empty() {
            for name in names {
                self.cluster(name)?;
            }
            records.retain(|r| names.contains(&r.name));
        }
        records
            .into_iter()
            .map(|record| {
                let autostop_failure = match record.autostop_minutes {
                    Some(_) => self.autostop_failure(&record.name)?,
                    None => None,
                };
                Ok(ClusterView {
                    head_ip: handle(&record).ok().and_then(|h| match h.nodes.first() {
                        // The address SSH uses (a public one), not the nodes' private IP.
                        Some(crate::launch::NodeAddress::Ssh { host, .. }) => Some(host.clone()),
                        _ => h.ips.first().cloned(),
                    }),
                    autostop_failure,
                    record,
                })
            })
            .collect()
    }

    /// The record of `name`, which must be UP: only a running head runs, lists,
    /// follows or cancels jobs (asking a stopped one would wait for it forever).
    pub(crate) fn up_cluster(&self, name: &str) -> ClientResult<ClusterRecord> {
        let record = self.cluster(name)?;
        let hint = match record.status {
            ClusterStatus::Up => return Ok(record),
            ClusterStatus::Stopped => format!("`aloft start {name}` brings it back"),
            ClusterStatus::Init => format!(
                "it is not up yet, or a launch stopped half way; `aloft status -r {name}` \
                 checks it, `aloft start {name}` brings it up"
            ),
        };
        Err(ClientError::ClusterNotUp {
            name: name.to_string(),
            status: record.status,
            hint,
        })
    }

    /// Queues `task` on the existing cluster `cluster` (no provisioning, no setup);
    /// with `task_dir`, the task's workdir is synced to every node first. A task
    /// that does not fit the cluster (see [`crate::launch::fit`]), or needs more
    /// GPUs than a node has, is refused before anything is queued.
    pub fn exec(&self, cluster: &str, task: &Task, task_dir: Option<&Path>) -> ClientResult<u64> {
        crate::task::support::check_launchable(task).map_err(ClientError::InvalidInput)?;
        let record = self.up_cluster(cluster)?;
        // Volumes are mounted when a cluster is made: the task's must be its.
        self.prepare_volumes(task, Some(cluster))?;
        if let Some(reason) = crate::launch::fit::misfit(&task.resources, task.num_nodes, &record) {
            return Err(ClientError::DoesNotFit {
                name: cluster.to_string(),
                existing: format!(
                    "{} {} x{}",
                    record.provider, record.instance_type, record.num_nodes
                ),
                reason,
            });
        }
        let handle = handle(&record)?;
        let head = self.head_of(&record)?;
        let spec = head.spec()?;
        let demand = job_demand(
            &task.resources,
            task.num_nodes.min(record.num_nodes).max(1),
            None,
        );
        if demand.gpus > f64::from(spec.gpus_per_node) + 1e-9 {
            return Err(ClientError::InvalidInput(format!(
                "the task needs {} GPU(s) per node; the nodes of `{cluster}` ({}) have {}: launch it on a cluster with GPUs",
                demand.gpus, record.instance_type, spec.gpus_per_node
            )));
        }
        if let Some(dir) = task_dir
            && task.workdir.is_some()
            && !handle.nodes.is_empty()
        {
            crate::launch::sync_workdir(task, dir, &handle.nodes, &self.control_dir())?;
        }
        // On MOUNT_CACHED mounts the job ends once its writes reached the bucket.
        let task = self.waiting_for_uploads(cluster, task);
        let (spec, secrets) = job_spec(&task, true, &demand);
        Ok(head.submit(&spec, &secrets, unix_now())?)
    }

    /// The ports the cluster's task opened, each with the address it is reached at
    /// (the head's address as SSH reaches it), as `(port, "HOST:PORT")`.
    pub fn endpoints(&self, cluster: &str) -> ClientResult<Vec<(u16, String)>> {
        let view = self
            .status(&[cluster.to_string()])?
            .pop()
            .ok_or_else(|| ClientError::Other(format!("no cluster named `{cluster}`")))?;
        let head = view.head_ip.clone().ok_or_else(|| {
            ClientError::Other(format!(
                "cluster `{cluster}` has no reachable head recorded yet"
            ))
        })?;
        let resources: crate::task::ResourceSet =
            serde_json::from_str(&view.record.resources_json).map_err(ClientError::other)?;
        let mut ports: Vec<u16> = resources
            .candidates()
            .iter()
            .flat_map(|r| r.ports.iter().flat_map(|p| p.start..=p.end))
            .collect();
        ports.sort_unstable();
        ports.dedup();
        Ok(ports
            .into_iter()
            .map(|p| (p, format!("{head}:{p}")))
            .collect())
    }

    /// The job queue of `cluster` (without finished jobs when `skip_finished`).
    pub fn queue(&self, cluster: &str, skip_finished: bool) -> ClientResult<Vec<JobRecord>> {
        Ok(self
            .head_of(&self.up_cluster(cluster)?)?
            .queue(skip_finished)?)
    }

    /// Job `job` of `cluster` (the latest when `None`).
    pub fn job(&self, cluster: &str, job: Option<u64>) -> ClientResult<JobRecord> {
        let jobs = self.queue(cluster, false)?;
        match job {
            Some(id) => jobs.into_iter().find(|j| j.id == id),
            None => jobs.into_iter().last(),
        }
        .ok_or_else(|| match job {
            Some(id) => ClientError::Other(format!("no job {id} on cluster `{cluster}`")),
            None => ClientError::Other(format!("cluster `{cluster}` has no jobs yet")),
        })
    }

    /// Writes job `job`'s output into `out`: the last `tail` lines, and with
    /// `follow` until the job ends.
    pub fn logs(
        &self,
        cluster: &str,
        job: u64,
        tail: Option<usize>,
        follow: bool,
        out: &mut dyn std::io::Write,
    ) -> ClientResult<()> {
        self.logs_and_status(cluster, job, tail, follow, out)
            .map(|_| ())
    }

    /// [`Client::logs`], then the job's status: how it ended when `follow` waited
    /// for its end.
    pub fn logs_and_status(
        &self,
        cluster: &str,
        job: u64,
        tail: Option<usize>,
        follow: bool,
        out: &mut dyn std::io::Write,
    ) -> ClientResult<JobStatus> {
        let head = self.head_of(&self.up_cluster(cluster)?)?;
        // A local head answers with the status itself (an autodown that follows
        // the job's end cannot race with a second question).
        if let Some(status) = head.logs(job, tail, follow, out)? {
            return Ok(status);
        }
        head.queue(false)?
            .into_iter()
            .find(|j| j.id == job)
            .map(|j| j.status)
            .ok_or_else(|| ClientError::Other(format!("no job {job} on cluster `{cluster}`")))
    }

    /// What `cancel` acts on for `target`, a cluster name or a glob pattern: per
    /// matching cluster, `jobs`, or (none named and not `all`) its latest job, as
    /// SkyPilot does. Job ids with a pattern are refused (they belong to one
    /// cluster). A pattern may match clusters that are stopped or have no job:
    /// those come back in the second list with why, instead of failing.
    pub fn cancel_targets(
        &self,
        target: &str,
        jobs: &[u64],
        all: bool,
    ) -> ClientResult<CancelTargets> {
        let pattern = is_cluster_pattern(target);
        let clusters = self.expand_cluster_names(std::slice::from_ref(&target.to_string()))?;
        if pattern && !jobs.is_empty() {
            return Err(ClientError::Other(format!(
                "job ids belong to one cluster: name it instead of the pattern `{target}` (it matches {})",
                clusters.join(", ")
            )));
        }
        let (mut targets, mut skipped) = (Vec::new(), Vec::new());
        for name in clusters {
            if !jobs.is_empty() || all {
                targets.push((name, jobs.to_vec()));
                continue;
            }
            match self.job(&name, None) {
                Ok(job) => targets.push((name, vec![job.id])),
                Err(err) if pattern => skipped.push((name, err)),
                Err(err) => return Err(err),
            }
        }
        Ok(CancelTargets {
            clusters: targets,
            skipped,
        })
    }

    /// Requests cancellation of `jobs` on `cluster` (every unfinished job when
    /// empty and `all`). A job that has already ended is left as it is and said so.
    pub fn cancel(
        &self,
        cluster: &str,
        jobs: &[u64],
        all: bool,
    ) -> ClientResult<Vec<Cancellation>> {
        let head = self.head_of(&self.up_cluster(cluster)?)?;
        let queue = head.queue(false)?;
        let (ended, ids): (Vec<JobRecord>, Vec<u64>) = if all {
            let live = queue.iter().filter(|j| !j.status.is_terminal());
            (Vec::new(), live.map(|j| j.id).collect())
        } else {
            let ended = queue
                .into_iter()
                .filter(|j| jobs.contains(&j.id) && j.status.is_terminal())
                .collect::<Vec<_>>();
            let ids = jobs
                .iter()
                .copied()
                .filter(|id| !ended.iter().any(|j| j.id == *id))
                .collect();
            (ended, ids)
        };
        let mut out: Vec<Cancellation> =
            ended.into_iter().map(Cancellation::AlreadyEnded).collect();
        if !ids.is_empty() {
            out.extend(
                head.cancel(&ids, unix_now())?
                    .into_iter()
                    .map(Cancellation::Requested),
            );
        }
        Ok(out)
    }

    /// How `ssh NAME` reaches each cluster's head: through aloft's SSH config, or
    /// not at all for a `local` cluster, whose nodes are folders on this machine.
    pub fn head_access(&self) -> ClientResult<Vec<(String, HeadAccess)>> {
        Ok(self
            .state
            .clusters()?
            .into_iter()
            .map(|record| {
                let access = match handle(&record)
                    .ok()
                    .and_then(|h| h.nodes.into_iter().next())
                {
                    Some(NodeAddress::Ssh { .. }) => HeadAccess::Ssh,
                    Some(NodeAddress::Local { home, .. }) => HeadAccess::Folder(home),
                    _ => HeadAccess::Unknown,
                };
                (record.name, access)
            })
            .collect())
    }

    /// What each cluster cost over the last `days` days, from the prices recorded at
    /// launch.
    pub fn cost_report(&self, days: u32) -> ClientResult<Vec<CostEntry>> {
        let now = unix_now();
        Ok(self
            .state
            .cost_report(now - i64::from(days) * 86_400, now)?)
    }
}

/// What a cancel acts on ([`Client::cancel_targets`]).
#[derive(Debug)]
pub struct CancelTargets {
    /// Each cluster with the jobs to cancel there (empty with `all`: every
    /// unfinished job).
    pub clusters: Vec<(String, Vec<u64>)>,
    /// Clusters a pattern matched that have nothing to cancel, with why.
    pub skipped: Vec<(String, ClientError)>,
}

/// Whether a cluster name given on a command line is a glob pattern (`*`, `?`
/// or `[`), which [`Client::expand_cluster_names`] expands.
pub fn is_cluster_pattern(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// One piece of a glob pattern.
enum GlobPiece {
    /// `*`: any run of characters.
    Star,
    /// `?`: one character.
    One,
    /// `[...]` / `[!...]`: one character in (or not in) these ranges.
    Class(bool, Vec<(char, char)>),
    /// A character as it is.
    Literal(char),
}

/// Whether `name` matches the shell-style glob `pattern` (`*`, `?`, `[a-z]`,
/// `[!a-z]` or `[^a-z]`); an unclosed `[` is an error.
pub(crate) fn glob_matches(pattern: &str, name: &str) -> Result<bool, String> {
    let mut pieces = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        pieces.push(match c {
            '*' => GlobPiece::Star,
            '?' => GlobPiece::One,
            '[' => {
                let negated = chars.next_if(|c| *c == '!' || *c == '^').is_some();
                let mut ranges = Vec::new();
                let mut first = true;
                loop {
                    let Some(lo) = chars.next() else {
                        return Err("`[` without its `]`".to_string());
                    };
                    if lo == ']' && !first {
                        break;
                    }
                    first = false;
                    let hi = if chars.peek() == Some(&'-') {
                        chars.next();
                        match chars.next() {
                            Some(']') | None => {
                                // `[a-]`: the dash is a character of its own.
                                ranges.push((lo, lo));
                                ranges.push(('-', '-'));
                                break;
                            }
                            Some(hi) => hi,
                        }
                    } else {
                        lo
                    };
                    ranges.push((lo, hi));
                }
                GlobPiece::Class(negated, ranges)
            }
            other => GlobPiece::Literal(other),
        });
    }
    let name: Vec<char> = name.chars().collect();
    // Backtracking over the last `*`: linear in practice for short names.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = match pieces.get(p) {
            Some(GlobPiece::Star) => {
                star = Some((p, n));
                p += 1;
                continue;
            }
            Some(GlobPiece::One) => true,
            Some(GlobPiece::Literal(c)) => *c == name[n],
            Some(GlobPiece::Class(negated, ranges)) => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&name[n])) != *negated
            }
            None => false,
        };
        if step {
            p += 1;
            n += 1;
        } else if let Some((sp, sn)) = star {
            p = sp + 1;
            n = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return Ok(false);
        }
    }
    Ok(pieces[p..]
        .iter()
        .all(|piece| matches!(piece, GlobPiece::Star)))
}

#[cfg(test)]
mod glob_tests {
    use super::glob_matches;

    #[test]
    fn globs_match_as_a_shell_does() {
        let m = |p: &str, n: &str| glob_matches(p, n).unwrap();
        assert!(m("dev-*", "dev-1"));
        assert!(m("dev-*", "dev-"));
        assert!(!m("dev-*", "prod-1"));
        assert!(m("*-1", "dev-1"));
        assert!(m("d?v*1", "dev-a1"));
        assert!(!m("d?v", "dv"));
        assert!(m("exp-[0-9]", "exp-7"));
        assert!(!m("exp-[!0-9]", "exp-7"));
        assert!(m("exp-[^0-9]", "exp-x"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("[]x]", "]"));
        assert!(m("a[b-]", "a-"));
        assert!(glob_matches("exp-[0-9", "exp-1").is_err());
    }
}
