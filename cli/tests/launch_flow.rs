//! The launch flow (state, failover, agent, file sync, job) on local-folder nodes.
//!
//! The provisioner here is a stand-in for the `local` provider component: it hands
//! out node folders and fails the zones it is told to, so the flow around it —
//! everything but the provider call — runs for real: a real state file, the real
//! `aloft agent` process, real processes on the nodes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aloft::catalog::{Catalog, Offer};
use aloft::launch::{
    LaunchContext, LaunchError, LaunchRequest, NodeAddress, launch, stop_local_agent,
};
use aloft::optimizer::{Candidate, OptTask, OptimizeOptions};
use aloft::provision::{Failure, FailureKind, Provisioner, RetryPolicy};
use aloft::runtime::agent::AgentPaths;
use aloft::runtime::head::{Head, HeadLocation};
use aloft::runtime::queue::JobStatus;
use aloft::state::{ClusterStatus, StateDb};
use aloft::task::{Overrides, TaskChain};

struct Folders {
    root: PathBuf,
    full_zones: BTreeSet<String>,
    runs: Vec<String>,
}

impl Provisioner for Folders {
    type Nodes = Vec<NodeAddress>;

    fn run(&mut self, c: &Candidate, n: u32) -> Result<Vec<NodeAddress>, Failure> {
        let zone = c.zone.clone().unwrap_or_default();
        self.runs.push(zone.clone());
        if self.full_zones.contains(&zone) {
            return Err(Failure {
                kind: FailureKind::Capacity,
                code: "LocalCapacity".into(),
                message: format!("no room in {zone}"),
            });
        }
        Ok((0..n)
            .map(|i| NodeAddress::Local {
                id: format!("node-{i}"),
                home: self.root.join(format!("node-{i}")),
                ip: format!("127.0.0.{}", i + 1),
            })
            .collect())
    }

    fn clean_up(&mut self, _: &Candidate) -> Result<(), Failure> {
        Ok(())
    }
}

fn local_catalog() -> Catalog {
    let mut catalog = Catalog::embedded().unwrap();
    let offers = ["local-a", "local-b", "local-c"]
        .iter()
        .map(|zone| Offer {
            cloud: "local".into(),
            instance_type: "local-2cpu".into(),
            accelerator: None,
            vcpus: 2.0,
            memory_gib: 4.0,
            gpu_memory_mib: None,
            price: Some(0.0),
            spot_price: Some(0.0),
            region: "local".into(),
            zone: Some(zone.to_string()),
        })
        .collect();
    catalog.insert_offers("local", offers);
    catalog
}

fn follow(head: &HeadLocation, home: &Path, job: u64) -> (String, JobStatus) {
    let head = Head::new(head.clone(), home.join("ssh"));
    let mut out = Vec::new();
    head.logs(job, None, true, &mut out).unwrap();
    let status = head
        .queue(false)
        .unwrap()
        .into_iter()
        .find(|j| j.id == job)
        .unwrap()
        .status;
    (String::from_utf8(out).unwrap(), status)
}

#[test]
fn a_two_node_launch_fails_over_to_the_third_zone_and_runs_its_job() {
    let home = tempfile::tempdir().unwrap();
    let task_dir = home.path().join("project");
    std::fs::create_dir_all(&task_dir).unwrap();
    std::fs::write(task_dir.join("data.txt"), "payload").unwrap();
    std::fs::write(task_dir.join(".gitignore"), "*.tmp\n").unwrap();
    std::fs::write(task_dir.join("junk.tmp"), "ignored").unwrap();
    let yaml = "name: gang\nnum_nodes: 2\nworkdir: .\nresources: {infra: local, cpus: 2}\n\
                envs: {GREETING: hi}\nsecrets: {TOKEN: s3cr3t}\n\
                setup: echo setup-$SKYPILOT_SETUP_NODE_RANK > setup.txt\n\
                run: |\n  echo \"$GREETING rank=$SKYPILOT_NODE_RANK of $SKYPILOT_NUM_NODES ips=$(echo $SKYPILOT_NODE_IPS | tr ' ' ,) data=$(cat data.txt) tmp=$(ls *.tmp 2>/dev/null | wc -l) token=${#TOKEN}\"\n";
    std::fs::write(task_dir.join("task.yaml"), yaml).unwrap();
    let chain =
        TaskChain::from_yaml_file(task_dir.join("task.yaml"), &Overrides::default()).unwrap();
    let task = &chain.tasks()[0];
    let opt_task = OptTask {
        name: task.name.clone(),
        num_nodes: task.num_nodes,
        resources: task.resources.clone(),
        estimated_hours: None,
    };
    let state = StateDb::open(&home.path().join("state.db")).unwrap();
    let catalog = local_catalog();
    let options = OptimizeOptions {
        enabled_clouds: vec!["local".into()],
        ..OptimizeOptions::default()
    };
    let interrupted = std::sync::atomic::AtomicBool::new(false);
    let ctx = LaunchContext {
        interrupted: &interrupted,
        home: home.path(),
        state: &state,
        catalog: &catalog,
        options: &options,
        policy: RetryPolicy::default(),
        agents: aloft::runtime::node_agents::NodeAgents::new(
            env!("CARGO_BIN_EXE_aloft"),
            home.path().join("node-agents"),
        ),
    };
    let mut provider = Folders {
        root: home.path().join("nodes"),
        full_zones: ["local-a".to_string(), "local-b".to_string()].into(),
        runs: Vec::new(),
    };
    let req = LaunchRequest {
        cluster: "c2",
        task,
        task_dir: &task_dir,
        no_setup: false,
        registry: Vec::new(),
    };
    let mut progress = Vec::new();
    let launched = launch(&ctx, &req, &opt_task, &mut provider, &mut |line: &str| {
        progress.push(line.to_string())
    })
    .unwrap();
    let agent_root = home.path().join("nodes/node-0/.aloft/agent");
    let _stop = StopAgent(AgentPaths::new(&agent_root));
    assert_eq!(provider.runs, ["local-a", "local-b", "local-c"]);
    assert_eq!(launched.attempts.len(), 3);
    let summary = progress.join("\n");
    assert!(
        summary.contains("local/local-a local-2cpu: capacity (LocalCapacity"),
        "{summary}"
    );
    assert!(
        summary.contains("local/local-b local-2cpu: capacity"),
        "{summary}"
    );
    assert_eq!(launched.record.status, ClusterStatus::Up);
    assert_eq!(launched.record.zone.as_deref(), Some("local-c"));

    let (log, status) = follow(&launched.head, home.path(), launched.job_id.unwrap());
    assert_eq!(status, JobStatus::Succeeded, "{log}");
    let mut lines: Vec<&str> = log.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "(rank 0) hi rank=0 of 2 ips=127.0.0.1,127.0.0.2 data=payload tmp=0 token=6",
            "(rank 1) hi rank=1 of 2 ips=127.0.0.1,127.0.0.2 data=payload tmp=0 token=6",
        ]
    );
    assert_eq!(
        std::fs::read_to_string(home.path().join("nodes/node-1/sky_workdir/setup.txt")).unwrap(),
        "setup-1\n"
    );
    // The record in state is UP and its events tell the story.
    let events = state.events("c2").unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "provision-attempt",
            "provision-failed",
            "provision-attempt",
            "provision-failed",
            "provision-attempt",
            "provisioned"
        ]
    );
    // The secret never reached state or the agent's queue.
    for file in [home.path().join("state.db"), agent_root.join("jobs.db")] {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes.windows(6).any(|w| w == b"s3cr3t"),
            "{}",
            file.display()
        );
    }

    // Launching again on the same cluster reuses it: no provider call, setup skipped.
    let req = LaunchRequest {
        no_setup: true,
        ..req
    };
    let again = launch(&ctx, &req, &opt_task, &mut provider, &mut |_: &str| {}).unwrap();
    assert_eq!(provider.runs.len(), 3, "no new provisioning");
    let (_, status) = follow(&again.head, home.path(), again.job_id.unwrap());
    assert_eq!(status, JobStatus::Succeeded);

    // A task the cluster does not fit is refused, naming the field in words.
    let other = TaskChain::from_yaml_str(
        "resources: {infra: local, cpus: 8}\nnum_nodes: 1\nrun: \"true\"\n",
        "other.yaml",
        &Overrides::default(),
    )
    .unwrap();
    let other_task = OptTask {
        name: None,
        num_nodes: 1,
        resources: other.tasks()[0].resources.clone(),
        estimated_hours: None,
    };
    let req = LaunchRequest {
        task: &other.tasks()[0],
        ..req
    };
    let err = launch(&ctx, &req, &other_task, &mut provider, &mut |_: &str| {}).unwrap_err();
    assert!(matches!(err, LaunchError::Mismatch { .. }), "{err}");
    assert!(err.to_string().contains("aloft down c2"), "{err}");
    assert!(
        err.to_string()
            .contains("cpus: the task asks for 8; the cluster's nodes have 2"),
        "{err}"
    );
}

#[test]
fn a_failing_setup_ends_the_job_failed_setup() {
    let home = tempfile::tempdir().unwrap();
    let chain = TaskChain::from_yaml_str(
        "resources: {infra: local}\nsetup: exit 3\nrun: touch ran\n",
        "t.yaml",
        &Overrides::default(),
    )
    .unwrap();
    let task = &chain.tasks()[0];
    let opt_task = OptTask {
        name: None,
        num_nodes: 1,
        resources: task.resources.clone(),
        estimated_hours: None,
    };
    let state = StateDb::open(&home.path().join("state.db")).unwrap();
    let catalog = local_catalog();
    let options = OptimizeOptions {
        enabled_clouds: vec!["local".into()],
        ..OptimizeOptions::default()
    };
    let interrupted = std::sync::atomic::AtomicBool::new(false);
    let ctx = LaunchContext {
        interrupted: &interrupted,
        home: home.path(),
        state: &state,
        catalog: &catalog,
        options: &options,
        policy: RetryPolicy::default(),
        agents: aloft::runtime::node_agents::NodeAgents::new(
            env!("CARGO_BIN_EXE_aloft"),
            home.path().join("node-agents"),
        ),
    };
    let mut provider = Folders {
        root: home.path().join("nodes"),
        full_zones: BTreeSet::new(),
        runs: Vec::new(),
    };
    let req = LaunchRequest {
        cluster: "bad-setup",
        task,
        task_dir: home.path(),
        no_setup: false,
        registry: Vec::new(),
    };
    let launched = launch(&ctx, &req, &opt_task, &mut provider, &mut |_: &str| {}).unwrap();
    let _stop = StopAgent(AgentPaths::new(
        home.path().join("nodes/node-0/.aloft/agent"),
    ));
    let deadline = Instant::now() + Duration::from_secs(20);
    let (_, status) = loop {
        let r = follow(&launched.head, home.path(), launched.job_id.unwrap());
        if r.1.is_terminal() || Instant::now() > deadline {
            break r;
        }
    };
    assert_eq!(status, JobStatus::FailedSetup);
    assert!(!home.path().join("nodes/node-0/sky_workdir/ran").exists());
}

/// Stops the detached agent when the test ends.
struct StopAgent(AgentPaths);

impl Drop for StopAgent {
    fn drop(&mut self) {
        stop_local_agent(&self.0);
    }
}
