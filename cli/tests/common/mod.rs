//! Helpers shared by the CLI's integration tests.
// Each test binary uses a different subset of these.
#![allow(dead_code)]

pub mod cloud_world;

use std::path::Path;
use std::process::{Child, Command, Output};

/// Runs the `aloft` binary with `ALOFT_HOME=home`.
pub fn aloft(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args(args)
        .env("ALOFT_HOME", home)
        .output()
        .expect("run aloft")
}

/// Runs the `aloft` binary with `ALOFT_HOME=home` and more environment variables.
pub fn aloft_env(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args(args)
        .env("ALOFT_HOME", home)
        .envs(env.iter().copied())
        .output()
        .expect("run aloft")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Kills (and reaps) a child process when dropped.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A one-node, one-CPU job running `run`, named `name`.
pub fn one_node_job(name: &str, run: &str) -> aloft::runtime::queue::JobSpec {
    aloft::runtime::queue::JobSpec {
        name: Some(name.into()),
        demand: aloft::runtime::scheduler::Demand {
            cpus: 1.0,
            gpus: 0.0,
            num_nodes: 1,
        },
        accelerator: None,
        setup: None,
        run: run.into(),
        env: vec![],
    }
}

/// Every file under `dir` (aloft's home: state, logs, keys, the machines' files).
pub fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => files.extend(files_under(&path)),
            Ok(t) if t.is_file() => files.push(path),
            _ => {}
        }
    }
    files
}

/// Fails when any file under `dir` holds `secret`.
pub fn assert_secret_in_no_file(dir: &Path, secret: &str) {
    for entry in files_under(dir) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is in {}",
            entry.display()
        );
    }
}

/// A service replica for remote clusters (`python3 FILE MARKER`): answers every
/// GET with `replica ID on IP` (its replica id, and the address its SSH session
/// came in on: which test machine runs it) on `ALOFT_SERVE_PORT`, on loopback.
/// The marker argument names its processes for `pkill -f`.
pub const REPLICA_SERVER: &str = "\
import http.server, os
rid = os.environ['ALOFT_SERVE_REPLICA_ID']
where = os.environ.get('SSH_CONNECTION', '? ? ?').split()[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ('replica %s on %s\\n' % (rid, where)).encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(('127.0.0.1', int(os.environ['ALOFT_SERVE_PORT'])), H).serve_forever()
";

/// Ends the replica servers named `marker` ([`REPLICA_SERVER`]'s argument) when
/// dropped: a replica on a test machine is a process of this host, which the
/// cloud's fake "terminating" its instance does not end, so without this it
/// outlives the test (a failed one too).
pub struct ReplicasEndOnDrop(pub String);

impl Drop for ReplicasEndOnDrop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("pkill")
            .args(["-f", &self.0])
            .status();
    }
}

/// A loopback port free right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Waits (up to two minutes) until the service status that `status` returns
/// (one service of `serve status -o json`) has replica `id` READY, and returns
/// it; on a timeout, fails with it and the controller's log at `log`.
pub fn wait_replica_ready(
    status: impl Fn() -> serde_json::Value,
    id: u64,
    log: &Path,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let s = status();
        let replicas = s["replicas"].as_array().cloned().unwrap_or_default();
        if replicas
            .iter()
            .any(|r| r["id"].as_u64() == Some(id) && r["status"] == "READY")
        {
            return s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "replica {id} never READY: {s:#}\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

/// The body of a GET of `url` (curl, 10 s at most; empty on failure).
pub fn http_get(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", url])
        .output()
        .expect("run curl");
    text(&out.stdout)
}

/// An OpenSSH public key line's type and data (no comment).
pub fn key_of(line: &str) -> String {
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The host key aloft made for `cluster` under `home`, as `TYPE DATA` (its
/// `keys/clusters/<cluster>/host/aloft-key.pub`); fails unless each of
/// `machines` answers SSH with it (the cloud's first boot installed it) and the
/// cluster's `known_hosts` pins it, and nothing else, for `nodes` nodes.
pub fn assert_pinned_to_cluster_host_key(
    home: &Path,
    machines: &[&aloft_tests::sshd::Sshd],
    cluster: &str,
    nodes: usize,
) -> String {
    let keys = home.join("keys/clusters").join(cluster);
    let public = key_of(
        &std::fs::read_to_string(keys.join("host/aloft-key.pub")).expect("the cluster's host key"),
    );
    assert!(public.starts_with("ssh-ed25519 "), "{public}");
    for m in machines {
        assert_eq!(key_of(&m.host_public_key()), public, "{} answers", m.ip);
    }
    let known =
        std::fs::read_to_string(keys.join("known_hosts")).expect("the cluster's known_hosts");
    let lines: Vec<&str> = known.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), nodes, "{known}");
    for line in lines {
        let (_, key) = line.split_once(' ').expect("HOST KEY");
        assert_eq!(key_of(key), public, "{known}");
    }
    public
}
