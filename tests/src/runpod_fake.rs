//! The fake of RunPod's GraphQL API (`tests/fakes/runpod_graphql.py`, run by the
//! repository's `.venv` Python, which has graphql-core) as a real HTTP server on a
//! free 127.0.0.1 port. Its pods take "machines" the test started (real `sshd`s
//! on loopback, see [`crate::sshd`]): port 22 of a pod is mapped to the machine's
//! address and sshd port, and the pod's `PUBLIC_KEY` is authorized on it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command};

use crate::sshd::Sshd;

/// A running fake of RunPod's API.
pub struct RunpodFake {
    /// Its port on 127.0.0.1.
    pub port: u16,
    api_key: String,
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
        "{} is missing: run scripts/test.sh once (it makes the venv with graphql-core)",
        venv.display()
    );
    venv
}

impl RunpodFake {
    /// Starts the fake with one valid `api_key`; deployed pods take `machines` in
    /// order and become reachable `boot_seconds` after their deploy.
    pub fn start(api_key: &str, machines: &[&Sshd], boot_seconds: f64) -> RunpodFake {
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
                .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fakes/runpod_graphql.py"))
                .args(["--api-key", api_key, "--machines", &spec.join(",")])
                .args(["--boot-seconds", &boot_seconds.to_string()]),
            "tests/fakes/runpod_graphql.py with the .venv python",
        );
        RunpodFake {
            port,
            api_key: api_key.to_string(),
            child,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One GraphQL request with the valid key: `(HTTP status, JSON answer)`.
    pub fn graphql(&self, query: &str, variables: serde_json::Value) -> (u16, serde_json::Value) {
        let body = serde_json::json!({"query": query, "variables": variables}).to_string();
        http(
            self.port,
            &format!(
                "POST /graphql HTTP/1.1\r\nHost: api.runpod.io\r\nAuthorization: Bearer {}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                self.api_key,
                body.len()
            ),
        )
    }

    /// A test control (`POST /_fake/<what>`), see the fake's docstring.
    pub fn control(&self, what: &str, body: serde_json::Value) -> serde_json::Value {
        let body = body.to_string();
        let (status, answer) = http(
            self.port,
            &format!(
                "POST /_fake/{what} HTTP/1.1\r\nHost: api.runpod.io\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        );
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// Everything the fake knows: `pods` (terminated ones too) and `requests` (the
    /// root field of every operation, `INVALID` for refused queries).
    pub fn state(&self) -> serde_json::Value {
        http(
            self.port,
            "GET /_fake/state HTTP/1.1\r\nHost: api.runpod.io\r\nConnection: close\r\n\r\n",
        )
        .1
    }

    /// The pods the account has now, read back through the API itself.
    pub fn live_pods(&self) -> Vec<serde_json::Value> {
        let (status, answer) = self.graphql(
            "query { myself { pods { id name desiredStatus podType } } }",
            serde_json::json!({}),
        );
        assert_eq!(status, 200, "{answer}");
        answer["data"]["myself"]["pods"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for RunpodFake {
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
    // The server keeps HTTP/1.1 connections open: read the announced length.
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
