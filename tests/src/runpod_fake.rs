//! The fake of RunPod's GraphQL API (`tests/fakes/runpod_graphql.py`, run by the
//! repository's `.venv` Python, which has graphql-core) as a real HTTP server on a
//! free 127.0.0.1 port. Its pods take "machines" the test started (real `sshd`s
//! on loopback, see [`crate::sshd`]): port 22 of a pod is mapped to the machine's
//! address and sshd port, and the pod's `PUBLIC_KEY` is authorized on it.

use crate::fakes::{PythonFake, machines_arg};
use crate::sshd::Sshd;

/// A running fake of RunPod's API: [`PythonFake`] (its endpoint, controls and
/// `state`, through `Deref`) with GraphQL requests on it.
///
/// Its state: `pods` (terminated ones too) and `requests` (the root field of
/// every operation, `INVALID` for refused queries).
pub struct RunpodFake {
    fake: PythonFake,
    api_key: String,
}

impl RunpodFake {
    /// Starts the fake with one valid `api_key`; deployed pods take `machines` in
    /// order and become reachable `boot_seconds` after their deploy.
    pub fn start(api_key: &str, machines: &[&Sshd], boot_seconds: f64) -> RunpodFake {
        let fake = PythonFake::start(
            "runpod_graphql.py",
            &[
                "--api-key",
                api_key,
                "--machines",
                &machines_arg(machines),
                "--boot-seconds",
                &boot_seconds.to_string(),
            ],
        );
        RunpodFake {
            fake,
            api_key: api_key.to_string(),
        }
    }

    /// One GraphQL request with the valid key: `(HTTP status, JSON answer)`.
    pub fn graphql(&self, query: &str, variables: serde_json::Value) -> (u16, serde_json::Value) {
        let body = serde_json::json!({"query": query, "variables": variables}).to_string();
        let auth = format!("Bearer {}", self.api_key);
        self.fake
            .request("POST", "/graphql", &[("Authorization", &auth)], &body)
    }

    /// The pods the account has now, read back through the API itself.
    pub fn live_pods(&self) -> Vec<serde_json::Value> {
        let (status, answer) = self.graphql(
            "query { myself { pods { id name desiredStatus podType } } }",
            serde_json::json!({}),
        );
        assert_eq!(status, 200, "{answer}");
        answer["data"]["myself"]["pods"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl std::ops::Deref for RunpodFake {
    type Target = PythonFake;
    fn deref(&self) -> &PythonFake {
        &self.fake
    }
}
