//! The Google Cloud Storage fake (`tests/fakes/gcs_api.py`) as a real server for
//! tests: one process per test on a free loopback port ([`PythonFake`]), run by the
//! venv that `scripts/test.sh` makes (it has `google-api-python-client`, whose
//! `storage.v1` discovery document the fake checks every request against, and
//! `google-cloud-storage`, Google's own client, which reads facts back).
//!
//! Each fake gets fresh credentials, made as the Compute Engine fake's are
//! ([`crate::gcp_fake`]): a service-account key file whose public half the fake
//! verifies JWTs with, an `authorized_user` file with a random refresh token.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fakes::{PythonFake, venv_python};

/// The project the fake serves (the credentials' `project_id`).
pub const PROJECT: &str = "aloft-gcs-test";
/// The service account's email.
pub const CLIENT_EMAIL: &str = "aloft-storage@aloft-gcs-test.iam.gserviceaccount.com";
/// The token a test's own Google client reads with.
const READER_TOKEN: &str = "ya29.gcs-reader-for-tests";

/// A running fake ([`PythonFake`]: its port, endpoint, state and invalid
/// requests, through `Deref`) and the credentials it accepts.
pub struct GcsFake {
    fake: PythonFake,
    dir: tempfile::TempDir,
}

impl GcsFake {
    /// Makes credentials and starts the fake; listings answer `page_size` objects
    /// a page (small, to make clients follow `nextPageToken`).
    pub fn start(page_size: u32) -> GcsFake {
        let python = venv_python();
        let dir = tempfile::tempdir().expect("a temp dir");
        let opts = serde_json::json!({"reader_token": READER_TOKEN, "page_size": page_size});
        let made = Command::new(&python)
            .arg("-c")
            .arg(crate::gcp_fake::MAKE_CREDENTIALS)
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
        let fake = PythonFake::start_with(&python, "gcs_api.py", &[config, "0"]);
        GcsFake { fake, dir }
    }

    /// Where the service-account key file lies (for `GOOGLE_APPLICATION_CREDENTIALS`).
    pub fn service_account_path(&self) -> PathBuf {
        self.dir.path().join("service_account.json")
    }

    /// A key file for the same account, signed by a key the fake does not know.
    pub fn wrong_key_path(&self) -> PathBuf {
        self.dir.path().join("wrong_key.json")
    }

    /// Writes the `authorized_user` application-default credentials (no project)
    /// where gcloud keeps them under `config_dir` (`CLOUDSDK_CONFIG`).
    pub fn write_application_default(&self, config_dir: &Path) {
        std::fs::create_dir_all(config_dir).expect("the gcloud folder");
        std::fs::copy(
            self.dir.path().join("authorized_user.json"),
            config_dir.join("application_default_credentials.json"),
        )
        .expect("copy the ADC file");
    }

    /// What must never show anywhere: the private key's body lines, the client
    /// secret, the refresh token, and every access token the fake issued.
    pub fn secrets(&self) -> Vec<String> {
        let read = |name: &str| -> serde_json::Value {
            let text =
                std::fs::read_to_string(self.dir.path().join(name)).expect("a credentials file");
            serde_json::from_str(&text).expect("JSON")
        };
        let key = read("service_account.json");
        let mut out: Vec<String> = key["private_key"]
            .as_str()
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 20)
            .map(str::to_string)
            .collect();
        let user = read("authorized_user.json");
        for field in ["client_secret", "refresh_token"] {
            out.push(user[field].as_str().unwrap_or_default().to_string());
        }
        out.extend(
            self.state()["tokens"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(str::to_string)),
        );
        out
    }

    /// Runs Python `code` with `gcs` (Google's `google-cloud-storage` client on
    /// this fake, project [`PROJECT`]) in scope; `code` prints one JSON value.
    pub fn google(&self, code: &str) -> serde_json::Value {
        let prelude = format!(
            "import json\n\
             from google.cloud import storage\n\
             from google.oauth2.credentials import Credentials\n\
             gcs = storage.Client(project='{PROJECT}', credentials=Credentials(token='{READER_TOKEN}'), \
             client_options={{'api_endpoint': '{endpoint}'}})",
            endpoint = self.endpoint()
        );
        self.fake.python(&prelude, code)
    }

    /// The names of every bucket, read with Google's client.
    pub fn buckets(&self) -> serde_json::Value {
        self.google("print(json.dumps(sorted(b.name for b in gcs.list_buckets())))")
    }
}

impl std::ops::Deref for GcsFake {
    type Target = PythonFake;
    fn deref(&self) -> &PythonFake {
        &self.fake
    }
}
