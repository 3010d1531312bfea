//! Managed jobs with the controller on a cluster of its own (`jobs: controller:` in
//! `config.yaml`): the controller host is an `ssh` node-pool machine (a real `sshd`
//! on loopback with a home of its own). The submitting `aloft` exits at once; the
//! controller on the host runs the job to its end (on the host's own `local`
//! provider); queue, logs and cancel reach it over SSH. The credentials go to the
//! host in one 0600 file and appear nowhere else.

use crate::common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use aloft_tests::sshd::Sshd;
use common::text;

const SECRET: &str = "aloftREMOTEctlSECRET/never+printed";

struct World {
    home: tempfile::TempDir,
    machines: tempfile::TempDir,
    host: Sshd,
}

impl World {
    fn new() -> World {
        let home = tempfile::tempdir().unwrap();
        let machines = tempfile::tempdir().unwrap();
        let host = Sshd::start_machine(&machines.path().join("ctl"), "127.0.6.2");
        std::fs::write(
            home.path().join("ssh_node_pools.yaml"),
            format!(
                "ctl:\n  user: {user}\n  identity_file: {key}\n  hosts:\n    - ip: {ip}\n      port: {port}\n",
                user = host.user,
                key = host.identity_file.display(),
                ip = host.ip,
                port = host.port,
            ),
        )
        .unwrap();
        // AWS is configured (so its credentials travel to the controller) but
        // points at a closed loopback port: nothing here may reach a real cloud.
        std::fs::write(
            home.path().join("config.yaml"),
            "providers:\n  aws:\n    endpoint: http://127.0.0.1:9\n\
             jobs:\n  controller:\n    resources: {infra: ssh/ctl}\n",
        )
        .unwrap();
        World {
            home,
            machines,
            host,
        }
    }

    fn aloft(&self, args: &[&str]) -> Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_aloft"))
            .args(args)
            .env("ALOFT_HOME", self.home.path())
            .env("ALOFT_JOBS_POLL_MS", "200")
            .env("ALOFT_JOBS_IDLE_MS", "1500")
            .env("ALOFT_JOBS_RETRY_MS", "200")
            .env("AWS_ACCESS_KEY_ID", "AKIAREMOTECONTROLLER")
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .output()
            .expect("run aloft")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.aloft(args);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{args:?}\n{stdout}\n{stderr}");
        assert!(
            !stdout.contains(SECRET) && !stderr.contains(SECRET),
            "secret leaked"
        );
        stdout
    }

    fn task(&self, name: &str, body: &str) -> String {
        let path = self.home.path().join(name);
        std::fs::write(&path, body).unwrap();
        path.display().to_string()
    }

    /// The job as the remote controller's queue shows it (over SSH).
    fn job(&self, id: &str) -> serde_json::Value {
        let all: serde_json::Value =
            serde_json::from_str(&self.ok(&["jobs", "queue", "-a", "-o", "json"])).unwrap();
        all.as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"].as_i64().map(|v| v.to_string()).as_deref() == Some(id))
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    }

    fn wait_for(&self, id: &str, status: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let j = self.job(id);
            if j["status"] == status {
                return j;
            }
            assert!(Instant::now() < deadline, "job {id} never {status}: {j}");
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn controller_home(&self) -> std::path::PathBuf {
        self.host.home().join(".aloft-jobs")
    }
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_controller_on_a_pool_machine_runs_jobs_while_the_submitting_cli_is_gone() {
    let world = World::new();

    // A local workdir cannot reach the controller: refused, before anything is
    // launched.
    let bad = world.task(
        "bad.yaml",
        "workdir: .\nresources: {infra: local}\nrun: echo x\n",
    );
    let out = world.aloft(&["jobs", "launch", "-d", "-y", &bad]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("workdir"),
        "{}",
        text(&out.stderr)
    );
    assert!(!world.controller_home().exists(), "nothing was launched");

    // Submitted with -d: this process exits once the controller has the job.
    let task = world.task(
        "job.yaml",
        "name: far\nresources: {infra: local}\n\
         run: echo started; sleep 3; echo far-done-$SKYPILOT_TASK_ID\n",
    );
    let id = world
        .ok(&["jobs", "launch", "-d", "-y", &task])
        .trim()
        .to_string();
    assert_eq!(id, "1");
    // The job lives in the controller's database on the host, not here.
    assert!(!world.home.path().join("jobs.db").exists());
    assert!(world.controller_home().join("jobs.db").exists());
    let status = world.ok(&["status", "-o", "json"]);
    assert!(status.contains("aloft-jobs-controller"), "{status}");

    // The kit: the declared credentials in one 0600 file on the host, nowhere else.
    let kit = world.controller_home().join("credentials.sh");
    assert_eq!(mode(&kit), 0o600);
    assert!(std::fs::read_to_string(&kit).unwrap().contains(SECRET));
    let config = std::fs::read_to_string(world.controller_home().join("config.yaml")).unwrap();
    assert!(config.contains("127.0.0.1:9") && !config.contains("controller"));

    // Following streams the job's output from the host until the job ends.
    let logs = world.ok(&["jobs", "logs", &id]);
    assert!(
        logs.contains("started") && logs.contains("far-done-sky-managed-"),
        "{logs}"
    );
    let done = world.wait_for(&id, "SUCCEEDED");
    assert_eq!(done["name"], "far");

    // Cancel reaches the controller too.
    let long = world.task(
        "long.yaml",
        "name: long\nresources: {infra: local}\nrun: echo long-started; sleep 300\n",
    );
    let id2 = world
        .ok(&["jobs", "launch", "-d", "-y", &long])
        .trim()
        .to_string();
    world.wait_for(&id2, "RUNNING");
    let cancelled = world.ok(&["jobs", "cancel", "-y", "-o", "json", &id2]);
    assert_eq!(
        cancelled.trim().replace([' ', '\n'], ""),
        format!("[{id2}]")
    );
    world.wait_for(&id2, "CANCELLED");
    let out = world.aloft(&["jobs", "cancel", "-y", "999"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no managed job 999"),
        "{}",
        text(&out.stderr)
    );

    let controller_log = world.ok(&["jobs", "logs", "--controller"]);
    assert!(
        controller_log.contains("jobs controller"),
        "{controller_log}"
    );

    // The controller exits when idle; then the controller cluster goes down and
    // the pool machine is given back.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = std::fs::read_to_string(world.controller_home().join("jobs-controller.log"))
            .unwrap_or_default();
        if log.contains("idle, exiting") {
            break;
        }
        assert!(Instant::now() < deadline, "controller never idled: {log}");
        std::thread::sleep(Duration::from_millis(300));
    }
    world.ok(&["down", "-y", "aloft-jobs-controller"]);
    assert!(
        !world
            .ok(&["status", "-o", "json"])
            .contains("aloft-jobs-controller")
    );

    for file in common::files_under(world.home.path())
        .into_iter()
        .chain(common::files_under(world.machines.path()))
    {
        if file == kit {
            continue;
        }
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "the secret is in {}",
            file.display()
        );
    }
}
