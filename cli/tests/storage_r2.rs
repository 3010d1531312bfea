//! Cloudflare R2 as a store, against moto standing in for R2's S3 endpoint
//! (`storage.r2.endpoint`): keys from `~/.cloudflare/r2.credentials` (profile
//! `r2`) and the account id from `~/.cloudflare/accountid`, as SkyPilot reads them.
//! Tasks run on the bundled `local` provider; every fact about buckets is read
//! back with boto3.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aloft_tests::fault_proxy::FaultProxy;
use aloft_tests::moto::Moto;
use common::text;

/// The R2 secret key only these tests know; it must never appear in any output or
/// in aloft's files.
const SECRET: &str = "aloftR2secretKEY/never+printed";

struct World {
    /// `ALOFT_HOME` (state, logs, the local nodes' folders).
    home: tempfile::TempDir,
    /// The user's `HOME`, with `~/.cloudflare/` (or without it).
    user: tempfile::TempDir,
    moto: Moto,
}

impl World {
    fn new(with_credentials: bool) -> World {
        let home = tempfile::tempdir().unwrap();
        let user = tempfile::tempdir().unwrap();
        // The request log shows who read the objects' bytes.
        let moto = Moto::start_logged();
        if with_credentials {
            let dir = user.path().join(".cloudflare");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("r2.credentials"),
                format!(
                    "[default]\naws_access_key_id = NOTR2\naws_secret_access_key = not-r2\n\n\
                     [r2]\naws_access_key_id = R2ALOFTTEST\naws_secret_access_key = {SECRET}\n"
                ),
            )
            .unwrap();
            std::fs::write(dir.join("accountid"), "0123456789abcdef\n").unwrap();
        }
        std::fs::write(
            home.path().join("config.yaml"),
            format!("storage:\n  r2:\n    endpoint: {}\n", moto.endpoint()),
        )
        .unwrap();
        World { home, user, moto }
    }

    fn aloft(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_aloft"))
            .args(args)
            .env("ALOFT_HOME", self.home.path())
            .env("HOME", self.user.path())
            // No AWS keys: R2 must not need them.
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("ALOFT_LOG", "trace")
            .output()
            .expect("run aloft")
    }

    fn task(&self, name: &str, body: &str) -> PathBuf {
        let path = self.home.path().join(name);
        std::fs::write(&path, body).unwrap();
        path
    }

    /// Runs boto3 `code` with `r2`, an S3 client on moto (as R2 would be reached).
    fn r2(&self, code: &str) -> serde_json::Value {
        self.moto.boto(&format!(
            "r2 = boto3.client('s3', endpoint_url=ec2.meta.endpoint_url, region_name='auto', \
             aws_access_key_id='R2ALOFTTEST', aws_secret_access_key='moto-test')\n{code}"
        ))
    }

    fn buckets(&self) -> serde_json::Value {
        self.r2("print(json.dumps(sorted(b['Name'] for b in r2.list_buckets()['Buckets'])))")
    }
}

fn ok(out: &Output) -> String {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "secret leaked"
    );
    stdout
}

fn upload_folder(dir: &Path) {
    let upload = dir.join("upload");
    std::fs::create_dir_all(&upload).unwrap();
    std::fs::write(upload.join("u.txt"), "uploaded").unwrap();
}

#[test]
fn r2_buckets_are_copied_created_listed_and_deleted() {
    let world = World::new(true);
    assert_eq!(
        world.r2("r2.create_bucket(Bucket='r2-data', CreateBucketConfiguration={'LocationConstraint': 'auto'})\n\
             r2.put_object(Bucket='r2-data', Key='train/a.txt', Body=b'alpha')\n\
             r2.put_object(Bucket='r2-data', Key='train/sub/b.txt', Body=b'beta')\n\
             r2.put_object(Bucket='r2-data', Key='other/c.txt', Body=b'not this')\n\
             print(json.dumps(True))"),
        true
    );
    upload_folder(world.home.path());
    let task = world.task(
        "r2.yaml",
        "resources: {infra: local}\n\
         file_mounts:\n  ~/data: r2://r2-data/train\n  ~/one.txt: r2://r2-data/train/a.txt\n  \
         ~/up:\n    name: r2-up\n    source: ./upload\n    store: r2\n    mode: COPY\n  \
         ~/tmp:\n    name: r2-scratch\n    source: ./upload\n    store: r2\n    mode: COPY\n    persistent: false\n\
         run: echo \"got $(cat ~/data/a.txt ~/data/sub/b.txt ~/up/u.txt ~/tmp/u.txt ~/one.txt)\"; ls ~/data\n",
    );
    let out = world.aloft(&["launch", "-y", "-c", "r2c", task.to_str().unwrap()]);
    let stdout = ok(&out);
    // Only profile `r2` is used, and no key is shown.
    assert!(!text(&out.stderr).contains("NOTR2"));
    assert!(
        stdout.contains("got alphabetauploadeduploadedalpha"),
        "{stdout}"
    );
    assert!(!stdout.contains("c.txt"), "only the prefix: {stdout}");
    // The buckets aloft created hold the source, read back through the S3 API.
    for bucket in ["r2-up", "r2-scratch"] {
        let body = world.r2(&format!(
            "print(json.dumps(r2.get_object(Bucket='{bucket}', Key='u.txt')['Body'].read().decode()))"
        ));
        assert_eq!(body, "uploaded", "{bucket}");
    }
    let listed: serde_json::Value =
        serde_json::from_str(&ok(&world.aloft(&["storage", "ls", "-o", "json"]))).unwrap();
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
        [("r2-scratch", "R2", "auto"), ("r2-up", "R2", "auto")],
        "a bucket aloft did not create is not listed"
    );
    assert_eq!(listed[0]["cluster"], "r2c", "scratch goes with the cluster");
    assert!(listed[1]["cluster"].is_null(), "persistent by default");
    let table = ok(&world.aloft(&["storage", "ls"]));
    assert!(
        table
            .lines()
            .any(|l| l.contains("r2-up") && l.contains("R2")),
        "{table}"
    );

    ok(&world.aloft(&["storage", "delete", "-y", "r2-up"]));
    assert_eq!(
        world.buckets(),
        serde_json::json!(["r2-data", "r2-scratch"])
    );
    ok(&world.aloft(&["down", "-y", "r2c"]));
    assert_eq!(
        world.buckets(),
        serde_json::json!(["r2-data"]),
        "persistent: false goes at down"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&ok(
            &world.aloft(&["storage", "ls", "-o", "json"])
        ))
        .unwrap(),
        serde_json::json!([])
    );
    common::assert_secret_in_no_file(world.home.path(), SECRET);
}

/// moto's object GETs of `bucket`, as (path without the query, whether the
/// query is a pre-signature); the signatures themselves are never kept.
fn object_gets(moto: &Moto, bucket: &str) -> Vec<(String, bool)> {
    moto.requests()
        .iter()
        .filter_map(|line| line.strip_prefix("GET "))
        .filter_map(|rest| rest.split(' ').next())
        .filter_map(|target| {
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            let key = path.strip_prefix(&format!("/{bucket}/"))?;
            // A GET of the bucket itself (a listing) is not an object's bytes.
            (!key.is_empty()).then(|| {
                (
                    path.to_string(),
                    query.contains("X-Amz-Signature=") && query.contains("X-Amz-Expires="),
                )
            })
        })
        .collect()
}

#[test]
fn nodes_copy_r2_buckets_themselves_with_presigned_gets_the_launcher_reads_no_object() {
    let world = World::new(true);
    assert_eq!(
        world.r2("r2.create_bucket(Bucket='r2-data', CreateBucketConfiguration={'LocationConstraint': 'auto'})\n\
             r2.put_object(Bucket='r2-data', Key='train/a.txt', Body=b'alpha')\n\
             r2.put_object(Bucket='r2-data', Key='train/sub/b.txt', Body=b'beta')\n\
             r2.put_object(Bucket='r2-data', Key='train/empty', Body=b'')\n\
             r2.put_object(Bucket='r2-data', Key='other/c.txt', Body=b'not this')\n\
             print(json.dumps(True))"),
        true
    );
    upload_folder(world.home.path());
    let task = world.task(
        "two.yaml",
        "resources: {infra: local}\nnum_nodes: 2\n\
         file_mounts:\n  ~/data: r2://r2-data/train\n  \
         ~/up:\n    name: r2-two-up\n    source: ./upload\n    store: r2\n    mode: COPY\n\
         run: echo \"got $(cat ~/data/a.txt ~/data/sub/b.txt ~/up/u.txt) $(wc -c < ~/data/empty)\"\n",
    );
    let out = world.aloft(&["launch", "-y", "-c", "two", task.to_str().unwrap()]);
    let stdout = ok(&out);
    for rank in 0..2 {
        assert!(
            stdout.contains(&format!("(rank {rank}) got alphabetauploaded 0")),
            "node {rank} has the bucket's files: {stdout}"
        );
    }
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("X-Amz-Signature"), "{stderr}");
    // Every object's bytes were read by a pre-signed GET, once per node; the
    // launcher (whose requests are signed in a header) read none.
    let mut gets = object_gets(&world.moto, "r2-data");
    gets.sort();
    let unsigned: Vec<&String> = gets.iter().filter(|(_, p)| !p).map(|(k, _)| k).collect();
    assert!(
        unsigned.is_empty(),
        "objects read by the launcher: {unsigned:?}"
    );
    let presigned: Vec<&String> = gets.iter().map(|(k, _)| k).collect();
    assert_eq!(
        presigned,
        [
            "/r2-data/train/a.txt",
            "/r2-data/train/a.txt",
            "/r2-data/train/sub/b.txt",
            "/r2-data/train/sub/b.txt",
        ],
        "each node fetched each (non-empty) object once"
    );
    // The source uploaded once, to the bucket, then fetched from it by both nodes.
    assert_eq!(
        object_gets(&world.moto, "r2-two-up"),
        [
            ("/r2-two-up/u.txt".to_string(), true),
            ("/r2-two-up/u.txt".to_string(), true)
        ]
    );
    ok(&world.aloft(&["down", "-y", "two"]));
    // No pre-signed URL was kept anywhere aloft writes.
    common::assert_secret_in_no_file(world.home.path(), "X-Amz-Signature");
    common::assert_secret_in_no_file(world.home.path(), SECRET);
}

#[test]
fn a_node_retries_a_failed_get_and_an_object_that_never_arrives_fails_the_launch_by_name() {
    let world = World::new(true);
    assert_eq!(
        world.r2("r2.create_bucket(Bucket='r2-data', CreateBucketConfiguration={'LocationConstraint': 'auto'})\n\
             r2.put_object(Bucket='r2-data', Key='train/a.txt', Body=b'alpha')\n\
             r2.put_object(Bucket='r2-data', Key='train/b.txt', Body=b'beta')\n\
             print(json.dumps(True))"),
        true
    );
    // Between everyone and moto: the nodes' pre-signed GETs of b.txt always get a
    // 503, their first one of a.txt too; the launcher's requests pass.
    let mut a_failed = false;
    let proxy = FaultProxy::start_on_requests(
        world.moto.port,
        Box::new(move |request: &str| {
            let line = request.lines().next().unwrap_or_default();
            let slow_down = || Some((503, "<Error><Code>SlowDown</Code></Error>".to_string()));
            if !line.contains("X-Amz-Signature=") {
                return None;
            }
            if line.starts_with("GET /r2-data/train/b.txt?") {
                return slow_down();
            }
            if line.starts_with("GET /r2-data/train/a.txt?") && !a_failed {
                a_failed = true;
                return slow_down();
            }
            None
        }),
    );
    std::fs::write(
        world.home.path().join("config.yaml"),
        format!(
            "storage:\n  r2:\n    endpoint: http://127.0.0.1:{}\n",
            proxy.port
        ),
    )
    .unwrap();
    let task = world.task(
        "faulty.yaml",
        "resources: {infra: local}\nnum_nodes: 2\n\
         file_mounts:\n  ~/data: r2://r2-data/train\nrun: cat ~/data/a.txt\n",
    );
    let out = world.aloft(&["launch", "-y", "-c", "faulty", task.to_str().unwrap()]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("copying buckets onto node")
            && stderr.contains("aloft: r2://r2-data/train/b.txt did not arrive"),
        "{stderr}"
    );
    // a.txt failed once and was fetched again: it is not named.
    assert!(!stderr.contains("train/a.txt"), "{stderr}");
    for leak in ["X-Amz-Signature", "X-Amz-Credential", SECRET] {
        assert!(
            !stderr.contains(leak) && !stdout.contains(leak),
            "{leak}: {stderr}"
        );
    }
    let faulted: Vec<String> = proxy
        .faulted
        .lock()
        .unwrap()
        .iter()
        .map(|r| {
            let line = r.lines().next().unwrap_or_default();
            line.split('?').next().unwrap_or_default().to_string()
        })
        .collect();
    let tries = |key: &str| faulted.iter().filter(|l| l.ends_with(key)).count();
    // curl's `--retry 5`: each of the 2 nodes tried b.txt 6 times.
    assert_eq!(tries("/r2-data/train/b.txt"), 2 * 6, "{faulted:?}");
    assert_eq!(tries("/r2-data/train/a.txt"), 1, "{faulted:?}");
    // Both nodes then got a.txt from moto.
    let a_gets = object_gets(&world.moto, "r2-data")
        .into_iter()
        .filter(|(k, presigned)| k == "/r2-data/train/a.txt" && *presigned)
        .count();
    assert_eq!(a_gets, 2);
    ok(&world.aloft(&["down", "-y", "faulty"]));
    common::assert_secret_in_no_file(world.home.path(), "X-Amz-Signature");
    common::assert_secret_in_no_file(world.home.path(), SECRET);
}

#[test]
fn without_r2_credentials_nothing_is_launched_and_the_files_are_named() {
    let world = World::new(false);
    upload_folder(world.home.path());
    let tasks = [
        "resources: {infra: local}\nfile_mounts:\n  ~/data: r2://r2-data/train\nrun: ls ~/data\n",
        "resources: {infra: local}\nfile_mounts:\n  ~/up:\n    name: r2-up\n    source: ./upload\n    \
         store: r2\n    mode: COPY\nrun: ls ~/up\n",
    ];
    for (i, body) in tasks.iter().enumerate() {
        let task = world.task(&format!("t{i}.yaml"), body);
        let out = world.aloft(&["launch", "-y", "-c", "nocreds", task.to_str().unwrap()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("no Cloudflare R2 credentials")
                && stderr.contains("~/.cloudflare/r2.credentials")
                && stderr.contains("~/.cloudflare/accountid"),
            "{stderr}"
        );
    }
    // Nothing was provisioned or created.
    assert_eq!(
        text(&world.aloft(&["status", "-o", "json"]).stdout).trim(),
        "[]"
    );
    assert_eq!(world.buckets(), serde_json::json!([]));
    assert!(
        !world.home.path().join("local").exists() || {
            let db = aloft::state::StateDb::open(&world.home.path().join("state.db")).unwrap();
            db.kv_list("local", "cluster/").unwrap().is_empty()
        }
    );

    // A store that does not match the source's URL, and a store aloft does not
    // speak, are refused as bad input before any store is contacted.
    for (body, says) in [
        (
            "resources: {infra: local}\nfile_mounts:\n  ~/d:\n    source: s3://b/x\n    store: r2\n    mode: COPY\nrun: ls\n",
            "store R2 does not match source `s3://b/x`",
        ),
        (
            "resources: {infra: local}\nfile_mounts:\n  ~/d: cos://eu/c/x\nrun: ls\n",
            "the cos:// store is not supported yet",
        ),
    ] {
        let task = world.task("bad.yaml", body);
        let out = world.aloft(&["launch", "-y", "-c", "bad", task.to_str().unwrap()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(says), "{says}:\n{stderr}");
    }
}
