//! The fake of DigitalOcean's REST API v2 (`tests/fakes/digitalocean_api.py`, run
//! by the repository's `.venv` Python, which has `pydo`: the fake checks every
//! request against pydo's generated operations) as a real HTTP server on a free
//! 127.0.0.1 port. Its droplets take "machines" the test started (real `sshd`s on
//! loopback, see [`crate::sshd`]): a droplet's public address is its machine's,
//! and the account keys named in its `ssh_keys` are authorized on the machine.
//! Facts are read back through pydo itself ([`DigitalOceanFake::pydo`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::sshd::Sshd;

/// A running fake of DigitalOcean's API.
pub struct DigitalOceanFake {
    /// Its port on 127.0.0.1.
    pub port: u16,
    token: String,
    child: Child,
}

fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let venv = root.join(".venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/test.sh once (it makes the venv with pydo)",
        venv.display()
    );
    venv
}

impl DigitalOceanFake {
    /// Starts the fake with one valid `token`; created droplets take `machines`
    /// in order and become active `boot_seconds` after their create.
    pub fn start(token: &str, machines: &[&Sshd], boot_seconds: f64) -> DigitalOceanFake {
        let spec: Vec<String> = machines
            .iter()
            .map(|m| {
                format!(
                    "{}:{}:{}",
                    m.ip,
                    m.port,
                    m.dir.join("authorized_keys").display()
                )
            })
            .collect();
        let (child, port) = crate::fakes::spawn_reporting_port(
            Command::new(python())
                .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fakes/digitalocean_api.py"))
                .args(["--token", token, "--machines", &spec.join(",")])
                .args(["--boot-seconds", &boot_seconds.to_string()]),
            "tests/fakes/digitalocean_api.py with the .venv python",
        );
        DigitalOceanFake {
            port,
            token: token.to_string(),
            child,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs `script` with `client`, a `pydo.Client` on the fake with the valid
    /// token, and `o`, the options every call needs (`enforce_https=False`: the
    /// fake is plain HTTP); its stdout parsed as JSON.
    pub fn pydo(&self, script: &str) -> serde_json::Value {
        let program = format!(
            "import json, pydo\nclient = pydo.Client(token={token:?}, endpoint={endpoint:?})\n\
             o = dict(enforce_https=False)\n{script}\n",
            token = self.token,
            endpoint = self.endpoint(),
        );
        let out = Command::new(python())
            .args(["-c", &program])
            .stderr(Stdio::inherit())
            .output()
            .expect("run pydo");
        assert!(out.status.success(), "pydo script failed: {script}");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "pydo printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// The droplets the account has now (through pydo), as `(name, status)`,
    /// sorted.
    pub fn live_droplets(&self) -> Vec<(String, String)> {
        let list = self.pydo(
            "print(json.dumps([[d['name'], d['status']] for d in \
             client.droplets.list(per_page=200, **o)['droplets']]))",
        );
        let mut found: Vec<(String, String)> = serde_json::from_value(list).unwrap();
        found.sort();
        found
    }

    /// A test control (`POST /_fake/<what>`), see the fake's docstring.
    pub fn control(&self, what: &str, body: serde_json::Value) -> serde_json::Value {
        let body = body.to_string();
        let (status, answer) = http(
            self.port,
            &format!(
                "POST /_fake/{what} HTTP/1.1\r\nHost: api.digitalocean.com\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        );
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// Everything the fake knows: `droplets` (destroyed ones too, `archive`),
    /// `firewalls`, `ssh_keys` and `requests` (`METHOD /path-template` of every
    /// request; `INVALID ...` for those pydo's schema refused).
    pub fn state(&self) -> serde_json::Value {
        http(
            self.port,
            "GET /_fake/state HTTP/1.1\r\nHost: api.digitalocean.com\r\nConnection: close\r\n\r\n",
        )
        .1
    }

    /// The requests the fake refused as not matching pydo's operations.
    pub fn invalid_requests(&self) -> Vec<String> {
        self.state()["requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r.as_str())
            .filter(|r| r.starts_with("INVALID"))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for DigitalOceanFake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One raw HTTP/1.1 exchange with 127.0.0.1:`port` (`Connection: close`).
fn http(port: u16, request: &str) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the fake");
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = Vec::new();
    let mut reader = BufReader::new(&mut stream);
    let mut head = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        head.push_str(&line);
    }
    raw.resize(length, 0);
    reader.read_exact(&mut raw).expect("read the answer");
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
