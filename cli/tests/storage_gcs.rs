//! Google Cloud Storage as a store, against `tests/fakes/gcs_api.py` (every request
//! checked against `storage.v1`'s discovery document, tokens minted by its OAuth2
//! endpoint) pointed at with `storage.gcs.endpoint`: credentials from
//! `GOOGLE_APPLICATION_CREDENTIALS` (a service-account key) or gcloud's
//! application-default credentials, as Google's tools read them. Tasks run on the
//! bundled `local` provider; every fact about buckets is read back with
//! `google-cloud-storage`.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aloft_tests::gcs_fake::{GcsFake, PROJECT};
use common::text;

/// Which Google credentials a run of aloft finds.
#[derive(Clone, Copy)]
enum Creds {
    /// `GOOGLE_APPLICATION_CREDENTIALS` names the service-account key.
    ServiceAccount,
    /// gcloud's `application_default_credentials.json` (an `authorized_user`).
    ApplicationDefault,
    /// Neither.
    None,
}

struct World {
    /// `ALOFT_HOME` (state, logs, the local nodes' folders).
    home: tempfile::TempDir,
    /// gcloud's folder (`CLOUDSDK_CONFIG`), empty unless ADC are written there.
    gcloud: tempfile::TempDir,
    fake: GcsFake,
}

impl World {
    fn new() -> World {
        let home = tempfile::tempdir().unwrap();
        let gcloud = tempfile::tempdir().unwrap();
        // Two objects a page: listings must follow nextPageToken.
        let fake = GcsFake::start(2);
        std::fs::write(
            home.path().join("config.yaml"),
            format!("storage:\n  gcs:\n    endpoint: {}\n", fake.endpoint()),
        )
        .unwrap();
        let upload = home.path().join("upload");
        std::fs::create_dir_all(&upload).unwrap();
        std::fs::write(upload.join("u.txt"), "uploaded").unwrap();
        World { home, gcloud, fake }
    }

    fn aloft(&self, creds: Creds, args: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_aloft"));
        command
            .args(args)
            .env("ALOFT_HOME", self.home.path())
            .env("CLOUDSDK_CONFIG", self.gcloud.path())
            .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
            .env_remove("GCP_CREDENTIALS_JSON")
            .env_remove("GOOGLE_CLOUD_PROJECT")
            .env("ALOFT_LOG", "trace");
        match creds {
            Creds::ServiceAccount => {
                command.env(
                    "GOOGLE_APPLICATION_CREDENTIALS",
                    self.fake.service_account_path(),
                );
            }
            Creds::ApplicationDefault => {
                // The ADC file names no project: new buckets take this one.
                command.env("GOOGLE_CLOUD_PROJECT", PROJECT);
            }
            Creds::None => {}
        }
        command.output().expect("run aloft")
    }

    fn task(&self, name: &str, body: &str) -> PathBuf {
        let path = self.home.path().join(name);
        std::fs::write(&path, body).unwrap();
        path
    }

    /// Fails unless `out` succeeded and shows no secret; its stdout.
    fn ok(&self, out: &Output) -> String {
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{stdout}\n{stderr}");
        self.assert_no_secret(&format!("{stdout}\n{stderr}"));
        stdout
    }

    fn assert_no_secret(&self, output: &str) {
        for secret in self.fake.secrets() {
            assert!(!output.contains(&secret), "a secret leaked: {output}");
        }
    }

    fn assert_no_secret_in_files(&self) {
        for secret in self.fake.secrets() {
            common::assert_secret_in_no_file(self.home.path(), &secret);
        }
    }

    fn seed_dataset(&self) {
        let made = self.fake.google(
            "b = gcs.create_bucket('gs-data')\n\
             data = [('train/a.txt', b'alpha'), ('train/sub/b.txt', b'beta'), ('train/z/c.txt', b'gamma'), ('other/x.txt', b'not this')]\n\
             [b.blob(name).upload_from_string(body) for name, body in data]\n\
             print(json.dumps(True))",
        );
        assert_eq!(made, true);
    }

    fn storage_ls(&self, creds: Creds) -> serde_json::Value {
        serde_json::from_str(&self.ok(&self.aloft(creds, &["storage", "ls", "-o", "json"])))
            .unwrap()
    }
}

/// The files of `rel` under each local node folder of `cluster`, by rank order of
/// the folders' names.
fn node_files(home: &Path, rel: &str) -> Vec<String> {
    let mut found: Vec<String> = common::files_under(home)
        .into_iter()
        .filter(|p| p.ends_with(rel))
        .filter(|p| !p.starts_with(home.join("cache")))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect();
    found.sort();
    found
}

#[test]
fn a_gs_bucket_reaches_both_nodes_and_storage_objects_are_created_listed_and_deleted() {
    let world = World::new();
    world.seed_dataset();
    let task = world.task(
        "gcs.yaml",
        "num_nodes: 2\n\
         resources: {infra: local}\n\
         file_mounts:\n  ~/data: gs://gs-data/train\n  ~/one.txt: gs://gs-data/train/a.txt\n  \
         ~/up:\n    name: gcs-up\n    source: ./upload\n    store: gcs\n    mode: COPY\n  \
         ~/tmp:\n    name: gcs-scratch\n    source: ./upload\n    store: gcs\n    mode: COPY\n    persistent: false\n\
         run: echo \"rank $SKYPILOT_NODE_RANK got $(cat ~/data/a.txt ~/data/sub/b.txt ~/data/z/c.txt ~/up/u.txt ~/tmp/u.txt ~/one.txt)\"; ls ~/data\n",
    );
    let out = world.aloft(
        Creds::ServiceAccount,
        &["launch", "-y", "-c", "gcsc", task.to_str().unwrap()],
    );
    let stdout = world.ok(&out);
    for rank in 0..2 {
        assert!(
            stdout.contains(&format!(
                "rank {rank} got alphabetagammauploadeduploadedalpha"
            )),
            "rank {rank}: {stdout}"
        );
    }
    assert!(!stdout.contains("x.txt"), "only the prefix: {stdout}");
    // The objects' bytes were read by the nodes, each node reading each of the
    // six objects (three under train/, train/a.txt, and u.txt of both made
    // buckets) once through a V4 signed URL (the fake checks its RSA signature
    // with the service account's public key); the launcher, which only lists,
    // read none (it used to read each once through the JSON API: six in all).
    let requests = world.fake.state()["requests"].clone();
    let count = |what: &str| {
        requests
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| *r == what)
            .count()
    };
    assert_eq!(count("signed GET"), 2 * 6, "{requests}");
    assert_eq!(count("storage.objects.get"), 0, "{requests}");
    // Each node's folder holds the bucket's files (paged through: 2 a page).
    assert_eq!(
        node_files(world.home.path(), "data/z/c.txt"),
        ["gamma", "gamma"]
    );
    // The buckets aloft created hold the source, read back with Google's client,
    // in the credentials' project.
    let read = world.fake.google(
        "print(json.dumps({n: [gcs.bucket(n).blob('u.txt').download_as_bytes().decode(), \
         gcs.get_bucket(n).location] for n in ['gcs-up', 'gcs-scratch']}))",
    );
    assert_eq!(
        read,
        serde_json::json!({"gcs-up": ["uploaded", "US"], "gcs-scratch": ["uploaded", "US"]})
    );
    let state = world.fake.state();
    assert_eq!(state["buckets"]["gcs-up"]["project"], PROJECT);
    assert_eq!(
        state["grants"][0], "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "a service-account key signs a JWT"
    );

    let listed = world.storage_ls(Creds::None);
    let rows: Vec<(&str, &str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap(),
                b["store"].as_str().unwrap(),
                b["region"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [("gcs-scratch", "GCS", "US"), ("gcs-up", "GCS", "US")],
        "a bucket aloft did not create is not listed"
    );
    assert_eq!(
        listed[0]["cluster"], "gcsc",
        "scratch goes with the cluster"
    );
    assert!(listed[1]["cluster"].is_null(), "persistent by default");
    let table = world.ok(&world.aloft(Creds::None, &["storage", "ls"]));
    assert!(
        table
            .lines()
            .any(|l| l.contains("gcs-up") && l.contains("GCS")),
        "{table}"
    );

    world.ok(&world.aloft(
        Creds::ServiceAccount,
        &["storage", "delete", "-y", "gcs-up"],
    ));
    assert_eq!(
        world.fake.buckets(),
        serde_json::json!(["gcs-scratch", "gs-data"])
    );
    world.ok(&world.aloft(Creds::ServiceAccount, &["down", "-y", "gcsc"]));
    assert_eq!(
        world.fake.buckets(),
        serde_json::json!(["gs-data"]),
        "persistent: false goes at down"
    );
    assert_eq!(world.storage_ls(Creds::None), serde_json::json!([]));
    assert_eq!(world.fake.invalid_requests(), Vec::<String>::new());
    world.assert_no_secret_in_files();
}

#[test]
fn application_default_credentials_copy_a_bucket_and_make_one_in_the_named_project() {
    let world = World::new();
    world.seed_dataset();
    world.fake.write_application_default(world.gcloud.path());
    let task = world.task(
        "adc.yaml",
        "num_nodes: 2\nresources: {infra: local}\n\
         file_mounts:\n  ~/data: gs://gs-data/train/sub\n  \
         ~/tmp:\n    name: gcs-adc\n    source: ./upload\n    store: gcs\n    mode: COPY\n    persistent: false\n\
         run: echo \"got $(cat ~/data/b.txt ~/tmp/u.txt)\"\n",
    );
    let stdout = world.ok(&world.aloft(
        Creds::ApplicationDefault,
        &["launch", "-y", "-c", "adc", task.to_str().unwrap()],
    ));
    assert_eq!(
        stdout.matches("got betauploaded").count(),
        2,
        "both nodes: {stdout}"
    );
    let state = world.fake.state();
    // A user's credentials cannot sign URLs: each node read both objects through
    // the JSON API with the launcher's access token (the launcher read none).
    let media_gets = state["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| *r == "storage.objects.get")
        .count();
    assert_eq!(media_gets, 2 * 2, "{}", state["requests"]);
    assert_eq!(state["buckets"]["gcs-adc"]["project"], PROJECT);
    assert!(
        state["grants"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g == "refresh_token"),
        "{state}"
    );
    world.ok(&world.aloft(Creds::ApplicationDefault, &["down", "-y", "adc"]));
    assert_eq!(world.fake.buckets(), serde_json::json!(["gs-data"]));
    assert_eq!(world.fake.invalid_requests(), Vec::<String>::new());
    world.assert_no_secret_in_files();
}

#[test]
fn bad_gcs_input_and_missing_credentials_stop_before_anything_is_provisioned() {
    let world = World::new();
    // Without credentials: a gs:// mount and a GCS storage object both stop the
    // launch, naming where credentials go; the dry run of the same task passes
    // (it contacts no store), as the launch's own checks do.
    for (i, body) in [
        "resources: {infra: local}\nfile_mounts:\n  ~/data: gs://gs-data/train\nrun: ls ~/data\n",
        "resources: {infra: local}\nfile_mounts:\n  ~/up:\n    name: gcs-up\n    source: ./upload\n    \
         store: gcs\n    mode: COPY\nrun: ls ~/up\n",
    ]
    .iter()
    .enumerate()
    {
        let task = world.task(&format!("t{i}.yaml"), body);
        let task = task.to_str().unwrap();
        let plan = world.aloft(Creds::None, &["launch", "--dryrun", task]);
        assert!(plan.status.success(), "{}", text(&plan.stderr));
        let out = world.aloft(Creds::None, &["launch", "-y", "-c", "nocreds", task]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("no Google credentials for GCS")
                && stderr.contains("GOOGLE_APPLICATION_CREDENTIALS")
                && stderr.contains("gcloud auth application-default login")
                && stderr.contains("application_default_credentials.json"),
            "{stderr}"
        );
    }
    assert_eq!(world.fake.state()["requests"], serde_json::json!([]));
    // A key file that cannot be read, and a key Google does not know, are named
    // as such; the launch stops before anything is provisioned either way.
    let task = world.task(
        "t.yaml",
        "resources: {infra: local}\nfile_mounts:\n  ~/data: gs://gs-data/train\nrun: ls ~/data\n",
    );
    let task = task.to_str().unwrap();
    let missing = world.home.path().join("no-such-key.json");
    let wrong = world.fake.wrong_key_path();
    for (key, says) in [
        (
            missing.as_path(),
            format!(
                "GOOGLE_APPLICATION_CREDENTIALS names {}, which cannot be read",
                missing.display()
            ),
        ),
        (
            wrong.as_path(),
            "Google's token endpoint refused the credentials for GCS (HTTP 400): invalid_grant"
                .to_string(),
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_aloft"))
            .args(["launch", "-y", "-c", "badkey", task])
            .env("ALOFT_HOME", world.home.path())
            .env("CLOUDSDK_CONFIG", world.gcloud.path())
            .env("GOOGLE_APPLICATION_CREDENTIALS", key)
            .env_remove("GCP_CREDENTIALS_JSON")
            .env("ALOFT_LOG", "trace")
            .output()
            .expect("run aloft");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(&says), "{says}:\n{stderr}");
        world.assert_no_secret(&stderr);
    }
    assert_eq!(
        text(&world.aloft(Creds::None, &["status", "-o", "json"]).stdout).trim(),
        "[]",
        "nothing was provisioned"
    );
    assert_eq!(
        world.fake.state()["buckets"],
        serde_json::json!({}),
        "no bucket was touched"
    );

    // A store that does not match the source's URL is bad input: the dry run and
    // the launch both refuse it, before any store is contacted.
    for (body, says) in [
        (
            "resources: {infra: local}\nfile_mounts:\n  ~/d:\n    source: gs://b/x\n    store: s3\n    mode: COPY\nrun: ls\n",
            "store S3 does not match source `gs://b/x` (GCS)",
        ),
        (
            "resources: {infra: local}\nfile_mounts:\n  ~/d:\n    source: s3://b/x\n    store: gcs\n    mode: COPY\nrun: ls\n",
            "store GCS does not match source `s3://b/x` (S3)",
        ),
    ] {
        let task = world.task("bad.yaml", body);
        let task = task.to_str().unwrap();
        for args in [
            vec!["launch", "--dryrun", task],
            vec!["launch", "-y", "-c", "bad", task],
        ] {
            let out = world.aloft(Creds::ServiceAccount, &args);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(stderr.contains(says), "{says}:\n{stderr}");
        }
    }
    assert_eq!(
        world.fake.state()["requests"],
        serde_json::json!([]),
        "no storage call was made for bad input or bad credentials"
    );
    assert_eq!(
        text(&world.aloft(Creds::None, &["status", "-o", "json"]).stdout).trim(),
        "[]"
    );
}

#[test]
fn v4_signed_urls_are_the_ones_googles_own_client_signs() {
    // The fake's service-account key, signed both ways at one fixed time.
    let fake = GcsFake::start(1000);
    let key_file = fake.service_account_path();
    let key: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
    let ours = aloft::storage::gcs::v4_signed_url(
        "https://storage.googleapis.com",
        key["client_email"].as_str().unwrap(),
        key["private_key"].as_str().unwrap(),
        "gs-data",
        "train/a b+c~.txt",
        "20261207T010203Z",
        3600,
    )
    .unwrap();
    let script = "import sys, urllib.parse\n\
         from google.oauth2 import service_account\n\
         from google.cloud.storage._signing import generate_signed_url_v4\n\
         creds = service_account.Credentials.from_service_account_file(sys.argv[1])\n\
         resource = '/gs-data/' + urllib.parse.quote('train/a b+c~.txt', safe=b'/~')\n\
         print(generate_signed_url_v4(creds, resource, 3600, method='GET', _request_timestamp='20261207T010203Z'))\n";
    let out = Command::new(aloft_tests::fakes::venv_python())
        .arg("-c")
        .arg(script)
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(ours, text(&out.stdout).trim());
}
