//! The fake of Nebius AI Cloud's gRPC API (`tests/fakes/nebius_api.py`, run by
//! the repository's `.venv` Python, which has `nebius` and `grpcio`: the fake
//! serves the package's own service and message descriptors and refuses any
//! request that does not parse as them) on a free 127.0.0.1 port that speaks
//! h2c (gRPC) and HTTP/1.1 (its `/_fake/` controls). Its instances take
//! "machines" the test started (real `sshd`s on loopback, see [`crate::sshd`]):
//! an instance's addresses are its machine's, and the keys its cloud-init user
//! data authorizes are appended to the machine's authorized keys.

use std::path::Path;

use crate::fakes::{PythonFake, machines_arg};
use crate::sshd::Sshd;

/// The project the fake's instances live in.
pub const PROJECT: &str = "project-e00aloftfake";
/// The subnet instances must attach to.
pub const SUBNET: &str = "vpcsubnet-e00aloftfake";
/// The service account the credentials file names.
pub const SERVICE_ACCOUNT: &str = "serviceaccount-e00aloftfake";
/// The id of its public key.
pub const KEY_ID: &str = "publickey-e00aloftfake";

/// A running fake of Nebius's API: [`PythonFake`] (its endpoint, controls,
/// `state` and `invalid_requests`, through `Deref`).
///
/// Its state: `instances` (deleted ones too), `requests` (`Service/Method` of
/// every call; `INVALID ...` for those the package's descriptors refused,
/// `UNAUTHENTICATED ...`) and `tokens` (the access tokens it minted).
pub struct NebiusFake {
    fake: PythonFake,
}

impl NebiusFake {
    /// Starts the fake trusting the service account's RSA key in `key_pem` (a
    /// PKCS#8 PEM file); instances take `machines` in order (their user must be
    /// the cloud-init user) and run `boot_seconds` after their creation or start.
    pub fn start(key_pem: &Path, machines: &[&Sshd], boot_seconds: f64) -> NebiusFake {
        let user = machines.first().map_or("ubuntu", |m| m.user.as_str());
        let fake = PythonFake::start(
            "nebius_api.py",
            &[
                "--project",
                PROJECT,
                "--subnet",
                SUBNET,
                "--sa-id",
                SERVICE_ACCOUNT,
                "--sa-kid",
                KEY_ID,
                "--sa-key",
                key_pem.to_str().expect("a UTF-8 path"),
                "--ssh-user",
                user,
                "--machines",
                &machines_arg(machines),
                "--boot-seconds",
                &boot_seconds.to_string(),
            ],
        );
        NebiusFake { fake }
    }

    /// The service account's credentials file (the JSON the `nebius` CLI
    /// writes) for the key in `key_pem`.
    pub fn credentials_json(key_pem: &Path) -> String {
        let pem = std::fs::read_to_string(key_pem).expect("read the key");
        serde_json::json!({"subject-credentials": {
            "type": "JWT",
            "alg": "RS256",
            "private-key": pem,
            "kid": KEY_ID,
            "iss": SERVICE_ACCOUNT,
            "sub": SERVICE_ACCOUNT,
        }})
        .to_string()
    }

    /// Runs `script` with `sdk`, the `nebius` package's own `SDK` on the fake
    /// (insecure channel, every service at the fake's address), authenticated by
    /// the service account's credentials file at `credentials` (the SDK signs its
    /// JWT and exchanges it at the fake); its stdout parsed as JSON.
    pub fn sdk(&self, credentials: &Path, script: &str) -> serde_json::Value {
        let prelude = format!(
            "import json, warnings\nwarnings.simplefilter('ignore')\n\
             from nebius.sdk import SDK\nfrom nebius.base.resolver import Constant\n\
             from nebius.base.options import INSECURE\n\
             sdk = SDK(resolver=Constant('127.0.0.1:{port}'), options=[(INSECURE, True)], \
             credentials_file_name={path:?})",
            port = self.port,
            path = credentials.to_str().expect("a UTF-8 path"),
        );
        self.fake
            .python(&prelude, &format!("{script}\nsdk.sync_close()"))
    }

    /// The live instances now, as `(name, state)`, sorted.
    pub fn live_instances(&self) -> Vec<(String, String)> {
        let state = self.state();
        let mut found: Vec<(String, String)> = state["instances"]
            .as_array()
            .expect("instances")
            .iter()
            .filter(|i| i["deleted"] == false)
            .map(|i| {
                (
                    i["name"].as_str().unwrap_or_default().to_string(),
                    i["state"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        found.sort();
        found
    }

    /// The access tokens the fake minted (secrets: never to be printed).
    pub fn tokens(&self) -> Vec<String> {
        self.state()["tokens"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl std::ops::Deref for NebiusFake {
    type Target = PythonFake;
    fn deref(&self) -> &PythonFake {
        &self.fake
    }
}
