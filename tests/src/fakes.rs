//! Fake clouds (`tests/fakes/*.py`) as real HTTP servers for tests, and the parts
//! of the conformance kit for providers that cannot stop instances.
//!
//! [`PythonFake`] is what every fake shares: the script started on a free
//! 127.0.0.1 port, its `/_fake/...` controls, requests to it, facts read back by
//! a Python snippet (through the cloud's own package), the process stopped on
//! drop. Each cloud's fake wraps one and adds only its own arguments and
//! clients.
//!
//! [`LambdaCloud`] runs `tests/fakes/lambda_cloud.py` (Python stdlib only) on a
//! free 127.0.0.1 port; its instances take the addresses of "machines" the test
//! started (real `sshd`s on loopback, see [`crate::sshd`]), so a launched node is
//! reachable over SSH at its `ip`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use aloft::plugin::{
    ClusterRef, ErrorKind, InstanceStatus, PluginError, ProviderInstance, RunRequest,
};

use crate::conformance::ConformanceOptions;
use crate::sshd::Sshd;

/// Starts a fake that prints `PORT N` as its first line once it listens; the
/// child and its port. `what` names it when it does not start.
pub fn spawn_reporting_port(command: &mut Command, what: &str) -> (Child, u16) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let mut first = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut first);
    }
    let port = first
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{what} did not start: {first:?}"));
    (child, port)
}

/// The repository's `.venv` Python, which `scripts/test.sh` makes with the
/// clouds' own packages (pydo, vastai-sdk, graphql-core, ...).
pub fn venv_python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/test.sh once (it makes the venv with the clouds' packages)",
        venv.display()
    );
    venv
}

/// The `--machines` argument the fakes take: `ip:port:authorized_keys` of each
/// machine, comma-separated (instances take them in order).
pub fn machines_arg(machines: &[&Sshd]) -> String {
    machines
        .iter()
        .map(|m| format!("{}:{}:{}", m.ip, m.port, m.authorized_keys_path().display()))
        .collect::<Vec<_>>()
        .join(",")
}

/// A fake cloud (`tests/fakes/<script>`) running on a free 127.0.0.1 port, and
/// the Python that runs it; stopped when dropped.
pub struct PythonFake {
    /// Its port on 127.0.0.1.
    pub port: u16,
    python: PathBuf,
    child: Child,
}

impl PythonFake {
    /// Starts `tests/fakes/<script> ARGS` with the `.venv` Python
    /// ([`venv_python`]); the script prints `PORT N` once it listens.
    pub fn start(script: &str, args: &[&str]) -> PythonFake {
        PythonFake::start_with(&venv_python(), script, args)
    }

    /// Starts `tests/fakes/<script> ARGS` with `python` (e.g. `python3` for a
    /// fake that needs only the standard library).
    pub fn start_with(python: &Path, script: &str, args: &[&str]) -> PythonFake {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fakes")
            .join(script);
        let (child, port) = spawn_reporting_port(
            Command::new(python).arg(path).args(args),
            &format!("tests/fakes/{script} with {}", python.display()),
        );
        PythonFake {
            port,
            python: python.to_path_buf(),
            child,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sends one request (`headers` besides `Content-Type`, `Content-Length` and
    /// `Connection: close`) and returns the status and the JSON answer (`Null`
    /// when the body is not JSON).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, serde_json::Value) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to the fake");
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ));
        stream.write_all(request.as_bytes()).expect("send");
        // Read the announced length: the fakes speak HTTP/1.1.
        let mut reader = BufReader::new(&mut stream);
        let (mut head, mut length) = (String::new(), None);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().ok();
            }
            head.push_str(&line);
        }
        let mut raw = Vec::new();
        match length {
            Some(n) => {
                raw.resize(n, 0);
                reader.read_exact(&mut raw).expect("read the answer");
            }
            None => {
                reader.read_to_end(&mut raw).expect("read the answer");
            }
        }
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (
            status,
            serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null),
        )
    }

    /// A test control (`POST /_fake/<what>` with a JSON body), see the fake's
    /// docstring; fails unless it is answered 200.
    pub fn control(&self, what: &str, body: serde_json::Value) -> serde_json::Value {
        let (status, answer) =
            self.request("POST", &format!("/_fake/{what}"), &[], &body.to_string());
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// Everything the fake knows (`GET /_fake/state`); what it holds is in the
    /// fake's docstring (its `requests` at least).
    pub fn state(&self) -> serde_json::Value {
        self.request("GET", "/_fake/state", &[], "").1
    }

    /// The requests the fake refused as not matching the cloud's own client (its
    /// `requests` that start with `INVALID`).
    pub fn invalid_requests(&self) -> Vec<String> {
        self.state()["requests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str())
            .filter(|r| r.starts_with("INVALID"))
            .map(str::to_string)
            .collect()
    }

    /// Fails unless the fake's `requests` hold each of `ops` (as the fake
    /// writes them, e.g. `POST /v2/droplets`).
    pub fn assert_requests_include(&self, ops: &[&str]) {
        let requests = self.state()["requests"].clone();
        let seen = requests.as_array().cloned().unwrap_or_default();
        for op in ops {
            assert!(seen.iter().any(|r| r == op), "{op}: {requests}");
        }
    }

    /// Runs `prelude` then `script` with the fake's Python (`prelude` sets up
    /// the cloud's own client on [`Self::endpoint`]); its stdout parsed as JSON.
    pub fn python(&self, prelude: &str, script: &str) -> serde_json::Value {
        let out = Command::new(&self.python)
            .args(["-c", &format!("{prelude}\n{script}\n")])
            .stderr(Stdio::inherit())
            .output()
            .expect("run the fake's python");
        assert!(out.status.success(), "the script failed: {script}");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "the script printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }
}

impl Drop for PythonFake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running fake of Lambda Cloud's API ([`PythonFake`]'s controls and state
/// through `Deref`).
pub struct LambdaCloud {
    fake: PythonFake,
    api_key: String,
}

/// How the fake Lambda Cloud behaves.
#[derive(Debug, Clone, Default)]
pub struct LambdaOptions {
    /// Launches closer together than this many seconds are answered 429.
    pub launch_interval: f64,
    /// How long an instance stays `booting` (no IP) after its launch.
    pub boot_seconds: f64,
}

impl LambdaCloud {
    /// Starts the fake with one valid `api_key`; launched instances take the
    /// `machines` addresses in order.
    pub fn start(api_key: &str, machines: &[String], options: &LambdaOptions) -> LambdaCloud {
        let fake = PythonFake::start_with(
            Path::new("python3"),
            "lambda_cloud.py",
            &[
                "--api-key",
                api_key,
                "--machines",
                &machines.join(","),
                "--launch-interval",
                &options.launch_interval.to_string(),
                "--boot-seconds",
                &options.boot_seconds.to_string(),
            ],
        );
        LambdaCloud {
            fake,
            api_key: api_key.to_string(),
        }
    }

    /// Sends a request (with the valid key under `/api/v1/`) and returns the status
    /// and the JSON answer.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        // Basic auth, user = the key, no password (as `curl -u KEY:` sends it).
        let auth = format!("Basic {}", base64(&format!("{}:", self.api_key)));
        let mut headers = Vec::new();
        if path.starts_with("/api/") {
            headers.push(("Authorization", auth.as_str()));
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.fake.request(method, path, &headers, &body)
    }

    /// Adds an SSH key to the account through the API.
    pub fn add_ssh_key(&self, name: &str, public_key: &str) {
        let (status, answer) = self.request(
            "POST",
            "/api/v1/ssh-keys",
            Some(&serde_json::json!({"name": name, "public_key": public_key})),
        );
        assert_eq!(status, 200, "{answer}");
    }
}

impl std::ops::Deref for LambdaCloud {
    type Target = PythonFake;
    fn deref(&self) -> &PythonFake {
        &self.fake
    }
}

fn base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn request(o: &ConformanceOptions, count: u32) -> RunRequest {
    RunRequest {
        cluster: cluster_ref(o),
        instance_type: o.instance_type.clone(),
        count,
        use_spot: false,
        disk_size_gib: None,
        image_id: None,
        ports: Vec::new(),
        labels: vec![("aloft-conformance".into(), "1".into())],
        ssh_public_key: None,
    }
}

fn cluster_ref(o: &ConformanceOptions) -> ClusterRef {
    ClusterRef {
        cluster: o.cluster.clone(),
        region: o.region.clone(),
        zone: o.zone.clone(),
    }
}

fn check(ok: bool, step: &str, detail: impl std::fmt::Debug) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("{step}: {detail:?}"))
    }
}

/// The conformance lifecycle for a provider without `stop-start` (Lambda Cloud,
/// RunPod): stop must be refused as `unsupported` and change nothing.
///
/// ```text
/// run(2) -> query (2 running or pending, one head) -> run(2) again (nothing
///   created) -> stop (unsupported) -> run(3) (one more, the head kept)
///   -> terminate -> query (nothing left) -> terminate again (still fine)
/// ```
pub async fn run_lifecycle_without_stop(
    p: &mut ProviderInstance,
    o: &ConformanceOptions,
) -> Result<(), String> {
    let fail = |step: &str, e: PluginError| format!("{step}: {e}");
    let first = p
        .run_instances(&request(o, 2))
        .await
        .map_err(|e| fail("run(2)", e))?;
    check(first.created.len() == 2, "run(2) creates two nodes", &first)?;
    check(
        first.instances.iter().filter(|i| i.is_head).count() == 1,
        "exactly one head",
        &first.instances,
    )?;
    let cref = cluster_ref(o);
    let q = p
        .query_instances(std::slice::from_ref(&cref))
        .await
        .map_err(|e| fail("query", e))?;
    check(
        q.len() == 1
            && q[0].instances.len() == 2
            && q[0]
                .instances
                .iter()
                .all(|i| matches!(i.status, InstanceStatus::Running | InstanceStatus::Pending)),
        "query after run: two running",
        &q,
    )?;
    let again = p
        .run_instances(&request(o, 2))
        .await
        .map_err(|e| fail("run(2) again", e))?;
    check(
        again.created.is_empty() && again.resumed.is_empty() && again.instances.len() == 2,
        "run is idempotent",
        &again,
    )?;
    match p.stop_instances(&cref).await {
        Err(PluginError::Provider { error, .. }) if error.kind == ErrorKind::Unsupported => {}
        other => return Err(format!("stop: expected unsupported, got {other:?}")),
    }
    let head = first
        .instances
        .iter()
        .find(|i| i.is_head)
        .map(|i| i.id.clone());
    let grown = p
        .run_instances(&request(o, 3))
        .await
        .map_err(|e| fail("run(3)", e))?;
    check(
        grown.created.len() == 1
            && grown.instances.len() == 3
            && grown
                .instances
                .iter()
                .find(|i| i.is_head)
                .map(|i| i.id.clone())
                == head,
        "run(3) adds one node and keeps the head",
        &grown,
    )?;
    p.terminate_instances(&cref)
        .await
        .map_err(|e| fail("terminate", e))?;
    let q = p
        .query_instances(std::slice::from_ref(&cref))
        .await
        .map_err(|e| fail("query after terminate", e))?;
    check(
        q[0].instances.iter().all(|i| {
            matches!(
                i.status,
                InstanceStatus::Terminated | InstanceStatus::Terminating
            )
        }),
        "query after terminate: nothing left",
        &q,
    )?;
    p.terminate_instances(&cref)
        .await
        .map_err(|e| fail("terminate again", e))
}
