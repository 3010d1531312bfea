//! The bundled `aws` provider against moto (the AWS emulator) end to end: the
//! provider speaks EC2's Query API with SigV4 to a real moto server (through the
//! `endpoint` override), and `ssh_proxy_command` routes SSH to the nodes moto
//! invents onto real `sshd` "machines" on loopback, so setup and the job run for
//! real. Every fact about AWS resources is read back with boto3.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aloft_tests::fault_proxy::{FaultProxy, Rule, ec2_error};
use aloft_tests::moto::Moto;
use aloft_tests::sshd::Sshd;
use common::text;

/// A secret only these tests know; it must never appear in any output or file.
const SECRET: &str = "aloftTESTsecretKEY/never+printed";

struct World {
    home: tempfile::TempDir,
    moto: Moto,
    machines: Vec<Sshd>,
    /// The fault-injecting proxy, when aloft talks to moto through one.
    _proxy: Option<FaultProxy>,
}

impl World {
    /// moto, `n` machines on 127.0.0.<first..>, aloft's config pointing at
    /// `endpoint_port` (moto itself, or a proxy in front of it).
    fn new(n: usize, first_ip: u8, fault: Option<Rule>) -> World {
        let home = tempfile::tempdir().unwrap();
        // Its request log shows who read a bucket's objects.
        let moto = Moto::start_logged();
        // The user has an aloft key of their own; the machines do not take it: each
        // opens only to the key pair its instance was launched with (the relay
        // installs it, as an image's first boot does).
        aloft::runtime::keys::ensure_key_pair(&home.path().join("keys")).unwrap();
        let machines: Vec<Sshd> = (0..n)
            .map(|i| {
                let ip = format!("127.0.0.{}", first_ip + i as u8);
                Sshd::start_machine(&home.path().join(format!("m{i}")), &ip)
            })
            .collect();
        let map = home.path().join("relay-map.json");
        // A shutdown from inside a machine does what EC2 does to its instance.
        let guest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/guest_shutdown.py");
        for m in &machines {
            m.on_power_off(&format!(
                "exec {} {} {} {} {}",
                moto.python().display(),
                guest.display(),
                map.display(),
                m.ip,
                moto.endpoint()
            ));
        }
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
        let port = proxy.as_ref().map(|p| p.port).unwrap_or(moto.port);
        std::fs::write(
            home.path().join("config.yaml"),
            format!(
                "providers:\n  aws:\n    endpoint: http://127.0.0.1:{port}\n    ssh_user: {user}\n    \
                 ssh_proxy_command: {python} {relay} {map} %h {moto}\n",
                user = machines.first().map_or("ubuntu".to_string(), |m| m.user.clone()),
                python = moto.python().display(),
                relay = relay.display(),
                map = map.display(),
                moto = moto.endpoint(),
            ),
        )
        .unwrap();
        World {
            home,
            moto,
            machines,
            _proxy: proxy,
        }
    }

    fn aloft(&self, args: &[&str]) -> Output {
        // stderr also goes to a file under the home, so a hung run can be read and
        // the secret search covers it.
        let log = self.home.path().join(format!("aloft-{}.log", args[0]));
        let stderr = std::fs::File::create(&log).unwrap();
        let mut out = Command::new(env!("CARGO_BIN_EXE_aloft"))
            .args(args)
            .stderr(stderr)
            .env("ALOFT_HOME", self.home.path())
            .env("AWS_ACCESS_KEY_ID", "AKIAALOFTTEST")
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env_remove("AWS_SESSION_TOKEN")
            .env("ALOFT_LOG", "trace")
            // Autostop's minute is a second long here (a hidden setting).
            .env("ALOFT_AUTOSTOP_SECONDS_PER_MINUTE", "1")
            // A jobs controller (one test runs one) polls fast and goes idle soon.
            .env("ALOFT_JOBS_POLL_MS", "200")
            .env("ALOFT_JOBS_IDLE_MS", "1500")
            // A serve controller (one test runs one) polls and retries fast.
            .env("ALOFT_SERVE_POLL_MS", "300")
            .env("ALOFT_SERVE_IDLE_MS", "2000")
            .env("ALOFT_SERVE_RETRY_MS", "500")
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

/// Every file under `dir` (aloft's home: state, logs, keys, the machines' files),
/// searched for the secret.
fn assert_no_secret_in_files(dir: &Path) {
    common::assert_secret_in_no_file(dir, SECRET);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    common::files_under(dir)
}

#[test]
fn a_two_node_cluster_lives_its_whole_life_on_moto() {
    let world = World::new(2, 20, None);
    let task = world.task(
        "train.yaml",
        "name: train\nnum_nodes: 2\n\
         resources: {infra: aws/us-east-1, instance_type: m6i.large, ports: 8080}\n\
         setup: echo setup-done > setup.txt\n\
         run: echo \"rank $SKYPILOT_NODE_RANK of $SKYPILOT_NUM_NODES on $(echo $SSH_CONNECTION | cut -d' ' -f3) ips=$(echo $SKYPILOT_NODE_IPS)\"\n",
    );
    let out = world.aloft(&["launch", "-y", "-c", "trn", task.to_str().unwrap()]);
    let stdout = ok(&out);
    // One SSH wait (the provisioner's, with progress), not a second one after it.
    let stderr = text(&out.stderr);
    assert_eq!(
        stderr.matches("to accept SSH (up to").count(),
        1,
        "{stderr}"
    );
    assert!(!stderr.contains("to accept connections"), "{stderr}");
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.sort();
    assert_eq!(lines.len(), 2, "{stdout}\n{}", text(&out.stderr));
    assert!(
        lines[0].starts_with("(rank 0) rank 0 of 2 on 127.0.0.2"),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("(rank 1) rank 1 of 2 on 127.0.0.2"),
        "{stdout}"
    );

    // moto has the instances, with the right type, tags and security group rules.
    let found = world.moto.boto(
        "r = ec2.describe_instances(Filters=[{'Name': 'tag:aloft-cluster', 'Values': ['trn']}])\n\
         out = [dict(type=i['InstanceType'], state=i['State']['Name'], spot=i.get('InstanceLifecycle'),\n\
                     tags={t['Key']: t['Value'] for t in i.get('Tags', [])}, key=i.get('KeyName'),\n\
                     groups=[g['GroupName'] for g in i.get('SecurityGroups', [])], ip=i.get('PrivateIpAddress'))\n\
                for res in r['Reservations'] for i in res['Instances']]\n\
         print(json.dumps(out))",
    );
    let instances = found.as_array().unwrap();
    assert_eq!(instances.len(), 2, "{found}");
    let mut roles: Vec<&str> = instances
        .iter()
        .map(|i| i["tags"]["aloft-role"].as_str().unwrap())
        .collect();
    roles.sort();
    assert_eq!(roles, ["head", "worker"]);
    for i in instances {
        assert_eq!(i["type"], "m6i.large");
        assert_eq!(i["state"], "running");
        assert!(i["spot"].is_null(), "on-demand");
        assert!(i["key"].as_str().unwrap().starts_with("aloft-"));
        assert_eq!(i["groups"], serde_json::json!(["aloft-trn"]));
        // The job saw the nodes' private addresses.
        let ip = i["ip"].as_str().unwrap();
        assert!(stdout.contains(ip), "{ip} not in {stdout}");
    }
    let ports = world.moto.boto(
        "g = ec2.describe_security_groups(Filters=[{'Name': 'group-name', 'Values': ['aloft-trn']}])['SecurityGroups'][0]\n\
         print(json.dumps(sorted([p['FromPort'] for p in g['IpPermissions']])))",
    );
    assert_eq!(ports, serde_json::json!([22, 8080]));
    // setup ran on both machines.
    for m in &world.machines {
        assert!(
            m.home().join("sky_workdir/setup.txt").exists() || m.home().join("setup.txt").exists()
        );
    }

    let status = ok(&world.aloft(&["status", "-r", "-o", "json"]));
    let rows: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(rows[0]["status"], "UP", "{rows}");
    assert_eq!(rows[0]["provider"], "aws");

    ok(&world.aloft(&["stop", "-y", "trn"]));
    let states = world.moto.boto(
        "r = ec2.describe_instances(Filters=[{'Name': 'tag:aloft-cluster', 'Values': ['trn']}])\n\
         print(json.dumps(sorted(i['State']['Name'] for res in r['Reservations'] for i in res['Instances'])))",
    );
    assert_eq!(states, serde_json::json!(["stopped", "stopped"]));
    ok(&world.aloft(&["start", "trn"]));
    let status = ok(&world.aloft(&["status", "-r", "-o", "json"]));
    let rows: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(rows[0]["status"], "UP", "{rows}");
    // The instances came back with new public addresses (as on AWS); the old ones
    // lead nowhere, so this gang job only runs if aloft followed the move.
    let again = world.task(
        "again.yaml",
        "num_nodes: 2\nrun: echo rank $SKYPILOT_NODE_RANK after restart\n",
    );
    let out = world.aloft(&["exec", "trn", again.to_str().unwrap()]);
    let stdout = ok(&out);
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "(rank 0) rank 0 after restart",
            "(rank 1) rank 1 after restart"
        ],
        "{}",
        text(&out.stderr)
    );

    ok(&world.aloft(&["down", "-y", "trn"]));
    let after = world.moto.boto(
        "r = ec2.describe_instances(Filters=[{'Name': 'tag:aloft-cluster', 'Values': ['trn']}])\n\
         states = sorted(i['State']['Name'] for res in r['Reservations'] for i in res['Instances'])\n\
         groups = ec2.describe_security_groups(Filters=[{'Name': 'group-name', 'Values': ['aloft-trn']}])['SecurityGroups']\n\
         keys = [k['KeyName'] for k in ec2.describe_key_pairs()['KeyPairs']]\n\
         print(json.dumps(dict(states=states, groups=len(groups), keys=keys)))",
    );
    assert_eq!(
        after["states"],
        serde_json::json!(["terminated", "terminated"])
    );
    assert_eq!(
        after["groups"], 0,
        "the cluster's security group is deleted"
    );
    // The cluster's own key pair goes with it.
    assert_eq!(after["keys"], serde_json::json!([]));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&ok(&world.aloft(&["status", "-o", "json"])))
            .unwrap(),
        serde_json::json!([])
    );
    assert_no_secret_in_files(world.home.path());
}

/// Connects to `machine` as its user with `key` only (no agent, no other key) and
/// runs `true`.
fn opens(machine: &Sshd, key: &Path) -> bool {
    Command::new("ssh")
        .arg("-i")
        .arg(key)
        .args([
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityAgent=none",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-p",
        ])
        .arg(machine.port.to_string())
        .arg(format!("{}@{}", machine.user, machine.ip))
        .arg("true")
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run ssh")
        .success()
}

#[test]
fn each_cluster_gets_a_key_of_its_own_which_down_deletes() {
    let world = World::new(2, 150, None);
    let task = world.task(
        "one.yaml",
        "resources: {infra: aws/us-east-1, instance_type: m6i.large}\nrun: echo up\n",
    );
    for cluster in ["k1", "k2"] {
        ok(&world.aloft(&["launch", "-y", "-c", cluster, task.to_str().unwrap()]));
    }
    let keys = world.home.path().join("keys");
    let user_key = std::fs::read(keys.join("aloft-key")).unwrap();
    let cluster_key =
        |c: &str| std::fs::read(keys.join("clusters").join(c).join("aloft-key")).unwrap();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(keys.join("clusters/k1/aloft-key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    // Each head holds its own cluster's key (the one its node opens to), never
    // the user's; no file on either machine holds the user's key.
    let head_key = |m: &Sshd| m.home().join(".aloft/keys/cluster-key");
    let mut held: Vec<Vec<u8>> = world
        .machines
        .iter()
        .map(|m| std::fs::read(head_key(m)).unwrap())
        .collect();
    held.sort();
    let mut expected = vec![cluster_key("k1"), cluster_key("k2")];
    expected.sort();
    assert_eq!(held, expected);
    for m in &world.machines {
        for file in walk(&m.home()) {
            let bytes = std::fs::read(&file).unwrap_or_default();
            assert!(
                !bytes.windows(user_key.len()).any(|w| w == user_key),
                "the user's key is on a node: {}",
                file.display()
            );
        }
    }
    // A head's key opens its own node, not the other cluster's.
    let [m0, m1] = [&world.machines[0], &world.machines[1]];
    assert!(opens(m0, &head_key(m0)) && opens(m1, &head_key(m1)));
    assert!(
        !opens(m1, &head_key(m0)),
        "one cluster's key opens another's node"
    );
    assert!(
        !opens(m0, &head_key(m1)),
        "one cluster's key opens another's node"
    );
    assert!(
        !opens(m0, &keys.join("aloft-key")),
        "the user's key opens a node"
    );

    ok(&world.aloft(&["down", "-y", "k1"]));
    assert!(!keys.join("clusters/k1").exists(), "down deletes the key");
    assert!(
        keys.join("clusters/k2").exists(),
        "the other cluster's stays"
    );
    ok(&world.aloft(&["down", "-y", "k2"]));
    let left: Vec<_> = std::fs::read_dir(keys.join("clusters"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "keys left: {left:?}");
}

#[test]
fn a_spot_node_terminated_behind_our_back_is_reported_preempted() {
    let world = World::new(1, 30, None);
    let task = world.task(
        "spot.yaml",
        "resources: {infra: aws/us-east-1, instance_type: m6i.large, use_spot: true}\nrun: echo spot-ok\n",
    );
    let stdout = ok(&world.aloft(&["launch", "-y", "-c", "sp", task.to_str().unwrap()]));
    assert!(stdout.contains("spot-ok"), "{stdout}");
    let lifecycle = world.moto.boto(
        "r = ec2.describe_instances(Filters=[{'Name': 'tag:aloft-cluster', 'Values': ['sp']}])\n\
         i = r['Reservations'][0]['Instances'][0]\n\
         ec2.terminate_instances(InstanceIds=[i['InstanceId']])\n\
         print(json.dumps(i.get('InstanceLifecycle')))",
    );
    assert_eq!(lifecycle, "spot");
    let out = world.aloft(&["status", "-r"]);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("PREEMPTED"),
        "{}\n{stderr}",
        text(&out.stdout)
    );
    ok(&world.aloft(&["down", "-y", "sp"]));
    assert_no_secret_in_files(world.home.path());
}

/// A launch that made the cluster's security group but no instance, and could not
/// remove the group (as when it is killed between the two), leaves an INIT record
/// with nothing running: `status -r` removes it through the same teardown as
/// `down`, so the group goes with it instead of leaking with no record to find it.
#[test]
fn a_refresh_removes_what_a_launch_left_before_its_instances() {
    let mut deletes_refused = 0;
    let rule: Rule = Box::new(move |body: &str| {
        if body.contains("Action=RunInstances") {
            return Some((
                400,
                ec2_error(
                    "InvalidParameterCombination",
                    "refused by the test before any instance exists",
                ),
            ));
        }
        if body.contains("Action=DeleteSecurityGroup") && deletes_refused == 0 {
            deletes_refused += 1;
            return Some((
                403,
                ec2_error(
                    "UnauthorizedOperation",
                    "refused once by the test: the launch's own clean-up fails",
                ),
            ));
        }
        None
    });
    let world = World::new(1, 100, Some(rule));
    let task = world.task(
        "t.yaml",
        "resources: {infra: aws/us-east-1, instance_type: m6i.large}\nrun: echo never\n",
    );
    let out = world.aloft(&["launch", "-y", "-c", "left", task.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("clean-up also failed"), "{stderr}");
    let groups = "print(json.dumps([g['GroupName'] for g in ec2.describe_security_groups()['SecurityGroups'] if g['GroupName'].startswith('aloft-')]))";
    assert_eq!(world.moto.boto(groups), serde_json::json!(["aloft-left"]));
    let rows: serde_json::Value =
        serde_json::from_str(&ok(&world.aloft(&["status", "-o", "json"]))).unwrap();
    assert_eq!(rows[0]["status"], "INIT", "{rows}");
    let key_dir = world.home.path().join("keys/clusters/left");
    assert!(key_dir.exists(), "the recorded cluster keeps its key");

    let out = world.aloft(&["status", "-r"]);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("left: no instances left; removed from status"),
        "{}\n{stderr}",
        text(&out.stdout)
    );
    assert_eq!(world.moto.boto(groups), serde_json::json!([]), "{stderr}");
    assert!(!key_dir.exists(), "its key goes with the cluster");
    let rows: serde_json::Value =
        serde_json::from_str(&ok(&world.aloft(&["status", "-o", "json"]))).unwrap();
    assert_eq!(rows, serde_json::json!([]));
}

#[test]
fn capacity_refused_in_the_first_zone_lands_in_the_next() {
    let mut first_zone: Option<String> = None;
    let rule: Rule = Box::new(move |body: &str| {
        if !body.contains("Action=RunInstances") {
            return None;
        }
        let zone = body
            .split('&')
            .find_map(|kv| kv.strip_prefix("Placement.AvailabilityZone="))
            .map(str::to_string);
        let first = first_zone.get_or_insert_with(|| zone.clone().unwrap_or_default());
        (zone.as_deref() == Some(first.as_str())).then(|| {
            (
                500,
                ec2_error(
                    "InsufficientInstanceCapacity",
                    "We currently do not have sufficient m6i.large capacity in the Availability Zone you requested.",
                ),
            )
        })
    });
    let world = World::new(1, 40, Some(rule));
    let task = world.task(
        "t.yaml",
        "resources: {infra: aws/us-east-1, instance_type: m6i.large, use_spot: true}\nrun: echo landed\n",
    );
    let out = world.aloft(&["launch", "-y", "-c", "fo", task.to_str().unwrap()]);
    let stdout = ok(&out);
    assert!(stdout.contains("landed"));
    let stderr = text(&out.stderr);
    // Spot prices differ per zone: the cheapest (use1-az1) was tried first and
    // refused; the summary names it, and the next cheapest (use1-az5) took it.
    assert!(
        stderr.contains(
            "aws us-east-1/use1-az1 m6i.large [spot]: capacity (InsufficientInstanceCapacity"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("use1-az5 m6i.large [spot]: ok"), "{stderr}");
    let zone = world.moto.boto(
        "r = ec2.describe_instances(Filters=[{'Name': 'tag:aloft-cluster', 'Values': ['fo']}, {'Name': 'instance-state-name', 'Values': ['running']}])\n\
         zid = {z['ZoneName']: z['ZoneId'] for z in ec2.describe_availability_zones()['AvailabilityZones']}\n\
         print(json.dumps([zid[i['Placement']['AvailabilityZone']] for res in r['Reservations'] for i in res['Instances']]))",
    );
    assert_eq!(zone, serde_json::json!(["use1-az5"]));
    ok(&world.aloft(&["down", "-y", "fo"]));
}

#[test]
fn buckets_are_copied_onto_nodes_and_managed() {
    let world = World::new(1, 50, None);
    let created = world.moto.boto(
        "s3 = boto3.client('s3', endpoint_url=ec2.meta.endpoint_url, region_name='us-east-1', \
         aws_access_key_id='AKIAMOTOTEST', aws_secret_access_key='moto-test')\n\
         s3.create_bucket(Bucket='aloft-data')\n\
         s3.put_object(Bucket='aloft-data', Key='train/a.txt', Body=b'alpha')\n\
         s3.put_object(Bucket='aloft-data', Key='train/sub/b.txt', Body=b'beta')\n\
         s3.put_object(Bucket='aloft-data', Key='other/c.txt', Body=b'not this')\n\
         print(json.dumps(True))",
    );
    assert_eq!(created, true);
    let upload = world.home.path().join("upload");
    std::fs::create_dir_all(&upload).unwrap();
    std::fs::write(upload.join("u.txt"), "uploaded").unwrap();
    std::fs::write(upload.join("skip.log"), "ignored").unwrap();
    std::fs::write(upload.join(".gitignore"), "*.log\n").unwrap();
    // An absolute target is that path on the node (the test's nodes share this
    // machine's file system, so a fresh folder stands in for `/data`).
    let absolute = tempfile::tempdir().unwrap();
    let abs = absolute.path().join("data");
    let task = world.task(
        "data.yaml",
        &format!(
            "resources: {{infra: aws/us-east-1, instance_type: m6i.large}}\n\
             file_mounts:\n  ~/data: s3://aloft-data/train\n  ~/up:\n    name: aloft-up-bucket\n    source: ./upload\n    store: s3\n    mode: COPY\n  \
             ~/tmp:\n    name: aloft-scratch-bucket\n    source: ./upload\n    store: s3\n    mode: COPY\n    persistent: false\n  \
             {abs}: ./upload\n\
             run: cat ~/data/a.txt ~/data/sub/b.txt ~/up/u.txt {abs}/u.txt; ls ~/data ~/up\n",
            abs = abs.display()
        ),
    );
    let out = world.aloft(&["launch", "-y", "-c", "data", task.to_str().unwrap()]);
    let stdout = ok(&out);
    assert!(stdout.contains("alphabetauploadeduploaded"), "{stdout}");
    // The SSH node read the objects itself, through pre-signed GETs; the launcher
    // (which signs its own requests in a header) read none of them.
    let mut gets: Vec<(String, bool)> = world
        .moto
        .requests()
        .iter()
        .filter_map(|line| line.strip_prefix("GET /aloft-data/"))
        .filter_map(|rest| rest.split(' ').next())
        .filter(|target| !target.is_empty() && !target.starts_with('?'))
        .map(|target| {
            let (key, query) = target.split_once('?').unwrap_or((target, ""));
            (key.to_string(), query.contains("X-Amz-Signature="))
        })
        .collect();
    gets.sort();
    assert_eq!(
        gets,
        [
            ("train/a.txt".to_string(), true),
            ("train/sub/b.txt".to_string(), true)
        ],
        "object GETs (key, pre-signed)"
    );
    assert_eq!(
        std::fs::read_to_string(abs.join("u.txt")).unwrap(),
        "uploaded"
    );
    assert!(!stdout.contains("c.txt"), "only the prefix: {stdout}");
    assert!(
        !stdout.contains("skip.log"),
        ".gitignore honoured: {stdout}"
    );
    // The bucket aloft created holds the source, and storage ls knows it.
    let keys = world.moto.boto(
        "s3 = boto3.client('s3', endpoint_url=ec2.meta.endpoint_url, region_name='us-east-1', \
         aws_access_key_id='AKIAMOTOTEST', aws_secret_access_key='moto-test')\n\
         print(json.dumps(sorted(o['Key'] for o in s3.list_objects_v2(Bucket='aloft-up-bucket').get('Contents', []))))",
    );
    assert_eq!(keys, serde_json::json!([".gitignore", "u.txt"]));
    let listed: serde_json::Value =
        serde_json::from_str(&ok(&world.aloft(&["storage", "ls", "-o", "json"]))).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["aloft-scratch-bucket", "aloft-up-bucket"],
        "a bucket aloft did not create is not listed"
    );
    assert_eq!(
        listed[0]["cluster"], "data",
        "scratch goes with the cluster"
    );
    assert!(listed[1]["cluster"].is_null(), "persistent by default");
    assert_eq!(listed[1]["region"], "us-east-1");
    ok(&world.aloft(&["storage", "delete", "-y", "aloft-up-bucket"]));
    ok(&world.aloft(&["down", "-y", "data"]));
    let buckets = world.moto.boto(
        "s3 = boto3.client('s3', endpoint_url=ec2.meta.endpoint_url, region_name='us-east-1', \
         aws_access_key_id='AKIAMOTOTEST', aws_secret_access_key='moto-test')\n\
         print(json.dumps(sorted(b['Name'] for b in s3.list_buckets()['Buckets'])))",
    );
    assert_eq!(buckets, serde_json::json!(["aloft-data"]));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&ok(
            &world.aloft(&["storage", "ls", "-o", "json"])
        ))
        .unwrap(),
        serde_json::json!([])
    );
    assert_no_secret_in_files(world.home.path());
}

#[test]
fn without_credentials_the_launch_says_why_aws_is_out() {
    let home = tempfile::tempdir().unwrap();
    let task = home.path().join("t.yaml");
    std::fs::write(
        &task,
        "resources: {infra: aws/us-east-1, instance_type: m6i.large}\nrun: echo hi\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args(["launch", "-y", task.to_str().unwrap()])
        .env("ALOFT_HOME", home.path())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("provider aws is not usable: no AWS credentials"),
        "{stderr}"
    );
}

/// The moto state of `cluster`'s instances, sorted.
fn states(world: &World, cluster: &str) -> serde_json::Value {
    world.moto.boto(&format!(
        "r = ec2.describe_instances(Filters=[{{'Name': 'tag:aloft-cluster', 'Values': ['{cluster}']}}])\n\
         print(json.dumps(sorted(i['State']['Name'] for res in r['Reservations'] for i in res['Instances'])))"
    ))
}

/// Waits (up to a minute) until moto shows `cluster`'s instances in `state`.
fn wait_for_state(world: &World, cluster: &str, state: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let now = states(world, cluster);
        if now
            .as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(|s| s == state))
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{cluster} never became {state}: {now}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// What a shutdown from inside each of `cluster`'s instances does
/// (`InstanceInitiatedShutdownBehavior`), sorted.
fn shutdown_behaviors(world: &World, cluster: &str) -> serde_json::Value {
    world.moto.boto(&format!(
        "r = ec2.describe_instances(Filters=[{{'Name': 'tag:aloft-cluster', 'Values': ['{cluster}']}}])\n\
         ids = [i['InstanceId'] for res in r['Reservations'] for i in res['Instances']]\n\
         print(json.dumps(sorted(ec2.describe_instance_attribute(InstanceId=i, \
         Attribute='instanceInitiatedShutdownBehavior')['InstanceInitiatedShutdownBehavior']['Value'] for i in ids)))"
    ))
}

#[test]
fn autodown_and_autostop_power_the_nodes_off_with_no_credential_on_the_head() {
    let world = World::new(4, 60, None);
    let task = |name: &str, nodes: u32| {
        world.task(
            name,
            &format!(
                "num_nodes: {nodes}\nresources: {{infra: aws/us-east-1, instance_type: m6i.large}}\n\
                 run: echo working\n"
            ),
        )
    };
    let (pair, one) = (task("pair.yaml", 2), task("one.yaml", 1));
    let (pair, one) = (pair.to_str().unwrap(), one.to_str().unwrap());
    // Autodown: one idle "minute" (a second here) after the job, the head shuts
    // its worker down over SSH, then itself; EC2 (the machines' `shutdown` asks
    // moto for what EC2 does) terminates both, as the provider set. No aloft
    // process runs here in between.
    let out = world.aloft(&["launch", "-y", "-i", "1", "--down", "-c", "ad", pair]);
    assert_eq!(ok(&out).matches("working").count(), 2);
    wait_for_state(&world, "ad", "terminated");
    assert_eq!(
        states(&world, "ad"),
        serde_json::json!(["terminated", "terminated"])
    );
    // The head's teardown left the security group and the key pair: the next
    // `status -r` finishes it through down's teardown.
    let leftovers = "print(json.dumps([\
         len(ec2.describe_security_groups(Filters=[{'Name': 'group-name', 'Values': ['aloft-ad']}])['SecurityGroups']), \
         len(ec2.describe_key_pairs(Filters=[{'Name': 'tag:aloft-cluster', 'Values': ['ad']}])['KeyPairs'])]))";
    assert_eq!(world.moto.boto(leftovers), serde_json::json!([1, 1]));
    let rows: serde_json::Value =
        serde_json::from_str(&ok(&world.aloft(&["status", "-r", "-o", "json"]))).unwrap();
    assert_eq!(
        rows,
        serde_json::json!([]),
        "status -r catches up: nothing left"
    );
    assert_eq!(world.moto.boto(leftovers), serde_json::json!([0, 0]));

    // Autostop: the head stops its cluster; status -r says STOPPED.
    ok(&world.aloft(&["launch", "-y", "-i", "1", "-c", "as", one]));
    wait_for_state(&world, "as", "stopped");
    let rows: serde_json::Value =
        serde_json::from_str(&ok(&world.aloft(&["status", "-r", "-o", "json"]))).unwrap();
    assert_eq!(rows[0]["name"], "as");
    assert_eq!(rows[0]["status"], "STOPPED", "{rows}");

    // A waiting autodown: the nodes terminate on a shutdown from inside; once
    // cancelled they stop again, and the cluster keeps running.
    let out = world.aloft(&["launch", "-y", "-i", "100", "--down", "-c", "ac", one]);
    ok(&out);
    assert!(
        !text(&out.stderr).contains("stop kit"),
        "no credential is named: none goes to the head\n{}",
        text(&out.stderr)
    );
    assert_eq!(
        shutdown_behaviors(&world, "ac"),
        serde_json::json!(["terminate"])
    );
    ok(&world.aloft(&["autostop", "ac", "--cancel"]));
    assert_eq!(
        shutdown_behaviors(&world, "ac"),
        serde_json::json!(["stop"])
    );
    std::thread::sleep(std::time::Duration::from_secs(5));
    assert_eq!(states(&world, "ac"), serde_json::json!(["running"]));
    // No head ever held the credentials, a kit or aloft itself (which runs a kit):
    // nothing anywhere (state, logs, the machines' homes) holds the secret.
    for m in &world.machines {
        let files = walk(&m.home());
        assert!(
            !files
                .iter()
                .any(|p| p.ends_with("stop-kit.json") || p.ends_with("bin/aloft-full")),
            "{files:?}"
        );
    }
    assert_no_secret_in_files(world.home.path());
    ok(&world.aloft(&["down", "-y", "as", "ac"]));
}

#[test]
fn nodes_that_never_answer_ssh_are_terminated_and_nothing_is_left_running() {
    // No machine behind the relay: every SSH connection to a node fails.
    let world = World::new(0, 70, None);
    let task = world.task(
        "lost.yaml",
        "resources: {infra: aws/us-east-1/use1-az1, instance_type: m6i.large}\nrun: echo never\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args([
            "launch",
            "-y",
            "--down",
            "-c",
            "lost",
            task.to_str().unwrap(),
        ])
        .env("ALOFT_HOME", world.home.path())
        .env("AWS_ACCESS_KEY_ID", "AKIAALOFTTEST")
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("ALOFT_NODE_READY_TIMEOUT_SECS", "3")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("NodesUnreachable"), "{stderr}");
    assert!(stderr.contains("accept SSH (up to 3 s)"), "{stderr}");
    // While it waits, progress names the node still waited for and the time left.
    assert!(
        stderr.contains("still waiting for 1 of 1 node(s) to accept SSH: head ("),
        "{stderr}"
    );
    // ... and what ssh last said about it.
    assert!(stderr.contains("left); last SSH error: head: "), "{stderr}");
    assert!(!stderr.contains("reachable ("), "{stderr}");
    // The provider's side: the instance that never answered was terminated.
    let after = states(&world, "lost");
    assert!(
        after
            .as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(|s| s == "terminated")),
        "{after}"
    );
    let rows: serde_json::Value =
        serde_json::from_str(&ok(&world.aloft(&["status", "-o", "json"]))).unwrap();
    assert_eq!(
        rows,
        serde_json::json!([]),
        "no record of a cluster that is not there"
    );
}

/// A small deterministic generator (xorshift), so a failing sweep can be replayed
/// from the seed it prints.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn kill_9_anywhere_in_a_launch_leaks_nothing() {
    let seed: u64 = std::env::var("ALOFT_KILL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64 | 1)
                .unwrap_or(0x9e37_79b9)
        });
    let points: u32 = std::env::var("ALOFT_KILL_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    println!("kill -9 sweep: seed {seed} ({points} points; ALOFT_KILL_SEED replays it)");
    let world = World::new(2, 80, None);
    let task = world.task(
        "two.yaml",
        "num_nodes: 2\nresources: {infra: aws/us-east-1, instance_type: m6i.large}\n\
         setup: sleep 0.2\nrun: echo done\n",
    );
    let mut rng = seed;
    for i in 0..points {
        let delay_ms = next(&mut rng) % 2500;
        let name = format!("k{i}");
        let mut child = Command::new(env!("CARGO_BIN_EXE_aloft"))
            .args(["launch", "-y", "-c", &name, task.to_str().unwrap()])
            .env("ALOFT_HOME", world.home.path())
            .env("AWS_ACCESS_KEY_ID", "AKIAALOFTTEST")
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // The next commands find and remove whatever the killed launch left; on
        // every other point a first `down -a` is killed part-way too, and the
        // second finishes the job.
        ok(&world.aloft(&["status", "-r"]));
        if i % 2 == 1 {
            let mut first = Command::new(env!("CARGO_BIN_EXE_aloft"))
                .args(["down", "-a", "-y"])
                .env("ALOFT_HOME", world.home.path())
                .env("AWS_ACCESS_KEY_ID", "AKIAALOFTTEST")
                .env("AWS_SECRET_ACCESS_KEY", SECRET)
                .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(next(&mut rng) % 600));
            let _ = first.kill();
            let _ = first.wait();
        }
        let down = world.aloft(&["down", "-a", "-y"]);
        assert!(
            down.status.success(),
            "point {i} ({delay_ms} ms, seed {seed}): {}",
            text(&down.stderr)
        );
        let left = world.moto.boto(
            "r = ec2.describe_instances()\n\
             live = [i['InstanceId'] for res in r['Reservations'] for i in res['Instances'] if i['State']['Name'] not in ('terminated', 'shutting-down')]\n\
             groups = [g['GroupName'] for g in ec2.describe_security_groups()['SecurityGroups'] if g['GroupName'].startswith('aloft-')]\n\
             print(json.dumps(dict(live=live, groups=groups)))",
        );
        assert_eq!(
            left,
            serde_json::json!({"live": [], "groups": []}),
            "point {i}: killed after {delay_ms} ms (seed {seed}) leaked"
        );
        let db = rusqlite::Connection::open(world.home.path().join("state.db")).unwrap();
        let check: String = db
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "point {i} (seed {seed})");
    }
}

#[test]
fn a_jobs_controller_cluster_stays_up_while_it_manages_jobs_then_stops_itself() {
    let world = World::new(1, 90, None);
    let config = world.home.path().join("config.yaml");
    let mut text_config = std::fs::read_to_string(&config).unwrap();
    // Granted: aws (the controller's own cluster) and local (where its job runs).
    text_config.push_str(
        "jobs:\n  controller:\n    resources: {infra: aws/us-east-1, instance_type: m6i.large}\n\
         \x20   providers: [aws, local]\n",
    );
    std::fs::write(&config, text_config).unwrap();
    // The job runs on the controller host's own `local` provider for longer than
    // the controller cluster's autostop wait (10 "minutes" of a second each).
    let task = world.task(
        "job.yaml",
        "name: long\nresources: {infra: local}\nrun: sleep 16; echo long-done\n",
    );
    let out = world.aloft(&["jobs", "launch", "-d", "-y", task.to_str().unwrap()]);
    assert_eq!(ok(&out).trim(), "1");
    wait_for_state(&world, "aloft-jobs-controller", "running");
    let rows: serde_json::Value =
        serde_json::from_str(&ok(&world.aloft(&["status", "-o", "json"]))).unwrap();
    assert_eq!(rows[0]["autostop_minutes"], 10, "{rows}");
    assert_eq!(
        rows[0]["autostop_down"], false,
        "stopped, never torn down: {rows}"
    );

    // The controller cluster's own queue is idle (its one job ran `true`), but
    // the controller holds its lock while it manages the job: no stop meanwhile.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        assert_eq!(
            states(&world, "aloft-jobs-controller"),
            serde_json::json!(["running"]),
            "stopped while the controller managed a job"
        );
        let queue: serde_json::Value =
            serde_json::from_str(&ok(&world.aloft(&["jobs", "queue", "-a", "-o", "json"])))
                .unwrap();
        let status = queue[0]["status"].as_str().unwrap_or_default().to_string();
        if !["PENDING", "STARTING", "RUNNING"].contains(&status.as_str()) {
            assert_eq!(status, "SUCCEEDED", "{queue}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the job never ended: {queue}"
        );
        std::thread::sleep(std::time::Duration::from_millis(1000));
    }
    // Idle now: the controller exits, and its cluster stops itself 10 s later.
    wait_for_state(&world, "aloft-jobs-controller", "stopped");
    // The controller launched the job's cluster with the secret, yet it is in no
    // file: not on the controller's host (it came with each call, into the
    // controller's memory), not a stop kit (the head powers itself off), the state
    // or any log.
    assert_no_secret_in_files(world.home.path());
    ok(&world.aloft(&["down", "-y", "aloft-jobs-controller"]));
}

/// `aloft serve` on AWS: the one spot replica runs on a test machine that only
/// SSH (the relay) reaches, so the controller reaches its port through an SSH
/// forward. Its instance is terminated behind aloft's back (and its server dies
/// with it); the controller replaces it, and `serve down` leaves nothing.
#[test]
fn a_spot_replica_terminated_behind_alofts_back_is_replaced() {
    let world = World::new(3, 170, None);
    // One replica at a time serves, so the machines (which share this host's
    // loopback) never have two servers on the port.
    let port = common::free_port();
    let marker = format!("aloft-moto-replica-{port}");
    let _replicas = common::ReplicasEndOnDrop(marker.clone());
    let server = world.task("server.py", common::REPLICA_SERVER);
    let task = world.task(
        "svc.yaml",
        &format!(
            "resources: {{infra: aws/us-east-1, instance_type: m6i.large, use_spot: true, ports: {port}}}\n\
             service:\n  readiness_probe: /\n  replicas: 1\n\
             run: exec python3 {} {marker}\n",
            server.display()
        ),
    );
    ok(&world.aloft(&["serve", "up", "-y", "-n", "svc", task.to_str().unwrap()]));
    let status = &|| -> serde_json::Value {
        let all: serde_json::Value =
            serde_json::from_str(&ok(&world.aloft(&["serve", "status", "svc", "-o", "json"])))
                .unwrap();
        all[0].clone()
    };
    let log = world.home.path().join("serve-controller.log");
    let ready = |id: u64| common::wait_replica_ready(status, id, &log);
    let get = common::http_get;
    let s = ready(1);
    let endpoint = s["endpoint"].as_str().unwrap().to_string();
    let first = get(&endpoint);
    assert!(first.starts_with("replica 1 on 127.0.0.17"), "{first}");

    // The cloud takes the spot instance (and its server goes with it).
    let killed = world.moto.boto(
        "r = ec2.describe_instances(Filters=[{'Name': 'tag:aloft-cluster', 'Values': ['svc-1']}])\n\
         ids = [i['InstanceId'] for res in r['Reservations'] for i in res['Instances']\n\
                if i.get('InstanceLifecycle') == 'spot']\n\
         ec2.terminate_instances(InstanceIds=ids)\n\
         print(json.dumps(ids))",
    );
    assert_eq!(killed.as_array().map(Vec::len), Some(1), "{killed}");
    let pkill = Command::new("pkill")
        .args(["-f", &marker])
        .status()
        .unwrap();
    assert!(pkill.success());

    let s = ready(2);
    let second = get(&endpoint);
    assert!(second.starts_with("replica 2 on 127.0.0.17"), "{second}");
    assert_ne!(first, second, "another machine serves");
    assert_eq!(s["replicas"].as_array().map(Vec::len), Some(1), "{s:#}");
    let spot = world.moto.boto(
        "r = ec2.describe_instances(Filters=[{'Name': 'tag:aloft-cluster', 'Values': ['svc-2']}])\n\
         print(json.dumps([[i['State']['Name'], i.get('InstanceLifecycle')] for res in r['Reservations'] for i in res['Instances']]))",
    );
    assert_eq!(spot, serde_json::json!([["running", "spot"]]));

    ok(&world.aloft(&["serve", "down", "-y", "svc"]));
    let left = world.moto.boto(
        "r = ec2.describe_instances()\n\
         live = [i['InstanceId'] for res in r['Reservations'] for i in res['Instances'] if i['State']['Name'] != 'terminated']\n\
         groups = [g['GroupName'] for g in ec2.describe_security_groups()['SecurityGroups'] if g['GroupName'].startswith('aloft-')]\n\
         print(json.dumps([live, groups]))",
    );
    assert_eq!(left, serde_json::json!([[], []]), "nothing is left");
    assert_eq!(ok(&world.aloft(&["status", "-o", "json"])).trim(), "[]");
    // No forward outlives the service.
    let forwards = Command::new("pgrep")
        .args(["-f", &format!(":127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(forwards.stdout.is_empty(), "{}", text(&forwards.stdout));
    assert_no_secret_in_files(world.home.path());
}

use common::key_of;

#[test]
fn nodes_answer_with_the_host_key_aloft_made_and_are_pinned_before_the_first_connection() {
    let world = World::new(2, 160, None);
    let task = world.task(
        "pin.yaml",
        "num_nodes: 2\nresources: {infra: aws/us-east-1, instance_type: m6i.large}\n\
         run: echo rank $SKYPILOT_NODE_RANK\n",
    );
    let out = world.aloft(&["launch", "-y", "-c", "pin", task.to_str().unwrap()]);
    ok(&out);
    let dir = world.home.path().join("keys/clusters/pin/host");
    let public = key_of(&std::fs::read_to_string(dir.join("aloft-key.pub")).unwrap());
    let private = std::fs::read_to_string(dir.join("aloft-key")).unwrap();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.join("aloft-key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    // EC2 got it as cloud-init user data, and the instances say which key (a tag).
    let given = world.moto.boto(
        "import base64, yaml\n\
         r = ec2.describe_instances(Filters=[{'Name': 'tag:aloft-cluster', 'Values': ['pin']}])\n\
         out = []\n\
         for res in r['Reservations']:\n\
         \x20   for i in res['Instances']:\n\
         \x20       ud = ec2.describe_instance_attribute(InstanceId=i['InstanceId'], Attribute='userData')['UserData']['Value']\n\
         \x20       keys = yaml.safe_load(base64.b64decode(ud))['ssh_keys']\n\
         \x20       tags = {t['Key']: t['Value'] for t in i.get('Tags', [])}\n\
         \x20       out.append(dict(public=keys['ed25519_public'], private=keys['ed25519_private'], tag=tags.get('aloft-host-key')))\n\
         print(json.dumps(out))",
    );
    let given = given.as_array().unwrap();
    assert_eq!(given.len(), 2, "{given:?}");
    for g in given {
        assert_eq!(key_of(g["public"].as_str().unwrap()), public);
        assert_eq!(g["private"].as_str().unwrap().trim(), private.trim());
        assert_eq!(g["tag"].as_str().unwrap(), public);
    }
    // Both machines answer with it, and it was filed for both nodes as the
    // cluster's only key, checked strictly (no trust on first use).
    let machines: Vec<&Sshd> = world.machines.iter().collect();
    common::assert_pinned_to_cluster_host_key(world.home.path(), &machines, "pin", 2);
    // So does the `ssh` config aloft writes for the user.
    let config = std::fs::read_to_string(world.home.path().join("ssh/config")).unwrap();
    assert_eq!(
        config.matches("StrictHostKeyChecking yes").count(),
        2,
        "{config}"
    );
    assert!(!config.contains("accept-new"), "{config}");
    // The private host key is in no output.
    assert!(!text(&out.stderr).contains(private.trim().lines().nth(1).unwrap()));
    ok(&world.aloft(&["down", "-y", "pin"]));
    assert!(!dir.exists(), "down deletes the host key");
}

#[test]
fn a_machine_answering_with_another_host_key_at_first_contact_is_refused_and_sent_nothing() {
    let world = World::new(1, 165, None);
    // The machine behind the node's address keeps its own host key: not the
    // node aloft asked for (as a machine in the middle would answer).
    let map = world.home.path().join("relay-map.json");
    let mut data: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&map).unwrap()).unwrap();
    data["host_keys"] = serde_json::json!(false);
    std::fs::write(&map, data.to_string()).unwrap();
    let project = world.home.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("data.txt"), "private data").unwrap();
    let task = world.task(
        "mitm.yaml",
        &format!(
            "workdir: {}\nresources: {{infra: aws/us-east-1/use1-az1, instance_type: m6i.large}}\nrun: echo never\n",
            project.display()
        ),
    );
    let out = world.aloft(&["launch", "-y", "-c", "mitm", task.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("SshHostKeyRefused"), "{stderr}");
    assert!(stderr.contains("mitm"), "{stderr}");
    // Nothing reached the machine: no key of the cluster, no workdir.
    let m = &world.machines[0];
    assert!(!m.home().join("sky_workdir").exists());
    assert!(!m.home().join(".aloft").exists());
    // The instance was not left running.
    let after = states(&world, "mitm");
    assert!(
        after
            .as_array()
            .is_some_and(|a| a.iter().all(|s| s == "terminated")),
        "{after}"
    );
}
