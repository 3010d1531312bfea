//! The fake of OCI's Core Services and Identity APIs (`tests/fakes/oci_api.py`, run
//! by the repository's `.venv` Python, which has the official `oci` SDK: the fake
//! checks every request against the SDK's operations and models, and verifies its
//! signature with the test key's public half) as a real HTTP server on a free
//! 127.0.0.1 port, with an OCI config file (`[DEFAULT]` profile and API key) for
//! aloft to read. Instances take "machines" the test started (real `sshd`s on
//! loopback, see [`crate::sshd`]). Facts are read back through the SDK itself
//! ([`OciFake::sdk`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::sshd::Sshd;

/// The test profile's identity (well-formed as OCI's SDK checks them).
pub const TENANCY: &str = "ocid1.tenancy.oc1..aaaaaaaaalofttesttenancy";
/// See [`TENANCY`].
pub const USER: &str = "ocid1.user.oc1..aaaaaaaaalofttestuser";
/// See [`TENANCY`].
pub const FINGERPRINT: &str = "20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34";

/// A running fake of OCI's API, with its config file.
pub struct OciFake {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The OCI config file (`OCI_CONFIG_FILE`) naming the test key.
    pub config: PathBuf,
    /// The API signing key's PEM (a secret: never in any output).
    pub key_pem: String,
    child: Child,
}

fn python() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/test.sh once (it makes the venv with oci)",
        venv.display()
    );
    venv
}

impl OciFake {
    /// Starts the fake; writes `dir/oci/config` (profile DEFAULT, region
    /// `region`) and the key beside it. Launched instances take `machines` in
    /// order and run `boot_seconds` after their launch.
    pub fn start(dir: &Path, region: &str, machines: &[&Sshd], boot_seconds: f64) -> OciFake {
        let oci = dir.join("oci");
        std::fs::create_dir_all(&oci).expect("make the oci folder");
        let key = oci.join("oci_api_key.pem");
        let key_pem = include_str!("../../providers/sdk/src/test_key.pem").to_string();
        std::fs::write(&key, &key_pem).expect("write the key");
        let public = oci.join("oci_api_key_public.pem");
        let made = Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&key)
            .arg("-out")
            .arg(&public)
            .status()
            .expect("run openssl");
        assert!(made.success(), "openssl could not write the public key");
        let config = oci.join("config");
        std::fs::write(
            &config,
            format!(
                "[DEFAULT]\nuser={USER}\nfingerprint={FINGERPRINT}\ntenancy={TENANCY}\n\
                 region={region}\nkey_file={}\n",
                key.display()
            ),
        )
        .expect("write the config");
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
                .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fakes/oci_api.py"))
                .args(["--key-id", &format!("{TENANCY}/{USER}/{FINGERPRINT}")])
                .arg("--public-key")
                .arg(&public)
                .args(["--machines", &spec.join(",")])
                .args(["--boot-seconds", &boot_seconds.to_string()]),
            "tests/fakes/oci_api.py with the .venv python",
        );
        OciFake {
            port,
            config,
            key_pem,
            child,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs `script` with the official SDK on the fake: `compute`, `network`
    /// (`oci.core` clients), `identity`, `c` (the compartment, the tenancy) and
    /// `json`; its stdout parsed as JSON.
    pub fn sdk(&self, script: &str) -> serde_json::Value {
        let program = format!(
            "import json, oci\nconfig = oci.config.from_file({config:?})\n\
             kw = dict(service_endpoint={endpoint:?})\n\
             compute = oci.core.ComputeClient(config, **kw)\n\
             network = oci.core.VirtualNetworkClient(config, **kw)\n\
             identity = oci.identity.IdentityClient(config, **kw)\n\
             c = config['tenancy']\n{script}\n",
            config = self.config.display().to_string(),
            endpoint = self.endpoint(),
        );
        let out = Command::new(python())
            .args(["-c", &program])
            .stderr(Stdio::inherit())
            .output()
            .expect("run the oci SDK");
        assert!(out.status.success(), "oci SDK script failed: {script}");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "the SDK script printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// The instances not terminated, through the SDK, as `(name, state)`, sorted.
    pub fn live_instances(&self) -> Vec<(String, String)> {
        let list = self.sdk(
            "print(json.dumps([[i.display_name, i.lifecycle_state] for i in \
             compute.list_instances(c).data if i.lifecycle_state != 'TERMINATED']))",
        );
        let mut found: Vec<(String, String)> = serde_json::from_value(list).unwrap();
        found.sort();
        found
    }

    /// The VCNs, subnets, gateways, route tables and security lists not deleted
    /// (the VCNs' default route tables and security lists go with them), through
    /// the SDK, as display names.
    pub fn live_network(&self) -> serde_json::Value {
        self.sdk(
            "live = lambda xs: sorted(x.display_name for x in xs if x.lifecycle_state != 'TERMINATED')\n\
             print(json.dumps(dict(\n\
               vcns=live(network.list_vcns(c).data),\n\
               subnets=live(network.list_subnets(c).data),\n\
               gateways=live(network.list_internet_gateways(c).data),\n\
               route_tables=live(network.list_route_tables(c).data),\n\
               security_lists=live(network.list_security_lists(c).data))))",
        )
    }

    /// A test control (`POST /_fake/<what>`), see the fake's docstring.
    pub fn control(&self, what: &str, body: serde_json::Value) -> serde_json::Value {
        let body = body.to_string();
        let (status, answer) = http(
            self.port,
            &format!(
                "POST /_fake/{what} HTTP/1.1\r\nHost: iaas.us-ashburn-1.oraclecloud.com\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        );
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// Everything the fake knows: `instances` (terminated ones too), `network`
    /// and `requests`.
    pub fn state(&self) -> serde_json::Value {
        http(
            self.port,
            "GET /_fake/state HTTP/1.1\r\nHost: iaas.us-ashburn-1.oraclecloud.com\r\nConnection: close\r\n\r\n",
        )
        .1
    }

    /// The requests the fake refused: not matching the SDK's operations and
    /// models, or not signed right.
    pub fn refused_requests(&self) -> Vec<String> {
        self.state()["requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r.as_str())
            .filter(|r| r.starts_with("INVALID") || r.starts_with("UNAUTHENTICATED"))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for OciFake {
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
