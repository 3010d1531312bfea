//! moto, the AWS emulator (PyPI `moto[server]`), as a real server for tests: one
//! `moto_server` process per test on a free loopback port, from the venv that
//! `scripts/test.sh` makes (`.venv` at the workspace root, or `ALOFT_MOTO_VENV`).
//! Assertions read moto back through boto3, AWS's own SDK, not through aloft.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server.
pub struct Moto {
    /// Its port on 127.0.0.1.
    pub port: u16,
    venv: PathBuf,
    child: Child,
    /// moto's request log (werkzeug's one line per request), when kept.
    log: Option<tempfile::NamedTempFile>,
}

fn venv() -> PathBuf {
    std::env::var_os("ALOFT_MOTO_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv"))
}

impl Moto {
    /// Starts a server and waits until it answers.
    pub fn start() -> Moto {
        Moto::start_with(false)
    }

    /// [`Moto::start`], keeping the server's request log for [`Moto::requests`].
    pub fn start_logged() -> Moto {
        Moto::start_with(true)
    }

    fn start_with(logged: bool) -> Moto {
        let venv = venv();
        let server = venv.join("bin/moto_server");
        assert!(
            server.exists(),
            "{} is missing: scripts/test.sh installs moto[server] into .venv",
            server.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let log = logged.then(|| tempfile::NamedTempFile::new().expect("a log file"));
        let stderr = match &log {
            Some(file) => Stdio::from(file.reopen().expect("open the log file")),
            None => Stdio::null(),
        };
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start moto_server");
        let moto = Moto {
            port,
            venv,
            child,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// The request lines moto logged so far (`GET /bucket/key?query HTTP/1.1`,
    /// the part between quotes), for a server from [`Moto::start_logged`].
    pub fn requests(&self) -> Vec<String> {
        let log = self
            .log
            .as_ref()
            .expect("a server started with start_logged");
        std::fs::read_to_string(log.path())
            .expect("read moto's log")
            .lines()
            .filter_map(|line| line.split('"').nth(1).map(str::to_string))
            .collect()
    }

    /// The venv's Python (it has boto3).
    pub fn python(&self) -> PathBuf {
        self.venv.join("bin/python")
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs Python `code` with `ec2` (a boto3 EC2 client for `us-east-1` on this
    /// server) in scope; `code` prints one JSON value, which is returned.
    pub fn boto(&self, code: &str) -> serde_json::Value {
        let script = format!(
            "import boto3, json\n\
             ec2 = boto3.client('ec2', endpoint_url='{}', region_name='us-east-1', \
             aws_access_key_id='AKIAMOTOTEST', aws_secret_access_key='moto-test')\n{code}\n",
            self.endpoint()
        );
        let out = Command::new(self.venv.join("bin/python"))
            .arg("-c")
            .arg(script)
            .output()
            .expect("run the venv's python");
        assert!(
            out.status.success(),
            "boto3 failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("boto3 snippet printed JSON")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
