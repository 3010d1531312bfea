//! Gang execution: one script started on every node of a job at once, with the
//! SkyPilot-compatible environment, failing as a whole.
//!
//! Each node's process gets its rank, the IPs of all nodes (rank order, head first),
//! the node count, GPUs per node, a task id and the cluster's identity, under both
//! the `SKYPILOT_` names existing task files use and `ALOFT_` twins. When any node's
//! process fails, the others are stopped; a [`GangKiller`] cancels the whole job.

use std::io::Write;
use std::sync::mpsc;

use serde::{Deserialize, Serialize};

use super::node::{Killer, Node, NodeError, Script};

/// The cluster a job runs on, as `SKYPILOT_CLUSTER_INFO` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// Cluster name.
    pub cluster_name: String,
    /// Provider (cloud) name.
    pub cloud: String,
    /// Region.
    pub region: String,
    /// Zone, when there is one.
    pub zone: Option<String>,
}

/// Which phase a gang runs: the env var names differ (`SKYPILOT_SETUP_NODE_RANK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `setup`, on every node of the cluster.
    Setup,
    /// `run`, on the job's nodes.
    Run,
}

/// What to run on every node.
#[derive(Debug, Clone)]
pub struct GangSpec {
    /// Bash source of `setup` or `run`.
    pub script: String,
    /// Task environment variables.
    pub env: Vec<(String, String)>,
    /// Secrets: exported like env, never logged or stored.
    pub secrets: Vec<(String, String)>,
    /// Folder to run in, relative to each node's home.
    pub cwd: Option<String>,
    /// The cluster.
    pub cluster: ClusterInfo,
    /// `SKYPILOT_TASK_ID`.
    pub task_id: String,
    /// GPUs per node asked for (fractions count as one).
    pub gpus_per_node: f64,
    /// Setup or run.
    pub phase: Phase,
    /// Run inside each node's container of the cluster (`image_id: docker:...`,
    /// see [`super::container`]).
    pub in_container: bool,
}

/// One node taking part.
pub struct GangMember<'a> {
    /// How to reach it.
    pub node: &'a dyn Node,
    /// Its IP as the other nodes see it.
    pub ip: String,
    /// `CUDA_VISIBLE_DEVICES` for this job on this node, when it has GPUs.
    pub cuda_visible_devices: Option<String>,
    /// Where this node's output goes.
    pub log: Box<dyn Write + Send + 'a>,
}

/// How each node's process ended.
#[derive(Debug)]
pub struct GangOutcome {
    /// Per rank: the exit code, or why there is none.
    pub results: Vec<Result<i32, NodeError>>,
}

impl GangOutcome {
    /// Whether every node exited 0.
    pub fn succeeded(&self) -> bool {
        self.results.iter().all(|r| matches!(r, Ok(0)))
    }

    /// Exit codes per rank (-1 where a node has none: killed or unreachable).
    pub fn exit_codes(&self) -> Vec<i32> {
        self.results
            .iter()
            .map(|r| r.as_ref().map_or(-1, |code| *code))
            .collect()
    }
}

/// Stops every node's process of a running gang.
#[derive(Debug, Clone)]
pub struct GangKiller {
    killers: Vec<Killer>,
}

impl GangKiller {
    /// Sends SIGTERM to each node's process group.
    pub fn kill(&self) {
        for killer in &self.killers {
            killer.kill();
        }
    }
}

/// The environment of rank `rank` among `ips`.
pub fn gang_env(spec: &GangSpec, rank: usize, ips: &[String]) -> Vec<(String, String)> {
    let gpus = if spec.gpus_per_node > 0.0 {
        spec.gpus_per_node.ceil() as u64
    } else {
        0
    };
    let cluster_info = serde_json::to_string(&spec.cluster).unwrap_or_else(|_| "{}".into());
    let (rank_key, ips_key, gpus_key) = match spec.phase {
        Phase::Setup => (
            "SETUP_NODE_RANK",
            "SETUP_NODE_IPS",
            "SETUP_NUM_GPUS_PER_NODE",
        ),
        Phase::Run => ("NODE_RANK", "NODE_IPS", "NUM_GPUS_PER_NODE"),
    };
    let values = [
        (rank_key, rank.to_string()),
        (ips_key, ips.join("\n")),
        ("NUM_NODES", ips.len().to_string()),
        (gpus_key, gpus.to_string()),
        ("TASK_ID", spec.task_id.clone()),
        ("CLUSTER_INFO", cluster_info),
    ];
    let mut env = Vec::new();
    for prefix in ["SKYPILOT_", "ALOFT_"] {
        for (key, value) in &values {
            env.push((format!("{prefix}{key}"), value.clone()));
        }
    }
    env
}

/// A gang whose processes have started.
pub struct Gang<'a> {
    waiters: Vec<std::thread::ScopedJoinHandle<'a, ()>>,
    results: mpsc::Receiver<(usize, Result<i32, NodeError>)>,
    killer: GangKiller,
    size: usize,
}

impl Gang<'_> {
    /// A handle that cancels the whole gang.
    pub fn killer(&self) -> GangKiller {
        self.killer.clone()
    }
}

/// Runs `spec` on every member at once and waits for all of them. The first node
/// to fail stops the others. `on_start` receives the gang's killer as soon as every
/// process runs (for cancellation from elsewhere).
pub fn run_gang(
    members: Vec<GangMember<'_>>,
    spec: &GangSpec,
    on_start: impl FnOnce(GangKiller),
) -> GangOutcome {
    let ips: Vec<String> = members.iter().map(|m| m.ip.clone()).collect();
    std::thread::scope(|scope| {
        let gang = start(scope, members, spec, &ips);
        let gang = match gang {
            Ok(gang) => gang,
            Err(results) => return GangOutcome { results },
        };
        on_start(gang.killer());
        wait(gang)
    })
}

type StartFailure = Vec<Result<i32, NodeError>>;

fn start<'scope, 'env>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    members: Vec<GangMember<'env>>,
    spec: &GangSpec,
    ips: &[String],
) -> Result<Gang<'scope>, StartFailure> {
    let size = members.len();
    let mut started = Vec::new();
    let mut failure = None;
    for (rank, member) in members.into_iter().enumerate() {
        let mut env = gang_env(spec, rank, ips);
        if let Some(devices) = &member.cuda_visible_devices {
            env.push(("CUDA_VISIBLE_DEVICES".into(), devices.clone()));
        }
        env.extend(spec.env.iter().cloned());
        env.extend(spec.secrets.iter().cloned());
        let body = if spec.in_container {
            super::container::wrap(
                &spec.cluster.cluster_name,
                &spec.script,
                env.iter().map(|(name, _)| name.as_str()),
            )
        } else {
            spec.script.clone()
        };
        let script = Script {
            body,
            env,
            cwd: spec.cwd.clone(),
        };
        match member.node.spawn(&script) {
            Ok(running) => started.push((rank, running, member.log)),
            Err(err) => {
                failure = Some((rank, err));
                break;
            }
        }
    }
    if let Some((failed_rank, err)) = failure {
        // All or nothing: stop what did start, report every rank.
        let mut results: Vec<Result<i32, NodeError>> = (0..size)
            .map(|rank| {
                Err(NodeError::Killed {
                    node: format!("rank {rank}"),
                })
            })
            .collect();
        for (rank, running, mut log) in started {
            running.killer().kill();
            results[rank] = running.wait(&mut log);
        }
        results[failed_rank] = Err(err);
        return Err(results);
    }
    let killer = GangKiller {
        killers: started.iter().map(|(_, r, _)| r.killer()).collect(),
    };
    let (tx, results) = mpsc::channel();
    let waiters = started
        .into_iter()
        .map(|(rank, running, mut log)| {
            let tx = tx.clone();
            scope.spawn(move || {
                let result = running.wait(&mut log);
                // The receiver lives until every result is in.
                let _ = tx.send((rank, result));
            })
        })
        .collect();
    Ok(Gang {
        waiters,
        results,
        killer,
        size,
    })
}

fn wait(gang: Gang<'_>) -> GangOutcome {
    let mut results: Vec<Option<Result<i32, NodeError>>> = (0..gang.size).map(|_| None).collect();
    for _ in 0..gang.size {
        let Ok((rank, result)) = gang.results.recv() else {
            break;
        };
        if !matches!(result, Ok(0)) {
            gang.killer.kill();
        }
        results[rank] = Some(result);
    }
    for waiter in gang.waiters {
        let _ = waiter.join();
    }
    GangOutcome {
        results: results
            .into_iter()
            .enumerate()
            .map(|(rank, r)| {
                r.unwrap_or_else(|| {
                    Err(NodeError::Killed {
                        node: format!("rank {rank}"),
                    })
                })
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::runtime::node::LocalNode;

    /// A log that the test can read after the gang is done.
    #[derive(Clone, Default)]
    struct SharedLog(Arc<Mutex<Vec<u8>>>);

    impl Write for SharedLog {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl SharedLog {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn spec(script: &str) -> GangSpec {
        GangSpec {
            script: script.into(),
            env: vec![("MODEL".into(), "llama".into())],
            secrets: vec![("HF_TOKEN".into(), "hf_secret".into())],
            cwd: Some("sky_workdir".into()),
            cluster: ClusterInfo {
                cluster_name: "c1".into(),
                cloud: "local".into(),
                region: "local".into(),
                zone: Some("local-a".into()),
            },
            task_id: "aloft-1_c1_1".into(),
            gpus_per_node: 0.5,
            phase: Phase::Run,
            in_container: false,
        }
    }

    #[test]
    fn every_rank_sees_its_rank_and_all_ips() {
        let dir = tempfile::tempdir().unwrap();
        let nodes: Vec<LocalNode> = (0..3)
            .map(|i| LocalNode::new(dir.path().join(format!("n{i}"))))
            .collect();
        let logs: Vec<SharedLog> = (0..3).map(|_| SharedLog::default()).collect();
        let members = nodes
            .iter()
            .zip(&logs)
            .enumerate()
            .map(|(i, (node, log))| GangMember {
                node,
                ip: format!("10.0.0.{}", i + 1),
                cuda_visible_devices: (i == 0).then(|| "0".to_string()),
                log: Box::new(log.clone()),
            })
            .collect();
        let outcome = run_gang(
            members,
            &spec(
                "echo \"$SKYPILOT_NODE_RANK/$ALOFT_NUM_NODES gpus=$SKYPILOT_NUM_GPUS_PER_NODE \
                 cvd=${CUDA_VISIBLE_DEVICES:-none} $MODEL ${#HF_TOKEN} $(basename $PWD)\"; \
                 echo \"$SKYPILOT_NODE_IPS\" | paste -sd, -; echo \"$SKYPILOT_CLUSTER_INFO\"",
            ),
            |_| {},
        );
        assert!(outcome.succeeded(), "{outcome:?}");
        let info = r#"{"cluster_name":"c1","cloud":"local","region":"local","zone":"local-a"}"#;
        for (rank, log) in logs.iter().enumerate() {
            let cvd = if rank == 0 { "0" } else { "none" };
            assert_eq!(
                log.text(),
                format!(
                    "{rank}/3 gpus=1 cvd={cvd} llama 9 sky_workdir\n\
                     10.0.0.1,10.0.0.2,10.0.0.3\n{info}\n"
                )
            );
        }
    }

    #[test]
    fn one_failing_rank_stops_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let a = LocalNode::new(dir.path().join("a"));
        let b = LocalNode::new(dir.path().join("b"));
        let members = vec![
            GangMember {
                node: &a,
                ip: "127.0.0.1".into(),
                cuda_visible_devices: None,
                log: Box::new(std::io::sink()),
            },
            GangMember {
                node: &b,
                ip: "127.0.0.2".into(),
                cuda_visible_devices: None,
                log: Box::new(std::io::sink()),
            },
        ];
        let started = Instant::now();
        let outcome = run_gang(
            members,
            &spec("if [ \"$SKYPILOT_NODE_RANK\" = 1 ]; then sleep 0.2; exit 4; fi; sleep 30"),
            |_| {},
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(!outcome.succeeded());
        assert!(matches!(outcome.results[0], Err(NodeError::Killed { .. })));
        assert!(matches!(outcome.results[1], Ok(4)));
        assert_eq!(outcome.exit_codes(), vec![-1, 4]);
    }

    #[test]
    fn the_killer_cancels_a_running_gang() {
        let dir = tempfile::tempdir().unwrap();
        let a = LocalNode::new(dir.path().join("a"));
        let members = vec![GangMember {
            node: &a,
            ip: "127.0.0.1".into(),
            cuda_visible_devices: None,
            log: Box::new(std::io::sink()),
        }];
        let started = Instant::now();
        let outcome = run_gang(members, &spec("sleep 30"), |killer| {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                killer.kill();
            });
        });
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(matches!(outcome.results[0], Err(NodeError::Killed { .. })));
    }

    #[test]
    fn setup_uses_the_setup_variable_names() {
        let mut s = spec("true");
        s.phase = Phase::Setup;
        let env = gang_env(&s, 1, &["a".into(), "b".into()]);
        let get = |k: &str| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        assert_eq!(get("SKYPILOT_SETUP_NODE_RANK").as_deref(), Some("1"));
        assert_eq!(get("ALOFT_SETUP_NODE_IPS").as_deref(), Some("a\nb"));
        assert_eq!(get("SKYPILOT_NODE_RANK"), None);
    }
}
