//! The fake of Fluidstack's REST API (`tests/fakes/fluidstack_api.py`, run by the
//! repository's `.venv` Python, which has `fluidstack`: the fake checks every
//! request against its `FluidStack` clients and types) as a real HTTP server on
//! a free 127.0.0.1 port. Its instances take "machines" the test started (real
//! `sshd`s on loopback, see [`crate::sshd`]): an instance's `ip_address`,
//! `ssh_port` and `username` are its machine's, and the account SSH key it was
//! created with is authorized on the machine. Facts are read back through the
//! package's own client ([`FluidstackFake::sdk`]).

use crate::fakes::{PythonFake, machines_arg};
use crate::sshd::Sshd;

/// A running fake of Fluidstack's API: [`PythonFake`] (its endpoint, controls,
/// `state` and `invalid_requests`, through `Deref`) with the package's client.
///
/// Its state: `instances` (deleted ones too), `ssh_keys` (the account's) and
/// `requests` (`METHOD /path-template` of every request; `INVALID ...` for those
/// the package's types refused).
pub struct FluidstackFake {
    fake: PythonFake,
    key: String,
}

impl FluidstackFake {
    /// Starts the fake with one valid API `key`; instances take `machines` in
    /// order (logged into as their user) and run `boot_seconds` after their
    /// creation or start.
    pub fn start(key: &str, machines: &[&Sshd], boot_seconds: f64) -> FluidstackFake {
        let user = machines.first().map_or("ubuntu", |m| m.user.as_str());
        let fake = PythonFake::start(
            "fluidstack_api.py",
            &[
                "--key",
                key,
                "--ssh-user",
                user,
                "--machines",
                &machines_arg(machines),
                "--boot-seconds",
                &boot_seconds.to_string(),
            ],
        );
        FluidstackFake {
            fake,
            key: key.to_string(),
        }
    }

    /// Runs `script` with `fs`, the package's `FluidStack` client, on the fake
    /// with the valid key; its stdout parsed as JSON.
    pub fn sdk(&self, script: &str) -> serde_json::Value {
        let prelude = format!(
            "import json\nfrom FluidStack.client import FluidStack\n\
             fs = FluidStack(api_key={key:?}, base_url={endpoint:?})",
            key = self.key,
            endpoint = self.endpoint(),
        );
        self.fake.python(&prelude, script)
    }

    /// The account's instances now (through the package), as `(name, status)`,
    /// sorted.
    pub fn live_instances(&self) -> Vec<(String, String)> {
        let list = self.sdk("print(json.dumps([[i.name, i.status] for i in fs.instances.list()]))");
        let mut found: Vec<(String, String)> = serde_json::from_value(list).unwrap();
        found.sort();
        found
    }

    /// The names of the account's SSH keys now (through the package), sorted.
    pub fn account_keys(&self) -> Vec<String> {
        let list = self.sdk("print(json.dumps([k.name for k in fs.ssh_keys.list()]))");
        let mut names: Vec<String> = serde_json::from_value(list).unwrap();
        names.sort();
        names
    }
}

impl std::ops::Deref for FluidstackFake {
    type Target = PythonFake;
    fn deref(&self) -> &PythonFake {
        &self.fake
    }
}
