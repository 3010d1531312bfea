//! MOUNT and MOUNT_CACHED with rclone on 2-node `local` clusters, against moto's
//! S3: the nodes mount the bucket themselves (rclone and fuse3, installed when
//! missing), a MOUNT reads the bucket's objects and writes through, a
//! MOUNT_CACHED's writes are in the bucket once the job is reported done, `down`
//! unmounts before the nodes' folders go, and the S3 secret is in no output, no
//! file and no process's command line. Facts about the bucket are read back with
//! boto3.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aloft_tests::moto::Moto;
use common::text;

/// The S3 secret key only these tests know.
const SECRET: &str = "aloftMOUNTsecret/never+printed";
/// The R2 secret key only these tests know.
const R2_SECRET: &str = "aloftR2MOUNTsecret/never+printed";

struct World {
    /// `ALOFT_HOME` (state, logs, the local nodes' folders).
    home: tempfile::TempDir,
    /// The user's `HOME`.
    user: tempfile::TempDir,
    moto: Moto,
}

impl World {
    fn new() -> World {
        let home = tempfile::tempdir().unwrap();
        let user = tempfile::tempdir().unwrap();
        let moto = Moto::start();
        // R2 is moto too, behind `storage.r2.endpoint`, with SkyPilot's files.
        std::fs::write(
            home.path().join("config.yaml"),
            format!(
                "providers:\n  aws:\n    endpoint: {0}\nstorage:\n  r2:\n    endpoint: {0}\n",
                moto.endpoint()
            ),
        )
        .unwrap();
        let cloudflare = user.path().join(".cloudflare");
        std::fs::create_dir_all(&cloudflare).unwrap();
        std::fs::write(
            cloudflare.join("r2.credentials"),
            format!("[r2]\naws_access_key_id = R2MOUNTTEST\naws_secret_access_key = {R2_SECRET}\n"),
        )
        .unwrap();
        std::fs::write(cloudflare.join("accountid"), "0123456789abcdef\n").unwrap();
        World { home, user, moto }
    }

    fn aloft(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_aloft"))
            .args(args)
            .env("ALOFT_HOME", self.home.path())
            .env("HOME", self.user.path())
            .env("AWS_ACCESS_KEY_ID", "AKIAMOUNTTEST")
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
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

    /// Runs boto3 `code` with `s3`, a client of moto.
    fn s3(&self, code: &str) -> serde_json::Value {
        self.moto.boto(&format!(
            "s3 = boto3.client('s3', endpoint_url=ec2.meta.endpoint_url, region_name='us-east-1', \
             aws_access_key_id='AKIAMOUNTTEST', aws_secret_access_key='moto')\n{code}"
        ))
    }

    /// Every object of `bucket` and its body.
    fn objects(&self, bucket: &str) -> serde_json::Value {
        self.s3(&format!(
            "out = {{o['Key']: s3.get_object(Bucket='{bucket}', Key=o['Key'])['Body'].read().decode() \
             for o in s3.list_objects_v2(Bucket='{bucket}').get('Contents', [])}}\n\
             print(json.dumps(out, sort_keys=True))"
        ))
    }
}

fn ok(out: &Output) -> String {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for secret in [SECRET, R2_SECRET] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "secret leaked"
        );
    }
    stdout
}

/// The live mount points under `dir` on this machine.
fn mounts_under(dir: &Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(1))
        .filter(|p| p.starts_with(&*dir.to_string_lossy()))
        .map(str::to_string)
        .collect()
}

/// Unmounts (lazily) whatever is still mounted under its folder when dropped
/// (rclone then exits): a test that failed before `down` leaves no FUSE mount,
/// and its temporary folder is not removed through one.
struct UnmountOnDrop(PathBuf);

impl Drop for UnmountOnDrop {
    fn drop(&mut self) {
        for point in mounts_under(&self.0) {
            let _ = Command::new("fusermount3").args(["-uz", &point]).status();
        }
    }
}

/// The nodes' rclone logs under `dir` (for failure messages).
fn rclone_logs(dir: &Path) -> String {
    common::files_under(dir)
        .into_iter()
        .filter(|p| p.ends_with("rclone.log"))
        .map(|p| {
            format!(
                "{}:\n{}",
                p.display(),
                std::fs::read_to_string(&p).unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether any process's command line holds `secret`.
fn secret_on_a_command_line(secret: &str) -> bool {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .any(|cmdline| {
            cmdline
                .windows(secret.len())
                .any(|w| w == secret.as_bytes())
        })
}

#[test]
fn two_nodes_mount_a_bucket_read_it_and_cached_writes_are_in_the_bucket_when_the_job_ends() {
    let world = World::new();
    let _unmount = UnmountOnDrop(world.home.path().to_path_buf());
    assert_eq!(
        world.s3("s3.create_bucket(Bucket='mnt-data')\n\
             s3.put_object(Bucket='mnt-data', Key='train/a.txt', Body=b'alpha')\n\
             s3.put_object(Bucket='mnt-data', Key='train/sub/b.txt', Body=b'beta')\n\
             s3.create_bucket(Bucket='mnt-ckpt')\n\
             s3.create_bucket(Bucket='mnt-r2')\n\
             s3.put_object(Bucket='mnt-r2', Key='shared/r.txt', Body=b'from r2')\n\
             print(json.dumps(True))"),
        true
    );
    // A write-back delay long enough that, without the wait at the job's end,
    // nothing would be in the bucket when `launch` returns.
    let task = world.task(
        "mount.yaml",
        "resources: {infra: local}\nnum_nodes: 2\n\
         file_mounts:\n  \
         ~/data:\n    source: s3://mnt-data/train\n    mode: MOUNT\n  \
         ~/r2:\n    source: r2://mnt-r2/shared\n    mode: MOUNT\n    config:\n      mount:\n        read_only: true\n  \
         ~/ckpt:\n    name: mnt-ckpt\n    store: s3\n    mode: MOUNT_CACHED\n    \
         config:\n      mount_cached:\n        vfs_write_back: 8s\n        transfers: 2\n\
         run: |\n  \
         echo \"read $(cat ~/data/a.txt ~/data/sub/b.txt) $(cat ~/r2/r.txt)\"\n  \
         touch ~/r2/no 2>/dev/null || echo \"r2 is read-only\"\n  \
         echo \"through $SKYPILOT_NODE_RANK\" > ~/data/w-$SKYPILOT_NODE_RANK.txt\n  \
         mkdir -p ~/ckpt/step-1\n  \
         echo \"weights of $SKYPILOT_NODE_RANK\" > ~/ckpt/step-1/rank-$SKYPILOT_NODE_RANK.bin\n",
    );
    let out = world.aloft(&["launch", "-y", "-c", "mnt", task.to_str().unwrap()]);
    let stdout = ok(&out);
    for rank in 0..2 {
        assert!(
            stdout.contains(&format!("(rank {rank}) read alphabeta from r2"))
                && stdout.contains(&format!("(rank {rank}) r2 is read-only")),
            "node {rank} reads the buckets through its mounts: {stdout}"
        );
    }
    // The job is done: both nodes' cached writes are in the bucket, and the
    // plain mount's writes went through.
    assert_eq!(
        world.objects("mnt-ckpt"),
        serde_json::json!({
            "step-1/rank-0.bin": "weights of 0\n",
            "step-1/rank-1.bin": "weights of 1\n",
        })
    );
    assert_eq!(
        world.objects("mnt-data"),
        serde_json::json!({
            "train/a.txt": "alpha",
            "train/sub/b.txt": "beta",
            "train/w-0.txt": "through 0\n",
            "train/w-1.txt": "through 1\n",
        })
    );
    // Two nodes on one machine: six mounts, each in its own node's folder.
    let local = world.home.path().join("local");
    let mut mounted = mounts_under(&local);
    mounted.sort();
    assert_eq!(mounted.len(), 6, "{mounted:?}");
    mounted.dedup();
    assert_eq!(mounted.len(), 6, "no two nodes share a mount point");
    for secret in [SECRET, R2_SECRET] {
        assert!(
            !secret_on_a_command_line(secret),
            "a secret is on a command line"
        );
    }

    // A job `exec`'d on the cluster, too, ends once its cached writes are up.
    let more = world.task(
        "more.yaml",
        "num_nodes: 2
run: echo \"more of $SKYPILOT_NODE_RANK\" > ~/ckpt/step-2-$SKYPILOT_NODE_RANK.bin\n",
    );
    ok(&world.aloft(&["exec", "mnt", more.to_str().unwrap()]));
    let ckpt = world.objects("mnt-ckpt");
    assert_eq!(ckpt["step-2-0.bin"], "more of 0\n", "{ckpt}");
    assert_eq!(ckpt["step-2-1.bin"], "more of 1\n", "{ckpt}");

    ok(&world.aloft(&["down", "-y", "mnt"]));
    assert_eq!(mounts_under(&local), Vec::<String>::new(), "down unmounts");
    // Removing the nodes' folders did not go through a mount into the bucket.
    assert_eq!(
        world.objects("mnt-data").as_object().unwrap().len(),
        4,
        "the bucket keeps its objects"
    );
    assert_eq!(world.objects("mnt-ckpt").as_object().unwrap().len(), 4);
    assert_eq!(
        world.objects("mnt-r2"),
        serde_json::json!({"shared/r.txt": "from r2"})
    );
    common::assert_secret_in_no_file(world.home.path(), SECRET);
    common::assert_secret_in_no_file(world.home.path(), R2_SECRET);
}

#[test]
fn mount_settings_rclone_cannot_take_are_refused_by_name_before_anything_is_provisioned() {
    let home = tempfile::tempdir().unwrap();
    let cases = [
        (
            "mount_cached:\n        vfs_read_chunk_streams: 4",
            "MOUNT_CACHED",
            "config.mount_cached.vfs_read_chunk_streams is not supported",
        ),
        (
            "mount_cached:\n        vfs_write_back: soon",
            "MOUNT_CACHED",
            "config.mount_cached.vfs_write_back: `soon` is not a duration",
        ),
        (
            "mount_cached:\n        transfers: 4",
            "MOUNT",
            "config.mount_cached.transfers is not supported: it applies to mode: MOUNT_CACHED only",
        ),
        (
            "mount:\n        hf_mount_args: --x",
            "MOUNT",
            "config.mount.hf_mount_args is not supported",
        ),
    ];
    for (i, (config, mode, says)) in cases.iter().enumerate() {
        let task = home.path().join(format!("t{i}.yaml"));
        std::fs::write(
            &task,
            format!(
                "resources: {{infra: local}}\nfile_mounts:\n  ~/ckpt:\n    name: some-bucket\n    \
                 store: s3\n    mode: {mode}\n    config:\n      {config}\nrun: ls ~/ckpt\n"
            ),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_aloft"))
            .args(["launch", "-y", "-c", "refused", task.to_str().unwrap()])
            .env("ALOFT_HOME", home.path())
            .env("HOME", home.path())
            // No credentials at all: the refusal comes before any store is asked.
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(
            stderr.contains(&format!("file_mounts.~/ckpt: {says}")),
            "{stderr}"
        );
    }
    assert!(
        !home.path().join("local").exists(),
        "nothing was provisioned"
    );
}

/// The same on Google Cloud Storage's fake (which checks every request against
/// Google's `storage.v1` discovery document), with a service-account key:
/// rclone's GCS backend signs in with it at the fake's token endpoint.
#[test]
fn two_nodes_mount_a_gs_bucket_and_cached_writes_reach_it_when_the_job_ends() {
    use aloft_tests::gcs_fake::GcsFake;
    let home = tempfile::tempdir().unwrap();
    let gcloud = tempfile::tempdir().unwrap();
    let fake = GcsFake::start(2);
    let _unmount = UnmountOnDrop(home.path().to_path_buf());
    std::fs::write(
        home.path().join("config.yaml"),
        format!("storage:\n  gcs:\n    endpoint: {}\n", fake.endpoint()),
    )
    .unwrap();
    assert_eq!(
        fake.google(
            "b = gcs.create_bucket('gs-mnt-data')\n\
             [b.blob(n).upload_from_string(body) for n, body in [('train/a.txt', b'alpha'), ('train/sub/b.txt', b'beta')]]\n\
             gcs.create_bucket('gs-mnt-ckpt')\n\
             print(json.dumps(True))"
        ),
        true
    );
    let task = home.path().join("gs.yaml");
    std::fs::write(
        &task,
        "resources: {infra: local}\nnum_nodes: 2\n\
         file_mounts:\n  \
         ~/data:\n    source: gs://gs-mnt-data/train\n    mode: MOUNT\n  \
         ~/ckpt:\n    name: gs-mnt-ckpt\n    store: gcs\n    mode: MOUNT_CACHED\n    \
         config:\n      mount_cached:\n        vfs_write_back: 8s\n\
         run: |\n  \
         echo \"read $(cat ~/data/a.txt ~/data/sub/b.txt)\"\n  \
         echo \"weights of $SKYPILOT_NODE_RANK\" > ~/ckpt/rank-$SKYPILOT_NODE_RANK.bin\n",
    )
    .unwrap();
    let aloft = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_aloft"))
            .args(args)
            .env("ALOFT_HOME", home.path())
            .env("HOME", home.path())
            .env("CLOUDSDK_CONFIG", gcloud.path())
            .env(
                "GOOGLE_APPLICATION_CREDENTIALS",
                fake.service_account_path(),
            )
            .env_remove("GCP_CREDENTIALS_JSON")
            .env_remove("GOOGLE_CLOUD_PROJECT")
            .output()
            .expect("run aloft")
    };
    let checked = |out: &Output| {
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(
            out.status.success(),
            "{stdout}\n{stderr}\n{}\n{:?}",
            rclone_logs(&home.path().join("local")),
            fake.invalid_requests()
        );
        for secret in fake.secrets() {
            assert!(
                !stdout.contains(&secret) && !stderr.contains(&secret),
                "a secret leaked"
            );
        }
        stdout
    };
    // gcloud's user credentials (a refresh token) are not handed to nodes: a
    // mount with them is refused before anything is provisioned.
    let adc = tempfile::tempdir().unwrap();
    fake.write_application_default(adc.path());
    let refused = Command::new(env!("CARGO_BIN_EXE_aloft"))
        .args(["launch", "-y", "-c", "gsm", task.to_str().unwrap()])
        .env("ALOFT_HOME", home.path())
        .env("HOME", home.path())
        .env("CLOUDSDK_CONFIG", adc.path())
        .env("GOOGLE_CLOUD_PROJECT", aloft_tests::gcs_fake::PROJECT)
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env_remove("GCP_CREDENTIALS_JSON")
        .output()
        .unwrap();
    let stderr = text(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("needs a service-account key"),
        "{stderr}"
    );
    assert!(!home.path().join("local").exists(), "nothing provisioned");

    let stdout = checked(&aloft(&[
        "launch",
        "-y",
        "-c",
        "gsm",
        task.to_str().unwrap(),
    ]));
    for rank in 0..2 {
        assert!(
            stdout.contains(&format!("(rank {rank}) read alphabeta")),
            "{stdout}\n{}\n{:?}",
            rclone_logs(&home.path().join("local")),
            fake.invalid_requests()
        );
    }
    assert_eq!(
        fake.google(
            "print(json.dumps({b.name: b.download_as_bytes().decode() for b in gcs.list_blobs('gs-mnt-ckpt')}))"
        ),
        serde_json::json!({"rank-0.bin": "weights of 0\n", "rank-1.bin": "weights of 1\n"})
    );
    checked(&aloft(&["down", "-y", "gsm"]));
    assert_eq!(mounts_under(home.path()), Vec::<String>::new());
    assert_eq!(fake.invalid_requests(), Vec::<String>::new());
    for secret in fake.secrets() {
        common::assert_secret_in_no_file(home.path(), &secret);
    }
}
