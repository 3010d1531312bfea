//! Managed jobs with the controller on a cluster of its own (`jobs: controller:` in
//! `config.yaml`): the controller host is an `ssh` node-pool machine (a real `sshd`
//! on loopback with a home of its own). The submitting `aloft` exits at once; the
//! controller on the host runs the job to its end (on the host's own `local`
//! provider); queue, logs and cancel reach it over SSH. Only the granted providers'
//! credentials (`jobs.controller.providers`, asked for once) go to the host, in one
//! 0600 file that `down` removes; they appear nowhere else.

use crate::common;

use std::process::Output;
use std::time::{Duration, Instant};

use aloft_tests::sshd::Sshd;
use common::text;

const SECRET: &str = "aloftREMOTEctlSECRET/never+printed";
/// The credential of a provider the controller is not granted (Lambda's key).
const UNGRANTED: &str = "aloftLAMBDAkeyNOTgranted/never+sent";

struct World {
    home: tempfile::TempDir,
    machines: tempfile::TempDir,
    host: Sshd,
}

impl World {
    /// A controller host at `ip`; the controller may use `granted` (a YAML list).
    fn new(ip: &str, granted: &str) -> World {
        let home = tempfile::tempdir().unwrap();
        let machines = tempfile::tempdir().unwrap();
        let host = Sshd::start_machine(&machines.path().join("ctl"), ip);
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
        let world = World {
            home,
            machines,
            host,
        };
        world.grant(granted);
        world
    }

    /// Writes the config with `granted` as `jobs.controller.providers`. AWS and
    /// Lambda are configured (their credentials are in the environment) but point
    /// at a closed loopback port: nothing here may reach a real cloud.
    fn grant(&self, granted: &str) {
        std::fs::write(
            self.home.path().join("config.yaml"),
            format!(
                "providers:\n  aws:\n    endpoint: http://127.0.0.1:9\n\
                 \x20 lambda:\n    endpoint: http://127.0.0.1:9\n\
                 jobs:\n  controller:\n    resources: {{infra: ssh/ctl}}\n    providers: {granted}\n"
            ),
        )
        .unwrap();
    }

    fn aloft(&self, args: &[&str]) -> Output {
        self.command(env!("CARGO_BIN_EXE_aloft"))
            .args(args)
            .output()
            .expect("run aloft")
    }

    /// Runs aloft on a terminal (util-linux `script` makes one), `typed` typed
    /// ahead; its output and the echoed typing come back together in stdout.
    fn at_terminal(&self, args: &[&str], typed: &str) -> Output {
        use std::io::Write;
        use std::process::Stdio;
        let line: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_aloft"))
            .chain(args.iter().copied())
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect();
        let mut child = self
            .command("timeout")
            .args(["120", "script", "-qec", &line.join(" "), "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run script (util-linux)");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(typed.as_bytes()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let all = text(&out.stdout) + &text(&out.stderr);
        assert!(
            !all.contains(SECRET) && !all.contains(UNGRANTED),
            "secret leaked"
        );
        out
    }

    fn command(&self, program: &str) -> std::process::Command {
        let mut command = std::process::Command::new(program);
        command
            .env("ALOFT_HOME", self.home.path())
            .env("ALOFT_JOBS_POLL_MS", "200")
            .env("ALOFT_JOBS_IDLE_MS", "1500")
            .env("ALOFT_JOBS_RETRY_MS", "200")
            .env("ALOFT_SERVE_POLL_MS", "300")
            .env("ALOFT_SERVE_IDLE_MS", "1500")
            .env("AWS_ACCESS_KEY_ID", "AKIAREMOTECONTROLLER")
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("LAMBDA_API_KEY", UNGRANTED);
        command
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.aloft(args);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{args:?}\n{stdout}\n{stderr}");
        for secret in [SECRET, UNGRANTED] {
            assert!(
                !stdout.contains(secret) && !stderr.contains(secret),
                "secret leaked"
            );
        }
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

/// What reading the environment of the jobs controller running on the host
/// (found by its command line, which stays readable) gave: its text, or `None`
/// when the read was refused. The controller runs as this test's user, so a
/// refusal means it made itself non-dumpable; root with `CAP_SYS_PTRACE` reads it.
fn controller_environment(world: &World) -> Option<String> {
    let home = world.controller_home().display().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pids: Vec<std::path::PathBuf> = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                let words = std::fs::read(p.join("cmdline")).unwrap_or_default();
                let words: Vec<&[u8]> = words.split(|b| *b == 0).collect();
                words.contains(&b"jobs-controller".as_slice()) && words.contains(&home.as_bytes())
            })
            .collect();
        for pid in pids {
            match std::fs::read(pid.join("environ")) {
                Ok(bytes) => return Some(String::from_utf8_lossy(&bytes).into_owned()),
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return None,
                // Gone meanwhile (another controller that found this one running).
                Err(_) => {}
            }
        }
        assert!(
            Instant::now() < deadline,
            "no jobs controller runs for {home}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_controller_on_a_pool_machine_runs_jobs_while_the_submitting_cli_is_gone() {
    let world = World::new("127.0.6.2", "[aws, local]");

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

    // The granted providers' credentials are in no file on the host (they travel
    // with each call, into the controller's memory only), and Lambda's key, not
    // granted, is not there at all.
    let kit = world.controller_home().join("credentials.sh");
    assert!(!kit.exists());
    common::assert_secret_in_no_file(world.machines.path(), SECRET);
    let config = std::fs::read_to_string(world.controller_home().join("config.yaml")).unwrap();
    assert!(config.contains("127.0.0.1:9") && !config.contains("controller"));
    common::assert_secret_in_no_file(world.machines.path(), UNGRANTED);

    // Following streams the job's output from the host until the job ends.
    let logs = world.ok(&["jobs", "logs", &id]);
    assert!(
        logs.contains("started") && logs.contains("far-done-sky-managed-"),
        "{logs}"
    );
    let done = world.wait_for(&id, "SUCCEEDED");
    assert_eq!(done["name"], "far");
    common::assert_secret_in_no_file(world.machines.path(), UNGRANTED);

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
    // While a job runs its controller runs, holding the credentials: still in no
    // file on the host. Reading its environment, when allowed (root with
    // CAP_SYS_PTRACE), finds the granted secret and not Lambda's; a refused read
    // is its non-dumpability.
    common::assert_secret_in_no_file(world.machines.path(), SECRET);
    if let Some(env) = controller_environment(&world) {
        assert!(
            env.contains(SECRET) && !env.contains(UNGRANTED),
            "the controller's environment lacks the granted credential"
        );
    }
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

    // The pool machine outlives the cluster; the credentials do not.
    assert!(!kit.exists(), "the credentials file is left on the host");
    for secret in [SECRET, UNGRANTED] {
        common::assert_secret_in_no_file(world.home.path(), secret);
        common::assert_secret_in_no_file(world.machines.path(), secret);
    }
}

#[test]
fn the_controller_gets_only_providers_granted_with_consent() {
    let world = World::new("127.0.6.3", "[local]");
    // Neither AWS's secret nor Lambda's key is granted: neither may reach the host.
    let none_on_host = |world: &World| {
        for secret in [SECRET, UNGRANTED] {
            common::assert_secret_in_no_file(world.machines.path(), secret);
        }
    };
    let nothing_launched = |world: &World| {
        assert!(!world.controller_home().exists(), "something was sent");
        assert!(
            !world
                .ok(&["status", "-o", "json"])
                .contains("aloft-jobs-controller")
        );
    };

    // A task for a provider not granted: refused, naming it and the key to add
    // it to, before anything is launched.
    let on_lambda = world.task("lambda.yaml", "resources: {infra: lambda}\nrun: echo x\n");
    let out = world.aloft(&["jobs", "launch", "-d", "-y", &on_lambda]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`lambda`") && stderr.contains("jobs.controller.providers"),
        "{stderr}"
    );
    nothing_launched(&world);

    // A grant not given before, no -y and no terminal to ask: refused, nothing
    // launched or sent.
    let task = world.task(
        "job.yaml",
        "resources: {infra: local}\nrun: echo granted-ran\n",
    );
    let out = world.aloft(&["jobs", "launch", "-d", &task]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("pass -y"), "{stderr}");
    nothing_launched(&world);

    // On a terminal the providers and credential names are shown and asked about
    // (`[y/N]`: Enter is a no; an Enter first answers a launch question if asked).
    let out = world.at_terminal(&["jobs", "launch", "-d", &task], "\n\n");
    let shown = text(&out.stdout);
    assert!(!out.status.success(), "{shown}");
    assert!(
        shown.contains("local: (none)") && shown.contains("[y/N]"),
        "{shown}"
    );
    nothing_launched(&world);
    none_on_host(&world);

    // With -y the grant is given and recorded: the job runs, and the next launch
    // with the same grant does not ask again.
    let id = world
        .ok(&["jobs", "launch", "-d", "-y", &task])
        .trim()
        .to_string();
    world.wait_for(&id, "SUCCEEDED");
    none_on_host(&world);
    assert!(!world.controller_home().join("credentials.sh").exists());
    let out = world.at_terminal(&["jobs", "launch", "-d", &task], "\n\n");
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(!shown.contains("[y/N]"), "asked again: {shown}");
    let id2 = shown
        .lines()
        .rev()
        .find_map(|l| l.split_whitespace().last()?.parse::<i64>().ok())
        .unwrap_or_else(|| panic!("no job id: {shown}"));
    world.wait_for(&id2.to_string(), "SUCCEEDED");

    // A wider grant is asked for again: declined here, Lambda's key is not sent.
    world.grant("[local, lambda]");
    let out = world.at_terminal(&["jobs", "launch", "-d", &task], "\n\n");
    let shown = text(&out.stdout);
    assert!(!out.status.success(), "{shown}");
    assert!(shown.contains("lambda: LAMBDA_API_KEY"), "{shown}");
    none_on_host(&world);
}

#[test]
fn services_are_served_on_the_controller_cluster() {
    let world = World::new("127.0.6.5", "[local]");
    let task = world.task(
        "svc.yaml",
        "resources: {infra: local}\n\
         service:\n  readiness_probe: {path: /, endpoint_probe_interval_seconds: 1}\n  \
         replicas: 1\n  ports: 8080\n\
         run: exec python3 -m http.server $ALOFT_SERVE_PORT --bind 127.0.0.1\n",
    );
    let name = world.ok(&["serve", "up", "-y", "-n", "far", &task]);
    assert_eq!(name.trim(), "far");
    // The service lives in the controller's home on the host, not here.
    assert!(!world.home.path().join("serve.db").exists());
    assert!(world.controller_home().join("serve.db").exists());
    let deadline = Instant::now() + Duration::from_secs(120);
    let service = loop {
        let all: serde_json::Value =
            serde_json::from_str(&world.ok(&["serve", "status", "-o", "json"])).unwrap();
        let s = all[0].clone();
        if s["replicas"][0]["status"] == "READY" {
            break s;
        }
        assert!(Instant::now() < deadline, "never ready: {s}");
        std::thread::sleep(Duration::from_millis(300));
    };
    // The endpoint is the host's address, and answers from here.
    let endpoint = service["endpoint"].as_str().unwrap();
    let authority = endpoint
        .strip_prefix("http://127.0.6.5:")
        .map(|port| format!("127.0.6.5:{port}"))
        .unwrap_or_else(|| panic!("the host's address: {endpoint}"));
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(&authority).unwrap();
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.") && response.contains(" 200 "),
        "{response}"
    );
    let history = world.ok(&["serve", "logs", "far", "--controller", "--no-follow"]);
    assert!(history.contains("replica 1 READY"), "{history}");
    world.ok(&["serve", "down", "-y", "far"]);
    let all = world.ok(&["serve", "status", "-o", "json"]);
    assert_eq!(all.trim(), "[]");
    // The balancer closed its port before the service left the database.
    let log = std::fs::read_to_string(world.controller_home().join("serve-controller.log"))
        .unwrap_or_default();
    assert!(log.contains("[lb far] closed"), "{authority}: {log}");
    world.ok(&["down", "-y", "aloft-jobs-controller"]);
}
