//! The fake of Cudo Compute's REST API (`tests/fakes/cudo_api.py`, run by the
//! repository's `.venv` Python, which has `cudo-compute`: the fake checks every
//! request against that package's OpenAPI-generated operations and models) as a
//! real HTTP server on a free 127.0.0.1 port. Its VMs take "machines" the test
//! started (real `sshd`s on loopback, see [`crate::sshd`]): a VM's external
//! address is its machine's, and the keys it is created with are authorized on
//! the machine. Facts are read back through the package's own client
//! ([`CudoFake::sdk`]).

use crate::fakes::{PythonFake, machines_arg};
use crate::sshd::Sshd;

/// A running fake of Cudo's API: [`PythonFake`] (its endpoint, controls, `state`
/// and `invalid_requests`, through `Deref`) with the package's client.
///
/// Its state: `vms` (deleted ones too) and `requests` (`METHOD /path-template`
/// of every request; `INVALID ...` for those the package's schema refused).
pub struct CudoFake {
    fake: PythonFake,
    key: String,
    project: String,
}

impl CudoFake {
    /// Starts the fake with one valid API `key` and one `project`; VMs take
    /// `machines` in order and run `boot_seconds` after their creation.
    pub fn start(key: &str, project: &str, machines: &[&Sshd], boot_seconds: f64) -> CudoFake {
        let fake = PythonFake::start(
            "cudo_api.py",
            &[
                "--key",
                key,
                "--project",
                project,
                "--machines",
                &machines_arg(machines),
                "--boot-seconds",
                &boot_seconds.to_string(),
            ],
        );
        CudoFake {
            fake,
            key: key.to_string(),
            project: project.to_string(),
        }
    }

    /// Runs `script` with `vms` (the package's `VirtualMachinesApi`), `net`
    /// (`NetworksApi`), `projects` (`ProjectsApi`) and `project` (the fake's
    /// project id) on the fake with the
    /// valid key; its stdout parsed as JSON.
    pub fn sdk(&self, script: &str) -> serde_json::Value {
        let prelude = format!(
            "import json, cudo_compute as cudo\n\
             c = cudo.Configuration()\nc.host = {endpoint:?}\n\
             c.api_key['Authorization'] = {key:?}\nc.api_key_prefix['Authorization'] = 'Bearer'\n\
             client = cudo.ApiClient(c)\nvms = cudo.VirtualMachinesApi(client)\n\
             net = cudo.NetworksApi(client)\n\
             projects = cudo.ProjectsApi(client)\nproject = {project:?}",
            endpoint = self.endpoint(),
            key = self.key,
            project = self.project,
        );
        self.fake.python(&prelude, script)
    }

    /// The project's VMs now (through the package), as `(id, state)`, sorted.
    pub fn live_vms(&self) -> Vec<(String, String)> {
        let list =
            self.sdk("print(json.dumps([[v.id, v.state] for v in vms.list_vms(project).vms]))");
        let mut found: Vec<(String, String)> =
            serde_json::from_value(list).expect("(id, state) pairs");
        found.sort();
        found
    }
}

impl std::ops::Deref for CudoFake {
    type Target = PythonFake;
    fn deref(&self) -> &PythonFake {
        &self.fake
    }
}
