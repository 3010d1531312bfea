//! The Compute Engine fake (`tests/fakes/gcp_compute.py`) as a real server for
//! tests: one process per test on a free loopback port ([`PythonFake`]), run by
//! the venv that `scripts/test.sh` makes (it has `cryptography`,
//! `google-api-python-client`, whose discovery document the fake validates every
//! request against, and `google-cloud-compute`, Google's own client, which reads
//! facts back).
//!
//! Each fake gets fresh credentials made here: an RSA key pair (the fake holds the
//! public half and verifies JWT signatures with it), a service-account key file with
//! the private half, an `authorized_user` file with a random refresh token, and a
//! second key file signed by a key the fake does not know.

use std::path::PathBuf;
use std::process::Command;

use crate::fakes::PythonFake;

/// The project the fake serves.
pub const PROJECT: &str = "aloft-test";
/// The service account's email.
pub const CLIENT_EMAIL: &str = "aloft-bot@aloft-test.iam.gserviceaccount.com";
/// The token a test's own Google client reads with.
const READER_TOKEN: &str = "ya29.reader-for-tests";

/// How the fake behaves.
#[derive(Debug, Clone, Default)]
pub struct FakeOptions {
    /// Zones whose inserts end in `ZONE_RESOURCE_POOL_EXHAUSTED`.
    pub exhausted_zones: Vec<String>,
    /// How many `get`/`wait` polls an operation takes to be `DONE` (0: at once).
    pub op_polls: u32,
    /// External IPs to hand out, in order (default: made-up public ones).
    pub nat_ips: Vec<String>,
}

/// A running fake ([`PythonFake`]: its port, endpoint and state, through
/// `Deref`) and the credentials it accepts.
pub struct GcpFake {
    fake: PythonFake,
    dir: tempfile::TempDir,
}

fn venv() -> PathBuf {
    std::env::var_os("ALOFT_MOTO_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv"))
}

/// Python that writes fresh Google credentials and a fake's config into a folder (see the
/// module docs); shared with the GCS fake ([`crate::gcs_fake`]).
pub(crate) const MAKE_CREDENTIALS: &str = r#"
import json, os, secrets, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
out, project, email, opts = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
def key():
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()).decode()
    pub = k.public_key().public_bytes(serialization.Encoding.PEM,
                                      serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return pem, pub
def sa(pem):
    return {"type": "service_account", "project_id": project, "private_key_id": secrets.token_hex(20),
            "private_key": pem, "client_email": email, "client_id": "104242424242424242424",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token"}
pem, pub = key()
wrong, _ = key()
client_id = "764086051850-aloft.apps.googleusercontent.com"
client_secret = "d-FL95Q19q7MQmFpd7hHD0Ty-" + secrets.token_hex(4)
refresh = "1//0aloftTESTrefresh-" + secrets.token_urlsafe(24)
files = {
    "service_account.json": sa(pem),
    "wrong_key.json": sa(wrong),
    "authorized_user.json": {"type": "authorized_user", "client_id": client_id,
                             "client_secret": client_secret, "refresh_token": refresh},
    "config.json": dict(opts, project=project, public_key_pem=pub, client_email=email,
                        client_id=client_id, client_secret=client_secret, refresh_token=refresh),
}
for name, doc in files.items():
    with open(os.path.join(out, name), "w") as f:
        json.dump(doc, f)
"#;

impl GcpFake {
    /// Makes credentials and starts the fake on a free port (it says which once
    /// it listens).
    pub fn start(options: FakeOptions) -> GcpFake {
        let venv = venv();
        let python = venv.join("bin/python");
        assert!(
            python.exists(),
            "{} is missing: scripts/test.sh makes .venv",
            python.display()
        );
        let dir = tempfile::tempdir().expect("a temp dir");
        let opts = serde_json::json!({
            "exhausted_zones": options.exhausted_zones,
            "op_polls": options.op_polls,
            "nat_ips": options.nat_ips,
            "reader_token": READER_TOKEN,
            "zones": ["us-central1-a", "us-central1-b", "us-central1-c", "us-east1-b", "us-east1-c"],
        });
        let made = Command::new(&python)
            .arg("-c")
            .arg(MAKE_CREDENTIALS)
            .arg(dir.path())
            .args([PROJECT, CLIENT_EMAIL, &opts.to_string()])
            .output()
            .expect("run the venv's python");
        assert!(
            made.status.success(),
            "making test credentials failed: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        let config = dir.path().join("config.json");
        let config = config.to_str().expect("a UTF-8 temp path");
        let fake = PythonFake::start_with(&python, "gcp_compute.py", &[config, "0"]);
        GcpFake { fake, dir }
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).expect("a credentials file")
    }

    /// A service-account key file (JSON) the fake accepts.
    pub fn service_account_json(&self) -> String {
        self.file("service_account.json")
    }

    /// Where the service-account key file lies (for `GOOGLE_APPLICATION_CREDENTIALS`).
    pub fn service_account_path(&self) -> PathBuf {
        self.dir.path().join("service_account.json")
    }

    /// A key file for the same account, signed by a key the fake does not know.
    pub fn wrong_key_json(&self) -> String {
        self.file("wrong_key.json")
    }

    /// Application-default credentials of the `authorized_user` kind (no project).
    pub fn authorized_user_json(&self) -> String {
        self.file("authorized_user.json")
    }

    /// The secrets in these credentials, which must never show anywhere: the
    /// private keys (their base64 body lines), the client secret and the refresh
    /// token.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        for name in ["service_account.json", "wrong_key.json"] {
            let doc: serde_json::Value = serde_json::from_str(&self.file(name)).expect("key JSON");
            let pem = doc["private_key"].as_str().unwrap_or_default();
            out.extend(
                pem.lines()
                    .filter(|l| !l.starts_with("-----") && l.len() > 20)
                    .map(str::to_string),
            );
        }
        let user: serde_json::Value =
            serde_json::from_str(&self.authorized_user_json()).expect("ADC JSON");
        for field in ["client_secret", "refresh_token"] {
            out.push(user[field].as_str().unwrap_or_default().to_string());
        }
        out
    }

    /// Calls a control endpoint (`/_fake/<what>`) with a JSON body; returns its JSON.
    pub fn control(&self, what: &str, body: serde_json::Value) -> serde_json::Value {
        let method = if matches!(what, "state" | "requests") {
            "GET"
        } else {
            "POST"
        };
        let (status, answer) =
            self.fake
                .request(method, &format!("/_fake/{what}"), &[], &body.to_string());
        assert_eq!(status, 200, "{what}: {answer}");
        assert!(!answer.is_null(), "{what}: the fake answers JSON");
        answer
    }

    /// Sends one raw request to the fake with a reader token; returns the status
    /// and the JSON answer (for checking the fake's own validation).
    pub fn raw(&self, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        let auth = format!("Bearer {READER_TOKEN}");
        self.fake
            .request(method, path, &[("Authorization", &auth)], body)
    }

    /// Every compute request the fake accepted (method id, path, query, body).
    pub fn requests(&self) -> serde_json::Value {
        self.control("requests", serde_json::json!({}))
    }

    /// Runs Python `code` with `instances` and `firewalls` (Google's own
    /// `google-cloud-compute` clients, REST transport, on this fake) and `PROJECT`
    /// in scope; `code` prints one JSON value, which is returned.
    pub fn google(&self, code: &str) -> serde_json::Value {
        let prelude = format!(
            "import json\n\
             from google.cloud import compute_v1\n\
             from google.oauth2.credentials import Credentials\n\
             opts = {{'api_endpoint': '{endpoint}'}}\n\
             creds = Credentials(token='{READER_TOKEN}')\n\
             instances = compute_v1.InstancesClient(credentials=creds, transport='rest', client_options=opts)\n\
             firewalls = compute_v1.FirewallsClient(credentials=creds, transport='rest', client_options=opts)\n\
             PROJECT = '{PROJECT}'",
            endpoint = self.endpoint()
        );
        self.fake.python(&prelude, code)
    }
}

impl std::ops::Deref for GcpFake {
    type Target = PythonFake;
    fn deref(&self) -> &PythonFake {
        &self.fake
    }
}
