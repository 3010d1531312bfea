//! The fake of DigitalOcean's REST API v2 (`tests/fakes/digitalocean_api.py`, run
//! by the repository's `.venv` Python, which has `pydo`: the fake checks every
//! request against pydo's generated operations) as a real HTTP server on a free
//! 127.0.0.1 port. Its droplets take "machines" the test started (real `sshd`s on
//! loopback, see [`crate::sshd`]): a droplet's public address is its machine's,
//! and the account keys named in its `ssh_keys` are authorized on the machine.
//! Facts are read back through pydo itself ([`DigitalOceanFake::pydo`]).

use crate::fakes::{PythonFake, machines_arg};
use crate::sshd::Sshd;

/// A running fake of DigitalOcean's API: [`PythonFake`] (its endpoint, controls,
/// `state` and `invalid_requests`, through `Deref`) with pydo on it.
///
/// Its state: `droplets` (destroyed ones too, `archive`), `firewalls`,
/// `ssh_keys` and `requests` (`METHOD /path-template` of every request;
/// `INVALID ...` for those pydo's schema refused).
pub struct DigitalOceanFake {
    fake: PythonFake,
    token: String,
}

impl DigitalOceanFake {
    /// Starts the fake with one valid `token`; created droplets take `machines`
    /// in order and become active `boot_seconds` after their create.
    pub fn start(token: &str, machines: &[&Sshd], boot_seconds: f64) -> DigitalOceanFake {
        let fake = PythonFake::start(
            "digitalocean_api.py",
            &[
                "--token",
                token,
                "--machines",
                &machines_arg(machines),
                "--boot-seconds",
                &boot_seconds.to_string(),
            ],
        );
        DigitalOceanFake {
            fake,
            token: token.to_string(),
        }
    }

    /// Runs `script` with `client`, a `pydo.Client` on the fake with the valid
    /// token, and `o`, the options every call needs (`enforce_https=False`: the
    /// fake is plain HTTP); its stdout parsed as JSON.
    pub fn pydo(&self, script: &str) -> serde_json::Value {
        let prelude = format!(
            "import json, pydo\nclient = pydo.Client(token={token:?}, endpoint={endpoint:?})\n\
             o = dict(enforce_https=False)",
            token = self.token,
            endpoint = self.endpoint(),
        );
        self.fake.python(&prelude, script)
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
}

impl std::ops::Deref for DigitalOceanFake {
    type Target = PythonFake;
    fn deref(&self) -> &PythonFake {
        &self.fake
    }
}
