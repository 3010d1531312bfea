//! The Kubernetes API server fake (`tests/fakes/k8s_api.py`) as a real HTTPS server
//! for tests: one process per fake cluster on a free loopback port, run by the venv
//! that `scripts/test.sh` makes (it has `kubernetes-validate`, whose schemas the fake
//! checks every object against, `kubernetes`, the official client that reads facts
//! back, and `cryptography`).
//!
//! Each fake gets fresh PKI made here: a CA, a server certificate for 127.0.0.1, a
//! client certificate (`CN=aloft-cert-user`) the fake accepts, a random bearer token,
//! a random token the fake answers 403 to, and a reader token for the test's own
//! client.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The node labels and allocatable resources of one fake node.
#[derive(Debug, Clone)]
pub struct FakeNode {
    /// The node's name.
    pub name: String,
    /// Its labels.
    pub labels: Vec<(String, String)>,
    /// Allocatable CPUs.
    pub cpus: u32,
    /// Allocatable memory, GiB.
    pub memory_gib: u32,
    /// Allocatable `nvidia.com/gpu`.
    pub gpus: u32,
}

impl FakeNode {
    /// A node with `gpus` GPUs labelled `label=value` (no GPU label when `gpus` is 0).
    pub fn new(
        name: &str,
        cpus: u32,
        memory_gib: u32,
        gpus: u32,
        label: Option<(&str, &str)>,
    ) -> Self {
        FakeNode {
            name: name.into(),
            labels: label
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cpus,
            memory_gib,
            gpus,
        }
    }
}

/// A running fake API server and the credentials it accepts.
pub struct K8sFake {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
    python: PathBuf,
    child: Child,
}

fn venv() -> PathBuf {
    std::env::var_os("ALOFT_MOTO_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv"))
}

const MAKE_PKI: &str = r#"
import datetime, ipaddress, os, secrets, sys
from cryptography import x509
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
out = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc)
def key():
    return ec.generate_private_key(ec.SECP256R1())
def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
def write(fname, data):
    with open(os.path.join(out, fname), "wb") as f:
        f.write(data)
def pem_key(k):
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
ca_key = key()
ca = (x509.CertificateBuilder().subject_name(name("aloft-test-ca")).issuer_name(name("aloft-test-ca"))
      .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
      .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
      .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                   key_encipherment=False, data_encipherment=False, key_agreement=False,
                                   encipher_only=False, decipher_only=False), critical=True)
      .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
      .sign(ca_key, hashes.SHA256()))
write("ca.pem", ca.public_bytes(serialization.Encoding.PEM))
def leaf(cn, usage, san=None):
    k = key()
    b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.subject).public_key(k.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return b.sign(ca_key, hashes.SHA256()), k
srv, srv_key = leaf("127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH,
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
write("server.pem", srv.public_bytes(serialization.Encoding.PEM))
write("server-key.pem", pem_key(srv_key))
cl, cl_key = leaf("aloft-cert-user", ExtendedKeyUsageOID.CLIENT_AUTH)
write("client.pem", cl.public_bytes(serialization.Encoding.PEM))
write("client-key.pem", pem_key(cl_key))
for f in ("token", "forbidden-token", "reader-token"):
    write(f, ("k8s-" + f + "-" + secrets.token_urlsafe(24)).encode())
"#;

const READ_PRELUDE: &str = r#"
import json, sys
from kubernetes import client
cfg = client.Configuration()
cfg.host = sys.argv[1]
cfg.ssl_ca_cert = sys.argv[2]
cfg.api_key = {"authorization": "Bearer " + open(sys.argv[3]).read()}
v1 = client.CoreV1Api(client.ApiClient(cfg))
"#;

impl K8sFake {
    /// Makes PKI and starts a fake cluster of `nodes` whose pods are backed by the
    /// sshd `machines` (`(ip, port)`), in namespaces `default` and `aloft`.
    pub fn start(nodes: &[FakeNode], machines: &[(String, u16)]) -> K8sFake {
        Self::start_with(nodes, machines, serde_json::json!({}))
    }

    /// [`K8sFake::start`] with more settings of the fake (`{"pod_quota": {"aloft": 1}}`:
    /// a ResourceQuota of one pod in namespace `aloft`).
    pub fn start_with(
        nodes: &[FakeNode],
        machines: &[(String, u16)],
        extra: serde_json::Value,
    ) -> K8sFake {
        let python = venv().join("bin/python");
        assert!(
            python.exists(),
            "{} is missing: scripts/test.sh makes .venv",
            python.display()
        );
        let dir = tempfile::tempdir().expect("a temp dir");
        let made = Command::new(&python)
            .arg("-c")
            .arg(MAKE_PKI)
            .arg(dir.path())
            .output()
            .expect("run the venv's python");
        assert!(
            made.status.success(),
            "making test PKI failed: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).expect("pki file");
        let config = serde_json::json!({
            "namespaces": ["default", "aloft"],
            "nodes": nodes.iter().map(|n| serde_json::json!({
                "name": n.name,
                "labels": n.labels.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
                "allocatable": {
                    "cpu": n.cpus.to_string(),
                    "memory": format!("{}Gi", n.memory_gib),
                    "nvidia.com/gpu": n.gpus.to_string(),
                    "pods": "110",
                },
            })).collect::<Vec<_>>(),
            "machines": machines,
            "tokens": {read("token"): "aloft-token-user", read("reader-token"): "test-reader"},
            "forbidden_tokens": [read("forbidden-token")],
            "tls": {
                "cert": dir.path().join("server.pem"),
                "key": dir.path().join("server-key.pem"),
                "client_ca": dir.path().join("ca.pem"),
            },
        });
        let mut config = config;
        if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
            config.extend(extra.clone());
        }
        let config_path = dir.path().join("config.json");
        std::fs::write(&config_path, config.to_string()).expect("write the fake's config");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fakes/k8s_api.py");
        let mut child = Command::new(&python)
            .arg(script)
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the k8s fake");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("the fake's stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the fake's ready line");
        let port = line
            .trim()
            .strip_prefix("ready ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the k8s fake did not start: {line:?}"));
        K8sFake {
            port,
            dir,
            python,
            child,
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn server(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// A file of its PKI or credentials (`ca.pem`, `client.pem`, `client-key.pem`,
    /// `token`, `forbidden-token`).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The contents of [`K8sFake::path`].
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).expect("a fake file")
    }

    /// Values that must never appear in aloft's output, logs or state: the tokens
    /// and the client key's body lines.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = vec![self.read("token"), self.read("forbidden-token")];
        out.extend(
            self.read("client-key.pem")
                .lines()
                .filter(|l| !l.starts_with("-----") && l.len() > 20)
                .map(str::to_string),
        );
        out
    }

    /// Runs `code` with the official client (`v1` is a `CoreV1Api` on this fake,
    /// with the reader token); returns the JSON it prints.
    pub fn read_back(&self, code: &str) -> serde_json::Value {
        let out = Command::new(&self.python)
            .arg("-c")
            .arg(format!("{READ_PRELUDE}\n{code}"))
            .arg(self.server())
            .arg(self.path("ca.pem"))
            .arg(self.path("reader-token"))
            .output()
            .expect("run the official client");
        assert!(
            out.status.success(),
            "the official client failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "the client printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }
}

impl Drop for K8sFake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
