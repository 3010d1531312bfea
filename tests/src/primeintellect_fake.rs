//! The fake of Prime Intellect's REST API (`tests/fakes/primeintellect_api.py`,
//! run by the repository's `.venv` Python, which has `prime`: the fake checks
//! every request against what its `prime_cli` module sends) as a real HTTP server
//! on a free 127.0.0.1 port. Its pods take "machines" the test started (real
//! `sshd`s on loopback, see [`crate::sshd`]): a pod's `sshConnection` is its
//! machine's user, address and sshd port, and the account's SSH keys are
//! authorized on the machine when the pod is created. Facts are read back through
//! the package's own client ([`PrimeFake::sdk`]).

use crate::fakes::{PythonFake, machines_arg};
use crate::sshd::Sshd;

/// A running fake of Prime Intellect's API: [`PythonFake`] (its endpoint,
/// controls, `state` and `invalid_requests`, through `Deref`) with the package's
/// client.
///
/// Its state: `pods` (terminated ones too), `ssh_keys` (the account's) and
/// `requests` (`METHOD /path-template` of every request; `INVALID ...` for those
/// the package's schema refused).
pub struct PrimeFake {
    fake: PythonFake,
    key: String,
    home: tempfile::TempDir,
}

impl PrimeFake {
    /// Starts the fake with one valid API `key`; pods take `machines` in order
    /// (logged into as their user) and are active `boot_seconds` after their
    /// creation.
    pub fn start(key: &str, machines: &[&Sshd], boot_seconds: f64) -> PrimeFake {
        let user = machines.first().map_or("root", |m| m.user.as_str());
        let fake = PythonFake::start(
            "primeintellect_api.py",
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
        PrimeFake {
            fake,
            key: key.to_string(),
            home: tempfile::tempdir().expect("a temp dir"),
        }
    }

    /// Runs `script` with `pods`, the package's `PodsClient`, and `api`, its
    /// `APIClient`, on the fake with the valid key (the package's config folder in
    /// a home of its own); its stdout parsed as JSON.
    pub fn sdk(&self, script: &str) -> serde_json::Value {
        let prelude = format!(
            "import json, os\nos.environ['HOME'] = {home:?}\n\
             os.environ['PRIME_API_BASE_URL'] = {endpoint:?}\n\
             from prime_cli.core import APIClient\nfrom prime_cli.api.pods import PodsClient\n\
             api = APIClient(api_key={key:?})\npods = PodsClient(api)",
            home = self.home.path().display().to_string(),
            key = self.key,
            endpoint = self.endpoint(),
        );
        self.fake.python(&prelude, script)
    }

    /// The account's pods now (through the package), as `(name, status)`, sorted.
    pub fn live_pods(&self) -> Vec<(String, String)> {
        let list = self.sdk("print(json.dumps([[p.name, p.status] for p in pods.list().data]))");
        let mut found: Vec<(String, String)> = serde_json::from_value(list).unwrap();
        found.sort();
        found
    }

    /// The names of the account's SSH keys now, sorted.
    pub fn account_keys(&self) -> Vec<String> {
        let list =
            self.sdk("print(json.dumps([k['name'] for k in api.get('/ssh_keys/')['data']]))");
        let mut names: Vec<String> = serde_json::from_value(list).unwrap();
        names.sort();
        names
    }
}

impl std::ops::Deref for PrimeFake {
    type Target = PythonFake;
    fn deref(&self) -> &PythonFake {
        &self.fake
    }
}
