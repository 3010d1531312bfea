//! The world of a test of one REST cloud's bundled provider against its fake:
//! aloft's home, real `sshd` "machines" on loopback addresses that the fake's
//! instances take, the fake itself, and `aloft` runs that see only this world's
//! credential. A test file keeps what is its own: the fake, its credential, its
//! config lines and the facts it reads back.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use aloft_tests::fakes::PythonFake;
use aloft_tests::sshd::Sshd;

use super::text;

/// The clouds' credential variables, removed from every run so that only the
/// world's own credential is set.
const CREDENTIAL_VARIABLES: &[&str] = &[
    "VAST_API_KEY",
    "CUDO_API_KEY",
    "CUDO_PROJECT",
    "PRIME_API_KEY",
    "FLUIDSTACK_API_KEY",
    "NEBIUS_IAM_TOKEN",
    "NEBIUS_CREDENTIALS_JSON",
    "RUNPOD_API_KEY",
    "LAMBDA_API_KEY",
    "DIGITALOCEAN_ACCESS_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "AZURE_SUBSCRIPTION_ID",
    "OCI_CONFIG_FILE",
    "OCI_CLI_PROFILE",
    "OCI_CLI_KEY_FILE",
    "OCI_CLI_KEY_CONTENT",
];

/// Quick timings of the managed-jobs controller, for tests that wait on one.
pub const FAST_JOBS: [(&str, &str); 3] = [
    ("ALOFT_JOBS_POLL_MS", "300"),
    ("ALOFT_JOBS_IDLE_MS", "3000"),
    ("ALOFT_JOBS_RETRY_MS", "300"),
];

/// aloft's home, the machines and the cloud's fake `F`.
pub struct CloudWorld<F> {
    /// aloft's home (`ALOFT_HOME`): `config.yaml`, task files, run logs.
    pub home: tempfile::TempDir,
    /// `XDG_CONFIG_HOME` of every run, outside aloft's home (so no CLI config of
    /// the machine running the tests is read, and a cloud CLI's key file written
    /// here is not a file of aloft's).
    pub xdg: tempfile::TempDir,
    /// The machines the fake's instances take, in order.
    pub machines: Vec<Sshd>,
    /// The cloud's fake.
    pub fake: F,
    secret: String,
    fake_secrets: fn(&F) -> Vec<String>,
    env: Vec<(&'static str, String)>,
}

impl<F> CloudWorld<F> {
    /// `n` machines on `{net}.{first}`, `{net}.{first + 1}`, ... (their files
    /// under the home's `m0`, `m1`, ...) and the fake `start` makes for them.
    /// `secret` is the credential that must never show in output or files.
    pub fn start(
        net: &str,
        n: u8,
        first: u8,
        secret: &str,
        start: impl FnOnce(&[&Sshd]) -> F,
    ) -> CloudWorld<F> {
        let home = tempfile::tempdir().expect("a temp dir");
        let machines: Vec<Sshd> = (0..n)
            .map(|i| {
                Sshd::start_machine(
                    &home.path().join(format!("m{i}")),
                    &format!("{net}.{}", first + i),
                )
            })
            .collect();
        let fake = start(&machines.iter().collect::<Vec<_>>());
        CloudWorld {
            home,
            xdg: tempfile::tempdir().expect("a temp dir"),
            machines,
            fake,
            secret: secret.to_string(),
            fake_secrets: |_| Vec::new(),
            env: Vec::new(),
        }
    }

    /// Also keeps what `secrets` reads from the fake out of every output and file
    /// (checked each time: e.g. the tokens a fake mints while the test runs).
    pub fn with_fake_secrets(mut self, secrets: fn(&F) -> Vec<String>) -> CloudWorld<F> {
        self.fake_secrets = secrets;
        self
    }

    /// The world's secret and those [`Self::with_fake_secrets`] reads now.
    fn secrets(&self) -> Vec<String> {
        let mut all = vec![self.secret.clone()];
        all.extend((self.fake_secrets)(&self.fake));
        all
    }

    /// Sets `name=value` on every run (a credential lent through the
    /// environment).
    pub fn with_env(mut self, name: &'static str, value: &str) -> CloudWorld<F> {
        self.env.push((name, value.to_string()));
        self
    }

    /// Writes `config.yaml`: `provider` at `endpoint`, reached as the machines'
    /// user, with `extra` (more of the provider's lines, indented by four).
    pub fn write_config(&self, provider: &str, endpoint: &str, extra: &str) {
        self.write_config_as(provider, endpoint, "root", extra);
    }

    /// [`Self::write_config`] with `default_user` as the user when the world has
    /// no machines (the cloud's own default, e.g. Azure's `azureuser`).
    pub fn write_config_as(&self, provider: &str, endpoint: &str, default_user: &str, extra: &str) {
        let user = self
            .machines
            .first()
            .map_or(default_user, |m| m.user.as_str());
        std::fs::write(
            self.config_path(),
            format!(
                "providers:\n  {provider}:\n    endpoint: {endpoint}\n    ssh_user: {user}\n{extra}"
            ),
        )
        .expect("write config.yaml");
    }

    /// `config.yaml` in aloft's home.
    pub fn config_path(&self) -> PathBuf {
        self.home.path().join("config.yaml")
    }

    /// Puts `lines` before the config (e.g. `clouds: [NAME]\n`).
    pub fn prepend_config(&self, lines: &str) {
        let before = std::fs::read_to_string(self.config_path()).expect("read config.yaml");
        std::fs::write(self.config_path(), format!("{lines}{before}")).expect("write config.yaml");
    }

    /// Adds a second provider to the config: `provider` at `endpoint`, reached
    /// as `user`.
    pub fn add_provider(&self, provider: &str, endpoint: &str, user: &str) {
        let before = std::fs::read_to_string(self.config_path()).expect("read config.yaml");
        std::fs::write(
            self.config_path(),
            format!("{before}  {provider}:\n    endpoint: {endpoint}\n    ssh_user: {user}\n"),
        )
        .expect("write config.yaml");
    }

    /// Writes the map of `tests/ssh_relay.py` (each machine's address to its
    /// sshd; with `with_keys`, also to its `authorized_keys`, where the relay
    /// installs the keys the cloud holds for the instance) and returns its path.
    pub fn write_relay_map(&self, with_keys: bool) -> PathBuf {
        let map = self.home.path().join("relay-map.json");
        let assigned: serde_json::Map<String, serde_json::Value> = self
            .machines
            .iter()
            .map(|m| {
                let target = if with_keys {
                    serde_json::json!([m.ip, m.port, m.authorized_keys_path()])
                } else {
                    serde_json::json!([m.ip, m.port])
                };
                (m.ip.clone(), target)
            })
            .collect();
        std::fs::write(
            &map,
            serde_json::json!({"machines": [], "assigned": assigned}).to_string(),
        )
        .expect("write the relay map");
        map
    }

    /// An `ssh_proxy_command` that sends port 22 of each machine's address to
    /// its sshd (writes the relay map). With `keys_from` (`KIND=URL`, e.g.
    /// `lambda=http://...`), the relay first installs the keys that fake holds
    /// for the instance, as the cloud's first boot does.
    pub fn relay_proxy_command(&self, keys_from: Option<&str>) -> String {
        let map = self.write_relay_map(keys_from.is_some());
        let relay = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/ssh_relay.py");
        let keys = keys_from
            .map(|k| format!("--keys {k} "))
            .unwrap_or_default();
        format!("python3 {} {keys}{} %h", relay.display(), map.display())
    }

    /// `aloft ARGS` in this world: its home, its `XDG_CONFIG_HOME`, no cloud
    /// credential but the world's own, no AWS credentials file.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_aloft"));
        command
            .args(args)
            .env("ALOFT_HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.xdg.path());
        for name in CREDENTIAL_VARIABLES {
            command.env_remove(name);
        }
        command
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Runs `aloft ARGS` with the trace log on; its stderr (the log) is also
    /// kept in the home as `aloft-<ARGS[0]>.log`.
    pub fn aloft(&self, args: &[&str]) -> Output {
        let log = self.home.path().join(format!("aloft-{}.log", args[0]));
        let stderr = std::fs::File::create(&log).expect("create the log");
        let mut out = self
            .command(args)
            .stderr(stderr)
            .env("ALOFT_LOG", "trace")
            .output()
            .expect("run aloft");
        out.stderr = std::fs::read(&log).unwrap_or_default();
        out
    }

    /// Writes a task file `name` in the home; its path.
    pub fn task(&self, name: &str, body: &str) -> PathBuf {
        let path = self.home.path().join(name);
        std::fs::write(&path, body).expect("write the task");
        path
    }

    /// The stdout of a run that succeeded and showed no secret.
    pub fn ok(&self, out: &Output) -> String {
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{stdout}\n{stderr}");
        for secret in self.secrets() {
            assert!(
                !stdout.contains(&secret) && !stderr.contains(&secret),
                "secret leaked"
            );
        }
        stdout
    }

    /// Launches `cluster`, one node per machine of the world, on `resources`
    /// (the task's `resources:` line, one GPU a node); fails unless set-up ran
    /// on each machine and each node's job ran on its own machine with its
    /// GPU. The task is `train.yaml` in the home; the launch's stdout.
    pub fn launch_on_every_machine(&self, cluster: &str, resources: &str) -> String {
        let task = self.task(
            "train.yaml",
            &format!(
                "name: train\nnum_nodes: {}\nresources: {resources}\n\
                 setup: echo setup-done > setup.txt\n\
                 run: echo \"rank $SKYPILOT_NODE_RANK gpus=$SKYPILOT_NUM_GPUS_PER_NODE on \
                 $(echo $SSH_CONNECTION | cut -d' ' -f3)\"\n",
                self.machines.len()
            ),
        );
        let task = task.to_str().expect("a UTF-8 path");
        let out = self.aloft(&["launch", "-y", "-c", cluster, task]);
        let stdout = self.ok(&out);
        for m in &self.machines {
            assert!(
                stdout.contains(&format!("gpus=1 on {}", m.ip)),
                "{stdout}\n{}",
                text(&out.stderr)
            );
            assert!(
                m.home().join("sky_workdir/setup.txt").exists()
                    || m.home().join("setup.txt").exists(),
                "setup ran on {}",
                m.ip
            );
        }
        stdout
    }

    /// The cluster's public key as `TYPE BODY` (aloft's own file); fails unless
    /// every machine's `authorized_keys` holds it (only the cloud put it there).
    pub fn assert_machines_hold_cluster_key(&self, cluster: &str) -> String {
        let path = self
            .home
            .path()
            .join(format!("keys/clusters/{cluster}/aloft-key.pub"));
        let cluster_key = std::fs::read_to_string(path).expect("the cluster's public key");
        let key = cluster_key
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        for m in &self.machines {
            let keys =
                std::fs::read_to_string(m.authorized_keys_path()).expect("read authorized_keys");
            assert!(keys.contains(&key), "{} lacks {key}: {keys}", m.ip);
        }
        key
    }

    /// The host key aloft made for `cluster` as `TYPE BODY` (its
    /// `keys/clusters/<cluster>/host/aloft-key.pub`); fails unless every machine
    /// answers SSH with it (the cloud's first boot installed it) and the
    /// cluster's `known_hosts` pins it, and nothing else, for `nodes` nodes.
    pub fn assert_pinned_to_cluster_host_key(&self, cluster: &str, nodes: usize) -> String {
        let machines: Vec<&Sshd> = self.machines.iter().collect();
        super::assert_pinned_to_cluster_host_key(self.home.path(), &machines, cluster, nodes)
    }

    /// Runs a task of `nodes` nodes on `cluster` (`aloft exec`); fails unless
    /// each rank ran once and said so (e.g. after a stop and a start).
    pub fn assert_every_rank_runs_again(&self, cluster: &str, nodes: usize) {
        let again = self.task(
            "again.yaml",
            &format!("num_nodes: {nodes}\nrun: echo rank $SKYPILOT_NODE_RANK after restart\n"),
        );
        let out = self.aloft(&["exec", cluster, again.to_str().expect("a UTF-8 path")]);
        let stdout = self.ok(&out);
        let mut lines: Vec<&str> = stdout
            .lines()
            .filter(|l| l.contains("after restart"))
            .collect();
        lines.sort();
        let expected: Vec<String> = (0..nodes)
            .map(|rank| format!("(rank {rank}) rank {rank} after restart"))
            .collect();
        assert_eq!(lines, expected, "{}", text(&out.stderr));
    }

    /// `aloft status -r -o json`.
    pub fn status_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&self.aloft(&["status", "-r", "-o", "json"])))
            .expect("status JSON")
    }

    /// Fails when any file under aloft's home holds a secret.
    pub fn assert_no_secret_in_files(&self) {
        for secret in self.secrets() {
            super::assert_secret_in_no_file(self.home.path(), &secret);
        }
    }

    /// Managed job `id` as `jobs queue -a -o json` shows it (`null` when absent),
    /// asked with the quick controller timings of [`FAST_JOBS`].
    pub fn managed_job(&self, id: &str) -> serde_json::Value {
        let out = self.ok(&self
            .command(&["jobs", "queue", "-a", "-o", "json"])
            .envs(FAST_JOBS)
            .output()
            .expect("run aloft jobs queue"));
        let all: serde_json::Value = serde_json::from_str(&out).expect("jobs queue JSON");
        all.as_array()
            .into_iter()
            .flatten()
            .find(|j| j["id"].as_i64().map(|v| v.to_string()).as_deref() == Some(id))
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    }

    /// Polls managed job `id` until `done` holds (then returns it); fails after
    /// 120 s naming `what`, with the controller's logs.
    pub fn wait_for_managed_job(
        &self,
        id: &str,
        what: &str,
        done: &dyn Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let job = self.managed_job(id);
            if done(&job) {
                return job;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{what} never happened: {job}\ncontroller log:\n{}\njob's controller log: {}",
                self.controller_log(),
                text(
                    &self
                        .command(&["jobs", "logs", "--controller", "--no-follow", id])
                        .output()
                        .expect("run aloft jobs logs")
                        .stdout
                )
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// The jobs controller's own log (empty before it started).
    pub fn controller_log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("jobs-controller.log")).unwrap_or_default()
    }

    /// Starts `aloft launch -y -c NAME TASK`, kills it (SIGKILL) after
    /// `delay_ms`, and takes every cluster down (`down -a`, which must succeed):
    /// what the launch left is then the test's to look for.
    pub fn kill_launch_and_down_all(&self, name: &str, task: &Path, delay_ms: u64) {
        let task = task.to_str().expect("a UTF-8 task path");
        let mut child = self
            .command(&["launch", "-y", "-c", name, task])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aloft launch");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        self.ok(&self.aloft(&["down", "-a", "-y"]));
    }
}

impl<F: Deref<Target = PythonFake>> CloudWorld<F> {
    /// Writes `config.yaml`: `provider` at the fake's endpoint, reached as the
    /// machines' user (`default_user` when there are none) through the relay
    /// ([`Self::relay_proxy_command`] with `keys_from`).
    pub fn write_config_behind_relay(
        &self,
        provider: &str,
        default_user: &str,
        keys_from: Option<&str>,
    ) {
        let proxy = self.relay_proxy_command(keys_from);
        self.write_config_as(
            provider,
            &self.fake.endpoint(),
            default_user,
            &format!("    ssh_proxy_command: {proxy}\n"),
        );
    }

    /// Every request aloft sent matched the cloud's own client (none the fake
    /// marked `INVALID`).
    pub fn assert_every_request_valid(&self) {
        let invalid = self.fake.invalid_requests();
        assert!(invalid.is_empty(), "{invalid:?}");
    }

    /// [`Self::assert_every_request_valid`], and the secret is in no file under
    /// aloft's home.
    pub fn assert_valid_and_secret_kept(&self) {
        self.assert_every_request_valid();
        self.assert_no_secret_in_files();
    }

    /// Runs the conformance kit (`aloft providers test`) of the bundled
    /// `provider`'s component against the fake, in `region` with
    /// `instance_type`; fails unless it ran six checks or more and passed every
    /// one. The report's checks.
    pub fn conformance_kit(
        &self,
        provider: &str,
        region: &str,
        instance_type: &str,
    ) -> Vec<serde_json::Value> {
        let wasm = self.home.path().join(format!("{provider}.wasm"));
        std::fs::write(&wasm, aloft_tests::components::provider(provider))
            .expect("write the component");
        let endpoint = self.fake.endpoint();
        let out = self.aloft(&[
            "providers",
            "test",
            "-y",
            wasm.to_str().expect("a UTF-8 path"),
            "--endpoint",
            &endpoint,
            "--region",
            region,
            "--instance-type",
            instance_type,
            "-o",
            "json",
        ]);
        let report: serde_json::Value =
            serde_json::from_str(&self.ok(&out)).expect("the report as JSON");
        let checks = report["checks"].as_array().cloned().unwrap_or_default();
        assert!(checks.len() >= 6, "{report}");
        assert!(checks.iter().all(|c| c["passed"] == true), "{report}");
        checks
    }
}
