//! Managed spot jobs on the bundled `aws` provider against moto (the AWS emulator):
//! the instance is terminated behind aloft's back, as a spot interruption would,
//! and the jobs controller (its own process, as `aloft jobs launch` starts it)
//! relaunches by the job's `job_recovery` strategy. Nodes are real `sshd`
//! "machines" on loopback (`tests/ssh_relay.py` routes each EC2 instance to one);
//! every fact about AWS resources is read back from moto with boto3, never through
//! aloft.
//!
//! A user catalog in the test's home offers `m6i.large` in two regions, us-east-1
//! (cheaper spot) and us-west-2, so where a relaunch lands says which strategy ran.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aloft_tests::fault_proxy::{FaultProxy, Rule, ec2_error};
use aloft_tests::moto::Moto;
use aloft_tests::sshd::Sshd;
use common::text;

/// A secret only these tests know; it must never appear in any output or file.
const SECRET: &str = "aloftJOBSsecretKEY/never+printed";

const REGIONS: &str = "us-east-1,us-west-2";

/// The controller's pace in these tests (hidden settings of `aloft jobs controller`).
const FAST: [(&str, &str); 3] = [
    ("ALOFT_JOBS_POLL_MS", "300"),
    ("ALOFT_JOBS_IDLE_MS", "3000"),
    ("ALOFT_JOBS_RETRY_MS", "300"),
];

/// Python helpers every boto3 snippet gets (besides `ec2`, `boto3` and `json`).
const PRELUDE: &str = "\
def client(kind, region='us-east-1'):\n    \
    return boto3.client(kind, endpoint_url=ec2.meta.endpoint_url, region_name=region, \
aws_access_key_id='AKIAMOTOTEST', aws_secret_access_key='moto-test')\n\
def instances(cluster, region):\n    \
    r = client('ec2', region).describe_instances(Filters=[{'Name': 'tag:aloft-cluster', 'Values': [cluster]}])\n    \
    return [i for res in r['Reservations'] for i in res['Instances']]\n\
def live(cluster):\n    \
    return {r: [i['InstanceId'] for i in instances(cluster, r) \
if i['State']['Name'] not in ('terminated', 'shutting-down')] for r in ['us-east-1', 'us-west-2']}\n\
def groups():\n    \
    return {r: [g['GroupName'] for g in client('ec2', r).describe_security_groups()['SecurityGroups'] \
if g['GroupName'].startswith('aloft-')] for r in ['us-east-1', 'us-west-2']}\n";

struct World {
    home: tempfile::TempDir,
    moto: Moto,
    _machines: Vec<Sshd>,
    _proxy: Option<FaultProxy>,
}

impl World {
    /// moto, `n` sshd machines on 127.0.0.<first_ip..>, aloft's config pointing at
    /// moto (or at a fault proxy in front of it), and the two-region catalog.
    fn new(n: usize, first_ip: u8, fault: Option<Rule>) -> World {
        let home = tempfile::tempdir().unwrap();
        let moto = Moto::start();
        // Each machine opens to the key pair its instance was launched with (the
        // relay installs it, as an image's first boot does).
        let machines: Vec<Sshd> = (0..n)
            .map(|i| {
                let ip = format!("127.0.0.{}", first_ip + i as u8);
                Sshd::start_machine(&home.path().join(format!("m{i}")), &ip)
            })
            .collect();
        let map = home.path().join("relay-map.json");
        let list: Vec<serde_json::Value> = machines
            .iter()
            .map(|m| serde_json::json!([m.ip, m.port, m.authorized_keys_path()]))
            .collect();
        std::fs::write(
            &map,
            serde_json::json!({"machines": list, "assigned": {}}).to_string(),
        )
        .unwrap();
        let relay = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/ssh_relay.py");
        let proxy = fault.map(|rule| FaultProxy::start(moto.port, rule));
        let port = proxy.as_ref().map_or(moto.port, |p| p.port);
        std::fs::write(
            home.path().join("config.yaml"),
            format!(
                "providers:\n  aws:\n    endpoint: http://127.0.0.1:{port}\n    ssh_user: {user}\n    \
                 ssh_proxy_command: {python} {relay} {map} %h {moto} {REGIONS}\n",
                user = machines[0].user,
                python = moto.python().display(),
                relay = relay.display(),
                map = map.display(),
                moto = moto.endpoint(),
            ),
        )
        .unwrap();
        let catalog = home.path().join("catalogs/aws");
        std::fs::create_dir_all(&catalog).unwrap();
        std::fs::write(
            catalog.join("vms.csv"),
            "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,AvailabilityZone\n\
             m6i.large,,,2.0,8.0,,0.096,0.030000,us-east-1,use1-az1\n\
             m6i.large,,,2.0,8.0,,0.096,0.040000,us-west-2,usw2-az1\n",
        )
        .unwrap();
        World {
            home,
            moto,
            _machines: machines,
            _proxy: proxy,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aloft"));
        cmd.args(args)
            .env("ALOFT_HOME", self.home.path())
            .env("AWS_ACCESS_KEY_ID", "AKIAALOFTTEST")
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env_remove("AWS_SESSION_TOKEN")
            .envs(FAST);
        cmd
    }

    /// Runs aloft; its stderr also lands in a file under the home (the secret
    /// search covers it).
    fn aloft(&self, args: &[&str]) -> Output {
        let name: String = args[..args.len().min(2)].join("-");
        let log = self.home.path().join(format!("aloft-{name}.log"));
        let stderr = std::fs::File::create(&log).unwrap();
        let mut out = self
            .command(args)
            .stderr(stderr)
            .output()
            .expect("run aloft");
        out.stderr = std::fs::read(&log).unwrap_or_default();
        out
    }

    fn task(&self, name: &str, body: &str) -> PathBuf {
        let path = self.home.path().join(name);
        std::fs::write(&path, body).unwrap();
        path
    }

    /// Runs a boto3 snippet (with [`PRELUDE`]) that prints one JSON value.
    fn boto(&self, code: &str) -> serde_json::Value {
        self.moto.boto(&format!("{PRELUDE}{code}"))
    }

    /// Live (not terminated) instances of `cluster` per region, from moto.
    fn live(&self, cluster: &str) -> serde_json::Value {
        self.boto(&format!("print(json.dumps(live('{cluster}')))"))
    }

    /// Submits `task` detached; returns the job's id.
    fn submit(&self, task: &Path) -> String {
        let out = self.aloft(&["jobs", "launch", "-d", "-y", task.to_str().unwrap()]);
        ok(&out).trim().to_string()
    }

    fn job(&self, id: &str) -> serde_json::Value {
        let out = ok(&self.aloft(&["jobs", "queue", "-a", "-o", "json"]));
        let all: serde_json::Value = serde_json::from_str(&out).unwrap();
        all.as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"].as_i64().map(|v| v.to_string()).as_deref() == Some(id))
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    }

    /// Polls the job (and whatever `extra` reads) until `done` holds.
    fn wait_for(
        &self,
        id: &str,
        what: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let j = self.job(id);
            if done(&j) {
                return j;
            }
            assert!(
                Instant::now() < deadline,
                "{what} never happened: {j}\ncontroller log:\n{}",
                self.controller_log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn controller_log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("jobs-controller.log")).unwrap_or_default()
    }

    /// The pids of controllers that logged their start and still run.
    fn controller_pids(&self) -> Vec<i32> {
        self.controller_log()
            .lines()
            .filter_map(|l| Some(l.split_once("jobs controller ")?.1))
            .filter_map(|l| l.split(' ').next()?.parse().ok())
            .filter(|pid: &i32| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| text(&c).contains("controller"))
            })
            .collect()
    }

    /// Terminates `cluster`'s live instances in `region` behind aloft's back, as a
    /// spot interruption does; returns how many there were (all spot).
    fn preempt(&self, cluster: &str, region: &str) -> usize {
        let gone = self.boto(&format!(
            "ids = [i['InstanceId'] for i in instances('{cluster}', '{region}') if i['State']['Name'] == 'running']\n\
             spot = all(i.get('InstanceLifecycle') == 'spot' for i in instances('{cluster}', '{region}'))\n\
             if ids: client('ec2', '{region}').terminate_instances(InstanceIds=ids)\n\
             print(json.dumps(dict(n=len(ids), spot=spot)))"
        ));
        assert_eq!(gone["spot"], true, "{gone}");
        gone["n"].as_u64().unwrap() as usize
    }

    /// Waits until moto shows nothing of `cluster` alive and no aloft security
    /// group in either region (the controller tears down right after recording
    /// the end).
    fn wait_until_nothing_left(&self, cluster: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = self.boto(&format!(
                "print(json.dumps(dict(live=live('{cluster}'), groups=groups())))"
            ));
            let empty = |v: &serde_json::Value| {
                v.as_object()
                    .is_some_and(|m| m.values().all(|l| l.as_array().is_some_and(Vec::is_empty)))
            };
            if empty(&left["live"]) && empty(&left["groups"]) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "left in moto: {left}\n{}",
                self.controller_log()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // A failed test must not leave its controller managing jobs on a dead moto.
        // Nor may any test leave what its machines' head agents started: their SSH
        // ControlMasters and the relays under them outlive the sshd that served
        // them, so every process whose command line names this world's folder goes.
        let dir = self.home.path().to_string_lossy().into_owned();
        let ours = (std::fs::read_dir("/proc").into_iter().flatten().flatten()).filter(|entry| {
            std::fs::read(entry.path().join("cmdline")).is_ok_and(|c| text(&c).contains(&dir))
        });
        let ours: Vec<i32> = ours
            .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
            .filter(|pid| *pid != std::process::id() as i32)
            .collect();
        for pid in self.controller_pids().into_iter().chain(ours) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

fn ok(out: &Output) -> String {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "secret leaked"
    );
    stdout
}

fn status(j: &serde_json::Value) -> &str {
    j["status"].as_str().unwrap_or("")
}

fn is_terminal(j: &serde_json::Value) -> bool {
    !matches!(
        status(j),
        "PENDING" | "STARTING" | "RUNNING" | "RECOVERING" | "CANCELLING" | ""
    )
}

fn region(j: &serde_json::Value) -> &str {
    j["location"]["region"].as_str().unwrap_or("")
}

#[test]
fn eager_next_region_relaunches_elsewhere_and_resumes_from_the_s3_checkpoint() {
    let world = World::new(3, 100, None);
    // The user's checkpoint bucket. The job reads its checkpoint through a file
    // mount of it (downloaded again onto every new cluster) and writes it back
    // with boto3, as a training script with an S3 checkpoint callback would.
    assert_eq!(
        world.boto("client('s3').create_bucket(Bucket='aloft-ckpt')\nprint('true')"),
        true
    );
    let put = format!(
        "{py} -c \"import boto3, sys; boto3.client('s3', endpoint_url='{url}', region_name='us-east-1', \
         aws_access_key_id='AKIAJOB', aws_secret_access_key='job').put_object(Bucket='aloft-ckpt', \
         Key='train/' + sys.argv[1], Body=sys.argv[2].encode())\"",
        py = world.moto.python().display(),
        url = world.moto.endpoint(),
    );
    let task = world.task(
        "train.yaml",
        &format!(
            "name: train\n\
             resources: {{infra: aws, instance_type: m6i.large, use_spot: true}}\n\
             file_mounts:\n  ~/ckpt: s3://aloft-ckpt/train\n\
             run: |\n  \
               if [ -f ~/ckpt/step ]; then\n    \
                 echo \"resumed at step $(cat ~/ckpt/step)\"\n    \
                 {put} resumed \"$SKYPILOT_TASK_ID $(cat ~/ckpt/step)\"\n    \
                 exit 0\n  \
               fi\n  \
               {put} task-id \"$SKYPILOT_TASK_ID\"\n  \
               {put} step 7\n  \
               sleep 600\n"
        ),
    );
    let id = world.submit(&task);
    let first = world.wait_for(&id, "RUNNING with a checkpoint in S3", |j| {
        status(j) == "RUNNING"
            && world.boto(
                "print(json.dumps(client('s3').list_objects_v2(Bucket='aloft-ckpt', Prefix='train/step').get('KeyCount', 0)))",
            ) == 1
    });
    assert_eq!(
        region(&first),
        "us-east-1",
        "the cheaper region first: {first}"
    );
    let cluster = first["cluster_name"].as_str().unwrap().to_string();
    assert_eq!(world.preempt(&cluster, "us-east-1"), 1);

    let done = world.wait_for(&id, "the end", is_terminal);
    assert_eq!(
        status(&done),
        "SUCCEEDED",
        "{done}\n{}",
        world.controller_log()
    );
    assert_eq!(done["recovery_count"], 1, "{done}");
    assert_eq!(
        region(&done),
        "us-west-2",
        "the lost region is blocked: {done}"
    );
    // The relaunched run found the checkpoint the first one wrote, under the same
    // SKYPILOT_TASK_ID.
    let s3 = world.boto(
        "o = lambda k: client('s3').get_object(Bucket='aloft-ckpt', Key='train/' + k)['Body'].read().decode()\n\
         print(json.dumps(dict(first=o('task-id'), resumed=o('resumed'))))",
    );
    let task_id = s3["first"].as_str().unwrap();
    assert!(!task_id.is_empty(), "{s3}");
    assert_eq!(s3["resumed"], format!("{task_id} 7"), "{s3}");
    // Nothing is left: the lost cluster was torn down before the relaunch (no
    // instance, no security group in us-east-1), the replacement after the end.
    world.wait_until_nothing_left(&cluster);
    common::assert_secret_in_no_file(world.home.path(), SECRET);
}

#[test]
fn failover_relaunches_in_the_same_region_and_cancel_leaves_nothing() {
    // us-east-1 (the cheaper) has no capacity until the job has landed in
    // us-west-2: a plain relaunch would go back to us-east-1, FAILOVER must stay.
    let mut west_seen = false;
    let rule: Rule = Box::new(move |body: &str| {
        if !body.contains("Action=RunInstances") {
            return None;
        }
        let zone = body
            .split('&')
            .find_map(|kv| kv.strip_prefix("Placement.AvailabilityZone="))
            .unwrap_or_default();
        if zone.starts_with("us-west-2") {
            west_seen = true;
        }
        (zone.starts_with("us-east-1") && !west_seen).then(|| {
            (
                500,
                ec2_error(
                    "InsufficientInstanceCapacity",
                    "We currently do not have sufficient m6i.large capacity.",
                ),
            )
        })
    });
    let world = World::new(3, 110, Some(rule));
    let task = world.task(
        "fo.yaml",
        "name: fo\n\
         resources:\n  infra: aws\n  instance_type: m6i.large\n  use_spot: true\n  \
         job_recovery: {strategy: FAILOVER}\n\
         run: sleep 600\n",
    );
    let id = world.submit(&task);
    let first = world.wait_for(&id, "RUNNING", |j| status(j) == "RUNNING");
    assert_eq!(region(&first), "us-west-2", "{first}");
    let cluster = first["cluster_name"].as_str().unwrap().to_string();
    assert_eq!(world.preempt(&cluster, "us-west-2"), 1);
    let again = world.wait_for(&id, "the relaunch", |j| {
        status(j) == "RUNNING" && j["recovery_count"] == 1
    });
    assert_eq!(region(&again), "us-west-2", "same region first: {again}");
    let live = world.live(&cluster);
    assert_eq!(live["us-east-1"], serde_json::json!([]), "{live}");
    assert_eq!(live["us-west-2"].as_array().unwrap().len(), 1, "{live}");

    ok(&world.aloft(&["jobs", "cancel", "-y", &id]));
    let done = world.wait_for(&id, "the cancel", is_terminal);
    assert_eq!(status(&done), "CANCELLED", "{done}");
    world.wait_until_nothing_left(&cluster);
    common::assert_secret_in_no_file(world.home.path(), SECRET);
}

/// A sampler of moto's live instances of `cluster` in both regions, every ~100 ms,
/// in its own process; it records the most it ever saw at once.
struct Sampler {
    child: Child,
    out: PathBuf,
}

impl Sampler {
    fn start(world: &World, cluster: &str) -> Sampler {
        let out = world.home.path().join("sampler.json");
        let script = format!(
            "import boto3, json, time\n\
             ec2 = boto3.client('ec2', endpoint_url='{url}', region_name='us-east-1', \
             aws_access_key_id='AKIAMOTOTEST', aws_secret_access_key='moto-test')\n\
             {PRELUDE}\
             most, seen, samples = 0, set(), 0\n\
             while True:\n    \
                 now = [i for ids in live('{cluster}').values() for i in ids]\n    \
                 most, samples = max(most, len(now)), samples + 1\n    \
                 seen.update(now)\n    \
                 with open('{out}.tmp', 'w') as f: json.dump(dict(most=most, seen=sorted(seen), samples=samples), f)\n    \
                 import os; os.replace('{out}.tmp', '{out}')\n    \
                 time.sleep(0.1)\n",
            url = world.moto.endpoint(),
            out = out.display(),
        );
        let child = Command::new(world.moto.python())
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Sampler { child, out }
    }

    fn read(&self) -> serde_json::Value {
        std::fs::read(&self.out)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(serde_json::Value::Null)
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn kill_9_of_the_controller_mid_recovery_never_leaves_two_clusters() {
    let world = World::new(5, 120, None);
    let marker = world.home.path().join("preempted-once");
    let started = world.home.path().join("first-run-started");
    // The first run waits to be preempted; the replacement ends at once. The
    // replacement's set-up takes a few seconds, so the recovery lasts long enough
    // to be seen (and killed) under a loaded CI machine.
    let task = world.task(
        "k.yaml",
        &format!(
            "name: k\nresources: {{infra: aws, instance_type: m6i.large, use_spot: true}}\n\
             setup: |\n  if [ -f {m} ]; then sleep 8; fi\n\
             run: |\n  if [ -f {m} ]; then echo replacement; exit 0; fi\n  touch {s}\n  sleep 600\n",
            m = marker.display(),
            s = started.display(),
        ),
    );
    let id = world.submit(&task);
    let first = world.wait_for(&id, "the first run", |j| {
        status(j) == "RUNNING" && started.exists()
    });
    assert_eq!(region(&first), "us-east-1", "{first}");
    let cluster = first["cluster_name"].as_str().unwrap().to_string();
    let sampler = Sampler::start(&world, &cluster);
    std::fs::write(&marker, "").unwrap();
    assert_eq!(
        world.preempt(&cluster, "us-east-1"),
        1,
        "{first}\n{}\n{}",
        world.controller_log(),
        world.boto(
            "print(json.dumps([(r, i['InstanceId'], i['State']['Name'], i.get('Tags')) for r in ['us-east-1', 'us-west-2'] for i in [i for res in client('ec2', r).describe_instances()['Reservations'] for i in res['Instances']]]))"
        )
    );
    // Mid-recovery: the replacement instance exists in moto, its launch (SSH wait,
    // set-up, job) has not finished.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let live = world.live(&cluster);
        let j = world.job(&id);
        if status(&j) == "RECOVERING" && live["us-west-2"].as_array().is_some_and(|a| !a.is_empty())
        {
            break;
        }
        assert!(
            Instant::now() < deadline && !is_terminal(&j),
            "no relaunch seen: {j} {live}\n{}",
            world.controller_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pids = world.controller_pids();
    assert_eq!(pids.len(), 1, "one controller: {pids:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pids[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // The next `aloft jobs` command (here the queue) starts a controller again; it
    // waits for the dead one's lock and reconciles before relaunching anything.
    let killed_in = status(&world.job(&id)).to_string();
    let done = world.wait_for(&id, "the end", is_terminal);
    assert_eq!(
        status(&done),
        "SUCCEEDED",
        "{done}\n{}",
        world.controller_log()
    );
    world.wait_until_nothing_left(&cluster);
    let log = world.controller_log();
    let starts = log.lines().filter(|l| l.ends_with(" started")).count();
    assert_eq!(starts, 2, "{log}");
    assert!(!log.contains("another jobs controller"), "{log}");
    let sampled = sampler.read();
    println!(
        "killed while {killed_in}; moto sampled: {sampled}\n{}",
        world.controller_log()
    );
    assert!(sampled["samples"].as_u64() > Some(10), "{sampled}");
    assert_eq!(
        sampled["most"], 1,
        "killed while {killed_in}: moto held two clusters for one job: {sampled}"
    );
    common::assert_secret_in_no_file(world.home.path(), SECRET);
}

#[test]
fn cancel_while_starting_leaves_no_instance() {
    let world = World::new(2, 130, None);
    let task = world.task(
        "c.yaml",
        "name: c\nresources: {infra: aws, instance_type: m6i.large, use_spot: true}\nrun: sleep 600\n",
    );
    let id = world.submit(&task);
    // The launch is under way: moto has the instance, the job is not RUNNING yet.
    let deadline = Instant::now() + Duration::from_secs(60);
    let cluster = loop {
        let j = world.job(&id);
        if let Some(cluster) = j["cluster_name"].as_str()
            && status(&j) == "STARTING"
            && world.live(cluster)["us-east-1"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        {
            break cluster.to_string();
        }
        assert!(
            Instant::now() < deadline && status(&j) != "RUNNING",
            "no launch in progress seen: {j}\n{}",
            world.controller_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    ok(&world.aloft(&["jobs", "cancel", "-y", &id]));
    let done = world.wait_for(&id, "the cancel", is_terminal);
    assert_eq!(status(&done), "CANCELLED", "{done}");
    world.wait_until_nothing_left(&cluster);
    common::assert_secret_in_no_file(world.home.path(), SECRET);
}
