//! The fake of OCI's Core Services and Identity APIs (`tests/fakes/oci_api.py`, run
//! by the repository's `.venv` Python, which has the official `oci` SDK: the fake
//! checks every request against the SDK's operations and models, and verifies its
//! signature with the test key's public half) as a real HTTP server on a free
//! 127.0.0.1 port, with an OCI config file (`[DEFAULT]` profile and API key) for
//! aloft to read. Instances take "machines" the test started (real `sshd`s on
//! loopback, see [`crate::sshd`]). Facts are read back through the SDK itself
//! ([`OciFake::sdk`]). Its controls, state and raw requests are
//! [`PythonFake`]'s (through `Deref`): its `/_fake/` paths are answered before
//! the `Host`-based routing.

use std::path::PathBuf;
use std::process::Command;

use crate::fakes::{PythonFake, machines_arg};
use crate::sshd::Sshd;

/// The test profile's identity (well-formed as OCI's SDK checks them).
pub const TENANCY: &str = "ocid1.tenancy.oc1..aaaaaaaaalofttesttenancy";
/// See [`TENANCY`].
pub const USER: &str = "ocid1.user.oc1..aaaaaaaaalofttestuser";
/// See [`TENANCY`].
pub const FINGERPRINT: &str = "20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34";

/// The API signing key's PEM (a secret: never in any output or file of aloft's).
pub const KEY_PEM: &str = include_str!("../../providers/sdk/src/test_key.pem");

/// A running fake of OCI's API, with its config file ([`PythonFake`]'s controls
/// and state through `Deref`).
pub struct OciFake {
    fake: PythonFake,
    /// The OCI config file (`OCI_CONFIG_FILE`) naming the test key.
    pub config: PathBuf,
    /// Holds the config and the key (outside aloft's home).
    _dir: tempfile::TempDir,
}

impl OciFake {
    /// Starts the fake; writes an OCI config (profile DEFAULT, region `region`)
    /// and the key ([`KEY_PEM`]) beside it, in a folder of its own. Launched
    /// instances take `machines` in order and run `boot_seconds` after their
    /// launch.
    pub fn start(region: &str, machines: &[&Sshd], boot_seconds: f64) -> OciFake {
        let dir = tempfile::tempdir().expect("a temp dir");
        let oci = dir.path().join("oci");
        std::fs::create_dir_all(&oci).expect("make the oci folder");
        let key = oci.join("oci_api_key.pem");
        std::fs::write(&key, KEY_PEM).expect("write the key");
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
        let fake = PythonFake::start(
            "oci_api.py",
            &[
                "--key-id",
                &format!("{TENANCY}/{USER}/{FINGERPRINT}"),
                "--public-key",
                public.to_str().expect("a UTF-8 path"),
                "--machines",
                &machines_arg(machines),
                "--boot-seconds",
                &boot_seconds.to_string(),
            ],
        );
        OciFake {
            fake,
            config,
            _dir: dir,
        }
    }

    /// Runs `script` with the official SDK on the fake: `compute`, `network`
    /// (`oci.core` clients), `identity`, `c` (the compartment, the tenancy) and
    /// `json`; its stdout parsed as JSON.
    pub fn sdk(&self, script: &str) -> serde_json::Value {
        let prelude = format!(
            "import json, oci\nconfig = oci.config.from_file({config:?})\n\
             kw = dict(service_endpoint={endpoint:?})\n\
             compute = oci.core.ComputeClient(config, **kw)\n\
             network = oci.core.VirtualNetworkClient(config, **kw)\n\
             identity = oci.identity.IdentityClient(config, **kw)\n\
             c = config['tenancy']",
            config = self.config.display().to_string(),
            endpoint = self.endpoint(),
        );
        self.fake.python(&prelude, script)
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

    /// The requests the fake refused: not matching the SDK's operations and
    /// models, or not signed right.
    pub fn refused_requests(&self) -> Vec<String> {
        self.state()["requests"]
            .as_array()
            .expect("the fake's requests")
            .iter()
            .filter_map(|r| r.as_str())
            .filter(|r| r.starts_with("INVALID") || r.starts_with("UNAUTHENTICATED"))
            .map(str::to_string)
            .collect()
    }
}

/// The fake's `GET /_fake/state` holds `instances` (terminated ones too),
/// `network` and `requests`.
impl std::ops::Deref for OciFake {
    type Target = PythonFake;
    fn deref(&self) -> &PythonFake {
        &self.fake
    }
}
