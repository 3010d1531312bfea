//! Managed jobs on real clusters: the [`JobBackend`] the jobs controller drives,
//! built on the client's own verbs (launch, queue, refresh, down), so a managed job
//! runs exactly as `aloft launch` would, on any provider.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::jobs::{
    ClusterRef, JobBackend, JobProbe, LaunchError, LaunchRequest, Launched, Location, Reconciled,
    TeardownError,
};
use crate::optimizer::{BlockedSpec, Blocklist};
use crate::runtime::node::Forward;
use crate::runtime::queue::JobStatus;
use crate::state::ClusterStatus;
use crate::task::{Overrides, TaskChain};

use super::{Client, ClientError, ErrorClass, LaunchOptions};

/// A [`JobBackend`] over aloft's home. Calls for different jobs run at once, each
/// on a [`Client`] of its own: a client is not shared between threads, so the
/// backend keeps the clients it opened in a pool and a call takes one (opening a
/// new one only when every pooled client is busy, up to eight). Opening a client costs a state
/// database connection, the config and the provider components; reusing them makes
/// a poll of a thousand jobs cheap. A pooled client is dropped when `config.yaml`
/// changed since it was opened, so a change of settings is seen at the next call,
/// as it was when every call opened its own client.
pub struct ClientBackend {
    home: PathBuf,
    bundled: Vec<(String, &'static [u8])>,
    compiled: Vec<(String, &'static [u8])>,
    agent_binary: PathBuf,
    node_agents: Vec<(String, &'static [u8])>,
    component_cache: PathBuf,
    node_ready_timeout: std::time::Duration,
    autostop_seconds_per_minute: Option<u64>,
    pool: Mutex<Pool>,
    /// Signalled when a client goes back to the pool.
    returned: Condvar,
    /// Forwards to the heads of clusters that only SSH reaches (serve replicas),
    /// by cluster name; a cluster's goes when it is torn down.
    pub(super) forwards: Mutex<HashMap<String, Forward>>,
}

/// The clients this backend opened: idle ones, and how many exist in all.
#[derive(Default)]
struct Pool {
    idle: Vec<Pooled>,
    open: usize,
}

/// A client taken from the pool; dropped only on a panic, when it frees the slot.
struct Slot<'a>(&'a ClientBackend);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.pool().open -= 1;
        self.0.returned.notify_one();
    }
}

/// An idle client and the `config.yaml` bytes it was opened with.
struct Pooled {
    config: Option<Vec<u8>>,
    client: Client,
}

/// At most this many clients exist at once; a call finding them all busy waits
/// for one. Each client holds its own runtime, plugin engine and database
/// connections (several MiB), so this bounds the controller's memory however many
/// jobs it polls; it also bounds the provider and SSH calls in flight.
const MAX_CLIENTS: usize = 8;

impl ClientBackend {
    /// A backend whose clients are opened as `client` was: the same home, provider
    /// components, agent program and node agents (so a job's head of another
    /// architecture gets its agent, as a launch's does).
    pub fn for_client(client: &Client) -> Self {
        ClientBackend {
            home: client.home.clone(),
            bundled: client.bundled.clone(),
            compiled: client.compiled.clone(),
            agent_binary: client.agent_binary.clone(),
            node_agents: client.node_agent_bytes.clone(),
            component_cache: client.component_cache.clone(),
            node_ready_timeout: client.node_ready_timeout,
            autostop_seconds_per_minute: client.autostop_seconds_per_minute,
            pool: Mutex::new(Pool::default()),
            returned: Condvar::new(),
            forwards: Mutex::new(HashMap::new()),
        }
    }

    fn pool(&self) -> MutexGuard<'_, Pool> {
        // The pool is plain data: a panic while it was held leaves it usable.
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on a pooled client (or a new one while fewer than
    /// [`MAX_CLIENTS`] exist, else the next one given back), then returns it.
    pub(super) fn with_client<T>(&self, f: impl FnOnce(&Client) -> T) -> Result<T, ClientError> {
        let config = std::fs::read(self.home.join("config.yaml")).ok();
        let reused = {
            let mut pool = self.pool();
            loop {
                // A client opened with other settings is closed.
                let before = pool.idle.len();
                pool.idle.retain(|p| p.config == config);
                pool.open -= before - pool.idle.len();
                if let Some(pooled) = pool.idle.pop() {
                    break Some(pooled.client);
                }
                if pool.open < MAX_CLIENTS {
                    pool.open += 1;
                    break None;
                }
                pool = self.returned.wait(pool).unwrap_or_else(|p| p.into_inner());
            }
        };
        let client = match reused {
            Some(client) => client,
            None => match self.client() {
                Ok(client) => client,
                Err(err) => {
                    self.pool().open -= 1;
                    self.returned.notify_one();
                    return Err(err);
                }
            },
        };
        // Should `f` panic, the client is dropped and its slot given back.
        let slot = Slot(self);
        let out = f(&client);
        std::mem::forget(slot);
        self.pool().idle.push(Pooled { config, client });
        self.returned.notify_one();
        Ok(out)
    }

    fn client(&self) -> Result<Client, ClientError> {
        let bundled: Vec<(&str, &'static [u8])> =
            self.bundled.iter().map(|(n, b)| (n.as_str(), *b)).collect();
        let compiled: Vec<(&str, &'static [u8])> = self
            .compiled
            .iter()
            .map(|(n, b)| (n.as_str(), *b))
            .collect();
        let agents: Vec<(&str, &'static [u8])> = self
            .node_agents
            .iter()
            .map(|(a, b)| (a.as_str(), *b))
            .collect();
        // SAFETY: the pairs the client this backend was made for was given.
        let builder = unsafe { Client::builder().compiled_providers(&compiled) };
        let mut builder = builder
            .home(&self.home)
            .bundled_providers(&bundled)
            .node_agents(&agents)
            .agent_binary(&self.agent_binary)
            .component_cache(&self.component_cache)
            .node_ready_timeout(self.node_ready_timeout)
            .on_event(|event| tracing::info!("{event}"));
        if let Some(seconds) = self.autostop_seconds_per_minute {
            builder = builder.autostop_seconds_per_minute(seconds);
        }
        builder.open()
    }

    fn launch_in(&self, req: &LaunchRequest) -> Result<Launched, ClientError> {
        let chain = TaskChain::from_yaml_str(&req.spec_yaml, "managed job", &Overrides::default())
            .map_err(|e| ClientError::InvalidInput(e.to_string()))?;
        let mut task = chain
            .tasks()
            .get(req.task_index as usize)
            .cloned()
            .ok_or_else(|| ClientError::InvalidInput(format!("no task {}", req.task_index)))?;
        if let Some(pin) = &req.constraints.pinned {
            for r in task.resources.candidates_mut() {
                if r.infra.cloud.as_deref().is_none_or(|c| c == pin.cloud) {
                    r.infra.cloud = Some(pin.cloud.clone());
                    r.infra.region = Some(pin.region.clone());
                }
            }
        }
        for (k, v) in &req.envs {
            task.envs.insert(k.clone(), v.clone());
        }
        let mut blocked = Blocklist::default();
        for lost in &req.constraints.blocked {
            blocked.block(BlockedSpec {
                cloud: Some(lost.cloud.clone()),
                region: Some(lost.region.clone()),
                ..BlockedSpec::default()
            });
        }
        let mut options = LaunchOptions::named(&req.cluster);
        options.blocked = blocked;
        let launched =
            self.with_client(|client| client.launch(&task, std::path::Path::new("."), &options))??;
        let r = &launched.record;
        Ok(Launched {
            location: Location {
                cloud: r.provider.clone(),
                region: r.region.clone(),
                zone: r.zone.clone(),
            },
            cluster_job_id: launched.job_id.and_then(|id| i64::try_from(id).ok()),
        })
    }

    fn probe(client: &Client, cluster: &ClusterRef) -> JobProbe {
        // The provider's word first: a preempted or vanished cluster is gone.
        if let Err(err) = client.refresh(std::slice::from_ref(&cluster.cluster)) {
            return JobProbe::Unreachable(err.to_string());
        }
        Self::probe_refreshed(client, cluster)
    }

    /// [`ClientBackend::probe`] once the cluster's record was refreshed: its status
    /// in the state, then its job on the head's queue.
    fn probe_refreshed(client: &Client, cluster: &ClusterRef) -> JobProbe {
        match client.state().cluster(&cluster.cluster) {
            Ok(Some(record)) if record.status == ClusterStatus::Up => {}
            Ok(_) => return JobProbe::ClusterGone,
            Err(err) => return JobProbe::Unreachable(err.to_string()),
        }
        let Some(id) = cluster.cluster_job_id.and_then(|id| u64::try_from(id).ok()) else {
            return JobProbe::Unreachable("no job id recorded for this cluster".into());
        };
        match client.job(&cluster.cluster, Some(id)) {
            Ok(job) => match job.status {
                JobStatus::Succeeded => JobProbe::Succeeded,
                JobStatus::Failed | JobStatus::Cancelled => JobProbe::Failed {
                    exit_codes: job.exit_codes.clone(),
                    in_setup: false,
                },
                JobStatus::FailedSetup => JobProbe::Failed {
                    exit_codes: job.exit_codes.clone(),
                    in_setup: true,
                },
                _ => JobProbe::Running,
            },
            Err(err) => JobProbe::Unreachable(err.to_string()),
        }
    }
}

impl JobBackend for ClientBackend {
    fn launch(&self, req: &LaunchRequest) -> Result<Launched, LaunchError> {
        self.launch_in(req).map_err(|err| match err.class() {
            ErrorClass::NoResources => LaunchError::NoResources(err.to_string()),
            ErrorClass::Invalid => LaunchError::Precheck(err.to_string()),
            _ if matches!(
                err,
                ClientError::Launch(crate::launch::LaunchError::Provision(_))
            ) =>
            {
                LaunchError::NoResources(err.to_string())
            }
            _ => LaunchError::Other(err.to_string()),
        })
    }

    fn poll(&self, cluster: &ClusterRef) -> JobProbe {
        self.with_client(|client| Self::probe(client, cluster))
            .unwrap_or_else(|err| JobProbe::Unreachable(err.to_string()))
    }

    /// One refresh for all the clusters (one provider query per provider, which
    /// the provider may answer per region), then each head's queue, the clusters
    /// split between up to eight threads (one per pooled client) of at least 16 each.
    fn poll_many(&self, clusters: &[ClusterRef]) -> Vec<JobProbe> {
        let all_unreachable = |why: String| vec![JobProbe::Unreachable(why); clusters.len()];
        let names: Vec<String> = clusters.iter().map(|c| c.cluster.clone()).collect();
        match self.with_client(|client| client.refresh(&names)) {
            Ok(Ok(_)) => {}
            Ok(Err(err)) | Err(err) => return all_unreachable(err.to_string()),
        }
        // A thread (and a pooled client) per 16 clusters at least: a few jobs are
        // read on one client, not on eight opened for them.
        let chunk = clusters.len().div_ceil(MAX_CLIENTS).max(16);
        std::thread::scope(|scope| {
            let parts: Vec<_> = clusters
                .chunks(chunk)
                .map(|part| {
                    let handle = scope.spawn(move || {
                        self.with_client(|client| {
                            part.iter()
                                .map(|c| Self::probe_refreshed(client, c))
                                .collect::<Vec<_>>()
                        })
                    });
                    (part.len(), handle)
                })
                .collect();
            parts
                .into_iter()
                .flat_map(|(n, handle)| match handle.join() {
                    Ok(Ok(probes)) => probes,
                    Ok(Err(err)) => vec![JobProbe::Unreachable(err.to_string()); n],
                    Err(_) => vec![JobProbe::Unreachable("a poll thread panicked".into()); n],
                })
                .collect()
        })
    }

    fn save_output(
        &self,
        cluster: &ClusterRef,
        out: &mut dyn std::io::Write,
    ) -> Result<(), String> {
        let id = cluster
            .cluster_job_id
            .and_then(|id| u64::try_from(id).ok())
            .ok_or("no job id recorded for this cluster")?;
        self.with_client(|client| client.logs(&cluster.cluster, id, None, false, out))
            .and_then(|r| r)
            .map_err(|e| e.to_string())
    }

    fn teardown(&self, cluster: &ClusterRef) -> Result<(), TeardownError> {
        let fail = |message: String| TeardownError {
            cluster: cluster.cluster.clone(),
            message,
        };
        self.end_forward(&cluster.cluster);
        let result = self
            .with_client(|client| client.down(&cluster.cluster, false))
            .map_err(|e| fail(e.to_string()))?;
        match result {
            Ok(()) | Err(ClientError::UnknownCluster { .. }) => Ok(()),
            Err(err) => Err(fail(err.to_string())),
        }
    }

    fn reconcile(&self, cluster: &ClusterRef) -> Reconciled {
        self.with_client(|client| Self::reconcile_in(client, cluster))
            .unwrap_or(Reconciled::Absent)
    }
}

impl ClientBackend {
    fn reconcile_in(client: &Client, cluster: &ClusterRef) -> Reconciled {
        let Ok(Some(record)) = client.state().cluster(&cluster.cluster) else {
            return Reconciled::Absent;
        };
        if record.status != ClusterStatus::Up || cluster.cluster_job_id.is_none() {
            return Reconciled::Absent;
        }
        match Self::probe(client, cluster) {
            JobProbe::ClusterGone | JobProbe::Unreachable(_) => Reconciled::Absent,
            probe => Reconciled::Alive {
                launched: Launched {
                    location: Location {
                        cloud: record.provider.clone(),
                        region: record.region.clone(),
                        zone: record.zone.clone(),
                    },
                    cluster_job_id: cluster.cluster_job_id,
                },
                probe,
            },
        }
    }
}
