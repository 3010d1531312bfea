//! The fake of Vast.ai's REST API (`tests/fakes/vastai_api.py`, run by the
//! repository's `.venv` Python, which has `vastai-sdk`: the fake checks every
//! request against what that package sends) as a real HTTP server on a free
//! 127.0.0.1 port. Its instances take "machines" the test started (real `sshd`s on
//! loopback, see [`crate::sshd`]): an instance's public address is its machine's,
//! its port 22 is mapped to the machine's sshd port, and keys attached to it are
//! authorized on the machine. Facts are read back through the package's own
//! client ([`VastFake::sdk`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::sshd::Sshd;

/// A running fake of Vast.ai's API.
pub struct VastFake {
    /// Its port on 127.0.0.1.
    pub port: u16,
    key: String,
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
        "{} is missing: run scripts/test.sh once (it makes the venv with vastai-sdk)",
        venv.display()
    );
    venv
}

impl VastFake {
    /// Starts the fake with one valid API `key`; rented instances take `machines`
    /// in order and run `boot_seconds` after their rent.
    pub fn start(key: &str, machines: &[&Sshd], boot_seconds: f64) -> VastFake {
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
                .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fakes/vastai_api.py"))
                .args(["--key", key, "--machines", &spec.join(",")])
                .args(["--boot-seconds", &boot_seconds.to_string()]),
            "tests/fakes/vastai_api.py with the .venv python",
        );
        VastFake {
            port,
            key: key.to_string(),
            child,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs `script` with `vast`, the package's `VastAI` client on the fake with
    /// the valid key; its stdout parsed as JSON.
    pub fn sdk(&self, script: &str) -> serde_json::Value {
        let program = format!(
            "import json, vastai_sdk\nfrom vastai import VastAI\n\
             vast = VastAI(api_key={key:?}, server_url={endpoint:?}, retry=1)\n{script}\n",
            key = self.key,
            endpoint = self.endpoint(),
        );
        let out = Command::new(python())
            .args(["-c", &program])
            .stderr(Stdio::inherit())
            .output()
            .expect("run the vastai package");
        assert!(out.status.success(), "vastai script failed: {script}");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "the script printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// The account's instances now (through the package), as `(label, status)`,
    /// sorted.
    pub fn live_instances(&self) -> Vec<(String, String)> {
        let list = self.sdk(
            "print(json.dumps([[i['label'], i['actual_status']] for i in vast.show_instances()]))",
        );
        let mut found: Vec<(String, String)> = serde_json::from_value(list).unwrap();
        found.sort();
        found
    }

    /// A test control (`POST /_fake/<what>`), see the fake's docstring.
    pub fn control(&self, what: &str, body: serde_json::Value) -> serde_json::Value {
        let (status, answer) = http(
            self.port,
            "POST",
            &format!("/_fake/{what}"),
            &body.to_string(),
        );
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// Everything the fake knows: `instances` (destroyed ones too) and `requests`
    /// (`METHOD /path-template` of every request; `INVALID ...` for those the
    /// package's schema refused).
    pub fn state(&self) -> serde_json::Value {
        http(self.port, "GET", "/_fake/state", "").1
    }

    /// The requests the fake refused as not matching the package.
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

impl Drop for VastFake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One raw HTTP/1.1 exchange with 127.0.0.1:`port` (`Connection: close`).
fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the fake");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: console.vast.ai\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut reader = BufReader::new(&mut stream);
    let (mut head, mut length) = (String::new(), 0usize);
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
    let mut raw = vec![0; length];
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
