//! The fake of Vast.ai's REST API (`tests/fakes/vastai_api.py`, run by the
//! repository's `.venv` Python, which has `vastai-sdk`: the fake checks every
//! request against what that package sends) as a real HTTP server on a free
//! 127.0.0.1 port. Its instances take "machines" the test started (real `sshd`s on
//! loopback, see [`crate::sshd`]): an instance's public address is its machine's,
//! its port 22 is mapped to the machine's sshd port, and keys attached to it are
//! authorized on the machine. Facts are read back through the package's own
//! client ([`VastFake::sdk`]).

use crate::fakes::{PythonFake, machines_arg};
use crate::sshd::Sshd;

/// A running fake of Vast.ai's API: [`PythonFake`] (its endpoint, controls,
/// `state` and `invalid_requests`, through `Deref`) with the package's client.
///
/// Its state: `instances` (destroyed ones too) and `requests` (`METHOD
/// /path-template` of every request; `INVALID ...` for those the package's
/// schema refused).
pub struct VastFake {
    fake: PythonFake,
    key: String,
}

impl VastFake {
    /// Starts the fake with one valid API `key`; rented instances take `machines`
    /// in order and run `boot_seconds` after their rent.
    pub fn start(key: &str, machines: &[&Sshd], boot_seconds: f64) -> VastFake {
        let fake = PythonFake::start(
            "vastai_api.py",
            &[
                "--key",
                key,
                "--machines",
                &machines_arg(machines),
                "--boot-seconds",
                &boot_seconds.to_string(),
            ],
        );
        VastFake {
            fake,
            key: key.to_string(),
        }
    }

    /// Runs `script` with `vast`, the package's `VastAI` client on the fake with
    /// the valid key; its stdout parsed as JSON.
    pub fn sdk(&self, script: &str) -> serde_json::Value {
        let prelude = format!(
            "import json, vastai_sdk\nfrom vastai import VastAI\n\
             vast = VastAI(api_key={key:?}, server_url={endpoint:?}, retry=1)",
            key = self.key,
            endpoint = self.endpoint(),
        );
        self.fake.python(&prelude, script)
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
}

impl std::ops::Deref for VastFake {
    type Target = PythonFake;
    fn deref(&self) -> &PythonFake {
        &self.fake
    }
}
